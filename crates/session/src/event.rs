//! What a session reports: its state changes.

/// The state of a session, as reported in [`SessionEvent`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionState {
    /// Looking for a server (at start, and after a connection was lost).
    Connecting,
    /// Connected; requests flow.
    Connected {
        /// Whether the server is read-only (only with `SessionConfig::read_only`).
        read_only: bool,
    },
    /// The connection was lost; the session may still be alive on the server. In-flight requests
    /// failed with `ConnectionLoss`; watches are kept and re-armed on reconnect.
    Disconnected,
    /// The server expired the session. Terminal: every watcher was told, requests fail with
    /// `SessionExpired`.
    Expired,
    /// Authentication failed. Terminal.
    AuthFailed,
    /// Every server refused the session repeatedly because they are behind this client's last
    /// zxid. Terminal.
    EnsembleBehind,
    /// The session was closed by the client. Terminal.
    Closed,
}

impl SessionState {
    /// Whether no further state follows.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            SessionState::Expired
                | SessionState::AuthFailed
                | SessionState::EnsembleBehind
                | SessionState::Closed
        )
    }

    /// Whether requests flow.
    pub fn is_connected(self) -> bool {
        matches!(self, SessionState::Connected { .. })
    }
}

/// A session state change, with the session it concerns (0 before the first handshake).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionEvent {
    /// The new state.
    pub state: SessionState,
    /// The session id.
    pub session_id: i64,
}
