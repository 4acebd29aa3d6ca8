//! Server data loss: a standalone server restarted on an empty data directory. Every client that
//! saw a newer zxid is refused during the handshake (the server is "behind" it). The session
//! layer must not spin on the refusals but end with the distinct `EnsembleBehind`, and zc-zk
//! must start a new session and restore registrations and views in it.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use zc_zk::ZooKeeper;
use zk_session::{Client, CreateOptions, Error, SessionConfig, SessionState};
use zk_testkit::{FaultProxy, Server};

use crate::figures::{Violations, blocking, must};
use crate::fixture::{self, SETTLE, Tree, Views, props};

/// How long the views get to show the server's truth.
const CONVERGE: Duration = Duration::from_secs(10);

/// The session timeout of the scenario's clients.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(6);

/// What happened.
#[derive(Debug, Default)]
pub struct Report {
    /// The low-level client's last zxid before the loss.
    pub zxid_before: i64,
    /// From the reconnection being allowed to `EnsembleBehind`.
    pub time_to_verdict: Duration,
    /// TCP connections the low-level client made from then until the verdict.
    pub connections_to_verdict: u64,
    /// From the reconnection being allowed to zc-zk's registration being back in a new session.
    pub zc_zk_recovery: Duration,
    /// Everything that did not hold.
    pub violations: Violations,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "server data loss: client at zxid {:#x}; EnsembleBehind after {:.0} ms and {} connections; zc-zk back in a new session after {:.0} ms",
            self.zxid_before,
            self.time_to_verdict.as_secs_f64() * 1000.0,
            self.connections_to_verdict,
            self.zc_zk_recovery.as_secs_f64() * 1000.0
        )?;
        write!(f, "  violations: {}", self.violations)
    }
}

/// Runs the scenario on a fresh standalone server.
///
/// # Errors
/// When the set-up fails.
pub async fn run() -> Result<Report, String> {
    let server = Arc::new(
        blocking(Server::start)
            .await?
            .map_err(|e| format!("server: {e}"))?,
    );
    let connect = server.connect_string();
    // Separate proxies, to count each client's connections and to hold both away from the
    // server until the tree is restored.
    let raw_proxy = FaultProxy::start(server.addr()).map_err(|e| format!("proxy: {e}"))?;
    let zk_proxy = FaultProxy::start(server.addr()).map_err(|e| format!("proxy: {e}"))?;
    let admin = fixture::admin(&connect).await?;
    let tree = Tree::new("/dataloss".to_owned(), 0);
    tree.create(&admin).await?;

    let config = SessionConfig {
        session_timeout: SESSION_TIMEOUT,
        probe_server_version: false,
        ..SessionConfig::default()
    };
    let raw = must(
        "connect",
        SETTLE,
        Client::connect_with(&raw_proxy.connect_string(), config),
    )
    .await?
    .map_err(|e| format!("connect: {e}"))?;
    let zk = must(
        "connect",
        SETTLE,
        ZooKeeper::connect_with(
            &zk_proxy.connect_string(),
            fixture::zk_options(SESSION_TIMEOUT),
        ),
    )
    .await?
    .map_err(|e| format!("connect: {e}"))?;
    let registration = fixture::register(&zk, &tree, 7004).await?;
    let views = Views::open(&zk, &tree).await?;
    // History the server will forget: both clients see its zxid.
    for i in 0..40 {
        must(
            "set_data",
            SETTLE,
            raw.set_data(&tree.conf, format!(r#"{{"v": {i}}}"#).as_bytes(), None),
        )
        .await?
        .map_err(|e| format!("set_data: {e}"))?;
    }
    let truth_before = tree.truth(&admin).await?;
    views
        .converge(&truth_before, SETTLE, &mut Violations::default())
        .await;
    let zxid_before = raw.last_zxid_seen();
    let old_session = zk.session_id();
    let mut raw_events = raw.session_events();
    admin.close().await;

    // The loss. Both clients are held off (blackholed) while an operator restores the tree.
    raw_proxy.blackhole();
    zk_proxy.blackhole();
    let s = server.clone();
    blocking(move || s.wipe_and_restart())
        .await?
        .map_err(|e| format!("wipe_and_restart: {e}"))?;
    let admin = fixture::admin(&connect).await?;
    tree.create(&admin).await?;
    must(
        "restore conf",
        SETTLE,
        admin.set_data(&tree.conf, br#"{"restored": true}"#, None),
    )
    .await?
    .map_err(|e| format!("restore: {e}"))?;
    must(
        "create",
        SETTLE,
        admin.create(
            &format!("{}/other", tree.providers),
            b"{}",
            &CreateOptions::persistent(),
        ),
    )
    .await?
    .map_err(|e| format!("create: {e}"))?;

    let mut v = Violations::default();
    let connections_at = raw_proxy.total_connections();
    let allowed = Instant::now();
    for p in [&raw_proxy, &zk_proxy] {
        p.cut();
        p.restore();
    }

    // The low-level client: EnsembleBehind, soon, without spinning.
    let verdict = must("EnsembleBehind", SETTLE, async {
        while let Some(ev) = raw_events.next().await {
            if ev.state.is_terminal() {
                return Some(ev.state);
            }
        }
        None
    })
    .await;
    let time_to_verdict = allowed.elapsed();
    v.check(verdict == Ok(Some(SessionState::EnsembleBehind)), || {
        format!("the low-level session ended {verdict:?}, expected EnsembleBehind")
    });
    v.check(raw.state().state == SessionState::EnsembleBehind, || {
        format!("state {:?}", raw.state())
    });
    let r = must("get_data", SETTLE, raw.get_data(&tree.conf)).await?;
    v.check(
        r == Err(Error::EnsembleBehind {
            last_zxid_seen: zxid_before,
        }),
        || format!("a request after the verdict gave {r:?}, expected EnsembleBehind at {zxid_before:#x}"),
    );
    // It stopped connecting: nothing more during a further second.
    let after_verdict = raw_proxy.total_connections();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let connections_to_verdict = raw_proxy.total_connections() - connections_at;
    v.check(raw_proxy.total_connections() == after_verdict, || {
        format!(
            "the client kept connecting after EnsembleBehind ({} more)",
            raw_proxy.total_connections() - after_verdict
        )
    });
    // Refusals count only once they outlast `min_refused_time` (by default the session
    // timeout: a starting server closes connections too), and reconnects back off up to 1 s
    // with a jitter of at least 1/2: so the verdict comes within the session timeout and a few
    // rounds, and after at most a few connections per second.
    v.check(
        time_to_verdict < SESSION_TIMEOUT + Duration::from_secs(4),
        || format!("EnsembleBehind only after {time_to_verdict:?}"),
    );
    let bound = 6 + 2 * time_to_verdict.as_secs();
    v.check(connections_to_verdict <= bound, || {
        format!(
            "{connections_to_verdict} connections in {time_to_verdict:?} before giving up (more than {bound}): spinning"
        )
    });
    // wait_connected names the same zxid as the requests do.
    let w = raw.wait_connected(Some(Duration::from_secs(1))).await;
    v.check(
        w == Err(Error::EnsembleBehind {
            last_zxid_seen: zxid_before,
        }),
        || format!("wait_connected gave {w:?}, expected EnsembleBehind at {zxid_before:#x}"),
    );

    // zc-zk: a new session, the registration and the views restored.
    let back = must("zc-zk in a new session", SETTLE, async {
        loop {
            if zk.session_id() != old_session && zk.client().state().state.is_connected() {
                return;
            }
            let mut events = zk.session_events();
            let _ = tokio::time::timeout(Duration::from_millis(100), events.next()).await;
        }
    })
    .await;
    if let Err(e) = back {
        v.push(e);
    }
    fixture::registration_holds(&zk, &registration, &admin, SETTLE, &mut v).await;
    let zc_zk_recovery = allowed.elapsed();
    let fresh = fixture::admin(&connect).await?;
    let truth = tree.truth(&fresh).await?;
    v.check(truth.1 != truth_before.1, || {
        "the restored conf equals the lost one".into()
    });
    views.converge(&truth, CONVERGE, &mut v).await;
    // And the views follow later changes.
    let update = must(
        "update",
        SETTLE,
        views.properties.update(props(json!({"after": 1}))),
    )
    .await?;
    v.check(update.is_ok(), || {
        format!("update after the recovery: {update:?}")
    });
    let truth = tree.truth(&fresh).await?;
    views.converge(&truth, CONVERGE, &mut v).await;

    raw.close().await;
    zk.close().await;
    admin.close().await;
    fresh.close().await;
    blocking(move || {
        drop(raw_proxy);
        drop(zk_proxy);
        drop(server);
    })
    .await?;
    Ok(Report {
        zxid_before,
        time_to_verdict,
        connections_to_verdict,
        zc_zk_recovery,
        violations: v,
    })
}
