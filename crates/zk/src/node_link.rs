//! What a [`Registration`](crate::Registration)'s handle and the task keeping one node
//! registered share: the node's status and the commands for the task (new properties,
//! unregister).
//!
//! Commands are rare, so they wait in a queue behind a lock with a wake-up, not in a channel
//! per node: tokio's channels allocate over a kilobyte each up front (a block of slots, a set
//! of wakers), which a process registering many addresses pays per node.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::registration::RegistrationStatus;

/// The shared half.
#[derive(Debug)]
struct Link<C> {
    state: Mutex<State<C>>,
    /// Wakes the task: a command came, or the handle is gone.
    to_task: Notify,
    /// Wakes the status waiters: the status changed, or the task ended.
    status_changed: Notify,
}

#[derive(Debug)]
struct State<C> {
    status: RegistrationStatus,
    commands: VecDeque<C>,
    handle_gone: bool,
    task_gone: bool,
}

impl<C> Link<C> {
    fn lock(&self) -> MutexGuard<'_, State<C>> {
        // Nothing panics while holding the lock; a poisoned one still holds consistent data.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The handle's end: reads the status, sends commands. Dropping it tells the task.
#[derive(Debug)]
pub(crate) struct NodeHandle<C> {
    link: Arc<Link<C>>,
}

/// The task's command end. Dropping it (the task ended) tells the handle.
#[derive(Debug)]
pub(crate) struct Commands<C> {
    link: Arc<Link<C>>,
}

/// The task's status end.
/// A second sender of commands, for the task's own watch (see `parent_watch`): unlike the
/// handle, dropping it does not end the task.
#[derive(Debug)]
pub(crate) struct Poker<C> {
    link: Arc<Link<C>>,
}

#[derive(Debug)]
pub(crate) struct StatusSetter<C> {
    link: Arc<Link<C>>,
}

/// A linked set, starting with `status`: the handle's end and the task's two.
pub(crate) fn link<C>(status: RegistrationStatus) -> (NodeHandle<C>, StatusSetter<C>, Commands<C>) {
    let link = Arc::new(Link {
        state: Mutex::new(State {
            status,
            commands: VecDeque::new(),
            handle_gone: false,
            task_gone: false,
        }),
        to_task: Notify::new(),
        status_changed: Notify::new(),
    });
    (
        NodeHandle { link: link.clone() },
        StatusSetter { link: link.clone() },
        Commands { link },
    )
}

impl<C> NodeHandle<C> {
    /// The current status.
    pub(crate) fn status(&self) -> RegistrationStatus {
        self.link.lock().status.clone()
    }

    /// Queues `command` for the task; gives it back when the task has ended.
    pub(crate) fn send(&self, command: C) -> Result<(), C> {
        {
            let mut state = self.link.lock();
            if state.task_gone {
                return Err(command);
            }
            state.commands.push_back(command);
        }
        self.link.to_task.notify_one();
        Ok(())
    }

    /// Waits until the status satisfies `condition` or the task has ended.
    pub(crate) async fn wait_until(&self, condition: impl Fn(&RegistrationStatus) -> bool) {
        loop {
            let changed = self.link.status_changed.notified();
            tokio::pin!(changed);
            // Registered before looking, so a change made meanwhile is not missed.
            changed.as_mut().enable();
            {
                let state = self.link.lock();
                if state.task_gone || condition(&state.status) {
                    return;
                }
            }
            changed.await;
        }
    }
}

impl<C> Drop for NodeHandle<C> {
    fn drop(&mut self) {
        self.link.lock().handle_gone = true;
        self.link.to_task.notify_one();
    }
}

impl<C> Commands<C> {
    /// A sender for the task's own watch.
    pub(crate) fn poker(&self) -> Poker<C> {
        Poker {
            link: self.link.clone(),
        }
    }

    /// The next command, or `None` once the handle is gone and every command was taken.
    /// Cancel-safe: a command is only taken when returned.
    pub(crate) async fn recv(&mut self) -> Option<C> {
        loop {
            {
                let mut state = self.link.lock();
                if let Some(command) = state.commands.pop_front() {
                    return Some(command);
                }
                if state.handle_gone {
                    return None;
                }
            }
            // A permit is kept for a notification sent while nobody waited.
            self.link.to_task.notified().await;
        }
    }
}

impl<C> Clone for Poker<C> {
    fn clone(&self) -> Self {
        Self {
            link: self.link.clone(),
        }
    }
}

impl<C> Poker<C> {
    /// Queues `command` for the task, unless it has ended.
    pub(crate) fn send(&self, command: C) {
        {
            let mut state = self.link.lock();
            if state.task_gone {
                return;
            }
            state.commands.push_back(command);
        }
        self.link.to_task.notify_one();
    }
}

impl<C> StatusSetter<C> {
    /// Sets the status; waiters wake only when it changes.
    pub(crate) fn set_status(&self, status: RegistrationStatus) {
        {
            let mut state = self.link.lock();
            if state.status == status {
                return;
            }
            state.status = status;
        }
        self.link.status_changed.notify_waiters();
    }
}

impl<C> Drop for Commands<C> {
    fn drop(&mut self) {
        self.link.lock().task_gone = true;
        self.link.status_changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn commands_arrive_in_order_and_none_after_the_handle_is_dropped() {
        let (handle, _status, mut task) = link::<u32>(RegistrationStatus::Registered);
        handle.send(1).expect("task alive");
        handle.send(2).expect("task alive");
        drop(handle);
        assert_eq!(task.recv().await, Some(1));
        assert_eq!(task.recv().await, Some(2));
        assert_eq!(task.recv().await, None);
    }

    #[tokio::test]
    async fn a_command_sent_while_the_task_waits_wakes_it() {
        let (handle, _status, mut task) = link::<u32>(RegistrationStatus::Registered);
        let waiter = tokio::spawn(async move { task.recv().await });
        tokio::task::yield_now().await;
        handle.send(7).expect("task alive");
        let got = tokio::time::timeout(Duration::from_secs(5), waiter).await;
        assert_eq!(got.expect("woken").expect("no panic"), Some(7));
    }

    #[tokio::test]
    async fn a_dropped_receive_loses_no_command() {
        let (handle, _status, mut task) = link::<u32>(RegistrationStatus::Registered);
        // A receive abandoned while waiting (as `select!` does) ...
        let abandoned = tokio::time::timeout(Duration::from_millis(1), task.recv()).await;
        assert!(abandoned.is_err());
        handle.send(3).expect("task alive");
        // ... leaves the command for the next one.
        assert_eq!(task.recv().await, Some(3));
    }

    #[tokio::test]
    async fn a_poke_reaches_the_task_and_outliving_the_handle_does_not_keep_it() {
        let (handle, _status, mut task) = link::<u32>(RegistrationStatus::Registered);
        let poker = task.poker();
        poker.send(4);
        assert_eq!(task.recv().await, Some(4));
        drop(handle);
        assert_eq!(task.recv().await, None);
        drop(task);
        // After the task ended a poke is dropped.
        poker.send(5);
    }

    #[tokio::test]
    async fn sending_to_an_ended_task_gives_the_command_back() {
        let (handle, _status, task) = link::<u32>(RegistrationStatus::Registered);
        drop(task);
        assert_eq!(handle.send(5), Err(5));
    }

    #[tokio::test]
    async fn status_waiters_see_a_change_and_the_task_ending() {
        let (handle, status, task) = link::<u32>(RegistrationStatus::Recovering);
        let handle = Arc::new(handle);
        let h = handle.clone();
        let waiter = tokio::spawn(async move {
            h.wait_until(|s| *s == RegistrationStatus::Registered).await;
        });
        tokio::task::yield_now().await;
        status.set_status(RegistrationStatus::Registered);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken by the change")
            .expect("no panic");
        assert_eq!(handle.status(), RegistrationStatus::Registered);

        let h = handle.clone();
        let waiter = tokio::spawn(async move {
            h.wait_until(|s| *s == RegistrationStatus::Removed).await;
        });
        tokio::task::yield_now().await;
        drop(task);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken by the task ending")
            .expect("no panic");
    }
}
