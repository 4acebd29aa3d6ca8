//! Load: 10,000 requests in flight on one session, 10,000 watched nodes, 100 sessions.

use zk_reliability::scenarios::load;
use zk_testkit::shared_server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_in_flight_ten_thousand_watches_a_hundred_sessions() {
    let server = tokio::task::spawn_blocking(|| shared_server().connect_string())
        .await
        .unwrap();
    let report = load::run(&server, &load::Params::default())
        .await
        .expect("set-up");
    eprintln!("{report}");
    assert!(report.violations.is_empty(), "{report}");
}
