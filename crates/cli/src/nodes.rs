//! The node commands on a bare session: `ls`, `get`, `stat`, `create`, `set`, `rm`.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use serde_json::{Value, json};
use zk_session::path::validate_path;
use zk_session::{CreateOptions, Error as ZkError, SessionState};

use zc_zk::{DeleteOptions, DeleteStep};

use crate::connect::{Session, Settings, describe, describe_zc, with_deadline};
use crate::signals::Shutdown;
use crate::{Failure, duration, output, usage_error};

/// A node path argument: checked as the server would (absolute, no trailing slash...).
pub fn parse_path(text: &str) -> Result<String, String> {
    validate_path(text, false)
        .map(|()| text.to_owned())
        .map_err(|e| e.to_string())
}

/// A path to create: as [`parse_path`], but a sequential node's path may end with `/`.
fn parse_create_path(text: &str) -> Result<String, String> {
    validate_path(text, true)
        .map(|()| text.to_owned())
        .map_err(|e| e.to_string())
}

/// `zk ls PATH`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  zk ls /services/foo/providers\n  zk --json ls /")]
pub struct LsArgs {
    /// The node whose children to list.
    #[arg(value_parser = parse_path)]
    path: String,
}

/// `zk get PATH`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  zk get /services/foo\n  zk --json get /services/foo")]
pub struct GetArgs {
    /// The node to read.
    #[arg(value_parser = parse_path)]
    path: String,
    /// Write the data exactly, without the newline added after it.
    #[arg(long, conflicts_with = "json")]
    raw: bool,
}

/// `zk stat PATH`.
#[derive(Debug, Args)]
#[command(after_help = "\
Times are UTC (and milliseconds since the epoch); with --json the ephemeral owner, a session id
beyond JSON's exact integers, is a hex string.

Example:
  zk stat /services/foo
  zk --json stat /services/foo | jq .version")]
pub struct StatArgs {
    /// The node.
    #[arg(value_parser = parse_path)]
    path: String,
}

/// `zk create PATH [DATA]`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  zk create -p /services/foo/providers
  zk create /config '{\"threads\": 4}'
  zk create --sequential /queue/item- payload      # prints /queue/item-0000000007
  zk create --ephemeral /locks/me                  # holds the node until SIGINT/SIGTERM")]
pub struct CreateArgs {
    /// The node to create (with --sequential, the prefix of its name; it may end with /).
    #[arg(value_parser = parse_create_path)]
    path: String,
    /// The node's data (default: empty).
    #[arg(conflicts_with = "file")]
    data: Option<String>,
    /// Read the data from FILE (`-` for stdin).
    #[arg(long, short = 'f', value_name = "FILE")]
    file: Option<PathBuf>,
    /// An ephemeral node: it lives as long as this command, which waits for SIGINT/SIGTERM.
    #[arg(long, short = 'e', conflicts_with_all = ["container", "ttl"])]
    ephemeral: bool,
    /// Append a sequence number to the name (the path is printed).
    #[arg(long)]
    sequential: bool,
    /// A container node (deleted by the server once its last child goes).
    #[arg(long, conflicts_with_all = ["sequential", "ttl"])]
    container: bool,
    /// A persistent node deleted when unmodified and childless for TTL (5000 = ms, or 30s).
    #[arg(long, value_name = "MS", value_parser = duration::parse_millis_or_duration)]
    ttl: Option<Duration>,
    /// Create missing parents (persistent, empty) first.
    #[arg(long, short = 'p')]
    parents: bool,
    /// The node's ACL, SCHEME:ID:PERMS (repeatable; default world:anyone:cdrwa), e.g.
    /// digest-password:USER:PASSWORD:cdrwa or ip:127.0.0.1:r.
    #[arg(long = "acl", value_name = "SCHEME:ID:PERMS", value_parser = crate::acl::arg)]
    acl: Vec<crate::acl::AclArg>,
}

/// `zk set PATH DATA`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  zk set /config '{\"threads\": 8}' --version 3")]
pub struct SetArgs {
    /// The node to write.
    #[arg(value_parser = parse_path)]
    path: String,
    /// The new data.
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    data: Option<String>,
    /// Read the data from FILE (`-` for stdin).
    #[arg(long, short = 'f', value_name = "FILE")]
    file: Option<PathBuf>,
    /// Write only if the node's version is N (compare-and-set).
    #[arg(long, value_name = "N")]
    version: Option<i32>,
}

/// `zk rm PATH`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  zk rm /old/node
  zk rm -r --dry-run /old      # lists what would be deleted
  zk rm -r --force /old        # ephemeral nodes too")]
pub struct RmArgs {
    /// The node to delete.
    #[arg(value_parser = parse_path)]
    path: String,
    /// Delete the subtree, depth-first; ephemeral nodes (and so their ancestors) are kept.
    #[arg(long, short = 'r')]
    recursive: bool,
    /// With -r, delete ephemeral nodes too (their owners lose them).
    #[arg(long, requires = "recursive")]
    force: bool,
    /// Print what would be deleted; delete nothing.
    #[arg(long)]
    dry_run: bool,
    /// Delete only if the node's version is N (not with -r).
    #[arg(long, value_name = "N", conflicts_with = "recursive")]
    version: Option<i32>,
}

fn read_data(data: Option<String>, file: Option<&PathBuf>) -> Result<Vec<u8>, Failure> {
    match (data, file) {
        (Some(d), _) => Ok(d.into_bytes()),
        (None, Some(f)) if f.as_os_str() == "-" => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| format!("cannot read stdin: {e}"))?;
            Ok(buf)
        }
        (None, Some(f)) => {
            std::fs::read(f).map_err(|e| Failure(format!("cannot read {}: {e}", f.display())))
        }
        (None, None) => Ok(Vec::new()),
    }
}

fn done(result: std::io::Result<()>) -> Result<ExitCode, Failure> {
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        // `zk ls / | head -1`: the reader has what it wanted.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e.into()),
    }
}

/// Runs `$body` (an expression using the session `$s`) on a fresh session and closes the
/// session whatever happens.
macro_rules! with_session {
    ($settings:expr, |$s:ident| $body:expr) => {{
        let session = $settings.client().await?;
        let $s = &session;
        let result: Result<ExitCode, Failure> = async { $body }.await;
        session.close().await;
        result
    }};
}

/// `zk ls PATH`: the children, sorted, one a line (`--json`: an array).
pub async fn ls(settings: &Settings, args: LsArgs) -> Result<ExitCode, Failure> {
    with_session!(settings, |s| {
        let path = args.path.as_str();
        let mut names = s
            .op(s.client.get_children(path))
            .await
            .map_err(|e| describe(&e, path))?;
        names.sort_unstable();
        if settings.json {
            done(output::json_line(&json!(names)))
        } else {
            done(names.iter().try_for_each(|n| output::line(n)))
        }
    })
}

/// `zk get PATH`: the data and a newline (`--raw`: exactly the data; `--json`: an object with
/// `path`, `data` (UTF-8 text, or null with `data_hex`) and `stat`).
pub async fn get(settings: &Settings, args: GetArgs) -> Result<ExitCode, Failure> {
    with_session!(settings, |s| {
        let path = args.path.as_str();
        let (data, stat) = s
            .op(s.client.get_data(path))
            .await
            .map_err(|e| describe(&e, path))?;
        if settings.json {
            let mut object = json!({"path": path, "stat": output::stat_json(&stat)});
            match std::str::from_utf8(&data) {
                Ok(text) => object["data"] = json!(text),
                Err(_) => {
                    object["data"] = Value::Null;
                    object["data_hex"] = json!(hex(&data));
                }
            }
            done(output::json_line(&object))
        } else if args.raw {
            done(output::raw(&data))
        } else {
            let mut bytes = data.to_vec();
            bytes.push(b'\n');
            done(output::raw(&bytes))
        }
    })
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

/// `zk stat PATH`: the Stat, `name: value` lines (`--json`: an object).
pub async fn stat(settings: &Settings, args: StatArgs) -> Result<ExitCode, Failure> {
    with_session!(settings, |s| {
        let path = args.path.as_str();
        let stat = s
            .op(s.client.exists(path))
            .await
            .map_err(|e| describe(&e, path))?
            .ok_or_else(|| describe(&ZkError::NoNode, path))?;
        if settings.json {
            done(output::json_line(&output::stat_json(&stat)))
        } else {
            done(output::line(&output::stat_text(&stat)))
        }
    })
}

fn parents(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/')
        .map(|(i, _)| &path[..i])
        .filter(|p| !p.is_empty())
}

/// `zk create PATH [DATA]`: prints the created path (`--json`: `{"path", "stat"}`). With
/// `--ephemeral`, then waits for SIGINT/SIGTERM and closes the session.
pub async fn create(settings: &Settings, args: CreateArgs) -> Result<ExitCode, Failure> {
    if args.path.ends_with('/') && args.path != "/" && !args.sequential {
        usage_error(format!(
            "invalid path {:?}: only a --sequential node's path may end with /",
            args.path
        ));
    }
    let data = read_data(args.data.clone(), args.file.as_ref())?;
    let mut options = if args.ephemeral {
        CreateOptions::ephemeral()
    } else if args.container {
        CreateOptions::container()
    } else if let Some(ttl) = args.ttl {
        CreateOptions::ttl(ttl)
    } else {
        CreateOptions::persistent()
    };
    if args.sequential {
        options = options.sequential();
    }
    if !args.acl.is_empty() {
        options = options.with_acl(crate::acl::resolve(&args.acl));
    }
    // Catch signals before the node exists, so that none can kill us while we hold it.
    let mut shutdown = if args.ephemeral {
        Some(Shutdown::new()?)
    } else {
        None
    };
    let s = settings.client().await?;
    let result = async {
        let path = args.path.as_str();
        if args.parents {
            for parent in parents(path) {
                match s
                    .op(s.client.create(parent, b"", &CreateOptions::persistent()))
                    .await
                {
                    Ok(_) | Err(ZkError::NodeExists) => {}
                    Err(e) => return Err(describe(&e, parent)),
                }
            }
        }
        let (created, stat) = s
            .op(s.client.create(path, &data, &options))
            .await
            .map_err(|e| describe(&e, path))?;
        let printed = if settings.json {
            output::json_line(&json!({"path": created, "stat": output::stat_json(&stat)}))
        } else {
            output::line(&created)
        };
        done(printed)?;
        match shutdown.as_mut() {
            Some(shutdown) => hold(&s, shutdown, &created).await,
            None => Ok(ExitCode::SUCCESS),
        }
    }
    .await;
    s.close().await;
    result
}

/// Keeps the session (and so an ephemeral node) until a signal; fails if the session ends.
async fn hold(s: &Session, shutdown: &mut Shutdown, path: &str) -> Result<ExitCode, Failure> {
    let mut events = s.client.session_events();
    loop {
        let state = s.client.state().state;
        if state.is_terminal() {
            return Err(Failure(format!(
                "session ended ({state:?}); the ephemeral node {path} is gone"
            )));
        }
        tokio::select! {
            _ = shutdown.recv() => return Ok(ExitCode::SUCCESS),
            event = events.next() => match event {
                Some(e) if e.state == SessionState::Disconnected => {
                    eprintln!("zk: disconnected; {path} stays while the session lives");
                }
                Some(e) if e.state.is_connected() => eprintln!("zk: connected again"),
                Some(_) => {}
                None => return Err(Failure(format!("session closed; the ephemeral node {path} is gone"))),
            },
        }
    }
}

/// `zk set PATH DATA`: writes; `--json` prints the new Stat.
pub async fn set(settings: &Settings, args: SetArgs) -> Result<ExitCode, Failure> {
    let data = read_data(args.data.clone(), args.file.as_ref())?;
    with_session!(settings, |s| {
        let path = args.path.as_str();
        let stat = s
            .op(s.client.set_data(path, &data, args.version))
            .await
            .map_err(|e| match (e, args.version) {
                (ZkError::BadVersion, Some(v)) => {
                    Failure(format!("bad version: {path} (expected version {v})"))
                }
                (e, _) => describe(&e, path),
            })?;
        if settings.json {
            done(output::json_line(&output::stat_json(&stat)))
        } else {
            Ok(ExitCode::SUCCESS)
        }
    })
}

/// `zk rm PATH`: deletes, printing each path deleted (with `--dry-run`, each path that would
/// be). `--json`: one object at the end, `{"deleted": [...], "kept": [...], "dry_run": bool}`,
/// also when ephemeral nodes were kept (the exit status is then 1).
pub async fn rm(settings: &Settings, args: RmArgs) -> Result<ExitCode, Failure> {
    if args.path == "/" {
        usage_error("refusing to delete /");
    }
    let path = args.path.as_str();
    let mut report = Report {
        json: settings.json,
        dry_run: args.dry_run,
        deleted: Vec::new(),
        kept: Vec::new(),
    };
    if !args.recursive {
        return with_session!(settings, |s| {
            remove_one(s, path, args.version, &mut report).await?;
            report.finish()
        });
    }
    // zc-zk's delete_recursive: post-order, in multi transactions, ephemeral nodes (and their
    // ancestors) kept unless forced.
    let zk = settings.zookeeper().await?;
    let options = DeleteOptions {
        dry_run: args.dry_run,
        force: args.force,
        ignore_if_ephemeral: false,
    };
    let result = with_deadline(settings.timeout * 10, zk.delete_recursive(path, options)).await;
    zk.close().await;
    let steps = result.map_err(|e| describe_zc(&e, path))?.steps;
    for step in steps {
        match step {
            DeleteStep::Delete(p) => report.deleted(&p)?,
            DeleteStep::KeepEphemeral(p) => report.kept.push(p),
            _ => {}
        }
    }
    report.finish()?;
    if report.kept.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let kept = &report.kept;
    let shown: Vec<&str> = kept.iter().take(5).map(String::as_str).collect();
    let more = if kept.len() > shown.len() {
        format!(" and {} more", kept.len() - shown.len())
    } else {
        String::new()
    };
    Err(Failure(format!(
        "not removed: {path}: kept {} ephemeral node(s) (--force deletes them): {}{more}",
        kept.len(),
        shown.join(", ")
    )))
}

/// What `rm` deleted (or, with `--dry-run`, would delete) and kept.
struct Report {
    json: bool,
    dry_run: bool,
    deleted: Vec<String>,
    kept: Vec<String>,
}

impl Report {
    /// Records a deletion; as text, prints it at once.
    fn deleted(&mut self, path: &str) -> Result<(), Failure> {
        if !self.json {
            done(output::line(path))?;
        }
        self.deleted.push(path.to_owned());
        Ok(())
    }

    /// As JSON, prints the report.
    fn finish(&self) -> Result<ExitCode, Failure> {
        if !self.json {
            return Ok(ExitCode::SUCCESS);
        }
        done(output::json_line(&json!({
            "deleted": self.deleted,
            "kept": self.kept,
            "dry_run": self.dry_run,
        })))
    }
}

async fn remove_one(
    s: &Session,
    path: &str,
    version: Option<i32>,
    report: &mut Report,
) -> Result<(), Failure> {
    if report.dry_run {
        let stat = s
            .op(s.client.exists(path))
            .await
            .map_err(|e| describe(&e, path))?
            .ok_or_else(|| describe(&ZkError::NoNode, path))?;
        if stat.num_children > 0 {
            return Err(not_empty(path));
        }
        if let Some(v) = version.filter(|v| *v != stat.version) {
            return Err(Failure(format!(
                "bad version: {path} (expected version {v})"
            )));
        }
        return report.deleted(path);
    }
    s.op(s.client.delete(path, version))
        .await
        .map_err(|e| match (e, version) {
            (ZkError::NotEmpty, _) => not_empty(path),
            (ZkError::BadVersion, Some(v)) => {
                Failure(format!("bad version: {path} (expected version {v})"))
            }
            (e, _) => describe(&e, path),
        })?;
    report.deleted(path)
}

fn not_empty(path: &str) -> Failure {
    Failure(format!(
        "node not empty: {path} (rm -r deletes its subtree)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_are_every_proper_prefix() {
        assert_eq!(parents("/a/b/c").collect::<Vec<_>>(), ["/a", "/a/b"]);
        assert_eq!(parents("/a").count(), 0);
        assert_eq!(parents("/q/item-/").collect::<Vec<_>>(), ["/q", "/q/item-"]);
    }

    #[test]
    fn paths_are_checked_before_connecting() {
        assert!(parse_path("/a/b").is_ok());
        assert!(parse_path("a").is_err());
        assert!(parse_path("/a/").is_err());
        assert!(parse_path("/a//b").is_err());
        assert!(parse_create_path("/q/").is_ok());
    }
}
