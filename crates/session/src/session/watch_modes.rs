//! One session's persistent watch on a path beside its one-shot watches there.
//!
//! Before 3.9 the server keeps one watch mode per (path, session) in each of its two watch
//! tables (ZOOKEEPER-4466), and the watch set last decides it: addWatch sets the mode in both
//! tables, getData/exists in the data table, getChildren in the child table. Left alone, that
//! breaks every order:
//! - a one-shot watch set after a persistent one turns that table's entry into a one-shot:
//!   after a data watch the recursive watch stops seeing creations and changes below the
//!   path, and after one event it is gone from the data table; a persistent watch likewise
//!   loses the data or the children events;
//! - a recursive watch set after a children watch makes the child table's entry recursive,
//!   and a recursive watch never reports NodeChildrenChanged: the children watch goes silent
//!   (SetWatches after a reconnect sets the recursive watches last, so this happens there too);
//! - removeWatches for a one-shot kind takes the persistent watch's entry in that table with
//!   it.
//!
//! What the session does instead:
//! - a one-shot watch that a persistent watch of the session on the same path already
//!   reports (data and exist watches under a recursive watch; data, exist and children
//!   watches under a persistent one) is sent *without* its watch flag and registered locally
//!   only. While that path's addWatch is in flight, such a request waits at the head of the
//!   queue for its reply (whether the watch is set is known only then), unless the server is
//!   known to be 3.9 or newer;
//! - at the reply of a recursive addWatch, on a server not known to be 3.9 or newer, the
//!   children watches of its path registered by then (the replies before it) are re-armed by
//!   SetWatches relative to that reply's zxid, which sets them back to one-shot or, if the
//!   children changed since, fires them; after a reconnect such children watches are re-armed
//!   by a second SetWatches after the first;
//! - a one-shot kind's server watch is not removed while a persistent watch of the session
//!   shares its entry or another watch of its kind is on its way, and a persistent watch is
//!   kept on the server while one-shot watchers of its path (held, queued or in flight) may
//!   rely on it: it is removed when the last of them goes.
//!
//! Out of reach before 3.9: a persistent and a recursive watch of one session on one path.

use std::time::Instant;

use tracing::warn;
use zk_proto::{OpCode, WatcherType};

use super::{InFlight, OutgoingRequest, Session, WatchRegistration};
use crate::watches::{Unused, WatchKind};

/// Whether a persistent watch of `persistent`'s kind reports every event a one-shot watch of
/// kind `one_shot` on the same path would.
fn covers(persistent: WatchKind, one_shot: WatchKind) -> bool {
    match persistent {
        WatchKind::PersistentRecursive => matches!(one_shot, WatchKind::Data | WatchKind::Exist),
        WatchKind::Persistent => matches!(
            one_shot,
            WatchKind::Data | WatchKind::Exist | WatchKind::Child
        ),
        _ => false,
    }
}

/// Whether a request of `op` sets a one-shot watch with a flag as its last byte
/// (GetDataRequest, ExistsRequest, GetChildrenRequest and GetChildren2Request are a path and
/// a bool).
fn ends_with_watch_flag(op: OpCode) -> bool {
    matches!(
        op,
        OpCode::GetData | OpCode::Exists | OpCode::GetChildren | OpCode::GetChildren2
    )
}

/// Whether a request of `op` registering a watch of `kind` is an addWatch.
pub(super) fn is_persistent_add(op: OpCode, kind: WatchKind) -> bool {
    op == OpCode::AddWatch && kind.is_persistent()
}

impl<C> Session<C> {
    /// Whether a request in flight would register a watch of a kind `wanted` selects on
    /// `path`.
    fn in_flight_watch(&self, path: &str, wanted: impl Fn(OpCode, WatchKind) -> bool) -> bool {
        self.in_flight
            .any_watch(|f: &InFlight<C>, w| &*w.path == path && wanted(f.op, w.kind))
    }

    /// Whether a request in flight or queued would register a watch of a kind `wanted`
    /// selects on `path`.
    fn pending_watch(&self, path: &str, wanted: impl Fn(OpCode, WatchKind) -> bool) -> bool {
        self.in_flight_watch(path, &wanted)
            || self
                .queue
                .any_watch(|q, w| &*w.path == path && wanted(q.request.op, w.kind))
    }

    /// Whether the session holds a persistent watch on `path` that covers a one-shot watch
    /// of `kind` there.
    fn covered(&self, path: &str, kind: WatchKind) -> bool {
        (covers(WatchKind::PersistentRecursive, kind) && self.watches.has_recursive(path))
            || (covers(WatchKind::Persistent, kind)
                && self.watches.has(path, WatchKind::Persistent))
    }

    /// Whether a persistent watch on `path`, held or on its way, shares the server entry of
    /// a one-shot watch of `kind`.
    fn shares_entry(&self, path: &str, kind: WatchKind) -> bool {
        self.covered(path, kind)
            || self.pending_watch(path, |op, k| is_persistent_add(op, k) && covers(k, kind))
    }

    /// Whether one-shot watchers of `path` that a persistent watch of `kind` covers are held
    /// or on their way (they may have been sent without their own server watch).
    fn relying_one_shots(&self, path: &str, kind: WatchKind) -> bool {
        [WatchKind::Data, WatchKind::Exist, WatchKind::Child]
            .into_iter()
            .any(|one_shot| covers(kind, one_shot) && self.watches.has(path, one_shot))
            || self.pending_watch(path, |op, k| !is_persistent_add(op, k) && covers(kind, k))
    }

    /// Whether `request` must wait for an addWatch on its path to be answered: a one-shot
    /// watch that the watch being added would cover (if it is set) or that must be set on the
    /// server after its reply (if it is not).
    pub(super) fn waits_for_persistent_add(&self, request: &OutgoingRequest) -> bool {
        // 3.9+ keeps the modes apart: sent at once, the one-shot gets its own server watch.
        self.persistent_adds_in_flight > 0
            && self.before_3_9()
            && request.watch.as_ref().is_some_and(|w| {
                self.in_flight_watch(&w.path, |op, k| {
                    is_persistent_add(op, k) && covers(k, w.kind)
                })
            })
    }

    /// Called with each request that registers a watch, just after its frame was written at
    /// the end of `send_buf`, before it joins the requests in flight.
    pub(super) fn coordinate_watch_modes(&mut self, request: &OutgoingRequest) {
        let Some(w) = &request.watch else { return };
        if ends_with_watch_flag(request.op) && self.covered(&w.path, w.kind) {
            if let Some(flag) = self.send_buf.last_mut() {
                *flag = 0;
            }
        } else if is_persistent_add(request.op, w.kind) {
            self.persistent_adds_in_flight += 1;
            let other = if w.kind == WatchKind::Persistent {
                WatchKind::PersistentRecursive
            } else {
                WatchKind::Persistent
            };
            if self.watches.has(&w.path, other) && self.before_3_9() {
                warn!(target: "zookeeper", path = %w.path, "a persistent and a recursive watch on one path: before ZooKeeper 3.9 the one added last replaces the other on the server");
            }
        }
    }

    /// Whether the server may be older than 3.9 (its version unknown, or known older).
    fn before_3_9(&self) -> bool {
        self.server_version.is_none_or(|v| v < (3, 9, 0))
    }

    /// Called with each reply to a request that registered a watch, before the watch is
    /// registered. A recursive addWatch set after children watches of its path (theirs are
    /// the replies before this one) silenced them on a server before 3.9: SetWatches sets them
    /// back to one-shot, relative to this reply's zxid, so that a change since fires them.
    pub(super) fn after_watch_reply(&mut self, op: OpCode, w: &WatchRegistration, ok: bool) {
        if ok
            && op == OpCode::AddWatch
            && w.kind == WatchKind::PersistentRecursive
            && self.before_3_9()
            && self.watches.has(&w.path, WatchKind::Child)
        {
            let server_path = self.chroot.add(&w.path);
            self.write_child_set_watches(vec![server_path]);
        }
    }

    /// The removeWatches that the removal of the last local watcher of `kind` on `path` asks
    /// of the server (`unused` says which server watch lost its last local watcher), if any.
    pub(super) fn server_removal(
        &mut self,
        path: &str,
        kind: WatchKind,
        unused: Unused,
    ) -> Option<WatcherType> {
        let one_shot = match unused {
            Unused::None => return None,
            Unused::Data => Some((WatchKind::Data, WatcherType::Data)),
            Unused::Children => Some((WatchKind::Child, WatcherType::Children)),
            Unused::Persistent | Unused::PersistentRecursive => None,
        };
        if let Some((one_shot, watcher_type)) = one_shot {
            // Another watch of this kind on its way owns the server watch now, and so does a
            // persistent watch that shares its entry.
            let same_kind = |_: OpCode, k: WatchKind| {
                k == one_shot || (one_shot == WatchKind::Data && k == WatchKind::Exist)
            };
            if self.pending_watch(path, same_kind) || self.shares_entry(path, one_shot) {
                return None;
            }
            return Some(watcher_type);
        }
        if self.pending_watch(path, |op, k| is_persistent_add(op, k) && k == kind) {
            return None;
        }
        if self.relying_one_shots(path, kind) {
            // Removed when the last of them goes (`remove_deferred`).
            if !self
                .deferred_removals
                .iter()
                .any(|(p, k)| &**p == path && *k == kind)
            {
                self.deferred_removals.push((path.into(), kind));
            }
            return None;
        }
        self.persistent_removal(path, kind)
    }

    /// How to remove (if at all) the server's persistent watch of `kind` on `path`, no local watcher of
    /// it or relying on it being left.
    fn persistent_removal(&self, path: &str, kind: WatchKind) -> Option<WatcherType> {
        if !self.watches.watches_path(path) && !self.pending_watch(path, |_, _| true) {
            // Nothing else is watched there: `Any`, which every server knows.
            Some(WatcherType::Any)
        } else if !self.before_3_9() {
            Some(if kind == WatchKind::Persistent {
                WatcherType::Persistent
            } else {
                WatcherType::PersistentRecursive
            })
        } else {
            // Before 3.9 removeWatches knows no persistent types (3.8 answers
            // MarshallingError), and `Any` would take the path's other watches with it: the
            // server watch stays, and its events find no local watcher.
            None
        }
    }

    /// Removes the server's persistent watches on `path` whose removal waited for one-shot
    /// watchers that none relies on any more (after a removal, or a notification that fired
    /// them).
    pub(super) fn remove_deferred(&mut self, now: Instant, path: &str) {
        let mut i = 0;
        while i < self.deferred_removals.len() {
            let (p, kind) = &self.deferred_removals[i];
            let kind = *kind;
            if &**p != path || (!self.watches.has(path, kind) && self.relying_one_shots(path, kind))
            {
                i += 1;
                continue;
            }
            self.deferred_removals.swap_remove(i);
            // Re-added since: the new watcher owns the server watch.
            if !self.watches.has(path, kind) {
                if let Some(watcher_type) = self.persistent_removal(path, kind) {
                    self.send_remove_watches(now, path, watcher_type);
                }
            }
        }
    }
}
