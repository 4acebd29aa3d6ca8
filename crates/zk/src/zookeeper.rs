//! [`ZooKeeper`]: a connection that outlives session expiry.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tracing::{info, warn};
use zk_session::{Client, SessionConfig, SessionEvent, SessionState};

use crate::error::{Error, Result};

/// The environment variable holding the default connection string.
pub const CONNECTION_STRING_ENV: &str = "ZC_ZK_CONNECTION_STRING";

/// The connection string used when none is given and the environment has none.
pub const DEFAULT_CONNECTION_STRING: &str = "127.0.0.1:2181";

/// How a [`ZooKeeper`] connects and recovers.
#[derive(Clone)]
pub struct ZooKeeperOptions {
    /// The session timeout asked of the server. Default 10 s (zc.zk's).
    pub session_timeout: Duration,
    /// How long [`ZooKeeper::connect_with`] waits for the first connection; `None` waits
    /// forever. Default 10 s.
    pub connect_timeout: Option<Duration>,
    /// Whether to start a new session, with its zxid reset, when every server is behind this
    /// client (the ensemble lost data). Default true.
    pub recover_ensemble_behind: bool,
    /// Authentication added to every session, e.g. `("digest", b"user:password")`; a new session
    /// after an expiry gets it too. `Debug` does not show the credentials.
    pub auth: Vec<(String, Vec<u8>)>,
    /// Everything else about sessions (SASL and TLS among them).
    pub session: SessionConfig,
}

impl std::fmt::Debug for ZooKeeperOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let schemes: Vec<&str> = self
            .auth
            .iter()
            .map(|(scheme, _)| scheme.as_str())
            .collect();
        f.debug_struct("ZooKeeperOptions")
            .field("session_timeout", &self.session_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("recover_ensemble_behind", &self.recover_ensemble_behind)
            .field("auth_schemes", &schemes)
            .field("session", &self.session)
            .finish()
    }
}

impl Default for ZooKeeperOptions {
    fn default() -> Self {
        Self {
            session_timeout: Duration::from_secs(10),
            connect_timeout: Some(Duration::from_secs(10)),
            recover_ensemble_behind: true,
            auth: Vec::new(),
            session: SessionConfig::default(),
        }
    }
}

/// One session of a [`ZooKeeper`]; a new generation follows each expiry.
#[derive(Debug, Clone)]
pub(crate) struct Generation {
    /// Counts sessions from 0.
    pub(crate) number: u64,
    /// The session's client.
    pub(crate) client: Client,
    /// Whether the handle was closed (no generation follows).
    pub(crate) closed: bool,
}

pub(crate) struct Shared {
    pub(crate) generation: watch::Receiver<Generation>,
    /// Ids of this handle's earlier sessions, to recognise our own stale ephemeral nodes.
    pub(crate) previous_sessions: Mutex<Vec<i64>>,
    pub(crate) connection_string: String,
    /// Authentication replayed on every new session.
    pub(crate) auth: Mutex<Vec<(String, Vec<u8>)>>,
    /// The registrations' shared parent watches.
    pub(crate) parent_watches: crate::parent_watch::ParentWatches,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("connection_string", &self.connection_string)
            .finish_non_exhaustive()
    }
}

/// Adds every recorded authentication to a new session's client.
async fn authenticate(
    client: &Client,
    auth: &[(String, Vec<u8>)],
) -> Result<(), zk_session::Error> {
    for (scheme, data) in auth {
        client.add_auth(scheme, data).await?;
    }
    Ok(())
}

impl Shared {
    pub(crate) fn current(&self) -> Generation {
        self.generation.borrow().clone()
    }

    pub(crate) fn is_previous_session(&self, id: i64) -> bool {
        id != 0
            && self
                .previous_sessions
                .lock()
                .map(|p| p.contains(&id))
                .unwrap_or(false)
    }
}

/// A ZooKeeper connection with zc.zk's high-level API: [`register_server`], [`children`] and
/// [`properties`].
///
/// Unlike a bare [`Client`], it survives session expiry: a supervisor task starts a new session
/// and every registration, children view and properties view moves to it. Cheap to clone;
/// dropping the last clone closes the session.
///
/// [`register_server`]: ZooKeeper::register_server
/// [`children`]: ZooKeeper::children
/// [`properties`]: ZooKeeper::properties
#[derive(Debug, Clone)]
pub struct ZooKeeper {
    pub(crate) shared: Arc<Shared>,
    close: mpsc::UnboundedSender<oneshot::Sender<()>>,
}

impl ZooKeeper {
    /// Connects to `$ZC_ZK_CONNECTION_STRING`, else `127.0.0.1:2181`.
    ///
    /// # Errors
    /// As [`ZooKeeper::connect_with`].
    pub async fn connect_default() -> Result<ZooKeeper> {
        let cs = std::env::var(CONNECTION_STRING_ENV)
            .unwrap_or_else(|_| DEFAULT_CONNECTION_STRING.to_owned());
        Self::connect(&cs).await
    }

    /// Connects with default options.
    ///
    /// # Errors
    /// As [`ZooKeeper::connect_with`].
    pub async fn connect(connection_string: &str) -> Result<ZooKeeper> {
        Self::connect_with(connection_string, ZooKeeperOptions::default()).await
    }

    /// Connects, waiting for the first connection up to `options.connect_timeout`.
    ///
    /// # Errors
    /// [`Error::FailedConnect`] past the deadline; an invalid connection string; a session that
    /// could not be established (authentication).
    pub async fn connect_with(
        connection_string: &str,
        options: ZooKeeperOptions,
    ) -> Result<ZooKeeper> {
        let mut config = options.session.clone();
        config.session_timeout = options.session_timeout;
        let client = Client::start(connection_string, config.clone())?;
        match client.wait_connected(options.connect_timeout).await {
            Ok(()) => {}
            Err(zk_session::Error::Timeout) => {
                client.close().await;
                tracing::error!(target: "zc_zk", connection_string, "can't connect to ZooKeeper");
                return Err(Error::FailedConnect {
                    connection_string: connection_string.to_owned(),
                });
            }
            Err(e) => {
                client.close().await;
                return Err(e.into());
            }
        }
        if let Err(e) = authenticate(&client, &options.auth).await {
            client.close().await;
            return Err(e.into());
        }
        info!(target: "zc_zk", connection_string, session_id = format_args!("{:#x}", client.session_id()), "connected");
        let (gen_tx, gen_rx) = watch::channel(Generation {
            number: 0,
            client,
            closed: false,
        });
        let shared = Arc::new(Shared {
            generation: gen_rx,
            previous_sessions: Mutex::new(Vec::new()),
            connection_string: connection_string.to_owned(),
            auth: Mutex::new(options.auth.clone()),
            parent_watches: Default::default(),
        });
        let (close, close_rx) = mpsc::unbounded_channel();
        tokio::spawn(supervise(shared.clone(), gen_tx, close_rx, options, config));
        Ok(ZooKeeper { shared, close })
    }

    /// The current session's low-level client (the seed's `handle`), for everything else.
    /// After a session expiry it is a new one.
    pub fn client(&self) -> Client {
        self.shared.current().client
    }

    /// The current session id.
    pub fn session_id(&self) -> i64 {
        self.client().session_id()
    }

    /// The connection string.
    pub fn connection_string(&self) -> &str {
        &self.shared.connection_string
    }

    /// Session state changes across session generations: after an expiry the new session's
    /// `Connected` follows the old one's `Expired`.
    pub fn session_events(&self) -> SessionChanges {
        let generation = self.shared.generation.clone();
        let current = generation.borrow().clone();
        SessionChanges {
            events: current.client.session_events(),
            generation,
            number: current.number,
        }
    }

    /// Adds authentication (e.g. `add_auth("digest", b"user:password")`) to the current session
    /// and to every session after it.
    ///
    /// # Errors
    /// `AuthFailed` (the session ends), and the connection errors.
    pub async fn add_auth(&self, scheme: &str, auth: &[u8]) -> Result<()> {
        if let Ok(mut list) = self.shared.auth.lock() {
            list.push((scheme.to_owned(), auth.to_vec()));
        }
        self.client()
            .add_auth(scheme, auth)
            .await
            .map_err(Error::from)
    }

    /// Closes the session; the server deletes its ephemeral nodes (our registrations) at once.
    /// Idempotent.
    pub async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.close.send(tx).is_ok() {
            let _ = rx.await;
        }
    }
}

/// A stream of session state changes across generations (see [`ZooKeeper::session_events`]).
#[derive(Debug)]
pub struct SessionChanges {
    events: zk_session::SessionEvents,
    generation: watch::Receiver<Generation>,
    number: u64,
}

impl SessionChanges {
    /// The next change; `None` once the handle is closed and its last state was reported.
    pub async fn next(&mut self) -> Option<SessionEvent> {
        loop {
            tokio::select! {
                ev = self.events.next() => match ev {
                    Some(ev) => return Some(ev),
                    None => {
                        if self.generation.changed().await.is_err() {
                            return None;
                        }
                    }
                },
                changed = self.generation.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
            }
            let generation = self.generation.borrow_and_update().clone();
            if generation.number != self.number {
                self.number = generation.number;
                self.events = generation.client.session_events();
                let state = generation.client.state();
                if state.state.is_connected() {
                    return Some(state);
                }
            } else if generation.closed {
                return Some(SessionEvent {
                    state: SessionState::Closed,
                    session_id: generation.client.session_id(),
                });
            }
        }
    }
}

async fn supervise(
    shared: Arc<Shared>,
    gen_tx: watch::Sender<Generation>,
    mut close_rx: mpsc::UnboundedReceiver<oneshot::Sender<()>>,
    options: ZooKeeperOptions,
    mut config: SessionConfig,
) {
    let mut closers: Vec<oneshot::Sender<()>> = Vec::new();
    'generations: loop {
        let generation = gen_tx.borrow().clone();
        let client = generation.client.clone();
        let mut events = client.session_events();
        // Wait for the session to end, or for close.
        let ended = loop {
            let state = client.state().state;
            if state.is_terminal() {
                break state;
            }
            tokio::select! {
                ev = events.next() => {
                    if ev.is_none() {
                        break SessionState::Closed;
                    }
                }
                request = close_rx.recv() => {
                    if let Some(tx) = request {
                        closers.push(tx);
                    }
                    break 'generations;
                }
            }
        };
        let recover = match ended {
            SessionState::Expired => true,
            SessionState::EnsembleBehind => options.recover_ensemble_behind,
            _ => false,
        };
        if !recover {
            warn!(target: "zc_zk", state = ?ended, "session ended; not recovering");
            break;
        }
        if let Ok(mut previous) = shared.previous_sessions.lock() {
            previous.push(client.session_id());
        }
        config.last_zxid_seen = if ended == SessionState::EnsembleBehind {
            0
        } else {
            client.last_zxid_seen()
        };
        info!(target: "zc_zk", old_session = format_args!("{:#x}", client.session_id()), ?ended, "starting a new session");
        // Keep trying until a new session is up, or close is asked.
        let next = loop {
            let candidate = match Client::start(&shared.connection_string, config.clone()) {
                Ok(c) => c,
                Err(e) => {
                    warn!(target: "zc_zk", error = %e, "cannot start a new session");
                    break None;
                }
            };
            tokio::select! {
                result = candidate.wait_connected(None) => match result {
                    Ok(()) => {
                        let auth = shared.auth.lock().map(|a| a.clone()).unwrap_or_default();
                        match authenticate(&candidate, &auth).await {
                            Ok(()) => break Some(candidate),
                            Err(e) => {
                                warn!(target: "zc_zk", error = %e, "authenticating the new session failed");
                                candidate.close().await;
                                tokio::time::sleep(Duration::from_secs(1)).await;
                                continue;
                            }
                        }
                    }
                    Err(zk_session::Error::EnsembleBehind { .. }) => {
                        config.last_zxid_seen = 0;
                        continue;
                    }
                    Err(e) => {
                        warn!(target: "zc_zk", error = %e, "new session failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                },
                request = close_rx.recv() => {
                    candidate.close().await;
                    if let Some(tx) = request {
                        closers.push(tx);
                    }
                    break 'generations;
                }
            }
        };
        let Some(next) = next else { break };
        info!(target: "zc_zk", session_id = format_args!("{:#x}", next.session_id()), "new session established");
        gen_tx.send_replace(Generation {
            number: generation.number + 1,
            client: next,
            closed: false,
        });
        // Parked registrations follow only when poked.
        shared.parent_watches.wake_all();
    }
    let generation = gen_tx.borrow().clone();
    generation.client.close().await;
    gen_tx.send_replace(Generation {
        closed: true,
        ..generation
    });
    shared.parent_watches.wake_all();
    for tx in closers {
        let _ = tx.send(());
    }
    // Later close requests answer at once: the channel is dropped with this task.
    drop(close_rx);
}
