//! Session expiry, real and server-side, and the stale ephemeral node of our previous session.

use zk_reliability::scenarios::expiry::{self, Kind};
use zk_testkit::shared_server;

async fn run(kind: Kind) {
    let server = tokio::task::spawn_blocking(|| shared_server().connect_string())
        .await
        .unwrap();
    let report = expiry::run(&server, kind).await.expect("set-up");
    eprintln!("{report}");
    assert!(report.violations.is_empty(), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takeover_expiry_restores_the_registration_once_and_resyncs_the_views() {
    run(Kind::Takeover).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackhole_longer_than_the_session_timeout_is_an_expiry_survived() {
    run(Kind::Blackhole).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_stale_ephemeral_from_a_session_given_up_is_replaced_not_waited_out() {
    run(Kind::StaleEphemeral).await;
}
