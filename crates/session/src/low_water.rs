//! The driver's receive low-water mark ([`SessionConfig::read_coalescing`]): the socket reports
//! readable only once [`Session::low_water_mark`] bytes have arrived (those certain to come, or
//! those a quarter of the requests in flight are expected to bring back), so that a pipelining
//! client wakes once per batch of replies instead of once per segment.
//!
//! Two guards keep the mark from delaying replies that did arrive (the expected size is only an
//! estimate, and even the certain bytes can sit behind a request stuck on the server): it
//! drops to 1 when nothing was read for [`MAX_WAIT`] (replies smaller than usual, or a request
//! stuck on the server holding back the ones behind it), and whenever a session timer comes
//! due, so that bytes queued below the mark are read before any silence is judged. Neither is
//! needed at the frame floor (20 bytes, or the rest of a partial frame: every frame is at
//! least a length prefix and a reply header), where the mark sits between batches, so an
//! idle or lightly used connection's mark does not change at all.
//!
//! [`SessionConfig::read_coalescing`]: crate::SessionConfig::read_coalescing
//! [`Session::low_water_mark`]: crate::Session::low_water_mark

use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tracing::debug;

/// The longest a raised mark may go without a read before it drops to 1: the most a reply that
/// arrived can wait for the ones after it.
pub(crate) const MAX_WAIT: Duration = Duration::from_millis(1);

/// A mark of at most this many bytes never holds back a frame that arrived (every frame is at
/// least a length prefix and a reply header, and the session's floor counts the bytes to the
/// end of a partial one), so only a mark above it needs the [`MAX_WAIT`] guard.
const FRAME_FLOOR: usize = crate::session::MIN_REPLY_FRAME;

/// The highest mark set: the kernel grows the receive buffer to twice the mark, so keep that
/// modest.
const MAX_MARK: usize = 64 * 1024;

/// A descriptor of the connection's socket, to set its options on.
#[cfg(unix)]
pub(crate) type Fd = std::os::fd::OwnedFd;
/// No descriptors off Unix.
#[cfg(not(unix))]
pub(crate) type Fd = std::convert::Infallible;

/// A duplicate of `stream`'s descriptor (socket options belong to the socket, shared by both).
#[cfg(unix)]
pub(crate) fn fd_of(stream: &TcpStream) -> Option<Fd> {
    use std::os::fd::AsFd;
    stream.as_fd().try_clone_to_owned().ok()
}

/// No descriptors off Unix.
#[cfg(not(unix))]
pub(crate) fn fd_of(_stream: &TcpStream) -> Option<Fd> {
    None
}

/// The mark of the current connection.
#[derive(Debug, Default)]
pub(crate) struct LowWater {
    fd: Option<Fd>,
    /// The mark the socket has (1: any byte wakes).
    current: usize,
    /// The mark stays at 1 until the next read: set when a timer came due with the mark raised.
    hold: bool,
    /// The last read, or when the mark rose above the frame floor.
    since: Option<Instant>,
}

impl LowWater {
    /// A connection's mark, unset (1); `fd` is `None` when it is not to be used.
    pub(crate) fn new(fd: Option<Fd>) -> Self {
        LowWater {
            fd,
            current: 1,
            hold: false,
            since: None,
        }
    }

    /// Whether the mark is above the frame floor (it could hold back a frame that arrived).
    pub(crate) fn raised(&self) -> bool {
        self.current > FRAME_FLOOR
    }

    /// Bytes were read.
    pub(crate) fn on_read(&mut self, now: Instant) {
        self.hold = false;
        self.since = Some(now);
    }

    /// A session timer came due. With the mark raised, drops it and returns true: the caller
    /// should look again a moment later, after reading what was below the mark.
    pub(crate) fn on_session_timer(&mut self) -> bool {
        if !self.raised() {
            return false;
        }
        self.hold = true;
        true
    }

    /// When the mark must drop if nothing is read (while it is above the frame floor).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        if self.raised() {
            self.since.map(|s| s + MAX_WAIT)
        } else {
            None
        }
    }

    /// The [`deadline`](LowWater::deadline) timer fired at `now`: drops the mark if nothing was
    /// read since.
    pub(crate) fn on_deadline(&mut self, now: Instant) {
        if self.deadline().is_some_and(|d| d <= now) {
            self.hold = true;
        }
    }

    /// Moves the mark to `owed` bytes (1 while held), with a syscall only when it changes;
    /// stops using the mark after an error.
    pub(crate) fn update(&mut self, owed: usize, now: Instant) {
        let Some(fd) = &self.fd else {
            return;
        };
        let want = if self.hold {
            1
        } else {
            owed.clamp(1, MAX_MARK)
        };
        if want == self.current {
            return;
        }
        #[cfg(unix)]
        let result = {
            use std::os::fd::AsFd;
            zk_sockopt::set_recv_low_water(fd.as_fd(), want)
        };
        #[cfg(not(unix))]
        let result: std::io::Result<()> = match *fd {};
        match result {
            Ok(()) => {
                if self.current <= FRAME_FLOOR {
                    // The guard's clock starts when the mark rises above the floor.
                    self.since = Some(now);
                }
                self.current = want;
            }
            Err(e) => {
                debug!(target: "zookeeper", error = %e, "SO_RCVLOWAT refused; waking for every segment");
                self.fd = None;
                self.current = 1;
            }
        }
    }
}
