//! Server stalls (SIGSTOP) shorter and longer than the read timeout.

use std::time::Duration;

use zk_reliability::scenarios::stalls;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalls_shorter_and_longer_than_the_read_timeout() {
    // Read timeout 4 s, session timeout 6 s: a 1 s stall goes unnoticed, a 5.5 s one
    // disconnects, an 8 s one may also cost the session.
    let report = stalls::run(&[
        Duration::from_secs(1),
        Duration::from_millis(5500),
        Duration::from_secs(8),
    ])
    .await
    .expect("set-up");
    eprintln!("{report}");
    assert!(report.violations.is_empty(), "{report}");
}
