//! `SO_RCVLOWAT`, the receive low-water mark of a socket: readiness (epoll, poll) is reported
//! only once at least that many bytes are queued, or the connection ended or failed.
//!
//! zk-session uses it to sleep until the replies it is owed have (at least partly) arrived,
//! instead of waking for every segment the server sends: fewer wake-ups and context switches
//! per request when requests are pipelined (PERFORMANCE.md). Neither std, tokio, socket2, rustix
//! nor nix offer the option, so this crate holds the workspace's only `unsafe` code: one
//! `setsockopt` call with a pointer to a local `c_int`.

use std::io;

/// Sets the receive low-water mark of the socket behind `fd` to `bytes` (clamped to
/// `1..=i32::MAX`). `1`, the default, reports readiness for any byte.
///
/// Only a lower bound the peer is certain to reach is safe: bytes that never come are waited
/// for until the connection ends (or the kernel's own receive-window safety valve opens).
///
/// # Errors
/// What `setsockopt(2)` reports, or [`io::ErrorKind::Unsupported`] off Unix.
#[cfg(unix)]
pub fn set_recv_low_water(fd: std::os::fd::BorrowedFd<'_>, bytes: usize) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let value: libc::c_int = bytes.clamp(1, i32::MAX as usize) as libc::c_int;
    let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `fd` is a live descriptor for the borrow's lifetime; `value` is a valid c_int on
    // the stack for the duration of the call and `len` is its exact size; SO_RCVLOWAT reads an
    // int and writes nothing back.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            (&raw const value).cast(),
            len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Off Unix: not available.
///
/// # Errors
/// Always [`io::ErrorKind::Unsupported`].
#[cfg(not(unix))]
pub fn set_recv_low_water<T>(_fd: T, _bytes: usize) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsFd;
    use std::time::Duration;

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    fn low_water(s: &TcpStream) -> i32 {
        // Read back through the same option, to check what the kernel holds.
        use std::os::fd::AsRawFd;
        let mut value: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: a live fd, a c_int out-parameter and its exact length.
        #[allow(unsafe_code)]
        let rc = unsafe {
            libc::getsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVLOWAT,
                (&raw mut value).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0, "{}", io::Error::last_os_error());
        value
    }

    #[test]
    fn the_low_water_mark_is_set_and_clamped() {
        let (client, _server) = pair();
        assert_eq!(low_water(&client), 1);
        set_recv_low_water(client.as_fd(), 640).unwrap();
        assert_eq!(low_water(&client), 640);
        set_recv_low_water(client.as_fd(), 0).unwrap();
        assert_eq!(low_water(&client), 1);
    }

    #[test]
    fn a_blocking_read_waits_for_the_low_water_mark() {
        let (mut client, mut server) = pair();
        set_recv_low_water(client.as_fd(), 8).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let writer = std::thread::spawn(move || {
            server.write_all(b"abc").unwrap();
            std::thread::sleep(Duration::from_millis(50));
            server.write_all(b"defgh").unwrap();
            server
        });
        let mut buf = [0u8; 16];
        let n = client.read(&mut buf).unwrap();
        // With the mark at 1 the first read would return "abc" alone.
        assert_eq!(&buf[..n], b"abcdefgh");
        drop(writer.join().unwrap());
    }

    #[test]
    fn a_bad_descriptor_is_an_error_not_a_crash() {
        let file = std::fs::File::open("/dev/null").unwrap();
        let err = set_recv_low_water(file.as_fd(), 10).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOTSOCK));
    }
}
