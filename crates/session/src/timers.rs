//! Every timer of a session in one table, and every timing ratio in one commented place.
//!
//! | timer       | armed when                               | fires →                          |
//! |-------------|------------------------------------------|----------------------------------|
//! | `Connect`   | a connection attempt starts              | attempt abandoned, next host     |
//! | `Read`      | connected; re-armed by every frame read  | connection dead, next host       |
//! | `Ping`      | connected; re-armed by every frame sent  | a ping is sent (one at a time)   |
//! | `Backoff`   | a round of hosts failed                  | the next round starts            |
//! | `Queue`     | a request waits while disconnected       | it fails with `Timeout`          |
//! | `Close`     | CloseSession sent                        | torn down without the reply      |

use std::time::{Duration, Instant};

/// The Java client's read timeout is 2/3 of the negotiated session timeout (`ClientCnxn`,
/// `readTimeout = sessionTimeout * 2 / 3`): nothing heard for that long means the connection is
/// dead, leaving 1/3 of the session to find another server before the session expires.
pub fn read_timeout(negotiated: Duration) -> Duration {
    negotiated * 2 / 3
}

/// The Java client pings when nothing was sent for half the read timeout (about 1/3 of the
/// session), and at least every 10 s (`MAX_SEND_PING_INTERVAL`).
pub fn ping_interval(negotiated: Duration) -> Duration {
    (read_timeout(negotiated) / 2).min(MAX_PING_INTERVAL)
}

/// `ClientCnxn.MAX_SEND_PING_INTERVAL`.
pub const MAX_PING_INTERVAL: Duration = Duration::from_secs(10);

/// The Java client gives each host `sessionTimeout / hostCount` to connect and complete the
/// handshake (`ClientCnxn.connectTimeout`). Never below 100 ms.
pub fn connect_timeout(session_timeout: Duration, hosts: usize) -> Duration {
    (session_timeout / hosts.max(1) as u32).max(Duration::from_millis(100))
}

/// Backoff before round `round` (1 for the first retry) of trying every host: 50 ms doubling
/// up to 1 s (the Java client's `StaticHostProvider` sleeps up to 1 s after a full round),
/// scaled by a jitter in [0.5, 1.0) so that many clients do not reconnect in step.
pub fn backoff(round: u32, jitter: f64) -> Duration {
    let base = Duration::from_millis(50)
        .saturating_mul(1 << round.min(5))
        .min(Duration::from_secs(1));
    base.mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
}

/// The timers of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// A connection attempt's deadline.
    Connect,
    /// Nothing received for the read timeout.
    Read,
    /// Time to send a ping.
    Ping,
    /// The wait between rounds of hosts.
    Backoff,
    /// The earliest deadline of a request waiting for a connection.
    Queue,
    /// The wait for CloseSession's reply.
    Close,
}

const TIMERS: [Timer; 6] = [
    Timer::Connect,
    Timer::Read,
    Timer::Ping,
    Timer::Backoff,
    Timer::Queue,
    Timer::Close,
];

/// One deadline per [`Timer`]; the next wake-up is the earliest.
#[derive(Debug, Clone, Default)]
pub struct TimerTable {
    deadlines: [Option<Instant>; 6],
}

impl TimerTable {
    fn index(timer: Timer) -> usize {
        timer as usize
    }

    /// Arms `timer` for `at`.
    pub fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[Self::index(timer)] = Some(at);
    }

    /// Disarms `timer`.
    pub fn stop(&mut self, timer: Timer) {
        self.deadlines[Self::index(timer)] = None;
    }

    /// When `timer` fires, if armed.
    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[Self::index(timer)]
    }

    /// Disarms every timer.
    pub fn stop_all(&mut self) {
        self.deadlines = [None; 6];
    }

    /// The earliest armed deadline.
    pub fn next(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// The timers due at `now`, disarming them.
    pub fn expired(&mut self, now: Instant) -> impl Iterator<Item = Timer> + use<> {
        let mut due = Vec::new();
        for timer in TIMERS {
            if self.get(timer).is_some_and(|at| at <= now) {
                self.stop(timer);
                due.push(timer);
            }
        }
        due.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_ratios() {
        let t = Duration::from_secs(30);
        assert_eq!(read_timeout(t), Duration::from_secs(20));
        assert_eq!(ping_interval(t), Duration::from_secs(10));
        assert_eq!(
            ping_interval(Duration::from_secs(6)),
            Duration::from_secs(2)
        );
        assert_eq!(connect_timeout(t, 3), Duration::from_secs(10));
    }

    #[test]
    fn backoff_grows_to_one_second_and_is_jittered() {
        assert_eq!(backoff(1, 1.0), Duration::from_millis(100));
        assert_eq!(backoff(10, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(10, 0.0), Duration::from_millis(500));
    }

    #[test]
    fn next_is_the_earliest_deadline() {
        let now = Instant::now();
        let mut t = TimerTable::default();
        t.set(Timer::Read, now + Duration::from_secs(2));
        t.set(Timer::Ping, now + Duration::from_secs(1));
        assert_eq!(t.next(), Some(now + Duration::from_secs(1)));
        assert_eq!(
            t.expired(now + Duration::from_secs(1)).collect::<Vec<_>>(),
            [Timer::Ping]
        );
        assert_eq!(t.next(), Some(now + Duration::from_secs(2)));
    }
}
