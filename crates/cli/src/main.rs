//! `zk`: the command line.
fn main() {}
