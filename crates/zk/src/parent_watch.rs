//! The watches that keep a handle's registrations under one parent honest: a one-shot data
//! watch on each node, armed in batches with SetWatches instead of a request per node.
//!
//! A registration must notice its node being deleted by someone else (it then ends as
//! `Removed` and is never re-created). An exists watch per node, sent with the create, costs
//! a second request with every registration; a persistent recursive watch on the parent
//! costs none, but the server then sends a `NodeCreated` notification for every create under
//! it, the registration's own included, and for every other process's node too.
//!
//! Here a registration is its create alone. It files the node's path with the `czxid` its
//! create returned ([`Interest::arm`]), and the filed nodes are armed with one SetWatches
//! ([`zk_session::DataWatches`]) relative to a zxid: a node deleted or changed since is
//! reported at once, so nothing that happens before the watch is set is missed. One request
//! covers the nodes whose creates took consecutive zxids (nothing else can have touched any
//! of them in between, so the last one's zxid is exact for all); any other node goes in a
//! request of its own, relative to the zxid it was known at.
//!
//! When [`ARM_EAGER`] nodes are filed, the next registration under the parent sends their
//! SetWatches right behind its create: both share a write, and the SetWatches' reply comes
//! right behind the create's, so it costs no wake-up of its own. What is left (a burst's
//! tail, a lone registration) is armed by a task per parent and session (the armer)
//! [`ARM_DELAY`] after the first of it was filed. The armer also reads the replies
//! (a batch lost with a connection is filed again, to go relative to its own zxid once
//! reconnected) and routes the watches' events by path to the registrations' tasks, which
//! check their node and file it again when it is still theirs. The session re-arms the
//! watches after a reconnect with its last zxid, so a deletion while disconnected is
//! reported then. `RegisterOptions::shared_watch` turns this off for an exists watch per
//! node.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use smallvec::SmallVec;
use tokio::sync::{Notify, mpsc, oneshot};
use zk_session::{Armed, Client, DataWatchArming, DataWatches, EventType};

use crate::node_link::Poker;
use crate::registration::Command;

/// How long the armer waits before arming fewer than [`ARM_EAGER`] filed nodes: a burst of
/// registrations shares one SetWatches, and a deletion in that time is still reported (at
/// the arming).
pub(crate) const ARM_DELAY: Duration = Duration::from_millis(20);

/// How many filed nodes the registration that files the last arms at once.
const ARM_EAGER: usize = 32;

/// The most paths in one SetWatches (well below its size limit for paths of up to 400
/// characters).
const ARM_BATCH: usize = 256;

/// One parent path's watches, each with its session generation.
type Generations = Vec<(u64, Weak<ParentWatch>)>;

/// A handle's parent watches, by parent path and session generation (looked up by the path
/// as borrowed; a path has more than one only while an ended session's watch still holds
/// registrations).
#[derive(Debug, Default)]
pub(crate) struct ParentWatches {
    watches: Mutex<foldhash::HashMap<String, Generations>>,
}

/// The tasks of one node path's registrations, each with its interest's id: nearly always
/// one, kept inline (no allocation per registration).
type Pokers = SmallVec<[(u64, Poker<Command>); 1]>;

/// A node filed for arming: its path, the zxid its state was known at, and whether that is
/// the zxid of its create (or of a batch of creates), which may share a SetWatches with
/// consecutive creates.
#[derive(Debug)]
struct Filed {
    path: Arc<str>,
    zxid: i64,
    created: bool,
}

/// A SetWatches on its way: its nodes and zxid (to send again if the connection drops), and
/// its reply.
struct Sent {
    paths: Vec<Arc<str>>,
    zxid: i64,
    armed: Armed,
}

/// The nodes waiting to be armed, and the armer's wake-up: held by the armer, which holds its
/// parent's watch only weakly (so that the last registration's going ends it).
#[derive(Debug, Default)]
struct Queue {
    filed: Mutex<Vec<Filed>>,
    work: Notify,
}

/// One parent's registrations and the watches on their nodes.
#[derive(Debug)]
pub(crate) struct ParentWatch {
    parent: String,
    /// Arming failed for good, or the session ended: registrations watch their nodes
    /// themselves.
    unavailable: AtomicBool,
    /// The registrations' tasks by node path (a path registered twice has two).
    interests: Mutex<foldhash::HashMap<Arc<str>, Pokers>>,
    next_interest: AtomicU64,
    /// Nodes waiting to be armed.
    queue: Arc<Queue>,
    /// Full batches of them, for the next registration to send right behind its create
    /// ([`ParentWatch::send_ready`]).
    ready: Mutex<Vec<Filed>>,
    /// Sends SetWatches for the armer's set of watches.
    arming: DataWatchArming,
    /// Gives the armer the replies to read.
    replies: mpsc::UnboundedSender<Sent>,
    /// Ends the armer when the last registration lets go.
    stop: Mutex<Option<oneshot::Sender<()>>>,
}

impl std::fmt::Debug for Sent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sent")
            .field("paths", &self.paths.len())
            .field("zxid", &self.zxid)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks; a poisoned one still holds consistent data.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ParentWatches {
    /// The watch of `parent` in session `generation` (`client`'s), starting one if there is
    /// none; `None` when it is unavailable (the registration watches its node itself).
    pub(crate) fn acquire(
        &self,
        generation: u64,
        parent: &str,
        client: &Client,
    ) -> Option<Arc<ParentWatch>> {
        let mut watches = lock(&self.watches);
        let found = watches.get(parent).and_then(|of_parent| {
            of_parent
                .iter()
                .find(|(g, _)| *g == generation)
                .and_then(|(_, w)| w.upgrade())
        });
        if let Some(watch) = found {
            return (!watch.unavailable.load(Ordering::Relaxed)).then_some(watch);
        }
        // Released watches go as new ones come. A watch of an ended session stays while
        // registrations are in it: `wake_all` must find them.
        watches.retain(|_, of_parent| {
            of_parent.retain(|(_, w)| w.strong_count() > 0);
            !of_parent.is_empty()
        });
        let watch = ParentWatch::start(parent, client);
        watches
            .entry(parent.to_owned())
            .or_default()
            .push((generation, Arc::downgrade(&watch)));
        Some(watch)
    }

    /// Resumes every parked registration in every watch: called after each new generation
    /// or the close, so that parked registrations (see `node_link`) follow it. Running ones
    /// follow the generation themselves; one about to park on the generation it read before
    /// the change is marked, and resumed as it parks ([`Poker::resume`]). Nothing is queued:
    /// a resumed registration recovers or ends, and looks at its node once, as a running one
    /// does.
    pub(crate) fn wake_all(&self) {
        let watches: Vec<Arc<ParentWatch>> = lock(&self.watches)
            .values()
            .flatten()
            .filter_map(|(_, w)| w.upgrade())
            .collect();
        for watch in watches {
            // Resumed outside the lock: a task dropped at once (its runtime shutting down)
            // leaves this table.
            for poker in watch.pokers(None) {
                poker.resume();
            }
        }
    }
}

impl ParentWatch {
    /// A parent's watch on `client`'s session, its armer started.
    fn start(parent: &str, client: &Client) -> Arc<Self> {
        let watches = client.data_watches();
        let (replies, sent) = mpsc::unbounded_channel();
        let (stop, stopped) = oneshot::channel();
        let queue = Arc::<Queue>::default();
        let watch = Arc::new(Self {
            parent: parent.to_owned(),
            unavailable: AtomicBool::new(false),
            interests: Mutex::new(Default::default()),
            next_interest: AtomicU64::new(0),
            queue: queue.clone(),
            ready: Mutex::new(Vec::new()),
            arming: watches.arming(),
            replies,
            stop: Mutex::new(Some(stop)),
        });
        tokio::spawn(arm(
            Arc::downgrade(&watch),
            queue,
            client.clone(),
            stopped,
            watches,
            sent,
        ));
        watch
    }

    /// Routes events on `path` to `poker` until the returned interest is dropped. (The
    /// registration's one copy of its path is shared by the table's key and the interest.)
    pub(crate) fn watch_node(self: &Arc<Self>, path: &Arc<str>, poker: Poker<Command>) -> Interest {
        let id = self.next_interest.fetch_add(1, Ordering::Relaxed);
        lock(&self.interests)
            .entry(path.clone())
            .or_default()
            .push((id, poker));
        Interest {
            watch: self.clone(),
            path: path.clone(),
            id,
        }
    }

    /// Asks every registration of `path` (or of every path, with `None`) to check its node.
    fn check(&self, path: Option<&str>) {
        // Sent outside the lock: a poke may resume a parked task, and a task dropped at once
        // (its runtime shutting down) leaves this table.
        for poker in self.pokers(path) {
            poker.send(Command::Check);
        }
    }

    /// The tasks of `path`'s registrations (of every path, with `None`), taken out of the
    /// table's lock.
    fn pokers(&self, path: Option<&str>) -> Vec<Poker<Command>> {
        let interests = lock(&self.interests);
        match path {
            Some(path) => interests
                .get(path)
                .into_iter()
                .flatten()
                .map(|(_, p)| p.clone())
                .collect(),
            None => interests
                .values()
                .flatten()
                .map(|(_, p)| p.clone())
                .collect(),
        }
    }

    /// Files a node. When [`ARM_EAGER`] are filed they are ready: the next registration
    /// under this parent sends them right behind its create ([`ParentWatch::send_ready`]);
    /// whatever is filed or ready when the armer's timer (started by the first filed) runs
    /// out, the armer sends.
    fn file(&self, filed: Filed) {
        let (first, full) = {
            let mut queue = lock(&self.queue.filed);
            queue.push(filed);
            let first = queue.len() == 1;
            let full = queue.len() >= ARM_EAGER;
            (
                first,
                full.then(|| std::mem::replace(&mut *queue, Vec::with_capacity(ARM_EAGER))),
            )
        };
        match full {
            Some(filed) => lock(&self.ready).extend(filed),
            // The armer's timer covers the later ones too: it is woken for the first only.
            None if first => self.queue.work.notify_one(),
            None => {}
        }
    }

    /// Sends the SetWatches of the batches ready, if any: called by a registration right
    /// after its create went to the session, so that both share a write and the SetWatches'
    /// reply comes right behind the create's (one wake-up for both).
    pub(crate) fn send_ready(&self) {
        let ready = std::mem::take(&mut *lock(&self.ready));
        if !ready.is_empty() {
            self.send(ready);
        }
    }

    /// Sends the SetWatches for `filed` (a node whose registration ended meanwhile is armed
    /// all the same: its watch reports the deletion, which nobody hears); the armer reads
    /// the replies. A batch that cannot be sent makes the parent's watches unavailable, and
    /// its registrations check their nodes and watch them themselves.
    fn send(&self, filed: Vec<Filed>) {
        for (paths, zxid) in batches(filed) {
            match self.arming.send(&paths, zxid) {
                Ok(armed) => {
                    let _ = self.replies.send(Sent { paths, zxid, armed });
                }
                // The session has ended: its registrations follow the next one.
                Err(zk_session::Error::Closed) => {}
                Err(e) => self.give_up(&paths, &e),
            }
        }
    }

    /// The parent's watches are unavailable (`error`): the registrations of `paths` check
    /// their nodes and, finding them theirs, watch them themselves.
    fn give_up(&self, paths: &[Arc<str>], error: &zk_session::Error) {
        tracing::warn!(target: "zc_zk", parent = %self.parent, %error, "cannot arm registration watches; each registration watches its node");
        self.unavailable.store(true, Ordering::Relaxed);
        for path in paths {
            self.check(Some(path));
        }
    }
}

impl Drop for ParentWatch {
    fn drop(&mut self) {
        if let Some(stop) = lock(&self.stop).take() {
            let _ = stop.send(());
        }
    }
}

/// A registration's place in a [`ParentWatch`]; dropping it leaves.
#[derive(Debug)]
pub(crate) struct Interest {
    watch: Arc<ParentWatch>,
    path: Arc<str>,
    id: u64,
}

impl Interest {
    /// Has the node watched from `zxid` on, the zxid its state was known at (`created`: the
    /// zxid of the create that made it). False when the parent's watches are unavailable:
    /// the registration then watches its node itself.
    pub(crate) fn arm(&self, zxid: i64, created: bool) -> bool {
        if self.watch.unavailable.load(Ordering::Relaxed) {
            return false;
        }
        self.watch.file(Filed {
            path: self.path.clone(),
            zxid,
            created,
        });
        true
    }
}

impl Drop for Interest {
    fn drop(&mut self) {
        let mut interests = lock(&self.watch.interests);
        if let Some(list) = interests.get_mut(&*self.path) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                interests.remove(&*self.path);
            }
        }
    }
}

/// Splits filed nodes into SetWatches batches, each with the zxid it is relative to: nodes
/// whose creates took consecutive zxids go together, relative to the last one's (no other
/// change fits between them); any other node alone, relative to its own zxid.
fn batches(mut filed: Vec<Filed>) -> Vec<(Vec<Arc<str>>, i64)> {
    filed.sort_by_key(|f| f.zxid);
    let mut out: Vec<(Vec<Arc<str>>, i64)> = Vec::new();
    let mut run_open = false;
    for f in filed {
        match out.last_mut() {
            // Equal zxids: nodes of one batch filed again after a lost connection.
            Some((paths, zxid))
                if run_open
                    && f.created
                    && (f.zxid == *zxid + 1 || f.zxid == *zxid)
                    && paths.len() < ARM_BATCH =>
            {
                paths.push(f.path);
                *zxid = f.zxid;
            }
            _ => {
                run_open = f.created;
                out.push((vec![f.path], f.zxid));
            }
        }
    }
    out
}

/// The armer: arms what stays filed [`ARM_DELAY`] after the first of it, reads the
/// SetWatches' replies and routes the watches' events, until the session ends or the last
/// registration lets go. Then the watches are forgotten locally, with no removeWatches for
/// the server: the registrations that let go delete their nodes, which fires the server's
/// watches and ends them.
async fn arm(
    watch: Weak<ParentWatch>,
    queue: Arc<Queue>,
    client: Client,
    mut stopped: oneshot::Receiver<()>,
    mut watches: DataWatches,
    mut replies: mpsc::UnboundedReceiver<Sent>,
) {
    let mut waiting: VecDeque<Sent> = VecDeque::new();
    let mut flush_at: Option<tokio::time::Instant> = None;
    loop {
        // The replies come in order: the oldest SetWatches' first.
        let reply = async {
            match waiting.front_mut() {
                Some(sent) => (&mut sent.armed).await,
                None => std::future::pending().await,
            }
        };
        let flush = async {
            match flush_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let woke = tokio::select! {
            _ = &mut stopped => None,
            event = watches.next() => Some(Wake::Event(event)),
            sent = replies.recv() => sent.map(Wake::Sent),
            result = reply => Some(Wake::Reply(result)),
            () = queue.work.notified() => Some(Wake::Filed),
            () = flush => Some(Wake::Flush),
        };
        // Stopped, or the parent's watch gone: the last registration let go.
        let (Some(woke), Some(parent)) = (woke, watch.upgrade()) else {
            watches.forget();
            return;
        };
        match woke {
            Wake::Event(event) => {
                if !route(&parent, event) {
                    return;
                }
            }
            Wake::Sent(sent) => waiting.push_back(sent),
            Wake::Filed => {
                flush_at.get_or_insert_with(|| tokio::time::Instant::now() + ARM_DELAY);
            }
            Wake::Flush => {
                flush_at = None;
                let mut filed = std::mem::take(&mut *lock(&queue.filed));
                filed.append(&mut lock(&parent.ready));
                if !filed.is_empty() {
                    parent.send(filed);
                }
            }
            Wake::Reply(result) => {
                let Some(sent) = waiting.pop_front() else {
                    continue;
                };
                match result {
                    Ok(()) => {}
                    Err(e) if e.is_terminal() || matches!(e, zk_session::Error::Closed) => {
                        parent.unavailable.store(true, Ordering::Relaxed);
                        return;
                    }
                    Err(e) if e.is_indeterminate() => {
                        tracing::debug!(target: "zc_zk", parent = %parent.parent, error = %e, "arming registration watches again after a reconnect");
                        // Filed again as one batch: its zxid is exact for every node in it.
                        lock(&queue.filed).extend(sent.paths.into_iter().map(|path| Filed {
                            path,
                            zxid: sent.zxid,
                            created: true,
                        }));
                        drop(parent);
                        let _ = client.wait_connected(Some(Duration::from_secs(30))).await;
                        flush_at = Some(tokio::time::Instant::now());
                    }
                    Err(e) => parent.give_up(&sent.paths, &e),
                }
            }
        }
    }
}

/// What woke the armer.
enum Wake {
    Event(Option<zk_session::WatchedEvent>),
    Sent(Sent),
    Reply(zk_session::Result<()>),
    Filed,
    Flush,
}

/// Routes one event of the watches: a node's to its registrations' tasks. False when the
/// session has ended (its registrations follow the next generation).
fn route(parent: &ParentWatch, event: Option<zk_session::WatchedEvent>) -> bool {
    match event {
        Some(e) if e.event_type != EventType::None => {
            parent.check(Some(&e.path));
            true
        }
        _ => {
            parent.unavailable.store(true, Ordering::Relaxed);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filed(path: &str, zxid: i64, created: bool) -> Filed {
        Filed {
            path: Arc::from(path),
            zxid,
            created,
        }
    }

    fn shape(b: &[(Vec<Arc<str>>, i64)]) -> Vec<(Vec<&str>, i64)> {
        b.iter()
            .map(|(p, z)| (p.iter().map(|p| &**p).collect(), *z))
            .collect()
    }

    #[test]
    fn creates_with_consecutive_zxids_share_a_batch_relative_to_the_last() {
        let b = batches(vec![
            filed("/p/b", 11, true),
            filed("/p/a", 10, true),
            filed("/p/c", 12, true),
        ]);
        assert_eq!(shape(&b), [(vec!["/p/a", "/p/b", "/p/c"], 12)]);
    }

    #[test]
    fn a_gap_in_the_zxids_starts_a_new_batch() {
        // Zxid 12 is someone else's change: it may have touched /p/b, so /p/b cannot be
        // armed relative to 13.
        let b = batches(vec![
            filed("/p/a", 10, true),
            filed("/p/b", 11, true),
            filed("/p/c", 13, true),
        ]);
        assert_eq!(shape(&b), [(vec!["/p/a", "/p/b"], 11), (vec!["/p/c"], 13)]);
    }

    #[test]
    fn a_node_known_from_a_read_goes_alone_relative_to_its_own_zxid() {
        let b = batches(vec![
            filed("/p/a", 10, true),
            filed("/p/x", 11, false),
            filed("/p/b", 12, true),
            filed("/p/c", 13, true),
        ]);
        assert_eq!(
            shape(&b),
            [
                (vec!["/p/a"], 10),
                (vec!["/p/x"], 11),
                (vec!["/p/b", "/p/c"], 13)
            ]
        );
    }

    #[test]
    fn a_batch_filed_again_after_a_lost_connection_stays_one_batch() {
        let b = batches(vec![
            filed("/p/a", 11, true),
            filed("/p/b", 11, true),
            filed("/p/c", 12, true),
        ]);
        assert_eq!(shape(&b), [(vec!["/p/a", "/p/b", "/p/c"], 12)]);
    }

    #[test]
    fn a_batch_holds_at_most_the_limit() {
        let many: Vec<Filed> = (0..ARM_BATCH as i64 + 3)
            .map(|i| filed(&format!("/p/{i}"), 100 + i, true))
            .collect();
        let b = batches(many);
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].0.len(), ARM_BATCH);
        assert_eq!(b[1].0.len(), 3);
    }
}
