//! Read timeouts against clients that stall: a body that never completes gets `408
//! body_timeout` (a signed one is never forwarded; a streamed one is cut off at the upstream);
//! a request head that never completes closes the connection after `header_read_timeout`.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body::{Body, Frame};
use http_body_util::Channel;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

/// An `auth = "none"` route: its body streams to the upstream as it arrives.
const OPEN_ROUTE: &str = "[[routes]]\nid = \"open\"\npath_prefix = \"/open/\"\nauth = \"none\"\n";

fn config(upstream: &Upstream) -> String {
    let routes = format!("{}{OPEN_ROUTE}", app_route(""));
    config_text(&upstream.url(), &routes).replace(
        "shutdown_grace = \"5s\"",
        "shutdown_grace = \"5s\"\nbody_read_timeout = \"300ms\"\nheader_read_timeout = \"300ms\"",
    )
}

async fn read_to_end(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    deadline(stream.read_to_end(&mut answer))
        .await
        .expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_body_that_stalls_gets_408_and_is_not_forwarded() {
    let upstream = Upstream::start().await;
    let gateway = TestGateway::start(&config(&upstream)).await;
    let body = app_body("usr_1", "acct_1");
    let header = sign(&[APP_SECRET], now(), &body);
    let mut stream = deadline(TcpStream::connect(gateway.data))
        .await
        .expect("connect");
    let head = format!(
        "POST /api/x HTTP/1.1\r\nhost: gw\r\nstripe-signature: {header}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream
        .write_all(&body[..10])
        .await
        .expect("write part of the body");
    let answer = read_to_end(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"body_timeout\""), "{answer}");
    assert!(upstream.seen().is_empty());
    gateway.stop().await;
}

/// The upstream timeout (2 s) is far beyond `body_read_timeout` (300 ms): the client's stall
/// is answered as the client's, at its own deadline, and is no upstream error.
#[tokio::test]
async fn a_streamed_body_that_stalls_gets_408_not_an_upstream_timeout() {
    let upstream = Upstream::start().await;
    let gateway = TestGateway::start(&config(&upstream)).await;
    let mut stream = deadline(TcpStream::connect(gateway.data))
        .await
        .expect("connect");
    let head = "POST /open/upload HTTP/1.1\r\nhost: gw\r\ncontent-length: 100\r\n\r\n";
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream
        .write_all(b"0123456789")
        .await
        .expect("write 10 of 100");
    let started = Instant::now();
    let answer = read_to_end(&mut stream).await;
    let took = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"body_timeout\""), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert!(took < Duration::from_millis(1500), "answered at {took:?}");
    let metrics = gateway.metrics();
    assert_no_upstream_error(&metrics);
    let counted = r#"stripe_app_gateway_requests_total{route="open",status="408"} 1"#;
    assert!(metrics.contains(counted), "{metrics}");
    gateway.stop().await;
}

#[tokio::test]
async fn an_http2_streamed_body_that_stalls_gets_408() {
    let upstream = Upstream::start().await;
    let gateway = TestGateway::start(&config(&upstream)).await;
    let (mut sender, connection) = gateway.http2().await;
    // Ten of the hundred bytes announced, then nothing (the channel is kept open).
    let (mut pieces, body) = Channel::<Bytes, std::io::Error>::new(1);
    pieces
        .try_send(Frame::data(Bytes::from_static(b"0123456789")))
        .expect("send");
    let request = Request::post(format!("http://{}/open/upload", gateway.data))
        .header("content-length", "100")
        .body(body)
        .expect("request");
    let started = Instant::now();
    let response = deadline(sender.send_request(request))
        .await
        .expect("answered");
    let took = started.elapsed();
    assert_eq!(response.status(), 408);
    assert!(took < Duration::from_millis(1500), "answered at {took:?}");
    assert_no_upstream_error(&gateway.metrics());
    drop(pieces);
    connection.abort();
    gateway.stop().await;
}

/// A body of `left` zero bytes, in frames of at most 64 KiB, as fast as the connection takes
/// them.
struct Zeros {
    left: usize,
}

impl Body for Zeros {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
        let this = self.get_mut();
        let take = this.left.min(ZEROS.len());
        this.left -= take;
        Poll::Ready((take > 0).then(|| Ok(Frame::data(Bytes::from_static(&ZEROS[..take])))))
    }
}

/// An upstream that accepts connections and never reads from them (a tiny receive buffer):
/// whatever is relayed to it waits.
async fn never_reading_upstream() -> String {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let addr = socket.local_addr().expect("addr");
    let listener = socket.listen(64).expect("listen");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    format!("http://{addr}")
}

/// Uploads on one HTTP/2 connection whose upstream does not take them hold their streams'
/// unread bytes; another stream on that connection must still be able to send its body (the
/// gateway's own flow control must not stall it), so it is answered, not timed out as a
/// client that stalled.
#[tokio::test]
async fn uploads_held_by_a_slow_upstream_do_not_stall_other_streams_of_the_connection() {
    let upstream = Upstream::start().await;
    let stuck = never_reading_upstream().await;
    let routes = format!(
        "{OPEN_ROUTE}[[routes]]\nid = \"stuck\"\npath_prefix = \"/stuck/\"\nauth = \"none\"\nupstream = \"{stuck}\"\ntimeout = \"30s\"\n"
    );
    let text = config_text(&upstream.url(), &routes).replace(
        "shutdown_grace = \"5s\"",
        "shutdown_grace = \"5s\"\nbody_read_timeout = \"500ms\"",
    );
    let gateway = TestGateway::start(&text).await;
    let (sender, connection) = gateway.http2().await;
    // Sixteen uploads of 16 MiB each, none of which the upstream takes.
    let mut uploads = Vec::new();
    for i in 0..16 {
        let mut sender = sender.clone();
        let request = Request::post(format!("http://{}/stuck/{i}", gateway.data))
            .body(Zeros { left: 16 << 20 })
            .expect("request");
        uploads.push(tokio::spawn(
            async move { sender.send_request(request).await },
        ));
    }
    // Long enough for the uploads to fill every buffer on their way.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let request = Request::post(format!("http://{}/open/other", gateway.data))
        .header("content-length", "10")
        .body(Zeros { left: 10 })
        .expect("request");
    let mut sender = sender;
    let response = deadline(sender.send_request(request))
        .await
        .expect("answered");
    assert_eq!(response.status(), 200);
    for upload in uploads {
        upload.abort();
    }
    connection.abort();
    gateway.stop().await;
}

#[tokio::test]
async fn a_streamed_body_sent_in_pieces_within_the_deadline_is_forwarded() {
    let upstream = Upstream::start().await;
    let gateway = TestGateway::start(&config(&upstream)).await;
    let mut stream = deadline(TcpStream::connect(gateway.data))
        .await
        .expect("connect");
    let head =
        "POST /open/upload HTTP/1.1\r\nhost: gw\r\ncontent-length: 40\r\nconnection: close\r\n\r\n";
    stream.write_all(head.as_bytes()).await.expect("write head");
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        stream.write_all(b"0123456789").await.expect("write 10");
    }
    let answer = read_to_end(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(&seen[0].body[..], &b"0123456789".repeat(4)[..]);
    gateway.stop().await;
}

#[tokio::test]
async fn a_request_head_that_stalls_is_cut_off() {
    let upstream = Upstream::start().await;
    let gateway = TestGateway::start(&config(&upstream)).await;
    let mut stream = deadline(TcpStream::connect(gateway.data))
        .await
        .expect("connect");
    stream
        .write_all(b"POST /api/x HTTP/1.1\r\nhost: gw\r\nx-slow: ")
        .await
        .expect("write");
    let started = std::time::Instant::now();
    let answer = read_to_end(&mut stream).await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "closed after the header timeout"
    );
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    assert!(upstream.seen().is_empty());
    gateway.stop().await;
}

#[tokio::test]
async fn a_connection_that_never_speaks_is_closed() {
    let upstream = Upstream::start().await;
    let gateway = TestGateway::start(&config(&upstream)).await;
    let mut silent = deadline(TcpStream::connect(gateway.data))
        .await
        .expect("connect");
    let started = std::time::Instant::now();
    assert_eq!(read_to_end(&mut silent).await, "");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    gateway.stop().await;
}

#[tokio::test]
async fn connections_beyond_max_connections_wait_for_a_free_slot() {
    let upstream = Upstream::start().await;
    let text = config(&upstream).replace(
        "shutdown_grace = \"5s\"",
        "shutdown_grace = \"5s\"\nmax_connections = 1",
    );
    let gateway = TestGateway::start(&text).await;
    let body = app_body("usr_1", "acct_1");
    let request = |header: &str| {
        format!(
            "POST /api/x HTTP/1.1\r\nhost: gw\r\nstripe-signature: {header}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
            body.len(),
            String::from_utf8_lossy(&body)
        )
    };
    // The first connection holds the only slot until it closes: it is answered once (so it was
    // accepted before the second connection exists), then sends half of a second head.
    let mut first = deadline(TcpStream::connect(gateway.data))
        .await
        .expect("connect");
    let kept = request(&sign(&[APP_SECRET], now(), &body))
        .replace("connection: close", "connection: keep-alive");
    first.write_all(kept.as_bytes()).await.expect("write");
    let mut status = [0u8; 12];
    deadline(first.read_exact(&mut status))
        .await
        .expect("the first request is answered");
    assert_eq!(&status, b"HTTP/1.1 200");
    first
        .write_all(b"POST /api/x HTTP/1.1\r\nhost: gw\r\n")
        .await
        .expect("write");
    let mut second = deadline(TcpStream::connect(gateway.data))
        .await
        .expect("connect (kernel backlog)");
    second
        .write_all(request(&sign(&[APP_SECRET], now(), &body)).as_bytes())
        .await
        .expect("write");
    let mut probe = [0u8; 1];
    let early = tokio::time::timeout(
        std::time::Duration::from_millis(150),
        second.peek(&mut probe),
    )
    .await;
    assert!(
        early.is_err(),
        "the second connection is not served while the first holds the slot"
    );
    drop(first);
    let answer = read_to_end(&mut second).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    gateway.stop().await;
}

#[tokio::test]
async fn a_broken_chunked_body_is_400_body_unreadable() {
    let upstream = Upstream::start().await;
    let gateway = TestGateway::start(&config(&upstream)).await;
    let header = sign(&[APP_SECRET], now(), b"{}");
    let mut stream = deadline(TcpStream::connect(gateway.data))
        .await
        .expect("connect");
    let request = format!(
        "POST /api/x HTTP/1.1\r\nhost: gw\r\nstripe-signature: {header}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\nzz\r\n{{}}\r\n0\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let answer = read_to_end(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("\"code\":\"body_unreadable\""), "{answer}");
    assert!(upstream.seen().is_empty());
    gateway.stop().await;
}
