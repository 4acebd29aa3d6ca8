//! Vectors written from the jute definitions, for what cannot be captured against the standalone
//! 3.8.0 server here, and negative vectors: frames that must fail with a specific
//! [`DecodeError`](zk_proto::DecodeError) variant.
//!
//! `cargo run -p proto-tests --example handcraft` writes them to `vectors/handcrafted.jsonl` and
//! `vectors/negative/negative.jsonl`; a test checks that the committed files match.

use bytes::{BufMut, Bytes, BytesMut};
use zk_proto::frame::write_frame;
use zk_proto::{
    ConnectRequest, ConnectResponse, Direction, ErrorCode, EventType, GetDataRequest,
    GetDataResponse, GetSASLRequest, Jute, KeeperState, MultiOp, MultiRequest, OpCode,
    ReconfigRequest, ReplyHeader, Request, RequestHeader, Response, SetSASLResponse, Stat,
    WatcherEvent,
};

use crate::vectors::format_line;

/// One connection's lines.
struct Conn {
    name: String,
    lines: Vec<String>,
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    write_frame(&mut buf, |b| b.put_slice(payload));
    buf.to_vec()
}

fn encoded(write: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
    let mut buf = BytesMut::new();
    write(&mut buf);
    buf.to_vec()
}

const SESSION_ID: i64 = 0x0100_0a1b_2c3d_0001;
const PASSWD: [u8; 16] = *b"0123456789abcdef";

fn connect_request() -> ConnectRequest {
    ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        time_out: 30_000,
        session_id: 0,
        passwd: Some(Bytes::from_static(&[0; 16])),
        read_only: Some(false),
    }
}

fn connect_response() -> ConnectResponse {
    ConnectResponse {
        protocol_version: 0,
        time_out: 30_000,
        session_id: SESSION_ID,
        passwd: Some(Bytes::from_static(&PASSWD)),
        read_only: Some(false),
    }
}

fn stat(zxid: i64, data_length: i32) -> Stat {
    Stat {
        czxid: zxid,
        mzxid: zxid,
        ctime: 1_700_000_000_000,
        mtime: 1_700_000_000_000,
        version: 0,
        cversion: 0,
        aversion: 0,
        ephemeral_owner: 0,
        data_length,
        num_children: 0,
        pzxid: zxid,
    }
}

impl Conn {
    /// A connection without its handshake.
    fn bare(name: &str) -> Conn {
        Conn {
            name: name.to_owned(),
            lines: Vec::new(),
        }
    }

    /// A connection after a 3.4+ handshake.
    fn new(name: &str) -> Conn {
        let mut c = Conn::bare(name);
        c.c2s(&encoded(|b| connect_request().encode(b)));
        c.s2c(&encoded(|b| connect_response().encode(b)));
        c
    }

    fn raw(&mut self, dir: Direction, frame: &[u8]) {
        self.lines.push(format_line(&self.name, dir, frame));
    }

    fn c2s(&mut self, payload: &[u8]) {
        self.raw(Direction::ClientToServer, &frame(payload));
    }

    fn s2c(&mut self, payload: &[u8]) {
        self.raw(Direction::ServerToClient, &frame(payload));
    }

    fn request(&mut self, xid: i32, op: OpCode, body: &Request) {
        self.c2s(&encoded(|b| {
            RequestHeader { xid, op }.encode(b);
            body.encode(b);
        }));
    }

    fn reply(&mut self, xid: i32, zxid: i64, err: ErrorCode, body: &Response) {
        self.s2c(&encoded(|b| {
            ReplyHeader { xid, zxid, err }.encode(b);
            body.encode(b);
        }));
    }

    /// A frame that must fail with `variant` (and `context`, if given).
    fn expect_error(&mut self, dir: Direction, frame: &[u8], variant: &str, context: &str) {
        let mut line = format_line(&self.name, dir, frame);
        line.pop();
        line.push_str(&format!(", \"expect\": \"{variant}\""));
        if !context.is_empty() {
            line.push_str(&format!(", \"context\": \"{context}\""));
        }
        line.push('}');
        self.lines.push(line);
    }
}

/// The handcrafted positive vectors, as lines of the capture format.
pub fn handcrafted_lines() -> Vec<String> {
    let mut conns = Vec::new();

    // SASL (DIGEST-MD5) token exchange: the server here has no SASL, and answers any token with
    // a null one (captured in raw-zk-proto.jsonl); this is the shape of a real exchange.
    let mut c = Conn::new("sasl-digest-md5");
    c.request(
        1,
        OpCode::Sasl,
        &Request::Sasl(GetSASLRequest {
            token: Some(Bytes::new()),
        }),
    );
    c.reply(
        1,
        0,
        ErrorCode::Ok,
        &Response::Sasl(SetSASLResponse {
            token: Some(Bytes::from_static(
                b"realm=\"zk-sasl-md5\",nonce=\"3f6b1d0c9a\",charset=utf-8,algorithm=md5-sess",
            )),
        }),
    );
    c.request(
        2,
        OpCode::Sasl,
        &Request::Sasl(GetSASLRequest {
            token: Some(Bytes::from_static(
                b"charset=utf-8,username=\"super\",realm=\"zk-sasl-md5\",nonce=\"3f6b1d0c9a\",nc=00000001,cnonce=\"a1b2\",digest-uri=\"zookeeper/zk-sasl-md5\",maxbuf=65536,response=00112233445566778899aabbccddeeff,qop=auth",
            )),
        }),
    );
    c.reply(
        2,
        0,
        ErrorCode::Ok,
        &Response::Sasl(SetSASLResponse {
            token: Some(Bytes::from_static(
                b"rspauth=ffeeddccbbaa99887766554433221100",
            )),
        }),
    );
    conns.push(c);

    // A successful reconfig (needs an ensemble with reconfigEnabled): incremental, then a new
    // membership; the reply is the new config as a GetDataResponse.
    let mut c = Conn::new("reconfig-ok");
    c.request(
        1,
        OpCode::Reconfig,
        &Request::Reconfig(ReconfigRequest {
            joining_servers: Some("server.4=127.0.0.1:2891:3891:participant;127.0.0.1:2184".into()),
            leaving_servers: Some("3".into()),
            new_members: None,
            cur_config_id: -1,
        }),
    );
    let config = b"server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181\nserver.2=127.0.0.1:2889:3889:participant;0.0.0.0:2182\nserver.4=127.0.0.1:2891:3891:participant;127.0.0.1:2184\nversion=100000003";
    let mut s = stat(0x1_0000_0003, config.len() as i32);
    s.czxid = 0;
    s.ctime = 0;
    s.version = 3;
    c.reply(
        1,
        0x1_0000_0003,
        ErrorCode::Ok,
        &Response::GetData(GetDataResponse {
            data: Some(Bytes::from_static(config)),
            stat: s.clone(),
        }),
    );
    c.request(
        2,
        OpCode::Reconfig,
        &Request::Reconfig(ReconfigRequest {
            joining_servers: None,
            leaving_servers: None,
            new_members: Some(
                "server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181,server.2=127.0.0.1:2889:3889:participant;0.0.0.0:2182"
                    .into(),
            ),
            cur_config_id: 0x1_0000_0003,
        }),
    );
    c.reply(2, 0x1_0000_0003, ErrorCode::BadVersion, &Response::Empty);
    conns.push(c);

    // A throttled multi: header only, THROTTLEDOP (3.7+ with request throttling).
    let mut c = Conn::new("multi-throttled");
    c.request(
        1,
        OpCode::Multi,
        &Request::Multi(MultiRequest {
            ops: vec![MultiOp::Delete(zk_proto::DeleteRequest {
                path: Some("/a".into()),
                version: -1,
            })],
        }),
    );
    c.reply(1, 7, ErrorCode::ThrottledOp, &Response::Empty);
    conns.push(c);

    // A 3.9 notification carries the zxid of the triggering transaction (ZOOKEEPER-4655);
    // 3.8 sends -1.
    let mut c = Conn::new("notification-3.9");
    c.request(
        1,
        OpCode::GetData,
        &Request::GetData(GetDataRequest {
            path: Some("/n".into()),
            watch: true,
        }),
    );
    c.reply(
        1,
        40,
        ErrorCode::Ok,
        &Response::GetData(GetDataResponse {
            data: None,
            stat: stat(40, 0),
        }),
    );
    c.s2c(&encoded(|b| {
        ReplyHeader {
            xid: -1,
            zxid: 41,
            err: ErrorCode::Ok,
        }
        .encode(b);
        WatcherEvent {
            event_type: EventType::NodeDataChanged,
            state: KeeperState::SyncConnected,
            path: Some("/n".into()),
        }
        .encode(b);
    }));
    conns.push(c);

    // A current client and a pre-3.4 server: the answer has no readOnly byte (36 bytes).
    let mut c = Conn::bare("old-server");
    c.c2s(&encoded(|b| connect_request().encode(b)));
    c.s2c(&encoded(|b| {
        ConnectResponse {
            read_only: None,
            ..connect_response()
        }
        .encode(b)
    }));
    conns.push(c);

    // A read-only server accepting a client that allows it.
    let mut c = Conn::bare("read-only-server");
    c.c2s(&encoded(|b| {
        ConnectRequest {
            read_only: Some(true),
            ..connect_request()
        }
        .encode(b)
    }));
    c.s2c(&encoded(|b| {
        ConnectResponse {
            read_only: Some(true),
            ..connect_response()
        }
        .encode(b)
    }));
    c.request(
        1,
        OpCode::Create,
        &Request::Create(zk_proto::CreateRequest {
            path: Some("/w".into()),
            data: None,
            acl: Some(zk_proto::ACL::open_unsafe()),
            flags: zk_proto::CreateMode::Persistent,
        }),
    );
    c.reply(1, 0, ErrorCode::NotReadOnly, &Response::Empty);
    conns.push(c);

    conns.into_iter().flat_map(|c| c.lines).collect()
}

/// The negative vectors: each connection's last line carries `expect` (the `DecodeError` variant)
/// and, where it matters, `context`; the lines before it decode.
pub fn negative_lines() -> Vec<String> {
    use Direction::{ClientToServer as C2S, ServerToClient as S2C};
    let mut conns = Vec::new();
    let handshake = encoded(|b| connect_request().encode(b));

    // Framing.
    let mut c = Conn::bare("frame-truncated");
    let mut f = frame(&handshake);
    f.truncate(20);
    c.expect_error(C2S, &f, "UnexpectedEnd", "frame");
    conns.push(c);

    let mut c = Conn::bare("frame-negative-length");
    c.expect_error(
        C2S,
        &[0xff, 0xff, 0xff, 0xfe, 0, 0],
        "NegativeFrameLength",
        "frame",
    );
    conns.push(c);

    let mut c = Conn::bare("frame-over-jute-maxbuffer");
    // 1,048,576 bytes announced, one more than jute.maxbuffer: refused from the prefix alone.
    c.expect_error(C2S, &[0x00, 0x10, 0x00, 0x00], "FrameTooLarge", "frame");
    conns.push(c);

    let mut c = Conn::bare("frame-longer-than-its-length");
    let mut f = frame(&handshake);
    f.push(0);
    c.expect_error(C2S, &f, "TrailingBytes", "frame");
    conns.push(c);

    // Records.
    let mut c = Conn::bare("connect-request-truncated");
    c.expect_error(
        C2S,
        &frame(&handshake[..20]),
        "UnexpectedEnd",
        "ConnectRequest.sessionId",
    );
    conns.push(c);

    let mut c = Conn::bare("connect-response-passwd-longer-than-frame");
    c.c2s(&handshake);
    let mut resp = encoded(|b| connect_response().encode(b));
    resp[16..20].copy_from_slice(&200i32.to_be_bytes());
    c.expect_error(
        S2C,
        &frame(&resp),
        "LengthExceedsInput",
        "ConnectResponse.passwd",
    );
    conns.push(c);

    let get_data = |path_len: i32, path: &[u8], watch: u8| {
        let mut p = encoded(|b| {
            RequestHeader {
                xid: 1,
                op: OpCode::GetData,
            }
            .encode(b)
        });
        p.extend_from_slice(&path_len.to_be_bytes());
        p.extend_from_slice(path);
        p.push(watch);
        frame(&p)
    };

    let mut c = Conn::new("path-negative-length");
    c.expect_error(
        C2S,
        &get_data(-2, b"", 0),
        "NegativeLength",
        "GetDataRequest.path",
    );
    conns.push(c);

    let mut c = Conn::new("path-longer-than-frame");
    c.expect_error(
        C2S,
        &get_data(100, b"/a", 0),
        "LengthExceedsInput",
        "GetDataRequest.path",
    );
    conns.push(c);

    let mut c = Conn::new("path-not-utf8");
    c.expect_error(
        C2S,
        &get_data(3, b"/\xff\xfe", 0),
        "InvalidUtf8",
        "GetDataRequest.path",
    );
    conns.push(c);

    let mut c = Conn::new("watch-flag-not-a-boolean");
    c.expect_error(
        C2S,
        &get_data(2, b"/a", 2),
        "InvalidBool",
        "GetDataRequest.watch",
    );
    conns.push(c);

    let mut c = Conn::new("request-trailing-byte");
    let mut f = get_data(2, b"/a", 0);
    f[3] += 1;
    f.push(0);
    c.expect_error(C2S, &f, "TrailingBytes", "request");
    conns.push(c);

    let mut c = Conn::new("unknown-op-code");
    c.expect_error(
        C2S,
        &frame(&encoded(|b| {
            RequestHeader {
                xid: 1,
                op: OpCode::Unknown(250),
            }
            .encode(b)
        })),
        "UnknownOpCode",
        "request",
    );
    conns.push(c);

    let mut c = Conn::new("reply-without-request");
    c.expect_error(
        S2C,
        &frame(&encoded(|b| {
            ReplyHeader {
                xid: 99,
                zxid: 5,
                err: ErrorCode::Ok,
            }
            .encode(b)
        })),
        "UnmatchedReply",
        "conversation",
    );
    conns.push(c);

    let get_children = |c: &mut Conn| {
        c.request(
            1,
            OpCode::GetChildren,
            &Request::GetChildren(zk_proto::GetChildrenRequest {
                path: Some("/".into()),
                watch: false,
            }),
        );
    };
    let reply_header = encoded(|b| {
        ReplyHeader {
            xid: 1,
            zxid: 5,
            err: ErrorCode::Ok,
        }
        .encode(b)
    });

    let mut c = Conn::new("children-count-larger-than-frame");
    get_children(&mut c);
    let mut p = reply_header.clone();
    p.extend_from_slice(&1_000_000i32.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 1, b'a']);
    c.expect_error(
        S2C,
        &frame(&p),
        "CountExceedsInput",
        "GetChildrenResponse.children",
    );
    conns.push(c);

    let mut c = Conn::new("children-count-negative");
    get_children(&mut c);
    let mut p = reply_header.clone();
    p.extend_from_slice(&(-5i32).to_be_bytes());
    c.expect_error(
        S2C,
        &frame(&p),
        "NegativeLength",
        "GetChildrenResponse.children",
    );
    conns.push(c);

    let mut c = Conn::new("children-null-element");
    get_children(&mut c);
    let mut p = reply_header.clone();
    p.extend_from_slice(&1i32.to_be_bytes());
    p.extend_from_slice(&(-1i32).to_be_bytes());
    c.expect_error(
        S2C,
        &frame(&p),
        "NullElement",
        "GetChildrenResponse.children",
    );
    conns.push(c);

    let mut c = Conn::new("error-reply-with-a-body");
    c.request(
        1,
        OpCode::Exists,
        &Request::Exists(zk_proto::ExistsRequest {
            path: Some("/x".into()),
            watch: false,
        }),
    );
    let mut p = encoded(|b| {
        ReplyHeader {
            xid: 1,
            zxid: 5,
            err: ErrorCode::NoNode,
        }
        .encode(b)
    });
    p.extend_from_slice(&encoded(|b| stat(5, 0).encode(b)));
    c.expect_error(S2C, &frame(&p), "TrailingBytes", "response");
    conns.push(c);

    // multi envelopes.
    let multi_header = |op: i32, done: bool, err: i32| {
        let mut h = op.to_be_bytes().to_vec();
        h.push(u8::from(done));
        h.extend_from_slice(&err.to_be_bytes());
        h
    };
    let mut c = Conn::new("multi-op-header-err-not-minus-one");
    let mut p = encoded(|b| {
        RequestHeader {
            xid: 1,
            op: OpCode::Multi,
        }
        .encode(b)
    });
    p.extend_from_slice(&multi_header(2, false, 0));
    p.extend_from_slice(&encoded(|b| {
        zk_proto::DeleteRequest {
            path: Some("/a".into()),
            version: -1,
        }
        .encode(b)
    }));
    p.extend_from_slice(&multi_header(-1, true, -1));
    c.expect_error(
        C2S,
        &frame(&p),
        "UnexpectedValue",
        "MultiOperationRecord.header.err",
    );
    conns.push(c);

    let multi_delete = |c: &mut Conn| {
        c.request(
            1,
            OpCode::Multi,
            &Request::Multi(MultiRequest {
                ops: vec![MultiOp::Delete(zk_proto::DeleteRequest {
                    path: Some("/a".into()),
                    version: -1,
                })],
            }),
        );
    };
    let mut c = Conn::new("multi-result-err-differs-from-body");
    multi_delete(&mut c);
    let mut p = reply_header.clone();
    p.extend_from_slice(&multi_header(-1, false, -101));
    p.extend_from_slice(&(-103i32).to_be_bytes());
    p.extend_from_slice(&multi_header(-1, true, -1));
    c.expect_error(
        S2C,
        &frame(&p),
        "UnexpectedValue",
        "MultiResponse.header.err",
    );
    conns.push(c);

    let mut c = Conn::new("multi-end-marker-wrong-type");
    multi_delete(&mut c);
    let mut p = reply_header.clone();
    p.extend_from_slice(&multi_header(2, false, 0));
    p.extend_from_slice(&multi_header(2, true, -1));
    c.expect_error(S2C, &frame(&p), "UnexpectedValue", "MultiResponse.end");
    conns.push(c);

    let mut c = Conn::new("multi-without-end-marker");
    multi_delete(&mut c);
    let mut p = reply_header.clone();
    p.extend_from_slice(&multi_header(2, false, 0));
    c.expect_error(S2C, &frame(&p), "UnexpectedEnd", "MultiHeader.type");
    conns.push(c);

    conns.into_iter().flat_map(|c| c.lines).collect()
}

/// The lines as a file's contents.
pub fn file_contents(lines: &[String]) -> String {
    let mut text = lines.join("\n");
    text.push('\n');
    text
}
