//! `zk wire`: record the ZooKeeper client protocol through a proxy, and decode recordings.
//!
//! # Capture format
//!
//! JSON Lines, one frame a line:
//!
//! ```text
//! {"conn": 0, "dir": "c2s", "hex": "0000002d00000000..."}
//! ```
//!
//! `conn` is an opaque connection id (string or number), `dir` is `c2s` (client to server) or
//! `s2c`, and `hex` is the whole frame, its 4-byte length prefix included, in lowercase hex.
//! Lines of one connection are in wire order per direction, and a request comes before its reply.
//!
//! # `zk wire record --listen ADDR --upstream ADDR --out FILE`
//!
//! A TCP proxy (the testkit's `FaultProxy`) that forwards connections from `ADDR` to the upstream
//! server and appends every frame to `FILE`, flushed frame by frame. It prints the address it
//! listens on as the only line of stdout (useful with `--listen 127.0.0.1:0`) and runs until
//! SIGINT or SIGTERM. Four-letter-word connections (`ruok`, `srvr`) are forwarded but not
//! recorded.
//!
//! # `zk wire decode FILE|-`
//!
//! Prints one JSON object per input line, with:
//!
//! - `conn`, `dir`: copied from the input;
//! - `kind`: `connect` (the first frame each way), `request`, `response` or `notification`;
//! - `xid`, `op`: the header's xid and ZooKeeper's op name (a response gets the op of the request
//!   it answers, matched by xid);
//! - `path`: for requests whose record starts with a path, and for notifications;
//! - `err`, `zxid`: for server frames after the handshake (`err` as its number);
//! - `body`: the decoded record with jute's field names: buffers as lowercase hex, jute's null as
//!   JSON null, nested records as objects, **enums as their numbers** (the top-level `op` is the
//!   only name), multi as `{"ops": [...]}` with each op's or result's `type`, `err` (results) and
//!   fields;
//! - `roundtrip`: whether encoding the decoded value reproduces the frame byte for byte (when it
//!   does not, `reencoded` holds what the encoder wrote);
//! - `error` instead of `body` when the frame (or the line) does not decode, with `roundtrip`
//!   false.
//!
//! One conversation decoder per `conn` matches replies to requests. Decoding never stops at a bad
//! line. The exit status is 0 when every frame decoded and round-tripped, 1 otherwise.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bytes::{Bytes, BytesMut};
use clap::{Args, Subcommand};
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use zk_proto::frame::FrameDecoder;
use zk_proto::{Conversation, Direction, Frame, Value};

use crate::Failure;

/// `zk wire`: the wire protocol tools.
#[derive(Debug, Args)]
pub struct WireArgs {
    #[command(subcommand)]
    command: WireCommand,
}

#[derive(Debug, Subcommand)]
enum WireCommand {
    /// Run a recording proxy: forward connections to a server, writing every frame as JSON Lines.
    Record(RecordArgs),
    /// Decode a recording (JSON Lines of frames) into one JSON object per frame.
    Decode(DecodeArgs),
}

#[derive(Debug, Args)]
struct RecordArgs {
    /// Where to listen, e.g. 127.0.0.1:2182 (port 0 picks a free one; the address is printed).
    #[arg(long)]
    listen: String,
    /// The ZooKeeper server to forward to, e.g. 127.0.0.1:2181.
    #[arg(long)]
    upstream: String,
    /// The recording to write (created or truncated).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, Args)]
struct DecodeArgs {
    /// The recording to decode, or `-` for stdin.
    file: PathBuf,
}

/// Runs `zk wire ...`.
pub(crate) fn run(args: WireArgs) -> Result<ExitCode, Failure> {
    match args.command {
        WireCommand::Record(args) => record(&args),
        WireCommand::Decode(args) => decode(&args.file),
    }
}

fn record(args: &RecordArgs) -> Result<ExitCode, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Caught before the address is printed: from then on whoever started us may stop us, and
    // the proxy's threads work while this one would still be installing the handlers.
    let mut shutdown = runtime.block_on(async { crate::signals::Shutdown::new() })?;
    let proxy = zk_testkit::FaultProxy::bind(
        args.listen.as_str(),
        args.upstream.as_str(),
        Some(&args.out),
    )
    .map_err(|e| format!("cannot record on {}: {e}", args.listen))?;
    {
        let mut stdout = io::stdout().lock();
        writeln!(stdout, "{}", proxy.addr())?;
        stdout.flush()?;
    }
    eprintln!(
        "zk: recording {} -> {} into {}; stop with SIGINT or SIGTERM",
        proxy.addr(),
        args.upstream,
        args.out.display()
    );
    runtime.block_on(shutdown.recv());
    drop(proxy);
    Ok(ExitCode::SUCCESS)
}

fn decode(file: &Path) -> Result<ExitCode, Failure> {
    let stdout = io::stdout().lock();
    let mut out = BufWriter::new(stdout);
    let summary = if file == Path::new("-") {
        decode_lines(io::stdin().lock(), &mut out)
    } else {
        let input = File::open(file).map_err(|e| format!("cannot open {}: {e}", file.display()))?;
        decode_lines(BufReader::new(input), &mut out)
    };
    let summary = match summary {
        Ok(summary) => summary,
        // A closed pipe (`zk wire decode x | head`) is not a failure of the decoder.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        Err(e) => return Err(e.into()),
    };
    match out.flush() {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        other => other?,
    }
    if summary.failed == 0 {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(Failure(format!(
            "{} of {} lines did not decode or round-trip",
            summary.failed, summary.lines
        )))
    }
}

/// Counts of a decoding run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Summary {
    /// Lines decoded (blank lines are skipped and not counted).
    pub(crate) lines: usize,
    /// Lines that did not decode, or decoded but did not round-trip.
    pub(crate) failed: usize,
}

/// Decodes every line of `input`, writing one JSON line each to `out`.
pub(crate) fn decode_lines(input: impl BufRead, out: &mut impl Write) -> io::Result<Summary> {
    let mut conversations: HashMap<String, Conversation> = HashMap::new();
    let mut summary = Summary::default();
    for (index, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        summary.lines += 1;
        let decoded = decode_line(&line, index + 1, &mut conversations);
        if decoded.roundtrip != Some(true) {
            summary.failed += 1;
        }
        serde_json::to_writer(&mut *out, &decoded)?;
        out.write_all(b"\n")?;
    }
    Ok(summary)
}

/// One output line.
#[derive(Debug, Default, Serialize)]
struct Decoded {
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    conn: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dir: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    xid: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    op: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    err: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    zxid: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<Json>,
    #[serde(skip_serializing_if = "Option::is_none")]
    roundtrip: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reencoded: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// The input line as JSON.
#[derive(serde::Deserialize)]
struct Captured {
    conn: serde_json::Value,
    dir: serde_json::Value,
    hex: String,
}

fn decode_line(
    line: &str,
    number: usize,
    conversations: &mut HashMap<String, Conversation>,
) -> Decoded {
    let failed = |decoded: Decoded, error: String| Decoded {
        roundtrip: Some(false),
        error: Some(error),
        ..decoded
    };
    let captured: Captured = match serde_json::from_str(line) {
        Ok(c) => c,
        Err(e) => {
            let decoded = Decoded {
                line: Some(number),
                ..Decoded::default()
            };
            return failed(decoded, format!("line {number}: not a frame record: {e}"));
        }
    };
    let mut decoded = Decoded {
        conn: Some(captured.conn.clone()),
        dir: Some(captured.dir.clone()),
        ..Decoded::default()
    };
    let dir = match captured.dir.as_str() {
        Some("c2s") => Direction::ClientToServer,
        Some("s2c") => Direction::ServerToClient,
        _ => {
            decoded.line = Some(number);
            return failed(
                decoded,
                format!("line {number}: dir must be \"c2s\" or \"s2c\""),
            );
        }
    };
    let conn_key = match &captured.conn {
        serde_json::Value::String(s) => format!("s:{s}"),
        serde_json::Value::Number(n) => format!("n:{n}"),
        _ => {
            decoded.line = Some(number);
            return failed(
                decoded,
                format!("line {number}: conn must be a string or a number"),
            );
        }
    };
    let frame = match hex_decode(&captured.hex) {
        Some(frame) => frame,
        None => {
            decoded.line = Some(number);
            return failed(
                decoded,
                format!("line {number}: hex is not an even number of hex digits"),
            );
        }
    };
    let payload = match split_frame(frame.clone()) {
        Ok(payload) => payload,
        Err(e) => {
            decoded.line = Some(number);
            return failed(decoded, format!("line {number}: {e}"));
        }
    };
    let conversation = conversations.entry(conn_key).or_default();
    match conversation.decode(dir, payload) {
        Ok(frame_value) => {
            describe_frame(&frame_value, &mut decoded);
            let reencoded = frame_value.to_frame_bytes();
            let roundtrip = reencoded == frame;
            decoded.roundtrip = Some(roundtrip);
            if !roundtrip {
                decoded.line = Some(number);
                decoded.reencoded = Some(hex_encode(&reencoded));
            }
            decoded
        }
        Err(e) => {
            decoded.line = Some(number);
            failed(decoded, e.to_string())
        }
    }
}

/// The payload of a whole frame, checking that its length prefix matches its size.
fn split_frame(frame: Bytes) -> Result<Bytes, String> {
    let total = frame.len();
    let mut buf = BytesMut::from(&frame[..]);
    // A recording is already in memory: accept any non-negative length.
    let decoder = FrameDecoder::new(i32::MAX as usize);
    match decoder.decode(&mut buf) {
        Ok(Some(payload)) if buf.is_empty() => Ok(payload),
        Ok(Some(payload)) => Err(format!(
            "length prefix says {} bytes but the frame holds {}",
            payload.len(),
            total - 4
        )),
        Ok(None) if total < 4 => Err(format!("frame of {total} bytes has no length prefix")),
        Ok(None) => Err(format!(
            "length prefix says {} bytes but the frame holds {}",
            decoder.peek_len(&frame).ok().flatten().unwrap_or_default(),
            total - 4
        )),
        Err(e) => Err(e.to_string()),
    }
}

fn describe_frame(frame: &Frame, decoded: &mut Decoded) {
    match frame {
        Frame::ConnectRequest(r) => {
            decoded.kind = Some("connect");
            decoded.body = Some(Json::from(&zk_proto::Jute::describe(r)));
        }
        Frame::ConnectResponse(r) => {
            decoded.kind = Some("connect");
            decoded.body = Some(Json::from(&zk_proto::Jute::describe(r)));
        }
        Frame::Request { header, body } => {
            decoded.kind = Some("request");
            decoded.xid = Some(header.xid);
            decoded.op = Some(header.op.name());
            decoded.path = body.path().map(str::to_owned);
            decoded.body = Some(Json::from(&body.describe()));
        }
        Frame::Response { header, op, body } => {
            decoded.kind = Some("response");
            decoded.xid = Some(header.xid);
            decoded.op = Some(op.name());
            decoded.err = Some(header.err.as_i32());
            decoded.zxid = Some(header.zxid);
            decoded.body = Some(Json::from(&body.describe()));
        }
        Frame::Notification { header, event } => {
            decoded.kind = Some("notification");
            decoded.xid = Some(header.xid);
            decoded.op = Some(zk_proto::OpCode::Notification.name());
            decoded.path = event.path.clone();
            decoded.err = Some(header.err.as_i32());
            decoded.zxid = Some(header.zxid);
            decoded.body = Some(Json::from(&zk_proto::Jute::describe(event)));
        }
    }
}

/// A decoded record as JSON, with its fields in declaration order.
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    List(Vec<Json>),
    Object(Vec<(&'static str, Json)>),
}

impl From<&Value> for Json {
    fn from(value: &Value) -> Self {
        match value {
            Value::Int(n) => Json::Int(*n),
            Value::Bool(b) => Json::Bool(*b),
            Value::Str(None) | Value::Buf(None) | Value::List(None) => Json::Null,
            Value::Str(Some(s)) => Json::Str(s.clone()),
            Value::Buf(Some(b)) => Json::Str(hex_encode(b)),
            Value::List(Some(items)) => Json::List(items.iter().map(Json::from).collect()),
            Value::Record(fields) => Json::Object(
                fields
                    .iter()
                    .map(|(name, value)| (*name, Json::from(value)))
                    .collect(),
            ),
            Value::Enum(_, n) => Json::Int(i64::from(*n)),
        }
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => serializer.serialize_none(),
            Json::Bool(b) => serializer.serialize_bool(*b),
            Json::Int(n) => serializer.serialize_i64(*n),
            Json::Str(s) => serializer.serialize_str(s),
            Json::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Json::Object(fields) => {
                let mut map = serializer.serialize_map(Some(fields.len()))?;
                for (name, value) in fields {
                    map.serialize_entry(name, value)?;
                }
                map.end()
            }
        }
    }
}

/// Lowercase hex of `bytes`.
fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// The bytes of a hex string (either case); `None` unless it is an even number of hex digits.
fn hex_decode(text: &str) -> Option<Bytes> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let text = text.as_bytes();
    if text.len() % 2 != 0 {
        return None;
    }
    text.chunks_exact(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect::<Option<Vec<u8>>>()
        .map(Bytes::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_decode(input: &str) -> (Summary, Vec<serde_json::Value>) {
        let mut out = Vec::new();
        let summary = decode_lines(input.as_bytes(), &mut out).unwrap();
        let lines = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (summary, lines)
    }

    /// A new-session handshake and a getData of `/a` answered by NONODE.
    const CONVERSATION: &str = concat!(
        r#"{"conn": 7, "dir": "c2s", "hex": "0000002d000000000000000000000000000075300000000000000000000000100000000000000000000000000000000000"}"#,
        "\n",
        r#"{"conn": 7, "dir": "s2c", "hex": "0000002500000000000075300100000000000000000000100000000000000000000000000000000000"}"#,
        "\n",
        r#"{"conn": 7, "dir": "c2s", "hex": "0000000f0000000100000004000000022f6100"}"#,
        "\n",
        r#"{"conn": 7, "dir": "s2c", "hex": "00000010000000010000000000000005ffffff9b"}"#,
        "\n",
    );

    #[test]
    fn a_conversation_decodes_with_ops_paths_and_errors() {
        let (summary, lines) = run_decode(CONVERSATION);
        assert_eq!(
            summary,
            Summary {
                lines: 4,
                failed: 0
            }
        );
        assert_eq!(lines[0]["kind"], "connect");
        assert_eq!(lines[0]["body"]["timeOut"], 30000);
        assert_eq!(lines[0]["body"]["passwd"], "00".repeat(16));
        assert_eq!(lines[1]["body"]["sessionId"], 0x0100_0000_0000_0000_i64);
        assert_eq!(lines[2]["kind"], "request");
        assert_eq!(lines[2]["op"], "getData");
        assert_eq!(lines[2]["path"], "/a");
        assert_eq!(lines[2]["body"]["watch"], false);
        assert_eq!(lines[3]["kind"], "response");
        assert_eq!(lines[3]["op"], "getData");
        assert_eq!(lines[3]["err"], -101);
        assert_eq!(lines[3]["zxid"], 5);
        assert!(lines.iter().all(|l| l["roundtrip"] == true));
        assert_eq!(lines[0]["conn"], 7);
    }

    #[test]
    fn output_keeps_the_documented_field_order() {
        let mut out = Vec::new();
        decode_lines(CONVERSATION.as_bytes(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let reply = text.lines().nth(3).unwrap();
        assert!(
            reply.starts_with(
                r#"{"conn":7,"dir":"s2c","kind":"response","xid":1,"op":"getData","err":-101,"zxid":5,"body":{},"roundtrip":true}"#
            ),
            "{reply}"
        );
    }

    #[test]
    fn bad_lines_are_reported_and_decoding_goes_on() {
        let input = format!(
            "not json\n{}\n{{\"conn\": 1, \"dir\": \"up\", \"hex\": \"00\"}}\n",
            r#"{"conn": "a", "dir": "c2s", "hex": "0000000500"}"#
        );
        let (summary, lines) = run_decode(&input);
        assert_eq!(
            summary,
            Summary {
                lines: 3,
                failed: 3
            }
        );
        assert_eq!(lines.len(), 3);
        assert!(lines.iter().all(|l| l["roundtrip"] == false));
        assert!(lines[0]["error"].as_str().unwrap().contains("line 1"));
        assert!(
            lines[1]["error"]
                .as_str()
                .unwrap()
                .contains("length prefix says 5 bytes but the frame holds 1")
        );
        assert_eq!(lines[1]["conn"], "a");
        assert!(lines[2]["error"].as_str().unwrap().contains("dir"));
    }

    #[test]
    fn a_frame_that_does_not_decode_gets_an_error_not_a_body() {
        // A connect request cut after its protocol version.
        let (summary, lines) =
            run_decode(r#"{"conn": 1, "dir": "c2s", "hex": "0000000400000000"}"#);
        assert_eq!(summary.failed, 1);
        assert!(lines[0].get("body").is_none());
        assert!(
            lines[0]["error"]
                .as_str()
                .unwrap()
                .contains("ConnectRequest.lastZxidSeen")
        );
    }

    #[test]
    fn connections_are_decoded_independently() {
        let two = CONVERSATION.replace("\"conn\": 7", "\"conn\": \"x\"");
        let input = format!("{CONVERSATION}{two}");
        let (summary, _) = run_decode(&input);
        assert_eq!(summary.failed, 0);
    }

    #[test]
    fn hex_round_trips() {
        let bytes = hex_decode("00ff7fA0").unwrap();
        assert_eq!(&bytes[..], &[0, 0xff, 0x7f, 0xa0]);
        assert_eq!(hex_encode(&bytes), "00ff7fa0");
        assert!(hex_decode("0").is_none());
        assert!(hex_decode("zz").is_none());
    }
}
