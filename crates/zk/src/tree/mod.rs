//! zc.zk's tree model: a text format describing ZooKeeper nodes with their properties, links
//! and property links; [`parse_tree`], [`ZooKeeper::import_tree`](crate::ZooKeeper::import_tree)
//! and [`ZooKeeper::export_tree`](crate::ZooKeeper::export_tree).
//!
//! ```text
//! /lb : ipvs
//!   /pools
//!     /cms
//!       # The address is fixed because it's
//!       # exposed externally
//!       address = '1.2.3.4:80'
//!       providers -> /cms/providers
//! /cms : z4m cms
//!   threads => /fooservice threads
//!   /providers
//! ```
//!
//! # The format
//!
//! The text is split on `\n`; each line loses its trailing whitespace (so `\r\n` works). Blank
//! lines, and lines whose first non-blank character is `#`, are skipped. Whitespace is
//! Python 2's `\s`: space, tab, `\n`, `\r`, vertical tab, form feed.
//!
//! Each other line is one entry, tried in zc.zk's order (the first that matches wins; `NAME` is
//! a run of non-whitespace characters and matches greedily, as zc.zk's regular expressions did,
//! so `a=b=1` sets `a=b`):
//!
//! | entry | form | stored as |
//! |---|---|---|
//! | property link | `NAME => PATH [PROPERTY]` | property `"NAME =>"` = `"PATH [PROPERTY]"` |
//! | property | `NAME = VALUE` | property `NAME` = the [`literal`] `VALUE` |
//! | link | `NAME -> TARGET` | property `"NAME ->"` = `"TARGET"` |
//! | node | `/NAME [: TYPE]` | child node `NAME`, property `type` = `"TYPE"` |
//!
//! Spacing around `=`, `=>`, `->` and `:` is free (`a=1`, `ad->/x`), but a node's name and type
//! need whitespace or nothing between name and colon: `/a:b` is the node `a:b` (which is why
//! `/192.168.0.1:80` works), while `/a : b` and `/a: b` have type `b`.
//!
//! **Nesting.** The indentation of a line is its count of leading whitespace characters (a tab
//! counts one). A line indented deeper than the previous entry belongs to it, which must be a
//! node ("Can't indent under properties"). A line indented less must land exactly on the
//! indentation of an enclosing entry ("Invalid indentation"). Properties and child nodes may
//! be interleaved in any order. Properties at the top level are an error ("Can't import
//! properties above imported nodes"), and so are a repeated node name under one parent
//! ("duplicate node") and a repeated property ("duplicate property"; `/a : t` with
//! `type = 'x'` counts).
//!
//! **Errors** name the line: [`ParseError`] (and [`Error::Parse`](crate::Error::Parse)). A text
//! that does not parse changes nothing on import.
//!
//! # Where this differs from zc.zk 2.1.0
//!
//! - Values are parsed as literals ([`literal`]), never evaluated: `__import__('os')` is an
//!   error, not code execution.
//! - `x => /b y /z` is an error (zc.zk silently dropped `/z`).
//! - Node names must be valid ZooKeeper path segments: `/a/b` is an error (zc.zk created the
//!   node `/a/b` directly), and so are `.` and `..`.
//! - **Quoted names**, the escape for names the grammar cannot express. A name starting with a
//!   double quote is a JSON string: `"name with spaces" = 1`, `"a b" -> /x`, `"a b" => /x y`,
//!   `/"node name" : type`. Export quotes a name exactly when the bare line would not read back
//!   the same (whitespace, a leading `#` or `"`, `=`/`->`/`=>` that the greedy matching would
//!   split on, and so on). A link or property link whose value the grammar cannot express
//!   (not a string, whitespace in a link target, not one or two words for a property link) is
//!   written as an ordinary property with its full key quoted: `"x ->" = 3`. A `type` that
//!   cannot go on the node line (not a string, empty, with surrounding whitespace) is written
//!   as a `type = …` property. (In zc.zk a bare name could start with `"`; here it cannot.)
//! - Export writes property links as `name => path [property]` (zc.zk wrote
//!   `name => = u'…'`, which could not be imported), keeps a falsy or non-string `type`, and
//!   exports the root's properties when the root is exported under a name.
//!
//! Together these make export, then import, then export a fixed point.

pub mod export;
pub mod import;
pub mod literal;
mod parser;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::data::PropertyMap;

pub use export::format_tree;
pub use import::{ImportChange, ImportOptions, ImportPlan, Trim};
pub use literal::{LiteralError, format_value, format_value_plain, parse_assignment, parse_value};
pub use parser::{ParseError, parse_tree};

/// The suffix of a link's property key: `"main ->"`.
pub const LINK_SUFFIX: &str = " ->";

/// The suffix of a property link's property key: `"threads =>"`.
pub const PROPERTY_LINK_SUFFIX: &str = " =>";

/// The property holding a node's type (`/name : type`).
pub const TYPE: &str = "type";

/// A node of a tree: its properties (including `type`, links and property links, as stored in
/// ZooKeeper) and its children by name.
///
/// The root of a parsed text has the top-level nodes as children and no properties.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Node {
    /// The node's properties, as stored in ZooKeeper: links are keys ending in
    /// [`LINK_SUFFIX`], property links keys ending in [`PROPERTY_LINK_SUFFIX`].
    pub properties: PropertyMap,
    /// The child nodes, sorted by name.
    pub children: BTreeMap<String, Node>,
}

impl Node {
    /// The `type` property, when it is a string.
    pub fn node_type(&self) -> Option<&str> {
        self.properties.get(TYPE).and_then(Value::as_str)
    }

    /// The links: `(name, target)` for each `name ->` property with a string value.
    pub fn links(&self) -> impl Iterator<Item = (&str, &str)> {
        self.properties
            .iter()
            .filter_map(|(k, v)| Some((k.strip_suffix(LINK_SUFFIX)?, v.as_str()?)))
    }

    /// The property links: `(name, "PATH [PROPERTY]")` for each `name =>` property with a
    /// string value.
    pub fn property_links(&self) -> impl Iterator<Item = (&str, &str)> {
        self.properties
            .iter()
            .filter_map(|(k, v)| Some((k.strip_suffix(PROPERTY_LINK_SUFFIX)?, v.as_str()?)))
    }

    /// The node at `path` below this one (`"a/b"`; empty is this node).
    pub fn get(&self, path: &str) -> Option<&Node> {
        path.split('/')
            .filter(|s| !s.is_empty())
            .try_fold(self, |node, name| node.children.get(name))
    }

    /// How many nodes, this one included.
    pub fn count(&self) -> usize {
        1 + self.children.values().map(Node::count).sum::<usize>()
    }
}
