//! Service registration, discovery and JSON configuration on ZooKeeper, after Python's
//! [zc.zk](https://pypi.org/project/zc.zk/), done right.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # // A throwaway server (zk-testkit), so that this example runs in the tests.
//! # let server = zk_testkit::Server::start()?;
//! # let connection_string = server.connect_string();
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! use serde_json::json;
//! use zc_zk::ZooKeeper;
//!
//! let zk = ZooKeeper::connect(&connection_string).await?;
//! # zk.client().create("/fooservice", br#"{"threads": 1}"#, &Default::default()).await?;
//! # zk.client().create("/fooservice/providers", b"", &Default::default()).await?;
//!
//! // A server registers itself for a service: an ephemeral node named after its address,
//! // holding its properties (and pid) as JSON.
//! let props = json!({"version": "1.2"}).as_object().cloned().unwrap_or_default();
//! let registration =
//!     zk.register_server("/fooservice/providers", ("192.168.0.42", 8080), props).await?;
//!
//! // A client discovers the servers; the view stays current.
//! let providers = zk.children("/fooservice/providers").await?;
//! assert_eq!(*providers.names(), ["192.168.0.42:8080"]);
//! providers.on_change(|change| {
//!     println!("providers now: {change:?}");
//!     Ok(())
//! })?;
//!
//! // Configuration: the service node's JSON properties, read, watched and updated.
//! let config = zk.properties("/fooservice").await?;
//! let threads: Option<u32> = config.get_as("threads")?;
//! assert_eq!(threads, Some(1));
//! config.update(json!({"threads": 4}).as_object().cloned().unwrap_or_default()).await?;
//! assert_eq!(config.get_as::<u32>("threads")?, Some(4));
//!
//! registration.unregister().await?;
//! zk.close().await;
//! # Ok::<_, Box<dyn std::error::Error>>(()) })?;
//! # Ok(()) }
//! ```
//!
//! # What zc.zk users will recognise, and what is fixed
//! - [`ZooKeeper::register_server`] (alias [`register`](ZooKeeper::register)) returns a
//!   [`Registration`] handle: drop or [`unregister`](Registration::unregister) deletes the node,
//!   and nothing unregistered is ever resurrected. Registrations survive session expiry with an
//!   owner check on the old node (see [`registration`]).
//! - [`ZooKeeper::children`] and [`ZooKeeper::properties`] return views kept current by watches;
//!   callbacks are called at once and after each change, and with [`Change::Deleted`] when the
//!   node goes (zc.zk called them without arguments). They run on one notifier task per view,
//!   in order, never concurrently (see [`view`]).
//! - [`Properties::update`] and [`Properties::set`] are compare-and-set with retry, write to the
//!   node, and change the local view only after the server accepted the write.
//! - Node data follows zc.zk's rules ([`data`]); null data is `{}` and never breaks a watch.
//! - The tree model ([`tree`]): [`ZooKeeper::import_tree`] plans and returns its changes,
//!   writes only what differs (in multi transactions) and never trims ephemeral nodes;
//!   [`ZooKeeper::export_tree`] writes zc.zk's canonical text, and export → import → export is
//!   a fixed point. Property values are parsed as literals, never evaluated.
//! - Symbolic links and property links ([`links`]): [`ZooKeeper::resolve`]; children,
//!   properties and registrations resolve their paths. [`ZooKeeper::walk`],
//!   [`ZooKeeper::delete_recursive`], [`ZooKeeper::ln`] and friends are in [`walk`].
//! - The low-level [`zk_session::Client`] (the seed's `handle`) is [`ZooKeeper::client`].
#![forbid(unsafe_code)]

pub mod address;
pub mod children;
pub mod data;
pub mod error;
pub mod links;
mod node_link;
mod parent_watch;
pub mod properties;
pub mod registration;
mod sort;
pub mod tree;
pub mod view;
pub mod walk;
pub mod zookeeper;

pub use address::Address;
pub use children::Children;
pub use data::PropertyMap;
pub use error::{Error, Result};
pub use links::{PropertyLink, normalize_path, parse_property_link};
pub use properties::Properties;
pub use registration::{RegisterOptions, Registration, RegistrationStatus, SharedWatch};
pub use tree::{ImportChange, ImportOptions, ImportPlan, Node, ParseError, Trim, parse_tree};
pub use view::{CallbackError, CallbackResult, Change, Changes};
pub use walk::{DeleteOptions, DeleteReport, DeleteStep, Walk};
pub use zk_session;
pub use zookeeper::{
    CONNECTION_STRING_ENV, DEFAULT_CONNECTION_STRING, SessionChanges, ZooKeeper, ZooKeeperOptions,
};
