//! `children --watch` and `props --watch`: JSON Lines of states until SIGINT/SIGTERM or the
//! node's deletion, through zc-zk's views (which survive session expiry).
//!
//! ```text
//! {"event":"children","path":"/s/providers","children":["a:1","b:2"]}
//! {"event":"properties","path":"/s","properties":{"threads":4}}
//! {"event":"session","state":"disconnected"}
//! {"event":"session","state":"connected"}
//! {"event":"session","state":"expired"}
//! {"event":"deleted","path":"/s/providers"}
//! ```
//!
//! The first state line comes at start; later ones after each change (level-triggered: a burst
//! of changes may show as its last state only). After an expiry, `expired` is followed by the
//! new session's `connected`. On a signal the session is closed first (its ephemeral nodes go at
//! once), `{"event":"session","state":"closed"}` is printed, and zk exits 0; on deletion, zk
//! exits 0 after the `deleted` line.

use std::process::ExitCode;

use serde_json::{Value, json};
use zc_zk::{Change, Changes, ZooKeeper};
use zk_session::SessionState;

use crate::connect::{Settings, describe_zc, with_deadline};
use crate::signals::Shutdown;
use crate::{Failure, output};

/// The name of a session state in event lines; `None` for the transient `connecting`.
pub fn state_name(state: SessionState) -> Option<&'static str> {
    Some(match state {
        SessionState::Connected { .. } => "connected",
        SessionState::Disconnected => "disconnected",
        SessionState::Expired => "expired",
        SessionState::Closed => "closed",
        SessionState::AuthFailed => "auth_failed",
        SessionState::EnsembleBehind => "ensemble_behind",
        _ => return None,
    })
}

/// Where session changes are reported: JSON lines on stdout, or text on stderr.
#[derive(Debug)]
pub struct Events {
    json: bool,
    quiet: bool,
}

impl Events {
    /// Session lines as JSON on stdout (`json`), else as text on stderr.
    pub fn new(json: bool) -> Events {
        Events { json, quiet: false }
    }

    /// Stops writing to stdout (its reader is gone).
    pub fn quiet(&mut self) {
        self.quiet = true;
    }

    /// Reports a session state.
    ///
    /// # Errors
    /// Stdout's error.
    pub fn session(&mut self, state: SessionState) -> std::io::Result<()> {
        let Some(name) = state_name(state) else {
            return Ok(());
        };
        if !self.json {
            eprintln!("zk: session {name}");
            return Ok(());
        }
        if self.quiet {
            return Ok(());
        }
        let result = output::json_line(&json!({"event": "session", "state": name}));
        if result.is_err() {
            self.quiet = true;
        }
        result
    }
}

/// `zk children --watch PATH`.
///
/// # Errors
/// No connection; `no node: PATH`; the session ended for good.
pub async fn children(settings: &Settings, path: &str) -> Result<ExitCode, Failure> {
    let shutdown = Shutdown::new()?;
    let zk = settings.zookeeper().await?;
    let view = match with_deadline(settings.timeout, zk.children(path)).await {
        Ok(view) => view,
        Err(e) => {
            zk.close().await;
            return Err(describe_zc(&e, path));
        }
    };
    let changes = view.changes();
    stream(
        zk,
        shutdown,
        changes,
        |names: &Vec<String>| json!({"event": "children", "path": path, "children": names}),
        path,
    )
    .await
}

/// `zk props --watch PATH`.
///
/// # Errors
/// As [`children`].
pub async fn properties(settings: &Settings, path: &str) -> Result<ExitCode, Failure> {
    let shutdown = Shutdown::new()?;
    let zk = settings.zookeeper().await?;
    let view = match with_deadline(settings.timeout, zk.properties(path)).await {
        Ok(view) => view,
        Err(e) => {
            zk.close().await;
            return Err(describe_zc(&e, path));
        }
    };
    let changes = view.changes();
    stream(zk, shutdown, changes, |props: &zc_zk::PropertyMap| {
        json!({"event": "properties", "path": path, "properties": props})
    }, path)
    .await
}

/// Why a watch stopped.
enum Stop {
    Signal,
    Deleted,
    ReaderGone,
    SessionEnded,
}

async fn stream<T>(
    zk: ZooKeeper,
    mut shutdown: Shutdown,
    mut changes: Changes<T>,
    render: impl Fn(&T) -> Value,
    path: &str,
) -> Result<ExitCode, Failure> {
    let mut sessions = zk.session_events();
    let mut events = Events::new(true);
    let stop = loop {
        tokio::select! {
            biased;
            _ = shutdown.recv() => break Stop::Signal,
            change = changes.next() => match change {
                Some(Change::Changed(value)) => {
                    if output::json_line(&render(&value)).is_err() {
                        break Stop::ReaderGone;
                    }
                }
                Some(Change::Deleted) => {
                    let _ = output::json_line(&json!({"event": "deleted", "path": path}));
                    break Stop::Deleted;
                }
                None => break Stop::SessionEnded,
            },
            event = sessions.next() => match event {
                Some(event) => {
                    if events.session(event.state).is_err() {
                        break Stop::ReaderGone;
                    }
                }
                None => break Stop::SessionEnded,
            },
        }
    };
    zk.close().await;
    match stop {
        Stop::Signal => {
            let _ = events.session(SessionState::Closed);
            Ok(ExitCode::SUCCESS)
        }
        Stop::Deleted | Stop::ReaderGone => Ok(ExitCode::SUCCESS),
        Stop::SessionEnded => Err(Failure(format!(
            "the session ended; no longer watching {path}"
        ))),
    }
}
