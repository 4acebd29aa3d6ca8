//! Decoding both directions of one recorded connection: the handshake, then requests decoded by
//! their op code and replies matched to their request by xid.

use std::collections::{HashMap, VecDeque};

use bytes::{Bytes, BytesMut};

use crate::enums::OpCode;
use crate::error::DecodeError;
use crate::frame::write_frame;
use crate::header::{NOTIFICATION_XID, ReplyHeader, RequestHeader};
use crate::jute::Jute;
use crate::message::{Request, Response};
use crate::reader::Reader;
use crate::records::connect::{ConnectRequest, ConnectResponse};
use crate::records::watch::WatcherEvent;

/// Which way a frame travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client to server.
    ClientToServer,
    /// Server to client.
    ServerToClient,
}

/// One decoded frame of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// The client's first frame.
    ConnectRequest(ConnectRequest),
    /// The server's first frame.
    ConnectResponse(ConnectResponse),
    /// A request after the handshake.
    Request {
        /// Its header.
        header: RequestHeader,
        /// Its body, by the header's op code.
        body: Request,
    },
    /// A reply to a request.
    Response {
        /// Its header.
        header: ReplyHeader,
        /// The op of the request it answers.
        op: OpCode,
        /// Its body, by that op.
        body: Response,
    },
    /// A watch notification (xid -1).
    Notification {
        /// Its header.
        header: ReplyHeader,
        /// The event.
        event: WatcherEvent,
    },
}

impl Frame {
    /// Encodes the frame's payload (without the length prefix).
    pub fn encode(&self, buf: &mut BytesMut) {
        match self {
            Frame::ConnectRequest(r) => r.encode(buf),
            Frame::ConnectResponse(r) => r.encode(buf),
            Frame::Request { header, body } => {
                header.encode(buf);
                body.encode(buf);
            }
            Frame::Response { header, body, .. } => {
                header.encode(buf);
                body.encode(buf);
            }
            Frame::Notification { header, event } => {
                header.encode(buf);
                event.encode(buf);
            }
        }
    }

    /// Encodes the whole frame, length prefix included.
    pub fn to_frame_bytes(&self) -> Bytes {
        let mut buf = BytesMut::new();
        write_frame(&mut buf, |b| self.encode(b));
        buf.freeze()
    }
}

/// Decodes the frames of one connection in wire order.
///
/// Feed each direction's frames in the order they travelled, and every request before its reply.
/// Replies are matched by xid, not position, because ZooKeeper answers auth (-4) and pings (-2)
/// outside the request pipeline.
#[derive(Debug, Default)]
pub struct Conversation {
    seen_connect_request: bool,
    seen_connect_response: bool,
    pending: HashMap<i32, VecDeque<OpCode>>,
}

impl Conversation {
    /// A conversation before its first frame.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes one frame payload (without its length prefix) that travelled in `dir`.
    ///
    /// A request whose body fails to decode is still remembered by its header, so its reply can
    /// be matched.
    pub fn decode(&mut self, dir: Direction, payload: Bytes) -> Result<Frame, DecodeError> {
        match dir {
            Direction::ClientToServer if !self.seen_connect_request => {
                self.seen_connect_request = true;
                crate::jute::from_bytes(payload, "ConnectRequest").map(Frame::ConnectRequest)
            }
            Direction::ServerToClient if !self.seen_connect_response => {
                self.seen_connect_response = true;
                crate::jute::from_bytes(payload, "ConnectResponse").map(Frame::ConnectResponse)
            }
            Direction::ClientToServer => {
                let mut r = Reader::new(payload);
                let header = RequestHeader::decode(&mut r, "RequestHeader")?;
                self.pending
                    .entry(header.xid)
                    .or_default()
                    .push_back(header.op);
                let body = Request::decode(header.op, r.rest())?;
                Ok(Frame::Request { header, body })
            }
            Direction::ServerToClient => {
                let mut r = Reader::new(payload);
                let header = ReplyHeader::decode(&mut r, "ReplyHeader")?;
                if header.xid == NOTIFICATION_XID {
                    let event = crate::jute::from_bytes(r.rest(), "WatcherEvent")?;
                    return Ok(Frame::Notification { header, event });
                }
                let op = self
                    .pending
                    .get_mut(&header.xid)
                    .and_then(VecDeque::pop_front)
                    .ok_or(DecodeError::UnmatchedReply { xid: header.xid })?;
                let body = Response::decode_reply(op, header.err, r.rest())?;
                Ok(Frame::Response { header, op, body })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enums::ErrorCode;
    use crate::header::PING_XID;
    use crate::records::request::GetDataRequest;

    fn request(xid: i32, op: OpCode, body: Request) -> Bytes {
        let mut buf = BytesMut::new();
        RequestHeader { xid, op }.encode(&mut buf);
        body.encode(&mut buf);
        buf.freeze()
    }

    fn reply(xid: i32, err: ErrorCode) -> Bytes {
        let mut buf = BytesMut::new();
        ReplyHeader { xid, zxid: 5, err }.encode(&mut buf);
        buf.freeze()
    }

    #[test]
    fn replies_are_matched_by_xid_even_out_of_order() {
        let mut c = Conversation::new();
        let connect = crate::jute::to_bytes(&ConnectRequest::default());
        c.decode(Direction::ClientToServer, connect).unwrap();
        let get = Request::GetData(GetDataRequest {
            path: Some("/a".into()),
            watch: false,
        });
        c.decode(Direction::ClientToServer, request(1, OpCode::GetData, get))
            .unwrap();
        c.decode(
            Direction::ClientToServer,
            request(PING_XID, OpCode::Ping, Request::Empty),
        )
        .unwrap();
        let accept = crate::jute::to_bytes(&ConnectResponse::default());
        assert!(matches!(
            c.decode(Direction::ServerToClient, accept),
            Ok(Frame::ConnectResponse(_))
        ));
        let frame = c
            .decode(Direction::ServerToClient, reply(PING_XID, ErrorCode::Ok))
            .unwrap();
        assert!(matches!(
            frame,
            Frame::Response {
                op: OpCode::Ping,
                ..
            }
        ));
        let frame = c
            .decode(Direction::ServerToClient, reply(1, ErrorCode::NoNode))
            .unwrap();
        assert!(matches!(
            frame,
            Frame::Response {
                op: OpCode::GetData,
                body: Response::Empty,
                ..
            }
        ));
    }

    #[test]
    fn reply_without_request_is_an_error() {
        let mut c = Conversation {
            seen_connect_request: true,
            seen_connect_response: true,
            ..Default::default()
        };
        assert_eq!(
            c.decode(Direction::ServerToClient, reply(9, ErrorCode::Ok)),
            Err(DecodeError::UnmatchedReply { xid: 9 })
        );
    }
}
