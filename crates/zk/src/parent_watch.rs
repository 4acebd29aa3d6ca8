//! One persistent recursive watch per registration parent, shared by a handle's
//! registrations under it (ZooKeeper 3.6+).
//!
//! A registration must notice its node being deleted by someone else (it then ends as
//! `Removed` and is never re-created). A one-shot watch per node costs a second request with
//! every registration (an exists, pipelined with the create) and a server watch per node. One
//! `addWatch(parent, PERSISTENT_RECURSIVE)` per parent and session replaces them: a
//! registration is then its create alone (plus the create's own `NodeCreated` event, dropped
//! here). Deletions under the parent are routed by path to the registration's task, which
//! checks its node; after a reconnect, for which persistent watches get no catch-up from the
//! server, every registration checks its node once.
//!
//! The price: the process also hears of other processes' nodes coming and going under that
//! parent, one small event each. `RegisterOptions::shared_watch` turns the shared watch off.
//! Servers without addWatch (3.5) fall back to a watch per node, as does a parent the watch
//! could not be set on.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use smallvec::SmallVec;
use tokio::sync::{Notify, oneshot};
use zk_session::{Client, Error as ZkError, EventType, KeeperState, PersistentWatcher};

use crate::node_link::Poker;
use crate::registration::Command;

/// One parent path's watches, each with its session generation.
type Generations = Vec<(u64, Weak<ParentWatch>)>;

/// A handle's shared parent watches, by parent path and session generation (looked up by
/// the path as borrowed; a path has more than one only while an ended session's watch still
/// holds registrations).
#[derive(Debug, Default)]
pub(crate) struct ParentWatches {
    watches: Mutex<foldhash::HashMap<String, Generations>>,
    /// The server has no addWatch: every registration watches its own node.
    unsupported: AtomicBool,
}

/// What [`ParentWatches::acquire`] gives a registration about to create its node.
pub(crate) enum Acquired {
    /// The watch is set, or its addWatch was sent before anything this caller sends now.
    Ready(Arc<ParentWatch>),
    /// This caller sets the watch: [`ParentWatch::start`] must be sent before the create.
    Start(Arc<ParentWatch>),
    /// No shared watch: watch the node itself.
    Unavailable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Starting,
    Ready,
    /// addWatch failed, or the session ended.
    Unavailable,
}

/// The tasks of one node path's registrations, each with its interest's id: nearly always
/// one, kept inline (no allocation per registration).
type Pokers = SmallVec<[(u64, Poker<Command>); 1]>;

/// One parent's watch and the registrations it serves.
#[derive(Debug)]
pub(crate) struct ParentWatch {
    parent: String,
    state: Mutex<State>,
    settled: Notify,
    /// The registrations' tasks by node path (a path registered twice has two).
    interests: Mutex<foldhash::HashMap<Arc<str>, Pokers>>,
    next_interest: AtomicU64,
    /// Ends the dispatch task when the last registration lets go.
    stop: Mutex<Option<oneshot::Sender<()>>>,
    stopped: Mutex<Option<oneshot::Receiver<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks; a poisoned one still holds consistent data.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ParentWatches {
    /// The shared watch on `parent` in session `generation`, starting one if there is none.
    /// Waits while another registration's addWatch is under way.
    pub(crate) async fn acquire(&self, generation: u64, parent: &str) -> Acquired {
        if self.unsupported.load(Ordering::Relaxed) {
            return Acquired::Unavailable;
        }
        let watch = {
            let mut watches = lock(&self.watches);
            let found = watches.get(parent).and_then(|of_parent| {
                of_parent
                    .iter()
                    .find(|(g, _)| *g == generation)
                    .and_then(|(_, w)| w.upgrade())
            });
            match found {
                Some(watch) => watch,
                None => {
                    // Released watches go as new ones come. A watch of an ended session
                    // stays while registrations are in it: `wake_all` must find them.
                    watches.retain(|_, of_parent| {
                        of_parent.retain(|(_, w)| w.strong_count() > 0);
                        !of_parent.is_empty()
                    });
                    let watch = Arc::new(ParentWatch::new(parent));
                    watches
                        .entry(parent.to_owned())
                        .or_default()
                        .push((generation, Arc::downgrade(&watch)));
                    return Acquired::Start(watch);
                }
            }
        };
        loop {
            let state = {
                let settled = watch.settled.notified();
                tokio::pin!(settled);
                settled.as_mut().enable();
                let state = *lock(&watch.state);
                if state == State::Starting {
                    settled.await;
                }
                state
            };
            match state {
                State::Ready => return Acquired::Ready(watch),
                State::Unavailable => return Acquired::Unavailable,
                State::Starting => {}
            }
        }
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
    fn new(parent: &str) -> Self {
        let (stop, stopped) = oneshot::channel();
        Self {
            parent: parent.to_owned(),
            state: Mutex::new(State::Starting),
            settled: Notify::new(),
            interests: Mutex::new(Default::default()),
            next_interest: AtomicU64::new(0),
            stop: Mutex::new(Some(stop)),
            stopped: Mutex::new(Some(stopped)),
        }
    }

    /// Sets the watch (the caller of [`ParentWatches::acquire`] that got
    /// [`Acquired::Start`]): true when it is set. Polled before the create it covers (as in
    /// `join!(start, create)`), so that the server sees the addWatch first.
    pub(crate) async fn start(self: &Arc<Self>, watches: &ParentWatches, client: &Client) -> bool {
        // A start abandoned midway (its caller's future dropped) must not leave the
        // registrations waiting for it hanging: it settles as unavailable.
        struct Abandoned<'a>(Option<&'a ParentWatch>);
        impl Drop for Abandoned<'_> {
            fn drop(&mut self) {
                if let Some(watch) = self.0 {
                    *lock(&watch.state) = State::Unavailable;
                    watch.settled.notify_waiters();
                }
            }
        }
        let mut abandoned = Abandoned(Some(self));
        // Only deletions matter; the server's other events (the creates' own among them) are
        // dropped as they arrive.
        let deletions = client.add_watch_for(&self.parent, true, &[EventType::NodeDeleted]);
        let state = match deletions.await {
            Ok(watcher) => {
                let stopped = lock(&self.stopped).take();
                if let Some(stopped) = stopped {
                    tokio::spawn(dispatch(Arc::downgrade(self), watcher, stopped));
                }
                State::Ready
            }
            Err(e) => {
                if matches!(e, ZkError::Unsupported { .. }) {
                    watches.unsupported.store(true, Ordering::Relaxed);
                }
                tracing::debug!(target: "zc_zk", parent = %self.parent, error = %e, "no shared watch; watching each node");
                State::Unavailable
            }
        };
        abandoned.0 = None;
        *lock(&self.state) = state;
        self.settled.notify_waiters();
        state == State::Ready
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

/// Routes the watch's events until the session ends or the last registration lets go (the
/// watcher is then dropped, which removes the server's watch).
async fn dispatch(
    watch: Weak<ParentWatch>,
    mut watcher: PersistentWatcher,
    mut stopped: oneshot::Receiver<()>,
) {
    loop {
        let event = tokio::select! {
            _ = &mut stopped => return,
            event = watcher.next() => event,
        };
        let Some(watch) = watch.upgrade() else { return };
        match event {
            None => {
                // The session ended: its registrations follow the next generation.
                *lock(&watch.state) = State::Unavailable;
                return;
            }
            Some(e) if e.event_type == EventType::NodeDeleted => watch.check(Some(&e.path)),
            // Reconnected: deletions while away were not reported.
            Some(e) if e.event_type == EventType::None && e.state == KeeperState::SyncConnected => {
                watch.check(None);
            }
            Some(_) => {}
        }
    }
}
