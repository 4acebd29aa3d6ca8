//! A bounded, zero-copy reader over one frame's bytes.

use bytes::{Buf, Bytes};

use crate::error::DecodeError;

/// Reads jute primitives from a [`Bytes`] without copying buffers.
///
/// Every length or count the peer sent is checked against the bytes that remain before anything
/// is allocated or sliced, so a hostile length costs nothing. Buffers are returned as slices of
/// the input (`Bytes::split_to`), so znode data is never copied.
#[derive(Debug, Clone)]
pub struct Reader {
    buf: Bytes,
}

impl Reader {
    /// A reader over `buf`.
    pub fn new(buf: Bytes) -> Self {
        Self { buf }
    }

    /// How many bytes remain.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Whether no bytes remain.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The bytes that remain, consuming them.
    pub fn rest(&mut self) -> Bytes {
        std::mem::take(&mut self.buf)
    }

    /// Fails with [`DecodeError::TrailingBytes`] unless every byte was consumed.
    pub fn expect_empty(&self, context: &'static str) -> Result<(), DecodeError> {
        match self.buf.len() {
            0 => Ok(()),
            count => Err(DecodeError::TrailingBytes { context, count }),
        }
    }

    fn need(&self, needed: usize, context: &'static str) -> Result<(), DecodeError> {
        if self.buf.len() < needed {
            return Err(DecodeError::UnexpectedEnd {
                context,
                needed,
                remaining: self.buf.len(),
            });
        }
        Ok(())
    }

    /// A big-endian `int`.
    pub fn read_i32(&mut self, context: &'static str) -> Result<i32, DecodeError> {
        self.need(4, context)?;
        Ok(self.buf.get_i32())
    }

    /// A big-endian `long`.
    pub fn read_i64(&mut self, context: &'static str) -> Result<i64, DecodeError> {
        self.need(8, context)?;
        Ok(self.buf.get_i64())
    }

    /// A `boolean`: one byte, 0 or 1.
    pub fn read_bool(&mut self, context: &'static str) -> Result<bool, DecodeError> {
        self.need(1, context)?;
        match self.buf.get_u8() {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(DecodeError::InvalidBool { context, value }),
        }
    }

    /// A length prefix: `None` for jute's null (-1), otherwise a length that fits in what remains
    /// after it.
    fn read_len(&mut self, context: &'static str) -> Result<Option<usize>, DecodeError> {
        let len = self.read_i32(context)?;
        match len {
            -1 => Ok(None),
            len if len < 0 => Err(DecodeError::NegativeLength { context, len }),
            len if len as usize > self.buf.len() => Err(DecodeError::LengthExceedsInput {
                context,
                len,
                remaining: self.buf.len(),
            }),
            len => Ok(Some(len as usize)),
        }
    }

    /// A `buffer`, as a slice of the input; `None` for null.
    pub fn read_buffer(&mut self, context: &'static str) -> Result<Option<Bytes>, DecodeError> {
        Ok(self.read_len(context)?.map(|len| self.buf.split_to(len)))
    }

    /// A `ustring`; `None` for null.
    pub fn read_ustring(&mut self, context: &'static str) -> Result<Option<String>, DecodeError> {
        let Some(len) = self.read_len(context)? else {
            return Ok(None);
        };
        let text = std::str::from_utf8(&self.buf[..len])
            .map_err(|_| DecodeError::InvalidUtf8 { context })?
            .to_owned();
        self.buf.advance(len);
        Ok(Some(text))
    }

    /// A vector count: `None` for null, otherwise a count whose elements, each at least `min_len`
    /// bytes, can fit in what remains. The count is therefore safe to allocate for.
    pub fn read_count(
        &mut self,
        min_len: usize,
        context: &'static str,
    ) -> Result<Option<usize>, DecodeError> {
        let count = self.read_i32(context)?;
        match count {
            -1 => Ok(None),
            count if count < 0 => Err(DecodeError::NegativeLength {
                context,
                len: count,
            }),
            count if (count as usize).saturating_mul(min_len.max(1)) > self.buf.len() => {
                Err(DecodeError::CountExceedsInput {
                    context,
                    count,
                    min_len,
                    remaining: self.buf.len(),
                })
            }
            count => Ok(Some(count as usize)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_is_a_slice_of_the_input_not_a_copy() {
        let input = Bytes::from_static(&[0, 0, 0, 3, b'a', b'b', b'c']);
        let mut r = Reader::new(input.clone());
        let data = r.read_buffer("t").unwrap().unwrap();
        assert_eq!(&data[..], b"abc");
        assert_eq!(data.as_ptr(), input[4..].as_ptr());
    }

    #[test]
    fn minus_one_length_is_null_and_other_negatives_are_errors() {
        let mut r = Reader::new(Bytes::from_static(&[0xff, 0xff, 0xff, 0xff]));
        assert_eq!(r.read_ustring("t"), Ok(None));
        let mut r = Reader::new(Bytes::from_static(&[0xff, 0xff, 0xff, 0xfe]));
        assert_eq!(
            r.read_ustring("t"),
            Err(DecodeError::NegativeLength {
                context: "t",
                len: -2
            })
        );
    }

    #[test]
    fn huge_count_is_refused_before_allocating() {
        let mut r = Reader::new(Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0]));
        assert!(matches!(
            r.read_count(4, "t"),
            Err(DecodeError::CountExceedsInput { .. })
        ));
    }

    #[test]
    fn length_longer_than_input_is_an_error() {
        let mut r = Reader::new(Bytes::from_static(&[0, 0, 0, 5, b'a']));
        assert_eq!(
            r.read_buffer("t"),
            Err(DecodeError::LengthExceedsInput {
                context: "t",
                len: 5,
                remaining: 1
            })
        );
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        let mut r = Reader::new(Bytes::from_static(&[0, 0, 0, 1, 0xff]));
        assert_eq!(
            r.read_ustring("t"),
            Err(DecodeError::InvalidUtf8 { context: "t" })
        );
    }

    #[test]
    fn bool_must_be_zero_or_one() {
        let mut r = Reader::new(Bytes::from_static(&[2]));
        assert_eq!(
            r.read_bool("t"),
            Err(DecodeError::InvalidBool {
                context: "t",
                value: 2
            })
        );
    }
}
