#!/usr/bin/env bash
# Re-captures the golden vectors in proto-tests/vectors from real peers: a throwaway ZooKeeper
# (started by zk-testkit, with extendedTypesEnabled) behind one recording proxy per client, and
# the Java zkCli.sh, the C cli_mt, a Python kazoo script and a raw zk-proto client driven through
# every op. See proto-tests/examples/capture/ and vectors/PROVENANCE.md.
#
# Usage: proto-tests/capture.sh [OUT_DIR] [zkcli|cli_mt|kazoo|raw ...]
# Needs: Debian's zookeeper (jars, zkCli.sh), libzookeeper-mt's cli_mt, python3 with kazoo
# (python3 -m pip install kazoo). Takes about half a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-proto-tests/vectors}"
shift || true
cargo build --quiet -p proto-tests --example capture -p zk-cli
target/debug/examples/capture "$out" "$@"
cargo run --quiet -p proto-tests --example handcraft -- "$out"
# Every captured and handcrafted frame must decode and round-trip (one file at a time: connection ids are per
# file).
for f in "$out"/*.jsonl; do
  target/debug/zk wire decode "$f" > /dev/null
done
echo "capture: vectors in $out decode and round-trip"
