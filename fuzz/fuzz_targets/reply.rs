//! Reply bodies for every op code and error: decode, then encode, gives the input back.
//! The logic is `proto_tests::fuzzing::reply`, which `cargo test -p proto-tests` also runs on
//! the committed corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = proto_tests::fuzzing::reply(data);
});
