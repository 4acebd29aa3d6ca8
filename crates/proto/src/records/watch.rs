//! Watch records: notifications and the re-arming of watches after a reconnect.

use crate::enums::{EventType, KeeperState};
use crate::jute::jute_record;

jute_record! {
    /// A watch notification (xid -1).
    pub struct WatcherEvent {
        /// What happened.
        "type" event_type: EventType,
        /// Always SyncConnected on the wire.
        "state" state: KeeperState,
        /// The node's path, including any chroot.
        "path" path: Option<String>,
    }
}

jute_record! {
    /// Re-arms one-shot watches after a reconnect.
    pub struct SetWatches {
        /// Changes after this zxid fire at once.
        "relativeZxid" relative_zxid: i64,
        /// Paths with data watches.
        "dataWatches" data_watches: Option<Vec<String>>,
        /// Paths with exist watches.
        "existWatches" exist_watches: Option<Vec<String>>,
        /// Paths with child watches.
        "childWatches" child_watches: Option<Vec<String>>,
    }
}

jute_record! {
    /// Re-arms one-shot and persistent watches after a reconnect (3.6).
    pub struct SetWatches2 {
        /// Changes after this zxid fire at once (one-shot watches only).
        "relativeZxid" relative_zxid: i64,
        /// Paths with data watches.
        "dataWatches" data_watches: Option<Vec<String>>,
        /// Paths with exist watches.
        "existWatches" exist_watches: Option<Vec<String>>,
        /// Paths with child watches.
        "childWatches" child_watches: Option<Vec<String>>,
        /// Paths with persistent watches.
        "persistentWatches" persistent_watches: Option<Vec<String>>,
        /// Paths with persistent recursive watches.
        "persistentRecursiveWatches" persistent_recursive_watches: Option<Vec<String>>,
    }
}
