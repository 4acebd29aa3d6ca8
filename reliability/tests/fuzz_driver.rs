//! The fuzz-style session driver over a few thousand seeded inputs.

use std::time::{Duration, Instant};

use zk_reliability::fuzz::{DriveStats, drive, seeded_input};

#[test]
fn seeded_programs_keep_every_session_invariant() {
    let started = Instant::now();
    let budget = Duration::from_secs(60);
    let mut total = DriveStats::default();
    let mut runs = 0u64;
    for seed in 0..10_000u64 {
        if started.elapsed() > budget {
            break;
        }
        let input = seeded_input(seed);
        let outcome = std::panic::catch_unwind(|| drive(&input));
        match outcome {
            Ok(stats) => total += stats,
            Err(e) => {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                let hex: String = input.iter().map(|b| format!("{b:02x}")).collect();
                panic!("seed {seed} broke an invariant: {msg}\ninput: {hex}");
            }
        }
        runs += 1;
    }
    eprintln!(
        "fuzz driver: {runs} inputs in {:?}: {total:?}",
        started.elapsed()
    );
    assert!(runs >= 2000, "only {runs} inputs within the budget");
    // The inputs reach deep states, not just the handshake.
    assert!(total.connected > runs as usize / 2, "{total:?}");
    assert!(total.succeeded > 1000, "{total:?}");
    assert!(total.pings > 100, "{total:?}");
    assert!(total.watch_events > 100, "{total:?}");
}

// Tracing one seed or searching for a failing one: `examples/fuzz_trace.rs`.
