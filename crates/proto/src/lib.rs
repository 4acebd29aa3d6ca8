//! A zero-copy jute codec for the ZooKeeper client protocol, 3.4 to 3.9.
//!
//! - [`frame`]: the 4-byte length framing, with a maximum checked before any allocation.
//! - [`Jute`]: how each record reads and writes itself; every record of `zookeeper.jute` that a
//!   client or server sends on a client connection is here under its jute name
//!   ([`ConnectRequest`], [`GetChildren2Response`], [`SetWatches2`], [`Stat`], ...).
//! - [`Request`] and [`Response`]: bodies typed by op code; [`MultiRequest`] and
//!   [`MultiResponse`] for multi and multiRead.
//! - [`Conversation`]: decodes a recorded connection, matching replies to requests by xid.
//!
//! Decoding never panics and never allocates from a length the peer sent without first checking
//! it against the bytes that remain. Buffers (znode data) are slices of the received frame.
//! Jute's null (-1 length) is kept as `None`, distinct from empty, so that decoding then encoding
//! anything a real peer sends reproduces its bytes exactly.
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use zk_proto::{frame, GetDataRequest, Jute, OpCode, Request, RequestHeader};
//!
//! let mut buf = BytesMut::new();
//! frame::write_frame(&mut buf, |b| {
//!     RequestHeader { xid: 1, op: OpCode::GetData }.encode(b);
//!     GetDataRequest { path: Some("/app".into()), watch: true }.encode(b);
//! });
//! let payload = frame::FrameDecoder::default().decode(&mut buf).unwrap().unwrap();
//! let mut r = zk_proto::Reader::new(payload);
//! let header = RequestHeader::decode(&mut r, "RequestHeader").unwrap();
//! let body = Request::decode(header.op, r.rest()).unwrap();
//! assert_eq!(body, Request::GetData(GetDataRequest { path: Some("/app".into()), watch: true }));
//! ```
#![forbid(unsafe_code)]

pub mod conversation;
pub mod enums;
pub mod error;
pub mod frame;
pub mod jute;
pub mod message;
pub mod perms;
pub mod reader;
pub mod records;
pub mod value;

pub use conversation::{Conversation, Direction, Frame};
pub use enums::{AddWatchMode, CreateMode, ErrorCode, EventType, KeeperState, OpCode, WatcherType};
pub use error::DecodeError;
pub use jute::{Jute, from_bytes, to_bytes};
pub use message::{Request, Response};
pub use perms::Perms;
pub use reader::Reader;
pub use records::common::{ACL, ClientInfo, Id, Stat};
pub use records::connect::{ConnectRequest, ConnectResponse};
pub use records::header::{self as header, MultiHeader, ReplyHeader, RequestHeader};
pub use records::multi::{MultiOp, MultiRequest, MultiResponse, MultiResult};
pub use records::request::*;
pub use records::response::*;
pub use records::watch::{SetWatches, SetWatches2, WatcherEvent};
pub use value::Value;
