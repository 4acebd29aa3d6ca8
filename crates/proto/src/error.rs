//! The one error type of this crate: why a frame or record did not decode.

/// Why bytes did not decode into a frame or a record.
///
/// Every variant names, in `context`, the record field or the framing step that failed, as
/// `"Record.field"` with jute's names (for example `"Stat.czxid"`), so that a report points at
/// the exact place in `zookeeper.jute`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended before a fixed-size field.
    #[error("{context}: needed {needed} bytes but {remaining} remain")]
    UnexpectedEnd {
        /// Where decoding stopped.
        context: &'static str,
        /// How many bytes the field needs.
        needed: usize,
        /// How many bytes were left.
        remaining: usize,
    },
    /// A length or count below -1 (jute's null marker).
    #[error("{context}: negative length {len}")]
    NegativeLength {
        /// Where decoding stopped.
        context: &'static str,
        /// The length read.
        len: i32,
    },
    /// A string or buffer length larger than the bytes that remain.
    #[error("{context}: length {len} exceeds the {remaining} bytes that remain")]
    LengthExceedsInput {
        /// Where decoding stopped.
        context: &'static str,
        /// The length read.
        len: i32,
        /// How many bytes were left.
        remaining: usize,
    },
    /// A vector count whose elements cannot possibly fit in the bytes that remain.
    #[error(
        "{context}: {count} elements of at least {min_len} bytes cannot fit in {remaining} bytes"
    )]
    CountExceedsInput {
        /// Where decoding stopped.
        context: &'static str,
        /// The count read.
        count: i32,
        /// The smallest encoding of one element.
        min_len: usize,
        /// How many bytes were left.
        remaining: usize,
    },
    /// A string that is not UTF-8.
    #[error("{context}: string is not valid UTF-8")]
    InvalidUtf8 {
        /// Where decoding stopped.
        context: &'static str,
    },
    /// A boolean byte other than 0 or 1.
    #[error("{context}: boolean byte {value:#04x} is neither 0 nor 1")]
    InvalidBool {
        /// Where decoding stopped.
        context: &'static str,
        /// The byte read.
        value: u8,
    },
    /// A null element inside a vector, which no ZooKeeper peer writes.
    #[error("{context}: null element inside a vector")]
    NullElement {
        /// Where decoding stopped.
        context: &'static str,
    },
    /// A field whose value is fixed by the protocol had another value.
    #[error("{context}: unexpected value {value}")]
    UnexpectedValue {
        /// Where decoding stopped.
        context: &'static str,
        /// The value read.
        value: i64,
    },
    /// Bytes left over after a complete record.
    #[error("{context}: {count} trailing bytes after the record")]
    TrailingBytes {
        /// The record that was complete.
        context: &'static str,
        /// How many bytes were left over.
        count: usize,
    },
    /// An op code this codec has no record for, in a place that needs one.
    #[error("{context}: no record for op code {op}")]
    UnknownOpCode {
        /// Where decoding stopped.
        context: &'static str,
        /// The op code read.
        op: i32,
    },
    /// A server frame answering an xid with no request outstanding.
    #[error("reply to xid {xid}, which has no request outstanding")]
    UnmatchedReply {
        /// The xid of the reply.
        xid: i32,
    },
    /// A frame length prefix below zero.
    #[error("negative frame length {len}")]
    NegativeFrameLength {
        /// The length read.
        len: i32,
    },
    /// A frame length prefix above the configured maximum.
    #[error("frame length {len} exceeds the maximum {max}")]
    FrameTooLarge {
        /// The length read.
        len: usize,
        /// The maximum in force.
        max: usize,
    },
}

impl DecodeError {
    /// The record field or framing step where decoding failed.
    pub fn context(&self) -> &'static str {
        match self {
            Self::UnexpectedEnd { context, .. }
            | Self::NegativeLength { context, .. }
            | Self::LengthExceedsInput { context, .. }
            | Self::CountExceedsInput { context, .. }
            | Self::InvalidUtf8 { context }
            | Self::InvalidBool { context, .. }
            | Self::NullElement { context }
            | Self::UnexpectedValue { context, .. }
            | Self::TrailingBytes { context, .. }
            | Self::UnknownOpCode { context, .. } => context,
            Self::UnmatchedReply { .. } => "conversation",
            Self::NegativeFrameLength { .. } | Self::FrameTooLarge { .. } => "frame",
        }
    }
}
