//! Tree operations: [`ZooKeeper::walk`], [`ZooKeeper::delete_recursive`],
//! [`ZooKeeper::is_ephemeral`], [`ZooKeeper::ln`] and [`ZooKeeper::create_recursive`].
//!
//! These work on paths as given (zc.zk resolved none of them), except that [`ln`] resolves
//! the parent of the link.
//!
//! [`ln`]: ZooKeeper::ln

use std::future::Future;
use std::pin::Pin;

use zk_session::{ACL, Client, CreateOptions, Error as ZkError, Op};

use crate::data::{self, PropertyMap};
use crate::error::{Error, Result};
use crate::links::{join, normalize_path, resolve_with, split};
use crate::tree::LINK_SUFFIX;
use crate::zookeeper::ZooKeeper;

/// How many times a conflicting concurrent change makes an operation re-read and retry.
const MAX_ATTEMPTS: usize = 20;

/// How many ops go into one multi transaction.
pub(crate) const MAX_BATCH_OPS: usize = 500;

/// How many bytes of data and paths go into one multi transaction (the server's default
/// `jute.maxbuffer` is 1 MiB).
pub(crate) const MAX_BATCH_BYTES: usize = 512 * 1024;

/// A pre-order walk over a subtree (see [`ZooKeeper::walk`]).
#[derive(Debug)]
pub struct Walk {
    zk: ZooKeeper,
    ephemeral: bool,
    stack: Vec<String>,
    current: Option<(String, Vec<String>)>,
}

impl ZooKeeper {
    /// Walks the subtree at `path` in pre-order, children sorted by name, fetching each node's
    /// children only when the walk gets there, so changes made during the walk are seen.
    /// Nodes that vanish are skipped; a missing `path` yields nothing. With `ephemeral` false,
    /// ephemeral nodes are skipped at every depth (zc.zk applied it only to the root).
    /// Pruning with [`Walk::children_mut`] (zc.zk's `children=True`) also works at every depth.
    ///
    /// ```no_run
    /// # async fn demo(zk: zc_zk::ZooKeeper) -> zc_zk::Result<()> {
    /// let mut walk = zk.walk("/fooservice", true);
    /// while let Some((path, children)) = walk.next_with_children().await.transpose()? {
    ///     println!("{path}");
    ///     children.retain(|name| name != "providers"); // don't go there
    /// }
    /// # Ok(()) }
    /// ```
    pub fn walk(&self, path: &str, ephemeral: bool) -> Walk {
        Walk {
            zk: self.clone(),
            ephemeral,
            stack: vec![normalize_path(path).unwrap_or_else(|_| path.to_owned())],
            current: None,
        }
    }
}

impl Walk {
    /// The next path, or `None` at the end. After an error the walk ends.
    pub async fn next(&mut self) -> Option<Result<String>> {
        if let Some((path, children)) = self.current.take() {
            for name in children.iter().rev() {
                self.stack.push(join(&path, name));
            }
        }
        loop {
            let path = self.stack.pop()?;
            match self.zk.client().get_children2(&path).await {
                Ok((mut children, stat)) => {
                    if !self.ephemeral && stat.ephemeral_owner != 0 {
                        continue;
                    }
                    crate::sort::sort_names(&mut children);
                    self.current = Some((path.clone(), children));
                    return Some(Ok(path));
                }
                Err(ZkError::NoNode) => continue,
                Err(e) => {
                    self.stack.clear();
                    return Some(Err(e.into()));
                }
            }
        }
    }

    /// The next path and its children (sorted), which may be edited to prune the walk: only
    /// the names left are visited.
    pub async fn next_with_children(&mut self) -> Option<Result<(String, &mut Vec<String>)>> {
        match self.next().await? {
            Ok(path) => {
                let children = &mut self.current.as_mut()?.1;
                Some(Ok((path, children)))
            }
            Err(e) => Some(Err(e)),
        }
    }

    /// The children still to visit below the path last returned; remove names to prune.
    pub fn children_mut(&mut self) -> Option<&mut Vec<String>> {
        self.current.as_mut().map(|(_, c)| c)
    }

    /// Every remaining path.
    ///
    /// # Errors
    /// The first error of the walk.
    pub async fn collect(mut self) -> Result<Vec<String>> {
        let mut paths = Vec::new();
        while let Some(path) = self.next().await {
            paths.push(path?);
        }
        Ok(paths)
    }
}

/// Options of [`ZooKeeper::delete_recursive`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    /// Only report what would be done.
    pub dry_run: bool,
    /// Delete ephemeral nodes too.
    pub force: bool,
    /// Say nothing when the path given is itself an ephemeral node kept (as import's trim does).
    pub ignore_if_ephemeral: bool,
}

/// One decision of a recursive delete, in post-order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteStep {
    /// The node is (or, in a dry run, would be) deleted.
    Delete(String),
    /// The node is ephemeral and kept.
    KeepEphemeral(String),
    /// The node is kept because an ephemeral node below it is.
    KeepAncestor(String),
}

impl DeleteStep {
    /// The node's path.
    pub fn path(&self) -> &str {
        match self {
            DeleteStep::Delete(p) | DeleteStep::KeepEphemeral(p) | DeleteStep::KeepAncestor(p) => p,
        }
    }

    /// zc.zk's message for the step (its dry-run text when `dry_run`); deletions have none
    /// outside a dry run (they are logged).
    pub fn message(&self, dry_run: bool) -> Option<String> {
        match (self, dry_run) {
            (DeleteStep::Delete(p), true) => Some(format!("would delete {p}.")),
            (DeleteStep::Delete(_), false) => None,
            (DeleteStep::KeepEphemeral(p), true) => {
                Some(format!("wouldn't delete {p} because it's ephemeral."))
            }
            (DeleteStep::KeepEphemeral(p), false) => {
                Some(format!("Not deleting {p} because it's ephemeral."))
            }
            (DeleteStep::KeepAncestor(p), _) => {
                Some(format!("{p} not deleted due to ephemeral descendent."))
            }
        }
    }
}

/// What [`ZooKeeper::delete_recursive`] did (or would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteReport {
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// The decisions, in post-order (children sorted).
    pub steps: Vec<DeleteStep>,
}

impl DeleteReport {
    /// zc.zk's messages, in order.
    pub fn messages(&self) -> Vec<String> {
        self.steps
            .iter()
            .filter_map(|s| s.message(self.dry_run))
            .collect()
    }

    /// The paths deleted (or that would be).
    pub fn deleted(&self) -> Vec<&str> {
        self.steps
            .iter()
            .filter_map(|s| match s {
                DeleteStep::Delete(p) => Some(p.as_str()),
                _ => None,
            })
            .collect()
    }
}

impl ZooKeeper {
    /// Deletes the node at `path` and everything below it, children first. Without `force`,
    /// ephemeral nodes and their ancestors are kept (and reported). Deletions are batched in
    /// multi transactions; a concurrent change (a new child, a node already gone) makes it
    /// re-read and go on.
    ///
    /// # Errors
    /// [`Error::NoNode`] when `path` does not exist; `NoAuth`; the connection errors.
    pub async fn delete_recursive(
        &self,
        path: &str,
        options: DeleteOptions,
    ) -> Result<DeleteReport> {
        let path = normalize_path(path)?;
        let mut done: Vec<DeleteStep> = Vec::new();
        for _ in 0..MAX_ATTEMPTS {
            let client = self.client();
            let steps =
                match plan_delete(&client, &path, options.force, options.ignore_if_ephemeral).await
                {
                    Ok(steps) => steps,
                    Err(e) if e.is_no_node() && !done.is_empty() => Vec::new(),
                    Err(e) => return Err(e),
                };
            if options.dry_run {
                return Ok(DeleteReport {
                    dry_run: true,
                    steps,
                });
            }
            let deletes: Vec<Op> = steps
                .iter()
                .filter_map(|s| match s {
                    DeleteStep::Delete(p) => Some(Op::delete(p.clone(), None)),
                    _ => None,
                })
                .collect();
            match run_batches(&client, &deletes).await {
                Ok(()) => {
                    for step in &steps {
                        if let DeleteStep::Delete(p) = step {
                            tracing::info!(target: "zc_zk", path = %p, "deleting");
                        }
                    }
                    done.extend(steps);
                    return Ok(DeleteReport {
                        dry_run: false,
                        steps: done,
                    });
                }
                Err(BatchError::Conflict { applied }) => {
                    let applied: Vec<String> = deletes[..applied]
                        .iter()
                        .map(|op| op.path().to_owned())
                        .collect();
                    done.extend(applied.into_iter().map(DeleteStep::Delete));
                }
                Err(BatchError::Failed(e)) => return Err(e),
            }
        }
        Err(ZkError::BadVersion.into())
    }

    /// Whether the node at `path` is ephemeral.
    ///
    /// # Errors
    /// [`Error::NoNode`]; the connection errors.
    pub async fn is_ephemeral(&self, path: &str) -> Result<bool> {
        match self.client().exists(path).await? {
            Some(stat) => Ok(stat.ephemeral_owner != 0),
            None => Err(Error::NoNode {
                path: path.to_owned(),
            }),
        }
    }

    /// Makes `source` a symbolic link to `target`: sets the property `"<last segment of
    /// source> ->"` = `target` on `source`'s parent (resolved), keeping its other properties,
    /// with compare-and-set. A `target` ending in `/` gets the link's name appended (zc.zk's
    /// rule; its README described the arguments the other way round).
    ///
    /// ```no_run
    /// # async fn demo(zk: zc_zk::ZooKeeper) -> zc_zk::Result<()> {
    /// zk.ln("/databases/cms", "/cms/databases/main").await?;
    /// // /cms/databases now has {"main ->": "/databases/cms"}.
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`InvalidPath`](zk_session::Error::InvalidPath) when `source` is `/` or ends with `/`;
    /// [`Error::NoNode`] when the parent does not exist; `NoAuth`; the connection errors.
    pub async fn ln(&self, target: &str, source: &str) -> Result<()> {
        let invalid = |reason| {
            Error::from(ZkError::InvalidPath {
                path: source.to_owned(),
                reason,
            })
        };
        if source.len() > 1 && source.ends_with('/') {
            return Err(invalid("a link path must not end with /"));
        }
        let source = normalize_path(source)?;
        if source == "/" {
            return Err(invalid("the root cannot be a link"));
        }
        let (base, name) = split(&source);
        let target = if target.ends_with('/') {
            format!("{target}{name}")
        } else {
            target.to_owned()
        };
        let client = self.client();
        let base = resolve_with(&client, base).await?;
        let key = format!("{name}{LINK_SUFFIX}");
        for _ in 0..MAX_ATTEMPTS * 50 {
            let (bytes, stat) = match client.get_data(&base).await {
                Ok(r) => r,
                Err(ZkError::NoNode) => return Err(Error::NoNode { path: base }),
                Err(e) => return Err(e.into()),
            };
            let mut props = data::decode(Some(&bytes));
            props.insert(key.clone(), target.clone().into());
            match client
                .set_data(&base, &data::encode(&props), Some(stat.version))
                .await
            {
                Ok(_) => return Ok(()),
                Err(ZkError::BadVersion) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ZkError::BadVersion.into())
    }

    /// Creates the node at `path` with `properties` and `acl`, creating missing ancestors
    /// (with `{}` and `acl`) first; an existing node gets `properties` written over its data
    /// (zc.zk 2's behaviour).
    ///
    /// # Errors
    /// `NoAuth`; `InvalidPath`; the connection errors.
    pub async fn create_recursive(
        &self,
        path: &str,
        properties: &PropertyMap,
        acl: &[ACL],
    ) -> Result<()> {
        let path = normalize_path(path)?;
        if path == "/" {
            return Ok(());
        }
        let client = self.client();
        let options = CreateOptions::persistent().with_acl(acl.to_vec());
        let mut prefix = String::new();
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        for segment in &segments[..segments.len() - 1] {
            prefix = join(if prefix.is_empty() { "/" } else { &prefix }, segment);
            if client.exists(&prefix).await?.is_some() {
                continue;
            }
            match client.create(&prefix, b"{}", &options).await {
                Ok(_) | Err(ZkError::NodeExists) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let data = data::encode(properties);
        match client.create(&path, &data, &options).await {
            Ok(_) => Ok(()),
            Err(ZkError::NodeExists) => client
                .set_data(&path, &data, None)
                .await
                .map(drop)
                .map_err(Error::from),
            Err(e) => Err(e.into()),
        }
    }
}

/// The recursive-delete decisions for `path`, in post-order (zc.zk's `_delete_recursive`).
pub(crate) async fn plan_delete(
    client: &Client,
    path: &str,
    force: bool,
    ignore_if_ephemeral: bool,
) -> Result<Vec<DeleteStep>> {
    let mut steps = Vec::new();
    match plan_node(
        client,
        path.to_owned(),
        force,
        ignore_if_ephemeral,
        &mut steps,
    )
    .await?
    {
        Some(_) => Ok(steps),
        None => Err(Error::NoNode {
            path: path.to_owned(),
        }),
    }
}

/// Plans one node; `Some(true)` when it is kept for being (or holding) an ephemeral node,
/// `None` when it does not exist.
fn plan_node<'a>(
    client: &'a Client,
    path: String,
    force: bool,
    ignore_if_ephemeral: bool,
    steps: &'a mut Vec<DeleteStep>,
) -> Pin<Box<dyn Future<Output = Result<Option<bool>>> + Send + 'a>> {
    Box::pin(async move {
        if path == "/zookeeper" {
            return Ok(Some(true));
        }
        let (mut children, stat) = match client.get_children2(&path).await {
            Ok(r) => r,
            Err(ZkError::NoNode) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        crate::sort::sort_names(&mut children);
        let mut ephemeral_below = false;
        for name in children {
            let child = join(&path, &name);
            if plan_node(client, child, force, false, steps).await? == Some(true) {
                ephemeral_below = true;
            }
        }
        if path == "/" {
            // The root is never deleted.
            return Ok(Some(ephemeral_below));
        }
        if ephemeral_below {
            steps.push(DeleteStep::KeepAncestor(path));
            return Ok(Some(true));
        }
        let ephemeral = stat.ephemeral_owner != 0 && !force;
        if ephemeral && ignore_if_ephemeral {
            return Ok(Some(false));
        }
        steps.push(if ephemeral {
            DeleteStep::KeepEphemeral(path)
        } else {
            DeleteStep::Delete(path)
        });
        Ok(Some(ephemeral))
    })
}

/// Why [`run_batches`] stopped.
#[derive(Debug)]
pub(crate) enum BatchError {
    /// A transaction failed because the tree changed meanwhile (NoNode, NodeExists, NotEmpty,
    /// BadVersion); the first `applied` ops were applied.
    Conflict { applied: usize },
    /// Any other failure.
    Failed(Error),
}

/// Runs `ops` in order as multi transactions of bounded size.
pub(crate) async fn run_batches(
    client: &Client,
    ops: &[Op],
) -> std::result::Result<(), BatchError> {
    let mut start = 0;
    while start < ops.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < ops.len() && end - start < MAX_BATCH_OPS {
            let size = op_size(&ops[end]);
            if end > start && bytes + size > MAX_BATCH_BYTES {
                break;
            }
            bytes += size;
            end += 1;
        }
        match client.multi(&ops[start..end]).await {
            Ok(_) => {}
            Err(ZkError::TransactionFailed { index, code }) => {
                let error = ZkError::from_code(code);
                return Err(match error {
                    ZkError::NoNode
                    | ZkError::NodeExists
                    | ZkError::NotEmpty
                    | ZkError::BadVersion => {
                        tracing::debug!(target: "zc_zk", path = ops[start + index].path(), %error, "concurrent change; re-reading");
                        BatchError::Conflict { applied: start }
                    }
                    other => BatchError::Failed(Error::ZooKeeper(other)),
                });
            }
            Err(e) => return Err(BatchError::Failed(e.into())),
        }
        start = end;
    }
    Ok(())
}

fn op_size(op: &Op) -> usize {
    let data = match op {
        Op::Create { data, options, .. } => data.len() + options.acl.len() * 64,
        Op::SetData { data, .. } => data.len(),
        _ => 0,
    };
    op.path().len() + data + 32
}
