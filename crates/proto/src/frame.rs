//! Framing: every message is a 4-byte big-endian length followed by that many bytes.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::DecodeError;

/// The default largest frame accepted: 0xfffff (1,048,575) bytes, the default of ZooKeeper's
/// `jute.maxbuffer` on both server (`NIOServerCnxn.readLength`) and Java client
/// (`ClientCnxnSocket.readLength`, ZOOKEEPER-3593).
pub const DEFAULT_MAX_FRAME_LEN: usize = 0xfffff;

/// The size of the length prefix.
pub const LENGTH_PREFIX_LEN: usize = 4;

/// Splits a byte stream into frames.
///
/// Feed bytes into a `BytesMut` and call [`FrameDecoder::decode`] until it returns `Ok(None)`.
/// A negative or oversized length is an error before anything is allocated for it; the stream
/// cannot be resynchronised after an error, so the connection should be dropped.
#[derive(Debug, Clone, Copy)]
pub struct FrameDecoder {
    max_len: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_LEN)
    }
}

impl FrameDecoder {
    /// A decoder refusing frames longer than `max_len` payload bytes.
    pub fn new(max_len: usize) -> Self {
        Self { max_len }
    }

    /// The largest payload accepted.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// The next frame's payload (without its length prefix), or `Ok(None)` when `buf` does not
    /// hold a whole frame yet. The payload is split off `buf` without copying.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Bytes>, DecodeError> {
        let Some(len) = self.peek_len(buf)? else {
            return Ok(None);
        };
        if buf.len() < LENGTH_PREFIX_LEN + len {
            buf.reserve(LENGTH_PREFIX_LEN + len - buf.len());
            return Ok(None);
        }
        buf.advance(LENGTH_PREFIX_LEN);
        Ok(Some(buf.split_to(len).freeze()))
    }

    /// The next frame's payload length, checked, if the prefix has arrived.
    pub fn peek_len(&self, buf: &[u8]) -> Result<Option<usize>, DecodeError> {
        let Some(prefix) = buf.get(..LENGTH_PREFIX_LEN) else {
            return Ok(None);
        };
        let len = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        if len < 0 {
            return Err(DecodeError::NegativeFrameLength { len });
        }
        let len = len as usize;
        if len > self.max_len {
            return Err(DecodeError::FrameTooLarge {
                len,
                max: self.max_len,
            });
        }
        Ok(Some(len))
    }
}

/// Appends one frame to `buf`: reserves the length prefix, lets `write` append the payload, then
/// writes the payload's length back into the prefix.
pub fn write_frame(buf: &mut BytesMut, write: impl FnOnce(&mut BytesMut)) {
    let start = buf.len();
    buf.put_i32(0);
    write(buf);
    let len = (buf.len() - start - LENGTH_PREFIX_LEN) as i32;
    buf[start..start + LENGTH_PREFIX_LEN].copy_from_slice(&len.to_be_bytes());
}

#[cfg(feature = "codec")]
mod codec {
    use bytes::{Bytes, BytesMut};
    use tokio_util::codec::{Decoder, Encoder};

    use super::{FrameDecoder, write_frame};
    use crate::error::DecodeError;

    /// A tokio-util codec for ZooKeeper frames: decodes to payloads, encodes payloads.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct FrameCodec {
        decoder: FrameDecoder,
    }

    impl FrameCodec {
        /// A codec refusing frames longer than `max_len` payload bytes.
        pub fn new(max_len: usize) -> Self {
            Self {
                decoder: FrameDecoder::new(max_len),
            }
        }
    }

    /// A framing failure: bad bytes from the peer, or an I/O error underneath.
    #[derive(Debug, thiserror::Error)]
    pub enum FrameCodecError {
        /// The peer sent a bad frame length.
        #[error(transparent)]
        Decode(#[from] DecodeError),
        /// The transport failed.
        #[error(transparent)]
        Io(#[from] std::io::Error),
    }

    impl Decoder for FrameCodec {
        type Item = Bytes;
        type Error = FrameCodecError;
        fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameCodecError> {
            Ok(self.decoder.decode(src)?)
        }
    }

    impl Encoder<Bytes> for FrameCodec {
        type Error = FrameCodecError;
        fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> Result<(), FrameCodecError> {
            write_frame(dst, |buf| buf.extend_from_slice(&item));
            Ok(())
        }
    }
}

#[cfg(feature = "codec")]
pub use codec::{FrameCodec, FrameCodecError};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_input_is_none_until_complete() {
        let d = FrameDecoder::default();
        let mut buf = BytesMut::from(&[0, 0, 0, 3, b'a'][..]);
        assert_eq!(d.decode(&mut buf), Ok(None));
        buf.extend_from_slice(b"bc");
        assert_eq!(d.decode(&mut buf).unwrap().as_deref(), Some(&b"abc"[..]));
        assert!(buf.is_empty());
    }

    #[test]
    fn oversized_length_is_an_error_not_an_allocation() {
        let d = FrameDecoder::new(16);
        let mut buf = BytesMut::from(&[0x7f, 0xff, 0xff, 0xff][..]);
        assert_eq!(
            d.decode(&mut buf),
            Err(DecodeError::FrameTooLarge {
                len: 0x7fff_ffff,
                max: 16
            })
        );
        assert!(buf.capacity() < 1024);
    }

    #[test]
    fn negative_length_is_an_error() {
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xfe][..]);
        assert_eq!(
            FrameDecoder::default().decode(&mut buf),
            Err(DecodeError::NegativeFrameLength { len: -2 })
        );
    }

    #[test]
    fn write_frame_backpatches_the_length() {
        let mut buf = BytesMut::new();
        write_frame(&mut buf, |b| b.extend_from_slice(b"hello"));
        assert_eq!(&buf[..], b"\0\0\0\x05hello");
    }
}
