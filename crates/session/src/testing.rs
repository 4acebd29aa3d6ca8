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
/// The original client may reconnect at the same moment and take the session back (each
/// resumption drops the other connection), so the takeover is retried until the server confirms
/// the close or says the session is already gone.
///
/// # Errors
/// I/O errors, or no success within 10 s.
pub async fn expire_session(addr: &str, session_id: i64, passwd: Bytes) -> io::Result<()> {
    let work = async {
        let mut last = io::Error::other("no attempt");
        for _ in 0..50 {
            match takeover(addr, session_id, passwd.clone()).await {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            }
        }
        Err(last)
    };
    tokio::time::timeout(Duration::from_secs(10), work)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no reply from the server"))?
}

/// Waits until `client`'s state satisfies `want`: checked at once, then at each session
/// event, for at most `within`.
///
/// # Errors
/// `TimedOut` when `within` passes first, `UnexpectedEof` when the session's events end.
pub async fn wait_for_state(
    client: &crate::Client,
    want: impl Fn(crate::SessionState) -> bool,
    within: Duration,
) -> io::Result<()> {
    let mut events = client.session_events();
    let work = async {
        loop {
            if want(client.state().state) {
                return Ok(());
            }
            match events.next().await {
                Some(ev) if want(ev.state) => return Ok(()),
                Some(_) => {}
                None => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
            }
        }
    };
    tokio::time::timeout(within, work)
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?
}

async fn takeover(addr: &str, session_id: i64, passwd: Bytes) -> io::Result<()> {
    {
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
        let response = read_frame(&mut stream)
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("reading the ConnectResponse: {e}")))?;
        let response: ConnectResponse = zk_proto::from_bytes(response, "ConnectResponse")
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        if response.is_expired() {
            // Already gone: as good as closed.
            return Ok(());
        }
        out.clear();
        write_frame(&mut out, |b| {
            RequestHeader {
                xid: 1,
                op: OpCode::CloseSession,
            }
            .encode(b)
        });
        stream.write_all(&out).await?;
        read_frame(&mut stream).await.map_err(|e| {
            io::Error::new(e.kind(), format!("reading the CloseSession reply: {e}"))
        })?;
        Ok(())
    }
}

async fn read_frame(stream: &mut TcpStream) -> io::Result<Bytes> {
    let decoder = FrameDecoder::default();
    let mut buf = BytesMut::new();
    loop {
        if let Some(frame) = decoder
            .decode(&mut buf)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
        {
            return Ok(frame);
        }
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
}
