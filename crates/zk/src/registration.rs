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

use std::time::Duration;

use serde_json::Value;
use tokio::sync::{oneshot, watch};
use tracing::{info, warn};
use zk_session::{ACL, Client, CreateOptions, Error as ZkError, EventType, Op};

use crate::address::Address;
use crate::children::wait_generation;
use crate::data::{self, PropertyMap};
use crate::error::{Error, Result};
use crate::node_link::{self, NodeHandle, StatusSetter};
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
}

impl Default for RegisterOptions {
    fn default() -> Self {
        Self {
            acl: ACL::read_unsafe(),
            wait_for_conflict: Duration::ZERO,
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

#[derive(Debug)]
enum Command {
    SetProperties(PropertyMap, oneshot::Sender<Result<()>>),
    Unregister(oneshot::Sender<Result<()>>),
}

/// One registered node.
#[derive(Debug)]
struct Node {
    path: String,
    link: NodeHandle<Command>,
}

/// A server's registration: one ephemeral node per address. [`unregister`] or drop deletes
/// the nodes; until then they are kept registered across session expiry.
///
/// [`unregister`]: Registration::unregister
#[derive(Debug)]
pub struct Registration {
    nodes: Vec<Node>,
}

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
        self.register_server_with(path, address, properties, RegisterOptions::default())
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
        mut properties: PropertyMap,
        options: RegisterOptions,
    ) -> Result<Registration> {
        let address = address.into();
        // The path as given is tried first (a real node shadows a link anyway); links are
        // resolved only when it does not exist, which saves a round trip per registration.
        let mut base = path.to_owned();
        let mut resolved = false;
        properties.insert("pid".to_owned(), Value::from(std::process::id()));
        let data = data::encode(&properties);
        let names = address.node_names();
        if names.iter().any(|n| n.is_empty() || n.contains('/')) {
            return Err(Error::InvalidAddress(format!("{address:?}")));
        }
        let mut nodes: Vec<Node> = Vec::new();
        for name in names {
            let generation = self.shared.current();
            let (node_path, created) = loop {
                let node_path = if base == "/" {
                    format!("/{name}")
                } else {
                    format!("{base}/{name}")
                };
                let created = create_initial(
                    &self.shared,
                    &generation.client,
                    &node_path,
                    &data,
                    &options,
                )
                .await;
                let unresolved = matches!(&created, Err(e) if e.is_no_node()
                    || matches!(e, Error::ZooKeeper(ZkError::InvalidPath { .. })));
                if unresolved && !resolved {
                    resolved = true;
                    let real = crate::links::resolve_with(&generation.client, path).await;
                    match real {
                        Ok(real) if real != base => {
                            base = real;
                            continue;
                        }
                        Ok(_) => {}
                        Err(e) => break (node_path, Err(e)),
                    }
                }
                break (node_path, created);
            };
            let watcher = match created {
                Ok(watcher) => watcher,
                Err(e) => {
                    for node in &nodes {
                        let _ = delete_node(&generation.client, &node.path).await;
                    }
                    return Err(e);
                }
            };
            info!(target: "zc_zk", path = %node_path, "registered");
            let (link, status, command_rx) = node_link::link(RegistrationStatus::Registered);
            let task = NodeTask {
                shared: self.shared.clone(),
                path: node_path.clone(),
                data: data.clone(),
                acl: options.acl.clone(),
                status,
            };
            tokio::spawn(task.run(generation, watcher, command_rx));
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
        self.nodes.iter().map(|n| n.path.clone()).collect()
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
            .map(|n| (n.path.clone(), n.link.status()))
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
        properties.insert("pid".to_owned(), Value::from(std::process::id()));
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
            Err(e) if e.is_indeterminate() && attempts < 3 => attempts += 1,
            Err(e) => return Err(e.into()),
        }
    }
}

fn ephemeral(acl: &[ACL]) -> CreateOptions {
    CreateOptions::ephemeral().with_acl(acl.to_vec())
}

/// The first creation: errors go to the caller. On success, the watch on the created node when
/// the exists sent with the create could set one.
async fn create_initial(
    shared: &Shared,
    client: &Client,
    path: &str,
    data: &[u8],
    options: &RegisterOptions,
) -> Result<Option<zk_session::OneshotWatcher>> {
    let deadline = tokio::time::Instant::now() + options.wait_for_conflict;
    let create = ephemeral(&options.acl);
    loop {
        // The create and an exists watch go out together: the server answers them in order,
        // so the exists sees the node the create made (the watch that keeps the registration
        // honest, at no extra round trip) or, on NodeExists, the node in the way.
        let (created, checked) =
            tokio::join!(client.create(path, data, &create), existing(client, path));
        match created {
            Ok(_) => {
                return Ok(match checked {
                    Ok(Some((stat, watcher))) if stat.ephemeral_owner == client.session_id() => {
                        Some(watcher)
                    }
                    // Already gone or replaced, or the exists was lost: the node's task
                    // looks again.
                    _ => None,
                });
            }
            Err(ZkError::NodeExists) => {}
            Err(e) if e.is_indeterminate() => {
                // The create may have happened: the next attempt finds out whose node it is.
                client
                    .wait_connected(Some(options.wait_for_conflict.max(Duration::from_secs(10))))
                    .await?;
                continue;
            }
            Err(e) => return Err(e.into()),
        }
        // The node exists: whose is it? (The exists sent with the create answers.)
        let Some((stat, watcher)) = checked? else {
            continue;
        };
        let owner = stat.ephemeral_owner;
        if owner != 0 && owner == client.session_id() {
            return Ok(Some(watcher));
        }
        if shared.is_previous_session(owner) && delete_node(client, path).await.is_ok() {
            continue;
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(Error::RegistrationConflict {
                path: path.to_owned(),
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
    path: String,
    data: Vec<u8>,
    acl: Vec<ACL>,
    status: StatusSetter<Command>,
}

enum Wake {
    Command(Option<Command>),
    NodeEvent(zk_session::WatchedEvent),
    NewGeneration,
}

impl NodeTask {
    fn set_status(&self, status: RegistrationStatus) {
        self.status.set_status(status);
    }

    /// Keeps the node registered. `watcher`: the watch on the node set when it was created,
    /// if any (else the task sets one first).
    async fn run(
        mut self,
        mut generation: Generation,
        mut watcher: Option<zk_session::OneshotWatcher>,
        mut commands: Commands,
    ) {
        let mut generations = self.shared.generation.clone();
        generations.borrow_and_update();
        loop {
            if generation.closed {
                self.set_status(RegistrationStatus::Unregistered);
                return;
            }
            if watcher.is_none() {
                watcher = match Box::pin(generation.client.exists_watch(&self.path)).await {
                    Ok((Some(stat), w))
                        if stat.ephemeral_owner == generation.client.session_id() =>
                    {
                        Some(w)
                    }
                    Ok((_, _)) => {
                        // Gone, or not ours, while our session lives: someone removed it.
                        warn!(target: "zc_zk", path = %self.path, "registration node was removed by someone else");
                        self.set_status(RegistrationStatus::Removed);
                        return Box::pin(self.linger(commands)).await;
                    }
                    Err(e) if e.is_terminal() => None,
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
            let wake = {
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
            };
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
                        self.data = data;
                    }
                    let _ = reply.send(result);
                    // The watch may have fired on our own write; check the node again.
                    watcher = None;
                }
                Wake::NodeEvent(event) => {
                    if event.event_type == EventType::None {
                        // The session ended: wait for the next one.
                        Box::pin(wait_generation(&mut generations)).await;
                    }
                    // Otherwise re-check the node (deleted, or changed data).
                }
                Wake::NewGeneration => {}
            }
            let latest = generations.borrow_and_update().clone();
            if latest.number != generation.number {
                generation = latest;
                watcher = None;
                if generation.closed {
                    continue;
                }
                Box::pin(self.recover(&mut generation, &mut generations, &mut commands)).await;
            }
        }
    }

    /// After an expiry: re-create the node in the new session, whatever it takes.
    async fn recover(
        &mut self,
        generation: &mut Generation,
        generations: &mut watch::Receiver<Generation>,
        commands: &mut Commands,
    ) {
        self.set_status(RegistrationStatus::Recovering);
        info!(target: "zc_zk", path = %self.path, "restoring registration in the new session");
        let mut backoff = Duration::from_millis(100);
        loop {
            let client = generation.client.clone();
            let result = client
                .create(&self.path, &self.data, &ephemeral(&self.acl))
                .await;
            let retry_after = match result {
                Ok(_) => {
                    self.set_status(RegistrationStatus::Registered);
                    info!(target: "zc_zk", path = %self.path, "registration restored");
                    return;
                }
                Err(ZkError::NodeExists) => match client.exists_watch(&self.path).await {
                    Ok((None, _)) => None,
                    Ok((Some(stat), watcher)) => {
                        let owner = stat.ephemeral_owner;
                        if owner != 0 && owner == client.session_id() {
                            self.set_status(RegistrationStatus::Registered);
                            return;
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
                                    if self.handle_command_while_down(command) { return; }
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
                wait_generation(generations).await;
                *generation = generations.borrow_and_update().clone();
                if generation.closed {
                    return;
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
                    if self.handle_command_while_down(command) { return; }
                }
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    /// A command while the node is being restored: unregister stops; new properties are
    /// remembered for the re-creation. True when the registration ends.
    fn handle_command_while_down(&mut self, command: Option<Command>) -> bool {
        match command {
            None => {
                self.set_status(RegistrationStatus::Unregistered);
                true
            }
            Some(Command::Unregister(reply)) => {
                self.set_status(RegistrationStatus::Unregistered);
                let _ = reply.send(Ok(()));
                true
            }
            Some(Command::SetProperties(props, reply)) => {
                self.data = data::encode(&props);
                let _ = reply.send(Ok(()));
                false
            }
        }
    }

    /// Writes new data: setData when the ACL allows, else an atomic delete-and-create.
    async fn replace_data(&self, client: &Client, data: &[u8]) -> Result<()> {
        match client.set_data(&self.path, data, None).await {
            Ok(_) => Ok(()),
            Err(ZkError::NoAuth) => {
                let ops = [
                    Op::delete(self.path.clone(), None),
                    Op::create(self.path.clone(), data.to_vec(), ephemeral(&self.acl)),
                ];
                client.multi(&ops).await.map(drop).map_err(Error::from)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The node is gone for good; answer commands until the handle is dropped.
    async fn linger(self, mut commands: Commands) {
        while let Some(command) = commands.recv().await {
            match command {
                Command::Unregister(reply) => {
                    let _ = reply.send(Ok(()));
                    return;
                }
                Command::SetProperties(_, reply) => {
                    let _ = reply.send(Err(ZkError::NoNode.into()));
                }
            }
        }
    }
}
