#!/usr/bin/env bash
# Syscalls, context switches and CPU time per pipelined get_data (64 in flight), per Rust
# client, counted by `perf stat` (software events and the raw_syscalls tracepoint: no hardware
# counters needed).
#
#   bench/syscalls.sh [REPS] [CLIENT...]    (default: 3 repetitions, all five Rust clients)
#
# Each client runs the `fixed64` workload with 10,000 and 20,000 calls; the difference divided
# by the difference in calls is the marginal cost of one call (connect and start-up cancel out).
# Clients alternate within each repetition; the median of the repetitions is shown.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

command -v perf >/dev/null || { echo "syscalls.sh: perf is not installed" >&2; exit 1; }
cargo build --release -p zk-bench >&2
bin=target/release/zk-bench
reps=${1:-3}
shift || true
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
read -r server base <"$tmp/serve.out" || { echo "syscalls.sh: the server did not start" >&2; exit 1; }

count() { # client scale -> "syscalls context_switches task_clock_ms calls"
    perf stat -x, -e raw_syscalls:sys_enter,context-switches,task-clock -o "$tmp/perf.csv" \
        "$bin" worker "$1" fixed64 "$server" "$base" "$2" >"$tmp/worker.out"
    grep -q '"fixed_ops"' "$tmp/worker.out" || { echo "syscalls.sh: $1 failed: $(cat "$tmp/worker.out")" >&2; return 1; }
    awk -F, '/sys_enter/{s=$1} /context-switches/{c=$1} /task-clock/{t=$1} END{printf "%s %s %s ", s, c, t}' "$tmp/perf.csv"
    sed -n 's/.*"fixed_ops":\([0-9]*\).*/\1/p' "$tmp/worker.out"
}

for r in $(seq "$reps"); do
    for c in "${clients[@]}"; do
        read -r s0 c0 t0 n0 < <(count "$c" 0.5)
        read -r s1 c1 t1 n1 < <(count "$c" 1)
        awk -v c="$c" -v s0="$s0" -v s1="$s1" -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v n0="$n0" -v n1="$n1" \
            'BEGIN{n=n1-n0; printf "%s %.3f %.3f %.2f\n", c, (s1-s0)/n, (c1-c0)/n, (t1-t0)*1000/n}' >>"$tmp/rows"
    done
done

printf '| client | syscalls per get_data | context switches per get_data | CPU µs per get_data |\n|---|---:|---:|---:|\n'
med() { # column -> the median of that column over client $c's rows
    awk -v c="$c" -v k="$1" '$1==c{print $k}' "$tmp/rows" | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'
}
for c in "${clients[@]}"; do
    printf '| %s | %s | %s | %s |\n' "$c" "$(med 2)" "$(med 3)" "$(med 4)"
done
