//! Each client behind the workloads' traits: ours (`zk-session`, and `zc-zk` for the views and
//! registration), `zookeeper-client` (kezhuw), `zookeeper-async`, `tokio-zookeeper`, and the
//! blocking `zookeeper` (bonifaido).

use std::any::Any;
use std::net::SocketAddr;
use std::time::Duration;

use crate::workloads::{BlockingZk, R, Zk};

fn err(e: impl std::fmt::Debug) -> String {
    format!("{e:?}")
}

const SESSION_TIMEOUT: Duration = Duration::from_secs(10);

/// Which configuration of ours this worker runs, from the client's name: `ours` (the
/// defaults), `ours-lean` (coalesced writes and `ReadCoalescing::Expected`), or `ours-off`,
/// `ours-certain`, `ours-expected`, `ours-adaptive` (the defaults with that receive mark), or
/// `ours-pernode` (each registration watches its own node, `SharedWatch::Never`, where the
/// default arms the registrations' watches in batches), or `ours-waited` (the `connect`
/// workload waits for the session before its first request), for A/B runs with `--clients`.
pub static VARIANT: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The names [`VARIANT`] takes.
pub const VARIANTS: &[&str] = &[
    "ours-lean",
    "ours-off",
    "ours-certain",
    "ours-expected",
    "ours-adaptive",
    "ours-pernode",
    "ours-unprimed",
    "ours-waited",
];

// ---------------------------------------------------------------------------------------------
// Ours.

/// `zk_session::Client`, plus a `zc_zk::ZooKeeper` when connected for the high-level workloads.
pub struct Ours {
    client: zk_session::Client,
    zk: Option<zc_zk::ZooKeeper>,
}

/// The session configuration of `ours` and its variants.
fn config() -> zk_session::SessionConfig {
    let mut config = zk_session::SessionConfig {
        session_timeout: SESSION_TIMEOUT,
        ..Default::default()
    };
    // For experiments only (PERFORMANCE.md): the cost of the `srvr` version probe.
    if std::env::var_os("ZKB_NO_PROBE").is_some() {
        config.probe_server_version = false;
    }
    // Likewise: requests coalesced into fewer writes (`ZKB_COALESCE`, off by default), the
    // receive mark at the certain bytes (`ZKB_LOWAT`, instead of the default's).
    if std::env::var_os("ZKB_COALESCE").is_some() {
        config.coalesce_writes = true;
    }
    if std::env::var_os("ZKB_LOWAT").is_some() {
        config.read_coalescing = zk_session::ReadCoalescing::Certain;
    }
    // The variants named in `--clients` (see `VARIANT`).
    match VARIANT.get().map(String::as_str) {
        Some("ours-lean") => {
            config.coalesce_writes = true;
            config.read_coalescing = zk_session::ReadCoalescing::Expected;
        }
        Some("ours-off") => config.read_coalescing = zk_session::ReadCoalescing::Off,
        Some("ours-certain") => config.read_coalescing = zk_session::ReadCoalescing::Certain,
        Some("ours-expected") => config.read_coalescing = zk_session::ReadCoalescing::Expected,
        Some("ours-adaptive") => config.read_coalescing = zk_session::ReadCoalescing::Adaptive,
        Some("ours-unprimed") => config.prime_connection = false,
        _ => {}
    }
    config
}

impl Zk for Ours {
    type Watch = zk_session::OneshotWatcher;

    async fn connect(server: &str) -> R<Self> {
        let client = zk_session::Client::connect_with(server, config())
            .await
            .map_err(err)?;
        Ok(Ours { client, zk: None })
    }

    async fn connect_unwaited(server: &str) -> R<Self> {
        if VARIANT.get().map(String::as_str) == Some("ours-waited") {
            return Self::connect(server).await;
        }
        // Requests made before the session is up go right behind the ConnectRequest.
        let client = zk_session::Client::start(server, config()).map_err(err)?;
        Ok(Ours { client, zk: None })
    }

    async fn connect_high(server: &str) -> R<Self> {
        let zk = zc_zk::ZooKeeper::connect(server).await.map_err(err)?;
        Ok(Ours {
            client: zk.client(),
            zk: Some(zk),
        })
    }

    async fn get_data(&self, path: &str) -> R<usize> {
        self.client
            .get_data(path)
            .await
            .map(|(d, _)| d.len())
            .map_err(err)
    }

    async fn get_data_watch(&self, path: &str) -> R<Self::Watch> {
        self.client
            .get_data_watch(path)
            .await
            .map(|(_, _, w)| w)
            .map_err(err)
    }

    async fn wait(w: Self::Watch) -> R<()> {
        w.changed().await;
        Ok(())
    }

    async fn create(&self, path: &str, data: &[u8], ephemeral: bool) -> R<()> {
        let options = if ephemeral {
            zk_session::CreateOptions::ephemeral()
        } else {
            zk_session::CreateOptions::persistent()
        };
        self.client
            .create(path, data, &options)
            .await
            .map(drop)
            .map_err(err)
    }

    async fn delete(&self, path: &str) -> R<()> {
        self.client.delete(path, None).await.map_err(err)
    }

    async fn set_data(&self, path: &str, data: &[u8]) -> R<()> {
        self.client
            .set_data(path, data, None)
            .await
            .map(drop)
            .map_err(err)
    }

    async fn get_children_watch(&self, path: &str) -> R<(Vec<String>, Self::Watch)> {
        self.client.get_children_watch(path).await.map_err(err)
    }

    async fn close(self) {
        match self.zk {
            Some(zk) => zk.close().await,
            None => self.client.close().await,
        }
    }

    async fn children_view(&self, path: &str) -> R<(Box<dyn Any>, usize)> {
        let zk = self.zk.as_ref().ok_or("children view needs connect_high")?;
        let view = zk.children(path).await.map_err(err)?;
        let n = view.len();
        Ok((Box::new(view), n))
    }

    async fn register(&self, parent: &str, n: usize) -> R<Box<dyn Any>> {
        let zk = self.zk.as_ref().ok_or("register needs connect_high")?;
        let mut held = Vec::with_capacity(n);
        for i in 0..n {
            let port = 20000 + i as u16;
            let address = ("127.0.0.1", port);
            let props = zc_zk::PropertyMap::new();
            // `ours-pernode`: a watch per node instead of the default's batched watches.
            let reg = match VARIANT.get().map(String::as_str) {
                Some("ours-pernode") => {
                    let options = zc_zk::RegisterOptions {
                        shared_watch: zc_zk::SharedWatch::Never,
                        ..Default::default()
                    };
                    zk.register_server_with(parent, address, props, options)
                        .await
                }
                _ => zk.register_server(parent, address, props).await,
            }
            .map_err(err)?;
            held.push(reg);
        }
        Ok(Box::new(held))
    }
}

// ---------------------------------------------------------------------------------------------
// zookeeper-client (kezhuw).

/// `zookeeper_client::Client` (tokio feature of its runtime-agnostic layer).
pub struct Kezhuw(zookeeper_client::Client);

impl Zk for Kezhuw {
    type Watch = zookeeper_client::OneshotWatcher;

    async fn connect(server: &str) -> R<Self> {
        zookeeper_client::Client::connector()
            .with_session_timeout(SESSION_TIMEOUT)
            .connect(server)
            .await
            .map(Kezhuw)
            .map_err(err)
    }

    async fn get_data(&self, path: &str) -> R<usize> {
        self.0
            .get_data(path)
            .await
            .map(|(d, _)| d.len())
            .map_err(err)
    }

    async fn get_data_watch(&self, path: &str) -> R<Self::Watch> {
        self.0
            .get_and_watch_data(path)
            .await
            .map(|(_, _, w)| w)
            .map_err(err)
    }

    async fn wait(w: Self::Watch) -> R<()> {
        w.changed().await;
        Ok(())
    }

    async fn create(&self, path: &str, data: &[u8], ephemeral: bool) -> R<()> {
        let mode = if ephemeral {
            zookeeper_client::CreateMode::Ephemeral
        } else {
            zookeeper_client::CreateMode::Persistent
        };
        let options = mode.with_acls(zookeeper_client::Acls::anyone_all());
        self.0
            .create(path, data, &options)
            .await
            .map(drop)
            .map_err(err)
    }

    async fn delete(&self, path: &str) -> R<()> {
        self.0.delete(path, None).await.map_err(err)
    }

    async fn set_data(&self, path: &str, data: &[u8]) -> R<()> {
        self.0
            .set_data(path, data, None)
            .await
            .map(drop)
            .map_err(err)
    }

    async fn get_children_watch(&self, path: &str) -> R<(Vec<String>, Self::Watch)> {
        self.0
            .get_and_watch_children(path)
            .await
            .map(|(c, _, w)| (c, w))
            .map_err(err)
    }

    async fn close(self) {
        // Dropping the last handle closes the session.
        drop(self.0);
    }
}

// ---------------------------------------------------------------------------------------------
// zookeeper-async.

/// `zookeeper_async::ZooKeeper`; watches are callbacks, delivered here through a oneshot.
pub struct ZkAsync(zookeeper_async::ZooKeeper);

impl Zk for ZkAsync {
    type Watch = tokio::sync::oneshot::Receiver<()>;

    async fn connect(server: &str) -> R<Self> {
        zookeeper_async::ZooKeeper::connect(
            server,
            SESSION_TIMEOUT,
            |_: zookeeper_async::WatchedEvent| {},
        )
        .await
        .map(ZkAsync)
        .map_err(err)
    }

    async fn get_data(&self, path: &str) -> R<usize> {
        self.0
            .get_data(path, false)
            .await
            .map(|(d, _)| d.len())
            .map_err(err)
    }

    async fn get_data_watch(&self, path: &str) -> R<Self::Watch> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.0
            .get_data_w(path, move |_| {
                let _ = tx.send(());
            })
            .await
            .map_err(err)?;
        Ok(rx)
    }

    async fn wait(w: Self::Watch) -> R<()> {
        w.await.map_err(err)
    }

    async fn create(&self, path: &str, data: &[u8], ephemeral: bool) -> R<()> {
        let mode = if ephemeral {
            zookeeper_async::CreateMode::Ephemeral
        } else {
            zookeeper_async::CreateMode::Persistent
        };
        self.0
            .create(
                path,
                data.to_vec(),
                zookeeper_async::Acl::open_unsafe().clone(),
                mode,
            )
            .await
            .map(drop)
            .map_err(err)
    }

    async fn delete(&self, path: &str) -> R<()> {
        self.0.delete(path, None).await.map_err(err)
    }

    async fn set_data(&self, path: &str, data: &[u8]) -> R<()> {
        self.0
            .set_data(path, data.to_vec(), None)
            .await
            .map(drop)
            .map_err(err)
    }

    async fn get_children_watch(&self, path: &str) -> R<(Vec<String>, Self::Watch)> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let names = self
            .0
            .get_children_w(path, move |_| {
                let _ = tx.send(());
            })
            .await
            .map_err(err)?;
        Ok((names, rx))
    }

    async fn close(self) {
        let _ = self.0.close().await;
    }
}

// ---------------------------------------------------------------------------------------------
// tokio-zookeeper.

/// `tokio_zookeeper::ZooKeeper`; its global event stream is drained by a task.
pub struct TokioZk(tokio_zookeeper::ZooKeeper);

impl Zk for TokioZk {
    type Watch = futures::channel::oneshot::Receiver<tokio_zookeeper::WatchedEvent>;

    async fn connect(server: &str) -> R<Self> {
        let addr: SocketAddr = server.parse().map_err(err)?;
        let mut builder = tokio_zookeeper::ZooKeeperBuilder::default();
        builder.set_timeout(SESSION_TIMEOUT);
        let (zk, events) = builder.connect(&addr).await.map_err(err)?;
        // Every event is also sent to this stream: drain it, as a user must.
        tokio::spawn(futures::StreamExt::for_each(events, |_| async {}));
        Ok(TokioZk(zk))
    }

    async fn get_data(&self, path: &str) -> R<usize> {
        match self.0.get_data(path).await.map_err(err)? {
            Some((d, _)) => Ok(d.len()),
            None => Err(format!("no node {path}")),
        }
    }

    async fn get_data_watch(&self, path: &str) -> R<Self::Watch> {
        match self.0.with_watcher().get_data(path).await.map_err(err)? {
            Some((w, _, _)) => Ok(w),
            None => Err(format!("no node {path}")),
        }
    }

    async fn wait(w: Self::Watch) -> R<()> {
        w.await.map(drop).map_err(err)
    }

    async fn create(&self, path: &str, data: &[u8], ephemeral: bool) -> R<()> {
        let mode = if ephemeral {
            tokio_zookeeper::CreateMode::Ephemeral
        } else {
            tokio_zookeeper::CreateMode::Persistent
        };
        self.0
            .create(
                path,
                data.to_vec(),
                tokio_zookeeper::Acl::open_unsafe(),
                mode,
            )
            .await
            .map_err(err)?
            .map(drop)
            .map_err(err)
    }

    async fn delete(&self, path: &str) -> R<()> {
        self.0.delete(path, None).await.map_err(err)?.map_err(err)
    }

    async fn set_data(&self, path: &str, data: &[u8]) -> R<()> {
        self.0
            .set_data(path, None, data.to_vec())
            .await
            .map_err(err)?
            .map(drop)
            .map_err(err)
    }

    async fn get_children_watch(&self, path: &str) -> R<(Vec<String>, Self::Watch)> {
        match self
            .0
            .with_watcher()
            .get_children(path)
            .await
            .map_err(err)?
        {
            Some((w, names)) => Ok((names, w)),
            None => Err(format!("no node {path}")),
        }
    }

    async fn close(self) {
        drop(self.0);
    }
}

// ---------------------------------------------------------------------------------------------
// zookeeper (bonifaido), blocking.

/// `zookeeper::ZooKeeper`: blocking calls, an I/O thread and an event thread of its own;
/// watches are callbacks, delivered here through a channel.
pub struct Bonifaido(zookeeper::ZooKeeper);

impl BlockingZk for Bonifaido {
    type Watch = std::sync::mpsc::Receiver<()>;

    fn connect(server: &str) -> R<Self> {
        zookeeper::ZooKeeper::connect(server, SESSION_TIMEOUT, |_: zookeeper::WatchedEvent| {})
            .map(Bonifaido)
            .map_err(err)
    }

    fn get_data(&self, path: &str) -> R<usize> {
        self.0
            .get_data(path, false)
            .map(|(d, _)| d.len())
            .map_err(err)
    }

    fn get_data_watch(&self, path: &str) -> R<Self::Watch> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.0
            .get_data_w(path, move |_: zookeeper::WatchedEvent| {
                let _ = tx.send(());
            })
            .map_err(err)?;
        Ok(rx)
    }

    fn wait(w: Self::Watch) -> R<()> {
        w.recv().map_err(err)
    }

    fn create(&self, path: &str, data: &[u8], ephemeral: bool) -> R<()> {
        let mode = if ephemeral {
            zookeeper::CreateMode::Ephemeral
        } else {
            zookeeper::CreateMode::Persistent
        };
        self.0
            .create(
                path,
                data.to_vec(),
                zookeeper::Acl::open_unsafe().clone(),
                mode,
            )
            .map(drop)
            .map_err(err)
    }

    fn delete(&self, path: &str) -> R<()> {
        self.0.delete(path, None).map_err(err)
    }

    fn set_data(&self, path: &str, data: &[u8]) -> R<()> {
        self.0
            .set_data(path, data.to_vec(), None)
            .map(drop)
            .map_err(err)
    }

    fn get_children_watch(&self, path: &str) -> R<(Vec<String>, Self::Watch)> {
        let (tx, rx) = std::sync::mpsc::channel();
        let names = self
            .0
            .get_children_w(path, move |_: zookeeper::WatchedEvent| {
                let _ = tx.send(());
            })
            .map_err(err)?;
        Ok((names, rx))
    }

    fn close(self) {
        let _ = self.0.close();
    }
}
