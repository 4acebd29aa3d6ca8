//! Captures golden vectors: starts a throwaway ZooKeeper (zk-testkit), puts a recording proxy in
//! front of it for each client, and drives the Java `zkCli.sh`, the C `cli_mt`, a Python kazoo
//! script and a raw zk-proto client through every op the server supports. Run by
//! `proto-tests/capture.sh`:
//!
//! ```text
//! cargo run -p proto-tests --example capture -- OUT_DIR [zkcli|cli_mt|kazoo|raw ...]
//! ```
//!
//! Each scenario writes `OUT_DIR/<client>-<version>.jsonl`. Every wait polls the recording with a
//! deadline for the frame that marks the step done (a reply to a `sync` of a marker path, a
//! ping, a reconnect's SetWatches), so nothing depends on guessed sleeps.

mod raw;
mod scenarios;

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use proto_tests::vectors;
use zk_proto::{Frame, OpCode};

/// The example's result type.
pub type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// How long any one step may take.
pub const STEP_DEADLINE: Duration = Duration::from_secs(60);

/// What one frame of a recording was.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The connection id.
    pub conn: String,
    /// What kind of frame.
    pub kind: Kind,
    /// The op (of the request, or of the request a reply answers).
    pub op: Option<OpCode>,
    /// The path of the request (for a reply: of the request it answers), or of a notification.
    pub path: Option<String>,
    /// A reply's error code.
    pub err: i32,
    /// The handshake reply's session id and timeout.
    pub session: Option<(i64, i32)>,
}

/// Kinds of frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The client's handshake.
    ConnectRequest,
    /// The server's handshake.
    ConnectResponse,
    /// A request.
    Request,
    /// A reply.
    Response,
    /// A watch event.
    Notification,
    /// A frame that did not decode.
    Undecodable,
}

/// A recording being written by a proxy.
pub struct Recording {
    path: PathBuf,
}

impl Recording {
    /// The recording at `path`.
    pub fn new(path: &Path) -> Self {
        Recording {
            path: path.to_owned(),
        }
    }

    /// The events of every complete line written so far.
    pub fn events(&self) -> Res<Vec<Event>> {
        let text = std::fs::read_to_string(&self.path)?;
        let complete = match text.rfind('\n') {
            Some(end) => &text[..=end],
            None => "",
        };
        let frames = vectors::parse(complete)?;
        let decoded = vectors::decode_all(&frames);
        let mut paths: HashMap<(String, i32), VecDeque<Option<String>>> = HashMap::new();
        let mut events = Vec::new();
        for (f, d) in frames.iter().zip(decoded) {
            let mut event = Event {
                conn: f.conn.clone(),
                kind: Kind::Undecodable,
                op: None,
                path: None,
                err: 0,
                session: None,
            };
            match d {
                Ok(Frame::ConnectRequest(_)) => event.kind = Kind::ConnectRequest,
                Ok(Frame::ConnectResponse(r)) => {
                    event.kind = Kind::ConnectResponse;
                    event.session = Some((r.session_id, r.time_out));
                }
                Ok(Frame::Request { header, body }) => {
                    event.kind = Kind::Request;
                    event.op = Some(header.op);
                    event.path = body.path().map(str::to_owned);
                    paths
                        .entry((f.conn.clone(), header.xid))
                        .or_default()
                        .push_back(event.path.clone());
                }
                Ok(Frame::Response { header, op, .. }) => {
                    event.kind = Kind::Response;
                    event.op = Some(op);
                    event.err = header.err.as_i32();
                    event.path = paths
                        .get_mut(&(f.conn.clone(), header.xid))
                        .and_then(VecDeque::pop_front)
                        .flatten();
                }
                Ok(Frame::Notification { header, event: e }) => {
                    event.kind = Kind::Notification;
                    event.err = header.err.as_i32();
                    event.path = e.path;
                }
                Err(_) => {}
            }
            events.push(event);
        }
        Ok(events)
    }

    /// Polls until `done` holds for the events, or fails after [`STEP_DEADLINE`].
    pub fn wait(&self, what: &str, done: impl Fn(&[Event]) -> bool) -> Res<Vec<Event>> {
        let deadline = Instant::now() + STEP_DEADLINE;
        loop {
            let events = self.events()?;
            if done(&events) {
                return Ok(events);
            }
            if Instant::now() > deadline {
                return Err(
                    format!("{}: timed out waiting for {what}", self.path.display()).into(),
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Waits for the reply to a request `op` on `path`.
    pub fn wait_reply(&self, op: OpCode, path: &str) -> Res<Vec<Event>> {
        self.wait(&format!("the reply to {} {path}", op.name()), |events| {
            events.iter().any(|e| {
                e.kind == Kind::Response && e.op == Some(op) && e.path.as_deref() == Some(path)
            })
        })
    }

    /// Waits for `n` more frames matching `matches` than `before` had.
    pub fn wait_more(
        &self,
        what: &str,
        before: &[Event],
        n: usize,
        matches: impl Fn(&Event) -> bool,
    ) -> Res<Vec<Event>> {
        let had = before.iter().filter(|e| matches(e)).count();
        self.wait(what, |events| {
            events.iter().filter(|e| matches(e)).count() >= had + n
        })
    }
}

/// A client process fed commands on stdin, its output going to a log file.
pub struct Proc {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Proc {
    /// Spawns `cmd` with piped stdin and stdout/stderr to `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Res<Proc> {
        let out = File::create(log)?;
        let err = out.try_clone()?;
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .map_err(|e| format!("cannot run {name}: {e}"))?;
        let stdin = child.stdin.take();
        Ok(Proc {
            name: name.to_owned(),
            child,
            stdin,
        })
    }

    /// Writes one line to the client's stdin.
    pub fn send(&mut self, line: &str) -> Res<()> {
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        writeln!(stdin, "{line}")?;
        stdin.flush()?;
        Ok(())
    }

    /// Closes stdin and waits for the process to exit (killing it after the deadline).
    pub fn finish(mut self) -> Res<()> {
        drop(self.stdin.take());
        let deadline = Instant::now() + STEP_DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait()? {
                eprintln!("capture: {} exited with {status}", self.name);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(format!("{} did not exit in time", self.name).into());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn main() -> Res<()> {
    let mut args = std::env::args().skip(1);
    let out_dir = PathBuf::from(args.next().ok_or("usage: capture OUT_DIR [scenario...]")?);
    let mut selected: Vec<String> = args.collect();
    if selected.is_empty() {
        selected = scenarios::ALL.iter().map(|s| s.to_string()).collect();
    }
    std::fs::create_dir_all(&out_dir)?;
    let work = std::env::temp_dir().join(format!("zk-capture-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let server = zk_testkit::ServerConfig::new().start()?;
    eprintln!(
        "capture: ZooKeeper at {} ({})",
        server.addr(),
        server
            .four_letter_word("srvr")?
            .lines()
            .next()
            .unwrap_or_default()
    );
    for name in &selected {
        eprintln!("capture: scenario {name}");
        scenarios::run(name, &server, &out_dir, &work)?;
    }
    eprintln!("capture: logs of the clients are in {}", work.display());
    Ok(())
}
