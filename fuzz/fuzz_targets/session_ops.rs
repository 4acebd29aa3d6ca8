//! The sans-IO session driven by a program of operations (submits, server frames valid and
//! invalid, disconnects, failed connects, clock advances, close) on a simulated clock, checking
//! its invariants: at most one ping in flight, every request answered exactly once, no event
//! after the terminal state. The logic is `zk_reliability::fuzz::drive`, which
//! `cargo test -p zk-reliability` also runs over thousands of seeded inputs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = zk_reliability::fuzz::drive(data);
});
