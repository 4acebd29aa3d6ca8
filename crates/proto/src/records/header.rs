//! Request and reply headers, and the special xids.

use crate::enums::{ErrorCode, OpCode};
use crate::jute::jute_record;

/// The xid of a watch notification (server to client).
pub const NOTIFICATION_XID: i32 = -1;
/// The xid of a ping and its reply.
pub const PING_XID: i32 = -2;
/// The xid of an auth packet and its reply.
pub const AUTH_XID: i32 = -4;
/// The xid of SetWatches / SetWatches2 (the C client's; the Java client uses a normal xid).
pub const SET_WATCHES_XID: i32 = -8;

jute_record! {
    /// Precedes every request after the handshake.
    pub struct RequestHeader {
        /// The request's id, echoed in the reply; positive for ordinary requests.
        "xid" xid: i32,
        /// The op code.
        "type" op: OpCode,
    }
}

jute_record! {
    /// Precedes every server frame after the handshake.
    pub struct ReplyHeader {
        /// The xid of the request answered, or a special xid.
        "xid" xid: i32,
        /// The server's last processed zxid (-1 in notifications before 3.9).
        "zxid" zxid: i64,
        /// The result; when not OK the reply has no body, except for multi.
        "err" err: ErrorCode,
    }
}

jute_record! {
    /// Precedes each op and each result inside multi and multiRead, and ends the list.
    pub struct MultiHeader {
        /// The op code of the op or result; -1 on the end marker and on error results.
        "type" op: OpCode,
        /// True only on the end marker.
        "done" done: bool,
        /// -1 in requests and on the end marker; the result's error code in responses.
        "err" err: i32,
    }
}
