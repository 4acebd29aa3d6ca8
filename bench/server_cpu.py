#!/usr/bin/env python3
"""Registration's cost on both sides: wall time, the client's CPU and the server's CPU per
registration, for several zk-bench binaries or clients, in turn, against one running server.

    ZKB_PIN=1 target/release/zk-bench serve      # prints: SERVER BASE (keep it running)
    bench/server_cpu.py SERVER BASE N ROUNDS LABEL=BINARY:CLIENT [LABEL=BINARY:CLIENT ...]

Each worker (`zk-bench worker CLIENT register`, pinned to CPU 1, with ZKB_REG_N=N) prints
`MARK start` and `MARK end` around its N registrations (ZKB_MARKS); the server's CPU time
between the two is read from the JVM's threads' /proc schedstat (nanoseconds), so the
connect, the discovery and the teardown are not counted. The labels let two builds of ours
(e.g. before and after a change, the old one built from a worktree) run against the same
server in the same rounds. Prints each run, then a markdown table of medians.
"""
import glob
import json
import os
import subprocess
import sys
import time


def main():
    if len(sys.argv) < 6:
        sys.exit(__doc__)
    server, base, n, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    specs = sys.argv[5:]
    jvm = subprocess.check_output(["pgrep", "-f", "QuorumPeerMain"]).split()[0].decode()

    def server_ns():
        total = 0
        for f in glob.glob(f"/proc/{jvm}/task/*/schedstat"):
            try:
                with open(f) as stat:
                    total += int(stat.read().split()[0])
            except OSError:  # a thread that ended meanwhile
                pass
        return total

    results = {}
    for r in range(rounds):
        for spec in specs:
            label, rest = spec.split("=", 1)
            binary, client = rest.rsplit(":", 1)
            env = dict(os.environ, ZKB_MARKS="1", ZKB_REG_N=n)
            worker = subprocess.Popen(
                ["taskset", "-c", "1", binary, "worker", client, "register", server, base, "1"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
            marks, metrics = {}, None
            for line in worker.stdout:
                if line.startswith("MARK "):
                    marks[line.split()[1]] = server_ns()
                elif line.startswith("RESULT"):
                    metrics = json.loads(line[len("RESULT "):])["metrics"]
            worker.wait()
            if metrics is None or len(marks) != 2:
                print(f"round {r} {label}: the worker failed", file=sys.stderr)
                continue
            server_us = (marks["end"] - marks["start"]) / 1e3 / int(n)
            row = (metrics["register_ms"], metrics["register_cpu_us"], server_us)
            results.setdefault(label, []).append(row)
            print(f"round {r} {label:12} {row[0]:7.1f} ms  client {row[1]:5.1f} µs  "
                  f"server {row[2]:5.1f} µs per registration", flush=True)
            time.sleep(1)  # the server removes the closed session's nodes
    print(f"\n{n} registrations, median of {rounds} rounds:\n")
    print("| client | wall (ms) | client CPU per registration (µs) | server CPU per registration (µs) |")
    print("|---|---:|---:|---:|")
    for label, rows in results.items():
        med = lambda i: sorted(x[i] for x in rows)[len(rows) // 2]
        print(f"| {label} | {med(0):.1f} | {med(1):.1f} | {med(2):.1f} |")


if __name__ == "__main__":
    main()
