//! A deterministic fuzz-style driver of the sans-IO [`Session`], in the style of quinn's
//! `fuzz/fuzz_targets/streams.rs`: the input bytes are read as a program of operations
//! (requests submitted, server frames valid and invalid, disconnects, failed connects, clock
//! advances, close) run against a `Session<u64>` on a simulated clock, with the session's
//! invariants checked after every step.
//!
//! The invariants ([`drive`] panics, naming the step, when one breaks):
//! - at most one ping in flight on a connection;
//! - every request's token comes back exactly once in [`Event::Completed`] (none twice, none
//!   unknown, and none missing once the session is closed and its timers have run out);
//! - no state change, watch event or connection attempt after a terminal state (`Closed`,
//!   `Expired`, `AuthFailed`, `EnsembleBehind`), and no completion except the immediate refusal
//!   of a request submitted after it;
//! - no more requests on the wire than `max_in_flight`;
//! - the receive low-water mark ([`Session::low_water_mark`]) never above the certain bytes
//!   or the 20-byte frame floor; its floor ([`Session::min_bytes_owed`]) at most 20 bytes per
//!   request in flight and 0 without a connection;
//! - no panic inside the session.
//!
//! Nothing here reads the real clock for its logic (one `Instant` is taken as the origin), sleeps
//! or touches the network.

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use zk_proto::frame::{FrameDecoder, write_frame};
use zk_proto::header::{AUTH_XID, NOTIFICATION_XID, PING_XID, SET_WATCHES_XID};
use zk_proto::{
    ConnectResponse, CreateMode, CreateRequest, CreateResponse, ErrorCode, EventType,
    ExistsRequest, GetChildrenRequest, GetChildrenResponse, GetDataRequest, GetDataResponse, Jute,
    KeeperState, OpCode, Reader, ReplyHeader, RequestHeader, SetDataRequest, SetDataResponse, Stat,
    WatcherEvent,
};
use zk_session::{
    Action, ConnectString, Event, EventFilter, OutgoingRequest, Session, SessionConfig,
    SessionState, WatchKind, WatchRegistration,
};

/// The most requests the driven session keeps on the wire (small, so that the queue behind the
/// limit is exercised).
pub const MAX_IN_FLIGHT: usize = 4;

/// What one run of [`drive`] exercised, to show that inputs reach deep states.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DriveStats {
    /// Operations interpreted.
    pub steps: usize,
    /// Requests submitted (tokens handed out, close included).
    pub submitted: usize,
    /// Completions received.
    pub completed: usize,
    /// Completions that were successes.
    pub succeeded: usize,
    /// Handshakes that connected.
    pub connected: usize,
    /// Connections the session dropped or lost.
    pub disconnects: usize,
    /// Watch events delivered.
    pub watch_events: usize,
    /// Pings the session sent.
    pub pings: usize,
    /// Whether the run reached a terminal state before the final close.
    pub terminal_early: bool,
}

impl std::ops::AddAssign for DriveStats {
    fn add_assign(&mut self, o: Self) {
        self.steps += o.steps;
        self.submitted += o.submitted;
        self.completed += o.completed;
        self.succeeded += o.succeeded;
        self.connected += o.connected;
        self.disconnects += o.disconnects;
        self.watch_events += o.watch_events;
        self.pings += o.pings;
        self.terminal_early |= o.terminal_early;
    }
}

/// A cursor over the input; reads past the end give zeros.
struct Input<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Input<'_> {
    fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn u8(&mut self) -> u8 {
        let b = self.bytes.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn u16(&mut self) -> u16 {
        u16::from(self.u8()) << 8 | u16::from(self.u8())
    }

    fn take(&mut self, n: usize) -> &[u8] {
        let start = self.pos.min(self.bytes.len());
        let end = (start + n).min(self.bytes.len());
        self.pos = end.max(self.pos + 1);
        &self.bytes[start..end]
    }
}

/// The server's side of the current connection.
#[derive(Default)]
struct Conn {
    /// The attempt id the session gave this connection.
    id: u64,
    /// Whether the driver has reported it open.
    open: bool,
    /// Whether the ConnectRequest arrived.
    got_connect: bool,
    /// Whether a ConnectResponse was sent.
    handshaken: bool,
    /// Bytes from the client not yet split into frames.
    rx: BytesMut,
    /// Requests received (xid > 0), oldest first.
    requests: VecDeque<(i32, OpCode)>,
    /// Pings received and not answered.
    pings: usize,
    /// Auth packets received and not answered.
    auths: usize,
    /// SetWatches received and not answered.
    set_watches: usize,
}

struct Driver {
    session: Session<u64>,
    now: Instant,
    conn: Conn,
    /// The attempt the session asked for and the driver has not yet opened or failed.
    pending_attempt: Option<u64>,
    session_id: i64,
    zxid: i64,
    next_token: u64,
    next_watcher: u64,
    outstanding: BTreeSet<u64>,
    /// Tokens submitted while terminal: their immediate completion is expected.
    refused_after_end: BTreeSet<u64>,
    /// Tokens of close calls: they complete with success, also after the end.
    close_tokens: BTreeSet<u64>,
    terminal_seen: bool,
    /// Set while processing the step that made the session terminal.
    terminal_this_step: bool,
    watchers: Vec<(String, WatchKind, u64)>,
    step: usize,
    stats: DriveStats,
    /// `FUZZ_TRACE` set: every step is printed (for reproducing a failing input).
    trace: bool,
}

const PATHS: [&str; 4] = ["/a", "/a/b", "/c", "/"];

fn check(cond: bool, step: usize, what: impl FnOnce() -> String) {
    assert!(cond, "invariant broken at step {step}: {}", what());
}

impl Driver {
    fn new(seed: u64) -> Self {
        let config = SessionConfig {
            session_timeout: Duration::from_secs(6),
            max_in_flight: MAX_IN_FLIGHT,
            seed: Some(seed),
            probe_server_version: false,
            max_refused_rounds: 2,
            // Coalesced writes (off by default) and the certain-bytes mark, whose invariants
            // the checks below assume.
            read_coalescing: zk_session::ReadCoalescing::Certain,
            coalesce_writes: true,
            ..SessionConfig::default()
        };
        let connect: ConnectString = "h1:2181,h2:2181"
            .parse()
            .expect("a valid connection string");
        let now = Instant::now();
        let mut d = Driver {
            session: Session::new(config, connect, now),
            now,
            conn: Conn::default(),
            pending_attempt: None,
            session_id: 0,
            zxid: 0,
            next_token: 1,
            next_watcher: 1,
            outstanding: BTreeSet::new(),
            refused_after_end: BTreeSet::new(),
            close_tokens: BTreeSet::new(),
            terminal_seen: false,
            terminal_this_step: false,
            watchers: Vec::new(),
            step: 0,
            stats: DriveStats::default(),
            trace: std::env::var_os("FUZZ_TRACE").is_some(),
        };
        d.pump();
        d
    }

    /// Drains every output of the session, checking the invariants.
    fn pump(&mut self) {
        while let Some(action) = self.session.poll_action() {
            match action {
                Action::Connect { id, .. } => {
                    check(!self.terminal_seen, self.step, || {
                        "a connection attempt after the terminal state".into()
                    });
                    self.conn = Conn::default();
                    self.pending_attempt = Some(id);
                }
                Action::Disconnect => {
                    if self.conn.open {
                        self.stats.disconnects += 1;
                    }
                    self.conn = Conn::default();
                    self.pending_attempt = None;
                }
            }
        }
        while let Some(bytes) = self.session.poll_transmit() {
            if self.conn.open {
                self.conn.rx.extend_from_slice(&bytes);
            }
        }
        self.parse_client_frames();
        while let Some(event) = self.session.poll_event() {
            self.on_event(event);
        }
        // Close sends everything queued at once, then CloseSession (as its docs say), so the
        // limit holds until close is called.
        check(
            !self.close_tokens.is_empty() || self.conn.requests.len() <= MAX_IN_FLIGHT,
            self.step,
            || format!("{} requests on the wire", self.conn.requests.len()),
        );
        check(
            !self.close_tokens.is_empty() || self.session.in_flight() <= MAX_IN_FLIGHT,
            self.step,
            || format!("in_flight() = {}", self.session.in_flight()),
        );
        // The low-water mark's floor counts only what is certain: a reply header per request
        // in flight, nothing without an open connection.
        let owed = self.session.min_bytes_owed();
        check(
            owed <= 20 * self.session.in_flight() && (self.conn.open || owed == 0),
            self.step,
            || {
                format!(
                    "min_bytes_owed() = {owed} with {} in flight",
                    self.session.in_flight()
                )
            },
        );
        // The mark (default mode) never asks for more than is certain to come: at most the
        // frame floor (20 bytes, every frame being at least that), else the certain bytes;
        // none without a connection.
        let mark = self.session.low_water_mark();
        check(
            mark <= owed.max(20) && (self.conn.open || mark == 0),
            self.step,
            || format!("low_water_mark() = {mark}, min_bytes_owed() = {owed}"),
        );
    }

    fn parse_client_frames(&mut self) {
        // The client's frames are ours to check: the session must never write a bad one.
        let decoder = FrameDecoder::new(16 << 20);
        loop {
            let frame = match decoder.decode(&mut self.conn.rx) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => panic!("step {}: the client wrote a bad frame: {e}", self.step),
            };
            if !self.conn.got_connect {
                self.conn.got_connect = true;
                continue;
            }
            let mut r = Reader::new(frame);
            let header = RequestHeader::decode(&mut r, "RequestHeader")
                .unwrap_or_else(|e| panic!("step {}: bad request header: {e}", self.step));
            match header.xid {
                PING_XID => {
                    self.conn.pings += 1;
                    self.stats.pings += 1;
                    check(self.conn.pings <= 1, self.step, || {
                        format!("{} pings in flight", self.conn.pings)
                    });
                }
                AUTH_XID => self.conn.auths += 1,
                SET_WATCHES_XID => self.conn.set_watches += 1,
                xid => {
                    check(xid > 0, self.step, || format!("request with xid {xid}"));
                    self.conn.requests.push_back((xid, header.op));
                }
            }
        }
    }

    fn on_event(&mut self, event: Event<u64>) {
        match event {
            Event::Completed { token, result } => {
                self.stats.completed += 1;
                if result.is_ok() {
                    self.stats.succeeded += 1;
                }
                let known = self.outstanding.remove(&token);
                check(known, self.step, || {
                    format!("token {token} completed twice or never submitted ({result:?})")
                });
                if self.terminal_seen && !self.terminal_this_step {
                    check(self.refused_after_end.remove(&token), self.step, || {
                        format!("token {token} completed after the terminal state")
                    });
                    check(
                        result.is_err() || self.close_tokens.contains(&token),
                        self.step,
                        || format!("token {token} succeeded after the terminal state"),
                    );
                }
            }
            Event::Watch { watchers, event } => {
                check(
                    !self.terminal_seen || self.terminal_this_step,
                    self.step,
                    || format!("watch event {event:?} after the terminal state"),
                );
                self.stats.watch_events += watchers.len();
            }
            Event::State(ev) => {
                check(!self.terminal_seen, self.step, || {
                    format!("state {:?} after the terminal state", ev.state)
                });
                if ev.state.is_terminal() {
                    self.terminal_seen = true;
                    self.terminal_this_step = true;
                }
                if ev.state.is_connected() {
                    self.stats.connected += 1;
                }
            }
        }
    }

    fn token(&mut self) -> u64 {
        let t = self.next_token;
        self.next_token += 1;
        self.stats.submitted += 1;
        self.outstanding.insert(t);
        if self.session.is_terminal() {
            self.refused_after_end.insert(t);
        }
        t
    }

    fn send_to_client(&mut self, bytes: &[u8]) {
        if self.conn.open {
            let id = self.conn.id;
            self.session.handle_bytes(id, self.now, bytes);
        }
    }

    fn reply_frame(&mut self, xid: i32, err: ErrorCode, body: impl FnOnce(&mut BytesMut)) -> Bytes {
        self.zxid += 1;
        let zxid = self.zxid;
        let mut buf = BytesMut::new();
        write_frame(&mut buf, |b| {
            ReplyHeader { xid, zxid, err }.encode(b);
            body(b);
        });
        buf.freeze()
    }

    fn request(&mut self, input: &mut Input<'_>) -> (OutgoingRequest, Option<WatchRegistration>) {
        let path = PATHS[usize::from(input.u8()) % PATHS.len()].to_owned();
        let watch = input.u8().is_multiple_of(2);
        let kind = input.u8() % 5;
        let (request, watch_kind) = match kind {
            0 => (
                OutgoingRequest::encode(OpCode::GetData, |b| {
                    GetDataRequest {
                        path: Some(path.clone()),
                        watch,
                    }
                    .encode(b)
                }),
                WatchKind::Data,
            ),
            1 => (
                OutgoingRequest::encode(OpCode::Exists, |b| {
                    ExistsRequest {
                        path: Some(path.clone()),
                        watch,
                    }
                    .encode(b)
                }),
                WatchKind::Exist,
            ),
            2 => (
                OutgoingRequest::encode(OpCode::GetChildren, |b| {
                    GetChildrenRequest {
                        path: Some(path.clone()),
                        watch,
                    }
                    .encode(b)
                }),
                WatchKind::Child,
            ),
            3 => (
                OutgoingRequest::encode(OpCode::Create, |b| {
                    CreateRequest {
                        path: Some(path.clone()),
                        data: Some(Bytes::from_static(b"x")),
                        acl: Some(Vec::new()),
                        flags: CreateMode::Persistent,
                    }
                    .encode(b)
                }),
                WatchKind::Data,
            ),
            _ => (
                OutgoingRequest::encode(OpCode::SetData, |b| {
                    SetDataRequest {
                        path: Some(path.clone()),
                        data: Some(Bytes::from_static(b"y")),
                        version: -1,
                    }
                    .encode(b)
                }),
                WatchKind::Data,
            ),
        };
        let registration = (watch && kind <= 2).then(|| {
            let id = self.next_watcher;
            self.next_watcher += 1;
            WatchRegistration {
                path: path.into(),
                kind: watch_kind,
                id,
                events: EventFilter::ALL,
            }
        });
        (request, registration)
    }

    /// A valid reply body for `op`.
    fn body_for(op: OpCode, b: &mut BytesMut) {
        match op {
            OpCode::GetData => GetDataResponse {
                data: Some(Bytes::from_static(b"v")),
                stat: Stat::default(),
            }
            .encode(b),
            OpCode::Exists => Stat::default().encode(b),
            OpCode::GetChildren => GetChildrenResponse {
                children: Some(vec!["b".into()]),
            }
            .encode(b),
            OpCode::Create => CreateResponse {
                path: Some("/a".into()),
            }
            .encode(b),
            OpCode::SetData => SetDataResponse {
                stat: Stat::default(),
            }
            .encode(b),
            _ => {}
        }
    }

    fn error_code(sel: u8) -> ErrorCode {
        match sel % 8 {
            0..=3 => ErrorCode::Ok,
            4 => ErrorCode::NoNode,
            5 => ErrorCode::NodeExists,
            6 => ErrorCode::Unimplemented,
            _ => ErrorCode::Unknown(-12345),
        }
    }

    /// Interprets one operation.
    fn op(&mut self, input: &mut Input<'_>) {
        self.terminal_this_step = false;
        let op = input.u8();
        if self.trace {
            eprintln!(
                "step {} op {} {:?} wire {:?}",
                self.step,
                op % 20,
                self.session,
                self.conn.requests
            );
        }
        match op % 20 {
            // The pending TCP connect succeeds.
            0 | 1 => {
                if let Some(id) = self.pending_attempt.take() {
                    self.conn = Conn {
                        id,
                        open: true,
                        ..Conn::default()
                    };
                    self.session.handle_connected(id, self.now);
                }
            }
            // It fails.
            2 => {
                if let Some(id) = self.pending_attempt.take() {
                    self.session.handle_connect_failed(id, self.now);
                }
            }
            // The server answers the handshake.
            3 | 4 => {
                if self.conn.open && self.conn.got_connect && !self.conn.handshaken {
                    let sel = input.u8();
                    let time_out = match sel % 8 {
                        0 => 0,
                        1 => -1,
                        2 => 1,
                        _ => 4000,
                    };
                    if self.session_id == 0 || sel % 16 == 15 {
                        self.session_id = 0x1000 + i64::from(input.u8());
                    }
                    let response = ConnectResponse {
                        protocol_version: 0,
                        time_out,
                        session_id: self.session_id,
                        passwd: Some(Bytes::from_static(&[7; 16])),
                        read_only: Some(sel % 32 == 31),
                    };
                    let mut buf = BytesMut::new();
                    write_frame(&mut buf, |b| response.encode(b));
                    self.conn.handshaken = true;
                    self.send_to_client(&buf);
                }
            }
            // The server closes the connection during the handshake (it is behind us).
            5 => {
                if self.conn.open && !self.conn.handshaken {
                    let id = self.conn.id;
                    self.conn = Conn::default();
                    self.session.handle_disconnected(id, self.now);
                }
            }
            // A valid reply to the oldest request, possibly split in two reads.
            6..=8 => {
                if self.conn.handshaken
                    && let Some((xid, op)) = self.conn.requests.pop_front()
                {
                    let err = Self::error_code(input.u8());
                    let frame = self.reply_frame(xid, err, |b| {
                        if err.is_ok() {
                            Self::body_for(op, b);
                        }
                    });
                    let split = usize::from(input.u8()) % (frame.len() + 1);
                    self.send_to_client(&frame[..split]);
                    self.send_to_client(&frame[split..]);
                }
            }
            // A reply with a wrong xid, or to a request never made.
            9 => {
                if self.conn.handshaken {
                    let xid = i32::from(input.u16()) + 1;
                    if self.conn.requests.front().is_some_and(|(x, _)| *x == xid) {
                        // By chance the right one: a valid (empty) reply.
                        self.conn.requests.pop_front();
                    }
                    let frame = self.reply_frame(xid, ErrorCode::Ok, |_| {});
                    self.send_to_client(&frame);
                }
            }
            // Ping, auth and setWatches replies (also unsolicited ones).
            10 => {
                if self.conn.handshaken {
                    let which = input.u8();
                    let (xid, err) = match which % 4 {
                        0 | 1 => {
                            self.conn.pings = self.conn.pings.saturating_sub(1);
                            (PING_XID, ErrorCode::Ok)
                        }
                        2 => {
                            self.conn.auths = self.conn.auths.saturating_sub(1);
                            let err = if which % 16 == 2 {
                                ErrorCode::AuthFailed
                            } else {
                                ErrorCode::Ok
                            };
                            (AUTH_XID, err)
                        }
                        _ => {
                            self.conn.set_watches = self.conn.set_watches.saturating_sub(1);
                            (SET_WATCHES_XID, ErrorCode::Ok)
                        }
                    };
                    let frame = self.reply_frame(xid, err, |_| {});
                    self.send_to_client(&frame);
                }
            }
            // A notification, well-formed or not.
            11 => {
                if self.conn.handshaken {
                    let sel = input.u8();
                    let event_type = match sel % 5 {
                        0 => EventType::NodeCreated,
                        1 => EventType::NodeDeleted,
                        2 => EventType::NodeDataChanged,
                        3 => EventType::NodeChildrenChanged,
                        _ => EventType::Unknown(99),
                    };
                    let frame = self.reply_frame(NOTIFICATION_XID, ErrorCode::Ok, |b| {
                        match (sel / 5) % 6 {
                            0..=2 => WatcherEvent {
                                event_type,
                                state: KeeperState::SyncConnected,
                                path: Some(PATHS[usize::from(sel) % PATHS.len()].into()),
                            }
                            .encode(b),
                            3 => WatcherEvent {
                                event_type,
                                state: KeeperState::SyncConnected,
                                path: None,
                            }
                            .encode(b),
                            4 => {
                                // A path that is not UTF-8.
                                b.put_i32(event_type.as_i32());
                                b.put_i32(3);
                                b.put_i32(2);
                                b.put_slice(&[0xff, 0xfe]);
                            }
                            _ => {
                                // A path length past the end of the frame.
                                b.put_i32(event_type.as_i32());
                                b.put_i32(3);
                                b.put_i32(i32::MAX);
                            }
                        }
                    });
                    self.send_to_client(&frame);
                }
            }
            // Raw bytes from the input: garbage, truncated frames, huge or negative lengths.
            12 => {
                let n = usize::from(input.u8() % 24);
                let raw = input.take(n).to_vec();
                self.send_to_client(&raw);
            }
            // The connection drops (sometimes reported for a stale attempt id).
            13 => {
                if self.conn.open {
                    let id = self.conn.id;
                    let stale = input.u8().is_multiple_of(8);
                    if !stale {
                        self.conn = Conn::default();
                    }
                    let reported = if stale { id.wrapping_sub(1) } else { id };
                    self.session.handle_disconnected(reported, self.now);
                }
            }
            // Time passes; due timers fire.
            14 | 15 => {
                let ms = u64::from(input.u16()) % 8000;
                self.advance(Duration::from_millis(ms));
            }
            // Requests.
            16 | 17 => {
                let (request, watch) = self.request(input);
                let request = match watch {
                    Some(w) => {
                        self.watchers.push((w.path.to_string(), w.kind, w.id));
                        request.with_watch(w)
                    }
                    None => request,
                };
                let token = self.token();
                self.session.submit(self.now, request, token);
            }
            // Watchers removed, auth added.
            18 => {
                let sel = input.u8();
                if sel.is_multiple_of(2) && !self.watchers.is_empty() {
                    let (path, kind, id) = self
                        .watchers
                        .swap_remove(usize::from(sel) % self.watchers.len());
                    self.session.remove_watcher(self.now, &path, kind, id);
                } else {
                    let token = self.token();
                    self.session.add_auth(
                        self.now,
                        "digest".into(),
                        Bytes::from_static(b"u:p"),
                        token,
                    );
                }
            }
            // Close.
            _ => {
                if input.u8().is_multiple_of(4) {
                    let token = self.token();
                    self.close_tokens.insert(token);
                    self.session.close(self.now, token);
                }
            }
        }
        self.pump();
        if self.terminal_seen && self.terminal_this_step {
            self.stats.terminal_early = true;
        }
    }

    fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        // Each due timer fires at its own deadline, in order; bounded.
        for _ in 0..64 {
            match self.session.poll_timeout() {
                Some(at) if at <= target => {
                    self.now = self.now.max(at);
                    self.session.handle_timeout(self.now);
                    self.pump();
                }
                _ => break,
            }
        }
        self.now = self.now.max(target);
    }

    /// Closes the session and lets every timer run out; then nothing may be outstanding.
    fn finish(&mut self) {
        self.terminal_this_step = false;
        let token = self.token();
        self.close_tokens.insert(token);
        self.session.close(self.now, token);
        self.pump();
        for _ in 0..16 {
            if self.session.is_terminal() {
                break;
            }
            self.advance(Duration::from_secs(5));
        }
        check(self.session.is_terminal(), self.step, || {
            format!("not terminal after close: {:?}", self.session)
        });
        check(
            matches!(
                self.session.state(),
                SessionState::Closed
                    | SessionState::Expired
                    | SessionState::AuthFailed
                    | SessionState::EnsembleBehind
            ),
            self.step,
            || format!("state {:?}", self.session.state()),
        );
        check(self.outstanding.is_empty(), self.step, || {
            format!("tokens never completed: {:?}", self.outstanding)
        });
    }
}

/// Runs the program `bytes` against a fresh `Session<u64>` and checks the invariants listed in
/// the [module docs](self); panics with the step number when one breaks. Any input is valid:
/// missing bytes read as zeros. Deterministic: the same bytes always do the same thing.
pub fn drive(bytes: &[u8]) -> DriveStats {
    let seed = bytes
        .iter()
        .take(8)
        .fold(0u64, |s, b| s << 8 | u64::from(*b));
    let mut d = Driver::new(seed);
    let mut input = Input { bytes, pos: 0 };
    while !input.is_empty() && d.step < 10_000 {
        d.step += 1;
        d.op(&mut input);
    }
    d.finish();
    d.stats.steps = d.step;
    d.stats
}

/// A small deterministic generator (xorshift64*) for seeded inputs.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from `seed` (any value; zero is replaced).
    pub fn new(seed: u64) -> Self {
        XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// `len` pseudo-random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| (self.next_u64() >> 32) as u8).collect()
    }
}

/// The input of seeded run `seed`: 32 to 800 pseudo-random bytes. The low-numbered operations
/// that connect and answer the handshake are made more likely at the start, so that most runs
/// get past the handshake.
pub fn seeded_input(seed: u64) -> Vec<u8> {
    let mut rng = XorShift::new(seed);
    let len = 32 + (rng.next_u64() % 768) as usize;
    let mut bytes = rng.bytes(len);
    if !seed.is_multiple_of(4) && bytes.len() > 8 {
        // connect, handshake with a valid timeout.
        bytes[0] = 0;
        bytes[1] = 3;
        bytes[2] = 7;
    }
    bytes
}
