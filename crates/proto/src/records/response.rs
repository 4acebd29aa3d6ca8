//! Response bodies, one record per op (jute's names).

use bytes::Bytes;

use crate::jute::jute_record;
use crate::records::common::{ACL, ClientInfo, Stat};

jute_record! {
    /// create.
    pub struct CreateResponse {
        /// The created node's path (with the sequence suffix, if any).
        "path" path: Option<String>,
    }
}

jute_record! {
    /// create2, createContainer and createTTL.
    pub struct Create2Response {
        /// The created node's path.
        "path" path: Option<String>,
        /// The created node's Stat.
        "stat" stat: Stat,
    }
}

jute_record! {
    /// exists.
    pub struct ExistsResponse {
        /// The node's Stat.
        "stat" stat: Stat,
    }
}

jute_record! {
    /// getData, and reconfig (the new config).
    pub struct GetDataResponse {
        /// The data, a slice of the frame.
        "data" data: Option<Bytes>,
        /// The node's Stat.
        "stat" stat: Stat,
    }
}

jute_record! {
    /// setData.
    pub struct SetDataResponse {
        /// The node's Stat after the write.
        "stat" stat: Stat,
    }
}

jute_record! {
    /// getACL.
    pub struct GetACLResponse {
        /// The ACL.
        "acl" acl: Option<Vec<ACL>>,
        /// The node's Stat.
        "stat" stat: Stat,
    }
}

jute_record! {
    /// setACL.
    pub struct SetACLResponse {
        /// The node's Stat after the write.
        "stat" stat: Stat,
    }
}

jute_record! {
    /// getChildren.
    pub struct GetChildrenResponse {
        /// The children's names, unsorted.
        "children" children: Option<Vec<String>>,
    }
}

jute_record! {
    /// getChildren2.
    pub struct GetChildren2Response {
        /// The children's names, unsorted.
        "children" children: Option<Vec<String>>,
        /// The node's Stat.
        "stat" stat: Stat,
    }
}

jute_record! {
    /// sync.
    pub struct SyncResponse {
        /// The path synced.
        "path" path: Option<String>,
    }
}

jute_record! {
    /// sasl: a server token.
    pub struct SetSASLResponse {
        /// The SASL token.
        "token" token: Option<Bytes>,
    }
}

jute_record! {
    /// getEphemerals (3.6).
    pub struct GetEphemeralsResponse {
        /// Full paths of this session's ephemeral nodes.
        "ephemerals" ephemerals: Option<Vec<String>>,
    }
}

jute_record! {
    /// getAllChildrenNumber (3.6).
    pub struct GetAllChildrenNumberResponse {
        /// The number of descendants.
        "totalNumber" total_number: i32,
    }
}

jute_record! {
    /// whoAmI (3.7).
    pub struct WhoAmIResponse {
        /// The connection's identities.
        "clientInfo" client_info: Option<Vec<ClientInfo>>,
    }
}

jute_record! {
    /// An error result inside multi, and the body of an addWatch reply.
    pub struct ErrorResponse {
        /// The error code.
        "err" err: i32,
    }
}
