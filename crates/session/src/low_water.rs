//! The driver's receive low-water mark ([`SessionConfig::read_coalescing`]): the socket reports
//! readable only once [`Session::low_water_mark`] bytes have arrived (those certain to come, or
//! those half of the requests in flight are expected to bring back), so that a pipelining
//! client wakes once per batch of replies instead of once per segment.
//!
//! Two guards keep the mark from delaying replies that did arrive (the expected size is only an
//! estimate, and even the certain bytes can sit behind a request stuck on the server): it
//! drops to 1 when nothing was read for [`MAX_WAIT`] (replies smaller than usual, or a request
//! stuck on the server holding back the ones behind it), and whenever a session timer comes
//! due, so that bytes queued below the mark are read before any silence is judged. Neither is
//! needed at the frame floor (20 bytes, or the rest of a partial frame: every frame is at
//! least a length prefix and a reply header), where the mark sits between batches, so an
//! idle or lightly used connection's mark does not change at all. A raised mark a little below
//! the one wanted is left alone (it only wakes a little sooner), which saves the syscall a mark
//! following every reply would cost.
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

/// How long each epoch of a [`Governor`]'s trial lasts.
const EPOCH: Duration = Duration::from_millis(1000);

/// The start of each epoch that is not counted: long enough for what the previous epoch's
/// choice did to the scheduler to fade.
const SETTLE: Duration = Duration::from_millis(500);

/// How long the mark may stay at the floor (or the connection idle) before a trial pauses.
const PAUSE_AFTER: Duration = Duration::from_millis(50);

/// Epochs in a trial, alternately with and without the mark (starting with it).
const TRIAL_EPOCHS: u32 = 4;

/// How long a trial's verdict holds before the next trial, at first: a verdict the same as
/// the one before holds twice as long as that one did, up to [`MAX_VERDICT`], so that on a
/// connection where the answer does not change the trials' epochs without the mark cost
/// ever less; a verdict that differs goes back to this. A trial spends half its 4 s on the
/// choice that loses, so the first verdict holds more than twice a trial: with 5 s, a
/// pipelining session spent 8 of its first 13 s in trials.
const VERDICT: Duration = Duration::from_secs(10);

/// The longest a verdict holds: how long a change in what pays may go unnoticed.
const MAX_VERDICT: Duration = Duration::from_secs(40);

/// The mark stays unless the epochs without it read this many times as fast or more: it
/// saves CPU, so a tie (within this machine's noise) goes to it.
const WITHOUT_MARK_FASTER: f64 = 1.20;

/// Whether the mark pays on this connection ([`ReadCoalescing::Adaptive`]), found by trial:
/// while the session's mark is above the frame floor, epochs of [`EPOCH`] with and without it
/// alternate, and the bytes read per second in each, after its first [`SETTLE`], decide for
/// the next [`VERDICT`] (longer while verdicts agree, up to [`MAX_VERDICT`]). On some
/// machines a raised mark keeps one session's throughput (and saves most of its wake-ups),
/// on others it lowered it by 40% (PERFORMANCE.md); a trial tells them apart where the client
/// runs. What decides is mostly where the scheduler puts the client: with the server on the
/// same few cores, a client that sleeps longer is woken onto the server's core, and that
/// takes a few hundred milliseconds to appear and to fade, so the epochs are long and their
/// starts are not counted (epochs of 50 ms, counted whole, found the two choices level where
/// whole sessions differed by half). A trial is paused when the mark stays at the floor (too
/// few requests in flight for it to matter) for [`PAUSE_AFTER`], and goes on when it rises
/// again. A shorter fall does not end it: a read that takes every reply in flight drops the
/// mark to the floor until the callers send again, which on a busy machine happens at nearly
/// every read, and a trial that restarted each time (with the mark, as every trial opens)
/// never reached a verdict.
///
/// [`ReadCoalescing::Adaptive`]: crate::ReadCoalescing::Adaptive
#[derive(Debug, Default)]
pub(crate) struct Governor {
    state: Trial,
    /// The last verdict and how long it held.
    last: Option<(bool, Duration)>,
}

/// A [`Governor`]'s state.
#[derive(Debug, Default)]
enum Trial {
    /// No trial under way: one starts when the mark is next wanted.
    #[default]
    Idle,
    /// Measuring: when this epoch began, the bytes read in it, and the trial so far.
    Running {
        began: Instant,
        bytes: u64,
        progress: Progress,
        /// Since when the mark has not been wanted, if it is not now.
        unwanted_since: Option<Instant>,
    },
    /// Interrupted: the mark stayed at the floor for an epoch (the window drained: a burst of
    /// requests ended). The finished epochs are kept, the unfinished one is not, and the trial
    /// resumes with that epoch's choice when the mark is wanted again, if that is within a
    /// verdict's time of the pause (else a new trial starts). Without this, bursts shorter
    /// than a trial, a pause apart, never reached a verdict and paid for a trial all along.
    Paused { progress: Progress, since: Instant },
    /// Decided: the mark is used (or not) until `until`.
    Verdict { mark: bool, until: Instant },
}

/// A trial so far, kept through its pauses: whether the current epoch has the mark, the
/// totals (bytes, time) of the finished epochs with and without it, and the counts.
#[derive(Debug, Clone, Copy)]
struct Progress {
    mark: bool,
    with: (u64, Duration),
    without: (u64, Duration),
    epochs: u32,
    /// How many times the trial was paused.
    pauses: u32,
}

impl Progress {
    /// A new trial's, which opens with the mark.
    const NEW: Progress = Progress {
        mark: true,
        with: (0, Duration::ZERO),
        without: (0, Duration::ZERO),
        epochs: 0,
        pauses: 0,
    };
}

impl Governor {
    /// Whether a trial is under way.
    pub(crate) fn trial_running(&self) -> bool {
        matches!(self.state, Trial::Running { .. })
    }

    /// `n` bytes were read.
    pub(crate) fn on_read(&mut self, n: usize, now: Instant) {
        if let Trial::Running { bytes, began, .. } = &mut self.state {
            if now.saturating_duration_since(*began) >= SETTLE {
                *bytes += n as u64;
            }
        }
    }

    /// Whether to use the mark now, given whether the session wants one above the floor.
    pub(crate) fn use_mark(&mut self, wanted: bool, now: Instant) -> bool {
        // The floor for an epoch pauses a trial. The governor hears of nothing while the
        // connection is idle, so the first call after an idle spell (wanted or not) finds it.
        if let Trial::Running {
            progress,
            unwanted_since: Some(since),
            ..
        } = self.state
        {
            if now.saturating_duration_since(since) >= PAUSE_AFTER {
                // A trial paused again and again is given up (so that every trial ends).
                self.state = if progress.pauses < TRIAL_EPOCHS {
                    Trial::Paused {
                        progress: Progress {
                            pauses: progress.pauses + 1,
                            ..progress
                        },
                        since: now,
                    }
                } else {
                    Trial::Idle
                };
            }
        }
        if !wanted {
            if let Trial::Running { unwanted_since, .. } = &mut self.state {
                unwanted_since.get_or_insert(now);
            }
            return false;
        }
        let progress = match &mut self.state {
            Trial::Verdict { mark, until } if now < *until => return *mark,
            Trial::Paused { progress, since }
                if now.saturating_duration_since(*since) < VERDICT =>
            {
                *progress
            }
            Trial::Idle | Trial::Verdict { .. } | Trial::Paused { .. } => Progress::NEW,
            Trial::Running {
                began,
                bytes,
                progress: p,
                unwanted_since,
            } => {
                *unwanted_since = None;
                let took = now.saturating_duration_since(*began);
                if took < EPOCH {
                    return p.mark;
                }
                let total = if p.mark { &mut p.with } else { &mut p.without };
                total.0 += *bytes;
                total.1 += took.saturating_sub(SETTLE);
                p.epochs += 1;
                if p.epochs < TRIAL_EPOCHS {
                    p.mark = !p.mark;
                    *began = now;
                    *bytes = 0;
                    return p.mark;
                }
                let rate = |(b, t): (u64, Duration)| b as f64 / t.as_secs_f64().max(1e-9);
                let keep = rate(p.without) < rate(p.with) * WITHOUT_MARK_FASTER;
                debug!(
                    target: "zookeeper",
                    with_mark = rate(p.with),
                    without_mark = rate(p.without),
                    keep,
                    "receive mark trial (bytes per second)"
                );
                return self.decide(keep, now);
            }
        };
        // A new trial, or a paused one resumed.
        self.state = Trial::Running {
            began: now,
            bytes: 0,
            progress,
            unwanted_since: None,
        };
        progress.mark
    }

    /// Ends the trial with its verdict: `keep` the mark or not, for [`VERDICT`] or, when the
    /// last verdict was the same, twice as long as that one held (up to [`MAX_VERDICT`]).
    fn decide(&mut self, keep: bool, now: Instant) -> bool {
        let hold = match self.last {
            Some((mark, hold)) if mark == keep => hold.saturating_mul(2).min(MAX_VERDICT),
            _ => VERDICT,
        };
        self.last = Some((keep, hold));
        self.state = Trial::Verdict {
            mark: keep,
            until: now + hold,
        };
        keep
    }
}

/// Whether a socket whose mark is `current` should be moved to `want`. A raised mark a little
/// below the one wanted (three quarters or more of it) only wakes a little sooner: kept, it
/// saves the syscall a mark following every reply would cost (at 16 in flight, two per read).
fn worth_changing(current: usize, want: usize) -> bool {
    let near = want > FRAME_FLOOR
        && current > FRAME_FLOOR
        && current <= want
        && current.saturating_mul(4) >= want.saturating_mul(3);
    want != current && !near
}

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
    /// Set for [`ReadCoalescing::Adaptive`](crate::ReadCoalescing::Adaptive): decides by
    /// trial whether the session's mark is used.
    governor: Option<Governor>,
}

impl LowWater {
    /// A connection's mark, unset (1); `fd` is `None` when it is not to be used. `adaptive`:
    /// a [`Governor`] decides whether the session's mark is used.
    pub(crate) fn new(fd: Option<Fd>, adaptive: bool) -> Self {
        LowWater {
            fd,
            current: 1,
            hold: false,
            since: None,
            governor: adaptive.then(Governor::default),
        }
    }

    /// Whether the mark is above the frame floor (it could hold back a frame that arrived).
    pub(crate) fn raised(&self) -> bool {
        self.current > FRAME_FLOOR
    }

    /// `n` bytes were read.
    pub(crate) fn on_read(&mut self, now: Instant, n: usize) {
        self.hold = false;
        self.since = Some(now);
        if let Some(g) = &mut self.governor {
            g.on_read(n, now);
        }
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
    /// `clock` is read only when the time matters (a mark rising, or a trial under way): at
    /// one call at a time the mark stays at the floor and the clock is never read.
    pub(crate) fn update(&mut self, owed: usize, clock: impl Fn() -> Instant) {
        let Some(fd) = &self.fd else {
            return;
        };
        let raised = owed > FRAME_FLOOR;
        let mut read = None;
        let mut now = || *read.get_or_insert_with(&clock);
        // The governor sees every update with the mark wanted, and at the floor while a trial
        // is under way (that may end it); otherwise it has nothing to decide.
        let governed = match self.governor.as_mut() {
            Some(g) if raised || g.trial_running() => g.use_mark(raised, now()),
            _ => true,
        };
        let want = if self.hold || (raised && !governed) {
            1
        } else {
            owed.clamp(1, MAX_MARK)
        };
        if !worth_changing(self.current, want) {
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
                    self.since = Some(now());
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives `g` for `ms` milliseconds from `start`, one step per millisecond, reading
    /// `with`/`without` bytes per step depending on its choice; returns the choices.
    fn drive(g: &mut Governor, start: Instant, ms: u64, with: usize, without: usize) -> Vec<bool> {
        (0..ms)
            .map(|i| {
                let now = start + Duration::from_millis(i);
                let mark = g.use_mark(true, now);
                g.on_read(if mark { with } else { without }, now);
                mark
            })
            .collect()
    }

    const EPOCH_MS: u64 = EPOCH.as_millis() as u64;
    const TRIAL_MS: u64 = EPOCH_MS * TRIAL_EPOCHS as u64;

    /// A whole trial from `start` with `with`/`without` bytes per millisecond, then `ms` more
    /// milliseconds at the same rates; returns the choices made after the trial.
    fn after_a_trial(
        g: &mut Governor,
        start: Instant,
        with: usize,
        without: usize,
        ms: u64,
    ) -> Vec<bool> {
        drive(g, start, TRIAL_MS + 1, with, without);
        drive(
            g,
            start + Duration::from_millis(TRIAL_MS + 1),
            ms,
            with,
            without,
        )
    }

    #[test]
    fn a_trial_alternates_epochs_with_and_without_the_mark_starting_with_it() {
        let mut g = Governor::default();
        let choices = drive(&mut g, Instant::now(), TRIAL_MS, 100, 100);
        let epoch = EPOCH.as_millis() as usize;
        for (k, chunk) in choices.chunks(epoch).enumerate() {
            assert!(
                chunk.iter().all(|&m| m == (k % 2 == 0)),
                "epoch {k}: {chunk:?}"
            );
        }
    }

    #[test]
    fn the_mark_is_kept_when_reading_without_it_is_no_faster_within_the_noise() {
        let mut g = Governor::default();
        let t0 = Instant::now();
        // Without the mark 5% faster: within the tolerance, so the mark (less CPU) stays.
        let after = after_a_trial(&mut g, t0, 100, 105, 1000);
        assert!(after.iter().all(|&m| m));
    }

    #[test]
    fn the_mark_is_dropped_for_the_verdict_when_reading_without_it_is_faster() {
        let mut g = Governor::default();
        let t0 = Instant::now();
        let after = after_a_trial(&mut g, t0, 60, 100, 1000);
        assert!(after.iter().all(|&m| !m));
    }

    #[test]
    fn the_start_of_each_epoch_is_not_counted() {
        let mut g = Governor::default();
        let t0 = Instant::now();
        // Without the mark, reads are fast only while the last epoch's effect lasts (400 ms,
        // inside the uncounted start of each epoch), then slower than with it: the mark stays.
        let settle = 400;
        assert!(SETTLE >= Duration::from_millis(settle));
        let mut after = Vec::new();
        for i in 0..TRIAL_MS + 1 + 100 {
            let now = t0 + Duration::from_millis(i);
            let mark = g.use_mark(true, now);
            let into_epoch = i % EPOCH_MS;
            let n = match (mark, into_epoch < settle) {
                (true, _) => 100,
                (false, true) => 1_000,
                (false, false) => 90,
            };
            g.on_read(n, now);
            if i > TRIAL_MS {
                after.push(mark);
            }
        }
        assert!(matches!(g.state, Trial::Verdict { mark: true, .. }));
        assert!(after.iter().all(|&m| m));
    }

    #[test]
    fn a_new_trial_starts_when_the_verdict_expires() {
        let mut g = Governor::default();
        let t0 = Instant::now();
        drive(&mut g, t0, TRIAL_MS + 1, 60, 100);
        let later = t0 + Duration::from_millis(TRIAL_MS + 1) + VERDICT;
        // The new trial opens with the mark, and this time the mark is no slower.
        assert!(g.use_mark(true, later));
        let after = after_a_trial(&mut g, later, 100, 100, 100);
        assert!(after.iter().all(|&m| m));
    }

    /// Half a trial (half its epochs done) from `t0`, the epochs without the mark much faster;
    /// then the window drains for an epoch (a burst of requests ended): no mark is wanted,
    /// and none is used. Returns when the burst ended.
    fn paused_half_way(g: &mut Governor, t0: Instant) -> Instant {
        drive(g, t0, TRIAL_MS / 2 + 10, 10, 100);
        let mid = t0 + Duration::from_millis(TRIAL_MS / 2 + 10);
        assert!(!g.use_mark(false, mid));
        assert!(!g.use_mark(false, mid + EPOCH));
        mid
    }

    #[test]
    fn a_trial_paused_at_the_floor_goes_on_with_its_finished_epochs_when_the_mark_rises() {
        let mut g = Governor::default();
        let mid = paused_half_way(&mut g, Instant::now());
        assert!(matches!(
            g.state,
            Trial::Paused {
                progress: Progress { epochs, .. },
                ..
            } if epochs == TRIAL_EPOCHS / 2
        ));
        // The next burst, half a second later, finishes the trial: the other half of the
        // epochs (and the one cut short, again) reach the verdict, which drops the mark.
        let back = mid + Duration::from_millis(500);
        let rest = drive(&mut g, back, TRIAL_MS / 2 + EPOCH_MS + 1, 10, 100);
        assert!(matches!(g.state, Trial::Verdict { mark: false, .. }));
        assert!(!rest.last().copied().unwrap_or(true));
    }

    #[test]
    fn an_idle_spell_inside_a_trial_is_counted_in_no_epoch() {
        let mut g = Governor::default();
        let t0 = Instant::now();
        // 10 ms into the first epoch (with the mark) the burst ends and the connection goes
        // idle: the governor hears nothing more until the next burst, 600 ms later.
        drive(&mut g, t0, 10, 100, 100);
        assert!(!g.use_mark(false, t0 + Duration::from_millis(10)));
        let back = t0 + Duration::from_millis(610);
        // The same rate either way: were the idle spell counted in the first epoch, the mark
        // would look six times slower and be dropped.
        let after = after_a_trial(&mut g, back, 100, 100, 100);
        assert!(matches!(g.state, Trial::Verdict { mark: true, .. }));
        assert!(after.iter().all(|&m| m));
    }

    #[test]
    fn a_trial_paused_for_longer_than_a_verdict_starts_again() {
        let mut g = Governor::default();
        let mid = paused_half_way(&mut g, Instant::now());
        // Long after the pause the old epochs are forgotten: a fresh trial, which finds the
        // mark no slower this time.
        let back = mid + EPOCH + VERDICT;
        let after = after_a_trial(&mut g, back, 100, 100, 100);
        assert!(after.iter().all(|&m| m));
    }

    #[test]
    fn a_trial_paused_again_and_again_is_given_up() {
        let mut g = Governor::default();
        let mut t = Instant::now();
        // Bursts of 10 ms (no epoch ever finishes), each followed by an epoch at the floor.
        for _ in 0..TRIAL_EPOCHS {
            drive(&mut g, t, 10, 10, 100);
            t += Duration::from_millis(10);
            assert!(!g.use_mark(false, t));
            t += EPOCH;
            assert!(!g.use_mark(false, t));
            assert!(matches!(g.state, Trial::Paused { .. }));
            t += Duration::from_millis(10);
        }
        drive(&mut g, t, 10, 10, 100);
        t += Duration::from_millis(10);
        assert!(!g.use_mark(false, t));
        assert!(!g.use_mark(false, t + EPOCH));
        assert!(matches!(g.state, Trial::Idle));
    }

    #[test]
    fn a_trial_goes_on_through_brief_falls_to_the_floor_and_reaches_its_verdict() {
        let mut g = Governor::default();
        let mut t = Instant::now();
        // Without the mark much faster; after every millisecond the window drains for a
        // moment (a read took every reply in flight), as on a busy machine.
        let mut after = Vec::new();
        for ms in 0..TRIAL_MS + 200 {
            let mark = g.use_mark(true, t);
            g.on_read(if mark { 40 } else { 100 }, t);
            assert!(!g.use_mark(false, t + Duration::from_micros(200)));
            if ms > TRIAL_MS + 10 {
                after.push(mark);
            }
            t += Duration::from_millis(1);
        }
        assert!(after.iter().all(|&m| !m), "the verdict drops the mark");
    }

    /// Runs trials back to back at `with`/`without` bytes per millisecond from `start`, each
    /// as soon as the verdict before it expires; returns how long each verdict held.
    fn verdicts(g: &mut Governor, start: Instant, rates: &[(usize, usize)]) -> Vec<Duration> {
        let mut t = start;
        let mut held = Vec::new();
        for &(with, without) in rates {
            drive(g, t, TRIAL_MS + 1, with, without);
            t += Duration::from_millis(TRIAL_MS + 1);
            let Trial::Verdict { until, .. } = g.state else {
                panic!("no verdict: {:?}", g.state);
            };
            held.push(until - (t - Duration::from_millis(1)));
            t = until;
        }
        held
    }

    #[test]
    fn a_verdict_like_the_last_holds_twice_as_long_up_to_the_longest() {
        let mut g = Governor::default();
        let held = verdicts(&mut g, Instant::now(), &[(100, 100); 6]);
        let s = Duration::from_secs;
        assert_eq!(held, [s(10), s(20), s(40), s(40), s(40), s(40)]);
    }

    #[test]
    fn a_verdict_unlike_the_last_holds_for_the_shortest_time_again() {
        let mut g = Governor::default();
        let rates = [(100, 100), (100, 100), (100, 100), (10, 100), (10, 100)];
        let held = verdicts(&mut g, Instant::now(), &rates);
        let s = Duration::from_secs;
        assert_eq!(held, [s(10), s(20), s(40), s(10), s(20)]);
        assert!(matches!(g.state, Trial::Verdict { mark: false, .. }));
    }

    #[test]
    fn whatever_the_traffic_no_mark_is_used_unwanted_and_every_trial_ends_in_time() {
        // A small deterministic generator: steps of 0–3 ms, the mark wanted or not, any bytes.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for _ in 0..200 {
            let mut g = Governor::default();
            let mut t = Instant::now();
            // Time with the mark wanted since the current trial began.
            let mut trial_wanted = Duration::ZERO;
            for _ in 0..2_000 {
                let dt = Duration::from_micros(next(3_000));
                t += dt;
                let wanted = next(10) != 0;
                let mark = g.use_mark(wanted, t);
                if !wanted {
                    assert!(!mark);
                }
                match g.state {
                    Trial::Running { .. } if wanted => {
                        trial_wanted += dt;
                        // Each epoch ends at the first step at or after EPOCH (steps ≤ 3 ms).
                        let bound = (EPOCH + Duration::from_millis(3)) * TRIAL_EPOCHS;
                        assert!(trial_wanted <= bound, "{trial_wanted:?}");
                    }
                    Trial::Verdict { until, .. } => {
                        assert!(until <= t + MAX_VERDICT);
                        trial_wanted = Duration::ZERO;
                    }
                    _ => trial_wanted = Duration::ZERO,
                }
                g.on_read(next(100_000) as usize, t);
            }
        }
    }

    #[test]
    fn a_raised_mark_a_little_below_the_one_wanted_is_left_alone() {
        assert!(
            !worth_changing(360, 480),
            "three quarters of the mark wanted"
        );
        assert!(!worth_changing(480, 480));
        assert!(worth_changing(300, 480), "too far below");
        assert!(
            worth_changing(480, 360),
            "above the mark wanted: it could hold replies back"
        );
        assert!(worth_changing(360, 1), "dropping the mark");
        assert!(worth_changing(1, 400), "raising it from the floor");
        assert!(worth_changing(20, 24), "from the floor, however near");
    }

    #[test]
    fn a_governor_is_made_only_when_asked_for() {
        let lw = LowWater::new(None, false);
        assert!(lw.governor.is_none());
        assert!(LowWater::new(None, true).governor.is_some());
    }
}
