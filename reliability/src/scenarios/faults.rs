//! Connection faults: every connection cut every few hundred milliseconds while workers read and
//! write, and a registration, a children view, a properties view and hundreds of one-shot
//! watches are held.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::task::JoinSet;
use zc_zk::ZooKeeper;
use zk_session::{CreateOptions, EventType, OneshotWatcher, SessionState};
use zk_testkit::FaultProxy;

use crate::figures::{OpCounts, Violations, blocking, must, within};
use crate::fixture::{self, SETTLE, Tree, Views, props};
use crate::fuzz::XorShift;

/// How the scenario runs.
#[derive(Debug, Clone)]
pub struct Params {
    /// How long connections are cut.
    pub duration: Duration,
    /// The shortest and longest pause between two cuts.
    pub cut_every: (Duration, Duration),
    /// Reader and writer tasks.
    pub workers: usize,
    /// One-shot watches held through the faults.
    pub watches: usize,
    /// The session timeout.
    pub session_timeout: Duration,
    /// The seed of the cut schedule.
    pub seed: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            duration: Duration::from_secs(10),
            cut_every: (Duration::from_millis(150), Duration::from_millis(450)),
            workers: 4,
            watches: 200,
            session_timeout: Duration::from_secs(10),
            seed: 1,
        }
    }
}

/// What happened.
#[derive(Debug, Default)]
pub struct Report {
    /// How long the faults lasted.
    pub elapsed: Duration,
    /// Times every connection was cut.
    pub cuts: u64,
    /// Disconnected → Connected transitions of the session.
    pub reconnects: u64,
    /// How the workers' operations ended.
    pub ops: OpCounts,
    /// Held watches that fired on the change made after the faults.
    pub watches_fired: usize,
    /// Held watches.
    pub watches_held: usize,
    /// Everything that did not hold.
    pub violations: Violations,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "connection faults: {} cuts in {:.1} s, {} reconnects, same session throughout",
            self.cuts,
            self.elapsed.as_secs_f64(),
            self.reconnects
        )?;
        writeln!(f, "  {}", self.ops)?;
        writeln!(
            f,
            "  watches re-armed and fired: {}/{}",
            self.watches_fired, self.watches_held
        )?;
        write!(f, "  violations: {}", self.violations)
    }
}

/// Runs the scenario against the server at `server` (a connect string), through a fault proxy.
///
/// # Errors
/// When the set-up fails (the server is unreachable).
pub async fn run(server: &str, p: &Params) -> Result<Report, String> {
    let proxy = Arc::new(FaultProxy::start(server).map_err(|e| format!("proxy: {e}"))?);
    let admin = fixture::admin(server).await?;
    let tree = Tree::new(zk_testkit::unique_path("faults"), p.watches);
    tree.create(&admin).await?;
    let zk = must(
        "connect",
        SETTLE,
        ZooKeeper::connect_with(
            &proxy.connect_string(),
            fixture::zk_options(p.session_timeout),
        ),
    )
    .await?
    .map_err(|e| format!("connect: {e}"))?;
    let registration = fixture::register(&zk, &tree, 7000).await?;
    let views = Views::open(&zk, &tree).await?;
    let client = zk.client();
    let session_id = client.session_id();

    // The held watches.
    let mut watchers: Vec<OneshotWatcher> = Vec::with_capacity(p.watches);
    for i in 0..p.watches {
        let (_, _, w) = must(
            "get_data_watch",
            SETTLE,
            client.get_data_watch(&tree.watched_node(i)),
        )
        .await?
        .map_err(|e| format!("watch {i}: {e}"))?;
        watchers.push(w);
    }

    // Count reconnects of the session.
    let reconnects = Arc::new(AtomicU64::new(0));
    let counter = {
        let mut events = client.session_events();
        let reconnects = reconnects.clone();
        tokio::spawn(async move {
            let mut down = false;
            while let Some(ev) = events.next().await {
                match ev.state {
                    SessionState::Disconnected => down = true,
                    SessionState::Connected { .. } if down => {
                        down = false;
                        reconnects.fetch_add(1, Ordering::Relaxed);
                    }
                    s if s.is_terminal() => break,
                    _ => {}
                }
            }
        })
    };

    // The cutter: a schedule of faults, so it sleeps between them.
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let cutter = {
        let (proxy, stop, p) = (proxy.clone(), stop.clone(), p.clone());
        std::thread::spawn(move || {
            let mut rng = XorShift::new(p.seed);
            let mut cuts = 0u64;
            let span = (p.cut_every.1 - p.cut_every.0).as_millis().max(1) as u64;
            while started.elapsed() < p.duration {
                let pause = p.cut_every.0 + Duration::from_millis(rng.next_u64() % span);
                std::thread::sleep(pause);
                proxy.cut();
                cuts += 1;
            }
            stop.store(true, Ordering::SeqCst);
            cuts
        })
    };

    // The workers.
    let hang = p.session_timeout * 2 + Duration::from_secs(5);
    let mut workers = JoinSet::new();
    for w in 0..p.workers {
        let (zk, tree, stop, properties) = (
            zk.clone(),
            tree.clone(),
            stop.clone(),
            views.properties.clone(),
        );
        workers.spawn(async move {
            let mut counts = OpCounts::default();
            let mut created: Vec<String> = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let c = zk.client();
                match w % 4 {
                    0 => {
                        // Register and unregister provider-like nodes.
                        if i.is_multiple_of(3) && !created.is_empty() {
                            let path = created.swap_remove(0);
                            let r = within(hang, c.delete(&path, None)).await;
                            counts.record("delete", r);
                        } else {
                            let path = format!("{}/k-{w}-{i}", tree.providers);
                            let r =
                                within(hang, c.create(&path, b"", &CreateOptions::persistent()))
                                    .await;
                            if matches!(r, Some(Ok(_))) {
                                created.push(path);
                            }
                            counts.record("create", r);
                        }
                    }
                    1 => {
                        let r = within(
                            hang,
                            properties.update(props(json!({ format!("w{w}"): i }))),
                        )
                        .await;
                        counts.record_zc("properties.update", r);
                    }
                    _ => {
                        let r = within(hang, c.get_children(&tree.providers)).await;
                        counts.record("get_children", r);
                        let r = within(hang, c.get_data(&tree.conf)).await;
                        counts.record("get_data", r);
                        let n = (i as usize) % tree.watched_count.max(1);
                        let r = within(hang, c.exists(&tree.watched_node(n))).await;
                        counts.record("exists", r);
                    }
                }
            }
            counts
        });
    }
    let mut report = Report {
        watches_held: watchers.len(),
        ..Report::default()
    };
    while let Some(counts) = workers.join_next().await {
        match counts {
            Ok(c) => report.ops.merge(c),
            Err(e) => report.violations.push(format!("a worker panicked: {e}")),
        }
    }
    report.cuts = blocking(move || cutter.join().unwrap_or(0)).await?;
    report.elapsed = started.elapsed();

    let v = &mut report.violations;
    v.check(report.ops.hung == 0, || {
        format!("{} operations hung", report.ops.hung)
    });
    for other in &report.ops.other {
        v.push(format!("untyped or unexpected error: {other}"));
    }
    if must("reconnect", SETTLE, client.wait_connected(None))
        .await
        .is_err()
    {
        v.push("the session did not reconnect after the faults");
    }
    v.check(
        zk.session_id() == session_id && client.session_id() == session_id,
        || {
            format!(
                "the session changed: {session_id:#x} -> {:#x}",
                zk.session_id()
            )
        },
    );

    // The registration is still there, ours; the views converge to the truth read by a fresh
    // client.
    let fresh = fixture::admin(server).await?;
    fixture::registration_holds(&zk, &registration, &fresh, SETTLE, v).await;
    let truth = tree.truth(&fresh).await?;
    views.converge(&truth, SETTLE, v).await;

    // Every held watch was re-armed: a change made now fires each one.
    let mut ops = Vec::new();
    for i in 0..tree.watched_count {
        ops.push(zk_session::Op::set_data(
            tree.watched_node(i),
            b"1".to_vec(),
            None,
        ));
        if ops.len() >= 500 {
            fixture::multi(&fresh, &ops).await?;
            ops.clear();
        }
    }
    if !ops.is_empty() {
        fixture::multi(&fresh, &ops).await?;
    }
    let mut fired = JoinSet::new();
    for w in watchers {
        fired.spawn(async move { within(SETTLE, w.changed()).await });
    }
    while let Some(ev) = fired.join_next().await {
        match ev {
            Ok(Some(ev)) if ev.event_type == EventType::NodeDataChanged => {
                report.watches_fired += 1
            }
            Ok(Some(ev)) => v.push(format!("a held watch fired with {ev:?}")),
            Ok(None) => {}
            Err(e) => v.push(format!("{e}")),
        }
    }
    v.check(report.watches_fired == report.watches_held, || {
        format!(
            "only {}/{} held watches fired after the faults",
            report.watches_fired, report.watches_held
        )
    });
    report.reconnects = reconnects.load(Ordering::Relaxed);
    v.check(report.cuts == 0 || report.reconnects > 0, || {
        "no reconnect was seen although connections were cut".into()
    });

    counter.abort();
    zk.close().await;
    admin.close().await;
    fresh.close().await;
    Ok(report)
}
