//! The local watch table: which watchers wait on which (path, kind), what a notification fires,
//! and the lists that re-arm the server's watches after a reconnect.
//!
//! Several local watchers of one (path, kind) share a single server-side watch. Paths here are
//! client paths (chroot stripped).

// foldhash: paths are hashed on every watch set, fired and removed; SipHash was about a
// twentieth of a registration's client instructions.
use foldhash::HashMap;
use std::sync::Arc;

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

/// Which node events a persistent watcher is told of (session events always reach it).
/// Events it filters out are dropped by the watch table as they arrive, before anything is
/// allocated for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventFilter(u16);

impl EventFilter {
    /// Every event.
    pub const ALL: EventFilter = EventFilter(u16::MAX);

    /// Only node events of `kinds`.
    pub fn only(kinds: &[EventType]) -> EventFilter {
        EventFilter(kinds.iter().fold(0, |mask, k| mask | Self::bit(*k)))
    }

    fn bit(kind: EventType) -> u16 {
        match kind.as_i32() {
            // Session events always pass; they need no bit.
            -1 => 0,
            code @ 0..=14 => 1 << code,
            // Unknown codes share the top bit.
            _ => 1 << 15,
        }
    }

    /// Whether an event of `kind` gets through.
    pub fn passes(self, kind: EventType) -> bool {
        kind == EventType::None || self.0 & Self::bit(kind) != 0
    }
}

impl Default for EventFilter {
    fn default() -> Self {
        Self::ALL
    }
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

/// One watcher of a path in 8 bytes: the id above three bits that hold the kind (its index
/// plus one, so never zero). Ids of 2^61 and more do not fit; they are kept unpacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Packed(std::num::NonZeroU64);

const KINDS: [WatchKind; 5] = [
    WatchKind::Data,
    WatchKind::Exist,
    WatchKind::Child,
    WatchKind::Persistent,
    WatchKind::PersistentRecursive,
];

impl Packed {
    fn new(id: WatcherId, kind: WatchKind) -> Option<Packed> {
        if id >> 61 != 0 {
            return None;
        }
        let index = KINDS.iter().position(|k| *k == kind)? as u64;
        std::num::NonZeroU64::new(id << 3 | (index + 1)).map(Packed)
    }

    fn get(self) -> (WatcherId, WatchKind) {
        let v = self.0.get();
        // The low bits are 1..=5 by construction.
        let kind = KINDS[((v & 7) as usize).wrapping_sub(1) % KINDS.len()];
        (v >> 3, kind)
    }
}

/// The watchers of one path: the first inline and packed (most paths have one), the rest
/// boxed, so that an entry of the table is small (16 bytes besides the key).
#[derive(Debug, Default)]
struct PathWatches {
    first: Option<Packed>,
    // Boxed on purpose: 8 bytes inline instead of a Vec's 24, in every entry of the table,
    // for a list that is rarely there.
    #[allow(clippy::box_collection)]
    rest: Option<Box<Vec<(WatcherId, WatchKind)>>>,
}

impl PathWatches {
    fn iter(&self) -> impl Iterator<Item = (WatcherId, WatchKind)> + '_ {
        self.first
            .map(Packed::get)
            .into_iter()
            .chain(self.rest.iter().flat_map(|v| v.iter().copied()))
    }

    fn has(&self, kind: WatchKind) -> bool {
        self.iter().any(|(_, k)| k == kind)
    }

    fn contains(&self, id: WatcherId, kind: WatchKind) -> bool {
        self.iter().any(|e| e == (id, kind))
    }

    fn push(&mut self, id: WatcherId, kind: WatchKind) {
        match Packed::new(id, kind) {
            Some(p) if self.first.is_none() => self.first = Some(p),
            _ => self
                .rest
                .get_or_insert_with(Default::default)
                .push((id, kind)),
        }
    }

    /// Moves the first packable entry of `rest` up when `first` is empty, and drops an empty
    /// `rest`.
    fn compact(&mut self) {
        if let Some(rest) = &mut self.rest {
            if self.first.is_none() {
                if let Some(pos) = rest
                    .iter()
                    .position(|&(id, k)| Packed::new(id, k).is_some())
                {
                    let (id, kind) = rest.remove(pos);
                    self.first = Packed::new(id, kind);
                }
            }
            if rest.is_empty() {
                self.rest = None;
            }
        }
    }

    /// Removes the entries whose kind `taken` selects, appending their ids to `out`.
    fn take(&mut self, out: &mut Vec<WatcherId>, taken: impl Fn(WatchKind) -> bool) {
        if let Some((id, kind)) = self.first.map(Packed::get) {
            if taken(kind) {
                out.push(id);
                self.first = None;
            }
        }
        if let Some(rest) = &mut self.rest {
            rest.retain(|&(id, kind)| {
                if taken(kind) {
                    out.push(id);
                    false
                } else {
                    true
                }
            });
        }
        self.compact();
    }

    fn remove(&mut self, id: WatcherId, kind: WatchKind) -> bool {
        if self.first.is_some() && self.first == Packed::new(id, kind) {
            self.first = None;
            self.compact();
            return true;
        }
        let Some(rest) = &mut self.rest else {
            return false;
        };
        match rest.iter().position(|e| *e == (id, kind)) {
            Some(pos) => {
                rest.remove(pos);
                self.compact();
                true
            }
            None => false,
        }
    }

    fn is_empty(&self) -> bool {
        self.first.is_none() && self.rest.is_none()
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

/// The local watch table. Paths are shared (`Arc<str>`) with the watcher handles that hold
/// them, so a watch costs one path allocation in all.
#[derive(Debug, Default)]
pub struct WatchRegistry {
    paths: HashMap<Arc<str>, PathWatches>,
    /// The paths holding persistent recursive watchers.
    recursive: Vec<Arc<str>>,
    /// The persistent watchers told of only some node events (few: a scan is cheapest).
    filters: Vec<(WatcherId, EventFilter)>,
}

/// Up to this many recursively watched paths, a notification checks each of them for being
/// its path or an ancestor; beyond it, looks up each of the path's ancestors instead.
const RECURSIVE_SCAN: usize = 8;

/// Whether `ancestor` is `path` or one of its ancestors.
fn is_self_or_ancestor(ancestor: &str, path: &str) -> bool {
    match path.strip_prefix(ancestor) {
        Some("") => true,
        Some(rest) => ancestor == "/" || rest.starts_with('/'),
        None => false,
    }
}

impl WatchRegistry {
    /// Adds `id` as a watcher of (`path`, `kind`).
    pub fn add(&mut self, path: &Arc<str>, kind: WatchKind, id: WatcherId) {
        let entry = match self.paths.get_mut(&**path) {
            Some(e) => e,
            None => self.paths.entry(path.clone()).or_default(),
        };
        if !entry.contains(id, kind) {
            entry.push(id, kind);
            if kind == WatchKind::PersistentRecursive
                && !self.recursive.iter().any(|p| **p == **path)
            {
                self.recursive.push(path.clone());
            }
        }
    }

    /// Tells persistent watcher `id` of only the node events `filter` passes, until it is
    /// removed. The filter belongs to the id: a caller that files one id under several
    /// persistent watches (the client never does) gives them all the filter, and removing any
    /// of them drops it.
    pub fn set_filter(&mut self, id: WatcherId, filter: EventFilter) {
        self.filters.retain(|(f, _)| *f != id);
        if filter != EventFilter::ALL {
            self.filters.push((id, filter));
        }
    }

    /// The paths where `id` watches as `kind` (a scan of the table: for removing a watcher
    /// filed under many paths, as a [`DataWatches`](crate::DataWatches) is).
    pub fn paths_of(&self, id: WatcherId, kind: WatchKind) -> Vec<Arc<str>> {
        self.paths
            .iter()
            .filter(|(_, e)| e.contains(id, kind))
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// Whether any local watcher, of any kind, watches `path`.
    pub fn watches_path(&self, path: &str) -> bool {
        self.paths.contains_key(path)
    }

    /// Whether `path` holds a watch of `kind`.
    pub fn has(&self, path: &str, kind: WatchKind) -> bool {
        self.paths.get(path).is_some_and(|e| e.has(kind))
    }

    /// Whether `path` itself holds a persistent recursive watch (cheap when none is held).
    pub fn has_recursive(&self, path: &str) -> bool {
        !self.recursive.is_empty() && self.has(path, WatchKind::PersistentRecursive)
    }

    /// Removes `id` from (`path`, `kind`); says which server watch, if any, is now unused.
    pub fn remove(&mut self, path: &str, kind: WatchKind, id: WatcherId) -> Unused {
        let Some(entry) = self.paths.get_mut(path) else {
            return Unused::None;
        };
        if !entry.remove(id, kind) {
            return Unused::None;
        }
        if kind == WatchKind::PersistentRecursive && !entry.has(kind) {
            self.recursive.retain(|p| &**p != path);
        }
        if kind.is_persistent() && !self.filters.is_empty() {
            self.filters.retain(|(f, _)| *f != id);
        }
        let unused = match kind {
            WatchKind::Data | WatchKind::Exist
                if !entry.has(WatchKind::Data) && !entry.has(WatchKind::Exist) =>
            {
                Unused::Data
            }
            WatchKind::Child if !entry.has(WatchKind::Child) => Unused::Children,
            WatchKind::Persistent if !entry.has(WatchKind::Persistent) => Unused::Persistent,
            WatchKind::PersistentRecursive if !entry.has(WatchKind::PersistentRecursive) => {
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
        // Whether a persistent watcher hears this event (the filtered are never collected, so
        // an event nobody hears allocates nothing).
        let filters = &self.filters;
        let hears = |id: &WatcherId| {
            filters.is_empty()
                || filters
                    .iter()
                    .find(|(f, _)| f == id)
                    .is_none_or(|(_, filter)| filter.passes(event_type))
        };
        if let Some(entry) = self.paths.get_mut(path) {
            let taken = |kind: WatchKind| match event_type {
                EventType::NodeCreated | EventType::NodeDataChanged => {
                    matches!(kind, WatchKind::Data | WatchKind::Exist)
                }
                EventType::NodeChildrenChanged => kind == WatchKind::Child,
                EventType::NodeDeleted => {
                    matches!(kind, WatchKind::Data | WatchKind::Exist | WatchKind::Child)
                }
                _ => false,
            };
            entry.take(&mut fired, taken);
            fired.extend(
                entry
                    .iter()
                    .filter(|(_, k)| *k == WatchKind::Persistent)
                    .map(|(id, _)| id)
                    .filter(hears),
            );
            if entry.is_empty() {
                self.paths.remove(path);
            }
        }
        if !self.recursive.is_empty() && event_type != EventType::NodeChildrenChanged {
            let recursive_of = |entry: &PathWatches, fired: &mut Vec<WatcherId>| {
                fired.extend(
                    entry
                        .iter()
                        .filter(|(_, k)| *k == WatchKind::PersistentRecursive)
                        .map(|(id, _)| id)
                        .filter(hears),
                );
            };
            if self.recursive.len() <= RECURSIVE_SCAN {
                for ancestor in &self.recursive {
                    if is_self_or_ancestor(ancestor, path) {
                        if let Some(entry) = self.paths.get(&**ancestor) {
                            recursive_of(entry, &mut fired);
                        }
                    }
                }
            } else {
                let mut prefix = path;
                loop {
                    if let Some(entry) = self.paths.get(prefix) {
                        recursive_of(entry, &mut fired);
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
        }
        fired.sort_unstable();
        fired.dedup();
        fired
    }

    /// Every watcher, removing them all (session expired or closed).
    pub fn drain(&mut self) -> Vec<WatcherId> {
        self.recursive.clear();
        self.filters.clear();
        let mut all: Vec<WatcherId> = self
            .paths
            .drain()
            .flat_map(|(_, e)| e.iter().map(|(id, _)| id).collect::<Vec<_>>())
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
            .flat_map(|e| e.iter())
            .filter(|(_, k)| k.is_persistent())
            .map(|(id, _)| id)
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    /// The number of (path, kind, watcher) entries.
    pub fn len(&self) -> usize {
        self.paths.values().map(|e| e.iter().count()).sum()
    }

    /// Whether no watch is held.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// The paths to re-arm, per server watch type, in the Java client's order: data, exist,
    /// child, persistent, persistent recursive.
    pub fn server_lists(&self) -> [Vec<&str>; 5] {
        let mut lists: [Vec<&str>; 5] = Default::default();
        let mut paths: Vec<(&Arc<str>, &PathWatches)> = self.paths.iter().collect();
        paths.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (path, e) in paths {
            for (i, kind) in [
                WatchKind::Data,
                WatchKind::Exist,
                WatchKind::Child,
                WatchKind::Persistent,
                WatchKind::PersistentRecursive,
            ]
            .into_iter()
            .enumerate()
            {
                if e.has(kind) {
                    lists[i].push(path);
                }
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
        w.add(&"/a".into(), WatchKind::Data, 1);
        w.add(&"/a".into(), WatchKind::Exist, 2);
        w.add(&"/a".into(), WatchKind::Child, 3);
        assert_eq!(w.fire(EventType::NodeDataChanged, "/a"), [1, 2]);
        assert_eq!(w.fire(EventType::NodeDataChanged, "/a"), Vec::<u64>::new());
        assert_eq!(w.fire(EventType::NodeDeleted, "/a"), [3]);
        assert!(w.is_empty());
    }

    #[test]
    fn persistent_watchers_stay_and_recursive_ones_see_descendants() {
        let mut w = WatchRegistry::default();
        w.add(&"/a".into(), WatchKind::Persistent, 1);
        w.add(&"/".into(), WatchKind::PersistentRecursive, 2);
        assert_eq!(w.fire(EventType::NodeDataChanged, "/a"), [1, 2]);
        assert_eq!(w.fire(EventType::NodeCreated, "/a/b/c"), [2]);
        assert_eq!(w.fire(EventType::NodeChildrenChanged, "/a"), [1]);
        assert_eq!(w.len(), 2);
    }

    #[test]
    fn recursive_watchers_see_their_subtree_only_however_many_paths_are_watched() {
        for extra in [0, RECURSIVE_SCAN + 1] {
            let mut w = WatchRegistry::default();
            for i in 0..extra {
                w.add(
                    &format!("/other{i}").into(),
                    WatchKind::PersistentRecursive,
                    100 + i as u64,
                );
            }
            w.add(&"/a".into(), WatchKind::PersistentRecursive, 1);
            w.add(&"/a/b".into(), WatchKind::PersistentRecursive, 2);
            w.add(&"/".into(), WatchKind::PersistentRecursive, 3);
            let fired = |w: &mut WatchRegistry, path| -> Vec<u64> {
                w.fire(EventType::NodeCreated, path)
                    .into_iter()
                    .filter(|id| *id < 100)
                    .collect()
            };
            assert_eq!(fired(&mut w, "/a/b/c"), [1, 2, 3], "{extra} others");
            assert_eq!(fired(&mut w, "/a/b"), [1, 2, 3]);
            assert_eq!(fired(&mut w, "/a"), [1, 3]);
            assert_eq!(fired(&mut w, "/ab"), [3], "a sibling sharing a prefix");
            assert_eq!(fired(&mut w, "/"), [3]);
            assert_eq!(
                w.remove("/a", WatchKind::PersistentRecursive, 1),
                Unused::PersistentRecursive
            );
            assert_eq!(fired(&mut w, "/a/x"), [3]);
            assert!(!w.has_recursive("/a"));
            assert!(w.has_recursive("/a/b"));
        }
    }

    #[test]
    fn an_entry_is_sixteen_bytes_besides_its_key() {
        assert_eq!(std::mem::size_of::<PathWatches>(), 16);
    }

    #[test]
    fn every_kind_and_ids_too_large_to_pack_round_trip() {
        let mut w = WatchRegistry::default();
        let big = u64::MAX - 1;
        for (i, kind) in KINDS.into_iter().enumerate() {
            w.add(&"/p".into(), kind, i as u64);
            w.add(&"/p".into(), kind, big - i as u64);
        }
        assert_eq!(w.len(), 10);
        assert_eq!(
            w.fire(EventType::NodeDataChanged, "/p"),
            [0, 1, 3, 4, big - 4, big - 3, big - 1, big]
        );
        assert_eq!(w.remove("/p", WatchKind::Child, big - 2), Unused::None);
        assert_eq!(w.remove("/p", WatchKind::Child, 2), Unused::Children);
        assert_eq!(w.persistent_watchers(), [3, 4, big - 4, big - 3]);
        for (id, kind) in [(3, WatchKind::Persistent), (big - 3, WatchKind::Persistent)] {
            w.remove("/p", kind, id);
        }
        assert_eq!(w.drain(), [4, big - 4]);
    }

    #[test]
    fn removing_the_last_local_watcher_frees_the_server_watch() {
        let mut w = WatchRegistry::default();
        w.add(&"/a".into(), WatchKind::Data, 1);
        w.add(&"/a".into(), WatchKind::Data, 2);
        assert_eq!(w.remove("/a", WatchKind::Data, 1), Unused::None);
        assert_eq!(w.remove("/a", WatchKind::Data, 2), Unused::Data);
        assert_eq!(w.remove("/a", WatchKind::Data, 2), Unused::None);
        assert!(w.is_empty());
    }

    #[test]
    fn an_event_filter_passes_its_kinds_and_every_session_event() {
        let deletions = EventFilter::only(&[EventType::NodeDeleted]);
        assert!(deletions.passes(EventType::NodeDeleted));
        assert!(deletions.passes(EventType::None));
        for other in [
            EventType::NodeCreated,
            EventType::NodeDataChanged,
            EventType::NodeChildrenChanged,
        ] {
            assert!(!deletions.passes(other), "{other:?}");
            assert!(EventFilter::ALL.passes(other), "{other:?}");
        }
    }

    #[test]
    fn a_filtered_persistent_watcher_is_not_fired_for_events_it_filters_out() {
        let mut w = WatchRegistry::default();
        w.add(&"/a".into(), WatchKind::PersistentRecursive, 1);
        w.add(&"/a".into(), WatchKind::PersistentRecursive, 2);
        w.set_filter(1, EventFilter::only(&[EventType::NodeDeleted]));
        assert_eq!(w.fire(EventType::NodeCreated, "/a/b"), [2]);
        assert_eq!(w.fire(EventType::NodeDeleted, "/a/b"), [1, 2]);
        // Its filter goes with it: a watcher later given the same id hears everything.
        w.remove("/a", WatchKind::PersistentRecursive, 1);
        w.add(&"/a".into(), WatchKind::PersistentRecursive, 1);
        assert_eq!(w.fire(EventType::NodeCreated, "/a/b"), [1, 2]);
    }
}
