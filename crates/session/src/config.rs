//! Connection strings and session configuration.

use std::time::Duration;

use crate::error::Error;
use crate::path::Chroot;

/// The default ZooKeeper client port.
pub const DEFAULT_PORT: u16 = 2181;

/// One server of a connection string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// A host name or IP address (IPv6 without brackets).
    pub host: String,
    /// The port.
    pub port: u16,
}

impl std::fmt::Display for HostPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A parsed connection string: `host[:port][,host[:port]...][/chroot]`, IPv6 hosts in brackets
/// (`[::1]:2181`), the port defaulting to 2181.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectString {
    /// The servers, in the order given.
    pub hosts: Vec<HostPort>,
    /// The chroot, if any.
    pub chroot: Chroot,
}

impl std::str::FromStr for ConnectString {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::InvalidConnectString(s.to_owned());
        let s_trim = s.trim();
        let (hosts_part, chroot) = match s_trim.find('/') {
            Some(i) => (&s_trim[..i], Some(&s_trim[i..])),
            None => (s_trim, None),
        };
        let chroot = Chroot::new(chroot).map_err(|_| bad())?;
        let mut hosts = Vec::new();
        for item in hosts_part.split(',') {
            let item = item.trim();
            if item.is_empty() {
                return Err(bad());
            }
            let (host, port) = if let Some(rest) = item.strip_prefix('[') {
                let (host, after) = rest.split_once(']').ok_or_else(bad)?;
                let port = match after {
                    "" => None,
                    p => Some(p.strip_prefix(':').ok_or_else(bad)?),
                };
                (host, port)
            } else if item.matches(':').count() > 1 {
                // A bare IPv6 address without a port.
                (item, None)
            } else {
                match item.split_once(':') {
                    Some((h, p)) => (h, Some(p)),
                    None => (item, None),
                }
            };
            if host.is_empty() || host.chars().any(|c| c.is_whitespace()) {
                return Err(bad());
            }
            let port = match port {
                None => DEFAULT_PORT,
                Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(bad)?,
            };
            hosts.push(HostPort {
                host: host.to_owned(),
                port,
            });
        }
        Ok(ConnectString { hosts, chroot })
    }
}

impl std::fmt::Display for ConnectString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, h) in self.hosts.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{h}")?;
        }
        if let Some(prefix) = self.chroot.prefix() {
            f.write_str(prefix)?;
        }
        Ok(())
    }
}

/// How far a pipelining session sleeps before it reads replies
/// ([`SessionConfig::read_coalescing`]): the driver sets the socket's receive low-water mark to
/// [`Session::low_water_mark`] bytes (with fewer than 8 requests in flight, the 20-byte frame
/// floor, which holds nothing back). No reply is held long: a mark above the floor drops to 1
/// when nothing was read for 1 ms, and whenever a timer is due; none is raised while a ping,
/// authentication or SetWatches waits. Plain TCP on Unix only; TLS connections are not
/// affected.
///
/// The trade-off, measured in PERFORMANCE.md: a mark costs a fraction of the CPU per call (a
/// fifth of the wake-ups or fewer at 256 in flight) and, on most runs, kept or raised one
/// session's throughput; but on one machine it cost that throughput at large windows
/// (16,700–21,000 against 21,000–36,000 calls per second at 256 in flight). So the default,
/// [`ReadCoalescing::Adaptive`], tries the mark against none on the connection it runs on and
/// keeps whichever reads faster, the mark on a tie.
///
/// [`Session::low_water_mark`]: crate::Session::low_water_mark
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadCoalescing {
    /// Wake for every segment.
    Off,
    /// Sleep until the bytes certain to come have arrived: 20 (a length prefix and a reply
    /// header) per request in flight. About a third of the wake-ups at 64 in flight.
    Certain,
    /// Sleep until half of the requests in flight are expected to be answered (the running
    /// average reply size; never less than [`ReadCoalescing::Certain`]). The least CPU per
    /// pipelined call (with coalesced writes, a third of the best peer's at 256 in flight), for
    /// CPU-bound clients; it holds replies longer, which on one machine measured cost
    /// single-session throughput when the server was the limit.
    Expected,
    /// [`ReadCoalescing::Expected`] where it pays (the default): the driver tries the
    /// connection with and without the mark (alternating 1 s epochs, 4 s in all, each counted
    /// after its first half, which lets the scheduler settle on the choice; while
    /// more than 8 requests are in flight; a burst that ends part way pauses the trial, and
    /// the next burst goes on with it) and keeps the mark for the next 10 s unless the epochs
    /// without it read 20% faster or more (a verdict like the one before holds twice as long
    /// as that one, up to 40 s). Measured in PERFORMANCE.md: on some machines the mark keeps
    /// one session's throughput and saves most of its wake-ups, on others it cost 40% of it. The
    /// price: a call made while a small pipeline (16 in flight) runs on the same session waits
    /// for half of the replies ahead of it: behind 16 in flight it was answered no later
    /// (the pipeline ran faster), behind 64 in flight 3–12% later (twelfth round). Choose
    /// [`ReadCoalescing::Off`] for a session that mixes latency-critical calls with a small
    /// pipeline.
    #[default]
    Adaptive,
}

impl ReadCoalescing {
    /// Whether the mark counts the expected size of replies ([`ReadCoalescing::Expected`] and
    /// [`ReadCoalescing::Adaptive`]).
    pub fn expects(self) -> bool {
        matches!(self, ReadCoalescing::Expected | ReadCoalescing::Adaptive)
    }
}

/// How a session behaves. Every field has a sensible default.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The session timeout asked of the server (it clamps it to `[2, 20] × tickTime` by
    /// default). Default 30 s.
    pub session_timeout: Duration,
    /// How long one connection attempt (TCP connect plus handshake) may take. Default: the
    /// session timeout divided by the number of hosts, as the Java client does.
    pub connect_timeout: Option<Duration>,
    /// How long a request made while disconnected waits for a connection before failing with
    /// [`Error::Timeout`]. Default: the session timeout.
    pub request_timeout: Option<Duration>,
    /// The most requests in flight on one connection; the rest wait in order. Default 512,
    /// below the server's `globalOutstandingLimit` of 1000.
    pub max_in_flight: usize,
    /// Whether a read-only server is acceptable. Default false.
    pub read_only: bool,
    /// How many rounds of every host refusing the handshake (closing without a reply: the
    /// server is behind the client) before the session fails with
    /// [`Error::EnsembleBehind`]. Default 3.
    pub max_refused_rounds: u32,
    /// And for how long at least: a starting server also closes connections, so refusals must
    /// outlast this too. Default (`None`): the session timeout, after which the session could
    /// not have survived anyway.
    pub min_refused_time: Option<Duration>,
    /// How long close waits for the server's reply to CloseSession. Default 2 s.
    pub close_timeout: Duration,
    /// The largest frame accepted from the server. Default
    /// [`zk_proto::frame::DEFAULT_MAX_FRAME_LEN`].
    pub max_frame_len: usize,
    /// The seed of the host shuffle and backoff jitter (deterministic tests). Default: random.
    pub seed: Option<u64>,
    /// Whether the driver asks each server it connects to for its version (the `srvr`
    /// four-letter word, on a side connection), so that ops newer than the server are refused
    /// locally instead of costing a reconnect. Default true.
    pub probe_server_version: bool,
    /// SASL DIGEST-MD5 credentials, used on every connection before anything else is sent.
    pub sasl: Option<crate::sasl::SaslConfig>,
    /// TLS to the servers (feature `tls`): connect to their `secureClientPort`.
    #[cfg(feature = "tls")]
    pub tls: Option<crate::tls::TlsConfig>,
    /// The zxid to start from (a new session otherwise starts at 0). Keeping it across sessions
    /// gives monotonic reads over session re-creation.
    pub last_zxid_seen: i64,
    /// Whether pipelined requests are coalesced into fewer, larger writes. With it, a request
    /// submitted while more than 8 are in flight waits until an eighth as many wait as are in
    /// flight, and then they go out together; with 8 or fewer in flight a request goes out at
    /// once. The server runs one session's requests in order, so a held request is never
    /// answered later for it: it only waits where it would have queued on the server. Fewer,
    /// larger writes mean fewer syscalls and wake-ups on both sides, but on the machine
    /// measured it cost one session's throughput at 16 and 64 in flight, and with the receive
    /// mark (which batches the replies, and so the requests sent in answer to them) it saves
    /// little more (PERFORMANCE.md). Default false.
    pub coalesce_writes: bool,
    /// Whether and how far the driver sleeps until a batch of replies is in, instead of
    /// waking for every segment the server sends (the socket's receive low-water mark,
    /// `SO_RCVLOWAT`). Default [`ReadCoalescing::Adaptive`].
    pub read_coalescing: ReadCoalescing,
    /// Whether a connection is primed: what would follow the ConnectRequest's response goes
    /// right behind the ConnectRequest instead, saving a round trip on every reconnect. That
    /// is the auth replays, the SetWatches, and the queued requests that are safe to send
    /// twice: reads that set no watch (`getData`, `exists`, `getChildren`, `getChildren2`,
    /// `getACL`, `sync`), up to the first request that is not one, and such reads made
    /// while the response is awaited with nothing queued before them. The server reads nothing
    /// after a ConnectRequest until it has validated the session, and drops the rest unread
    /// if it refuses it, so these run only on an established session, in order. If that
    /// handshake fails, the reads wait in the queue again as if never sent (nothing else is
    /// primed: a write's outcome would be unknown), and the next attempt sends the
    /// ConnectRequest alone, as the Java client always does (a server that closes a
    /// connection with unread bytes resets it, which may cost the client the expired
    /// session's response). Not with SASL, nor while an `add_auth` waits for its first
    /// sending. Default true.
    pub prime_connection: bool,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            session_timeout: Duration::from_secs(30),
            connect_timeout: None,
            request_timeout: None,
            max_in_flight: 512,
            read_only: false,
            max_refused_rounds: 3,
            min_refused_time: None,
            close_timeout: Duration::from_secs(2),
            max_frame_len: zk_proto::frame::DEFAULT_MAX_FRAME_LEN,
            seed: None,
            probe_server_version: true,
            sasl: None,
            #[cfg(feature = "tls")]
            tls: None,
            last_zxid_seen: 0,
            coalesce_writes: false,
            read_coalescing: ReadCoalescing::Adaptive,
            prime_connection: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ConnectString, Error> {
        s.parse()
    }

    #[test]
    fn hosts_ports_and_chroot_parse() {
        let cs = parse("a:1,b,[::1]:3,[fe80::1]/app/x").unwrap();
        let hosts: Vec<String> = cs.hosts.iter().map(ToString::to_string).collect();
        assert_eq!(hosts, ["a:1", "b:2181", "[::1]:3", "[fe80::1]:2181"]);
        assert_eq!(cs.chroot.prefix(), Some("/app/x"));
        assert_eq!(cs.to_string(), "a:1,b:2181,[::1]:3,[fe80::1]:2181/app/x");
    }

    #[test]
    fn bad_connection_strings_are_refused() {
        for s in [
            "", ",", "a:", "a:x", "a:70000", "[::1", "a/b/", "a:0", "a b:1", "[::1]x",
        ] {
            assert!(parse(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn root_chroot_is_no_chroot() {
        assert_eq!(parse("a/").unwrap().chroot.prefix(), None);
    }
}
