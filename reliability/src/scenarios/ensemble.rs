//! Ensemble failover: in a three-member ensemble, the leader and then the member the client is
//! on are killed and restarted, in a bounded loop, while a registration, views and watches are
//! held.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::task::JoinSet;
use zc_zk::ZooKeeper;
use zk_session::{CreateOptions, EventType, OneshotWatcher, SessionState};
use zk_testkit::Ensemble;

use crate::figures::{Percentiles, Violations, blocking, must, within};
use crate::fixture::{self, SETTLE, Tree, Views, props};

/// How the scenario runs.
#[derive(Debug, Clone)]
pub struct Params {
    /// Rounds of (kill the leader, restart it, kill the client's member, restart it).
    pub rounds: usize,
    /// Stop starting rounds after this long.
    pub max_duration: Duration,
    /// The session timeout (long enough to ride out an election).
    pub session_timeout: Duration,
    /// One-shot watches held.
    pub watches: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            rounds: 3,
            max_duration: Duration::from_secs(60),
            session_timeout: Duration::from_secs(15),
            watches: 20,
        }
    }
}

/// What happened.
#[derive(Debug, Default)]
pub struct Report {
    /// Members killed.
    pub kills: usize,
    /// Of which leaders.
    pub leader_kills: usize,
    /// Disconnected → Connected times of the session.
    pub failover: Percentiles,
    /// Every sample, in order.
    pub samples: Vec<Duration>,
    /// How long the whole loop took.
    pub elapsed: Duration,
    /// Everything that did not hold.
    pub violations: Violations,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "ensemble failover: {} kills ({} leaders) in {:.1} s, one session throughout",
            self.kills,
            self.leader_kills,
            self.elapsed.as_secs_f64()
        )?;
        writeln!(
            f,
            "  failover (disconnected -> connected): {}",
            self.failover
        )?;
        write!(f, "  violations: {}", self.violations)
    }
}

/// The member serving session `id`, from each member's `cons`.
async fn member_of(ensemble: &Arc<Ensemble>, id: i64) -> Result<Option<usize>, String> {
    let e = ensemble.clone();
    blocking(move || {
        let needle = format!("sid=0x{id:x}");
        (0..e.len()).find(|&i| {
            e.is_running(i)
                && e.four_letter_word(i, "cons")
                    .is_ok_and(|answer| answer.contains(&needle))
        })
    })
    .await
}

/// Runs the scenario on a fresh ensemble of three.
///
/// # Errors
/// When the set-up fails (no ZooKeeper, a member that does not start).
pub async fn run(p: &Params) -> Result<Report, String> {
    let ensemble = Arc::new(
        blocking(Ensemble::start)
            .await?
            .map_err(|e| format!("ensemble: {e}"))?,
    );
    let connect = ensemble.connect_string();
    let admin = fixture::admin(&connect).await?;
    let tree = Tree::new(zk_testkit::unique_path("ensemble"), p.watches);
    tree.create(&admin).await?;
    let zk = must(
        "connect",
        SETTLE,
        ZooKeeper::connect_with(&connect, fixture::zk_options(p.session_timeout)),
    )
    .await?
    .map_err(|e| format!("connect: {e}"))?;
    let registration = fixture::register(&zk, &tree, 7002).await?;
    let views = Views::open(&zk, &tree).await?;
    let client = zk.client();
    let session_id = client.session_id();
    let mut watchers: Vec<OneshotWatcher> = Vec::new();
    for i in 0..p.watches {
        let (_, _, w) = must(
            "watch",
            SETTLE,
            client.get_data_watch(&tree.watched_node(i)),
        )
        .await?
        .map_err(|e| format!("watch {i}: {e}"))?;
        watchers.push(w);
    }

    // Disconnected → Connected times, from the session's own events.
    let samples: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let ended: Arc<Mutex<Option<SessionState>>> = Arc::default();
    let recorder = {
        let (samples, ended) = (samples.clone(), ended.clone());
        let mut events = client.session_events();
        tokio::spawn(async move {
            let mut down: Option<Instant> = None;
            while let Some(ev) = events.next().await {
                match ev.state {
                    SessionState::Disconnected => down = down.or(Some(Instant::now())),
                    SessionState::Connected { .. } => {
                        if let Some(at) = down.take()
                            && let Ok(mut s) = samples.lock()
                        {
                            s.push(at.elapsed());
                        }
                    }
                    s if s.is_terminal() => {
                        if let Ok(mut e) = ended.lock() {
                            *e = Some(s);
                        }
                        break;
                    }
                    _ => {}
                }
            }
        })
    };

    let mut report = Report::default();
    let started = Instant::now();
    let mut v = Violations::default();
    'rounds: for round in 0..p.rounds {
        if round > 0 && started.elapsed() > p.max_duration {
            break;
        }
        for target in ["leader", "client's member"] {
            let e = ensemble.clone();
            let victim = if target == "leader" {
                blocking(move || e.wait_ready(SETTLE))
                    .await?
                    .map_err(|e| format!("no leader: {e}"))?
            } else {
                match member_of(&ensemble, session_id).await? {
                    Some(i) => i,
                    None => {
                        v.push(format!("round {round}: no member serves our session"));
                        break 'rounds;
                    }
                }
            };
            let e = ensemble.clone();
            let was_leader = blocking(move || e.leader() == Some(victim)).await?;
            let e = ensemble.clone();
            blocking(move || e.kill(victim)).await?;
            report.kills += 1;
            report.leader_kills += usize::from(was_leader);
            // The client must find a serving member within the session.
            let e = ensemble.clone();
            blocking(move || e.wait_ready(SETTLE))
                .await?
                .map_err(|e| format!("after killing {victim}: {e}"))?;
            // An operation goes through (it waits for the reconnect).
            let r = within(SETTLE, client.exists(&tree.conf)).await;
            v.check(matches!(r, Some(Ok(Some(_)))), || {
                format!("round {round}, {target} {victim} killed: exists gave {r:?}")
            });
            let e = ensemble.clone();
            blocking(move || e.restart(victim))
                .await?
                .map_err(|e| format!("restart {victim}: {e}"))?;
            v.check(
                client.session_id() == session_id && zk.session_id() == session_id,
                || format!("round {round}: the session changed"),
            );
            v.check(
                registration.status() == zc_zk::RegistrationStatus::Registered,
                || format!("round {round}: registration {:?}", registration.status()),
            );
        }
    }
    report.elapsed = started.elapsed();
    if must("reconnect", SETTLE, client.wait_connected(None))
        .await
        .is_err()
    {
        v.push("not connected at the end");
    }
    if let Some(state) = *ended.lock().map_err(|e| e.to_string())? {
        v.push(format!("the session ended: {state:?}"));
    }

    // Nothing lost: the registration, the views, the watches.
    fixture::registration_holds(&zk, &registration, &admin, SETTLE, &mut v).await;
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
    must(
        "update",
        SETTLE,
        views.properties.update(props(json!({"v": 2}))),
    )
    .await?
    .map_err(|e| format!("update: {e}"))?;
    let fresh = fixture::admin(&connect).await?;
    let truth = tree.truth(&fresh).await?;
    views.converge(&truth, SETTLE, &mut v).await;
    for i in 0..tree.watched_count {
        must(
            "set_data",
            SETTLE,
            fresh.set_data(&tree.watched_node(i), b"1", None),
        )
        .await?
        .map_err(|e| format!("set_data: {e}"))?;
    }
    let mut fired = JoinSet::new();
    for w in watchers {
        fired.spawn(async move { within(SETTLE, w.changed()).await });
    }
    let mut count = 0;
    while let Some(ev) = fired.join_next().await {
        if matches!(ev, Ok(Some(ref e)) if e.event_type == EventType::NodeDataChanged) {
            count += 1;
        }
    }
    v.check(count == tree.watched_count, || {
        format!("{count}/{} held watches fired", tree.watched_count)
    });

    report.samples = samples.lock().map(|s| s.clone()).unwrap_or_default();
    report.failover = Percentiles::of(&report.samples);
    v.check(report.samples.len() >= report.kills.min(1), || {
        "no failover was measured".into()
    });
    report.violations = v;
    recorder.abort();
    zk.close().await;
    admin.close().await;
    fresh.close().await;
    blocking(move || drop(ensemble)).await?;
    Ok(report)
}
