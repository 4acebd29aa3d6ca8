//! zc-zk's commands: `register`, `children`, `props`, `props-set`, `props-update`.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use serde_json::{Value, json};
use zc_zk::{PropertyMap, RegistrationStatus};

use crate::connect::{Settings, describe, describe_zc, with_deadline};
use crate::nodes::parse_path;
use crate::signals::Shutdown;
use crate::watch::{self, Events};
use crate::{Failure, output};

/// `zk register PATH HOST:PORT [KEY=VALUE ...]`.
#[derive(Debug, Args)]
#[command(after_help = "\
The node's data is the properties as JSON, plus \"pid\". The registration survives session
expiry (it is re-created in the new session) and is removed when zk stops.

Example:
  zk register /services/foo/providers 10.0.0.5:8080 weight=3 tags='[\"a\",\"b\"]'")]
pub struct RegisterArgs {
    /// The service's providers node (it must exist).
    #[arg(value_parser = parse_path)]
    path: String,
    /// The address registered: HOST:PORT, [IPv6]:PORT, or :PORT for every local address.
    #[arg(value_parser = parse_address)]
    address: String,
    /// Properties; a VALUE that is valid JSON is taken as JSON, otherwise as a string.
    #[arg(value_name = "KEY=VALUE", value_parser = parse_property)]
    properties: Vec<(String, Value)>,
    /// The node's ACL, SCHEME:ID:PERMS (repeatable; default world:anyone:r, zc.zk's).
    #[arg(long = "acl", value_name = "SCHEME:ID:PERMS", value_parser = crate::acl::arg)]
    acl: Vec<crate::acl::AclArg>,
}

/// `zk children PATH`.
#[derive(Debug, Args)]
#[command(after_help = "\
With --watch, one JSON line per state, until SIGINT/SIGTERM or the node's deletion:
  {\"event\":\"children\",\"path\":P,\"children\":[...]}   at start and after every change
  {\"event\":\"deleted\",\"path\":P}                      the node went (zk then exits 0)
  {\"event\":\"session\",\"state\":\"connected\"|\"disconnected\"|\"expired\"|\"closed\"}

Example:
  zk children --watch /services/foo/providers")]
pub struct ChildrenArgs {
    /// The node whose children to print.
    #[arg(value_parser = parse_path)]
    path: String,
    /// Keep printing, one JSON line per change.
    #[arg(long, short = 'w')]
    watch: bool,
}

/// `zk props PATH`.
#[derive(Debug, Args)]
#[command(after_help = "\
Node data that is not a JSON object reads as {\"string_value\": DATA}; empty data as {}.
With --watch, one JSON line per state, until SIGINT/SIGTERM or the node's deletion:
  {\"event\":\"properties\",\"path\":P,\"properties\":{...}}
  {\"event\":\"deleted\",\"path\":P}, {\"event\":\"session\",\"state\":...}

Example:
  zk props /services/foo")]
pub struct PropsArgs {
    /// The node whose properties to print.
    #[arg(value_parser = parse_path)]
    path: String,
    /// Keep printing, one JSON line per change.
    #[arg(long, short = 'w')]
    watch: bool,
}

/// `zk props-set|props-update PATH KEY=VALUE ...`.
#[derive(Debug, Args)]
#[command(after_help = "\
Compare-and-set on the node's version, retried: concurrent writers never lose updates.

Example:
  zk props-update /services/foo threads=4 name='\"foo\"' debug=false")]
pub struct PropsWriteArgs {
    /// The node.
    #[arg(value_parser = parse_path)]
    path: String,
    /// Properties; a VALUE that is valid JSON is taken as JSON, otherwise as a string.
    #[arg(value_name = "KEY=VALUE", required = true, value_parser = parse_property)]
    properties: Vec<(String, Value)>,
}

/// `KEY=VALUE`: VALUE as JSON when it parses, else as a string.
pub fn parse_property(text: &str) -> Result<(String, Value), String> {
    let Some((key, value)) = text.split_once('=') else {
        return Err("expected KEY=VALUE".to_owned());
    };
    if key.is_empty() {
        return Err("the KEY of KEY=VALUE is empty".to_owned());
    }
    let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
    Ok((key.to_owned(), value))
}

/// `HOST:PORT`, `[V6]:PORT` or `:PORT`.
fn parse_address(text: &str) -> Result<String, String> {
    let bad = || "expected HOST:PORT, [IPv6]:PORT or :PORT".to_owned();
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    port.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(bad)?;
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if bare.contains('/')
        || bare.chars().any(char::is_whitespace)
        || (bare.contains(':') && bare == host)
    {
        return Err(bad());
    }
    Ok(text.to_owned())
}

fn map(properties: Vec<(String, Value)>) -> PropertyMap {
    properties.into_iter().collect()
}

/// `zk register`: prints `registered PATH/HOST:PORT` (`--json`: a `registered` event line) and
/// stays registered until SIGINT/SIGTERM, then closes the session (the node goes at once).
/// Session changes go to stderr (`--json`: to stdout as session event lines).
pub async fn register(settings: &Settings, args: RegisterArgs) -> Result<ExitCode, Failure> {
    let mut shutdown = Shutdown::new()?;
    let zk = settings.zookeeper().await?;
    let mut sessions = zk.session_events();
    let registration = match with_deadline(
        settings.timeout,
        zk.register_server_with(
            &args.path,
            args.address.as_str(),
            map(args.properties),
            zc_zk::RegisterOptions {
                acl: if args.acl.is_empty() {
                    zk_session::ACL::read_unsafe()
                } else {
                    crate::acl::resolve(&args.acl)
                },
                ..zc_zk::RegisterOptions::default()
            },
        ),
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            zk.close().await;
            return Err(describe_zc(&e, &args.path));
        }
    };
    let mut events = Events::new(settings.json);
    let mut result = Ok(ExitCode::SUCCESS);
    for path in registration.paths() {
        let line = if settings.json {
            output::json_line(&json!({"event": "registered", "path": path}))
        } else {
            output::line(&format!("registered {path}"))
        };
        if line.is_err() {
            // Nobody reads us any more; stay registered all the same, until signalled.
            events.quiet();
        }
    }
    loop {
        tokio::select! {
            name = shutdown.recv() => {
                eprintln!("zk: {name}: unregistering");
                break;
            }
            event = sessions.next() => {
                let Some(event) = event else {
                    result = Err(Failure("the session ended; not registered any more".into()));
                    break;
                };
                let _ = events.session(event.state);
            }
            () = removed(&registration) => {
                result = Err(Failure(format!(
                    "{} was deleted by someone else; not registering it again",
                    registration.paths().join(", ")
                )));
                break;
            }
        }
    }
    // Closing the session deletes the nodes at once (dropping the registration would too, but
    // one request at a time).
    zk.close().await;
    drop(registration);
    result
}

/// Resolves once every node of the registration was removed by someone else.
async fn removed(registration: &zc_zk::Registration) {
    loop {
        let waited = registration
            .wait_for_status(Duration::from_secs(3600), |s| {
                matches!(s, RegistrationStatus::Removed)
            })
            .await;
        let all_removed = registration
            .statuses()
            .iter()
            .all(|(_, s)| *s == RegistrationStatus::Removed);
        if waited.is_ok() && all_removed {
            return;
        }
        if waited.is_ok() {
            // A node's task ended without the node being removed (the handle is closing):
            // nothing more to wait for here, but never spin.
            std::future::pending::<()>().await;
        }
    }
}

/// `zk children PATH`: the names, sorted, one a line (`--json`: an array); `--watch` streams.
pub async fn children(settings: &Settings, args: ChildrenArgs) -> Result<ExitCode, Failure> {
    if args.watch {
        return watch::children(settings, &args.path).await;
    }
    let s = settings.client().await?;
    let result = s.op(s.client.get_children(&args.path)).await;
    s.close().await;
    let mut names = result.map_err(|e| describe(&e, &args.path))?;
    names.sort_unstable();
    let printed = if settings.json {
        output::json_line(&json!(names))
    } else {
        names.iter().try_for_each(|n| output::line(n))
    };
    ignore_broken_pipe(printed)
}

/// `zk props PATH`: the properties as one JSON object (pretty on a terminal); `--watch`
/// streams.
pub async fn props(settings: &Settings, args: PropsArgs) -> Result<ExitCode, Failure> {
    if args.watch {
        return watch::properties(settings, &args.path).await;
    }
    let s = settings.client().await?;
    let result = s.op(s.client.get_data(&args.path)).await;
    s.close().await;
    let (data, _) = result.map_err(|e| describe(&e, &args.path))?;
    let props = Value::Object(zc_zk::data::decode(Some(&data)));
    let text = if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        serde_json::to_string_pretty(&props).unwrap_or_default()
    } else {
        props.to_string()
    };
    ignore_broken_pipe(output::line(&text))
}

/// `zk props-set` (`merge` false: replace) and `zk props-update` (`merge` true).
pub async fn props_write(
    settings: &Settings,
    args: PropsWriteArgs,
    merge: bool,
) -> Result<ExitCode, Failure> {
    let zk = settings.zookeeper().await?;
    let props = map(args.properties);
    let result = with_deadline(settings.timeout, async {
        if merge {
            zk.update_properties(&args.path, props).await
        } else {
            zk.set_properties(&args.path, props).await
        }
    })
    .await;
    zk.close().await;
    let stat = result.map_err(|e| describe_zc(&e, &args.path))?;
    if settings.json {
        ignore_broken_pipe(output::json_line(&output::stat_json(&stat)))
    } else {
        Ok(ExitCode::SUCCESS)
    }
}

fn ignore_broken_pipe(result: std::io::Result<()>) -> Result<ExitCode, Failure> {
    match result {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_json_when_they_parse() {
        assert_eq!(parse_property("a=1"), Ok(("a".into(), json!(1))));
        assert_eq!(parse_property("a=true"), Ok(("a".into(), json!(true))));
        assert_eq!(
            parse_property("a=[1,\"x\"]"),
            Ok(("a".into(), json!([1, "x"])))
        );
        assert_eq!(parse_property("a=\"1\""), Ok(("a".into(), json!("1"))));
        assert_eq!(parse_property("a=hello"), Ok(("a".into(), json!("hello"))));
        assert_eq!(parse_property("a="), Ok(("a".into(), json!(""))));
        assert_eq!(parse_property("a=b=c"), Ok(("a".into(), json!("b=c"))));
        assert_eq!(parse_property("a={bad"), Ok(("a".into(), json!("{bad"))));
        assert!(parse_property("=1").is_err());
        assert!(parse_property("novalue").is_err());
    }

    #[test]
    fn addresses_need_a_port() {
        for good in ["10.0.0.5:8080", "host.example:1", "[::1]:2181", ":8080"] {
            assert!(parse_address(good).is_ok(), "{good}");
        }
        for bad in [
            "host",
            "host:",
            "host:0",
            "host:99999",
            "a/b:1",
            "::1:80",
            "a b:1",
            "",
        ] {
            assert!(parse_address(bad).is_err(), "{bad}");
        }
    }
}
