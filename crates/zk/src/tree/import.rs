//! Import: [`ZooKeeper::import_tree`] computes a plan from the text and the server's state,
//! then applies only the changes.
//!
//! For each node of the text, below the import path, depth first, children in name order
//! (zc.zk's order):
//! - A node that does not exist is created with its properties and the options' ACL, and so is
//!   its whole subtree (a dry run reports it as one `add PATH`).
//! - An existing node whose properties differ from the text's gets the text's properties,
//!   replacing its data completely; one whose properties are equal is not written at all (no
//!   version bump, no watcher fires).
//! - An existing node whose ACL differs from the options' ACL gets that ACL. (ACLs are compared
//!   as sets; when the options' ACL uses the `auth` scheme, which the server rewrites, existing
//!   ACLs are left alone.)
//! - Children present in ZooKeeper but not in the text ("extra" nodes), except at the top
//!   level, are reported (`extra path not trimmed: PATH`) with [`Trim::Report`], ignored with
//!   [`Trim::Keep`], or deleted recursively with [`Trim::Delete`], which never deletes
//!   ephemeral nodes nor their ancestors. Top-level siblings are never trimmed.
//!
//! **Applying.** The text is parsed before anything is read, so a text that does not parse
//! changes nothing. Creations, data writes and trims are sent in order as multi transactions
//! (atomic each; one transaction holds up to [`MAX_BATCH_OPS`](crate::walk) ops or 512 KiB, so a
//! small import is atomic as a whole). Data writes and deletions are compare-and-set on the
//! versions read, so a concurrent change makes the import re-read, re-plan and go on. ACL
//! changes, which transactions cannot hold, follow (also on the version read).
//!
//! **Messages.** [`ImportPlan::messages`] gives zc.zk's output: in a dry run its dry-run lines
//! (`add PATH`, `PATH add property NAME = V`, `PATH NAME change from OLD to NEW`,
//! `would delete PATH.` …), plus `PATH acl change from OLD to NEW`, which zc.zk never
//! reported; in a real run what zc.zk printed then (`extra path not trimmed: PATH`, and the
//! ephemeral nodes a trim kept).

use std::future::Future;
use std::pin::Pin;

use zk_session::{ACL, Client, CreateOptions, Error as ZkError, Op};

use super::literal::format_value_plain;
use super::{LINK_SUFFIX, Node, parse_tree};
use crate::data::{self, PropertyMap};
use crate::error::{Error, Result};
use crate::links::{join, normalize_path};
use crate::walk::{BatchError, DeleteStep, plan_delete, run_batches};
use crate::zookeeper::ZooKeeper;

/// How many times an import re-plans after a concurrent change.
const MAX_ATTEMPTS: usize = 20;

/// What an import does with extra nodes (in ZooKeeper, not in the text) below the top level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Trim {
    /// Keep them and report each (`extra path not trimmed: PATH`): zc.zk's default
    /// (`trim=None`).
    #[default]
    Report,
    /// Keep them silently (`trim=False`).
    Keep,
    /// Delete them recursively, except ephemeral nodes and their ancestors (`trim=True`).
    Delete,
}

/// Options of [`ZooKeeper::import_tree`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOptions {
    /// What to do with extra nodes. Default [`Trim::Report`].
    pub trim: Trim,
    /// The ACL of created nodes, and set on existing nodes whose ACL differs. Default
    /// `world:anyone` with every permission (zc.zk's `OPEN_ACL_UNSAFE`).
    pub acl: Vec<ACL>,
    /// Compute and return the plan without changing anything.
    pub dry_run: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            trim: Trim::Report,
            acl: ACL::open_unsafe(),
            dry_run: false,
        }
    }
}

/// One change of an import, in zc.zk's order.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ImportChange {
    /// A node to create.
    Create {
        /// The node.
        path: String,
        /// Its properties.
        properties: PropertyMap,
        /// Its ACL.
        acl: Vec<ACL>,
        /// Whether it is the top of a new subtree (the nodes below it follow).
        subtree_root: bool,
    },
    /// An existing node's properties to replace.
    SetProperties {
        /// The node.
        path: String,
        /// Its properties now.
        old: PropertyMap,
        /// The text's.
        new: PropertyMap,
        /// The data version read.
        version: i32,
    },
    /// An existing node's ACL to replace.
    SetAcl {
        /// The node.
        path: String,
        /// Its ACL now.
        old: Vec<ACL>,
        /// The new ACL.
        new: Vec<ACL>,
        /// The ACL version read.
        version: i32,
    },
    /// An extra node kept and reported ([`Trim::Report`]).
    NotTrimmed {
        /// The node.
        path: String,
    },
    /// A decision of a trim ([`Trim::Delete`]).
    Trim(DeleteStep),
}

impl ImportChange {
    /// zc.zk's lines for this change: its dry-run output when `dry_run`, else what it printed
    /// during a real import.
    pub fn messages(&self, dry_run: bool) -> Vec<String> {
        match self {
            ImportChange::NotTrimmed { path } => vec![format!("extra path not trimmed: {path}")],
            ImportChange::Trim(step) => step.message(dry_run).into_iter().collect(),
            _ if !dry_run => Vec::new(),
            ImportChange::Create {
                path, subtree_root, ..
            } => {
                if *subtree_root {
                    vec![format!("add {path}")]
                } else {
                    Vec::new()
                }
            }
            ImportChange::SetProperties { path, old, new, .. } => diff_messages(path, old, new),
            ImportChange::SetAcl { path, old, new, .. } => vec![format!(
                "{path} acl change from {} to {}",
                format_acl(old),
                format_acl(new)
            )],
        }
    }

    /// The node concerned.
    pub fn path(&self) -> &str {
        match self {
            ImportChange::Create { path, .. }
            | ImportChange::SetProperties { path, .. }
            | ImportChange::SetAcl { path, .. }
            | ImportChange::NotTrimmed { path } => path,
            ImportChange::Trim(step) => step.path(),
        }
    }

    /// Whether this change writes to ZooKeeper.
    pub fn is_write(&self) -> bool {
        match self {
            ImportChange::Create { .. }
            | ImportChange::SetProperties { .. }
            | ImportChange::SetAcl { .. } => true,
            ImportChange::Trim(step) => matches!(step, DeleteStep::Delete(_)),
            ImportChange::NotTrimmed { .. } => false,
        }
    }
}

/// What [`ZooKeeper::import_tree`] did, or would do in a dry run.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportPlan {
    /// The import path.
    pub path: String,
    /// Whether this was a dry run (nothing was changed).
    pub dry_run: bool,
    /// The changes, in order. After a real import that had to re-plan because of concurrent
    /// changes, the writes done before the re-plan come first.
    pub changes: Vec<ImportChange>,
}

impl ImportPlan {
    /// zc.zk's output for the import (see [`ImportChange::messages`]).
    pub fn messages(&self) -> Vec<String> {
        self.changes
            .iter()
            .flat_map(|c| c.messages(self.dry_run))
            .collect()
    }

    /// How many writes the plan holds.
    pub fn writes(&self) -> usize {
        self.changes.iter().filter(|c| c.is_write()).count()
    }

    /// Whether the import changes nothing.
    pub fn is_noop(&self) -> bool {
        self.writes() == 0
    }
}

impl ZooKeeper {
    /// Imports a tree text at `path` (zc.zk's `import_tree`): parses it, plans, and applies the
    /// plan unless `options.dry_run` (see the [module docs](self)). Returns the plan.
    ///
    /// ```no_run
    /// # async fn demo(zk: zc_zk::ZooKeeper) -> zc_zk::Result<()> {
    /// use zc_zk::tree::{ImportOptions, Trim};
    ///
    /// let text = "/cms : z4m cms\n  threads = 4\n  /providers\n";
    /// let preview = zk
    ///     .import_tree(text, "/", ImportOptions { trim: Trim::Delete, dry_run: true, ..Default::default() })
    ///     .await?;
    /// for line in preview.messages() {
    ///     println!("{line}");
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Parse`] with the line number (nothing is changed); [`Error::NoNode`] when
    /// `path` does not exist; `NoAuth`; `InvalidPath`; the connection errors.
    pub async fn import_tree(
        &self,
        text: &str,
        path: &str,
        options: ImportOptions,
    ) -> Result<ImportPlan> {
        let tree = parse_tree(text)?;
        self.import_node(&tree, path, options).await
    }

    /// Imports an already parsed tree: the children of `tree` become nodes under `path` (the
    /// root's own properties are not used). See [`import_tree`](ZooKeeper::import_tree).
    ///
    /// # Errors
    /// As [`import_tree`](ZooKeeper::import_tree).
    pub async fn import_node(
        &self,
        tree: &Node,
        path: &str,
        options: ImportOptions,
    ) -> Result<ImportPlan> {
        let path = normalize_path(path)?;
        let mut done: Vec<ImportChange> = Vec::new();
        for _ in 0..MAX_ATTEMPTS {
            let client = self.client();
            let changes = plan(&client, &path, tree, &options).await?;
            if options.dry_run {
                return Ok(ImportPlan {
                    path,
                    dry_run: true,
                    changes,
                });
            }
            let mut ops = Vec::new();
            let mut op_changes = Vec::new();
            for (i, change) in changes.iter().enumerate() {
                if let Some(op) = data_op(change) {
                    ops.push(op);
                    op_changes.push(i);
                }
            }
            match run_batches(&client, &ops).await {
                Ok(()) => {}
                Err(BatchError::Conflict { applied }) => {
                    done.extend(op_changes[..applied].iter().map(|&i| changes[i].clone()));
                    continue;
                }
                Err(BatchError::Failed(e)) => return Err(e),
            }
            let mut conflict = false;
            for change in &changes {
                if let ImportChange::SetAcl {
                    path, new, version, ..
                } = change
                {
                    match client.set_acl(path, new, Some(*version)).await {
                        Ok(_) => {}
                        Err(ZkError::BadVersion | ZkError::NoNode) => {
                            conflict = true;
                            break;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            if conflict {
                done.extend(changes.into_iter().filter(|c| data_op(c).is_some()));
                continue;
            }
            done.extend(changes);
            return Ok(ImportPlan {
                path,
                dry_run: false,
                changes: done,
            });
        }
        Err(ZkError::BadVersion.into())
    }
}

/// The transaction op of a change, if it has one.
fn data_op(change: &ImportChange) -> Option<Op> {
    match change {
        ImportChange::Create {
            path,
            properties,
            acl,
            ..
        } => Some(Op::create(
            path.clone(),
            data::encode(properties),
            CreateOptions::persistent().with_acl(acl.clone()),
        )),
        ImportChange::SetProperties {
            path, new, version, ..
        } => Some(Op::set_data(
            path.clone(),
            data::encode(new),
            Some(*version),
        )),
        ImportChange::Trim(DeleteStep::Delete(path)) => Some(Op::delete(path.clone(), None)),
        _ => None,
    }
}

/// Plans the import of `tree`'s children under `path`.
async fn plan(
    client: &Client,
    path: &str,
    tree: &Node,
    options: &ImportOptions,
) -> Result<Vec<ImportChange>> {
    let existing = match client.get_children(path).await {
        Ok(children) => children,
        Err(ZkError::NoNode) => {
            return Err(Error::NoNode {
                path: path.to_owned(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    let mut changes = Vec::new();
    plan_existing(
        client,
        path.to_owned(),
        tree,
        existing,
        true,
        options,
        &mut changes,
    )
    .await?;
    Ok(changes)
}

/// Plans the children of the existing node `path`, whose children in ZooKeeper are `existing`.
fn plan_existing<'a>(
    client: &'a Client,
    path: String,
    node: &'a Node,
    mut existing: Vec<String>,
    top: bool,
    options: &'a ImportOptions,
    changes: &'a mut Vec<ImportChange>,
) -> Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>> {
    Box::pin(async move {
        existing.sort_unstable();
        if !top {
            for name in existing.iter().filter(|n| !node.children.contains_key(*n)) {
                let extra = join(&path, name);
                match options.trim {
                    Trim::Report => changes.push(ImportChange::NotTrimmed { path: extra }),
                    Trim::Keep => {}
                    Trim::Delete => match plan_delete(client, &extra, false, true).await {
                        Ok(steps) => changes.extend(steps.into_iter().map(ImportChange::Trim)),
                        Err(e) if e.is_no_node() => {}
                        Err(e) => return Err(e),
                    },
                }
            }
        }
        for (name, child) in &node.children {
            let child_path = join(&path, name);
            let state = if existing.binary_search(name).is_ok() {
                read_state(client, &child_path).await?
            } else {
                None
            };
            let Some(state) = state else {
                plan_create(&child_path, child, &options.acl, true, changes);
                continue;
            };
            if state.properties != child.properties {
                changes.push(ImportChange::SetProperties {
                    path: child_path.clone(),
                    old: state.properties,
                    new: child.properties.clone(),
                    version: state.version,
                });
            }
            if !acl_equal(&state.acl, &options.acl) {
                changes.push(ImportChange::SetAcl {
                    path: child_path.clone(),
                    old: state.acl,
                    new: options.acl.clone(),
                    version: state.acl_version,
                });
            }
            plan_existing(
                client,
                child_path,
                child,
                state.children,
                false,
                options,
                changes,
            )
            .await?;
        }
        Ok(())
    })
}

fn plan_create(
    path: &str,
    node: &Node,
    acl: &[ACL],
    subtree_root: bool,
    changes: &mut Vec<ImportChange>,
) {
    changes.push(ImportChange::Create {
        path: path.to_owned(),
        properties: node.properties.clone(),
        acl: acl.to_vec(),
        subtree_root,
    });
    for (name, child) in &node.children {
        plan_create(&join(path, name), child, acl, false, changes);
    }
}

struct State {
    properties: PropertyMap,
    version: i32,
    acl: Vec<ACL>,
    acl_version: i32,
    children: Vec<String>,
}

/// An existing node's properties, ACL and children, read at once; `None` when it is gone.
async fn read_state(client: &Client, path: &str) -> Result<Option<State>> {
    let (data, acl, children) = tokio::join!(
        client.get_data(path),
        client.get_acl(path),
        client.get_children(path)
    );
    let gone = |e: &ZkError| matches!(e, ZkError::NoNode);
    match (data, acl, children) {
        (Ok((bytes, stat)), Ok((acl, acl_stat)), Ok(children)) => Ok(Some(State {
            properties: data::decode(Some(&bytes)),
            version: stat.version,
            acl,
            acl_version: acl_stat.aversion,
            children,
        })),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) if gone(&e) => Ok(None),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => Err(e.into()),
    }
}

/// Whether two ACLs grant the same, ignoring order; true when `wanted` uses the `auth` scheme
/// (the server replaces it by the creator's ids, so it cannot be compared).
fn acl_equal(existing: &[ACL], wanted: &[ACL]) -> bool {
    if wanted
        .iter()
        .any(|a| a.id.scheme.as_deref() == Some("auth"))
    {
        return true;
    }
    let key = |a: &ACL| {
        (
            a.id.scheme.clone().unwrap_or_default(),
            a.id.id.clone().unwrap_or_default(),
            a.perms.bits(),
        )
    };
    let mut a: Vec<_> = existing.iter().map(key).collect();
    let mut b: Vec<_> = wanted.iter().map(key).collect();
    a.sort();
    a.dedup();
    b.sort();
    b.dedup();
    a == b
}

fn format_acl(acl: &[ACL]) -> String {
    let entries: Vec<String> = acl
        .iter()
        .map(|a| {
            format!(
                "{}:{}:{}",
                a.id.scheme.as_deref().unwrap_or(""),
                a.id.id.as_deref().unwrap_or(""),
                a.perms
            )
        })
        .collect();
    format!("[{}]", entries.join(", "))
}

/// zc.zk's dry-run lines for a node whose properties change from `old` to `new`.
fn diff_messages(path: &str, old: &PropertyMap, new: &PropertyMap) -> Vec<String> {
    let s = format_value_plain;
    let mut lines = Vec::new();
    for (name, v) in old {
        let is_link = name.ends_with(LINK_SUFFIX);
        match new.get(name) {
            None if is_link => lines.push(format!("{path} remove link {name} {}", s(v))),
            None => lines.push(format!("{path} remove property {name} = {}", s(v))),
            Some(n) if n != v => {
                if let Some(link) = name.strip_suffix(LINK_SUFFIX) {
                    lines.push(format!(
                        "{path} {link} link change from {} to {}",
                        s(v),
                        s(n)
                    ));
                } else {
                    lines.push(format!("{path} {name} change from {} to {}", s(v), s(n)));
                }
            }
            Some(_) => {}
        }
    }
    for (name, v) in new {
        if old.contains_key(name) {
            continue;
        }
        if name.ends_with(LINK_SUFFIX) {
            lines.push(format!("{path} add link {name} {}", s(v)));
        } else {
            lines.push(format!("{path} add property {name} = {}", s(v)));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use zk_session::{Id, Perms};

    use super::*;

    fn map(v: Value) -> PropertyMap {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn dry_run_diff_lines_are_zc_zks() {
        let old = map(json!({"a": 1, "b": "x", "l ->": "/x", "m ->": "/m", "gone": [1, "a"]}));
        let new = map(json!({"a": 2, "b": "x", "l ->": "/y", "n ->": "/n", "new": "v"}));
        assert_eq!(
            diff_messages("/p", &old, &new),
            [
                "/p a change from 1 to 2",
                "/p remove property gone = [1, u'a']",
                "/p l link change from /x to /y",
                "/p remove link m -> /m",
                "/p add link n -> /n",
                "/p add property new = v",
            ]
        );
    }

    #[test]
    fn acls_compare_as_sets() {
        let open = ACL::open_unsafe();
        let two = vec![
            ACL::new(Perms::READ, Id::new("ip", "1.2.3.4")),
            ACL::new(Perms::ALL, Id::anyone()),
        ];
        let mut reversed = two.clone();
        reversed.reverse();
        assert!(acl_equal(&open, &open));
        assert!(acl_equal(&two, &reversed));
        assert!(!acl_equal(&open, &ACL::read_unsafe()));
        assert!(acl_equal(&open, &ACL::creator_all()));
        assert_eq!(format_acl(&open), "[world:anyone:cdrwa]");
    }

    #[test]
    fn messages_per_mode() {
        let create = ImportChange::Create {
            path: "/a".into(),
            properties: PropertyMap::new(),
            acl: ACL::open_unsafe(),
            subtree_root: true,
        };
        assert_eq!(create.messages(true), ["add /a"]);
        assert!(create.messages(false).is_empty());
        let extra = ImportChange::NotTrimmed {
            path: "/a/x".into(),
        };
        assert_eq!(extra.messages(false), ["extra path not trimmed: /a/x"]);
        let trim = ImportChange::Trim(DeleteStep::Delete("/a/y".into()));
        assert_eq!(trim.messages(true), ["would delete /a/y."]);
        assert!(trim.messages(false).is_empty());
    }
}
