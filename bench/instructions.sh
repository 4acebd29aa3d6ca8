#!/usr/bin/env bash
# User-space instructions per operation, per Rust client, counted by callgrind: repeatable
# where wall-clock figures on a shared machine are not.
#
#   bench/instructions.sh [--seq | --register] [CLIENT...]   (default: all five Rust clients)
#
# By default, per pipelined get_data (64 in flight): each client runs the `fixed64` workload
# twice (10,000 and 20,000 calls after the same warm-up and connect); the difference divided by
# the difference in calls is the marginal cost of one call, free of start-up and connection
# costs. `--seq`: the same for sequential get_data (`seq` at scales 0.2 and 0.4: 1,100 and
# 2,200 calls). `--register`: per registration of the `register` workload, counting only its
# 1,000 registrations (callgrind dumps at the workload's CPU-time readings). Kernel time is
# not counted (see strace -c for syscalls).
# Needs valgrind; builds with `cargo build --release -p zk-bench`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is not installed" >&2; exit 1; }
cargo build --release -p zk-bench >&2
bin=target/release/zk-bench
mode=fixed64
case "${1:-}" in
    --seq) mode=seq; shift ;;
    --register) mode=register; shift ;;
esac
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
        "$bin" worker "$1" "$mode" "$server" "$base" "$2" >"$tmp/worker.out" 2>"$tmp/vg.err"
    grep -q '^RESULT' "$tmp/worker.out" || { echo "instructions.sh: $1 failed: $(cat "$tmp/worker.out")" >&2; return 1; }
    local calls
    if [ "$mode" = fixed64 ]; then
        calls=$(sed -n 's/.*"fixed_ops":\([0-9]*\).*/\1/p' "$tmp/worker.out")
    else # seq: the measured calls and a tenth as many to warm up
        calls=$(awk -v s="$2" 'BEGIN { n = int(5000 * s + 0.5); print n + int(n / 10) }')
    fi
    printf '%s %s\n' "$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$tmp/vg.err")" "$calls"
}

register_irefs() { # client -> instructions per registration
    rm -f "$tmp"/cg.out*
    valgrind --tool=callgrind --dump-before='zk_bench::measure::cpu_time' \
        --callgrind-out-file="$tmp/cg.out" \
        "$bin" worker "$1" register "$server" "$base" 1 >"$tmp/worker.out" 2>"$tmp/vg.err"
    grep -q '"register_ms"' "$tmp/worker.out" || { echo "instructions.sh: $1 failed: $(cat "$tmp/worker.out")" >&2; return 1; }
    # Part 2 runs from the reading before the registrations to the one after them.
    echo $(( $(sed -n 's/^summary: //p' "$tmp/cg.out.2") / 1000 ))
}

case "$mode" in
    fixed64) what="pipelined get_data (64 in flight)" ;;
    seq) what="sequential get_data" ;;
    register) what="registration" ;;
esac
printf '| client | instructions per %s |\n|---|---:|\n' "$what"
for c in "${clients[@]}"; do
    if [ "$mode" = register ]; then
        printf '| %s | %d |\n' "$c" "$(register_irefs "$c")"
        continue
    fi
    if [ "$mode" = seq ]; then lo=0.2 hi=0.4; else lo=0.5 hi=1; fi
    read -r i0 n0 < <(irefs "$c" "$lo")
    read -r i1 n1 < <(irefs "$c" "$hi")
    printf '| %s | %d |\n' "$c" $(( (i1 - i0) / (n1 - n0) ))
done
