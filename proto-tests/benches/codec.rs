//! Codec throughput: encode and decode of getData replies (100 B, 10 KB, 1 MB of data), a
//! getChildren2 reply with 10,000 children, and the mixed real conversations of the golden
//! vectors. Prints a markdown table.
//!
//! ```text
//! cargo bench -p proto-tests --bench codec
//! ```
//!
//! "Encode" writes the whole frame (length prefix, header, body) into a reused buffer. For the
//! reply cases "decode" copies the frame into a receive buffer (as a socket read would), splits
//! it with `FrameDecoder`, then decodes header and body; buffers (znode data) are zero-copy
//! slices of the received frame. For the mixed conversations "decode" runs each connection's
//! payloads through a fresh `Conversation` (handshakes, requests, replies matched by xid,
//! notifications). MB/s counts frame bytes (10^6 bytes per MB).

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use proto_tests::vectors;
use zk_proto::frame::{FrameDecoder, write_frame};
use zk_proto::{
    Conversation, ErrorCode, Frame, GetChildren2Response, GetDataResponse, Jute, OpCode, Reader,
    ReplyHeader, Response, Stat,
};

/// How long each measurement runs, at least.
const MEASURE: Duration = Duration::from_millis(700);
/// The most iterations of one measurement.
const MAX_ITERATIONS: u64 = 50_000_000;

/// Runs `f` (which handles `frames` frames of `bytes` bytes in total) repeatedly for about
/// [`MEASURE`]; returns (ns per frame, MB/s).
fn measure(frames: usize, bytes: usize, mut f: impl FnMut()) -> (f64, f64) {
    // Warm up, and find a batch size of about 10 ms.
    let start = Instant::now();
    let mut batch = 1u64;
    while start.elapsed() < Duration::from_millis(10) && batch < MAX_ITERATIONS {
        for _ in 0..batch {
            f();
        }
        batch *= 2;
    }
    let mut iterations = 0u64;
    let start = Instant::now();
    while start.elapsed() < MEASURE && iterations < MAX_ITERATIONS {
        for _ in 0..batch {
            f();
        }
        iterations += batch;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let per_frame_ns = elapsed * 1e9 / (iterations as f64 * frames as f64);
    let mb_per_s = (iterations as f64 * bytes as f64) / elapsed / 1e6;
    (per_frame_ns, mb_per_s)
}

fn stat() -> Stat {
    Stat {
        czxid: 0x1_0000_0002,
        mzxid: 0x1_0000_0009,
        ctime: 1_700_000_000_000,
        mtime: 1_700_000_000_123,
        version: 3,
        cversion: 1,
        aversion: 0,
        ephemeral_owner: 0,
        data_length: 0,
        num_children: 0,
        pzxid: 0x1_0000_0002,
    }
}

/// One reply case: a header and a body for `op`.
struct Reply {
    name: String,
    op: OpCode,
    header: ReplyHeader,
    body: Response,
}

impl Reply {
    fn frame(&self) -> Bytes {
        let mut buf = BytesMut::new();
        write_frame(&mut buf, |b| {
            self.header.encode(b);
            self.body.encode(b);
        });
        buf.freeze()
    }
}

fn reply_cases() -> Vec<Reply> {
    let header = ReplyHeader {
        xid: 7,
        zxid: 0x1_0000_0009,
        err: ErrorCode::Ok,
    };
    let mut cases = Vec::new();
    for (name, size) in [("100 B", 100), ("10 KB", 10_000), ("1 MB", 1_000_000)] {
        let mut s = stat();
        s.data_length = size as i32;
        cases.push(Reply {
            name: format!("getData reply, {name} of data"),
            op: OpCode::GetData,
            header: header.clone(),
            body: Response::GetData(GetDataResponse {
                data: Some(Bytes::from(vec![0x5a; size])),
                stat: s,
            }),
        });
    }
    let children: Vec<String> = (0..10_000).map(|i| format!("member-{i:010}")).collect();
    let mut s = stat();
    s.num_children = 10_000;
    cases.push(Reply {
        name: "getChildren2 reply, 10,000 children".into(),
        op: OpCode::GetChildren2,
        header,
        body: Response::GetChildren2(GetChildren2Response {
            children: Some(children),
            stat: s,
        }),
    });
    cases
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to filter.
    let decoder = FrameDecoder::new(usize::MAX >> 1);
    let mut rows = Vec::new();
    let mut out = BytesMut::with_capacity(2 << 20);

    for case in reply_cases() {
        let frame = case.frame();
        let len = frame.len();
        let encode = measure(1, len, || {
            out.clear();
            write_frame(&mut out, |b| {
                case.header.encode(b);
                case.body.encode(b);
            });
            black_box(&out);
        });
        // The receive buffer: one frame, refilled without reallocating; the refill (a memcpy of
        // the frame, as a socket read would do) is part of the measurement.
        let mut rx = BytesMut::with_capacity(len);
        let decode = measure(1, len, || {
            rx.clear();
            rx.extend_from_slice(&frame);
            let payload = decoder.decode(&mut rx).unwrap().unwrap();
            let mut r = Reader::new(payload);
            let header = ReplyHeader::decode(&mut r, "ReplyHeader").unwrap();
            let body = Response::decode_reply(case.op, header.err, r.rest()).unwrap();
            black_box(body);
        });
        rows.push((case.name, 1, len, encode, decode));
    }

    // The mixed real conversations: every frame of every positive vector file.
    let mut files = Vec::new();
    for path in vectors::positive_files() {
        let frames = vectors::load(&path).unwrap();
        let decoded: Vec<Frame> = vectors::decode_all(&frames)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        files.push((frames, decoded));
    }
    let count: usize = files.iter().map(|(f, _)| f.len()).sum();
    let bytes: usize = files
        .iter()
        .flat_map(|(f, _)| f.iter().map(|v| v.frame.len()))
        .sum();
    let payloads: Vec<Vec<(String, zk_proto::Direction, Bytes)>> = files
        .iter()
        .map(|(frames, _)| {
            frames
                .iter()
                .map(|f| (f.conn.clone(), f.dir, f.frame.slice(4..)))
                .collect()
        })
        .collect();
    let encode = measure(count, bytes, || {
        for (_, decoded) in &files {
            for frame in decoded {
                out.clear();
                write_frame(&mut out, |b| frame.encode(b));
                black_box(&out);
            }
        }
    });
    let decode = measure(count, bytes, || {
        for file in &payloads {
            let mut conversations: std::collections::HashMap<&str, Conversation> =
                std::collections::HashMap::new();
            for (conn, dir, payload) in file {
                let frame = conversations
                    .entry(conn.as_str())
                    .or_default()
                    .decode(*dir, payload.clone())
                    .unwrap();
                black_box(frame);
            }
        }
    });
    rows.push((
        format!("mixed real conversations ({} files)", files.len()),
        count,
        bytes,
        encode,
        decode,
    ));

    println!(
        "| case | frames | bytes | encode ns/frame | encode MB/s | decode ns/frame | decode MB/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, frames, bytes, (ens, emb), (dns, dmb)) in rows {
        println!("| {name} | {frames} | {bytes} | {ens:.0} | {emb:.0} | {dns:.0} | {dmb:.0} |");
    }
}
