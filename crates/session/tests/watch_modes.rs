//! One session holding a persistent recursive watch on a path beside its one-shot watches on
//! the same path, against a real ZooKeeper server (zk-testkit's, 3.8).
//!
//! Before 3.9 the server keeps one watch mode per path and session (ZOOKEEPER-4466): the
//! watch set last decides for both. Unhandled, a data watch set after the recursive one turns
//! it into a one-shot that no longer sees the descendants, and a recursive watch set after a
//! children watch silences it (a recursive watch never reports NodeChildrenChanged). These
//! tests hold the client to each order, and to a reconnect, whose SetWatches sets the
//! recursive watches last.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Waker};
use std::time::Duration;

use bytes::Bytes;

use tokio::time::timeout;
use zk_session::{
    Client, CreateOptions, Error, EventType, OneshotWatcher, PersistentWatcher, SessionConfig,
    SessionEvents, SessionState, Stat, WatcherType,
};
use zk_testkit::{FaultProxy, shared_server, unique_path};

const WAIT: Duration = Duration::from_secs(10);

async fn connect(connect_string: &str) -> Client {
    Client::connect_with(
        connect_string,
        SessionConfig {
            session_timeout: Duration::from_secs(10),
            ..SessionConfig::default()
        },
    )
    .await
    .expect("connect")
}

/// A session that keeps at most one request in flight: the rest wait in its queue.
async fn one_at_a_time() -> Client {
    Client::connect_with(
        &shared_server().connect_string(),
        SessionConfig {
            session_timeout: Duration::from_secs(10),
            max_in_flight: 1,
            ..SessionConfig::default()
        },
    )
    .await
    .expect("connect")
}

/// What a read of a node returns.
type Read = Result<(Bytes, Stat), Error>;

/// `n` reads of `path`, each polled once (which submits it), to await later.
fn submit_reads<'a>(
    c: &'a Client,
    path: &'a str,
    n: usize,
) -> Vec<Pin<Box<impl Future<Output = Read> + 'a>>> {
    let mut cx = Context::from_waker(Waker::noop());
    (0..n)
        .map(|_| {
            let mut call = Box::pin(c.get_data(path));
            assert!(call.as_mut().poll(&mut cx).is_pending());
            call
        })
        .collect()
}

/// A fresh persistent node with one child, `c`.
async fn parent_with_child(c: &Client, name: &str) -> String {
    let p = unique_path(name);
    c.create(&p, b"", &CreateOptions::persistent())
        .await
        .unwrap();
    c.create(&format!("{p}/c"), b"", &CreateOptions::persistent())
        .await
        .unwrap();
    p
}

/// Creates `parent/name` as `c`.
async fn create_child(c: &Client, parent: &str, name: &str) {
    c.create(
        &format!("{parent}/{name}"),
        b"",
        &CreateOptions::persistent(),
    )
    .await
    .unwrap();
}

/// Waits up to `WAIT` for `w` to fire (else fails with `what`), and checks its event type.
async fn fires(w: OneshotWatcher, want: EventType, what: &str) {
    let ev = timeout(WAIT, w.changed()).await.expect(what);
    assert_eq!(ev.event_type, want);
}

/// Waits up to `WAIT` for a session state that `want` accepts (else fails with `what`).
async fn wait_session(events: &mut SessionEvents, want: impl Fn(SessionState) -> bool, what: &str) {
    timeout(WAIT, async {
        while let Some(ev) = events.next().await {
            if want(ev.state) {
                return;
            }
        }
    })
    .await
    .expect(what);
}

/// The next event of `w` whose type is `want`, skipping others, within `WAIT`.
async fn next_of(w: &mut PersistentWatcher, want: EventType) -> String {
    timeout(WAIT, async {
        loop {
            let ev = w.next().await.expect("watcher open");
            if ev.event_type == want {
                return ev.path;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {want:?} event within {WAIT:?}"))
}

#[tokio::test]
async fn a_data_watch_set_after_a_recursive_one_leaves_it_seeing_descendants() {
    let c = connect(&shared_server().connect_string()).await;
    let other = connect(&shared_server().connect_string()).await;
    let p = parent_with_child(&c, "modes-data-after").await;
    let mut r = c.add_watch(&p, true).await.unwrap();
    let (_, _, data) = c.get_data_watch(&p).await.unwrap();
    other.delete(&format!("{p}/c"), None).await.unwrap();
    assert_eq!(
        next_of(&mut r, EventType::NodeDeleted).await,
        format!("{p}/c")
    );
    // The data watch still fires once for the parent's own change, and the recursive one
    // keeps going after it.
    other.set_data(&p, b"1", None).await.unwrap();
    fires(data, EventType::NodeDataChanged, "data watch fires").await;
    create_child(&other, &p, "d").await;
    assert_eq!(
        next_of(&mut r, EventType::NodeCreated).await,
        format!("{p}/d")
    );
    other.close().await;
    c.close().await;
}

#[tokio::test]
async fn an_exists_watch_set_after_a_recursive_one_leaves_it_seeing_descendants() {
    let c = connect(&shared_server().connect_string()).await;
    let other = connect(&shared_server().connect_string()).await;
    let p = parent_with_child(&c, "modes-exists-after").await;
    let mut r = c.add_watch(&p, true).await.unwrap();
    let (_, exists) = c.exists_watch(&p).await.unwrap();
    other.delete(&format!("{p}/c"), None).await.unwrap();
    assert_eq!(
        next_of(&mut r, EventType::NodeDeleted).await,
        format!("{p}/c")
    );
    // Creations reach a recursive watch only through the server's data watch table, the one
    // an exists watch would have reset.
    create_child(&other, &p, "d").await;
    assert_eq!(
        next_of(&mut r, EventType::NodeCreated).await,
        format!("{p}/d")
    );
    other.delete(&format!("{p}/d"), None).await.unwrap();
    other.delete(&p, None).await.unwrap();
    fires(exists, EventType::NodeDeleted, "exists watch fires").await;
    other.close().await;
    c.close().await;
}

#[tokio::test]
async fn a_children_watch_set_before_a_recursive_one_still_fires() {
    let c = connect(&shared_server().connect_string()).await;
    let other = connect(&shared_server().connect_string()).await;
    let p = parent_with_child(&c, "modes-children-before").await;
    let (_, children) = c.get_children_watch(&p).await.unwrap();
    let mut r = c.add_watch(&p, true).await.unwrap();
    create_child(&other, &p, "d").await;
    fires(
        children,
        EventType::NodeChildrenChanged,
        "children watch fires",
    )
    .await;
    assert_eq!(
        next_of(&mut r, EventType::NodeCreated).await,
        format!("{p}/d")
    );
    other.close().await;
    c.close().await;
}

#[tokio::test]
async fn a_children_watch_set_after_a_recursive_one_fires_and_leaves_it_whole() {
    let c = connect(&shared_server().connect_string()).await;
    let other = connect(&shared_server().connect_string()).await;
    let p = parent_with_child(&c, "modes-children-after").await;
    let mut r = c.add_watch(&p, true).await.unwrap();
    let (_, children) = c.get_children_watch(&p).await.unwrap();
    other.delete(&format!("{p}/c"), None).await.unwrap();
    fires(
        children,
        EventType::NodeChildrenChanged,
        "children watch fires",
    )
    .await;
    assert_eq!(
        next_of(&mut r, EventType::NodeDeleted).await,
        format!("{p}/c")
    );
    other.close().await;
    c.close().await;
}

#[tokio::test]
async fn dropping_a_data_watcher_beside_a_recursive_watch_keeps_the_recursive_watch() {
    let c = connect(&shared_server().connect_string()).await;
    let other = connect(&shared_server().connect_string()).await;
    let p = parent_with_child(&c, "modes-drop-data").await;
    let (_, _, data) = c.get_data_watch(&p).await.unwrap();
    let mut r = c.add_watch(&p, true).await.unwrap();
    drop(data);
    c.sync("/").await.unwrap();
    other.delete(&format!("{p}/c"), None).await.unwrap();
    assert_eq!(
        next_of(&mut r, EventType::NodeDeleted).await,
        format!("{p}/c")
    );
    create_child(&other, &p, "d").await;
    assert_eq!(
        next_of(&mut r, EventType::NodeCreated).await,
        format!("{p}/d")
    );
    other.close().await;
    c.close().await;
}

#[tokio::test]
async fn a_data_watch_outlives_the_recursive_watch_beside_it() {
    let c = connect(&shared_server().connect_string()).await;
    let other = connect(&shared_server().connect_string()).await;
    let p = parent_with_child(&c, "modes-outlive").await;
    let r = c.add_watch(&p, true).await.unwrap();
    let (_, _, data) = c.get_data_watch(&p).await.unwrap();
    drop(r);
    c.sync("/").await.unwrap();
    other.set_data(&p, b"1", None).await.unwrap();
    fires(data, EventType::NodeDataChanged, "data watch fires").await;
    other.close().await;
    c.close().await;
}

#[tokio::test]
async fn after_a_reconnect_both_the_children_watch_and_the_recursive_watch_fire() {
    let proxy = FaultProxy::start(shared_server().addr()).unwrap();
    let c = connect(&proxy.connect_string()).await;
    let other = connect(&shared_server().connect_string()).await;
    let p = parent_with_child(&c, "modes-reconnect").await;
    let mut r = c.add_watch(&p, true).await.unwrap();
    let (_, children) = c.get_children_watch(&p).await.unwrap();
    let (_, _, data) = c.get_data_watch(&p).await.unwrap();
    let mut events = c.session_events();
    proxy.cut();
    wait_session(
        &mut events,
        |s| s == SessionState::Disconnected,
        "disconnected",
    )
    .await;
    wait_session(&mut events, SessionState::is_connected, "reconnected").await;
    // Both re-armed by SetWatches: wait until the server has processed them (replies and
    // SetWatches come in order, so a reply after the reconnect is after them).
    c.sync("/").await.unwrap();
    create_child(&other, &p, "d").await;
    fires(
        children,
        EventType::NodeChildrenChanged,
        "children watch fires after the reconnect",
    )
    .await;
    assert_eq!(
        next_of(&mut r, EventType::NodeCreated).await,
        format!("{p}/d")
    );
    other.delete(&format!("{p}/c"), None).await.unwrap();
    assert_eq!(
        next_of(&mut r, EventType::NodeDeleted).await,
        format!("{p}/c")
    );
    other.set_data(&p, b"1", None).await.unwrap();
    fires(data, EventType::NodeDataChanged, "data watch fires").await;
    other.close().await;
    c.close().await;
}

#[tokio::test]
async fn watches_pipelined_with_the_recursive_watch_all_fire() {
    let c = connect(&shared_server().connect_string()).await;
    let other = connect(&shared_server().connect_string()).await;
    let p = parent_with_child(&c, "modes-pipelined").await;
    // Sent back to back: the children watch before the addWatch, the data watch after it.
    let (children, r, data) = tokio::join!(
        c.get_children_watch(&p),
        c.add_watch(&p, true),
        c.get_data_watch(&p)
    );
    let ((_, children), mut r, (_, _, data)) = (children.unwrap(), r.unwrap(), data.unwrap());
    create_child(&other, &p, "d").await;
    fires(
        children,
        EventType::NodeChildrenChanged,
        "children watch fires",
    )
    .await;
    assert_eq!(
        next_of(&mut r, EventType::NodeCreated).await,
        format!("{p}/d")
    );
    other.set_data(&p, b"1", None).await.unwrap();
    fires(data, EventType::NodeDataChanged, "data watch fires").await;
    create_child(&other, &p, "e").await;
    assert_eq!(
        next_of(&mut r, EventType::NodeCreated).await,
        format!("{p}/e")
    );
    other.close().await;
    c.close().await;
}

#[tokio::test]
async fn one_shot_watches_set_after_a_persistent_one_leave_it_whole() {
    let c = connect(&shared_server().connect_string()).await;
    let other = connect(&shared_server().connect_string()).await;
    let p = parent_with_child(&c, "modes-persistent").await;
    let mut persistent = c.add_watch(&p, false).await.unwrap();
    let (_, _, data) = c.get_data_watch(&p).await.unwrap();
    let (_, children) = c.get_children_watch(&p).await.unwrap();
    // Each one-shot fires once; the persistent watch sees every change, the second ones too.
    for round in 0..2 {
        other.set_data(&p, b"x", None).await.unwrap();
        assert_eq!(
            next_of(&mut persistent, EventType::NodeDataChanged).await,
            p
        );
        let d = format!("{p}/d{round}");
        other
            .create(&d, b"", &CreateOptions::persistent())
            .await
            .unwrap();
        assert_eq!(
            next_of(&mut persistent, EventType::NodeChildrenChanged).await,
            p,
            "round {round}"
        );
    }
    fires(data, EventType::NodeDataChanged, "data watch fires").await;
    fires(
        children,
        EventType::NodeChildrenChanged,
        "children watch fires",
    )
    .await;
    other.close().await;
    c.close().await;
}

#[tokio::test]
async fn a_persistent_watch_outlives_dropped_one_shot_watchers_beside_it() {
    let c = connect(&shared_server().connect_string()).await;
    let other = connect(&shared_server().connect_string()).await;
    let p = parent_with_child(&c, "modes-persistent-drop").await;
    let (_, _, data) = c.get_data_watch(&p).await.unwrap();
    let (_, children) = c.get_children_watch(&p).await.unwrap();
    let mut persistent = c.add_watch(&p, false).await.unwrap();
    drop((data, children));
    c.sync("/").await.unwrap();
    other.set_data(&p, b"x", None).await.unwrap();
    assert_eq!(
        next_of(&mut persistent, EventType::NodeDataChanged).await,
        p
    );
    create_child(&other, &p, "d").await;
    assert_eq!(
        next_of(&mut persistent, EventType::NodeChildrenChanged).await,
        p
    );
    other.close().await;
    c.close().await;
}

#[tokio::test]
async fn a_data_watcher_dropped_while_a_recursive_watch_waits_in_the_queue_leaves_it_whole() {
    let c = one_at_a_time().await;
    let other = connect(&shared_server().connect_string()).await;
    let p = parent_with_child(&c, "modes-queued-add").await;
    let (_, _, data) = c.get_data_watch(&p).await.unwrap();
    // One read goes out and seven wait, the addWatch behind them (eight round trips, while
    // the commands are taken in microseconds); then the data watcher goes.
    let reads = submit_reads(&c, &p, 8);
    let (r, ()) = tokio::join!(c.add_watch(&p, true), async { drop(data) });
    for read in reads {
        read.await.unwrap();
    }
    let mut r = r.unwrap();
    create_child(&other, &p, "d").await;
    assert_eq!(
        next_of(&mut r, EventType::NodeCreated).await,
        format!("{p}/d")
    );
    other.close().await;
    c.close().await;
}

#[tokio::test]
async fn a_data_watcher_dropped_while_another_on_its_path_is_on_its_way_leaves_that_one_armed() {
    let c = connect(&shared_server().connect_string()).await;
    let other = connect(&shared_server().connect_string()).await;
    let p = parent_with_child(&c, "modes-pending-data").await;
    let (_, _, first) = c.get_data_watch(&p).await.unwrap();
    let (second, ()) = tokio::join!(c.get_data_watch(&p), async { drop(first) });
    let (_, _, second) = second.unwrap();
    other.set_data(&p, b"1", None).await.unwrap();
    fires(
        second,
        EventType::NodeDataChanged,
        "the second data watch fires",
    )
    .await;
    other.close().await;
    c.close().await;
}

#[tokio::test]
async fn a_recursive_watch_kept_for_a_data_watcher_is_removed_once_that_watcher_fires() {
    let c = connect(&shared_server().connect_string()).await;
    let other = connect(&shared_server().connect_string()).await;
    let p = parent_with_child(&c, "modes-deferred").await;
    let r = c.add_watch(&p, true).await.unwrap();
    let (_, _, data) = c.get_data_watch(&p).await.unwrap();
    // The data watch went without its flag: the recursive watch carries it, and stays.
    drop(r);
    c.sync("/").await.unwrap();
    c.check_watches(&p, WatcherType::Any).await.unwrap();
    other.set_data(&p, b"1", None).await.unwrap();
    fires(data, EventType::NodeDataChanged, "data watch fires").await;
    // Nothing relies on the server watch any more: it goes.
    timeout(WAIT, async {
        while c.check_watches(&p, WatcherType::Any).await != Err(Error::NoWatcher) {
            c.sync("/").await.unwrap();
        }
    })
    .await
    .expect("the server watch is removed");
    other.close().await;
    c.close().await;
}
