//! Helpers for tests of code built on this crate.

use std::io;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zk_proto::frame::{FrameDecoder, write_frame};
use zk_proto::{ConnectRequest, ConnectResponse, Jute, OpCode, RequestHeader};

/// Expires a session on the server, for real: connects to `addr` with the session's id and
/// password (a takeover, which the server allows and which drops the original connection), then
/// closes the session. The server deletes its ephemeral nodes at once and the original client
/// learns of the expiry when it reconnects. This is the technique of ZooKeeper's own
/// `SessionTest`; unlike a client-side fake, the server really forgets the session.
///
/// # Errors
/// I/O errors, a handshake the server refused, or no reply within 10 s.
pub async fn expire_session(addr: &str, session_id: i64, passwd: Bytes) -> io::Result<()> {
    let work = async {
        let mut stream = TcpStream::connect(addr).await?;
        let mut out = BytesMut::new();
        let request = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out: 30_000,
            session_id,
            passwd: Some(passwd),
            read_only: Some(false),
        };
        write_frame(&mut out, |b| request.encode(b));
        stream.write_all(&out).await?;
        let response = read_frame(&mut stream).await?;
        let response: ConnectResponse = zk_proto::from_bytes(response, "ConnectResponse")
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        if response.is_expired() || response.session_id != session_id {
            return Err(io::Error::other("the server refused to resume the session"));
        }
        out.clear();
        write_frame(&mut out, |b| RequestHeader { xid: 1, op: OpCode::CloseSession }.encode(b));
        stream.write_all(&out).await?;
        read_frame(&mut stream).await?;
        Ok(())
    };
    tokio::time::timeout(Duration::from_secs(10), work)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no reply from the server"))?
}

async fn read_frame(stream: &mut TcpStream) -> io::Result<Bytes> {
    let decoder = FrameDecoder::default();
    let mut buf = BytesMut::new();
    loop {
        if let Some(frame) =
            decoder.decode(&mut buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
        {
            return Ok(frame);
        }
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
}
