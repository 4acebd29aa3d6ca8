//! One session's persistent recursive watch on a path beside its one-shot watches there.
//!
//! Before 3.9 the server keeps one watch mode per (path, session) in each of its two watch
//! tables (ZOOKEEPER-4466), and the watch set last decides it: addWatch(recursive) sets the
//! mode in both tables, getData/exists in the data table, getChildren in the child table.
//! Left alone, that breaks both orders:
//! - a data or exist watch set after the recursive watch makes the data table's entry a
//!   one-shot: the recursive watch stops seeing creations and changes below the path, and
//!   after that one event it is gone from the data table;
//! - a recursive watch set after a children watch makes the child table's entry recursive,
//!   and a recursive watch never reports NodeChildrenChanged: the children watch goes silent
//!   (SetWatches after a reconnect sets the recursive watches last, so this happens there too);
//! - removing a data watch (removeWatches with `Data`) takes the recursive watch's data-table
//!   entry with it.
//!
//! What the session does instead, on every server (harmless where 3.9 keeps the modes apart):
//! - a getData or exists watch on a path the session already watches recursively is sent
//!   *without* its watch flag and registered locally only: the recursive watch reports
//!   everything a data or exist watch would (NodeCreated, NodeDataChanged and NodeDeleted of
//!   the path itself). While that path's addWatch is in flight, such a request waits at the
//!   head of the queue for its reply (whether the watch is set is known only then);
//! - a recursive addWatch on a path with a children watch (held, or its request in flight) is
//!   followed at once by SetWatches for that children watch, which sets it back to one-shot
//!   (or, if the children changed since the last zxid seen, fires it); after a reconnect such
//!   children watches are re-armed by a second SetWatches after the first;
//! - the server's data watch is not removed while a recursive watch of the session holds the
//!   path, and a recursive watch is kept on the server while data or exist watchers of its
//!   path (held, or in flight) rely on it.

use zk_proto::OpCode;

use super::{InFlight, Session};
use crate::watches::WatchKind;

impl<C> Session<C> {
    /// Whether a request of `op` registering a watch of `kind` is a recursive addWatch.
    pub(super) fn is_recursive_add(op: OpCode, kind: Option<WatchKind>) -> bool {
        op == OpCode::AddWatch && kind == Some(WatchKind::PersistentRecursive)
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

    /// Whether a recursive addWatch on `path` is in flight.
    fn recursive_add_pending(&self, path: &str) -> bool {
        self.recursive_adds_in_flight > 0
            && self.pending_watch(path, |op, kind| Self::is_recursive_add(op, Some(kind)))
    }

    /// Whether `request` must wait for a recursive addWatch on its path to be answered: a
    /// getData or exists watch, which is either covered by that watch (if it is set) or must
    /// be set on the server after its reply (if it is not).
    pub(super) fn waits_for_recursive_add(&self, request: &super::OutgoingRequest) -> bool {
        self.recursive_adds_in_flight > 0
            && request.watch.as_ref().is_some_and(|w| {
                matches!(w.kind, WatchKind::Data | WatchKind::Exist)
                    && self.recursive_add_pending(&w.path)
            })
    }

    /// Called with each request that registers a watch, just after its frame was written at
    /// the end of `send_buf`, before it joins the requests in flight.
    pub(super) fn coordinate_watch_modes(&mut self, request: &super::OutgoingRequest) {
        let Some(w) = &request.watch else { return };
        match (request.op, w.kind) {
            (OpCode::GetData | OpCode::Exists, WatchKind::Data | WatchKind::Exist)
                if self.watches.has_recursive(&w.path) =>
            {
                // The frame ends with the watch flag (GetDataRequest and ExistsRequest are a
                // path and a bool): clear it.
                if let Some(flag) = self.send_buf.last_mut() {
                    *flag = 0;
                }
            }
            (OpCode::AddWatch, WatchKind::PersistentRecursive) => {
                self.recursive_adds_in_flight += 1;
                let path = w.path.clone();
                if self.watches.has(&path, WatchKind::Child)
                    || self.pending_watch(&path, |_, kind| kind == WatchKind::Child)
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
            _ => {}
        }
    }

    /// Whether the server's data watch on `path` must stay when its last local data or exist
    /// watcher goes: a recursive watch of this session holds the same entry.
    pub(super) fn data_watch_serves_recursive(&self, path: &str) -> bool {
        self.watches.has_recursive(path) || self.recursive_add_pending(path)
    }

    /// Whether the server's recursive watch on `path` must stay when its last local watcher
    /// goes: data or exist watchers of the path rely on it.
    pub(super) fn recursive_watch_serves_data(&self, path: &str) -> bool {
        self.watches.has(path, WatchKind::Data)
            || self.watches.has(path, WatchKind::Exist)
            || self.pending_watch(path, |_, kind| {
                matches!(kind, WatchKind::Data | WatchKind::Exist)
            })
    }

    /// Whether a request in flight registers any watch on `path`.
    pub(super) fn any_watch_pending(&self, path: &str) -> bool {
        self.pending_watch(path, |_, _| true)
    }
}
