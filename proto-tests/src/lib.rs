//! Golden vectors for zk-proto.
