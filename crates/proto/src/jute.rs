//! The [`Jute`] trait: how each field type and record reads and writes itself.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::DecodeError;
use crate::reader::Reader;
use crate::value::Value;

/// A type with a jute encoding: a primitive, a vector, or a record.
///
/// `decode(encode(x)) == x` for every value, and `encode(decode(b)) == b` for every input that
/// decodes (null is kept distinct from empty), which the golden vectors and fuzz targets check.
pub trait Jute: Sized {
    /// The fewest bytes any value of this type encodes to, used to bound vector counts before
    /// allocating.
    const MIN_LEN: usize;

    /// Reads one value; `context` names the field for errors.
    fn decode(r: &mut Reader, context: &'static str) -> Result<Self, DecodeError>;

    /// Appends the encoding of `self`.
    fn encode(&self, buf: &mut BytesMut);

    /// The exact number of bytes [`Jute::encode`] appends.
    fn encoded_len(&self) -> usize;

    /// A generic description, with jute's field names.
    fn describe(&self) -> Value;
}

impl Jute for i32 {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader, context: &'static str) -> Result<Self, DecodeError> {
        r.read_i32(context)
    }
    fn encode(&self, buf: &mut BytesMut) {
        buf.put_i32(*self);
    }
    fn encoded_len(&self) -> usize {
        4
    }
    fn describe(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}

impl Jute for i64 {
    const MIN_LEN: usize = 8;
    fn decode(r: &mut Reader, context: &'static str) -> Result<Self, DecodeError> {
        r.read_i64(context)
    }
    fn encode(&self, buf: &mut BytesMut) {
        buf.put_i64(*self);
    }
    fn encoded_len(&self) -> usize {
        8
    }
    fn describe(&self) -> Value {
        Value::Int(*self)
    }
}

impl Jute for bool {
    const MIN_LEN: usize = 1;
    fn decode(r: &mut Reader, context: &'static str) -> Result<Self, DecodeError> {
        r.read_bool(context)
    }
    fn encode(&self, buf: &mut BytesMut) {
        buf.put_u8(u8::from(*self));
    }
    fn encoded_len(&self) -> usize {
        1
    }
    fn describe(&self) -> Value {
        Value::Bool(*self)
    }
}

/// A `ustring`; `None` is null (length -1).
impl Jute for Option<String> {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader, context: &'static str) -> Result<Self, DecodeError> {
        r.read_ustring(context)
    }
    fn encode(&self, buf: &mut BytesMut) {
        match self {
            None => buf.put_i32(-1),
            Some(s) => {
                buf.put_i32(s.len() as i32);
                buf.put_slice(s.as_bytes());
            }
        }
    }
    fn encoded_len(&self) -> usize {
        4 + self.as_ref().map_or(0, String::len)
    }
    fn describe(&self) -> Value {
        Value::Str(self.clone())
    }
}

/// A `ustring` that is an element of a vector, where null never occurs.
impl Jute for String {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader, context: &'static str) -> Result<Self, DecodeError> {
        r.read_ustring(context)?
            .ok_or(DecodeError::NullElement { context })
    }
    fn encode(&self, buf: &mut BytesMut) {
        buf.put_i32(self.len() as i32);
        buf.put_slice(self.as_bytes());
    }
    fn encoded_len(&self) -> usize {
        4 + self.len()
    }
    fn describe(&self) -> Value {
        Value::Str(Some(self.clone()))
    }
}

/// A `buffer`; `None` is null (length -1). Decoding slices the input without copying.
impl Jute for Option<Bytes> {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader, context: &'static str) -> Result<Self, DecodeError> {
        r.read_buffer(context)
    }
    fn encode(&self, buf: &mut BytesMut) {
        match self {
            None => buf.put_i32(-1),
            Some(b) => {
                buf.put_i32(b.len() as i32);
                buf.put_slice(b);
            }
        }
    }
    fn encoded_len(&self) -> usize {
        4 + self.as_ref().map_or(0, Bytes::len)
    }
    fn describe(&self) -> Value {
        Value::Buf(self.clone())
    }
}

/// Encodes `items` as a non-null `vector<T>`, as `Some(items.to_vec())` would, without the
/// copy.
pub fn encode_vector<T: Jute>(items: &[T], buf: &mut BytesMut) {
    buf.put_i32(items.len() as i32);
    for item in items {
        item.encode(buf);
    }
}

/// A `vector<T>`; `None` is null (count -1).
impl<T: Jute> Jute for Option<Vec<T>> {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader, context: &'static str) -> Result<Self, DecodeError> {
        let Some(count) = r.read_count(T::MIN_LEN, context)? else {
            return Ok(None);
        };
        // `read_count` bounded `count` by the bytes that remain, so this cannot over-allocate.
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            items.push(T::decode(r, context)?);
        }
        Ok(Some(items))
    }
    fn encode(&self, buf: &mut BytesMut) {
        match self {
            None => buf.put_i32(-1),
            Some(items) => encode_vector(items, buf),
        }
    }
    fn encoded_len(&self) -> usize {
        4 + self
            .as_ref()
            .map_or(0, |items| items.iter().map(Jute::encoded_len).sum())
    }
    fn describe(&self) -> Value {
        Value::List(
            self.as_ref()
                .map(|items| items.iter().map(Jute::describe).collect()),
        )
    }
}

/// Encodes any [`Jute`] value into a fresh buffer of exactly the right size.
pub fn to_bytes<T: Jute>(value: &T) -> Bytes {
    let mut buf = BytesMut::with_capacity(value.encoded_len());
    value.encode(&mut buf);
    buf.freeze()
}

/// Decodes a whole [`Jute`] value from `bytes`, failing on trailing bytes.
pub fn from_bytes<T: Jute>(bytes: Bytes, context: &'static str) -> Result<T, DecodeError> {
    let mut r = Reader::new(bytes);
    let value = T::decode(&mut r, context)?;
    r.expect_empty(context)?;
    Ok(value)
}

/// Declares a jute record: a struct with documented fields, and its [`Jute`] implementation
/// reading and writing the fields in declaration order.
///
/// Each field is written `"juteName" rust_name: Type`, so errors and descriptions carry jute's
/// names.
macro_rules! jute_record {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                $jname:literal $field:ident : $ty:ty
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            $(
                $(#[$fmeta])*
                pub $field: $ty,
            )*
        }

        impl $crate::jute::Jute for $name {
            const MIN_LEN: usize = 0 $(+ <$ty as $crate::jute::Jute>::MIN_LEN)*;

            #[allow(unused_variables)]
            fn decode(
                r: &mut $crate::reader::Reader,
                context: &'static str,
            ) -> Result<Self, $crate::error::DecodeError> {
                Ok(Self {
                    $(
                        $field: <$ty as $crate::jute::Jute>::decode(
                            r,
                            concat!(stringify!($name), ".", $jname),
                        )?,
                    )*
                })
            }

            #[allow(unused_variables)]
            fn encode(&self, buf: &mut bytes::BytesMut) {
                $( $crate::jute::Jute::encode(&self.$field, buf); )*
            }

            fn encoded_len(&self) -> usize {
                0 $(+ $crate::jute::Jute::encoded_len(&self.$field))*
            }

            fn describe(&self) -> $crate::value::Value {
                $crate::value::Value::Record(vec![
                    $( ($jname, $crate::jute::Jute::describe(&self.$field)), )*
                ])
            }
        }
    };
}

pub(crate) use jute_record;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_and_empty_string_encode_differently() {
        assert_eq!(&to_bytes(&None::<String>)[..], &[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(&to_bytes(&Some(String::new()))[..], &[0, 0, 0, 0]);
    }

    #[test]
    fn null_vector_round_trips() {
        let b = to_bytes(&None::<Vec<String>>);
        assert_eq!(from_bytes::<Option<Vec<String>>>(b, "t"), Ok(None));
    }

    #[test]
    fn a_slice_encodes_as_the_same_vector_in_an_option() {
        let items = vec!["a".to_owned(), String::new(), "ccc".to_owned()];
        let mut buf = BytesMut::new();
        encode_vector(&items, &mut buf);
        assert_eq!(buf.freeze(), to_bytes(&Some(items)));
    }

    #[test]
    fn null_element_in_vector_is_an_error() {
        let b = Bytes::from_static(&[0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(
            from_bytes::<Option<Vec<String>>>(b, "t"),
            Err(DecodeError::NullElement { context: "t" })
        );
    }
}
