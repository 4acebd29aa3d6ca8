//! Side-by-side benchmark of this project's client against the Rust peers and kazoo, on one real
//! ZooKeeper started by zk-testkit. See PERFORMANCE.md.
//!
//! `cargo run --release -p zk-bench -- [--rounds N] [--scale F] [--clients a,b] [--workloads a,b]
//! [--json FILE]`; `zk-bench render FILE.json` prints the table of a run saved with `--json`.
//!
//! Every cell is measured in a fresh worker process (this binary with `worker …`, or
//! `python3 bench/kazoo_worker.py …` for kazoo), so CPU time, RSS and allocation counts are the
//! client's own. Rounds go over every workload and, within a workload, over every client in
//! turn (the order rotates each round); the table shows the median over rounds with min–max.

mod clients;
mod measure;
mod report;
mod workloads;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use workloads::{Metrics, Params, Paths, R};

#[global_allocator]
static ALLOC: measure::Counting = measure::Counting;

/// The clients, in column order.
pub const CLIENTS: &[&str] = &[
    "ours",
    "ours-off",
    "zookeeper-client",
    "zookeeper",
    "zookeeper-async",
    "tokio-zookeeper",
    "kazoo",
];

/// The workloads, in run order.
pub const WORKLOADS: &[&str] = &[
    "seq",
    "pipe",
    "multi",
    "allocs",
    "createdel",
    "watch",
    "watchmem",
    "watchalloc",
    "childmem",
    "childalloc",
    "register",
    "connect",
    "reconnect",
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("worker") {
        std::process::exit(worker(&args[1..]));
    }
    if args.first().map(String::as_str) == Some("serve") {
        if let Err(e) = serve() {
            eprintln!("zk-bench: {e}");
            std::process::exit(1);
        }
        return;
    }
    if args.first().map(String::as_str) == Some("render") {
        let Some(path) = args.get(1) else {
            eprintln!("usage: zk-bench render FILE.json");
            std::process::exit(2);
        };
        match std::fs::read_to_string(path)
            .map_err(|e| format!("{path}: {e}"))
            .and_then(|text| report::from_json(&text))
        {
            Ok((clients, workloads, results, env)) => {
                println!("{}", report::render(&clients, &workloads, &results, &env));
            }
            Err(e) => {
                eprintln!("zk-bench: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    if let Err(e) = coordinate(&args) {
        eprintln!("zk-bench: {e}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------------------------
// Worker: one client, one workload, one process.

fn worker(args: &[String]) -> i32 {
    let [client, workload, server, base, scale] = args else {
        eprintln!("usage: zk-bench worker CLIENT WORKLOAD SERVER BASE SCALE");
        return 2;
    };
    let params = Params::scaled(scale.parse().unwrap_or(1.0));
    let paths = Paths::new(base, client);
    let result = if client == "zookeeper" {
        workloads::run_blocking::<clients::Bonifaido>(workload, server, &paths, params)
    } else {
        run_async_client(client, workload, server, &paths, params)
    };
    let line = match result {
        Ok(metrics) => {
            let map: serde_json::Map<String, serde_json::Value> = metrics
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::from(v)))
                .collect();
            serde_json::json!({ "metrics": map })
        }
        Err(e) => serde_json::json!({ "error": e }),
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "RESULT {line}");
    let _ = out.flush();
    0
}

fn run_async_client(
    client: &str,
    workload: &str,
    server: &str,
    paths: &Paths,
    params: Params,
) -> R<Metrics> {
    let rt = match std::env::var("ZKB_RUNTIME").as_deref() {
        Ok("multi") => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    }
    .map_err(|e| e.to_string())?;
    rt.block_on(async {
        match client {
            "ours" if workload == "abmark" => workloads::ab_mark(server, paths, params).await,
            "ours" if workload == "abreconnect" => workloads::ab_reconnect(server, paths).await,
            "ours" => workloads::run_async::<clients::Ours>(workload, server, paths, params).await,
            variant if clients::VARIANTS.contains(&variant) => {
                let _ = clients::VARIANT.set(variant.to_owned());
                workloads::run_async::<clients::Ours>(workload, server, paths, params).await
            }
            "zookeeper-client" => {
                workloads::run_async::<clients::Kezhuw>(workload, server, paths, params).await
            }
            "zookeeper-async" => {
                workloads::run_async::<clients::ZkAsync>(workload, server, paths, params).await
            }
            "tokio-zookeeper" => {
                workloads::run_async::<clients::TokioZk>(workload, server, paths, params).await
            }
            other => Err(format!("unknown client {other}")),
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Coordinator.

struct Options {
    rounds: usize,
    scale: f64,
    clients: Vec<String>,
    workloads: Vec<String>,
    json: Option<String>,
    /// Pin the server to CPU 0 and every worker to CPU 1 (`--pin`).
    pin: bool,
}

fn parse_options(args: &[String]) -> R<Options> {
    let mut o = Options {
        rounds: 5,
        scale: 1.0,
        clients: CLIENTS.iter().map(|s| s.to_string()).collect(),
        workloads: WORKLOADS.iter().map(|s| s.to_string()).collect(),
        json: None,
        pin: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--rounds" => o.rounds = value()?.parse().map_err(|e| format!("--rounds: {e}"))?,
            "--scale" => o.scale = value()?.parse().map_err(|e| format!("--scale: {e}"))?,
            "--clients" => o.clients = value()?.split(',').map(str::to_owned).collect(),
            "--workloads" => o.workloads = value()?.split(',').map(str::to_owned).collect(),
            "--json" => o.json = Some(value()?),
            "--pin" => o.pin = true,
            "-h" | "--help" => {
                println!(
                    "zk-bench [--rounds N] [--scale F] [--clients a,b] [--workloads a,b] [--json FILE] [--pin]\n\
                     clients: {}\nworkloads: {}",
                    CLIENTS.join(","),
                    WORKLOADS.join(",")
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(o)
}

/// What one cell's runs gave: per metric, one value per round; or why not.
#[derive(Default)]
pub struct Cell {
    /// Values per metric.
    pub values: BTreeMap<String, Vec<f64>>,
    /// The round of each value.
    pub rounds: BTreeMap<String, Vec<usize>>,
    /// Errors, one per failed run.
    pub errors: Vec<String>,
    /// Metrics the client's worker could not take, and why.
    pub missing: BTreeMap<String, String>,
}

/// Every client's cells, per workload.
pub type Results = BTreeMap<(String, String), Cell>;

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn kazoo_version() -> Option<String> {
    let out = Command::new("python3")
        .args(["-c", "import kazoo; print(kazoo.__version__)"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Starts the benchmark's server, with the shared nodes, and prints the worker arguments that
/// use it, for profiling one cell by hand (`zk-bench worker CLIENT WORKLOAD SERVER BASE SCALE`
/// under perf, strace or valgrind); stops when stdin closes.
fn serve() -> R<()> {
    let server = start_server()?;
    if std::env::var("ZKB_PIN").is_ok_and(|v| v == "1") {
        pin_server(&server)?;
    }
    let connect = server.connect_string();
    let base = format!("/zkbench-{}", std::process::id());
    prepare_and_warm(&connect, &base)?;
    println!("{connect} {base}");
    let _ = std::io::stdout().flush();
    let mut sink = String::new();
    while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {}
    Ok(())
}

/// The CPU the server is pinned to with `--pin` (the workers get [`WORKER_CPU`]).
const SERVER_CPU: &str = "0";
/// The CPU every worker is pinned to with `--pin`.
const WORKER_CPU: &str = "1";

/// Pins every thread of the server's JVM (and so the threads they start) to [`SERVER_CPU`],
/// with util-linux's `taskset`: where the scheduler puts a client next to a server on the same
/// two cores moves one session's pipelined throughput by half (PERFORMANCE.md, ninth round),
/// for every client; pinned, the comparison is between the clients.
fn pin_server(server: &zk_testkit::Server) -> R<()> {
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        return Err("--pin needs at least 2 CPUs".into());
    }
    let pid = server.pid().ok_or("--pin: the server has no process id")?;
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", SERVER_CPU, &pid.to_string()])
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("--pin: running taskset: {e}"))?;
    if !status.success() {
        return Err(format!("--pin: taskset failed ({status})"));
    }
    Ok(())
}

/// The server: zk-testkit's, with the JVM set up for a benchmark.
fn start_server() -> R<zk_testkit::Server> {
    // The testkit's JVM defaults favour start-up time (C1 only, a small heap); a benchmark wants
    // the server's full JIT.
    zk_testkit::ServerConfig::new()
        .jvm_args([
            "-Xms512m",
            "-Xmx512m",
            "-XX:+UseSerialGC",
            "-Xshare:auto",
            "-XX:-UsePerfData",
            "-Djava.awt.headless=true",
        ])
        .start()
        .map_err(|e| format!("starting ZooKeeper: {e}"))
}

fn coordinate(args: &[String]) -> R<()> {
    let opts = parse_options(args)?;
    let kazoo = kazoo_version();
    eprintln!(
        "zk-bench: starting ZooKeeper (zk-testkit), load average {}",
        load_average()
    );
    let server = start_server()?;
    if opts.pin {
        pin_server(&server)?;
        eprintln!("zk-bench: server pinned to CPU {SERVER_CPU}, workers to CPU {WORKER_CPU}");
    }
    let connect = server.connect_string();
    let base = format!("/zkbench-{}", std::process::id());
    prepare_and_warm(&connect, &base)?;

    let mut results = Results::new();
    let started = Instant::now();
    let load_before = load_average();
    for round in 0..opts.rounds {
        for workload in &opts.workloads {
            let n = opts.clients.len();
            for k in 0..n {
                let client = &opts.clients[(k + round) % n];
                let cell = results
                    .entry((client.clone(), workload.clone()))
                    .or_default();
                if client == "kazoo" && kazoo.is_none() {
                    if cell.errors.is_empty() {
                        cell.errors
                            .push("kazoo is not importable by python3".into());
                    }
                    continue;
                }
                let t = Instant::now();
                match run_worker(client, workload, &server, &base, opts.scale, opts.pin) {
                    Ok(metrics) => {
                        for (k, v) in metrics {
                            if let Some(rest) = k.strip_prefix("missing:") {
                                let (metric, why) = rest.split_once(':').unwrap_or((rest, ""));
                                cell.missing.insert(metric.to_owned(), why.to_owned());
                            } else {
                                cell.rounds.entry(k.clone()).or_default().push(round);
                                cell.values.entry(k).or_default().push(v);
                            }
                        }
                    }
                    Err(e) => {
                        eprintln!("zk-bench: {client} {workload}: {e}");
                        cell.errors.push(e);
                    }
                }
                eprintln!(
                    "zk-bench: round {}/{} {workload:<10} {client:<16} {:>6.1} s  load {}",
                    round + 1,
                    opts.rounds,
                    t.elapsed().as_secs_f64(),
                    load_average()
                );
            }
        }
    }
    let env = report::Environment {
        rounds: opts.rounds,
        scale: opts.scale,
        elapsed: started.elapsed(),
        load_before,
        load_after: load_average(),
        kazoo,
        server_version: zk_testkit::four_letter_word(server.addr(), "srvr", Duration::from_secs(2))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Zookeeper version: "))
                    .map(str::to_owned)
            }),
        pinned: opts.pin,
    };
    let table = report::render(&opts.clients, &opts.workloads, &results, &env);
    println!("{table}");
    if let Some(path) = &opts.json {
        std::fs::write(path, report::json(&results, &env)).map_err(|e| e.to_string())?;
    }
    drop(server);
    Ok(())
}

/// Creates the shared nodes (a 100-byte node; a node with 10,000 children) and warms the
/// server's JIT with a few seconds of traffic.
fn prepare_and_warm(connect: &str, base: &str) -> R<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        use futures::StreamExt;
        let c = zk_session::Client::connect(connect)
            .await
            .map_err(|e| e.to_string())?;
        let persistent = zk_session::CreateOptions::persistent();
        let e = |e: zk_session::Error| e.to_string();
        c.create(base, b"", &persistent).await.map_err(e)?;
        c.create(&format!("{base}/small"), &[7u8; 100], &persistent)
            .await
            .map_err(e)?;
        c.create(&format!("{base}/w"), b"", &persistent)
            .await
            .map_err(e)?;
        let paths = Paths::new(base, "setup");
        let mem_n = Params::scaled(1.0).mem_n;
        futures::stream::iter(0..mem_n)
            .map(|i| {
                let c = &c;
                let path = paths.child(i);
                let persistent = &persistent;
                async move { c.create(&path, b"", persistent).await }
            })
            .buffer_unordered(64)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .map_err(e)?;
        // Warm-up: pipelined reads, writes and watches for about 5 s.
        let deadline = Instant::now() + Duration::from_secs(5);
        let small = paths.small.clone();
        while Instant::now() < deadline {
            futures::stream::iter(0..2000)
                .map(|_| c.get_data(&small))
                .buffer_unordered(64)
                .collect::<Vec<_>>()
                .await;
            for i in 0..100 {
                let p = format!("{base}/warm");
                c.create(&p, b"x", &persistent).await.map_err(e)?;
                let (_, _, w) = c.get_data_watch(&p).await.map_err(e)?;
                c.set_data(&p, i.to_string().as_bytes(), None)
                    .await
                    .map_err(e)?;
                w.changed().await;
                c.delete(&p, None).await.map_err(e)?;
            }
        }
        c.close().await;
        Ok(())
    })
}

fn run_worker(
    client: &str,
    workload: &str,
    server: &zk_testkit::Server,
    base: &str,
    scale: f64,
    pin: bool,
) -> R<Metrics> {
    let proxy = if workload == "reconnect" {
        Some(zk_testkit::FaultProxy::start(server.addr()).map_err(|e| e.to_string())?)
    } else {
        None
    };
    let target = proxy
        .as_ref()
        .map_or_else(|| server.connect_string(), |p| p.connect_string());
    let scale_arg = scale.to_string();
    let (program, mut args): (std::ffi::OsString, Vec<std::ffi::OsString>) = if client == "kazoo" {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/kazoo_worker.py");
        ("python3".into(), vec![script.into()])
    } else {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        (exe.into(), vec!["worker".into(), client.into()])
    };
    args.extend([workload, &target, base, &scale_arg].map(Into::into));
    let mut cmd = if pin {
        let mut c = Command::new("taskset");
        c.args(["-c", WORKER_CPU]).arg(program).args(args);
        c
    } else {
        let mut c = Command::new(program);
        c.args(args);
        c
    };
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawning the {client} worker: {e}"))?;
    let mut stdin = child.stdin.take();
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut s);
        s
    });
    // A watchdog: a worker that hangs is killed after 10 minutes.
    let id = child.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let done = done.clone();
        std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(600);
            while Instant::now() < until {
                if done.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            let _ = Command::new("kill").arg("-9").arg(id.to_string()).status();
        })
    };
    let mut result: Option<serde_json::Value> = None;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if line == "CUT" {
            if let Some(p) = &proxy {
                p.cut();
            }
            if let Some(s) = stdin.as_mut() {
                let _ = writeln!(s, "ok");
                let _ = s.flush();
            }
        } else if let Some(json) = line.strip_prefix("RESULT ") {
            result = serde_json::from_str(json).ok();
        }
    }
    drop(stdin);
    let status = child.wait().map_err(|e| e.to_string())?;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = watchdog.join();
    let stderr_text = err_reader.join().unwrap_or_default();
    if std::env::var_os("ZKB_DEBUG").is_some() {
        eprint!("{stderr_text}");
    }
    let Some(result) = result else {
        let tail: String = stderr_text
            .lines()
            .rev()
            .take(3)
            .collect::<Vec<_>>()
            .join(" | ");
        return Err(format!("worker exited with {status} and no result: {tail}"));
    };
    if let Some(e) = result.get("error").and_then(|e| e.as_str()) {
        return Err(e.to_owned());
    }
    if let Some(e) = result.get("na").and_then(|e| e.as_str()) {
        return Err(format!("n/a: {e}"));
    }
    let metrics = result
        .get("metrics")
        .and_then(|m| m.as_object())
        .ok_or("result without metrics")?;
    let mut out: Metrics = metrics
        .iter()
        .filter_map(|(k, v)| v.as_f64().map(|v| (k.clone(), v)))
        .collect();
    // Figures a worker could not take, with the reason, travel as NaN plus a note.
    if let Some(missing) = result.get("missing").and_then(|m| m.as_object()) {
        for (k, why) in missing {
            out.push((
                format!("missing:{k}:{}", why.as_str().unwrap_or("")),
                f64::NAN,
            ));
        }
    }
    Ok(out)
}
