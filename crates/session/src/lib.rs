//! A ZooKeeper session: a sans-IO state machine ([`Session`]) and the tokio driver and
//! [`Client`] handle on top of it.
//!
//! Placeholder: see ARCHITECTURE.md.
#![forbid(unsafe_code)]

pub mod config;
pub mod error;
pub mod event;
pub mod path;
pub mod rng;
pub mod session;
pub mod timers;
pub mod watches;

pub use config::{ConnectString, HostPort, SessionConfig};
pub use error::{Error, Result};
pub use event::{SessionEvent, SessionState};
pub use session::{Action, Event, OutgoingRequest, Reply, Session, WatchRegistration};
pub use watches::{WatchKind, WatchedEvent, WatcherId};
