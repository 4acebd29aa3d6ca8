//! The capture format (JSON Lines, one frame a line) and decoding whole recordings.
//!
//! ```text
//! {"conn": 0, "dir": "c2s", "hex": "0000002d00000000..."}
//! ```
//!
//! `conn` is an opaque connection id (string or number), `dir` is `c2s` or `s2c`, `hex` is the
//! whole frame including its 4-byte length prefix. Other keys are kept in [`VectorFrame::extra`]
//! (negative vectors use `expect` and `note`).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use zk_proto::frame::{FrameDecoder, LENGTH_PREFIX_LEN};
use zk_proto::{Conversation, DecodeError, Direction, Frame};

/// One line of a recording.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorFrame {
    /// The 1-based line number in its file.
    pub line: usize,
    /// The connection id, as a string (numbers are written in decimal).
    pub conn: String,
    /// Which way the frame travelled.
    pub dir: Direction,
    /// The whole frame, length prefix included.
    pub frame: Bytes,
    /// Any other keys of the line.
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The directory holding the vector files (`proto-tests/vectors`).
pub fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

/// The `*.jsonl` files directly in `dir`, sorted by name.
pub fn jsonl_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// The positive vector files: every frame in them decodes and round-trips.
pub fn positive_files() -> Vec<PathBuf> {
    jsonl_files(&vectors_dir())
}

/// The negative vector files (`vectors/negative/*.jsonl`).
pub fn negative_files() -> Vec<PathBuf> {
    jsonl_files(&vectors_dir().join("negative"))
}

/// Parses a recording; blank lines are skipped.
pub fn parse(text: &str) -> Result<Vec<VectorFrame>, String> {
    let mut frames = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let mut object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(line).map_err(|e| format!("line {number}: {e}"))?;
        let conn = match object.remove("conn") {
            Some(serde_json::Value::String(s)) => s,
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => return Err(format!("line {number}: conn must be a string or a number")),
        };
        let dir = match object.remove("dir").as_ref().and_then(|d| d.as_str()) {
            Some("c2s") => Direction::ClientToServer,
            Some("s2c") => Direction::ServerToClient,
            _ => return Err(format!("line {number}: dir must be c2s or s2c")),
        };
        let frame = object
            .remove("hex")
            .as_ref()
            .and_then(|h| h.as_str())
            .and_then(crate::hex::decode)
            .ok_or_else(|| format!("line {number}: hex missing or not hex"))?;
        frames.push(VectorFrame {
            line: number,
            conn,
            dir,
            frame: Bytes::from(frame),
            extra: object,
        });
    }
    Ok(frames)
}

/// Reads and parses a recording.
pub fn load(path: &Path) -> Result<Vec<VectorFrame>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// One line of the capture format.
pub fn format_line(conn: &str, dir: Direction, frame: &[u8]) -> String {
    let mut line = String::new();
    let conn = serde_json::Value::String(conn.to_owned());
    let dir = match dir {
        Direction::ClientToServer => "c2s",
        Direction::ServerToClient => "s2c",
    };
    let _ = write!(
        line,
        "{{\"conn\": {conn}, \"dir\": \"{dir}\", \"hex\": \"{}\"}}",
        crate::hex::encode(frame)
    );
    line
}

/// The payload of a whole frame, with `decoder`'s length checks. A frame shorter than its prefix
/// says is `UnexpectedEnd` and one longer is `TrailingBytes`, both with context `"frame"`.
pub fn split_frame(frame: &Bytes, decoder: &FrameDecoder) -> Result<Bytes, DecodeError> {
    let mut buf = BytesMut::from(&frame[..]);
    match decoder.decode(&mut buf)? {
        Some(payload) if buf.is_empty() => Ok(payload),
        Some(_) => Err(DecodeError::TrailingBytes {
            context: "frame",
            count: buf.len(),
        }),
        None => {
            let needed = decoder
                .peek_len(frame)?
                .map_or(LENGTH_PREFIX_LEN, |len| LENGTH_PREFIX_LEN + len);
            Err(DecodeError::UnexpectedEnd {
                context: "frame",
                needed,
                remaining: frame.len(),
            })
        }
    }
}

/// Decodes every frame of a recording, one [`Conversation`] per connection, in file order, with
/// the default frame size limit.
pub fn decode_all(frames: &[VectorFrame]) -> Vec<Result<Frame, DecodeError>> {
    let decoder = FrameDecoder::default();
    let mut conversations: HashMap<&str, Conversation> = HashMap::new();
    frames
        .iter()
        .map(|f| {
            let payload = split_frame(&f.frame, &decoder)?;
            conversations
                .entry(f.conn.as_str())
                .or_default()
                .decode(f.dir, payload)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_round_trips_through_format_and_parse() {
        let line = format_line("kazoo-1", Direction::ServerToClient, &[0, 0, 0, 1, 0xab]);
        let frames = parse(&line).unwrap();
        assert_eq!(frames[0].conn, "kazoo-1");
        assert_eq!(frames[0].dir, Direction::ServerToClient);
        assert_eq!(&frames[0].frame[..], &[0, 0, 0, 1, 0xab]);
    }

    #[test]
    fn numeric_conn_ids_and_extra_keys_are_kept() {
        let frames = parse(r#"{"conn": 3, "dir": "c2s", "hex": "00", "expect": "X"}"#).unwrap();
        assert_eq!(frames[0].conn, "3");
        assert_eq!(frames[0].extra["expect"], "X");
    }

    #[test]
    fn short_and_long_frames_are_framing_errors() {
        let d = FrameDecoder::default();
        let short = Bytes::from_static(&[0, 0, 0, 2, 1]);
        assert_eq!(
            split_frame(&short, &d),
            Err(DecodeError::UnexpectedEnd {
                context: "frame",
                needed: 6,
                remaining: 5
            })
        );
        let long = Bytes::from_static(&[0, 0, 0, 0, 1]);
        assert_eq!(
            split_frame(&long, &d),
            Err(DecodeError::TrailingBytes {
                context: "frame",
                count: 1
            })
        );
    }
}
