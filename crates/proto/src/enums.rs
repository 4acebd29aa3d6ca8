//! Wire enums. Each keeps values it does not know in `Unknown(i32)`, so decoding never fails on a
//! newer peer's value and encoding writes back exactly what was read.

use bytes::BytesMut;

use crate::error::DecodeError;
use crate::jute::Jute;
use crate::reader::Reader;
use crate::value::Value;

macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident = $value:literal => $text:literal
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $(
                $(#[$vmeta])*
                $variant,
            )*
            /// A value this codec does not know, kept as sent.
            Unknown(i32),
        }

        impl $name {
            /// Every known value, in numeric declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The wire value.
            pub const fn as_i32(self) -> i32 {
                match self {
                    $($name::$variant => $value,)*
                    $name::Unknown(v) => v,
                }
            }

            /// The known value for `value`, or `Unknown(value)`.
            pub const fn from_i32(value: i32) -> Self {
                match value {
                    $($value => $name::$variant,)*
                    v => $name::Unknown(v),
                }
            }

            /// ZooKeeper's name for the value (`"unknown"` for an unknown one).
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                    $name::Unknown(_) => "unknown",
                }
            }
        }

        impl From<i32> for $name {
            fn from(value: i32) -> Self {
                Self::from_i32(value)
            }
        }

        impl From<$name> for i32 {
            fn from(value: $name) -> i32 {
                value.as_i32()
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::ALL[0]
            }
        }

        impl Jute for $name {
            const MIN_LEN: usize = 4;
            fn decode(r: &mut Reader, context: &'static str) -> Result<Self, DecodeError> {
                r.read_i32(context).map(Self::from_i32)
            }
            fn encode(&self, buf: &mut BytesMut) {
                self.as_i32().encode(buf)
            }
            fn encoded_len(&self) -> usize {
                4
            }
            fn describe(&self) -> Value {
                Value::Enum(self.name(), self.as_i32())
            }
        }
    };
}

wire_enum! {
    /// An operation code (`ZooDefs.OpCode`), the `type` of a [`RequestHeader`].
    ///
    /// [`RequestHeader`]: crate::RequestHeader
    pub enum OpCode {
        /// A watch notification (server to client, xid -1).
        Notification = 0 => "notification",
        /// Create a node.
        Create = 1 => "create",
        /// Delete a node.
        Delete = 2 => "delete",
        /// Stat a node, optionally leaving an exist or data watch.
        Exists = 3 => "exists",
        /// Read a node's data.
        GetData = 4 => "getData",
        /// Write a node's data.
        SetData = 5 => "setData",
        /// Read a node's ACL.
        GetACL = 6 => "getACL",
        /// Write a node's ACL.
        SetACL = 7 => "setACL",
        /// List a node's children.
        GetChildren = 8 => "getChildren",
        /// Let the server catch up with the leader.
        Sync = 9 => "sync",
        /// Keep the session alive (xid -2).
        Ping = 11 => "ping",
        /// List a node's children with its Stat.
        GetChildren2 = 12 => "getChildren2",
        /// Check a node's version (inside multi).
        Check = 13 => "check",
        /// An atomic transaction.
        Multi = 14 => "multi",
        /// Create a node, returning its Stat (3.5).
        Create2 = 15 => "create2",
        /// Change the ensemble membership (3.5).
        Reconfig = 16 => "reconfig",
        /// Whether a watch exists on the server (3.5).
        CheckWatches = 17 => "checkWatches",
        /// Remove watches on the server (3.5).
        RemoveWatches = 18 => "removeWatches",
        /// Create a container node (3.5.1).
        CreateContainer = 19 => "createContainer",
        /// Server-internal deletion of an empty container.
        DeleteContainer = 20 => "deleteContainer",
        /// Create a node with a time to live (3.5.3).
        CreateTTL = 21 => "createTTL",
        /// Several reads in one request, not atomic (3.6).
        MultiRead = 22 => "multiRead",
        /// Add authentication (xid -4).
        Auth = 100 => "auth",
        /// Re-arm watches after a reconnect (xid -8).
        SetWatches = 101 => "setWatches",
        /// A SASL token exchange.
        Sasl = 102 => "sasl",
        /// This session's ephemeral nodes under a prefix (3.6).
        GetEphemerals = 103 => "getEphemerals",
        /// The number of descendants of a node (3.6).
        GetAllChildrenNumber = 104 => "getAllChildrenNumber",
        /// Re-arm watches including persistent ones (3.6).
        SetWatches2 = 105 => "setWatches2",
        /// Add a persistent or persistent recursive watch (3.6).
        AddWatch = 106 => "addWatch",
        /// The identities of this connection (3.7).
        WhoAmI = 107 => "whoAmI",
        /// Server-internal session creation.
        CreateSession = -10 => "createSession",
        /// Close the session.
        CloseSession = -11 => "closeSession",
        /// The result type of a failed op inside multi.
        Error = -1 => "error",
    }
}

wire_enum! {
    /// A result code (`KeeperException.Code`), the `err` of a [`ReplyHeader`].
    ///
    /// [`ReplyHeader`]: crate::ReplyHeader
    pub enum ErrorCode {
        /// Success.
        Ok = 0 => "OK",
        /// A server-side system error.
        SystemError = -1 => "SYSTEMERROR",
        /// An op after the failing op of a multi.
        RuntimeInconsistency = -2 => "RUNTIMEINCONSISTENCY",
        /// A data inconsistency was found.
        DataInconsistency = -3 => "DATAINCONSISTENCY",
        /// The connection was lost; the outcome is unknown.
        ConnectionLoss = -4 => "CONNECTIONLOSS",
        /// Error while marshalling or unmarshalling data.
        MarshallingError = -5 => "MARSHALLINGERROR",
        /// The operation is not implemented by this server.
        Unimplemented = -6 => "UNIMPLEMENTED",
        /// The operation timed out.
        OperationTimeout = -7 => "OPERATIONTIMEOUT",
        /// Invalid arguments.
        BadArguments = -8 => "BADARGUMENTS",
        /// Unknown session (3.5).
        UnknownSession = -12 => "UNKNOWNSESSION",
        /// No quorum of the new config is connected (3.5).
        NewConfigNoQuorum = -13 => "NEWCONFIGNOQUORUM",
        /// Another reconfiguration is in progress (3.5).
        ReconfigInProgress = -14 => "RECONFIGINPROGRESS",
        /// The base of the API errors.
        ApiError = -100 => "APIERROR",
        /// The node does not exist.
        NoNode = -101 => "NONODE",
        /// Not authorized.
        NoAuth = -102 => "NOAUTH",
        /// The version does not match.
        BadVersion = -103 => "BADVERSION",
        /// Ephemeral nodes may not have children.
        NoChildrenForEphemerals = -108 => "NOCHILDRENFOREPHEMERALS",
        /// The node already exists.
        NodeExists = -110 => "NODEEXISTS",
        /// The node has children.
        NotEmpty = -111 => "NOTEMPTY",
        /// The session expired.
        SessionExpired = -112 => "SESSIONEXPIRED",
        /// Invalid callback.
        InvalidCallback = -113 => "INVALIDCALLBACK",
        /// Invalid ACL.
        InvalidACL = -114 => "INVALIDACL",
        /// Authentication failed.
        AuthFailed = -115 => "AUTHFAILED",
        /// The session moved to another server.
        SessionMoved = -118 => "SESSIONMOVED",
        /// A write was sent to a read-only server.
        NotReadOnly = -119 => "NOTREADONLY",
        /// An ephemeral on a local session (3.5).
        EphemeralOnLocalSession = -120 => "EPHEMERALONLOCALSESSION",
        /// No such watcher (3.5).
        NoWatcher = -121 => "NOWATCHER",
        /// The request timed out client-side (3.5).
        RequestTimeout = -122 => "REQUESTTIMEOUT",
        /// Reconfiguration is disabled (3.5.3).
        ReconfigDisabled = -123 => "RECONFIGDISABLED",
        /// The session was closed because SASL authentication is required (3.6).
        SessionClosedRequireSaslAuth = -124 => "SESSIONCLOSEDREQUIRESASLAUTH",
        /// A quota was exceeded (3.7).
        QuotaExceeded = -125 => "QUOTAEXCEEDED",
        /// The operation was throttled and not executed (3.7).
        ThrottledOp = -127 => "THROTTLEDOP",
    }
}

impl ErrorCode {
    /// Whether this is success.
    pub const fn is_ok(self) -> bool {
        matches!(self, ErrorCode::Ok)
    }
}

wire_enum! {
    /// The type of a watch event (`Watcher.Event.EventType`).
    pub enum EventType {
        /// No node event: a session state change (client-side only).
        None = -1 => "None",
        /// The node was created.
        NodeCreated = 1 => "NodeCreated",
        /// The node was deleted.
        NodeDeleted = 2 => "NodeDeleted",
        /// The node's data changed.
        NodeDataChanged = 3 => "NodeDataChanged",
        /// The node's children changed.
        NodeChildrenChanged = 4 => "NodeChildrenChanged",
        /// A data watch was removed (client-side only).
        DataWatchRemoved = 5 => "DataWatchRemoved",
        /// A child watch was removed (client-side only).
        ChildWatchRemoved = 6 => "ChildWatchRemoved",
        /// A persistent watch was removed (client-side only).
        PersistentWatchRemoved = 7 => "PersistentWatchRemoved",
    }
}

wire_enum! {
    /// The session state in a watch event (`Watcher.Event.KeeperState`).
    pub enum KeeperState {
        /// Connected: the only state that travels on the wire.
        SyncConnected = 3 => "SyncConnected",
        /// Unknown (deprecated).
        UnknownState = -1 => "Unknown",
        /// Disconnected.
        Disconnected = 0 => "Disconnected",
        /// Deprecated.
        NoSyncConnected = 1 => "NoSyncConnected",
        /// Authentication failed.
        AuthFailed = 4 => "AuthFailed",
        /// Connected to a read-only server.
        ConnectedReadOnly = 5 => "ConnectedReadOnly",
        /// SASL authentication succeeded.
        SaslAuthenticated = 6 => "SaslAuthenticated",
        /// The session expired.
        Expired = -112 => "Expired",
        /// The client closed the session.
        Closed = 7 => "Closed",
    }
}

wire_enum! {
    /// How a node is created (`CreateMode`), the `flags` of a create request.
    pub enum CreateMode {
        /// A persistent node.
        Persistent = 0 => "PERSISTENT",
        /// Deleted when the session ends.
        Ephemeral = 1 => "EPHEMERAL",
        /// Persistent, with a sequence number appended to its name.
        PersistentSequential = 2 => "PERSISTENT_SEQUENTIAL",
        /// Ephemeral, with a sequence number appended to its name.
        EphemeralSequential = 3 => "EPHEMERAL_SEQUENTIAL",
        /// Deleted by the server once its last child is gone (3.5.1).
        Container = 4 => "CONTAINER",
        /// Persistent, deleted after its TTL when it has no children (3.5.3).
        PersistentWithTtl = 5 => "PERSISTENT_WITH_TTL",
        /// Sequential with a TTL (3.5.3).
        PersistentSequentialWithTtl = 6 => "PERSISTENT_SEQUENTIAL_WITH_TTL",
    }
}

impl CreateMode {
    /// Whether the node ends with its session.
    pub const fn is_ephemeral(self) -> bool {
        matches!(
            self,
            CreateMode::Ephemeral | CreateMode::EphemeralSequential
        )
    }

    /// Whether the server appends a sequence number to the name.
    pub const fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentSequential
                | CreateMode::EphemeralSequential
                | CreateMode::PersistentSequentialWithTtl
        )
    }

    /// Whether the mode needs a TTL (sent as createTTL).
    pub const fn is_ttl(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentWithTtl | CreateMode::PersistentSequentialWithTtl
        )
    }
}

wire_enum! {
    /// Which watches checkWatches and removeWatches address (`Watcher.WatcherType`).
    pub enum WatcherType {
        /// Child watches.
        Children = 1 => "Children",
        /// Data and exist watches.
        Data = 2 => "Data",
        /// Every kind.
        Any = 3 => "Any",
        /// Persistent watches (3.6).
        Persistent = 4 => "Persistent",
        /// Persistent recursive watches (3.6).
        PersistentRecursive = 5 => "PersistentRecursive",
    }
}

wire_enum! {
    /// The mode of an addWatch request (`AddWatchMode`, 3.6).
    pub enum AddWatchMode {
        /// Fires for data changes, creation and deletion of the node and changes of its children,
        /// and stays.
        Persistent = 0 => "PERSISTENT",
        /// Fires for the node and every descendant, and stays.
        PersistentRecursive = 1 => "PERSISTENT_RECURSIVE",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_values_are_kept() {
        assert_eq!(OpCode::from_i32(250), OpCode::Unknown(250));
        assert_eq!(OpCode::Unknown(250).as_i32(), 250);
        assert_eq!(ErrorCode::from_i32(-101), ErrorCode::NoNode);
    }

    #[test]
    fn every_known_value_round_trips() {
        for op in OpCode::ALL {
            assert_eq!(OpCode::from_i32(op.as_i32()), *op);
        }
        for e in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_i32(e.as_i32()), *e);
        }
        for s in KeeperState::ALL {
            assert_eq!(KeeperState::from_i32(s.as_i32()), *s);
        }
    }
}
