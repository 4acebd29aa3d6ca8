//! Ensemble failover: kill and restart the leader and the client's member.

use zk_reliability::scenarios::ensemble;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_and_the_clients_member_loses_nothing() {
    let report = ensemble::run(&ensemble::Params::default())
        .await
        .expect("set-up");
    eprintln!("{report}");
    assert!(report.violations.is_empty(), "{report}");
    assert!(report.kills >= 2, "{report}");
}
