//! No JVM outlives its test process: this test runs itself as a child
//! process that starts the shared server, then ends that child (SIGKILL, or
//! a plain exit without dropping anything) and checks that the JVM dies and
//! its directory is removed.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::wait_for;

const CHILD_ENV: &str = "ZK_TESTKIT_WATCHDOG_CHILD";

/// The child's body; a no-op in a normal test run.
#[test]
fn watchdog_child() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    let server = zk_testkit::shared_server();
    let dir = server.data_dir().parent().unwrap().to_path_buf();
    println!("\nJVM {} {}", server.pid().unwrap(), dir.display());
    if mode == "exit" {
        std::process::exit(0);
    }
    thread::sleep(Duration::from_secs(120));
}

/// Whether `pid` is alive (a zombie counts as dead).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .next();
            state != Some("Z") && state != Some("X")
        }
        Err(_) => false,
    }
}

fn run_child(mode: &str) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "watchdog_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // libtest may print "test watchdog_child ... " on the same line.
            if let Some((_, rest)) = line.split_once("JVM ") {
                let (pid, dir) = rest.split_once(' ').unwrap();
                let _ = tx.send((pid.parse::<u32>().unwrap(), PathBuf::from(dir)));
            }
        }
    });
    let got = rx.recv_timeout(Duration::from_secs(90));
    if mode == "kill" || got.is_err() {
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    let (pid, dir) = got.expect("the child reported its JVM");
    if mode == "exit" {
        assert!(status.success(), "{status}");
    }
    wait_for("the orphaned JVM to die", Duration::from_secs(10), || {
        !alive(pid)
    });
    wait_for(
        "the server directory to be removed",
        Duration::from_secs(10),
        || !dir.exists(),
    );
}

#[test]
fn jvm_dies_with_a_killed_test_process() {
    run_child("kill");
}

#[test]
fn jvm_dies_with_an_exiting_test_process() {
    run_child("exit");
}
