//! Whole messages: a request body typed by its op code, and a reply body decoded by the op of the
//! request it answers.

use bytes::{Bytes, BytesMut};

use crate::enums::{ErrorCode, OpCode};
use crate::error::DecodeError;
use crate::jute::Jute;
use crate::reader::Reader;
use crate::records::multi::{MultiRequest, MultiResponse};
use crate::records::request::*;
use crate::records::response::*;
use crate::records::watch::{SetWatches, SetWatches2};
use crate::value::Value;

macro_rules! message_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($ctx:literal) {
            $(
                $(#[$vmeta:meta])*
                $variant:ident $(($record:ty))? = [$($op:ident),+]
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[non_exhaustive]
        pub enum $name {
            $(
                $(#[$vmeta])*
                $variant $(($record))?,
            )*
        }

        impl $name {
            /// Decodes the body that follows the header of a message with op code `op`, failing on
            /// trailing bytes.
            pub fn decode(op: OpCode, body: Bytes) -> Result<Self, DecodeError> {
                let mut r = Reader::new(body);
                let message = match op {
                    $(
                        $(OpCode::$op)|+ => message_enum!(@decode r, $ctx, $variant $(, $record)?),
                    )*
                    other => {
                        return Err(DecodeError::UnknownOpCode { context: $ctx, op: other.as_i32() })
                    }
                };
                r.expect_empty($ctx)?;
                Ok(message)
            }

            /// Appends the body (without header).
            pub fn encode(&self, buf: &mut BytesMut) {
                match self {
                    $( message_enum!(@pat $variant r $(, $record)?) => {
                        message_enum!(@encode buf, r $(, $record)?)
                    } )*
                }
            }

            /// The exact length of the body.
            pub fn encoded_len(&self) -> usize {
                match self {
                    $( message_enum!(@pat $variant r $(, $record)?) => {
                        message_enum!(@len r $(, $record)?)
                    } )*
                }
            }

            /// A generic description of the body, with jute's field names.
            pub fn describe(&self) -> Value {
                match self {
                    $( message_enum!(@pat $variant r $(, $record)?) => {
                        message_enum!(@describe r $(, $record)?)
                    } )*
                }
            }
        }
    };
    (@decode $r:ident, $ctx:literal, $variant:ident, $record:ty) => {
        Self::$variant(<$record as Jute>::decode(&mut $r, $ctx)?)
    };
    (@decode $r:ident, $ctx:literal, $variant:ident) => { Self::$variant };
    (@pat $variant:ident $r:ident, $record:ty) => { Self::$variant($r) };
    (@pat $variant:ident $r:ident) => { Self::$variant };
    (@encode $buf:ident, $r:ident, $record:ty) => { $r.encode($buf) };
    (@encode $buf:ident, $r:ident) => { () };
    (@len $r:ident, $record:ty) => { $r.encoded_len() };
    (@len $r:ident) => { 0 };
    (@describe $r:ident, $record:ty) => { $r.describe() };
    (@describe $r:ident) => { Value::Record(Vec::new()) };
}

message_enum! {
    /// A request body, by op code. Several op codes share a record (create, create2 and
    /// createContainer all send a `CreateRequest`), so the op code travels beside it in the
    /// [`RequestHeader`](crate::RequestHeader) and [`Request::decode`] takes it.
    pub enum Request ("request") {
        /// create, create2 or createContainer.
        Create(CreateRequest) = [Create, Create2, CreateContainer],
        /// createTTL.
        CreateTTL(CreateTTLRequest) = [CreateTTL],
        /// delete.
        Delete(DeleteRequest) = [Delete],
        /// exists.
        Exists(ExistsRequest) = [Exists],
        /// getData.
        GetData(GetDataRequest) = [GetData],
        /// setData.
        SetData(SetDataRequest) = [SetData],
        /// getACL.
        GetACL(GetACLRequest) = [GetACL],
        /// setACL.
        SetACL(SetACLRequest) = [SetACL],
        /// getChildren.
        GetChildren(GetChildrenRequest) = [GetChildren],
        /// getChildren2.
        GetChildren2(GetChildren2Request) = [GetChildren2],
        /// sync.
        Sync(SyncRequest) = [Sync],
        /// check.
        Check(CheckVersionRequest) = [Check],
        /// multi or multiRead.
        Multi(MultiRequest) = [Multi, MultiRead],
        /// reconfig.
        Reconfig(ReconfigRequest) = [Reconfig],
        /// checkWatches.
        CheckWatches(CheckWatchesRequest) = [CheckWatches],
        /// removeWatches.
        RemoveWatches(RemoveWatchesRequest) = [RemoveWatches],
        /// auth.
        Auth(AuthPacket) = [Auth],
        /// setWatches.
        SetWatches(SetWatches) = [SetWatches],
        /// setWatches2.
        SetWatches2(SetWatches2) = [SetWatches2],
        /// sasl.
        Sasl(GetSASLRequest) = [Sasl],
        /// getEphemerals.
        GetEphemerals(GetEphemeralsRequest) = [GetEphemerals],
        /// getAllChildrenNumber.
        GetAllChildrenNumber(GetAllChildrenNumberRequest) = [GetAllChildrenNumber],
        /// addWatch.
        AddWatch(AddWatchRequest) = [AddWatch],
        /// A request with no body: ping, whoAmI, closeSession.
        Empty = [Ping, WhoAmI, CloseSession],
    }
}

message_enum! {
    /// A reply body, decoded by the op code of the request it answers.
    pub enum Response ("response") {
        /// create.
        Create(CreateResponse) = [Create],
        /// create2, createContainer, createTTL.
        Create2(Create2Response) = [Create2, CreateContainer, CreateTTL],
        /// exists.
        Exists(ExistsResponse) = [Exists],
        /// getData, and reconfig (the new config).
        GetData(GetDataResponse) = [GetData, Reconfig],
        /// setData.
        SetData(SetDataResponse) = [SetData],
        /// getACL.
        GetACL(GetACLResponse) = [GetACL],
        /// setACL.
        SetACL(SetACLResponse) = [SetACL],
        /// getChildren.
        GetChildren(GetChildrenResponse) = [GetChildren],
        /// getChildren2.
        GetChildren2(GetChildren2Response) = [GetChildren2],
        /// sync.
        Sync(SyncResponse) = [Sync],
        /// multi or multiRead.
        Multi(MultiResponse) = [Multi, MultiRead],
        /// sasl.
        Sasl(SetSASLResponse) = [Sasl],
        /// getEphemerals.
        GetEphemerals(GetEphemeralsResponse) = [GetEphemerals],
        /// getAllChildrenNumber.
        GetAllChildrenNumber(GetAllChildrenNumberResponse) = [GetAllChildrenNumber],
        /// addWatch: a 4-byte ErrorResponse body.
        AddWatch(ErrorResponse) = [AddWatch],
        /// whoAmI.
        WhoAmI(WhoAmIResponse) = [WhoAmI],
        /// A reply with no body: delete, check, ping, auth, setWatches, setWatches2,
        /// checkWatches, removeWatches, closeSession.
        Empty = [Delete, Check, Ping, Auth, SetWatches, SetWatches2, CheckWatches, RemoveWatches, CloseSession],
    }
}

impl Request {
    /// The path of a request whose record starts with one (`None` for the others and for a
    /// null path).
    pub fn path(&self) -> Option<&str> {
        match self {
            Request::Create(r) => r.path.as_deref(),
            Request::CreateTTL(r) => r.path.as_deref(),
            Request::Delete(r) => r.path.as_deref(),
            Request::Exists(r) => r.path.as_deref(),
            Request::GetData(r) => r.path.as_deref(),
            Request::SetData(r) => r.path.as_deref(),
            Request::GetACL(r) => r.path.as_deref(),
            Request::SetACL(r) => r.path.as_deref(),
            Request::GetChildren(r) => r.path.as_deref(),
            Request::GetChildren2(r) => r.path.as_deref(),
            Request::Sync(r) => r.path.as_deref(),
            Request::Check(r) => r.path.as_deref(),
            Request::CheckWatches(r) => r.path.as_deref(),
            Request::RemoveWatches(r) => r.path.as_deref(),
            Request::GetEphemerals(r) => r.prefix_path.as_deref(),
            Request::GetAllChildrenNumber(r) => r.path.as_deref(),
            Request::AddWatch(r) => r.path.as_deref(),
            Request::Multi(_)
            | Request::Reconfig(_)
            | Request::Auth(_)
            | Request::SetWatches(_)
            | Request::SetWatches2(_)
            | Request::Sasl(_)
            | Request::Empty => None,
        }
    }
}

impl Response {
    /// Decodes a reply body for `op` given the reply header's `err`: a reply with an error has no
    /// body, except that a multi or multiRead reply with an error may carry a `MultiResponse`.
    ///
    /// ZooKeeper 3.8 answers a multi it cannot run (a read op inside multi) with MARSHALLINGERROR
    /// and no body, but a multiRead with a write op inside with MARSHALLINGERROR and an empty
    /// `MultiResponse` (both captured in `proto-tests/vectors/raw-zk-proto.jsonl`); a throttled
    /// or expired-session reply to multi has no body either.
    pub fn decode_reply(op: OpCode, err: ErrorCode, body: Bytes) -> Result<Self, DecodeError> {
        if !err.is_ok() {
            if body.is_empty() {
                return Ok(Response::Empty);
            }
            if !matches!(op, OpCode::Multi | OpCode::MultiRead) {
                Reader::new(body).expect_empty("response")?;
                return Ok(Response::Empty);
            }
        }
        Response::decode(op, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::common::Stat;

    #[test]
    fn add_watch_reply_has_a_four_byte_body() {
        let body = Bytes::from_static(&[0, 0, 0, 0]);
        assert_eq!(
            Response::decode(OpCode::AddWatch, body),
            Ok(Response::AddWatch(ErrorResponse { err: 0 }))
        );
    }

    #[test]
    fn error_reply_has_no_body() {
        assert_eq!(
            Response::decode_reply(OpCode::Exists, ErrorCode::NoNode, Bytes::new()),
            Ok(Response::Empty)
        );
    }

    #[test]
    fn multi_error_reply_may_have_no_body_or_an_empty_multi_response() {
        assert_eq!(
            Response::decode_reply(OpCode::Multi, ErrorCode::MarshallingError, Bytes::new()),
            Ok(Response::Empty)
        );
        let end_marker = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(
            Response::decode_reply(OpCode::MultiRead, ErrorCode::MarshallingError, end_marker),
            Ok(Response::Multi(MultiResponse::default()))
        );
    }

    #[test]
    fn reply_body_round_trips() {
        let resp = Response::GetData(GetDataResponse {
            data: Some(Bytes::from_static(b"hello")),
            stat: Stat {
                version: 3,
                ..Stat::default()
            },
        });
        let mut buf = BytesMut::new();
        resp.encode(&mut buf);
        assert_eq!(buf.len(), resp.encoded_len());
        assert_eq!(Response::decode(OpCode::GetData, buf.freeze()), Ok(resp));
    }

    #[test]
    fn unknown_op_is_an_error() {
        let err = Request::decode(OpCode::Unknown(250), Bytes::new()).unwrap_err();
        assert_eq!(
            err,
            DecodeError::UnknownOpCode {
                context: "request",
                op: 250
            }
        );
    }
}
