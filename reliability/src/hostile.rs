//! A broken or hostile ZooKeeper server: a scripted fake on loopback that speaks frames with
//! zk-proto and misbehaves once, on its first connection, in one chosen way ([`Misbehaviour`]);
//! every later connection is served correctly, so that a client's recovery can be checked.
//!
//! The correct service is minimal: the handshake (same session id and password on every
//! connection, so the session resumes), pings, SetWatches, auth, and a fixed answer to every
//! request (`getData` returns `"ok"`, `exists` a Stat, anything else an empty OK).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use zk_proto::frame::{FrameDecoder, write_frame};
use zk_proto::header::{NOTIFICATION_XID, PING_XID};
use zk_proto::{
    ConnectRequest, ConnectResponse, ErrorCode, EventType, GetDataResponse, Jute, KeeperState,
    OpCode, Reader, ReplyHeader, RequestHeader, Stat, WatcherEvent,
};

/// The session id the fake hands out.
pub const SESSION_ID: i64 = 0x4242;

/// The fake's session timeout.
pub const TIMEOUT_MS: i32 = 4000;

/// What the fake does wrong on its first connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misbehaviour {
    /// Answers the first request with a frame length prefix of `len` (e.g. 2 GiB - 1, or
    /// `0x8000_0000`, negative as an i32) followed by a few bytes, and keeps the connection
    /// open.
    OversizedFrame(u32),
    /// Answers the first request with the first 10 bytes of a 100-byte frame, then closes.
    TruncatedFrame,
    /// Answers the first request with a complete frame too short for a reply header.
    TruncatedRecord,
    /// Answers the first request with the wrong xid.
    WrongXid,
    /// Sends a reply to a request never made, right after the handshake.
    UnsolicitedReply,
    /// Sends 64 bytes of garbage right after the handshake.
    GarbageAfterHandshake,
    /// Sends garbage instead of a ConnectResponse.
    GarbageHandshake,
    /// Answers the handshake with a negative session timeout (which means an expired session).
    NegativeTimeout,
    /// After answering the first request, sends a notification with a path of the given kind.
    MalformedNotification(BadPath),
}

/// A malformed notification path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadPath {
    /// Jute null (length -1).
    Null,
    /// Bytes that are not UTF-8.
    NotUtf8,
    /// A length past the end of the frame.
    Overlong,
    /// Not absolute (`"x"`).
    Relative,
}

/// A fake server on loopback.
#[derive(Debug)]
pub struct FakeServer {
    addr: std::net::SocketAddr,
    connections: Arc<AtomicUsize>,
    handshakes: Arc<Mutex<Vec<ConnectRequest>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeServer {
    /// Starts a fake that misbehaves as `script` on its first connection.
    ///
    /// # Errors
    /// When it cannot listen.
    pub async fn start(script: Misbehaviour) -> std::io::Result<FakeServer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let connections = Arc::new(AtomicUsize::new(0));
        let handshakes: Arc<Mutex<Vec<ConnectRequest>>> = Arc::default();
        let (c, h) = (connections.clone(), handshakes.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let n = c.fetch_add(1, Ordering::SeqCst);
                let script = (n == 0).then_some(script);
                let h = h.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, script, h).await;
                });
            }
        });
        Ok(FakeServer {
            addr,
            connections,
            handshakes,
            task,
        })
    }

    /// The connect string.
    pub fn connect_string(&self) -> String {
        self.addr.to_string()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// The ConnectRequests received, in order.
    pub async fn handshakes(&self) -> Vec<ConnectRequest> {
        self.handshakes.lock().await.clone()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn frame(body: impl FnOnce(&mut BytesMut)) -> Bytes {
    let mut buf = BytesMut::new();
    write_frame(&mut buf, body);
    buf.freeze()
}

fn reply(xid: i32, err: ErrorCode, body: impl FnOnce(&mut BytesMut)) -> Bytes {
    frame(|b| {
        ReplyHeader { xid, zxid: 1, err }.encode(b);
        body(b);
    })
}

async fn read_frame(stream: &mut TcpStream, buf: &mut BytesMut) -> std::io::Result<Option<Bytes>> {
    let decoder = FrameDecoder::default();
    loop {
        match decoder.decode(buf) {
            Ok(Some(f)) => return Ok(Some(f)),
            Ok(None) => {}
            Err(e) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        }
        if stream.read_buf(buf).await? == 0 {
            return Ok(None);
        }
    }
}

fn garbage(n: usize) -> Vec<u8> {
    let mut rng = crate::fuzz::XorShift::new(n as u64);
    rng.bytes(n)
}

async fn serve(
    mut stream: TcpStream,
    script: Option<Misbehaviour>,
    handshakes: Arc<Mutex<Vec<ConnectRequest>>>,
) -> std::io::Result<()> {
    let mut buf = BytesMut::new();
    let Some(first) = read_frame(&mut stream, &mut buf).await? else {
        return Ok(());
    };
    let request: ConnectRequest = zk_proto::from_bytes(first, "ConnectRequest")
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    handshakes.lock().await.push(request);
    if script == Some(Misbehaviour::GarbageHandshake) {
        stream.write_all(&garbage(64)).await?;
        return hold(stream).await;
    }
    let time_out = if script == Some(Misbehaviour::NegativeTimeout) {
        -5
    } else {
        TIMEOUT_MS
    };
    let response = ConnectResponse {
        protocol_version: 0,
        time_out,
        session_id: SESSION_ID,
        passwd: Some(Bytes::from_static(&[9; 16])),
        read_only: Some(false),
    };
    stream.write_all(&frame(|b| response.encode(b))).await?;
    match script {
        Some(Misbehaviour::UnsolicitedReply) => {
            stream
                .write_all(&reply(77, ErrorCode::Ok, |b| Stat::default().encode(b)))
                .await?;
        }
        Some(Misbehaviour::GarbageAfterHandshake) => stream.write_all(&garbage(64)).await?,
        _ => {}
    }
    let mut first_request = true;
    loop {
        let Some(f) = read_frame(&mut stream, &mut buf).await? else {
            return Ok(());
        };
        let mut r = Reader::new(f);
        let Ok(header) = RequestHeader::decode(&mut r, "RequestHeader") else {
            return Ok(());
        };
        let ordinary = header.xid > 0;
        if ordinary && first_request {
            first_request = false;
            match script {
                Some(Misbehaviour::OversizedFrame(len)) => {
                    let mut out = BytesMut::new();
                    out.put_u32(len);
                    out.put_slice(&garbage(32));
                    stream.write_all(&out).await?;
                    return hold(stream).await;
                }
                Some(Misbehaviour::TruncatedFrame) => {
                    let mut out = BytesMut::new();
                    out.put_u32(100);
                    out.put_slice(&garbage(10));
                    stream.write_all(&out).await?;
                    return Ok(());
                }
                Some(Misbehaviour::TruncatedRecord) => {
                    let out = frame(|b| b.put_i32(header.xid));
                    stream.write_all(&out).await?;
                    return hold(stream).await;
                }
                Some(Misbehaviour::WrongXid) => {
                    stream
                        .write_all(&reply(header.xid + 100, ErrorCode::Ok, |_| {}))
                        .await?;
                    return hold(stream).await;
                }
                Some(Misbehaviour::MalformedNotification(bad)) => {
                    stream.write_all(&answer(&header)).await?;
                    stream.write_all(&notification(bad)).await?;
                    continue;
                }
                _ => {}
            }
        }
        let out = match header.op {
            OpCode::CloseSession => {
                stream.write_all(&answer(&header)).await?;
                return Ok(());
            }
            _ => answer(&header),
        };
        stream.write_all(&out).await?;
    }
}

/// The correct answer to a request.
fn answer(header: &RequestHeader) -> Bytes {
    match header.op {
        OpCode::Ping => reply(PING_XID, ErrorCode::Ok, |_| {}),
        OpCode::GetData => reply(header.xid, ErrorCode::Ok, |b| {
            GetDataResponse {
                data: Some(Bytes::from_static(b"ok")),
                stat: Stat::default(),
            }
            .encode(b)
        }),
        OpCode::Exists => reply(header.xid, ErrorCode::Ok, |b| Stat::default().encode(b)),
        _ => reply(header.xid, ErrorCode::Ok, |_| {}),
    }
}

fn notification(bad: BadPath) -> Bytes {
    reply(NOTIFICATION_XID, ErrorCode::Ok, |b| match bad {
        BadPath::Null => WatcherEvent {
            event_type: EventType::NodeDataChanged,
            state: KeeperState::SyncConnected,
            path: None,
        }
        .encode(b),
        BadPath::NotUtf8 => {
            b.put_i32(EventType::NodeDataChanged.as_i32());
            b.put_i32(KeeperState::SyncConnected.as_i32());
            b.put_i32(3);
            b.put_slice(&[b'/', 0xff, 0xfe]);
        }
        BadPath::Overlong => {
            b.put_i32(EventType::NodeDataChanged.as_i32());
            b.put_i32(KeeperState::SyncConnected.as_i32());
            b.put_i32(i32::MAX);
            b.put_slice(b"/x");
        }
        BadPath::Relative => WatcherEvent {
            event_type: EventType::NodeDataChanged,
            state: KeeperState::SyncConnected,
            path: Some("x".into()),
        }
        .encode(b),
    })
}

/// Keeps the connection open, reading and discarding, until the client closes it (at most a
/// minute).
async fn hold(mut stream: TcpStream) -> std::io::Result<()> {
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(60), async {
        while stream.read(&mut sink).await.is_ok_and(|n| n > 0) {}
    })
    .await;
    Ok(())
}
