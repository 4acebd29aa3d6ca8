//! Replays fuzz-driver seeds outside the test run.
//!
//! - `FUZZ_TRACE=1 cargo run -p zk-reliability --example fuzz_trace -- SEED`: one seed, printing
//!   every step;
//! - `cargo run -p zk-reliability --example fuzz_trace -- search FROM N`: names the first failing
//!   seed in `FROM..FROM+N` (to find a seed the soak reported only by number).

use zk_reliability::fuzz::{drive, seeded_input};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize| -> u64 {
        args.get(i).and_then(|a| a.parse().ok()).unwrap_or_else(|| {
            eprintln!("usage: fuzz_trace SEED | fuzz_trace search FROM N");
            std::process::exit(2)
        })
    };
    if args.first().map(String::as_str) == Some("search") {
        let (from, n) = (number(1), number(2));
        for seed in from..from + n {
            let input = seeded_input(seed);
            if std::panic::catch_unwind(|| drive(&input)).is_err() {
                println!("failing seed {seed}");
                return;
            }
        }
        println!("no failing seed in {from}..{}", from + n);
    } else {
        drive(&seeded_input(number(0)));
        println!("seed held every invariant");
    }
}
