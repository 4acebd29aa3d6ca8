//! The sans-IO session state machine against an in-memory ZooKeeper 3.8 server, on a simulated
//! clock: handshake, timers, reconnects, watches, backpressure, close and the terminal states.
//!
//! Every test is deterministic: the clock only moves when a test advances it, host shuffling and
//! jitter are seeded, and nothing sleeps.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use support::{HostBehavior, Pair, Rx, config, ms, set_watches};
use zk_proto::header::PING_XID;
use zk_proto::{ConnectRequest, ErrorCode, EventType, GetDataResponse, KeeperState};
use zk_session::session::SET_WATCHES_MAX_LENGTH;
use zk_session::{
    Action, Error, ReadCoalescing, SessionConfig, SessionState, WatchKind, WatchedEvent,
};

const CONNECTED: SessionState = SessionState::Connected { read_only: false };

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Asserts that `token` completed with a reply carrying `err`.
fn assert_reply(pair: &Pair, token: u64, err: ErrorCode) {
    let reply = pair.reply(token);
    assert_eq!(reply.err, err, "token {token}: {reply:?}");
}

// ----- handshake -----

#[test]
fn handshake_sends_only_the_connect_request_until_the_response_then_the_queue_in_order() {
    let cfg = SessionConfig {
        last_zxid_seen: 0x0c,
        ..config()
    };
    let mut pair = Pair::new("h1:2181", cfg);
    pair.server.put("/a", b"A");
    pair.server.put("/c", b"");
    pair.server.hold_handshake = true;

    // Requests and auth made before the connection exists.
    let t1 = pair.submit(pair.get_data("/a", None));
    let t2 = pair.submit(pair.create("/b", b"B"));
    let t3 = pair.submit(pair.exists("/c", None));
    let auth = pair.add_auth("digest", "u:p");
    pair.drive();

    // Exactly the 45-byte ConnectRequest, written out by hand.
    let mut expected = vec![0, 0, 0, 45];
    expected.extend_from_slice(&0i32.to_be_bytes()); // protocolVersion
    expected.extend_from_slice(&0x0ci64.to_be_bytes()); // lastZxidSeen
    expected.extend_from_slice(&6000i32.to_be_bytes()); // timeOut
    expected.extend_from_slice(&0i64.to_be_bytes()); // sessionId
    expected.extend_from_slice(&16i32.to_be_bytes()); // passwd length
    expected.extend_from_slice(&[0; 16]); // passwd
    expected.push(0); // readOnly
    assert_eq!(pair.live().raw, expected);
    assert_eq!(
        pair.live().frames,
        [Rx::Connect(ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0x0c,
            time_out: 6000,
            session_id: 0,
            passwd: Some(Bytes::from_static(&[0; 16])),
            read_only: Some(false),
        })]
    );

    // Still nothing else while the response is outstanding, however long it takes (within the
    // connect timeout).
    pair.advance(ms(1500));
    let t4 = pair.submit(pair.get_data("/a", None));
    pair.advance(ms(1500));
    assert_eq!(pair.live().raw.len(), 49, "{:?}", pair.live().summaries());
    assert!(pair.completions.is_empty());
    assert_eq!(pair.state_list(), [SessionState::Connecting]);

    pair.release_handshake();
    assert_eq!(
        pair.live().summaries(),
        [
            "connect",
            "auth digest u:p",
            "getData /a #1",
            "create /b #2",
            "exists /c #3",
            "getData /a #4",
        ]
    );
    assert_eq!(pair.state_list(), [SessionState::Connecting, CONNECTED]);
    let order: Vec<u64> = pair.completions.iter().map(|c| c.token).collect();
    assert_eq!(order, [auth, t1, t2, t3, t4]);
    for t in [t1, t2, t3, t4] {
        assert_reply(&pair, t, ErrorCode::Ok);
    }
    assert_eq!(pair.stray_transmits, 0);
}

#[test]
fn negotiated_timeout_of_zero_or_less_expires_the_session_and_fails_queued_requests() {
    for (timeout, prime_connection) in [(0, false), (-1, false), (i32::MIN, false), (0, true)] {
        let cfg = SessionConfig {
            prime_connection,
            ..config()
        };
        let mut pair = Pair::new("h1:2181", cfg);
        pair.server.force_timeout = Some(timeout);
        let a = pair.submit(pair.get_data("/", None));
        let b = pair.submit(pair.create("/b", b""));
        pair.drive();

        assert_eq!(
            pair.state_list(),
            [SessionState::Connecting, SessionState::Expired],
            "timeout {timeout}"
        );
        assert!(pair.session.is_terminal());
        assert_eq!(pair.error(a), Error::SessionExpired);
        assert_eq!(pair.error(b), Error::SessionExpired);
        // A primed read rides behind the ConnectRequest (the server drops it unread); the
        // write waits for the response, which never allows it.
        let sent: Vec<String> = pair
            .last_conn()
            .requests()
            .iter()
            .map(|r| r.summary())
            .collect();
        let expected: &[&str] = if prime_connection {
            &["getData / #1"]
        } else {
            &[]
        };
        assert_eq!(
            sent, expected,
            "nothing else may be sent on an expired session"
        );
        assert_eq!(pair.disconnects(), 1, "the connection is dropped");

        // Terminal: no reconnect, and new requests fail at once.
        pair.advance(secs(60));
        assert_eq!(pair.connect_hosts().len(), 1);
        let c = pair.submit(pair.get_data("/", None));
        pair.drive();
        assert_eq!(pair.error(c), Error::SessionExpired);
    }
}

// ----- pings -----

#[test]
fn no_ping_before_a_third_of_the_session_timeout_of_idle_sending() {
    let mut pair = Pair::connected("h1:2181", config());
    assert_eq!(pair.session.negotiated_timeout(), secs(6));

    pair.advance(ms(1999));
    assert_eq!(pair.live().pings(), 0);
    pair.advance(ms(1));
    assert_eq!(pair.live().pings(), 1, "ping at 6 s / 3 = 2 s");

    // A request sent at 3 s restarts the idle-send clock: the next ping is due at 5 s.
    pair.advance(ms(1000));
    let t = pair.submit(pair.get_data("/", None));
    pair.drive();
    assert_reply(&pair, t, ErrorCode::Ok);
    pair.advance(ms(1999));
    assert_eq!(pair.live().pings(), 1);
    pair.advance(ms(1));
    assert_eq!(pair.live().pings(), 2);

    // Answered pings keep the connection alive indefinitely.
    pair.advance(secs(60));
    assert_eq!(pair.state_list(), [SessionState::Connecting, CONNECTED]);
    assert_eq!(pair.disconnects(), 0);
}

#[test]
fn at_most_one_ping_in_flight_and_its_reply_re_enables_pinging() {
    let mut pair = Pair::connected("h1:2181", config());
    pair.server.reply_pings = false;

    // The server stays audible (notifications re-arm the read timeout) but never answers the
    // ping: four ping intervals pass.
    for _ in 0..6 {
        pair.advance(ms(1500));
        pair.inject_notification(EventType::NodeDataChanged, "/unwatched", -1);
    }
    assert_eq!(pair.elapsed(), ms(9000));
    assert_eq!(pair.live().pings(), 1);

    // The clock jumps ahead almost two intervals at once.
    pair.jump(ms(3900));
    assert_eq!(pair.live().pings(), 1);
    assert!(pair.session.state().is_connected());

    // The reply to the one outstanding ping comes back: pinging resumes.
    pair.inject_reply(PING_XID, pair.server.zxid, ErrorCode::Ok);
    pair.advance(ms(2000));
    assert_eq!(pair.live().pings(), 2);
    assert_eq!(pair.disconnects(), 0);

    // With a 60 s session the ping interval is capped at 10 s while the read timeout is 40 s:
    // three and a half silent intervals, one ping.
    let cfg = SessionConfig {
        session_timeout: secs(60),
        ..config()
    };
    let mut pair = Pair::new("h1:2181", cfg);
    pair.server.max_timeout_ms = 60_000;
    pair.server.reply_pings = false;
    pair.drive();
    pair.advance(ms(9999));
    assert_eq!(pair.live().pings(), 0);
    pair.advance(ms(25_001));
    assert_eq!(pair.live().pings(), 1);
    assert!(pair.session.state().is_connected());
}

// ----- losing a connection -----

#[test]
fn read_timeout_drops_the_connection_fails_in_flight_requests_and_tries_the_next_host() {
    let mut pair = Pair::connected("h1:2181,h2:2181,h3:2181", config());
    let first = pair.live().host.clone();
    let session_id = pair.session.session_id();
    let passwd = pair.session.session_password().clone();

    pair.live_mut().mute = true;
    let a = pair.submit(pair.get_data("/", None));
    let b = pair.submit(pair.create("/x", b""));
    pair.drive();
    assert_eq!(pair.session.in_flight(), 2);

    pair.advance(ms(3999));
    assert_eq!(pair.disconnects(), 0);
    assert!(pair.result(a).is_none() && pair.result(b).is_none());

    pair.advance(ms(1));
    // Disconnect, then a connection to the next host, at 2/3 of the timeout.
    let tail: Vec<&Action> = pair
        .actions
        .iter()
        .filter(|(t, _)| *t == ms(4000))
        .map(|(_, a)| a)
        .collect();
    assert!(
        matches!(tail.as_slice(), [Action::Disconnect, Action::Connect { host, .. }, ..] if *host != first),
        "{tail:?}"
    );
    assert_eq!(pair.error(a), Error::ConnectionLoss);
    assert_eq!(pair.error(b), Error::ConnectionLoss);
    assert!(
        pair.states
            .contains(&(ms(4000), SessionState::Disconnected))
    );

    // The next host resumes the same session.
    assert_eq!(
        pair.state_list(),
        [
            SessionState::Connecting,
            CONNECTED,
            SessionState::Disconnected,
            CONNECTED
        ]
    );
    let resume = pair.live().connect_request().unwrap();
    assert_eq!(resume.session_id, session_id);
    assert_eq!(resume.passwd.as_ref(), Some(&passwd));
    assert_eq!(pair.session.session_id(), session_id);
}

#[test]
fn connect_attempts_time_out_per_host_and_rotate_through_every_host() {
    let mut pair = Pair::new("h1:2181,h2:2181,h3:2181", config());
    for h in ["h1", "h2", "h3"] {
        pair.set_host(h, HostBehavior::Hang);
    }
    pair.drive();
    pair.advance(ms(1999));
    assert_eq!(pair.connect_times(), [ms(0)]);

    // 6 s / 3 hosts = 2 s per host.
    pair.advance(ms(1));
    assert_eq!(pair.connect_times(), [ms(0), ms(2000)]);
    pair.advance(ms(2000));
    assert_eq!(pair.connect_times(), [ms(0), ms(2000), ms(4000)]);
    let round: BTreeSet<String> = pair.connect_hosts().into_iter().collect();
    assert_eq!(round.len(), 3, "every host once per round");

    // After the third timeout a backoff, then the same order again.
    pair.advance(ms(2000));
    assert_eq!(pair.disconnects(), 3);
    assert_eq!(
        pair.connect_times().len(),
        3,
        "backoff before the next round"
    );
    pair.advance(ms(1000));
    let times = pair.connect_times();
    assert_eq!(times.len(), 4);
    assert!(times[3] > ms(6000) && times[3] <= ms(7000), "{times:?}");
    pair.advance(secs(10));
    let hosts = pair.connect_hosts();
    assert_eq!(hosts[3..6], hosts[0..3]);

    // Never connected: only Connecting is reported.
    assert_eq!(pair.state_list(), [SessionState::Connecting]);
    assert!(!pair.session.is_terminal());
}

#[test]
fn hosts_are_shuffled_by_the_seed_and_the_same_seed_gives_the_same_order() {
    let hosts = ["h1", "h2", "h3", "h4", "h5"];
    let order = |seed: u64| {
        let cfg = SessionConfig {
            seed: Some(seed),
            ..config()
        };
        let mut pair = Pair::new("h1,h2,h3,h4,h5", cfg);
        for h in hosts {
            pair.set_host(h, HostBehavior::RefuseTcp);
        }
        // Two rounds: the order is the same in each.
        pair.run_until(secs(5), |p| p.connect_hosts().len() >= 10);
        let all = pair.connect_hosts();
        assert_eq!(all[0..5], all[5..10], "seed {seed}");
        all[0..5].to_vec()
    };
    let mut differs = false;
    for seed in 0..16 {
        let a = order(seed);
        assert_eq!(a, order(seed), "seed {seed} is not deterministic");
        let set: BTreeSet<&str> = a.iter().map(String::as_str).collect();
        assert_eq!(
            set,
            hosts.into_iter().collect(),
            "seed {seed}: not a permutation"
        );
        differs |= a != hosts;
    }
    assert!(differs, "no seed shuffled the hosts");
}

#[test]
fn backoff_between_rounds_stays_within_its_bounds() {
    let mut pair = Pair::new("h1:2181,h2:2181,h3:2181", config());
    for h in ["h1", "h2", "h3"] {
        pair.set_host(h, HostBehavior::RefuseTcp);
    }
    pair.advance(secs(30));
    let times = pair.connect_times();
    assert!(times.len() >= 60, "{} attempts", times.len());
    // Refusals are immediate: three attempts per round at one instant; no wait before the first.
    assert_eq!(times[0], ms(0));
    let rounds: Vec<Duration> = times.chunks(3).map(|r| r[0]).collect();
    for r in times.chunks_exact(3) {
        assert!(r[0] == r[1] && r[1] == r[2], "{r:?}");
    }
    let gaps: Vec<Duration> = rounds.windows(2).map(|w| w[1] - w[0]).collect();
    // "50 ms doubling up to 1 s, scaled by a jitter in [0.5, 1.0)".
    assert!(
        gaps[0] >= ms(25) && gaps[0] <= ms(100),
        "first backoff {:?}",
        gaps[0]
    );
    for (i, g) in gaps.iter().enumerate() {
        assert!(*g >= ms(25) && *g <= secs(1), "backoff {i}: {g:?}");
        if i >= 5 {
            assert!(
                *g >= ms(500),
                "backoff {i} should have reached 1 s × [0.5, 1): {g:?}"
            );
        }
    }
    // Jittered: not all the same once capped.
    let capped: BTreeSet<Duration> = gaps[5..].iter().copied().collect();
    assert!(capped.len() > 1, "no jitter: {capped:?}");
}

#[test]
fn connect_timeout_after_the_handshake_is_the_negotiated_timeout_per_host() {
    // The session asks for 60 s; the server grants only 6 s. Once connected, a blackholed host
    // must not hold the reconnection for 60 s / 3 = 20 s (three times the whole session): the
    // Java client uses negotiatedSessionTimeout / hostCount (ClientCnxn.onConnected), 2 s here.
    let cfg = SessionConfig {
        session_timeout: secs(60),
        ..config()
    };
    let mut pair = Pair::new("h1:2181,h2:2181,h3:2181", cfg);
    pair.server.max_timeout_ms = 6_000;
    pair.drive();
    assert_eq!(pair.session.negotiated_timeout(), secs(6));
    let first = pair.live().host.host.clone();
    for h in ["h1", "h2", "h3"] {
        if h != first {
            pair.set_host(h, HostBehavior::Hang);
        }
    }
    pair.advance(ms(500));
    let before = pair.connect_times().len();
    pair.drop_connection();
    pair.drive();
    pair.advance(ms(1999));
    assert_eq!(pair.connect_times().len(), before + 1);
    pair.advance(ms(1));
    let attempts = &pair.connect_times()[before..];
    assert_eq!(
        attempts,
        [ms(500), ms(2500)],
        "the first reconnection attempt should be abandoned after 6 s / 3 = 2 s"
    );
}

// ----- reconnecting -----

#[test]
fn reconnect_sends_auth_then_set_watches_then_queued_requests() {
    let mut pair = Pair::new("h1:2181,h2:2181/app", config());
    pair.server.put("/app", b"");
    pair.server.put("/app/a", b"A");
    pair.server.put("/app/b", b"");
    pair.drive();
    let session_id = pair.session.session_id();
    let passwd = pair.session.session_password().clone();

    let auth1 = pair.add_auth("digest", "u:p");
    let w1 = pair.submit(pair.get_data("/a", Some(1)));
    let w2 = pair.submit(pair.exists("/missing", Some(2)));
    let w3 = pair.submit(pair.get_children("/b", Some(3)));
    let c = pair.submit(pair.create("/c", b""));
    pair.drive();
    assert_reply(&pair, auth1, ErrorCode::Ok);
    assert_reply(&pair, w1, ErrorCode::Ok);
    assert_reply(&pair, w2, ErrorCode::NoNode);
    assert_reply(&pair, w3, ErrorCode::Ok);
    assert_reply(&pair, c, ErrorCode::Ok);
    let zxid = pair.session.last_zxid_seen();
    assert_eq!(zxid, 0x11);

    // The connection drops; while disconnected, one more auth and two requests.
    pair.drop_connection();
    let auth2 = pair.add_auth("digest", "v:q");
    let q1 = pair.submit(pair.get_data("/a", None));
    let q2 = pair.submit(pair.create("/d", b""));
    pair.drive();

    let conn = pair.last_conn();
    assert_eq!(
        conn.summaries(),
        [
            "connect",
            "auth digest u:p",
            "auth digest v:q",
            "setWatches",
            "getData /app/a #5",
            "create /app/d #6",
        ]
    );
    let hello = conn.connect_request().unwrap();
    assert_eq!(hello.session_id, session_id);
    assert_eq!(hello.passwd.as_ref(), Some(&passwd));
    assert_eq!(hello.last_zxid_seen, zxid);
    assert_eq!(
        set_watches(&conn.frames),
        [(
            zxid,
            vec!["/app/a".to_owned()],
            vec!["/app/missing".to_owned()],
            vec!["/app/b".to_owned()]
        )]
    );
    assert_reply(&pair, auth2, ErrorCode::Ok);
    assert_reply(&pair, q1, ErrorCode::Ok);
    assert_reply(&pair, q2, ErrorCode::Ok);
    assert!(pair.fired.is_empty(), "nothing changed: {:?}", pair.fired);
    assert_eq!(pair.session.watches().len(), 3);
}

#[test]
fn last_zxid_seen_comes_from_replies_only_and_goes_into_the_next_connect_request() {
    let mut pair = Pair::new("h1:2181,h2:2181", config());
    pair.server.put("/a", b"A");
    pair.drive();
    assert_eq!(pair.live().connect_request().unwrap().last_zxid_seen, 0);
    assert_eq!(
        pair.session.last_zxid_seen(),
        0,
        "the handshake carries no zxid"
    );

    let t = pair.submit(pair.get_data("/a", None));
    pair.drive();
    assert_eq!(pair.reply(t).zxid, 0x10);
    assert_eq!(
        pair.session.last_zxid_seen(),
        0x10,
        "reads carry the server's zxid"
    );
    pair.submit(pair.create("/b", b""));
    pair.drive();
    assert_eq!(pair.session.last_zxid_seen(), 0x11);

    // Another client writes: the server moves on to 0x13 without telling us in a reply.
    pair.external(|s| {
        s.create("/x", b"", 0).unwrap();
        s.set_data("/x", b"y", -1).unwrap();
    });
    assert_eq!(pair.server.zxid, 0x13);

    // A ping reply carries the server's zxid: ignored.
    pair.advance(ms(2000));
    assert_eq!(pair.live().pings(), 1);
    assert_eq!(pair.session.last_zxid_seen(), 0x11);
    // Notifications: zxid -1 (3.8) or a transaction's zxid (3.9): ignored.
    pair.inject_notification(EventType::NodeDataChanged, "/a", -1);
    pair.inject_notification(EventType::NodeDataChanged, "/a", 0x40);
    assert_eq!(pair.session.last_zxid_seen(), 0x11);
    // Auth replies carry zxid 0.
    let auth = pair.add_auth("digest", "u:p");
    pair.drive();
    assert_reply(&pair, auth, ErrorCode::Ok);
    assert_eq!(pair.session.last_zxid_seen(), 0x11);

    pair.drop_connection();
    pair.drive();
    let hello = pair.live().connect_request().unwrap();
    assert_eq!(hello.last_zxid_seen, 0x11);
}

#[test]
fn a_reply_out_of_xid_order_drops_the_connection_and_reconnects() {
    let mut pair = Pair::connected("h1:2181,h2:2181", config());
    let session_id = pair.session.session_id();
    pair.server.hold_replies = true;
    let a = pair.submit(pair.get_data("/", None));
    let b = pair.submit(pair.get_data("/", None));
    pair.drive();
    assert_eq!(
        pair.live().summaries(),
        ["connect", "getData / #1", "getData / #2"]
    );

    // The reply to #2 arrives first.
    let zxid = pair.server.zxid;
    pair.inject_reply(2, zxid, ErrorCode::Ok);
    assert_eq!(pair.disconnects(), 1);
    assert_eq!(pair.error(a), Error::ConnectionLoss);
    assert_eq!(pair.error(b), Error::ConnectionLoss);
    assert_eq!(
        pair.state_list(),
        [
            SessionState::Connecting,
            CONNECTED,
            SessionState::Disconnected,
            CONNECTED
        ]
    );
    assert_eq!(pair.conns.len(), 2);
    assert_eq!(pair.session.session_id(), session_id);

    // A reply when nothing is in flight is just as wrong.
    pair.inject_reply(7, zxid, ErrorCode::Ok);
    assert_eq!(pair.disconnects(), 2);
    assert_eq!(pair.conns.len(), 3);
    assert!(pair.session.state().is_connected());
}

// ----- primed reconnects -----

/// A session on `h1` with a node `/a`, connected and then cut off: the response to its next
/// handshake is held until released.
fn reconnecting_with_a_held_handshake(cfg: SessionConfig) -> Pair {
    let mut pair = Pair::connected("h1:2181", cfg);
    pair.server.put("/a", b"A");
    pair.drop_connection();
    pair.server.hold_handshake = true;
    pair
}

/// The position of `token` among the completions.
fn completed_at(pair: &Pair, token: u64) -> usize {
    pair.completions
        .iter()
        .position(|c| c.token == token)
        .unwrap_or_else(|| panic!("token {token} not completed"))
}

#[test]
fn a_reconnect_sends_auth_set_watches_and_reads_behind_the_connect_request_and_writes_after_its_response()
 {
    let mut pair = Pair::new("h1:2181/app", config());
    pair.server.put("/app", b"");
    pair.server.put("/app/a", b"A");
    pair.drive();
    let auth = pair.add_auth("digest", "u:p");
    let w = pair.submit(pair.get_data("/a", Some(1)));
    pair.drive();
    assert_reply(&pair, auth, ErrorCode::Ok);
    assert_reply(&pair, w, ErrorCode::Ok);

    pair.drop_connection();
    pair.server.hold_handshake = true;
    let r1 = pair.submit(pair.get_data("/a", None));
    let r2 = pair.submit(pair.exists("/missing", None));
    let c = pair.submit(pair.create("/c", b""));
    let r3 = pair.submit(pair.get_data("/a", None));
    pair.drive();
    // Before the response: the ConnectRequest and, right behind it, what follows it on every
    // reconnect and the reads at the head of the queue; not the create, nor the read after it.
    assert_eq!(
        pair.live().summaries(),
        [
            "connect",
            "auth digest u:p",
            "setWatches",
            "getData /app/a #2",
            "exists /app/missing #3",
        ]
    );
    assert_eq!(pair.session.queued(), 4);
    assert!(pair.result(r1).is_none());

    pair.release_handshake();
    assert_eq!(
        pair.live().summaries()[5..],
        ["create /app/c #4", "getData /app/a #5"]
    );
    assert_reply(&pair, r1, ErrorCode::Ok);
    assert_reply(&pair, r2, ErrorCode::NoNode);
    assert_reply(&pair, c, ErrorCode::Ok);
    assert_reply(&pair, r3, ErrorCode::Ok);
    let order: Vec<usize> = [r1, r2, c, r3]
        .iter()
        .map(|&t| completed_at(&pair, t))
        .collect();
    assert!(
        order.is_sorted(),
        "completed in submission order: {order:?}"
    );
    assert_eq!(pair.session.watches().len(), 1);
    assert_eq!(pair.stray_transmits, 0);
}

#[test]
fn a_read_made_while_a_primed_handshake_is_outstanding_goes_at_once_and_a_write_waits() {
    let mut pair = reconnecting_with_a_held_handshake(config());
    pair.drive();
    assert_eq!(pair.live().summaries(), ["connect"]);

    let r1 = pair.submit(pair.get_data("/a", None));
    pair.drive();
    assert_eq!(pair.live().summaries(), ["connect", "getData /a #1"]);
    // A write waits for the response, and so does every read behind it (order is kept).
    let c = pair.submit(pair.create("/b", b""));
    let r2 = pair.submit(pair.get_data("/b", None));
    pair.drive();
    assert_eq!(pair.live().summaries(), ["connect", "getData /a #1"]);

    pair.release_handshake();
    assert_eq!(
        pair.live().summaries(),
        ["connect", "getData /a #1", "create /b #2", "getData /b #3"]
    );
    assert_reply(&pair, r1, ErrorCode::Ok);
    assert_reply(&pair, c, ErrorCode::Ok);
    assert_reply(&pair, r2, ErrorCode::Ok);

    // A watching read while the handshake is outstanding waits for the response.
    pair.drop_connection();
    pair.drive();
    let w = pair.submit(pair.get_data("/a", Some(9)));
    pair.drive();
    assert_eq!(pair.live().summaries(), ["connect"]);
    pair.release_handshake();
    assert_eq!(pair.live().summaries(), ["connect", "getData /a #4"]);
    assert_reply(&pair, w, ErrorCode::Ok);
}

#[test]
fn a_read_made_after_an_add_auth_during_a_primed_handshake_goes_after_that_auth() {
    for prime_connection in [true, false] {
        let cfg = SessionConfig {
            prime_connection,
            ..config()
        };
        let mut pair = reconnecting_with_a_held_handshake(cfg);
        pair.drive();
        assert_eq!(pair.live().summaries(), ["connect"]);
        // While the handshake is outstanding: an auth, then a read it may be needed for.
        let auth = pair.add_auth("digest", "u:p");
        let r = pair.submit(pair.get_data("/a", None));
        pair.drive();
        pair.release_handshake();
        assert_reply(&pair, auth, ErrorCode::Ok);
        assert_reply(&pair, r, ErrorCode::Ok);
        assert_eq!(
            pair.live().summaries(),
            ["connect", "auth digest u:p", "getData /a #1"],
            "primed: {prime_connection}"
        );
    }
}

#[test]
fn a_refused_handshake_with_nothing_behind_its_connect_request_keeps_priming_on() {
    let mut pair = Pair::connected("h1:2181", config());
    pair.server.put("/a", b"A");
    pair.script_host("h1", &[HostBehavior::CloseOnHandshake]);
    pair.drop_connection();
    // Refused with nothing queued: the next attempt may still prime.
    pair.drive();
    assert_eq!(pair.conns[1].summaries(), ["connect"]);
    pair.server.hold_handshake = true;
    let r = pair.submit(pair.get_data("/a", None));
    pair.run_until(secs(5), |p| {
        p.conns.len() == 3 && !p.live().summaries().is_empty()
    });
    pair.drive();
    assert_eq!(pair.live().summaries(), ["connect", "getData /a #1"]);
    pair.release_handshake();
    assert_reply(&pair, r, ErrorCode::Ok);
}

#[test]
fn without_priming_a_reconnect_sends_the_connect_request_alone_until_its_response() {
    let cfg = SessionConfig {
        prime_connection: false,
        ..config()
    };
    let mut pair = reconnecting_with_a_held_handshake(cfg);
    let r = pair.submit(pair.get_data("/a", None));
    pair.drive();
    assert_eq!(pair.live().summaries(), ["connect"]);
    pair.release_handshake();
    assert_eq!(pair.live().summaries(), ["connect", "getData /a #1"]);
    assert_reply(&pair, r, ErrorCode::Ok);
}

#[test]
fn reads_primed_on_a_refused_handshake_wait_again_and_the_next_attempt_sends_the_connect_request_alone()
 {
    let mut pair = Pair::connected("h1:2181", config());
    pair.server.put("/a", b"A");
    pair.script_host("h1", &[HostBehavior::CloseOnHandshake]);
    pair.drop_connection();
    let r = pair.submit(pair.get_data("/a", None));
    let c = pair.submit(pair.create("/b", b""));
    pair.run_until(secs(5), |p| p.result(c).is_some());

    let n = pair.conns.len();
    assert_eq!(n, 3, "the first, the refused one, the next");
    assert_eq!(pair.conns[1].summaries(), ["connect", "getData /a #1"]);
    // The read was never run: it waits again and goes out after the next response, with the
    // write behind it, and succeeds (no ConnectionLoss for a read the server dropped unread).
    assert_eq!(
        pair.conns[2].summaries(),
        ["connect", "getData /a #2", "create /b #3"]
    );
    assert_reply(&pair, r, ErrorCode::Ok);
    assert_reply(&pair, c, ErrorCode::Ok);
    assert!(completed_at(&pair, r) < completed_at(&pair, c));

    // That handshake succeeded: the next reconnect is primed again.
    pair.drop_connection();
    pair.server.hold_handshake = true;
    let r2 = pair.submit(pair.get_data("/a", None));
    pair.drive();
    assert_eq!(pair.live().summaries(), ["connect", "getData /a #4"]);
    pair.release_handshake();
    assert_reply(&pair, r2, ErrorCode::Ok);
}

#[test]
fn a_primed_read_that_times_out_during_a_slow_handshake_fails_alone_and_its_late_reply_is_dropped()
{
    let cfg = SessionConfig {
        request_timeout: Some(ms(500)),
        ..config()
    };
    let mut pair = reconnecting_with_a_held_handshake(cfg);
    let r = pair.submit(pair.get_data("/a", None));
    pair.drive();
    assert_eq!(pair.live().summaries(), ["connect", "getData /a #1"]);
    pair.advance(ms(600));
    assert_eq!(pair.error(r), Error::Timeout);
    assert_eq!(pair.session.queued(), 1, "its place is kept for its reply");

    // The handshake completes after all: the reply is matched and dropped, and the session
    // goes on.
    pair.release_handshake();
    assert!(pair.session.state().is_connected());
    assert_eq!(pair.session.queued(), 0);
    let r2 = pair.submit(pair.get_data("/a", None));
    pair.drive();
    assert_reply(&pair, r2, ErrorCode::Ok);
    assert_eq!(pair.disconnects(), 0);
}

#[test]
fn a_watch_removed_while_a_primed_set_watches_is_on_its_way_is_removed_after_the_response() {
    let mut pair = Pair::connected("h1:2181", config());
    pair.server.put("/a", b"A");
    let w = pair.submit(pair.get_data("/a", Some(1)));
    pair.drive();
    assert_reply(&pair, w, ErrorCode::Ok);
    pair.drop_connection();
    pair.server.hold_handshake = true;
    pair.drive();
    assert_eq!(pair.live().summaries(), ["connect", "setWatches"]);
    // The watcher goes while the handshake is outstanding: the SetWatches re-armed it.
    pair.session
        .remove_watcher(pair.now, "/a", WatchKind::Data, 1);
    pair.release_handshake();
    assert_eq!(
        pair.live().summaries(),
        ["connect", "setWatches", "removeWatches /a #2"]
    );
}

// ----- the ensemble behind the client -----

#[test]
fn every_host_refusing_the_handshake_for_max_refused_rounds_ends_in_ensemble_behind() {
    // The client has seen 0x1000; the ensemble is at 0x10: every server closes the connection
    // without a ConnectResponse (ZooKeeperServer.processConnectRequest).
    let cfg = SessionConfig {
        last_zxid_seen: 0x1000,
        max_refused_rounds: 3,
        min_refused_time: Some(Duration::ZERO),
        ..config()
    };
    let mut pair = Pair::new("h1:2181,h2:2181,h3:2181", cfg);
    let a = pair.submit(pair.get_data("/", None));
    pair.run_until(secs(5), |p| p.session.is_terminal());

    assert_eq!(pair.connect_hosts().len(), 9, "three rounds of three hosts");
    for conn in &pair.conns {
        assert_eq!(conn.connect_request().unwrap().last_zxid_seen, 0x1000);
    }
    assert_eq!(
        pair.state_list(),
        [SessionState::Connecting, SessionState::EnsembleBehind]
    );
    let behind = Error::EnsembleBehind {
        last_zxid_seen: 0x1000,
    };
    assert_eq!(pair.error(a), behind);
    let b = pair.submit(pair.get_data("/", None));
    pair.drive();
    assert_eq!(pair.error(b), behind);
    pair.advance(secs(60));
    assert_eq!(pair.connect_hosts().len(), 9);
}

#[test]
fn refusals_shorter_than_the_minimum_time_are_a_starting_server_not_data_loss() {
    // Three quick rounds of refusals (a server that is still loading its database closes
    // connections too) do not end the session before the minimum time.
    let cfg = SessionConfig {
        last_zxid_seen: 0x1000,
        max_refused_rounds: 3,
        min_refused_time: Some(secs(30)),
        ..config()
    };
    let mut pair = Pair::new("h1:2181,h2:2181,h3:2181", cfg);
    pair.run_until(secs(5), |p| p.connect_hosts().len() >= 12);
    assert!(
        !pair.session.is_terminal(),
        "still trying after {} attempts",
        pair.connect_hosts().len()
    );
    pair.run_until(secs(60), |p| p.session.is_terminal());
    assert_eq!(
        pair.state_list().last(),
        Some(&SessionState::EnsembleBehind)
    );
}

#[test]
fn a_round_where_a_host_refused_tcp_is_not_counted_as_behind() {
    let cfg = SessionConfig {
        last_zxid_seen: 0x1000,
        max_refused_rounds: 3,
        ..config()
    };
    let mut pair = Pair::new("h1:2181,h2:2181,h3:2181", cfg);
    // h2 refuses TCP in the third round only (it is down, not behind).
    pair.script_host(
        "h2",
        &[
            HostBehavior::Accept,
            HostBehavior::Accept,
            HostBehavior::RefuseTcp,
        ],
    );
    pair.run_until(secs(5), |p| p.connect_hosts().len() >= 10);
    assert!(
        !pair.session.is_terminal(),
        "round 3 had a TCP refusal: {:?}",
        pair.state_list()
    );
    pair.run_until(secs(30), |p| p.session.is_terminal());
    assert_eq!(
        pair.state_list(),
        [SessionState::Connecting, SessionState::EnsembleBehind]
    );
    assert!(pair.connect_hosts().len() >= 12);
}

// ----- backpressure and queueing -----

#[test]
fn backpressure_keeps_at_most_max_in_flight_requests_on_the_wire() {
    let cfg = SessionConfig {
        max_in_flight: 3,
        ..config()
    };
    let mut pair = Pair::connected("h1:2181", cfg);
    pair.server.hold_replies = true;

    let mut tokens = Vec::new();
    for i in 0..6 {
        assert!(pair.session.wants_requests(), "before request {i}");
        tokens.push(pair.submit(pair.get_data("/", None)));
        pair.drive();
    }
    assert!(!pair.session.wants_requests(), "the local queue is full");
    assert_eq!(pair.live().requests().len(), 3);
    assert_eq!((pair.session.in_flight(), pair.session.queued()), (3, 3));

    pair.release(1);
    assert_eq!(pair.live().requests().len(), 4);
    assert!(pair.session.wants_requests());
    assert_eq!((pair.session.in_flight(), pair.session.queued()), (3, 2));

    for _ in 0..10 {
        let sent = pair.live().requests().len();
        let done = pair.completions.len();
        assert!(sent - done <= 3, "{sent} sent, {done} done");
        if done == 6 {
            break;
        }
        pair.release(1);
    }
    let xids: Vec<i32> = pair
        .live()
        .requests()
        .iter()
        .filter_map(|r| r.xid())
        .collect();
    assert_eq!(xids, [1, 2, 3, 4, 5, 6]);
    let order: Vec<u64> = pair.completions.iter().map(|c| c.token).collect();
    assert_eq!(order, tokens);
}

#[test]
fn pipelined_requests_wait_until_an_eighth_as_many_wait_as_are_in_flight_then_go_out_together() {
    let mut pair = Pair::connected("h1:2181", coalescing());
    pair.server.hold_replies = true;

    // Up to eight in flight, every request goes out at once.
    let mut tokens = Vec::new();
    for n in 1..=9 {
        tokens.push(pair.submit(pair.get_data("/", None)));
        pair.drive();
        assert_eq!(pair.live().requests().len(), n);
    }
    assert_eq!(pair.session.queued(), 0);

    // Nine in flight: the next one waits until a second one joins it (2 × 8 ≥ 9).
    tokens.push(pair.submit(pair.get_data("/", None)));
    pair.drive();
    assert_eq!(pair.live().requests().len(), 9);
    assert_eq!(pair.session.queued(), 1);
    tokens.push(pair.submit(pair.get_data("/", None)));
    pair.drive();
    assert_eq!(pair.live().requests().len(), 11);
    assert_eq!(pair.session.queued(), 0);

    // Eleven in flight, one waiting: replies let it go out once eight or fewer are in flight.
    tokens.push(pair.submit(pair.get_data("/", None)));
    pair.drive();
    assert_eq!(pair.live().requests().len(), 11);
    pair.release(2);
    assert_eq!(pair.live().requests().len(), 11, "9 in flight, 1 waiting");
    pair.release(1);
    assert_eq!(
        pair.live().requests().len(),
        12,
        "8 in flight, none waiting"
    );

    // Everything is answered, in order, with xids in submission order.
    pair.release(usize::MAX);
    pair.release(usize::MAX);
    let order: Vec<u64> = pair.completions.iter().map(|c| c.token).collect();
    assert_eq!(order, tokens);
    let xids: Vec<i32> = pair
        .live()
        .requests()
        .iter()
        .filter_map(|r| r.xid())
        .collect();
    assert_eq!(xids, (1..=12).collect::<Vec<i32>>());
}

/// A connected pair with `mode` whose server holds replies, and `n` getData requests in flight.
/// The default configuration with coalesced writes.
fn coalescing() -> SessionConfig {
    SessionConfig {
        coalesce_writes: true,
        ..config()
    }
}

/// The default configuration with the mark at the certain bytes.
fn certain() -> SessionConfig {
    SessionConfig {
        read_coalescing: ReadCoalescing::Certain,
        ..config()
    }
}

fn held_in_flight(mode: ReadCoalescing, n: usize) -> Pair {
    let cfg = SessionConfig {
        read_coalescing: mode,
        coalesce_writes: false,
        ..config()
    };
    let mut pair = Pair::connected("h1:2181", cfg);
    pair.server.hold_replies = true;
    for _ in 0..n {
        pair.submit(pair.get_data("/", None));
    }
    pair.drive();
    assert_eq!(pair.session.in_flight(), n);
    pair
}

#[test]
fn bytes_owed_count_a_reply_header_per_request_in_flight_and_none_while_a_ping_waits() {
    let mut pair = Pair::connected("h1:2181", certain());
    pair.server.hold_replies = true;
    pair.server.reply_pings = false;
    // One in flight: no mark (the smallest reply is all that is certain, wake for it).
    pair.submit(pair.get_data("/", None));
    pair.drive();
    assert_eq!(pair.session.min_bytes_owed(), 0);
    for _ in 0..7 {
        pair.submit(pair.get_data("/", None));
    }
    pair.drive();
    assert_eq!(pair.session.in_flight(), 8);
    assert_eq!(pair.session.min_bytes_owed(), 8 * 20);

    // Half a reply in the buffer may be one of the eight, nearly complete.
    let held = pair.live_mut().held.pop_front().expect("a held reply");
    let (head, tail) = held.split_at(10);
    pair.inject(head);
    assert_eq!(pair.session.min_bytes_owed(), 7 * 20 + 1);
    pair.inject(tail);
    assert_eq!(pair.session.in_flight(), 7);
    assert_eq!(pair.session.min_bytes_owed(), 7 * 20);

    // A ping is the liveness check: nothing may wait behind a mark while it is out.
    pair.advance(ms(2100));
    assert_eq!(pair.live().pings(), 1);
    assert_eq!(pair.session.min_bytes_owed(), 0);

    // Off by configuration: never a mark.
    let pair = held_in_flight(ReadCoalescing::Off, 8);
    assert_eq!(pair.session.min_bytes_owed(), 0);
}

#[test]
fn below_eight_in_flight_the_mark_is_the_frame_floor_which_holds_no_frame_back() {
    // Idle, and with a few requests out: every frame is at least 20 bytes.
    assert_eq!(
        Pair::connected("h1:2181", certain())
            .session
            .low_water_mark(),
        20
    );
    let cfg = SessionConfig {
        coalesce_writes: false,
        ..certain()
    };
    let mut pair = Pair::connected("h1:2181", cfg);
    pair.server.hold_replies = true;
    for n in 1..8 {
        pair.submit(pair.get_data("/", None));
        pair.drive();
        assert_eq!(pair.session.in_flight(), n);
        assert_eq!(pair.session.low_water_mark(), 20, "{n} in flight");
    }
    // The eighth makes the certain bytes worth a mark.
    let mut pair = held_in_flight(ReadCoalescing::Certain, 8);
    pair.server.reply_pings = false;
    assert_eq!(pair.session.low_water_mark(), 8 * 20);

    // Part of a frame in the buffer: the floor is the rest of that frame, at most 20.
    let held = pair.live_mut().held.pop_front().expect("a held reply");
    let frame_len = held.len();
    pair.inject(&held[..2]);
    assert_eq!(pair.session.in_flight(), 8);
    assert!(pair.session.low_water_mark() <= 7 * 20 + 1);
    let held2 = pair.live_mut().held.pop_front().expect("a held reply");
    pair.inject(&held[2..]);
    // Seven in flight, nothing buffered: the floor again.
    assert_eq!(pair.session.low_water_mark(), 20);
    pair.inject(&held2[..2]);
    assert_eq!(pair.session.low_water_mark(), 18);
    pair.inject(&held2[2..frame_len - 5]);
    assert_eq!(pair.session.low_water_mark(), 5);
    pair.inject(&held2[frame_len - 5..]);
    assert_eq!(pair.session.in_flight(), 6);
    assert_eq!(pair.session.low_water_mark(), 20);

    // While a ping waits the floor stays (its reply is 20 bytes).
    pair.advance(ms(2100));
    assert_eq!(pair.live().pings(), 1);
    assert_eq!(pair.session.low_water_mark(), 20);

    // No mark at all without an established connection, or when off.
    let pair = held_in_flight(ReadCoalescing::Off, 4);
    assert_eq!(pair.session.low_water_mark(), 0);
}

#[test]
fn the_expected_mark_is_half_of_the_replies_in_flight_at_their_usual_size() {
    // Adaptive (the default) computes the same mark; its driver decides by trial whether to
    // use it.
    assert_eq!(
        SessionConfig::default().read_coalescing,
        ReadCoalescing::Adaptive
    );
    for mode in [ReadCoalescing::Expected, ReadCoalescing::Adaptive] {
        expected_mark(mode);
    }

    // Certain waits for the certain bytes only.
    let pair = held_in_flight(ReadCoalescing::Certain, 16);
    assert_eq!(pair.session.low_water_mark(), 16 * 20);
    assert_eq!(pair.session.low_water_mark(), pair.session.min_bytes_owed());

    // With the mark off there is none.
    let pair = held_in_flight(ReadCoalescing::Off, 16);
    assert_eq!(pair.session.low_water_mark(), 0);
}

/// Half of 16 replies of 192 bytes, learnt from 40 earlier replies, with `mode`.
fn expected_mark(mode: ReadCoalescing) {
    let cfg = SessionConfig {
        read_coalescing: mode,
        coalesce_writes: false,
        ..config()
    };
    let mut pair = Pair::connected("h1:2181", cfg);
    pair.server.put("/d", &[7; 100]);
    // Replies of 192 bytes (length, header, data, Stat) teach the average.
    for _ in 0..40 {
        pair.submit(pair.get_data("/d", None));
        pair.drive();
    }
    assert_eq!(pair.completions.len(), 40);
    pair.server.hold_replies = true;
    for _ in 0..16 {
        pair.submit(pair.get_data("/d", None));
    }
    pair.drive();
    assert_eq!(pair.session.in_flight(), 16);
    let mark = pair.session.low_water_mark();
    assert!((8 * 170..=8 * 192).contains(&mark), "{mark}");
    assert!(mark > pair.session.min_bytes_owed());

    // Bytes already read count against it.
    let held = pair.live_mut().held.pop_front().expect("a held reply");
    pair.inject(&held[..10]);
    assert_eq!(pair.session.low_water_mark(), mark - 10);
}

#[test]
fn without_coalescing_every_request_goes_out_at_once() {
    assert!(!SessionConfig::default().coalesce_writes, "off by default");
    let cfg = SessionConfig {
        coalesce_writes: false,
        ..config()
    };
    let mut pair = Pair::connected("h1:2181", cfg);
    pair.server.hold_replies = true;
    for n in 1..=5 {
        pair.submit(pair.get_data("/", None));
        pair.drive();
        assert_eq!(pair.live().requests().len(), n);
    }
    assert_eq!(pair.session.queued(), 0);
}

#[test]
fn a_request_held_for_coalescing_is_not_lost_with_the_connection_but_sent_after_it() {
    let mut pair = Pair::connected("h1:2181,h2:2181", coalescing());
    pair.server.hold_replies = true;
    let sent: Vec<u64> = (0..9)
        .map(|_| pair.submit(pair.get_data("/", None)))
        .collect();
    pair.drive();
    let held = pair.submit(pair.get_data("/", None));
    pair.drive();
    assert_eq!(pair.live().requests().len(), 9);
    assert_eq!(pair.session.queued(), 1);

    pair.drop_connection();
    pair.server.hold_replies = false;
    pair.drive();
    // The two on the wire may or may not have run: ConnectionLoss. The held one never left.
    for t in sent {
        assert_eq!(pair.error(t), Error::ConnectionLoss);
    }
    pair.run_until(secs(5), |p| p.result(held).is_some());
    assert_reply(&pair, held, ErrorCode::Ok);
}

#[test]
fn a_request_made_while_disconnected_times_out_after_the_request_timeout() {
    let cfg = SessionConfig {
        request_timeout: Some(secs(3)),
        ..config()
    };
    let mut pair = Pair::new("h1:2181,h2:2181", cfg);
    pair.set_host("h1", HostBehavior::RefuseTcp);
    pair.set_host("h2", HostBehavior::RefuseTcp);
    pair.advance(ms(500));
    let a = pair.submit(pair.get_data("/", None));
    pair.advance(ms(2999));
    assert!(pair.result(a).is_none());
    pair.advance(ms(1));
    assert_eq!(pair.error(a), Error::Timeout);
    assert_eq!(pair.completions[0].at, ms(3500));
    // The session itself keeps trying.
    assert!(!pair.session.is_terminal());
    let attempts = pair.connect_hosts().len();
    pair.advance(secs(5));
    assert!(pair.connect_hosts().len() > attempts);
}

#[test]
fn xids_start_at_one_and_are_not_used_by_pings_auth_or_set_watches() {
    // The wrap from i32::MAX to 1 is not tested: the public API cannot reach it without 2^31
    // requests.
    let mut pair = Pair::connected("h1:2181,h2:2181", config());
    pair.add_auth("digest", "u:p");
    for _ in 0..3 {
        pair.submit(pair.get_data("/", Some(9)));
    }
    pair.advance(ms(2000));
    assert_eq!(pair.live().pings(), 1);
    pair.drop_connection();
    pair.submit(pair.get_data("/", None));
    pair.drive();
    let xids: Vec<i32> = pair
        .conns
        .iter()
        .flat_map(|c| c.frames.iter().filter_map(Rx::xid))
        .collect();
    // auth -4, three requests, ping -2, then on the new connection auth -4, setWatches -8 and
    // the next request.
    assert_eq!(xids, [-4, 1, 2, 3, -2, -4, -8, 4]);
}

// ----- watches -----

#[test]
fn notifications_fire_the_matching_watchers_with_the_chroot_stripped() {
    let mut pair = Pair::new("h1:2181/app", config());
    pair.server.put("/app", b"");
    pair.server.put("/app/a", b"A");
    pair.server.put("/app/b", b"B");
    pair.drive();

    pair.submit(pair.get_data("/a", Some(1)));
    pair.submit(pair.exists("/a", Some(2)));
    let missing = pair.submit(pair.exists("/new", Some(3)));
    pair.submit(pair.get_children("/a", Some(4)));
    pair.submit(pair.get_data("/b", Some(5)));
    pair.submit(pair.get_children("/b", Some(6)));
    pair.drive();
    assert_reply(&pair, missing, ErrorCode::NoNode);
    // exists on a present node is a data watch; on a missing node, an exist watch.
    let lists = pair.session.watches().server_lists();
    assert_eq!(lists[0], ["/a", "/b"]);
    assert_eq!(lists[1], ["/new"]);
    assert_eq!(lists[2], ["/a", "/b"]);

    let event = |event_type, path: &str| WatchedEvent {
        event_type,
        state: KeeperState::SyncConnected,
        path: path.to_owned(),
    };
    let fired = |pair: &Pair| -> Vec<(Vec<u64>, WatchedEvent)> {
        pair.fired
            .iter()
            .map(|f| (f.watchers.clone(), f.event.clone()))
            .collect()
    };

    pair.external(|s| {
        s.set_data("/app/a", b"A2", -1).unwrap();
    });
    assert_eq!(
        fired(&pair),
        [(vec![1, 2], event(EventType::NodeDataChanged, "/a"))]
    );
    pair.external(|s| s.create("/app/a/x", b"", 0).unwrap());
    pair.external(|s| s.create("/app/new", b"", 0).unwrap());
    pair.external(|s| s.delete("/app/b", -1).unwrap());
    assert_eq!(
        fired(&pair)[1..],
        [
            (vec![4], event(EventType::NodeChildrenChanged, "/a")),
            (vec![3], event(EventType::NodeCreated, "/new")),
            (vec![5, 6], event(EventType::NodeDeleted, "/b")),
        ]
    );

    // One-shot: every watch is gone, and a stray notification fires nothing.
    assert!(pair.session.watches().is_empty());
    pair.inject_notification(EventType::NodeDataChanged, "/app/a", -1);
    assert_eq!(pair.fired.len(), 4);
}

#[test]
fn expiry_tells_every_watcher_and_fails_requests_queued_while_disconnected() {
    let mut pair = Pair::new("h1:2181,h2:2181/app", config());
    pair.server.put("/app", b"");
    pair.server.put("/app/a", b"A");
    pair.drive();
    pair.submit(pair.get_data("/a", Some(1)));
    pair.submit(pair.exists("/gone", Some(2)));
    pair.submit(pair.get_children("/a", Some(3)));
    pair.drive();
    assert_eq!(pair.session.watches().len(), 3);

    // The server expires the session and closes the connection; requests wait for the next.
    pair.expire_session();
    let q1 = pair.submit(pair.get_data("/a", None));
    let q2 = pair.submit(pair.create("/b", b""));
    pair.drive();

    let hello = pair.last_conn().connect_request().unwrap();
    assert_ne!(hello.session_id, 0, "the reconnection tries to resume");
    assert_eq!(
        pair.state_list(),
        [
            SessionState::Connecting,
            CONNECTED,
            SessionState::Disconnected,
            SessionState::Expired
        ]
    );
    assert_eq!(pair.error(q1), Error::SessionExpired);
    assert_eq!(pair.error(q2), Error::SessionExpired);
    let expired: Vec<_> = pair
        .fired
        .iter()
        .filter(|f| f.event.state == KeeperState::Expired)
        .collect();
    assert_eq!(expired.len(), 1, "{:?}", pair.fired);
    assert_eq!(expired[0].watchers, [1, 2, 3]);
    assert_eq!(
        expired[0].event,
        WatchedEvent::session(KeeperState::Expired)
    );
    assert!(pair.session.watches().is_empty());
    assert!(pair.session.is_terminal());
}

#[test]
fn set_watches_are_split_into_batches_of_about_128k_path_characters() {
    let mut pair = Pair::new("h1:2181,h2:2181/app", config());
    pair.server.put("/app", b"");
    let long = "x".repeat(1000);
    let mut expected = BTreeSet::new();
    for i in 0..300 {
        let path = format!("/w{i:03}-{long}");
        if i % 2 == 0 {
            pair.server.put(&format!("/app{path}"), b"");
        }
        expected.insert(format!("/app{path}"));
    }
    pair.drive();
    for (i, path) in expected.iter().enumerate() {
        let client_path = path.strip_prefix("/app").unwrap();
        let request = if i % 2 == 0 {
            pair.get_data(client_path, Some(i as u64))
        } else {
            pair.exists(client_path, Some(i as u64))
        };
        pair.submit(request);
    }
    pair.drive();
    assert_eq!(pair.session.watches().len(), 300);
    let zxid = pair.session.last_zxid_seen();

    pair.drop_connection();
    let after = pair.submit(pair.get_data("/", None));
    pair.drive();
    assert_reply(&pair, after, ErrorCode::Ok);

    let conn = pair.last_conn();
    let batches = set_watches(&conn.frames);
    assert!(batches.len() >= 3, "{} batches", batches.len());
    let longest = expected.iter().map(String::len).max().unwrap();
    let mut seen = BTreeSet::new();
    for (i, (rel, data, exist, child)) in batches.iter().enumerate() {
        assert_eq!(*rel, zxid);
        let chars: usize = data.iter().chain(exist).chain(child).map(String::len).sum();
        assert!(
            chars <= SET_WATCHES_MAX_LENGTH + longest,
            "batch {i}: {chars} characters"
        );
        for p in data.iter().chain(exist).chain(child) {
            assert!(seen.insert(p.clone()), "{p} sent twice");
        }
    }
    assert_eq!(seen, expected);
    // Every SetWatches frame precedes the queued request.
    let summaries = conn.summaries();
    assert_eq!(summaries.last().unwrap(), "getData /app #301");
    assert!(pair.fired.is_empty());
}

// ----- close -----

#[test]
fn close_flushes_queued_requests_then_sends_close_session_and_its_reply_closes() {
    let cfg = SessionConfig {
        max_in_flight: 2,
        ..config()
    };
    let mut pair = Pair::connected("h1:2181", cfg);
    pair.server.hold_replies = true;
    let tokens: Vec<u64> = (0..4)
        .map(|_| pair.submit(pair.get_data("/", None)))
        .collect();
    pair.drive();
    let close = pair.close();
    pair.drive();
    for _ in 0..10 {
        if pair.session.is_terminal() {
            break;
        }
        pair.release(usize::MAX);
    }

    let ops: Vec<String> = pair
        .last_conn()
        .requests()
        .iter()
        .map(|r| r.summary())
        .collect();
    assert_eq!(
        ops,
        [
            "getData / #1",
            "getData / #2",
            "getData / #3",
            "getData / #4",
            "closeSession #5"
        ]
    );
    for t in &tokens {
        assert_reply(&pair, *t, ErrorCode::Ok);
    }
    assert!(pair.result(close).is_some_and(Result::is_ok));
    assert_eq!(pair.state_list().last(), Some(&SessionState::Closed));
    assert_eq!(
        pair.actions.last().map(|(_, a)| a),
        Some(&Action::Disconnect)
    );

    // Nothing after Closed: no state, no watch event, no reconnect.
    let (states, fired, actions) = (pair.states.len(), pair.fired.len(), pair.actions.len());
    pair.advance(secs(60));
    let late = pair.submit(pair.get_data("/", None));
    pair.drive();
    assert_eq!(pair.error(late), Error::Closed);
    assert_eq!(
        (pair.states.len(), pair.fired.len(), pair.actions.len()),
        (states, fired, actions)
    );
    assert_eq!(pair.session.poll_timeout(), None);
}

#[test]
fn close_without_a_reply_closes_after_the_close_timeout() {
    let mut pair = Pair::connected("h1:2181", config());
    pair.submit(pair.get_data("/", Some(1)));
    pair.drive();
    pair.live_mut().mute = true;
    let pending = pair.submit(pair.get_data("/", None));
    let close = pair.close();
    pair.drive();
    assert_eq!(
        pair.live().requests().last().map(|r| r.summary()),
        Some("closeSession #3".to_owned())
    );

    pair.advance(ms(1999));
    assert!(!pair.session.is_terminal());
    assert!(pair.result(close).is_none());
    pair.advance(ms(1));
    assert!(pair.session.is_terminal());
    assert_eq!(pair.state_list().last(), Some(&SessionState::Closed));
    assert!(pair.result(close).is_some_and(Result::is_ok));
    assert_eq!(pair.error(pending), Error::Closed);
    assert!(
        pair.fired
            .iter()
            .any(|f| f.watchers == [1] && f.event == WatchedEvent::session(KeeperState::Closed))
    );

    let (states, fired) = (pair.states.len(), pair.fired.len());
    pair.advance(secs(60));
    assert_eq!((pair.states.len(), pair.fired.len()), (states, fired));
    assert_eq!(pair.connect_hosts().len(), 1);
}

#[test]
fn close_timeout_drops_the_connection() {
    // Every other way to a terminal state with a connection open asks the driver to drop it
    // (CloseSession reply, read timeout while closing, expiry, auth failure).
    let mut pair = Pair::connected("h1:2181", config());
    pair.live_mut().mute = true;
    pair.close();
    pair.drive();
    pair.advance(ms(2000));
    assert!(pair.session.is_terminal());
    assert_eq!(
        pair.disconnects(),
        1,
        "Closed after the close timeout without Action::Disconnect: the socket stays open"
    );
}

// ----- authentication -----

#[test]
fn auth_failed_is_terminal() {
    let mut pair = Pair::connected("h1:2181,h2:2181", config());
    pair.server.reject_auth_schemes = vec!["digest".to_owned()];
    pair.submit(pair.get_data("/", Some(1)));
    pair.drive();

    let auth = pair.add_auth("digest", "bad:pw");
    let pending = pair.submit(pair.get_data("/", None));
    pair.drive();

    assert_eq!(pair.error(auth), Error::AuthFailed);
    assert_eq!(pair.error(pending), Error::AuthFailed);
    assert_eq!(pair.state_list().last(), Some(&SessionState::AuthFailed));
    assert!(pair.session.is_terminal());
    assert!(
        pair.fired
            .iter()
            .any(|f| f.watchers == [1] && f.event == WatchedEvent::session(KeeperState::AuthFailed))
    );
    let later = pair.submit(pair.get_data("/", None));
    pair.drive();
    assert_eq!(pair.error(later), Error::AuthFailed);
    pair.advance(secs(60));
    assert_eq!(pair.connect_hosts().len(), 1, "no reconnection");
}

// ----- further behaviours -----

#[test]
fn frames_split_at_every_byte_are_reassembled() {
    let mut pair = Pair::new("h1:2181", config());
    pair.chunk = Some(1);
    pair.server.put("/a", b"hello");
    let t = pair.submit(pair.get_data("/a", Some(1)));
    pair.drive();
    assert_reply(&pair, t, ErrorCode::Ok);
    let body: GetDataResponse =
        zk_proto::from_bytes(pair.reply(t).body.clone(), "GetDataResponse").unwrap();
    assert_eq!(body.data.as_deref(), Some(&b"hello"[..]));
    pair.external(|s| {
        s.set_data("/a", b"x", -1).unwrap();
    });
    assert_eq!(pair.fired.len(), 1);
    assert_eq!(pair.fired[0].event.path, "/a");
}

#[test]
fn state_accessor_agrees_with_the_reported_read_only_state() {
    let cfg = SessionConfig {
        read_only: true,
        ..config()
    };
    let mut pair = Pair::new("h1:2181", cfg);
    pair.server.read_only = true;
    pair.drive();
    let reported = *pair.state_list().last().unwrap();
    assert_eq!(reported, SessionState::Connected { read_only: true });
    assert_eq!(
        pair.session.state(),
        reported,
        "Session::state() disagrees with the state event"
    );
}

#[test]
fn a_forgotten_watcher_asks_the_server_nothing_and_is_not_re_armed_after_a_reconnect() {
    let mut pair = Pair::connected("h1:2181", config());
    pair.server.put("/a", b"");
    pair.server.put("/b", b"");
    pair.submit(pair.get_data("/a", Some(1)));
    pair.submit(pair.get_data("/b", Some(2)));
    pair.drive();
    let now = pair.now;
    pair.session
        .forget_watcher_everywhere(now, WatchKind::Data, 1);
    pair.drive();
    assert!(
        !pair
            .live()
            .summaries()
            .iter()
            .any(|s| s.starts_with("removeWatches")),
        "{:?}",
        pair.live().summaries()
    );
    pair.drop_connection();
    pair.drive();
    let zxid = pair.session.last_zxid_seen();
    assert_eq!(
        set_watches(&pair.last_conn().frames),
        [(zxid, vec!["/b".to_owned()], vec![], vec![])]
    );
}

#[test]
fn removing_the_last_watcher_reaches_the_server_even_while_requests_wait() {
    let cfg = SessionConfig {
        max_in_flight: 1,
        ..config()
    };
    let mut pair = Pair::connected("h1:2181", cfg);
    pair.server.put("/a", b"");
    pair.submit(pair.get_data("/a", Some(1)));
    pair.drive();
    pair.server.hold_replies = true;
    pair.submit(pair.get_data("/", None));
    pair.submit(pair.get_data("/", None));
    pair.drive();
    assert_eq!(pair.session.queued(), 1);

    let now = pair.now;
    pair.session.remove_watcher(now, "/a", WatchKind::Data, 1);
    for _ in 0..5 {
        pair.release(usize::MAX);
    }
    assert_eq!(pair.completions.len(), 3);
    assert!(
        pair.live()
            .summaries()
            .iter()
            .any(|s| s.starts_with("removeWatches /a")),
        "removeWatches never sent: {:?}",
        pair.live().summaries()
    );
}
