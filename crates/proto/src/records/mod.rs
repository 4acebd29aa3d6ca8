//! Every client-facing record of `zookeeper.jute`, with jute's names.

pub mod common;
pub mod connect;
pub mod header;
pub mod multi;
pub mod request;
pub mod response;
pub mod watch;
