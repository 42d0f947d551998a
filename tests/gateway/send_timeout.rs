//! `server.send_timeout` against clients that do not read: an HTTP/2 client with a zero
//! flow-control window, an HTTP/1 client that never reads a large body and one that pipelines
//! requests behind answers it does not read are dropped once they have been waited on for
//! `send_timeout`, which frees their slot (and the upstream connection); a slow upstream and a
//! slow but reading client are not cut off.

mod frames;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;
use bytes::Bytes;
use frames::{answer_frames, zero_window_request};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http2;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

const SEND_TIMEOUT: Duration = Duration::from_millis(500);
/// Two slots; heads and idle connections may take long, so only `send_timeout` closes early.
const SERVER: &str = "max_connections = 2\nsend_timeout = \"500ms\"\nheader_read_timeout = \"8s\"\nidle_timeout = \"8s\"\nhttp2_keepalive_interval = \"100ms\"";
const OPEN_ROUTE: &str =
    "[[routes]]\nid = \"open\"\npath_prefix = \"/open/\"\nauth = \"none\"\ntimeout = \"10s\"\n";
/// `/open/big`: far more than the kernel buffers of a connection hold (4 MiB send buffer).
const BIG: usize = 16 << 20;
static CHUNK: [u8; 64 << 10] = [b'x'; 64 << 10];
/// How long `/open/pause` pauses mid-body and `/open/slow-head` before its head.
const PAUSE: Duration = Duration::from_secs(1);

/// A raw HTTP/1 upstream: `/open/big` is [`BIG`] bytes of `x`, `/open/pause` sends `first`,
/// pauses, then `last`; `/open/slow-head` answers `ok` after a pause; anything else `ok`.
struct RawUpstream {
    url: String,
    big_requests: Arc<AtomicUsize>,
    /// `/open/big` answers that ended, written or cut off by the gateway.
    big_ended: Arc<AtomicUsize>,
}

impl RawUpstream {
    async fn start() -> RawUpstream {
        let listener = deadline(TcpListener::bind("127.0.0.1:0"))
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (big_requests, big_ended) = (Arc::default(), Arc::default());
        let counters = (Arc::clone(&big_requests), Arc::clone(&big_ended));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_upstream(stream, counters.clone()));
            }
        });
        RawUpstream {
            url,
            big_requests,
            big_ended,
        }
    }
}

async fn serve_upstream(
    stream: TcpStream,
    (big_requests, big_ended): (Arc<AtomicUsize>, Arc<AtomicUsize>),
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    loop {
        let mut line = String::new();
        if read.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let path = line.split(' ').nth(1).unwrap_or("/").to_string();
        while !matches!(line.as_str(), "\r\n" | "") {
            line.clear();
            read.read_line(&mut line).await?;
        }
        match path.as_str() {
            "/open/big" => {
                big_requests.fetch_add(1, Ordering::SeqCst);
                let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {BIG}\r\n\r\n");
                let mut written = write.write_all(head.as_bytes()).await;
                for _ in 0..BIG / CHUNK.len() {
                    if written.is_ok() {
                        written = write.write_all(&CHUNK).await;
                    }
                }
                big_ended.fetch_add(1, Ordering::SeqCst);
                written?;
            }
            "/open/pause" => {
                let head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n";
                write.write_all(head.as_bytes()).await?;
                tokio::time::sleep(PAUSE).await;
                write.write_all(b"4\r\nlast\r\n0\r\n\r\n").await?;
            }
            other => {
                if other == "/open/slow-head" {
                    tokio::time::sleep(PAUSE).await;
                }
                write
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await?;
            }
        }
    }
}

async fn start() -> (RawUpstream, TestGateway) {
    let upstream = RawUpstream::start().await;
    let text = config_text(&upstream.url, OPEN_ROUTE).replace(
        "shutdown_grace = \"5s\"",
        &format!("shutdown_grace = \"5s\"\n{SERVER}"),
    );
    (upstream, TestGateway::start(&text).await)
}

/// A normal client gets its answer (with both slots taken: once one is given back).
async fn assert_served(gateway: &TestGateway) {
    let answer = send(Method::GET, &gateway.url("/open/small"), &[], Bytes::new()).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, "ok");
}

#[tokio::test]
async fn http2_clients_with_a_zero_window_are_dropped_and_free_their_slot() {
    let (_upstream, gateway) = start().await;
    let mut stuck = Vec::new();
    for _ in 0..2 {
        let mut stream = zero_window_request(&gateway).await;
        let sent = Instant::now();
        assert!(deadline(answer_frames(&mut stream, true)).await, "404 head");
        stuck.push(tokio::spawn(async move {
            // Answering pings and SETTINGS keeps nothing open.
            deadline(answer_frames(&mut stream, false)).await;
            sent.elapsed()
        }));
    }
    assert_served(&gateway).await;
    for closed in stuck {
        let after = deadline(closed).await.expect("client task");
        assert!(
            after >= SEND_TIMEOUT - Duration::from_millis(50) && after < Duration::from_secs(4),
            "closed {after:?} after the request"
        );
    }
    gateway.stop().await;
}

/// Waits until `counter` reaches `count`.
async fn wait_for(counter: &AtomicUsize, count: usize) {
    let mut poll = tokio::time::interval(Duration::from_millis(10));
    deadline(async {
        while counter.load(Ordering::SeqCst) < count {
            poll.tick().await;
        }
    })
    .await;
}

/// A connection whose receive buffer is fixed at 64 KiB (no autotuning).
async fn small_buffer_connection(gateway: &TestGateway) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(64 << 10).expect("SO_RCVBUF");
    deadline(socket.connect(gateway.data))
        .await
        .expect("connect")
}

/// Reads to the end of the stream; returns how many bytes came.
async fn read_to_close(stream: &mut TcpStream) -> usize {
    let mut sink = vec![0u8; 64 << 10];
    let mut total = 0;
    while let Ok(n @ 1..) = deadline(stream.read(&mut sink)).await {
        total += n;
    }
    total
}

/// A normal HTTP/1 keep-alive client that gets its answer and keeps its connection (and so its
/// slot) open.
async fn served_and_kept(
    gateway: &TestGateway,
) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
    let stream = deadline(TcpStream::connect(gateway.data))
        .await
        .expect("connect");
    let (mut sender, connection) =
        deadline(hyper::client::conn::http1::handshake(TokioIo::new(stream)))
            .await
            .expect("h1 handshake");
    tokio::spawn(connection);
    let response = deadline(sender.send_request(get("/open/small")))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    deadline(response.into_body().collect())
        .await
        .expect("body");
    sender
}

#[tokio::test]
async fn http1_clients_that_never_read_a_large_body_are_dropped_and_free_their_slot() {
    let (upstream, gateway) = start().await;
    let started = Instant::now();
    let mut stuck = Vec::new();
    for _ in 0..2 {
        let mut stream = small_buffer_connection(&gateway).await;
        deadline(stream.write_all(b"GET /open/big HTTP/1.1\r\nhost: gw\r\n\r\n"))
            .await
            .expect("write");
        stuck.push(stream);
    }
    wait_for(&upstream.big_requests, 2).await;
    // Two normal clients that keep their connections open need both slots back.
    let _kept = [
        served_and_kept(&gateway).await,
        served_and_kept(&gateway).await,
    ];
    let served = started.elapsed();
    assert!(
        served >= SEND_TIMEOUT - Duration::from_millis(50) && served < Duration::from_secs(5),
        "both slots were given back after {served:?}"
    );
    // The upstream answers were dropped with them, not held.
    wait_for(&upstream.big_ended, 2).await;
    // Both were dropped, so reading now cannot revive them: what is buffered, then the end.
    for stream in &mut stuck {
        let received = read_to_close(stream).await;
        assert!(received < BIG, "cut off: {received} bytes");
    }
    gateway.stop().await;
}

#[tokio::test]
async fn pipelined_http1_requests_behind_unread_responses_are_dropped() {
    let (_upstream, gateway) = start().await;
    // Enough small 404s to fill every buffer on the way: the last answer waits in hyper's
    // write buffer, and hyper does not poll the service of the next request until it drains.
    let requests = b"GET /no/such/route HTTP/1.1\r\nhost: gw\r\n\r\n".repeat(100_000);
    let started = Instant::now();
    let mut writers = Vec::new();
    for _ in 0..2 {
        let mut stream = small_buffer_connection(&gateway).await;
        let requests = requests.clone();
        // Ends once all is written, or when the gateway drops the connection; its output, the
        // stream, stays open (unread) as long as the handle.
        writers.push(tokio::spawn(async move {
            let _ = deadline(stream.write_all(&requests)).await;
            stream
        }));
    }
    let _kept = [
        served_and_kept(&gateway).await,
        served_and_kept(&gateway).await,
    ];
    let served = started.elapsed();
    assert!(
        served >= SEND_TIMEOUT - Duration::from_millis(50) && served < Duration::from_secs(8),
        "both slots were given back after {served:?}"
    );
    gateway.stop().await;
}

/// An HTTP/2 prior-knowledge client connection.
async fn http2_client(gateway: &TestGateway) -> http2::SendRequest<Empty<Bytes>> {
    gateway.http2().await.0
}

fn get(uri: &str) -> Request<Empty<Bytes>> {
    Request::builder()
        .uri(uri)
        .body(Empty::new())
        .expect("request")
}

#[tokio::test]
async fn a_slow_upstream_is_waited_for_longer_than_send_timeout() {
    let (_upstream, gateway) = start().await;
    for (path, expected) in [("/open/pause", "firstlast"), ("/open/slow-head", "ok")] {
        let started = Instant::now();
        let answer = send(Method::GET, &gateway.url(path), &[], Bytes::new()).await;
        assert_eq!(
            (answer.status, &answer.body[..]),
            (StatusCode::OK, expected.as_bytes())
        );
        assert!(started.elapsed() >= PAUSE, "HTTP/1 {path}");

        let started = Instant::now();
        let mut sender = http2_client(&gateway).await;
        let response = deadline(sender.send_request(get(&gateway.url(path))))
            .await
            .expect("h2 response");
        let body = deadline(response.into_body().collect())
            .await
            .expect("h2 body")
            .to_bytes();
        assert_eq!(body, expected);
        assert!(started.elapsed() >= PAUSE, "HTTP/2 {path}");
    }
    gateway.stop().await;
}

/// Pause this long after every [`PACE_EVERY`] bytes: less than `send_timeout` each time,
/// several times more in total.
const PACE: Duration = Duration::from_millis(150);
const PACE_EVERY: usize = 2 << 20;

#[tokio::test]
async fn a_slow_but_reading_client_gets_the_whole_body() {
    let (_upstream, gateway) = start().await;
    let minimum = PACE * (BIG / PACE_EVERY - 1) as u32;
    assert!(minimum > SEND_TIMEOUT * 2);

    // HTTP/1, 16 KiB reads; the body is all `x`, so framing never counts.
    let started = Instant::now();
    let mut stream = small_buffer_connection(&gateway).await;
    deadline(stream.write_all(b"GET /open/big HTTP/1.1\r\nhost: gw\r\n\r\n"))
        .await
        .expect("write");
    let mut buffer = vec![0u8; 16 << 10];
    let (mut body, mut paced) = (0, 0);
    while body < BIG {
        let n = deadline(stream.read(&mut buffer)).await.expect("read");
        assert!(n > 0, "closed after {body} body bytes");
        body += buffer[..n].iter().filter(|&&b| b == b'x').count();
        if body - paced >= PACE_EVERY {
            paced = body;
            tokio::time::sleep(PACE).await;
        }
    }
    assert!(started.elapsed() >= minimum);

    // HTTP/2: the client's window (2 MiB by default) fills during each pause.
    let started = Instant::now();
    let mut sender = http2_client(&gateway).await;
    let response = deadline(sender.send_request(get(&gateway.url("/open/big"))))
        .await
        .expect("h2 response");
    let mut frames = response.into_body();
    let (mut body, mut paced) = (0, 0);
    while let Some(frame) = deadline(frames.frame()).await {
        let frame = frame.unwrap_or_else(|err| panic!("cut off after {body} bytes: {err}"));
        body += frame.data_ref().map_or(0, Bytes::len);
        if body - paced >= PACE_EVERY {
            paced = body;
            tokio::time::sleep(PACE).await;
        }
    }
    assert_eq!(body, BIG);
    assert!(started.elapsed() >= minimum);
    gateway.stop().await;
}
