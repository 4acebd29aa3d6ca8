//! Symbolic links (`name -> target`) and property links (`name => path [property]`).
//!
//! # Symbolic links
//! ZooKeeper has no links; zc.zk's convention is a property named `"<child> ->"` on the parent
//! node, holding the target path. [`ZooKeeper::resolve`] finds the real path of a virtual one:
//! 1. The path is normalised lexically first: `.` segments go, `..` removes the segment before
//!    it (`/top/a/b/c/d/./../..` is `/top/a/b`, `/a/..` is `/`), repeated and trailing slashes
//!    go. `..` above the root is an [`InvalidPath`](zk_session::Error::InvalidPath) error.
//! 2. A path that exists is returned as it is.
//! 3. Otherwise each component is looked up below the real path of the components before it:
//!    a real child wins (it shadows a link of the same name); else the parent's `"<name> ->"`
//!    property gives the target. A relative target is relative to the node holding the link,
//!    and `.`/`..` work in it (`/a/b/l -> c` is `/a/b/c`, `l2 -> ../c` is `/a/c`). Links may
//!    appear in any component, and may lead to other links.
//! 4. A missing node, or a missing or empty link, is [`Error::NoNode`] naming the path asked
//!    for; following a link a second time is [`Error::LinkLoop`] with the chain of links.
//!
//! One request per component is made only when the path does not exist as given.
//!
//! # Property links
//! A property `"name =>"` = `"PATH [PROPERTY]"` makes `name` read `PROPERTY` (default: `name`)
//! of the node at `PATH`. A relative `PATH` is relative to the *virtual* path the properties
//! were opened with (`..`, `./c`, `../c` work). A real `name` property wins over the link.
//! Links to links are followed; a loop is [`Error::LinkLoop`]. Every failure is
//! [`Error::BadPropertyLink`] naming the link, wrapping the reason (a malformed value, a
//! missing node, a missing property, a loop, or a nested bad link).
//!
//! A [`Properties`] view reads links with [`Properties::get_linked`] and
//! [`Properties::linked_snapshot`], refuses writes whose links cannot be followed (nothing is
//! written), and watches the nodes its links lead to: a change there (data, deletion,
//! re-creation) runs its callbacks and change streams with its own, unchanged properties, as
//! zc.zk did. (Symbolic links met on the way are followed but not watched.)

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinSet;
use zk_session::{Client, Error as ZkError, OneshotWatcher};

use crate::data::{self, PropertyMap};
use crate::error::{Error, Result};
use crate::properties::Properties;
use crate::tree::{LINK_SUFFIX, PROPERTY_LINK_SUFFIX};
use crate::view::{Snapshot, gone};
use crate::zookeeper::{Shared, ZooKeeper};

/// How many links one resolution may follow before it is called a loop.
const MAX_LINKS: usize = 256;

/// `parent/name`, with the root handled. Built by hand: registrations make one per node, and
/// `format!` pads every piece through the formatter.
pub(crate) fn join(parent: &str, name: &str) -> String {
    let parent = if parent == "/" { "" } else { parent };
    let mut path = String::with_capacity(parent.len() + 1 + name.len());
    path.push_str(parent);
    path.push('/');
    path.push_str(name);
    path
}

/// [`join`] as a shared string, made with one allocation (paths up to 256 bytes are put
/// together on the stack first).
pub(crate) fn join_shared(parent: &str, name: &str) -> std::sync::Arc<str> {
    let trimmed = if parent == "/" { "" } else { parent };
    let len = trimmed.len() + 1 + name.len();
    let mut buf = [0u8; 256];
    if let Some(out) = buf.get_mut(..len) {
        let (head, tail) = out.split_at_mut(trimmed.len());
        head.copy_from_slice(trimmed.as_bytes());
        if let Some((slash, rest)) = tail.split_first_mut() {
            *slash = b'/';
            rest.copy_from_slice(name.as_bytes());
        }
        if let Ok(path) = std::str::from_utf8(out) {
            return path.into();
        }
    }
    join(parent, name).into()
}

/// The parent of a normalised path (`/` for top-level paths and for `/`) and its last segment.
pub(crate) fn split(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(0) => ("/", &path[1..]),
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("/", path),
    }
}

/// Normalises a path lexically: `.` segments and repeated or trailing slashes go, `..` removes
/// the segment before it.
///
/// ```
/// use zc_zk::links::normalize_path;
///
/// assert_eq!(normalize_path("/top/a/b/c/d/./../..").unwrap(), "/top/a/b");
/// assert_eq!(normalize_path("/a/..").unwrap(), "/");
/// assert_eq!(normalize_path("/a//b/").unwrap(), "/a/b");
/// assert!(normalize_path("/a/../..").is_err());
/// assert!(normalize_path("a/b").is_err());
/// ```
///
/// # Errors
/// [`InvalidPath`](zk_session::Error::InvalidPath) for a relative path or `..` above the root.
pub fn normalize_path(path: &str) -> Result<String> {
    let invalid = |reason| {
        Error::from(ZkError::InvalidPath {
            path: path.to_owned(),
            reason,
        })
    };
    if !path.starts_with('/') {
        return Err(invalid("path must start with /"));
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                if segments.pop().is_none() {
                    return Err(invalid("'..' goes above the root"));
                }
            }
            s => segments.push(s),
        }
    }
    Ok(format!("/{}", segments.join("/")))
}

impl ZooKeeper {
    /// The real path of `path`, following symbolic links (see the [module docs](self)).
    ///
    /// # Errors
    /// [`Error::NoNode`] naming `path` when it leads nowhere; [`Error::LinkLoop`];
    /// [`InvalidPath`](zk_session::Error::InvalidPath); the connection errors.
    pub async fn resolve(&self, path: &str) -> Result<String> {
        resolve_with(&self.client(), path).await
    }

    /// The property `name` of the node at `path` (resolved), following a property link
    /// `name =>` when there is no real `name` property; `None` when there is neither.
    ///
    /// # Errors
    /// [`Error::BadPropertyLink`] for a link that cannot be followed; as
    /// [`resolve`](ZooKeeper::resolve) for `path`.
    pub async fn get_property(&self, path: &str, name: &str) -> Result<Option<Value>> {
        let client = self.client();
        let virtual_path = normalize_path(path)?;
        let real = resolve_with(&client, &virtual_path).await?;
        let props = read_properties(&client, &real, &virtual_path).await?;
        get_linked(&client, &virtual_path, &props, name).await
    }

    /// The properties of the node at `path` (resolved) as zc.zk's `dict(properties)` saw them:
    /// each property link `name =>` replaced by `name` with the linked value (a real `name`
    /// wins); links (`name ->`) and everything else as stored.
    ///
    /// # Errors
    /// As [`get_property`](ZooKeeper::get_property).
    pub async fn get_linked_properties(&self, path: &str) -> Result<PropertyMap> {
        let client = self.client();
        let virtual_path = normalize_path(path)?;
        let real = resolve_with(&client, &virtual_path).await?;
        let props = read_properties(&client, &real, &virtual_path).await?;
        with_links_followed(&client, &virtual_path, &props).await
    }
}

/// `props` with every property link replaced by its value (see
/// [`ZooKeeper::get_linked_properties`]).
pub(crate) async fn with_links_followed(
    client: &Client,
    virtual_path: &str,
    props: &PropertyMap,
) -> Result<PropertyMap> {
    let mut out = PropertyMap::new();
    for (key, value) in props {
        match key.strip_suffix(PROPERTY_LINK_SUFFIX) {
            Some(name) if !props.contains_key(name) => {
                if let Some(v) = get_linked(client, virtual_path, props, name).await? {
                    out.insert(name.to_owned(), v);
                }
            }
            Some(_) => {}
            None => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    Ok(out)
}

/// Reads a node's properties; NoNode names `virtual_path`.
async fn read_properties(client: &Client, real: &str, virtual_path: &str) -> Result<PropertyMap> {
    match client.get_data(real).await {
        Ok((bytes, _)) => Ok(data::decode(Some(&bytes))),
        Err(ZkError::NoNode) => Err(Error::NoNode {
            path: virtual_path.to_owned(),
        }),
        Err(e) => Err(e.into()),
    }
}

/// Resolves `path` with `client` (see [`ZooKeeper::resolve`]).
pub(crate) async fn resolve_with(client: &Client, path: &str) -> Result<String> {
    let original = path;
    let mut path = normalize_path(path)?;
    let no_node = || Error::NoNode {
        path: original.to_owned(),
    };
    let mut chain: Vec<String> = Vec::new();
    'restart: loop {
        if client.exists(&path).await?.is_some() {
            return Ok(path);
        }
        let segments: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let mut current = "/".to_owned();
        for (i, name) in segments.iter().enumerate() {
            let candidate = join(&current, name);
            if client.exists(&candidate).await?.is_some() {
                current = candidate;
                continue;
            }
            let props = match client.get_data(&current).await {
                Ok((bytes, _)) => data::decode(Some(&bytes)),
                Err(ZkError::NoNode) => return Err(no_node()),
                Err(e) => return Err(e.into()),
            };
            let target = match props.get(&format!("{name}{LINK_SUFFIX}")) {
                Some(Value::String(t)) if !t.trim().is_empty() => t.trim().to_owned(),
                _ => return Err(no_node()),
            };
            if chain.contains(&candidate) || chain.len() >= MAX_LINKS {
                chain.push(candidate);
                return Err(Error::LinkLoop { chain });
            }
            chain.push(candidate);
            let mut next = if target.starts_with('/') {
                target
            } else {
                join(&current, &target)
            };
            for rest in &segments[i + 1..] {
                next = join(&next, rest);
            }
            path = normalize_path(&next).map_err(|_| no_node())?;
            continue 'restart;
        }
        // Every component exists (the node appeared meanwhile).
        return Ok(current);
    }
}

/// A parsed property link value: `PATH [PROPERTY]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyLink {
    /// The path, absolute or relative to the linking node's virtual path.
    pub path: String,
    /// The property to read there; `None` means the link's own name.
    pub property: Option<String>,
}

/// Parses a property link's value (`"PATH [PROPERTY]"`, whitespace-separated).
///
/// # Errors
/// A message when the value is not a string of one or two words.
pub fn parse_property_link(value: &Value) -> std::result::Result<PropertyLink, String> {
    let Value::String(text) = value else {
        return Err(format!("a property link must be a string, not {value}"));
    };
    let mut words = text.split_whitespace();
    let Some(path) = words.next() else {
        return Err("empty property link".to_owned());
    };
    let property = words.next().map(str::to_owned);
    if words.next().is_some() {
        return Err(format!(
            "invalid property link {text:?}: expected PATH [PROPERTY]"
        ));
    }
    Ok(PropertyLink {
        path: path.to_owned(),
        property,
    })
}

/// The value of `key` in `props` (the properties of the node at `virtual_path`), following a
/// property link when there is no real `key`.
pub(crate) async fn get_linked(
    client: &Client,
    virtual_path: &str,
    props: &PropertyMap,
    key: &str,
) -> Result<Option<Value>> {
    if let Some(v) = props.get(key) {
        return Ok(Some(v.clone()));
    }
    let Some(link) = props.get(&format!("{key}{PROPERTY_LINK_SUFFIX}")) else {
        return Ok(None);
    };
    let mut seen = Vec::new();
    follow(client, virtual_path, key, link, &mut seen, None)
        .await
        .map(Some)
}

/// Follows the link `key =>` = `link` found at `virtual_path`. The real paths read are added
/// to `seen`; with `watchers`, each is read with a data watch, added there.
fn follow<'a>(
    client: &'a Client,
    virtual_path: &'a str,
    key: &'a str,
    link: &'a Value,
    seen: &'a mut Vec<String>,
    mut watch: Option<&'a mut LinkWatch>,
) -> Pin<Box<dyn Future<Output = Result<Value>> + Send + 'a>> {
    Box::pin(async move {
        let bad = |reason: Error| Error::BadPropertyLink {
            name: format!("{key}{PROPERTY_LINK_SUFFIX}"),
            link: link
                .as_str()
                .map_or_else(|| link.to_string(), str::to_owned),
            reason: Box::new(reason),
        };
        let parsed = parse_property_link(link).map_err(|m| bad(Error::InvalidProperties(m)))?;
        let target = if parsed.path.starts_with('/') {
            parsed.path.clone()
        } else {
            join(virtual_path, &parsed.path)
        };
        let real = match resolve_with(client, &target).await {
            Ok(real) => real,
            Err(e) => {
                if let (Some(watch), Ok(path)) = (watch.as_deref_mut(), normalize_path(&target)) {
                    watch.absent(client, path).await;
                }
                return Err(bad(e));
            }
        };
        if seen.contains(&real) {
            let mut chain = seen.clone();
            chain.push(real);
            return Err(bad(Error::LinkLoop { chain }));
        }
        seen.push(real.clone());
        let props = match watch.as_deref_mut() {
            None => read_properties(client, &real, &target).await,
            Some(watch) => match client.get_data_watch(&real).await {
                Ok((bytes, stat, watcher)) => {
                    watch.watchers.push(watcher);
                    watch.state.push((real.clone(), Some(stat.mzxid)));
                    Ok(data::decode(Some(&bytes)))
                }
                Err(ZkError::NoNode) => {
                    watch.absent(client, real.clone()).await;
                    Err(Error::NoNode {
                        path: target.clone(),
                    })
                }
                Err(e) => Err(e.into()),
            },
        }
        .map_err(bad)?;
        let name = parsed.property.as_deref().unwrap_or(key);
        if let Some(v) = props.get(name) {
            return Ok(v.clone());
        }
        match props.get(&format!("{name}{PROPERTY_LINK_SUFFIX}")) {
            Some(next) => follow(client, &real, name, next, seen, watch)
                .await
                .map_err(bad),
            None => Err(bad(Error::InvalidProperties(format!(
                "no property {name:?} at {real}"
            )))),
        }
    })
}

/// Checks that every property link of `props` (without a real property of its name) can be
/// followed from `virtual_path`.
pub(crate) async fn check_property_links(
    client: &Client,
    virtual_path: &str,
    props: &PropertyMap,
) -> Result<()> {
    for key in props.keys() {
        if let Some(name) = key.strip_suffix(PROPERTY_LINK_SUFFIX) {
            if !props.contains_key(name) {
                get_linked(client, virtual_path, props, name).await?;
            }
        }
    }
    Ok(())
}

/// Watches on the nodes property links lead through, and the state seen of each.
#[derive(Debug, Default)]
struct LinkWatch {
    watchers: Vec<OneshotWatcher>,
    /// Each node read: its path and mzxid, or `None` when it did not exist.
    state: Vec<(String, Option<i64>)>,
}

impl LinkWatch {
    /// Watches a node found missing (for its creation).
    async fn absent(&mut self, client: &Client, path: String) {
        if let Ok((stat, watcher)) = client.exists_watch(&path).await {
            self.watchers.push(watcher);
            self.state.push((path, stat.map(|s| s.mzxid)));
        }
    }

    /// Whether a node seen in both `self` and `earlier` changed in between.
    fn changed_since(&self, earlier: &LinkWatch) -> bool {
        self.state.iter().any(|(path, now)| {
            earlier
                .state
                .iter()
                .any(|(p, then)| p == path && then != now)
        })
    }
}

/// Watches the nodes the property links of `props` lead through (each read on the way, up to
/// a failure), except `own`.
async fn watch_linked_nodes(
    client: &Client,
    virtual_path: &str,
    own: &str,
    props: &PropertyMap,
) -> LinkWatch {
    let mut watch = LinkWatch::default();
    for (key, link) in props {
        let Some(name) = key.strip_suffix(PROPERTY_LINK_SUFFIX) else {
            continue;
        };
        if props.contains_key(name) {
            continue;
        }
        let mut seen = vec![own.to_owned()];
        let _ = follow(
            client,
            virtual_path,
            name,
            link,
            &mut seen,
            Some(&mut watch),
        )
        .await;
    }
    watch
}

/// After the node at `real_path` was deleted: resolves `virtual_path` again, and when it now
/// leads to a node, makes that the real path. False when it leads nowhere.
pub(crate) async fn re_resolve(
    client: &Client,
    virtual_path: &str,
    real_path: &std::sync::Mutex<String>,
) -> bool {
    match resolve_with(client, virtual_path).await {
        Ok(path) => {
            if let Ok(mut slot) = real_path.lock() {
                if *slot != path {
                    tracing::info!(target: "zc_zk", virtual_path, from = %*slot, to = %path, "re-resolved after deletion");
                }
                *slot = path;
            }
            true
        }
        Err(_) => false,
    }
}

/// Runs beside a [`Properties`] view: watches the nodes its property links lead to, and on a
/// change there publishes the view's state again (same properties, a new serial), so its
/// callbacks and change streams run (zc.zk's `_notify(None)` for linked properties).
pub(crate) async fn watch_linked(
    shared: Arc<Shared>,
    virtual_path: String,
    real_path: Arc<std::sync::Mutex<String>>,
    mut rx: watch::Receiver<Snapshot<PropertyMap>>,
    tx: Arc<watch::Sender<Snapshot<PropertyMap>>>,
    mut alive: watch::Receiver<()>,
) {
    let notify = || {
        tx.send_if_modified(|s| {
            if s.deleted {
                return false;
            }
            s.serial += 1;
            true
        });
    };
    let mut generation = shared.generation.clone();
    let mut last = LinkWatch::default();
    loop {
        let snapshot = rx.borrow_and_update().clone();
        if snapshot.deleted {
            return;
        }
        let mut watches = JoinSet::new();
        let mut current = LinkWatch::default();
        if snapshot
            .value
            .keys()
            .any(|k| k.ends_with(PROPERTY_LINK_SUFFIX))
        {
            let client = generation.borrow_and_update().client.clone();
            let own = real_path.lock().map(|p| p.clone()).unwrap_or_default();
            current = watch_linked_nodes(&client, &virtual_path, &own, &snapshot.value).await;
            for watcher in std::mem::take(&mut current.watchers) {
                watches.spawn(async move { watcher.changed().await });
            }
        }
        // A linked node read before (by the last round) and now, in another state.
        if current.changed_since(&last) {
            notify();
        }
        last = current;
        tokio::select! {
            changed = rx.changed() => if changed.is_err() { return },
            Some(event) = watches.join_next(), if !watches.is_empty() => {
                // A linked node changed: the next round reads and watches again, and notifies
                // when what it reads differs, so no change between the event and the new
                // watches is lost. After the end of a session, wait for the next one first.
                if matches!(event, Ok(ref e) if e.event_type == zk_session::EventType::None) {
                    let _ = generation.changed().await;
                }
            }
            changed = generation.changed() => if changed.is_err() { return },
            () = gone(&mut alive) => return,
        }
    }
}

impl Properties {
    /// The property `key`, following a property link `key =>` (relative to this view's
    /// [`path`](Properties::path)) when there is no real `key`; `None` when there is neither.
    ///
    /// # Errors
    /// [`Error::BadPropertyLink`]; the connection errors.
    pub async fn get_linked(&self, key: &str) -> Result<Option<Value>> {
        let props = self.snapshot();
        get_linked(&self.client(), &normalize_path(self.path())?, &props, key).await
    }

    /// The properties with every property link followed (zc.zk's `dict(properties)`; see
    /// [`ZooKeeper::get_linked_properties`]).
    ///
    /// # Errors
    /// [`Error::BadPropertyLink`]; the connection errors.
    pub async fn linked_snapshot(&self) -> Result<PropertyMap> {
        let props = self.snapshot();
        with_links_followed(&self.client(), &normalize_path(self.path())?, &props).await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn normalisation() {
        for (path, want) in [
            ("/", "/"),
            ("/a", "/a"),
            ("/a/", "/a"),
            ("//a//b", "/a/b"),
            ("/a/./b", "/a/b"),
            ("/a/..", "/"),
            ("/r/l/b/../b", "/r/l/b"),
            ("/top/a/b/c/d/./../..", "/top/a/b"),
        ] {
            assert_eq!(normalize_path(path).unwrap(), want, "{path}");
        }
        for bad in ["", "a", "/..", "/a/../.."] {
            assert!(normalize_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn joins_and_splits() {
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
        assert_eq!(split("/a"), ("/", "a"));
        assert_eq!(split("/a/b"), ("/a", "b"));
        let long = "x".repeat(300);
        for (parent, name) in [
            ("/", "a"),
            ("/a", "b"),
            ("/a/é", "ü:1"),
            ("/", &*long),
            (&*long, "n"),
        ] {
            assert_eq!(&*join_shared(parent, name), join(parent, name));
        }
    }

    #[test]
    fn property_link_values() {
        assert_eq!(
            parse_property_link(&json!("/fooservice threads")),
            Ok(PropertyLink {
                path: "/fooservice".into(),
                property: Some("threads".into())
            })
        );
        assert_eq!(
            parse_property_link(&json!(" .. ")),
            Ok(PropertyLink {
                path: "..".into(),
                property: None
            })
        );
        for bad in [json!(""), json!("  "), json!("a b c"), json!(1)] {
            assert!(parse_property_link(&bad).is_err(), "{bad}");
        }
    }
}
