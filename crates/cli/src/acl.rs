//! ACLs on the command line: `SCHEME:ID:PERMS` as zkCli writes them (`world:anyone:r`,
//! `ip:10.0.0.0/8:cdrwa`, `digest:USER:HASH:cdrwa`, `auth::cdrwa`, `sasl:bob:rw`,
//! `x509:CN=client,O=org:r`), plus `digest-password:USER:PASSWORD:PERMS`, which computes the
//! digest id as the server does (the password is never echoed).

use std::process::ExitCode;

use clap::Args;
use serde_json::json;
use zk_session::{ACL, Id, Perms};

use crate::connect::{Settings, describe};
use crate::nodes::parse_path;
use crate::{Failure, output};

/// Parses permissions: letters from `cdrwa`, or a number (0..=31).
fn parse_perms(text: &str) -> Result<Perms, String> {
    if let Ok(n) = text.parse::<i32>() {
        return if (0..=31).contains(&n) {
            Ok(Perms(n))
        } else {
            Err(format!("permissions {n} out of 0..=31"))
        };
    }
    let mut perms = Perms::NONE;
    for c in text.chars() {
        perms |= match c {
            'c' => Perms::CREATE,
            'd' => Perms::DELETE,
            'r' => Perms::READ,
            'w' => Perms::WRITE,
            'a' => Perms::ADMIN,
            _ => {
                return Err(format!(
                    "unknown permission {c:?} (use letters from cdrwa, or 0-31)"
                ));
            }
        };
    }
    Ok(perms)
}

/// An `--acl` value as clap hands it over: always accepted, so that clap never echoes a value
/// that may hold a password; [`resolve`] turns it into an ACL or a usage error.
#[derive(Debug, Clone)]
pub enum AclArg {
    /// A valid entry.
    Valid(ACL),
    /// Why the value is not one (without the value).
    Invalid(String),
}

/// The clap value parser of `--acl`: never fails (see [`AclArg`]).
pub fn arg(text: &str) -> Result<AclArg, String> {
    Ok(match parse(text) {
        Ok(acl) => AclArg::Valid(acl),
        Err(why) => AclArg::Invalid(why),
    })
}

/// The ACL entries of `--acl` values, or a usage error (exit 2) naming what is wrong.
pub fn resolve(args: &[AclArg]) -> Vec<ACL> {
    args.iter()
        .map(|a| match a {
            AclArg::Valid(acl) => acl.clone(),
            AclArg::Invalid(why) => crate::usage_error(format!("invalid --acl: {why}")),
        })
        .collect()
}

/// Parses one `--acl` value. Errors never contain a password.
pub fn parse(text: &str) -> Result<ACL, String> {
    let usage = "an ACL is SCHEME:ID:PERMS, e.g. world:anyone:r, ip:127.0.0.1:cdrwa, auth::cdrwa, \
                 digest-password:USER:PASSWORD:cdrwa";
    let (scheme_id, perms) = text.rsplit_once(':').ok_or_else(|| usage.to_owned())?;
    let perms = parse_perms(perms)?;
    let (scheme, id) = scheme_id.split_once(':').ok_or_else(|| usage.to_owned())?;
    match scheme {
        "digest-password" => {
            let (user, password) = id
                .split_once(':')
                .filter(|(u, _)| !u.is_empty())
                .ok_or_else(|| {
                    "digest-password expects digest-password:USER:PASSWORD:PERMS".to_owned()
                })?;
            Ok(zk_session::acl::digest(perms, user, password))
        }
        "world" | "auth" | "ip" | "digest" | "sasl" | "x509" => {
            Ok(ACL::new(perms, Id::new(scheme, id)))
        }
        other => Err(format!("unknown ACL scheme {other:?}: {usage}")),
    }
}

/// Formats an ACL entry as `SCHEME:ID:PERMS`.
pub fn format(acl: &ACL) -> String {
    format!(
        "{}:{}:{}",
        acl.id.scheme.as_deref().unwrap_or_default(),
        acl.id.id.as_deref().unwrap_or_default(),
        acl.perms
    )
}

/// `zk acl PATH`.
#[derive(Debug, Args)]
#[command(after_help = "Prints the node's ACL, one SCHEME:ID:PERMS entry a line.")]
pub struct AclArgs {
    /// The node.
    #[arg(value_parser = parse_path)]
    path: String,
}

/// `zk set-acl PATH ACL...`.
#[derive(Debug, Args)]
#[command(after_help = "\
Replaces the node's ACL.

Examples:
  zk set-acl /config world:anyone:r digest-password:admin:secret:cdrwa
  zk set-acl /config ip:127.0.0.1:cdrwa --version 0")]
pub struct SetAclArgs {
    /// The node.
    #[arg(value_parser = parse_path)]
    path: String,
    /// The new ACL entries.
    #[arg(value_name = "SCHEME:ID:PERMS", required = true, value_parser = arg)]
    acl: Vec<AclArg>,
    /// Only if the ACL's version is N.
    #[arg(long, value_name = "N")]
    version: Option<i32>,
}

/// `zk acl`.
pub async fn get(settings: &Settings, args: AclArgs) -> Result<ExitCode, Failure> {
    let s = settings.client().await?;
    let result = s.op(s.client.get_acl(&args.path)).await;
    s.close().await;
    let (acl, _) = result.map_err(|e| describe(&e, &args.path))?;
    let lines: Vec<String> = acl.iter().map(format).collect();
    if settings.json {
        output::json_line(&json!(lines))?;
    } else {
        for line in lines {
            output::line(&line)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `zk set-acl`.
pub async fn set(settings: &Settings, args: SetAclArgs) -> Result<ExitCode, Failure> {
    let acl = resolve(&args.acl);
    let s = settings.client().await?;
    let result = s.op(s.client.set_acl(&args.path, &acl, args.version)).await;
    s.close().await;
    result.map_err(|e| describe(&e, &args.path))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zkcli_acls_parse_and_format_back() {
        for text in [
            "world:anyone:r",
            "ip:10.0.0.0/8:cdrwa",
            "auth::cdrwa",
            "x509:CN=a,O=b:rw",
            "digest:u:abc=:ra",
        ] {
            let acl = parse(text).unwrap();
            let back = format(&acl);
            assert_eq!(parse(&back).unwrap(), acl, "{text} -> {back}");
        }
        assert_eq!(parse("world:anyone:31").unwrap().perms, Perms::ALL);
    }

    #[test]
    fn digest_password_is_hashed_and_never_echoed() {
        let acl = parse("digest-password:super:test:cdrwa").unwrap();
        assert_eq!(
            acl.id.id.as_deref(),
            Some("super:D/InIHSb7yEEbrWz8b9l71RjZJU=")
        );
        let e = parse("digest-password:super:hunter2:xyz").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
        assert!(parse("bogus:x:r").is_err());
        assert!(parse("world:anyone:64").is_err());
    }
}
