//! Records shared by many ops: `Id`, `ACL`, `Stat`, `ClientInfo`.

use crate::jute::jute_record;
use crate::perms::Perms;

jute_record! {
    /// An identity: a scheme (`world`, `auth`, `digest`, `ip`, `sasl`, `x509`) and an id in it.
    pub struct Id {
        /// The scheme.
        "scheme" scheme: Option<String>,
        /// The id within the scheme, e.g. `anyone` for `world`.
        "id" id: Option<String>,
    }
}

jute_record! {
    /// An access control entry: permissions granted to an identity.
    pub struct ACL {
        /// The permissions granted.
        "perms" perms: Perms,
        /// Who they are granted to.
        "id" id: Id,
    }
}

jute_record! {
    /// A node's metadata (68 bytes on the wire).
    pub struct Stat {
        /// The zxid of the change that created the node.
        "czxid" czxid: i64,
        /// The zxid of the change that last modified the node's data.
        "mzxid" mzxid: i64,
        /// Creation time, milliseconds since the epoch.
        "ctime" ctime: i64,
        /// Last modification time, milliseconds since the epoch.
        "mtime" mtime: i64,
        /// The number of changes to the data.
        "version" version: i32,
        /// The number of changes to the children.
        "cversion" cversion: i32,
        /// The number of changes to the ACL.
        "aversion" aversion: i32,
        /// The owning session of an ephemeral node, else 0 (also 0 for container and TTL nodes).
        "ephemeralOwner" ephemeral_owner: i64,
        /// The length of the data.
        "dataLength" data_length: i32,
        /// The number of children.
        "numChildren" num_children: i32,
        /// The zxid of the last change to the children.
        "pzxid" pzxid: i64,
    }
}

jute_record! {
    /// One identity of a connection, as whoAmI reports it.
    pub struct ClientInfo {
        /// The scheme, e.g. `ip` or `digest`.
        "authScheme" auth_scheme: Option<String>,
        /// The user within the scheme.
        "user" user: Option<String>,
    }
}

impl Id {
    /// An id from a scheme and a value.
    pub fn new(scheme: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            scheme: Some(scheme.into()),
            id: Some(id.into()),
        }
    }

    /// `world:anyone`.
    pub fn anyone() -> Self {
        Self::new("world", "anyone")
    }

    /// `auth:`, replaced by the server with the creator's authenticated ids.
    pub fn creator() -> Self {
        Self::new("auth", "")
    }
}

impl ACL {
    /// An entry granting `perms` to `id`.
    pub fn new(perms: Perms, id: Id) -> Self {
        Self { perms, id }
    }

    /// `world:anyone` with every permission (`OPEN_ACL_UNSAFE`).
    pub fn open_unsafe() -> Vec<ACL> {
        vec![ACL::new(Perms::ALL, Id::anyone())]
    }

    /// `world:anyone` read-only (`READ_ACL_UNSAFE`).
    pub fn read_unsafe() -> Vec<ACL> {
        vec![ACL::new(Perms::READ, Id::anyone())]
    }

    /// Every permission to the creator's authenticated ids (`CREATOR_ALL_ACL`).
    pub fn creator_all() -> Vec<ACL> {
        vec![ACL::new(Perms::ALL, Id::creator())]
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::jute::{Jute, from_bytes, to_bytes};

    #[test]
    fn stat_is_68_bytes() {
        let stat = Stat {
            czxid: 1,
            pzxid: -1,
            ..Stat::default()
        };
        assert_eq!(stat.encoded_len(), 68);
        assert_eq!(Stat::MIN_LEN, 68);
        let bytes = to_bytes(&stat);
        assert_eq!(from_bytes::<Stat>(bytes, "Stat"), Ok(stat));
    }

    #[test]
    fn truncated_stat_names_the_field() {
        let err = from_bytes::<Stat>(Bytes::from_static(&[0; 20]), "Stat").unwrap_err();
        assert_eq!(err.context(), "Stat.ctime");
    }
}
