//! A minimal blocking client built on zk-proto's encoders, for the requests that none of the real
//! clients here sends (multiRead, checkWatches, a pre-3.5 handshake, multi with create2, container
//! and TTL ops, standalone check) and for a really expired session. The server's replies are real.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use zk_proto::frame::{FrameDecoder, write_frame};
use zk_proto::{
    ConnectRequest, ConnectResponse, ErrorCode, Jute, OpCode, Reader, ReplyHeader, Request,
    RequestHeader, from_bytes,
};

use crate::Res;

/// A connection speaking the protocol one request at a time.
pub struct RawClient {
    stream: TcpStream,
    buf: BytesMut,
    next_xid: i32,
    /// The handshake's answer.
    pub session: ConnectResponse,
}

impl RawClient {
    /// Connects and performs the handshake; `read_only: None` sends the 44-byte pre-3.5 request.
    pub fn connect(addr: SocketAddr, request: ConnectRequest) -> Res<RawClient> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(20)))?;
        stream.set_nodelay(true)?;
        let mut client = RawClient {
            stream,
            buf: BytesMut::new(),
            next_xid: 1,
            session: ConnectResponse::default(),
        };
        client.send_payload(|b| request.encode(b))?;
        let payload = client.read_frame()?;
        client.session = from_bytes(payload, "ConnectResponse")?;
        Ok(client)
    }

    /// A new session's handshake with `timeout_ms`.
    pub fn new_session(addr: SocketAddr, timeout_ms: i32) -> Res<RawClient> {
        Self::connect(
            addr,
            ConnectRequest {
                time_out: timeout_ms,
                passwd: Some(Bytes::from_static(&[0; 16])),
                read_only: Some(false),
                ..ConnectRequest::default()
            },
        )
    }

    fn send_payload(&mut self, write: impl FnOnce(&mut BytesMut)) -> Res<()> {
        let mut out = BytesMut::new();
        write_frame(&mut out, write);
        self.stream.write_all(&out)?;
        Ok(())
    }

    fn read_frame(&mut self) -> Res<Bytes> {
        let decoder = FrameDecoder::new(usize::MAX >> 1);
        let mut chunk = [0u8; 8192];
        // Bounded by the read timeout: every iteration reads or fails.
        loop {
            if let Some(payload) = decoder.decode(&mut self.buf)? {
                return Ok(payload);
            }
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err("connection closed by the server".into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends `body` as `op` with the next xid and returns the reply header and body, skipping
    /// notifications.
    pub fn call(&mut self, op: OpCode, body: &Request) -> Res<(ReplyHeader, Bytes)> {
        let xid = self.next_xid;
        self.next_xid += 1;
        self.call_with_xid(xid, op, body)
    }

    /// Like [`RawClient::call`] with a given xid.
    pub fn call_with_xid(
        &mut self,
        xid: i32,
        op: OpCode,
        body: &Request,
    ) -> Res<(ReplyHeader, Bytes)> {
        self.send_payload(|b| {
            RequestHeader { xid, op }.encode(b);
            body.encode(b);
        })?;
        // Notifications may come first; a bounded number of them.
        for _ in 0..1000 {
            let payload = self.read_frame()?;
            let mut r = Reader::new(payload);
            let header = ReplyHeader::decode(&mut r, "ReplyHeader")?;
            if header.xid == xid {
                return Ok((header, r.rest()));
            }
        }
        Err(format!("no reply to xid {xid}").into())
    }

    /// Sends a request and checks the reply's error code.
    pub fn expect(&mut self, op: OpCode, body: Request, err: ErrorCode) -> Res<Bytes> {
        let (header, rest) = self.call(op, &body)?;
        if header.err != err {
            return Err(format!("{op:?}: expected {err:?}, got {:?}", header.err).into());
        }
        Ok(rest)
    }

    /// Closes the session (closeSession, then the server closes the socket).
    pub fn close_session(mut self) -> Res<()> {
        self.expect(OpCode::CloseSession, Request::Empty, ErrorCode::Ok)?;
        Ok(())
    }

    /// Drops the TCP connection without closing the session.
    pub fn disconnect(self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}
