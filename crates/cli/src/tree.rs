//! zc.zk's tree commands: `export`, `import`, `validate` (no server needed), `set-property`.

use std::io::Read;
use std::process::ExitCode;

use clap::Args;
use zc_zk::zk_session::{ACL, Id, Perms};
use zc_zk::{ImportOptions, PropertyMap, Trim};

use crate::connect::{Settings, describe_zc, with_deadline};
use crate::nodes::parse_path;
use crate::{Failure, output};

/// `zk export [PATH]`.
#[derive(Debug, Args)]
#[command(after_help = "\
Prints the tree under PATH in zc.zk's tree format: nodes sorted, two spaces of indentation per
level, properties, then links, then children. /zookeeper and ephemeral nodes are left out unless
-e is given.

Example:
  zk export /services -o services.zk")]
pub struct ExportArgs {
    /// The top of the tree.
    #[arg(default_value = "/", value_parser = parse_path)]
    path: String,
    /// Include ephemeral nodes (registrations).
    #[arg(short = 'e', long)]
    ephemeral: bool,
    /// Write to FILE instead of standard output.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<std::path::PathBuf>,
    /// Rename the top node in the output.
    #[arg(long)]
    name: Option<String>,
}

/// `zk import [FILE|-] [PATH]`.
#[derive(Debug, Args)]
#[command(after_help = "\
Reads a tree in zc.zk's format (from FILE, or standard input with - or no FILE) and makes the
tree under PATH match it: unchanged nodes are not written; extra nodes are reported, or deleted
with --trim (never ephemeral nodes or their ancestors). A file that does not parse changes
nothing; its error names the line.

Example:
  zk import --dry-run services.zk /services")]
pub struct ImportArgs {
    /// The tree file; - or nothing reads standard input.
    file: Option<String>,
    /// Where to import it.
    #[arg(default_value = "/", value_parser = parse_path)]
    path: String,
    /// Report the changes without making them.
    #[arg(short = 'd', long)]
    dry_run: bool,
    /// Delete nodes that are not in the file (never ephemeral nodes or their ancestors).
    #[arg(short = 't', long)]
    trim: bool,
    /// The permissions given to world:anyone on created nodes (31 = all).
    #[arg(short = 'p', long, value_name = "N", default_value_t = 31,
          value_parser = clap::value_parser!(i32).range(0..=31))]
    perm: i32,
}

/// `zk validate FILE|-`.
#[derive(Debug, Args)]
#[command(after_help = "\
Checks that FILE (or standard input, with -) is a valid tree, without contacting ZooKeeper.
Exit 0 when it is; 1 with the line of the first error otherwise.")]
pub struct ValidateArgs {
    /// The tree file, or - for standard input.
    file: String,
}

/// `zk set-property PATH NAME=VALUE ...`.
#[derive(Debug, Args)]
#[command(after_help = "\
Merges properties into a node (compare-and-set). Values are Python or JSON literals, as in the
tree format: 4, True, None, 'text', u'text', [1, 2], {'a': 1}.

Example:
  zk set-property /services/foo threads=4 debug=True comment='ok'")]
pub struct SetPropertyArgs {
    /// The node (links are followed).
    #[arg(value_parser = parse_path)]
    path: String,
    /// The properties.
    #[arg(value_name = "NAME=VALUE", required = true, value_parser = parse_assignment)]
    properties: Vec<(String, serde_json::Value)>,
}

fn parse_assignment(text: &str) -> Result<(String, serde_json::Value), String> {
    zc_zk::tree::parse_assignment(text).map_err(|e| e.to_string())
}

/// Reads a tree file, or standard input for `-` (or `None`).
fn read_input(file: Option<&str>) -> Result<(String, String), Failure> {
    match file {
        None | Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Failure(format!("cannot read standard input: {e}")))?;
            Ok((text, "<stdin>".into()))
        }
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Failure(format!("cannot read {path}: {e}")))?;
            Ok((text, path.to_owned()))
        }
    }
}

/// `zk validate`: parses only.
pub fn validate(args: ValidateArgs) -> Result<ExitCode, Failure> {
    let (text, name) = read_input(Some(&args.file))?;
    match zc_zk::parse_tree(&text) {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(e) => Err(Failure(format!("{name}: {e}"))),
    }
}

/// `zk export`.
pub async fn export(s: &Settings, args: ExportArgs) -> Result<ExitCode, Failure> {
    let zk = s.zookeeper().await?;
    let result = with_deadline(
        s.timeout,
        zk.export_tree(&args.path, args.ephemeral, args.name.as_deref()),
    )
    .await;
    zk.close().await;
    let text = result.map_err(|e| describe_zc(&e, &args.path))?;
    match args.output {
        Some(file) => std::fs::write(&file, text)
            .map_err(|e| Failure(format!("cannot write {}: {e}", file.display())))?,
        None => output::raw(text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `zk import`.
pub async fn import(s: &Settings, args: ImportArgs) -> Result<ExitCode, Failure> {
    let (text, name) = read_input(args.file.as_deref())?;
    // Parse before connecting: a bad file changes nothing and needs no server.
    let tree = zc_zk::parse_tree(&text).map_err(|e| Failure(format!("{name}: {e}")))?;
    let options = ImportOptions {
        trim: if args.trim {
            Trim::Delete
        } else {
            Trim::Report
        },
        acl: vec![ACL::new(Perms(args.perm), Id::anyone())],
        dry_run: args.dry_run,
    };
    let zk = s.zookeeper().await?;
    let result = with_deadline(s.timeout * 10, zk.import_node(&tree, &args.path, options)).await;
    zk.close().await;
    let plan = result.map_err(|e| describe_zc(&e, &args.path))?;
    if s.json {
        output::json_line(&serde_json::json!({
            "path": args.path,
            "dry_run": args.dry_run,
            "writes": plan.writes(),
            "messages": plan.messages(),
        }))?;
    } else {
        for line in plan.messages() {
            output::line(&line)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `zk set-property`.
pub async fn set_property(s: &Settings, args: SetPropertyArgs) -> Result<ExitCode, Failure> {
    let zk = s.zookeeper().await?;
    let update: PropertyMap = args.properties.into_iter().collect();
    let result = with_deadline(s.timeout, async {
        let props = zk.properties(&args.path).await?;
        props.update(update).await
    })
    .await;
    zk.close().await;
    result.map_err(|e| describe_zc(&e, &args.path))?;
    Ok(ExitCode::SUCCESS)
}
