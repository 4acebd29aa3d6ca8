#!/usr/bin/env python3
"""kazoo's column of zk-bench: one workload, timed inside this process.

    python3 bench/kazoo_worker.py WORKLOAD SERVER BASE SCALE

Driven by `cargo run --release -p zk-bench` (see PERFORMANCE.md); the workloads mirror
bench/src/workloads.rs. Prints one line `RESULT {json}`; for the reconnect workload it asks the
driver to cut its connection by printing `CUT` and waiting for a line on stdin.
"""

import collections
import json
import logging
import os
import sys
import threading
import time
import tracemalloc

logging.basicConfig(level=logging.CRITICAL)

from kazoo.client import KazooClient  # noqa: E402

SESSION_TIMEOUT = 10.0
NO_ALLOC_COUNT = "CPython does not count allocations (tracemalloc tracks live bytes only)"


def rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def percentile(sorted_samples, p):
    if not sorted_samples:
        return 0.0
    i = int(round((len(sorted_samples) - 1) * p))
    return sorted_samples[min(i, len(sorted_samples) - 1)]


def connect(server):
    zk = KazooClient(hosts=server, timeout=SESSION_TIMEOUT)
    zk.start(timeout=15)
    return zk


def close(zk):
    zk.stop()
    zk.close()


def pipelined(zk, path, depth, dur):
    q = collections.deque()
    start = time.perf_counter()
    deadline = start + dur
    for _ in range(depth):
        q.append(zk.get_async(path))
    done = 0
    while q:
        q.popleft().get()
        done += 1
        if time.perf_counter() < deadline:
            q.append(zk.get_async(path))
    return done, time.perf_counter() - start


def latency(m, prefix, samples, per_s):
    samples.sort()
    m[prefix + "_p50_us"] = percentile(samples, 0.5) * 1e6
    m[prefix + "_p99_us"] = percentile(samples, 0.99) * 1e6
    if per_s:
        m[prefix + "_ops_s"] = len(samples) / sum(samples)


def watch(zk, path):
    ev = threading.Event()
    zk.get(path, watch=lambda _e: ev.set())
    return ev


def mem(m, prefix, n, count, rss0):
    if count:
        cur, _peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        m[prefix + "_alloc_bytes"] = cur / n
    else:
        m[prefix + "_rss_bytes"] = (rss_bytes() - rss0) / n


def run(workload, server, base, scale):
    n = lambda x: max(1, int(round(x * scale)))  # noqa: E731
    dur = max(0.2, 1.5 * min(scale, 1.0))
    # As the Rust workers' Params::pipe_warm: the pipe and multi workloads' warm-up.
    warm_ms = os.environ.get("ZKB_PIPE_WARM_MS")
    pipe_warm = max(0.3, int(warm_ms) / 1000 if warm_ms else 6.0 * min(scale, 1.0))
    small = base + "/small"
    many = base + "/w"
    own = "%s/kazoo-%d" % (base, os.getpid())
    mem_n = 10000
    m = {}
    missing = {}
    if workload == "seq":
        zk = connect(server)
        seq_n = n(5000)
        for _ in range(seq_n // 10):
            zk.get(small)
        samples = []
        for _ in range(seq_n):
            t = time.perf_counter()
            zk.get(small)
            samples.append(time.perf_counter() - t)
        latency(m, "seq", samples, True)
        close(zk)
    elif workload == "pipe":
        zk = connect(server)
        pipelined(zk, small, 64, pipe_warm)
        t0 = os.times()
        for depth in (1, 16, 64, 256):
            cpu0 = time.process_time()
            done, elapsed = pipelined(zk, small, depth, dur)
            cpu = time.process_time() - cpu0
            m["pipe%d_ops_s" % depth] = done / elapsed
            m["pipe%d_cpu_us" % depth] = cpu * 1e6 / done
        t1 = os.times()
        user, system = t1.user - t0.user, t1.system - t0.system
        if user + system > 0:
            m["pipe_sys_share"] = system / (user + system)
        close(zk)
    elif workload == "allocs":
        return {"na": NO_ALLOC_COUNT}
    elif workload == "multi":
        sessions = [connect(server) for _ in range(4)]

        def all_at_once(d):
            results = [None] * 4
            threads = []
            for i, zk in enumerate(sessions):
                def body(i=i, zk=zk):
                    results[i] = pipelined(zk, small, 64, d)
                threads.append(threading.Thread(target=body))
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return results

        all_at_once(pipe_warm)
        cpu0 = time.process_time()
        start = time.perf_counter()
        results = all_at_once(dur)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu0
        done = sum(r[0] for r in results)
        m["multi_ops_s"] = done / elapsed
        m["multi_cpu_us"] = cpu * 1e6 / done
        for zk in sessions:
            close(zk)
    elif workload == "createdel":
        zk = connect(server)
        path = own + "-cd"
        pairs = n(1000)
        for _ in range(pairs // 10):
            zk.create(path, b"x")
            zk.delete(path)
        samples = []
        for _ in range(pairs):
            t = time.perf_counter()
            zk.create(path, b"x")
            zk.delete(path)
            samples.append(time.perf_counter() - t)
        latency(m, "pair", samples, True)
        close(zk)
    elif workload == "watch":
        a = connect(server)
        b = connect(server)
        path = own + "-watch"
        b.create(path, b"0")
        watch_n = n(1000)
        samples = []
        for i in range(watch_n + watch_n // 10):
            ev = watch(a, path)
            t = time.perf_counter()
            r = b.set_async(path, str(i).encode())
            ev.wait(10)
            lat = time.perf_counter() - t
            r.get()
            if i >= watch_n // 10:
                samples.append(lat)
        latency(m, "watch", samples, False)
        b.delete(path)
        close(a)
        close(b)
    elif workload in ("watchmem", "watchalloc"):
        count = workload == "watchalloc"
        zk = connect(server)
        zk.get(many + "/n00000")
        held = []
        time.sleep(0.05)
        rss0 = rss_bytes()
        if count:
            tracemalloc.start()
        for i in range(mem_n):
            held.append(watch(zk, "%s/n%05d" % (many, i)))
        time.sleep(0.05)
        mem(m, "watch", mem_n, count, rss0)
        if count:
            missing["watch_allocs"] = NO_ALLOC_COUNT
        del held
        close(zk)
    elif workload in ("childmem", "childalloc"):
        count = workload == "childalloc"
        zk = connect(server)
        zk.get(small)
        time.sleep(0.05)
        rss0 = rss_bytes()
        if count:
            tracemalloc.start()
        ev = threading.Event()
        names = zk.get_children(many, watch=lambda _e: ev.set())
        if len(names) != mem_n:
            return {"error": "%d children, not %d" % (len(names), mem_n)}
        time.sleep(0.05)
        mem(m, "child", mem_n, count, rss0)
        del names
        close(zk)
    elif workload == "register":
        zk = connect(server)
        parent = own + "-reg"
        zk.create(parent, b"")
        data = json.dumps({"pid": os.getpid()}, separators=(",", ":")).encode()
        t = time.perf_counter()
        cpu0 = time.process_time()
        for i in range(1000):
            zk.create("%s/127.0.0.1:%d" % (parent, 20000 + i), data, ephemeral=True)
        reg = time.perf_counter() - t
        reg_cpu = time.process_time() - cpu0
        d = connect(server)
        d.get(small)
        # As the Rust workers: the median of 5 discoveries, each with a new watch.
        samples = []
        for _ in range(5):
            t = time.perf_counter()
            names = d.get_children(parent, watch=lambda _e: None)
            samples.append(time.perf_counter() - t)
            if len(names) != 1000:
                return {"error": "discovered %d of 1000 addresses" % len(names)}
        disc = sorted(samples)[len(samples) // 2]
        m["register_ms"] = reg * 1e3
        m["register_cpu_us"] = reg_cpu * 1e6 / 1000
        m["discover_ms"] = disc * 1e3
        close(d)
        close(zk)
        c = connect(server)
        for _ in range(50):
            try:
                c.delete(parent)
                break
            except Exception:
                time.sleep(0.02)
        close(c)
    elif workload == "connect":
        samples = []
        for _ in range(max(3, n(20)) + 1):
            t = time.perf_counter()
            zk = connect(server)
            zk.get(small)
            samples.append(time.perf_counter() - t)
            close(zk)
        samples = sorted(samples[1:])
        m["connect_p50_us"] = percentile(samples, 0.5) * 1e6
    elif workload == "reconnect":
        zk = connect(server)
        zk.get(small)
        samples = []
        for _ in range(max(3, n(10))):
            t = time.perf_counter()
            sys.stdout.write("CUT\n")
            sys.stdout.flush()
            sys.stdin.readline()
            while True:
                try:
                    zk.get(small)
                    break
                except Exception:
                    if time.perf_counter() - t > 10:
                        return {"error": "no successful request within 10 s of a cut"}
                    time.sleep(0.0001)
            samples.append(time.perf_counter() - t)
            time.sleep(0.1)
        samples.sort()
        m["reconnect_p50_us"] = percentile(samples, 0.5) * 1e6
        close(zk)
    else:
        return {"error": "unknown workload " + workload}
    return {"metrics": m, "missing": missing}


def main():
    workload, server, base, scale = sys.argv[1:5]
    try:
        result = run(workload, server, base, float(scale))
    except Exception as e:  # reported, not raised: the driver shows it as n/a
        result = {"error": "%s: %s" % (type(e).__name__, e)}
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
