//! A generic view of a decoded record, with jute's field names, for tools that print records.

use bytes::Bytes;

/// A decoded value described generically: what `zk wire decode` prints.
///
/// Field names are jute's (`czxid`, `ephemeralOwner`), so output can be read against
/// `zookeeper.jute`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An `int` or `long`.
    Int(i64),
    /// A `boolean`.
    Bool(bool),
    /// A `ustring`; `None` is jute's null.
    Str(Option<String>),
    /// A `buffer`; `None` is jute's null.
    Buf(Option<Bytes>),
    /// A `vector`; `None` is jute's null.
    List(Option<Vec<Value>>),
    /// A record: its fields in declaration order.
    Record(Vec<(&'static str, Value)>),
    /// A named enum value (an op code, an error code): its name and raw number.
    Enum(&'static str, i32),
}
