//! Server stalls: the server process frozen (SIGSTOP) for less, and for more, than the client's
//! read timeout (2/3 of the session timeout), while a registration, views and an operation in
//! flight are held.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use zc_zk::ZooKeeper;
use zk_session::{CreateOptions, SessionState};
use zk_testkit::Server;

use crate::figures::{OpCounts, Violations, blocking, must, within};
use crate::fixture::{self, SETTLE, Tree, Views, props};

/// The session timeout of the scenario (read timeout 4 s).
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(6);

/// One stall's outcome.
#[derive(Debug, Clone)]
pub struct Stall {
    /// How long the server was frozen.
    pub length: Duration,
    /// Whether the client disconnected.
    pub disconnected: bool,
    /// Whether the session survived (else a new one was made).
    pub same_session: bool,
    /// How the operation issued during the stall ended.
    pub op: OpCounts,
    /// From the resume to the operation's end.
    pub op_done_after_resume: Duration,
}

/// What happened.
#[derive(Debug, Default)]
pub struct Report {
    /// Each stall.
    pub stalls: Vec<Stall>,
    /// Everything that did not hold.
    pub violations: Violations,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "server stalls (session timeout {:?}, read timeout {:?}):",
            SESSION_TIMEOUT,
            SESSION_TIMEOUT * 2 / 3
        )?;
        for s in &self.stalls {
            writeln!(
                f,
                "  SIGSTOP {:.1} s: disconnected={}, same session={}, op during stall: {}, done {:.0} ms after SIGCONT",
                s.length.as_secs_f64(),
                s.disconnected,
                s.same_session,
                s.op,
                s.op_done_after_resume.as_secs_f64() * 1000.0
            )?;
        }
        write!(f, "  violations: {}", self.violations)
    }
}

/// Runs stalls of each length in `stalls` on a fresh standalone server.
///
/// # Errors
/// When the set-up fails.
pub async fn run(stalls: &[Duration]) -> Result<Report, String> {
    let server = Arc::new(
        blocking(Server::start)
            .await?
            .map_err(|e| format!("server: {e}"))?,
    );
    let connect = server.connect_string();
    let admin = fixture::admin(&connect).await?;
    let tree = Tree::new(zk_testkit::unique_path("stall"), 0);
    tree.create(&admin).await?;
    admin.close().await;
    let zk = must(
        "connect",
        SETTLE,
        ZooKeeper::connect_with(&connect, fixture::zk_options(SESSION_TIMEOUT)),
    )
    .await?
    .map_err(|e| format!("connect: {e}"))?;
    let registration = fixture::register(&zk, &tree, 7003).await?;
    let views = Views::open(&zk, &tree).await?;
    let read_timeout = SESSION_TIMEOUT * 2 / 3;
    let mut report = Report::default();
    let mut v = Violations::default();

    for (n, &length) in stalls.iter().enumerate() {
        let client = zk.client();
        let session = client.session_id();
        let mut events = client.session_events();
        let s = server.clone();
        blocking(move || s.pause())
            .await?
            .map_err(|e| format!("pause: {e}"))?;
        let stalled_at = Instant::now();
        // An operation issued while the server is frozen.
        let op = {
            let c = client.clone();
            let conf = tree.conf.clone();
            tokio::spawn(async move {
                let r = within(SESSION_TIMEOUT * 3, c.get_data(&conf)).await;
                (r, Instant::now())
            })
        };
        // The stall itself is the fault's schedule.
        tokio::time::sleep(length.saturating_sub(stalled_at.elapsed())).await;
        let s = server.clone();
        blocking(move || s.resume())
            .await?
            .map_err(|e| format!("resume: {e}"))?;
        let resumed_at = Instant::now();
        let (r, done_at) = op.await.map_err(|e| e.to_string())?;
        let mut counts = OpCounts::default();
        counts.record("get_data during the stall", r);
        for other in &counts.other {
            v.push(format!("stall {n}: untyped or unexpected error: {other}"));
        }
        v.check(counts.hung == 0, || {
            format!("stall {n}: the operation hung")
        });

        // Back to normal: connected, registered, views current.
        if must("reconnect", SETTLE, zk.client().wait_connected(None))
            .await
            .is_err()
        {
            v.push(format!("stall {n}: no connection after the resume"));
        }
        let mut disconnected = false;
        while let Ok(Some(ev)) = tokio::time::timeout(Duration::ZERO, events.next()).await {
            disconnected |= ev.state == SessionState::Disconnected;
        }
        let same_session = zk.session_id() == session;
        if length + Duration::from_millis(500) < read_timeout {
            v.check(!disconnected, || {
                format!("stall {n} of {length:?}, shorter than the read timeout, disconnected")
            });
            v.check(counts.ok == 1, || {
                format!("stall {n} of {length:?}: the operation failed: {counts}")
            });
        }
        if length > read_timeout + Duration::from_millis(500) {
            v.check(disconnected || !same_session, || {
                format!("stall {n} of {length:?}, longer than the read timeout, went unnoticed")
            });
        }
        let fresh = fixture::admin(&connect).await?;
        fixture::registration_holds(&zk, &registration, &fresh, SETTLE, &mut v).await;
        must(
            "create",
            SETTLE,
            fresh.create(
                &format!("{}/other-{n}", tree.providers),
                b"{}",
                &CreateOptions::persistent(),
            ),
        )
        .await?
        .map_err(|e| format!("create: {e}"))?;
        must(
            "update",
            SETTLE,
            views.properties.update(props(json!({ "stall": n }))),
        )
        .await?
        .map_err(|e| format!("update: {e}"))?;
        let truth = tree.truth(&fresh).await?;
        views.converge(&truth, SETTLE, &mut v).await;
        fresh.close().await;
        report.stalls.push(Stall {
            length,
            disconnected,
            same_session,
            op: counts,
            op_done_after_resume: done_at.saturating_duration_since(resumed_at),
        });
    }
    report.violations = v;
    zk.close().await;
    blocking(move || drop(server)).await?;
    Ok(report)
}
