//! The handshake records. Both carry a trailing `readOnly` byte since 3.4, which a peer may omit
//! (ZooKeeper 3.3 and older); `read_only: None` records that it was absent, so the bytes
//! round-trip.

use bytes::{Bytes, BytesMut};

use crate::error::DecodeError;
use crate::jute::Jute;
use crate::reader::Reader;
use crate::value::Value;

/// The first frame a client sends on a connection, with no request header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectRequest {
    /// Always 0.
    pub protocol_version: i32,
    /// The highest zxid this client has seen in a reply; the server refuses to serve a client
    /// that is ahead of it.
    pub last_zxid_seen: i64,
    /// The requested session timeout, in milliseconds.
    pub time_out: i32,
    /// 0 for a new session, else the session to resume.
    pub session_id: i64,
    /// The session password (16 zero bytes for a new session).
    pub passwd: Option<Bytes>,
    /// Whether the client accepts a read-only server; `None` when the byte is absent.
    pub read_only: Option<bool>,
}

/// The first frame a server sends on a connection, with no reply header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectResponse {
    /// Always 0.
    pub protocol_version: i32,
    /// The negotiated session timeout in milliseconds; 0 or less means the session expired.
    pub time_out: i32,
    /// The session id.
    pub session_id: i64,
    /// The session password.
    pub passwd: Option<Bytes>,
    /// Whether the server is read-only; `None` when the byte is absent.
    pub read_only: Option<bool>,
}

/// Reads the optional trailing `readOnly` byte.
fn read_trailing_bool(r: &mut Reader, context: &'static str) -> Result<Option<bool>, DecodeError> {
    if r.is_empty() {
        Ok(None)
    } else {
        r.read_bool(context).map(Some)
    }
}

impl Jute for ConnectRequest {
    const MIN_LEN: usize = 4 + 8 + 4 + 8 + 4;

    fn decode(r: &mut Reader, _context: &'static str) -> Result<Self, DecodeError> {
        Ok(Self {
            protocol_version: r.read_i32("ConnectRequest.protocolVersion")?,
            last_zxid_seen: r.read_i64("ConnectRequest.lastZxidSeen")?,
            time_out: r.read_i32("ConnectRequest.timeOut")?,
            session_id: r.read_i64("ConnectRequest.sessionId")?,
            passwd: r.read_buffer("ConnectRequest.passwd")?,
            read_only: read_trailing_bool(r, "ConnectRequest.readOnly")?,
        })
    }

    fn encode(&self, buf: &mut BytesMut) {
        self.protocol_version.encode(buf);
        self.last_zxid_seen.encode(buf);
        self.time_out.encode(buf);
        self.session_id.encode(buf);
        self.passwd.encode(buf);
        if let Some(read_only) = self.read_only {
            read_only.encode(buf);
        }
    }

    fn encoded_len(&self) -> usize {
        Self::MIN_LEN
            + self.passwd.as_ref().map_or(0, Bytes::len)
            + usize::from(self.read_only.is_some())
    }

    fn describe(&self) -> Value {
        let mut fields = vec![
            ("protocolVersion", self.protocol_version.describe()),
            ("lastZxidSeen", self.last_zxid_seen.describe()),
            ("timeOut", self.time_out.describe()),
            ("sessionId", self.session_id.describe()),
            ("passwd", self.passwd.describe()),
        ];
        if let Some(read_only) = self.read_only {
            fields.push(("readOnly", read_only.describe()));
        }
        Value::Record(fields)
    }
}

impl Jute for ConnectResponse {
    const MIN_LEN: usize = 4 + 4 + 8 + 4;

    fn decode(r: &mut Reader, _context: &'static str) -> Result<Self, DecodeError> {
        Ok(Self {
            protocol_version: r.read_i32("ConnectResponse.protocolVersion")?,
            time_out: r.read_i32("ConnectResponse.timeOut")?,
            session_id: r.read_i64("ConnectResponse.sessionId")?,
            passwd: r.read_buffer("ConnectResponse.passwd")?,
            read_only: read_trailing_bool(r, "ConnectResponse.readOnly")?,
        })
    }

    fn encode(&self, buf: &mut BytesMut) {
        self.protocol_version.encode(buf);
        self.time_out.encode(buf);
        self.session_id.encode(buf);
        self.passwd.encode(buf);
        if let Some(read_only) = self.read_only {
            read_only.encode(buf);
        }
    }

    fn encoded_len(&self) -> usize {
        Self::MIN_LEN
            + self.passwd.as_ref().map_or(0, Bytes::len)
            + usize::from(self.read_only.is_some())
    }

    fn describe(&self) -> Value {
        let mut fields = vec![
            ("protocolVersion", self.protocol_version.describe()),
            ("timeOut", self.time_out.describe()),
            ("sessionId", self.session_id.describe()),
            ("passwd", self.passwd.describe()),
        ];
        if let Some(read_only) = self.read_only {
            fields.push(("readOnly", read_only.describe()));
        }
        Value::Record(fields)
    }
}

impl ConnectResponse {
    /// Whether the server says the session is expired or unknown (timeout 0 or less).
    pub fn is_expired(&self) -> bool {
        self.time_out <= 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::{from_bytes, to_bytes};

    #[test]
    fn connect_request_is_45_bytes_with_read_only_and_44_without() {
        let mut req = ConnectRequest {
            time_out: 30_000,
            passwd: Some(Bytes::from_static(&[0; 16])),
            read_only: Some(false),
            ..Default::default()
        };
        assert_eq!(to_bytes(&req).len(), 45);
        req.read_only = None;
        let bytes = to_bytes(&req);
        assert_eq!(bytes.len(), 44);
        assert_eq!(
            from_bytes::<ConnectRequest>(bytes, "ConnectRequest"),
            Ok(req)
        );
    }

    #[test]
    fn old_server_response_without_read_only_round_trips() {
        let resp = ConnectResponse {
            time_out: 4000,
            session_id: 0x100,
            passwd: Some(Bytes::from_static(&[7; 16])),
            ..Default::default()
        };
        let bytes = to_bytes(&resp);
        assert_eq!(bytes.len(), 36);
        assert_eq!(
            from_bytes::<ConnectResponse>(bytes, "ConnectResponse"),
            Ok(resp)
        );
    }
}
