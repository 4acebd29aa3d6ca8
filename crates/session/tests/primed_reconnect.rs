//! Primed reconnects (`SessionConfig::prime_connection`) against a real ZooKeeper server: the
//! auth replays, the SetWatches and the reads queued while disconnected go right behind the
//! ConnectRequest. The wire order is asserted deterministically in `state_machine.rs`; here
//! the real server's part: it runs them on the resumed session, in order, and a session it
//! expired is still reported as expired.

use std::time::Duration;

use tokio::time::timeout;
use zk_session::{
    ACL, Client, CreateOptions, Error, EventType, Id, Perms, SessionConfig, SessionState,
};
use zk_testkit::{FaultProxy, shared_server, unique_path};

const WAIT: Duration = Duration::from_secs(20);

fn config(prime_connection: bool) -> SessionConfig {
    SessionConfig {
        session_timeout: Duration::from_secs(10),
        prime_connection,
        ..SessionConfig::default()
    }
}

async fn wait_for(c: &Client, want: impl Fn(SessionState) -> bool) {
    zk_session::testing::wait_for_state(c, want, WAIT)
        .await
        .expect("state reached in time");
}

/// Reads and a write made while the connection is down, behind a blackhole that holds the
/// new connection's bytes (ConnectRequest, auth replay, SetWatches, the reads) until it lifts:
/// every one is answered on the same session, the reads of a node only the authenticated user
/// may read succeed (the auth went first), and a watch set before the cut fires for a change
/// made meanwhile.
async fn queued_reads_are_answered_after_a_cut(prime_connection: bool) {
    let server = shared_server();
    let proxy = FaultProxy::start(server.addr()).unwrap();
    let c = Client::connect_with(&proxy.connect_string(), config(prime_connection))
        .await
        .unwrap();
    c.add_auth("digest", b"primed:secret").await.unwrap();
    let private = unique_path("primed-private");
    let acl = vec![ACL::new(Perms::ALL, Id::creator())];
    c.create(
        &private,
        b"mine",
        &CreateOptions::persistent().with_acl(acl),
    )
    .await
    .unwrap();
    let watched = unique_path("primed-watched");
    c.create(&watched, b"0", &CreateOptions::persistent())
        .await
        .unwrap();
    let (_, _, watch) = c.get_data_watch(&watched).await.unwrap();
    let id = c.session_id();

    proxy.blackhole();
    proxy.cut();
    wait_for(&c, |s| s == SessionState::Disconnected).await;
    let other = Client::connect(&server.connect_string()).await.unwrap();
    other.set_data(&watched, b"1", None).await.unwrap();

    let reads: Vec<_> = (0..3)
        .map(|_| {
            let (c, p) = (c.clone(), private.clone());
            tokio::spawn(async move { c.get_data(&p).await })
        })
        .collect();
    let write = {
        let (c, p) = (c.clone(), watched.clone());
        tokio::spawn(async move { c.set_data(&p, b"2", None).await })
    };
    let children = {
        let (c, p) = (c.clone(), watched.clone());
        tokio::spawn(async move { c.get_children(&p).await })
    };
    proxy.restore();

    for read in reads {
        let (data, _) = timeout(WAIT, read).await.unwrap().unwrap().unwrap();
        assert_eq!(&data[..], b"mine");
    }
    let stat = timeout(WAIT, write).await.unwrap().unwrap().unwrap();
    assert_eq!(stat.version, 2, "after the other client's change");
    let kids = timeout(WAIT, children).await.unwrap().unwrap().unwrap();
    assert!(kids.is_empty());
    assert_eq!(c.session_id(), id, "the same session");
    let ev = timeout(WAIT, watch.changed()).await.unwrap();
    assert_eq!(ev.event_type, EventType::NodeDataChanged);

    c.delete(&private, None).await.unwrap();
    c.delete(&watched, None).await.unwrap();
    other.close().await;
    c.close().await;
}

#[tokio::test]
async fn primed_reads_after_a_cut_run_on_the_resumed_session_after_the_auth_and_the_set_watches() {
    queued_reads_are_answered_after_a_cut(true).await;
}

#[tokio::test]
async fn unprimed_reads_after_a_cut_run_on_the_resumed_session_too() {
    queued_reads_are_answered_after_a_cut(false).await;
}

/// The server expired the session while the client was away: the reconnect's ConnectRequest
/// goes primed with reads the server never runs; it answers "expired" and closes a connection
/// with those bytes unread (which may reset it and cost the client that answer: then the next
/// attempt goes unprimed). Either way the client is told: the reads fail with SessionExpired
/// and the session is Expired, without a hang.
#[tokio::test]
async fn a_primed_reconnect_to_an_expired_session_fails_the_queued_reads_with_session_expired() {
    let server = shared_server();
    let proxy = FaultProxy::start(server.addr()).unwrap();
    let listen = proxy.addr();
    let c = Client::connect_with(&proxy.connect_string(), config(true))
        .await
        .unwrap();
    let path = unique_path("primed-expired");
    c.create(&path, b"", &CreateOptions::ephemeral())
        .await
        .unwrap();
    let (id, passwd) = c.session_credentials();

    // Nothing listens while the server expires the session: the client's attempts fail at
    // TCP connect, before any handshake, so the next one that gets through is primed.
    drop(proxy);
    wait_for(&c, |s| s == SessionState::Disconnected).await;
    zk_session::testing::expire_session(&server.connect_string(), id, passwd)
        .await
        .expect("expired on the server");
    let reads: Vec<_> = (0..2)
        .map(|_| {
            let (c, p) = (c.clone(), path.clone());
            tokio::spawn(async move { c.get_data(&p).await })
        })
        .collect();
    // Let both reads reach the session's queue before the port opens again.
    tokio::task::yield_now().await;
    let _proxy = FaultProxy::bind(listen, server.addr(), None).unwrap();

    wait_for(&c, |s| s == SessionState::Expired).await;
    for read in reads {
        let result = timeout(WAIT, read).await.unwrap().unwrap();
        assert_eq!(result, Err(Error::SessionExpired));
    }
    let observer = Client::connect(&server.connect_string()).await.unwrap();
    assert_eq!(
        observer.exists(&path).await,
        Ok(None),
        "its ephemeral is gone"
    );
    observer.close().await;
}
