//! A broken or hostile server ([`crate::hostile::FakeServer`]): every misbehaviour must end in
//! a typed error and a reconnect (or, for a negative session timeout, a clean expiry), never a
//! panic, a hang or unbounded memory.

use std::fmt;
use std::time::{Duration, Instant};

use zk_session::{Client, Error, SessionConfig, SessionState};

use crate::figures::{Memory, Violations, must, within};
use crate::hostile::{BadPath, FakeServer, Misbehaviour, SESSION_ID};

/// Every misbehaviour the fake knows.
pub const ALL: [Misbehaviour; 14] = [
    Misbehaviour::OversizedFrame(0x7fff_ffff),
    Misbehaviour::OversizedFrame(0x8000_0000),
    Misbehaviour::OversizedFrame(0x0010_0000),
    Misbehaviour::TruncatedFrame,
    Misbehaviour::TruncatedRecord,
    Misbehaviour::WrongXid,
    Misbehaviour::UnsolicitedReply,
    Misbehaviour::GarbageAfterHandshake,
    Misbehaviour::GarbageHandshake,
    Misbehaviour::NegativeTimeout,
    Misbehaviour::MalformedNotification(BadPath::Null),
    Misbehaviour::MalformedNotification(BadPath::NotUtf8),
    Misbehaviour::MalformedNotification(BadPath::Overlong),
    Misbehaviour::MalformedNotification(BadPath::Relative),
];

/// One misbehaviour's outcome.
#[derive(Debug, Clone)]
pub struct Case {
    /// What the fake did.
    pub script: Misbehaviour,
    /// The first request's result, as text.
    pub first: String,
    /// The request after it, as text.
    pub second: String,
    /// Connections the client made.
    pub connections: usize,
    /// From the first request to the second's answer.
    pub recovery: Duration,
    /// Memory around the case.
    pub memory: Memory,
}

/// What happened.
#[derive(Debug, Default)]
pub struct Report {
    /// Each case.
    pub cases: Vec<Case>,
    /// Everything that did not hold.
    pub violations: Violations,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "hostile server:")?;
        for c in &self.cases {
            writeln!(
                f,
                "  {:?}: first request {}, then {}; {} connections; {:.0} ms; RSS {:+} KiB",
                c.script,
                c.first,
                c.second,
                c.connections,
                c.recovery.as_secs_f64() * 1000.0,
                c.memory.growth_kib()
            )?;
        }
        write!(f, "  violations: {}", self.violations)
    }
}

const DEADLINE: Duration = Duration::from_secs(15);

/// The largest RSS growth accepted around one case: a client that allocated what the frame
/// claimed would grow by up to 2 GiB.
pub const MAX_GROWTH_KIB: i64 = 32 * 1024;

/// Runs one misbehaviour.
///
/// # Errors
/// When the fake cannot listen.
pub async fn run_case(script: Misbehaviour, v: &mut Violations) -> Result<Case, String> {
    let fake = FakeServer::start(script)
        .await
        .map_err(|e| format!("fake server: {e}"))?;
    let config = SessionConfig {
        session_timeout: Duration::from_secs(4),
        probe_server_version: false,
        seed: Some(7),
        ..SessionConfig::default()
    };
    let memory = Memory::start();
    let started = Instant::now();
    let client = Client::start(&fake.connect_string(), config).map_err(|e| e.to_string())?;
    let connected = within(DEADLINE, client.wait_connected(None)).await;
    let expired = script == Misbehaviour::NegativeTimeout;
    let notification = matches!(script, Misbehaviour::MalformedNotification(_));
    let mut watcher = None;
    let first = if notification {
        match within(DEADLINE, client.get_data_watch("/x")).await {
            Some(Ok((data, _, w))) => {
                watcher = Some(w);
                Some(Ok(data))
            }
            Some(Err(e)) => Some(Err(e)),
            None => None,
        }
    } else {
        within(DEADLINE, client.get_data("/x"))
            .await
            .map(|r| r.map(|(d, _)| d))
    };
    // The next request: a request in flight when the misbehaviour arrives is lost with the
    // connection, so up to three tries, each failing only with ConnectionLoss.
    let mut second = None;
    for _ in 0..3 {
        second = within(DEADLINE, client.get_data("/x"))
            .await
            .map(|r| r.map(|(d, _)| d));
        if !matches!(second, Some(Err(Error::ConnectionLoss))) {
            break;
        }
    }
    let recovery = started.elapsed();
    let name = format!("{script:?}");
    let ok =
        |r: &Option<Result<bytes::Bytes, Error>>| matches!(r, Some(Ok(d)) if d.as_ref() == b"ok");
    if expired {
        v.check(connected == Some(Err(Error::SessionExpired)), || {
            format!("{name}: wait_connected gave {connected:?}, expected SessionExpired")
        });
        v.check(client.state().state == SessionState::Expired, || {
            format!("{name}: state {:?}", client.state())
        });
        for r in [&first, &second] {
            v.check(matches!(r, Some(Err(Error::SessionExpired))), || {
                format!("{name}: a request gave {r:?}, expected SessionExpired")
            });
        }
        v.check(fake.connections() == 1, || {
            format!("{name}: {} connections after an expiry", fake.connections())
        });
        // zc-zk refuses such a server cleanly too.
        let fake = FakeServer::start(script)
            .await
            .map_err(|e| format!("fake server: {e}"))?;
        let zk = within(
            DEADLINE,
            zc_zk::ZooKeeper::connect_with(
                &fake.connect_string(),
                crate::fixture::zk_options(Duration::from_secs(4)),
            ),
        )
        .await;
        v.check(
            matches!(
                zk,
                Some(Err(zc_zk::Error::ZooKeeper(Error::SessionExpired)))
            ),
            || format!("{name}: zc-zk connect gave {zk:?}"),
        );
    } else {
        v.check(connected == Some(Ok(())), || {
            format!("{name}: wait_connected gave {connected:?}")
        });
        // The first request is answered or lost with the connection; never anything else.
        let first_ok = ok(&first) || matches!(first, Some(Err(Error::ConnectionLoss)));
        v.check(first_ok, || {
            format!("{name}: the first request gave {first:?}")
        });
        let breaks_in_flight = matches!(
            script,
            Misbehaviour::OversizedFrame(_)
                | Misbehaviour::TruncatedFrame
                | Misbehaviour::TruncatedRecord
                | Misbehaviour::WrongXid
        );
        if breaks_in_flight {
            v.check(matches!(first, Some(Err(Error::ConnectionLoss))), || {
                format!("{name}: the request in flight gave {first:?}, expected ConnectionLoss")
            });
        }
        v.check(ok(&second), || {
            format!("{name}: after the reconnect a request gave {second:?}")
        });
        let reconnects = script != Misbehaviour::MalformedNotification(BadPath::Relative);
        if reconnects {
            v.check(fake.connections() >= 2, || {
                format!(
                    "{name}: the client did not reconnect ({} connections)",
                    fake.connections()
                )
            });
            let handshakes = fake.handshakes().await;
            // After a failed handshake there is no session to resume yet.
            let resumed = if script == Misbehaviour::GarbageHandshake {
                0
            } else {
                SESSION_ID
            };
            v.check(
                handshakes.get(1).is_some_and(|h| h.session_id == resumed),
                || format!("{name}: the reconnect did not resume the session: {handshakes:?}"),
            );
        }
        v.check(fake.connections() <= 3, || {
            format!(
                "{name}: {} connections: a reconnect storm",
                fake.connections()
            )
        });
        if let Some(w) = watcher.as_mut() {
            let fired = w.try_event();
            v.check(fired.is_none(), || {
                format!("{name}: the watch fired on a malformed notification: {fired:?}")
            });
        }
        v.check(client.session_id() == SESSION_ID, || {
            format!("{name}: session {:#x}", client.session_id())
        });
    }
    let memory = memory.stop();
    v.check(memory.growth_kib() < MAX_GROWTH_KIB, || {
        format!("{name}: RSS grew by {} KiB", memory.growth_kib())
    });
    let show = |r: &Option<Result<bytes::Bytes, Error>>| match r {
        Some(Ok(_)) => "ok".to_owned(),
        Some(Err(e)) => format!("{e:?}"),
        None => "HUNG".to_owned(),
    };
    let case = Case {
        script,
        first: show(&first),
        second: show(&second),
        connections: fake.connections(),
        recovery,
        memory,
    };
    let _ = must("close", DEADLINE, client.close()).await;
    Ok(case)
}

/// Runs every misbehaviour in [`ALL`].
///
/// # Errors
/// When a fake cannot listen.
pub async fn run() -> Result<Report, String> {
    let mut report = Report::default();
    for script in ALL {
        let case = run_case(script, &mut report.violations).await?;
        report.cases.push(case);
    }
    Ok(report)
}
