//! What [`Children`](crate::Children) and [`Properties`](crate::Properties) share: a
//! snapshot published through a watch channel, subscriber callbacks run by one notifier task,
//! and change streams.
//!
//! # Which task runs callbacks, in which order
//! A callback's first call runs on the subscriber's task, inside `subscribe`. Every later call
//! runs on the view's notifier task, one callback at a time, in subscription order, never while
//! a lock of this crate is held, and never on the connection's task. Changes are level-triggered:
//! if several happen while callbacks run, the next round sees only the latest state.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tracing::{debug, error};

/// A change of a watched node, as callbacks and streams see it.
#[derive(Debug, Clone, PartialEq)]
pub enum Change<T> {
    /// The node's current state.
    Changed(Arc<T>),
    /// The node was deleted; the view is empty from now on (zc.zk called callbacks without
    /// arguments).
    Deleted,
}

/// Why a callback stops.
#[derive(Debug)]
pub enum CallbackError {
    /// Unsubscribe quietly (zc.zk's `CancelWatch`).
    Cancel,
    /// The callback failed: it is unsubscribed and the error logged.
    Failed(Box<dyn std::error::Error + Send + Sync>),
}

impl<E: Into<Box<dyn std::error::Error + Send + Sync>>> From<E> for CallbackError {
    fn from(e: E) -> Self {
        CallbackError::Failed(e.into())
    }
}

/// What a callback returns.
pub type CallbackResult = Result<(), CallbackError>;

type Callback<T> = Arc<dyn Fn(&Change<T>) -> CallbackResult + Send + Sync>;

/// Keeps a view's tasks running while any handle or stream of it exists.
#[derive(Debug)]
pub(crate) struct Alive(#[allow(dead_code)] watch::Sender<()>);

impl Alive {
    /// A liveness token and the receiver its tasks watch.
    pub(crate) fn new() -> (Arc<Alive>, watch::Receiver<()>) {
        let (tx, rx) = watch::channel(());
        (Arc::new(Alive(tx)), rx)
    }
}

/// Resolves once every [`Alive`] clone is dropped.
pub(crate) async fn gone(rx: &mut watch::Receiver<()>) {
    while rx.changed().await.is_ok() {}
}

/// A published state of a view.
#[derive(Debug)]
pub(crate) struct Snapshot<T> {
    pub(crate) value: Arc<T>,
    pub(crate) deleted: bool,
    /// Bumped on every published change, so equal values published twice still differ.
    pub(crate) serial: u64,
    /// The zxid of the state (mzxid for data), so an older read never replaces a newer write.
    pub(crate) zxid: i64,
}

impl<T> Clone for Snapshot<T> {
    fn clone(&self) -> Self {
        Snapshot {
            value: self.value.clone(),
            deleted: self.deleted,
            serial: self.serial,
            zxid: self.zxid,
        }
    }
}

impl<T> Snapshot<T> {
    pub(crate) fn change(&self) -> Change<T> {
        if self.deleted {
            Change::Deleted
        } else {
            Change::Changed(self.value.clone())
        }
    }
}

/// The subscriber list of one view.
pub(crate) struct Subscribers<T> {
    list: Mutex<Vec<(u64, Callback<T>)>>,
    next: Mutex<u64>,
    what: &'static str,
    path: String,
}

impl<T> std::fmt::Debug for Subscribers<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscribers")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl<T: Send + Sync + 'static> Subscribers<T> {
    pub(crate) fn new(what: &'static str, path: &str) -> Arc<Self> {
        Arc::new(Subscribers {
            list: Mutex::new(Vec::new()),
            next: Mutex::new(0),
            what,
            path: path.to_owned(),
        })
    }

    /// Calls `cb` now with `current`; keeps it if that call succeeded. A first call that
    /// cancels is not an error, but the callback is not kept.
    pub(crate) fn subscribe(&self, current: &Snapshot<T>, cb: Callback<T>) -> crate::Result<()> {
        match catch_unwind(AssertUnwindSafe(|| cb(&current.change()))) {
            Ok(Ok(())) => {}
            Ok(Err(CallbackError::Cancel)) => return Ok(()),
            Ok(Err(CallbackError::Failed(e))) => return Err(crate::Error::Callback(e.to_string())),
            Err(_) => return Err(crate::Error::Callback("callback panicked".into())),
        }
        let id = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            *next += 1;
            *next
        };
        self.list
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((id, cb));
        Ok(())
    }

    /// Runs every callback with `change`, in subscription order, dropping those that fail.
    pub(crate) fn notify(&self, change: &Change<T>) {
        let callbacks: Vec<(u64, Callback<T>)> =
            self.list.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut failed = Vec::new();
        for (id, cb) in callbacks {
            match catch_unwind(AssertUnwindSafe(|| cb(change))) {
                Ok(Ok(())) => {}
                Ok(Err(CallbackError::Cancel)) => {
                    debug!(target: "zc_zk", what = self.what, path = %self.path, "callback cancelled");
                    failed.push(id);
                }
                Ok(Err(CallbackError::Failed(e))) => {
                    error!(target: "zc_zk", what = self.what, path = %self.path, error = %e, "callback failed; unsubscribed");
                    failed.push(id);
                }
                Err(_) => {
                    error!(target: "zc_zk", what = self.what, path = %self.path, "callback panicked; unsubscribed");
                    failed.push(id);
                }
            }
        }
        if !failed.is_empty() {
            self.list
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|(id, _)| !failed.contains(id));
        }
    }

    /// How many callbacks are subscribed.
    pub(crate) fn len(&self) -> usize {
        self.list.lock().map(|l| l.len()).unwrap_or(0)
    }
}

/// Runs callbacks for every published snapshot until the view is gone.
pub(crate) async fn notifier<T: Send + Sync + 'static>(
    mut rx: watch::Receiver<Snapshot<T>>,
    subscribers: Arc<Subscribers<T>>,
    mut alive: watch::Receiver<()>,
) {
    rx.borrow_and_update();
    loop {
        tokio::select! {
            changed = rx.changed() => if changed.is_err() { return },
            () = gone(&mut alive) => return,
        }
        let snapshot = rx.borrow_and_update().clone();
        subscribers.notify(&snapshot.change());
        if snapshot.deleted {
            break;
        }
    }
}

/// A stream of a view's changes. Level-triggered: a slow reader sees the latest state, not
/// every intermediate one.
#[derive(Debug)]
pub struct Changes<T> {
    rx: watch::Receiver<Snapshot<T>>,
    done: bool,
    _alive: Arc<Alive>,
}

impl<T> Changes<T> {
    pub(crate) fn new(mut rx: watch::Receiver<Snapshot<T>>, alive: Arc<Alive>) -> Self {
        rx.mark_changed();
        Changes {
            rx,
            done: false,
            _alive: alive,
        }
    }

    /// The current state at once, then each change; `Deleted` is the last item, and `None`
    /// follows it (or the end of the session).
    pub async fn next(&mut self) -> Option<Change<T>> {
        if self.done {
            return None;
        }
        if self.rx.changed().await.is_err() {
            self.done = true;
            return None;
        }
        let snapshot = self.rx.borrow_and_update().clone();
        if snapshot.deleted {
            self.done = true;
        }
        Some(snapshot.change())
    }
}

/// Waits until `condition` holds for the published value, or `timeout`.
pub(crate) async fn wait_for<T>(
    mut rx: watch::Receiver<Snapshot<T>>,
    timeout: std::time::Duration,
    condition: impl Fn(&T) -> bool,
) -> crate::Result<()> {
    let wait = async {
        loop {
            if condition(&rx.borrow_and_update().value) {
                return Ok(());
            }
            if rx.changed().await.is_err() {
                return Err(zk_session::Error::Closed.into());
            }
        }
    };
    tokio::time::timeout(timeout, wait)
        .await
        .map_err(|_| zk_session::Error::Timeout)?
}
