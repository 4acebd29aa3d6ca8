//! Request bodies, one record per op (jute's names).

use bytes::Bytes;

use crate::enums::{AddWatchMode, CreateMode, WatcherType};
use crate::jute::jute_record;
use crate::records::common::ACL;

jute_record! {
    /// create, create2 and createContainer.
    pub struct CreateRequest {
        /// The node's path.
        "path" path: Option<String>,
        /// The initial data.
        "data" data: Option<Bytes>,
        /// The node's ACL.
        "acl" acl: Option<Vec<ACL>>,
        /// The create mode.
        "flags" flags: CreateMode,
    }
}

jute_record! {
    /// createTTL.
    pub struct CreateTTLRequest {
        /// The node's path.
        "path" path: Option<String>,
        /// The initial data.
        "data" data: Option<Bytes>,
        /// The node's ACL.
        "acl" acl: Option<Vec<ACL>>,
        /// The create mode (a TTL mode).
        "flags" flags: CreateMode,
        /// The time to live in milliseconds, 1 to 2^40 - 1.
        "ttl" ttl: i64,
    }
}

jute_record! {
    /// delete.
    pub struct DeleteRequest {
        /// The node's path.
        "path" path: Option<String>,
        /// The expected data version, or -1 for any.
        "version" version: i32,
    }
}

jute_record! {
    /// exists.
    pub struct ExistsRequest {
        /// The node's path.
        "path" path: Option<String>,
        /// Whether to leave a watch (an exist watch when the node is absent).
        "watch" watch: bool,
    }
}

jute_record! {
    /// getData.
    pub struct GetDataRequest {
        /// The node's path.
        "path" path: Option<String>,
        /// Whether to leave a data watch.
        "watch" watch: bool,
    }
}

jute_record! {
    /// setData.
    pub struct SetDataRequest {
        /// The node's path.
        "path" path: Option<String>,
        /// The new data.
        "data" data: Option<Bytes>,
        /// The expected data version, or -1 for any.
        "version" version: i32,
    }
}

jute_record! {
    /// getACL.
    pub struct GetACLRequest {
        /// The node's path.
        "path" path: Option<String>,
    }
}

jute_record! {
    /// setACL.
    pub struct SetACLRequest {
        /// The node's path.
        "path" path: Option<String>,
        /// The new ACL.
        "acl" acl: Option<Vec<ACL>>,
        /// The expected ACL version, or -1 for any.
        "version" version: i32,
    }
}

jute_record! {
    /// getChildren.
    pub struct GetChildrenRequest {
        /// The node's path.
        "path" path: Option<String>,
        /// Whether to leave a child watch.
        "watch" watch: bool,
    }
}

jute_record! {
    /// getChildren2.
    pub struct GetChildren2Request {
        /// The node's path.
        "path" path: Option<String>,
        /// Whether to leave a child watch.
        "watch" watch: bool,
    }
}

jute_record! {
    /// sync.
    pub struct SyncRequest {
        /// The path to sync.
        "path" path: Option<String>,
    }
}

jute_record! {
    /// check (inside multi).
    pub struct CheckVersionRequest {
        /// The node's path.
        "path" path: Option<String>,
        /// The expected data version.
        "version" version: i32,
    }
}

jute_record! {
    /// reconfig.
    pub struct ReconfigRequest {
        /// Servers to add, comma separated.
        "joiningServers" joining_servers: Option<String>,
        /// Server ids to remove, comma separated.
        "leavingServers" leaving_servers: Option<String>,
        /// A whole new membership, for a non-incremental reconfig.
        "newMembers" new_members: Option<String>,
        /// The config version this change is based on, or -1.
        "curConfigId" cur_config_id: i64,
    }
}

jute_record! {
    /// checkWatches.
    pub struct CheckWatchesRequest {
        /// The node's path.
        "path" path: Option<String>,
        /// Which watches.
        "type" watcher_type: WatcherType,
    }
}

jute_record! {
    /// removeWatches.
    pub struct RemoveWatchesRequest {
        /// The node's path.
        "path" path: Option<String>,
        /// Which watches.
        "type" watcher_type: WatcherType,
    }
}

jute_record! {
    /// auth (xid -4).
    pub struct AuthPacket {
        /// Always 0.
        "type" auth_type: i32,
        /// The scheme, e.g. `digest`.
        "scheme" scheme: Option<String>,
        /// The credentials, e.g. `user:password` for digest.
        "auth" auth: Option<Bytes>,
    }
}

jute_record! {
    /// sasl: a client token.
    pub struct GetSASLRequest {
        /// The SASL token.
        "token" token: Option<Bytes>,
    }
}

jute_record! {
    /// getEphemerals (3.6).
    pub struct GetEphemeralsRequest {
        /// Only ephemerals whose path starts with this prefix.
        "prefixPath" prefix_path: Option<String>,
    }
}

jute_record! {
    /// getAllChildrenNumber (3.6).
    pub struct GetAllChildrenNumberRequest {
        /// The node's path.
        "path" path: Option<String>,
    }
}

jute_record! {
    /// addWatch (3.6).
    pub struct AddWatchRequest {
        /// The node's path.
        "path" path: Option<String>,
        /// Persistent or persistent recursive.
        "mode" mode: AddWatchMode,
    }
}
