//! `zk`: the command line.
//!
//! Each subcommand lives in its own module with a clap `Args` struct and a `run` function; `main`
//! only parses and dispatches. Usage errors exit with status 2 (clap's default); any other failure
//! prints one line, `zk: <message>`, on stderr and exits with status 1.
//!
//! Modules: [`connect`] (global options, connecting, error messages), [`duration`], [`nodes`]
//! (`ls`, `get`, `stat`, `create`, `set`, `rm`), [`registry`] (zc-zk's `register`, `children`,
//! `props`, `props-set`, `props-update`), [`tree`] (`export`, `import`, `validate`,
//! `set-property`), [`watch`] (the `--watch` event streams), [`signals`],
//! [`output`] and `wire`.
#![forbid(unsafe_code)]

use std::future::Future;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

mod acl;
mod connect;
mod duration;
mod nodes;
mod output;
mod registry;
mod signals;
mod tree;
mod watch;
mod wire;

use connect::{GlobalArgs, Settings};

const EXAMPLES: &str = "\
Examples:
  zk -s zk1:2181,zk2:2181/app ls /
  zk create -p /services/foo/providers
  zk register /services/foo/providers 10.0.0.5:8080 weight=3 version='\"1.2\"'
  zk children --watch /services/foo/providers
  zk props-update /services/foo threads=4 debug=true
  zk --auth digest:admin:secret rm -r /old

Exit status: 0 on success, 1 on a ZooKeeper or I/O error (one line on stderr), 2 on a usage
error. The connection string defaults to $ZC_ZK_CONNECTION_STRING, else 127.0.0.1:2181.";

/// A ZooKeeper command line for people and scripts.
#[derive(Debug, Parser)]
#[command(name = "zk", version, about, after_help = EXAMPLES)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List a node's children, sorted, one a line.
    Ls(nodes::LsArgs),
    /// Print a node's data.
    Get(nodes::GetArgs),
    /// Print a node's Stat (versions, zxids, times, owner).
    Stat(nodes::StatArgs),
    /// Create a node and print its path.
    Create(nodes::CreateArgs),
    /// Write a node's data.
    Set(nodes::SetArgs),
    /// Delete a node (with -r, its subtree); prints each path deleted.
    Rm(nodes::RmArgs),
    /// Register a server (an ephemeral node PATH/HOST:PORT) until SIGINT or SIGTERM.
    Register(registry::RegisterArgs),
    /// Print a node's children, sorted (with --watch, a JSON line per change).
    Children(registry::ChildrenArgs),
    /// Print a node's properties as a JSON object (with --watch, a JSON line per change).
    Props(registry::PropsArgs),
    /// Replace a node's properties with KEY=VALUE pairs.
    PropsSet(registry::PropsWriteArgs),
    /// Merge KEY=VALUE pairs into a node's properties.
    PropsUpdate(registry::PropsWriteArgs),
    /// Print a node's ACL.
    Acl(acl::AclArgs),
    /// Replace a node's ACL.
    SetAcl(acl::SetAclArgs),
    /// Print a tree in zc.zk's tree format.
    Export(tree::ExportArgs),
    /// Make a tree match a file in zc.zk's tree format.
    Import(tree::ImportArgs),
    /// Check a tree file without contacting ZooKeeper.
    Validate(tree::ValidateArgs),
    /// Merge Python/JSON literal properties into a node.
    SetProperty(tree::SetPropertyArgs),
    /// Record and decode the ZooKeeper client protocol on the wire.
    Wire(wire::WireArgs),
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

/// Ends the program with a usage error (status 2), as clap does for its own.
fn usage_error(message: impl std::fmt::Display) -> ! {
    Cli::command()
        .error(clap::error::ErrorKind::ValueValidation, message)
        .exit()
}

/// Runs a ZooKeeper command.
async fn run(command: Command, s: Settings) -> Result<ExitCode, Failure> {
    match command {
        Command::Ls(args) => nodes::ls(&s, args).await,
        Command::Get(args) => nodes::get(&s, args).await,
        Command::Stat(args) => nodes::stat(&s, args).await,
        Command::Create(args) => nodes::create(&s, args).await,
        Command::Set(args) => nodes::set(&s, args).await,
        Command::Rm(args) => nodes::rm(&s, args).await,
        Command::Register(args) => registry::register(&s, args).await,
        Command::Children(args) => registry::children(&s, args).await,
        Command::Props(args) => registry::props(&s, args).await,
        Command::PropsSet(args) => registry::props_write(&s, args, false).await,
        Command::PropsUpdate(args) => registry::props_write(&s, args, true).await,
        Command::Acl(args) => acl::get(&s, args).await,
        Command::SetAcl(args) => acl::set(&s, args).await,
        Command::Export(args) => tree::export(&s, args).await,
        Command::Import(args) => tree::import(&s, args).await,
        Command::SetProperty(args) => tree::set_property(&s, args).await,
        // Needs no server: dispatched by `main`.
        Command::Validate(args) => tree::validate(args),
        // Synchronous, with its own runtime: dispatched by `main`.
        Command::Wire(_) => Err(Failure("zk wire runs outside the runtime".into())),
    }
}

/// Runs a command's future on a fresh runtime.
fn block_on(future: impl Future<Output = Result<ExitCode, Failure>>) -> Result<ExitCode, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(future)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Wire(args) => wire::run(args),
        Command::Validate(args) => tree::validate(args),
        command => {
            let settings = Settings::new(cli.global).unwrap_or_else(|e| usage_error(e));
            block_on(run(command, settings))
        }
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
