//! Session expiry, real and server-side, and the stale ephemeral node of our own previous
//! session.
//!
//! Three ways to lose a session, each while a registration, a children view and a properties
//! view are held, and while another client changes the tree:
//! - [`Kind::Takeover`]: the server expires the session because someone closed it
//!   ([`zk_session::testing::expire_session`]), while our client was cut off by a blackhole.
//! - [`Kind::Blackhole`]: our client hears nothing for longer than the session timeout; the
//!   server expires the session on its own.
//! - [`Kind::StaleEphemeral`]: our client gives up a session that the server still holds. zk-session
//!   only learns of an expiry from the server, so it never gives up a session that is merely
//!   unreachable (a blackholed client keeps trying until the server answers, and the server then
//!   says "expired"); the one way it abandons a live session is the ensemble-behind verdict:
//!   every server accepting the connection and closing it during the handshake, for
//!   `max_refused_rounds` rounds and at least `min_refused_time`. A server at its connection
//!   limit (`maxClientCnxns`) does exactly that, as does a proxy or load balancer without a
//!   backend; the fault proxy's `refuse_new` reproduces it. zc-zk then starts a new session
//!   (`recover_ensemble_behind`) while the old one, and its ephemeral registration node, may
//!   still live on the server. With the default `min_refused_time` (the session timeout) that
//!   window is short (the server expires sessions in tick-sized buckets, and it last heard from
//!   the client before the refusals began); a shorter `min_refused_time`, as configured here
//!   (500 ms against a 20 s session), makes it wide and the case deterministic. The registration
//!   must find its stale node, delete it and re-create it, well before the old session would
//!   have expired.

use std::fmt;
use std::time::{Duration, Instant};

use serde_json::json;
use zc_zk::ZooKeeper;
use zk_session::{CreateOptions, EventType, SessionState};
use zk_testkit::FaultProxy;

use crate::figures::{Violations, blocking, must};
use crate::fixture::{self, Observer, SETTLE, Tree, Views, props};

/// How the session is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Session takeover and close by another connection, while our client is blackholed.
    Takeover,
    /// A blackhole longer than the session timeout.
    Blackhole,
    /// Our client abandons a session the server still holds (every connection refused during
    /// the handshake, so the client concludes the ensemble is behind).
    StaleEphemeral,
}

/// What happened.
#[derive(Debug)]
pub struct Report {
    /// The kind of loss.
    pub kind: Kind,
    /// The session timeout used.
    pub session_timeout: Duration,
    /// From the end of the fault to the registration being restored in a new session.
    pub recovery: Duration,
    /// How the old session ended, as our client saw it.
    pub old_session_end: Option<SessionState>,
    /// For [`Kind::StaleEphemeral`]: from the first refusal to our client giving up the old
    /// session.
    pub given_up_after: Option<Duration>,
    /// Everything that did not hold.
    pub violations: Violations,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "session loss by {:?} (session timeout {:?}): old session ended {:?}, registration restored {:.0} ms after the fault ended",
            self.kind,
            self.session_timeout,
            self.old_session_end,
            self.recovery.as_secs_f64() * 1000.0
        )?;
        if let Some(t) = self.given_up_after {
            writeln!(
                f,
                "  the old session was given up {:.0} ms after the refusals began",
                t.as_secs_f64() * 1000.0
            )?;
        }
        write!(f, "  violations: {}", self.violations)
    }
}

/// Runs one kind of session loss against the server at `server` (a connect string).
///
/// # Errors
/// When the set-up fails.
pub async fn run(server: &str, kind: Kind) -> Result<Report, String> {
    let session_timeout = match kind {
        Kind::Takeover => Duration::from_secs(10),
        Kind::Blackhole => Duration::from_secs(2),
        // Long, so that the old session is certainly still alive when we recover.
        Kind::StaleEphemeral => Duration::from_secs(20),
    };
    let proxy = FaultProxy::start(server).map_err(|e| format!("proxy: {e}"))?;
    let admin = fixture::admin(server).await?;
    let tree = Tree::new(zk_testkit::unique_path("expiry"), 0);
    tree.create(&admin).await?;
    let mut options = fixture::zk_options(session_timeout);
    if kind == Kind::StaleEphemeral {
        options.session.min_refused_time = Some(Duration::from_millis(500));
    }
    let zk = must(
        "connect",
        SETTLE,
        ZooKeeper::connect_with(&proxy.connect_string(), options),
    )
    .await?
    .map_err(|e| format!("connect: {e}"))?;
    let registration = fixture::register(&zk, &tree, 7001).await?;
    let node = registration.paths().remove(0);
    let views = Views::open(&zk, &tree).await?;
    let mut observer = Observer::start(&admin, &tree.providers, &node).await?;
    let old_session = zk.session_id();
    let mut old_events = zk.client().session_events();
    let mut v = Violations::default();

    // The fault.
    match kind {
        Kind::Takeover => {
            proxy.blackhole();
            let (id, passwd) = zk.client().session_credentials();
            must(
                "expire_session",
                SETTLE,
                zk_session::testing::expire_session(server, id, passwd),
            )
            .await?
            .map_err(|e| format!("expire_session: {e}"))?;
        }
        Kind::Blackhole => {
            // Wait for the server to expire the session: our node goes.
            let (_, gone) = must("exists_watch", SETTLE, admin.exists_watch(&node))
                .await?
                .map_err(|e| format!("exists_watch: {e}"))?;
            proxy.blackhole();
            let ev = must("server-side expiry", SETTLE, gone.changed()).await?;
            v.check(ev.event_type == EventType::NodeDeleted, || {
                format!("expected the server to delete our node, got {ev:?}")
            });
        }
        Kind::StaleEphemeral => {
            proxy.refuse_new(true);
            proxy.cut();
        }
    }
    let fault_start = Instant::now();
    // Changes the client misses while it is away.
    must(
        "create",
        SETTLE,
        admin.create(
            &format!("{}/other-1", tree.providers),
            b"{}",
            &CreateOptions::persistent(),
        ),
    )
    .await?
    .map_err(|e| format!("create: {e}"))?;
    must(
        "set_data",
        SETTLE,
        admin.set_data(&tree.conf, br#"{"v": 1, "while": "away"}"#, None),
    )
    .await?
    .map_err(|e| format!("set_data: {e}"))?;

    // For the stale ephemeral, the client must give up the old session first.
    let mut old_end = None;
    let mut given_up_after = None;
    if kind == Kind::StaleEphemeral {
        let end = must("the old session to end", SETTLE, async {
            while let Some(ev) = old_events.next().await {
                if ev.state.is_terminal() {
                    return Some(ev.state);
                }
            }
            None
        })
        .await?;
        old_end = end;
        given_up_after = Some(fault_start.elapsed());
        // The old session's node is still on the server: the stale ephemeral.
        match must("exists", SETTLE, admin.exists(&node)).await? {
            Ok(Some(stat)) => v.check(stat.ephemeral_owner == old_session, || {
                format!(
                    "the stale node belongs to {:#x}, not the old session {old_session:#x}",
                    stat.ephemeral_owner
                )
            }),
            other => v.push(format!(
                "expected the old session's node to be still on the server, got {other:?}"
            )),
        }
    }
    let fault_end = Instant::now();
    match kind {
        Kind::StaleEphemeral => proxy.refuse_new(false),
        _ => {
            // Drop whatever the blackhole held, then let bytes flow again.
            proxy.cut();
            proxy.restore();
        }
    }

    // A new session, with the registration restored in it.
    let restored = must(
        "a new session with the registration restored",
        SETTLE,
        async {
            loop {
                let id = zk.session_id();
                if id != old_session
                    && zk.client().state().state.is_connected()
                    && registration.status() == zc_zk::RegistrationStatus::Registered
                    && let Ok(Ok(Some(stat))) =
                        tokio::time::timeout(SETTLE, admin.exists(&node)).await
                    && stat.ephemeral_owner == id
                {
                    return;
                }
                // Nothing to await across generations but the status and session events.
                let mut events = zk.session_events();
                let _ = tokio::time::timeout(Duration::from_millis(100), events.next()).await;
            }
        },
    )
    .await;
    let recovery = fault_end.elapsed();
    if let Err(e) = restored {
        v.push(e);
    }
    if old_end.is_none() {
        old_end = must("the old session's end", SETTLE, async {
            while let Some(ev) = old_events.next().await {
                if ev.state.is_terminal() {
                    return Some(ev.state);
                }
            }
            None
        })
        .await
        .unwrap_or(None);
    }
    let expected_end = match kind {
        Kind::StaleEphemeral => SessionState::EnsembleBehind,
        _ => SessionState::Expired,
    };
    v.check(old_end == Some(expected_end), || {
        format!("the old session ended {old_end:?}, expected {expected_end:?}")
    });
    if kind == Kind::StaleEphemeral {
        // Recovered by deleting the stale node, not by waiting for the old session to expire.
        v.check(recovery < session_timeout, || {
            format!(
                "the stale node was waited out ({recovery:?}), not deleted (session timeout {session_timeout:?})"
            )
        });
    }
    fixture::registration_holds(&zk, &registration, &admin, SETTLE, &mut v).await;

    // Exactly one deletion and one re-creation of our node.
    observer
        .expect(
            &[EventType::NodeDeleted, EventType::NodeCreated],
            SETTLE,
            Duration::from_secs(1),
            &mut v,
        )
        .await;

    // The views caught up with what happened while away, and the subscribers were told.
    let fresh = fixture::admin(server).await?;
    let truth = tree.truth(&fresh).await?;
    v.check(truth.0.len() == 2, || {
        format!(
            "expected our node and other-1, the server has {:?}",
            truth.0
        )
    });
    views.converge(&truth, SETTLE, &mut v).await;

    // And they keep following changes in the new session.
    must(
        "update",
        SETTLE,
        views.properties.update(props(json!({"after": true}))),
    )
    .await?
    .map_err(|e| format!("update after recovery: {e}"))?;
    let truth = tree.truth(&fresh).await?;
    views.converge(&truth, SETTLE, &mut v).await;

    zk.close().await;
    admin.close().await;
    fresh.close().await;
    drop(blocking(move || drop(proxy)).await);
    Ok(Report {
        kind,
        session_timeout,
        recovery,
        old_session_end: old_end,
        given_up_after,
        violations: v,
    })
}
