//! Load: many requests in flight on one session, many watched nodes re-armed after a cut, many
//! sessions in one process; time and memory of each.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use zk_session::{Client, EventType, Op, SessionConfig};
use zk_testkit::FaultProxy;

use crate::figures::{Memory, Violations, blocking, must, within};
use crate::fixture::{self, SETTLE, Tree};

/// How the scenario runs.
#[derive(Debug, Clone)]
pub struct Params {
    /// Requests issued at once on one session.
    pub in_flight: usize,
    /// Nodes watched by one session.
    pub watched: usize,
    /// Sessions opened at once.
    pub sessions: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            in_flight: 10_000,
            watched: 10_000,
            sessions: 100,
        }
    }
}

/// One phase's figures.
#[derive(Debug, Clone, Default)]
pub struct Phase {
    /// What was done.
    pub what: String,
    /// How long it took.
    pub time: Duration,
    /// Memory around it.
    pub memory: Memory,
}

/// What happened.
#[derive(Debug, Default)]
pub struct Report {
    /// Each phase.
    pub phases: Vec<Phase>,
    /// The most requests the server reported outstanding during the in-flight phase.
    pub server_outstanding_max: u64,
    /// Everything that did not hold.
    pub violations: Violations,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "load:")?;
        for p in &self.phases {
            writeln!(
                f,
                "  {}: {:.0} ms, {}",
                p.what,
                p.time.as_secs_f64() * 1000.0,
                p.memory
            )?;
        }
        writeln!(
            f,
            "  server-side outstanding requests during the in-flight phase: at most {}",
            self.server_outstanding_max
        )?;
        write!(f, "  violations: {}", self.violations)
    }
}

/// Samples the server's `Outstanding:` count (from `srvr`) until `stop`; returns the maximum.
fn sample_outstanding(addr: String, stop: Arc<AtomicBool>) -> u64 {
    let mut max = 0;
    let Ok(addr) = addr.parse::<std::net::SocketAddr>() else {
        return 0;
    };
    while !stop.load(Ordering::SeqCst) {
        if let Ok(answer) = zk_testkit::four_letter_word(addr, "srvr", Duration::from_secs(2))
            && let Some(n) = answer
                .lines()
                .find_map(|l| l.strip_prefix("Outstanding: "))
                .and_then(|n| n.trim().parse::<u64>().ok())
        {
            max = max.max(n);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    max
}

/// Runs the scenario against the server at `server` (a connect string `host:port`).
///
/// # Errors
/// When the set-up fails.
pub async fn run(server: &str, p: &Params) -> Result<Report, String> {
    let mut report = Report::default();
    let mut v = Violations::default();
    let admin = fixture::admin(server).await?;
    let tree = Tree::new(zk_testkit::unique_path("load"), p.watched);
    let memory = Memory::start();
    let started = Instant::now();
    tree.create(&admin).await?;
    report.phases.push(Phase {
        what: format!("create {} nodes (transactions of 500)", p.watched),
        time: started.elapsed(),
        memory: memory.stop(),
    });

    // Many requests in flight on one session.
    let config = SessionConfig {
        probe_server_version: false,
        ..SessionConfig::default()
    };
    let client = must(
        "connect",
        SETTLE,
        Client::connect_with(server, config.clone()),
    )
    .await?
    .map_err(|e| format!("connect: {e}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (addr, stop) = (server.to_owned(), stop.clone());
        std::thread::spawn(move || sample_outstanding(addr, stop))
    };
    let memory = Memory::start();
    let started = Instant::now();
    let mut set = JoinSet::new();
    for i in 0..p.in_flight {
        let (c, path) = (client.clone(), tree.conf.clone());
        set.spawn(async move {
            if i % 2 == 0 {
                c.get_data(&path).await.map(drop)
            } else {
                c.exists(&path).await.map(drop)
            }
        });
    }
    let mut failed = Vec::new();
    let all = must("in-flight requests", SETTLE * 4, async {
        while let Some(r) = set.join_next().await {
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failed.push(e.to_string()),
                Err(e) => failed.push(e.to_string()),
            }
        }
    })
    .await;
    let time = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    report.server_outstanding_max = blocking(move || sampler.join().unwrap_or(0)).await?;
    if let Err(e) = all {
        v.push(e);
    }
    v.check(failed.is_empty(), || {
        format!(
            "{} of {} requests failed: {:?}",
            failed.len(),
            p.in_flight,
            failed.first()
        )
    });
    v.check(
        report.server_outstanding_max <= config.max_in_flight as u64,
        || {
            format!(
                "the server saw {} outstanding requests, above max_in_flight {}",
                report.server_outstanding_max, config.max_in_flight
            )
        },
    );
    report.phases.push(Phase {
        what: format!("{} requests issued at once on one session", p.in_flight),
        time,
        memory: memory.stop(),
    });
    client.close().await;

    // Many watched nodes, re-armed after a cut.
    let proxy = FaultProxy::start(server).map_err(|e| format!("proxy: {e}"))?;
    let watcher_client = must(
        "connect",
        SETTLE,
        Client::connect_with(&proxy.connect_string(), config.clone()),
    )
    .await?
    .map_err(|e| format!("connect: {e}"))?;
    let memory = Memory::start();
    let started = Instant::now();
    let mut set = JoinSet::new();
    for i in 0..p.watched {
        let (c, path) = (watcher_client.clone(), tree.watched_node(i));
        set.spawn(async move { c.get_data_watch(&path).await.map(|(_, _, w)| w) });
    }
    let mut watchers = Vec::with_capacity(p.watched);
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(w)) => watchers.push(w),
            other => v.push(format!("watch: {other:?}")),
        }
    }
    report.phases.push(Phase {
        what: format!("{} watches set", p.watched),
        time: started.elapsed(),
        memory: memory.stop(),
    });
    let memory = Memory::start();
    let started = Instant::now();
    let mut events = watcher_client.session_events();
    proxy.cut();
    let reconnected = must("reconnect", SETTLE, async {
        let mut down = false;
        while let Some(ev) = events.next().await {
            down |= ev.state == zk_session::SessionState::Disconnected;
            if down && ev.state.is_connected() {
                return;
            }
        }
    })
    .await;
    if let Err(e) = reconnected {
        v.push(e);
    }
    // The watches are re-armed once the SetWatches are answered; a sync behind them on the
    // same connection says they were.
    let synced = within(SETTLE, watcher_client.sync(&tree.root)).await;
    v.check(matches!(synced, Some(Ok(()))), || {
        format!("sync: {synced:?}")
    });
    report.phases.push(Phase {
        what: format!("reconnect re-arming {} watches", p.watched),
        time: started.elapsed(),
        memory: memory.stop(),
    });
    let memory = Memory::start();
    let started = Instant::now();
    let mut ops = Vec::new();
    for i in 0..p.watched {
        ops.push(Op::set_data(tree.watched_node(i), b"1".to_vec(), None));
        if ops.len() >= 500 {
            fixture::multi(&admin, &ops).await?;
            ops.clear();
        }
    }
    if !ops.is_empty() {
        fixture::multi(&admin, &ops).await?;
    }
    let mut set = JoinSet::new();
    for w in watchers {
        set.spawn(async move { within(SETTLE, w.changed()).await });
    }
    let mut fired = 0;
    while let Some(r) = set.join_next().await {
        if matches!(r, Ok(Some(ref e)) if e.event_type == EventType::NodeDataChanged) {
            fired += 1;
        }
    }
    v.check(fired == p.watched, || {
        format!("{fired}/{} watches fired after the reconnect", p.watched)
    });
    report.phases.push(Phase {
        what: format!("{} nodes changed, every watch fired", p.watched),
        time: started.elapsed(),
        memory: memory.stop(),
    });
    watcher_client.close().await;
    blocking(move || drop(proxy)).await?;

    // Many sessions in one process.
    let memory = Memory::start();
    let started = Instant::now();
    let mut set = JoinSet::new();
    for _ in 0..p.sessions {
        let (server, config) = (server.to_owned(), config.clone());
        set.spawn(async move {
            let c = Client::connect_with(&server, config).await?;
            c.exists("/").await?;
            Ok::<_, zk_session::Error>(c)
        });
    }
    let mut clients = Vec::new();
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(c)) => clients.push(c),
            other => v.push(format!("session: {other:?}")),
        }
    }
    let opened = started.elapsed();
    let open_memory = memory.stop();
    v.check(clients.len() == p.sessions, || {
        format!("{}/{} sessions opened", clients.len(), p.sessions)
    });
    report.phases.push(Phase {
        what: format!("{} sessions opened, one request each", p.sessions),
        time: opened,
        memory: open_memory,
    });
    let started = Instant::now();
    let mut set = JoinSet::new();
    for c in clients {
        set.spawn(async move { c.close().await });
    }
    while set.join_next().await.is_some() {}
    report.phases.push(Phase {
        what: format!("{} sessions closed", p.sessions),
        time: started.elapsed(),
        memory: Memory::start().stop(),
    });
    admin.close().await;
    report.violations = v;
    Ok(report)
}
