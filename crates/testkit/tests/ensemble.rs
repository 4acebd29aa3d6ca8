//! Ensemble self-tests against real ZooKeeper servers. One ensemble goes
//! through the whole sequence, because starting one is the slow part.

mod common;

use std::time::{Duration, Instant};

use common::{MiniClient, srvr_zxid, wait_for};
use zk_testkit::{Ensemble, Mode, unique_path};

const ELECTION: Duration = Duration::from_secs(60);

fn modes(e: &Ensemble) -> Vec<Option<Mode>> {
    (0..e.len()).map(|i| e.mode(i)).collect()
}

#[test]
fn ensemble_failover_rejoin_pause_and_wipe() {
    let ensemble = Ensemble::start().expect("start ensemble");
    eprintln!("3-member ensemble startup: {:?}", ensemble.startup_time());
    assert_eq!(ensemble.len(), 3);
    assert_eq!(ensemble.connect_string().split(',').count(), 3);

    // Exactly one leader, two followers.
    let leader = ensemble.leader().expect("a leader");
    let m = modes(&ensemble);
    assert_eq!(
        m.iter().filter(|m| **m == Some(Mode::Leader)).count(),
        1,
        "{m:?}"
    );
    assert_eq!(
        m.iter().filter(|m| **m == Some(Mode::Follower)).count(),
        2,
        "{m:?}"
    );

    // Write something through a follower so that the data has to replicate.
    let follower = (leader + 1) % 3;
    let path = unique_path("ensemble");
    let mut client = MiniClient::connect(ensemble.addr(follower)).unwrap();
    assert_eq!(client.create(&path, b"data").unwrap(), 0);
    client.close().unwrap();

    // Kill the leader: the other two elect a new one.
    let t = Instant::now();
    ensemble.kill(leader);
    assert!(!ensemble.is_running(leader));
    let new_leader = ensemble.wait_ready(ELECTION).expect("new leader");
    eprintln!("re-election after killing the leader: {:?}", t.elapsed());
    assert_ne!(new_leader, leader);
    assert_eq!(ensemble.leader(), Some(new_leader));

    // Restart the old leader: it rejoins as a follower and has the data.
    let t = Instant::now();
    ensemble.restart(leader).expect("restart");
    eprintln!("restart of a member: {:?}", t.elapsed());
    assert_eq!(ensemble.mode(leader), Some(Mode::Follower));
    assert_eq!(ensemble.wait_ready(ELECTION).unwrap(), new_leader);
    let mut client = MiniClient::connect(ensemble.addr(leader)).unwrap();
    assert_eq!(client.exists(&path).unwrap(), 0);
    client.close().unwrap();

    // Pause a follower: it goes silent; the others keep serving.
    let paused = (0..3).find(|&i| i != new_leader).unwrap();
    ensemble.pause(paused).unwrap();
    assert!(
        ensemble
            .four_letter_word_timeout(paused, "srvr", Duration::from_millis(300))
            .is_err()
    );
    assert_eq!(ensemble.wait_ready(ELECTION).unwrap(), new_leader);
    ensemble.resume(paused).unwrap();
    wait_for("the resumed member to serve", ELECTION, || {
        ensemble.mode(paused) == Some(Mode::Follower)
    });

    // Wipe a follower: it comes back empty and syncs everything from the leader.
    let wiped = (0..3).find(|&i| i != new_leader).unwrap();
    ensemble.wipe_and_restart(wiped).expect("wipe and restart");
    assert_eq!(ensemble.mode(wiped), Some(Mode::Follower));
    assert_eq!(ensemble.wait_ready(ELECTION).unwrap(), new_leader);
    let mut client = MiniClient::connect(ensemble.addr(wiped)).unwrap();
    assert_eq!(
        client.exists(&path).unwrap(),
        0,
        "a wiped follower syncs from the leader"
    );
    client.close().unwrap();
    let zxid_leader = srvr_zxid(&ensemble.four_letter_word(new_leader, "srvr").unwrap());
    wait_for("the wiped member to catch up", ELECTION, || {
        srvr_zxid(&ensemble.four_letter_word(wiped, "srvr").unwrap()) >= zxid_leader
    });
    assert!(ensemble.log(wiped).contains("zk-testkit: starting server"));
}

#[test]
fn reconfig_enabled_ensemble_starts_and_restarts() {
    let ensemble = zk_testkit::ServerConfig::new()
        .reconfig_enabled(true)
        .start_ensemble(3)
        .expect("start ensemble");
    let conf = ensemble.four_letter_word(0, "conf").unwrap();
    assert!(conf.contains("server.3=127.0.0.1:"), "{conf}");
    let follower = (0..3)
        .find(|&i| ensemble.mode(i) == Some(Mode::Follower))
        .unwrap();
    ensemble.restart(follower).expect("restart");
    assert_eq!(ensemble.mode(follower), Some(Mode::Follower));
    ensemble
        .wipe_and_restart(follower)
        .expect("wipe and restart");
    ensemble.wait_ready(ELECTION).unwrap();
}
