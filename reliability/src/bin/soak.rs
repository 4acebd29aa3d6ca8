//! The soak: the reliability scenarios of `cargo test -p zk-reliability`, run longer and over
//! and over, printing their figures.
//!
//! ```text
//! cargo run -p zk-reliability --release --bin soak -- --duration 10m
//! cargo run -p zk-reliability --bin soak -- --duration 2m --only faults,ensemble
//! ```
//!
//! Options: `--duration D` (default 10m; `500ms`, `90s`, `10m`, `1h`), `--only a,b` (scenarios:
//! fuzz, hostile, faults, expiry, stalls, data-loss, ensemble, load), `--seed N`. Every
//! scenario runs at least once; the loop then repeats them until the duration is spent. Exits
//! with 1 when any promise did not hold, 2 on bad arguments or a set-up failure.

use std::time::{Duration, Instant};

use zk_reliability::figures::{OpCounts, Percentiles};
use zk_reliability::fuzz::{DriveStats, drive, seeded_input};
use zk_reliability::scenarios::{data_loss, ensemble, expiry, faults, hostile, load, stalls};

const ALL: [&str; 8] = [
    "fuzz",
    "hostile",
    "faults",
    "expiry",
    "stalls",
    "data-loss",
    "ensemble",
    "load",
];

struct Args {
    duration: Duration,
    only: Vec<String>,
    seed: u64,
}

fn parse_duration(s: &str) -> Option<Duration> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit() && c != '.')?);
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs))
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        duration: Duration::from_secs(600),
        only: ALL.iter().map(|s| (*s).to_owned()).collect(),
        seed: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--duration" => {
                let v = value()?;
                args.duration = parse_duration(&v).ok_or_else(|| format!("bad duration {v:?}"))?;
            }
            "--only" => {
                let v = value()?;
                args.only = v.split(',').map(str::to_owned).collect();
                if let Some(bad) = args.only.iter().find(|s| !ALL.contains(&s.as_str())) {
                    return Err(format!(
                        "unknown scenario {bad:?}; known: {}",
                        ALL.join(", ")
                    ));
                }
            }
            "--seed" => {
                let v = value()?;
                args.seed = v.parse().map_err(|_| format!("bad seed {v:?}"))?;
            }
            "-h" | "--help" => {
                println!(
                    "usage: soak [--duration 10m] [--only {}] [--seed N]",
                    ALL.join(",")
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

/// What the whole soak saw.
#[derive(Default)]
struct Totals {
    runs: Vec<(String, usize)>,
    violations: Vec<String>,
    fuzz: DriveStats,
    fuzz_inputs: u64,
    fault_ops: OpCounts,
    cuts: u64,
    failover: Vec<Duration>,
    kills: usize,
    expiry_recovery: Vec<Duration>,
}

impl Totals {
    fn ran(&mut self, name: &str) {
        match self.runs.iter_mut().find(|(n, _)| n == name) {
            Some((_, n)) => *n += 1,
            None => self.runs.push((name.to_owned(), 1)),
        }
    }

    fn failed(&mut self, name: &str, what: &[String]) {
        for w in what {
            self.violations.push(format!("{name}: {w}"));
        }
    }
}

async fn one(
    name: &str,
    server: &str,
    slice: Duration,
    seed: u64,
    t: &mut Totals,
) -> Result<(), String> {
    let started = Instant::now();
    match name {
        "fuzz" => {
            let mut n = 0u64;
            while started.elapsed() < slice.min(Duration::from_secs(60)) {
                let s = seed.wrapping_mul(1_000_003).wrapping_add(t.fuzz_inputs + n);
                let input = seeded_input(s);
                match std::panic::catch_unwind(|| drive(&input)) {
                    Ok(stats) => t.fuzz += stats,
                    Err(_) => t
                        .violations
                        .push(format!("fuzz: seed {s} broke an invariant")),
                }
                n += 1;
            }
            t.fuzz_inputs += n;
            println!(
                "fuzz driver: {n} inputs in {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
        "hostile" => {
            let r = hostile::run().await?;
            println!("{r}");
            t.failed(name, &r.violations.0);
        }
        "faults" => {
            let p = faults::Params {
                duration: slice.clamp(Duration::from_secs(10), Duration::from_secs(300)),
                seed,
                ..faults::Params::default()
            };
            let r = faults::run(server, &p).await?;
            println!("{r}");
            t.cuts += r.cuts;
            t.fault_ops.merge(r.ops.clone());
            t.failed(name, &r.violations.0);
        }
        "expiry" => {
            for kind in [
                expiry::Kind::Takeover,
                expiry::Kind::Blackhole,
                expiry::Kind::StaleEphemeral,
            ] {
                let r = expiry::run(server, kind).await?;
                println!("{r}");
                t.expiry_recovery.push(r.recovery);
                t.failed(name, &r.violations.0);
            }
        }
        "stalls" => {
            let r = stalls::run(&[
                Duration::from_secs(1),
                Duration::from_secs(3),
                Duration::from_millis(5500),
                Duration::from_secs(8),
            ])
            .await?;
            println!("{r}");
            t.failed(name, &r.violations.0);
        }
        "data-loss" => {
            let r = data_loss::run().await?;
            println!("{r}");
            t.failed(name, &r.violations.0);
        }
        "ensemble" => {
            let p = ensemble::Params {
                rounds: 1000,
                max_duration: slice.clamp(Duration::from_secs(20), Duration::from_secs(600)),
                ..ensemble::Params::default()
            };
            let r = ensemble::run(&p).await?;
            println!("{r}");
            t.kills += r.kills;
            t.failover.extend(r.samples.iter().copied());
            t.failed(name, &r.violations.0);
        }
        "load" => {
            let r = load::run(server, &load::Params::default()).await?;
            println!("{r}");
            t.failed(name, &r.violations.0);
        }
        _ => return Err(format!("unknown scenario {name}")),
    }
    t.ran(name);
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let server = match tokio::task::spawn_blocking(zk_testkit::Server::start).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            eprintln!("cannot start ZooKeeper: {e}");
            std::process::exit(2);
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let connect = server.connect_string();
    let started = Instant::now();
    // Each scenario's share of the time, for those that can stretch (fuzz, faults, ensemble).
    let slice = args.duration / (args.only.len() as u32).max(1);
    let mut totals = Totals::default();
    let mut round = 0u64;
    loop {
        for name in &args.only {
            if round > 0 && started.elapsed() >= args.duration {
                break;
            }
            println!(
                "\n== {name} (round {round}, {:.0} s in)",
                started.elapsed().as_secs_f64()
            );
            if let Err(e) = one(name, &connect, slice, args.seed + round, &mut totals).await {
                eprintln!("{name}: set-up failed: {e}");
                std::process::exit(2);
            }
        }
        round += 1;
        if started.elapsed() >= args.duration {
            break;
        }
    }

    println!(
        "\n== soak summary ({:.0} s)",
        started.elapsed().as_secs_f64()
    );
    for (name, n) in &totals.runs {
        println!("  {name}: {n} runs");
    }
    if totals.fuzz_inputs > 0 {
        println!(
            "  fuzz driver: {} inputs, {:?}",
            totals.fuzz_inputs, totals.fuzz
        );
    }
    if totals.cuts > 0 {
        println!(
            "  connection faults: {} cuts; {}",
            totals.cuts, totals.fault_ops
        );
    }
    if totals.kills > 0 {
        println!(
            "  ensemble: {} kills; failover {}",
            totals.kills,
            Percentiles::of(&totals.failover)
        );
    }
    if !totals.expiry_recovery.is_empty() {
        println!(
            "  expiry: registration restored after the fault {}",
            Percentiles::of(&totals.expiry_recovery)
        );
    }
    if totals.violations.is_empty() {
        println!("  violations: none");
    } else {
        println!("  violations ({}):", totals.violations.len());
        for v in &totals.violations {
            println!("    - {v}");
        }
        std::process::exit(1);
    }
}
