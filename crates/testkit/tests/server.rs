//! Standalone server self-tests against a real ZooKeeper.

mod common;

use std::io::ErrorKind;
use std::time::Duration;

use common::{MiniClient, srvr_zxid};
use zk_testkit::{Error, Mode, Server, ServerConfig, shared_server, unique_path};

#[test]
fn standalone_answers_ruok_and_srvr() {
    let server = Server::start().expect("start");
    eprintln!("standalone startup: {:?}", server.startup_time());
    assert_eq!(server.four_letter_word("ruok").unwrap(), "imok");
    let srvr = server.four_letter_word("srvr").unwrap();
    assert_eq!(Mode::from_srvr(&srvr), Some(Mode::Standalone), "{srvr}");
    assert_eq!(
        server.connect_string(),
        format!("127.0.0.1:{}", server.client_port())
    );
    assert!(server.log().contains("zk-testkit: starting server.1"));
    let conf = server.four_letter_word("conf").unwrap();
    assert!(conf.contains("tickTime=500"), "{conf}");
    assert!(conf.contains("maxSessionTimeout=60000"), "{conf}");
    assert!(conf.contains("maxClientCnxns=0"), "{conf}");
}

#[test]
fn config_is_applied() {
    let server = ServerConfig::new()
        .tick_time(Duration::from_millis(200))
        .min_session_timeout(Duration::from_millis(400))
        .max_session_timeout(Duration::from_secs(5))
        .extra_config("maxClientCnxns=7")
        .start()
        .expect("start");
    let conf = server.four_letter_word("conf").unwrap();
    for want in [
        "tickTime=200",
        "minSessionTimeout=400",
        "maxSessionTimeout=5000",
        "maxClientCnxns=7",
    ] {
        assert!(conf.contains(want), "{want} missing from {conf}");
    }
    let envi = server.four_letter_word("envi").unwrap();
    assert!(envi.contains("java.version"), "{envi}");
}

#[test]
fn pause_and_resume() {
    let server = Server::start().expect("start");
    server.pause().unwrap();
    let err = server
        .four_letter_word_timeout("srvr", Duration::from_millis(300))
        .expect_err("a paused server must not answer");
    match err {
        Error::Io { source, .. } => {
            assert!(
                matches!(source.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
                "{source:?}"
            )
        }
        other => panic!("unexpected error {other}"),
    }
    server.resume().unwrap();
    let srvr = server.four_letter_word("srvr").unwrap();
    assert_eq!(Mode::from_srvr(&srvr), Some(Mode::Standalone));
}

#[test]
fn restart_keeps_data_and_wipe_loses_it() {
    let server = Server::start().expect("start");
    let path = unique_path("restart");
    let mut client = MiniClient::connect(server.addr()).unwrap();
    assert_eq!(client.create(&path, b"x").unwrap(), 0);
    client.close().unwrap();
    let zxid = srvr_zxid(&server.four_letter_word("srvr").unwrap());
    assert!(zxid > 0);

    let port = server.client_port();
    server.restart().unwrap();
    assert_eq!(server.client_port(), port);
    assert!(srvr_zxid(&server.four_letter_word("srvr").unwrap()) >= zxid);
    let mut client = MiniClient::connect(server.addr()).unwrap();
    assert_eq!(client.exists(&path).unwrap(), 0, "node survives a restart");
    client.close().unwrap();

    server.stop();
    assert!(!server.is_running());
    server.wipe_and_restart().unwrap();
    assert_eq!(srvr_zxid(&server.four_letter_word("srvr").unwrap()), 0);
    let mut client = MiniClient::connect(server.addr()).unwrap();
    assert_eq!(
        client.exists(&path).unwrap(),
        -101,
        "node is gone after a wipe"
    );
    client.close().unwrap();
}

#[test]
fn kill_then_restart() {
    let server = Server::start().expect("start");
    let pid = server.pid().unwrap();
    server.kill();
    assert!(!server.is_running());
    assert!(
        server
            .four_letter_word_timeout("ruok", Duration::from_millis(500))
            .is_err()
    );
    server.restart().unwrap();
    assert_ne!(server.pid().unwrap(), pid);
    assert_eq!(server.four_letter_word("ruok").unwrap(), "imok");
}

#[test]
fn shared_server_is_shared() {
    let a = shared_server();
    let b = shared_server();
    assert!(std::ptr::eq(a, b));
    assert_eq!(a.four_letter_word("ruok").unwrap(), "imok");
    let p1 = unique_path("t");
    let p2 = unique_path("t");
    assert_ne!(p1, p2);
    assert!(p1.starts_with("/t-"));
    assert_eq!(unique_path("/a b/c").split('-').next().unwrap(), "/a_b_c");
}

#[test]
fn a_broken_config_fails_fast_with_the_log() {
    let t = std::time::Instant::now();
    let err = ServerConfig::new()
        .extra_config("tickTime=not-a-number")
        .start()
        .expect_err("a broken config must not start");
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    let text = err.to_string();
    assert!(matches!(err, Error::Exited { .. }), "{text}");
    assert!(
        text.contains("NumberFormatException") || text.contains("not-a-number"),
        "{text}"
    );
}
