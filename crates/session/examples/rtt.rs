//! Round-trip latency and pipelined throughput of get_data against a throwaway local server.
//!
//! `cargo run --release -p zk-session --example rtt` (or set `ZK_SERVER` to use your own).

use std::time::{Duration, Instant};

use zk_session::{Client, CreateOptions};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn cpu_time() -> Duration {
    // user + sys of this process, from /proc (Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: u64 = fields.get(11).and_then(|u| u.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = match std::env::var("ZK_SERVER") {
        Ok(_) => None,
        Err(_) => Some(zk_testkit::Server::start()?),
    };
    let connect = std::env::var("ZK_SERVER").unwrap_or_else(|_| {
        server
            .as_ref()
            .map(|s| s.connect_string())
            .unwrap_or_default()
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let c = Client::connect(&connect).await?;
        let path = format!("/rtt-{}", std::process::id());
        c.create(&path, &[7u8; 100], &CreateOptions::ephemeral())
            .await?;
        for _ in 0..2000 {
            c.get_data(&path).await?;
        }
        // Sequential.
        let n = 20_000;
        let mut samples = Vec::with_capacity(n);
        let cpu0 = cpu_time();
        let start = Instant::now();
        for _ in 0..n {
            let t = Instant::now();
            c.get_data(&path).await?;
            samples.push(t.elapsed());
        }
        let elapsed = start.elapsed();
        let cpu = cpu_time() - cpu0;
        samples.sort();
        println!(
            "sequential get_data (100 B): p50 {:?}  p99 {:?}  {:.0} ops/s  client CPU {:.1} µs/op",
            percentile(&samples, 0.5),
            percentile(&samples, 0.99),
            n as f64 / elapsed.as_secs_f64(),
            cpu.as_secs_f64() * 1e6 / n as f64
        );
        // Pipelined.
        for depth in [1usize, 16, 64, 256] {
            let total = 50_000;
            let cpu0 = cpu_time();
            let start = Instant::now();
            let mut tasks = Vec::new();
            for _ in 0..depth {
                let c = c.clone();
                let path = path.clone();
                tasks.push(tokio::spawn(async move {
                    for _ in 0..total / depth {
                        c.get_data(&path).await?;
                    }
                    Ok::<_, zk_session::Error>(())
                }));
            }
            for t in tasks {
                t.await??;
            }
            let elapsed = start.elapsed();
            let cpu = cpu_time() - cpu0;
            let done = (total / depth) * depth;
            println!(
                "pipelined get_data, {depth:>3} in flight: {:.0} ops/s  client CPU {:.1} µs/op",
                done as f64 / elapsed.as_secs_f64(),
                cpu.as_secs_f64() * 1e6 / done as f64
            );
        }
        c.close().await;
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    drop(server);
    Ok(())
}
