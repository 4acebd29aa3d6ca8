//! The one error users match on: every ZooKeeper error code, plus what the client itself decides.

use zk_proto::{DecodeError, ErrorCode};

/// A failed ZooKeeper operation.
///
/// Server error codes map one to one onto variants ([`Error::from_code`]); the rest are decided
/// by the client. Writes that fail with an *indeterminate* error ([`Error::is_indeterminate`])
/// may or may not have been applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The node does not exist (NONODE).
    #[error("no node")]
    NoNode,
    /// The node already exists (NODEEXISTS).
    #[error("node exists")]
    NodeExists,
    /// The expected version did not match (BADVERSION).
    #[error("bad version")]
    BadVersion,
    /// The node has children (NOTEMPTY).
    #[error("node not empty")]
    NotEmpty,
    /// Not authorized (NOAUTH).
    #[error("not authorized")]
    NoAuth,
    /// Ephemeral nodes may not have children (NOCHILDRENFOREPHEMERALS).
    #[error("ephemeral nodes may not have children")]
    NoChildrenForEphemerals,
    /// The ACL is invalid (INVALIDACL).
    #[error("invalid ACL")]
    InvalidAcl,
    /// The server rejected the arguments (BADARGUMENTS).
    #[error("bad arguments")]
    BadArguments,
    /// The server does not implement the operation (UNIMPLEMENTED), or, for a TTL node, runs
    /// without `zookeeper.extendedTypesEnabled`.
    #[error("operation not implemented by the server")]
    Unimplemented,
    /// No such watch on the server (NOWATCHER).
    #[error("no watcher")]
    NoWatcher,
    /// The session moved to another server (SESSIONMOVED); the outcome is unknown.
    #[error("session moved")]
    SessionMoved,
    /// A write to a read-only server (NOTREADONLY).
    #[error("server is read-only")]
    NotReadOnly,
    /// An ephemeral node on a local session (EPHEMERALONLOCALSESSION).
    #[error("ephemeral node on a local session")]
    EphemeralOnLocalSession,
    /// Reconfiguration is disabled on the server (RECONFIGDISABLED).
    #[error("reconfig disabled")]
    ReconfigDisabled,
    /// Another reconfiguration is in progress (RECONFIGINPROGRESS).
    #[error("reconfig in progress")]
    ReconfigInProgress,
    /// No quorum of the new configuration (NEWCONFIGNOQUORUM).
    #[error("new config has no quorum")]
    NewConfigNoQuorum,
    /// A quota was exceeded (QUOTAEXCEEDED).
    #[error("quota exceeded")]
    QuotaExceeded,
    /// The server throttled the operation; it was not executed (THROTTLEDOP).
    #[error("operation throttled")]
    Throttled,
    /// The session was closed because SASL authentication is required.
    #[error("SASL authentication required")]
    SaslAuthRequired,
    /// The server timed out the operation (OPERATIONTIMEOUT).
    #[error("operation timed out on the server")]
    OperationTimeout,
    /// Any other server error code.
    #[error("server error {0:?}")]
    Server(ErrorCode),
    /// The connection was lost before the reply; the outcome is unknown.
    #[error("connection loss")]
    ConnectionLoss,
    /// The session expired; its ephemeral nodes and watches are gone.
    #[error("session expired")]
    SessionExpired,
    /// Authentication failed; the session is unusable.
    #[error("authentication failed")]
    AuthFailed,
    /// The client was closed.
    #[error("client closed")]
    Closed,
    /// No reply, or no connection, within the deadline.
    #[error("timed out")]
    Timeout,
    /// Every server refused the session repeatedly because it has seen a newer zxid than any of
    /// them: the ensemble probably lost data. Only a new session with a reset zxid can go on.
    #[error(
        "every server is behind this client (zxid {last_zxid_seen:#x}): the ensemble may have lost data"
    )]
    EnsembleBehind {
        /// The client's last seen zxid.
        last_zxid_seen: i64,
    },
    /// The server broke the protocol; the connection was dropped.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The path is not a valid ZooKeeper path; nothing was sent.
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath {
        /// The path.
        path: String,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// An argument is invalid (e.g. a TTL out of range); nothing was sent.
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// The connected server is too old for the operation; nothing was sent.
    #[error("{op} needs ZooKeeper {min_version} or newer")]
    Unsupported {
        /// The operation.
        op: &'static str,
        /// The first server version with it.
        min_version: &'static str,
    },
    /// TLS could not be set up or the server's certificate was refused.
    #[error("TLS: {0}")]
    Tls(String),
    /// The connection string is invalid.
    #[error("invalid connection string {0:?}")]
    InvalidConnectString(String),
    /// A multi transaction failed at `index`, with `code`; nothing was applied.
    #[error("transaction failed at op {index}: {code:?}")]
    TransactionFailed {
        /// The index of the failing op.
        index: usize,
        /// Its error.
        code: ErrorCode,
    },
}

impl Error {
    /// The error for a server error code (`ErrorCode::Ok` is not an error: `Server(Ok)`).
    pub fn from_code(code: ErrorCode) -> Error {
        match code {
            ErrorCode::NoNode => Error::NoNode,
            ErrorCode::NodeExists => Error::NodeExists,
            ErrorCode::BadVersion => Error::BadVersion,
            ErrorCode::NotEmpty => Error::NotEmpty,
            ErrorCode::NoAuth => Error::NoAuth,
            ErrorCode::NoChildrenForEphemerals => Error::NoChildrenForEphemerals,
            ErrorCode::InvalidACL => Error::InvalidAcl,
            ErrorCode::BadArguments => Error::BadArguments,
            ErrorCode::Unimplemented => Error::Unimplemented,
            ErrorCode::NoWatcher => Error::NoWatcher,
            ErrorCode::SessionMoved => Error::SessionMoved,
            ErrorCode::NotReadOnly => Error::NotReadOnly,
            ErrorCode::EphemeralOnLocalSession => Error::EphemeralOnLocalSession,
            ErrorCode::ReconfigDisabled => Error::ReconfigDisabled,
            ErrorCode::ReconfigInProgress => Error::ReconfigInProgress,
            ErrorCode::NewConfigNoQuorum => Error::NewConfigNoQuorum,
            ErrorCode::QuotaExceeded => Error::QuotaExceeded,
            ErrorCode::ThrottledOp => Error::Throttled,
            ErrorCode::SessionClosedRequireSaslAuth => Error::SaslAuthRequired,
            ErrorCode::OperationTimeout => Error::OperationTimeout,
            ErrorCode::ConnectionLoss => Error::ConnectionLoss,
            ErrorCode::SessionExpired => Error::SessionExpired,
            ErrorCode::AuthFailed => Error::AuthFailed,
            ErrorCode::RequestTimeout => Error::Timeout,
            other => Error::Server(other),
        }
    }

    /// Whether a write that failed with this error may still have been applied: the reply was
    /// lost (connection loss, timeout, session moved), so only reading back can tell.
    pub fn is_indeterminate(&self) -> bool {
        matches!(
            self,
            Error::ConnectionLoss | Error::Timeout | Error::SessionMoved
        )
    }

    /// Whether the session is gone for good (expired, closed, authentication failed, or the
    /// ensemble is behind): retrying on this client is pointless.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Error::SessionExpired
                | Error::Closed
                | Error::AuthFailed
                | Error::EnsembleBehind { .. }
        )
    }

    pub(crate) fn protocol(err: DecodeError) -> Error {
        Error::Protocol(err.to_string())
    }
}

/// The result of a ZooKeeper operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_loss_is_indeterminate_and_no_node_is_not() {
        assert!(Error::ConnectionLoss.is_indeterminate());
        assert!(!Error::NoNode.is_indeterminate());
    }

    #[test]
    fn every_error_code_maps_to_a_variant() {
        assert_eq!(Error::from_code(ErrorCode::NoNode), Error::NoNode);
        assert_eq!(
            Error::from_code(ErrorCode::Unknown(-999)),
            Error::Server(ErrorCode::Unknown(-999))
        );
    }
}
