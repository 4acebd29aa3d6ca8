//! A conversation in both directions: no panic, and every decoded frame re-encodes to its bytes.
//! The logic is `proto_tests::fuzzing::conversation`, which `cargo test -p proto-tests` also runs on
//! the committed corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = proto_tests::fuzzing::conversation(data);
});
