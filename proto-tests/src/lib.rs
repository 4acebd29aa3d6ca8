//! Golden vectors for zk-proto: frames captured from real ZooKeeper peers (the Java `zkCli.sh`,
//! the C `cli_mt`, Python kazoo, a raw client built on zk-proto itself, all against a real
//! ZooKeeper 3.8.0 server), handcrafted frames for what cannot be captured here, and negative
//! vectors, plus the logic shared by the fuzz targets in `fuzz/` so that replaying their corpus is
//! an ordinary test.
//!
//! - [`vectors`]: reading the JSON Lines capture format and decoding whole connections.
//! - [`fuzzing`]: one function per fuzz target; each panics only when zk-proto breaks one of its
//!   promises (a panic inside the codec, a decode that does not re-encode to its input, chunked
//!   framing that disagrees with whole framing).
//! - [`handcrafted`]: the generator of the handcrafted and negative vectors.
//! - [`hex`]: lowercase hex, as the capture format uses.
#![forbid(unsafe_code)]

pub mod fuzzing;
pub mod handcrafted;
pub mod hex;
pub mod vectors;
