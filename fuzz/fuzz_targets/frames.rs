//! Frame splitting under arbitrary chunking agrees with splitting the stream whole.
//! The logic is `proto_tests::fuzzing::frames`, which `cargo test -p proto-tests` also runs on
//! the committed corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = proto_tests::fuzzing::frames(data);
});
