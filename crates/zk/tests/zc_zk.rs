//! zc-zk against a real ZooKeeper server: the seed README's story and the acceptance checklist
//! items for connection, registration, session expiry, children, properties and deletion.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use zc_zk::zk_session::{self, ACL, CreateOptions, Id, Perms, WatcherType};
use zc_zk::{
    Change, Error, PropertyMap, RegisterOptions, RegistrationStatus, ZooKeeper, ZooKeeperOptions,
};
use zk_testkit::{FaultProxy, Recording, shared_server, unique_path};

const WAIT: Duration = Duration::from_secs(20);

fn map(v: Value) -> PropertyMap {
    v.as_object().cloned().expect("an object")
}

fn options(session_timeout: Duration) -> ZooKeeperOptions {
    ZooKeeperOptions {
        session_timeout,
        ..ZooKeeperOptions::default()
    }
}

async fn connect() -> ZooKeeper {
    ZooKeeper::connect_with(
        &shared_server().connect_string(),
        options(Duration::from_secs(10)),
    )
    .await
    .expect("connect")
}

/// A fresh service tree: `/<unique>/providers`.
async fn service(zk: &ZooKeeper, name: &str) -> String {
    let root = unique_path(name);
    let c = zk.client();
    c.create(&root, b"{}", &CreateOptions::persistent())
        .await
        .unwrap();
    c.create(
        &format!("{root}/providers"),
        b"",
        &CreateOptions::persistent(),
    )
    .await
    .unwrap();
    root
}

/// Expires `zk`'s current session on the server (session takeover, then close).
async fn expire(zk: &ZooKeeper) {
    let (id, passwd) = zk.client().session_credentials();
    zk_session::testing::expire_session(&shared_server().connect_string(), id, passwd)
        .await
        .expect("takeover");
}

async fn wait_new_session(zk: &ZooKeeper, old: i64) {
    tokio::time::timeout(WAIT, async {
        loop {
            let c = zk.client();
            if c.session_id() != old && c.state().state.is_connected() {
                return;
            }
            let mut events = zk.session_events();
            let _ = tokio::time::timeout(Duration::from_millis(200), events.next()).await;
        }
    })
    .await
    .expect("a new session");
}

#[tokio::test]
async fn the_seed_story_end_to_end() {
    let zk = connect().await;
    let root = service(&zk, "seed").await;
    let providers_path = format!("{root}/providers");

    // Two servers register.
    let a = zk
        .register_server(&providers_path, ("192.168.0.42", 8080), PropertyMap::new())
        .await
        .unwrap();
    let b = zk
        .register_server(
            &providers_path,
            ("192.168.0.42", 8081),
            map(json!({"role": "b"})),
        )
        .await
        .unwrap();
    assert_eq!(a.paths(), [format!("{providers_path}/192.168.0.42:8080")]);

    // A client sees both, and a subscriber sees the third arrive and one go.
    let other = connect().await;
    let providers = other.children(&providers_path).await.unwrap();
    assert_eq!(
        *providers.names(),
        ["192.168.0.42:8080", "192.168.0.42:8081"]
    );
    let seen: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let log = seen.clone();
    providers
        .on_change(move |change| {
            if let Change::Changed(names) = change {
                log.lock().unwrap().push((**names).clone());
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(seen.lock().unwrap().len(), 1, "called at once");
    let c = zk
        .register_server(&providers_path, ("192.168.0.42", 8082), PropertyMap::new())
        .await
        .unwrap();
    providers.wait_for(WAIT, |n| n.len() == 3).await.unwrap();
    b.unregister().await.unwrap();
    providers.wait_for(WAIT, |n| n.len() == 2).await.unwrap();
    tokio::time::timeout(WAIT, async {
        while seen.lock().unwrap().last().map(Vec::len) != Some(2) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();

    // Registration data: properties plus pid.
    let props = other
        .get_properties(&format!("{providers_path}/192.168.0.42:8080"))
        .await
        .unwrap();
    assert_eq!(props.get("pid"), Some(&json!(std::process::id())));

    // Configuration: read, update, set, with subscribers.
    let config = other.properties(&root).await.unwrap();
    assert!(config.is_empty());
    let mut changes = config.changes();
    assert_eq!(
        changes.next().await,
        Some(Change::Changed(Arc::new(PropertyMap::new())))
    );
    zk.update_properties(&root, map(json!({"threads": 3, "debug": false})))
        .await
        .unwrap();
    config
        .wait_for(WAIT, |p| p.get("threads") == Some(&json!(3)))
        .await
        .unwrap();
    assert_eq!(config.get_as::<u32>("threads").unwrap(), Some(3));
    config.update(map(json!({"threads": 4}))).await.unwrap();
    assert_eq!(
        config.get("threads"),
        Some(json!(4)),
        "local view updated after the write"
    );
    assert_eq!(config.get("debug"), Some(json!(false)), "update merges");
    config.set(map(json!({"x": 1}))).await.unwrap();
    assert_eq!(*config.snapshot(), map(json!({"x": 1})), "set replaces");

    // Deletion: the view is cleared and subscribers are told.
    let deleted = Arc::new(Mutex::new(false));
    let flag = deleted.clone();
    config
        .on_change(move |change| {
            if matches!(change, Change::Deleted) {
                *flag.lock().unwrap() = true;
            }
            Ok(())
        })
        .unwrap();
    c.unregister().await.unwrap();
    a.unregister().await.unwrap();
    zk.client().delete(&providers_path, None).await.unwrap();
    zk.client().delete(&root, None).await.unwrap();
    config.wait_for(WAIT, PropertyMap::is_empty).await.unwrap();
    tokio::time::timeout(WAIT, async {
        while !*deleted.lock().unwrap() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    assert!(config.is_deleted());
    assert!(matches!(config.update(map(json!({"y": 2}))).await, Err(e) if e.is_no_node()));
    assert!(config.is_empty(), "a failed write changes nothing locally");
    providers.wait_for(WAIT, |n| n.is_empty()).await.unwrap();
    assert!(providers.is_deleted());
    other.close().await;
    zk.close().await;
}

#[tokio::test]
async fn registration_node_has_pid_json_and_a_read_only_acl() {
    let zk = connect().await;
    let root = service(&zk, "regacl").await;
    let path = format!("{root}/providers");
    let r = zk
        .register_server(&path, ("h", 1), map(json!({"pid": 1, "a": "b"})))
        .await
        .unwrap();
    let node = &r.paths()[0];
    let (data, stat) = zk.client().get_data(node).await.unwrap();
    let value: Value = serde_json::from_slice(&data).unwrap();
    assert_eq!(
        value,
        json!({"a": "b", "pid": std::process::id()}),
        "pid is always ours"
    );
    assert_eq!(stat.ephemeral_owner, zk.session_id());
    assert_eq!(
        zk.client().get_acl(node).await.unwrap().0,
        ACL::read_unsafe()
    );
    // The owner can still change its properties (replaced atomically under a read-only ACL).
    r.set_properties(map(json!({"a": "c"}))).await.unwrap();
    let props = zk.get_properties(node).await.unwrap();
    assert_eq!(props.get("a"), Some(&json!("c")));
    assert_eq!(r.status(), RegistrationStatus::Registered);
    // A custom ACL is applied.
    let acl = vec![ACL::new(Perms::ALL, Id::anyone())];
    let opts = RegisterOptions {
        acl: acl.clone(),
        ..RegisterOptions::default()
    };
    let r2 = zk
        .register_server_with(&path, "raw-name", PropertyMap::new(), opts)
        .await
        .unwrap();
    assert_eq!(zk.client().get_acl(&r2.paths()[0]).await.unwrap().0, acl);
    assert!(
        r2.paths()[0].ends_with("/raw-name"),
        "a string is taken as given"
    );
    zk.close().await;
}

#[tokio::test]
async fn registration_errors_are_reported() {
    let zk = connect().await;
    let root = service(&zk, "regerr").await;
    let path = format!("{root}/providers");
    let missing = zk
        .register_server(&format!("{root}/nope"), ("h", 1), PropertyMap::new())
        .await;
    assert!(
        matches!(missing, Err(ref e) if e.is_no_node()),
        "{missing:?}"
    );
    let _r = zk
        .register_server(&path, ("h", 1), PropertyMap::new())
        .await
        .unwrap();
    // Our own live node is adopted, another session's is a conflict.
    let again = zk
        .register_server(&path, ("h", 1), PropertyMap::new())
        .await;
    assert!(again.is_ok(), "adopting our own node: {again:?}");
    let other = connect().await;
    let conflict = other
        .register_server(&path, ("h", 1), PropertyMap::new())
        .await;
    assert!(
        matches!(conflict, Err(Error::RegistrationConflict { owner, .. }) if owner == zk.session_id())
    );
    other.close().await;
    zk.close().await;
}

#[tokio::test]
async fn blank_host_registers_every_local_address() {
    let zk = connect().await;
    let root = service(&zk, "blank").await;
    let path = format!("{root}/providers");
    let r = zk
        .register_server(&path, ":8080", PropertyMap::new())
        .await
        .unwrap();
    let children = zk.client().get_children(&path).await.unwrap();
    assert!(!children.is_empty());
    assert_eq!(children.len(), r.paths().len());
    assert!(
        children
            .iter()
            .all(|c| c.ends_with(":8080") && !c.starts_with(':')),
        "{children:?}"
    );
    let v6 = zk
        .register_server(
            &path,
            "[::1]:8080".parse::<std::net::SocketAddr>().unwrap(),
            PropertyMap::new(),
        )
        .await
        .unwrap();
    assert!(v6.paths()[0].ends_with("/[::1]:8080"));
    zk.close().await;
}

#[tokio::test]
async fn unregister_and_drop_delete_the_node() {
    let zk = connect().await;
    let root = service(&zk, "unreg").await;
    let path = format!("{root}/providers");
    let view = zk.children(&path).await.unwrap();
    let r = zk
        .register_server(&path, ("h", 1), PropertyMap::new())
        .await
        .unwrap();
    view.wait_for(WAIT, |n| n.len() == 1).await.unwrap();
    r.unregister().await.unwrap();
    view.wait_for(WAIT, |n| n.is_empty()).await.unwrap();
    let r = zk
        .register_server(&path, ("h", 2), PropertyMap::new())
        .await
        .unwrap();
    view.wait_for(WAIT, |n| n.len() == 1).await.unwrap();
    drop(r);
    view.wait_for(WAIT, |n| n.is_empty()).await.unwrap();
    zk.close().await;
}

#[tokio::test]
async fn session_expiry_restores_registrations_exactly_once_with_their_latest_properties() {
    let zk = connect().await;
    let root = service(&zk, "expiry").await;
    let path = format!("{root}/providers");
    let r = zk
        .register_server(&path, ("h", 1), map(json!({"v": 1})))
        .await
        .unwrap();
    r.set_properties(map(json!({"v": 2}))).await.unwrap();
    let observer = connect().await;
    let view = observer.children(&path).await.unwrap();
    let seen: Arc<Mutex<Vec<usize>>> = Arc::default();
    let log = seen.clone();
    view.on_change(move |c| {
        if let Change::Changed(n) = c {
            log.lock().unwrap().push(n.len());
        }
        Ok(())
    })
    .unwrap();
    let config = zk.properties(&root).await.unwrap();
    let old = zk.session_id();
    expire(&zk).await;
    wait_new_session(&zk, old).await;
    r.wait_for_status(WAIT, |s| *s == RegistrationStatus::Registered)
        .await
        .unwrap();
    view.wait_for(WAIT, |n| n.len() == 1).await.unwrap();
    let node = &r.paths()[0];
    let (data, stat) = observer.client().get_data(node).await.unwrap();
    assert_eq!(
        stat.ephemeral_owner,
        zk.session_id(),
        "owned by the new session"
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&data).unwrap()["v"],
        json!(2)
    );
    // Exactly once: the node went away with the old session and came back once.
    let history = seen.lock().unwrap().clone();
    assert_eq!(history.first(), Some(&1));
    assert!(
        history.iter().filter(|n| **n == 1).count() <= 2,
        "{history:?}"
    );
    // The properties view follows the new session.
    observer
        .update_properties(&root, map(json!({"after": true})))
        .await
        .unwrap();
    config
        .wait_for(WAIT, |p| p.get("after") == Some(&json!(true)))
        .await
        .unwrap();
    observer.close().await;
    zk.close().await;
}

#[tokio::test]
async fn a_registration_deleted_by_someone_else_is_not_resurrected_after_expiry() {
    let zk = connect().await;
    let root = service(&zk, "noresurrect").await;
    let path = format!("{root}/providers");
    let r = zk
        .register_server(&path, ("h", 1), PropertyMap::new())
        .await
        .unwrap();
    let other = connect().await;
    other.client().delete(&r.paths()[0], None).await.unwrap();
    r.wait_for_status(WAIT, |s| *s == RegistrationStatus::Removed)
        .await
        .unwrap();
    let old = zk.session_id();
    expire(&zk).await;
    wait_new_session(&zk, old).await;
    // Give the (absent) restore a chance to run: a sync on the new session orders after it.
    zk.client().sync("/").await.unwrap();
    assert_eq!(other.client().exists(&r.paths()[0]).await.unwrap(), None);
    assert_eq!(r.status(), RegistrationStatus::Removed);
    other.close().await;
    zk.close().await;
}

#[tokio::test]
async fn an_unregister_after_a_lost_create_reply_in_recovery_leaves_no_node() {
    // The recovery's create reaches the server, its reply is lost with the connection, and
    // the registration is unregistered before it learns the outcome: the node it may have
    // made must not stay behind (it would live as long as the session).
    let proxy = FaultProxy::start(shared_server().addr()).unwrap();
    let zk = ZooKeeper::connect_with(&proxy.connect_string(), options(Duration::from_secs(10)))
        .await
        .unwrap();
    let root = service(&zk, "lostcreate").await;
    let r = zk
        .register_server(&format!("{root}/providers"), ("h", 1), PropertyMap::new())
        .await
        .unwrap();
    let node = r.paths()[0].clone();
    let observer = connect().await;
    let (seen, gone) = observer.client().exists_watch(&node).await.unwrap();
    assert!(seen.is_some());
    // Every chunk through the proxy now waits: the create's reply stays in the proxy long
    // after the server made the node.
    proxy.delay(Duration::from_millis(300));
    expire(&zk).await;
    let deleted = tokio::time::timeout(WAIT, gone.changed()).await.unwrap();
    assert_eq!(deleted.event_type, zk_session::EventType::NodeDeleted);
    let (seen, created) = observer.client().exists_watch(&node).await.unwrap();
    assert!(seen.is_none(), "re-created before the observer looked");
    let created = tokio::time::timeout(WAIT, created.changed()).await.unwrap();
    assert_eq!(created.event_type, zk_session::EventType::NodeCreated);
    // The unregister is queued before the cut (this runtime runs one task at a time, and the
    // spawned one sends it at its first poll), then the create's reply is lost.
    let unregister = tokio::spawn(r.unregister());
    tokio::task::yield_now().await;
    proxy.cut();
    proxy.delay(Duration::ZERO);
    tokio::time::timeout(WAIT, unregister)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(observer.client().exists(&node).await.unwrap(), None);
    observer.close().await;
    zk.close().await;
}

#[tokio::test]
async fn a_reconnect_within_the_session_churns_nothing() {
    let proxy = FaultProxy::start(shared_server().addr()).unwrap();
    let zk = ZooKeeper::connect_with(&proxy.connect_string(), options(Duration::from_secs(10)))
        .await
        .unwrap();
    let root = service(&zk, "nochurn").await;
    let path = format!("{root}/providers");
    let r = zk
        .register_server(&path, ("h", 1), PropertyMap::new())
        .await
        .unwrap();
    let observer = connect().await;
    let (_, before) = observer.client().get_data(&r.paths()[0]).await.unwrap();
    let id = zk.session_id();
    let mut events = zk.session_events();
    proxy.cut();
    tokio::time::timeout(WAIT, async {
        let mut disconnected = false;
        while let Some(ev) = events.next().await {
            disconnected |= ev.state == zk_session::SessionState::Disconnected;
            if disconnected && ev.state.is_connected() {
                return;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(zk.session_id(), id);
    zk.client().sync("/").await.unwrap();
    let (_, after) = observer.client().get_data(&r.paths()[0]).await.unwrap();
    assert_eq!(before.czxid, after.czxid, "not re-created");
    assert_eq!(before.mzxid, after.mzxid, "not rewritten");
    assert_eq!(r.status(), RegistrationStatus::Registered);
    observer.close().await;
    zk.close().await;
}

#[tokio::test]
async fn concurrent_updates_of_different_keys_all_survive() {
    let a = connect().await;
    let b = connect().await;
    let root = service(&a, "cas").await;
    let pa = a.properties(&root).await.unwrap();
    let pb = b.properties(&root).await.unwrap();
    let n = 15;
    let ta = tokio::spawn(async move {
        for i in 0..n {
            pa.update(map(json!({format!("a{i}"): i}))).await.unwrap();
        }
        pa
    });
    let tb = tokio::spawn(async move {
        for i in 0..n {
            pb.update(map(json!({format!("b{i}"): i}))).await.unwrap();
        }
        pb
    });
    let (pa, _pb) = (ta.await.unwrap(), tb.await.unwrap());
    let all = a.get_properties(&root).await.unwrap();
    assert_eq!(all.len(), 2 * n, "{all:?}");
    pa.wait_for(WAIT, |p| p.len() == 2 * n).await.unwrap();
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn node_data_rules_follow_zc_zk() {
    let zk = connect().await;
    let root = unique_path("datarules");
    let c = zk.client();
    c.create(&root, b"", &CreateOptions::persistent())
        .await
        .unwrap();
    assert_eq!(zk.get_properties(&root).await.unwrap(), PropertyMap::new());
    c.set_data(&root, b"\n{xxx}\n", None).await.unwrap();
    assert_eq!(
        zk.get_properties(&root).await.unwrap(),
        map(json!({"string_value": "\n{xxx}\n"}))
    );
    zk.set_properties(&root, map(json!({"string_value": "raw"})))
        .await
        .unwrap();
    assert_eq!(&c.get_data(&root).await.unwrap().0[..], b"raw");
    zk.set_properties(&root, PropertyMap::new()).await.unwrap();
    assert_eq!(&c.get_data(&root).await.unwrap().0[..], b"{}");
    zk.close().await;
}

#[tokio::test]
async fn callbacks_that_fail_are_unsubscribed_and_others_keep_running() {
    let zk = connect().await;
    let root = service(&zk, "callbacks").await;
    let path = format!("{root}/providers");
    let view = zk.children(&path).await.unwrap();
    let first = view.on_change(|_| Err("no".into()));
    assert!(first.is_err(), "an error in the first call propagates");
    assert_eq!(view.subscriber_count(), 0);
    let calls = Arc::new(Mutex::new(0));
    let count = calls.clone();
    view.on_change(move |_| {
        let n = {
            let mut c = count.lock().unwrap();
            *c += 1;
            *c
        };
        if n == 2 { panic!("boom") } else { Ok(()) }
    })
    .unwrap();
    let good = Arc::new(Mutex::new(0));
    let g = good.clone();
    view.on_change(move |_| {
        *g.lock().unwrap() += 1;
        Ok(())
    })
    .unwrap();
    zk.client()
        .create(&format!("{path}/x"), b"", &CreateOptions::persistent())
        .await
        .unwrap();
    zk.client()
        .create(&format!("{path}/y"), b"", &CreateOptions::persistent())
        .await
        .unwrap();
    view.wait_for(WAIT, |n| n.len() == 2).await.unwrap();
    tokio::time::timeout(WAIT, async {
        while view.subscriber_count() != 1 || *good.lock().unwrap() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(
        *calls.lock().unwrap(),
        2,
        "the panicking callback was dropped"
    );
    zk.close().await;
}

#[tokio::test]
async fn dropping_a_view_removes_its_server_watch() {
    let zk = connect().await;
    let root = service(&zk, "dropview").await;
    let path = format!("{root}/providers");
    let view = zk.children(&path).await.unwrap();
    let stream = view.changes();
    let client = zk.client();
    client
        .check_watches(&path, WatcherType::Children)
        .await
        .unwrap();
    drop(view);
    client.sync("/").await.unwrap();
    client
        .check_watches(&path, WatcherType::Children)
        .await
        .unwrap();
    drop(stream);
    tokio::time::timeout(WAIT, async {
        while client
            .check_watches(&path, WatcherType::Children)
            .await
            .is_ok()
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the watch is removed once the last reader is gone");
    zk.close().await;
}

#[tokio::test]
async fn an_unreachable_server_fails_to_connect_within_the_deadline() {
    // A port nobody listens on: bind one and drop it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cs = format!("127.0.0.1:{port}");
    let opts = ZooKeeperOptions {
        connect_timeout: Some(Duration::from_millis(500)),
        ..ZooKeeperOptions::default()
    };
    let started = std::time::Instant::now();
    let result = ZooKeeper::connect_with(&cs, opts).await;
    assert!(
        matches!(result, Err(Error::FailedConnect { ref connection_string }) if *connection_string == cs)
    );
    assert!(started.elapsed() < WAIT);
}

#[tokio::test]
async fn close_removes_registrations_at_once_and_is_idempotent() {
    let zk = connect().await;
    let root = service(&zk, "closing").await;
    let path = format!("{root}/providers");
    let r = zk
        .register_server(&path, ("h", 1), PropertyMap::new())
        .await
        .unwrap();
    zk.close().await;
    zk.close().await;
    let other = connect().await;
    assert_eq!(other.client().exists(&r.paths()[0]).await.unwrap(), None);
    r.wait_for_status(WAIT, |s| *s == RegistrationStatus::Unregistered)
        .await
        .unwrap();
    other.close().await;
}

#[tokio::test]
async fn null_node_data_reads_as_empty_properties_and_keeps_watching() {
    let zk = connect().await;
    let path = unique_path("nulldata");
    // A null buffer on the wire (length -1), as the Java client writes for `null` data.
    let c = zk.client();
    let request = zk_proto::CreateRequest {
        path: Some(path.clone()),
        data: None,
        acl: Some(ACL::open_unsafe()),
        flags: zk_proto::CreateMode::Persistent,
    };
    let reply = c
        .request(zk_proto::OpCode::Create, zk_proto::to_bytes(&request))
        .await
        .unwrap();
    assert!(reply.err.is_ok());
    let (data, _) = c.get_data(&path).await.unwrap();
    assert!(data.is_empty());
    let view = zk.properties(&path).await.unwrap();
    assert!(view.is_empty());
    c.set_data(&path, br#"{"a":1}"#, None).await.unwrap();
    view.wait_for(WAIT, |p| p.get("a") == Some(&json!(1)))
        .await
        .unwrap();
    zk.close().await;
}

#[tokio::test]
async fn authentication_is_carried_into_the_session_after_an_expiry() {
    let opts = ZooKeeperOptions {
        auth: vec![("digest".into(), b"frank:pw".to_vec())],
        ..options(Duration::from_secs(10))
    };
    let zk = ZooKeeper::connect_with(&shared_server().connect_string(), opts)
        .await
        .unwrap();
    let path = unique_path("authexpiry");
    let acl = vec![zk_session::acl::digest(Perms::ALL, "frank", "pw")];
    zk.client()
        .create(&path, b"{}", &CreateOptions::persistent().with_acl(acl))
        .await
        .unwrap();
    let old = zk.session_id();
    expire(&zk).await;
    wait_new_session(&zk, old).await;
    zk.update_properties(&path, map(json!({"after": "expiry"})))
        .await
        .unwrap();
    let stranger = connect().await;
    assert!(matches!(
        stranger
            .update_properties(&path, map(json!({"x": 1})))
            .await,
        Err(Error::ZooKeeper(zk_session::Error::NoAuth))
    ));
    stranger.close().await;
    zk.close().await;
}

#[tokio::test]
async fn a_children_view_reads_with_get_children2_which_the_server_can_answer_from_its_cache() {
    let recording = Recording::default();
    let proxy = FaultProxy::with_recording(shared_server().addr(), recording.clone()).unwrap();
    let zk = ZooKeeper::connect_with(&proxy.connect_string(), options(Duration::from_secs(10)))
        .await
        .unwrap();
    let root = service(&zk, "children2").await;
    let providers = format!("{root}/providers");
    let view = zk.children(&providers).await.unwrap();
    zk.client()
        .create(&format!("{providers}/a"), b"", &CreateOptions::persistent())
        .await
        .unwrap();
    view.wait_for(WAIT, |names| names.iter().any(|n| n == "a"))
        .await
        .unwrap();
    let ops = recording.request_ops();
    const GET_CHILDREN: i32 = 8;
    const GET_CHILDREN2: i32 = 12;
    assert!(
        ops.iter().filter(|&&op| op == GET_CHILDREN2).count() >= 2,
        "the first read and the one after the change: {ops:?}"
    );
    assert!(!ops.contains(&GET_CHILDREN), "{ops:?}");
    zk.close().await;
}
