//! zc-zk's error: every ZooKeeper error, plus what this layer adds.

/// A failed zc-zk operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error from ZooKeeper or the session (`NoNode`, `NodeExists`, `ConnectionLoss`, ...).
    #[error(transparent)]
    ZooKeeper(#[from] zk_session::Error),
    /// No connection to ZooKeeper within the deadline.
    #[error("can't connect to ZooKeeper at {connection_string}")]
    FailedConnect {
        /// The connection string tried.
        connection_string: String,
    },
    /// The node a registration needs exists and belongs to another session: it was not
    /// registered.
    #[error("{path} is registered by another session ({owner:#x})")]
    RegistrationConflict {
        /// The node.
        path: String,
        /// The session that owns it (0 for a persistent node).
        owner: i64,
    },
    /// An address that is not `HOST:PORT` where one is needed.
    #[error("invalid address {0:?}")]
    InvalidAddress(String),
    /// Properties that are not a JSON object, or do not deserialize into the requested type.
    #[error("invalid properties: {0}")]
    InvalidProperties(String),
    /// A callback failed on its first call (it was not subscribed).
    #[error("callback failed: {0}")]
    Callback(String),
    /// The ZooKeeper handle was closed.
    #[error("ZooKeeper handle closed")]
    Closed,
    /// No node at a path, after following symbolic links (zc.zk's `NoNodeError(path)`): the path
    /// asked for is named.
    #[error("no node: {path}")]
    NoNode {
        /// The path asked for.
        path: String,
    },
    /// Following symbolic or property links came back to a path already followed.
    #[error("link loop: {}", chain.join(" -> "))]
    LinkLoop {
        /// The paths followed, ending with the repeated one.
        chain: Vec<String>,
    },
    /// A property link that cannot be followed (or, on write, would not be).
    #[error("bad property link {name:?}: {link:?}: {reason}")]
    BadPropertyLink {
        /// The link's key, `name =>`.
        name: String,
        /// Its value, `PATH [PROPERTY]`.
        link: String,
        /// Why it cannot be followed.
        reason: Box<Error>,
    },
    /// A tree text that does not parse (see [`tree`](crate::tree)).
    #[error("line {line}: {message}")]
    Parse {
        /// The 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

impl Error {
    /// Whether this is ZooKeeper's NoNode (or [`Error::NoNode`], its form naming the path).
    pub fn is_no_node(&self) -> bool {
        matches!(
            self,
            Error::ZooKeeper(zk_session::Error::NoNode) | Error::NoNode { .. }
        )
    }

    /// Whether this is ZooKeeper's NodeExists.
    pub fn is_node_exists(&self) -> bool {
        matches!(self, Error::ZooKeeper(zk_session::Error::NodeExists))
    }
}

/// The result of a zc-zk operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
