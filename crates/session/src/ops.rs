//! Typed operations for multi and multiRead, and create options.

use std::time::Duration;

use bytes::Bytes;
use zk_proto::{ACL, CreateMode, Stat};

/// How to create a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateOptions {
    /// The create mode.
    pub mode: CreateMode,
    /// The node's ACL. Default: `world:anyone` with every permission.
    pub acl: Vec<ACL>,
    /// The time to live, for the TTL modes (1 ms to 2^40 - 1 ms).
    pub ttl: Option<Duration>,
}

impl Default for CreateOptions {
    fn default() -> Self {
        Self::new(CreateMode::Persistent)
    }
}

impl CreateOptions {
    /// Options for `mode` with the open ACL.
    pub fn new(mode: CreateMode) -> Self {
        Self {
            mode,
            acl: ACL::open_unsafe(),
            ttl: None,
        }
    }

    /// A persistent node.
    pub fn persistent() -> Self {
        Self::new(CreateMode::Persistent)
    }

    /// An ephemeral node.
    pub fn ephemeral() -> Self {
        Self::new(CreateMode::Ephemeral)
    }

    /// A container node (3.5.1).
    pub fn container() -> Self {
        Self::new(CreateMode::Container)
    }

    /// A persistent node with a time to live (3.5.3; the server needs
    /// `zookeeper.extendedTypesEnabled=true`).
    pub fn ttl(ttl: Duration) -> Self {
        Self {
            ttl: Some(ttl),
            ..Self::new(CreateMode::PersistentWithTtl)
        }
    }

    /// The same options with `acl`.
    pub fn with_acl(mut self, acl: Vec<ACL>) -> Self {
        self.acl = acl;
        self
    }

    /// The same options, sequential.
    pub fn sequential(mut self) -> Self {
        self.mode = match self.mode {
            CreateMode::Persistent => CreateMode::PersistentSequential,
            CreateMode::Ephemeral => CreateMode::EphemeralSequential,
            CreateMode::PersistentWithTtl => CreateMode::PersistentSequentialWithTtl,
            other => other,
        };
        self
    }
}

/// One write inside a [`multi`](crate::Client::multi) transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Op {
    /// Create a node.
    Create {
        /// The path.
        path: String,
        /// The data.
        data: Bytes,
        /// Mode, ACL and TTL.
        options: CreateOptions,
    },
    /// Delete a node.
    Delete {
        /// The path.
        path: String,
        /// The expected version, or `None` for any.
        version: Option<i32>,
    },
    /// Write a node's data.
    SetData {
        /// The path.
        path: String,
        /// The data.
        data: Bytes,
        /// The expected version, or `None` for any.
        version: Option<i32>,
    },
    /// Check a node's version.
    Check {
        /// The path.
        path: String,
        /// The expected version.
        version: i32,
    },
}

impl Op {
    /// A create.
    pub fn create(path: impl Into<String>, data: impl Into<Bytes>, options: CreateOptions) -> Op {
        Op::Create {
            path: path.into(),
            data: data.into(),
            options,
        }
    }

    /// A delete.
    pub fn delete(path: impl Into<String>, version: Option<i32>) -> Op {
        Op::Delete {
            path: path.into(),
            version,
        }
    }

    /// A setData.
    pub fn set_data(path: impl Into<String>, data: impl Into<Bytes>, version: Option<i32>) -> Op {
        Op::SetData {
            path: path.into(),
            data: data.into(),
            version,
        }
    }

    /// A version check.
    pub fn check(path: impl Into<String>, version: i32) -> Op {
        Op::Check {
            path: path.into(),
            version,
        }
    }

    /// The op's path.
    pub fn path(&self) -> &str {
        match self {
            Op::Create { path, .. }
            | Op::Delete { path, .. }
            | Op::SetData { path, .. }
            | Op::Check { path, .. } => path,
        }
    }
}

/// The result of one op of a successful transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpResult {
    /// The node was created.
    Create {
        /// Its path (with the sequence suffix, if any).
        path: String,
        /// Its Stat, when the server returned one (ZooKeeper before 3.9 omits it for create2
        /// inside multi).
        stat: Option<Stat>,
    },
    /// The node was deleted.
    Delete,
    /// The data was written.
    SetData {
        /// The Stat after the write.
        stat: Stat,
    },
    /// The version matched.
    Check,
}

/// One read inside a [`multi_read`](crate::Client::multi_read).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadOp {
    /// Read a node's data.
    GetData(String),
    /// List a node's children.
    GetChildren(String),
}

/// The result of one read of a multiRead.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadResult {
    /// The data and Stat.
    Data(Bytes, Stat),
    /// The child names.
    Children(Vec<String>),
}
