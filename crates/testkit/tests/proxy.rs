//! FaultProxy self-tests: against an echo upstream, and against ZooKeeper.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{MiniClient, echo_server, wait_for, write_frame};
use zk_testkit::{FaultProxy, four_letter_word, shared_server, unique_path};

const T: Duration = Duration::from_secs(5);

fn connect(proxy: &FaultProxy) -> TcpStream {
    let s = TcpStream::connect_timeout(&proxy.addr(), T).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s
}

fn echo_roundtrip(s: &mut TcpStream, msg: &[u8]) {
    s.write_all(msg).unwrap();
    let mut buf = vec![0u8; msg.len()];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(buf, msg);
}

/// Reads until EOF or a reset; panics on a timeout.
fn expect_closed(s: &mut TcpStream) {
    let mut buf = [0u8; 64];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("connection still open: {e}")
            }
            Err(_) => return,
        }
    }
}

fn expect_silence(s: &mut TcpStream) {
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("expected silence, got {other:?}"),
    }
    s.set_read_timeout(Some(T)).unwrap();
}

#[test]
fn srvr_through_the_proxy() {
    let server = shared_server();
    let proxy = FaultProxy::start(server.addr()).unwrap();
    assert_eq!(proxy.connect_string(), proxy.addr().to_string());
    let srvr = four_letter_word(proxy.addr(), "srvr", T).unwrap();
    assert!(srvr.contains("Mode: standalone"), "{srvr}");
    assert_eq!(four_letter_word(proxy.addr(), "ruok", T).unwrap(), "imok");
    // A real session through the proxy.
    let mut client = MiniClient::connect(proxy.addr()).unwrap();
    assert_eq!(client.create(&unique_path("proxy"), b"").unwrap(), 0);
    client.close().unwrap();
}

#[test]
fn pass_through_and_connection_count() {
    let proxy = FaultProxy::start(echo_server()).unwrap();
    let mut a = connect(&proxy);
    let mut b = connect(&proxy);
    echo_roundtrip(&mut a, b"hello");
    echo_roundtrip(&mut b, b"world");
    assert_eq!(proxy.connection_count(), 2);
    assert_eq!(proxy.total_connections(), 2);
    // A client-side half-close still gets the rest of the answer.
    a.write_all(b"bye").unwrap();
    a.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    a.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"bye");
    wait_for("a's connection to go away", T, || {
        proxy.connection_count() == 1
    });
    drop(b);
    wait_for("b's connection to go away", T, || {
        proxy.connection_count() == 0
    });
}

#[test]
fn cut_closes_open_connections() {
    let proxy = FaultProxy::start(echo_server()).unwrap();
    let mut a = connect(&proxy);
    echo_roundtrip(&mut a, b"ping");
    let mut idle = connect(&proxy);
    wait_for("both connections", T, || proxy.connection_count() == 2);
    let t = Instant::now();
    proxy.cut();
    expect_closed(&mut a);
    expect_closed(&mut idle);
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    wait_for("no connections", T, || proxy.connection_count() == 0);
    // New connections work.
    let mut c = connect(&proxy);
    echo_roundtrip(&mut c, b"again");
}

#[test]
fn blackhole_is_silent_and_restore_delivers() {
    let proxy = FaultProxy::start(echo_server()).unwrap();
    let mut a = connect(&proxy);
    echo_roundtrip(&mut a, b"before");
    proxy.blackhole();
    assert!(proxy.is_blackholed());
    a.write_all(b"held").unwrap();
    expect_silence(&mut a);
    // New connections are silent too, but stay open.
    let mut b = connect(&proxy);
    b.write_all(b"x").unwrap();
    expect_silence(&mut b);
    proxy.restore();
    // Held bytes arrive in order after the restore.
    let mut buf = [0u8; 4];
    a.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"held");
    let mut c = connect(&proxy);
    echo_roundtrip(&mut c, b"after");
}

#[test]
fn blackholed_zookeeper_request_goes_unanswered() {
    let proxy = FaultProxy::start(shared_server().addr()).unwrap();
    proxy.blackhole();
    let mut s = connect(&proxy);
    s.write_all(b"srvr").unwrap();
    expect_silence(&mut s);
    proxy.restore();
    let srvr = four_letter_word(proxy.addr(), "srvr", T).unwrap();
    assert!(srvr.contains("Mode:"), "{srvr}");
}

#[test]
fn refuse_new_connections() {
    let proxy = FaultProxy::start(echo_server()).unwrap();
    let mut open = connect(&proxy);
    echo_roundtrip(&mut open, b"established");
    proxy.refuse_new(true);
    let mut refused = connect(&proxy);
    expect_closed(&mut refused);
    // The open connection is unaffected.
    echo_roundtrip(&mut open, b"still here");
    proxy.refuse_new(false);
    let mut c = connect(&proxy);
    echo_roundtrip(&mut c, b"welcome");
}

#[test]
fn delay_adds_latency() {
    let proxy = FaultProxy::start(echo_server()).unwrap();
    let mut a = connect(&proxy);
    echo_roundtrip(&mut a, b"warm");
    proxy.delay(Duration::from_millis(150));
    let t = Instant::now();
    echo_roundtrip(&mut a, b"slow");
    // One delay on the way in, one on the way back.
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    proxy.delay(Duration::ZERO);
    let t = Instant::now();
    echo_roundtrip(&mut a, b"fast");
    assert!(
        t.elapsed() < Duration::from_millis(150),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn set_upstream_affects_new_connections() {
    let proxy = FaultProxy::start(echo_server()).unwrap();
    let mut old = connect(&proxy);
    echo_roundtrip(&mut old, b"established");
    proxy.set_upstream(shared_server().addr()).unwrap();
    assert_eq!(proxy.upstream(), vec![shared_server().addr()]);
    echo_roundtrip(&mut old, b"echo");
    assert_eq!(four_letter_word(proxy.addr(), "ruok", T).unwrap(), "imok");
}

#[test]
fn drop_closes_everything() {
    let proxy = FaultProxy::start(echo_server()).unwrap();
    let addr = proxy.addr();
    let mut a = connect(&proxy);
    echo_roundtrip(&mut a, b"x");
    proxy.blackhole();
    a.write_all(b"held").unwrap();
    drop(proxy);
    expect_closed(&mut a);
    assert!(
        TcpStream::connect_timeout(&addr, T).is_err(),
        "listener still open"
    );
}

/// A `Write` into shared memory.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn parse_lines(text: &str) -> Vec<(u64, String, String)> {
    text.lines()
        .map(|line| {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            let obj = v.as_object().unwrap();
            assert_eq!(obj.len(), 3, "{line}");
            let hex = obj["hex"].as_str().unwrap().to_owned();
            assert!(hex.len() >= 8 && hex.len() % 2 == 0, "{line}");
            assert!(
                hex.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{line}"
            );
            let len = u32::from_str_radix(&hex[..8], 16).unwrap() as usize;
            assert_eq!(hex.len(), 8 + 2 * len, "length prefix matches: {line}");
            (
                obj["conn"].as_u64().unwrap(),
                obj["dir"].as_str().unwrap().to_owned(),
                hex,
            )
        })
        .collect()
}

#[test]
fn recording_writes_frames_as_jsonl() {
    let capture = Capture::default();
    let proxy = FaultProxy::with_recording(echo_server(), capture.clone()).unwrap();
    assert!(proxy.is_recording());

    // A four-letter-word-like connection first: passed through, not recorded.
    let mut word = connect(&proxy);
    echo_roundtrip(&mut word, b"ruok");
    drop(word);

    let mut s = connect(&proxy);
    write_frame(&mut s, b"abc").unwrap();
    write_frame(&mut s, b"").unwrap();
    // One frame split over two writes, then two frames in one write.
    s.write_all(&[0, 0, 0, 5, b'h', b'e']).unwrap();
    s.flush().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    s.write_all(b"llo").unwrap();
    s.write_all(&[0, 0, 0, 1, b'1', 0, 0, 0, 1, b'2']).unwrap();
    let total = 7 + 4 + 9 + 5 + 5;
    let mut back = vec![0u8; total];
    s.read_exact(&mut back).unwrap();
    // A trailing partial frame is not recorded.
    s.write_all(&[0, 0, 0, 9, b'x']).unwrap();
    let mut x = [0u8; 5];
    s.read_exact(&mut x).unwrap();
    drop(s);
    drop(proxy);

    let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let lines = parse_lines(&text);
    let frames = [
        "00000003616263",
        "00000000",
        "0000000568656c6c6f",
        "0000000131",
        "0000000132",
    ];
    let c2s: Vec<&str> = lines
        .iter()
        .filter(|l| l.1 == "c2s")
        .map(|l| l.2.as_str())
        .collect();
    let s2c: Vec<&str> = lines
        .iter()
        .filter(|l| l.1 == "s2c")
        .map(|l| l.2.as_str())
        .collect();
    assert_eq!(c2s, frames, "{text}");
    assert_eq!(s2c, frames, "{text}");
    assert!(
        lines.iter().all(|l| l.0 == 1),
        "the 4lw connection (0) is not recorded: {text}"
    );
    // Each echoed frame is written after the frame it echoes.
    for f in frames {
        let req = lines.iter().position(|l| l.1 == "c2s" && l.2 == f).unwrap();
        let rep = lines.iter().position(|l| l.1 == "s2c" && l.2 == f).unwrap();
        assert!(req < rep, "{text}");
    }
    assert!(
        text.starts_with("{\"conn\": 1, \"dir\": \"c2s\", \"hex\": \"00000003616263\"}\n"),
        "{text}"
    );
}

#[test]
fn recording_a_zookeeper_session_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("capture.jsonl");
    let proxy = FaultProxy::bind("127.0.0.1:0", shared_server().addr(), Some(&file)).unwrap();
    let mut client = MiniClient::connect(proxy.addr()).unwrap();
    assert_eq!(client.create(&unique_path("rec"), b"v").unwrap(), 0);
    client.close().unwrap();
    drop(proxy);
    let text = std::fs::read_to_string(&file).unwrap();
    let lines = parse_lines(&text);
    let dirs: Vec<&str> = lines.iter().map(|l| l.1.as_str()).collect();
    // connect, create, close: each request followed by its reply.
    assert_eq!(dirs, ["c2s", "s2c", "c2s", "s2c", "c2s", "s2c"], "{text}");
    assert!(lines.iter().all(|l| l.0 == 0));
    // The create request: xid 1, opcode 1.
    assert!(lines[2].2[8..].starts_with("0000000100000001"), "{text}");
}
