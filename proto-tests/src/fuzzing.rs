//! The fuzz targets' logic, as plain functions, so that `cargo test` replays the committed corpus
//! (`fuzz/corpus/<target>/`) through exactly what `cargo fuzz run <target>` executes.
//!
//! Each function takes arbitrary bytes and panics only when zk-proto breaks a promise:
//!
//! - [`frames`]: splitting a byte stream fed in arbitrary chunks gives the same frames (and the
//!   same error) as feeding it whole; no frame exceeds the maximum.
//! - [`reply`]: a reply body for any op code and error that decodes re-encodes to its input, and
//!   `encoded_len` is exact.
//! - [`request`]: the same for a request (header and body).
//! - [`connect`]: the same for `ConnectRequest` and `ConnectResponse`, with or without `readOnly`.
//! - [`conversation`]: a sequence of frames in both directions decodes without panicking, and
//!   every frame that decodes re-encodes to its bytes.
//!
//! [`seeds`] turns golden vectors into inputs for each target.

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};
use zk_proto::frame::FrameDecoder;
use zk_proto::{
    ConnectRequest, ConnectResponse, Conversation, DecodeError, Direction, ErrorCode, Frame, Jute,
    OpCode, Reader, Request, RequestHeader, Response, from_bytes,
};

use crate::vectors::{VectorFrame, split_frame};

/// The fuzz targets, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// [`frames`].
    Frames,
    /// [`reply`].
    Reply,
    /// [`request`].
    Request,
    /// [`connect`].
    Connect,
    /// [`conversation`].
    Conversation,
}

impl Target {
    /// Every target.
    pub const ALL: [Target; 5] = [
        Target::Frames,
        Target::Reply,
        Target::Request,
        Target::Connect,
        Target::Conversation,
    ];

    /// The target's name: its fuzz binary and its corpus directory.
    pub fn name(self) -> &'static str {
        match self {
            Target::Frames => "frames",
            Target::Reply => "reply",
            Target::Request => "request",
            Target::Connect => "connect",
            Target::Conversation => "conversation",
        }
    }

    /// Runs the target's function on `data`; `true` when the input decoded (at least one frame
    /// for `frames` and `conversation`).
    pub fn run(self, data: &[u8]) -> bool {
        match self {
            Target::Frames => frames(data) > 0,
            Target::Reply => reply(data),
            Target::Request => request(data),
            Target::Connect => connect(data),
            Target::Conversation => conversation(data) > 0,
        }
    }
}

/// The largest payload the [`frames`] target accepts: small, so that `FrameTooLarge` is reached.
pub const FUZZ_MAX_FRAME: usize = 4096;

/// What splitting a stream produced.
#[derive(Debug, PartialEq)]
struct Split {
    frames: Vec<Bytes>,
    error: Option<DecodeError>,
    /// Bytes left over when no error stopped the split.
    leftover: Option<usize>,
}

fn split_stream<'a>(decoder: &FrameDecoder, chunks: impl Iterator<Item = &'a [u8]>) -> Split {
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        // Each frame consumes at least its 4-byte prefix, so this loop ends.
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => {
                    assert!(frame.len() <= decoder.max_len(), "frame above the maximum");
                    frames.push(frame);
                }
                Ok(None) => break,
                Err(error) => {
                    return Split {
                        frames,
                        error: Some(error),
                        leftover: None,
                    };
                }
            }
        }
    }
    Split {
        frames,
        error: None,
        leftover: Some(buf.len()),
    }
}

/// Chunk sizes from a tiny xorshift generator seeded by `seed`: 1 to `seed + 1` bytes each.
fn chunks(stream: &[u8], seed: u8) -> impl Iterator<Item = &[u8]> {
    let mut state = u32::from(seed) | 0x9e37_7900;
    let max = usize::from(seed) + 1;
    let mut rest = stream;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let size = (1 + state as usize % max).min(rest.len());
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        Some(chunk)
    })
}

/// Target `frames`: byte 0 seeds the chunk sizes, the rest is a stream of frames. Returns the
/// number of frames split.
pub fn frames(data: &[u8]) -> usize {
    let Some((&seed, stream)) = data.split_first() else {
        return 0;
    };
    let decoder = FrameDecoder::new(FUZZ_MAX_FRAME);
    let whole = split_stream(&decoder, std::iter::once(stream));
    let chunked = split_stream(&decoder, chunks(stream, seed));
    assert_eq!(whole, chunked, "chunked framing differs from whole framing");
    let mut offset = 0;
    for frame in &whole.frames {
        let prefix = &stream[offset..offset + 4];
        assert_eq!(
            u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize,
            frame.len()
        );
        assert_eq!(&stream[offset + 4..offset + 4 + frame.len()], &frame[..]);
        offset += 4 + frame.len();
    }
    whole.frames.len()
}

/// Target `reply`: byte 0 picks the op code (an index into [`OpCode::ALL`]), byte 1 the reply
/// header's error (even: OK; odd: an index into [`ErrorCode::ALL`]), the rest is the body.
pub fn reply(data: &[u8]) -> bool {
    let [op_index, err_byte, body @ ..] = data else {
        return false;
    };
    let op = OpCode::ALL[usize::from(*op_index) % OpCode::ALL.len()];
    let err = if err_byte & 1 == 0 {
        ErrorCode::Ok
    } else {
        ErrorCode::ALL[usize::from(err_byte >> 1) % ErrorCode::ALL.len()]
    };
    let body = Bytes::copy_from_slice(body);
    match Response::decode_reply(op, err, body.clone()) {
        Ok(response) => {
            let mut buf = BytesMut::new();
            response.encode(&mut buf);
            assert_eq!(&buf[..], &body[..], "reply for {op:?} does not round-trip");
            assert_eq!(response.encoded_len(), body.len());
            let _ = response.describe();
            true
        }
        Err(e) => {
            let _ = (e.context(), e.to_string());
            false
        }
    }
}

/// Target `request`: a request payload, header included.
pub fn request(data: &[u8]) -> bool {
    let payload = Bytes::copy_from_slice(data);
    let mut r = Reader::new(payload.clone());
    let Ok(header) = RequestHeader::decode(&mut r, "RequestHeader") else {
        return false;
    };
    match Request::decode(header.op, r.rest()) {
        Ok(body) => {
            let mut buf = BytesMut::new();
            header.encode(&mut buf);
            body.encode(&mut buf);
            assert_eq!(
                &buf[..],
                data,
                "request {:?} does not round-trip",
                header.op
            );
            assert_eq!(header.encoded_len() + body.encoded_len(), data.len());
            let _ = (body.path(), body.describe());
            true
        }
        Err(e) => {
            let _ = (e.context(), e.to_string());
            false
        }
    }
}

fn round_trip<T: Jute + PartialEq + std::fmt::Debug>(
    payload: &[u8],
    context: &'static str,
) -> bool {
    match from_bytes::<T>(Bytes::copy_from_slice(payload), context) {
        Ok(value) => {
            assert_eq!(
                &zk_proto::to_bytes(&value)[..],
                payload,
                "{context} round trip"
            );
            assert_eq!(value.encoded_len(), payload.len());
            let _ = value.describe();
            true
        }
        Err(_) => false,
    }
}

/// Target `connect`: byte 0 even for a `ConnectRequest`, odd for a `ConnectResponse`; the rest
/// is the payload.
pub fn connect(data: &[u8]) -> bool {
    let Some((&which, payload)) = data.split_first() else {
        return false;
    };
    if which & 1 == 0 {
        round_trip::<ConnectRequest>(payload, "ConnectRequest")
    } else {
        round_trip::<ConnectResponse>(payload, "ConnectResponse")
    }
}

/// Target `conversation`: records of `[direction byte (even: c2s, odd: s2c)][u16 length][payload]`
/// fed to one [`Conversation`]. Returns how many frames decoded.
pub fn conversation(data: &[u8]) -> usize {
    let mut conversation = Conversation::new();
    let mut rest = data;
    let mut decoded = 0;
    // Each record consumes at least 3 bytes, so this loop ends.
    while let [dir, hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let (payload, next) = tail.split_at(len);
        rest = next;
        let dir = if dir & 1 == 0 {
            Direction::ClientToServer
        } else {
            Direction::ServerToClient
        };
        if let Ok(frame) = conversation.decode(dir, Bytes::copy_from_slice(payload)) {
            let bytes = frame.to_frame_bytes();
            assert_eq!(
                &bytes[4..],
                payload,
                "conversation frame does not round-trip"
            );
            assert_eq!(&bytes[..4], &(payload.len() as u32).to_be_bytes());
            decoded += 1;
        }
    }
    decoded
}

/// The input of [`reply`] for a reply to `op` with `err` and `body`.
pub fn reply_input(op: OpCode, err: ErrorCode, body: &[u8]) -> Option<Vec<u8>> {
    let op_index = OpCode::ALL.iter().position(|o| *o == op)?;
    let err_byte = if err.is_ok() {
        0
    } else {
        let index = ErrorCode::ALL.iter().position(|e| *e == err)?;
        (index << 1) | 1
    };
    let mut input = vec![u8::try_from(op_index).ok()?, u8::try_from(err_byte).ok()?];
    input.extend_from_slice(body);
    Some(input)
}

/// Appends one record of the [`conversation`] input format.
pub fn push_conversation_record(input: &mut Vec<u8>, dir: Direction, payload: &[u8]) {
    input.push(match dir {
        Direction::ClientToServer => 0,
        Direction::ServerToClient => 1,
    });
    let len = u16::try_from(payload.len()).unwrap_or(u16::MAX);
    input.extend_from_slice(&len.to_be_bytes());
    input.extend_from_slice(&payload[..usize::from(len)]);
}

/// Inputs for every target made from a recording: each request, reply and handshake frame, each
/// connection's client and server byte streams, and each connection as a conversation (up to
/// `max_conversation_len` bytes).
pub fn seeds(frames: &[VectorFrame], max_conversation_len: usize) -> Vec<(Target, Vec<u8>)> {
    let decoder = FrameDecoder::new(usize::MAX >> 1);
    let mut seeds = Vec::new();
    let mut conversations: HashMap<&str, Conversation> = HashMap::new();
    let mut streams: HashMap<(&str, u8), Vec<u8>> = HashMap::new();
    let mut conversation_inputs: HashMap<&str, Vec<u8>> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    for f in frames {
        let Ok(payload) = split_frame(&f.frame, &decoder) else {
            continue;
        };
        if !conversations.contains_key(f.conn.as_str()) {
            order.push(f.conn.as_str());
        }
        let dir_byte = u8::from(f.dir == Direction::ServerToClient);
        streams
            .entry((f.conn.as_str(), dir_byte))
            .or_default()
            .extend_from_slice(&f.frame);
        let input = conversation_inputs.entry(f.conn.as_str()).or_default();
        if input.len() + payload.len() + 3 <= max_conversation_len {
            push_conversation_record(input, f.dir, &payload);
        }
        let decoded = conversations
            .entry(f.conn.as_str())
            .or_default()
            .decode(f.dir, payload.clone());
        match decoded {
            Ok(Frame::ConnectRequest(_)) => {
                seeds.push((Target::Connect, [&[0u8][..], &payload].concat()));
            }
            Ok(Frame::ConnectResponse(_)) => {
                seeds.push((Target::Connect, [&[1u8][..], &payload].concat()));
            }
            Ok(Frame::Request { .. }) => seeds.push((Target::Request, payload.to_vec())),
            Ok(Frame::Response { header, op, .. }) => {
                if let Some(input) = reply_input(op, header.err, &payload[16..]) {
                    seeds.push((Target::Reply, input));
                }
            }
            Ok(Frame::Notification { .. }) | Err(_) => {}
        }
    }
    for conn in order {
        for dir_byte in [0u8, 1] {
            if let Some(stream) = streams.get(&(conn, dir_byte)) {
                let mut input = vec![7u8];
                let take = stream.len().min(max_conversation_len);
                input.extend_from_slice(&stream[..take]);
                seeds.push((Target::Frames, input));
            }
        }
        if let Some(input) = conversation_inputs.remove(conn) {
            seeds.push((Target::Conversation, input));
        }
    }
    seeds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_stream_in_order() {
        let stream: Vec<u8> = (0..=255).collect();
        for seed in [0, 1, 7, 255] {
            let joined: Vec<u8> = chunks(&stream, seed).flatten().copied().collect();
            assert_eq!(joined, stream);
        }
    }

    #[test]
    fn reply_input_selects_the_op_and_error() {
        let input = reply_input(OpCode::AddWatch, ErrorCode::Ok, &[0, 0, 0, 0]).unwrap();
        assert!(reply(&input));
        let input = reply_input(OpCode::Exists, ErrorCode::NoNode, &[]).unwrap();
        assert!(reply(&input));
    }

    #[test]
    fn frames_agree_with_a_stream_of_two_frames_and_a_partial_one() {
        let data = [3, 0, 0, 0, 1, 9, 0, 0, 0, 0, 0, 0];
        assert_eq!(frames(&data), 2);
    }

    #[test]
    fn oversized_frames_stop_both_splits_with_the_same_error() {
        let data = [0, 0, 0, 0x10, 0x01, 1, 2, 3];
        assert_eq!(frames(&data), 0);
    }
}
