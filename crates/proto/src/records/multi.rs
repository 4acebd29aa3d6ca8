//! The multi and multiRead envelopes (`MultiOperationRecord`, `MultiResponse`): a list of
//! [`MultiHeader`]-prefixed records ended by `{type: -1, done: true, err: -1}`.
//!
//! Results are decoded by each result header's type, never by the request's op: on a failed
//! transaction every result is an error, and ZooKeeper 3.8 answers create2 inside multi with a
//! plain create result (ZOOKEEPER-4026).

use bytes::BytesMut;

use crate::enums::OpCode;
use crate::error::DecodeError;
use crate::jute::Jute;
use crate::reader::Reader;
use crate::records::header::MultiHeader;
use crate::records::request::{
    CheckVersionRequest, CreateRequest, CreateTTLRequest, DeleteRequest, GetChildrenRequest,
    GetDataRequest, SetDataRequest,
};
use crate::records::response::{
    Create2Response, CreateResponse, ErrorResponse, GetChildrenResponse, GetDataResponse,
    SetDataResponse,
};
use crate::value::Value;

const END: MultiHeader = MultiHeader {
    op: OpCode::Error,
    done: true,
    err: -1,
};

/// One op inside a multi (writes) or multiRead (reads) request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MultiOp {
    /// create (op 1).
    Create(CreateRequest),
    /// create2 (op 15).
    Create2(CreateRequest),
    /// createContainer (op 19).
    CreateContainer(CreateRequest),
    /// createTTL (op 21).
    CreateTTL(CreateTTLRequest),
    /// delete (op 2).
    Delete(DeleteRequest),
    /// setData (op 5).
    SetData(SetDataRequest),
    /// check (op 13).
    Check(CheckVersionRequest),
    /// getChildren (op 8), in multiRead.
    GetChildren(GetChildrenRequest),
    /// getData (op 4), in multiRead.
    GetData(GetDataRequest),
}

impl MultiOp {
    /// The op code written in this op's header.
    pub fn op_code(&self) -> OpCode {
        match self {
            MultiOp::Create(_) => OpCode::Create,
            MultiOp::Create2(_) => OpCode::Create2,
            MultiOp::CreateContainer(_) => OpCode::CreateContainer,
            MultiOp::CreateTTL(_) => OpCode::CreateTTL,
            MultiOp::Delete(_) => OpCode::Delete,
            MultiOp::SetData(_) => OpCode::SetData,
            MultiOp::Check(_) => OpCode::Check,
            MultiOp::GetChildren(_) => OpCode::GetChildren,
            MultiOp::GetData(_) => OpCode::GetData,
        }
    }

    /// The path the op addresses.
    pub fn path(&self) -> Option<&str> {
        match self {
            MultiOp::Create(r) | MultiOp::Create2(r) | MultiOp::CreateContainer(r) => {
                r.path.as_deref()
            }
            MultiOp::CreateTTL(r) => r.path.as_deref(),
            MultiOp::Delete(r) => r.path.as_deref(),
            MultiOp::SetData(r) => r.path.as_deref(),
            MultiOp::Check(r) => r.path.as_deref(),
            MultiOp::GetChildren(r) => r.path.as_deref(),
            MultiOp::GetData(r) => r.path.as_deref(),
        }
    }

    /// The path the op addresses, mutably (to add or strip a chroot).
    pub fn path_mut(&mut self) -> &mut Option<String> {
        match self {
            MultiOp::Create(r) | MultiOp::Create2(r) | MultiOp::CreateContainer(r) => &mut r.path,
            MultiOp::CreateTTL(r) => &mut r.path,
            MultiOp::Delete(r) => &mut r.path,
            MultiOp::SetData(r) => &mut r.path,
            MultiOp::Check(r) => &mut r.path,
            MultiOp::GetChildren(r) => &mut r.path,
            MultiOp::GetData(r) => &mut r.path,
        }
    }

    fn body(&self) -> &dyn DynJute {
        match self {
            MultiOp::Create(r) | MultiOp::Create2(r) | MultiOp::CreateContainer(r) => r,
            MultiOp::CreateTTL(r) => r,
            MultiOp::Delete(r) => r,
            MultiOp::SetData(r) => r,
            MultiOp::Check(r) => r,
            MultiOp::GetChildren(r) => r,
            MultiOp::GetData(r) => r,
        }
    }
}

/// Object-safe slice of [`Jute`], for encoding the variants of an enum uniformly.
trait DynJute {
    fn encode_dyn(&self, buf: &mut BytesMut);
    fn len_dyn(&self) -> usize;
    fn describe_dyn(&self) -> Value;
}

impl<T: Jute> DynJute for T {
    fn encode_dyn(&self, buf: &mut BytesMut) {
        self.encode(buf)
    }
    fn len_dyn(&self) -> usize {
        self.encoded_len()
    }
    fn describe_dyn(&self) -> Value {
        self.describe()
    }
}

/// The body of a multi (op 14) or multiRead (op 22) request (`MultiOperationRecord`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiRequest {
    /// The ops, in order.
    pub ops: Vec<MultiOp>,
}

impl Jute for MultiRequest {
    const MIN_LEN: usize = MULTI_HEADER_LEN;

    fn decode(r: &mut Reader, _context: &'static str) -> Result<Self, DecodeError> {
        let mut ops = Vec::new();
        loop {
            let header = MultiHeader::decode(r, "MultiOperationRecord.header")?;
            if header.done {
                check_end(&header, "MultiOperationRecord.end")?;
                return Ok(Self { ops });
            }
            if header.err != -1 {
                return Err(DecodeError::UnexpectedValue {
                    context: "MultiOperationRecord.header.err",
                    value: i64::from(header.err),
                });
            }
            let ctx = "MultiOperationRecord.op";
            let op = match header.op {
                OpCode::Create => MultiOp::Create(CreateRequest::decode(r, ctx)?),
                OpCode::Create2 => MultiOp::Create2(CreateRequest::decode(r, ctx)?),
                OpCode::CreateContainer => MultiOp::CreateContainer(CreateRequest::decode(r, ctx)?),
                OpCode::CreateTTL => MultiOp::CreateTTL(CreateTTLRequest::decode(r, ctx)?),
                OpCode::Delete => MultiOp::Delete(DeleteRequest::decode(r, ctx)?),
                OpCode::SetData => MultiOp::SetData(SetDataRequest::decode(r, ctx)?),
                OpCode::Check => MultiOp::Check(CheckVersionRequest::decode(r, ctx)?),
                OpCode::GetChildren => MultiOp::GetChildren(GetChildrenRequest::decode(r, ctx)?),
                OpCode::GetData => MultiOp::GetData(GetDataRequest::decode(r, ctx)?),
                other => {
                    return Err(DecodeError::UnknownOpCode {
                        context: ctx,
                        op: other.as_i32(),
                    });
                }
            };
            ops.push(op);
        }
    }

    fn encode(&self, buf: &mut BytesMut) {
        for op in &self.ops {
            MultiHeader {
                op: op.op_code(),
                done: false,
                err: -1,
            }
            .encode(buf);
            op.body().encode_dyn(buf);
        }
        END.encode(buf);
    }

    fn encoded_len(&self) -> usize {
        self.ops
            .iter()
            .map(|op| MULTI_HEADER_LEN + op.body().len_dyn())
            .sum::<usize>()
            + MULTI_HEADER_LEN
    }

    fn describe(&self) -> Value {
        let ops = self
            .ops
            .iter()
            .map(|op| {
                let mut fields = vec![("type", op.op_code().describe())];
                if let Value::Record(body) = op.body().describe_dyn() {
                    fields.extend(body);
                }
                Value::Record(fields)
            })
            .collect();
        Value::Record(vec![("ops", Value::List(Some(ops)))])
    }
}

const MULTI_HEADER_LEN: usize = 4 + 1 + 4;

fn check_end(header: &MultiHeader, context: &'static str) -> Result<(), DecodeError> {
    if header.op != OpCode::Error {
        return Err(DecodeError::UnexpectedValue {
            context,
            value: i64::from(header.op.as_i32()),
        });
    }
    if header.err != -1 {
        return Err(DecodeError::UnexpectedValue {
            context,
            value: i64::from(header.err),
        });
    }
    Ok(())
}

/// One result inside a multi or multiRead response, by the result header's type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MultiResult {
    /// A create result without Stat (type 1).
    Create(CreateResponse),
    /// A create result with Stat (type 15).
    Create2(Create2Response),
    /// A delete result (type 2, no body).
    Delete,
    /// A setData result (type 5).
    SetData(SetDataResponse),
    /// A check result (type 13, no body).
    Check,
    /// A getChildren result (type 8), in multiRead.
    GetChildren(GetChildrenResponse),
    /// A getData result (type 4), in multiRead.
    GetData(GetDataResponse),
    /// An error (type -1): in a failed multi, 0 for the ops before the failing one, its error
    /// for the failing one, RUNTIMEINCONSISTENCY (-2) for those after.
    Error(ErrorResponse),
}

impl MultiResult {
    /// The type written in this result's header.
    pub fn op_code(&self) -> OpCode {
        match self {
            MultiResult::Create(_) => OpCode::Create,
            MultiResult::Create2(_) => OpCode::Create2,
            MultiResult::Delete => OpCode::Delete,
            MultiResult::SetData(_) => OpCode::SetData,
            MultiResult::Check => OpCode::Check,
            MultiResult::GetChildren(_) => OpCode::GetChildren,
            MultiResult::GetData(_) => OpCode::GetData,
            MultiResult::Error(_) => OpCode::Error,
        }
    }

    fn err(&self) -> i32 {
        match self {
            MultiResult::Error(e) => e.err,
            _ => 0,
        }
    }

    fn body(&self) -> Option<&dyn DynJute> {
        match self {
            MultiResult::Create(r) => Some(r),
            MultiResult::Create2(r) => Some(r),
            MultiResult::SetData(r) => Some(r),
            MultiResult::GetChildren(r) => Some(r),
            MultiResult::GetData(r) => Some(r),
            MultiResult::Error(r) => Some(r),
            MultiResult::Delete | MultiResult::Check => None,
        }
    }
}

/// The body of a multi or multiRead reply (`MultiResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiResponse {
    /// The results, one per op, in order.
    pub results: Vec<MultiResult>,
}

impl Jute for MultiResponse {
    const MIN_LEN: usize = MULTI_HEADER_LEN;

    fn decode(r: &mut Reader, _context: &'static str) -> Result<Self, DecodeError> {
        let mut results = Vec::new();
        loop {
            let header = MultiHeader::decode(r, "MultiResponse.header")?;
            if header.done {
                check_end(&header, "MultiResponse.end")?;
                return Ok(Self { results });
            }
            let ctx = "MultiResponse.result";
            let result = match header.op {
                OpCode::Create => MultiResult::Create(CreateResponse::decode(r, ctx)?),
                OpCode::Create2 => MultiResult::Create2(Create2Response::decode(r, ctx)?),
                OpCode::Delete => MultiResult::Delete,
                OpCode::SetData => MultiResult::SetData(SetDataResponse::decode(r, ctx)?),
                OpCode::Check => MultiResult::Check,
                OpCode::GetChildren => {
                    MultiResult::GetChildren(GetChildrenResponse::decode(r, ctx)?)
                }
                OpCode::GetData => MultiResult::GetData(GetDataResponse::decode(r, ctx)?),
                OpCode::Error => MultiResult::Error(ErrorResponse::decode(r, ctx)?),
                other => {
                    return Err(DecodeError::UnknownOpCode {
                        context: ctx,
                        op: other.as_i32(),
                    });
                }
            };
            if header.err != result.err() {
                return Err(DecodeError::UnexpectedValue {
                    context: "MultiResponse.header.err",
                    value: i64::from(header.err),
                });
            }
            results.push(result);
        }
    }

    fn encode(&self, buf: &mut BytesMut) {
        for result in &self.results {
            MultiHeader {
                op: result.op_code(),
                done: false,
                err: result.err(),
            }
            .encode(buf);
            if let Some(body) = result.body() {
                body.encode_dyn(buf);
            }
        }
        END.encode(buf);
    }

    fn encoded_len(&self) -> usize {
        self.results
            .iter()
            .map(|r| MULTI_HEADER_LEN + r.body().map_or(0, DynJute::len_dyn))
            .sum::<usize>()
            + MULTI_HEADER_LEN
    }

    fn describe(&self) -> Value {
        let ops = self
            .results
            .iter()
            .map(|result| {
                let mut fields = vec![
                    ("type", result.op_code().describe()),
                    ("err", Value::Int(i64::from(result.err()))),
                ];
                if let Some(Value::Record(body)) = result.body().map(DynJute::describe_dyn) {
                    fields.extend(body.into_iter().filter(|(name, _)| *name != "err"));
                }
                Value::Record(fields)
            })
            .collect();
        Value::Record(vec![("ops", Value::List(Some(ops)))])
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::jute::{from_bytes, to_bytes};

    #[test]
    fn failed_multi_results_are_all_errors_and_round_trip() {
        let resp = MultiResponse {
            results: vec![
                MultiResult::Error(ErrorResponse { err: 0 }),
                MultiResult::Error(ErrorResponse { err: -103 }),
                MultiResult::Error(ErrorResponse { err: -2 }),
            ],
        };
        let bytes = to_bytes(&resp);
        assert_eq!(bytes.len(), resp.encoded_len());
        assert_eq!(
            from_bytes::<MultiResponse>(bytes, "MultiResponse"),
            Ok(resp)
        );
    }

    #[test]
    fn empty_multi_is_only_the_end_marker() {
        let bytes = to_bytes(&MultiRequest::default());
        assert_eq!(
            &bytes[..],
            &[0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff]
        );
    }

    #[test]
    fn request_ops_round_trip() {
        let req = MultiRequest {
            ops: vec![
                MultiOp::Create(CreateRequest {
                    path: Some("/a".into()),
                    data: Some(Bytes::from_static(b"x")),
                    acl: Some(crate::ACL::open_unsafe()),
                    flags: crate::CreateMode::Persistent,
                }),
                MultiOp::Check(CheckVersionRequest {
                    path: Some("/a".into()),
                    version: 0,
                }),
                MultiOp::Delete(DeleteRequest {
                    path: Some("/a".into()),
                    version: -1,
                }),
            ],
        };
        let bytes = to_bytes(&req);
        assert_eq!(from_bytes::<MultiRequest>(bytes, "MultiRequest"), Ok(req));
    }

    #[test]
    fn unknown_result_type_is_an_error_not_a_guess() {
        let mut buf = BytesMut::new();
        MultiHeader {
            op: OpCode::Unknown(99),
            done: false,
            err: 0,
        }
        .encode(&mut buf);
        END.encode(&mut buf);
        let err = from_bytes::<MultiResponse>(buf.freeze(), "MultiResponse").unwrap_err();
        assert!(matches!(err, DecodeError::UnknownOpCode { op: 99, .. }));
    }
}
