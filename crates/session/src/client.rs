//! [`Client`]: the cheap, cloneable handle to a session's driver task, with every operation.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use zk_proto::{
    ACL, AddWatchMode, AddWatchRequest, CheckVersionRequest, CheckWatchesRequest, ClientInfo,
    CreateMode, CreateRequest, CreateTTLRequest, DeleteRequest, ErrorCode, GetACLRequest,
    GetAllChildrenNumberRequest, GetChildrenRequest, GetDataRequest, GetDataResponse,
    GetEphemeralsRequest, Jute, MultiOp, MultiRequest, MultiResult, OpCode, RemoveWatchesRequest,
    Response, SetACLRequest, SetDataRequest, Stat, SyncRequest, WatcherType,
};

use crate::config::{ConnectString, SessionConfig};
use crate::driver::{self, Command, Pending, PendingWatch, Shared, WatchSink};
use crate::error::{Error, Result};
use crate::event::{SessionEvent, SessionState};
use crate::ops::{CreateOptions, Op, OpResult, ReadOp, ReadResult};
use crate::path::{Chroot, validate_path};
use crate::session::{OutgoingRequest, Reply, Session, WatchRegistration};
use crate::watches::{EventFilter, WatchKind, WatchedEvent, WatcherId};

/// The largest TTL the server accepts (`EphemeralType.TTL.maxValue`, 2^40 - 1 ms).
const MAX_TTL_MS: u128 = (1 << 40) - 1;

/// The ZooKeeper config node, read by [`Client::get_config`] (`ZooDefs.CONFIG_NODE`).
const CONFIG_NODE: &str = "/zookeeper/config";

#[derive(Debug)]
struct Inner {
    commands: mpsc::UnboundedSender<Command>,
    chroot: Chroot,
    next_watcher: AtomicU64,
    shared: Arc<Shared>,
    state: watch::Receiver<SessionEvent>,
}

/// A handle to a ZooKeeper session. Cheap to clone; every clone talks to the same session.
/// Dropping the last clone closes the session.
///
/// ```no_run
/// # async fn demo() -> zk_session::Result<()> {
/// let client = zk_session::Client::connect("127.0.0.1:2181/app").await?;
/// let (data, stat) = client.get_data("/config").await?;
/// println!("{} bytes, version {}", data.len(), stat.version);
/// client.close().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

/// A one-shot watch: resolves once, with the node event or the session's end.
///
/// Dropping it before it fires removes the watch (on the server too, when it was the last local
/// watcher of that node and kind).
#[derive(Debug)]
pub struct OneshotWatcher {
    rx: oneshot::Receiver<(zk_proto::EventType, zk_proto::KeeperState)>,
    guard: WatchGuard,
}

/// A persistent or persistent recursive watch: every event until dropped.
#[derive(Debug)]
pub struct PersistentWatcher {
    rx: mpsc::UnboundedReceiver<WatchedEvent>,
    guard: WatchGuard,
}

#[derive(Debug)]
struct WatchGuard {
    id: WatcherId,
    path: Arc<str>,
    kinds: &'static [WatchKind],
    commands: mpsc::WeakUnboundedSender<Command>,
    armed: bool,
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(commands) = self.commands.upgrade() {
            for kind in self.kinds {
                let _ = commands.send(Command::RemoveWatcher {
                    path: self.path.clone(),
                    kind: *kind,
                    id: self.id,
                });
            }
        }
    }
}

/// One-shot data watches on many nodes ([`Client::data_watches`]): each node's watch fires
/// once, on data change or deletion, as one left by [`Client::get_data_watch`] does, and every
/// event comes in one stream ([`DataWatches::next`]), with its path. A reconnect re-arms the
/// watches not fired yet, as it does every watch. Dropping the set removes its watches, on
/// the server too ([`DataWatches::forget`] leaves the server's alone).
///
/// Armed in batches with SetWatches (one request for any number of nodes, with no data or
/// Stat in its reply) relative to a zxid at which the caller knew the nodes' state, so that
/// what changed since is reported at once: the way to watch many nodes one just created
/// or read without a request per node.
///
/// Unlike the reads that set watches, SetWatches is not coordinated with a persistent
/// watch ([`Client::add_watch`]) that the same session holds on the same path: before
/// ZooKeeper 3.9 the server keeps one watch mode per path and session (ZOOKEEPER-4466), so
/// do not arm such a path here. A recursive watch on an ancestor is not affected.
#[derive(Debug)]
pub struct DataWatches {
    rx: mpsc::UnboundedReceiver<WatchedEvent>,
    arming: DataWatchArming,
    /// Whether dropping the set asks the server to remove its watches.
    remove_on_server: bool,
}

/// What arms a [`DataWatches`] set's watches ([`DataWatches::arming`]): a cheap `Clone`, for
/// code that arms watches while another part of the program reads the set's events.
#[derive(Debug, Clone)]
pub struct DataWatchArming {
    id: WatcherId,
    commands: mpsc::WeakUnboundedSender<Command>,
    chroot: Chroot,
}

/// A SetWatches sent by [`DataWatchArming::send`]: resolves with the server's reply.
#[derive(Debug)]
pub struct Armed(oneshot::Receiver<Result<Reply>>);

impl std::future::Future for Armed {
    type Output = Result<()>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<()>> {
        std::pin::Pin::new(&mut self.0).poll(cx).map(|reply| {
            let reply = reply.map_err(|_| Error::Closed)??;
            if reply.err.is_ok() {
                Ok(())
            } else {
                Err(Error::from_code(reply.err))
            }
        })
    }
}

impl DataWatches {
    /// Sets a data watch on each of `paths` in one SetWatches request, as though each node
    /// had been read at zxid `since` (see [`DataWatchArming::send`]).
    ///
    /// # Errors
    /// As [`DataWatchArming::send`], and the connection errors.
    pub async fn watch_since(&self, paths: &[Arc<str>], since: i64) -> Result<()> {
        self.arming.send(paths, since)?.await
    }

    /// What arms this set's watches, apart from the set (whose events stay here).
    pub fn arming(&self) -> DataWatchArming {
        self.arming.clone()
    }

    /// The next event: a node's (NodeDataChanged or NodeDeleted, with its path), or the
    /// session's end (type `None` and the terminal state), after which there is none
    /// (`None`).
    pub async fn next(&mut self) -> Option<WatchedEvent> {
        self.rx.recv().await
    }

    /// The next event if one has arrived, without waiting.
    pub fn try_next(&mut self) -> Option<WatchedEvent> {
        self.rx.try_recv().ok()
    }

    /// Drops the set, removing its watches locally only: the server is not asked to remove
    /// those not fired yet (a removeWatches per node). For nodes that are being deleted, whose
    /// deletion fires and ends the server's watch, or a session about to close. A watch left
    /// on the server fires at most once more, and its event finds no watcher here (unless
    /// another watch on that node was set since); a reconnect does not re-arm it.
    pub fn forget(mut self) {
        self.remove_on_server = false;
    }
}

impl DataWatchArming {
    /// Sends, at once, one SetWatches request that sets a data watch on each of `paths` as
    /// though each node had been read at zxid `since`: a node deleted since is reported at
    /// once with NodeDeleted, one changed since (its `mzxid` above `since`) with
    /// NodeDataChanged; the others are watched from now on. Sent before anything the caller
    /// sends after this call returns; await the returned [`Armed`] for the reply.
    ///
    /// `since` must be a zxid at which the caller knew each node's state, with no change to
    /// any of them between the zxid it knew the node at and `since`: for example a node's
    /// `mzxid` as just read, or the `czxid` of the last of nodes just created by consecutive
    /// zxids.
    ///
    /// The table of watches shares the paths' strings with the caller. The watches are
    /// filed before the request goes, so an immediate event is never missed. On an error
    /// (a lost connection among others) whether the server set them is unknown: send the
    /// same paths again with the same `since`, which is harmless when they were set.
    ///
    /// # Errors
    /// [`Error::InvalidPath`] for a path that does not start with `/`;
    /// [`Error::InvalidArgument`] when the paths exceed one SetWatches
    /// ([`SET_WATCHES_MAX_LENGTH`](crate::session::SET_WATCHES_MAX_LENGTH) characters);
    /// [`Error::Closed`].
    pub fn send(&self, paths: &[Arc<str>], since: i64) -> Result<Armed> {
        // Only what the encoding needs is checked here (these are usually the paths of
        // nodes just created or read, whose full check was made then): a path that breaks
        // ZooKeeper's other rules names no node, and its watch reports NodeDeleted at once.
        let mut length = 0;
        for path in paths {
            if !path.starts_with('/') {
                return Err(Error::InvalidPath {
                    path: path.to_string(),
                    reason: "path must start with /",
                });
            }
            length += path.len();
        }
        if length > crate::session::SET_WATCHES_MAX_LENGTH {
            return Err(Error::InvalidArgument(
                "watch_since: more paths than one SetWatches carries",
            ));
        }
        let chroot = &self.chroot;
        let request = OutgoingRequest::encode_sized(
            OpCode::SetWatches,
            8 + 12 + paths.iter().map(|p| path_len(chroot, p)).sum::<usize>(),
            |b| {
                b.put_i64(since);
                b.put_i32(paths.len() as i32);
                for path in paths {
                    put_path(b, chroot, path);
                }
                // No exist and no child watches.
                b.put_i32(0);
                b.put_i32(0);
            },
        );
        let commands = self.commands.upgrade().ok_or(Error::Closed)?;
        let (reply, rx) = oneshot::channel();
        commands
            .send(Command::ArmWatches {
                id: self.id,
                paths: paths.to_vec(),
                request,
                pending: Pending { reply, watch: None },
            })
            .map_err(|_| Error::Closed)?;
        Ok(Armed(rx))
    }
}

impl Drop for DataWatches {
    fn drop(&mut self) {
        if let Some(commands) = self.arming.commands.upgrade() {
            let _ = commands.send(Command::RemoveDataWatcher {
                id: self.arming.id,
                on_server: self.remove_on_server,
            });
        }
    }
}

impl OneshotWatcher {
    /// Waits for the event. If the session ends first, the event has type `None` and the
    /// terminal state (`Expired`, `Closed`, `AuthFailed`).
    pub async fn changed(mut self) -> WatchedEvent {
        let received = (&mut self.rx).await;
        self.guard.armed = false;
        match received {
            Ok(event) => self.event(event),
            Err(_) => WatchedEvent::session(zk_proto::KeeperState::Closed),
        }
    }

    /// The event if it has already arrived, without waiting.
    pub fn try_event(&mut self) -> Option<WatchedEvent> {
        let event = self.rx.try_recv().ok()?;
        self.guard.armed = false;
        Some(self.event(event))
    }

    /// The event for a received type and state: a node event names the watched path, a session
    /// change none.
    fn event(
        &self,
        (event_type, state): (zk_proto::EventType, zk_proto::KeeperState),
    ) -> WatchedEvent {
        if event_type == zk_proto::EventType::None {
            return WatchedEvent::session(state);
        }
        WatchedEvent {
            event_type,
            state,
            path: self.guard.path.to_string(),
        }
    }

    /// The watched path.
    pub fn path(&self) -> &str {
        &self.guard.path
    }
}

impl PersistentWatcher {
    /// The next event; `None` once the session has ended. Besides node events it yields
    /// `EventType::None` events for `Disconnected` and, after a reconnect, `SyncConnected`:
    /// persistent watches get no catch-up from the server, so re-read on `SyncConnected`.
    pub async fn next(&mut self) -> Option<WatchedEvent> {
        let event = self.rx.recv().await;
        if event.is_none() {
            self.guard.armed = false;
        }
        event
    }

    /// The watched path.
    pub fn path(&self) -> &str {
        &self.guard.path
    }
}

/// A stream of session state changes.
#[derive(Debug)]
pub struct SessionEvents {
    rx: broadcast::Receiver<SessionEvent>,
}

impl SessionEvents {
    /// The next state change; `None` when the session is gone. If this receiver fell more than
    /// 1024 events behind, the oldest were dropped and it resumes with the newest.
    pub async fn next(&mut self) -> Option<SessionEvent> {
        loop {
            match self.rx.recv().await {
                Ok(ev) => return Some(ev),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

/// The server path of a client path as two pieces to write one after the other: the chroot
/// (if any) and the rest (empty for the chroot's root).
fn server_path<'a>(chroot: &'a Chroot, path: &'a str) -> (&'a str, &'a str) {
    match chroot.prefix() {
        Some(root) if path == "/" => (root, ""),
        Some(root) => (root, path),
        None => ("", path),
    }
}

fn put_path(b: &mut BytesMut, chroot: &Chroot, path: &str) {
    let (root, rest) = server_path(chroot, path);
    b.put_i32((root.len() + rest.len()) as i32);
    b.put_slice(root.as_bytes());
    b.put_slice(rest.as_bytes());
}

/// A request whose body is a path and a watch flag (exists, getData, getChildren, …): the whole
/// frame written into one buffer of the exact size, the xid left for the session to fill in.
fn path_watch_frame(op: OpCode, chroot: &Chroot, path: &str, watch: bool) -> OutgoingRequest {
    let (root, path) = server_path(chroot, path);
    let path_len = root.len() + path.len();
    let payload = 4 + 4 + 4 + path_len + 1;
    let mut frame = Vec::with_capacity(4 + payload);
    frame.extend_from_slice(&(payload as i32).to_be_bytes());
    frame.extend_from_slice(&0i32.to_be_bytes());
    frame.extend_from_slice(&op.as_i32().to_be_bytes());
    frame.extend_from_slice(&(path_len as i32).to_be_bytes());
    frame.extend_from_slice(root.as_bytes());
    frame.extend_from_slice(path.as_bytes());
    frame.push(u8::from(watch));
    OutgoingRequest {
        op,
        frame: Bytes::from(frame),
        watch: None,
    }
}

/// The encoded length of a path with the chroot.
fn path_len(chroot: &Chroot, path: &str) -> usize {
    4 + chroot.prefix().map_or(0, str::len) + path.len()
}

/// The encoded length of a create request's body.
fn create_len(chroot: &Chroot, path: &str, data: &[u8], acl: &[ACL]) -> usize {
    let acl_len: usize = acl.iter().map(Jute::encoded_len).sum();
    path_len(chroot, path) + 4 + data.len() + 4 + acl_len + 4
}

fn put_buffer(b: &mut BytesMut, data: &[u8]) {
    b.put_i32(data.len() as i32);
    b.put_slice(data);
}

fn version(v: Option<i32>) -> i32 {
    v.unwrap_or(-1)
}

/// A successful getData reply's data and Stat, decoded straight from the body (the hot path:
/// no `Response` in between).
fn get_data_reply(reply: Reply) -> Result<(Bytes, Stat)> {
    let r: GetDataResponse =
        zk_proto::from_bytes(reply.body, "GetDataResponse").map_err(Error::protocol)?;
    Ok((r.data.unwrap_or_default(), r.stat))
}

fn decode(reply: Reply) -> Result<Response> {
    Response::decode_reply(reply.op, reply.err, reply.body).map_err(Error::protocol)
}

fn unexpected(op: OpCode) -> Error {
    Error::Protocol(format!("unexpected reply body for {}", op.name()))
}

impl Client {
    /// Connects with the default [`SessionConfig`], waiting up to the session timeout for the
    /// first connection.
    ///
    /// # Errors
    /// [`Error::InvalidConnectString`]; [`Error::Timeout`] when no server answered in time; a
    /// terminal error when the session could not be established.
    pub async fn connect(connect_string: &str) -> Result<Client> {
        Self::connect_with(connect_string, SessionConfig::default()).await
    }

    /// Connects with `config`, waiting up to its session timeout for the first connection.
    ///
    /// # Errors
    /// As [`Client::connect`].
    pub async fn connect_with(connect_string: &str, config: SessionConfig) -> Result<Client> {
        let wait = config.session_timeout;
        let client = Self::start(connect_string, config)?;
        match client.wait_connected(Some(wait)).await {
            Ok(()) => Ok(client),
            Err(e) => {
                let cause = client.last_connect_error();
                client.close().await;
                match (e, cause) {
                    (Error::Timeout, Some((message, true))) => Err(Error::Tls(message)),
                    (e, _) => Err(e),
                }
            }
        }
    }

    /// The last failure to connect to a server, and whether TLS refused it (for example an
    /// untrusted certificate), to explain a connection that does not come up.
    pub fn last_connect_error(&self) -> Option<(String, bool)> {
        self.inner
            .shared
            .last_connect_error
            .lock()
            .ok()
            .and_then(|e| e.clone())
    }

    /// Starts a session without waiting for it to connect; requests made before it connects wait
    /// (up to the request timeout).
    ///
    /// # Errors
    /// [`Error::InvalidConnectString`].
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn start(connect_string: &str, config: SessionConfig) -> Result<Client> {
        let connect: ConnectString = connect_string.parse()?;
        #[cfg(feature = "tls")]
        let tls = match &config.tls {
            Some(t) => Some(driver::Tls {
                connector: t.connector()?,
                config: t.clone(),
            }),
            None => None,
        };
        #[cfg(not(feature = "tls"))]
        let tls: Option<driver::Tls> = None;
        let last_zxid = std::sync::atomic::AtomicI64::new(config.last_zxid_seen);
        let chroot = connect.chroot.clone();
        let session = Session::new(config, connect, tokio::time::Instant::now().into_std());
        let initial = SessionEvent {
            state: SessionState::Connecting,
            session_id: 0,
        };
        let (state_tx, state_rx) = watch::channel(initial);
        let (events, _) = broadcast::channel(1024);
        let credentials = std::sync::Mutex::new((0, Bytes::new()));
        let shared = Arc::new(Shared {
            state: state_tx,
            events,
            credentials,
            server_version: std::sync::Mutex::new(None),
            server_version_number: std::sync::atomic::AtomicU64::new(0),
            last_connect_error: std::sync::Mutex::new(None),
            last_zxid,
        });
        let (commands, rx) = mpsc::unbounded_channel();
        tokio::spawn(driver::run(session, rx, shared.clone(), tls));
        Ok(Client {
            inner: Arc::new(Inner {
                commands,
                chroot,
                next_watcher: AtomicU64::new(1),
                shared,
                state: state_rx,
            }),
        })
    }

    /// Waits until connected, or `timeout` (forever with `None`).
    ///
    /// # Errors
    /// [`Error::Timeout`]; the terminal error if the session ended.
    pub async fn wait_connected(&self, timeout: Option<Duration>) -> Result<()> {
        let mut rx = self.inner.state.clone();
        let wait = async {
            loop {
                let state = rx.borrow_and_update().state;
                match state {
                    SessionState::Connected { .. } => return Ok(()),
                    SessionState::Expired => return Err(Error::SessionExpired),
                    SessionState::AuthFailed => return Err(Error::AuthFailed),
                    SessionState::Closed => return Err(Error::Closed),
                    SessionState::EnsembleBehind => {
                        return Err(Error::EnsembleBehind {
                            last_zxid_seen: self.last_zxid_seen(),
                        });
                    }
                    _ => {}
                }
                if rx.changed().await.is_err() {
                    return Err(Error::Closed);
                }
            }
        };
        match timeout {
            Some(t) => tokio::time::timeout(t, wait)
                .await
                .map_err(|_| Error::Timeout)?,
            None => wait.await,
        }
    }

    /// The current state and session id.
    pub fn state(&self) -> SessionEvent {
        *self.inner.state.borrow()
    }

    /// The session id (0 before the first handshake).
    pub fn session_id(&self) -> i64 {
        self.state().session_id
    }

    /// The session id and password. Whoever has them can resume (or take over) the session,
    /// so never log them; tests use them to expire a session on the server.
    pub fn session_credentials(&self) -> (i64, Bytes) {
        self.inner
            .shared
            .credentials
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    /// The highest zxid this client has seen, as of the last state change.
    pub fn last_zxid_seen(&self) -> i64 {
        self.inner.shared.last_zxid.load(Ordering::Relaxed)
    }

    /// The server's version line (e.g. `3.8.0-5a02a…, built on …`), once the driver has probed
    /// it with `srvr` after connecting.
    pub fn server_version(&self) -> Option<String> {
        self.inner
            .shared
            .server_version
            .lock()
            .ok()
            .and_then(|v| v.clone())
    }

    /// Whether the server is known (from the version probe) to be `version` or newer; false
    /// until probed. Cheap: no lock, no parsing.
    pub fn server_is_at_least(&self, version: (u32, u32, u32)) -> bool {
        let packed = self
            .inner
            .shared
            .server_version_number
            .load(Ordering::Relaxed);
        let known = (
            (packed >> 32) as u32,
            ((packed >> 16) & 0xffff) as u32,
            (packed & 0xffff) as u32,
        );
        packed != 0 && known >= version
    }

    /// State changes from now on.
    pub fn session_events(&self) -> SessionEvents {
        SessionEvents {
            rx: self.inner.shared.events.subscribe(),
        }
    }

    /// The chroot this client prefixes to paths.
    pub fn chroot(&self) -> &Chroot {
        &self.inner.chroot
    }

    fn watcher_id(&self) -> WatcherId {
        self.inner.next_watcher.fetch_add(1, Ordering::Relaxed)
    }

    fn guard(&self, id: WatcherId, path: Arc<str>, kinds: &'static [WatchKind]) -> WatchGuard {
        WatchGuard {
            id,
            path,
            kinds,
            commands: self.inner.commands.downgrade(),
            armed: true,
        }
    }

    async fn call(
        &self,
        request: OutgoingRequest,
        watch: Option<Box<PendingWatch>>,
    ) -> Result<Reply> {
        let (reply, rx) = oneshot::channel();
        self.inner
            .commands
            .send(Command::Request {
                request,
                pending: Pending { reply, watch },
            })
            .map_err(|_| Error::Closed)?;
        let reply = rx.await.map_err(|_| Error::Closed)??;
        if !reply.err.is_ok() && !matches!(reply.op, OpCode::Multi | OpCode::MultiRead) {
            return Err(Error::from_code(reply.err));
        }
        Ok(reply)
    }

    /// Sends `request` registering a watcher of (`path`, `kind`) whose events go to `sink`;
    /// returns the reply and the guard that removes the watcher when dropped. A reply with an
    /// error registers nothing (except NoNode for an exists watch) and is returned as the error.
    async fn call_watched(
        &self,
        request: OutgoingRequest,
        path: &str,
        kind: WatchKind,
        sink: WatchSink,
    ) -> Result<(Reply, WatchGuard)> {
        self.call_watched_for(request, path, kind, sink, EventFilter::ALL)
            .await
    }

    /// [`call_watched`](Client::call_watched) for a persistent watcher told only of the node
    /// events `events` passes.
    async fn call_watched_for(
        &self,
        request: OutgoingRequest,
        path: &str,
        kind: WatchKind,
        sink: WatchSink,
        events: EventFilter,
    ) -> Result<(Reply, WatchGuard)> {
        let id = self.watcher_id();
        let path: Arc<str> = Arc::from(path);
        let registration = WatchRegistration {
            path: path.clone(),
            kind,
            id,
            events,
        };
        let watch = PendingWatch {
            id,
            path: path.clone(),
            kind,
            sink,
        };
        let (reply_tx, reply_rx) = oneshot::channel();
        self.inner
            .commands
            .send(Command::Request {
                request: request.with_watch(registration),
                pending: Pending {
                    reply: reply_tx,
                    watch: Some(Box::new(watch)),
                },
            })
            .map_err(|_| Error::Closed)?;
        let reply = reply_rx.await.map_err(|_| Error::Closed)??;
        let exist_miss = kind == WatchKind::Exist && reply.err == ErrorCode::NoNode;
        if !reply.err.is_ok() && !exist_miss {
            return Err(Error::from_code(reply.err));
        }
        // An exists watch is filed as a data watch when the node exists.
        let kinds: &'static [WatchKind] = match kind {
            WatchKind::Exist => &[WatchKind::Exist, WatchKind::Data],
            WatchKind::Data => &[WatchKind::Data],
            WatchKind::Child => &[WatchKind::Child],
            WatchKind::Persistent => &[WatchKind::Persistent],
            WatchKind::PersistentRecursive => &[WatchKind::PersistentRecursive],
        };
        Ok((reply, self.guard(id, path, kinds)))
    }

    async fn call_watch(
        &self,
        request: OutgoingRequest,
        path: &str,
        kind: WatchKind,
    ) -> Result<(Reply, OneshotWatcher)> {
        let (tx, rx) = oneshot::channel();
        let (reply, guard) = self
            .call_watched(request, path, kind, WatchSink::Oneshot(tx))
            .await?;
        Ok((reply, OneshotWatcher { rx, guard }))
    }

    // ----- operations -----

    /// Sends a request built by hand: `body` is the encoded request record for `op` (paths in it
    /// are sent as they are: no chroot is added). The reply comes back whatever its error code;
    /// decode its body with [`zk_proto::Response::decode_reply`]. For what the typed operations
    /// do not cover.
    ///
    /// # Errors
    /// The connection errors.
    pub async fn request(&self, op: OpCode, body: Bytes) -> Result<Reply> {
        let request = OutgoingRequest::encode(op, |b| b.extend_from_slice(&body));
        let (reply, rx) = oneshot::channel();
        self.inner
            .commands
            .send(Command::Request {
                request,
                pending: Pending { reply, watch: None },
            })
            .map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Creates a node and returns its path (with any sequence suffix) and Stat. Uses create2,
    /// createContainer or createTTL as the mode needs.
    ///
    /// # Errors
    /// [`Error::NodeExists`], [`Error::NoNode`] (no parent), [`Error::NoChildrenForEphemerals`],
    /// [`Error::NoAuth`], [`Error::InvalidAcl`], [`Error::Unimplemented`] (TTL on a server
    /// without extended types), [`Error::InvalidPath`], [`Error::InvalidArgument`] (TTL missing
    /// or out of range), and the connection errors.
    pub async fn create(
        &self,
        path: &str,
        data: &[u8],
        options: &CreateOptions,
    ) -> Result<(String, Stat)> {
        let request = self.create_request(path, data, options)?;
        match decode(self.call(request, None).await?)? {
            Response::Create2(r) => Ok((
                self.inner.chroot.strip_owned(r.path.unwrap_or_default()),
                r.stat,
            )),
            _ => Err(unexpected(OpCode::Create2)),
        }
    }

    fn create_request(
        &self,
        path: &str,
        data: &[u8],
        options: &CreateOptions,
    ) -> Result<OutgoingRequest> {
        validate_path(path, options.mode.is_sequential())?;
        let chroot = &self.inner.chroot;
        let write_common = |b: &mut BytesMut| {
            put_path(b, chroot, path);
            put_buffer(b, data);
            zk_proto::jute::encode_vector(&options.acl, b);
            options.mode.encode(b);
        };
        if options.mode.is_ttl() {
            let ttl = options
                .ttl
                .ok_or(Error::InvalidArgument("a TTL mode needs a ttl"))?;
            let ms = ttl.as_millis();
            if ms == 0 || ms > MAX_TTL_MS {
                return Err(Error::InvalidArgument(
                    "ttl must be between 1 ms and 2^40 - 1 ms",
                ));
            }
            let len = create_len(chroot, path, data, &options.acl) + 8;
            return Ok(OutgoingRequest::encode_sized(OpCode::CreateTTL, len, |b| {
                write_common(b);
                (ms as i64).encode(b);
            }));
        }
        if options.ttl.is_some() {
            return Err(Error::InvalidArgument("ttl given for a mode without TTL"));
        }
        let op = if options.mode == CreateMode::Container {
            OpCode::CreateContainer
        } else {
            OpCode::Create2
        };
        let len = create_len(chroot, path, data, &options.acl);
        Ok(OutgoingRequest::encode_sized(op, len, write_common))
    }

    /// Deletes a node, if its version is `version` (any with `None`).
    ///
    /// # Errors
    /// [`Error::NoNode`], [`Error::BadVersion`], [`Error::NotEmpty`], [`Error::NoAuth`], and
    /// the connection errors.
    pub async fn delete(&self, path: &str, version: Option<i32>) -> Result<()> {
        validate_path(path, false)?;
        let chroot = &self.inner.chroot;
        let request = OutgoingRequest::encode(OpCode::Delete, |b| {
            put_path(b, chroot, path);
            b.put_i32(self::version(version));
        });
        self.call(request, None).await.map(drop)
    }

    fn path_watch_request(&self, op: OpCode, path: &str, watch: bool) -> Result<OutgoingRequest> {
        validate_path(path, false)?;
        Ok(path_watch_frame(op, &self.inner.chroot, path, watch))
    }

    /// The node's Stat, or `None` if it does not exist.
    ///
    /// # Errors
    /// The connection errors.
    pub async fn exists(&self, path: &str) -> Result<Option<Stat>> {
        let request = self.path_watch_request(OpCode::Exists, path, false)?;
        match self.call(request, None).await {
            Ok(reply) => match decode(reply)? {
                Response::Exists(r) => Ok(Some(r.stat)),
                _ => Err(unexpected(OpCode::Exists)),
            },
            Err(Error::NoNode) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// As [`Client::exists`], leaving a watch: on an existing node it fires on data change or
    /// deletion, on an absent one on creation.
    ///
    /// # Errors
    /// The connection errors.
    pub async fn exists_watch(&self, path: &str) -> Result<(Option<Stat>, OneshotWatcher)> {
        let request = self.path_watch_request(OpCode::Exists, path, true)?;
        let (reply, watcher) = self.call_watch(request, path, WatchKind::Exist).await?;
        if reply.err == ErrorCode::NoNode {
            return Ok((None, watcher));
        }
        match decode(reply)? {
            Response::Exists(r) => Ok((Some(r.stat), watcher)),
            _ => Err(unexpected(OpCode::Exists)),
        }
    }

    /// The node's data and Stat. The data is a slice of the received frame, not a copy.
    ///
    /// # Errors
    /// [`Error::NoNode`], [`Error::NoAuth`], and the connection errors.
    pub async fn get_data(&self, path: &str) -> Result<(Bytes, Stat)> {
        let request = self.path_watch_request(OpCode::GetData, path, false)?;
        get_data_reply(self.call(request, None).await?)
    }

    /// As [`Client::get_data`], leaving a data watch (fires on data change or deletion).
    ///
    /// # Errors
    /// As [`Client::get_data`]; no watch is left on error.
    pub async fn get_data_watch(&self, path: &str) -> Result<(Bytes, Stat, OneshotWatcher)> {
        let request = self.path_watch_request(OpCode::GetData, path, true)?;
        let (reply, watcher) = self.call_watch(request, path, WatchKind::Data).await?;
        let (data, stat) = get_data_reply(reply)?;
        Ok((data, stat, watcher))
    }

    /// A set of one-shot data watches on any number of nodes, armed many at a time with one
    /// request each ([`DataWatches::watch_since`]), whose events come in one stream.
    pub fn data_watches(&self) -> DataWatches {
        let id = self.watcher_id();
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = self.inner.commands.send(Command::AddSink {
            id,
            sink: WatchSink::Stream(tx),
        });
        DataWatches {
            rx,
            arming: DataWatchArming {
                id,
                commands: self.inner.commands.downgrade(),
                chroot: self.inner.chroot.clone(),
            },
            remove_on_server: true,
        }
    }

    /// Writes the node's data, if its version is `version` (any with `None`).
    ///
    /// # Errors
    /// [`Error::NoNode`], [`Error::BadVersion`], [`Error::NoAuth`], and the connection errors.
    pub async fn set_data(&self, path: &str, data: &[u8], version: Option<i32>) -> Result<Stat> {
        validate_path(path, false)?;
        let chroot = &self.inner.chroot;
        let len = path_len(chroot, path) + 4 + data.len() + 4;
        let request = OutgoingRequest::encode_sized(OpCode::SetData, len, |b| {
            put_path(b, chroot, path);
            put_buffer(b, data);
            b.put_i32(self::version(version));
        });
        match decode(self.call(request, None).await?)? {
            Response::SetData(r) => Ok(r.stat),
            _ => Err(unexpected(OpCode::SetData)),
        }
    }

    /// The node's ACL and Stat.
    ///
    /// # Errors
    /// [`Error::NoNode`], and the connection errors.
    pub async fn get_acl(&self, path: &str) -> Result<(Vec<ACL>, Stat)> {
        validate_path(path, false)?;
        let request = OutgoingRequest::encode(OpCode::GetACL, |b| {
            GetACLRequest {
                path: Some(self.inner.chroot.add(path)),
            }
            .encode(b)
        });
        match decode(self.call(request, None).await?)? {
            Response::GetACL(r) => Ok((r.acl.unwrap_or_default(), r.stat)),
            _ => Err(unexpected(OpCode::GetACL)),
        }
    }

    /// Sets the node's ACL, if its ACL version is `version` (any with `None`).
    ///
    /// # Errors
    /// [`Error::NoNode`], [`Error::BadVersion`], [`Error::NoAuth`], [`Error::InvalidAcl`], and
    /// the connection errors.
    pub async fn set_acl(&self, path: &str, acl: &[ACL], version: Option<i32>) -> Result<Stat> {
        validate_path(path, false)?;
        let request = OutgoingRequest::encode(OpCode::SetACL, |b| {
            SetACLRequest {
                path: Some(self.inner.chroot.add(path)),
                acl: Some(acl.to_vec()),
                version: self::version(version),
            }
            .encode(b)
        });
        match decode(self.call(request, None).await?)? {
            Response::SetACL(r) => Ok(r.stat),
            _ => Err(unexpected(OpCode::SetACL)),
        }
    }

    /// The node's child names, unsorted (the getChildren request).
    ///
    /// For a large parent read often, prefer [`Client::get_children2`]: ZooKeeper 3.6+ answers
    /// getChildren2 from its response cache while the node's Stat is unchanged, and never
    /// getChildren, which has no Stat to check the cache with.
    ///
    /// # Errors
    /// [`Error::NoNode`], [`Error::NoAuth`], and the connection errors.
    pub async fn get_children(&self, path: &str) -> Result<Vec<String>> {
        let request = self.path_watch_request(OpCode::GetChildren, path, false)?;
        match decode(self.call(request, None).await?)? {
            Response::GetChildren(r) => Ok(r.children.unwrap_or_default()),
            _ => Err(unexpected(OpCode::GetChildren)),
        }
    }

    /// As [`Client::get_children`], leaving a child watch (fires on child change or deletion).
    ///
    /// # Errors
    /// As [`Client::get_children`]; no watch is left on error.
    pub async fn get_children_watch(&self, path: &str) -> Result<(Vec<String>, OneshotWatcher)> {
        let request = self.path_watch_request(OpCode::GetChildren, path, true)?;
        let (reply, watcher) = self.call_watch(request, path, WatchKind::Child).await?;
        match decode(reply)? {
            Response::GetChildren(r) => Ok((r.children.unwrap_or_default(), watcher)),
            _ => Err(unexpected(OpCode::GetChildren)),
        }
    }

    /// The node's child names and Stat.
    ///
    /// # Errors
    /// As [`Client::get_children`].
    pub async fn get_children2(&self, path: &str) -> Result<(Vec<String>, Stat)> {
        let request = self.path_watch_request(OpCode::GetChildren2, path, false)?;
        match decode(self.call(request, None).await?)? {
            Response::GetChildren2(r) => Ok((r.children.unwrap_or_default(), r.stat)),
            _ => Err(unexpected(OpCode::GetChildren2)),
        }
    }

    /// As [`Client::get_children2`], leaving a child watch.
    ///
    /// # Errors
    /// As [`Client::get_children`].
    pub async fn get_children2_watch(
        &self,
        path: &str,
    ) -> Result<(Vec<String>, Stat, OneshotWatcher)> {
        let request = self.path_watch_request(OpCode::GetChildren2, path, true)?;
        let (reply, watcher) = self.call_watch(request, path, WatchKind::Child).await?;
        match decode(reply)? {
            Response::GetChildren2(r) => Ok((r.children.unwrap_or_default(), r.stat, watcher)),
            _ => Err(unexpected(OpCode::GetChildren2)),
        }
    }

    /// Lets the connected server catch up with the leader for `path`.
    ///
    /// # Errors
    /// The connection errors.
    pub async fn sync(&self, path: &str) -> Result<()> {
        validate_path(path, false)?;
        let request = OutgoingRequest::encode(OpCode::Sync, |b| {
            SyncRequest {
                path: Some(self.inner.chroot.add(path)),
            }
            .encode(b)
        });
        self.call(request, None).await.map(drop)
    }

    fn multi_op(&self, op: &Op) -> Result<MultiOp> {
        let chroot = &self.inner.chroot;
        Ok(match op {
            Op::Create {
                path,
                data,
                options,
            } => {
                validate_path(path, options.mode.is_sequential())?;
                if options.mode.is_ttl() {
                    let ttl = options
                        .ttl
                        .ok_or(Error::InvalidArgument("a TTL mode needs a ttl"))?;
                    MultiOp::CreateTTL(CreateTTLRequest {
                        path: Some(chroot.add(path)),
                        data: Some(data.clone()),
                        acl: Some(options.acl.clone()),
                        flags: options.mode,
                        ttl: ttl.as_millis().min(MAX_TTL_MS) as i64,
                    })
                } else {
                    let request = CreateRequest {
                        path: Some(chroot.add(path)),
                        data: Some(data.clone()),
                        acl: Some(options.acl.clone()),
                        flags: options.mode,
                    };
                    if options.mode == CreateMode::Container {
                        MultiOp::CreateContainer(request)
                    } else {
                        MultiOp::Create2(request)
                    }
                }
            }
            Op::Delete { path, version } => {
                validate_path(path, false)?;
                MultiOp::Delete(DeleteRequest {
                    path: Some(chroot.add(path)),
                    version: self::version(*version),
                })
            }
            Op::SetData {
                path,
                data,
                version,
            } => {
                validate_path(path, false)?;
                MultiOp::SetData(SetDataRequest {
                    path: Some(chroot.add(path)),
                    data: Some(data.clone()),
                    version: self::version(*version),
                })
            }
            Op::Check { path, version } => {
                validate_path(path, false)?;
                MultiOp::Check(CheckVersionRequest {
                    path: Some(chroot.add(path)),
                    version: *version,
                })
            }
        })
    }

    /// Runs `ops` as one atomic transaction.
    ///
    /// # Errors
    /// [`Error::TransactionFailed`] with the index and error of the op that failed (nothing was
    /// applied), and the connection errors.
    pub async fn multi(&self, ops: &[Op]) -> Result<Vec<OpResult>> {
        let request = MultiRequest {
            ops: ops
                .iter()
                .map(|op| self.multi_op(op))
                .collect::<Result<_>>()?,
        };
        let request = OutgoingRequest::encode(OpCode::Multi, |b| request.encode(b));
        let Response::Multi(response) = decode(self.call(request, None).await?)? else {
            return Err(unexpected(OpCode::Multi));
        };
        if let Some((index, code)) =
            response
                .results
                .iter()
                .enumerate()
                .find_map(|(i, r)| match r {
                    MultiResult::Error(e)
                        if e.err != 0 && e.err != ErrorCode::RuntimeInconsistency.as_i32() =>
                    {
                        Some((i, ErrorCode::from_i32(e.err)))
                    }
                    _ => None,
                })
        {
            return Err(Error::TransactionFailed { index, code });
        }
        let chroot = &self.inner.chroot;
        response
            .results
            .into_iter()
            .map(|r| match r {
                MultiResult::Create(c) => Ok(OpResult::Create {
                    path: chroot.strip_owned(c.path.unwrap_or_default()),
                    stat: None,
                }),
                MultiResult::Create2(c) => Ok(OpResult::Create {
                    path: chroot.strip_owned(c.path.unwrap_or_default()),
                    stat: Some(c.stat),
                }),
                MultiResult::Delete => Ok(OpResult::Delete),
                MultiResult::SetData(s) => Ok(OpResult::SetData { stat: s.stat }),
                MultiResult::Check => Ok(OpResult::Check),
                _ => Err(unexpected(OpCode::Multi)),
            })
            .collect()
    }

    /// Runs several reads in one request (3.6); not atomic, each read has its own result.
    ///
    /// # Errors
    /// The connection errors; per-read errors are in the results.
    pub async fn multi_read(&self, ops: &[ReadOp]) -> Result<Vec<Result<ReadResult>>> {
        let chroot = &self.inner.chroot;
        let mut multi = MultiRequest::default();
        for op in ops {
            multi.ops.push(match op {
                ReadOp::GetData(path) => {
                    validate_path(path, false)?;
                    MultiOp::GetData(GetDataRequest {
                        path: Some(chroot.add(path)),
                        watch: false,
                    })
                }
                ReadOp::GetChildren(path) => {
                    validate_path(path, false)?;
                    MultiOp::GetChildren(GetChildrenRequest {
                        path: Some(chroot.add(path)),
                        watch: false,
                    })
                }
            });
        }
        let request = OutgoingRequest::encode(OpCode::MultiRead, |b| multi.encode(b));
        let Response::Multi(response) = decode(self.call(request, None).await?)? else {
            return Err(unexpected(OpCode::MultiRead));
        };
        Ok(response
            .results
            .into_iter()
            .map(|r| match r {
                MultiResult::GetData(d) => Ok(ReadResult::Data(d.data.unwrap_or_default(), d.stat)),
                MultiResult::GetChildren(c) => {
                    Ok(ReadResult::Children(c.children.unwrap_or_default()))
                }
                MultiResult::Error(e) => Err(Error::from_code(ErrorCode::from_i32(e.err))),
                _ => Err(unexpected(OpCode::MultiRead)),
            })
            .collect())
    }

    /// The full paths of this session's ephemeral nodes under `prefix` (3.6).
    ///
    /// # Errors
    /// The connection errors.
    pub async fn get_ephemerals(&self, prefix: &str) -> Result<Vec<String>> {
        let chroot = &self.inner.chroot;
        let request = OutgoingRequest::encode(OpCode::GetEphemerals, |b| {
            GetEphemeralsRequest {
                prefix_path: Some(chroot.add(prefix)),
            }
            .encode(b)
        });
        match decode(self.call(request, None).await?)? {
            Response::GetEphemerals(r) => Ok(r
                .ephemerals
                .unwrap_or_default()
                .iter()
                .map(|p| chroot.strip(p))
                .collect()),
            _ => Err(unexpected(OpCode::GetEphemerals)),
        }
    }

    /// The number of descendants of a node (3.6).
    ///
    /// # Errors
    /// [`Error::NoNode`], and the connection errors.
    pub async fn get_all_children_number(&self, path: &str) -> Result<i32> {
        validate_path(path, false)?;
        let request = OutgoingRequest::encode(OpCode::GetAllChildrenNumber, |b| {
            GetAllChildrenNumberRequest {
                path: Some(self.inner.chroot.add(path)),
            }
            .encode(b)
        });
        match decode(self.call(request, None).await?)? {
            Response::GetAllChildrenNumber(r) => Ok(r.total_number),
            _ => Err(unexpected(OpCode::GetAllChildrenNumber)),
        }
    }

    /// The identities the server associates with this connection (3.7).
    ///
    /// # Errors
    /// The connection errors.
    pub async fn whoami(&self) -> Result<Vec<ClientInfo>> {
        let request = OutgoingRequest::encode(OpCode::WhoAmI, |_| {});
        match decode(self.call(request, None).await?)? {
            Response::WhoAmI(r) => Ok(r.client_info.unwrap_or_default()),
            _ => Err(unexpected(OpCode::WhoAmI)),
        }
    }

    /// The ensemble's dynamic configuration (`/zookeeper/config`, outside any chroot).
    ///
    /// # Errors
    /// The connection errors.
    pub async fn get_config(&self) -> Result<(Bytes, Stat)> {
        let request = OutgoingRequest::encode(OpCode::GetData, |b| {
            GetDataRequest {
                path: Some(CONFIG_NODE.to_owned()),
                watch: false,
            }
            .encode(b)
        });
        match decode(self.call(request, None).await?)? {
            Response::GetData(r) => Ok((r.data.unwrap_or_default(), r.stat)),
            _ => Err(unexpected(OpCode::GetData)),
        }
    }

    /// Adds authentication, e.g. `add_auth("digest", b"user:password")`. It is replayed on
    /// every reconnect.
    ///
    /// # Errors
    /// [`Error::AuthFailed`] (the session is then unusable), and the connection errors.
    pub async fn add_auth(&self, scheme: &str, auth: &[u8]) -> Result<()> {
        let (reply, rx) = oneshot::channel();
        self.inner
            .commands
            .send(Command::AddAuth {
                scheme: scheme.to_owned(),
                auth: Bytes::copy_from_slice(auth),
                reply,
            })
            .map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?.map(drop)
    }

    /// Adds a persistent (or, with `recursive`, persistent recursive) watch (3.6).
    ///
    /// It works beside this session's one-shot watches on the same path on every server,
    /// although before 3.9 the server keeps one watch mode per path and session
    /// (ZOOKEEPER-4466): the session coordinates them. Before 3.9 a persistent and a
    /// recursive watch of one session on one path still replace each other.
    ///
    /// # Errors
    /// The connection errors.
    pub async fn add_watch(&self, path: &str, recursive: bool) -> Result<PersistentWatcher> {
        self.add_watch_with(path, recursive, EventFilter::ALL).await
    }

    /// As [`Client::add_watch`], yielding only node events of the types in `kinds` (session
    /// events always): the others are dropped as they arrive, before they reach a channel.
    /// For example a recursive watch that only needs deletions under a busy parent.
    ///
    /// # Errors
    /// The connection errors.
    pub async fn add_watch_for(
        &self,
        path: &str,
        recursive: bool,
        kinds: &[zk_proto::EventType],
    ) -> Result<PersistentWatcher> {
        self.add_watch_with(path, recursive, EventFilter::only(kinds))
            .await
    }

    async fn add_watch_with(
        &self,
        path: &str,
        recursive: bool,
        filter: EventFilter,
    ) -> Result<PersistentWatcher> {
        validate_path(path, false)?;
        let (mode, kind) = if recursive {
            (
                AddWatchMode::PersistentRecursive,
                WatchKind::PersistentRecursive,
            )
        } else {
            (AddWatchMode::Persistent, WatchKind::Persistent)
        };
        let request = OutgoingRequest::encode(OpCode::AddWatch, |b| {
            AddWatchRequest {
                path: Some(self.inner.chroot.add(path)),
                mode,
            }
            .encode(b)
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let (_, guard) = self
            .call_watched_for(request, path, kind, WatchSink::Stream(tx), filter)
            .await?;
        Ok(PersistentWatcher { rx, guard })
    }

    /// Asks the server whether it holds a watch of `watcher_type` on `path` for this session
    /// (3.5). A low-level check: local watchers are not consulted.
    ///
    /// # Errors
    /// [`Error::NoWatcher`], and the connection errors.
    pub async fn check_watches(&self, path: &str, watcher_type: WatcherType) -> Result<()> {
        validate_path(path, false)?;
        let request = OutgoingRequest::encode(OpCode::CheckWatches, |b| {
            CheckWatchesRequest {
                path: Some(self.inner.chroot.add(path)),
                watcher_type,
            }
            .encode(b)
        });
        self.call(request, None).await.map(drop)
    }

    /// Asks the server to drop its watches of `watcher_type` on `path` for this session (3.5).
    /// Low-level: local watchers of that path will then not fire. Dropping a watcher handle is
    /// the usual way to remove a watch.
    ///
    /// # Errors
    /// [`Error::NoWatcher`], and the connection errors.
    pub async fn remove_watches(&self, path: &str, watcher_type: WatcherType) -> Result<()> {
        validate_path(path, false)?;
        let request = OutgoingRequest::encode(OpCode::RemoveWatches, |b| {
            RemoveWatchesRequest {
                path: Some(self.inner.chroot.add(path)),
                watcher_type,
            }
            .encode(b)
        });
        self.call(request, None).await.map(drop)
    }

    /// Closes the session: queued requests are sent, then CloseSession, and the reply is awaited
    /// up to the close timeout. The server deletes the session's ephemeral nodes at once.
    /// Idempotent; other clones see [`Error::Closed`] afterwards.
    pub async fn close(&self) {
        let (reply, rx) = oneshot::channel();
        if self.inner.commands.send(Command::Close { reply }).is_ok() {
            let _ = rx.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_requests_are_encoded_byte_for_byte_as_the_jute_record() {
        for (root, path) in [
            (None, "/"),
            (None, "/a/b"),
            (Some("/app"), "/"),
            (Some("/app"), "/x"),
        ] {
            let chroot = Chroot::new(root).unwrap();
            for watch in [false, true] {
                for op in [OpCode::GetData, OpCode::Exists, OpCode::GetChildren2] {
                    let fast = path_watch_frame(op, &chroot, path, watch);
                    let jute = OutgoingRequest::encode(op, |b| {
                        GetDataRequest {
                            path: Some(chroot.add(path)),
                            watch,
                        }
                        .encode(b)
                    });
                    assert_eq!(fast.frame, jute.frame, "{root:?} {path} {watch} {op:?}");
                }
            }
        }
    }
}
