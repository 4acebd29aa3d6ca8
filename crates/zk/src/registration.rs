//! [`ZooKeeper::register_server`]: ephemeral registration nodes that survive session expiry.
//!
//! # Recovery
//! A reconnection within the session changes nothing: the node still exists and is ours, so
//! nothing is deleted or re-created. After a session expiry the node is re-created in the new
//! session, with retry and backoff. If a node of that name already exists:
//! - owned by the current session: adopted;
//! - owned by one of this handle's earlier sessions (the server keeps an expired session's
//!   ephemerals until it notices, up to timeout + tick): deleted, then re-created; if deleting is
//!   not allowed, recovery waits for the server to remove it;
//! - owned by anyone else: a conflict, reported in [`Registration::status`] and logged, never a
//!   silent "registered"; recovery waits for that node to go and then registers.
//!
//! A node deleted by someone else while our session lives ends the registration (status
//! [`RegistrationStatus::Removed`]): an unregistered or deleted node is never resurrected.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::Value;
use smallvec::SmallVec;
use tokio::sync::{oneshot, watch};
use tracing::{info, warn};
use zk_session::{ACL, Client, CreateMode, CreateOptions, Error as ZkError, EventType, Op};

use crate::address::Address;
use crate::children::wait_generation;
use crate::data::{self, PropertyMap};
use crate::error::{Error, Result};
use crate::links::split;
use crate::node_link::{self, NodeHandle, Poker, StatusSetter};
use crate::parent_watch::Interest;
use crate::zookeeper::{Generation, Shared, ZooKeeper};

/// The task's end of a node's commands.
type Commands = node_link::Commands<Command>;

/// Options of [`ZooKeeper::register_server_with`].
#[derive(Debug, Clone)]
pub struct RegisterOptions {
    /// The nodes' ACL. Default: `world:anyone` READ (zc.zk's). With it the owner cannot write
    /// the node, so [`Registration::set_properties`] replaces it atomically (delete and create
    /// in one transaction) instead.
    pub acl: Vec<ACL>,
    /// How long the first registration waits for a node of the same name owned by another
    /// session to go away (a previous run of this process whose session has not expired yet)
    /// before failing with [`Error::RegistrationConflict`]. Default: zero, fail at once.
    pub wait_for_conflict: Duration,
    /// Whether a registration's watch on its node is armed in batches with the handle's
    /// other registrations (its create alone on the wire) instead of an exists sent with
    /// each create. Default: [`SharedWatch::Auto`].
    pub shared_watch: SharedWatch,
}

/// How registrations watch their nodes ([`RegisterOptions::shared_watch`]).
///
/// Every registration keeps a one-shot data watch on its node, so that a node deleted by
/// someone else is noticed. Shared (the default), the watch is not set by a request of the
/// registration's own: the handle gathers the nodes it created (32, or what 20 ms bring)
/// and sets their watches with one SetWatches relative to their creates' zxid, so that a
/// change in between is reported at once; a full batch goes in the same write as the next
/// registration's create. A registration is then its create alone, and nothing
/// else is watched: no watch on the parent, no event for other processes' nodes under it.
/// With [`SharedWatch::Never`], each create goes with an exists that sets the node's watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SharedWatch {
    /// Batched (every server version has SetWatches).
    #[default]
    Auto,
    /// The same as `Auto`; kept for callers that name it.
    Always,
    /// An exists watch sent with each create.
    Never,
}

impl SharedWatch {
    /// Whether to batch (`ParentWatches` falls back to a watch per node where the server
    /// refuses the batched watches).
    fn applies(self) -> bool {
        !matches!(self, SharedWatch::Never)
    }
}

/// [`RegisterOptions::wait_for_conflict`] by default (also what `register_server` uses).
const DEFAULT_WAIT_FOR_CONFLICT: Duration = Duration::ZERO;

impl Default for RegisterOptions {
    fn default() -> Self {
        Self {
            acl: ACL::read_unsafe(),
            wait_for_conflict: DEFAULT_WAIT_FOR_CONFLICT,
            shared_watch: SharedWatch::default(),
        }
    }
}

/// Where a registration stands.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistrationStatus {
    /// The node exists and belongs to the current session.
    Registered,
    /// The session expired; the node is being re-created.
    Recovering,
    /// A node of that name belongs to another session; waiting for it to go.
    Conflict {
        /// Its owner (0 for a persistent node).
        owner: i64,
    },
    /// Re-creating failed (e.g. the parent is gone, or NoAuth); retrying with backoff.
    Failed(ZkError),
    /// Someone else deleted the node; it will not be re-created.
    Removed,
    /// Unregistered by us (or the handle closed).
    Unregistered,
}

/// What a node's task is asked to do.
#[derive(Debug)]
pub(crate) enum Command {
    SetProperties(PropertyMap, oneshot::Sender<Result<()>>),
    Unregister(oneshot::Sender<Result<()>>),
    /// The shared parent watch saw the node deleted, or reconnected: look at the node.
    Check,
}

/// One registered node.
#[derive(Debug)]
struct Node {
    path: Arc<str>,
    link: NodeHandle<Command>,
}

/// A server's registration: one ephemeral node per address. [`unregister`] or drop deletes
/// the nodes; until then they are kept registered across session expiry.
///
/// [`unregister`]: Registration::unregister
#[derive(Debug)]
pub struct Registration {
    nodes: Nodes,
}

/// A registration's nodes: nearly always one, kept inline.
type Nodes = SmallVec<[Node; 1]>;

impl ZooKeeper {
    /// Registers a server at `address` under `path` with `properties` (plus `pid`), with the
    /// default [`RegisterOptions`].
    ///
    /// # Errors
    /// As [`register_server_with`](ZooKeeper::register_server_with).
    pub async fn register_server(
        &self,
        path: &str,
        address: impl Into<Address>,
        properties: PropertyMap,
    ) -> Result<Registration> {
        // The defaults without building them: the default ACL's create options are shared.
        let options = Resolved {
            create: default_create_options(),
            wait_for_conflict: DEFAULT_WAIT_FOR_CONFLICT,
            shared_watch: SharedWatch::default(),
        };
        self.register_nodes(path, address.into(), properties, options)
            .await
    }

    /// zc.zk's name for [`register_server`](ZooKeeper::register_server).
    ///
    /// # Errors
    /// As [`register_server_with`](ZooKeeper::register_server_with).
    pub async fn register(
        &self,
        path: &str,
        address: impl Into<Address>,
        properties: PropertyMap,
    ) -> Result<Registration> {
        self.register_server(path, address, properties).await
    }

    /// Registers a server: creates the ephemeral node `path/HOST:PORT` (one per address of a
    /// blank host) with data `properties` plus `pid` as JSON. `path` is resolved through
    /// symbolic links first ([`ZooKeeper::resolve`]).
    ///
    /// # Errors
    /// `NoNode` when `path` does not exist; `LinkLoop`; `NodeExists`-like conflicts as
    /// [`Error::RegistrationConflict`]; `NoAuth`; the connection errors. On error no node of
    /// this call is left behind.
    pub async fn register_server_with(
        &self,
        path: &str,
        address: impl Into<Address>,
        properties: PropertyMap,
        options: RegisterOptions,
    ) -> Result<Registration> {
        let RegisterOptions {
            acl,
            wait_for_conflict,
            shared_watch,
        } = options;
        let resolved = Resolved {
            // One set of create options for every node of this call and their tasks (with
            // the default ACL, one for the whole process).
            create: create_options(acl),
            wait_for_conflict,
            shared_watch,
        };
        self.register_nodes(path, address.into(), properties, resolved)
            .await
    }

    /// [`register_server_with`](ZooKeeper::register_server_with), its options resolved.
    async fn register_nodes(
        &self,
        path: &str,
        address: Address,
        properties: PropertyMap,
        options: Resolved,
    ) -> Result<Registration> {
        let Resolved {
            create,
            wait_for_conflict,
            shared_watch,
        } = options;
        // The path as given is tried first (a real node shadows a link anyway); links are
        // resolved only when it does not exist, which saves a round trip per registration.
        let mut base = std::borrow::Cow::Borrowed(path);
        let mut resolved = false;
        let data = registration_data(&properties);
        let names = address.names();
        if names.iter().any(|n| n.is_empty() || n.contains('/')) {
            return Err(Error::InvalidAddress(format!("{address:?}")));
        }
        let mut nodes = Nodes::with_capacity(names.len());
        for name in names {
            let generation = self.shared.current();
            let (link, status, command_rx) = node_link::link(RegistrationStatus::Registered);
            let (node_path, created) = loop {
                // One copy of the path, shared by the handle, the task and the parent watch.
                let node_path = crate::links::join_shared(&base, &name);
                let target = Target {
                    path: &node_path,
                    data: &data,
                    create: &create,
                    wait_for_conflict,
                };
                let created = if shared_watch.applies() {
                    create_watched(&self.shared, &generation, target, || command_rx.poker()).await
                } else {
                    create_initial(&self.shared, &generation.client, target, true)
                        .await
                        .map(|c| NodeWatch::Node(c.watcher))
                };
                let unresolved = matches!(&created, Err(e) if e.is_no_node()
                    || matches!(e, Error::ZooKeeper(ZkError::InvalidPath { .. })));
                if unresolved && !resolved {
                    resolved = true;
                    let real = crate::links::resolve_with(&generation.client, path).await;
                    match real {
                        Ok(real) if real != base => {
                            base = real.into();
                            continue;
                        }
                        Ok(_) => {}
                        Err(e) => break (node_path, Err(e)),
                    }
                }
                break (node_path, created);
            };
            let watch = match created {
                Ok(watch) => watch,
                Err(e) => {
                    for node in &nodes {
                        let _ = delete_node(&generation.client, &node.path).await;
                    }
                    return Err(e);
                }
            };
            info!(target: "zc_zk", path = %node_path, "registered");
            let task = NodeTask {
                shared: self.shared.clone(),
                path: node_path.clone(),
                data: data.clone(),
                create: create.clone(),
                shared_watch,
                poker: command_rx.poker(),
                status,
            };
            match watch {
                // Under the shared watch the node needs no task until something happens.
                NodeWatch::Parent(interest) => task.park(generation, interest, command_rx),
                watch => drop(tokio::spawn(task.run(generation, watch, command_rx))),
            }
            nodes.push(Node {
                path: node_path,
                link,
            });
        }
        Ok(Registration { nodes })
    }
}

impl Registration {
    /// The registered nodes' paths.
    pub fn paths(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.path.to_string()).collect()
    }

    /// The status of the first node (see [`statuses`](Registration::statuses) for all).
    pub fn status(&self) -> RegistrationStatus {
        self.nodes
            .first()
            .map_or(RegistrationStatus::Unregistered, |n| n.link.status())
    }

    /// Each node's path and status.
    pub fn statuses(&self) -> Vec<(String, RegistrationStatus)> {
        self.nodes
            .iter()
            .map(|n| (n.path.to_string(), n.link.status()))
            .collect()
    }

    /// Waits until every node's status satisfies `condition`, or `timeout`.
    ///
    /// # Errors
    /// `Timeout`.
    pub async fn wait_for_status(
        &self,
        timeout: Duration,
        condition: impl Fn(&RegistrationStatus) -> bool,
    ) -> Result<()> {
        let wait = async {
            for node in &self.nodes {
                node.link.wait_until(&condition).await;
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| Error::ZooKeeper(ZkError::Timeout))
    }

    /// Replaces the registered properties (plus `pid`); this is also what gets restored after a
    /// session expiry.
    ///
    /// # Errors
    /// `NoNode` when the node is gone; `NoAuth`; the connection errors.
    pub async fn set_properties(&self, mut properties: PropertyMap) -> Result<()> {
        properties.insert("pid".to_owned(), Value::from(process_id()));
        for node in &self.nodes {
            let (tx, rx) = oneshot::channel();
            node.link
                .send(Command::SetProperties(properties.clone(), tx))
                .map_err(|_| Error::Closed)?;
            rx.await.map_err(|_| Error::Closed)??;
        }
        Ok(())
    }

    /// Deletes the nodes and stops keeping them registered.
    ///
    /// # Errors
    /// The connection errors (the nodes then go with the session).
    pub async fn unregister(self) -> Result<()> {
        let mut result = Ok(());
        for node in &self.nodes {
            let (tx, rx) = oneshot::channel();
            if node.link.send(Command::Unregister(tx)).is_ok() {
                if let Ok(Err(e)) = rx.await {
                    result = Err(e);
                }
            }
        }
        result
    }
}

/// Deletes a node; a lost reply is retried (deleting twice is harmless: NoNode is success).
async fn delete_node(client: &Client, path: &str) -> Result<()> {
    let mut attempts = 0;
    loop {
        match client.delete(path, None).await {
            Ok(()) | Err(ZkError::NoNode) => return Ok(()),
            Err(e) if e.is_indeterminate() && attempts < 3 => {
                attempts += 1;
                wait_to_retry(client).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Before another try of a request that met a lost connection: the session's next
/// connection, for up to a while (a retry on a dead connection would fail the same way).
async fn wait_to_retry(client: &Client) {
    let _ = client.wait_connected(Some(Duration::from_secs(30))).await;
}

/// Deletes the node at `path` if `client`'s session owns it (a create whose reply was lost
/// may have made it; someone else's node is left alone). A session that has ended took its
/// nodes with it.
async fn delete_if_ours(client: &Client, path: &str) -> Result<()> {
    let mut attempts = 0;
    loop {
        let deleted = match client.exists(path).await {
            Ok(Some(stat)) if stat.ephemeral_owner == client.session_id() => {
                client.delete(path, Some(stat.version)).await
            }
            Ok(_) => return Ok(()),
            Err(e) => Err(e),
        };
        match deleted {
            Ok(()) | Err(ZkError::NoNode) => return Ok(()),
            Err(e) if e.is_terminal() => return Ok(()),
            // Changed meanwhile (BadVersion), or the connection dropped: look again.
            Err(ZkError::BadVersion) if attempts < 3 => attempts += 1,
            Err(e) if e.is_indeterminate() && attempts < 3 => {
                attempts += 1;
                wait_to_retry(client).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// A registration's options, resolved as it uses them.
struct Resolved {
    create: Arc<CreateOptions>,
    wait_for_conflict: Duration,
    shared_watch: SharedWatch,
}

/// The ephemeral create options with the default ACL, one set for the whole process.
fn default_create_options() -> Arc<CreateOptions> {
    static DEFAULT: OnceLock<Arc<CreateOptions>> = OnceLock::new();
    DEFAULT
        .get_or_init(|| ephemeral_with(RegisterOptions::default().acl))
        .clone()
}

/// Ephemeral create options with `acl`.
fn ephemeral_with(acl: Vec<ACL>) -> Arc<CreateOptions> {
    Arc::new(CreateOptions {
        mode: CreateMode::Ephemeral,
        acl,
        ttl: None,
    })
}

/// Ephemeral create options with `acl`: for the default ACL (nearly every registration), the
/// process's one set.
fn create_options(acl: Vec<ACL>) -> Arc<CreateOptions> {
    let default = default_create_options();
    if default.acl == acl {
        default
    } else {
        ephemeral_with(acl)
    }
}

/// A node's data: `properties` plus `pid`, as JSON. Registrations without properties (the
/// most common) share one copy.
fn registration_data(properties: &PropertyMap) -> Arc<[u8]> {
    static PID_ONLY: OnceLock<Arc<[u8]>> = OnceLock::new();
    if properties.is_empty() {
        return PID_ONLY
            .get_or_init(|| data::encode_with_pid(properties, process_id()).into())
            .clone();
    }
    data::encode_with_pid(properties, process_id()).into()
}

/// This process's id, read once (`std::process::id` is a system call each time).
fn process_id() -> u32 {
    static PID: OnceLock<u32> = OnceLock::new();
    *PID.get_or_init(std::process::id)
}

/// The node a registration creates.
#[derive(Clone, Copy)]
struct Target<'a> {
    path: &'a Arc<str>,
    data: &'a [u8],
    create: &'a CreateOptions,
    wait_for_conflict: Duration,
}

/// How a node's task learns of its node's deletion.
enum NodeWatch {
    /// A one-shot watch on the node itself (`None`: the task sets one first).
    Node(Option<zk_session::OneshotWatcher>),
    /// The handle's shared watch on the node's parent.
    Parent(Interest),
}

/// The first creation under the parent's watches (see `parent_watch`): the node is filed
/// for arming, relative to the zxid of its create, so every later deletion of the node is
/// seen. Falls back to a watch on the node where the parent's watches are unavailable.
async fn create_watched(
    shared: &Shared,
    generation: &Generation,
    target: Target<'_>,
    poker: impl Fn() -> Poker<Command>,
) -> Result<NodeWatch> {
    let client = &generation.client;
    let (parent, _) = split(target.path);
    let Some(watch) = shared
        .parent_watches
        .acquire(generation.number, parent, client)
    else {
        return create_initial(shared, client, target, true)
            .await
            .map(|c| NodeWatch::Node(c.watcher));
    };
    let interest = watch.watch_node(target.path, poker());
    // The create goes first (join! polls in order), then any batch of watches ready.
    let (created, ()) = tokio::join!(create_initial(shared, client, target, false), async {
        watch.send_ready()
    });
    let created = created?;
    Ok(if interest.arm(created.zxid, created.fresh) {
        NodeWatch::Parent(interest)
    } else {
        // The task sets a watch of its own on the node first.
        NodeWatch::Node(None)
    })
}

/// A node [`create_initial`] made or adopted.
struct Created {
    /// Its watch, when one was asked for and could be set.
    watcher: Option<zk_session::OneshotWatcher>,
    /// The zxid its state was known at: its create's, or its `mzxid` when adopted.
    zxid: i64,
    /// Made by this create (`zxid` is the create's).
    fresh: bool,
}

/// The first creation: errors go to the caller. With `watch_node`, an exists watch on the node
/// goes out with the create, and on success that watch is returned when it could be set.
async fn create_initial(
    shared: &Shared,
    client: &Client,
    target: Target<'_>,
    watch_node: bool,
) -> Result<Created> {
    let Target {
        path,
        data,
        create,
        wait_for_conflict,
    } = target;
    let deadline = tokio::time::Instant::now() + wait_for_conflict;
    loop {
        // The create and an exists watch go out together: the server answers them in order,
        // so the exists sees the node the create made (the watch that keeps the registration
        // honest, at no extra round trip) or, on NodeExists, the node in the way.
        let (created, checked) = if watch_node {
            let (created, checked) =
                tokio::join!(client.create(path, data, create), existing(client, path));
            (created, Some(checked))
        } else {
            (client.create(path, data, create).await, None)
        };
        match created {
            Ok((_, stat)) => {
                let watcher = match checked {
                    Some(Ok(Some((stat, watcher))))
                        if stat.ephemeral_owner == client.session_id() =>
                    {
                        Some(watcher)
                    }
                    // Already gone or replaced, or the exists was lost (or not sent): the
                    // node's task looks again.
                    _ => None,
                };
                return Ok(Created {
                    watcher,
                    zxid: stat.czxid,
                    fresh: true,
                });
            }
            Err(ZkError::NodeExists) => {}
            Err(e) if e.is_indeterminate() => {
                // The create may have happened: the next attempt finds out whose node it is.
                client
                    .wait_connected(Some(wait_for_conflict.max(Duration::from_secs(10))))
                    .await?;
                continue;
            }
            Err(e) => return Err(e.into()),
        }
        // The node exists: whose is it? (The exists sent with the create answers.)
        let checked = match checked {
            Some(checked) => checked,
            None => existing(client, path).await,
        };
        let Some((stat, watcher)) = checked? else {
            continue;
        };
        let owner = stat.ephemeral_owner;
        if owner != 0 && owner == client.session_id() {
            return Ok(Created {
                watcher: Some(watcher),
                zxid: stat.mzxid,
                fresh: false,
            });
        }
        if shared.is_previous_session(owner) && delete_node(client, path).await.is_ok() {
            continue;
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(Error::RegistrationConflict {
                path: path.to_string(),
                owner,
            });
        }
        // Wait for the node to go (a stale session expiring), up to the deadline.
        let _ = tokio::time::timeout_at(deadline, watcher.changed()).await;
    }
}

/// The node's Stat and a watch on it, or `None` when it is already gone.
async fn existing(
    client: &Client,
    path: &str,
) -> Result<Option<(zk_session::Stat, zk_session::OneshotWatcher)>> {
    let (stat, watcher) = client.exists_watch(path).await?;
    Ok(stat.map(|s| (s, watcher)))
}

struct NodeTask {
    shared: std::sync::Arc<Shared>,
    path: Arc<str>,
    /// The node's data (shared by the nodes of one call, and by every registration without
    /// properties).
    data: Arc<[u8]>,
    /// The node's create options (ephemeral, with the registration's ACL).
    create: Arc<CreateOptions>,
    /// Whether to use the handle's shared parent watch (`RegisterOptions::shared_watch`).
    shared_watch: SharedWatch,
    /// For the shared parent watch of a new session.
    poker: Poker<Command>,
    status: StatusSetter<Command>,
}

enum Wake {
    Command(Option<Command>),
    NodeEvent(zk_session::WatchedEvent),
    NewGeneration,
}

/// A registration at rest under its shared parent watch: what its task needs to go on, kept
/// in its link instead of a task ([`NodeTask::park`]).
struct Parked {
    task: NodeTask,
    generation: Generation,
    interest: Interest,
    commands: Commands,
    runtime: tokio::runtime::Handle,
}

impl node_link::Resume for Parked {
    fn resume(self: Box<Self>) {
        let Parked {
            task,
            generation,
            interest,
            commands,
            runtime,
        } = *self;
        if commands.handle_gone_only() {
            // Dropped with nothing else to do: only the node's deletion is left, done in a
            // task far smaller than the registration's own (dropping many registrations at
            // once spawns one each). A node of a session that has ended went with it.
            drop(interest);
            let current = {
                let latest = task.shared.generation.borrow();
                latest.number == generation.number && !latest.closed
            };
            let NodeTask { path, status, .. } = task;
            if !current {
                status.set_status(RegistrationStatus::Unregistered);
                return;
            }
            drop(runtime.spawn(async move {
                let _ = delete_node(&generation.client, &path).await;
                status.set_status(RegistrationStatus::Unregistered);
                drop(commands);
            }));
            return;
        }
        drop(runtime.spawn(task.run(generation, NodeWatch::Parent(interest), commands)));
    }
}

impl NodeTask {
    fn set_status(&self, status: RegistrationStatus) {
        self.status.set_status(status);
    }

    /// Keeps the node registered. `watch`: how the task hears of its node, as set up when it
    /// was created (a node watch of `None`: the task sets one first). Under the shared parent
    /// watch the task parks whenever it has nothing to do but wait ([`NodeTask::park`]).
    async fn run(mut self, mut generation: Generation, watch: NodeWatch, mut commands: Commands) {
        let mut generations = self.shared.generation.clone();
        // Exactly one of: a one-shot watch on the node (`watcher`, `None` while it must be
        // set), or a place in the shared parent watch (`interest`; the node is looked at
        // when `check_due`).
        let (mut watcher, mut interest) = match watch {
            NodeWatch::Node(watcher) => (watcher, None),
            NodeWatch::Parent(interest) => (None, Some(interest)),
        };
        let mut check_due = false;
        loop {
            // Follow the handle to its latest session, or its close.
            let latest = generations.borrow_and_update().clone();
            if latest.closed {
                self.set_status(RegistrationStatus::Unregistered);
                return;
            }
            if latest.number != generation.number {
                generation = latest;
                watcher = None;
                interest = None;
                let ended =
                    Box::pin(self.recover(&mut generation, &mut generations, &mut commands)).await;
                if ended {
                    return;
                }
                if generation.closed {
                    continue;
                }
                // The node was re-created before any watch of this session covered it: look
                // at it once the watch is set.
                interest = self.join_parent_watch(&generation);
                check_due = true;
            }
            let look = if interest.is_some() {
                check_due
            } else {
                watcher.is_none()
            };
            if look {
                let client = &generation.client;
                let seen = if interest.is_some() {
                    Box::pin(client.exists(&self.path)).await.map(|s| (s, None))
                } else {
                    Box::pin(client.exists_watch(&self.path))
                        .await
                        .map(|(s, w)| (s, Some(w)))
                };
                match seen {
                    Ok((Some(stat), w)) if stat.ephemeral_owner == client.session_id() => {
                        watcher = w;
                        check_due = false;
                        // Watched again from what was just seen (the watch fired, or this
                        // is a new session's node).
                        if interest.as_ref().is_some_and(|i| !i.arm(stat.mzxid, false)) {
                            // The parent's watches are unavailable: watch the node itself.
                            interest = None;
                            continue;
                        }
                    }
                    Ok((_, _)) => {
                        // Gone, or not ours, while our session lives: someone removed it.
                        warn!(target: "zc_zk", path = %self.path, "registration node was removed by someone else");
                        self.set_status(RegistrationStatus::Removed);
                        drop(interest);
                        drop(self);
                        return Lingering::answer(commands);
                    }
                    // The session ended: the next generation's recovery follows.
                    Err(e) if e.is_terminal() => {}
                    Err(_) => {
                        let _ = Box::pin(
                            generation
                                .client
                                .wait_connected(Some(Duration::from_secs(30))),
                        )
                        .await;
                        continue;
                    }
                };
            }
            if !check_due && commands.idle() {
                if let Some(interest) = interest.take() {
                    // Nothing to wait for but a command or a poke of the shared watch.
                    return self.park(generation, interest, commands);
                }
            }
            // Boxed: the three futures are most of the task's size otherwise (1,168 bytes in
            // all, held by every registration that waits in a task rather than parked).
            let wake = Box::pin(async {
                let node_event = async {
                    match watcher.take() {
                        Some(w) => w.changed().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    command = commands.recv() => Wake::Command(command),
                    event = node_event => Wake::NodeEvent(event),
                    changed = generations.changed() => {
                        if changed.is_err() { Wake::Command(None) } else { Wake::NewGeneration }
                    }
                }
            })
            .await;
            match wake {
                Wake::Command(None) => {
                    let _ = Box::pin(delete_node(&generation.client, &self.path)).await;
                    self.set_status(RegistrationStatus::Unregistered);
                    return;
                }
                Wake::Command(Some(Command::Unregister(reply))) => {
                    let result = Box::pin(delete_node(&generation.client, &self.path)).await;
                    self.set_status(RegistrationStatus::Unregistered);
                    let _ = reply.send(result);
                    return;
                }
                Wake::Command(Some(Command::SetProperties(props, reply))) => {
                    let data = data::encode(&props);
                    let result = Box::pin(self.replace_data(&generation.client, &data)).await;
                    if result.is_ok() {
                        self.data = data.into();
                    }
                    let _ = reply.send(result);
                    // A node watch may have fired on our own write; check the node again.
                    // (The shared watch reports only deletions, which send a check.)
                    watcher = None;
                }
                Wake::Command(Some(Command::Check)) => check_due = true,
                Wake::NodeEvent(event) => {
                    if event.event_type == EventType::None {
                        // The session ended: wait for the next one.
                        Box::pin(wait_generation(&mut generations)).await;
                    }
                    // Otherwise re-check the node (deleted, or changed data).
                }
                // Followed at the top of the loop.
                Wake::NewGeneration => {}
            }
        }
    }

    /// Parks the task under the shared parent watch: it ends, and the next command, a poke
    /// of the watch (a deletion, a reconnect, a new session: see
    /// [`ParentWatches::wake_all`](crate::parent_watch::ParentWatches::wake_all)) or the
    /// handle's drop spawns it again. A generation that is no longer current goes on at once.
    fn park(self, generation: Generation, interest: Interest, commands: Commands) {
        let runtime = tokio::runtime::Handle::current();
        let current = {
            let latest = self.shared.generation.borrow();
            latest.number == generation.number && latest.closed == generation.closed
        };
        if !current {
            drop(runtime.spawn(self.run(generation, NodeWatch::Parent(interest), commands)));
            return;
        }
        commands.park(move |commands| {
            Box::new(Parked {
                task: self,
                generation,
                interest,
                commands,
                runtime,
            })
        });
    }

    /// A place in the shared watch on the node's parent in `generation`'s session, if there is
    /// one (else the task watches the node).
    fn join_parent_watch(&self, generation: &Generation) -> Option<Interest> {
        if generation.closed || !self.shared_watch.applies() {
            return None;
        }
        let watch = self.shared.parent_watches.acquire(
            generation.number,
            split(&self.path).0,
            &generation.client,
        )?;
        Some(watch.watch_node(&self.path, self.poker.clone()))
    }

    /// After an expiry: re-create the node in the new session, whatever it takes. True when
    /// the registration ended meanwhile (unregistered, or its handle dropped).
    async fn recover(
        &mut self,
        generation: &mut Generation,
        generations: &mut watch::Receiver<Generation>,
        commands: &mut Commands,
    ) -> bool {
        self.set_status(RegistrationStatus::Recovering);
        info!(target: "zc_zk", path = %self.path, "restoring registration in the new session");
        let mut backoff = Duration::from_millis(100);
        // Whether a create of this session may have made the node unseen (its outcome was
        // lost with the connection): a registration ending now must remove it.
        let mut maybe_created = false;
        loop {
            let client = generation.client.clone();
            // A command that came meanwhile (the handle dropped after the new session, an
            // unregister) is heard before the node is made again.
            while let Some(command) = commands.try_recv() {
                if self
                    .command_while_down(command, &client, maybe_created)
                    .await
                {
                    return true;
                }
            }
            let result = client.create(&self.path, &self.data, &self.create).await;
            maybe_created |= matches!(&result, Err(e) if e.is_indeterminate());
            let retry_after = match result {
                Ok(_) => {
                    self.set_status(RegistrationStatus::Registered);
                    info!(target: "zc_zk", path = %self.path, "registration restored");
                    return false;
                }
                Err(ZkError::NodeExists) => match client.exists_watch(&self.path).await {
                    Ok((None, _)) => None,
                    Ok((Some(stat), watcher)) => {
                        let owner = stat.ephemeral_owner;
                        if owner != 0 && owner == client.session_id() {
                            self.set_status(RegistrationStatus::Registered);
                            return false;
                        }
                        if self.shared.is_previous_session(owner) {
                            // Our own stale node: remove it, or wait for the server to.
                            match client.delete(&self.path, Some(stat.version)).await {
                                Ok(()) | Err(ZkError::NoNode) | Err(ZkError::BadVersion) => None,
                                Err(_) => {
                                    let _ = tokio::time::timeout(
                                        Duration::from_secs(60),
                                        watcher.changed(),
                                    )
                                    .await;
                                    None
                                }
                            }
                        } else {
                            warn!(target: "zc_zk", path = %self.path, owner = format_args!("{owner:#x}"), "registration conflict: the node belongs to another session");
                            self.set_status(RegistrationStatus::Conflict { owner });
                            tokio::select! {
                                _ = watcher.changed() => {}
                                command = commands.recv() => {
                                    if self.command_while_down(command, &client, maybe_created).await {
                                        return true;
                                    }
                                }
                            }
                            None
                        }
                    }
                    Err(e) => Some(e),
                },
                Err(e) => Some(e),
            };
            let Some(error) = retry_after else { continue };
            if error.is_terminal() {
                // The session is gone, and with it anything its creates made.
                maybe_created = false;
                wait_generation(generations).await;
                *generation = generations.borrow_and_update().clone();
                if generation.closed {
                    return false;
                }
                continue;
            }
            if !error.is_indeterminate() {
                warn!(target: "zc_zk", path = %self.path, %error, "restoring registration failed; retrying");
                self.set_status(RegistrationStatus::Failed(error));
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                command = commands.recv() => {
                    if self.command_while_down(command, &client, maybe_created).await {
                        return true;
                    }
                }
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    /// A command while the node is being restored: unregister (or the handle's drop) stops,
    /// removing the node first when a create whose outcome was lost (`maybe_created`) may
    /// have made it; new properties are remembered for the re-creation. True when the
    /// registration ends.
    async fn command_while_down(
        &mut self,
        command: Option<Command>,
        client: &Client,
        maybe_created: bool,
    ) -> bool {
        let reply = match command {
            None => None,
            Some(Command::Unregister(reply)) => Some(reply),
            Some(Command::SetProperties(props, reply)) => {
                self.data = data::encode(&props).into();
                let _ = reply.send(Ok(()));
                return false;
            }
            // The node is looked at once it is back.
            Some(Command::Check) => return false,
        };
        let result = if maybe_created {
            Box::pin(delete_if_ours(client, &self.path)).await
        } else {
            Ok(())
        };
        self.set_status(RegistrationStatus::Unregistered);
        if let Some(reply) = reply {
            let _ = reply.send(result);
        }
        true
    }

    /// Writes new data: setData when the ACL allows, else an atomic delete-and-create.
    async fn replace_data(&self, client: &Client, data: &[u8]) -> Result<()> {
        match client.set_data(&self.path, data, None).await {
            Ok(_) => Ok(()),
            Err(ZkError::NoAuth) => {
                let ops = [
                    Op::delete(self.path.to_string(), None),
                    Op::create(self.path.to_string(), data.to_vec(), (*self.create).clone()),
                ];
                client.multi(&ops).await.map(drop).map_err(Error::from)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// A registration whose node someone else removed: it answers commands until the handle is
/// dropped or unregisters, with no task (every answer is immediate), parked between them.
struct Lingering {
    commands: Commands,
}

impl Lingering {
    /// Answers every queued command, then parks (or ends).
    fn answer(mut commands: Commands) {
        while let Some(command) = commands.try_recv() {
            match command {
                // The handle is gone, or unregistered: the registration ends here.
                None => return,
                Some(Command::Unregister(reply)) => {
                    let _ = reply.send(Ok(()));
                    return;
                }
                Some(Command::SetProperties(_, reply)) => {
                    let _ = reply.send(Err(ZkError::NoNode.into()));
                }
                Some(Command::Check) => {}
            }
        }
        commands.park(|commands| Box::new(Lingering { commands }));
    }
}

impl node_link::Resume for Lingering {
    fn resume(self: Box<Self>) {
        Lingering::answer(self.commands);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrations_without_properties_share_one_copy_of_their_data() {
        let a = registration_data(&PropertyMap::new());
        let b = registration_data(&PropertyMap::new());
        assert!(Arc::ptr_eq(&a, &b));
        let json: Value = serde_json::from_slice(&a).unwrap();
        assert_eq!(json, serde_json::json!({ "pid": process_id() }));
        let with = registration_data(&PropertyMap::from_iter([("a".into(), 1.into())]));
        let json: Value = serde_json::from_slice(&with).unwrap();
        assert_eq!(json, serde_json::json!({ "a": 1, "pid": process_id() }));
    }

    #[test]
    fn registrations_with_the_default_acl_share_one_set_of_create_options() {
        let a = create_options(RegisterOptions::default().acl);
        let b = create_options(ACL::read_unsafe());
        assert!(Arc::ptr_eq(&a, &b));
        // What `register_server` uses without building the default options.
        assert!(Arc::ptr_eq(&a, &default_create_options()));
        assert_eq!(a.mode, CreateMode::Ephemeral);
        assert_eq!(a.acl, ACL::read_unsafe());
        let open = create_options(ACL::open_unsafe());
        assert!(!Arc::ptr_eq(&a, &open));
        assert_eq!(open.acl, ACL::open_unsafe());
        assert_eq!(open.mode, CreateMode::Ephemeral);
    }
}
