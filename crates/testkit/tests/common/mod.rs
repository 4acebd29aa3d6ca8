//! Test helpers: a minimal hand-rolled ZooKeeper client (connect, create,
//! close) so that the testkit's tests need no client crate, and an echo server.

#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

/// Polls `cond` every 20 ms until it holds; panics after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

pub fn write_frame(s: &mut TcpStream, body: &[u8]) -> io::Result<()> {
    let mut f = (body.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    s.write_all(&f)
}

pub fn read_frame(s: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut body)?;
    Ok(body)
}

fn put_i32(b: &mut Vec<u8>, v: i32) {
    b.extend_from_slice(&v.to_be_bytes());
}

fn put_i64(b: &mut Vec<u8>, v: i64) {
    b.extend_from_slice(&v.to_be_bytes());
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    put_i32(b, s.len() as i32);
    b.extend_from_slice(s.as_bytes());
}

/// A connected ZooKeeper session speaking raw jute.
pub struct MiniClient {
    pub stream: TcpStream,
    pub session_id: i64,
    xid: i32,
}

impl MiniClient {
    pub fn connect(addr: SocketAddr) -> io::Result<MiniClient> {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut req = Vec::new();
        put_i32(&mut req, 0); // protocolVersion
        put_i64(&mut req, 0); // lastZxidSeen
        put_i32(&mut req, 10_000); // timeOut
        put_i64(&mut req, 0); // sessionId
        put_i32(&mut req, 16); // passwd
        req.extend_from_slice(&[0u8; 16]);
        req.push(0); // readOnly
        write_frame(&mut stream, &req)?;
        let resp = read_frame(&mut stream)?;
        if resp.len() < 16 {
            return Err(io::Error::other(format!(
                "short connect response: {resp:?}"
            )));
        }
        let session_id = i64::from_be_bytes(resp[8..16].try_into().unwrap());
        if session_id == 0 {
            return Err(io::Error::other("session refused"));
        }
        Ok(MiniClient {
            stream,
            session_id,
            xid: 0,
        })
    }

    /// Sends a request and returns (zxid, err, rest of the reply).
    fn call(&mut self, op: i32, body: &[u8]) -> io::Result<(i64, i32, Vec<u8>)> {
        self.xid += 1;
        let mut req = Vec::new();
        put_i32(&mut req, self.xid);
        put_i32(&mut req, op);
        req.extend_from_slice(body);
        write_frame(&mut self.stream, &req)?;
        let resp = read_frame(&mut self.stream)?;
        let xid = i32::from_be_bytes(resp[0..4].try_into().unwrap());
        assert_eq!(xid, self.xid, "unexpected reply (watch event?)");
        let zxid = i64::from_be_bytes(resp[4..12].try_into().unwrap());
        let err = i32::from_be_bytes(resp[12..16].try_into().unwrap());
        Ok((zxid, err, resp[16..].to_vec()))
    }

    /// Creates a persistent node (open ACL); returns the error code (0 = ok).
    pub fn create(&mut self, path: &str, data: &[u8]) -> io::Result<i32> {
        let mut b = Vec::new();
        put_str(&mut b, path);
        put_i32(&mut b, data.len() as i32);
        b.extend_from_slice(data);
        put_i32(&mut b, 1); // one ACL
        put_i32(&mut b, 31); // ALL
        put_str(&mut b, "world");
        put_str(&mut b, "anyone");
        put_i32(&mut b, 0); // persistent
        Ok(self.call(1, &b)?.1)
    }

    /// `exists` without a watch; returns the error code (0 = exists, -101 = no node).
    pub fn exists(&mut self, path: &str) -> io::Result<i32> {
        let mut b = Vec::new();
        put_str(&mut b, path);
        b.push(0);
        Ok(self.call(3, &b)?.1)
    }

    /// Closes the session.
    pub fn close(mut self) -> io::Result<()> {
        self.call(-11, &[]).map(|_| ())
    }
}

/// The `Zxid: 0x...` of a `srvr` answer.
pub fn srvr_zxid(srvr: &str) -> u64 {
    let hex = srvr
        .lines()
        .find_map(|l| l.strip_prefix("Zxid: 0x"))
        .unwrap_or_else(|| panic!("no Zxid in {srvr:?}"));
    u64::from_str_radix(hex.trim(), 16).unwrap()
}

/// A TCP echo server on 127.0.0.1; runs until the process ends.
pub fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { continue };
            thread::spawn(move || {
                let mut r = s.try_clone().unwrap();
                let _ = io::copy(&mut r, &mut s);
                let _ = s.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    addr
}
