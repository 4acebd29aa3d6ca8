//! zk-session against a real ZooKeeper server (zk-testkit).

use std::time::Duration;

use tokio::time::timeout;
use zk_session::{
    ACL, Client, CreateMode, CreateOptions, Error, ErrorCode, EventType, Id, KeeperState, Op,
    OpResult, Perms, ReadOp, ReadResult, SessionConfig, SessionState, WatcherType,
};
use zk_testkit::{FaultProxy, shared_server, unique_path};

const WAIT: Duration = Duration::from_secs(20);

fn config(session_timeout: Duration) -> SessionConfig {
    SessionConfig {
        session_timeout,
        ..SessionConfig::default()
    }
}

async fn client() -> Client {
    Client::connect_with(
        &shared_server().connect_string(),
        config(Duration::from_secs(10)),
    )
    .await
    .expect("connect")
}

/// A client chrooted at a fresh path of its own.
async fn chrooted(name: &str) -> (Client, String) {
    let root = unique_path(name);
    let c = client().await;
    c.create(&root, b"", &CreateOptions::persistent())
        .await
        .unwrap();
    c.close().await;
    let cs = format!("{}{}", shared_server().connect_string(), root);
    (
        Client::connect_with(&cs, config(Duration::from_secs(10)))
            .await
            .unwrap(),
        root,
    )
}

async fn wait_state(c: &Client, want: impl Fn(SessionState) -> bool) {
    zk_session::testing::wait_for_state(c, want, WAIT)
        .await
        .expect("state reached in time");
}

#[tokio::test]
async fn create_get_set_delete_round_trip() {
    let (c, _) = chrooted("crud").await;
    let (path, stat) = c
        .create("/a", b"one", &CreateOptions::persistent())
        .await
        .unwrap();
    assert_eq!(path, "/a");
    assert_eq!(stat.version, 0);
    assert_eq!(stat.data_length, 3);
    let (data, stat) = c.get_data("/a").await.unwrap();
    assert_eq!(&data[..], b"one");
    let stat2 = c.set_data("/a", b"two", Some(stat.version)).await.unwrap();
    assert_eq!(stat2.version, 1);
    assert_eq!(
        c.set_data("/a", b"x", Some(0)).await,
        Err(Error::BadVersion)
    );
    assert_eq!(
        c.create("/a", b"", &CreateOptions::persistent()).await,
        Err(Error::NodeExists)
    );
    assert_eq!(c.get_data("/missing").await, Err(Error::NoNode));
    assert_eq!(c.exists("/missing").await, Ok(None));
    assert_eq!(c.exists("/a").await.unwrap().unwrap().version, 1);
    c.create("/a/b", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    assert_eq!(c.delete("/a", None).await, Err(Error::NotEmpty));
    assert_eq!(c.delete("/a/b", Some(5)).await, Err(Error::BadVersion));
    c.delete("/a/b", None).await.unwrap();
    c.delete("/a", Some(1)).await.unwrap();
    assert_eq!(c.exists("/a").await, Ok(None));
    c.close().await;
}

#[tokio::test]
async fn every_create_mode_works() {
    let (c, _) = chrooted("modes").await;
    let (p, _) = c
        .create("/seq-", b"", &CreateOptions::persistent().sequential())
        .await
        .unwrap();
    assert_eq!(p, "/seq-0000000000");
    let (_, stat) = c
        .create("/eph", b"", &CreateOptions::ephemeral())
        .await
        .unwrap();
    assert_eq!(stat.ephemeral_owner, c.session_id());
    let (p, _) = c
        .create("/eph-", b"", &CreateOptions::ephemeral().sequential())
        .await
        .unwrap();
    assert!(p.starts_with("/eph-00000000"), "{p}");
    assert_eq!(
        c.create("/eph/child", b"", &CreateOptions::persistent())
            .await,
        Err(Error::NoChildrenForEphemerals)
    );
    c.create("/box", b"", &CreateOptions::container())
        .await
        .unwrap();
    let (_, stat) = c
        .create("/ttl", b"t", &CreateOptions::ttl(Duration::from_secs(60)))
        .await
        .unwrap();
    // The server hides TTL and container owners from clients.
    assert_eq!(stat.ephemeral_owner, 0);
    assert!(matches!(
        c.create(
            "/ttl2",
            b"",
            &CreateOptions::new(CreateMode::PersistentWithTtl)
        )
        .await,
        Err(Error::InvalidArgument(_))
    ));
    let eph = c.get_ephemerals("/").await.unwrap();
    assert_eq!(eph.len(), 2, "{eph:?}");
    assert!(eph.contains(&"/eph".to_owned()));
    assert_eq!(c.get_all_children_number("/").await.unwrap(), 5);
    c.close().await;
}

#[tokio::test]
async fn invalid_paths_are_refused_before_sending() {
    let c = client().await;
    for bad in ["", "a", "/a/", "/a//b", "/a/../b"] {
        assert!(
            matches!(c.get_data(bad).await, Err(Error::InvalidPath { .. })),
            "{bad:?}"
        );
    }
    c.close().await;
}

#[tokio::test]
async fn children_acl_sync_whoami_and_config() {
    let (c, _) = chrooted("misc").await;
    for name in ["x", "y", "z"] {
        c.create(&format!("/{name}"), b"", &CreateOptions::persistent())
            .await
            .unwrap();
    }
    let mut children = c.get_children("/").await.unwrap();
    children.sort();
    assert_eq!(children, ["x", "y", "z"]);
    let (children, stat) = c.get_children2("/").await.unwrap();
    assert_eq!(children.len(), 3);
    assert_eq!(stat.num_children, 3);
    let (acl, _) = c.get_acl("/x").await.unwrap();
    assert_eq!(acl, ACL::open_unsafe());
    c.set_acl("/x", &ACL::read_unsafe(), None).await.unwrap();
    assert_eq!(c.set_data("/x", b"no", None).await, Err(Error::NoAuth));
    c.sync("/").await.unwrap();
    let me = c.whoami().await.unwrap();
    assert!(
        me.iter().any(|i| i.auth_scheme.as_deref() == Some("ip")),
        "{me:?}"
    );
    c.get_config().await.unwrap();
    c.close().await;
}

#[tokio::test]
async fn digest_auth_grants_access_and_others_get_no_auth() {
    let (c, root) = chrooted("auth").await;
    c.add_auth("digest", b"alice:secret").await.unwrap();
    let acl = vec![ACL::new(Perms::ALL, Id::creator())];
    c.create("/private", b"p", &CreateOptions::persistent().with_acl(acl))
        .await
        .unwrap();
    assert_eq!(&c.get_data("/private").await.unwrap().0[..], b"p");
    let who = c.whoami().await.unwrap();
    assert!(
        who.iter()
            .any(|i| i.auth_scheme.as_deref() == Some("digest")
                && i.user.as_deref() == Some("alice"))
    );
    let other = client().await;
    assert_eq!(
        other.get_data(&format!("{root}/private")).await,
        Err(Error::NoAuth)
    );
    other.close().await;
    c.close().await;
}

#[tokio::test]
async fn multi_commits_atomically_and_reports_the_failing_op() {
    let (c, _) = chrooted("multi").await;
    let results = c
        .multi(&[
            Op::create("/m", &b"1"[..], CreateOptions::persistent()),
            Op::set_data("/m", &b"2"[..], Some(0)),
            Op::check("/m", 1),
        ])
        .await
        .unwrap();
    assert!(matches!(&results[0], OpResult::Create { path, .. } if path == "/m"));
    assert!(matches!(&results[1], OpResult::SetData { stat } if stat.version == 1));
    assert_eq!(results[2], OpResult::Check);
    let err = c
        .multi(&[
            Op::create("/n", &b""[..], CreateOptions::persistent()),
            Op::check("/m", 7),
            Op::delete("/m", None),
        ])
        .await;
    assert_eq!(
        err,
        Err(Error::TransactionFailed {
            index: 1,
            code: ErrorCode::BadVersion
        })
    );
    assert_eq!(c.exists("/n").await, Ok(None), "nothing applied");
    let reads = c
        .multi_read(&[
            ReadOp::GetData("/m".into()),
            ReadOp::GetChildren("/".into()),
            ReadOp::GetData("/nope".into()),
        ])
        .await
        .unwrap();
    assert!(matches!(&reads[0], Ok(ReadResult::Data(d, _)) if &d[..] == b"2"));
    assert!(matches!(&reads[1], Ok(ReadResult::Children(c)) if c == &["m"]));
    assert_eq!(reads[2], Err(Error::NoNode));
    c.close().await;
}

#[tokio::test]
async fn one_shot_watches_fire_once_with_the_right_event() {
    let (c, _) = chrooted("watch").await;
    let writer = c.clone();
    c.create("/d", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let (_, _, data_watch) = c.get_data_watch("/d").await.unwrap();
    let (_, child_watch) = c.get_children_watch("/d").await.unwrap();
    let (stat, exist_watch) = c.exists_watch("/later").await.unwrap();
    assert!(stat.is_none());
    writer.set_data("/d", b"x", None).await.unwrap();
    let ev = timeout(WAIT, data_watch.changed()).await.unwrap();
    assert_eq!(
        (ev.event_type, ev.path.as_str()),
        (EventType::NodeDataChanged, "/d")
    );
    writer
        .create("/d/c", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let ev = timeout(WAIT, child_watch.changed()).await.unwrap();
    assert_eq!(
        (ev.event_type, ev.path.as_str()),
        (EventType::NodeChildrenChanged, "/d")
    );
    writer
        .create("/later", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let ev = timeout(WAIT, exist_watch.changed()).await.unwrap();
    assert_eq!(
        (ev.event_type, ev.path.as_str()),
        (EventType::NodeCreated, "/later")
    );
    c.close().await;
}

#[tokio::test]
async fn watch_event_arrives_before_the_reply_that_observes_the_change() {
    let (c, _) = chrooted("order").await;
    c.create("/o", b"0", &CreateOptions::persistent())
        .await
        .unwrap();
    let (_, _, mut watch) = c.get_data_watch("/o").await.unwrap();
    let other = client().await;
    let full = format!("{}/o", c.chroot().prefix().unwrap());
    other.set_data(&full, b"1", None).await.unwrap();
    // Poll until our own read sees the new data; by then the event must already be there.
    loop {
        let (data, _) = c.get_data("/o").await.unwrap();
        if &data[..] == b"1" {
            break;
        }
    }
    let ev = watch.try_event();
    assert_eq!(ev.map(|e| e.event_type), Some(EventType::NodeDataChanged));
    other.close().await;
    c.close().await;
}

#[tokio::test]
async fn persistent_and_recursive_watches_keep_firing() {
    let (c, _) = chrooted("persist").await;
    c.create("/p", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let mut p = c.add_watch("/p", false).await.unwrap();
    let mut r = c.add_watch("/", true).await.unwrap();
    c.set_data("/p", b"1", None).await.unwrap();
    c.set_data("/p", b"2", None).await.unwrap();
    c.create("/p/k", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(timeout(WAIT, p.next()).await.unwrap().unwrap().event_type);
    }
    assert_eq!(
        seen,
        [
            EventType::NodeDataChanged,
            EventType::NodeDataChanged,
            EventType::NodeChildrenChanged
        ]
    );
    let mut seen = Vec::new();
    for _ in 0..3 {
        let ev = timeout(WAIT, r.next()).await.unwrap().unwrap();
        seen.push((ev.event_type, ev.path));
    }
    assert_eq!(seen[2], (EventType::NodeCreated, "/p/k".to_owned()));
    c.close().await;
}

#[tokio::test]
async fn a_filtered_recursive_watch_yields_only_its_kinds_and_dropping_it_removes_the_server_watch()
{
    let (c, _) = chrooted("filtered").await;
    c.create("/f", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let mut w = c
        .add_watch_for("/f", true, &[EventType::NodeDeleted])
        .await
        .unwrap();
    c.create("/f/a", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    c.set_data("/f/a", b"1", None).await.unwrap();
    c.delete("/f/a", None).await.unwrap();
    let ev = timeout(WAIT, w.next()).await.unwrap().unwrap();
    assert_eq!(
        (ev.event_type, ev.path.as_str()),
        (EventType::NodeDeleted, "/f/a")
    );
    // The server holds the watch (3.8 answers checkWatches for the persistent types with
    // MarshallingError; `Any` finds it) until the watcher is dropped.
    c.check_watches("/f", WatcherType::Any).await.unwrap();
    drop(w);
    timeout(WAIT, async {
        while c.check_watches("/f", WatcherType::Any).await.is_ok() {
            c.sync("/").await.unwrap();
        }
    })
    .await
    .expect("the server watch is removed");
    c.close().await;
}

#[tokio::test]
async fn dropping_the_last_watcher_removes_the_server_watch() {
    let (c, _) = chrooted("dropwatch").await;
    c.create("/w", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let (_, _, w1) = c.get_data_watch("/w").await.unwrap();
    let (_, _, w2) = c.get_data_watch("/w").await.unwrap();
    c.check_watches("/w", WatcherType::Data).await.unwrap();
    drop(w1);
    c.sync("/").await.unwrap();
    c.check_watches("/w", WatcherType::Data).await.unwrap();
    drop(w2);
    // The removal is queued before this check, and replies come in order.
    c.sync("/").await.unwrap();
    assert_eq!(
        c.check_watches("/w", WatcherType::Data).await,
        Err(Error::NoWatcher)
    );
    c.close().await;
}

#[tokio::test]
async fn close_deletes_ephemerals_at_once_and_is_idempotent() {
    let path = unique_path("close");
    let c = client().await;
    c.create(&path, b"", &CreateOptions::ephemeral())
        .await
        .unwrap();
    c.close().await;
    c.close().await;
    assert_eq!(c.get_data(&path).await, Err(Error::Closed));
    let other = client().await;
    assert_eq!(other.exists(&path).await, Ok(None));
    other.close().await;
}

#[tokio::test]
async fn cut_connection_keeps_the_session_and_rearms_watches() {
    let server = shared_server();
    let proxy = FaultProxy::start(server.addr()).unwrap();
    let c = Client::connect_with(&proxy.connect_string(), config(Duration::from_secs(10)))
        .await
        .unwrap();
    let path = unique_path("cut");
    c.create(&path, b"0", &CreateOptions::persistent())
        .await
        .unwrap();
    let id = c.session_id();
    let (_, _, watch) = c.get_data_watch(&path).await.unwrap();
    let mut events = c.session_events();
    proxy.cut();
    timeout(WAIT, async {
        while let Some(ev) = events.next().await {
            if ev.state == SessionState::Disconnected {
                return;
            }
        }
    })
    .await
    .unwrap();
    // Changed while the client is away: delivered by SetWatches after the reconnect.
    let other = client().await;
    other.set_data(&path, b"1", None).await.unwrap();
    wait_state(&c, SessionState::is_connected).await;
    assert_eq!(c.session_id(), id, "same session");
    let ev = timeout(WAIT, watch.changed()).await.unwrap();
    assert_eq!(ev.event_type, EventType::NodeDataChanged);
    other.close().await;
    c.close().await;
}

#[tokio::test]
async fn in_flight_requests_fail_with_connection_loss_on_a_cut() {
    let server = shared_server();
    let proxy = FaultProxy::start(server.addr()).unwrap();
    let c = Client::connect_with(&proxy.connect_string(), config(Duration::from_secs(10)))
        .await
        .unwrap();
    proxy.blackhole();
    let pending = {
        let c = c.clone();
        tokio::spawn(async move { c.get_data("/").await })
    };
    // Let the request reach the (silent) connection, then cut it.
    c.wait_connected(Some(WAIT)).await.unwrap();
    tokio::task::yield_now().await;
    proxy.cut();
    proxy.restore();
    let result = timeout(WAIT, pending).await.unwrap().unwrap();
    assert!(
        matches!(result, Err(Error::ConnectionLoss) | Ok(_)),
        "{result:?}"
    );
    wait_state(&c, SessionState::is_connected).await;
    c.get_data("/").await.unwrap();
    c.close().await;
}

#[tokio::test]
async fn blackhole_longer_than_the_session_timeout_expires_the_session() {
    let server = shared_server();
    let proxy = FaultProxy::start(server.addr()).unwrap();
    let c = Client::connect_with(&proxy.connect_string(), config(Duration::from_secs(2)))
        .await
        .unwrap();
    let path = unique_path("expire");
    c.create(&path, b"", &CreateOptions::ephemeral())
        .await
        .unwrap();
    let (_, _, watch) = c.get_data_watch(&path).await.unwrap();
    proxy.blackhole();
    // The client gives up on the silent connection after 2/3 of the timeout and retries through
    // the proxy, which stays silent until the server has expired the session.
    wait_state(&c, |s| s == SessionState::Disconnected).await;
    let observer = client().await;
    timeout(WAIT, async {
        while observer.exists(&path).await.unwrap().is_some() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the server expires the session");
    proxy.cut();
    proxy.restore();
    wait_state(&c, |s| s == SessionState::Expired).await;
    let ev = timeout(WAIT, watch.changed()).await.unwrap();
    assert_eq!(ev.state, KeeperState::Expired);
    assert_eq!(c.get_data("/").await, Err(Error::SessionExpired));
    observer.close().await;
}

#[tokio::test]
async fn more_than_128k_of_watched_paths_are_rearmed_in_split_batches() {
    let server = shared_server();
    let proxy = FaultProxy::start(server.addr()).unwrap();
    let root = unique_path("bigwatch");
    let c = Client::connect_with(&proxy.connect_string(), config(Duration::from_secs(20)))
        .await
        .unwrap();
    c.create(&root, b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let n = 3000;
    let mut ops = Vec::new();
    for i in 0..n {
        ops.push(Op::create(
            format!("{root}/{i:0>50}"),
            &b""[..],
            CreateOptions::persistent(),
        ));
    }
    for chunk in ops.chunks(500) {
        c.multi(chunk).await.unwrap();
    }
    let mut watches = Vec::new();
    for i in 0..n {
        let (_, _, w) = c.get_data_watch(&format!("{root}/{i:0>50}")).await.unwrap();
        watches.push(w);
    }
    let mut events = c.session_events();
    proxy.cut();
    timeout(WAIT, async {
        loop {
            if let Some(ev) = events.next().await {
                if ev.state.is_connected() {
                    return;
                }
            }
        }
    })
    .await
    .unwrap();
    // Every one of the 3,000 watches must have been re-armed: change them all.
    let other = client().await;
    let ops: Vec<Op> = (0..n)
        .map(|i| Op::set_data(format!("{root}/{i:0>50}"), &b"x"[..], None))
        .collect();
    for chunk in ops.chunks(500) {
        other.multi(chunk).await.unwrap();
    }
    for w in watches {
        let ev = timeout(WAIT, w.changed()).await.unwrap();
        assert_eq!(ev.event_type, EventType::NodeDataChanged);
    }
    other.close().await;
    c.close().await;
}

#[tokio::test]
async fn the_server_version_is_probed_after_connecting() {
    let c = client().await;
    timeout(WAIT, async {
        while c.server_version().is_none() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("srvr answered");
    assert!(
        c.server_version().unwrap().starts_with("3."),
        "{:?}",
        c.server_version()
    );
    // The numbers agree with the line (the test server is 3.8).
    let line = c.server_version().unwrap();
    let parsed = zk_session::session::parse_version(&line).unwrap();
    assert!(c.server_is_at_least(parsed));
    assert!(c.server_is_at_least((3, 0, 0)));
    assert!(!c.server_is_at_least((parsed.0, parsed.1, parsed.2 + 1)));
    assert!(!c.server_is_at_least((4, 0, 0)));
    c.close().await;
}

#[tokio::test]
async fn debug_output_never_shows_the_session_password_or_credentials() {
    let c = client().await;
    c.add_auth("digest", b"carol:hunter2").await.unwrap();
    let (_, passwd) = c.session_credentials();
    let shown = format!("{c:?}");
    assert!(!shown.contains(&format!("{passwd:?}")), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
    c.close().await;
}

/// The next node event of `watches`, within the deadline.
async fn next_event(watches: &mut zk_session::DataWatches) -> zk_session::WatchedEvent {
    timeout(WAIT, watches.next())
        .await
        .expect("an event in time")
        .expect("the stream goes on")
}

#[tokio::test]
async fn data_watches_arm_many_nodes_in_one_request_and_report_changes_since_the_zxid() {
    let (c, root) = chrooted("watch-since").await;
    let other = client().await;
    let eph = CreateOptions::ephemeral();
    let (_, a) = c.create("/a", b"", &eph).await.unwrap();
    let (_, b) = c.create("/b", b"", &eph).await.unwrap();
    c.create("/c", b"", &eph).await.unwrap();
    let (_, d) = c.create("/d", b"", &eph).await.unwrap();
    // As of b's creation: c is deleted and d created after it.
    let since = b.czxid;
    assert!(a.czxid < since && d.czxid > since);
    c.delete("/c", None).await.unwrap();
    let mut watches = c.data_watches();
    let paths: Vec<std::sync::Arc<str>> = ["/a", "/b", "/c", "/d"].map(Into::into).into();
    watches.watch_since(&paths, since).await.unwrap();
    // The changes since `since` fired at once, before the reply: their events are there.
    let mut early = [
        watches.try_next().expect("an immediate event"),
        watches.try_next().expect("a second immediate event"),
    ];
    early.sort_by(|x, y| x.path.cmp(&y.path));
    assert_eq!(
        early
            .iter()
            .map(|e| (e.path.as_str(), e.event_type))
            .collect::<Vec<_>>(),
        [
            ("/c", EventType::NodeDeleted),
            ("/d", EventType::NodeDataChanged)
        ]
    );
    assert!(watches.try_next().is_none(), "a and b are unchanged since");
    // The unchanged ones are watched on the server from now on (through the chroot).
    other
        .set_data(&format!("{root}/a"), b"x", None)
        .await
        .unwrap();
    let event = next_event(&mut watches).await;
    assert_eq!(
        (event.path.as_str(), event.event_type),
        ("/a", EventType::NodeDataChanged)
    );
    other.delete(&format!("{root}/b"), None).await.unwrap();
    let event = next_event(&mut watches).await;
    assert_eq!(
        (event.path.as_str(), event.event_type),
        ("/b", EventType::NodeDeleted)
    );
    // One-shot: a's second change is not reported.
    other
        .set_data(&format!("{root}/a"), b"y", None)
        .await
        .unwrap();
    c.sync("/a").await.unwrap();
    assert!(watches.try_next().is_none(), "a's watch fired once");
    other.close().await;
    c.close().await;
    let end = next_event(&mut watches).await;
    assert_eq!(
        (end.event_type, end.state),
        (EventType::None, KeeperState::Closed)
    );
    assert!(timeout(WAIT, watches.next()).await.unwrap().is_none());
}

/// A chrooted session with an ephemeral node `/n` and a data watch set on it in a
/// [`DataWatches`](zk_session::DataWatches).
async fn one_node_watched(name: &str) -> (Client, zk_session::DataWatches) {
    let (c, _) = chrooted(name).await;
    let (_, stat) = c
        .create("/n", b"", &CreateOptions::ephemeral())
        .await
        .unwrap();
    let watches = c.data_watches();
    watches
        .watch_since(&["/n".into()], stat.mzxid)
        .await
        .unwrap();
    (c, watches)
}

#[tokio::test]
async fn dropped_data_watches_are_removed_from_the_server() {
    let (c, watches) = one_node_watched("watch-since-drop").await;
    assert_eq!(c.check_watches("/n", WatcherType::Data).await, Ok(()));
    drop(watches);
    // The removal goes before this check on the same connection.
    let gone = c.check_watches("/n", WatcherType::Data).await;
    assert_eq!(gone, Err(Error::NoWatcher));
    c.close().await;
}

#[tokio::test]
async fn forgotten_data_watches_stay_on_the_server_until_they_fire() {
    let (c, watches) = one_node_watched("watch-since-forget").await;
    watches.forget();
    // No removeWatches went: the check on the same connection finds the watch.
    assert_eq!(c.check_watches("/n", WatcherType::Data).await, Ok(()));
    // The change fires it (its event finds no watcher here) and the server's watch is gone.
    c.set_data("/n", b"1", None).await.unwrap();
    let gone = c.check_watches("/n", WatcherType::Data).await;
    assert_eq!(gone, Err(Error::NoWatcher));
    // A watch set afterwards on the node hears the next change.
    let (_, _, watcher) = c.get_data_watch("/n").await.unwrap();
    c.set_data("/n", b"2", None).await.unwrap();
    let event = timeout(WAIT, watcher.changed()).await.unwrap();
    assert_eq!(event.event_type, EventType::NodeDataChanged);
    c.close().await;
}

#[tokio::test]
async fn data_watches_refuse_bad_paths_before_sending() {
    let c = client().await;
    let watches = c.data_watches();
    let refused = watches
        .watch_since(&["/ok".into(), "no-slash".into()], 0)
        .await;
    assert!(
        matches!(refused, Err(Error::InvalidPath { .. })),
        "{refused:?}"
    );
    let long = format!("/{}", "x".repeat(1000));
    let many: Vec<std::sync::Arc<str>> = std::iter::repeat_n(long.as_str().into(), 200).collect();
    let refused = watches.watch_since(&many, 0).await;
    assert!(
        matches!(refused, Err(Error::InvalidArgument(_))),
        "{refused:?}"
    );
    c.close().await;
}
