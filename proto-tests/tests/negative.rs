//! Negative vectors: each connection of `vectors/negative/*.jsonl` decodes up to its last frame,
//! which carries `expect` (the `DecodeError` variant) and `context`, and fails exactly so.

use std::collections::{BTreeSet, HashMap};

use proto_tests::vectors::{self, split_frame};
use zk_proto::frame::FrameDecoder;
use zk_proto::{Conversation, DecodeError};

/// The variant name of an error, from its `Debug` form.
fn variant(e: &DecodeError) -> String {
    let debug = format!("{e:?}");
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn each_negative_vector_fails_with_its_specific_error() {
    let files = vectors::negative_files();
    assert!(!files.is_empty());
    let decoder = FrameDecoder::default();
    let mut variants = BTreeSet::new();
    let mut checked = 0;
    for path in files {
        let frames = vectors::load(&path).unwrap();
        let mut conversations: HashMap<String, Conversation> = HashMap::new();
        for f in &frames {
            let result = split_frame(&f.frame, &decoder).and_then(|payload| {
                conversations
                    .entry(f.conn.clone())
                    .or_default()
                    .decode(f.dir, payload)
            });
            let at = format!("{}:{} ({})", path.display(), f.line, f.conn);
            match f.extra.get("expect").and_then(|e| e.as_str()) {
                None => {
                    let frame = result.unwrap_or_else(|e| panic!("{at}: {e}"));
                    assert_eq!(frame.to_frame_bytes(), f.frame, "{at}");
                }
                Some(expected) => {
                    let error = result.expect_err(&at);
                    assert_eq!(variant(&error), expected, "{at}: {error}");
                    if let Some(context) = f.extra.get("context").and_then(|c| c.as_str()) {
                        assert_eq!(error.context(), context, "{at}: {error}");
                    }
                    variants.insert(expected.to_owned());
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 20, "only {checked} negative vectors");
    // Every variant of DecodeError has a vector.
    for v in [
        "UnexpectedEnd",
        "NegativeLength",
        "LengthExceedsInput",
        "CountExceedsInput",
        "InvalidUtf8",
        "InvalidBool",
        "NullElement",
        "UnexpectedValue",
        "TrailingBytes",
        "UnknownOpCode",
        "UnmatchedReply",
        "NegativeFrameLength",
        "FrameTooLarge",
    ] {
        assert!(variants.contains(v), "no negative vector for {v}");
    }
}

#[test]
fn truncating_any_captured_frame_is_an_error_never_a_panic() {
    // A strict prefix of a captured payload either fails to decode or (for records with an
    // optional trailing field, like the handshake's readOnly) decodes to a frame that re-encodes
    // to exactly that prefix.
    let decoder = FrameDecoder::default();
    for path in vectors::positive_files() {
        let frames = vectors::load(&path).unwrap();
        for f in &frames {
            let payload = split_frame(&f.frame, &decoder).unwrap();
            for cut in [0, 1, payload.len() / 2, payload.len().saturating_sub(1)] {
                if cut >= payload.len() {
                    continue;
                }
                let mut conversation = replay_before(&frames, f.line, &f.conn);
                if let Ok(frame) = conversation.decode(f.dir, payload.slice(..cut)) {
                    assert_eq!(
                        &frame.to_frame_bytes()[4..],
                        &payload[..cut],
                        "{}:{} cut at {cut}",
                        path.display(),
                        f.line
                    );
                }
            }
        }
    }
}

/// The conversation of `conn` after every frame before `line`.
fn replay_before(frames: &[vectors::VectorFrame], line: usize, conn: &str) -> Conversation {
    let mut c = Conversation::new();
    for f in frames.iter().filter(|f| f.conn == conn && f.line < line) {
        let payload = split_frame(&f.frame, &FrameDecoder::default()).unwrap();
        c.decode(f.dir, payload).unwrap();
    }
    c
}
