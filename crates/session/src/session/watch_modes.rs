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
//! What the session does instead, on every server (harmless where 3.9 keeps the modes apart):
//! - a one-shot watch that a persistent watch of the session on the same path already
//!   reports (data and exist watches under a recursive watch; data, exist and children
//!   watches under a persistent one) is sent *without* its watch flag and registered locally
//!   only. While that path's addWatch is in flight, such a request waits at the head of the
//!   queue for its reply (whether the watch is set is known only then);
//! - a recursive addWatch on a path with a children watch (held, or its request in flight) is
//!   followed at once by SetWatches for that children watch, which sets it back to one-shot
//!   (or, if the children changed since the last zxid seen, fires it); after a reconnect such
//!   children watches are re-armed by a second SetWatches after the first;
//! - a one-shot kind's server watch is not removed while a persistent watch of the session
//!   holds the path, and a persistent watch is kept on the server while one-shot watchers of
//!   its path (held, or in flight) may rely on it.
//!
//! Out of reach before 3.9: a persistent and a recursive watch of one session on one path.

use tracing::warn;
use zk_proto::OpCode;

use super::{InFlight, OutgoingRequest, Session};
use crate::watches::WatchKind;

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

impl<C> Session<C> {
    /// Whether a request of `op` registering a watch of `kind` is an addWatch.
    pub(super) fn is_persistent_add(op: OpCode, kind: Option<WatchKind>) -> bool {
        op == OpCode::AddWatch && kind.is_some_and(WatchKind::is_persistent)
    }

    /// Whether a request in flight would register a watch of a kind `wanted` selects on
    /// `path`.
    fn pending_watch(&self, path: &str, wanted: impl Fn(OpCode, WatchKind) -> bool) -> bool {
        self.in_flight.iter().any(|f: &InFlight<C>| {
            f.watch
                .as_ref()
                .is_some_and(|w| &*w.path == path && wanted(f.op, w.kind))
        })
    }

    /// Whether the session holds a persistent watch on `path` that covers a one-shot watch
    /// of `kind` there.
    fn covered(&self, path: &str, kind: WatchKind) -> bool {
        (covers(WatchKind::PersistentRecursive, kind) && self.watches.has_recursive(path))
            || (covers(WatchKind::Persistent, kind)
                && self.watches.has(path, WatchKind::Persistent))
    }

    /// Whether `request` must wait for an addWatch on its path to be answered: a one-shot
    /// watch that the watch being added would cover (if it is set) or that must be set on the
    /// server after its reply (if it is not).
    pub(super) fn waits_for_persistent_add(&self, request: &OutgoingRequest) -> bool {
        self.persistent_adds_in_flight > 0
            && request.watch.as_ref().is_some_and(|w| {
                self.pending_watch(&w.path, |op, kind| {
                    Self::is_persistent_add(op, Some(kind)) && covers(kind, w.kind)
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
        } else if Self::is_persistent_add(request.op, Some(w.kind)) {
            self.persistent_adds_in_flight += 1;
            let path = w.path.clone();
            let other = if w.kind == WatchKind::Persistent {
                WatchKind::PersistentRecursive
            } else {
                WatchKind::Persistent
            };
            if self.watches.has(&path, other) && self.server_version.is_none_or(|v| v < (3, 9, 0)) {
                warn!(target: "zookeeper", %path, "a persistent and a recursive watch on one path: before ZooKeeper 3.9 the one added last replaces the other on the server");
            }
            if w.kind == WatchKind::PersistentRecursive
                && (self.watches.has(&path, WatchKind::Child)
                    || self.pending_watch(&path, |_, kind| kind == WatchKind::Child))
            {
                let server_path = self.chroot.add(&path);
                self.write_set_watches([
                    Vec::new(),
                    Vec::new(),
                    vec![server_path],
                    Vec::new(),
                    Vec::new(),
                ]);
            }
        }
    }

    /// Whether the server's one-shot watch of a kind on `path` must stay when its last local
    /// watcher goes: a persistent watch of this session holds the same server entry.
    pub(super) fn one_shot_entry_serves_persistent(&self, path: &str) -> bool {
        self.watches.has_recursive(path)
            || self.watches.has(path, WatchKind::Persistent)
            || (self.persistent_adds_in_flight > 0
                && self.pending_watch(path, |op, kind| Self::is_persistent_add(op, Some(kind))))
    }

    /// Whether the server's persistent watch on `path` must stay when its last local watcher
    /// goes: one-shot watchers of the path may rely on it.
    pub(super) fn persistent_watch_serves_one_shots(&self, path: &str) -> bool {
        [WatchKind::Data, WatchKind::Exist, WatchKind::Child]
            .into_iter()
            .any(|kind| self.watches.has(path, kind))
            || self.pending_watch(path, |_, kind| !kind.is_persistent())
    }

    /// Whether a request in flight registers any watch on `path`.
    pub(super) fn any_watch_pending(&self, path: &str) -> bool {
        self.pending_watch(path, |_, _| true)
    }
}
