//! Export: [`ZooKeeper::export_tree`], [`ZooKeeper::read_tree`] and the pure [`format_tree`].
//!
//! The canonical text (zc.zk's): nodes sorted by name, two spaces of indentation per level;
//! under each node line, its properties sorted by key (`name = value` with the value as
//! [`format_value`](super::format_value) writes it, and property links as
//! `name => path [property]`), then its links sorted (`name -> target`), then its children.
//! The `type` property goes on the node line (`/name : type`). Names the grammar cannot express
//! are quoted (see the [tree module](super)). The text ends with a newline.

use std::collections::BTreeMap;

use tokio::task::JoinSet;
use zk_session::{Client, Error as ZkError};

use super::parser::{link_line, node_line, property_line};
use super::{Node, TYPE};
use crate::data;
use crate::error::{Error, Result};
use crate::links::{join, normalize_path, split};
use crate::zookeeper::ZooKeeper;

/// How many reads an export keeps in flight.
const CONCURRENT_READS: usize = 64;

impl ZooKeeper {
    /// Exports the subtree at `path` as text (zc.zk's `export_tree`).
    ///
    /// - Exporting `/` leaves out `/zookeeper` and the root's own line, unless `name` is given:
    ///   then everything is wrapped in `/name` (with the root's properties).
    /// - Exporting another path writes its node line, named `name` if given (to import it
    ///   elsewhere under another name), else by its last segment.
    /// - Ephemeral nodes (and so their subtrees) are left out unless `ephemeral`; exporting an
    ///   ephemeral node itself then gives an empty text (`"\n"`).
    ///
    /// The path is not resolved through links. Nodes that vanish during the export are left
    /// out.
    ///
    /// # Errors
    /// [`Error::NoNode`] when `path` does not exist; `InvalidPath` for a `name` that is not a
    /// node name; the connection errors.
    pub async fn export_tree(
        &self,
        path: &str,
        ephemeral: bool,
        name: Option<&str>,
    ) -> Result<String> {
        let path = normalize_path(path)?;
        if let Some(name) = name {
            let invalid = |reason| {
                Error::from(ZkError::InvalidPath {
                    path: name.to_owned(),
                    reason,
                })
            };
            if name.contains('/') {
                return Err(invalid("an export name is one node name, without '/'"));
            }
            zk_session::path::validate_path(&format!("/{name}"), false)
                .map_err(|_| invalid("not a valid node name"))?;
        }
        let Some(node) = self.read_tree(&path, ephemeral).await? else {
            return Ok("\n".to_owned());
        };
        let mut forest = BTreeMap::new();
        if path == "/" && name.is_none() {
            forest = node.children;
        } else {
            let name = name.unwrap_or_else(|| split(&path).1);
            forest.insert(name.to_owned(), node);
        }
        Ok(format_tree(&forest))
    }

    /// zc.zk's `print_tree`: the export of `path` with ephemeral nodes.
    ///
    /// # Errors
    /// As [`export_tree`](ZooKeeper::export_tree).
    pub async fn print_tree(&self, path: &str) -> Result<String> {
        self.export_tree(path, true, None).await
    }

    /// Reads the subtree at `path` into a [`Node`]: properties decoded by zc.zk's data rules,
    /// `/zookeeper` left out below the root, ephemeral nodes left out unless `ephemeral`
    /// (`None` when `path` itself is such a node). Reads are pipelined.
    ///
    /// # Errors
    /// [`Error::NoNode`] when `path` does not exist; the connection errors.
    pub async fn read_tree(&self, path: &str, ephemeral: bool) -> Result<Option<Node>> {
        let path = normalize_path(path)?;
        let client = self.client();
        let Some(fetched) = fetch(client.clone(), path.clone()).await? else {
            return Err(Error::NoNode { path });
        };
        if !ephemeral && fetched.ephemeral {
            return Ok(None);
        }
        let mut root = Node {
            properties: fetched.properties,
            children: BTreeMap::new(),
        };
        // (names from the root, path) of nodes still to read.
        let mut pending: Vec<(Vec<String>, String)> = fetched
            .children
            .into_iter()
            .filter(|name| !(path == "/" && name == "zookeeper"))
            .map(|name| (vec![name.clone()], join(&path, &name)))
            .collect();
        let mut reads = JoinSet::new();
        loop {
            while reads.len() < CONCURRENT_READS {
                let Some((names, child)) = pending.pop() else {
                    break;
                };
                let client = client.clone();
                reads.spawn(async move { (names, fetch(client, child).await) });
            }
            let Some(joined) = reads.join_next().await else {
                break;
            };
            let (names, result) = joined.map_err(|_| Error::Closed)?;
            let Some(fetched) = result? else {
                continue; // vanished
            };
            if !ephemeral && fetched.ephemeral {
                continue;
            }
            let here = join_names(&path, &names);
            for name in &fetched.children {
                let mut child_names = names.clone();
                child_names.push(name.clone());
                pending.push((child_names, join(&here, name)));
            }
            insert(
                &mut root,
                &names,
                Node {
                    properties: fetched.properties,
                    children: BTreeMap::new(),
                },
            );
        }
        Ok(Some(root))
    }
}

fn join_names(base: &str, names: &[String]) -> String {
    names.iter().fold(base.to_owned(), |p, n| join(&p, n))
}

/// Puts `node` at `names` below `root`; its ancestors were inserted before it (they were read
/// first), unless one was left out, and then so is it.
fn insert(root: &mut Node, names: &[String], node: Node) {
    let Some((last, parents)) = names.split_last() else {
        return;
    };
    let mut parent = root;
    for name in parents {
        match parent.children.get_mut(name) {
            Some(p) => parent = p,
            None => return,
        }
    }
    parent.children.insert(last.clone(), node);
}

struct Fetched {
    properties: crate::PropertyMap,
    ephemeral: bool,
    children: Vec<String>,
}

/// A node's data, whether it is ephemeral, and its children; `None` when it does not exist.
async fn fetch(client: Client, path: String) -> Result<Option<Fetched>> {
    let (data, children) = tokio::join!(client.get_data(&path), client.get_children(&path));
    let (bytes, stat) = match data {
        Ok(r) => r,
        Err(ZkError::NoNode) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let children = match children {
        Ok(c) => c,
        Err(ZkError::NoNode) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(Some(Fetched {
        properties: data::decode(Some(&bytes)),
        ephemeral: stat.ephemeral_owner != 0,
        children,
    }))
}

/// Formats top-level nodes (by name) as tree text, in the canonical form described in the
/// [module docs](self). [`parse_tree`](super::parse_tree) reads it back to the same nodes,
/// provided every node name is a valid ZooKeeper node name (as names read from a server are).
///
/// ```
/// use std::collections::BTreeMap;
/// use zc_zk::tree::{format_tree, parse_tree};
///
/// let text = "/cms : z4m cms\n  threads = 3\n  /providers\n";
/// let tree = parse_tree(text).unwrap();
/// assert_eq!(format_tree(&tree.children), text);
/// ```
pub fn format_tree(nodes: &BTreeMap<String, Node>) -> String {
    let mut lines = Vec::new();
    for (name, node) in nodes {
        write_node(&mut lines, "", name, node);
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

fn write_node(lines: &mut Vec<String>, indent: &str, name: &str, node: &Node) {
    let node_type = node.properties.get(TYPE).and_then(|t| t.as_str());
    let (line, typed) = node_line(name, node_type);
    lines.push(format!("{indent}{line}"));
    let inner = format!("{indent}  ");
    let mut links = Vec::new();
    for (key, value) in &node.properties {
        if typed && key == TYPE {
            continue;
        }
        if let Some(link) = link_line(key, value) {
            links.push(link);
            continue;
        }
        lines.push(format!("{inner}{}", property_line(key, value)));
    }
    for link in links {
        lines.push(format!("{inner}{link}"));
    }
    for (child_name, child) in &node.children {
        write_node(lines, &inner, child_name, child);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::tree::parse_tree;

    #[test]
    fn canonical_form_of_the_readme_export() {
        let exported = "\
/cms : z4m cms
  threads = 3
  /databases
    /main
      /providers
  /providers
/fooservice
  secret = u'1234'
  threads = 3
  /providers
/lb : ipvs
  /pools
    /cms
      address = u'1.2.3.4:80'
      providers -> /cms/providers
    /retail
      address = u'1.2.3.5:80'
      providers -> /cms/providers
";
        let tree = parse_tree(exported).unwrap();
        assert_eq!(format_tree(&tree.children), exported);
    }

    #[test]
    fn hand_written_text_is_canonicalised() {
        let text = "/b\n  y -> /x\n  x = 'a'\n  /d\n  /c\n/a:t\n  p => /q r\n  type2 = (1, 2L)\n";
        let tree = parse_tree(text).unwrap();
        assert_eq!(
            format_tree(&tree.children),
            "/a:t\n  p => /q r\n  type2 = [1, 2]\n/b\n  x = u'a'\n  y -> /x\n  /c\n  /d\n"
        );
    }

    #[test]
    fn awkward_names_and_values_are_escaped() {
        let mut node = Node::default();
        for (k, v) in [
            ("a b", json!(1)),
            ("#c", json!("x")),
            ("type", json!(5)),
            ("l ->", json!("not a path")),
            ("m m ->", json!("/t")),
            ("p =>", json!("")),
            ("q =>", json!("/x y")),
        ] {
            node.properties.insert(k.to_owned(), v);
        }
        node.children
            .insert("with space".to_owned(), Node::default());
        node.children.insert("a=b".to_owned(), Node::default());
        let forest = BTreeMap::from([("x y".to_owned(), node)]);
        let text = format_tree(&forest);
        assert_eq!(parse_tree(&text).unwrap().children, forest, "{text}");
        assert_eq!(
            text,
            "/\"x y\"\n  \"#c\" = u'x'\n  \"a b\" = 1\n  \"l ->\" = u'not a path'\n  \
             \"p =>\" = u''\n  q => /x y\n  type = 5\n  \"m m\" -> /t\n  /\"a=b\"\n  /\"with space\"\n"
        );
    }

    #[test]
    fn empty_forest() {
        assert_eq!(format_tree(&BTreeMap::new()), "\n");
    }
}
