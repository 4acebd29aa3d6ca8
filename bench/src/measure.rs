//! What a worker process measures about itself: CPU time, resident memory, allocations, and
//! percentiles.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// The process's CPU time so far, user + system, all threads (dead ones included):
/// `clock_gettime(CLOCK_PROCESS_CPUTIME_ID)`, with nanosecond resolution where /proc/self/stat
/// only has 10 ms ticks. (Through glibc, which std links anyway: rustix's vDSO lookup crashes
/// under valgrind.)
#[allow(unsafe_code)]
#[inline(never)]
pub fn cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// User and system time from /proc/self/stat (10 ms ticks), to split `cpu_time`.
pub fn user_sys() -> (Duration, Duration) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let tick = |i: usize| {
        Duration::from_millis(10 * fields.get(i).and_then(|v| v.parse().ok()).unwrap_or(0u64))
    };
    (tick(11), tick(12))
}

/// The resident set size, from `VmRSS` in /proc/self/status.
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// A global allocator that forwards to the system allocator and, while switched on, counts
/// allocations and the net change of live (requested) bytes.
pub struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicI64 = AtomicI64::new(0);
static ALLOCS: AtomicU64 = AtomicU64::new(0);
/// Net live blocks per requested size (the last slot: larger blocks), while counting.
static SIZES: [AtomicI64; 1025] = [const { AtomicI64::new(0) }; 1025];
/// Net live bytes in blocks larger than 1,024 bytes, while counting.
static LARGE_BYTES: AtomicI64 = AtomicI64::new(0);

fn track(size: usize, delta: i64) {
    SIZES[size.min(1024)].fetch_add(delta, Relaxed);
    if size > 1024 {
        LARGE_BYTES.fetch_add(delta * size as i64, Relaxed);
    }
}

#[allow(unsafe_code)]
// SAFETY: every call is forwarded unchanged to `System`; the counters are plain atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            LIVE.fetch_add(layout.size() as i64, Relaxed);
            ALLOCS.fetch_add(1, Relaxed);
            track(layout.size(), 1);
        }
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            LIVE.fetch_add(layout.size() as i64, Relaxed);
            ALLOCS.fetch_add(1, Relaxed);
            track(layout.size(), 1);
        }
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Relaxed) {
            LIVE.fetch_sub(layout.size() as i64, Relaxed);
            track(layout.size(), -1);
        }
        // SAFETY: the caller's contract is passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            LIVE.fetch_add(new_size as i64 - layout.size() as i64, Relaxed);
            ALLOCS.fetch_add(1, Relaxed);
            track(layout.size(), -1);
            track(new_size, 1);
        }
        // SAFETY: the caller's contract is passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocation counts since [`start_counting`].
#[derive(Debug, Clone, Copy)]
pub struct AllocStats {
    /// Net change of live requested bytes (frees of older blocks included).
    pub live_bytes: i64,
    /// Allocations (and reallocations) made.
    pub allocs: u64,
}

/// Resets the counters and starts counting.
pub fn start_counting() {
    LIVE.store(0, Relaxed);
    ALLOCS.store(0, Relaxed);
    LARGE_BYTES.store(0, Relaxed);
    for s in &SIZES {
        s.store(0, Relaxed);
    }
    COUNTING.store(true, Relaxed);
}

/// The counts so far (counting goes on).
pub fn alloc_stats() -> AllocStats {
    AllocStats {
        live_bytes: LIVE.load(Relaxed),
        allocs: ALLOCS.load(Relaxed),
    }
}

/// Stops counting and returns the counts.
pub fn stop_counting() -> AllocStats {
    COUNTING.store(false, Relaxed);
    alloc_stats()
}

/// The net live blocks by requested size since [`start_counting`], largest totals first:
/// `size: blocks (bytes)`, one per line, for sizes with at least `min_blocks` blocks; blocks
/// over 1,024 bytes are summed in one line. Frees of blocks allocated before counting started
/// show as negative counts.
pub fn size_report(min_blocks: i64) -> String {
    let mut rows: Vec<(usize, i64)> = SIZES[..1024]
        .iter()
        .enumerate()
        .map(|(size, n)| (size, n.load(Relaxed)))
        .filter(|(_, n)| n.abs() >= min_blocks)
        .collect();
    rows.sort_by_key(|(size, n)| -(*size as i64 * n));
    let mut out = String::new();
    for (size, n) in rows {
        out.push_str(&format!(
            "{size:>5} B: {n:>7} blocks ({} B)\n",
            size as i64 * n
        ));
    }
    out.push_str(&format!(
        ">1024 B: {:>5} blocks ({} B)\n",
        SIZES[1024].load(Relaxed),
        LARGE_BYTES.load(Relaxed)
    ));
    out
}

/// The `p` quantile (0..=1) of sorted samples, nearest rank.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Microseconds as f64.
pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
