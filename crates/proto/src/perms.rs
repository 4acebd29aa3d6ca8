//! ACL permissions as bit flags.

use std::fmt;
use std::ops::{BitOr, BitOrAssign};

use bytes::BytesMut;

use crate::error::DecodeError;
use crate::jute::Jute;
use crate::reader::Reader;
use crate::value::Value;

/// ACL permission bits (`ZooDefs.Perms`). Unknown bits are kept as sent.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Perms(pub i32);

impl Perms {
    /// No permission.
    pub const NONE: Perms = Perms(0);
    /// Read data and list children.
    pub const READ: Perms = Perms(1);
    /// Write data.
    pub const WRITE: Perms = Perms(2);
    /// Create children.
    pub const CREATE: Perms = Perms(4);
    /// Delete children.
    pub const DELETE: Perms = Perms(8);
    /// Change the ACL.
    pub const ADMIN: Perms = Perms(16);
    /// Every permission.
    pub const ALL: Perms = Perms(31);

    /// Whether every bit of `other` is set in `self`.
    pub const fn contains(self, other: Perms) -> bool {
        self.0 & other.0 == other.0
    }

    /// The raw bits.
    pub const fn bits(self) -> i32 {
        self.0
    }
}

impl BitOr for Perms {
    type Output = Perms;
    fn bitor(self, rhs: Perms) -> Perms {
        Perms(self.0 | rhs.0)
    }
}

impl BitOrAssign for Perms {
    fn bitor_assign(&mut self, rhs: Perms) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for Perms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Perms({self})")
    }
}

/// Formats as zkCli does: `cdrwa` letters for the bits set.
impl fmt::Display for Perms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (bit, letter) in [
            (Perms::CREATE, 'c'),
            (Perms::DELETE, 'd'),
            (Perms::READ, 'r'),
            (Perms::WRITE, 'w'),
            (Perms::ADMIN, 'a'),
        ] {
            if self.contains(bit) {
                write!(f, "{letter}")?;
            }
        }
        let unknown = self.0 & !Perms::ALL.0;
        if unknown != 0 {
            write!(f, "+{unknown:#x}")?;
        }
        Ok(())
    }
}

impl Jute for Perms {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader, context: &'static str) -> Result<Self, DecodeError> {
        r.read_i32(context).map(Perms)
    }
    fn encode(&self, buf: &mut BytesMut) {
        self.0.encode(buf)
    }
    fn encoded_len(&self) -> usize {
        4
    }
    fn describe(&self) -> Value {
        Value::Int(i64::from(self.0))
    }
}
