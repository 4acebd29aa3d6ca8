//! The local watch table: which watchers wait on which (path, kind), what a notification fires,
//! and the lists that re-arm the server's watches after a reconnect.
//!
//! Several local watchers of one (path, kind) share a single server-side watch. Paths here are
//! client paths (chroot stripped).

use std::collections::HashMap;

use zk_proto::{EventType, KeeperState};

/// Identifies one local watcher; the driver maps it to where the event goes.
pub type WatcherId = u64;

/// The kinds of watch a path can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WatchKind {
    /// Left by getData, or exists on a node that exists: fires on data change and deletion.
    Data,
    /// Left by exists on an absent node: fires on creation.
    Exist,
    /// Left by getChildren: fires on child change and deletion.
    Child,
    /// addWatch PERSISTENT: fires on every change of the node and its children, and stays.
    Persistent,
    /// addWatch PERSISTENT_RECURSIVE: fires on every change of the node and its descendants
    /// (never NodeChildrenChanged), and stays.
    PersistentRecursive,
}

impl WatchKind {
    /// Whether the watch stays after firing.
    pub fn is_persistent(self) -> bool {
        matches!(self, WatchKind::Persistent | WatchKind::PersistentRecursive)
    }
}

/// A watch notification or a session change, as a watcher sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedEvent {
    /// What happened to the node; `EventType::None` for a session change.
    pub event_type: EventType,
    /// The session state: `SyncConnected` for node events; `Disconnected`, `Expired` or
    /// `Closed` for session changes.
    pub state: KeeperState,
    /// The node's path (client path, chroot stripped); empty for a session change.
    pub path: String,
}

impl WatchedEvent {
    /// A session change event.
    pub fn session(state: KeeperState) -> Self {
        Self {
            event_type: EventType::None,
            state,
            path: String::new(),
        }
    }
}

#[derive(Debug, Default)]
struct PathWatches {
    data: Vec<WatcherId>,
    exist: Vec<WatcherId>,
    child: Vec<WatcherId>,
    persistent: Vec<WatcherId>,
    recursive: Vec<WatcherId>,
}

impl PathWatches {
    fn list(&mut self, kind: WatchKind) -> &mut Vec<WatcherId> {
        match kind {
            WatchKind::Data => &mut self.data,
            WatchKind::Exist => &mut self.exist,
            WatchKind::Child => &mut self.child,
            WatchKind::Persistent => &mut self.persistent,
            WatchKind::PersistentRecursive => &mut self.recursive,
        }
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
            && self.exist.is_empty()
            && self.child.is_empty()
            && self.persistent.is_empty()
            && self.recursive.is_empty()
    }
}

/// Which server-side watch type became unused after a local removal, to send removeWatches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unused {
    /// Nothing: other local watchers still use the server watch.
    None,
    /// The server's data/exist watch is unused (`WatcherType::Data`).
    Data,
    /// The server's child watch is unused (`WatcherType::Children`).
    Children,
    /// The server's persistent watch is unused.
    Persistent,
    /// The server's persistent recursive watch is unused.
    PersistentRecursive,
}

/// The local watch table.
#[derive(Debug, Default)]
pub struct WatchRegistry {
    paths: HashMap<String, PathWatches>,
    recursive_count: usize,
}

impl WatchRegistry {
    /// Adds `id` as a watcher of (`path`, `kind`).
    pub fn add(&mut self, path: &str, kind: WatchKind, id: WatcherId) {
        let entry = match self.paths.get_mut(path) {
            Some(e) => e,
            None => self.paths.entry(path.to_owned()).or_default(),
        };
        let list = entry.list(kind);
        if !list.contains(&id) {
            list.push(id);
            if kind == WatchKind::PersistentRecursive {
                self.recursive_count += 1;
            }
        }
    }

    /// Removes `id` from (`path`, `kind`); says which server watch, if any, is now unused.
    pub fn remove(&mut self, path: &str, kind: WatchKind, id: WatcherId) -> Unused {
        let Some(entry) = self.paths.get_mut(path) else {
            return Unused::None;
        };
        let list = entry.list(kind);
        let Some(pos) = list.iter().position(|w| *w == id) else {
            return Unused::None;
        };
        list.swap_remove(pos);
        if kind == WatchKind::PersistentRecursive {
            self.recursive_count -= 1;
        }
        let unused = match kind {
            WatchKind::Data | WatchKind::Exist
                if entry.data.is_empty() && entry.exist.is_empty() =>
            {
                Unused::Data
            }
            WatchKind::Child if entry.child.is_empty() => Unused::Children,
            WatchKind::Persistent if entry.persistent.is_empty() => Unused::Persistent,
            WatchKind::PersistentRecursive if entry.recursive.is_empty() => {
                Unused::PersistentRecursive
            }
            _ => Unused::None,
        };
        if entry.is_empty() {
            self.paths.remove(path);
        }
        unused
    }

    /// The watchers a notification of `event_type` on `path` fires. One-shot watchers are
    /// removed; persistent ones stay.
    pub fn fire(&mut self, event_type: EventType, path: &str) -> Vec<WatcherId> {
        let mut fired = Vec::new();
        if let Some(entry) = self.paths.get_mut(path) {
            match event_type {
                EventType::NodeCreated | EventType::NodeDataChanged => {
                    fired.append(&mut entry.data);
                    fired.append(&mut entry.exist);
                }
                EventType::NodeChildrenChanged => fired.append(&mut entry.child),
                EventType::NodeDeleted => {
                    fired.append(&mut entry.data);
                    fired.append(&mut entry.exist);
                    fired.append(&mut entry.child);
                }
                _ => {}
            }
            fired.extend_from_slice(&entry.persistent);
            if entry.is_empty() {
                self.paths.remove(path);
            }
        }
        if self.recursive_count > 0 && event_type != EventType::NodeChildrenChanged {
            let mut prefix = path;
            loop {
                if let Some(entry) = self.paths.get(prefix) {
                    fired.extend_from_slice(&entry.recursive);
                }
                if prefix == "/" {
                    break;
                }
                prefix = match prefix.rfind('/') {
                    Some(0) => "/",
                    Some(i) => &prefix[..i],
                    None => break,
                };
            }
        }
        fired.sort_unstable();
        fired.dedup();
        fired
    }

    /// Every watcher, removing them all (session expired or closed).
    pub fn drain(&mut self) -> Vec<WatcherId> {
        self.recursive_count = 0;
        let mut all: Vec<WatcherId> = self
            .paths
            .drain()
            .flat_map(|(_, e)| {
                e.data
                    .into_iter()
                    .chain(e.exist)
                    .chain(e.child)
                    .chain(e.persistent)
                    .chain(e.recursive)
            })
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    /// The persistent watchers (told of disconnections so they can resynchronise).
    pub fn persistent_watchers(&self) -> Vec<WatcherId> {
        let mut all: Vec<WatcherId> = self
            .paths
            .values()
            .flat_map(|e| e.persistent.iter().chain(&e.recursive))
            .copied()
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    /// The number of (path, kind, watcher) entries.
    pub fn len(&self) -> usize {
        self.paths
            .values()
            .map(|e| {
                e.data.len()
                    + e.exist.len()
                    + e.child.len()
                    + e.persistent.len()
                    + e.recursive.len()
            })
            .sum()
    }

    /// Whether no watch is held.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// The paths to re-arm, per server watch type, in the Java client's order: data, exist,
    /// child, persistent, persistent recursive.
    pub fn server_lists(&self) -> [Vec<&str>; 5] {
        let mut lists: [Vec<&str>; 5] = Default::default();
        let mut paths: Vec<(&String, &PathWatches)> = self.paths.iter().collect();
        paths.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (path, e) in paths {
            if !e.data.is_empty() {
                lists[0].push(path);
            }
            if !e.exist.is_empty() {
                lists[1].push(path);
            }
            if !e.child.is_empty() {
                lists[2].push(path);
            }
            if !e.persistent.is_empty() {
                lists[3].push(path);
            }
            if !e.recursive.is_empty() {
                lists[4].push(path);
            }
        }
        lists
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_change_fires_data_and_exist_watchers_once() {
        let mut w = WatchRegistry::default();
        w.add("/a", WatchKind::Data, 1);
        w.add("/a", WatchKind::Exist, 2);
        w.add("/a", WatchKind::Child, 3);
        assert_eq!(w.fire(EventType::NodeDataChanged, "/a"), [1, 2]);
        assert_eq!(w.fire(EventType::NodeDataChanged, "/a"), Vec::<u64>::new());
        assert_eq!(w.fire(EventType::NodeDeleted, "/a"), [3]);
        assert!(w.is_empty());
    }

    #[test]
    fn persistent_watchers_stay_and_recursive_ones_see_descendants() {
        let mut w = WatchRegistry::default();
        w.add("/a", WatchKind::Persistent, 1);
        w.add("/", WatchKind::PersistentRecursive, 2);
        assert_eq!(w.fire(EventType::NodeDataChanged, "/a"), [1, 2]);
        assert_eq!(w.fire(EventType::NodeCreated, "/a/b/c"), [2]);
        assert_eq!(w.fire(EventType::NodeChildrenChanged, "/a"), [1]);
        assert_eq!(w.len(), 2);
    }

    #[test]
    fn removing_the_last_local_watcher_frees_the_server_watch() {
        let mut w = WatchRegistry::default();
        w.add("/a", WatchKind::Data, 1);
        w.add("/a", WatchKind::Data, 2);
        assert_eq!(w.remove("/a", WatchKind::Data, 1), Unused::None);
        assert_eq!(w.remove("/a", WatchKind::Data, 2), Unused::Data);
        assert_eq!(w.remove("/a", WatchKind::Data, 2), Unused::None);
        assert!(w.is_empty());
    }
}
