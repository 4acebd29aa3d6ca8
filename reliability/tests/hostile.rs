//! A broken or hostile server: oversized, truncated and garbage frames, wrong and unsolicited
//! xids, a negative session timeout, malformed notification paths.

use zk_reliability::scenarios::hostile;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_misbehaviour_ends_in_a_typed_error_and_a_reconnect_with_bounded_memory() {
    let report = hostile::run().await.expect("set-up");
    eprintln!("{report}");
    assert!(report.violations.is_empty(), "{report}");
}
