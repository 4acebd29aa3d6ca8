//! The receive low-water mark (`SessionConfig::read_coalescing`) against a scripted server on
//! loopback, which answers some of the requests in flight with the smallest replies there are
//! and then falls silent: the replies that came are delivered at once (not held back for the
//! ones behind them), and only the silence after them costs the connection.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use zk_proto::frame::{FrameDecoder, write_frame};
use zk_proto::{ConnectResponse, ErrorCode, Jute, Reader, ReplyHeader, RequestHeader};
use zk_session::{Client, Error, ReadCoalescing, SessionConfig};

/// Reads one frame's payload; `None` at EOF.
async fn read_frame(stream: &mut TcpStream, buf: &mut BytesMut) -> Option<Bytes> {
    let decoder = FrameDecoder::default();
    loop {
        if let Some(frame) = decoder.decode(buf).expect("a well-formed frame") {
            return Some(frame);
        }
        if stream.read_buf(buf).await.ok()? == 0 {
            return None;
        }
    }
}

/// A server for one connection: the handshake, then it waits for `requests` requests, answers
/// the first `answered` with NoNode (a bare 20-byte reply frame, the smallest there is) and says
/// nothing more, pings included. Sends the time it wrote the replies.
async fn scripted_server(
    requests: usize,
    answered: usize,
) -> (SocketAddr, oneshot::Receiver<Instant>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (written_tx, written_rx) = oneshot::channel();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = BytesMut::new();
        read_frame(&mut stream, &mut buf).await.unwrap();
        let mut out = BytesMut::new();
        write_frame(&mut out, |b| {
            ConnectResponse {
                protocol_version: 0,
                time_out: 3000,
                session_id: 0x77,
                passwd: Some(Bytes::from_static(&[7; 16])),
                read_only: Some(false),
            }
            .encode(b)
        });
        stream.write_all(&out).await.unwrap();

        let mut xids = Vec::new();
        while xids.len() < requests {
            let frame = read_frame(&mut stream, &mut buf).await.unwrap();
            let header = RequestHeader::decode(&mut Reader::new(frame), "RequestHeader").unwrap();
            if header.xid > 0 {
                xids.push(header.xid);
            }
        }
        let mut out = BytesMut::new();
        for &xid in &xids[..answered] {
            write_frame(&mut out, |b| {
                ReplyHeader {
                    xid,
                    zxid: 5,
                    err: ErrorCode::NoNode,
                }
                .encode(b)
            });
        }
        assert_eq!(out.len(), 20 * answered);
        stream.write_all(&out).await.unwrap();
        let _ = written_tx.send(Instant::now());
        // Silence: read and drop whatever comes (pings), answer nothing.
        while read_frame(&mut stream, &mut buf).await.is_some() {}
    });
    (addr, written_rx)
}

/// What became of one call: its number, its result, and when it ended.
type Ended = (
    usize,
    Result<(bytes::Bytes, zk_proto::Stat), Error>,
    Instant,
);

/// Eight getData calls against a server that answers three of them and falls silent; the
/// results in call order, and when the server wrote its three replies.
async fn eight_calls_three_answered(mode: ReadCoalescing) -> (Vec<Ended>, Instant) {
    let (addr, written) = scripted_server(8, 3).await;
    let config = SessionConfig {
        session_timeout: Duration::from_secs(3),
        probe_server_version: false,
        max_refused_rounds: 1_000,
        read_coalescing: mode,
        ..SessionConfig::default()
    };
    let client = Client::connect_with(&addr.to_string(), config)
        .await
        .unwrap();
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..8 {
        let c = client.clone();
        calls.spawn(async move {
            let result = c.get_data(&format!("/n{i}")).await;
            (i, result, Instant::now())
        });
    }
    let written = tokio::time::timeout(Duration::from_secs(10), written)
        .await
        .expect("the server got the eight requests")
        .unwrap();
    let mut results = Vec::new();
    let all = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(done) = calls.join_next().await {
            results.push(done.unwrap());
        }
    });
    all.await.expect("every call ends");
    results.sort_by_key(|(i, _, _)| *i);
    (results, written)
}

#[tokio::test]
async fn replies_that_arrived_are_delivered_though_the_ones_behind_them_never_come() {
    assert_eq!(
        SessionConfig::default().read_coalescing,
        ReadCoalescing::Adaptive
    );
    // Eight in flight: the mark goes up to at least 8 × 20 bytes; only 60 come.
    for mode in [
        ReadCoalescing::Certain,
        ReadCoalescing::Expected,
        ReadCoalescing::Adaptive,
    ] {
        let (results, written) = eight_calls_three_answered(mode).await;
        for (i, result, at) in &results[..3] {
            assert_eq!(result, &Err(Error::NoNode), "{mode:?}: call {i}");
            // Not held until the ping (1 s of silence) or the read timeout (2 s).
            let waited = at.saturating_duration_since(written);
            assert!(
                waited < Duration::from_millis(500),
                "{mode:?}: call {i} waited {waited:?}"
            );
        }
        for (i, result, at) in &results[3..] {
            assert_eq!(result, &Err(Error::ConnectionLoss), "{mode:?}: call {i}");
            // Lost only to the read timeout, two thirds of the session timeout.
            let waited = at.saturating_duration_since(written);
            assert!(
                waited >= Duration::from_millis(1500),
                "{mode:?}: call {i} lost after {waited:?}"
            );
        }
    }
}

#[tokio::test]
async fn without_the_mark_the_same_replies_are_delivered_as_they_come() {
    let (results, _) = eight_calls_three_answered(ReadCoalescing::Off).await;
    let errors: Vec<Error> = results
        .into_iter()
        .map(|(_, r, _)| r.unwrap_err())
        .collect();
    assert_eq!(errors[..3], [Error::NoNode, Error::NoNode, Error::NoNode]);
    assert!(errors[3..].iter().all(|e| *e == Error::ConnectionLoss));
}
