//! What the scenarios measure and how they judge it: operation outcome counts, latency
//! percentiles, memory from `/proc/self/status`, deadlines, and the list of broken promises.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use zk_session::Error;

/// How the operations of a scenario ended.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OpCounts {
    /// Succeeded.
    pub ok: u64,
    /// Failed with `ConnectionLoss` (the outcome of a write is then unknown).
    pub connection_loss: u64,
    /// Failed with `Timeout`.
    pub timeout: u64,
    /// Did not finish within the scenario's hang deadline.
    pub hung: u64,
    /// Failed with anything else: each one is a broken promise, kept with its error.
    pub other: Vec<String>,
}

impl OpCounts {
    /// Counts one outcome; `what` names the operation for the record of unexpected errors.
    pub fn record<T>(&mut self, what: &str, outcome: Option<Result<T, Error>>) {
        match outcome {
            None => self.hung += 1,
            Some(Ok(_)) => self.ok += 1,
            Some(Err(Error::ConnectionLoss)) => self.connection_loss += 1,
            Some(Err(Error::Timeout)) => self.timeout += 1,
            Some(Err(e)) => self.other.push(format!("{what}: {e:?}")),
        }
    }

    /// Counts one zc-zk outcome.
    pub fn record_zc<T>(&mut self, what: &str, outcome: Option<Result<T, zc_zk::Error>>) {
        match outcome {
            Some(Err(zc_zk::Error::ZooKeeper(e))) => self.record::<T>(what, Some(Err(e))),
            Some(Err(e)) => self.other.push(format!("{what}: {e:?}")),
            Some(Ok(v)) => self.record(what, Some(Ok(v))),
            None => self.hung += 1,
        }
    }

    /// Adds another count.
    pub fn merge(&mut self, o: OpCounts) {
        self.ok += o.ok;
        self.connection_loss += o.connection_loss;
        self.timeout += o.timeout;
        self.hung += o.hung;
        self.other.extend(o.other);
    }

    /// Every operation counted.
    pub fn total(&self) -> u64 {
        self.ok + self.connection_loss + self.timeout + self.hung + self.other.len() as u64
    }
}

impl fmt::Display for OpCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ops: {} ok, {} ConnectionLoss, {} Timeout, {} hung, {} other",
            self.total(),
            self.ok,
            self.connection_loss,
            self.timeout,
            self.hung,
            self.other.len()
        )
    }
}

/// Percentiles of a set of durations.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Percentiles {
    /// How many samples.
    pub count: usize,
    /// The median.
    pub p50: Duration,
    /// The 90th percentile.
    pub p90: Duration,
    /// The 99th percentile.
    pub p99: Duration,
    /// The largest.
    pub max: Duration,
}

impl Percentiles {
    /// The percentiles of `samples` (nearest rank); all zero when empty.
    pub fn of(samples: &[Duration]) -> Self {
        let mut s = samples.to_vec();
        s.sort_unstable();
        let at = |q: f64| -> Duration {
            if s.is_empty() {
                return Duration::ZERO;
            }
            let rank = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
            s[rank - 1]
        };
        Percentiles {
            count: s.len(),
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: s.last().copied().unwrap_or_default(),
        }
    }
}

impl fmt::Display for Percentiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "n={} p50={} p90={} p99={} max={}",
            self.count,
            ms(self.p50),
            ms(self.p90),
            ms(self.p99),
            ms(self.max)
        )
    }
}

/// A duration as milliseconds with one decimal, e.g. `"1234.5 ms"`.
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// A `kB` line of `/proc/self/status` (`VmRSS`, `VmHWM`, ...), in KiB; `None` where there is
/// no procfs.
pub fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

/// The resident set size now, in KiB (0 where unknown).
pub fn rss_kib() -> u64 {
    proc_status_kib("VmRSS").unwrap_or(0)
}

/// Memory before and after a phase.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// RSS before, KiB.
    pub before_kib: u64,
    /// RSS after, KiB.
    pub after_kib: u64,
    /// The process's peak RSS (`VmHWM`) after, KiB.
    pub peak_kib: u64,
}

impl Memory {
    /// Starts measuring.
    pub fn start() -> Self {
        Memory {
            before_kib: rss_kib(),
            ..Memory::default()
        }
    }

    /// Ends measuring.
    pub fn stop(mut self) -> Self {
        self.after_kib = rss_kib();
        self.peak_kib = proc_status_kib("VmHWM").unwrap_or(0);
        self
    }

    /// RSS growth in KiB (negative when it shrank).
    pub fn growth_kib(&self) -> i64 {
        self.after_kib as i64 - self.before_kib as i64
    }
}

impl fmt::Display for Memory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RSS {:.1} MiB -> {:.1} MiB ({:+.1} MiB), peak {:.1} MiB",
            self.before_kib as f64 / 1024.0,
            self.after_kib as f64 / 1024.0,
            self.growth_kib() as f64 / 1024.0,
            self.peak_kib as f64 / 1024.0
        )
    }
}

/// Broken promises found by a scenario. Scenarios check everything and collect what failed, so
/// that one failure does not hide the next.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Violations(pub Vec<String>);

impl Violations {
    /// Records `what` unless `ok`.
    pub fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }

    /// Records a failure.
    pub fn push(&mut self, what: impl Into<String>) {
        self.0.push(what.into());
    }

    /// Whether every promise held.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        for v in &self.0 {
            writeln!(f, "  - {v}")?;
        }
        Ok(())
    }
}

/// Runs `fut` with a deadline: `None` when it did not finish in time (a hang).
pub async fn within<T>(deadline: Duration, fut: impl Future<Output = T>) -> Option<T> {
    tokio::time::timeout(deadline, fut).await.ok()
}

/// Runs `fut` with a deadline, turning a hang into an error naming `what`.
///
/// # Errors
/// `what` and the deadline, when it did not finish in time.
pub async fn must<T>(
    what: &str,
    deadline: Duration,
    fut: impl Future<Output = T>,
) -> Result<T, String> {
    tokio::time::timeout(deadline, fut)
        .await
        .map_err(|_| format!("{what}: no result within {deadline:?}"))
}

/// Runs blocking work (starting, killing or restarting servers) off the async threads.
///
/// # Errors
/// The work's panic, as text.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("blocking task failed: {e}"))
}
