//! A fault-injecting TCP proxy with optional frame recording.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::net::{
    IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs,
};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long the proxy tries to reach the upstream for a new connection.
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Frames claiming to be longer than this stop the recording of their connection.
const MAX_RECORDED_FRAME: usize = 256 << 20;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A TCP proxy on loopback that forwards to an upstream address and injects
/// network faults; see the methods. Dropping it closes every connection and
/// stops its threads.
///
/// Each accepted connection gets an ordinal (0, 1, 2, ...; also connections
/// that were refused or whose upstream could not be reached) and is served
/// by two threads, one per direction.
///
/// # Recording
///
/// A proxy made by [`FaultProxy::with_recording`] or [`FaultProxy::bind`]
/// with a file writes every ZooKeeper frame it forwards as one JSON line:
///
/// ```text
/// {"conn": 0, "dir": "c2s", "hex": "0000002c00000000..."}
/// ```
///
/// `conn` is the connection ordinal, `dir` is `c2s` (client to server) or
/// `s2c`, and `hex` is the whole frame including its 4-byte big-endian
/// length prefix, in lowercase hex. A frame is written when it has been
/// received completely, before it is forwarded, so per connection the lines
/// of each direction are in wire order and a request precedes its reply.
/// Connections whose first 4 bytes are ASCII letters (four-letter words such
/// as `srvr`) are forwarded but not recorded, as are incomplete frames at the
/// end of a connection.
pub struct FaultProxy {
    shared: Arc<Shared>,
    addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
}

struct Control {
    blackhole: bool,
    delay: Duration,
    refuse: bool,
    shutdown: bool,
}

struct Shared {
    upstream: Mutex<Vec<SocketAddr>>,
    control: Mutex<Control>,
    changed: Condvar,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    accepted: AtomicU64,
    recorder: Option<Mutex<Box<dyn Write + Send>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    C2s,
    S2c,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RecMode {
    Unknown,
    Frames,
    Off,
}

struct Rec {
    mode: RecMode,
    c2s: Vec<u8>,
    s2c: Vec<u8>,
}

struct Conn {
    id: u64,
    client: TcpStream,
    upstream: Mutex<Option<TcpStream>>,
    closed: AtomicBool,
    pumps_left: AtomicUsize,
    rec: Mutex<Rec>,
}

impl Conn {
    /// Closes both sockets in both directions.
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let _ = self.client.shutdown(Shutdown::Both);
        if let Some(up) = lock(&self.upstream).as_ref() {
            let _ = up.shutdown(Shutdown::Both);
        }
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    fn record(&self, recorder: &Mutex<Box<dyn Write + Send>>, dir: Dir, data: &[u8]) {
        let mut rec = lock(&self.rec);
        if rec.mode == RecMode::Off {
            return;
        }
        match dir {
            Dir::C2s => rec.c2s.extend_from_slice(data),
            Dir::S2c => rec.s2c.extend_from_slice(data),
        }
        if rec.mode == RecMode::Unknown && rec.c2s.len() >= 4 {
            rec.mode = if rec.c2s[..4].iter().all(u8::is_ascii_alphabetic) {
                RecMode::Off
            } else {
                RecMode::Frames
            };
        }
        match rec.mode {
            RecMode::Unknown => {}
            RecMode::Off => {
                rec.c2s = Vec::new();
                rec.s2c = Vec::new();
            }
            RecMode::Frames => {
                let mut out = String::new();
                let rec = &mut *rec;
                let ok = drain_frames(self.id, "c2s", &mut rec.c2s, &mut out)
                    && drain_frames(self.id, "s2c", &mut rec.s2c, &mut out);
                if !ok {
                    rec.mode = RecMode::Off;
                    rec.c2s = Vec::new();
                    rec.s2c = Vec::new();
                }
                if !out.is_empty() {
                    let mut w = lock(recorder);
                    let _ = w.write_all(out.as_bytes());
                    let _ = w.flush();
                }
            }
        }
    }
}

/// Moves every complete frame of `buf` into `out` as JSON lines; `false` if
/// the stream can't be ZooKeeper framing.
fn drain_frames(conn: u64, dir: &str, buf: &mut Vec<u8>, out: &mut String) -> bool {
    let mut pos = 0;
    while buf.len() - pos >= 4 {
        let len = u32::from_be_bytes([buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]]) as usize;
        if len > MAX_RECORDED_FRAME {
            return false;
        }
        if buf.len() - pos < 4 + len {
            break;
        }
        let _ = write!(out, "{{\"conn\": {conn}, \"dir\": \"{dir}\", \"hex\": \"");
        for b in &buf[pos..pos + 4 + len] {
            let _ = write!(out, "{b:02x}");
        }
        out.push_str("\"}\n");
        pos += 4 + len;
    }
    buf.drain(..pos);
    true
}

impl Shared {
    fn is_shutdown(&self) -> bool {
        lock(&self.control).shutdown
    }

    fn notify(&self) {
        // Taking the lock orders this wake-up after any waiter's check.
        drop(lock(&self.control));
        self.changed.notify_all();
    }

    /// Waits while the proxy blackholes, then for the configured delay;
    /// `false` if the connection was closed meanwhile.
    fn hold(&self, conn: &Conn) -> bool {
        let mut c = lock(&self.control);
        let deadline = Instant::now() + c.delay;
        loop {
            if c.shutdown || conn.is_closed() {
                return false;
            }
            if c.blackhole {
                c = self.changed.wait(c).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            c = self
                .changed
                .wait_timeout(c, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn remove(&self, id: u64) {
        lock(&self.conns).remove(&id);
    }

    fn add_thread(&self, handle: JoinHandle<()>) {
        let mut threads = lock(&self.threads);
        threads.retain(|h| !h.is_finished());
        threads.push(handle);
    }

    fn cut_all(&self) {
        let conns: Vec<Arc<Conn>> = lock(&self.conns).values().cloned().collect();
        for c in conns {
            c.close();
        }
        self.notify();
    }
}

fn pump(shared: &Shared, conn: &Conn, mut from: TcpStream, mut to: TcpStream, dir: Dir) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => {
                // Half-close: pass the EOF on (unless blackholed meanwhile).
                if shared.hold(conn) {
                    let _ = to.shutdown(Shutdown::Write);
                }
                break;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => {
                conn.close();
                break;
            }
        };
        if let Some(recorder) = &shared.recorder {
            conn.record(recorder, dir, &buf[..n]);
        }
        if !shared.hold(conn) || to.write_all(&buf[..n]).is_err() {
            conn.close();
            break;
        }
    }
    if conn.pumps_left.fetch_sub(1, Ordering::SeqCst) == 1 {
        conn.close();
        shared.remove(conn.id);
    }
}

fn connect_any(addrs: &[SocketAddr]) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no upstream address");
    for a in addrs {
        match TcpStream::connect_timeout(a, UPSTREAM_CONNECT_TIMEOUT) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn run_conn(shared: Arc<Shared>, conn: Arc<Conn>, client: TcpStream) {
    let addrs = lock(&shared.upstream).clone();
    let setup = || -> io::Result<(TcpStream, TcpStream, TcpStream)> {
        let up = connect_any(&addrs)?;
        let _ = up.set_nodelay(true);
        let _ = client.set_nodelay(true);
        *lock(&conn.upstream) = Some(up.try_clone()?);
        Ok((up.try_clone()?, up, client.try_clone()?))
    };
    let Ok((up_read, up_write, client_write)) = setup() else {
        conn.close();
        shared.remove(conn.id);
        return;
    };
    if conn.is_closed() || shared.is_shutdown() {
        conn.close();
        shared.remove(conn.id);
        return;
    }
    let s2c = {
        let (shared, conn) = (Arc::clone(&shared), Arc::clone(&conn));
        thread::Builder::new()
            .name(format!("zk-proxy-s2c-{}", conn.id))
            .spawn(move || pump(&shared, &conn, up_read, client_write, Dir::S2c))
    };
    match s2c {
        Ok(handle) => shared.add_thread(handle),
        Err(_) => {
            conn.close();
            shared.remove(conn.id);
            return;
        }
    }
    pump(&shared, &conn, client, up_write, Dir::C2s);
}

fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    for stream in listener.incoming() {
        if shared.is_shutdown() {
            break;
        }
        let Ok(stream) = stream else {
            // E.g. out of file descriptors: don't spin.
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        let id = shared.accepted.fetch_add(1, Ordering::SeqCst);
        if lock(&shared.control).refuse {
            let _ = stream.shutdown(Shutdown::Both);
            continue;
        }
        let Ok(client) = stream.try_clone() else {
            continue;
        };
        let conn = Arc::new(Conn {
            id,
            client,
            upstream: Mutex::new(None),
            closed: AtomicBool::new(false),
            pumps_left: AtomicUsize::new(2),
            rec: Mutex::new(Rec {
                mode: RecMode::Unknown,
                c2s: Vec::new(),
                s2c: Vec::new(),
            }),
        });
        lock(&shared.conns).insert(id, Arc::clone(&conn));
        let sh = Arc::clone(&shared);
        let c = Arc::clone(&conn);
        match thread::Builder::new()
            .name(format!("zk-proxy-c2s-{id}"))
            .spawn(move || run_conn(sh, c, stream))
        {
            Ok(handle) => shared.add_thread(handle),
            Err(_) => {
                conn.close();
                shared.remove(id);
            }
        }
    }
}

fn resolve(addr: impl ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "address resolved to nothing",
        ));
    }
    Ok(addrs)
}

impl FaultProxy {
    /// Starts a pass-through proxy on `127.0.0.1:<ephemeral port>` to `upstream`.
    pub fn start(upstream: impl ToSocketAddrs) -> io::Result<FaultProxy> {
        Self::spawn((Ipv4Addr::LOCALHOST, 0), upstream, None)
    }

    /// Starts a recording proxy on `127.0.0.1:<ephemeral port>` to `upstream`
    /// that writes the frames to `out` (see [Recording](FaultProxy#recording)).
    pub fn with_recording<W: Write + Send + 'static>(
        upstream: impl ToSocketAddrs,
        out: W,
    ) -> io::Result<FaultProxy> {
        Self::spawn((Ipv4Addr::LOCALHOST, 0), upstream, Some(Box::new(out)))
    }

    /// Starts a proxy listening on `listen` (e.g. `"127.0.0.1:2182"`), to
    /// `upstream`, recording to the file `recording` (created or truncated)
    /// if given. The proxy runs on background threads until dropped; this is
    /// what `zk wire record --listen ADDR --upstream ADDR --out FILE` runs.
    pub fn bind(
        listen: impl ToSocketAddrs,
        upstream: impl ToSocketAddrs,
        recording: Option<&Path>,
    ) -> io::Result<FaultProxy> {
        let out: Option<Box<dyn Write + Send>> = match recording {
            Some(path) => Some(Box::new(BufWriter::new(File::create(path)?))),
            None => None,
        };
        Self::spawn(listen, upstream, out)
    }

    fn spawn(
        listen: impl ToSocketAddrs,
        upstream: impl ToSocketAddrs,
        recorder: Option<Box<dyn Write + Send>>,
    ) -> io::Result<FaultProxy> {
        let upstream = resolve(upstream)?;
        let listener = TcpListener::bind(listen)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream: Mutex::new(upstream),
            control: Mutex::new(Control {
                blackhole: false,
                delay: Duration::ZERO,
                refuse: false,
                shutdown: false,
            }),
            changed: Condvar::new(),
            conns: Mutex::new(HashMap::new()),
            accepted: AtomicU64::new(0),
            recorder: recorder.map(Mutex::new),
            threads: Mutex::new(Vec::new()),
        });
        let sh = Arc::clone(&shared);
        let accept = thread::Builder::new()
            .name(format!("zk-proxy-accept-{}", addr.port()))
            .spawn(move || accept_loop(sh, listener))?;
        Ok(FaultProxy {
            shared,
            addr,
            accept: Some(accept),
        })
    }

    /// The address the proxy listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The proxy's address as a ZooKeeper connect string (`"127.0.0.1:port"`).
    pub fn connect_string(&self) -> String {
        self.addr.to_string()
    }

    /// The upstream addresses (new connections try them in order).
    pub fn upstream(&self) -> Vec<SocketAddr> {
        lock(&self.shared.upstream).clone()
    }

    /// Points new connections at another upstream; open ones stay where they are.
    pub fn set_upstream(&self, upstream: impl ToSocketAddrs) -> io::Result<()> {
        *lock(&self.shared.upstream) = resolve(upstream)?;
        Ok(())
    }

    /// Closes every current connection at once, in both directions, on both
    /// sides (shutdown of the client and the upstream socket): the client
    /// reads EOF (or a reset) right away. New connections are still accepted.
    pub fn cut(&self) {
        self.shared.cut_all();
    }

    /// Stops forwarding bytes in both directions, on current and new
    /// connections, while keeping every socket open: the client hears
    /// silence, like behind a network partition. Bytes received meanwhile are
    /// held, not dropped (the proxy stops reading, so TCP flow control holds
    /// the rest), and delivered in order after [`FaultProxy::restore`], as
    /// TCP would after a partition heals. Combine with [`FaultProxy::cut`] to
    /// discard them instead.
    pub fn blackhole(&self) {
        lock(&self.shared.control).blackhole = true;
    }

    /// Ends a [`FaultProxy::blackhole`]: held bytes flow again.
    pub fn restore(&self) {
        lock(&self.shared.control).blackhole = false;
        self.shared.changed.notify_all();
    }

    /// Whether the proxy currently blackholes.
    pub fn is_blackholed(&self) -> bool {
        lock(&self.shared.control).blackhole
    }

    /// Adds latency: every chunk read from either side waits this long
    /// before it is forwarded (one chunk at a time per direction, so a
    /// stream of small writes is slowed down by `delay` per chunk).
    /// `Duration::ZERO` turns it off.
    pub fn delay(&self, delay: Duration) {
        lock(&self.shared.control).delay = delay;
        self.shared.changed.notify_all();
    }

    /// With `true`, new connections are accepted and immediately closed (the
    /// client's connect succeeds, then it reads EOF); open connections stay.
    /// `false` accepts them normally again.
    pub fn refuse_new(&self, refuse: bool) {
        lock(&self.shared.control).refuse = refuse;
    }

    /// The number of connections open now.
    pub fn connection_count(&self) -> usize {
        lock(&self.shared.conns).len()
    }

    /// The number of connections accepted so far (including refused ones).
    pub fn total_connections(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Whether the proxy records frames.
    pub fn is_recording(&self) -> bool {
        self.shared.recorder.is_some()
    }
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.upstream())
            .field("connections", &self.connection_count())
            .finish()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        lock(&self.shared.control).shutdown = true;
        self.shared.changed.notify_all();
        // Wake the accept loop with a connection of our own.
        let wake = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => {
                SocketAddr::new(Ipv4Addr::LOCALHOST.into(), self.addr.port())
            }
            IpAddr::V6(ip) if ip.is_unspecified() => {
                SocketAddr::new(Ipv6Addr::LOCALHOST.into(), self.addr.port())
            }
            _ => self.addr,
        };
        let woke = TcpStream::connect_timeout(&wake, Duration::from_secs(1)).is_ok();
        if let Some(accept) = self.accept.take() {
            if woke {
                let _ = accept.join();
            }
        }
        self.shared.cut_all();
        loop {
            let threads = std::mem::take(&mut *lock(&self.shared.threads));
            if threads.is_empty() {
                break;
            }
            for t in threads {
                let _ = t.join();
            }
        }
        if let Some(recorder) = &self.shared.recorder {
            let _ = lock(recorder).flush();
        }
    }
}
