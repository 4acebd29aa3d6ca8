//! The workloads, written once for the async clients ([`Zk`]) and once for the blocking one
//! ([`BlockingZk`]); each returns named figures.

use std::any::Any;
use std::future::Future;
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use crate::measure::{self, percentile, us};

/// A worker's result or its error text.
pub type R<T> = Result<T, String>;

/// Named figures, in order.
pub type Metrics = Vec<(String, f64)>;

/// Sizes and durations of one run.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// How long each throughput measurement runs.
    pub dur: Duration,
    /// How long the `pipe` and `multi` workloads run 64 calls in flight (per session) before
    /// they measure: long enough for a session that adapts to its connection (ours decides by
    /// a trial of about 4 s whether its receive mark pays) to have settled, so that the rows
    /// show a pipelining session in its steady state, for every client alike.
    pub pipe_warm: Duration,
    /// Sequential get_data calls.
    pub seq_n: usize,
    /// Sequential create + delete pairs.
    pub pairs: usize,
    /// set_data → watch event round trips.
    pub watch_n: usize,
    /// Watches (and children) held for the memory figures; the nodes exist already.
    pub mem_n: usize,
    /// Registered addresses.
    pub reg_n: usize,
    /// Connections timed.
    pub connect_n: usize,
    /// Cuts timed.
    pub reconnect_n: usize,
}

impl Params {
    /// The full run, or a scaled-down one (`scale` < 1) to try things out.
    pub fn scaled(scale: f64) -> Params {
        let n = |x: usize| ((x as f64 * scale).round() as usize).max(1);
        Params {
            dur: Duration::from_secs_f64(1.5 * scale.min(1.0)).max(Duration::from_millis(200)),
            // ZKB_PIPE_WARM_MS (an experiment) overrides it.
            pipe_warm: std::env::var("ZKB_PIPE_WARM_MS")
                .ok()
                .and_then(|v| v.parse().ok())
                .map(Duration::from_millis)
                .unwrap_or_else(|| Duration::from_secs_f64(6.0 * scale.min(1.0)))
                .max(Duration::from_millis(300)),
            seq_n: n(5000),
            pairs: n(1000),
            watch_n: n(1000),
            mem_n: 10_000,
            // ZKB_REG_N (an experiment): how many addresses `register` and `regalloc` use.
            reg_n: std::env::var("ZKB_REG_N")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(1000),
            connect_n: n(20).max(3),
            reconnect_n: n(10).max(3),
        }
    }
}

/// The paths a run uses, under `base`.
#[derive(Debug, Clone)]
pub struct Paths {
    /// A node with 100 bytes of data.
    pub small: String,
    /// A node with `mem_n` children `n00000`…, each without data.
    pub many: String,
    /// A prefix for this worker's own nodes.
    pub own: String,
}

impl Paths {
    /// The paths under `base` for `client` in this process.
    pub fn new(base: &str, client: &str) -> Paths {
        Paths {
            small: format!("{base}/small"),
            many: format!("{base}/w"),
            own: format!("{base}/{client}-{}", std::process::id()),
        }
    }

    /// The `i`th child of `many`.
    pub fn child(&self, i: usize) -> String {
        format!("{}/n{i:05}", self.many)
    }
}

/// The data registered with each address, as zc-zk writes it (`{"pid": …}`).
pub fn registration_data() -> Vec<u8> {
    format!("{{\"pid\":{}}}", std::process::id()).into_bytes()
}

/// Asks the coordinator to cut this worker's connections (through its proxy) and waits until
/// it has.
pub fn request_cut() {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "CUT");
    let _ = out.flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
}

/// Writes `MARK name` on stdout at once (see `ZKB_MARKS`).
fn mark(name: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "MARK {name}");
    let _ = out.flush();
}

/// A timed phase of `n` operations: its wall time (`NAME_ms`) and the client's CPU time per
/// operation (`NAME_cpu_us`), from `t` and `cpu0` taken at its start.
fn push_phase(m: &mut Metrics, name: &str, t: Instant, cpu0: Duration, n: usize) {
    m.push((format!("{name}_ms"), t.elapsed().as_secs_f64() * 1e3));
    m.push((
        format!("{name}_cpu_us"),
        us(measure::cpu_time() - cpu0) / n as f64,
    ));
}

/// Deletes a registration parent once the ephemeral nodes under it went with their session
/// (the server removes them shortly after the close), trying for up to 2 s.
async fn remove_parent<Z: Zk>(server: &str, parent: &str) -> R<()> {
    let c = Z::connect(server).await?;
    for _ in 0..100 {
        if c.delete(parent).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    c.close().await;
    Ok(())
}

/// One async client, through the operations the workloads need.
pub trait Zk: Sized {
    /// A one-shot watch the caller holds until it fires.
    type Watch: 'static;
    /// Connects (and waits until connected, where the client can).
    fn connect(server: &str) -> impl Future<Output = R<Self>>;
    /// Connects for the `connect` workload: without waiting for the session where the client
    /// offers that, so that the first request can go right behind the handshake.
    fn connect_unwaited(server: &str) -> impl Future<Output = R<Self>> {
        Self::connect(server)
    }
    /// Connects the handle used for the high-level workloads (zc-zk's `ZooKeeper` for ours).
    fn connect_high(server: &str) -> impl Future<Output = R<Self>> {
        Self::connect(server)
    }
    /// get_data; the data's length.
    fn get_data(&self, path: &str) -> impl Future<Output = R<usize>>;
    /// get_data leaving a data watch.
    fn get_data_watch(&self, path: &str) -> impl Future<Output = R<Self::Watch>>;
    /// Waits for a watch to fire.
    fn wait(w: Self::Watch) -> impl Future<Output = R<()>>;
    /// Creates a node (open ACL).
    fn create(&self, path: &str, data: &[u8], ephemeral: bool) -> impl Future<Output = R<()>>;
    /// Deletes a node, any version.
    fn delete(&self, path: &str) -> impl Future<Output = R<()>>;
    /// Sets a node's data, any version.
    fn set_data(&self, path: &str, data: &[u8]) -> impl Future<Output = R<()>>;
    /// get_children leaving a child watch.
    fn get_children_watch(&self, path: &str)
    -> impl Future<Output = R<(Vec<String>, Self::Watch)>>;
    /// Closes the session.
    fn close(self) -> impl Future<Output = ()>;

    /// A children view of `path`, held by the returned value, and the number of children.
    /// Peers: get_children with a child watch, names and watch held.
    fn children_view(&self, path: &str) -> impl Future<Output = R<(Box<dyn Any>, usize)>> {
        async move {
            let (names, w) = self.get_children_watch(path).await?;
            let n = names.len();
            Ok((Box::new((names, w)) as Box<dyn Any>, n))
        }
    }

    /// Registers `n` addresses under `parent` one after the other (ephemeral nodes
    /// `127.0.0.1:PORT` with [`registration_data`]); the returned value keeps them.
    fn register(&self, parent: &str, n: usize) -> impl Future<Output = R<Box<dyn Any>>> {
        async move {
            let data = registration_data();
            for i in 0..n {
                let path = format!("{parent}/127.0.0.1:{}", 20000 + i);
                self.create(&path, &data, true).await?;
            }
            Ok(Box::new(()) as Box<dyn Any>)
        }
    }
}

async fn pipelined<Z: Zk>(z: &Z, path: &str, depth: usize, dur: Duration) -> R<(u64, Duration)> {
    let mut inflight = FuturesUnordered::new();
    let start = Instant::now();
    let deadline = start + dur;
    for _ in 0..depth {
        inflight.push(z.get_data(path));
    }
    let mut done = 0u64;
    while let Some(r) = inflight.next().await {
        r?;
        done += 1;
        if Instant::now() < deadline {
            inflight.push(z.get_data(path));
        }
    }
    Ok((done, start.elapsed()))
}

async fn fixed_pipelined<Z: Zk>(z: &Z, path: &str, depth: usize, n: usize) -> R<()> {
    let mut inflight = FuturesUnordered::new();
    let mut issued = 0;
    while issued < depth.min(n) {
        inflight.push(z.get_data(path));
        issued += 1;
    }
    while let Some(r) = inflight.next().await {
        r?;
        if issued < n {
            inflight.push(z.get_data(path));
            issued += 1;
        }
    }
    Ok(())
}

/// How many times the `register` workload discovers the registered addresses (each time with
/// a new watch or view, all held to the end); the row is their median.
const DISCOVERIES: usize = 5;

/// The median of `samples`, in milliseconds.
fn median_ms(mut samples: Vec<Duration>) -> f64 {
    samples.sort_unstable();
    measure::percentile(&samples, 0.5).as_secs_f64() * 1e3
}

fn push_latency(m: &mut Metrics, prefix: &str, mut samples: Vec<Duration>, per_s: bool) {
    samples.sort();
    m.push((format!("{prefix}_p50_us"), us(percentile(&samples, 0.5))));
    m.push((format!("{prefix}_p99_us"), us(percentile(&samples, 0.99))));
    if per_s {
        let total: Duration = samples.iter().sum();
        m.push((
            format!("{prefix}_ops_s"),
            samples.len() as f64 / total.as_secs_f64(),
        ));
    }
}

/// The share of system time in the CPU time since `(user0, sys0)`.
fn push_sys_share(m: &mut Metrics, user0: Duration, sys0: Duration) {
    let (user, sys) = measure::user_sys();
    let (u, s) = ((user - user0).as_secs_f64(), (sys - sys0).as_secs_f64());
    if u + s > 0.0 {
        m.push(("pipe_sys_share".into(), s / (u + s)));
    }
}

fn mem_metrics(
    m: &mut Metrics,
    prefix: &str,
    n: usize,
    count_allocs: bool,
    rss0: u64,
    held: impl FnOnce() -> u64,
) {
    let rss1 = held();
    if count_allocs {
        let a = measure::stop_counting();
        if std::env::var_os("ZKB_SIZES").is_some() {
            eprint!(
                "{prefix}: live blocks by size\n{}",
                measure::size_report(n as i64 / 2)
            );
        }
        m.push((
            format!("{prefix}_alloc_bytes"),
            a.live_bytes as f64 / n as f64,
        ));
        m.push((format!("{prefix}_allocs"), a.allocs as f64 / n as f64));
    } else {
        m.push((
            format!("{prefix}_rss_bytes"),
            (rss1 as f64 - rss0 as f64) / n as f64,
        ));
    }
}

/// Runs `workload` with client `Z`.
pub async fn run_async<Z: Zk>(
    workload: &str,
    server: &str,
    paths: &Paths,
    p: Params,
) -> R<Metrics> {
    let mut m = Metrics::new();
    match workload {
        "seq" => {
            let z = Z::connect(server).await?;
            for _ in 0..p.seq_n / 10 {
                z.get_data(&paths.small).await?;
            }
            let mut samples = Vec::with_capacity(p.seq_n);
            for _ in 0..p.seq_n {
                let t = Instant::now();
                z.get_data(&paths.small).await?;
                samples.push(t.elapsed());
            }
            push_latency(&mut m, "seq", samples, true);
            z.close().await;
        }
        "pipe" => {
            let z = Z::connect(server).await?;
            pipelined(&z, &paths.small, 64, p.pipe_warm).await?;
            let (user0, sys0) = measure::user_sys();
            // ZKB_DEPTHS=a,b (an experiment): only these depths.
            let depths: Vec<usize> = std::env::var("ZKB_DEPTHS")
                .ok()
                .map(|d| d.split(',').filter_map(|x| x.parse().ok()).collect())
                .unwrap_or_else(|| vec![1, 16, 64, 256]);
            for depth in depths {
                let cpu0 = measure::cpu_time();
                let (done, elapsed) = pipelined(&z, &paths.small, depth, p.dur).await?;
                let cpu = measure::cpu_time() - cpu0;
                m.push((
                    format!("pipe{depth}_ops_s"),
                    done as f64 / elapsed.as_secs_f64(),
                ));
                m.push((format!("pipe{depth}_cpu_us"), us(cpu) / done as f64));
            }
            push_sys_share(&mut m, user0, sys0);
            z.close().await;
        }
        "mixed" => {
            // An experiment (not in the table): the latency of one call at a time on a session
            // that also carries `depth` pipelined calls (ZKB_DEPTH, default 64), against the
            // same calls alone: what a busy session's receive mark costs a caller who waits.
            let depth: usize = std::env::var("ZKB_DEPTH")
                .ok()
                .and_then(|d| d.parse().ok())
                .unwrap_or(64);
            let z = Z::connect(server).await?;
            pipelined(&z, &paths.small, depth, p.dur / 5).await?;
            let mut alone = Vec::with_capacity(p.seq_n / 4);
            for _ in 0..p.seq_n / 4 {
                let t = Instant::now();
                z.get_data(&paths.small).await?;
                alone.push(t.elapsed());
            }
            push_latency(&mut m, "alone", alone, false);
            let foreground = async {
                let deadline = Instant::now() + p.dur;
                let mut samples = Vec::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    z.get_data(&paths.small).await?;
                    samples.push(t.elapsed());
                }
                Ok::<_, String>(samples)
            };
            let (background, samples) =
                futures::join!(pipelined(&z, &paths.small, depth, p.dur), foreground);
            let (done, elapsed) = background?;
            push_latency(&mut m, "beside", samples?, false);
            m.push(("beside_ops_s".into(), done as f64 / elapsed.as_secs_f64()));
            z.close().await;
        }
        "fixed64" => {
            // For profilers (callgrind, strace): exactly `seq_n` × 4 get_data calls, 64 in
            // flight, after a warm-up of 1,000.
            // ZKB_DEPTH (an experiment): another number in flight.
            let depth: usize = std::env::var("ZKB_DEPTH")
                .ok()
                .and_then(|d| d.parse().ok())
                .unwrap_or(64);
            let z = Z::connect(server).await?;
            fixed_pipelined(&z, &paths.small, depth, 1000).await?;
            let n = p.seq_n * 4;
            let cpu0 = measure::cpu_time();
            let t = Instant::now();
            fixed_pipelined(&z, &paths.small, depth, n).await?;
            m.push(("fixed_ops".into(), n as f64));
            m.push(("fixed_ops_s".into(), n as f64 / t.elapsed().as_secs_f64()));
            m.push((
                "fixed_cpu_us".into(),
                us(measure::cpu_time() - cpu0) / n as f64,
            ));
            z.close().await;
        }
        "allocs" => {
            // Allocations per pipelined get_data (64 in flight), counted.
            let z = Z::connect(server).await?;
            pipelined(&z, &paths.small, 64, p.dur / 5).await?;
            measure::start_counting();
            let (done, _) = pipelined(&z, &paths.small, 64, p.dur / 2).await?;
            let a = measure::stop_counting();
            m.push(("get_allocs".into(), a.allocs as f64 / done as f64));
            z.close().await;
        }
        "multi" => {
            let mut sessions = Vec::new();
            for _ in 0..4 {
                sessions.push(Z::connect(server).await?);
            }
            futures::future::try_join_all(
                sessions
                    .iter()
                    .map(|z| pipelined(z, &paths.small, 64, p.pipe_warm)),
            )
            .await?;
            let cpu0 = measure::cpu_time();
            let start = Instant::now();
            let results = futures::future::try_join_all(
                sessions
                    .iter()
                    .map(|z| pipelined(z, &paths.small, 64, p.dur)),
            )
            .await?;
            let elapsed = start.elapsed();
            let cpu = measure::cpu_time() - cpu0;
            let done: u64 = results.iter().map(|r| r.0).sum();
            m.push(("multi_ops_s".into(), done as f64 / elapsed.as_secs_f64()));
            m.push(("multi_cpu_us".into(), us(cpu) / done as f64));
            for z in sessions {
                z.close().await;
            }
        }
        "createdel" => {
            let z = Z::connect(server).await?;
            let path = format!("{}-cd", paths.own);
            for _ in 0..p.pairs / 10 {
                z.create(&path, b"x", false).await?;
                z.delete(&path).await?;
            }
            let mut samples = Vec::with_capacity(p.pairs);
            for _ in 0..p.pairs {
                let t = Instant::now();
                z.create(&path, b"x", false).await?;
                z.delete(&path).await?;
                samples.push(t.elapsed());
            }
            push_latency(&mut m, "pair", samples, true);
            z.close().await;
        }
        "watch" => {
            let a = Z::connect(server).await?;
            let b = Z::connect(server).await?;
            let path = format!("{}-watch", paths.own);
            b.create(&path, b"0", false).await?;
            let mut samples = Vec::with_capacity(p.watch_n);
            for i in 0..p.watch_n + p.watch_n / 10 {
                let w = a.get_data_watch(&path).await?;
                let t = Instant::now();
                let data = i.to_string();
                let wait = async {
                    Z::wait(w).await?;
                    Ok::<_, String>(t.elapsed())
                };
                let (set, lat) = futures::join!(b.set_data(&path, data.as_bytes()), wait);
                set?;
                if i >= p.watch_n / 10 {
                    samples.push(lat?);
                }
            }
            push_latency(&mut m, "watch", samples, false);
            b.delete(&path).await?;
            a.close().await;
            b.close().await;
        }
        "watchmem" | "watchalloc" => {
            let count = workload == "watchalloc";
            let z = Z::connect(server).await?;
            z.get_data(&paths.child(0)).await?;
            let mut held = Vec::with_capacity(p.mem_n);
            tokio::time::sleep(Duration::from_millis(50)).await;
            let rss0 = measure::rss_bytes();
            if count {
                measure::start_counting();
            }
            for i in 0..p.mem_n {
                held.push(z.get_data_watch(&paths.child(i)).await?);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            mem_metrics(&mut m, "watch", p.mem_n, count, rss0, measure::rss_bytes);
            drop(held);
            z.close().await;
        }
        "childmem" | "childalloc" => {
            let count = workload == "childalloc";
            let z = Z::connect_high(server).await?;
            z.get_data(&paths.small).await?;
            tokio::time::sleep(Duration::from_millis(50)).await;
            let rss0 = measure::rss_bytes();
            if count {
                measure::start_counting();
            }
            let (view, n) = z.children_view(&paths.many).await?;
            if n != p.mem_n {
                return Err(format!("children view has {n} names, not {}", p.mem_n));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            mem_metrics(&mut m, "child", p.mem_n, count, rss0, measure::rss_bytes);
            drop(view);
            z.close().await;
        }
        "register" => {
            let z = Z::connect_high(server).await?;
            let parent = format!("{}-reg", paths.own);
            z.create(&parent, b"", false).await?;
            // EXPERIMENT (ZKB_MARKS): lines on stdout around the registrations, for a driver
            // that reads the server's CPU time at each.
            let marks = std::env::var_os("ZKB_MARKS").is_some();
            if marks {
                mark("start");
            }
            let t = Instant::now();
            let cpu0 = measure::cpu_time();
            let held = z.register(&parent, p.reg_n).await?;
            let reg = t.elapsed();
            let reg_cpu = measure::cpu_time() - cpu0;
            if marks {
                mark("end");
            }
            let d = Z::connect_high(server).await?;
            d.get_data(&paths.small).await?;
            let mut samples = Vec::with_capacity(DISCOVERIES);
            let mut views = Vec::with_capacity(DISCOVERIES);
            for _ in 0..DISCOVERIES {
                let t = Instant::now();
                let (view, n) = d.children_view(&parent).await?;
                samples.push(t.elapsed());
                if n != p.reg_n {
                    return Err(format!("discovered {n} of {} addresses", p.reg_n));
                }
                views.push(view);
            }
            m.push(("register_ms".into(), reg.as_secs_f64() * 1e3));
            m.push(("register_cpu_us".into(), us(reg_cpu) / p.reg_n as f64));
            m.push(("discover_ms".into(), median_ms(samples)));
            drop(views);
            d.close().await;
            drop(held);
            z.close().await;
            // The ephemeral nodes went with the session; remove the parent.
            remove_parent::<Z>(server, &parent).await?;
        }
        "regalloc" => {
            // An experiment (not in the table): the heap that 1,000 held registrations keep.
            let z = Z::connect_high(server).await?;
            let parent = format!("{}-regalloc", paths.own);
            z.create(&parent, b"", false).await?;
            // One registration first (elsewhere: the 1,000 use the names 127.0.0.1:20000…),
            // so that what every handle allocates once is not counted.
            let warm = format!("{parent}-warm");
            z.create(&warm, b"", false).await?;
            let warmed = z.register(&warm, 1).await?;
            measure::start_counting();
            let held = z.register(&parent, p.reg_n).await?;
            let stats = measure::stop_counting();
            m.push((
                "reg_heap_bytes".into(),
                stats.live_bytes as f64 / p.reg_n as f64,
            ));
            m.push(("reg_allocs".into(), stats.allocs as f64 / p.reg_n as f64));
            if std::env::var_os("ZKB_SIZES").is_some() {
                eprint!("{}", measure::size_report(p.reg_n as i64 / 2));
            }
            drop((held, warmed));
            z.close().await;
            remove_parent::<Z>(server, &parent).await?;
            remove_parent::<Z>(server, &warm).await?;
        }
        "regparts" => {
            // An experiment (not in the table): where `register` spends its time. The same
            // 1,000 ephemeral nodes (a) created one by one, (b) each after one more round trip
            // (a read of the parent, as a link resolution costs), (c) through `register`.
            let z = Z::connect_high(server).await?;
            let parent = format!("{}-regparts", paths.own);
            z.create(&parent, b"", false).await?;
            let data = registration_data();
            let node = |i: usize| format!("{parent}/127.0.0.1:{}", 20000 + i);
            let t = Instant::now();
            let cpu0 = measure::cpu_time();
            for i in 0..p.reg_n {
                z.create(&node(i), &data, true).await?;
            }
            push_phase(&mut m, "create_only", t, cpu0, p.reg_n);
            for i in 0..p.reg_n {
                z.delete(&node(i)).await?;
            }
            let t = Instant::now();
            let cpu0 = measure::cpu_time();
            for i in 0..p.reg_n {
                z.get_data(&parent).await?;
                z.create(&node(i), &data, true).await?;
            }
            push_phase(&mut m, "read_create", t, cpu0, p.reg_n);
            for i in 0..p.reg_n {
                z.delete(&node(i)).await?;
            }
            {
                let t = Instant::now();
                let cpu0 = measure::cpu_time();
                let mut held = Vec::with_capacity(p.reg_n);
                for i in 0..p.reg_n {
                    let path = node(i);
                    let (c, w) =
                        futures::join!(z.create(&path, &data, true), z.get_data_watch(&path));
                    c?;
                    held.push(w?);
                }
                push_phase(&mut m, "create_watch", t, cpu0, p.reg_n);
                drop(held);
                for i in 0..p.reg_n {
                    z.delete(&node(i)).await?;
                }
            }
            let t = Instant::now();
            let cpu0 = measure::cpu_time();
            let held = z.register(&parent, p.reg_n).await?;
            push_phase(&mut m, "register", t, cpu0, p.reg_n);
            drop(held);
            z.close().await;
            remove_parent::<Z>(server, &parent).await?;
        }
        "connect" => {
            let mut samples = Vec::new();
            for _ in 0..p.connect_n + 1 {
                let t = Instant::now();
                let z = Z::connect_unwaited(server).await?;
                z.get_data(&paths.small).await?;
                samples.push(t.elapsed());
                z.close().await;
                if let Some(gap) = connect_gap() {
                    tokio::time::sleep(gap).await;
                }
            }
            samples.remove(0);
            samples.sort();
            m.push(("connect_p50_us".into(), us(percentile(&samples, 0.5))));
        }
        "reconnect" => {
            // Each attempt's time and error on stderr (shown by the driver with ZKB_DEBUG).
            let debug = std::env::var_os("ZKB_DEBUG").is_some();
            let z = Z::connect(server).await?;
            z.get_data(&paths.small).await?;
            let mut samples = Vec::new();
            for _ in 0..p.reconnect_n {
                let t = Instant::now();
                tokio::task::spawn_blocking(request_cut)
                    .await
                    .map_err(|e| e.to_string())?;
                if debug {
                    eprintln!("cut {:?}", t.elapsed());
                }
                until_answered(t, debug, || z.get_data(&paths.small)).await?;
                samples.push(t.elapsed());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            samples.sort();
            m.push(("reconnect_p50_us".into(), us(percentile(&samples, 0.5))));
            z.close().await;
        }
        other => return Err(format!("unknown workload {other}")),
    }
    Ok(m)
}

/// An experiment knob (`ZKB_CONNECT_GAP_MS`): a pause after each close in `connect`, outside the
/// timing, so that the server has finished with the closed session before the next connect.
fn connect_gap() -> Option<Duration> {
    let ms: u64 = std::env::var("ZKB_CONNECT_GAP_MS").ok()?.parse().ok()?;
    Some(Duration::from_millis(ms))
}

/// Tries `call` until it succeeds, each try within 5 s, and fails 10 s after the cut at `t`.
/// With `debug`, each try's time and error go to stderr.
async fn until_answered<T, E: std::fmt::Debug, Fut: Future<Output = Result<T, E>>>(
    t: Instant,
    debug: bool,
    mut call: impl FnMut() -> Fut,
) -> R<()> {
    loop {
        let r = tokio::time::timeout(Duration::from_secs(5), call()).await;
        if debug {
            eprintln!(
                "{:?} {:?}",
                t.elapsed(),
                r.as_ref().map(|r| r.as_ref().err())
            );
        }
        if let Ok(Ok(_)) = r {
            return Ok(());
        }
        if t.elapsed() > Duration::from_secs(10) {
            return Err("no successful request within 10 s of a cut".into());
        }
        // A short blocking pause (tokio's timer has a 1 ms grain): the retry loop's
        // resolution is 0.1 ms for every client.
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// One blocking client (bonifaido's `zookeeper`), through the operations the workloads need.
pub trait BlockingZk: Sized + Sync {
    /// A watch the caller holds until it fires.
    type Watch: Send + 'static;
    /// Connects.
    fn connect(server: &str) -> R<Self>;
    /// get_data; the data's length.
    fn get_data(&self, path: &str) -> R<usize>;
    /// get_data leaving a data watch.
    fn get_data_watch(&self, path: &str) -> R<Self::Watch>;
    /// Waits for a watch to fire.
    fn wait(w: Self::Watch) -> R<()>;
    /// Creates a node (open ACL).
    fn create(&self, path: &str, data: &[u8], ephemeral: bool) -> R<()>;
    /// Deletes a node, any version.
    fn delete(&self, path: &str) -> R<()>;
    /// Sets a node's data, any version.
    fn set_data(&self, path: &str, data: &[u8]) -> R<()>;
    /// get_children leaving a child watch.
    fn get_children_watch(&self, path: &str) -> R<(Vec<String>, Self::Watch)>;
    /// Closes the session.
    fn close(self);
}

/// `depth` threads each calling get_data in a loop until `dur` is over.
fn pipelined_blocking<Z: BlockingZk>(
    z: &Z,
    path: &str,
    depth: usize,
    dur: Duration,
) -> R<(u64, Duration)> {
    let done = AtomicU64::new(0);
    let start = Instant::now();
    let deadline = start + dur;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..depth)
            .map(|_| {
                s.spawn(|| {
                    while Instant::now() < deadline {
                        z.get_data(path)?;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok::<_, String>(())
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| "thread panicked".to_string())??;
        }
        Ok::<_, String>(())
    })?;
    Ok((done.load(Ordering::Relaxed), start.elapsed()))
}

/// Runs `workload` with the blocking client `Z` (pipelining with one thread per request in
/// flight, as its API requires).
pub fn run_blocking<Z: BlockingZk>(
    workload: &str,
    server: &str,
    paths: &Paths,
    p: Params,
) -> R<Metrics> {
    let mut m = Metrics::new();
    match workload {
        "seq" => {
            let z = Z::connect(server)?;
            for _ in 0..p.seq_n / 10 {
                z.get_data(&paths.small)?;
            }
            let mut samples = Vec::with_capacity(p.seq_n);
            for _ in 0..p.seq_n {
                let t = Instant::now();
                z.get_data(&paths.small)?;
                samples.push(t.elapsed());
            }
            push_latency(&mut m, "seq", samples, true);
            z.close();
        }
        "pipe" => {
            let z = Z::connect(server)?;
            pipelined_blocking(&z, &paths.small, 64, p.pipe_warm)?;
            let (user0, sys0) = measure::user_sys();
            for depth in [1usize, 16, 64, 256] {
                let cpu0 = measure::cpu_time();
                let (done, elapsed) = pipelined_blocking(&z, &paths.small, depth, p.dur)?;
                let cpu = measure::cpu_time() - cpu0;
                m.push((
                    format!("pipe{depth}_ops_s"),
                    done as f64 / elapsed.as_secs_f64(),
                ));
                m.push((format!("pipe{depth}_cpu_us"), us(cpu) / done as f64));
            }
            push_sys_share(&mut m, user0, sys0);
            z.close();
        }
        "fixed64" => {
            let z = Z::connect(server)?;
            let run = |n: usize| {
                std::thread::scope(|s| {
                    let handles: Vec<_> = (0..64)
                        .map(|_| {
                            s.spawn(|| {
                                for _ in 0..n / 64 {
                                    z.get_data(&paths.small)?;
                                }
                                Ok::<_, String>(())
                            })
                        })
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().map_err(|_| "thread panicked".to_string())?)
                        .collect::<R<Vec<()>>>()
                })
            };
            run(1024)?;
            let n = p.seq_n * 4 / 64 * 64;
            let cpu0 = measure::cpu_time();
            let t = Instant::now();
            run(n)?;
            m.push(("fixed_ops".into(), n as f64));
            m.push(("fixed_ops_s".into(), n as f64 / t.elapsed().as_secs_f64()));
            m.push((
                "fixed_cpu_us".into(),
                us(measure::cpu_time() - cpu0) / n as f64,
            ));
            z.close();
        }
        "allocs" => {
            let z = Z::connect(server)?;
            pipelined_blocking(&z, &paths.small, 64, p.dur / 5)?;
            measure::start_counting();
            let (done, _) = pipelined_blocking(&z, &paths.small, 64, p.dur / 2)?;
            let a = measure::stop_counting();
            m.push(("get_allocs".into(), a.allocs as f64 / done as f64));
            z.close();
        }
        "multi" => {
            let mut sessions = Vec::new();
            for _ in 0..4 {
                sessions.push(Z::connect(server)?);
            }
            let run = |dur: Duration| {
                std::thread::scope(|s| {
                    let handles: Vec<_> = sessions
                        .iter()
                        .map(|z| s.spawn(move || pipelined_blocking(z, &paths.small, 64, dur)))
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().map_err(|_| "thread panicked".to_string())?)
                        .collect::<R<Vec<_>>>()
                })
            };
            run(p.pipe_warm)?;
            let cpu0 = measure::cpu_time();
            let start = Instant::now();
            let results = run(p.dur)?;
            let elapsed = start.elapsed();
            let cpu = measure::cpu_time() - cpu0;
            let done: u64 = results.iter().map(|r| r.0).sum();
            m.push(("multi_ops_s".into(), done as f64 / elapsed.as_secs_f64()));
            m.push(("multi_cpu_us".into(), us(cpu) / done as f64));
            for z in sessions {
                z.close();
            }
        }
        "createdel" => {
            let z = Z::connect(server)?;
            let path = format!("{}-cd", paths.own);
            for _ in 0..p.pairs / 10 {
                z.create(&path, b"x", false)?;
                z.delete(&path)?;
            }
            let mut samples = Vec::with_capacity(p.pairs);
            for _ in 0..p.pairs {
                let t = Instant::now();
                z.create(&path, b"x", false)?;
                z.delete(&path)?;
                samples.push(t.elapsed());
            }
            push_latency(&mut m, "pair", samples, true);
            z.close();
        }
        "watch" => {
            let a = Z::connect(server)?;
            let b = Z::connect(server)?;
            let path = format!("{}-watch", paths.own);
            b.create(&path, b"0", false)?;
            let mut samples = Vec::with_capacity(p.watch_n);
            for i in 0..p.watch_n + p.watch_n / 10 {
                let w = a.get_data_watch(&path)?;
                let t = Instant::now();
                let data = i.to_string();
                let lat = std::thread::scope(|s| {
                    let waiter = s.spawn(move || Z::wait(w).map(|()| t.elapsed()));
                    b.set_data(&path, data.as_bytes())?;
                    waiter.join().map_err(|_| "thread panicked".to_string())?
                })?;
                if i >= p.watch_n / 10 {
                    samples.push(lat);
                }
            }
            push_latency(&mut m, "watch", samples, false);
            b.delete(&path)?;
            a.close();
            b.close();
        }
        "watchmem" | "watchalloc" => {
            let count = workload == "watchalloc";
            let z = Z::connect(server)?;
            z.get_data(&paths.child(0))?;
            let mut held = Vec::with_capacity(p.mem_n);
            std::thread::sleep(Duration::from_millis(50));
            let rss0 = measure::rss_bytes();
            if count {
                measure::start_counting();
            }
            for i in 0..p.mem_n {
                held.push(z.get_data_watch(&paths.child(i))?);
            }
            std::thread::sleep(Duration::from_millis(50));
            mem_metrics(&mut m, "watch", p.mem_n, count, rss0, measure::rss_bytes);
            drop(held);
            z.close();
        }
        "childmem" | "childalloc" => {
            let count = workload == "childalloc";
            let z = Z::connect(server)?;
            z.get_data(&paths.small)?;
            std::thread::sleep(Duration::from_millis(50));
            let rss0 = measure::rss_bytes();
            if count {
                measure::start_counting();
            }
            let view = z.get_children_watch(&paths.many)?;
            if view.0.len() != p.mem_n {
                return Err(format!("{} children, not {}", view.0.len(), p.mem_n));
            }
            std::thread::sleep(Duration::from_millis(50));
            mem_metrics(&mut m, "child", p.mem_n, count, rss0, measure::rss_bytes);
            drop(view);
            z.close();
        }
        "register" => {
            let z = Z::connect(server)?;
            let parent = format!("{}-reg", paths.own);
            z.create(&parent, b"", false)?;
            let data = registration_data();
            let t = Instant::now();
            let cpu0 = measure::cpu_time();
            for i in 0..p.reg_n {
                z.create(&format!("{parent}/127.0.0.1:{}", 20000 + i), &data, true)?;
            }
            let reg = t.elapsed();
            let reg_cpu = measure::cpu_time() - cpu0;
            let d = Z::connect(server)?;
            d.get_data(&paths.small)?;
            let mut samples = Vec::with_capacity(DISCOVERIES);
            let mut watches = Vec::with_capacity(DISCOVERIES);
            for _ in 0..DISCOVERIES {
                let t = Instant::now();
                let (names, w) = d.get_children_watch(&parent)?;
                samples.push(t.elapsed());
                if names.len() != p.reg_n {
                    return Err(format!(
                        "discovered {} of {} addresses",
                        names.len(),
                        p.reg_n
                    ));
                }
                watches.push(w);
            }
            m.push(("register_ms".into(), reg.as_secs_f64() * 1e3));
            m.push(("register_cpu_us".into(), us(reg_cpu) / p.reg_n as f64));
            m.push(("discover_ms".into(), median_ms(samples)));
            drop(watches);
            d.close();
            z.close();
            let c = Z::connect(server)?;
            for _ in 0..50 {
                if c.delete(&parent).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            c.close();
        }
        "connect" => {
            let mut samples = Vec::new();
            for _ in 0..p.connect_n + 1 {
                let t = Instant::now();
                let z = Z::connect(server)?;
                z.get_data(&paths.small)?;
                samples.push(t.elapsed());
                z.close();
                if let Some(gap) = connect_gap() {
                    std::thread::sleep(gap);
                }
            }
            samples.remove(0);
            samples.sort();
            m.push(("connect_p50_us".into(), us(percentile(&samples, 0.5))));
        }
        "reconnect" => {
            let z = Z::connect(server)?;
            z.get_data(&paths.small)?;
            let mut samples = Vec::new();
            for _ in 0..p.reconnect_n {
                let t = Instant::now();
                request_cut();
                loop {
                    if z.get_data(&paths.small).is_ok() {
                        break;
                    }
                    if t.elapsed() > Duration::from_secs(10) {
                        return Err("no successful request within 10 s of a cut".into());
                    }
                    std::thread::sleep(Duration::from_micros(100));
                }
                samples.push(t.elapsed());
                std::thread::sleep(Duration::from_millis(100));
            }
            samples.sort();
            m.push(("reconnect_p50_us".into(), us(percentile(&samples, 0.5))));
            z.close();
        }
        other => return Err(format!("unknown workload {other}")),
    }
    Ok(m)
}

/// An experiment (not in the table): three sessions of ours, one with the receive mark always
/// (`ReadCoalescing::Expected`), one without (`Off`) and one deciding by trial (`Adaptive`,
/// the default), used in turn for short slices (`ZKB_SLICES` each, default 20, of
/// `ZKB_SLICE_MS` each, default 300 at full scale) at the same depth (`ZKB_DEPTH`, default
/// 64), so that the machine's drift falls on all alike; reports each one's ops/s and CPU per
/// op over all its slices.
pub async fn ab_mark(server: &str, paths: &Paths, p: Params) -> R<Metrics> {
    let depth: usize = std::env::var("ZKB_DEPTH")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(64);
    let slices: usize = std::env::var("ZKB_SLICES")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(20);
    let connect = |mode| async move {
        let config = zk_session::SessionConfig {
            read_coalescing: mode,
            ..Default::default()
        };
        zk_session::Client::connect_with(server, config)
            .await
            .map_err(|e| format!("{e:?}"))
    };
    // The mark always on, never, and as the default decides by trial (its governor should
    // follow whichever of the other two is faster).
    let arms = [
        ("mark", zk_session::ReadCoalescing::Expected),
        ("nomark", zk_session::ReadCoalescing::Off),
        ("adaptive", zk_session::ReadCoalescing::Adaptive),
    ];
    // ZKB_ARMS (e.g. `adaptive` or `mark,nomark`): only these arms.
    let only = std::env::var("ZKB_ARMS").ok();
    let arms: Vec<_> = arms
        .into_iter()
        .filter(|(name, _)| {
            only.as_deref()
                .is_none_or(|o| o.split(',').any(|a| a == *name))
        })
        .collect();
    let mut clients = Vec::with_capacity(arms.len());
    for &(_, mode) in &arms {
        clients.push(connect(mode).await?);
    }
    // ZKB_SLICE_MS: each slice's length (default: 4 × the run's duration over the slices).
    let slice = std::env::var("ZKB_SLICE_MS")
        .ok()
        .and_then(|d| d.parse().ok())
        .map_or(p.dur * 4 / slices as u32, Duration::from_millis);
    let mut totals = vec![(0u64, Duration::ZERO, Duration::ZERO); arms.len()];
    for client in &clients {
        pipelined_session(client, &paths.small, depth, slice / 2).await?;
    }
    for i in 0..slices * arms.len() {
        let k = i % arms.len();
        let cpu0 = measure::cpu_time();
        let (done, elapsed) = pipelined_session(&clients[k], &paths.small, depth, slice).await?;
        if std::env::var_os("ZKB_DEBUG").is_some() {
            eprintln!(
                "slice {i} {}: {:.0} ops/s",
                arms[k].0,
                done as f64 / elapsed.as_secs_f64()
            );
        }
        let t = &mut totals[k];
        t.0 += done;
        t.1 += elapsed;
        t.2 += measure::cpu_time() - cpu0;
    }
    let mut m = Metrics::new();
    for ((name, _), (done, elapsed, cpu)) in arms.iter().zip(totals) {
        m.push((
            format!("{name}{depth}_ops_s"),
            done as f64 / elapsed.as_secs_f64(),
        ));
        m.push((format!("{name}{depth}_cpu_us"), us(cpu) / done as f64));
    }
    for client in clients {
        client.close().await;
    }
    Ok(m)
}

async fn pipelined_session(
    z: &zk_session::Client,
    path: &str,
    depth: usize,
    dur: Duration,
) -> R<(u64, Duration)> {
    let mut inflight = FuturesUnordered::new();
    let start = Instant::now();
    let deadline = start + dur;
    for _ in 0..depth {
        inflight.push(z.get_data(path));
    }
    let mut done = 0u64;
    while let Some(r) = inflight.next().await {
        r.map_err(|e| format!("{e:?}"))?;
        done += 1;
        if Instant::now() < deadline {
            inflight.push(z.get_data(path));
        }
    }
    Ok((done, start.elapsed()))
}

/// An experiment (not in the table; ours only): the reconnect time with and without a primed
/// handshake (`SessionConfig::prime_connection`), in one process. Two sessions, each through a
/// `FaultProxy` of its own, are cut in turn (`ZKB_CUTS` cuts each, default 50); a sample is the
/// time from the cut to the first get_data answered again, retried as in `reconnect`.
pub async fn ab_reconnect(server: &str, paths: &Paths) -> R<Metrics> {
    let cuts: usize = std::env::var("ZKB_CUTS")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(50);
    let arms = [("primed", true), ("unprimed", false)];
    let mut sessions = Vec::with_capacity(arms.len());
    for (_, prime_connection) in arms {
        let proxy = zk_testkit::FaultProxy::start(server).map_err(|e| e.to_string())?;
        let config = zk_session::SessionConfig {
            session_timeout: Duration::from_secs(10),
            prime_connection,
            ..Default::default()
        };
        let client = zk_session::Client::connect_with(&proxy.connect_string(), config)
            .await
            .map_err(|e| format!("{e:?}"))?;
        client
            .get_data(&paths.small)
            .await
            .map_err(|e| format!("{e:?}"))?;
        sessions.push((proxy, client));
    }
    let mut samples = vec![Vec::with_capacity(cuts); arms.len()];
    for i in 0..cuts * arms.len() {
        let k = i % arms.len();
        let (proxy, client) = &sessions[k];
        let t = Instant::now();
        proxy.cut();
        until_answered(t, false, || client.get_data(&paths.small)).await?;
        samples[k].push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut m = Metrics::new();
    // Paired by turn: how often the primed session's cut was the faster of the two.
    let wins = samples[0]
        .iter()
        .zip(&samples[1])
        .filter(|(a, b)| a < b)
        .count();
    m.push(("primed_faster_share".into(), wins as f64 / cuts as f64));
    for ((name, _), mut s) in arms.iter().zip(samples) {
        s.sort();
        for (q, label) in [(0.25, "p25"), (0.5, "p50"), (0.75, "p75")] {
            m.push((format!("{name}_{label}_us"), us(percentile(&s, q))));
        }
    }
    for (_, client) in sessions {
        client.close().await;
    }
    Ok(m)
}
