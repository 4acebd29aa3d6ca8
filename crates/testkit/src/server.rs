//! Real ZooKeeper servers: a standalone [`Server`] and an [`Ensemble`].

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tempfile::TempDir;

use crate::install::Installation;
use crate::net::{four_letter_word, free_port};
use crate::{Error, Result};

/// JVM options used unless [`ServerConfig::jvm_args`] replaces them: a small
/// heap, the serial collector and C1 only start a server in well under a
/// second and keep three of them cheap on a 2-core machine.
pub const DEFAULT_JVM_ARGS: &[&str] = &[
    "-Xms32m",
    "-Xmx256m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Xshare:auto",
    "-XX:-UsePerfData",
    "-Djava.awt.headless=true",
];

/// The main class the testkit runs (standalone when the configuration has no
/// `server.N` lines).
const MAIN_CLASS: &str = "org.apache.zookeeper.server.quorum.QuorumPeerMain";

/// How long [`Server::stop`] / [`Ensemble::stop`] wait for a graceful exit
/// before they SIGKILL the server.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// The timeout of the four-letter words the testkit sends while it waits.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Attempts to start with fresh ports when a port turned out to be taken.
const START_ATTEMPTS: usize = 4;

/// Lines of server log included in errors.
const ERROR_LOG_LINES: usize = 40;

/// Configuration shared by [`Server`] and [`Ensemble`]; a builder.
///
/// Defaults:
/// - `tickTime` 500 ms (ZooKeeper's own default is 2000 ms). A short tick
///   makes session expiry and leader election fast in tests while staying
///   stable on a loaded 2-core machine. The server clamps the session timeout
///   a client asks for to `[minSessionTimeout, maxSessionTimeout]`, which
///   default to 2 and 20 ticks; the testkit keeps the minimum at
///   2 × tickTime (1 s) but raises the maximum to 60 s so that clients get
///   the timeouts they ask for. Use [`ServerConfig::min_session_timeout`] /
///   [`ServerConfig::max_session_timeout`] to change them.
/// - `initLimit` 10 ticks, `syncLimit` 5 ticks.
/// - `reconfigEnabled=false`; `forceSync` off (`-Dzookeeper.forceSync=no`:
///   SIGKILL still loses nothing, the page cache survives the process).
/// - `maxClientCnxns=0` (no per-IP connection limit: every test connects
///   from 127.0.0.1, and ZooKeeper's default of 60 is quickly reached).
/// - Always: `admin.enableServer=false`, `4lw.commands.whitelist=*`,
///   TTL and container nodes enabled (`-Dzookeeper.extendedTypesEnabled=true`),
///   clients on 127.0.0.1 only.
/// - JVM: [`DEFAULT_JVM_ARGS`]; start deadline 60 s.
#[derive(Clone, Debug)]
#[must_use]
pub struct ServerConfig {
    tick_time: Duration,
    min_session_timeout: Option<Duration>,
    max_session_timeout: Option<Duration>,
    init_limit: u32,
    sync_limit: u32,
    reconfig_enabled: bool,
    force_sync: bool,
    extra_config: Vec<String>,
    sasl_users: Vec<(String, String)>,
    system_properties: Vec<(String, String)>,
    jvm_args: Option<Vec<String>>,
    start_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            tick_time: Duration::from_millis(500),
            min_session_timeout: None,
            max_session_timeout: Some(Duration::from_secs(60)),
            init_limit: 10,
            sync_limit: 5,
            reconfig_enabled: false,
            force_sync: false,
            extra_config: Vec::new(),
            sasl_users: Vec::new(),
            system_properties: Vec::new(),
            jvm_args: None,
            start_timeout: Duration::from_secs(60),
        }
    }
}

impl ServerConfig {
    /// The defaults described on [`ServerConfig`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `tickTime` (rounded to milliseconds, at least 1 ms).
    pub fn tick_time(mut self, tick: Duration) -> Self {
        self.tick_time = tick.max(Duration::from_millis(1));
        self
    }

    /// Sets `minSessionTimeout` (default: the server's, 2 × tickTime).
    pub fn min_session_timeout(mut self, timeout: Duration) -> Self {
        self.min_session_timeout = Some(timeout);
        self
    }

    /// Sets `maxSessionTimeout` (default 60 s; `None` leaves the server's
    /// default of 20 × tickTime).
    pub fn max_session_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.max_session_timeout = timeout.into();
        self
    }

    /// Sets `initLimit` and `syncLimit`, in ticks (defaults 10 and 5).
    pub fn limits(mut self, init_limit: u32, sync_limit: u32) -> Self {
        self.init_limit = init_limit;
        self.sync_limit = sync_limit;
        self
    }

    /// Enables dynamic reconfiguration (`reconfigEnabled=true`). Note that
    /// the `reconfig` operation also needs an authorized client, e.g. via
    /// `skipACL=yes` in [`ServerConfig::extra_config`] or superuser digest
    /// authentication through [`ServerConfig::system_property`].
    pub fn reconfig_enabled(mut self, enabled: bool) -> Self {
        self.reconfig_enabled = enabled;
        self
    }

    /// Makes the transaction log fsync (default off, which is much faster).
    pub fn force_sync(mut self, enabled: bool) -> Self {
        self.force_sync = enabled;
        self
    }

    /// Lets SASL DIGEST-MD5 clients log in as `user` with `password`: writes
    /// a JAAS `Server` section with ZooKeeper's `DigestLoginModule` and turns
    /// on the SASL auth provider. Call once per user.
    pub fn sasl_digest_user(
        mut self,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.sasl_users.push((user.into(), password.into()));
        self
    }

    /// Appends a raw line (`key=value`) to every member's `zoo.cfg`; later
    /// lines override the testkit's earlier ones.
    pub fn extra_config(mut self, line: impl Into<String>) -> Self {
        self.extra_config.push(line.into());
        self
    }

    /// Adds a JVM system property (`-Dkey=value`), e.g.
    /// `("zookeeper.DigestAuthenticationProvider.superDigest", "...")`.
    pub fn system_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.system_properties.push((key.into(), value.into()));
        self
    }

    /// Replaces [`DEFAULT_JVM_ARGS`] with these JVM options.
    pub fn jvm_args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.jvm_args = Some(args.into_iter().map(Into::into).collect());
        self
    }

    /// How long a start (or restart) may take before it fails (default 60 s).
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// The configured `tickTime`.
    pub fn get_tick_time(&self) -> Duration {
        self.tick_time
    }

    /// Starts a standalone server with this configuration.
    pub fn start(self) -> Result<Server> {
        Server::with_config(self)
    }

    /// Starts an ensemble of `members` servers with this configuration.
    pub fn start_ensemble(self, members: usize) -> Result<Ensemble> {
        Ensemble::with_config(members, self)
    }
}

/// What `srvr` reports as the server's role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `Mode: standalone`.
    Standalone,
    /// `Mode: leader`.
    Leader,
    /// `Mode: follower`.
    Follower,
    /// `Mode: observer`.
    Observer,
    /// Any other mode string.
    Other(String),
}

impl Mode {
    /// Parses the `Mode:` line of a `srvr`/`stat` answer; `None` when the
    /// server does not serve (it answers "This ZooKeeper instance is not
    /// currently serving requests").
    pub fn from_srvr(answer: &str) -> Option<Mode> {
        let mode = answer.lines().find_map(|l| l.strip_prefix("Mode:"))?.trim();
        Some(match mode {
            "standalone" => Mode::Standalone,
            "leader" => Mode::Leader,
            "follower" => Mode::Follower,
            "observer" => Mode::Observer,
            other => Mode::Other(other.to_owned()),
        })
    }

    fn serves_in_ensemble(&self) -> bool {
        matches!(self, Mode::Leader | Mode::Follower | Mode::Observer)
    }
}

#[derive(Clone, Copy, Debug)]
struct Ports {
    client: u16,
    quorum: u16,
    election: u16,
}

impl Ports {
    fn allocate(standalone: bool) -> Result<Ports> {
        let io = |e| Error::io("allocating a loopback port", e);
        let client = free_port().map_err(io)?;
        if standalone {
            return Ok(Ports {
                client,
                quorum: 0,
                election: 0,
            });
        }
        Ok(Ports {
            client,
            quorum: free_port().map_err(io)?,
            election: free_port().map_err(io)?,
        })
    }
}

/// The watchdog of one JVM: a `sh` whose stdin is a pipe only this process
/// holds the write end of. When this process dies, however it dies, the
/// pipe closes, `read` returns, and the watchdog SIGKILLs the JVM and removes
/// the member's directory. On an orderly shutdown the watchdog is killed
/// first, then the JVM.
struct Watchdog {
    child: Child,
    _pipe: ChildStdin,
}

const WATCHDOG_SCRIPT: &str = "trap '' INT HUP TERM QUIT PIPE
read -r _line
kill -9 \"$1\" 2>/dev/null
sleep 1
rm -rf \"$2\"
rmdir \"$3\" 2>/dev/null
exit 0";

impl Watchdog {
    fn spawn(jvm_pid: u32, member_dir: &Path, base_dir: &Path) -> io::Result<Watchdog> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG_SCRIPT)
            .arg("zk-testkit-watchdog")
            .arg(jvm_pid.to_string())
            .arg(member_dir)
            .arg(base_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let pipe = child.stdin.take().expect("piped stdin");
        Ok(Watchdog { child, _pipe: pipe })
    }

    fn disarm(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Proc {
    jvm: Child,
    watchdog: Option<Watchdog>,
    paused: bool,
}

impl Proc {
    fn pid(&self) -> u32 {
        self.jvm.id()
    }

    /// `Some(status)` once the JVM has exited (and then the watchdog is disarmed,
    /// so that it can never kill a recycled pid).
    fn exited(&mut self) -> Option<ExitStatus> {
        match self.jvm.try_wait() {
            Ok(Some(status)) => {
                if let Some(w) = self.watchdog.take() {
                    w.disarm();
                }
                Some(status)
            }
            _ => None,
        }
    }

    fn kill(mut self) {
        if let Some(w) = self.watchdog.take() {
            w.disarm();
        }
        let _ = self.jvm.kill();
        let _ = self.jvm.wait();
    }

    fn stop(mut self, grace: Duration) {
        let pid = self.pid();
        let _ = send_signal(pid, "TERM");
        if self.paused {
            let _ = send_signal(pid, "CONT");
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        self.kill();
    }
}

/// Sends a signal by name (`TERM`, `STOP`, `CONT`, ...) with the shell's `kill`.
fn send_signal(pid: u32, signal: &str) -> io::Result<()> {
    let status = Command::new("sh")
        .arg("-c")
        .arg("kill -s \"$1\" \"$2\"")
        .arg("sh")
        .arg(signal)
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "kill -s {signal} {pid} failed: {status}"
        )))
    }
}

/// Waits until every thread of `pid` is stopped (state `T` or `t`, or gone: `Z`, `X`, in
/// `/proc/PID/task/*/stat`), up to `limit`. Off Linux (no `/proc`) it returns at once.
fn wait_until_stopped(pid: u32, limit: Duration) -> io::Result<()> {
    let tasks = PathBuf::from(format!("/proc/{pid}/task"));
    if !tasks.exists() {
        return Ok(());
    }
    let deadline = Instant::now() + limit;
    loop {
        let mut all_stopped = true;
        for entry in fs::read_dir(&tasks)? {
            let Ok(stat) = fs::read_to_string(entry?.path().join("stat")) else {
                continue; // a thread that exited meanwhile
            };
            // The state follows the command name, which is in parentheses and may hold any
            // character: take the first field after the last ')'.
            let state = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().next());
            if !matches!(state, Some("T" | "t" | "Z" | "X")) {
                all_stopped = false;
                break;
            }
        }
        if all_stopped {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("process {pid} not stopped after {limit:?}"),
            ));
        }
        thread::sleep(Duration::from_millis(1));
    }
}

struct Member {
    /// 0-based index; the server id (`myid`) is `index + 1`.
    index: usize,
    dir: PathBuf,
    data_dir: PathBuf,
    cfg_path: PathBuf,
    log_path: PathBuf,
    proc: Mutex<Option<Proc>>,
}

impl Member {
    fn lock(&self) -> MutexGuard<'_, Option<Proc>> {
        self.proc.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn myid(&self) -> usize {
        self.index + 1
    }
}

/// Reads the last `lines` lines of a log file.
fn tail_file(path: &Path, lines: usize) -> String {
    let Ok(mut f) = File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let window = (lines as u64).saturating_mul(400).max(4096);
    let start = len.saturating_sub(window);
    let _ = f.seek(SeekFrom::Start(start));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    let skip = all.len().saturating_sub(lines);
    all[skip..].join("\n")
}

fn timestamp() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:03}", d.as_secs(), d.subsec_millis())
}

/// The common implementation of [`Server`] and [`Ensemble`].
struct Cluster {
    install: Installation,
    config: ServerConfig,
    standalone: bool,
    ports: Vec<Ports>,
    members: Vec<Member>,
    startup_time: Duration,
    // Dropped last (fields drop in declaration order), after Drop killed the JVMs.
    base: TempDir,
}

impl Cluster {
    fn start(config: ServerConfig, n: usize, standalone: bool) -> Result<Cluster> {
        if n == 0 {
            return Err(Error::InvalidArgument(
                "an ensemble needs at least one member".into(),
            ));
        }
        let install = Installation::find()?;
        let base = tempfile::Builder::new()
            .prefix("zk-testkit-")
            .tempdir()
            .map_err(|e| Error::io("creating the temporary directory", e))?;
        let members = (0..n)
            .map(|index| {
                let dir = base.path().join(format!("server{}", index + 1));
                Member {
                    index,
                    data_dir: dir.join("data"),
                    cfg_path: dir.join("zoo.cfg"),
                    log_path: dir.join("server.log"),
                    dir,
                    proc: Mutex::new(None),
                }
            })
            .collect();
        let mut cluster = Cluster {
            install,
            config,
            standalone,
            ports: Vec::new(),
            members,
            startup_time: Duration::ZERO,
            base,
        };
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            cluster.ports = (0..n)
                .map(|_| Ports::allocate(standalone))
                .collect::<Result<_>>()?;
            for m in &cluster.members {
                cluster.prepare_member(m, true)?;
            }
            let result = cluster
                .members
                .iter()
                .try_for_each(|m| cluster.spawn(m))
                .and_then(|()| cluster.wait_all_serving(cluster.config.start_timeout));
            match result {
                Ok(()) => {
                    cluster.startup_time = started.elapsed();
                    return Ok(cluster);
                }
                Err(e) => {
                    cluster.kill_all();
                    let clash = cluster.members.iter().any(|m| {
                        let log = tail_file(&m.log_path, 200);
                        log.contains("Address already in use") || log.contains("BindException")
                    });
                    if !(clash && attempt < START_ATTEMPTS) {
                        return Err(e);
                    }
                }
            }
        }
    }

    fn member(&self, i: usize) -> &Member {
        let n = self.members.len();
        self.members
            .get(i)
            .unwrap_or_else(|| panic!("zk-testkit: member index {i} out of range (0..{n})"))
    }

    fn addr(&self, i: usize) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.ports[i].client))
    }

    fn connect_string(&self) -> String {
        (0..self.members.len())
            .map(|i| self.addr(i).to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    fn config_text(&self, m: &Member) -> String {
        let c = &self.config;
        let mut s = String::new();
        let _ = writeln!(s, "# generated by zk-testkit");
        let _ = writeln!(s, "tickTime={}", c.tick_time.as_millis().max(1));
        let _ = writeln!(s, "initLimit={}", c.init_limit);
        let _ = writeln!(s, "syncLimit={}", c.sync_limit);
        let _ = writeln!(s, "dataDir={}", m.data_dir.display());
        if let Some(t) = c.min_session_timeout {
            let _ = writeln!(s, "minSessionTimeout={}", t.as_millis());
        }
        if let Some(t) = c.max_session_timeout {
            let _ = writeln!(s, "maxSessionTimeout={}", t.as_millis());
        }
        let _ = writeln!(s, "maxClientCnxns=0");
        let _ = writeln!(s, "admin.enableServer=false");
        let _ = writeln!(s, "4lw.commands.whitelist=*");
        let _ = writeln!(s, "reconfigEnabled={}", c.reconfig_enabled);
        if self.standalone {
            let _ = writeln!(s, "clientPort={}", self.ports[m.index].client);
            let _ = writeln!(s, "clientPortAddress=127.0.0.1");
        } else {
            for (i, p) in self.ports.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "server.{}=127.0.0.1:{}:{};127.0.0.1:{}",
                    i + 1,
                    p.quorum,
                    p.election,
                    p.client
                );
            }
        }
        for line in &c.extra_config {
            let _ = writeln!(s, "{line}");
        }
        s
    }

    /// Creates the member's directories, `zoo.cfg` and `myid`; with `wipe`,
    /// empties its data directory first.
    fn prepare_member(&self, m: &Member, wipe: bool) -> Result<()> {
        let io = |what: &str, e| Error::io(&format!("{what} of server.{}", m.myid()), e);
        if wipe && m.data_dir.exists() {
            fs::remove_dir_all(&m.data_dir).map_err(|e| io("wiping the data directory", e))?;
        }
        fs::create_dir_all(&m.data_dir).map_err(|e| io("creating the data directory", e))?;
        if !self.standalone {
            fs::write(m.data_dir.join("myid"), format!("{}\n", m.myid()))
                .map_err(|e| io("writing myid", e))?;
        }
        // With reconfig enabled the server rewrites zoo.cfg and keeps its
        // membership in a dynamic file: don't clobber it on a restart.
        if wipe || !self.config.reconfig_enabled || !m.cfg_path.exists() {
            fs::write(&m.cfg_path, self.config_text(m)).map_err(|e| io("writing zoo.cfg", e))?;
        }
        Ok(())
    }

    fn spawn(&self, m: &Member) -> Result<()> {
        let io = |what: &str, e| Error::io(&format!("{what} of server.{}", m.myid()), e);
        let mut guard = m.lock();
        if let Some(p) = guard.take() {
            p.kill();
        }
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&m.log_path)
            .map_err(|e| io("opening the log", e))?;
        let _ = writeln!(
            log,
            "=== zk-testkit: starting server.{} (client port {}) at unix time {} ===",
            m.myid(),
            self.ports[m.index].client,
            timestamp()
        );
        let log_err = log.try_clone().map_err(|e| io("opening the log", e))?;
        let c = &self.config;
        let mut cmd = Command::new(&self.install.java);
        match &c.jvm_args {
            Some(args) => cmd.args(args),
            None => cmd.args(DEFAULT_JVM_ARGS),
        };
        let mut props: Vec<(String, String)> = vec![
            ("zookeeper.log.dir".into(), m.dir.display().to_string()),
            ("zookeeper.extendedTypesEnabled".into(), "true".into()),
            ("zookeeper.admin.enableServer".into(), "false".into()),
            ("zookeeper.jmx.log4j.disable".into(), "true".into()),
        ];
        if !c.force_sync {
            props.push(("zookeeper.forceSync".into(), "no".into()));
        }
        props.extend(self.install.logging_properties.iter().cloned());
        if !c.sasl_users.is_empty() {
            let mut jaas = String::from(
                "Server {\n  org.apache.zookeeper.server.auth.DigestLoginModule required",
            );
            for (user, password) in &c.sasl_users {
                let _ = write!(jaas, "\n  user_{user}=\"{password}\"");
            }
            jaas.push_str(";\n};\n");
            let path = m.dir.join("jaas.conf");
            fs::write(&path, jaas).map_err(|e| io("writing jaas.conf", e))?;
            props.push((
                "java.security.auth.login.config".into(),
                path.display().to_string(),
            ));
            props.push((
                "zookeeper.authProvider.sasl".into(),
                "org.apache.zookeeper.server.auth.SASLAuthenticationProvider".into(),
            ));
        }
        props.extend(c.system_properties.iter().cloned());
        for (k, v) in props {
            cmd.arg(format!("-D{k}={v}"));
        }
        cmd.arg("-cp")
            .arg(&self.install.classpath)
            .arg(MAIN_CLASS)
            .arg(&m.cfg_path)
            .current_dir(&m.dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        let mut jvm = cmd.spawn().map_err(|e| io("spawning java", e))?;
        let watchdog = match Watchdog::spawn(jvm.id(), &m.dir, self.base.path()) {
            Ok(w) => w,
            Err(e) => {
                let _ = jvm.kill();
                let _ = jvm.wait();
                return Err(io("spawning the watchdog", e));
            }
        };
        *guard = Some(Proc {
            jvm,
            watchdog: Some(watchdog),
            paused: false,
        });
        Ok(())
    }

    fn kill_all(&self) {
        for m in &self.members {
            if let Some(p) = m.lock().take() {
                p.kill();
            }
        }
    }

    /// `Err` if a member the testkit started has exited on its own.
    fn check_alive(&self, m: &Member) -> Result<bool> {
        let mut guard = m.lock();
        let Some(p) = guard.as_mut() else {
            return Ok(false);
        };
        if let Some(status) = p.exited() {
            *guard = None;
            return Err(Error::Exited {
                member: m.index,
                status: status.to_string(),
                log_tail: tail_file(&m.log_path, ERROR_LOG_LINES),
            });
        }
        Ok(!p.paused)
    }

    fn mode(&self, i: usize) -> Option<Mode> {
        four_letter_word(self.addr(i), "srvr", PROBE_TIMEOUT)
            .ok()
            .and_then(|a| Mode::from_srvr(&a))
    }

    fn serving_mode_ok(&self, mode: &Mode) -> bool {
        if self.standalone || self.members.len() == 1 {
            *mode == Mode::Standalone || mode.serves_in_ensemble()
        } else {
            mode.serves_in_ensemble()
        }
    }

    /// Polls `cond` until it holds, the deadline passes (error with log
    /// tails), or a member dies.
    fn wait_until<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut cond: impl FnMut(&Self) -> Result<Option<T>>,
    ) -> Result<T> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = cond(self)? {
                return Ok(v);
            }
            if Instant::now() >= deadline {
                let mut log_tail = String::new();
                for m in &self.members {
                    let srvr = four_letter_word(self.addr(m.index), "srvr", PROBE_TIMEOUT)
                        .unwrap_or_else(|e| format!("(srvr failed: {e})"));
                    let _ = writeln!(
                        log_tail,
                        "--- server.{} (index {}, {}), srvr: {}\n{}",
                        m.myid(),
                        m.index,
                        m.log_path.display(),
                        srvr.lines()
                            .find(|l| l.starts_with("Mode"))
                            .unwrap_or(srvr.trim()),
                        tail_file(&m.log_path, ERROR_LOG_LINES)
                    );
                }
                return Err(Error::Timeout {
                    what: what.to_owned(),
                    timeout,
                    log_tail,
                });
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until every running, unpaused member serves, and (in an
    /// ensemble) exactly one of them leads; returns the leader's index.
    fn wait_all_serving(&self, timeout: Duration) -> Result<()> {
        self.wait_ready(timeout).map(|_| ())
    }

    fn wait_ready(&self, timeout: Duration) -> Result<Option<usize>> {
        let what = if self.standalone {
            "the ZooKeeper server to serve (srvr reporting `Mode: standalone`)".to_owned()
        } else {
            format!(
                "the {}-member ensemble to serve with exactly one leader",
                self.members.len()
            )
        };
        self.wait_until(&what, timeout, |c| {
            let mut leaders = Vec::new();
            let mut any = false;
            for m in &c.members {
                if !c.check_alive(m)? {
                    continue;
                }
                any = true;
                match c.mode(m.index) {
                    Some(mode) if c.serving_mode_ok(&mode) => {
                        if mode == Mode::Leader {
                            leaders.push(m.index);
                        }
                    }
                    _ => return Ok(None),
                }
            }
            if !any {
                return Err(Error::InvalidArgument("no member is running".into()));
            }
            if c.standalone || c.members.len() == 1 {
                return Ok(Some(leaders.first().copied()));
            }
            Ok((leaders.len() == 1).then(|| Some(leaders[0])))
        })
    }

    fn wait_member_serving(&self, i: usize) -> Result<()> {
        let what = format!("server.{} (index {i}) to serve", i + 1);
        self.wait_until(&what, self.config.start_timeout, |c| {
            c.check_alive(c.member(i))?;
            Ok(c.mode(i).filter(|m| c.serving_mode_ok(m)).map(|_| ()))
        })
    }

    fn kill(&self, i: usize) {
        if let Some(p) = self.member(i).lock().take() {
            p.kill();
        }
    }

    fn stop(&self, i: usize) {
        if let Some(p) = self.member(i).lock().take() {
            p.stop(STOP_GRACE);
        }
    }

    fn restart(&self, i: usize) -> Result<()> {
        self.stop(i);
        let m = self.member(i);
        self.prepare_member(m, false)?;
        self.spawn(m)?;
        self.wait_member_serving(i)
    }

    fn wipe_and_restart(&self, i: usize) -> Result<()> {
        self.kill(i);
        let m = self.member(i);
        self.prepare_member(m, true)?;
        self.spawn(m)?;
        self.wait_member_serving(i)
    }

    fn signal(&self, i: usize, signal: &str, paused: bool) -> Result<()> {
        let m = self.member(i);
        let mut guard = m.lock();
        let Some(p) = guard.as_mut() else {
            return Err(Error::InvalidArgument(format!(
                "server.{} (index {i}) is not running",
                i + 1
            )));
        };
        send_signal(p.pid(), signal).map_err(|e| Error::io(&format!("sending SIG{signal}"), e))?;
        if paused {
            // kill(2) returns before every thread has stopped: a caller that probes the
            // paused server at once could still be answered.
            wait_until_stopped(p.pid(), Duration::from_secs(5))
                .map_err(|e| Error::io(&format!("waiting for SIG{signal} to take effect"), e))?;
        }
        p.paused = paused;
        Ok(())
    }

    fn is_running(&self, i: usize) -> bool {
        let mut guard = self.member(i).lock();
        let exited = match guard.as_mut() {
            Some(p) => p.exited().is_some(),
            None => return false,
        };
        if exited {
            *guard = None;
        }
        !exited
    }

    fn is_paused(&self, i: usize) -> bool {
        self.member(i).lock().as_ref().is_some_and(|p| p.paused)
    }

    fn pid(&self, i: usize) -> Option<u32> {
        self.member(i).lock().as_ref().map(Proc::pid)
    }

    fn four_letter_word(&self, i: usize, word: &str, timeout: Duration) -> Result<String> {
        four_letter_word(self.addr(i), word, timeout).map_err(|e| {
            Error::io(
                &format!("`{word}` to server.{} at {}", i + 1, self.addr(i)),
                e,
            )
        })
    }

    fn leader(&self) -> Option<usize> {
        (0..self.members.len())
            .filter(|&i| self.is_running(i) && !self.is_paused(i))
            .find(|&i| self.mode(i) == Some(Mode::Leader))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// A standalone ZooKeeper server on 127.0.0.1, in a fresh temporary
/// directory; killed (SIGKILL) and deleted on drop.
///
/// Process hygiene: the JVM is a direct child of the test process, and a
/// watchdog `sh` (see the crate docs) kills it if the test process dies
/// without dropping the `Server` (panic = abort, SIGKILL, a `static`).
pub struct Server {
    cluster: Cluster,
}

impl Server {
    /// Starts a server with the default [`ServerConfig`] and waits until it serves.
    pub fn start() -> Result<Server> {
        Self::with_config(ServerConfig::default())
    }

    /// Starts a server with `config` and waits until it serves.
    pub fn with_config(config: ServerConfig) -> Result<Server> {
        Ok(Server {
            cluster: Cluster::start(config, 1, true)?,
        })
    }

    /// `"127.0.0.1:<client port>"`.
    pub fn connect_string(&self) -> String {
        self.cluster.connect_string()
    }

    /// The client port.
    pub fn client_port(&self) -> u16 {
        self.cluster.ports[0].client
    }

    /// The client address (`127.0.0.1:<client port>`).
    pub fn addr(&self) -> SocketAddr {
        self.cluster.addr(0)
    }

    /// SIGKILLs the server (no-op when it is not running) and reaps it.
    pub fn kill(&self) {
        self.cluster.kill(0)
    }

    /// SIGTERMs the server and waits for it to exit, SIGKILLing it after 10 s.
    pub fn stop(&self) {
        self.cluster.stop(0)
    }

    /// Stops the server if it runs, then starts it again with the same data
    /// directory and port, and waits until it serves.
    pub fn restart(&self) -> Result<()> {
        self.cluster.restart(0)
    }

    /// Kills the server, deletes its data directory (snapshots and
    /// transaction logs: all data is lost), and starts it again on the same port.
    pub fn wipe_and_restart(&self) -> Result<()> {
        self.cluster.wipe_and_restart(0)
    }

    /// Freezes the server (SIGSTOP): its sockets stay open but nothing answers.
    pub fn pause(&self) -> Result<()> {
        self.cluster.signal(0, "STOP", true)
    }

    /// Resumes a paused server (SIGCONT).
    pub fn resume(&self) -> Result<()> {
        self.cluster.signal(0, "CONT", false)
    }

    /// Whether the server process is running (paused counts as running).
    pub fn is_running(&self) -> bool {
        self.cluster.is_running(0)
    }

    /// The JVM's process id, if running.
    pub fn pid(&self) -> Option<u32> {
        self.cluster.pid(0)
    }

    /// Sends a four-letter word with a 5 s timeout and returns the answer.
    pub fn four_letter_word(&self, word: &str) -> Result<String> {
        self.cluster
            .four_letter_word(0, word, Duration::from_secs(5))
    }

    /// Sends a four-letter word with the given connect/read timeout.
    pub fn four_letter_word_timeout(&self, word: &str, timeout: Duration) -> Result<String> {
        self.cluster.four_letter_word(0, word, timeout)
    }

    /// The last 200 lines of the server log.
    pub fn log(&self) -> String {
        tail_file(&self.cluster.members[0].log_path, 200)
    }

    /// The server log file (stdout and stderr of the JVM, appended across restarts).
    pub fn log_path(&self) -> PathBuf {
        self.cluster.members[0].log_path.clone()
    }

    /// The data directory (`dataDir`).
    pub fn data_dir(&self) -> PathBuf {
        self.cluster.members[0].data_dir.clone()
    }

    /// The configuration the server was started with.
    pub fn config(&self) -> &ServerConfig {
        &self.cluster.config
    }

    /// How long [`Server::start`] took until the server served.
    pub fn startup_time(&self) -> Duration {
        self.cluster.startup_time
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr())
            .field("dir", &self.cluster.base.path())
            .finish()
    }
}

/// An ensemble of ZooKeeper servers on 127.0.0.1 (members are indexed from
/// 0; member `i` has server id `i + 1`); every member is killed and every
/// directory deleted on drop.
pub struct Ensemble {
    cluster: Cluster,
}

impl Ensemble {
    /// The default number of members.
    pub const DEFAULT_SIZE: usize = 3;

    /// Starts [`Ensemble::DEFAULT_SIZE`] members with the default [`ServerConfig`]
    /// and waits until all of them serve with exactly one leader.
    pub fn start() -> Result<Ensemble> {
        Self::with_config(Self::DEFAULT_SIZE, ServerConfig::default())
    }

    /// Starts `members` members with `config` and waits until all of them
    /// serve with exactly one leader.
    pub fn with_config(members: usize, config: ServerConfig) -> Result<Ensemble> {
        Ok(Ensemble {
            cluster: Cluster::start(config, members, false)?,
        })
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        self.cluster.members.len()
    }

    /// Always `false`: an ensemble has at least one member.
    pub fn is_empty(&self) -> bool {
        self.cluster.members.is_empty()
    }

    /// All client addresses, comma-separated: `"127.0.0.1:p1,127.0.0.1:p2,..."`.
    pub fn connect_string(&self) -> String {
        self.cluster.connect_string()
    }

    /// Member `i`'s client port.
    pub fn client_port(&self, i: usize) -> u16 {
        self.cluster.member(i);
        self.cluster.ports[i].client
    }

    /// Member `i`'s client address.
    pub fn addr(&self, i: usize) -> SocketAddr {
        self.cluster.member(i);
        self.cluster.addr(i)
    }

    /// SIGKILLs member `i` (no-op when it is not running) and reaps it.
    pub fn kill(&self, i: usize) {
        self.cluster.kill(i)
    }

    /// SIGTERMs member `i` and waits for it to exit, SIGKILLing it after 10 s.
    pub fn stop(&self, i: usize) {
        self.cluster.stop(i)
    }

    /// Stops member `i` if it runs, starts it again with its data directory
    /// and ports, and waits until it serves (as leader or follower).
    pub fn restart(&self, i: usize) -> Result<()> {
        self.cluster.restart(i)
    }

    /// Kills member `i`, deletes its data directory (only `myid` is written
    /// again: the member lost all its data), restarts it on the same ports and
    /// waits until it serves (after syncing from the leader).
    pub fn wipe_and_restart(&self, i: usize) -> Result<()> {
        self.cluster.wipe_and_restart(i)
    }

    /// Freezes member `i` (SIGSTOP).
    pub fn pause(&self, i: usize) -> Result<()> {
        self.cluster.signal(i, "STOP", true)
    }

    /// Resumes member `i` (SIGCONT).
    pub fn resume(&self, i: usize) -> Result<()> {
        self.cluster.signal(i, "CONT", false)
    }

    /// Whether member `i`'s process is running (paused counts as running).
    pub fn is_running(&self, i: usize) -> bool {
        self.cluster.is_running(i)
    }

    /// Member `i`'s JVM process id, if running.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.cluster.pid(i)
    }

    /// Sends a four-letter word to member `i` with a 5 s timeout.
    pub fn four_letter_word(&self, i: usize, word: &str) -> Result<String> {
        self.cluster
            .four_letter_word(i, word, Duration::from_secs(5))
    }

    /// Sends a four-letter word to member `i` with the given timeout.
    pub fn four_letter_word_timeout(
        &self,
        i: usize,
        word: &str,
        timeout: Duration,
    ) -> Result<String> {
        self.cluster.four_letter_word(i, word, timeout)
    }

    /// Member `i`'s role according to `srvr`, `None` if it does not answer or serve.
    pub fn mode(&self, i: usize) -> Option<Mode> {
        self.cluster.member(i);
        self.cluster.mode(i)
    }

    /// The index of the member that reports `Mode: leader` now, if any
    /// (paused and stopped members are not asked).
    pub fn leader(&self) -> Option<usize> {
        self.cluster.leader()
    }

    /// Waits until every running, unpaused member serves and exactly one of
    /// them leads; returns the leader's index. Fails early if a member died.
    pub fn wait_ready(&self, timeout: Duration) -> Result<usize> {
        self.cluster
            .wait_ready(timeout)
            .map(|leader| leader.unwrap_or(0))
    }

    /// The last 200 lines of member `i`'s log.
    pub fn log(&self, i: usize) -> String {
        tail_file(&self.cluster.member(i).log_path, 200)
    }

    /// Member `i`'s log file.
    pub fn log_path(&self, i: usize) -> PathBuf {
        self.cluster.member(i).log_path.clone()
    }

    /// Member `i`'s data directory.
    pub fn data_dir(&self, i: usize) -> PathBuf {
        self.cluster.member(i).data_dir.clone()
    }

    /// The configuration the ensemble was started with.
    pub fn config(&self) -> &ServerConfig {
        &self.cluster.config
    }

    /// How long [`Ensemble::start`] took until the ensemble served.
    pub fn startup_time(&self) -> Duration {
        self.cluster.startup_time
    }
}

impl std::fmt::Debug for Ensemble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ensemble")
            .field("connect_string", &self.connect_string())
            .field("dir", &self.cluster.base.path())
            .finish()
    }
}
