//! [`Children`]: a node's child names, kept current by child watches.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::warn;
use zk_session::Error as ZkError;

use crate::error::Result;
use crate::view::{Alive, CallbackResult, Change, Changes, Snapshot, Subscribers, gone, notifier};
use crate::zookeeper::{Shared, ZooKeeper};

/// The sorted child names of a node, kept current.
///
/// Created by [`ZooKeeper::children`]. Reading never blocks. Subscribe with
/// [`on_change`](Children::on_change) or read [`changes`](Children::changes). Dropping the last
/// handle (and its streams) removes its watches, locally and on the server.
#[derive(Debug, Clone)]
pub struct Children {
    path: String,
    real_path: Arc<std::sync::Mutex<String>>,
    rx: watch::Receiver<Snapshot<Vec<String>>>,
    subscribers: Arc<Subscribers<Vec<String>>>,
    alive: Arc<Alive>,
}

impl ZooKeeper {
    /// The children of `path`, kept current. The path is resolved through symbolic links
    /// ([`ZooKeeper::resolve`]); when the node is deleted, `path` is resolved again and the
    /// view follows it if it now leads elsewhere.
    ///
    /// # Errors
    /// `NoNode` when the node does not exist; `LinkLoop`; the connection errors.
    pub async fn children(&self, path: &str) -> Result<Children> {
        let client = self.client();
        // The path as given first (a real node shadows a link); links only when it is missing.
        let (real, (names, watcher)) = match read_children(&client, path).await {
            Ok(found) => (path.to_owned(), found),
            // Missing, or `.`/`..` in it, which only resolution understands.
            Err(zk_session::Error::NoNode | zk_session::Error::InvalidPath { .. }) => {
                let real = crate::links::resolve_with(&client, path).await?;
                let found = read_children(&client, &real).await?;
                (real, found)
            }
            Err(e) => return Err(e.into()),
        };
        let snapshot = Snapshot {
            value: Arc::new(names),
            deleted: false,
            serial: 0,
            zxid: 0,
        };
        let (tx, rx) = watch::channel(snapshot);
        let subscribers = Subscribers::new("children", path);
        let (alive, alive_rx) = Alive::new();
        let real_path = Arc::new(std::sync::Mutex::new(real));
        tokio::spawn(refresh(
            self.shared.clone(),
            path.to_owned(),
            real_path.clone(),
            tx,
            Some(watcher),
            alive_rx.clone(),
        ));
        tokio::spawn(notifier(rx.clone(), subscribers.clone(), alive_rx));
        Ok(Children {
            path: path.to_owned(),
            real_path,
            rx,
            subscribers,
            alive,
        })
    }
}

impl Children {
    /// The path as given.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The path watched: [`path`](Children::path) with links resolved.
    pub fn real_path(&self) -> String {
        self.real_path.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// The child names, sorted.
    pub fn names(&self) -> Arc<Vec<String>> {
        self.rx.borrow().value.clone()
    }

    /// How many children.
    pub fn len(&self) -> usize {
        self.rx.borrow().value.len()
    }

    /// Whether there are no children (or the node was deleted).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `name` is a child.
    pub fn contains(&self, name: &str) -> bool {
        self.rx
            .borrow()
            .value
            .binary_search_by(|n| n.as_str().cmp(name))
            .is_ok()
    }

    /// Whether the node was deleted (the names are then empty for good).
    pub fn is_deleted(&self) -> bool {
        self.rx.borrow().deleted
    }

    /// Calls `callback` now with the current names, then after every change, and with
    /// [`Change::Deleted`] when the node goes. See the [`view`](crate::view) module for which
    /// task runs it.
    ///
    /// # Errors
    /// [`Error::Callback`](crate::Error::Callback) when the first call fails; the callback is
    /// then not kept.
    pub fn on_change(
        &self,
        callback: impl Fn(&Change<Vec<String>>) -> CallbackResult + Send + Sync + 'static,
    ) -> Result<()> {
        let current = self.rx.borrow().clone();
        self.subscribers.subscribe(&current, Arc::new(callback))
    }

    /// The number of subscribed callbacks.
    pub fn subscriber_count(&self) -> usize {
        self.subscribers.len()
    }

    /// The current names, then every change.
    pub fn changes(&self) -> Changes<Vec<String>> {
        Changes::new(self.rx.clone(), self.alive.clone())
    }

    /// Waits until `condition` holds for the names, or `timeout`.
    ///
    /// # Errors
    /// `Timeout`.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        condition: impl Fn(&[String]) -> bool,
    ) -> Result<()> {
        crate::view::wait_for(self.rx.clone(), timeout, |v: &Vec<String>| condition(v)).await
    }
}

/// Keeps the snapshot current until every reader is gone or the node is deleted.
async fn refresh(
    shared: Arc<Shared>,
    virtual_path: String,
    real_path: Arc<std::sync::Mutex<String>>,
    tx: watch::Sender<Snapshot<Vec<String>>>,
    mut watcher: Option<zk_session::OneshotWatcher>,
    mut alive: watch::Receiver<()>,
) {
    let mut generation = shared.generation.clone();
    let mut serial = 0;
    let mut moved = false;
    loop {
        if let Some(w) = watcher.take() {
            // Any event means a re-read: a change, a deletion (the read says NoNode), or the end
            // of the session (the read fails and waits for the next one).
            tokio::select! {
                _ = w.changed() => {}
                _ = generation.changed() => {}
                () = gone(&mut alive) => return,
            }
        }
        let current = generation.borrow_and_update().clone();
        if current.closed {
            return;
        }
        let path = real_path.lock().map(|p| p.clone()).unwrap_or_default();
        match read_children(&current.client, &path).await {
            Ok((names, w)) => {
                watcher = Some(w);
                let moved = std::mem::take(&mut moved);
                tx.send_if_modified(|s| {
                    if *s.value == names && !s.deleted && !moved {
                        return false;
                    }
                    serial += 1;
                    *s = Snapshot {
                        value: Arc::new(names),
                        deleted: false,
                        serial,
                        zxid: 0,
                    };
                    true
                });
            }
            Err(ZkError::NoNode) => {
                if crate::links::re_resolve(&current.client, &virtual_path, &real_path).await {
                    moved = true;
                    continue;
                }
                tx.send_modify(|s| {
                    serial += 1;
                    *s = Snapshot {
                        value: Arc::new(Vec::new()),
                        deleted: true,
                        serial,
                        zxid: 0,
                    };
                });
                return;
            }
            Err(e) => {
                if !wait_after_error(&current.client, &mut generation, &e, &path, "children").await
                {
                    return;
                }
            }
        }
    }
}

/// Reads `path`'s children, sorted, and leaves a child watch. With getChildren2, not getChildren: a
/// 3.6+ server answers getChildren2 from its response cache (the serialized reply, kept
/// until the node's Stat changes), which getChildren, having no Stat, never is. For a parent
/// read by many clients, such as a service's registrations, that saves the server
/// serializing the list for each of them. For 1,000 children, pinned on this project's test
/// machine, a discovery took 0.16–0.25 ms this way against 0.27–0.37 ms with getChildren
/// (PERFORMANCE.md, tenth round).
async fn read_children(
    client: &zk_session::Client,
    path: &str,
) -> Result<(Vec<String>, zk_session::OneshotWatcher), ZkError> {
    client
        .get_children2_watch(path)
        .await
        .map(|(mut names, _stat, watcher)| {
            crate::sort::sort_names(&mut names);
            (names, watcher)
        })
}

/// Waits until a failed read may be retried: connected again, or a new session. False when the
/// handle was closed.
pub(crate) async fn wait_after_error(
    client: &zk_session::Client,
    generation: &mut watch::Receiver<crate::zookeeper::Generation>,
    error: &ZkError,
    path: &str,
    what: &'static str,
) -> bool {
    if error.is_terminal() {
        wait_generation(generation).await;
        return !generation.borrow().closed;
    }
    if !matches!(error, ZkError::ConnectionLoss | ZkError::Timeout) {
        warn!(target: "zc_zk", what, path, %error, "read failed; retrying");
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = generation.changed() => {}
        }
        return !generation.borrow().closed;
    }
    tokio::select! {
        _ = client.wait_connected(None) => {}
        _ = generation.changed() => {}
    }
    !generation.borrow().closed
}

/// Waits for the next generation (or the close).
pub(crate) async fn wait_generation(
    generation: &mut watch::Receiver<crate::zookeeper::Generation>,
) {
    let number = generation.borrow().number;
    while !generation.borrow().closed && generation.borrow().number == number {
        if generation.changed().await.is_err() {
            return;
        }
    }
}
