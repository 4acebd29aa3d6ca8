//! Loopback port selection and the four-letter-word client.

use std::collections::HashSet;
use std::collections::hash_map::RandomState;
use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Mutex;
use std::time::Duration;

/// Lowest port handed out by [`free_port`].
const PORT_RANGE_LOW: u16 = 20000;

/// Ports already handed out by this process: never handed out twice, so two
/// servers started concurrently by one test binary can't pick the same port.
static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish()
}

/// The lowest port of the kernel's ephemeral range (outgoing connections take
/// their local ports from it).
fn ephemeral_low() -> u16 {
    fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse().ok()))
        .unwrap_or(32768)
}

/// Picks a currently free TCP port on 127.0.0.1.
///
/// Ports are drawn at random *below* the kernel's ephemeral range (from 20000
/// up), so that a client connection can't grab a server's port as its local
/// port while the server is stopped for a restart. Each port is handed out
/// at most once per process. The port is only checked by binding and
/// releasing it, so another process may still take it: servers retry their
/// start with fresh ports on a clash.
pub fn free_port() -> io::Result<u16> {
    let mut guard = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let used = guard.get_or_insert_with(HashSet::new);
    let high = ephemeral_low();
    if high > PORT_RANGE_LOW + 1000 {
        let span = u64::from(high - PORT_RANGE_LOW);
        for _ in 0..200 {
            let port = PORT_RANGE_LOW + (random_u64() % span) as u16;
            if used.contains(&port) {
                continue;
            }
            if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
                used.insert(port);
                return Ok(port);
            }
        }
    }
    // Fallback: let the kernel choose.
    for _ in 0..100 {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        if used.insert(port) {
            return Ok(port);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrNotAvailable,
        "no free loopback port found",
    ))
}

/// Sends a four-letter word (`ruok`, `srvr`, `stat`, `mntr`, `conf`, ...) to
/// the ZooKeeper server at `addr` and returns its whole answer.
///
/// `timeout` bounds the connect and each read and write, so a paused
/// (SIGSTOPped) server yields an error of kind `WouldBlock` or `TimedOut`.
pub fn four_letter_word(addr: SocketAddr, word: &str, timeout: Duration) -> io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(word.as_bytes())?;
    let mut out = Vec::new();
    let read = stream.read_to_end(&mut out);
    let _ = stream.shutdown(Shutdown::Both);
    match read {
        Ok(_) => Ok(String::from_utf8_lossy(&out).into_owned()),
        // The server closes right after answering; a reset after a complete
        // answer still counts as an answer.
        Err(e) if !out.is_empty() && e.kind() == io::ErrorKind::ConnectionReset => {
            Ok(String::from_utf8_lossy(&out).into_owned())
        }
        Err(e) => Err(e),
    }
}
