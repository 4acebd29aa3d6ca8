//! Golden vectors: every frame captured from real peers (and every handcrafted one) decodes
//! through `Conversation` and re-encodes byte for byte; a readable subset of values is checked
//! against what the server and clients are known to send.

use std::collections::BTreeSet;
use std::path::Path;

use proto_tests::vectors::{self, VectorFrame};
use zk_proto::{
    ConnectRequest, ConnectResponse, ErrorCode, Frame, MultiResult, OpCode, ReplyHeader, Request,
    RequestHeader, Response,
};

/// One vector file, decoded.
struct Transcript {
    frames: Vec<(VectorFrame, Frame)>,
}

impl Transcript {
    fn load(name: &str) -> Transcript {
        let path = vectors::vectors_dir().join(name);
        Self::load_path(&path)
    }

    fn load_path(path: &Path) -> Transcript {
        let raw = vectors::load(path).unwrap();
        let decoded = vectors::decode_all(&raw);
        let frames = raw
            .into_iter()
            .zip(decoded)
            .map(|(f, d)| {
                let d = d.unwrap_or_else(|e| {
                    panic!("{}:{}: {e}", path.display(), f.line);
                });
                (f, d)
            })
            .collect();
        Transcript { frames }
    }

    fn requests(&self) -> impl Iterator<Item = (&VectorFrame, &RequestHeader, &Request)> {
        self.frames.iter().filter_map(|(f, d)| match d {
            Frame::Request { header, body } => Some((f, header, body)),
            _ => None,
        })
    }

    /// The first request for `op` on `path`, with its whole frame.
    fn request(&self, op: OpCode, path: &str) -> (&VectorFrame, &RequestHeader, &Request) {
        self.requests()
            .find(|(_, h, b)| h.op == op && b.path() == Some(path))
            .unwrap_or_else(|| panic!("no {op:?} request for {path}"))
    }

    /// The reply to the first request for `op` on `path`.
    fn reply(&self, op: OpCode, path: &str) -> (&VectorFrame, &ReplyHeader, &Response) {
        let (req, header, _) = self.request(op, path);
        self.frames
            .iter()
            .filter(|(f, _)| f.conn == req.conn && f.line > req.line)
            .find_map(|(f, d)| match d {
                Frame::Response {
                    header: h, body, ..
                } if h.xid == header.xid => Some((f, h, body)),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no reply to {op:?} {path}"))
    }

    /// Every reply to `op`.
    fn replies(&self, op: OpCode) -> Vec<(&VectorFrame, &ReplyHeader, &Response)> {
        self.frames
            .iter()
            .filter_map(|(f, d)| match d {
                Frame::Response {
                    header,
                    op: o,
                    body,
                } if *o == op => Some((f, header, body)),
                _ => None,
            })
            .collect()
    }

    fn connect_requests(&self) -> Vec<(&VectorFrame, &ConnectRequest)> {
        self.frames
            .iter()
            .filter_map(|(f, d)| match d {
                Frame::ConnectRequest(r) => Some((f, r)),
                _ => None,
            })
            .collect()
    }

    fn connect_responses(&self) -> Vec<(&VectorFrame, &ConnectResponse)> {
        self.frames
            .iter()
            .filter_map(|(f, d)| match d {
                Frame::ConnectResponse(r) => Some((f, r)),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn every_vector_frame_decodes_and_round_trips_byte_for_byte() {
    let files = vectors::positive_files();
    assert!(files.len() >= 5, "vector files missing: {files:?}");
    let mut total = 0;
    for path in files {
        let raw = vectors::load(&path).unwrap();
        assert!(!raw.is_empty(), "{} is empty", path.display());
        for (f, d) in raw.iter().zip(vectors::decode_all(&raw)) {
            let frame = d.unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), f.line));
            assert_eq!(
                frame.to_frame_bytes(),
                f.frame,
                "{}:{} does not round-trip",
                path.display(),
                f.line
            );
            total += 1;
        }
    }
    assert!(total > 300, "only {total} frames");
}

#[test]
fn vectors_cover_every_op_a_client_sends() {
    let mut ops = BTreeSet::new();
    for path in vectors::positive_files() {
        for (_, header, _) in Transcript::load_path(&path).requests() {
            ops.insert(header.op.name());
        }
    }
    for op in [
        OpCode::Create,
        OpCode::Delete,
        OpCode::Exists,
        OpCode::GetData,
        OpCode::SetData,
        OpCode::GetACL,
        OpCode::SetACL,
        OpCode::GetChildren,
        OpCode::Sync,
        OpCode::Ping,
        OpCode::GetChildren2,
        OpCode::Check,
        OpCode::Multi,
        OpCode::Create2,
        OpCode::Reconfig,
        OpCode::CheckWatches,
        OpCode::RemoveWatches,
        OpCode::CreateContainer,
        OpCode::CreateTTL,
        OpCode::MultiRead,
        OpCode::Auth,
        OpCode::SetWatches,
        OpCode::Sasl,
        OpCode::GetEphemerals,
        OpCode::GetAllChildrenNumber,
        OpCode::SetWatches2,
        OpCode::AddWatch,
        OpCode::WhoAmI,
        OpCode::CloseSession,
    ] {
        assert!(
            ops.contains(op.name()),
            "no {} request in the vectors",
            op.name()
        );
    }
}

#[test]
fn java_client_handshake_is_45_bytes_and_the_server_answers_37() {
    let t = Transcript::load("zkcli-3.8.0.jsonl");
    let (f, req) = t.connect_requests()[0];
    assert_eq!(f.frame.len(), 4 + 45);
    assert_eq!(req.session_id, 0);
    assert_eq!(req.passwd.as_deref(), Some(&[0u8; 16][..]));
    assert_eq!(req.read_only, Some(false));
    let (f, resp) = t.connect_responses()[0];
    assert_eq!(f.frame.len(), 4 + 37);
    assert_eq!(resp.time_out, 6000, "zkCli asked for -timeout 6000");
    assert_eq!(resp.passwd.as_ref().map(|p| p.len()), Some(16));
}

#[test]
fn pre_3_5_handshake_is_44_bytes_and_gets_a_36_byte_answer() {
    let t = Transcript::load("raw-zk-proto.jsonl");
    let (f, req) = t.connect_requests()[0];
    assert_eq!(f.frame.len(), 4 + 44);
    assert_eq!(req.read_only, None);
    let (f, resp) = t.connect_responses()[0];
    assert_eq!(f.frame.len(), 4 + 36);
    assert_eq!(resp.read_only, None);
    assert!(!resp.is_expired());
}

#[test]
fn resuming_an_expired_session_gets_timeout_zero_and_session_zero() {
    for name in ["zkcli-3.8.0.jsonl", "raw-zk-proto.jsonl"] {
        let t = Transcript::load(name);
        let responses = t.connect_responses();
        let (f, expired) = responses.last().unwrap();
        assert!(expired.is_expired(), "{name}");
        assert_eq!(expired.time_out, 0);
        assert_eq!(expired.session_id, 0);
        assert_eq!(expired.passwd.as_deref(), Some(&[0u8; 16][..]));
        // The request on that connection asked to resume a real session.
        let (_, req) = t
            .connect_requests()
            .into_iter()
            .find(|(r, _)| r.conn == f.conn)
            .unwrap();
        assert_ne!(req.session_id, 0);
    }
}

#[test]
fn sequential_create_appends_ten_digits_of_the_parent_cversion() {
    let t = Transcript::load("zkcli-3.8.0.jsonl");
    let (_, h, body) = t.reply(OpCode::Create, "/zkcli/seq-");
    assert!(h.err.is_ok());
    let Response::Create(r) = body else {
        panic!("{body:?}")
    };
    let name = r.path.as_deref().unwrap();
    let suffix = name.strip_prefix("/zkcli/seq-").unwrap();
    assert_eq!(suffix.len(), 10);
    assert!(suffix.bytes().all(|b| b.is_ascii_digit()));
}

#[test]
fn stat_fields_follow_the_writes_that_made_them() {
    let t = Transcript::load("zkcli-3.8.0.jsonl");
    // `set /zkcli/a v2`: the first write after the create, so data version 1.
    let (_, _, body) = t.reply(OpCode::SetData, "/zkcli/a");
    let Response::SetData(r) = body else {
        panic!("{body:?}")
    };
    assert_eq!(r.stat.version, 1);
    assert_eq!(r.stat.data_length, 2);
    assert!(r.stat.mzxid > r.stat.czxid);
    assert_eq!(r.stat.ephemeral_owner, 0);
    // An ephemeral node's owner is the session.
    let session = t.connect_responses()[0].1.session_id;
    let (_, _, body) = t.reply(OpCode::GetChildren2, "/zkcli");
    let Response::GetChildren2(r) = body else {
        panic!("{body:?}")
    };
    assert!(r.children.as_ref().unwrap().contains(&"eph".to_owned()));
    let eph_owner_seen = t.replies(OpCode::GetEphemerals).iter().any(|(_, _, b)| {
        matches!(b, Response::GetEphemerals(e)
            if e.ephemerals.as_ref().unwrap().contains(&"/zkcli/eph".to_owned()))
    });
    assert!(eph_owner_seen);
    assert_ne!(session, 0);
    // Containers and TTL nodes show ephemeralOwner 0 to clients.
    for (op, path) in [
        (OpCode::CreateContainer, "/zkcli/container"),
        (OpCode::CreateTTL, "/zkcli/ttl"),
    ] {
        let (_, _, body) = t.reply(op, path);
        let Response::Create2(r) = body else {
            panic!("{body:?}")
        };
        assert_eq!(r.stat.ephemeral_owner, 0, "{path}");
        assert_eq!(r.path.as_deref(), Some(path));
    }
}

#[test]
fn error_replies_are_a_bare_16_byte_header() {
    let t = Transcript::load("zkcli-3.8.0.jsonl");
    for (op, path, err) in [
        (OpCode::Create, "/zkcli", ErrorCode::Ok),
        (OpCode::Exists, "/zkcli/missing", ErrorCode::NoNode),
        (OpCode::GetData, "/zkcli/missing", ErrorCode::NoNode),
        (OpCode::Delete, "/zkcli", ErrorCode::NotEmpty),
        (OpCode::Delete, "/zkcli/a", ErrorCode::BadVersion),
        (OpCode::SetData, "/zkcli/ro", ErrorCode::NoAuth),
    ] {
        let (f, h, body) = t.reply(op, path);
        assert_eq!(h.err, err, "{op:?} {path}");
        if !err.is_ok() {
            assert_eq!(f.frame.len(), 4 + 16, "{op:?} {path}");
            assert_eq!(body, &Response::Empty);
        }
    }
    // The second `create /zkcli` is NODEEXISTS.
    let existing: Vec<_> = t
        .replies(OpCode::Create)
        .into_iter()
        .filter(|(_, h, _)| h.err == ErrorCode::NodeExists)
        .collect();
    assert_eq!(existing.len(), 1);
}

#[test]
fn failed_multi_is_all_error_results_zero_then_the_error_then_runtime_inconsistency() {
    let t = Transcript::load("kazoo-2.11.0.jsonl");
    let shapes: Vec<Vec<(OpCode, i32)>> = t
        .replies(OpCode::Multi)
        .into_iter()
        .map(|(_, h, body)| {
            assert!(
                h.err.is_ok(),
                "a failed multi still has err 0 in its header"
            );
            let Response::Multi(m) = body else {
                panic!("{body:?}")
            };
            m.results
                .iter()
                .map(|r| match r {
                    MultiResult::Error(e) => (OpCode::Error, e.err),
                    other => (other.op_code(), 0),
                })
                .collect()
        })
        .collect();
    assert_eq!(
        shapes,
        vec![
            vec![
                (OpCode::Create, 0),
                (OpCode::SetData, 0),
                (OpCode::Check, 0),
                (OpCode::Delete, 0)
            ],
            vec![
                (OpCode::Error, 0),
                (OpCode::Error, -103),
                (OpCode::Error, -2)
            ],
        ]
    );
}

#[test]
fn create2_inside_multi_gets_a_create_result_without_stat_on_3_8() {
    let t = Transcript::load("raw-zk-proto.jsonl");
    let (_, _, body) = t
        .replies(OpCode::Multi)
        .into_iter()
        .find(|(_, h, _)| h.err.is_ok())
        .unwrap();
    let Response::Multi(m) = body else {
        panic!("{body:?}")
    };
    let types: Vec<OpCode> = m.results.iter().map(MultiResult::op_code).collect();
    assert_eq!(
        types,
        [
            OpCode::Create,
            OpCode::Create2,
            OpCode::Create2,
            OpCode::SetData,
            OpCode::Check,
            OpCode::Delete
        ]
    );
}

#[test]
fn multi_read_reports_errors_per_op() {
    let t = Transcript::load("raw-zk-proto.jsonl");
    let replies = t.replies(OpCode::MultiRead);
    let (_, h, body) = replies[0];
    assert!(h.err.is_ok());
    let Response::Multi(m) = body else {
        panic!("{body:?}")
    };
    assert!(matches!(&m.results[0], MultiResult::GetChildren(c)
        if c.children.as_deref() == Some(&["a".to_owned(), "b".to_owned()][..])));
    assert!(matches!(&m.results[1], MultiResult::GetData(d)
        if d.data.as_deref() == Some(&b"alpha"[..])));
    assert!(matches!(&m.results[2], MultiResult::Error(e) if e.err == -101));
}

#[test]
fn refused_multi_has_no_body_but_refused_multi_read_has_an_empty_one() {
    let t = Transcript::load("raw-zk-proto.jsonl");
    let refused: Vec<_> = t
        .replies(OpCode::Multi)
        .into_iter()
        .filter(|(_, h, _)| h.err == ErrorCode::MarshallingError)
        .collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].0.frame.len(), 4 + 16);
    assert_eq!(refused[0].2, &Response::Empty);
    let (f, h, body) = t.replies(OpCode::MultiRead)[1];
    assert_eq!(h.err, ErrorCode::MarshallingError);
    assert_eq!(f.frame.len(), 4 + 16 + 9);
    assert!(matches!(body, Response::Multi(m) if m.results.is_empty()));
}

#[test]
fn add_watch_reply_has_a_four_byte_zero_body() {
    for (name, path) in [
        ("zkcli-3.8.0.jsonl", "/zkcli/rec"),
        ("raw-zk-proto.jsonl", "/raw"),
    ] {
        let t = Transcript::load(name);
        let (f, h, _) = t.reply(OpCode::AddWatch, path);
        assert!(h.err.is_ok());
        assert_eq!(&f.frame[4 + 16..], &[0, 0, 0, 0]);
    }
}

#[test]
fn watches_fire_as_notifications_with_xid_minus_one_and_zxid_minus_one() {
    let t = Transcript::load("zkcli-3.8.0.jsonl");
    let events: Vec<(i32, String)> = t
        .frames
        .iter()
        .filter_map(|(_, d)| match d {
            Frame::Notification { header, event } => {
                assert_eq!(header.xid, -1);
                assert_eq!(header.zxid, -1, "3.8 sends zxid -1 in notifications");
                assert_eq!(event.state.as_i32(), 3);
                Some((event.event_type.as_i32(), event.path.clone().unwrap()))
            }
            _ => None,
        })
        .collect();
    for expected in [
        (3, "/zkcli/a"),
        (4, "/zkcli"),
        (1, "/zkcli/later"),
        (2, "/zkcli/b"),
        (1, "/zkcli/rec/child"),
        (3, "/zkcli/per"),
    ] {
        assert!(
            events.contains(&(expected.0, expected.1.to_owned())),
            "missing {expected:?} in {events:?}"
        );
    }
}

#[test]
fn pings_use_xid_minus_two_and_have_no_body() {
    for name in ["zkcli-3.8.0.jsonl", "kazoo-2.11.0.jsonl"] {
        let t = Transcript::load(name);
        let pings = t.replies(OpCode::Ping);
        assert!(!pings.is_empty(), "{name}");
        for (f, h, _) in pings {
            assert_eq!(h.xid, -2);
            assert_eq!(f.frame.len(), 4 + 16);
        }
    }
}

#[test]
fn reconnects_rearm_watches_with_set_watches_then_set_watches_2() {
    let t = Transcript::load("zkcli-3.8.0.jsonl");
    let (_, h, Request::SetWatches(w)) = t
        .requests()
        .find(|(_, h, _)| h.op == OpCode::SetWatches)
        .unwrap()
    else {
        panic!()
    };
    assert!(h.xid > 0, "the Java client gives setWatches a normal xid");
    assert_eq!(
        w.data_watches.as_deref(),
        Some(&["/zkcli/a".to_owned()][..])
    );
    assert_eq!(
        w.exist_watches.as_deref(),
        Some(&["/zkcli/nothere".to_owned()][..])
    );
    assert_eq!(
        w.child_watches.as_deref(),
        Some(&["/zkcli/a".to_owned()][..])
    );
    let (_, _, Request::SetWatches2(w2)) = t
        .requests()
        .find(|(_, h, _)| h.op == OpCode::SetWatches2)
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        w2.persistent_recursive_watches.as_deref(),
        Some(&["/zkcli/rec".to_owned()][..])
    );
    assert_eq!(
        w2.persistent_watches.as_deref(),
        Some(&["/zkcli/per".to_owned()][..])
    );
    // The C client sends setWatches with xid -8.
    let c = Transcript::load("cli_mt-3.8.0.jsonl");
    let (_, h, _) = c
        .requests()
        .find(|(_, h, _)| h.op == OpCode::SetWatches)
        .unwrap();
    assert_eq!(h.xid, zk_proto::header::SET_WATCHES_XID);
    let (_, h, _) = c.replies(OpCode::SetWatches)[0];
    assert_eq!(h.xid, zk_proto::header::SET_WATCHES_XID);
}

#[test]
fn digest_auth_uses_xid_minus_four_and_shows_in_who_am_i() {
    let t = Transcript::load("zkcli-3.8.0.jsonl");
    let (_, h, Request::Auth(auth)) = t.requests().find(|(_, h, _)| h.op == OpCode::Auth).unwrap()
    else {
        panic!()
    };
    assert_eq!(h.xid, zk_proto::header::AUTH_XID);
    assert_eq!(auth.scheme.as_deref(), Some("digest"));
    assert_eq!(auth.auth.as_deref(), Some(&b"user:secret"[..]));
    let who: Vec<_> = t.replies(OpCode::WhoAmI);
    let Response::WhoAmI(after) = who[1].2 else {
        panic!()
    };
    let schemes: Vec<_> = after
        .client_info
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| (c.auth_scheme.clone().unwrap(), c.user.clone().unwrap()))
        .collect();
    assert_eq!(
        schemes,
        [
            ("ip".to_owned(), "127.0.0.1".to_owned()),
            ("digest".to_owned(), "user".to_owned())
        ]
    );
}

#[test]
fn kazoo_writes_an_empty_acl_id_as_null() {
    let t = Transcript::load("kazoo-2.11.0.jsonl");
    let (_, _, Request::Create(c)) = t.request(OpCode::Create, "/kazoo/creator") else {
        panic!()
    };
    let id = &c.acl.as_ref().unwrap()[0].id;
    assert_eq!(id.scheme.as_deref(), Some("auth"));
    assert_eq!(id.id, None, "kazoo sends '' as length -1");
}

#[test]
fn standalone_reconfig_is_refused_with_reconfig_disabled() {
    for name in [
        "kazoo-2.11.0.jsonl",
        "cli_mt-3.8.0.jsonl",
        "raw-zk-proto.jsonl",
    ] {
        let t = Transcript::load(name);
        let replies = t.replies(OpCode::Reconfig);
        assert!(!replies.is_empty(), "{name}");
        for (_, h, _) in replies {
            assert_eq!(h.err, ErrorCode::ReconfigDisabled, "{name}");
        }
    }
}

#[test]
fn close_session_reply_is_a_bare_header() {
    for name in [
        "cli_mt-3.8.0.jsonl",
        "kazoo-2.11.0.jsonl",
        "zkcli-3.8.0.jsonl",
    ] {
        let t = Transcript::load(name);
        let replies = t.replies(OpCode::CloseSession);
        assert!(!replies.is_empty(), "{name}");
        for (f, h, _) in replies {
            assert!(h.err.is_ok());
            assert_eq!(f.frame.len(), 4 + 16);
        }
    }
}

#[test]
fn committed_handcrafted_vectors_match_their_generator() {
    use proto_tests::handcrafted::{file_contents, handcrafted_lines, negative_lines};
    let dir = vectors::vectors_dir();
    assert_eq!(
        std::fs::read_to_string(dir.join("handcrafted.jsonl")).unwrap(),
        file_contents(&handcrafted_lines()),
        "run `cargo run -p proto-tests --example handcraft`"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("negative/negative.jsonl")).unwrap(),
        file_contents(&negative_lines()),
        "run `cargo run -p proto-tests --example handcraft`"
    );
}
