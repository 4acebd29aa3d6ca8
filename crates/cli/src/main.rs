//! `zk`: the command line.
//!
//! Each subcommand lives in its own module with a clap `Args` struct and a `run` function; `main`
//! only parses and dispatches. Usage errors exit with status 2 (clap's default); any other failure
//! prints one line, `zk: <message>`, on stderr and exits with status 1.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod wire;

/// A ZooKeeper command line for people and scripts.
#[derive(Debug, Parser)]
#[command(name = "zk", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Record and decode the ZooKeeper client protocol on the wire.
    Wire(wire::WireArgs),
    // other commands are added here
}

/// A failure that ends the program with status 1.
#[derive(Debug)]
struct Failure(String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure(message)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure(e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Wire(args) => wire::run(args),
        // other commands are dispatched here
    };
    match result {
        Ok(code) => code,
        Err(Failure(message)) => {
            // One line: newlines in a message would break scripts that read stderr.
            eprintln!("zk: {}", message.replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}
