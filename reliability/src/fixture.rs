//! What the real-server scenarios share: a service tree, a zc-zk client holding a registration
//! and children and properties views with subscribers, an observer of the registration node
//! through a second session, and the convergence check against the server's truth read by a
//! fresh client.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::{mpsc, watch};
use zc_zk::{
    Change, Children, Properties, PropertyMap, Registration, RegistrationStatus, ZooKeeper,
    ZooKeeperOptions,
};
use zk_session::{Client, CreateOptions, EventType, Op, PersistentWatcher, SessionConfig};

use crate::figures::{Violations, must};

/// How long a scenario waits for anything that should happen "soon" (a reconnect, a view
/// catching up) before calling it a hang.
pub const SETTLE: Duration = Duration::from_secs(30);

/// `{"k": v}` as a property map.
pub fn props(v: serde_json::Value) -> PropertyMap {
    v.as_object().cloned().unwrap_or_default()
}

/// zc-zk options with a session timeout and a fixed seed.
pub fn zk_options(session_timeout: Duration) -> ZooKeeperOptions {
    ZooKeeperOptions {
        session_timeout,
        connect_timeout: Some(SETTLE),
        session: SessionConfig {
            probe_server_version: false,
            ..SessionConfig::default()
        },
        ..ZooKeeperOptions::default()
    }
}

/// A low-level client for setting up and reading the truth.
///
/// # Errors
/// When it cannot connect.
pub async fn admin(connect: &str) -> Result<Client, String> {
    let config = SessionConfig {
        session_timeout: Duration::from_secs(30),
        ..SessionConfig::default()
    };
    must(
        "admin connect",
        SETTLE,
        Client::connect_with(connect, config),
    )
    .await?
    .map_err(|e| format!("admin connect to {connect}: {e}"))
}

/// A service tree: `root`, `root/providers`, `root/conf` (properties `{"v": 0}`), and `watched`
/// nodes `root/w/0..watched`.
#[derive(Debug, Clone)]
pub struct Tree {
    /// The root.
    pub root: String,
    /// Where servers register.
    pub providers: String,
    /// The configuration node.
    pub conf: String,
    /// The parent of the watched nodes.
    pub watched: String,
    /// How many watched nodes.
    pub watched_count: usize,
}

impl Tree {
    /// A tree under the fresh path `root`.
    pub fn new(root: String, watched_count: usize) -> Self {
        Tree {
            providers: format!("{root}/providers"),
            conf: format!("{root}/conf"),
            watched: format!("{root}/w"),
            watched_count,
            root,
        }
    }

    /// Watched node `i`.
    pub fn watched_node(&self, i: usize) -> String {
        format!("{}/{i}", self.watched)
    }

    /// Creates the tree (in batches of 500 nodes per transaction).
    ///
    /// # Errors
    /// When the server refuses.
    pub async fn create(&self, admin: &Client) -> Result<(), String> {
        let p = CreateOptions::persistent();
        let mut ops = vec![
            Op::create(self.root.clone(), Vec::new(), p.clone()),
            Op::create(self.providers.clone(), Vec::new(), p.clone()),
            Op::create(self.conf.clone(), br#"{"v": 0}"#.to_vec(), p.clone()),
            Op::create(self.watched.clone(), Vec::new(), p.clone()),
        ];
        for i in 0..self.watched_count {
            ops.push(Op::create(self.watched_node(i), b"0".to_vec(), p.clone()));
            if ops.len() >= 500 {
                multi(admin, &ops).await?;
                ops.clear();
            }
        }
        if !ops.is_empty() {
            multi(admin, &ops).await?;
        }
        Ok(())
    }

    /// The server's truth, read by `admin`: the providers' names (sorted) and the conf's
    /// properties.
    ///
    /// # Errors
    /// When the reads fail.
    pub async fn truth(&self, admin: &Client) -> Result<(Vec<String>, PropertyMap), String> {
        let mut names = must("truth", SETTLE, admin.get_children(&self.providers))
            .await?
            .map_err(|e| format!("reading the truth of {}: {e}", self.providers))?;
        names.sort_unstable();
        let (data, _) = must("truth", SETTLE, admin.get_data(&self.conf))
            .await?
            .map_err(|e| format!("reading the truth of {}: {e}", self.conf))?;
        Ok((names, zc_zk::data::decode(Some(&data))))
    }
}

/// Runs a transaction.
///
/// # Errors
/// When it fails.
pub async fn multi(client: &Client, ops: &[Op]) -> Result<(), String> {
    must("multi", SETTLE, client.multi(ops))
        .await?
        .map(drop)
        .map_err(|e| format!("multi of {} ops: {e}", ops.len()))
}

/// What a subscriber was last told, published so that a test can await it.
pub type Told<T> = watch::Receiver<Option<Change<T>>>;

/// A zc-zk client's views of a tree, each with a subscriber.
#[derive(Debug)]
pub struct Views {
    /// The providers' children view.
    pub children: Children,
    /// The conf's properties view.
    pub properties: Properties,
    /// What the children subscriber was last told.
    pub children_told: Told<Vec<String>>,
    /// What the properties subscriber was last told.
    pub properties_told: Told<PropertyMap>,
}

impl Views {
    /// Opens both views of `tree` on `zk` and subscribes to each.
    ///
    /// # Errors
    /// When a view cannot be opened.
    pub async fn open(zk: &ZooKeeper, tree: &Tree) -> Result<Views, String> {
        let children = must("children view", SETTLE, zk.children(&tree.providers))
            .await?
            .map_err(|e| format!("children view: {e}"))?;
        let properties = must("properties view", SETTLE, zk.properties(&tree.conf))
            .await?
            .map_err(|e| format!("properties view: {e}"))?;
        let (ctx, children_told) = watch::channel(None);
        children
            .on_change(move |c| {
                ctx.send_replace(Some(c.clone()));
                Ok(())
            })
            .map_err(|e| format!("subscribe: {e}"))?;
        let (ptx, properties_told) = watch::channel(None);
        properties
            .on_change(move |c| {
                ptx.send_replace(Some(c.clone()));
                Ok(())
            })
            .map_err(|e| format!("subscribe: {e}"))?;
        Ok(Views {
            children,
            properties,
            children_told,
            properties_told,
        })
    }

    /// Waits until both views and both subscribers show `truth`; records what did not within
    /// `deadline`.
    pub async fn converge(
        &self,
        truth: &(Vec<String>, PropertyMap),
        deadline: Duration,
        violations: &mut Violations,
    ) {
        let (names, map) = truth;
        if self
            .children
            .wait_for(deadline, |n| n == names.as_slice())
            .await
            .is_err()
        {
            violations.push(format!(
                "children view {:?} never equalled the server's {:?}",
                self.children.names(),
                names
            ));
        }
        if self
            .properties
            .wait_for(deadline, |m| m == map)
            .await
            .is_err()
        {
            violations.push(format!(
                "properties view {:?} never equalled the server's {:?}",
                self.properties.snapshot(),
                map
            ));
        }
        let want_children = |c: &Option<Change<Vec<String>>>| matches!(c, Some(Change::Changed(n)) if n.as_slice() == names.as_slice());
        let mut rx = self.children_told.clone();
        if must("", deadline, rx.wait_for(want_children))
            .await
            .is_err()
        {
            violations.push(format!(
                "the children subscriber was last told {:?}, not the server's {names:?}",
                *self.children_told.borrow()
            ));
        }
        let want_props =
            |c: &Option<Change<PropertyMap>>| matches!(c, Some(Change::Changed(m)) if **m == *map);
        let mut rx = self.properties_told.clone();
        if must("", deadline, rx.wait_for(want_props)).await.is_err() {
            violations.push(format!(
                "the properties subscriber was last told {:?}, not the server's {map:?}",
                *self.properties_told.borrow()
            ));
        }
    }
}

/// Registers `("10.0.0.1", port)` under the tree's providers.
///
/// # Errors
/// When registering fails.
pub async fn register(zk: &ZooKeeper, tree: &Tree, port: u16) -> Result<Registration, String> {
    must(
        "register",
        SETTLE,
        zk.register_server(
            &tree.providers,
            ("10.0.0.1", port),
            props(json!({"port": port})),
        ),
    )
    .await?
    .map_err(|e| format!("register: {e}"))
}

/// Waits until the registration is `Registered` and its node belongs to `zk`'s current
/// session, as fresh reads by `admin` show; records what did not hold by `deadline`.
///
/// The server's truth can lag the client's view for a moment (a session the server is expiring
/// just as the client resumed it: the node goes, then the client learns of the expiry and
/// registers again), so this waits for the node to be created when it is missing, and re-reads
/// after a short pause when it belongs to another session.
pub async fn registration_holds(
    zk: &ZooKeeper,
    registration: &Registration,
    admin: &Client,
    deadline: Duration,
    violations: &mut Violations,
) {
    let until = tokio::time::Instant::now() + deadline;
    for path in registration.paths() {
        let mut last = String::new();
        let held = tokio::time::timeout_at(until, async {
            loop {
                let registered = registration
                    .wait_for_status(deadline, |s| *s == RegistrationStatus::Registered)
                    .await;
                if registered.is_err() {
                    last = format!("status {:?}", registration.status());
                    continue;
                }
                match admin.exists_watch(&path).await {
                    Ok((Some(stat), _)) if stat.ephemeral_owner == zk.session_id() => return,
                    Ok((Some(stat), _)) => {
                        last = format!(
                            "owned by {:#x}, not our session {:#x}",
                            stat.ephemeral_owner,
                            zk.session_id()
                        );
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Ok((None, created)) => {
                        last = "missing on the server".into();
                        created.changed().await;
                    }
                    Err(e) => {
                        last = format!("exists: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        })
        .await;
        if held.is_err() {
            violations.push(format!(
                "registration node {path} not held by our session within {deadline:?}: {last}"
            ));
        }
    }
}

/// Node events of one path, seen through a persistent recursive watch of another session.
#[derive(Debug)]
pub struct Observer {
    events: mpsc::UnboundedReceiver<EventType>,
    _task: tokio::task::JoinHandle<()>,
}

impl Observer {
    /// Watches `parent` recursively on `admin` and keeps the events of `path`.
    ///
    /// # Errors
    /// When the watch cannot be added.
    pub async fn start(admin: &Client, parent: &str, path: &str) -> Result<Observer, String> {
        let mut watcher: PersistentWatcher =
            must("add_watch", SETTLE, admin.add_watch(parent, true))
                .await?
                .map_err(|e| format!("add_watch {parent}: {e}"))?;
        let (tx, events) = mpsc::unbounded_channel();
        let path: Arc<str> = path.into();
        let task = tokio::spawn(async move {
            while let Some(ev) = watcher.next().await {
                if ev.event_type != EventType::None && *ev.path == *path {
                    let _ = tx.send(ev.event_type);
                }
            }
        });
        Ok(Observer {
            events,
            _task: task,
        })
    }

    /// Waits for `expected` node events in order (each within `deadline`), then for `quiet`
    /// without any further one; records any difference.
    pub async fn expect(
        &mut self,
        expected: &[EventType],
        deadline: Duration,
        quiet: Duration,
        violations: &mut Violations,
    ) {
        let mut seen = Vec::new();
        for _ in expected {
            match tokio::time::timeout(deadline, self.events.recv()).await {
                Ok(Some(ev)) => seen.push(ev),
                _ => break,
            }
        }
        if let Ok(Some(ev)) = tokio::time::timeout(quiet, self.events.recv()).await {
            seen.push(ev);
            while let Ok(ev) = self.events.try_recv() {
                seen.push(ev);
            }
        }
        violations.check(seen == expected, || {
            format!("registration node events {seen:?}, expected exactly {expected:?}")
        });
    }
}
