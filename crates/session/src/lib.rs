//! A ZooKeeper session: a sans-IO state machine ([`Session`]) and the tokio driver and
//! [`Client`] handle on top of it.
//!
//! Placeholder: see ARCHITECTURE.md.
#![forbid(unsafe_code)]

pub mod acl;
pub mod client;
pub mod config;
mod driver;
pub mod error;
pub mod event;
mod low_water;
pub mod ops;
pub mod path;
pub mod rng;
pub mod sasl;
pub mod session;
pub mod testing;
pub mod timers;
#[cfg(feature = "tls")]
pub mod tls;
pub mod watches;

pub use client::{
    Armed, Client, DataWatchArming, DataWatches, OneshotWatcher, PersistentWatcher, SessionEvents,
};
pub use config::{ConnectString, HostPort, ReadCoalescing, SessionConfig};
pub use error::{Error, Result};
pub use event::{SessionEvent, SessionState};
pub use ops::{CreateOptions, Op, OpResult, ReadOp, ReadResult};
pub use session::{Action, Event, OutgoingRequest, Reply, Session, WatchRegistration};
pub use watches::{EventFilter, WatchKind, WatchedEvent, WatcherId};
pub use zk_proto::{
    ACL, ClientInfo, CreateMode, ErrorCode, EventType, Id, KeeperState, Perms, Stat, WatcherType,
};
