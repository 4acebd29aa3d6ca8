//! The sans-IO session state machine.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tracing::{debug, info, trace, warn};
use zk_proto::frame::{FrameDecoder, write_frame};
use zk_proto::header::{AUTH_XID, NOTIFICATION_XID, PING_XID, SET_WATCHES_XID};
use zk_proto::{
    AuthPacket, ConnectRequest, ConnectResponse, ErrorCode, EventType, GetSASLRequest, Jute,
    KeeperState, OpCode, Reader, RemoveWatchesRequest, ReplyHeader, RequestHeader, SetSASLResponse,
    SetWatches, SetWatches2, WatcherType,
};

use crate::config::{ConnectString, HostPort, ReadCoalescing, SessionConfig};
use crate::error::Error;
use crate::event::{SessionEvent, SessionState};
use crate::path::Chroot;
use crate::rng::Rng;
use crate::sasl::DigestMd5;
use crate::timers::{self, Timer, TimerTable};
use crate::watches::{EventFilter, WatchKind, WatchRegistry, WatchedEvent, WatcherId};

mod requests;
mod watch_modes;

use requests::{RegistersWatch, Requests};

/// The Java client's SetWatches batch limit (`ClientCnxn.SET_WATCHES_MAX_LENGTH`,
/// ZOOKEEPER-706): a batch closes once the lengths of its paths add up to 128 Ki characters.
pub const SET_WATCHES_MAX_LENGTH: usize = 128 * 1024;

/// The smallest reply frame: the length prefix and a [`ReplyHeader`]. Every frame the server
/// sends is at least this long, so a receive mark this low never holds one back.
pub(crate) const MIN_REPLY_FRAME: usize = 4 + 16;

/// A frame this large grows the receive buffer, which is given back once drained.
const LARGE: usize = 64 * 1024;

/// The mark waits for the replies of 1/`MARK_FRACTION` of the requests in flight: half of
/// them (a quarter until the twelfth round of PERFORMANCE.md: half took a third of the CPU
/// per pipelined call off and added throughput at 16 and 64 in flight and with 4 sessions,
/// while the server still has the other half to work on).
const MARK_FRACTION: usize = 2;

/// Coalesced writes wait until 1/`COALESCE_FRACTION` as many requests wait as are in flight.
const COALESCE_FRACTION: usize = 8;

/// Below this many requests in flight the mark stays at the frame floor: the certain bytes
/// (20 per request) are less than one ordinary reply, so a raised mark would batch nothing.
const MIN_MARK_IN_FLIGHT: usize = 8;

/// Replies larger than this count as this in the average reply size (one large read does not
/// raise the mark for the small ones after it).
const MAX_MARKED_REPLY: usize = 4096;

/// Byte offset of the xid in an encoded request frame (after the 4-byte length).
const XID_OFFSET: usize = 4;

/// A request ready to send: its op and its whole frame, encoded by the caller with a
/// placeholder xid that the session fills in.
#[derive(Debug, Clone)]
pub struct OutgoingRequest {
    /// The op code (also in the frame).
    pub op: OpCode,
    /// The frame: length prefix, [`RequestHeader`] with any xid, body. Paths in it already carry
    /// the chroot.
    pub frame: Bytes,
    /// The watch a successful reply registers.
    pub watch: Option<WatchRegistration>,
}

impl OutgoingRequest {
    /// Encodes a request with `op` and a body writer into a frame with a placeholder xid.
    pub fn encode(op: OpCode, body: impl FnOnce(&mut BytesMut)) -> Self {
        Self::encode_sized(op, 64, body)
    }

    /// As [`OutgoingRequest::encode`], reserving `body_len` bytes for the body up front, so that
    /// encoding allocates once.
    pub fn encode_sized(op: OpCode, body_len: usize, body: impl FnOnce(&mut BytesMut)) -> Self {
        let mut buf = BytesMut::with_capacity(4 + 8 + body_len);
        write_frame(&mut buf, |b| {
            RequestHeader { xid: 0, op }.encode(b);
            body(b);
        });
        Self {
            op,
            frame: buf.freeze(),
            watch: None,
        }
    }

    /// The same request, registering `watch` when it succeeds.
    pub fn with_watch(mut self, watch: WatchRegistration) -> Self {
        self.watch = Some(watch);
        self
    }
}

/// A watch a request registers when it succeeds.
#[derive(Debug, Clone)]
pub struct WatchRegistration {
    /// The client path (chroot stripped), shared with the watcher's handle.
    pub path: std::sync::Arc<str>,
    /// The kind. `Exist` becomes `Data` when the node exists, as on the server.
    pub kind: WatchKind,
    /// The local watcher.
    pub id: WatcherId,
    /// For a persistent kind, which node events the watcher is told of.
    pub events: EventFilter,
}

/// A server's reply to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The op of the request.
    pub op: OpCode,
    /// The server's zxid at the reply.
    pub zxid: i64,
    /// The result code; the body is empty unless it is OK or the op is multi.
    pub err: ErrorCode,
    /// The reply body, a slice of the received frame.
    pub body: Bytes,
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open a TCP connection to `host` (resolving it to all its addresses and trying each) and
    /// report back with `id`.
    Connect {
        /// The attempt's id, to pass to `handle_connected` and friends.
        id: u64,
        /// The server.
        host: HostPort,
    },
    /// Close the current connection, if any, without reporting it.
    Disconnect,
}

/// What the session reports.
#[derive(Debug)]
pub enum Event<C> {
    /// A request finished.
    Completed {
        /// The caller's token for the request.
        token: C,
        /// The reply, or why there is none.
        result: Result<Reply, Error>,
    },
    /// Watchers fired.
    Watch {
        /// The watchers to tell (one-shot ones are already removed).
        watchers: Vec<WatcherId>,
        /// What happened.
        event: WatchedEvent,
    },
    /// The session changed state.
    State(SessionEvent),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for a TCP connection.
    Connecting,
    /// ConnectRequest sent; waiting for the ConnectResponse.
    Handshaking,
    /// Requests flow.
    Connected,
    /// Waiting between rounds of hosts.
    Backoff,
    /// CloseSession sent; waiting for its reply.
    Closing,
    /// Terminal.
    Done(SessionState),
}

/// How an attempt's ConnectRequest went out ([`SessionConfig::prime_connection`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Priming {
    /// Alone: what follows it waits for its response.
    #[default]
    Off,
    /// Primed (auth replays, SetWatches and safe reads go right behind it), nothing behind it
    /// yet.
    Empty,
    /// Primed, with bytes behind it: a refusal may reset the connection before its response
    /// is read.
    Sent,
}

struct Queued<C> {
    request: OutgoingRequest,
    /// `None` for the session's own requests (removeWatches).
    token: Option<C>,
    /// When it fails with Timeout if still not sent while disconnected; `None` until the session
    /// is disconnected (a request queued behind the in-flight limit waits from the disconnect).
    deadline: Option<Instant>,
}

struct InFlight<C> {
    xid: i32,
    op: OpCode,
    token: Option<C>,
    watch: Option<WatchRegistration>,
}

impl<C> RegistersWatch for Queued<C> {
    fn registered_watch(&self) -> Option<&WatchRegistration> {
        self.request.watch.as_ref()
    }
}

impl<C> RegistersWatch for InFlight<C> {
    fn registered_watch(&self) -> Option<&WatchRegistration> {
        self.watch.as_ref()
    }
}

struct Auth {
    scheme: String,
    auth: Bytes,
}

/// A ZooKeeper session as a state machine: bytes and time in; bytes, timers, actions and events
/// out. It does no I/O and reads no clock.
///
/// # Call order
///
/// 1. [`Session::new`]; it immediately asks for a connection ([`Action::Connect`]).
/// 2. Loop until the session is terminal and every output is drained:
///    - drain [`poll_action`](Session::poll_action) and carry each out in order: open the
///      connection and report [`handle_connected`](Session::handle_connected) or
///      [`handle_connect_failed`](Session::handle_connect_failed); or drop the connection;
///    - write everything [`poll_transmit`](Session::poll_transmit) returns, in order;
///    - deliver every [`poll_event`](Session::poll_event);
///    - wait for input: bytes read ([`handle_bytes`](Session::handle_bytes)), the socket closing
///      ([`handle_disconnected`](Session::handle_disconnected)), a command
///      ([`submit`](Session::submit), [`add_auth`](Session::add_auth),
///      [`remove_watcher`](Session::remove_watcher), [`close`](Session::close)), or the deadline
///      [`poll_timeout`](Session::poll_timeout), then
///      [`handle_timeout`](Session::handle_timeout).
///
/// Every input takes `now`; the session keeps no clock of its own. `C` is the caller's
/// completion token for a request (a channel sender in the driver, a number in tests); it comes
/// back exactly once in [`Event::Completed`].
pub struct Session<C> {
    config: SessionConfig,
    hosts: Vec<HostPort>,
    chroot: Chroot,
    rng: Rng,
    state: State,

    session_id: i64,
    passwd: Bytes,
    negotiated: Duration,
    last_zxid: i64,

    attempt_id: u64,
    host_index: usize,
    attempts_in_round: usize,
    refused_in_round: usize,
    refused_rounds: u32,
    refused_since: Option<Instant>,
    round: u32,
    ever_connected: bool,

    queue: Requests<Queued<C>>,
    /// Queued reads written behind the current attempt's ConnectRequest, with their xids
    /// ([`SessionConfig::prime_connection`]): in flight once the handshake succeeds, back at
    /// the front of the queue if it fails.
    primed: VecDeque<(i32, Queued<C>)>,
    /// How the current attempt's ConnectRequest went out.
    priming: Priming,
    /// Whether the last primed handshake failed: the next attempt sends its ConnectRequest
    /// alone.
    prime_failed: bool,
    in_flight: Requests<InFlight<C>>,
    auth_in_flight: VecDeque<Option<C>>,
    auth_in_flight_pending: Vec<C>,
    auths: Vec<Auth>,
    next_xid: i32,
    set_watches_in_flight: usize,
    /// addWatch requests in flight (see `watch_modes`).
    persistent_adds_in_flight: usize,
    /// Persistent watches kept on the server for the one-shot watchers of their path that
    /// may rely on them, to remove when the last of those goes (see `watch_modes`).
    deferred_removals: Vec<(std::sync::Arc<str>, WatchKind)>,
    ping_in_flight: bool,
    close_token: Option<C>,
    unsupported: Vec<OpCode>,
    server_version: Option<(u32, u32, u32)>,
    read_only: bool,
    sasl: Option<DigestMd5>,
    watches: WatchRegistry,
    timers: TimerTable,

    send_buf: BytesMut,
    recv_buf: BytesMut,
    /// The running average size of the reply frames received (length prefix included); kept
    /// only for [`ReadCoalescing::Expected`] and [`ReadCoalescing::Adaptive`].
    reply_len: usize,
    /// Whether a frame larger than [`LARGE`] was split off `recv_buf`'s current block.
    recv_buf_large: bool,
    frames: FrameDecoder,

    actions: VecDeque<Action>,
    events: VecDeque<Event<C>>,
}

impl<C> Session<C> {
    /// A new session for `connect`; it asks for its first connection at once.
    pub fn new(config: SessionConfig, connect: ConnectString, now: Instant) -> Self {
        let mut rng = Rng::new(config.seed.unwrap_or_else(Rng::random_seed));
        let mut hosts = connect.hosts;
        rng.shuffle(&mut hosts);
        let frames = FrameDecoder::new(config.max_frame_len);
        let mut session = Session {
            last_zxid: config.last_zxid_seen,
            config,
            hosts,
            chroot: connect.chroot,
            rng,
            state: State::Connecting,
            session_id: 0,
            passwd: Bytes::from_static(&[0; 16]),
            negotiated: Duration::ZERO,
            attempt_id: 0,
            host_index: 0,
            attempts_in_round: 0,
            refused_in_round: 0,
            refused_rounds: 0,
            refused_since: None,
            round: 0,
            ever_connected: false,
            queue: Requests::default(),
            primed: VecDeque::new(),
            priming: Priming::Off,
            prime_failed: false,
            in_flight: Requests::default(),
            auth_in_flight: VecDeque::new(),
            auth_in_flight_pending: Vec::new(),
            auths: Vec::new(),
            next_xid: 1,
            set_watches_in_flight: 0,
            persistent_adds_in_flight: 0,
            deferred_removals: Vec::new(),
            ping_in_flight: false,
            close_token: None,
            unsupported: Vec::new(),
            server_version: None,
            read_only: false,
            sasl: None,
            watches: WatchRegistry::default(),
            timers: TimerTable::default(),
            send_buf: BytesMut::with_capacity(4096),
            recv_buf: BytesMut::with_capacity(4096),
            reply_len: MIN_REPLY_FRAME,
            recv_buf_large: false,
            frames,
            actions: VecDeque::new(),
            events: VecDeque::new(),
        };
        session.emit_state(SessionState::Connecting);
        session.start_attempt(now);
        session
    }

    // ----- accessors -----

    /// The session id (0 before the first handshake).
    pub fn session_id(&self) -> i64 {
        self.session_id
    }

    /// The session password (16 zero bytes before the first handshake). It is not secret from
    /// the server's point of view but lets anyone resume the session: never log it.
    pub fn session_password(&self) -> &Bytes {
        &self.passwd
    }

    /// The negotiated session timeout (zero before the first handshake).
    pub fn negotiated_timeout(&self) -> Duration {
        self.negotiated
    }

    /// The highest zxid seen in a reply.
    pub fn last_zxid_seen(&self) -> i64 {
        self.last_zxid
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The chroot applied to paths.
    pub fn chroot(&self) -> &Chroot {
        &self.chroot
    }

    /// The current state.
    pub fn state(&self) -> SessionState {
        match self.state {
            State::Connected | State::Closing => SessionState::Connected {
                read_only: self.read_only,
            },
            State::Connecting | State::Handshaking | State::Backoff => {
                if self.ever_connected {
                    SessionState::Disconnected
                } else {
                    SessionState::Connecting
                }
            }
            State::Done(s) => s,
        }
    }

    /// Whether the session reached a terminal state.
    pub fn is_terminal(&self) -> bool {
        matches!(self.state, State::Done(_))
    }

    /// Requests in flight on the current connection.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Requests waiting to be sent, or sent behind a ConnectRequest whose response has not
    /// come yet.
    pub fn queued(&self) -> usize {
        self.queue.len() + self.primed.len()
    }

    /// Whether the caller should hand over more requests: false while the local queue is full,
    /// which is how backpressure reaches callers.
    pub fn wants_requests(&self) -> bool {
        self.queued() < self.config.max_in_flight
    }

    /// The local watch table.
    pub fn watches(&self) -> &WatchRegistry {
        &self.watches
    }

    // ----- outputs -----

    /// The next thing the driver must do.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Bytes to write to the current connection.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        if self.send_buf.is_empty() {
            None
        } else {
            Some(self.send_buf.split().freeze())
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event<C>> {
        self.events.pop_front()
    }

    /// When to call [`handle_timeout`](Session::handle_timeout) next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    // ----- inputs -----

    /// The connection of attempt `id` is open.
    pub fn handle_connected(&mut self, id: u64, now: Instant) {
        if id != self.attempt_id || self.state != State::Connecting {
            return;
        }
        debug!(target: "zookeeper", host = %self.current_host(), session_id = format_args!("{:#x}", self.session_id), "connected; sending handshake");
        self.send_buf.clear();
        self.recv_buf.clear();
        let request = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: self.last_zxid,
            time_out: self
                .config
                .session_timeout
                .as_millis()
                .min(i32::MAX as u128) as i32,
            session_id: self.session_id,
            passwd: Some(self.passwd.clone()),
            read_only: Some(self.config.read_only),
        };
        write_frame(&mut self.send_buf, |b| request.encode(b));
        self.state = State::Handshaking;
        self.priming = Priming::Off;
        if self.may_prime() {
            self.prime();
        }
        let _ = now;
    }

    /// The connection of attempt `id` could not be opened.
    pub fn handle_connect_failed(&mut self, id: u64, now: Instant) {
        if id != self.attempt_id || self.state != State::Connecting {
            return;
        }
        debug!(target: "zookeeper", host = %self.current_host(), "connection failed");
        self.connection_lost(now, false);
    }

    /// The connection of attempt `id` closed (EOF or error).
    pub fn handle_disconnected(&mut self, id: u64, now: Instant) {
        if id != self.attempt_id {
            return;
        }
        match self.state {
            State::Handshaking => {
                debug!(target: "zookeeper", host = %self.current_host(), "server closed the connection during the handshake");
                self.connection_lost(now, true);
            }
            State::Connected | State::Connecting => self.connection_lost(now, false),
            State::Closing => self.finish(SessionState::Closed, Error::Closed),
            State::Backoff | State::Done(_) => {}
        }
    }

    /// Bytes arrived on the connection of attempt `id`.
    pub fn handle_bytes(&mut self, id: u64, now: Instant, bytes: &[u8]) {
        if id != self.attempt_id
            || !matches!(
                self.state,
                State::Handshaking | State::Connected | State::Closing
            )
        {
            return;
        }
        self.recv_buf.extend_from_slice(bytes);
        loop {
            let frame = match self.frames.decode(&mut self.recv_buf) {
                Ok(Some(frame)) => {
                    self.recv_buf_large |= frame.len() > LARGE;
                    if self.config.read_coalescing.expects() {
                        // A running average of the frames' sizes (weight 1/8), for the mark.
                        let len = (frame.len() + 4).min(MAX_MARKED_REPLY);
                        self.reply_len = (self.reply_len * 7 + len) / 8;
                    }
                    frame
                }
                Ok(None) => break,
                Err(e) => {
                    self.protocol_error(now, Error::protocol(e));
                    return;
                }
            };
            if let Err(e) = self.handle_frame(now, frame) {
                self.protocol_error(now, e);
                return;
            }
            if !matches!(
                self.state,
                State::Handshaking | State::Connected | State::Closing
            ) {
                return;
            }
        }
        if matches!(self.state, State::Connected | State::Closing) {
            self.timers
                .set(Timer::Read, now + timers::read_timeout(self.negotiated));
        }
        // A large reply grew the buffer: give the memory back once it is drained. The split-off
        // frames are gone by then, but what is left of the buffer still holds the whole block.
        if self.recv_buf.is_empty() && (self.recv_buf_large || self.recv_buf.capacity() > LARGE) {
            self.recv_buf = BytesMut::with_capacity(4096);
            self.recv_buf_large = false;
        }
    }

    /// The deadline from [`poll_timeout`](Session::poll_timeout) passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        for timer in self.timers.expired(now) {
            match timer {
                Timer::Connect => {
                    if matches!(self.state, State::Connecting | State::Handshaking) {
                        debug!(target: "zookeeper", host = %self.current_host(), "connection attempt timed out");
                        let refused = false;
                        self.actions.push_back(Action::Disconnect);
                        self.connection_lost(now, refused);
                    }
                }
                Timer::Read => {
                    if matches!(self.state, State::Connected | State::Closing) {
                        info!(target: "zookeeper", host = %self.current_host(), "nothing heard from the server within the read timeout");
                        self.actions.push_back(Action::Disconnect);
                        if self.state == State::Closing {
                            self.finish(SessionState::Closed, Error::Closed);
                        } else {
                            self.connection_lost(now, false);
                        }
                    }
                }
                Timer::Ping => {
                    if self.state == State::Connected {
                        if !self.ping_in_flight {
                            self.ping_in_flight = true;
                            trace!(target: "zookeeper", "ping");
                            write_frame(&mut self.send_buf, |b| {
                                RequestHeader {
                                    xid: PING_XID,
                                    op: OpCode::Ping,
                                }
                                .encode(b)
                            });
                        }
                        self.timers
                            .set(Timer::Ping, now + timers::ping_interval(self.negotiated));
                    }
                }
                Timer::Backoff => {
                    if self.state == State::Backoff {
                        self.start_attempt(now);
                    }
                }
                Timer::Queue => self.expire_queued(now),
                Timer::Close => {
                    if self.state == State::Closing {
                        debug!(target: "zookeeper", "no reply to CloseSession in time");
                        self.actions.push_back(Action::Disconnect);
                        self.finish(SessionState::Closed, Error::Closed);
                    }
                }
            }
        }
    }

    /// Sends `request` (or queues it until connected or under the in-flight limit); its result
    /// comes back as [`Event::Completed`] with `token`.
    pub fn submit(&mut self, now: Instant, request: OutgoingRequest, token: C) {
        if let State::Done(state) = self.state {
            self.complete(token, Err(terminal_error(state, self.last_zxid)));
            return;
        }
        if self.state == State::Closing {
            self.complete(token, Err(Error::Closed));
            return;
        }
        if let Some(min_version) = self.unsupported_op(request.op) {
            self.complete(
                token,
                Err(Error::Unsupported {
                    op: request.op.name(),
                    min_version,
                }),
            );
            return;
        }
        let sendable = self.state == State::Connected && !self.sasl_in_progress();
        if sendable
            && self.queue.is_empty()
            && self.in_flight.len() < self.config.max_in_flight
            && !self.coalescing(1)
            && !self.waits_for_persistent_add(&request)
        {
            self.send_request(now, request, Some(token));
            return;
        }
        let deadline = (self.state != State::Connected).then(|| now + self.request_timeout());
        if self.state == State::Handshaking
            && self.priming != Priming::Off
            && self.queue.is_empty()
            && self.auth_in_flight_pending.is_empty()
            && self.primed.len() < self.config.max_in_flight
            && is_primable(&request)
        {
            // The handshake went primed and nothing waits (no request, and no auth added since,
            // which would go after the response): this read joins the primed ones.
            self.write_primed(Queued {
                request,
                token: Some(token),
                deadline,
            });
            self.priming = Priming::Sent;
            self.arm_queue_timer();
            return;
        }
        self.queue.push_back(Queued {
            request,
            token: Some(token),
            deadline,
        });
        if self.state != State::Connected {
            self.arm_queue_timer();
        } else {
            self.flush_queue(now);
        }
    }

    /// A lower bound on the bytes the server still owes on this connection, the floor of
    /// [`low_water_mark`](Session::low_water_mark). Every reply is at least a length prefix and
    /// a [`ReplyHeader`] (20 bytes), and each request in flight gets one, in order; so the
    /// bytes counted here are certain to come while the connection lives. 0 (no bound: wake
    /// for any byte) unless requests are in flight on an established connection with nothing
    /// else under way: not during the handshake, authentication or re-arming of watches, not
    /// while a ping (the liveness check) or CloseSession waits, and not with coalescing off.
    pub fn min_bytes_owed(&self) -> usize {
        if self.config.read_coalescing == ReadCoalescing::Off
            || self.state != State::Connected
            || self.ping_in_flight
            || self.set_watches_in_flight > 0
            || !self.auth_in_flight.is_empty()
            || self.sasl.is_some()
        {
            return 0;
        }
        let owed = self.in_flight.len();
        if owed < 2 {
            return 0;
        }
        // A partial frame in the buffer may be one of the owed replies, nearly complete.
        if self.recv_buf.is_empty() {
            owed * MIN_REPLY_FRAME
        } else {
            (owed - 1) * MIN_REPLY_FRAME + 1
        }
    }

    /// The receive low-water mark for a driver that sleeps until a batch of replies is in
    /// ([`SessionConfig::read_coalescing`]): 0 (none) when off or without an established
    /// connection; with fewer than 8 requests in flight, or while a ping, authentication or
    /// SetWatches waits, the frame floor: the bytes to the end of the frame being received, at
    /// most 20 (every frame is at least a length prefix and a reply header, so this mark holds
    /// nothing back and need not change); otherwise
    /// [`min_bytes_owed`](Session::min_bytes_owed) for [`ReadCoalescing::Certain`]; for
    /// [`ReadCoalescing::Expected`] and [`ReadCoalescing::Adaptive`], the bytes half of
    /// the requests in flight are expected to bring back (from the running average of the
    /// replies' sizes), never less than that bound. The expected size is an estimate, which replies smaller than usual may not reach:
    /// a driver using the mark must drop it when nothing was read for a moment (zk-session's
    /// waits 1 ms).
    pub fn low_water_mark(&self) -> usize {
        let certain = self.min_bytes_owed();
        if certain < MIN_MARK_IN_FLIGHT * MIN_REPLY_FRAME {
            // Too few replies owed to batch (one ordinary reply would meet the mark anyway):
            // a mark that changes with every request would cost a syscall for nothing.
            return self.frame_floor();
        }
        if !self.config.read_coalescing.expects() {
            return certain;
        }
        let expected = (self.in_flight.len() / MARK_FRACTION) * self.reply_len;
        expected.saturating_sub(self.recv_buf.len()).max(certain)
    }

    /// The mark that never holds back a frame that arrived: every frame the server sends is at
    /// least a length prefix and a [`ReplyHeader`] (20 bytes), so on an established
    /// connection the bytes to the end of the frame being received, at most 20. 0 when off
    /// or not connected (the handshake's reply is read as it comes).
    fn frame_floor(&self) -> usize {
        if self.config.read_coalescing == ReadCoalescing::Off || self.state != State::Connected {
            return 0;
        }
        let have = self.recv_buf.len();
        match self.recv_buf.get(..4) {
            None => MIN_REPLY_FRAME - have,
            Some(prefix) => {
                let len = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
                let total = 4 + usize::try_from(len).unwrap_or(0);
                total.saturating_sub(have).clamp(1, MIN_REPLY_FRAME)
            }
        }
    }

    /// Whether requests that wait should keep waiting, to go out together
    /// ([`SessionConfig::coalesce_writes`]): while fewer than an eighth as many wait as are in
    /// flight. `extra` counts a request about to be queued.
    fn coalescing(&self, extra: usize) -> bool {
        self.config.coalesce_writes
            && (self.queue.len() + extra) * COALESCE_FRACTION < self.in_flight.len()
    }

    /// Adds authentication (e.g. scheme `digest`, auth `user:password`), sent now if connected
    /// and replayed on every reconnect. The result comes back with `token`; AUTHFAILED ends the
    /// session.
    pub fn add_auth(&mut self, now: Instant, scheme: String, auth: Bytes, token: C) {
        if let State::Done(state) = self.state {
            self.complete(token, Err(terminal_error(state, self.last_zxid)));
            return;
        }
        let _ = now;
        if self.state == State::Connected {
            write_auth(&mut self.send_buf, &scheme, &auth);
            self.auth_in_flight.push_back(Some(token));
        } else {
            // Sent with the other auths right after the next handshake.
            self.auth_in_flight_pending.push(token);
        }
        self.auths.push(Auth { scheme, auth });
    }

    /// Files local watcher `id` of (`path`, `kind`) at once, for a watch the caller arms with a
    /// request of its own (a SetWatches, whose immediate events may come before its reply):
    /// from now on the path's events of that kind reach it, and a reconnect re-arms it.
    pub fn add_watcher(&mut self, path: &std::sync::Arc<str>, kind: WatchKind, id: WatcherId) {
        if !matches!(self.state, State::Done(_)) {
            self.watches.add(path, kind, id);
        }
    }

    /// Removes local watcher `id` of `kind` from every path it watches (see
    /// [`remove_watcher`](Session::remove_watcher)).
    pub fn remove_watcher_everywhere(&mut self, now: Instant, kind: WatchKind, id: WatcherId) {
        for path in self.watches.paths_of(id, kind) {
            self.remove_watcher(now, &path, kind, id);
        }
    }

    /// Removes local watcher `id`'s one-shot watches of `kind` from every path, locally only:
    /// the server's watches stay until they fire (or the connection ends), and a reconnect
    /// does not re-arm them. A persistent kind is removed as
    /// [`remove_watcher_everywhere`](Session::remove_watcher_everywhere) does (a persistent
    /// watch left on the server would go on firing).
    pub fn forget_watcher_everywhere(&mut self, now: Instant, kind: WatchKind, id: WatcherId) {
        if kind.is_persistent() {
            self.remove_watcher_everywhere(now, kind, id);
            return;
        }
        for path in self.watches.paths_of(id, kind) {
            self.drop_watcher(now, &path, kind, id, false);
        }
    }

    /// Removes local watcher `id` of (`path`, `kind`); when no local watcher is left for that
    /// server watch, asks the server to remove it too.
    pub fn remove_watcher(&mut self, now: Instant, path: &str, kind: WatchKind, id: WatcherId) {
        self.drop_watcher(now, path, kind, id, true);
    }

    /// Removes local watcher `id` of (`path`, `kind`); with `on_server`, asks the server to
    /// remove its watch when no local watcher is left for it. Either way, a persistent watch
    /// whose removal waited for one-shot watchers on `path` goes when none is left.
    fn drop_watcher(
        &mut self,
        now: Instant,
        path: &str,
        kind: WatchKind,
        id: WatcherId,
        on_server: bool,
    ) {
        let unused = self.watches.remove(path, kind, id);
        if on_server {
            if let Some(watcher_type) = self.server_removal(path, kind, unused) {
                self.send_remove_watches(now, path, watcher_type);
            }
        }
        if !kind.is_persistent() && !self.deferred_removals.is_empty() {
            self.remove_deferred(now, path);
        }
    }

    /// Asks the server to remove its watch of `watcher_type` on `path` (when connected: a
    /// new connection re-arms only the watches held).
    fn send_remove_watches(&mut self, now: Instant, path: &str, watcher_type: WatcherType) {
        // Disconnected, the watch simply is not re-armed; but a primed handshake may have
        // re-armed it already: the removal follows its response.
        let rearmed = self.state == State::Handshaking && self.priming != Priming::Off;
        if (self.state != State::Connected && !rearmed)
            || self.unsupported_op(OpCode::RemoveWatches).is_some()
        {
            return;
        }
        let server_path = self.chroot.add(path);
        let request = OutgoingRequest::encode(OpCode::RemoveWatches, |b| {
            RemoveWatchesRequest {
                path: Some(server_path),
                watcher_type,
            }
            .encode(b)
        });
        if self.state == State::Connected
            && self.in_flight.len() < self.config.max_in_flight
            && self.queue.is_empty()
        {
            self.send_request(now, request, None);
        } else {
            self.queue.push_back(Queued {
                request,
                token: None,
                deadline: None,
            });
        }
    }

    /// The server's version, as its `srvr` four-letter word reported it: ops newer than the
    /// server are then refused locally with [`Error::Unsupported`] instead of being sent (an
    /// unknown op makes the server drop the connection).
    pub fn handle_server_version(&mut self, version: (u32, u32, u32)) {
        debug!(target: "zookeeper", version = format_args!("{}.{}.{}", version.0, version.1, version.2), "server version");
        self.server_version = Some(version);
    }

    /// The server version, once known.
    pub fn server_version(&self) -> Option<(u32, u32, u32)> {
        self.server_version
    }

    /// Closes the session: sends what is queued, then CloseSession, and waits for its reply up to
    /// the close timeout. `token` completes when the session is closed.
    pub fn close(&mut self, now: Instant, token: C) {
        match self.state {
            State::Done(_) => self.complete(token, Ok(closed_reply())),
            State::Closing => {
                // Already closing: complete when that finishes.
                if self.close_token.is_none() {
                    self.close_token = Some(token);
                } else {
                    self.complete(token, Ok(closed_reply()));
                }
            }
            State::Connected => {
                while let Some(q) = self.queue.pop_front() {
                    self.send_request(now, q.request, q.token);
                }
                let request = OutgoingRequest::encode(OpCode::CloseSession, |_| {});
                self.send_request(now, request, None);
                self.close_token = Some(token);
                self.state = State::Closing;
                self.timers.stop(Timer::Ping);
                self.timers
                    .set(Timer::Close, now + self.config.close_timeout);
                info!(target: "zookeeper", session_id = format_args!("{:#x}", self.session_id), "closing session");
            }
            State::Connecting | State::Handshaking | State::Backoff => {
                self.close_token = Some(token);
                self.actions.push_back(Action::Disconnect);
                self.finish(SessionState::Closed, Error::Closed);
            }
        }
    }

    // ----- internals -----

    fn current_host(&self) -> &HostPort {
        &self.hosts[self.host_index % self.hosts.len()]
    }

    fn start_attempt(&mut self, now: Instant) {
        self.attempt_id += 1;
        self.state = State::Connecting;
        let host = self.current_host().clone();
        debug!(target: "zookeeper", %host, attempt = self.attempt_id, "connecting");
        self.actions.push_back(Action::Connect {
            id: self.attempt_id,
            host,
        });
        // Before the first handshake the requested timeout is all there is; after it, the
        // negotiated one (the Java client's `onConnected` recomputes `connectTimeout`).
        let session_timeout = if self.negotiated.is_zero() {
            self.config.session_timeout
        } else {
            self.negotiated
        };
        let timeout = self
            .config
            .connect_timeout
            .unwrap_or_else(|| timers::connect_timeout(session_timeout, self.hosts.len()));
        self.timers.set(Timer::Connect, now + timeout);
    }

    fn connection_lost(&mut self, now: Instant, refused: bool) {
        let was_connected = self.state == State::Connected;
        // Only bytes behind a ConnectRequest can cost its response (see `prime_connection`).
        if std::mem::take(&mut self.priming) == Priming::Sent && self.state == State::Handshaking {
            self.prime_failed = true;
        }
        // Reads primed on a handshake that failed were never run: they wait again, in order.
        for (_, q) in std::mem::take(&mut self.primed).into_iter().rev() {
            if q.token.is_some() {
                self.queue.push_front(q);
            }
        }
        self.timers.stop(Timer::Read);
        self.timers.stop(Timer::Ping);
        self.timers.stop(Timer::Connect);
        self.send_buf.clear();
        self.recv_buf.clear();
        self.ping_in_flight = false;
        self.set_watches_in_flight = 0;
        self.persistent_adds_in_flight = 0;
        // The next connection holds only the watches SetWatches re-arms.
        self.deferred_removals.clear();
        self.sasl = None;
        for f in std::mem::take(&mut self.in_flight) {
            if let Some(token) = f.token {
                self.complete(token, Err(Error::ConnectionLoss));
            }
        }
        for token in std::mem::take(&mut self.auth_in_flight)
            .into_iter()
            .flatten()
        {
            self.complete(token, Err(Error::ConnectionLoss));
        }
        if was_connected {
            info!(target: "zookeeper", session_id = format_args!("{:#x}", self.session_id), host = %self.current_host(), "disconnected");
            self.emit_state(SessionState::Disconnected);
            let watchers = self.watches.persistent_watchers();
            if !watchers.is_empty() {
                self.events.push_back(Event::Watch {
                    watchers,
                    event: WatchedEvent::session(KeeperState::Disconnected),
                });
            }
            self.attempts_in_round = 0;
            self.refused_in_round = 0;
            self.round = 0;
        } else {
            self.attempts_in_round += 1;
            if refused {
                self.refused_in_round += 1;
            }
        }
        self.host_index = (self.host_index + 1) % self.hosts.len();
        if !self.queue.is_empty() {
            // Requests that were waiting behind the in-flight limit wait from now on.
            let deadline = now + self.request_timeout();
            for q in self.queue.iter_mut() {
                q.deadline.get_or_insert(deadline);
            }
            self.arm_queue_timer();
        }
        if was_connected {
            self.start_attempt(now);
            return;
        }
        if self.attempts_in_round < self.hosts.len() {
            self.start_attempt(now);
            return;
        }
        // A whole round of hosts failed.
        if self.refused_in_round == self.hosts.len() {
            self.refused_rounds += 1;
            let since = *self.refused_since.get_or_insert(now);
            warn!(target: "zookeeper", rounds = self.refused_rounds, last_zxid_seen = format_args!("{:#x}", self.last_zxid), "every server closed the connection during the handshake");
            // A server that is starting up closes connections too ("ZooKeeperServer not
            // running"): only refusals that outlast the minimum time mean "behind".
            let min_time = self
                .config
                .min_refused_time
                .unwrap_or(if self.negotiated.is_zero() {
                    self.config.session_timeout
                } else {
                    self.negotiated
                });
            if self.refused_rounds >= self.config.max_refused_rounds
                && now.duration_since(since) >= min_time
            {
                let err = Error::EnsembleBehind {
                    last_zxid_seen: self.last_zxid,
                };
                self.finish(SessionState::EnsembleBehind, err);
                return;
            }
        } else {
            self.refused_rounds = 0;
            self.refused_since = None;
        }
        self.attempts_in_round = 0;
        self.refused_in_round = 0;
        self.round = self.round.saturating_add(1);
        let jitter = self.rng.next_f64();
        self.state = State::Backoff;
        self.timers
            .set(Timer::Backoff, now + timers::backoff(self.round, jitter));
    }

    fn protocol_error(&mut self, now: Instant, err: Error) {
        warn!(target: "zookeeper", host = %self.current_host(), error = %err, "protocol error; dropping the connection");
        self.actions.push_back(Action::Disconnect);
        match self.state {
            State::Closing => self.finish(SessionState::Closed, Error::Closed),
            State::Done(_) => {}
            _ => self.connection_lost(now, false),
        }
    }

    fn handle_frame(&mut self, now: Instant, frame: Bytes) -> Result<(), Error> {
        if self.state == State::Handshaking {
            let response: ConnectResponse =
                zk_proto::from_bytes(frame, "ConnectResponse").map_err(Error::protocol)?;
            self.handle_handshake(now, response);
            return Ok(());
        }
        let mut r = Reader::new(frame);
        let header = ReplyHeader::decode(&mut r, "ReplyHeader").map_err(Error::protocol)?;
        let body = r.rest();
        match header.xid {
            NOTIFICATION_XID => {
                // A WatcherEvent read in place: its path is copied only for an event that
                // reaches a watcher (a filtered one, such as a create's own NodeCreated under
                // a recursive watch for deletions, costs no allocation).
                let (event_type, state, raw_path) =
                    decode_notification(body).map_err(Error::protocol)?;
                let Some(raw_path) = raw_path else {
                    return Err(Error::Protocol("notification without a path".into()));
                };
                let server_path = std::str::from_utf8(&raw_path).map_err(|_| {
                    Error::protocol(zk_proto::DecodeError::InvalidUtf8 {
                        context: "WatcherEvent",
                    })
                })?;
                let path = self.chroot.strip_str(server_path);
                trace!(target: "zookeeper", event = event_type.name(), %path, "notification");
                let watchers = self.watches.fire(event_type, path);
                if !self.deferred_removals.is_empty() {
                    self.remove_deferred(now, path);
                }
                if !watchers.is_empty() {
                    let path = path.to_owned();
                    self.events.push_back(Event::Watch {
                        watchers,
                        event: WatchedEvent {
                            event_type,
                            state,
                            path,
                        },
                    });
                }
            }
            PING_XID => {
                self.ping_in_flight = false;
            }
            AUTH_XID => {
                let token = self.auth_in_flight.pop_front().flatten();
                if header.err == ErrorCode::AuthFailed {
                    warn!(target: "zookeeper", session_id = format_args!("{:#x}", self.session_id), "authentication failed");
                    if let Some(token) = token {
                        self.complete(token, Err(Error::AuthFailed));
                    }
                    self.actions.push_back(Action::Disconnect);
                    self.finish(SessionState::AuthFailed, Error::AuthFailed);
                } else if let Some(token) = token {
                    let result = if header.err.is_ok() {
                        Ok(Reply {
                            op: OpCode::Auth,
                            zxid: header.zxid,
                            err: header.err,
                            body,
                        })
                    } else {
                        Err(Error::from_code(header.err))
                    };
                    self.complete(token, result);
                }
            }
            SET_WATCHES_XID => {
                self.set_watches_in_flight = self.set_watches_in_flight.saturating_sub(1);
                self.note_zxid(header.zxid);
                if !header.err.is_ok() {
                    warn!(target: "zookeeper", err = header.err.name(), "setWatches failed");
                }
            }
            xid => {
                let Some(head) = self.in_flight.front() else {
                    return Err(Error::Protocol(format!(
                        "reply to xid {xid} with nothing in flight"
                    )));
                };
                if head.xid != xid {
                    return Err(Error::Protocol(format!(
                        "reply xid {xid}, expected {}",
                        head.xid
                    )));
                }
                let Some(f) = self.in_flight.pop_front() else {
                    return Ok(());
                };
                if f.watch
                    .as_ref()
                    .is_some_and(|w| watch_modes::is_persistent_add(f.op, w.kind))
                {
                    self.persistent_adds_in_flight -= 1;
                }
                self.note_zxid(header.zxid);
                if header.err == ErrorCode::Unimplemented && min_version(f.op).is_some() {
                    warn!(target: "zookeeper", op = f.op.name(), "server does not implement the op; it will not be sent again");
                    if !self.unsupported.contains(&f.op) {
                        self.unsupported.push(f.op);
                    }
                }
                if let Some(w) = f.watch {
                    self.after_watch_reply(f.op, &w, header.err.is_ok());
                    self.register_watch(w, header.err);
                }
                if f.op == OpCode::Sasl && f.token.is_none() {
                    self.handle_sasl_reply(now, header.err, body);
                    return Ok(());
                }
                if f.op == OpCode::CloseSession {
                    self.actions.push_back(Action::Disconnect);
                    self.finish(SessionState::Closed, Error::Closed);
                    return Ok(());
                }
                if let Some(token) = f.token {
                    self.complete(
                        token,
                        Ok(Reply {
                            op: f.op,
                            zxid: header.zxid,
                            err: header.err,
                            body,
                        }),
                    );
                }
                self.flush_queue(now);
            }
        }
        Ok(())
    }

    fn handle_handshake(&mut self, now: Instant, response: ConnectResponse) {
        if response.is_expired() {
            info!(target: "zookeeper", session_id = format_args!("{:#x}", self.session_id), "session expired");
            self.actions.push_back(Action::Disconnect);
            self.finish(SessionState::Expired, Error::SessionExpired);
            return;
        }
        let resumed = self.session_id != 0 && self.session_id == response.session_id;
        self.session_id = response.session_id;
        if let Some(passwd) = response.passwd {
            self.passwd = passwd;
        }
        self.negotiated = Duration::from_millis(response.time_out as u64);
        self.state = State::Connected;
        self.ever_connected = true;
        self.attempts_in_round = 0;
        self.refused_in_round = 0;
        self.refused_rounds = 0;
        self.refused_since = None;
        self.round = 0;
        let primed = std::mem::take(&mut self.priming) != Priming::Off;
        self.prime_failed = false;
        self.timers.stop(Timer::Connect);
        self.timers.stop(Timer::Queue);
        self.timers
            .set(Timer::Read, now + timers::read_timeout(self.negotiated));
        self.timers
            .set(Timer::Ping, now + timers::ping_interval(self.negotiated));
        let read_only = response.read_only.unwrap_or(false);
        self.read_only = read_only;
        info!(target: "zookeeper", session_id = format_args!("{:#x}", self.session_id), timeout_ms = response.time_out, host = %self.current_host(), resumed, read_only, "session established");
        self.emit_state(SessionState::Connected { read_only });

        // Auth first, then watches, then the queue (the Java client's `primeConnection` order).
        // A primed attempt sent the replays already: only auths added since go now.
        if !primed {
            self.replay_auths();
        }
        let pending = std::mem::take(&mut self.auth_in_flight_pending);
        for a in &self.auths[self.auths.len() - pending.len()..] {
            write_auth(&mut self.send_buf, &a.scheme, &a.auth);
        }
        self.auth_in_flight.extend(pending.into_iter().map(Some));
        if let Some(config) = self.config.sasl.clone() {
            // Like the Java client's `tunnelAuthInProgress`: nothing but SASL goes out until
            // the exchange completes.
            let mechanism = DigestMd5::new(config, [self.rng.next_u64(), self.rng.next_u64()]);
            let token = mechanism.initial();
            self.sasl = Some(mechanism);
            self.send_sasl(now, token);
            return;
        }
        self.after_authentication(now, primed);
    }

    /// Re-arms watches (unless they went primed) and sends queued requests, once the
    /// connection is authenticated.
    fn after_authentication(&mut self, now: Instant, primed: bool) {
        if !primed {
            self.send_set_watches();
        }
        if self.persistent_resync_needed() {
            let watchers = self.watches.persistent_watchers();
            self.events.push_back(Event::Watch {
                watchers,
                event: WatchedEvent::session(KeeperState::SyncConnected),
            });
        }
        // The primed reads were written first, so they are the first replies after these.
        for (xid, q) in std::mem::take(&mut self.primed) {
            self.in_flight.push_back(InFlight {
                xid,
                op: q.request.op,
                token: q.token,
                watch: None,
            });
        }
        self.flush_queue(now);
    }

    /// Whether the ConnectRequest about to go out may be primed
    /// ([`SessionConfig::prime_connection`]).
    fn may_prime(&self) -> bool {
        self.config.prime_connection
            && !self.prime_failed
            && self.config.sasl.is_none()
            && self.auth_in_flight_pending.is_empty()
    }

    /// Writes, right behind the ConnectRequest, what would follow its response: the auth
    /// replays, the SetWatches, and the queued reads at the front of the queue that are safe to
    /// send twice.
    fn prime(&mut self) {
        let before = self.send_buf.len();
        self.replay_auths();
        self.send_set_watches();
        while self.primed.len() < self.config.max_in_flight
            && self.queue.front().is_some_and(|q| is_primable(&q.request))
        {
            let Some(q) = self.queue.pop_front() else {
                break;
            };
            self.write_primed(q);
        }
        self.priming = if self.send_buf.len() > before {
            Priming::Sent
        } else {
            Priming::Empty
        };
    }

    /// Writes `q`'s request behind the ConnectRequest and keeps it, with its xid, in `primed`.
    fn write_primed(&mut self, q: Queued<C>) {
        let xid = self.write_request(&q.request);
        self.primed.push_back((xid, q));
    }

    /// Writes the auths an earlier connection sent (all but those still waiting for their
    /// first sending), each answered to no caller.
    fn replay_auths(&mut self) {
        let replay = self.auths.len() - self.auth_in_flight_pending.len();
        for a in &self.auths[..replay] {
            write_auth(&mut self.send_buf, &a.scheme, &a.auth);
        }
        self.auth_in_flight
            .extend(std::iter::repeat_with(|| None).take(replay));
    }

    fn sasl_in_progress(&self) -> bool {
        self.sasl.as_ref().is_some_and(|m| !m.is_complete())
    }

    fn send_sasl(&mut self, now: Instant, token: Vec<u8>) {
        let request = OutgoingRequest::encode(OpCode::Sasl, |b| {
            GetSASLRequest {
                token: Some(Bytes::from(token)),
            }
            .encode(b)
        });
        self.send_request(now, request, None);
    }

    fn handle_sasl_reply(&mut self, now: Instant, err: ErrorCode, body: Bytes) {
        let next = if err.is_ok() {
            let token = zk_proto::from_bytes::<SetSASLResponse>(body, "SetSASLResponse")
                .ok()
                .and_then(|r| r.token)
                .unwrap_or_default();
            match self.sasl.as_mut().map(|m| m.step(&token)) {
                Some(Ok(next)) => Ok(next),
                Some(Err(e)) => Err(e),
                None => Ok(None),
            }
        } else {
            Err(Error::AuthFailed)
        };
        match next {
            Ok(Some(token)) => self.send_sasl(now, token),
            Ok(None) => {
                if let Some(m) = self.sasl.as_mut() {
                    // A server that skips rspauth still authenticated us if it said OK.
                    let _ = m.step(b"");
                }
                self.sasl = None;
                debug!(target: "zookeeper", "SASL authentication complete");
                self.after_authentication(now, false);
            }
            Err(_) => {
                warn!(target: "zookeeper", session_id = format_args!("{:#x}", self.session_id), "SASL authentication failed");
                self.sasl = None;
                self.actions.push_back(Action::Disconnect);
                self.finish(SessionState::AuthFailed, Error::AuthFailed);
            }
        }
    }

    fn persistent_resync_needed(&self) -> bool {
        !self.watches.persistent_watchers().is_empty()
    }

    fn send_set_watches(&mut self) {
        if self.watches.is_empty() {
            return;
        }
        let [data, exist, child, persistent, recursive] = self.watches.server_lists();
        let server = |paths: Vec<&str>| -> Vec<String> {
            paths.into_iter().map(|p| self.chroot.add(p)).collect()
        };
        // A children watch on a path also watched recursively goes in a second SetWatches:
        // before 3.9 the one set last decides the path's mode (see `watch_modes`).
        let (late_child, child): (Vec<&str>, Vec<&str>) = child
            .into_iter()
            .partition(|p| self.watches.has_recursive(p));
        let main = [
            server(data),
            server(exist),
            server(child),
            server(persistent),
            server(recursive),
        ];
        let late = server(late_child);
        let count = self.write_set_watches(main) + self.write_child_set_watches(late);
        debug!(target: "zookeeper", watches = self.watches.len(), batches = count, "re-arming watches");
    }

    /// Writes SetWatches (SetWatches2 where persistent watches are in it) for these server
    /// paths (data, exist, child, persistent, persistent recursive), relative to the last
    /// zxid seen, split into batches of at most [`SET_WATCHES_MAX_LENGTH`] characters. Returns
    /// the number of batches written.
    fn write_set_watches(&mut self, lists: [Vec<String>; 5]) -> usize {
        let mut batch: [Vec<String>; 5] = Default::default();
        let mut batch_len = 0;
        let mut batches = Vec::new();
        for (kind, paths) in lists.into_iter().enumerate() {
            for server_path in paths {
                batch_len += server_path.encode_utf16().count();
                batch[kind].push(server_path);
                if batch_len >= SET_WATCHES_MAX_LENGTH {
                    batches.push(std::mem::take(&mut batch));
                    batch_len = 0;
                }
            }
        }
        if batch.iter().any(|l| !l.is_empty()) {
            batches.push(batch);
        }
        let relative_zxid = self.last_zxid;
        let count = batches.len();
        for [data, exist, child, persistent, recursive] in batches {
            let v2 = !persistent.is_empty() || !recursive.is_empty();
            write_frame(&mut self.send_buf, |b| {
                if v2 {
                    RequestHeader {
                        xid: SET_WATCHES_XID,
                        op: OpCode::SetWatches2,
                    }
                    .encode(b);
                    SetWatches2 {
                        relative_zxid,
                        data_watches: Some(data),
                        exist_watches: Some(exist),
                        child_watches: Some(child),
                        persistent_watches: Some(persistent),
                        persistent_recursive_watches: Some(recursive),
                    }
                    .encode(b);
                } else {
                    RequestHeader {
                        xid: SET_WATCHES_XID,
                        op: OpCode::SetWatches,
                    }
                    .encode(b);
                    SetWatches {
                        relative_zxid,
                        data_watches: Some(data),
                        exist_watches: Some(exist),
                        child_watches: Some(child),
                    }
                    .encode(b);
                }
            });
            self.set_watches_in_flight += 1;
        }
        count
    }

    /// [`write_set_watches`](Session::write_set_watches) for children watches only.
    fn write_child_set_watches(&mut self, child: Vec<String>) -> usize {
        self.write_set_watches([Vec::new(), Vec::new(), child, Vec::new(), Vec::new()])
    }

    fn register_watch(&mut self, w: WatchRegistration, err: ErrorCode) {
        let kind = match (w.kind, err) {
            (WatchKind::Exist, ErrorCode::Ok) => WatchKind::Data,
            (WatchKind::Exist, ErrorCode::NoNode) => WatchKind::Exist,
            (kind, ErrorCode::Ok) => kind,
            _ => return,
        };
        self.watches.add(&w.path, kind, w.id);
        if kind.is_persistent() && w.events != EventFilter::ALL {
            self.watches.set_filter(w.id, w.events);
        }
    }

    /// Writes `request`'s frame with the next xid patched in; returns the xid.
    fn write_request(&mut self, request: &OutgoingRequest) -> i32 {
        let xid = self.next_xid;
        self.next_xid = if xid == i32::MAX { 1 } else { xid + 1 };
        let start = self.send_buf.len();
        self.send_buf.extend_from_slice(&request.frame);
        if let Some(slot) = self
            .send_buf
            .get_mut(start + XID_OFFSET..start + XID_OFFSET + 4)
        {
            slot.copy_from_slice(&xid.to_be_bytes());
        }
        xid
    }

    fn send_request(&mut self, now: Instant, request: OutgoingRequest, token: Option<C>) {
        let xid = self.write_request(&request);
        if request.watch.is_some() {
            self.coordinate_watch_modes(&request);
        }
        self.in_flight.push_back(InFlight {
            xid,
            op: request.op,
            token,
            watch: request.watch,
        });
        self.timers
            .set(Timer::Ping, now + timers::ping_interval(self.negotiated));
    }

    fn flush_queue(&mut self, now: Instant) {
        if self.state != State::Connected || self.sasl_in_progress() || self.coalescing(0) {
            return;
        }
        while self.in_flight.len() < self.config.max_in_flight {
            if self
                .queue
                .front()
                .is_some_and(|q| self.waits_for_persistent_add(&q.request))
            {
                // Sent once that addWatch is answered (its reply flushes the queue again).
                break;
            }
            let Some(q) = self.queue.pop_front() else {
                break;
            };
            if let Some(min_version) = self.unsupported_op(q.request.op) {
                let err = Error::Unsupported {
                    op: q.request.op.name(),
                    min_version,
                };
                if let Some(token) = q.token {
                    self.complete(token, Err(err));
                }
                continue;
            }
            self.send_request(now, q.request, q.token);
        }
    }

    fn request_timeout(&self) -> Duration {
        self.config
            .request_timeout
            .unwrap_or(self.config.session_timeout)
    }

    fn arm_queue_timer(&mut self) {
        let primed = self.primed.iter().map(|(_, q)| q);
        let waiting = primed
            .filter(|q| q.token.is_some())
            .chain(self.queue.iter());
        match waiting.filter_map(|q| q.deadline).min() {
            Some(at) => self.timers.set(Timer::Queue, at),
            None => self.timers.stop(Timer::Queue),
        }
    }

    fn expire_queued(&mut self, now: Instant) {
        if self.state == State::Connected {
            return;
        }
        // A primed read that times out keeps its place (and xid) without its caller, in case
        // the handshake still succeeds and the reply comes.
        let timed_out: Vec<C> = self
            .primed
            .iter_mut()
            .filter(|(_, q)| q.deadline.is_some_and(|d| d <= now))
            .filter_map(|(_, q)| q.token.take())
            .collect();
        for token in timed_out {
            self.complete(token, Err(Error::Timeout));
        }
        let mut kept = Requests::default();
        for q in std::mem::take(&mut self.queue) {
            if q.deadline.is_some_and(|d| d <= now) {
                if let Some(token) = q.token {
                    self.complete(token, Err(Error::Timeout));
                }
            } else {
                kept.push_back(q);
            }
        }
        self.queue = kept;
        self.arm_queue_timer();
    }

    fn unsupported_op(&self, op: OpCode) -> Option<&'static str> {
        let (min, parsed) = min_version_parsed(op)?;
        let too_old = self.server_version.is_some_and(|v| v < parsed);
        (too_old || self.unsupported.contains(&op)).then_some(min)
    }

    fn note_zxid(&mut self, zxid: i64) {
        if zxid > self.last_zxid {
            self.last_zxid = zxid;
        }
    }

    fn complete(&mut self, token: C, result: Result<Reply, Error>) {
        self.events.push_back(Event::Completed { token, result });
    }

    fn emit_state(&mut self, state: SessionState) {
        self.events.push_back(Event::State(SessionEvent {
            state,
            session_id: self.session_id,
        }));
    }

    /// Ends the session: the state change is reported first (so that whoever sees a failed
    /// request can already see why), then every request fails with `err` and every watcher is
    /// told.
    fn finish(&mut self, state: SessionState, err: Error) {
        if matches!(self.state, State::Done(_)) {
            return;
        }
        self.state = State::Done(state);
        self.timers.stop_all();
        self.send_buf.clear();
        self.emit_state(state);
        self.persistent_adds_in_flight = 0;
        self.deferred_removals.clear();
        for f in std::mem::take(&mut self.in_flight) {
            if let Some(token) = f.token {
                self.complete(token, Err(err.clone()));
            }
        }
        let primed = std::mem::take(&mut self.primed).into_iter().map(|(_, q)| q);
        for token in primed
            .chain(std::mem::take(&mut self.queue))
            .filter_map(|q| q.token)
        {
            self.complete(token, Err(err.clone()));
        }
        for token in std::mem::take(&mut self.auth_in_flight)
            .into_iter()
            .flatten()
        {
            self.complete(token, Err(err.clone()));
        }
        for token in std::mem::take(&mut self.auth_in_flight_pending) {
            self.complete(token, Err(err.clone()));
        }
        let watchers = self.watches.drain();
        let keeper_state = terminal_keeper_state(state);
        if !watchers.is_empty() {
            self.events.push_back(Event::Watch {
                watchers,
                event: WatchedEvent::session(keeper_state),
            });
        }
        if let Some(token) = self.close_token.take() {
            self.complete(token, Ok(closed_reply()));
        }
    }
}

/// The state a watcher is told of when the session ends in `state`.
pub(crate) fn terminal_keeper_state(state: SessionState) -> KeeperState {
    match state {
        SessionState::Closed => KeeperState::Closed,
        SessionState::AuthFailed => KeeperState::AuthFailed,
        _ => KeeperState::Expired,
    }
}

/// Writes an AuthPacket for `scheme` and `auth` to `buf`.
fn write_auth(buf: &mut BytesMut, scheme: &str, auth: &Bytes) {
    let packet = AuthPacket {
        auth_type: 0,
        scheme: Some(scheme.to_owned()),
        auth: Some(auth.clone()),
    };
    write_frame(buf, |b| {
        RequestHeader {
            xid: AUTH_XID,
            op: OpCode::Auth,
        }
        .encode(b);
        packet.encode(b);
    });
}

/// Whether a request may ride behind a ConnectRequest ([`SessionConfig::prime_connection`]):
/// a read that sets no watch, so that sending it twice (once on a handshake that failed) does
/// nothing twice. Only ops every server since 3.4 knows (an unknown op costs the connection).
fn is_primable(request: &OutgoingRequest) -> bool {
    request.watch.is_none()
        && matches!(
            request.op,
            OpCode::GetData
                | OpCode::Exists
                | OpCode::GetChildren
                | OpCode::GetChildren2
                | OpCode::GetACL
                | OpCode::Sync
        )
}

fn closed_reply() -> Reply {
    Reply {
        op: OpCode::CloseSession,
        zxid: 0,
        err: ErrorCode::Ok,
        body: Bytes::new(),
    }
}

fn terminal_error(state: SessionState, last_zxid_seen: i64) -> Error {
    match state {
        SessionState::Expired => Error::SessionExpired,
        SessionState::AuthFailed => Error::AuthFailed,
        SessionState::EnsembleBehind => Error::EnsembleBehind { last_zxid_seen },
        _ => Error::Closed,
    }
}

/// Parses `major.minor.patch` at the start of `text` (as in `srvr`'s
/// `Zookeeper version: 3.8.0-5a02a05eddb59aee6ac762f7ea82e92a68eb9c0f, built on ...`).
pub fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let mut parts = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = parts.next()?.parse().ok()?;
    Some((major, minor, patch))
}

/// The first server version with `op`, for ops newer than 3.4.
pub fn min_version(op: OpCode) -> Option<&'static str> {
    min_version_parsed(op).map(|(text, _)| text)
}

/// [`min_version`] as text and as numbers (checked against the server's version on every
/// request of such an op, so not parsed each time).
fn min_version_parsed(op: OpCode) -> Option<(&'static str, (u32, u32, u32))> {
    match op {
        OpCode::Create2 | OpCode::Reconfig | OpCode::CheckWatches | OpCode::RemoveWatches => {
            Some(("3.5.0", (3, 5, 0)))
        }
        OpCode::CreateContainer => Some(("3.5.1", (3, 5, 1))),
        OpCode::CreateTTL => Some(("3.5.3", (3, 5, 3))),
        OpCode::MultiRead
        | OpCode::GetEphemerals
        | OpCode::GetAllChildrenNumber
        | OpCode::SetWatches2
        | OpCode::AddWatch => Some(("3.6.0", (3, 6, 0))),
        OpCode::WhoAmI => Some(("3.7.0", (3, 7, 0))),
        _ => None,
    }
}

impl<C> std::fmt::Debug for Session<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The session password is deliberately left out.
        f.debug_struct("Session")
            .field("state", &self.state)
            .field("session_id", &format_args!("{:#x}", self.session_id))
            .field("last_zxid_seen", &self.last_zxid)
            .field("in_flight", &self.in_flight.len())
            .field("queued", &self.queued())
            .field("watches", &self.watches.len())
            .finish_non_exhaustive()
    }
}

/// A notification's body, a `WatcherEvent`, without copying its path: type, state, path bytes.
fn decode_notification(
    body: Bytes,
) -> Result<(EventType, KeeperState, Option<Bytes>), zk_proto::DecodeError> {
    const CONTEXT: &str = "WatcherEvent";
    let mut r = Reader::new(body);
    let event_type = EventType::decode(&mut r, CONTEXT)?;
    let state = KeeperState::decode(&mut r, CONTEXT)?;
    let path = r.read_buffer(CONTEXT)?;
    r.expect_empty(CONTEXT)?;
    Ok((event_type, state, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srvr_version_line_parses() {
        let line = "3.8.0-5a02a05eddb59aee6ac762f7ea82e92a68eb9c0f, built on 2022-02-25 08:49 UTC";
        assert_eq!(parse_version(line), Some((3, 8, 0)));
        assert_eq!(parse_version("garbage"), None);
    }

    #[test]
    fn every_minimum_version_reads_as_its_numbers() {
        for op in OpCode::ALL {
            if let Some((text, numbers)) = min_version_parsed(*op) {
                assert_eq!(parse_version(text), Some(numbers), "{op:?}");
            }
        }
    }

    #[test]
    fn ops_newer_than_the_server_are_refused_locally() {
        let connect: ConnectString = "127.0.0.1:1".parse().unwrap();
        let mut s: Session<u32> = Session::new(SessionConfig::default(), connect, Instant::now());
        s.handle_server_version((3, 5, 9));
        assert_eq!(s.unsupported_op(OpCode::AddWatch), Some("3.6.0"));
        assert_eq!(s.unsupported_op(OpCode::CreateTTL), None);
        assert_eq!(s.unsupported_op(OpCode::GetData), None);
        let request = OutgoingRequest::encode(OpCode::WhoAmI, |_| {});
        s.submit(Instant::now(), request, 7);
        let refused = std::iter::from_fn(|| s.poll_event()).find_map(|e| match e {
            Event::Completed { token: 7, result } => Some(result),
            _ => None,
        });
        assert_eq!(
            refused,
            Some(Err(Error::Unsupported {
                op: "whoAmI",
                min_version: "3.7.0"
            }))
        );
    }
}
