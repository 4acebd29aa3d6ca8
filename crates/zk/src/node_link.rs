//! What a [`Registration`](crate::Registration)'s handle and the task keeping one node
//! registered share: the node's status and the commands for the task (new properties,
//! unregister).
//!
//! Commands are rare, so they wait in a queue behind a lock with a wake-up, not in a channel
//! per node: tokio's channels allocate over a kilobyte each up front (a block of slots, a set
//! of wakers), which a process registering many addresses pays per node.
//!
//! For the same reason a task with nothing to wait for but its commands can *park*
//! ([`Commands::park`]): it ends, leaving what it needs to go on ([`Resume`]) in the link, and
//! the next command, poke or dropped handle resumes it (spawns it again). A registration
//! under a shared parent watch is parked nearly all its life, so a process holding many
//! costs no task, and no task's memory, per node.

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

struct State<C> {
    status: RegistrationStatus,
    commands: VecDeque<C>,
    handle_gone: bool,
    task_gone: bool,
    /// The parked task, resumed by the next command, poke or the handle's drop.
    parked: Option<Box<dyn Resume>>,
    /// A [`Poker::resume`] found no parked task: the task was running, and may be about to
    /// park on what it saw before the poke. Its next park resumes at once (and clears this).
    poked: bool,
}

impl<C: std::fmt::Debug> std::fmt::Debug for State<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("status", &self.status)
            .field("commands", &self.commands)
            .field("handle_gone", &self.handle_gone)
            .field("task_gone", &self.task_gone)
            .field("parked", &self.parked.is_some())
            .field("poked", &self.poked)
            .finish()
    }
}

/// What a parked task leaves in its link to go on with ([`Commands::park`]).
pub(crate) trait Resume: Send {
    /// Starts the task again (spawns it). Called without the link's lock held.
    fn resume(self: Box<Self>);
}

impl<C> Link<C> {
    fn lock(&self) -> MutexGuard<'_, State<C>> {
        // Nothing panics while holding the lock; a poisoned one still holds consistent data.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tells the task something changed in `state`: resumes it when parked, else wakes it.
    fn wake_task(&self, mut state: MutexGuard<'_, State<C>>) {
        let parked = state.parked.take();
        drop(state);
        match parked {
            Some(parked) => parked.resume(),
            None => self.to_task.notify_one(),
        }
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

/// A second sender of commands, for the task's own watch (see `parent_watch`): unlike the
/// handle, dropping it does not end the task.
#[derive(Debug)]
pub(crate) struct Poker<C> {
    link: Arc<Link<C>>,
}

/// The task's status end.
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
            parked: None,
            poked: false,
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
        let mut state = self.link.lock();
        if state.task_gone {
            return Err(command);
        }
        state.commands.push_back(command);
        self.link.wake_task(state);
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
        let mut state = self.link.lock();
        state.handle_gone = true;
        self.link.wake_task(state);
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

    /// The next command without waiting: `Some(None)` once the handle is gone and every
    /// command was taken, `None` when nothing waits.
    pub(crate) fn try_recv(&mut self) -> Option<Option<C>> {
        let mut state = self.link.lock();
        match state.commands.pop_front() {
            Some(command) => Some(Some(command)),
            None if state.handle_gone => Some(None),
            None => None,
        }
    }

    /// Whether the handle is gone and no command is left: all the task has left to do is
    /// end (deleting its node).
    pub(crate) fn handle_gone_only(&self) -> bool {
        let state = self.link.lock();
        state.handle_gone && state.commands.is_empty()
    }

    /// Whether nothing waits for the task: no command queued, the handle still there. (A
    /// task parks only then; otherwise it would be resumed at once.)
    pub(crate) fn idle(&self) -> bool {
        let state = self.link.lock();
        state.commands.is_empty() && !state.handle_gone
    }

    /// Parks the task: `make` turns this end into what resumes the task, which the link keeps
    /// until the next command, poke or the handle's drop. When one is already waiting, the
    /// task is resumed at once. The caller's task then ends.
    pub(crate) fn park(self, make: impl FnOnce(Self) -> Box<dyn Resume>) {
        let link = self.link.clone();
        let mut state = link.lock();
        let parked = make(self);
        if state.commands.is_empty() && !state.handle_gone && !state.poked {
            state.parked = Some(parked);
        } else {
            state.poked = false;
            drop(state);
            parked.resume();
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
        let mut state = self.link.lock();
        if state.task_gone {
            return;
        }
        state.commands.push_back(command);
        self.link.wake_task(state);
    }

    /// Resumes the task if it is parked, queuing nothing. A running task is only marked: if
    /// it parks next (on a state it read before this call), it is resumed at once, so a poke
    /// racing with a park is never lost.
    pub(crate) fn resume(&self) {
        let parked = {
            let mut state = self.link.lock();
            let parked = state.parked.take();
            if parked.is_none() && !state.task_gone {
                state.poked = true;
            }
            parked
        };
        if let Some(parked) = parked {
            parked.resume();
        }
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

    /// A parked "task": resuming hands its command end back through a channel.
    struct Resumed(Commands<u32>, std::sync::mpsc::Sender<Commands<u32>>);

    impl Resume for Resumed {
        fn resume(self: Box<Self>) {
            let Resumed(commands, to) = *self;
            let _ = to.send(commands);
        }
    }

    fn park(task: Commands<u32>) -> std::sync::mpsc::Receiver<Commands<u32>> {
        let (to, resumed) = std::sync::mpsc::channel();
        task.park(|commands| Box::new(Resumed(commands, to)));
        resumed
    }

    #[tokio::test]
    async fn a_parked_task_is_resumed_by_the_next_command_which_it_then_receives() {
        let (handle, _status, task) = link::<u32>(RegistrationStatus::Registered);
        let resumed = park(task);
        assert!(resumed.try_recv().is_err(), "parked until something comes");
        handle.send(8).expect("a parked task is alive");
        let mut task = resumed.try_recv().expect("resumed by the command");
        assert_eq!(task.recv().await, Some(8));
    }

    #[tokio::test]
    async fn a_parked_task_is_resumed_by_a_poke_and_by_the_handle_going() {
        let (handle, _status, task) = link::<u32>(RegistrationStatus::Registered);
        let poker = task.poker();
        let resumed = park(task);
        poker.send(9);
        let mut task = resumed.try_recv().expect("resumed by the poke");
        assert_eq!(task.recv().await, Some(9));
        let resumed = park(task);
        drop(handle);
        let mut task = resumed.try_recv().expect("resumed by the handle's drop");
        assert_eq!(task.recv().await, None);
    }

    #[tokio::test]
    async fn a_resume_that_finds_the_task_running_resumes_its_next_park_once() {
        let (_handle, _status, task) = link::<u32>(RegistrationStatus::Registered);
        let poker = task.poker();
        let resumed = park(task);
        poker.resume();
        let task = resumed.try_recv().expect("a parked task is resumed");
        // Poked while running (about to park on what it saw before): not lost.
        poker.resume();
        let task = park(task)
            .try_recv()
            .expect("the next park resumes at once");
        // Only once: the mark is cleared.
        let resumed = park(task);
        assert!(resumed.try_recv().is_err(), "parked again");
    }

    #[tokio::test]
    async fn a_task_is_idle_only_with_no_command_queued_and_the_handle_there() {
        let (handle, _status, mut task) = link::<u32>(RegistrationStatus::Registered);
        assert!(task.idle());
        handle.send(11).expect("task alive");
        assert!(!task.idle());
        assert_eq!(task.recv().await, Some(11));
        assert!(task.idle());
        drop(handle);
        assert!(!task.idle());
    }

    #[tokio::test]
    async fn parking_with_a_command_waiting_resumes_at_once() {
        let (handle, _status, task) = link::<u32>(RegistrationStatus::Registered);
        handle.send(10).expect("task alive");
        let mut task = park(task).try_recv().expect("resumed at once");
        assert_eq!(task.recv().await, Some(10));
        drop(handle);
        assert!(
            park(task).try_recv().is_ok(),
            "a gone handle resumes at once too"
        );
    }

    #[tokio::test]
    async fn a_parked_task_keeps_its_status_and_waiters_still_see_it() {
        let (handle, status, task) = link::<u32>(RegistrationStatus::Recovering);
        let _resumed = park(task);
        status.set_status(RegistrationStatus::Registered);
        assert_eq!(handle.status(), RegistrationStatus::Registered);
        handle
            .wait_until(|s| *s == RegistrationStatus::Registered)
            .await;
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
