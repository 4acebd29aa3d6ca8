//! Server data loss: a standalone server restarted on an empty data directory.

use zk_reliability::scenarios::data_loss;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_loss_ends_in_ensemble_behind_and_zc_zk_recovers_in_a_new_session() {
    let report = data_loss::run().await.expect("set-up");
    eprintln!("{report}");
    assert!(report.violations.is_empty(), "{report}");
}
