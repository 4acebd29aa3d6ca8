#!/usr/bin/env bash
# User-space instructions per pipelined get_data (64 in flight), per Rust client, counted by
# callgrind: repeatable where wall-clock figures on a shared machine are not.
#
#   bench/instructions.sh [CLIENT...]      (default: all five Rust clients)
#
# Each client runs the `fixed64` workload twice (10,000 and 20,000 calls after the same
# warm-up and connect); the difference divided by the difference in calls is the marginal cost of one call, free
# of start-up and connection costs. Kernel time is not counted (see strace -c for syscalls).
# Needs valgrind; builds with `cargo build --release -p zk-bench`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is not installed" >&2; exit 1; }
cargo build --release -p zk-bench >&2
bin=target/release/zk-bench
clients=("$@")
[ ${#clients[@]} -gt 0 ] || clients=(ours zookeeper-client zookeeper zookeeper-async tokio-zookeeper)

tmp=$(mktemp -d)
exec 3> >("$bin" serve >"$tmp/serve.out" 2>"$tmp/serve.err")
serve_pid=$!
trap 'exec 3>&-; wait "$serve_pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 120); do
    [ -s "$tmp/serve.out" ] && break
    sleep 1
done
read -r server base <"$tmp/serve.out" || { echo "instructions.sh: the server did not start" >&2; cat "$tmp/serve.err" >&2; exit 1; }

irefs() { # client scale -> "instructions calls"
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" \
        "$bin" worker "$1" fixed64 "$server" "$base" "$2" >"$tmp/worker.out" 2>"$tmp/vg.err"
    grep -q '"fixed_ops"' "$tmp/worker.out" || { echo "instructions.sh: $1 failed: $(cat "$tmp/worker.out")" >&2; return 1; }
    printf '%s %s\n' "$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$tmp/vg.err")" \
        "$(sed -n 's/.*"fixed_ops":\([0-9]*\).*/\1/p' "$tmp/worker.out")"
}

printf '| client | instructions per get_data |\n|---|---:|\n'
for c in "${clients[@]}"; do
    read -r i0 n0 < <(irefs "$c" 0.5)
    read -r i1 n1 < <(irefs "$c" 1)
    printf '| %s | %d |\n' "$c" $(( (i1 - i0) / (n1 - n0) ))
done
