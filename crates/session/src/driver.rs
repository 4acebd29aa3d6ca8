//! The tokio driver: one task per session owns the socket and the one timer, feeds the
//! [`Session`] and carries out what it asks.

use foldhash::HashMap;
use std::io;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tracing::debug;

use crate::config::HostPort;
use crate::error::Error;
use crate::event::SessionEvent;
use crate::low_water::{self, LowWater};
use crate::session::{Action, Event, OutgoingRequest, Reply, Session};
use crate::watches::{WatchKind, WatchedEvent, WatcherId};

/// Drops the connection's halves, its receive mark and the bytes waiting to be written.
fn forget_connection(
    reader: &mut Option<Reader>,
    writer: &mut Option<Writer>,
    low_water: &mut LowWater,
    wbuf: &mut BytesMut,
) {
    *reader = None;
    *writer = None;
    *low_water = LowWater::default();
    wbuf.clear();
}

/// Writes what the socket takes of `wbuf` without waiting (the rest waits for the loop's
/// write branch).
fn write_now(w: &mut Writer, wbuf: &mut BytesMut) -> io::Result<()> {
    use bytes::Buf;
    use std::pin::Pin;
    use std::task::{Context, Poll, Waker};
    // A no-op waker: if the socket is full, the loop's write branch polls again with its own.
    let mut cx = Context::from_waker(Waker::noop());
    while !wbuf.is_empty() {
        match Pin::new(&mut *w).poll_write(&mut cx, wbuf) {
            Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
            Poll::Ready(Ok(n)) => wbuf.advance(n),
            Poll::Ready(Err(e)) => return Err(e),
            Poll::Pending => break,
        }
    }
    Ok(())
}

/// Where a watcher's events go.
#[derive(Debug)]
pub(crate) enum WatchSink {
    /// A one-shot watch: the first event, then removed.
    /// A one-shot watch: the first event's type and state (the watcher knows its path), then
    /// removed. Sending only these keeps the channel small: watches are held by the thousand.
    Oneshot(oneshot::Sender<(zk_proto::EventType, zk_proto::KeeperState)>),
    /// A persistent watch: every session event, and the node events its filter lets through
    /// (applied by the session's watch table, `WatchRegistration::events`).
    Stream(mpsc::UnboundedSender<WatchedEvent>),
}

/// Where each registered watcher's events go: one table per kind of sink, so that the entries
/// of one-shot watchers, held by the thousand, are 16 bytes.
#[derive(Debug, Default)]
struct Sinks {
    oneshot: HashMap<WatcherId, oneshot::Sender<(zk_proto::EventType, zk_proto::KeeperState)>>,
    stream: HashMap<WatcherId, mpsc::UnboundedSender<WatchedEvent>>,
}

impl Sinks {
    fn insert(&mut self, id: WatcherId, sink: WatchSink) {
        match sink {
            WatchSink::Oneshot(tx) => {
                self.oneshot.insert(id, tx);
            }
            WatchSink::Stream(tx) => {
                self.stream.insert(id, tx);
            }
        }
    }

    fn remove(&mut self, id: WatcherId) {
        if self.oneshot.remove(&id).is_none() {
            self.stream.remove(&id);
        }
    }

    /// Ends every stream with the session's terminal `event` (a [`DataWatches`] stream
    /// may have no watch left in the table to be told by).
    ///
    /// [`DataWatches`]: crate::DataWatches
    fn end_streams(&mut self, event: &WatchedEvent) {
        for (_, tx) in self.stream.drain() {
            let _ = tx.send(event.clone());
        }
    }

    /// Sends `event` to watcher `id`: a one-shot watcher is removed, a persistent one only when
    /// the event is `terminal` (the session ended).
    fn deliver(&mut self, id: WatcherId, event: &WatchedEvent, terminal: bool) {
        if let Some(tx) = self.oneshot.remove(&id) {
            let _ = tx.send((event.event_type, event.state));
        } else if terminal {
            if let Some(tx) = self.stream.remove(&id) {
                let _ = tx.send(event.clone());
            }
        } else if let Some(tx) = self.stream.get(&id) {
            let _ = tx.send(event.clone());
        }
    }
}

/// A watcher waiting for its request's reply to be registered.
#[derive(Debug)]
pub(crate) struct PendingWatch {
    pub(crate) id: WatcherId,
    pub(crate) path: Arc<str>,
    pub(crate) kind: WatchKind,
    pub(crate) sink: WatchSink,
}

/// The completion token of a request in the driver.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) reply: oneshot::Sender<Result<Reply, Error>>,
    /// Boxed: most requests set no watch, and a smaller [`Command`] is moved without a
    /// `memcpy` call each of the four times it moves (into the channel, out, and apart).
    pub(crate) watch: Option<Box<PendingWatch>>,
}

/// What a [`Client`](crate::Client) asks of its driver. Not `Debug`: it carries credentials.
pub(crate) enum Command {
    Request {
        request: OutgoingRequest,
        pending: Pending,
    },
    /// Files a watcher's sink before any watch of it is set (a [`DataWatches`]'s stream).
    ///
    /// [`DataWatches`]: crate::DataWatches
    AddSink { id: WatcherId, sink: WatchSink },
    /// A request that arms data watches of watcher `id` on `paths` itself (SetWatches): the
    /// watcher is filed under them before it goes, since its immediate events come before its
    /// reply.
    ArmWatches {
        id: WatcherId,
        paths: Vec<Arc<str>>,
        request: OutgoingRequest,
        pending: Pending,
    },
    /// Removes watcher `id`'s data watches from every path (`on_server`: the server's too,
    /// where no other local watcher needs them).
    RemoveDataWatcher { id: WatcherId, on_server: bool },
    AddAuth {
        scheme: String,
        auth: bytes::Bytes,
        reply: oneshot::Sender<Result<Reply, Error>>,
    },
    RemoveWatcher {
        path: Arc<str>,
        kind: WatchKind,
        id: WatcherId,
    },
    Close {
        reply: oneshot::Sender<Result<Reply, Error>>,
    },
}

/// State shared between the driver and its handles.
pub(crate) struct Shared {
    pub(crate) state: watch::Sender<SessionEvent>,
    pub(crate) events: broadcast::Sender<SessionEvent>,
    /// The session id and password, for resuming the session elsewhere.
    pub(crate) credentials: std::sync::Mutex<(i64, bytes::Bytes)>,
    /// The last connection failure, and whether TLS refused it.
    pub(crate) last_connect_error: std::sync::Mutex<Option<(String, bool)>>,
    /// The server's version line from `srvr`, once probed.
    pub(crate) server_version: std::sync::Mutex<Option<String>>,
    /// The same as numbers, `major << 32 | minor << 16 | patch` (0 until probed), for
    /// lock-free checks.
    pub(crate) server_version_number: std::sync::atomic::AtomicU64,
    /// The session's last seen zxid, refreshed on every turn of the driver loop.
    pub(crate) last_zxid: std::sync::atomic::AtomicI64,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The session password is deliberately left out.
        f.debug_struct("Shared")
            .field("state", &*self.state.borrow())
            .finish_non_exhaustive()
    }
}

/// How many commands are taken from the channel before the session's bytes are written, so
/// that pipelined requests share writes.
const COMMAND_BATCH: usize = 128;

/// The read buffer size.
const READ_BUF: usize = 64 * 1024;

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// The read half of a connection, plain or TLS.
pub(crate) type Reader = Box<dyn AsyncRead + Send + Unpin>;
/// The write half of a connection, plain or TLS.
pub(crate) type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// How to wrap a TCP connection in TLS (feature `tls`).
#[derive(Clone)]
pub(crate) struct Tls {
    #[cfg(feature = "tls")]
    pub(crate) connector: tokio_rustls::TlsConnector,
    #[cfg(feature = "tls")]
    pub(crate) config: crate::tls::TlsConfig,
}

/// A connection failure, and whether it was TLS's (a certificate refused).
struct ConnectError {
    error: io::Error,
    tls: bool,
}

async fn connect(
    host: HostPort,
    tls: Option<Tls>,
    low_water: bool,
) -> Result<Connected, ConnectError> {
    let plain = |error| ConnectError { error, tls: false };
    let mut last_err = None;
    let mut stream = None;
    for addr in tokio::net::lookup_host((host.host.as_str(), host.port))
        .await
        .map_err(plain)?
    {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                stream = Some((s, addr));
                break;
            }
            Err(e) => last_err = Some(e),
        }
    }
    let Some((stream, addr)) = stream else {
        return Err(plain(last_err.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, "no address")
        })));
    };
    match tls {
        None => {
            let fd = low_water.then(|| low_water::fd_of(&stream)).flatten();
            let (r, w) = stream.into_split();
            Ok(Connected {
                reader: Box::new(r),
                writer: Box::new(w),
                addr,
                low_water: fd,
            })
        }
        #[cfg(feature = "tls")]
        Some(tls) => {
            let name = tls
                .config
                .server_name(&host.host)
                .map_err(|e| ConnectError {
                    error: io::Error::other(e.to_string()),
                    tls: true,
                })?;
            let stream = tls
                .connector
                .connect(name, stream)
                .await
                .map_err(|error| ConnectError { error, tls: true })?;
            let _ = low_water; // TLS records: the low-water mark is left alone.
            let (r, w) = tokio::io::split(stream);
            Ok(Connected {
                reader: Box::new(r),
                writer: Box::new(w),
                addr,
                low_water: None,
            })
        }
        #[cfg(not(feature = "tls"))]
        Some(_) => Err(ConnectError {
            error: io::Error::other("TLS needs the `tls` feature"),
            tls: true,
        }),
    }
}

/// Asks the server at `addr` for its version with the `srvr` four-letter word (always
/// whitelisted), on a side connection, within 2 s.
async fn probe_version(addr: std::net::SocketAddr) -> Option<String> {
    let work = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        stream.write_all(b"srvr").await.ok()?;
        let mut out = Vec::new();
        stream.read_to_end(&mut out).await.ok()?;
        let text = String::from_utf8_lossy(&out).into_owned();
        text.lines()
            .find_map(|l| l.strip_prefix("Zookeeper version: "))
            .map(str::to_owned)
    };
    tokio::time::timeout(std::time::Duration::from_secs(2), work)
        .await
        .ok()
        .flatten()
}

/// An open connection.
struct Connected {
    reader: Reader,
    writer: Writer,
    addr: std::net::SocketAddr,
    /// A duplicate of the socket's descriptor, to set its receive low-water mark.
    low_water: Option<low_water::Fd>,
}

type ConnectFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Connected, ConnectError>> + Send>>;

/// Runs a session until it is terminal and every handle is gone.
pub(crate) async fn run(
    mut session: Session<Pending>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    shared: Arc<Shared>,
    tls: Option<Tls>,
) {
    let mut watchers = Sinks::default();
    let mut reader: Option<Reader> = None;
    let mut writer: Option<Writer> = None;
    let mut conn_id: u64 = 0;
    let mut connecting: Option<(u64, ConnectFuture)> = None;
    let mut wbuf = BytesMut::with_capacity(64 * 1024);
    let mut rbuf = vec![0u8; READ_BUF];
    let mut commands_open = true;
    let timer = tokio::time::sleep_until(tokio::time::Instant::now());
    tokio::pin!(timer);
    let mut armed: Option<tokio::time::Instant> = None;
    let mut peer: Option<std::net::SocketAddr> = None;
    let mut low_water = LowWater::default();
    let lw_timer = tokio::time::sleep_until(tokio::time::Instant::now());
    tokio::pin!(lw_timer);
    let mut lw_armed: Option<tokio::time::Instant> = None;
    let use_low_water = session.config().read_coalescing != crate::ReadCoalescing::Off;
    let adaptive = session.config().read_coalescing == crate::ReadCoalescing::Adaptive;
    let (probe_tx, mut probe_rx) = mpsc::unbounded_channel::<Option<String>>();
    // The `srvr` probe speaks plain TCP, which a TLS port does not.
    let probe = session_probe_enabled(&session) && tls.is_none();
    // One probe at a time: reconnections while one is under way start no other.
    let mut probing = false;

    loop {
        // Carry out everything the session asked for.
        while let Some(action) = session.poll_action() {
            match action {
                Action::Connect { id, host } => {
                    forget_connection(&mut reader, &mut writer, &mut low_water, &mut wbuf);
                    connecting = Some((id, Box::pin(connect(host, tls.clone(), use_low_water))));
                }
                Action::Disconnect => {
                    forget_connection(&mut reader, &mut writer, &mut low_water, &mut wbuf);
                    connecting = None;
                }
            }
        }
        while let Some(bytes) = session.poll_transmit() {
            if writer.is_some() {
                wbuf.extend_from_slice(&bytes);
            }
        }
        // The write goes out now, not after another turn of the loop: every command waiting
        // was taken already (the batch below drains the channel), so waiting would batch
        // nothing more, and a turn of the loop polls every source once again.
        if let Some(w) = writer.as_mut().filter(|_| !wbuf.is_empty()) {
            if let Err(e) = write_now(w, &mut wbuf) {
                debug!(target: "zookeeper", error = %e, "write failed");
                forget_connection(&mut reader, &mut writer, &mut low_water, &mut wbuf);
                session.handle_disconnected(conn_id, now());
                continue;
            }
        }
        while let Some(event) = session.poll_event() {
            if probe && !probing && session.server_version().is_none() {
                if let (Event::State(ev), Some(addr)) = (&event, peer) {
                    if ev.state.is_connected() {
                        probing = true;
                        let tx = probe_tx.clone();
                        tokio::spawn(async move {
                            // Not on the path to the first request.
                            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                            let _ = tx.send(probe_version(addr).await);
                        });
                    }
                }
            }
            dispatch(&mut session, &mut watchers, &shared, event);
        }
        shared.last_zxid.store(
            session.last_zxid_seen(),
            std::sync::atomic::Ordering::Relaxed,
        );
        if session.is_terminal() && !commands_open && wbuf.is_empty() {
            break;
        }

        // One timer for the whole run, moved only when the session's next deadline comes
        // earlier than the one armed: a later deadline lets the armed one fire early, which is
        // harmless (`handle_timeout` finds nothing due and the timer is re-armed).
        if let Some(at) = session.poll_timeout().map(tokio::time::Instant::from_std) {
            if armed.is_none_or(|a| at < a) {
                timer.as_mut().reset(at);
                armed = Some(at);
            }
        }
        if reader.is_some() {
            low_water.update(session.low_water_mark(), now);
            // Moved with every read while the mark is up (a timer that fired early would be a
            // wake-up of its own, which is what the mark saves).
            if let Some(at) = low_water.deadline().map(tokio::time::Instant::from_std) {
                if lw_armed != Some(at) {
                    lw_timer.as_mut().reset(at);
                    lw_armed = Some(at);
                }
            }
        }
        let take_commands = commands_open && session.wants_requests();
        // Biased, in this order: replies first, then new commands, and only then the write, so
        // that requests submitted meanwhile share one write (fewer syscalls and wake-ups on
        // both sides).
        tokio::select! {
            biased;
            result = async {
                match reader.as_mut() {
                    Some(r) => r.read(&mut rbuf).await,
                    None => std::future::pending().await,
                }
            } => {
                match result {
                    Ok(0) | Err(_) => {
                        if let Err(e) = &result {
                            debug!(target: "zookeeper", error = %e, "read failed");
                        }
                        forget_connection(&mut reader, &mut writer, &mut low_water, &mut wbuf);
                        session.handle_disconnected(conn_id, now());
                    }
                    Ok(n) => {
                        let at = now();
                        low_water.on_read(at, n);
                        session.handle_bytes(conn_id, at, &rbuf[..n]);
                    }
                }
            }
            result = async {
                match connecting.as_mut() {
                    Some((_, fut)) => fut.await,
                    None => std::future::pending().await,
                }
            } => {
                let id = connecting.take().map_or(0, |(id, _)| id);
                match result {
                    Ok(c) => {
                        peer = Some(c.addr);
                        reader = Some(c.reader);
                        writer = Some(c.writer);
                        low_water = LowWater::new(c.low_water, adaptive);
                        conn_id = id;
                        session.handle_connected(id, now());
                    }
                    Err(e) => {
                        debug!(target: "zookeeper", error = %e.error, tls = e.tls, "connect failed");
                        if let Ok(mut slot) = shared.last_connect_error.lock() {
                            *slot = Some((e.error.to_string(), e.tls));
                        }
                        session.handle_connect_failed(id, now());
                    }
                }
            }
            command = commands.recv(), if take_commands => {
                match command {
                    Some(command) => {
                        let at = now();
                        handle_command(&mut session, &mut watchers, command, at);
                        for _ in 0..COMMAND_BATCH {
                            if !session.wants_requests() {
                                break;
                            }
                            match commands.try_recv() {
                                Ok(command) => handle_command(&mut session, &mut watchers, command, at),
                                Err(_) => break,
                            }
                        }
                    }
                    None => {
                        commands_open = false;
                        if !session.is_terminal() {
                            let (reply, _) = oneshot::channel();
                            session.close(now(), Pending { reply, watch: None });
                        }
                    }
                }
            }
            result = async {
                match writer.as_mut() {
                    Some(w) if !wbuf.is_empty() => w.write_buf(&mut wbuf).await,
                    _ => std::future::pending().await,
                }
            } => {
                if let Err(e) = result {
                    debug!(target: "zookeeper", error = %e, "write failed");
                    forget_connection(&mut reader, &mut writer, &mut low_water, &mut wbuf);
                    session.handle_disconnected(conn_id, now());
                }
            }
            () = &mut lw_timer, if lw_armed.is_some() => {
                lw_armed = None;
                low_water.on_deadline(now());
            }
            Some(result) = probe_rx.recv(), if probing => {
                probing = false;
                if let Some(version) = result {
                    if let Some(parsed) = crate::session::parse_version(&version) {
                        session.handle_server_version(parsed);
                        let (major, minor, patch) = parsed;
                        let packed = u64::from(major) << 32
                            | u64::from(minor.min(0xffff)) << 16
                            | u64::from(patch.min(0xffff));
                        shared
                            .server_version_number
                            .store(packed, std::sync::atomic::Ordering::Relaxed);
                    }
                    if let Ok(mut slot) = shared.server_version.lock() {
                        *slot = Some(version);
                    }
                }
            }
            () = &mut timer, if armed.is_some() => {
                if low_water.on_session_timer() {
                    // Bytes below the mark may be waiting: drop the mark (at the top of the
                    // loop) and look again shortly, before any timer is taken for silence.
                    let at = tokio::time::Instant::now() + low_water::MAX_WAIT;
                    timer.as_mut().reset(at);
                    armed = Some(at);
                } else {
                    armed = None;
                    session.handle_timeout(now());
                }
            }
        }
        // Writes that completed partially keep their tail at the front of `wbuf`.
        if wbuf.is_empty() && wbuf.capacity() > 4 * 1024 * 1024 {
            wbuf = BytesMut::with_capacity(64 * 1024);
        }
    }
    debug!(target: "zookeeper", "driver stopped");
}

fn handle_command(
    session: &mut Session<Pending>,
    watchers: &mut Sinks,
    command: Command,
    now: Instant,
) {
    match command {
        Command::Request { request, pending } => session.submit(now, request, pending),
        Command::AddSink { id, sink } => {
            // A sink of an ended session is dropped: its stream ends at once.
            if !session.is_terminal() {
                watchers.insert(id, sink);
            }
        }
        Command::ArmWatches {
            id,
            paths,
            request,
            pending,
        } => {
            for path in &paths {
                session.add_watcher(path, WatchKind::Data, id);
            }
            session.submit(now, request, pending);
        }
        Command::RemoveDataWatcher { id, on_server } => {
            watchers.remove(id);
            if on_server {
                session.remove_watcher_everywhere(now, WatchKind::Data, id);
            } else {
                session.forget_watcher_everywhere(now, WatchKind::Data, id);
            }
        }
        Command::AddAuth {
            scheme,
            auth,
            reply,
        } => session.add_auth(now, scheme, auth, Pending { reply, watch: None }),
        Command::RemoveWatcher { path, kind, id } => {
            watchers.remove(id);
            session.remove_watcher(now, &path, kind, id);
        }
        Command::Close { reply } => session.close(now, Pending { reply, watch: None }),
    }
}

fn dispatch(
    session: &mut Session<Pending>,
    watchers: &mut Sinks,
    shared: &Shared,
    event: Event<Pending>,
) {
    match event {
        Event::Completed { token, result } => {
            let registered = match (&result, &token.watch) {
                (Ok(reply), Some(w)) => {
                    reply.err.is_ok()
                        || (w.kind == WatchKind::Exist && reply.err == zk_proto::ErrorCode::NoNode)
                }
                _ => false,
            };
            let caller_gone = token.reply.send(result).is_err();
            if let Some(w) = token.watch.filter(|_| registered) {
                if caller_gone {
                    // The caller dropped its future: nobody holds the watcher. An exists watch
                    // is filed as a data watch when the node existed.
                    session.remove_watcher(now(), &w.path, w.kind, w.id);
                    if w.kind == WatchKind::Exist {
                        session.remove_watcher(now(), &w.path, WatchKind::Data, w.id);
                    }
                } else {
                    watchers.insert(w.id, w.sink);
                }
            }
        }
        Event::Watch {
            watchers: ids,
            event,
        } => {
            let terminal = event.event_type == zk_proto::EventType::None
                && !matches!(
                    event.state,
                    zk_proto::KeeperState::Disconnected | zk_proto::KeeperState::SyncConnected
                );
            for id in ids {
                watchers.deliver(id, &event, terminal);
            }
        }
        Event::State(ev) => {
            if ev.state.is_terminal() {
                let state = crate::session::terminal_keeper_state(ev.state);
                watchers.end_streams(&WatchedEvent::session(state));
            }
            if ev.state.is_connected() {
                if let Ok(mut c) = shared.credentials.lock() {
                    *c = (session.session_id(), session.session_password().clone());
                }
            }
            shared.state.send_replace(ev);
            let _ = shared.events.send(ev);
        }
    }
}

fn session_probe_enabled(session: &Session<Pending>) -> bool {
    session.config().probe_server_version
}
