//! [`Properties`]: a node's JSON object, kept current by data watches, with compare-and-set
//! writes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{Mutex, watch};
use zk_session::{Error as ZkError, Stat};

use crate::children::wait_after_error;
use crate::data::{self, PropertyMap};
use crate::error::{Error, Result};
use crate::view::{Alive, CallbackResult, Change, Changes, Snapshot, Subscribers, gone, notifier};
use crate::zookeeper::{Shared, ZooKeeper};

/// How many times a compare-and-set write re-reads and retries after BadVersion.
const MAX_CAS_ATTEMPTS: usize = 1000;

/// A node's properties (its data as a JSON object), kept current.
///
/// Created by [`ZooKeeper::properties`]. Reading never blocks. [`update`](Properties::update)
/// merges and [`set`](Properties::set) replaces, both compare-and-set on the node's version with
/// retry, so concurrent updates of different keys are never lost; the local view changes only
/// after the server accepted the write.
#[derive(Debug, Clone)]
pub struct Properties {
    path: String,
    real_path: Arc<std::sync::Mutex<String>>,
    shared: Arc<Shared>,
    rx: watch::Receiver<Snapshot<PropertyMap>>,
    tx: Arc<watch::Sender<Snapshot<PropertyMap>>>,
    stat: Arc<std::sync::Mutex<Option<Stat>>>,
    /// The newest session generation a published state came from: zxids only order states of
    /// one session (after data loss a new session's zxids start again lower).
    generation: Arc<AtomicU64>,
    writes: Arc<Mutex<()>>,
    subscribers: Arc<Subscribers<PropertyMap>>,
    alive: Arc<Alive>,
}

impl ZooKeeper {
    /// The properties of `path`, kept current. The path is resolved through symbolic links
    /// ([`ZooKeeper::resolve`]) and writes go to the real node; when the node is deleted,
    /// `path` is resolved again and the view follows it if it now leads elsewhere. A change of
    /// a node that a property link leads to runs the callbacks too (see [`crate::links`]).
    ///
    /// # Errors
    /// `NoNode` when the node does not exist; `LinkLoop`; the connection errors.
    pub async fn properties(&self, path: &str) -> Result<Properties> {
        let client = self.client();
        let real = crate::links::resolve_with(&client, path).await?;
        let (bytes, stat, watcher) = client.get_data_watch(&real).await?;
        let map = data::decode(Some(&bytes));
        let snapshot = Snapshot {
            value: Arc::new(map),
            deleted: false,
            serial: 0,
            zxid: stat.mzxid,
        };
        let (tx, rx) = watch::channel(snapshot);
        let tx = Arc::new(tx);
        let stat = Arc::new(std::sync::Mutex::new(Some(stat)));
        let subscribers = Subscribers::new("properties", path);
        let (alive, alive_rx) = Alive::new();
        let real_path = Arc::new(std::sync::Mutex::new(real));
        tokio::spawn(crate::links::watch_linked(
            self.shared.clone(),
            path.to_owned(),
            real_path.clone(),
            rx.clone(),
            tx.clone(),
            alive_rx.clone(),
        ));
        let generation = Arc::new(AtomicU64::new(self.shared.current().number));
        let published = Published {
            tx: tx.clone(),
            stat: stat.clone(),
            generation: generation.clone(),
        };
        let target = (self.shared.clone(), path.to_owned(), real_path.clone());
        tokio::spawn(refresh(target, published, watcher, alive_rx.clone()));
        tokio::spawn(notifier(rx.clone(), subscribers.clone(), alive_rx));
        Ok(Properties {
            path: path.to_owned(),
            real_path,
            shared: self.shared.clone(),
            rx,
            tx,
            stat,
            generation,
            writes: Arc::new(Mutex::new(())),
            subscribers,
            alive,
        })
    }

    /// The properties of `path`, read once, without watching.
    ///
    /// # Errors
    /// `NoNode`; the connection errors.
    pub async fn get_properties(&self, path: &str) -> Result<PropertyMap> {
        let (bytes, _) = self.client().get_data(path).await?;
        Ok(data::decode(Some(&bytes)))
    }

    /// Replaces the properties of `path` with `props` (compare-and-set, retried).
    ///
    /// # Errors
    /// `NoNode`; `NoAuth`; the connection errors.
    pub async fn set_properties(&self, path: &str, props: PropertyMap) -> Result<Stat> {
        cas_write(&self.client(), path, None, |_| props.clone())
            .await
            .map(|(_, stat)| stat)
    }

    /// Merges `props` into the properties of `path` (compare-and-set, retried).
    ///
    /// # Errors
    /// `NoNode`; `NoAuth`; the connection errors.
    pub async fn update_properties(&self, path: &str, props: PropertyMap) -> Result<Stat> {
        cas_write(&self.client(), path, None, |mut current| {
            current.extend(props.clone());
            current
        })
        .await
        .map(|(_, stat)| stat)
    }
}

/// Reads `path` (or starts from `cached`), computes the new map, and writes it on the read
/// version; retries from a fresh read on BadVersion.
async fn cas_write(
    client: &zk_session::Client,
    path: &str,
    mut cached: Option<(PropertyMap, i32)>,
    change: impl Fn(PropertyMap) -> PropertyMap,
) -> Result<(PropertyMap, Stat)> {
    for _ in 0..MAX_CAS_ATTEMPTS {
        let (current, version) = match cached.take() {
            Some(c) => c,
            None => {
                let (bytes, stat) = client.get_data(path).await?;
                (data::decode(Some(&bytes)), stat.version)
            }
        };
        let new = change(current);
        match client
            .set_data(path, &data::encode(&new), Some(version))
            .await
        {
            Ok(stat) => return Ok((new, stat)),
            Err(ZkError::BadVersion) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ZkError::BadVersion.into())
}

impl Properties {
    /// The path as given.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The path watched and written: [`path`](Properties::path) with links resolved.
    pub fn real_path(&self) -> String {
        self.real_path.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// The current session's client.
    pub(crate) fn client(&self) -> zk_session::Client {
        self.shared.current().client
    }

    /// The current properties.
    pub fn snapshot(&self) -> Arc<PropertyMap> {
        self.rx.borrow().value.clone()
    }

    /// One property.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.rx.borrow().value.get(key).cloned()
    }

    /// One property, deserialized.
    ///
    /// # Errors
    /// [`Error::InvalidProperties`] when it does not deserialize into `T`.
    pub fn get_as<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        self.get(key)
            .map(|v| serde_json::from_value(v).map_err(|e| Error::InvalidProperties(e.to_string())))
            .transpose()
    }

    /// All properties, deserialized into `T`.
    ///
    /// # Errors
    /// [`Error::InvalidProperties`] when they do not deserialize into `T`.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T> {
        let map = self.snapshot();
        serde_json::from_value(Value::Object((*map).clone()))
            .map_err(|e| Error::InvalidProperties(e.to_string()))
    }

    /// The keys, sorted.
    pub fn keys(&self) -> Vec<String> {
        self.rx.borrow().value.keys().cloned().collect()
    }

    /// How many properties.
    pub fn len(&self) -> usize {
        self.rx.borrow().value.len()
    }

    /// Whether there are no properties.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `key` is set.
    pub fn contains_key(&self, key: &str) -> bool {
        self.rx.borrow().value.contains_key(key)
    }

    /// Whether the node was deleted.
    pub fn is_deleted(&self) -> bool {
        self.rx.borrow().deleted
    }

    /// The Stat of the state shown.
    pub fn stat(&self) -> Option<Stat> {
        self.stat.lock().ok().and_then(|s| s.clone())
    }

    /// Merges `props` into the node's properties.
    ///
    /// # Errors
    /// `NoNode` when the node was deleted (nothing changes locally); `NoAuth`; the connection
    /// errors.
    pub async fn update(&self, props: PropertyMap) -> Result<()> {
        self.write(|mut current| {
            current.extend(props.clone());
            current
        })
        .await
    }

    /// Replaces the node's properties with `props` (`{}` when empty).
    ///
    /// # Errors
    /// As [`update`](Properties::update).
    pub async fn set(&self, props: PropertyMap) -> Result<()> {
        self.write(|_| props.clone()).await
    }

    async fn write(&self, change: impl Fn(PropertyMap) -> PropertyMap) -> Result<()> {
        let _serial = self.writes.lock().await;
        if self.is_deleted() {
            return Err(ZkError::NoNode.into());
        }
        let cached = {
            let snapshot = self.rx.borrow();
            self.stat()
                .map(|stat| ((*snapshot.value).clone(), stat.version))
        };
        let current = self.shared.current();
        let client = current.client;
        let preview = change((*self.snapshot()).clone());
        crate::links::check_property_links(&client, &self.path, &preview).await?;
        let (new, stat) = cas_write(&client, &self.real_path(), cached, change).await?;
        publish(
            &self.tx,
            &self.stat,
            new,
            stat,
            current.number,
            &self.generation,
        );
        Ok(())
    }

    /// Calls `callback` now with the current properties, then after every change, and with
    /// [`Change::Deleted`] when the node goes. See the [`view`](crate::view) module for which
    /// task runs it.
    ///
    /// # Errors
    /// [`Error::Callback`] when the first call fails; the callback is
    /// then not kept.
    pub fn on_change(
        &self,
        callback: impl Fn(&Change<PropertyMap>) -> CallbackResult + Send + Sync + 'static,
    ) -> Result<()> {
        let current = self.rx.borrow().clone();
        self.subscribers.subscribe(&current, Arc::new(callback))
    }

    /// The number of subscribed callbacks.
    pub fn subscriber_count(&self) -> usize {
        self.subscribers.len()
    }

    /// The current properties, then every change.
    pub fn changes(&self) -> Changes<PropertyMap> {
        Changes::new(self.rx.clone(), self.alive.clone())
    }

    /// Waits until `condition` holds for the properties, or `timeout`.
    ///
    /// # Errors
    /// `Timeout`.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        condition: impl Fn(&PropertyMap) -> bool,
    ) -> Result<()> {
        crate::view::wait_for(self.rx.clone(), timeout, condition).await
    }
}

/// Publishes `map` read or written at `stat` in session `generation`, unless the view already
/// shows a newer state: one of a later session, or a later zxid of the same session.
fn publish(
    tx: &watch::Sender<Snapshot<PropertyMap>>,
    stat_slot: &std::sync::Mutex<Option<Stat>>,
    map: PropertyMap,
    stat: Stat,
    generation: u64,
    seen_generation: &AtomicU64,
) -> bool {
    tx.send_if_modified(|s| {
        let seen = seen_generation.fetch_max(generation, Ordering::SeqCst);
        if generation < seen {
            return false;
        }
        if generation > seen {
            // A new session: its zxids do not compare with the old one's.
            s.zxid = i64::MIN;
        }
        let mzxid = stat.mzxid;
        if s.deleted || mzxid < s.zxid {
            return false;
        }
        if let Ok(mut slot) = stat_slot.lock() {
            *slot = Some(stat.clone());
        }
        if *s.value == map {
            s.zxid = mzxid;
            return false;
        }
        *s = Snapshot {
            value: Arc::new(map),
            deleted: false,
            serial: s.serial + 1,
            zxid: mzxid,
        };
        true
    })
}

/// What the refresher publishes to: the view's snapshot, its Stat and its newest generation.
struct Published {
    tx: Arc<watch::Sender<Snapshot<PropertyMap>>>,
    stat: Arc<std::sync::Mutex<Option<Stat>>>,
    generation: Arc<AtomicU64>,
}

/// Keeps the snapshot of `(shared, virtual path, real path)` current until every reader is
/// gone or the node is deleted (following links to wherever the path resolves after a deletion).
async fn refresh(
    (shared, virtual_path, real_path): (Arc<Shared>, String, Arc<std::sync::Mutex<String>>),
    Published {
        tx,
        stat,
        generation: seen_generation,
    }: Published,
    watcher: zk_session::OneshotWatcher,
    mut alive: watch::Receiver<()>,
) {
    let mut generation = shared.generation.clone();
    let mut watcher = Some(watcher);
    let mut moved = false;
    loop {
        if let Some(w) = watcher.take() {
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
        match current.client.get_data_watch(&path).await {
            Ok((bytes, node_stat, w)) => {
                watcher = Some(w);
                let published = publish(
                    &tx,
                    &stat,
                    data::decode(Some(&bytes)),
                    node_stat,
                    current.number,
                    &seen_generation,
                );
                if std::mem::take(&mut moved) && !published {
                    // Followed to another node with equal properties: callbacks still run.
                    tx.send_modify(|s| s.serial += 1);
                }
            }
            Err(ZkError::NoNode) => {
                if crate::links::re_resolve(&current.client, &virtual_path, &real_path).await {
                    // Another node: its state replaces ours whatever its zxid.
                    tx.send_if_modified(|s| {
                        s.zxid = 0;
                        false
                    });
                    if let Ok(mut slot) = stat.lock() {
                        *slot = None;
                    }
                    moved = true;
                    continue;
                }
                tx.send_modify(|s| {
                    *s = Snapshot {
                        value: Arc::new(PropertyMap::new()),
                        deleted: true,
                        serial: s.serial + 1,
                        zxid: s.zxid,
                    };
                });
                if let Ok(mut slot) = stat.lock() {
                    *slot = None;
                }
                return;
            }
            Err(e) => {
                if !wait_after_error(&current.client, &mut generation, &e, &path, "properties")
                    .await
                {
                    return;
                }
            }
        }
    }
}
