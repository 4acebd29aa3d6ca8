//! zk-session across server restarts and ensemble failover (each test starts its own servers).

use std::time::Duration;

use tokio::time::timeout;
use zk_session::{Client, CreateOptions, EventType, SessionConfig, SessionState};
use zk_testkit::{Ensemble, Server};

const WAIT: Duration = Duration::from_secs(30);

async fn wait_connected_again(c: &Client) {
    let mut events = c.session_events();
    timeout(WAIT, async {
        let mut disconnected = !c.state().state.is_connected();
        loop {
            if disconnected && c.state().state.is_connected() {
                return;
            }
            match events.next().await {
                Some(ev) if ev.state == SessionState::Disconnected => disconnected = true,
                Some(ev) if disconnected && ev.state.is_connected() => return,
                Some(ev) if ev.state.is_terminal() => panic!("session ended: {ev:?}"),
                Some(_) => {}
                None => panic!("events ended"),
            }
        }
    })
    .await
    .expect("reconnected in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_within_the_session_timeout_keeps_the_session_and_its_watches() {
    let server = Server::start().unwrap();
    let config = SessionConfig {
        session_timeout: Duration::from_secs(20),
        ..SessionConfig::default()
    };
    let c = Client::connect_with(&server.connect_string(), config)
        .await
        .unwrap();
    c.create("/kept", b"0", &CreateOptions::persistent())
        .await
        .unwrap();
    c.create("/eph", b"", &CreateOptions::ephemeral())
        .await
        .unwrap();
    let (_, _, watch) = c.get_data_watch("/kept").await.unwrap();
    let id = c.session_id();
    let s = &server;
    let mut events = c.session_events();
    tokio::task::block_in_place(|| s.stop());
    timeout(WAIT, async {
        while let Some(ev) = events.next().await {
            if ev.state == SessionState::Disconnected {
                return;
            }
        }
    })
    .await
    .expect("disconnected");
    tokio::task::block_in_place(|| s.restart()).unwrap();
    // A change made by someone else while our client was away.
    let other = Client::connect(&server.connect_string()).await.unwrap();
    other.set_data("/kept", b"1", None).await.unwrap();
    other.close().await;
    timeout(WAIT, c.wait_connected(None))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.session_id(), id, "same session");
    let ev = timeout(WAIT, watch.changed())
        .await
        .expect("the change made while away is delivered");
    assert_eq!(ev.event_type, EventType::NodeDataChanged);
    assert!(
        c.exists("/eph").await.unwrap().is_some(),
        "our ephemeral survived"
    );
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_member_we_are_on_moves_the_session_to_another_member() {
    let ensemble = Ensemble::start().unwrap();
    let config = SessionConfig {
        session_timeout: Duration::from_secs(15),
        ..SessionConfig::default()
    };
    let c = Client::connect_with(&ensemble.connect_string(), config)
        .await
        .unwrap();
    c.create("/e", b"", &CreateOptions::ephemeral())
        .await
        .unwrap();
    let (_, watch) = c.exists_watch("/e").await.unwrap();
    let id = c.session_id();
    // Which member are we on? The one whose `cons` lists our session.
    let hex = format!("{id:x}");
    let member = (0..ensemble.len())
        .find(|i| {
            ensemble
                .four_letter_word(*i, "cons")
                .map(|out| out.contains(&hex))
                .unwrap_or(false)
        })
        .expect("a member serves our session");
    let e = &ensemble;
    tokio::task::block_in_place(|| e.kill(member));
    wait_connected_again(&c).await;
    assert_eq!(c.session_id(), id, "same session on another member");
    assert!(c.exists("/e").await.unwrap().is_some());
    c.delete("/e", None).await.unwrap();
    let ev = timeout(WAIT, watch.changed()).await.unwrap();
    assert_eq!(ev.event_type, EventType::NodeDeleted);
    tokio::task::block_in_place(|| e.restart(member)).unwrap();
    c.close().await;
}
