//! Bytes of heap per one-shot data watch, counted by a counting allocator: 10,000 watches held
//! on 10,000 nodes of a throwaway local server.
//!
//! `cargo run --release -p zk-session --example watch_memory`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use zk_session::{Client, CreateOptions, Op};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator and only counts bytes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = zk_testkit::Server::start()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let c = Client::connect(&server.connect_string()).await?;
        let n = 10_000;
        let root = "/watch-memory";
        c.create(root, b"", &CreateOptions::persistent()).await?;
        let paths: Vec<String> = (0..n).map(|i| format!("{root}/node-{i:05}")).collect();
        let ops: Vec<Op> = paths
            .iter()
            .map(|p| Op::create(p.clone(), &b"x"[..], CreateOptions::persistent()))
            .collect();
        for chunk in ops.chunks(1000) {
            c.multi(chunk).await?;
        }
        // Warm up buffers and channels so that only the watches are counted.
        for p in paths.iter().take(100) {
            c.get_data(p).await?;
        }
        let before = LIVE.load(Ordering::Relaxed);
        let mut watchers = Vec::with_capacity(n);
        let vec_bytes = (n * std::mem::size_of::<zk_session::OneshotWatcher>()) as isize;
        for p in &paths {
            let (_, _, w) = c.get_data_watch(p).await?;
            watchers.push(w);
        }
        let after = LIVE.load(Ordering::Relaxed);
        let per_watch = (after - before - vec_bytes) as f64 / n as f64;
        println!(
            "{n} one-shot data watches: {:.0} bytes of heap each (path length {} bytes; the \
             OneshotWatcher handle itself is {} bytes, held by the caller, not counted)",
            per_watch,
            paths[0].len(),
            std::mem::size_of::<zk_session::OneshotWatcher>()
        );
        drop(watchers);
        c.close().await;
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    Ok(())
}
