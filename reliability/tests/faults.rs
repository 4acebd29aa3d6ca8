//! Connection faults: every connection cut every few hundred milliseconds while four tasks read
//! and write and 200 watches are held.

use zk_reliability::scenarios::faults;
use zk_testkit::shared_server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cuts_lose_no_operation_no_watch_and_no_session() {
    let server = tokio::task::spawn_blocking(|| shared_server().connect_string())
        .await
        .unwrap();
    let report = faults::run(&server, &faults::Params::default())
        .await
        .expect("set-up");
    eprintln!("{report}");
    assert!(report.violations.is_empty(), "{report}");
    assert!(report.cuts >= 10, "{report}");
    assert!(report.ops.ok > 0, "{report}");
}
