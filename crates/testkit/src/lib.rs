//! Real ZooKeeper servers and ensembles on loopback, and a fault-injecting
//! TCP proxy, for tests and benchmarks.
//!
//! Everything here is synchronous (std threads and `std::net`), so it works
//! the same from plain `#[test]`s and from `#[tokio::test]`s (start servers
//! before entering the runtime, or from `spawn_blocking`, if you mind a
//! blocking call of about a second).
//!
//! # Finding ZooKeeper
//!
//! [`Installation::find`] uses `$ZOOKEEPER_HOME` (an Apache binary
//! distribution, 3.5 or newer) if set, else the jars of Debian's `zookeeper`
//! package; Java comes from `$JAVA_HOME/bin/java` or `java` on `PATH`. When
//! either is missing, starting a server fails with [`Error::NotInstalled`]
//! naming the install command (`apt-get install -y zookeeper`, or
//! `scripts/setup`).
//!
//! # Servers
//!
//! [`Server`] is a standalone server, [`Ensemble`] a quorum of N members
//! (default 3); both are configured by [`ServerConfig`] (`tickTime` 500 ms by
//! default, see there for session timeout bounds). Each instance gets a
//! fresh temporary directory, free loopback ports, and a log file that
//! error messages quote from. [`shared_server`] is one lazily started server
//! per test binary; isolate tests on it with [`unique_path`].
//!
//! No JVM outlives the test process: dropping a `Server`/`Ensemble` SIGKILLs
//! its JVMs, and each JVM also has a watchdog, a tiny `sh` whose stdin is a
//! pipe held only by the test process. When the test process ends in any
//! way (normal exit with a still-alive [`shared_server`], panic with
//! `panic = "abort"`, SIGKILL), the kernel closes the pipe, and the watchdog
//! SIGKILLs the JVM and deletes its directory.
//!
//! # Faults
//!
//! [`FaultProxy`] sits between a client and a server (or any TCP upstream) and
//! can cut connections, blackhole them, add latency, refuse new ones, and
//! record the ZooKeeper frames that pass through it as JSON Lines.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use zk_testkit::{Ensemble, FaultProxy, Server, ServerConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A standalone server with a 200 ms tick (session timeouts from 400 ms).
//! let server = ServerConfig::new().tick_time(Duration::from_millis(200)).start()?;
//! assert_eq!(server.four_letter_word("ruok")?, "imok");
//!
//! // Put a proxy in front of it and give the client the proxy's address.
//! let proxy = FaultProxy::start(server.addr())?;
//! let connect_string = proxy.connect_string();
//! // ... connect a client to `connect_string`, then:
//! proxy.blackhole(); // the client hears nothing any more
//! proxy.restore();
//! proxy.cut(); // every connection is closed
//! # let _ = connect_string;
//!
//! // A three-member ensemble: kill the leader, wait for a new one.
//! let ensemble = Ensemble::start()?;
//! let leader = ensemble.leader().expect("a leader");
//! ensemble.kill(leader);
//! let new_leader = ensemble.wait_ready(Duration::from_secs(30))?;
//! assert_ne!(leader, new_leader);
//! ensemble.restart(leader)?;
//! # Ok(())
//! # }
//! ```

use std::io;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

mod install;
mod net;
mod proxy;
mod recording;
mod server;
mod tls;

pub use install::{Installation, InstallationKind, zookeeper_available};
pub use net::{four_letter_word, free_port};
pub use proxy::FaultProxy;
pub use recording::Recording;
pub use server::{DEFAULT_JVM_ARGS, Ensemble, Mode, Server, ServerConfig};
pub use tls::{ClientAuth, STORE_PASSWORD, TestCertificates};

/// Errors of the testkit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Java or ZooKeeper is missing; the message says how to install them.
    #[error("{0}")]
    NotInstalled(String),
    /// An I/O operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What the testkit was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Something did not happen in time (a start, a restart, an election).
    #[error("timed out after {timeout:?} waiting for {what}\n{log_tail}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long the testkit waited.
        timeout: Duration,
        /// The members' `srvr` state and log tails.
        log_tail: String,
    },
    /// A server process exited on its own.
    #[error("ZooKeeper server.{} (index {member}) exited unexpectedly ({status}); log tail:\n{log_tail}", member + 1)]
    Exited {
        /// The member's index (0 for a standalone server).
        member: usize,
        /// Its exit status.
        status: String,
        /// The end of its log.
        log_tail: String,
    },
    /// A method was called in a state that does not allow it.
    #[error("{0}")]
    InvalidArgument(String),
}

impl Error {
    fn io(context: &str, source: io::Error) -> Error {
        Error::Io {
            context: context.to_owned(),
            source,
        }
    }
}

/// The testkit's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One standalone server for the whole test binary, started on first use
/// with the default [`ServerConfig`] and killed when the process exits (by
/// its watchdog, see the crate docs).
///
/// Tests share it, so they must not kill, pause or restart it, and should
/// each work under their own [`unique_path`] (or chroot).
///
/// # Panics
///
/// If the server can't be started (e.g. ZooKeeper isn't installed); a later
/// call tries again.
pub fn shared_server() -> &'static Server {
    static SHARED: OnceLock<Server> = OnceLock::new();
    SHARED.get_or_init(|| {
        Server::start().unwrap_or_else(|e| {
            panic!("zk-testkit: could not start the shared ZooKeeper server: {e}")
        })
    })
}

/// A znode path unique within this machine's test runs:
/// `"/<prefix>-<counter>-<pid>"`, e.g. `unique_path("test-create")` →
/// `"/test-create-0-12345"`. Slashes and whitespace in `prefix` become `_`.
pub fn unique_path(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let clean: String = prefix
        .trim_start_matches('/')
        .chars()
        .map(|c| {
            if c == '/' || c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let clean = if clean.is_empty() {
        "test".to_owned()
    } else {
        clean
    };
    format!("/{clean}-{n}-{}", std::process::id())
}
