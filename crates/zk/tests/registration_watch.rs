//! How registrations notice their nodes' deletion, against a real ZooKeeper server (3.8): data
//! watches on the nodes armed in batches with SetWatches (the default; `SharedWatch::Always`
//! here) and an exists watch sent with each create (`SharedWatch::Never`), including deletions
//! made while the client was disconnected.

use std::time::Duration;

use zc_zk::zk_session::{self, CreateOptions, SessionState, WatcherType};
use zc_zk::{
    PropertyMap, RegisterOptions, RegistrationStatus, SharedWatch, ZooKeeper, ZooKeeperOptions,
};
use zk_testkit::{FaultProxy, Recording, shared_server, unique_path};

const WAIT: Duration = Duration::from_secs(20);

fn options(shared_watch: SharedWatch) -> RegisterOptions {
    RegisterOptions {
        shared_watch,
        ..RegisterOptions::default()
    }
}

async fn connect_to(connect_string: &str) -> ZooKeeper {
    ZooKeeper::connect_with(
        connect_string,
        ZooKeeperOptions {
            session_timeout: Duration::from_secs(10),
            ..ZooKeeperOptions::default()
        },
    )
    .await
    .expect("connect")
}

/// A fresh parent for registrations.
async fn parent(zk: &ZooKeeper, name: &str) -> String {
    let path = unique_path(name);
    zk.client()
        .create(&path, b"", &CreateOptions::persistent())
        .await
        .unwrap();
    path
}

/// Whether the server holds a watch of `kind` on `path` for `zk`'s session (3.8 answers
/// checkWatches for the persistent types with a MarshallingError; `Any` finds them).
async fn server_watches(zk: &ZooKeeper, path: &str, kind: WatcherType) -> bool {
    match zk.client().check_watches(path, kind).await {
        Ok(()) => true,
        Err(zk_session::Error::NoWatcher) => false,
        Err(e) => panic!("checkWatches {path}: {e}"),
    }
}

/// Deletes `registration`'s node from another session and waits until the registration
/// has noticed (status `Removed`).
async fn deleted_by_another_session(registration: &zc_zk::Registration) {
    let other = connect_to(&shared_server().connect_string()).await;
    other
        .client()
        .delete(&registration.paths()[0], None)
        .await
        .unwrap();
    registration
        .wait_for_status(WAIT, |s| *s == RegistrationStatus::Removed)
        .await
        .unwrap();
    other.close().await;
}

/// Waits until the server holds a data watch on `node` for `zk`'s session (armed a moment
/// after the registration), by asking it, within the deadline.
async fn wait_armed(zk: &ZooKeeper, node: &str) {
    tokio::time::timeout(WAIT, async {
        while !server_watches(zk, node, WatcherType::Data).await {}
    })
    .await
    .unwrap_or_else(|_| panic!("{node} watched"));
}

/// Ten registrations (default options) under a fresh parent, through a recording proxy,
/// each armed. Keep `proxy` alive: dropping it cuts the connection.
struct Recorded {
    recording: Recording,
    proxy: FaultProxy,
    zk: ZooKeeper,
    path: String,
    regs: Vec<zc_zk::Registration>,
}

async fn recorded_registrations(name: &str) -> Recorded {
    let recording = Recording::default();
    let proxy = FaultProxy::with_recording(shared_server().addr(), recording.clone()).unwrap();
    let zk = connect_to(&proxy.connect_string()).await;
    let path = parent(&zk, name).await;
    let mut regs = Vec::new();
    for port in 1..=10 {
        regs.push(
            zk.register_server(&path, ("h", port), PropertyMap::new())
                .await
                .unwrap(),
        );
    }
    for r in &regs {
        wait_armed(&zk, &r.paths()[0]).await;
    }
    Recorded {
        recording,
        proxy,
        zk,
        path,
        regs,
    }
}

#[tokio::test]
async fn registrations_are_their_creates_alone_and_each_notices_its_own_deletion() {
    let recording = Recording::default();
    let proxy = FaultProxy::with_recording(shared_server().addr(), recording.clone()).unwrap();
    let zk = connect_to(&proxy.connect_string()).await;
    let path = parent(&zk, "sharedwatch").await;
    let mut regs = Vec::new();
    // More than a batch armed at once (32) and a rest armed a moment later.
    const N: u16 = 40;
    for port in 1..=N {
        let r = zk
            .register_server_with(
                &path,
                ("h", port),
                PropertyMap::new(),
                options(SharedWatch::Always),
            )
            .await
            .unwrap();
        regs.push(r);
    }
    for r in &regs {
        wait_armed(&zk, &r.paths()[0]).await;
    }
    assert!(
        !server_watches(&zk, &path, WatcherType::Any).await,
        "none on the parent"
    );
    // A create each and SetWatches (at most one per registration; two for all of them when
    // nothing else wrote in between): no exists, no addWatch.
    let ops = recording.request_ops();
    const EXISTS: i32 = 3;
    const SET_WATCHES: i32 = 101;
    const ADD_WATCH: i32 = 106;
    let arming = ops.iter().filter(|&&op| op == SET_WATCHES).count();
    assert!((2..=N as usize).contains(&arming), "{ops:?}");
    assert!(
        !ops.contains(&EXISTS) && !ops.contains(&ADD_WATCH),
        "{ops:?}"
    );
    let other = connect_to(&shared_server().connect_string()).await;
    other
        .client()
        .delete(&regs[1].paths()[0], None)
        .await
        .unwrap();
    regs[1]
        .wait_for_status(WAIT, |s| *s == RegistrationStatus::Removed)
        .await
        .unwrap();
    // The others' nodes are untouched and still theirs.
    zk.client().sync("/").await.unwrap();
    for r in regs
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, r)| r)
    {
        assert_eq!(r.status(), RegistrationStatus::Registered);
        let stat = other.client().exists(&r.paths()[0]).await.unwrap();
        assert_eq!(stat.map(|s| s.ephemeral_owner), Some(zk.session_id()));
    }
    // The removed one still answers: new properties have no node to go to, and it is not
    // made again; unregistering it succeeds.
    for _ in 0..2 {
        let err = regs[1]
            .set_properties(PropertyMap::from_iter([("a".into(), 1.into())]))
            .await
            .unwrap_err();
        assert!(err.is_no_node(), "{err:?}");
    }
    assert_eq!(
        other.client().exists(&regs[1].paths()[0]).await.unwrap(),
        None
    );
    assert_eq!(regs[1].status(), RegistrationStatus::Removed);
    regs.remove(1).unregister().await.unwrap();
    other.close().await;
    zk.close().await;
}

#[tokio::test]
async fn without_the_shared_watch_each_node_is_watched_and_its_deletion_noticed() {
    let zk = connect_to(&shared_server().connect_string()).await;
    let path = parent(&zk, "pernode").await;
    let r = zk
        .register_server_with(
            &path,
            ("h", 1),
            PropertyMap::new(),
            options(SharedWatch::Never),
        )
        .await
        .unwrap();
    assert!(server_watches(&zk, &r.paths()[0], WatcherType::Data).await);
    assert!(!server_watches(&zk, &path, WatcherType::Any).await);
    deleted_by_another_session(&r).await;
    zk.close().await;
}

#[tokio::test]
async fn a_deletion_while_disconnected_is_noticed_after_the_reconnect() {
    for shared_watch in [SharedWatch::Always, SharedWatch::Never] {
        let proxy = FaultProxy::start(shared_server().addr()).unwrap();
        let zk = connect_to(&proxy.connect_string()).await;
        let path = parent(&zk, "awaydelete").await;
        let gone = zk
            .register_server_with(&path, ("h", 1), PropertyMap::new(), options(shared_watch))
            .await
            .unwrap();
        let kept = zk
            .register_server_with(&path, ("h", 2), PropertyMap::new(), options(shared_watch))
            .await
            .unwrap();
        let id = zk.session_id();
        cut_off(&zk, &proxy).await;
        let other = connect_to(&shared_server().connect_string()).await;
        other.client().delete(&gone.paths()[0], None).await.unwrap();
        proxy.refuse_new(false);
        gone.wait_for_status(WAIT, |s| *s == RegistrationStatus::Removed)
            .await
            .unwrap_or_else(|_| panic!("removal seen ({shared_watch:?})"));
        assert_eq!(zk.session_id(), id, "the same session");
        zk.client().sync("/").await.unwrap();
        assert_eq!(kept.status(), RegistrationStatus::Registered);
        let stat = other.client().exists(&kept.paths()[0]).await.unwrap();
        assert_eq!(stat.map(|s| s.ephemeral_owner), Some(id));
        assert_eq!(other.client().exists(&gone.paths()[0]).await.unwrap(), None);
        other.close().await;
        zk.close().await;
    }
}

#[tokio::test]
async fn a_registration_after_the_last_under_its_parent_went_is_watched_again() {
    let zk = connect_to(&shared_server().connect_string()).await;
    let path = parent(&zk, "watchgoes").await;
    let a = zk
        .register_server_with(
            &path,
            ("h", 1),
            PropertyMap::new(),
            options(SharedWatch::Always),
        )
        .await
        .unwrap();
    wait_armed(&zk, &a.paths()[0]).await;
    a.unregister().await.unwrap();
    // The parent's armer ended with its last registration; a new one starts another.
    let b = zk
        .register_server_with(
            &path,
            ("h", 2),
            PropertyMap::new(),
            options(SharedWatch::Always),
        )
        .await
        .unwrap();
    wait_armed(&zk, &b.paths()[0]).await;
    deleted_by_another_session(&b).await;
    zk.close().await;
}

#[tokio::test]
async fn registrations_that_let_go_ask_the_server_to_remove_no_watch() {
    // Their deletes fire and end the server's watches: a removeWatches per node would only
    // be answered NoWatcher (or remove the watch just before the delete would have).
    let Recorded {
        recording,
        proxy: _proxy,
        zk,
        path,
        regs,
    } = recorded_registrations("letgo").await;
    // Dropped at once: the parent's watch goes before the nodes' deletes are answered.
    drop(regs);
    // Watched from another session, whose requests are not recorded.
    let other = connect_to(&shared_server().connect_string()).await;
    tokio::time::timeout(WAIT, async {
        loop {
            let (names, watcher) = other.client().get_children_watch(&path).await.unwrap();
            if names.is_empty() {
                break;
            }
            watcher.changed().await;
        }
    })
    .await
    .expect("the nodes deleted");
    // Anything the parent's armer asked for on its way out went before this round trip.
    zk.client().sync(&path).await.unwrap();
    const REMOVE_WATCHES: i32 = 18;
    let ops = recording.request_ops();
    assert!(!ops.contains(&REMOVE_WATCHES), "{ops:?}");
    zk.close().await;
}

#[tokio::test]
async fn other_processes_registering_under_the_same_parent_send_this_one_nothing() {
    let recording = Recording::default();
    let proxy = FaultProxy::with_recording(shared_server().addr(), recording.clone()).unwrap();
    let zk = connect_to(&proxy.connect_string()).await;
    let path = parent(&zk, "quietparent").await;
    let mine = zk
        .register_server(&path, ("h", 1), PropertyMap::new())
        .await
        .unwrap();
    wait_armed(&zk, &mine.paths()[0]).await;
    let before = recording.notifications();
    let other = connect_to(&shared_server().connect_string()).await;
    let mut theirs = Vec::new();
    for port in 2..=21 {
        theirs.push(
            other
                .register_server(&path, ("h", port), PropertyMap::new())
                .await
                .unwrap(),
        );
    }
    drop(theirs);
    other.close().await;
    // Whatever the server would send for them has come before this reply.
    zk.client().sync(&path).await.unwrap();
    assert_eq!(
        recording.notifications(),
        before,
        "no event for their nodes"
    );
    assert_eq!(mine.status(), RegistrationStatus::Registered);
    zk.close().await;
}

#[tokio::test]
async fn after_a_reconnect_registrations_send_no_request_of_their_own() {
    // The session re-arms the nodes' watches with one SetWatches; a deletion while away
    // would be reported by it (`a_deletion_while_disconnected_is_noticed_after_the_reconnect`).
    let Recorded {
        recording,
        proxy,
        zk,
        path: _,
        regs,
    } = recorded_registrations("quietreconnect").await;
    let id = zk.session_id();
    cut_off(&zk, &proxy).await;
    let sent_before = recording.request_ops().len();
    proxy.refuse_new(false);
    zk.client()
        .wait_connected(Some(WAIT))
        .await
        .expect("reconnected");
    assert_eq!(zk.session_id(), id, "the same session");
    for r in &regs {
        wait_armed(&zk, &r.paths()[0]).await;
        assert_eq!(r.status(), RegistrationStatus::Registered);
    }
    const EXISTS: i32 = 3;
    const CHECK_WATCHES: i32 = 17;
    let after: Vec<i32> = recording.request_ops()[sent_before..]
        .iter()
        .copied()
        .filter(|&op| op != CHECK_WATCHES)
        .collect();
    assert!(!after.contains(&EXISTS), "{after:?}");
    zk.close().await;
}

#[tokio::test]
async fn a_node_deleted_before_its_watch_is_armed_is_still_noticed() {
    let zk = connect_to(&shared_server().connect_string()).await;
    let other = connect_to(&shared_server().connect_string()).await;
    let path = parent(&zk, "beforearmed").await;
    let r = zk
        .register_server(&path, ("h", 1), PropertyMap::new())
        .await
        .unwrap();
    // At once: the arming waits a moment to gather registrations, so this comes first.
    other.client().delete(&r.paths()[0], None).await.unwrap();
    r.wait_for_status(WAIT, |s| *s == RegistrationStatus::Removed)
        .await
        .unwrap();
    other.close().await;
    zk.close().await;
}

#[tokio::test]
async fn a_node_replaced_before_its_watch_is_armed_ends_removed() {
    // Armed relative to the create's zxid, the watch reports the replacement at once (the
    // new node's mzxid is later); armed relative to anything later, it would not.
    let zk = connect_to(&shared_server().connect_string()).await;
    let other = connect_to(&shared_server().connect_string()).await;
    let path = parent(&zk, "beforearmedreplaced").await;
    let r = zk
        .register_server(&path, ("h", 1), PropertyMap::new())
        .await
        .unwrap();
    let node = r.paths()[0].clone();
    other.client().delete(&node, None).await.unwrap();
    other
        .client()
        .create(&node, b"{}", &CreateOptions::ephemeral())
        .await
        .unwrap();
    r.wait_for_status(WAIT, |s| *s == RegistrationStatus::Removed)
        .await
        .unwrap();
    let stat = other.client().exists(&node).await.unwrap().unwrap();
    assert_eq!(
        stat.ephemeral_owner,
        other.session_id(),
        "theirs is left alone"
    );
    other.close().await;
    zk.close().await;
}

#[tokio::test]
async fn by_default_registrations_watch_their_nodes_beside_views_of_the_parent() {
    // The registrations' watches are on their nodes; the views' on the parent.
    let zk = connect_to(&shared_server().connect_string()).await;
    let path = parent(&zk, "defaultwatch").await;
    let view = zk.children(&path).await.unwrap();
    let a = zk
        .register_server(&path, ("h", 1), PropertyMap::new())
        .await
        .unwrap();
    view.wait_for(WAIT, |n| n.len() == 1).await.unwrap();
    let props = zk.properties(&path).await.unwrap();
    let b = zk
        .register_server(&path, ("h", 2), PropertyMap::new())
        .await
        .unwrap();
    view.wait_for(WAIT, |n| n.len() == 2).await.unwrap();
    wait_armed(&zk, &a.paths()[0]).await;
    wait_armed(&zk, &b.paths()[0]).await;
    let other = connect_to(&shared_server().connect_string()).await;
    other.client().delete(&b.paths()[0], None).await.unwrap();
    b.wait_for_status(WAIT, |s| *s == RegistrationStatus::Removed)
        .await
        .unwrap();
    view.wait_for(WAIT, |n| n.len() == 1).await.unwrap();
    other
        .client()
        .set_data(&path, br#"{"a": 1}"#, None)
        .await
        .unwrap();
    props
        .wait_for(WAIT, |p| p.get("a") == Some(&serde_json::json!(1)))
        .await
        .unwrap();
    other.client().delete(&a.paths()[0], None).await.unwrap();
    a.wait_for_status(WAIT, |s| *s == RegistrationStatus::Removed)
        .await
        .unwrap();
    view.wait_for(WAIT, |n| n.is_empty()).await.unwrap();
    other.close().await;
    zk.close().await;
}

#[tokio::test]
async fn a_registration_abandoned_while_setting_the_shared_watch_does_not_hang_the_next() {
    let zk = connect_to(&shared_server().connect_string()).await;
    let path = parent(&zk, "abandoned").await;
    let mut first = Box::pin(zk.register_server_with(
        &path,
        ("h", 1),
        PropertyMap::new(),
        options(SharedWatch::Always),
    ));
    // One poll: it starts the parent's armer, sends its create and waits for the server.
    assert!(
        tokio::time::timeout(Duration::ZERO, &mut first)
            .await
            .is_err()
    );
    let second = {
        let zk = zk.clone();
        let path = path.clone();
        tokio::spawn(async move {
            zk.register_server_with(
                &path,
                ("h", 2),
                PropertyMap::new(),
                options(SharedWatch::Always),
            )
            .await
        })
    };
    // The second goes on beside the first; then the first is abandoned.
    tokio::task::yield_now().await;
    drop(first);
    let second = tokio::time::timeout(WAIT, second)
        .await
        .expect("the second registration does not hang")
        .unwrap()
        .unwrap();
    assert_eq!(second.status(), RegistrationStatus::Registered);
    zk.close().await;
}

/// The tasks alive on this test's runtime.
/// Cuts `zk`'s connection through `proxy`, refusing new ones, and waits until `zk` has seen
/// the disconnection.
async fn cut_off(zk: &ZooKeeper, proxy: &FaultProxy) {
    let mut events = zk.session_events();
    proxy.refuse_new(true);
    proxy.cut();
    tokio::time::timeout(WAIT, async {
        while let Some(ev) = events.next().await {
            if ev.state == SessionState::Disconnected {
                return;
            }
        }
    })
    .await
    .expect("disconnected");
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

#[tokio::test]
async fn idle_shared_registrations_hold_no_task_each_and_still_follow_a_new_session_and_close() {
    const N: u16 = 20;
    let zk = connect_to(&shared_server().connect_string()).await;
    let path = parent(&zk, "parked").await;
    let before = alive_tasks();
    let mut regs = Vec::new();
    for port in 1..=N {
        regs.push(
            zk.register_server(&path, ("h", port), PropertyMap::new())
                .await
                .unwrap(),
        );
    }
    // The parent's armer is all that a parent's registrations add.
    let added = alive_tasks().saturating_sub(before);
    assert!(added <= 2, "{added} tasks for {N} idle registrations");

    // A command resumes a parked registration, which then parks again.
    regs[0]
        .set_properties(PropertyMap::from_iter([("a".into(), 1.into())]))
        .await
        .unwrap();
    let (data, _) = zk.client().get_data(&regs[0].paths()[0]).await.unwrap();
    assert!(String::from_utf8_lossy(&data).contains("\"a\":1"));

    // A new session resumes every parked registration: each is re-created, in the new one.
    let old = zk.session_id();
    let (id, passwd) = zk.client().session_credentials();
    zk_session::testing::expire_session(&shared_server().connect_string(), id, passwd)
        .await
        .expect("takeover");
    tokio::time::timeout(WAIT, async {
        let mut events = zk.session_events();
        while zk.session_id() == old || !zk.client().state().state.is_connected() {
            let _ = tokio::time::timeout(Duration::from_millis(200), events.next()).await;
        }
    })
    .await
    .expect("a new session");
    let other = connect_to(&shared_server().connect_string()).await;
    for r in &regs {
        r.wait_for_status(WAIT, |s| *s == RegistrationStatus::Registered)
            .await
            .unwrap();
        // Registered means re-created in the new session, by now or soon: wait on the node.
        let node = &r.paths()[0];
        tokio::time::timeout(WAIT, async {
            loop {
                let (stat, watcher) = other.client().exists_watch(node).await.unwrap();
                if stat.map(|s| s.ephemeral_owner) == Some(zk.session_id()) {
                    return;
                }
                watcher.changed().await;
            }
        })
        .await
        .expect("the node re-created in the new session");
    }
    let (data, _) = other.client().get_data(&regs[0].paths()[0]).await.unwrap();
    assert!(
        String::from_utf8_lossy(&data).contains("\"a\":1"),
        "restored with the latest properties"
    );

    // After the recovery they park again, and the close reaches them all.
    zk.close().await;
    for r in &regs {
        r.wait_for_status(WAIT, |s| *s == RegistrationStatus::Unregistered)
            .await
            .unwrap();
    }
    other.close().await;
}

#[tokio::test]
async fn dropping_a_parked_registration_deletes_its_node() {
    let zk = connect_to(&shared_server().connect_string()).await;
    let path = parent(&zk, "parkeddrop").await;
    let r = zk
        .register_server(&path, ("h", 1), PropertyMap::new())
        .await
        .unwrap();
    let node = r.paths()[0].clone();
    let (stat, gone) = zk.client().exists_watch(&node).await.unwrap();
    assert!(stat.is_some());
    drop(r);
    tokio::time::timeout(WAIT, gone.changed())
        .await
        .expect("the node deleted");
    assert_eq!(zk.client().exists(&node).await.unwrap(), None);
    zk.close().await;
}

#[tokio::test]
async fn a_close_while_disconnected_reaches_parked_registrations() {
    let proxy = FaultProxy::start(shared_server().addr()).unwrap();
    let zk = connect_to(&proxy.connect_string()).await;
    let path = parent(&zk, "parkedclose").await;
    let mut regs = Vec::new();
    for port in 1..=3 {
        regs.push(
            zk.register_server(&path, ("h", port), PropertyMap::new())
                .await
                .unwrap(),
        );
    }
    cut_off(&zk, &proxy).await;
    // No deletion reaches the watch now: only the close itself can tell the registrations.
    zk.close().await;
    for r in &regs {
        r.wait_for_status(WAIT, |s| *s == RegistrationStatus::Unregistered)
            .await
            .unwrap();
    }
}
