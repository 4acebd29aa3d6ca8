//! `zk` against a real ZooKeeper server: every command, its output and exit status, the watch
//! streams under changes made by other clients, SIGTERM/SIGINT of the long-running commands, and
//! bad input of every kind.
//!
//! Every wait is bounded: one-shot runs and long-running processes are killed past [`WAIT`]
//! (long-running ones also when the test fails, by [`Running`]'s `Drop`), and their stdout is
//! read line by line through a channel with a deadline.

use std::collections::HashMap;
use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use zk_session::{ACL, Client, CreateOptions, Id, Perms, Stat};
use zk_testkit::{FaultProxy, shared_server, unique_path};

/// The longest any single wait of these tests may take.
const WAIT: Duration = Duration::from_secs(30);

fn server() -> String {
    shared_server().connect_string()
}

/// What a finished run of `zk` printed.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    raw: Vec<u8>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Asserts exit 0 and returns stdout.
    fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "{self:?}");
        &self.stdout
    }

    /// Asserts exit 1 with one line on stderr and returns it (without `zk: ` and newline).
    fn failed(&self) -> &str {
        assert_eq!(self.code, Some(1), "{self:?}");
        assert_eq!(self.stderr.lines().count(), 1, "{self:?}");
        assert!(!self.stderr.contains("panicked"), "{self:?}");
        self.stderr
            .trim_end()
            .strip_prefix("zk: ")
            .unwrap_or_else(|| panic!("no `zk: ` prefix: {self:?}"))
    }

    /// Asserts a usage error: exit 2, nothing on stdout, no panic.
    fn usage(&self) -> &str {
        assert_eq!(self.code, Some(2), "{self:?}");
        assert!(self.stdout.is_empty(), "{self:?}");
        assert!(!self.stderr.contains("panicked"), "{self:?}");
        &self.stderr
    }

    fn json(&self) -> Value {
        serde_json::from_str(self.ok()).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }
}

/// A `zk` command line, not yet run.
struct Zk {
    args: Vec<String>,
    server: Option<String>,
    env: HashMap<String, String>,
    stdin: Option<Vec<u8>>,
}

/// `zk -s <shared server> ARGS...`.
fn zk(args: &[&str]) -> Zk {
    Zk {
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        server: Some(server()),
        env: HashMap::new(),
        stdin: None,
    }
}

impl Zk {
    /// Without `-s` (the environment or the default decides).
    fn no_server(mut self) -> Zk {
        self.server = None;
        self
    }

    fn server(mut self, server: &str) -> Zk {
        self.server = Some(server.to_owned());
        self
    }

    fn env(mut self, key: &str, value: &str) -> Zk {
        self.env.insert(key.to_owned(), value.to_owned());
        self
    }

    fn stdin(mut self, data: &[u8]) -> Zk {
        self.stdin = Some(data.to_vec());
        self
    }

    fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_zk"));
        if let Some(server) = &self.server {
            command.args(["-s", server]);
        }
        command.args(&self.args);
        command.env_remove("ZC_ZK_CONNECTION_STRING");
        command.envs(&self.env);
        command
    }

    /// Runs to completion, killed past [`WAIT`].
    fn run(&self) -> Run {
        let mut child = self
            .command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn zk");
        let pid = child.id();
        let mut stdin = child.stdin.take().expect("stdin");
        let data = self.stdin.clone().unwrap_or_default();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(WAIT) {
            Ok(output) => {
                let output = output.expect("wait for zk");
                Run {
                    code: output.status.code(),
                    raw: output.stdout.clone(),
                    stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
                }
            }
            Err(_) => {
                signal(pid, "KILL");
                panic!("zk {:?} did not finish within {WAIT:?}", self.args);
            }
        }
    }

    /// Starts a long-running command.
    fn start(&self) -> Running {
        let mut child = self
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn zk");
        let pid = child.id();
        let stdout = child.stdout.take().expect("stdout");
        let mut stderr = child.stderr.take().expect("stderr");
        let (line_tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let errors = Arc::new(Mutex::new(String::new()));
        let sink = errors.clone();
        let (stderr_done_tx, stderr_done) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            let _done = stderr_done_tx;
            let mut buf = [0; 1024];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                sink.lock().unwrap().push_str(&text);
            }
        });
        let (exit_tx, exit) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = exit_tx.send(child.wait());
        });
        Running {
            pid,
            args: self.args.clone(),
            lines,
            exit,
            status: None,
            stderr: errors,
            stderr_done,
        }
    }
}

fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status();
}

/// A long-running `zk`, killed on drop.
struct Running {
    pid: u32,
    args: Vec<String>,
    lines: Receiver<String>,
    exit: Receiver<std::io::Result<ExitStatus>>,
    status: Option<ExitStatus>,
    stderr: Arc<Mutex<String>>,
    /// Disconnected once all of stderr was read.
    stderr_done: Receiver<()>,
}

impl Running {
    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The next stdout line, within [`WAIT`].
    fn line(&self) -> String {
        match self.lines.recv_timeout(WAIT) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => panic!(
                "zk {:?}: no line within {WAIT:?}; stderr: {}",
                self.args,
                self.stderr()
            ),
            Err(RecvTimeoutError::Disconnected) => panic!(
                "zk {:?}: stdout closed; stderr: {}",
                self.args,
                self.stderr()
            ),
        }
    }

    /// The next stdout line, as JSON.
    fn json(&self) -> Value {
        let line = self.line();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
    }

    /// Reads JSON lines until one satisfies `want`; returns the lines read, that one last.
    fn json_until(&self, want: impl Fn(&Value) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            let v = self.json();
            let done = want(&v);
            seen.push(v);
            if done {
                return seen;
            }
        }
        panic!("zk {:?}: no wanted line; saw {seen:?}", self.args);
    }

    /// Asserts that stdout ends (no more lines) within [`WAIT`].
    fn no_more_lines(&self) {
        match self.lines.recv_timeout(WAIT) {
            Err(RecvTimeoutError::Disconnected) => {}
            Ok(line) => panic!("unexpected line {line:?}"),
            Err(RecvTimeoutError::Timeout) => panic!("stdout still open after {WAIT:?}"),
        }
    }

    fn signal(&self, name: &str) {
        signal(self.pid, name);
    }

    /// The exit status, within [`WAIT`].
    fn wait(&mut self) -> ExitStatus {
        if let Some(status) = self.status {
            return status;
        }
        let status = self
            .exit
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("zk {:?} did not exit within {WAIT:?}", self.args))
            .expect("wait");
        self.status = Some(status);
        // Let the reader take the last of stderr.
        let _ = self.stderr_done.recv_timeout(WAIT);
        status
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.status.is_none() {
            signal(self.pid, "KILL");
            let _ = self.exit.recv_timeout(WAIT);
        }
    }
}

/// A test's own ZooKeeper client, to set up and check what `zk` did.
struct Peer {
    rt: tokio::runtime::Runtime,
    client: Client,
}

impl Peer {
    fn new() -> Peer {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let client = rt
            .block_on(Client::connect(&server()))
            .expect("test client connects");
        Peer { rt, client }
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.rt
            .block_on(async { tokio::time::timeout(WAIT, future).await })
            .expect("ZooKeeper call timed out")
    }

    fn create(&self, path: &str, data: &[u8]) {
        self.block_on(self.client.create(path, data, &CreateOptions::persistent()))
            .unwrap_or_else(|e| panic!("create {path}: {e}"));
    }

    fn create_ephemeral(&self, path: &str) {
        self.block_on(self.client.create(path, b"", &CreateOptions::ephemeral()))
            .unwrap_or_else(|e| panic!("create {path}: {e}"));
    }

    fn exists(&self, path: &str) -> Option<Stat> {
        self.block_on(self.client.exists(path)).expect("exists")
    }

    fn data(&self, path: &str) -> Vec<u8> {
        self.block_on(self.client.get_data(path))
            .expect("get_data")
            .0
            .to_vec()
    }

    /// Waits (on a watch, not a timer) until `path` exists or not.
    fn wait_exists(&self, path: &str, want: bool) {
        self.block_on(async {
            loop {
                let (stat, watcher) = self.client.exists_watch(path).await.expect("exists_watch");
                if stat.is_some() == want {
                    return;
                }
                watcher.changed().await;
            }
        });
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let client = self.client.clone();
        let _ = self
            .rt
            .block_on(async move { tokio::time::timeout(WAIT, client.close()).await });
    }
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

// ----- the node commands -----

#[test]
fn create_get_set_stat_ls_rm_round_trip() {
    let root = unique_path("cli-basic");
    let config = format!("{root}/config");
    assert_eq!(
        zk(&["create", "-p", &config, "{\"threads\": 4}"])
            .run()
            .ok(),
        format!("{config}\n")
    );
    assert_eq!(zk(&["get", &config]).run().ok(), "{\"threads\": 4}\n");
    assert_eq!(
        zk(&["get", "--raw", &config]).run().ok(),
        "{\"threads\": 4}"
    );

    let got = zk(&["--json", "get", &config]).run().json();
    assert_eq!(got["path"], json!(config));
    assert_eq!(got["data"], json!("{\"threads\": 4}"));
    assert_eq!(got["stat"]["version"], json!(0));
    assert_eq!(got["stat"]["data_length"], json!(14));
    assert_eq!(got["stat"]["ephemeral_owner"], json!("0x0"));

    // set: with the right version, then a stale one.
    assert_eq!(zk(&["set", &config, "v1", "--version", "0"]).run().ok(), "");
    let stale = zk(&["set", &config, "v2", "--version", "0"]).run();
    assert_eq!(
        stale.failed(),
        format!("bad version: {config} (expected version 0)")
    );
    let stat = zk(&["--json", "set", &config, "v2"]).run().json();
    assert_eq!(stat["version"], json!(2));
    assert_eq!(zk(&["get", &config]).run().ok(), "v2\n");

    let text = zk(&["stat", &config]).run();
    let text = text.ok();
    assert!(text.contains("version: 2\n"), "{text}");
    assert!(text.contains("data_length: 2\n"), "{text}");
    assert!(text.contains("ephemeral_owner: 0x0\n"), "{text}");
    let ctime = text
        .lines()
        .find(|l| l.starts_with("ctime: "))
        .expect("ctime");
    assert!(ctime.contains('T') && ctime.contains("Z ("), "{ctime}");
    let stat = zk(&["stat", "--json", &config]).run().json();
    assert_eq!(stat["version"], json!(2));
    assert_eq!(stat["num_children"], json!(0));

    // ls: sorted, one a line; --json: an array.
    for name in ["b", "a", "c"] {
        zk(&["create", &format!("{root}/{name}")]).run().ok();
    }
    assert_eq!(
        lines(zk(&["ls", &root]).run().ok()),
        ["a", "b", "c", "config"]
    );
    assert_eq!(
        zk(&["ls", &root, "--json"]).run().json(),
        json!(["a", "b", "c", "config"])
    );

    // A chroot in the connection string.
    let chrooted = zk(&["ls", "/"])
        .server(&format!("{}{root}", server()))
        .run();
    assert_eq!(lines(chrooted.ok()), ["a", "b", "c", "config"]);

    // rm: one node; a non-empty node needs -r.
    assert_eq!(
        zk(&["rm", &format!("{root}/a")]).run().ok(),
        format!("{root}/a\n")
    );
    assert_eq!(
        zk(&["rm", &root]).run().failed(),
        format!("node not empty: {root} (rm -r deletes its subtree)")
    );
    let removed = zk(&["rm", "-r", &root]).run();
    assert_eq!(
        lines(removed.ok()),
        [
            format!("{root}/b"),
            format!("{root}/c"),
            format!("{root}/config"),
            root.clone()
        ]
    );
    assert_eq!(
        zk(&["ls", &root]).run().failed(),
        format!("no node: {root}")
    );
}

#[test]
fn zookeeper_errors_are_one_line_with_the_path() {
    let root = unique_path("cli-errors");
    let missing = format!("{root}/a/b");
    for args in [
        vec!["get", missing.as_str()],
        vec!["ls", &missing],
        vec!["stat", &missing],
        vec!["set", &missing, "x"],
        vec!["rm", &missing],
        vec!["rm", "-r", &missing],
        vec!["create", &missing],
        vec!["children", &missing],
        vec!["props", &missing],
        vec!["props-update", &missing, "a=1"],
    ] {
        let run = zk(&args).run();
        assert_eq!(run.failed(), format!("no node: {missing}"), "{args:?}");
        assert_eq!(run.stdout, "", "{args:?}");
    }
    zk(&["create", &root]).run().ok();
    assert_eq!(
        zk(&["create", &root]).run().failed(),
        format!("node exists: {root}")
    );
    // Refused by the server (it has children, and is the server's own).
    let run = zk(&["rm", "/zookeeper"]).run();
    assert!(run.failed().contains(": /zookeeper"), "{run:?}");
    zk(&["rm", &root]).run().ok();
}

#[test]
fn create_modes_sequential_container_ttl_and_data_sources() {
    let root = unique_path("cli-create");
    zk(&["create", &root]).run().ok();

    let first = zk(&["create", "--sequential", &format!("{root}/item-"), "x"]).run();
    let first = first.ok().trim_end().to_owned();
    assert!(
        first.starts_with(&format!("{root}/item-")) && first.len() == root.len() + 16,
        "{first}"
    );
    let second = zk(&["--json", "create", "--sequential", &format!("{root}/item-")]).run();
    let second = second.json();
    assert!(
        second["path"].as_str().unwrap() > first.as_str(),
        "{second}"
    );
    assert_eq!(second["stat"]["version"], json!(0));

    // A sequential node's path may end with /; another may not.
    let bare = zk(&["create", "--sequential", &format!("{root}/")]).run();
    assert!(bare.ok().starts_with(&format!("{root}/00")), "{bare:?}");
    zk(&["create", &format!("{root}/")]).run().usage();

    let peer = Peer::new();
    let container = format!("{root}/container");
    zk(&["create", "--container", &container]).run().ok();
    assert!(peer.exists(&container).is_some());
    let ttl = format!("{root}/ttl");
    zk(&["create", "--ttl", "60000", &ttl, "t"]).run().ok();
    assert_eq!(peer.data(&ttl), b"t");
    zk(&["create", "--ttl", "1m", &format!("{root}/ttl2")])
        .run()
        .ok();

    // Data from a file and from stdin, byte for byte.
    let binary: Vec<u8> = vec![0, 159, 146, 150, 255, b'\n'];
    let file = std::env::temp_dir().join(format!("zk-cli-test-{}", std::process::id()));
    std::fs::write(&file, &binary).unwrap();
    let from_file = format!("{root}/file");
    zk(&["create", &from_file, "-f", file.to_str().unwrap()])
        .run()
        .ok();
    std::fs::remove_file(&file).unwrap();
    assert_eq!(peer.data(&from_file), binary);
    let from_stdin = format!("{root}/stdin");
    zk(&["create", &from_stdin, "--file", "-"])
        .stdin(&binary)
        .run()
        .ok();
    assert_eq!(peer.data(&from_stdin), binary);
    zk(&["set", &from_stdin, "-f", "-"])
        .stdin(b"new")
        .run()
        .ok();
    assert_eq!(peer.data(&from_stdin), b"new");

    // Binary data: --raw is exact; --json gives hex.
    let raw = zk(&["get", "--raw", &from_file]).run();
    assert_eq!(raw.code, Some(0), "{raw:?}");
    assert_eq!(raw.raw, binary);
    let got = zk(&["--json", "get", &from_file]).run().json();
    assert_eq!(got["data"], Value::Null);
    assert_eq!(got["data_hex"], json!("009f9296ff0a"));

    zk(&["rm", "-r", &root]).run().ok();
}

#[test]
fn create_ephemeral_holds_the_node_until_sigint() {
    let root = unique_path("cli-ephemeral");
    zk(&["create", &root]).run().ok();
    let node = format!("{root}/me");
    let peer = Peer::new();
    let mut holder = zk(&["create", "--ephemeral", &node, "held"]).start();
    assert_eq!(holder.line(), node);
    let stat = peer.exists(&node).expect("the ephemeral node exists");
    assert_ne!(stat.ephemeral_owner, 0);
    holder.signal("INT");
    assert_eq!(holder.wait().code(), Some(0), "{}", holder.stderr());
    // Gone at once: the session was closed, not left to time out.
    assert!(peer.exists(&node).is_none());
    zk(&["rm", &root]).run().ok();
}

#[test]
fn rm_recursive_keeps_ephemeral_nodes_unless_forced() {
    let root = unique_path("cli-rm");
    let peer = Peer::new();
    peer.create(&root, b"");
    for path in ["/a", "/a/x", "/a/y", "/b", "/b/c", "/b/c/d"] {
        peer.create(&format!("{root}{path}"), b"");
    }
    peer.create_ephemeral(&format!("{root}/b/c/eph"));

    // --dry-run lists, deletes nothing.
    let dry = zk(&["rm", "-r", "--dry-run", "--force", &root]).run();
    assert_eq!(
        lines(dry.ok()),
        [
            format!("{root}/a/x"),
            format!("{root}/a/y"),
            format!("{root}/a"),
            format!("{root}/b/c/d"),
            format!("{root}/b/c/eph"),
            format!("{root}/b/c"),
            format!("{root}/b"),
            root.clone(),
        ]
    );
    assert!(peer.exists(&format!("{root}/a/x")).is_some());
    let dry = zk(&["rm", "--dry-run", &format!("{root}/a/x")]).run();
    assert_eq!(dry.ok(), format!("{root}/a/x\n"));

    // --json: one report, also when something is kept (exit 1).
    let dry = zk(&["--json", "rm", "-r", "--dry-run", &format!("{root}/b")]).run();
    assert!(dry.failed().starts_with("not removed: "), "{dry:?}");
    let report: Value = serde_json::from_str(&dry.stdout).unwrap();
    assert_eq!(
        report,
        json!({
            "deleted": [format!("{root}/b/c/d")],
            "kept": [format!("{root}/b/c/eph")],
            "dry_run": true
        })
    );

    // Without --force the ephemeral node and its ancestors stay; the rest goes.
    let kept = zk(&["rm", "-r", &root]).run();
    assert_eq!(
        kept.failed(),
        format!(
            "not removed: {root}: kept 1 ephemeral node(s) (--force deletes them): {root}/b/c/eph"
        )
    );
    assert_eq!(
        lines(&kept.stdout),
        [
            format!("{root}/a/x"),
            format!("{root}/a/y"),
            format!("{root}/a"),
            format!("{root}/b/c/d"),
        ]
    );
    assert!(peer.exists(&format!("{root}/b/c/eph")).is_some());
    assert!(peer.exists(&format!("{root}/a")).is_none());

    let forced = zk(&["rm", "-r", "--force", &root]).run();
    assert_eq!(
        lines(forced.ok()),
        [
            format!("{root}/b/c/eph"),
            format!("{root}/b/c"),
            format!("{root}/b"),
            root.clone(),
        ]
    );
    assert!(peer.exists(&root).is_none());
}

#[test]
fn auth_digest_reads_protected_nodes_and_never_shows_the_password() {
    let root = unique_path("cli-auth");
    let peer = Peer::new();
    // digest id of alice:s3cret: base64(sha1("alice:s3cret")).
    let acl = vec![ACL::new(
        Perms::ALL,
        Id::new("digest", "alice:uLxpHc/uhT86OXPoSjJTp1M8CJY="),
    )];
    peer.block_on(peer.client.create(
        &root,
        b"secret data",
        &CreateOptions::persistent().with_acl(acl),
    ))
    .unwrap();

    let denied = zk(&["get", &root]).run();
    assert_eq!(denied.failed(), format!("not authorized: {root}"));
    let wrong = zk(&["--auth", "digest:alice:WRONGPW", "get", &root]).run();
    assert_eq!(wrong.failed(), format!("not authorized: {root}"));
    assert!(!wrong.stderr.contains("WRONGPW"));
    let allowed = zk(&["get", &root, "--auth", "digest:alice:s3cret"]).run();
    assert_eq!(allowed.ok(), "secret data\n");
    assert!(!allowed.stderr.contains("s3cret"));
    zk(&[
        "--auth",
        "digest:bob:x",
        "--auth",
        "digest:alice:s3cret",
        "rm",
        &root,
    ])
    .run()
    .ok();

    // Bad --auth values are usage errors that do not echo the value.
    for bad in ["s3cret", "digest:s3cret", ":s3cret", "digest::s3cret"] {
        let run = zk(&["--auth", bad, "ls", "/"]).run();
        assert!(!run.usage().contains("s3cret"), "{run:?}");
    }
}

// ----- bad input and unreachable servers -----

#[test]
fn usage_errors_exit_2() {
    let path = unique_path("cli-usage");
    let cases: Vec<Vec<&str>> = vec![
        vec![],
        vec!["nonsense"],
        vec!["ls"],
        vec!["get"],
        vec!["create"],
        vec!["set", "/a"],
        vec!["register", "/a"],
        vec!["props-set", "/a"],
        vec!["props-update", "/a"],
        vec!["ls", "relative/path"],
        vec!["ls", "/trailing/"],
        vec!["get", "/a//b"],
        vec!["stat", "/a/../b"],
        vec!["ls", ""],
        vec!["--timeout", "10", "ls", "/"],
        vec!["--timeout", "ten seconds", "ls", "/"],
        vec!["--timeout", "0s", "ls", "/"],
        vec!["--session-timeout", "-1s", "ls", "/"],
        vec!["create", "--ttl", "0", "/a"],
        vec!["create", "--ttl", "soon", "/a"],
        vec!["create", "--ephemeral", "--container", "/a"],
        vec!["create", "--ephemeral", "--ttl", "5000", "/a"],
        vec!["create", "--container", "--sequential", "/a"],
        vec!["create", "/a", "data", "--file", "/etc/hostname"],
        vec!["set", "/a", "--version", "x", "d"],
        vec!["rm", "--force", "/a"],
        vec!["rm", "-r", "--version", "1", "/a"],
        vec!["rm", "/"],
        vec!["register", &path, "nohost"],
        vec!["register", &path, "host:99999"],
        vec!["register", &path, "host:80", "novalue"],
        vec!["props-update", &path, "=1"],
        vec!["get", "--raw", "--json", "/a"],
    ];
    for args in cases {
        let run = zk(&args).run();
        run.usage();
        assert!(
            run.stderr.contains("error") || run.stderr.contains("Usage"),
            "{args:?}: {run:?}"
        );
    }
    // Bad connection strings, given or from the environment.
    for bad in ["", "host:port", "a:70000", "a,,b", "[::1", "a:2181/bad/"] {
        let run = zk(&["ls", "/"]).server(bad).run();
        assert!(
            run.usage().contains("invalid connection string"),
            "{bad:?}: {run:?}"
        );
        let run = zk(&["ls", "/"])
            .no_server()
            .env("ZC_ZK_CONNECTION_STRING", bad)
            .run();
        assert!(
            run.usage().contains("invalid connection string"),
            "{bad:?}: {run:?}"
        );
    }
}

#[test]
fn help_is_there_for_every_command() {
    let help = zk(&["--help"]).no_server().run();
    let text = help.ok();
    for command in [
        "ls",
        "get",
        "stat",
        "create",
        "set",
        "rm",
        "register",
        "children",
        "props",
        "props-set",
        "props-update",
        "wire",
    ] {
        assert!(
            text.contains(&format!("\n  {command} ")),
            "{command}: {text}"
        );
        let sub = zk(&[command, "--help"]).no_server().run();
        assert!(sub.ok().contains("Usage: zk"), "{command}");
        assert!(sub.stdout.contains("--server"), "{command}");
    }
    assert!(text.contains("Examples:"));
}

#[test]
fn the_environment_names_the_default_server() {
    let run = zk(&["ls", "/"])
        .no_server()
        .env("ZC_ZK_CONNECTION_STRING", &server())
        .run();
    assert!(lines(run.ok()).contains(&"zookeeper"), "{run:?}");
}

#[test]
fn unreachable_servers_fail_within_the_timeout() {
    // A closed port: connection refused, retried until the deadline.
    let port = zk_testkit::free_port().unwrap();
    let closed = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let run = zk(&["--timeout", "1s", "ls", "/"]).server(&closed).run();
    assert_eq!(
        run.failed(),
        format!("cannot connect to ZooKeeper at {closed} within 1s")
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // A server that accepts and never answers.
    let proxy = FaultProxy::start(shared_server().addr()).unwrap();
    proxy.blackhole();
    for args in [
        vec!["--timeout", "1500ms", "get", "/"],
        vec!["--timeout", "1500ms", "register", "/", "h:1"],
        vec!["--timeout", "1500ms", "children", "--watch", "/"],
    ] {
        let started = Instant::now();
        let run = zk(&args).server(&proxy.connect_string()).run();
        assert_eq!(
            run.failed(),
            format!(
                "cannot connect to ZooKeeper at {} within 1.5s",
                proxy.connect_string()
            ),
            "{args:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
}

// ----- zc-zk's commands -----

#[test]
fn props_set_and_update_take_json_values_or_strings() {
    let node = unique_path("cli-props");
    zk(&["create", &node]).run().ok();
    assert_eq!(zk(&["props", &node]).run().json(), json!({}));
    zk(&[
        "props-set",
        &node,
        "a=1",
        "b=hello",
        "c=[1,\"x\"]",
        "d=\"1\"",
        "e=true",
        "f=",
        "g={\"nested\":null}",
        "h=x=y",
    ])
    .run()
    .ok();
    let all = json!({
        "a": 1, "b": "hello", "c": [1, "x"], "d": "1", "e": true, "f": "",
        "g": {"nested": null}, "h": "x=y"
    });
    assert_eq!(zk(&["props", &node]).run().json(), all);
    let peer = Peer::new();
    let stored: Value = serde_json::from_slice(&peer.data(&node)).unwrap();
    assert_eq!(stored, all);

    let stat = zk(&["--json", "props-update", &node, "a=2", "z=null"])
        .run()
        .json();
    assert_eq!(stat["version"], json!(2));
    let mut merged = all.clone();
    merged["a"] = json!(2);
    merged["z"] = Value::Null;
    assert_eq!(zk(&["props", &node]).run().json(), merged);

    zk(&["props-set", &node, "only=1"]).run().ok();
    assert_eq!(zk(&["props", &node]).run().json(), json!({"only": 1}));

    // zc.zk's rule for data that is not a JSON object.
    zk(&["set", &node, "plain text"]).run().ok();
    assert_eq!(
        zk(&["props", &node]).run().json(),
        json!({"string_value": "plain text"})
    );
    zk(&["rm", &node]).run().ok();
}

#[test]
fn children_lists_sorted_names() {
    let root = unique_path("cli-children");
    zk(&["create", &root]).run().ok();
    for name in ["b:2", "a:1", "c:3"] {
        zk(&["create", &format!("{root}/{name}")]).run().ok();
    }
    assert_eq!(
        lines(zk(&["children", &root]).run().ok()),
        ["a:1", "b:2", "c:3"]
    );
    assert_eq!(
        zk(&["children", &root, "--json"]).run().json(),
        json!(["a:1", "b:2", "c:3"])
    );
    zk(&["rm", "-r", &root]).run().ok();
}

#[test]
fn children_watch_follows_changes_and_ends_on_deletion() {
    let root = unique_path("cli-children-watch");
    let peer = Peer::new();
    peer.create(&root, b"");
    peer.create(&format!("{root}/b"), b"");
    let mut watch = zk(&["children", "--watch", &root]).start();
    let children = |names: Value| json!({"event": "children", "path": root, "children": names});
    assert_eq!(watch.json(), children(json!(["b"])));

    peer.create(&format!("{root}/a"), b"");
    assert_eq!(watch.json(), children(json!(["a", "b"])));
    zk(&["create", &format!("{root}/c")]).run().ok();
    assert_eq!(watch.json(), children(json!(["a", "b", "c"])));
    zk(&["rm", &format!("{root}/a")]).run().ok();
    assert_eq!(watch.json(), children(json!(["b", "c"])));

    zk(&["rm", "-r", &root]).run().ok();
    // The last children may or may not show before the deletion (level-triggered).
    let seen = watch.json_until(|v| v["event"] == "deleted");
    assert_eq!(
        seen.last().unwrap(),
        &json!({"event": "deleted", "path": root})
    );
    watch.no_more_lines();
    assert_eq!(watch.wait().code(), Some(0), "{}", watch.stderr());
}

#[test]
fn props_watch_follows_changes_and_ends_on_deletion() {
    let node = unique_path("cli-props-watch");
    let peer = Peer::new();
    peer.create(&node, b"{\"a\": 1}");
    let mut watch = zk(&["props", "--watch", &node]).start();
    let props = |p: Value| json!({"event": "properties", "path": node, "properties": p});
    assert_eq!(watch.json(), props(json!({"a": 1})));

    zk(&["props-update", &node, "b=\"two\""]).run().ok();
    assert_eq!(watch.json(), props(json!({"a": 1, "b": "two"})));
    peer.block_on(peer.client.set_data(&node, b"raw", None))
        .unwrap();
    assert_eq!(watch.json(), props(json!({"string_value": "raw"})));

    zk(&["rm", &node]).run().ok();
    assert_eq!(watch.json(), json!({"event": "deleted", "path": node}));
    watch.no_more_lines();
    assert_eq!(watch.wait().code(), Some(0), "{}", watch.stderr());
}

#[test]
fn watches_stop_cleanly_on_sigterm() {
    let node = unique_path("cli-watch-term");
    zk(&["create", &node]).run().ok();
    for command in ["children", "props"] {
        let mut watch = zk(&[command, "--watch", &node]).start();
        let first = watch.json();
        assert_eq!(first["path"], json!(node), "{first}");
        watch.signal("TERM");
        assert_eq!(watch.json(), json!({"event": "session", "state": "closed"}));
        watch.no_more_lines();
        assert_eq!(watch.wait().code(), Some(0), "{}", watch.stderr());
    }
    zk(&["rm", &node]).run().ok();
}

#[test]
fn register_stays_until_sigterm_and_its_node_goes_at_once() {
    let service = unique_path("cli-register");
    let providers = format!("{service}/providers");
    zk(&["create", "-p", &providers]).run().ok();
    let peer = Peer::new();
    let mut watch = zk(&["children", "--watch", &providers]).start();
    let children =
        |names: Value| json!({"event": "children", "path": providers, "children": names});
    assert_eq!(watch.json(), children(json!([])));

    let mut server = zk(&[
        "register",
        &providers,
        "10.0.0.5:8080",
        "weight=3",
        "version=\"1.2\"",
        "name=foo",
    ])
    .start();
    let node = format!("{providers}/10.0.0.5:8080");
    assert_eq!(server.line(), format!("registered {node}"));
    assert_eq!(watch.json(), children(json!(["10.0.0.5:8080"])));

    let stat = peer.exists(&node).expect("registered");
    assert_ne!(stat.ephemeral_owner, 0);
    let data: Value = serde_json::from_slice(&peer.data(&node)).unwrap();
    assert_eq!(data["weight"], json!(3));
    assert_eq!(data["version"], json!("1.2"));
    assert_eq!(data["name"], json!("foo"));
    assert!(data["pid"].as_u64().is_some(), "{data}");
    assert_eq!(
        zk(&["props", &node]).run().json(),
        data,
        "props reads what register wrote"
    );

    // A second registration of the same address conflicts.
    let conflict = zk(&["register", &providers, "10.0.0.5:8080"]).run();
    assert!(
        conflict
            .failed()
            .contains("is registered by another session"),
        "{conflict:?}"
    );

    server.signal("TERM");
    assert_eq!(server.wait().code(), Some(0), "{}", server.stderr());
    // Gone at once: no session timeout to wait for.
    assert!(peer.exists(&node).is_none());
    assert_eq!(watch.json(), children(json!([])));

    watch.signal("TERM");
    assert_eq!(watch.json(), json!({"event": "session", "state": "closed"}));
    assert_eq!(watch.wait().code(), Some(0));
    zk(&["rm", "-r", &service]).run().ok();
}

#[test]
fn register_and_watch_recover_from_session_expiry() {
    let providers = unique_path("cli-expiry");
    zk(&["create", &providers]).run().ok();
    let peer = Peer::new();
    let proxy = FaultProxy::start(shared_server().addr()).unwrap();
    let through_proxy = |args: &[&str]| {
        let mut all = vec!["--session-timeout", "2s", "--timeout", "20s"];
        all.extend_from_slice(args);
        zk(&all).server(&proxy.connect_string()).start()
    };
    let mut watch = through_proxy(&["children", "--watch", &providers]);
    assert_eq!(watch.json()["children"], json!([]));
    let mut server = through_proxy(&["--json", "register", &providers, "127.0.0.1:9999"]);
    let node = format!("{providers}/127.0.0.1:9999");
    assert_eq!(server.json(), json!({"event": "registered", "path": node}));
    assert_eq!(watch.json()["children"], json!(["127.0.0.1:9999"]));
    let old_owner = peer.exists(&node).expect("registered").ephemeral_owner;

    // A partition longer than the session timeout: the server expires both sessions, which
    // deletes the registration...
    proxy.blackhole();
    peer.wait_exists(&node, false);
    // ...and after it heals both learn of the expiry and start new sessions.
    proxy.restore();
    let is_state = |state: &str| json!({"event": "session", "state": state});
    let is_session = |state: &'static str| move |v: &Value| *v == is_state(state);
    let seen = server.json_until(is_session("expired"));
    assert!(seen.contains(&is_state("disconnected")), "{seen:?}");
    server.json_until(is_session("connected"));
    let mut seen = watch.json_until(is_session("expired"));
    assert!(seen.contains(&is_state("disconnected")), "{seen:?}");
    seen.extend(watch.json_until(is_session("connected")));
    // The registration is back, in the new session...
    peer.wait_exists(&node, true);
    let new_owner = peer.exists(&node).expect("re-registered").ephemeral_owner;
    assert_ne!(new_owner, old_owner);
    // ...and the watcher's latest children show it (no line if the re-read after the expiry
    // already found it: the state did not change).
    let latest = seen
        .iter()
        .rev()
        .find(|v| v["event"] == "children")
        .map(|v| v["children"].clone());
    if latest.is_some_and(|c| c != json!(["127.0.0.1:9999"])) {
        watch.json_until(|v| v["children"] == json!(["127.0.0.1:9999"]));
    }

    server.signal("TERM");
    assert_eq!(server.wait().code(), Some(0), "{}", server.stderr());
    assert!(peer.exists(&node).is_none());
    watch.signal("TERM");
    watch.json_until(is_session("closed"));
    assert_eq!(watch.wait().code(), Some(0), "{}", watch.stderr());
    zk(&["rm", "-r", &providers]).run().ok();
}

#[test]
fn register_with_a_blank_host_registers_every_local_address() {
    let providers = unique_path("cli-blank-host");
    zk(&["create", &providers]).run().ok();
    let peer = Peer::new();
    let mut server = zk(&["--json", "register", &providers, ":8080"]).start();
    let first = server.json();
    assert_eq!(first["event"], json!("registered"), "{first}");
    let path = first["path"].as_str().unwrap().to_owned();
    assert!(
        path.starts_with(&format!("{providers}/")) && path.ends_with(":8080"),
        "{path}"
    );
    assert!(peer.exists(&path).is_some());
    server.signal("TERM");
    assert_eq!(server.wait().code(), Some(0), "{}", server.stderr());
    assert!(peer.exists(&path).is_none());
    zk(&["rm", "-r", &providers]).run().ok();
}

#[test]
fn a_reader_that_goes_away_is_not_an_error() {
    let node = unique_path("cli-closed-stdout");
    zk(&["create", &node]).run().ok();
    for args in [vec!["ls", "/"], vec!["children", "--watch", &node]] {
        let mut command = zk(&args).command();
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Close the read end of stdout before zk writes anything.
        drop(child.stdout.take());
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        let output = rx.recv_timeout(WAIT).unwrap_or_else(|_| {
            signal(pid, "KILL");
            panic!("zk {args:?} did not exit with its stdout closed");
        });
        let output = output.unwrap();
        assert_eq!(output.status.code(), Some(0), "{args:?}: {output:?}");
        assert!(output.stderr.is_empty(), "{args:?}: {output:?}");
    }
    zk(&["rm", &node]).run().ok();
}

#[test]
fn register_ends_when_someone_else_deletes_its_node() {
    let providers = unique_path("cli-register-removed");
    zk(&["create", &providers]).run().ok();
    let mut server = zk(&["register", &providers, "127.0.0.1:7777"]).start();
    let node = format!("{providers}/127.0.0.1:7777");
    assert_eq!(server.line(), format!("registered {node}"));
    zk(&["rm", &node]).run().ok();
    assert_eq!(server.wait().code(), Some(1));
    assert_eq!(
        server.stderr(),
        format!("zk: {node} was deleted by someone else; not registering it again\n")
    );
    zk(&["rm", &providers]).run().ok();
}
