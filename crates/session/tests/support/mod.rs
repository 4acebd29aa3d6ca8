//! Test support for the sans-IO session: an in-memory ZooKeeper 3.8 server ([`ZkServer`]) and a
//! harness ([`Pair`]) stepping a `Session<u64>` against it on a simulated clock, in the style of
//! quinn-proto's `Pair`.
//!
//! Nothing here sleeps or reads the real clock for its logic: `Pair::now` starts at one
//! `Instant` taken once and only moves when a test advances it. Every loop is bounded.

// Not every helper is used by every test.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use zk_proto::frame::{FrameDecoder, write_frame};
use zk_proto::header::{AUTH_XID, NOTIFICATION_XID, PING_XID, SET_WATCHES_XID};
use zk_proto::{
    ACL, ConnectRequest, ConnectResponse, CreateMode, CreateRequest, CreateResponse, DeleteRequest,
    ErrorCode, EventType, ExistsRequest, GetChildren2Response, GetChildrenRequest,
    GetChildrenResponse, GetDataRequest, GetDataResponse, Jute, KeeperState, OpCode, Reader,
    ReplyHeader, Request, RequestHeader, SetDataRequest, SetDataResponse, Stat, SyncResponse,
    WatcherEvent, WatcherType,
};
use zk_session::{
    Action, ConnectString, Error, Event, EventFilter, HostPort, OutgoingRequest, Reply, Session,
    SessionConfig, SessionState, WatchKind, WatchRegistration, WatchedEvent, WatcherId,
};

/// The fake server's passwords are derived from the session id (as the real server's are).
fn passwd_for(session_id: i64) -> Bytes {
    let seed = session_id.to_be_bytes();
    Bytes::from(
        (0..16u8)
            .map(|i| seed[usize::from(i % 8)] ^ i.wrapping_mul(37).wrapping_add(1))
            .collect::<Vec<u8>>(),
    )
}

/// The parent of a server path (`/` for top-level nodes).
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// One frame the client sent, as the server decoded it.
#[derive(Debug, Clone, PartialEq)]
pub enum Rx {
    /// The handshake.
    Connect(ConnectRequest),
    /// Anything after the handshake.
    Request {
        /// The xid of the request header.
        xid: i32,
        /// The op code.
        op: OpCode,
        /// The decoded body.
        body: Request,
    },
}

impl Rx {
    /// A one-line summary for comparing frame sequences: `connect`, `ping`,
    /// `auth digest u:p`, `setWatches`, `getData /a #3`.
    pub fn summary(&self) -> String {
        match self {
            Rx::Connect(_) => "connect".to_owned(),
            Rx::Request { xid, op, body } => match body {
                Request::Auth(a) => format!(
                    "auth {} {}",
                    a.scheme.as_deref().unwrap_or(""),
                    String::from_utf8_lossy(a.auth.as_deref().unwrap_or(b""))
                ),
                Request::SetWatches(_) | Request::SetWatches2(_) => op.name().to_owned(),
                Request::Empty => format!("{} #{xid}", op.name()).replace(" #-2", ""),
                _ => format!("{} {} #{xid}", op.name(), body.path().unwrap_or("")),
            },
        }
    }

    /// The xid, for requests.
    pub fn xid(&self) -> Option<i32> {
        match self {
            Rx::Connect(_) => None,
            Rx::Request { xid, .. } => Some(*xid),
        }
    }

    /// The op, for requests.
    pub fn op(&self) -> Option<OpCode> {
        match self {
            Rx::Connect(_) => None,
            Rx::Request { op, .. } => Some(*op),
        }
    }
}

/// What a host does with a connection attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostBehavior {
    /// A working server.
    Accept,
    /// TCP connection refused (`handle_connect_failed` at once).
    RefuseTcp,
    /// The TCP connect never completes (only the connect timeout ends it).
    Hang,
    /// TCP accepted, then closed without a ConnectResponse (the server is behind the client, or
    /// any other refusal).
    CloseOnHandshake,
    /// TCP accepted; the server reads but never answers anything.
    Silent,
}

/// A znode of the fake server.
#[derive(Debug, Clone, Default)]
pub struct Node {
    /// The data.
    pub data: Bytes,
    /// The stat.
    pub stat: Stat,
}

/// Server-side state of one session.
#[derive(Debug, Clone, Default)]
pub struct ServerSession {
    /// The password.
    pub passwd: Bytes,
    /// The negotiated timeout.
    pub timeout_ms: i32,
    /// Data and exist watches (the server keeps both in one table).
    pub data_watches: BTreeSet<String>,
    /// Child watches.
    pub child_watches: BTreeSet<String>,
    /// The auth identities added.
    pub auths: Vec<(String, Bytes)>,
}

/// One TCP connection, server side.
#[derive(Debug)]
pub struct Conn {
    /// The session's attempt id for this connection.
    pub id: u64,
    /// The host connected to.
    pub host: HostPort,
    /// Every byte the client wrote.
    pub raw: Vec<u8>,
    /// Every frame the client wrote, decoded.
    pub frames: Vec<Rx>,
    /// The session this connection serves, once the handshake succeeded.
    pub session_id: Option<i64>,
    /// Whether the connection is still open.
    pub open: bool,
    /// The server reads but never answers.
    pub mute: bool,
    /// Replies (xid > 0) held back until released.
    pub held: VecDeque<Bytes>,
    /// A ConnectResponse held back until released.
    pub held_handshake: Option<Bytes>,
    /// Requests that arrived behind a held ConnectRequest, run once it is released.
    unserved: VecDeque<(RequestHeader, Request)>,
    rx: BytesMut,
    out: BytesMut,
    close_after_out: bool,
    refuse_handshake: bool,
}

impl Conn {
    fn new(id: u64, host: HostPort) -> Self {
        Conn {
            id,
            host,
            raw: Vec::new(),
            frames: Vec::new(),
            session_id: None,
            open: true,
            mute: false,
            held: VecDeque::new(),
            held_handshake: None,
            unserved: VecDeque::new(),
            rx: BytesMut::new(),
            out: BytesMut::new(),
            close_after_out: false,
            refuse_handshake: false,
        }
    }

    /// The summaries of every frame received.
    pub fn summaries(&self) -> Vec<String> {
        self.frames.iter().map(Rx::summary).collect()
    }

    /// The frames that are ordinary requests (xid > 0).
    pub fn requests(&self) -> Vec<&Rx> {
        self.frames
            .iter()
            .filter(|f| f.xid().is_some_and(|x| x > 0))
            .collect()
    }

    /// How many pings the client sent on this connection.
    pub fn pings(&self) -> usize {
        self.frames
            .iter()
            .filter(|f| f.op() == Some(OpCode::Ping))
            .count()
    }

    /// The handshake the client sent, if any.
    pub fn connect_request(&self) -> Option<&ConnectRequest> {
        match self.frames.first() {
            Some(Rx::Connect(c)) => Some(c),
            _ => None,
        }
    }
}

/// Appends a reply frame.
fn write_reply(
    buf: &mut BytesMut,
    xid: i32,
    zxid: i64,
    err: ErrorCode,
    body: impl FnOnce(&mut BytesMut),
) {
    write_frame(buf, |b| {
        ReplyHeader { xid, zxid, err }.encode(b);
        body(b);
    });
}

/// A notification frame as a 3.8 server sends it (zxid -1, state SyncConnected).
pub fn notification_frame(event_type: EventType, server_path: &str, zxid: i64) -> Bytes {
    let mut buf = BytesMut::new();
    write_reply(&mut buf, NOTIFICATION_XID, zxid, ErrorCode::Ok, |b| {
        WatcherEvent {
            event_type,
            state: KeeperState::SyncConnected,
            path: Some(server_path.to_owned()),
        }
        .encode(b)
    });
    buf.freeze()
}

/// An in-memory ZooKeeper 3.8 server (one shared data tree for every host).
#[derive(Debug)]
pub struct ZkServer {
    /// The last processed zxid.
    pub zxid: i64,
    /// The data tree, by server path.
    pub nodes: BTreeMap<String, Node>,
    /// Live sessions.
    pub sessions: HashMap<i64, ServerSession>,
    /// The smallest negotiated timeout (2 × tickTime).
    pub min_timeout_ms: i32,
    /// The largest negotiated timeout (20 × tickTime).
    pub max_timeout_ms: i32,
    /// Answer every handshake with this timeout instead (≤ 0: expired).
    pub force_timeout: Option<i32>,
    /// Whether the server is read-only.
    pub read_only: bool,
    /// Auth schemes answered with AUTHFAILED.
    pub reject_auth_schemes: Vec<String>,
    /// Whether pings are answered.
    pub reply_pings: bool,
    /// Whether replies to ordinary requests are held back until released.
    pub hold_replies: bool,
    /// Whether ConnectResponses are held back until released.
    pub hold_handshake: bool,
    next_session: i64,
    /// Notifications for sessions: (session id, frame).
    outbox: Vec<(i64, Bytes)>,
}

impl Default for ZkServer {
    fn default() -> Self {
        let mut nodes = BTreeMap::new();
        nodes.insert("/".to_owned(), Node::default());
        ZkServer {
            zxid: 0x10,
            nodes,
            sessions: HashMap::new(),
            min_timeout_ms: 4_000,
            max_timeout_ms: 40_000,
            force_timeout: None,
            read_only: false,
            reject_auth_schemes: Vec::new(),
            reply_pings: true,
            hold_replies: false,
            hold_handshake: false,
            next_session: 0x0100_0000_0000_0001,
            outbox: Vec::new(),
        }
    }
}

impl ZkServer {
    /// Puts a node straight into the tree (no zxid, no watches): test setup.
    pub fn put(&mut self, path: &str, data: &[u8]) {
        let stat = Stat {
            data_length: data.len() as i32,
            ..Stat::default()
        };
        self.nodes.insert(
            path.to_owned(),
            Node {
                data: Bytes::copy_from_slice(data),
                stat,
            },
        );
    }

    fn children(&self, path: &str) -> Vec<String> {
        self.nodes
            .keys()
            .filter(|k| k.as_str() != "/" && parent(k) == path)
            .map(|k| k[path.len()..].trim_start_matches('/').to_owned())
            .collect()
    }

    fn stat(&self, path: &str) -> Option<Stat> {
        let node = self.nodes.get(path)?;
        let mut stat = node.stat.clone();
        stat.num_children = self.children(path).len() as i32;
        stat.data_length = node.data.len() as i32;
        Some(stat)
    }

    fn notify_data(&mut self, event_type: EventType, path: &str) {
        let mut fired = Vec::new();
        for (sid, s) in &mut self.sessions {
            if s.data_watches.remove(path) {
                fired.push(*sid);
            }
        }
        for sid in fired {
            self.outbox
                .push((sid, notification_frame(event_type, path, -1)));
        }
    }

    fn notify_child(&mut self, event_type: EventType, path: &str) {
        let mut fired = Vec::new();
        for (sid, s) in &mut self.sessions {
            if s.child_watches.remove(path) {
                fired.push(*sid);
            }
        }
        for sid in fired {
            self.outbox
                .push((sid, notification_frame(event_type, path, -1)));
        }
    }

    /// Creates a node as a write transaction (zxid, watches).
    pub fn create(&mut self, path: &str, data: &[u8], owner: i64) -> Result<(), ErrorCode> {
        if self.nodes.contains_key(path) {
            return Err(ErrorCode::NodeExists);
        }
        let p = parent(path).to_owned();
        if !self.nodes.contains_key(&p) {
            return Err(ErrorCode::NoNode);
        }
        self.zxid += 1;
        let zxid = self.zxid;
        self.nodes.insert(
            path.to_owned(),
            Node {
                data: Bytes::copy_from_slice(data),
                stat: Stat {
                    czxid: zxid,
                    mzxid: zxid,
                    pzxid: zxid,
                    ephemeral_owner: owner,
                    ..Stat::default()
                },
            },
        );
        if let Some(pn) = self.nodes.get_mut(&p) {
            pn.stat.cversion += 1;
            pn.stat.pzxid = zxid;
        }
        self.notify_data(EventType::NodeCreated, path);
        self.notify_child(EventType::NodeChildrenChanged, &p);
        Ok(())
    }

    /// Sets a node's data as a write transaction.
    pub fn set_data(&mut self, path: &str, data: &[u8], version: i32) -> Result<Stat, ErrorCode> {
        let Some(node) = self.nodes.get(path) else {
            return Err(ErrorCode::NoNode);
        };
        if version != -1 && version != node.stat.version {
            return Err(ErrorCode::BadVersion);
        }
        self.zxid += 1;
        let zxid = self.zxid;
        if let Some(node) = self.nodes.get_mut(path) {
            node.data = Bytes::copy_from_slice(data);
            node.stat.version += 1;
            node.stat.mzxid = zxid;
        }
        self.notify_data(EventType::NodeDataChanged, path);
        self.stat(path).ok_or(ErrorCode::NoNode)
    }

    /// Deletes a node as a write transaction.
    pub fn delete(&mut self, path: &str, version: i32) -> Result<(), ErrorCode> {
        let Some(node) = self.nodes.get(path) else {
            return Err(ErrorCode::NoNode);
        };
        if version != -1 && version != node.stat.version {
            return Err(ErrorCode::BadVersion);
        }
        if !self.children(path).is_empty() {
            return Err(ErrorCode::NotEmpty);
        }
        self.zxid += 1;
        let zxid = self.zxid;
        self.nodes.remove(path);
        let p = parent(path).to_owned();
        if let Some(pn) = self.nodes.get_mut(&p) {
            pn.stat.cversion += 1;
            pn.stat.pzxid = zxid;
        }
        // One NodeDeleted per session, whether it watched the data, the children or both
        // (`DataTree.deleteNode` passes the already-notified set to the child watches).
        let mut fired = Vec::new();
        for (sid, s) in &mut self.sessions {
            let data = s.data_watches.remove(path);
            let child = s.child_watches.remove(path);
            if data || child {
                fired.push(*sid);
            }
        }
        for sid in fired {
            self.outbox
                .push((sid, notification_frame(EventType::NodeDeleted, path, -1)));
        }
        self.notify_child(EventType::NodeChildrenChanged, &p);
        Ok(())
    }

    /// Expires a session: it is forgotten, its ephemerals deleted.
    pub fn expire(&mut self, session_id: i64) {
        self.sessions.remove(&session_id);
        let ephemerals: Vec<String> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.stat.ephemeral_owner == session_id)
            .map(|(p, _)| p.clone())
            .collect();
        for p in ephemerals {
            let _ = self.delete(&p, -1);
        }
    }

    /// The server forgets the watches of a connection that closed (watches live on connections;
    /// SetWatches re-arms them).
    fn connection_closed(&mut self, session_id: Option<i64>) {
        if let Some(s) = session_id.and_then(|sid| self.sessions.get_mut(&sid)) {
            s.data_watches.clear();
            s.child_watches.clear();
        }
    }

    /// Reads and serves every complete frame the client wrote on `conn`.
    fn serve(&mut self, conn: &mut Conn) {
        let decoder = FrameDecoder::default();
        loop {
            let frame = match decoder.decode(&mut conn.rx) {
                Ok(Some(frame)) => frame,
                Ok(None) => return,
                Err(e) => panic!("the client sent a bad frame: {e}"),
            };
            if conn.frames.is_empty() {
                let req: ConnectRequest = zk_proto::from_bytes(frame, "ConnectRequest")
                    .expect("the first frame must be a ConnectRequest");
                conn.frames.push(Rx::Connect(req.clone()));
                if !conn.mute {
                    self.handshake(conn, &req);
                }
                continue;
            }
            let mut r = Reader::new(frame);
            let header = RequestHeader::decode(&mut r, "RequestHeader")
                .expect("a request must start with a RequestHeader");
            let body = Request::decode(header.op, r.rest())
                .unwrap_or_else(|e| panic!("bad {} body: {e}", header.op.name()));
            conn.frames.push(Rx::Request {
                xid: header.xid,
                op: header.op,
                body: body.clone(),
            });
            if conn.mute || conn.close_after_out {
                continue;
            }
            if conn.held_handshake.is_some() {
                // As ZooKeeperServer.processConnectRequest: nothing after the ConnectRequest
                // is run until the session is validated and the response sent.
                conn.unserved.push_back((header, body));
                continue;
            }
            let sid = conn
                .session_id
                .expect("a request arrived before the handshake completed");
            self.request(conn, sid, header, body);
        }
    }

    fn handshake(&mut self, conn: &mut Conn, req: &ConnectRequest) {
        // ZooKeeperServer.processConnectRequest: a server behind the client closes the
        // connection without a reply ("client must try another server").
        if conn.refuse_handshake || req.last_zxid_seen > self.zxid {
            conn.close_after_out = true;
            return;
        }
        let read_only = req.read_only.map(|_| self.read_only);
        let mut resp = if req.session_id == 0 {
            let sid = self.next_session;
            self.next_session += 1;
            let timeout_ms = req.time_out.clamp(self.min_timeout_ms, self.max_timeout_ms);
            self.sessions.insert(
                sid,
                ServerSession {
                    passwd: passwd_for(sid),
                    timeout_ms,
                    ..ServerSession::default()
                },
            );
            ConnectResponse {
                protocol_version: 0,
                time_out: timeout_ms,
                session_id: sid,
                passwd: Some(passwd_for(sid)),
                read_only,
            }
        } else {
            match self.sessions.get(&req.session_id) {
                Some(s) if Some(&s.passwd) == req.passwd.as_ref() => ConnectResponse {
                    protocol_version: 0,
                    time_out: s.timeout_ms,
                    session_id: req.session_id,
                    passwd: Some(s.passwd.clone()),
                    read_only,
                },
                _ => ConnectResponse {
                    protocol_version: 0,
                    time_out: 0,
                    session_id: 0,
                    passwd: Some(Bytes::from_static(&[0; 16])),
                    read_only,
                },
            }
        };
        if let Some(t) = self.force_timeout {
            resp.time_out = t;
        }
        if resp.time_out <= 0 {
            // Expired: the response, then the server closes the connection.
            conn.close_after_out = true;
        } else {
            conn.session_id = Some(resp.session_id);
        }
        let mut frame = BytesMut::new();
        write_frame(&mut frame, |b| resp.encode(b));
        if self.hold_handshake {
            conn.held_handshake = Some(frame.freeze());
        } else {
            conn.out.extend_from_slice(&frame);
        }
    }

    fn request(&mut self, conn: &mut Conn, sid: i64, header: RequestHeader, body: Request) {
        let xid = header.xid;
        match (header.op, body) {
            (OpCode::Ping, _) => {
                if self.reply_pings {
                    write_reply(&mut conn.out, PING_XID, self.zxid, ErrorCode::Ok, |_| {});
                }
            }
            (OpCode::Auth, Request::Auth(a)) => {
                assert_eq!(xid, AUTH_XID, "auth packets use xid -4");
                let scheme = a.scheme.clone().unwrap_or_default();
                if self.reject_auth_schemes.contains(&scheme) {
                    write_reply(&mut conn.out, AUTH_XID, 0, ErrorCode::AuthFailed, |_| {});
                    conn.close_after_out = true;
                } else {
                    if let Some(s) = self.sessions.get_mut(&sid) {
                        s.auths.push((scheme, a.auth.unwrap_or_default()));
                    }
                    write_reply(&mut conn.out, AUTH_XID, 0, ErrorCode::Ok, |_| {});
                }
            }
            (OpCode::SetWatches | OpCode::SetWatches2, body) => {
                let (rel, data, exist, child) = match body {
                    Request::SetWatches(w) => (
                        w.relative_zxid,
                        w.data_watches,
                        w.exist_watches,
                        w.child_watches,
                    ),
                    Request::SetWatches2(w) => (
                        w.relative_zxid,
                        w.data_watches,
                        w.exist_watches,
                        w.child_watches,
                    ),
                    _ => unreachable!(),
                };
                self.set_watches(sid, rel, data, exist, child);
                // The server echoes the xid (-8 for this client).
                let reply = xid;
                self.reply(conn, reply, ErrorCode::Ok, |_| {});
            }
            (OpCode::CloseSession, _) => {
                self.expire(sid);
                self.reply(conn, xid, ErrorCode::Ok, |_| {});
                conn.close_after_out = true;
            }
            (_, Request::GetData(r)) => {
                let path = r.path.unwrap_or_default();
                match (
                    self.nodes.get(&path).map(|n| n.data.clone()),
                    self.stat(&path),
                ) {
                    (Some(data), Some(stat)) => {
                        if r.watch {
                            self.watch(sid, &path, false);
                        }
                        self.reply(conn, xid, ErrorCode::Ok, |b| {
                            GetDataResponse {
                                data: Some(data),
                                stat,
                            }
                            .encode(b)
                        });
                    }
                    _ => self.reply(conn, xid, ErrorCode::NoNode, |_| {}),
                }
            }
            (_, Request::Exists(r)) => {
                let path = r.path.unwrap_or_default();
                if r.watch {
                    // An exists watch is a data watch on the server, present node or not.
                    self.watch(sid, &path, false);
                }
                match self.stat(&path) {
                    Some(stat) => self.reply(conn, xid, ErrorCode::Ok, |b| stat.encode(b)),
                    None => self.reply(conn, xid, ErrorCode::NoNode, |_| {}),
                }
            }
            (_, Request::GetChildren(GetChildrenRequest { path, watch })) => {
                let path = path.unwrap_or_default();
                if self.nodes.contains_key(&path) {
                    if watch {
                        self.watch(sid, &path, true);
                    }
                    let children = Some(self.children(&path));
                    self.reply(conn, xid, ErrorCode::Ok, |b| {
                        GetChildrenResponse { children }.encode(b)
                    });
                } else {
                    self.reply(conn, xid, ErrorCode::NoNode, |_| {});
                }
            }
            (_, Request::GetChildren2(r)) => {
                let path = r.path.unwrap_or_default();
                match self.stat(&path) {
                    Some(stat) => {
                        if r.watch {
                            self.watch(sid, &path, true);
                        }
                        let children = Some(self.children(&path));
                        self.reply(conn, xid, ErrorCode::Ok, |b| {
                            GetChildren2Response { children, stat }.encode(b)
                        });
                    }
                    None => self.reply(conn, xid, ErrorCode::NoNode, |_| {}),
                }
            }
            (OpCode::Create, Request::Create(r)) => {
                let path = r.path.unwrap_or_default();
                let owner = if r.flags.is_ephemeral() { sid } else { 0 };
                let data = r.data.unwrap_or_default();
                match self.create(&path, &data, owner) {
                    Ok(()) => self.reply(conn, xid, ErrorCode::Ok, |b| {
                        CreateResponse { path: Some(path) }.encode(b)
                    }),
                    Err(e) => self.reply(conn, xid, e, |_| {}),
                }
            }
            (_, Request::SetData(r)) => {
                let path = r.path.unwrap_or_default();
                let data = r.data.unwrap_or_default();
                match self.set_data(&path, &data, r.version) {
                    Ok(stat) => self.reply(conn, xid, ErrorCode::Ok, |b| {
                        SetDataResponse { stat }.encode(b)
                    }),
                    Err(e) => self.reply(conn, xid, e, |_| {}),
                }
            }
            (_, Request::Delete(r)) => {
                let path = r.path.unwrap_or_default();
                match self.delete(&path, r.version) {
                    Ok(()) => self.reply(conn, xid, ErrorCode::Ok, |_| {}),
                    Err(e) => self.reply(conn, xid, e, |_| {}),
                }
            }
            (_, Request::Sync(r)) => self.reply(conn, xid, ErrorCode::Ok, |b| {
                SyncResponse { path: r.path }.encode(b)
            }),
            (_, Request::RemoveWatches(r)) => {
                let path = r.path.unwrap_or_default();
                let removed = self
                    .sessions
                    .get_mut(&sid)
                    .is_some_and(|s| match r.watcher_type {
                        WatcherType::Data => s.data_watches.remove(&path),
                        WatcherType::Children => s.child_watches.remove(&path),
                        _ => s.data_watches.remove(&path) | s.child_watches.remove(&path),
                    });
                let err = if removed {
                    ErrorCode::Ok
                } else {
                    ErrorCode::NoWatcher
                };
                self.reply(conn, xid, err, |_| {});
            }
            _ => self.reply(conn, xid, ErrorCode::Unimplemented, |_| {}),
        }
        self.route_notifications(conn);
    }

    /// Moves notifications for the connection's session onto it (before the reply that caused
    /// them, as the real server writes them while applying the transaction).
    fn route_notifications(&mut self, conn: &mut Conn) {
        let outbox = std::mem::take(&mut self.outbox);
        for (sid, frame) in outbox {
            if conn.session_id == Some(sid) && conn.open {
                conn.out.extend_from_slice(&frame);
            }
        }
    }

    fn watch(&mut self, sid: i64, path: &str, child: bool) {
        if let Some(s) = self.sessions.get_mut(&sid) {
            if child {
                s.child_watches.insert(path.to_owned());
            } else {
                s.data_watches.insert(path.to_owned());
            }
        }
    }

    /// `DataTree.setWatches`: re-arms, or fires at once what changed since `rel`.
    fn set_watches(
        &mut self,
        sid: i64,
        rel: i64,
        data: Option<Vec<String>>,
        exist: Option<Vec<String>>,
        child: Option<Vec<String>>,
    ) {
        let mut events = Vec::new();
        for path in data.unwrap_or_default() {
            match self.nodes.get(&path) {
                None => events.push((EventType::NodeDeleted, path)),
                Some(n) if n.stat.mzxid > rel => events.push((EventType::NodeDataChanged, path)),
                Some(_) => self.watch(sid, &path, false),
            }
        }
        for path in exist.unwrap_or_default() {
            if self.nodes.contains_key(&path) {
                events.push((EventType::NodeCreated, path));
            } else {
                self.watch(sid, &path, false);
            }
        }
        for path in child.unwrap_or_default() {
            match self.nodes.get(&path) {
                None => events.push((EventType::NodeDeleted, path)),
                Some(n) if n.stat.pzxid > rel => {
                    events.push((EventType::NodeChildrenChanged, path))
                }
                Some(_) => self.watch(sid, &path, true),
            }
        }
        for (event_type, path) in events {
            self.outbox
                .push((sid, notification_frame(event_type, &path, -1)));
        }
    }

    /// Writes a reply with the server's last zxid (or holds it back).
    fn reply(
        &mut self,
        conn: &mut Conn,
        xid: i32,
        err: ErrorCode,
        body: impl FnOnce(&mut BytesMut),
    ) {
        // Notifications caused by this request go first.
        self.route_notifications(conn);
        let mut frame = BytesMut::new();
        write_reply(&mut frame, xid, self.zxid, err, body);
        if self.hold_replies && xid > 0 {
            conn.held.push_back(frame.freeze());
        } else {
            conn.out.extend_from_slice(&frame);
        }
    }
}

/// A recorded completion.
#[derive(Debug)]
pub struct Completion {
    /// When, since the start.
    pub at: Duration,
    /// The token.
    pub token: u64,
    /// The result.
    pub result: Result<Reply, Error>,
}

/// A recorded watch event.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    /// When, since the start.
    pub at: Duration,
    /// The watchers told.
    pub watchers: Vec<WatcherId>,
    /// The event.
    pub event: WatchedEvent,
}

/// A session stepped against the fake server on a simulated clock.
pub struct Pair {
    /// The simulated clock's origin.
    pub base: Instant,
    /// The simulated now.
    pub now: Instant,
    /// The session under test.
    pub session: Session<u64>,
    /// The server (every host shares its tree and sessions).
    pub server: ZkServer,
    /// Every connection ever opened, oldest first.
    pub conns: Vec<Conn>,
    /// Every action the session asked for, with its time.
    pub actions: Vec<(Duration, Action)>,
    /// Every state the session reported, with its time.
    pub states: Vec<(Duration, SessionState)>,
    /// Every request completion.
    pub completions: Vec<Completion>,
    /// Every watch event.
    pub fired: Vec<Fired>,
    /// Bytes the session asked to transmit while no connection was open.
    pub stray_transmits: usize,
    /// Deliver server bytes in chunks of this size (None: whole).
    pub chunk: Option<usize>,
    behaviors: HashMap<String, HostBehavior>,
    scripts: HashMap<String, VecDeque<HostBehavior>>,
    live: Option<usize>,
    next_token: u64,
}

/// A configuration with a 6 s session timeout (read timeout 4 s, ping interval 2 s) and a fixed
/// seed.
pub fn config() -> SessionConfig {
    SessionConfig {
        session_timeout: Duration::from_secs(6),
        seed: Some(7),
        ..SessionConfig::default()
    }
}

/// Milliseconds.
pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

impl Pair {
    /// A session for `connect_string`; nothing is driven yet (the session's first
    /// `Action::Connect` waits in its queue).
    pub fn new(connect_string: &str, config: SessionConfig) -> Self {
        let cs: ConnectString = connect_string.parse().expect("connect string");
        let base = Instant::now();
        let session = Session::new(config, cs, base);
        Pair {
            base,
            now: base,
            session,
            server: ZkServer::default(),
            conns: Vec::new(),
            actions: Vec::new(),
            states: Vec::new(),
            completions: Vec::new(),
            fired: Vec::new(),
            stray_transmits: 0,
            chunk: None,
            behaviors: HashMap::new(),
            scripts: HashMap::new(),
            live: None,
            next_token: 1,
        }
    }

    /// A session on one host, connected.
    pub fn connected(connect_string: &str, config: SessionConfig) -> Self {
        let mut pair = Pair::new(connect_string, config);
        pair.drive();
        assert!(
            pair.session.state().is_connected(),
            "not connected: {:?}",
            pair.states
        );
        pair
    }

    /// The time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.base
    }

    /// Sets what `host` does with every connection attempt (default: accept).
    pub fn set_host(&mut self, host: &str, behavior: HostBehavior) {
        self.behaviors.insert(host.to_owned(), behavior);
    }

    /// Sets what `host` does with its next attempts, in order, before its default.
    pub fn script_host(&mut self, host: &str, behaviors: &[HostBehavior]) {
        self.scripts
            .entry(host.to_owned())
            .or_default()
            .extend(behaviors.iter().copied());
    }

    fn behavior(&mut self, host: &str) -> HostBehavior {
        if let Some(b) = self.scripts.get_mut(host).and_then(VecDeque::pop_front) {
            return b;
        }
        self.behaviors
            .get(host)
            .copied()
            .unwrap_or(HostBehavior::Accept)
    }

    /// The open connection.
    pub fn live(&self) -> &Conn {
        &self.conns[self.live.expect("no open connection")]
    }

    /// The open connection, mutably.
    pub fn live_mut(&mut self) -> &mut Conn {
        let i = self.live.expect("no open connection");
        &mut self.conns[i]
    }

    /// Whether a connection is open.
    pub fn has_live(&self) -> bool {
        self.live.is_some()
    }

    /// The last connection opened.
    pub fn last_conn(&self) -> &Conn {
        self.conns.last().expect("no connection yet")
    }

    fn close_live(&mut self) {
        if let Some(i) = self.live.take() {
            self.conns[i].open = false;
            let sid = self.conns[i].session_id;
            self.server.connection_closed(sid);
        }
    }

    fn carry_out(&mut self, action: Action) {
        match action {
            Action::Disconnect => self.close_live(),
            Action::Connect { id, host } => {
                // The driver drops any previous connection when it connects again.
                self.close_live();
                match self.behavior(&host.host) {
                    HostBehavior::RefuseTcp => self.session.handle_connect_failed(id, self.now),
                    HostBehavior::Hang => {}
                    b => {
                        let mut conn = Conn::new(id, host);
                        conn.refuse_handshake = b == HostBehavior::CloseOnHandshake;
                        conn.mute = b == HostBehavior::Silent;
                        self.conns.push(conn);
                        self.live = Some(self.conns.len() - 1);
                        self.session.handle_connected(id, self.now);
                    }
                }
            }
        }
    }

    fn record(&mut self, event: Event<u64>) {
        let at = self.elapsed();
        match event {
            Event::State(s) => self.states.push((at, s.state)),
            Event::Completed { token, result } => {
                assert!(
                    !self.completions.iter().any(|c| c.token == token),
                    "token {token} completed twice"
                );
                self.completions.push(Completion { at, token, result });
            }
            Event::Watch { watchers, event } => self.fired.push(Fired {
                at,
                watchers,
                event,
            }),
        }
    }

    /// Runs the session and the server until nothing moves, without advancing the clock.
    pub fn drive(&mut self) {
        for _ in 0..1_000_000 {
            let mut progress = false;
            while let Some(action) = self.session.poll_action() {
                progress = true;
                self.actions.push((self.elapsed(), action.clone()));
                self.carry_out(action);
            }
            while let Some(bytes) = self.session.poll_transmit() {
                progress = true;
                match self.live {
                    Some(i) => {
                        self.conns[i].raw.extend_from_slice(&bytes);
                        self.conns[i].rx.extend_from_slice(&bytes);
                    }
                    None => self.stray_transmits += bytes.len(),
                }
            }
            if let Some(i) = self.live {
                let conn = &mut self.conns[i];
                self.server.serve(conn);
                self.server.route_notifications(conn);
                if !conn.out.is_empty() {
                    progress = true;
                    let n = self.chunk.unwrap_or(usize::MAX).min(conn.out.len());
                    let bytes = conn.out.split_to(n);
                    let id = conn.id;
                    self.session.handle_bytes(id, self.now, &bytes);
                } else if conn.close_after_out && conn.held.is_empty() {
                    progress = true;
                    let id = conn.id;
                    self.close_live();
                    self.session.handle_disconnected(id, self.now);
                }
            }
            while let Some(event) = self.session.poll_event() {
                progress = true;
                self.record(event);
            }
            if !progress {
                return;
            }
        }
        panic!("drive did not settle");
    }

    /// Advances the clock by `d`, firing every timer due on the way at its deadline.
    pub fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        self.drive();
        for _ in 0..100_000 {
            match self.session.poll_timeout() {
                Some(at) if at <= target => {
                    self.now = self.now.max(at);
                    self.session.handle_timeout(self.now);
                    self.drive();
                }
                _ => {
                    self.now = target;
                    self.drive();
                    return;
                }
            }
        }
        panic!("timers did not settle");
    }

    /// Fires timers one at a time until `done` holds, for at most `limit` of simulated time.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Pair) -> bool) {
        let end = self.now + limit;
        self.drive();
        for _ in 0..100_000 {
            if done(self) {
                return;
            }
            match self.session.poll_timeout() {
                Some(at) if at <= end => {
                    self.now = self.now.max(at);
                    self.session.handle_timeout(self.now);
                    self.drive();
                }
                _ => panic!(
                    "condition not reached within {limit:?}; states {:?}",
                    self.states
                ),
            }
        }
        panic!("run_until did not settle");
    }

    /// The clock jumps by `d` at once (a suspended process): one `handle_timeout`.
    pub fn jump(&mut self, d: Duration) {
        self.now += d;
        self.session.handle_timeout(self.now);
        self.drive();
    }

    /// Submits a request; returns its token.
    pub fn submit(&mut self, request: OutgoingRequest) -> u64 {
        let token = self.next_token;
        self.next_token += 1;
        self.session.submit(self.now, request, token);
        token
    }

    /// Adds auth; returns its token.
    pub fn add_auth(&mut self, scheme: &str, auth: &str) -> u64 {
        let token = self.next_token;
        self.next_token += 1;
        self.session.add_auth(
            self.now,
            scheme.to_owned(),
            Bytes::copy_from_slice(auth.as_bytes()),
            token,
        );
        token
    }

    /// Closes the session; returns the close token.
    pub fn close(&mut self) -> u64 {
        let token = self.next_token;
        self.next_token += 1;
        self.session.close(self.now, token);
        token
    }

    /// The result of `token`, if completed.
    pub fn result(&self, token: u64) -> Option<&Result<Reply, Error>> {
        self.completions
            .iter()
            .find(|c| c.token == token)
            .map(|c| &c.result)
    }

    /// The error of `token`, which must have failed.
    pub fn error(&self, token: u64) -> Error {
        match self.result(token) {
            Some(Err(e)) => e.clone(),
            other => panic!("token {token}: expected an error, got {other:?}"),
        }
    }

    /// The reply of `token`, which must have succeeded at the transport level.
    pub fn reply(&self, token: u64) -> &Reply {
        match self.result(token) {
            Some(Ok(r)) => r,
            other => panic!("token {token}: expected a reply, got {other:?}"),
        }
    }

    /// The states reported so far, without times.
    pub fn state_list(&self) -> Vec<SessionState> {
        self.states.iter().map(|(_, s)| *s).collect()
    }

    /// The hosts of every `Action::Connect` so far.
    pub fn connect_hosts(&self) -> Vec<String> {
        self.actions
            .iter()
            .filter_map(|(_, a)| match a {
                Action::Connect { host, .. } => Some(host.host.clone()),
                Action::Disconnect => None,
            })
            .collect()
    }

    /// The times of every `Action::Connect` so far.
    pub fn connect_times(&self) -> Vec<Duration> {
        self.actions
            .iter()
            .filter_map(|(t, a)| matches!(a, Action::Connect { .. }).then_some(*t))
            .collect()
    }

    /// How many `Action::Disconnect` so far.
    pub fn disconnects(&self) -> usize {
        self.actions
            .iter()
            .filter(|(_, a)| *a == Action::Disconnect)
            .count()
    }

    /// Releases the `n` oldest held replies of the open connection (all: `usize::MAX`).
    pub fn release(&mut self, n: usize) {
        let conn = self.live_mut();
        for _ in 0..n {
            let Some(frame) = conn.held.pop_front() else {
                break;
            };
            conn.out.extend_from_slice(&frame);
        }
        self.drive();
    }

    /// Releases a held ConnectResponse.
    pub fn release_handshake(&mut self) {
        let i = self.live.expect("no open connection");
        let conn = &mut self.conns[i];
        let frame = conn.held_handshake.take().expect("no held handshake");
        conn.out.extend_from_slice(&frame);
        if let Some(sid) = conn.session_id {
            while let Some((header, body)) = conn.unserved.pop_front() {
                self.server.request(conn, sid, header, body);
            }
        }
        self.drive();
    }

    /// The server writes raw bytes to the open connection.
    pub fn inject(&mut self, bytes: &[u8]) {
        self.live_mut().out.extend_from_slice(bytes);
        self.drive();
    }

    /// The server writes a reply frame to the open connection.
    pub fn inject_reply(&mut self, xid: i32, zxid: i64, err: ErrorCode) {
        let mut frame = BytesMut::new();
        write_reply(&mut frame, xid, zxid, err, |_| {});
        self.inject(&frame);
    }

    /// The server writes a notification to the open connection.
    pub fn inject_notification(&mut self, event_type: EventType, server_path: &str, zxid: i64) {
        let frame = notification_frame(event_type, server_path, zxid);
        self.inject(&frame);
    }

    /// The server (or the network) closes the open connection: the session sees EOF.
    pub fn drop_connection(&mut self) {
        let id = self.live().id;
        self.close_live();
        self.session.handle_disconnected(id, self.now);
    }

    /// Another client changes the tree; notifications reach the open connection.
    pub fn external(&mut self, change: impl FnOnce(&mut ZkServer)) {
        change(&mut self.server);
        if let Some(i) = self.live {
            self.server.route_notifications(&mut self.conns[i]);
        } else {
            self.server.outbox.clear();
        }
        self.drive();
    }

    /// The server expires the session; if connected, it closes the connection.
    pub fn expire_session(&mut self) {
        let sid = self.session.session_id();
        self.server.expire(sid);
        if self.live.is_some() {
            self.drop_connection();
        }
    }

    // ----- requests (client paths; the chroot is added here, as the client does) -----

    fn server_path(&self, path: &str) -> String {
        self.session.chroot().add(path)
    }

    /// getData, with a data watch for `watch`.
    pub fn get_data(&self, path: &str, watch: Option<WatcherId>) -> OutgoingRequest {
        let request = OutgoingRequest::encode(OpCode::GetData, |b| {
            GetDataRequest {
                path: Some(self.server_path(path)),
                watch: watch.is_some(),
            }
            .encode(b)
        });
        with_watch(request, path, WatchKind::Data, watch)
    }

    /// exists, with an exist watch for `watch`.
    pub fn exists(&self, path: &str, watch: Option<WatcherId>) -> OutgoingRequest {
        let request = OutgoingRequest::encode(OpCode::Exists, |b| {
            ExistsRequest {
                path: Some(self.server_path(path)),
                watch: watch.is_some(),
            }
            .encode(b)
        });
        with_watch(request, path, WatchKind::Exist, watch)
    }

    /// getChildren, with a child watch for `watch`.
    pub fn get_children(&self, path: &str, watch: Option<WatcherId>) -> OutgoingRequest {
        let request = OutgoingRequest::encode(OpCode::GetChildren, |b| {
            GetChildrenRequest {
                path: Some(self.server_path(path)),
                watch: watch.is_some(),
            }
            .encode(b)
        });
        with_watch(request, path, WatchKind::Child, watch)
    }

    /// create, persistent, open ACL.
    pub fn create(&self, path: &str, data: &[u8]) -> OutgoingRequest {
        OutgoingRequest::encode(OpCode::Create, |b| {
            CreateRequest {
                path: Some(self.server_path(path)),
                data: Some(Bytes::copy_from_slice(data)),
                acl: Some(ACL::open_unsafe()),
                flags: CreateMode::Persistent,
            }
            .encode(b)
        })
    }

    /// setData, any version.
    pub fn set_data(&self, path: &str, data: &[u8]) -> OutgoingRequest {
        OutgoingRequest::encode(OpCode::SetData, |b| {
            SetDataRequest {
                path: Some(self.server_path(path)),
                data: Some(Bytes::copy_from_slice(data)),
                version: -1,
            }
            .encode(b)
        })
    }

    /// delete, any version.
    pub fn delete(&self, path: &str) -> OutgoingRequest {
        OutgoingRequest::encode(OpCode::Delete, |b| {
            DeleteRequest {
                path: Some(self.server_path(path)),
                version: -1,
            }
            .encode(b)
        })
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        // The session must never write while it has no connection.
        if !std::thread::panicking() {
            assert_eq!(
                self.stray_transmits, 0,
                "the session transmitted without a connection"
            );
        }
    }
}

fn with_watch(
    request: OutgoingRequest,
    path: &str,
    kind: WatchKind,
    watch: Option<WatcherId>,
) -> OutgoingRequest {
    match watch {
        Some(id) => request.with_watch(WatchRegistration {
            path: path.into(),
            kind,
            id,
            events: EventFilter::ALL,
        }),
        None => request,
    }
}

/// One SetWatches frame: (relativeZxid, data, exist, child watches).
pub type WatchBatch = (i64, Vec<String>, Vec<String>, Vec<String>);

/// The SetWatches frames (either version) among `frames`.
pub fn set_watches(frames: &[Rx]) -> Vec<WatchBatch> {
    frames
        .iter()
        .filter_map(|f| match f {
            Rx::Request {
                xid,
                body: Request::SetWatches(w),
                ..
            } => {
                assert_eq!(*xid, SET_WATCHES_XID);
                Some((
                    w.relative_zxid,
                    w.data_watches.clone().unwrap_or_default(),
                    w.exist_watches.clone().unwrap_or_default(),
                    w.child_watches.clone().unwrap_or_default(),
                ))
            }
            Rx::Request {
                xid,
                body: Request::SetWatches2(w),
                ..
            } => {
                assert_eq!(*xid, SET_WATCHES_XID);
                Some((
                    w.relative_zxid,
                    w.data_watches.clone().unwrap_or_default(),
                    w.exist_watches.clone().unwrap_or_default(),
                    w.child_watches.clone().unwrap_or_default(),
                ))
            }
            _ => None,
        })
        .collect()
}
