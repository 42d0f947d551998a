//! Connection slots against hostile clients: whatever a client sends before its first request
//! head (a partial HTTP/2 preface, the preface and SETTINGS without HEADERS, half an HTTP/1
//! head, bytes trickled one by one), the connection is closed `header_read_timeout` after
//! accept; HTTP/1 and HTTP/2 connections with no request in flight are closed after
//! `idle_timeout`, even if they answer pings, but never while a request is in flight.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An empty SETTINGS frame: length 0, type 4, no flags, stream 0.
const SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];
const OPEN_ROUTE: &str = "[[routes]]\nid = \"open\"\npath_prefix = \"/open/\"\nauth = \"none\"\n";

/// The test config with these extra `[server]` keys, an app route and an `auth = "none"` one.
fn config(upstream: &Upstream, server: &str) -> String {
    config_text(&upstream.url(), &format!("{}{OPEN_ROUTE}", app_route(""))).replace(
        "shutdown_grace = \"5s\"",
        &format!("shutdown_grace = \"5s\"\n{server}"),
    )
}

/// Reads until the server closes the connection (EOF or reset); panics after [`DEADLINE`].
async fn wait_closed_by_server(stream: &mut TcpStream) {
    let mut sink = [0u8; 1024];
    deadline(async { while let Ok(1..) = stream.read(&mut sink).await {} }).await;
}

/// A signed app request on a fresh connection gets its `200`.
async fn assert_served(gateway: &TestGateway) {
    let body = app_body("usr_1", "acct_1");
    let answer = post_signed(&gateway.url("/api/x"), &body, &[]).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
}

#[tokio::test]
async fn connections_stalled_before_their_first_head_are_closed_and_free_their_slot() {
    let upstream = Upstream::start().await;
    let gateway = TestGateway::start(&config(
        &upstream,
        "max_connections = 2\nheader_read_timeout = \"300ms\"",
    ))
    .await;
    let preface_and_settings = [PREFACE, SETTINGS].concat();
    let stalls: [(&str, &[u8]); 4] = [
        ("the start of the HTTP/2 preface", b"PRI"),
        ("the HTTP/2 preface", PREFACE),
        ("the preface and SETTINGS", &preface_and_settings),
        (
            "half an HTTP/1 head",
            b"POST /api/x HTTP/1.1\r\nhost: gw\r\n",
        ),
    ];
    for (what, bytes) in stalls {
        let started = Instant::now();
        let mut stalled = Vec::new();
        for _ in 0..2 {
            let mut stream = deadline(TcpStream::connect(gateway.data))
                .await
                .expect("connect");
            deadline(stream.write_all(bytes)).await.expect("write");
            stalled.push(stream);
        }
        // Both slots are taken: this request is served only once the stalled ones are closed.
        assert_served(&gateway).await;
        for stream in &mut stalled {
            wait_closed_by_server(stream).await;
        }
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(250) && elapsed < Duration::from_secs(5),
            "{what}: closed after {elapsed:?}"
        );
    }
    assert_eq!(
        upstream.seen().len(),
        4,
        "only the signed requests were forwarded"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn bytes_trickled_before_the_first_head_do_not_extend_the_deadline() {
    let upstream = Upstream::start().await;
    let gateway = TestGateway::start(&config(
        &upstream,
        "max_connections = 2\nheader_read_timeout = \"300ms\"",
    ))
    .await;
    let http2 = [PREFACE, SETTINGS].concat();
    let http1 = b"POST /api/x HTTP/1.1\r\nhost: gw\r\nx-slow: 0123456789\r\n".to_vec();
    for bytes in [http2, http1] {
        let started = Instant::now();
        let mut stream = deadline(TcpStream::connect(gateway.data))
            .await
            .expect("connect");
        // One byte every 100 ms would take seconds to finish; the server must not wait for it.
        let mut pace = tokio::time::interval(Duration::from_millis(100));
        let mut sink = [0u8; 1024];
        let trickle = async {
            for byte in &bytes {
                pace.tick().await;
                if stream.write_all(std::slice::from_ref(byte)).await.is_err() {
                    return;
                }
                if let Ok(Ok(0) | Err(_)) =
                    tokio::time::timeout(Duration::ZERO, stream.read(&mut sink)).await
                {
                    return;
                }
            }
            wait_closed_by_server(&mut stream).await;
        };
        deadline(trickle).await;
        let elapsed = started.elapsed();
        assert!(
            elapsed < Duration::from_millis(100) * (bytes.len() as u32 - 2),
            "closed after {elapsed:?}, before the trickle ended"
        );
    }
    assert_served(&gateway).await;
    gateway.stop().await;
}

/// An HTTP/2 prior-knowledge client connection; the task answers pings until it ends.
async fn http2_client(
    gateway: &TestGateway,
) -> (
    http2::SendRequest<Empty<Bytes>>,
    tokio::task::JoinHandle<Result<(), hyper::Error>>,
) {
    gateway.http2().await
}

/// An HTTP/1.1 keep-alive client connection.
async fn http1_client(
    gateway: &TestGateway,
) -> (
    http1::SendRequest<Empty<Bytes>>,
    tokio::task::JoinHandle<Result<(), hyper::Error>>,
) {
    let stream = deadline(TcpStream::connect(gateway.data))
        .await
        .expect("connect");
    let (sender, connection) = deadline(http1::handshake(TokioIo::new(stream)))
        .await
        .expect("h1 handshake");
    (sender, tokio::spawn(connection))
}

/// `GET /open/x`: HTTP/2 wants the absolute URI (`:scheme`, `:authority`), HTTP/1 the path.
fn open_request(uri: &str) -> Request<Empty<Bytes>> {
    Request::builder()
        .method(Method::GET)
        .uri(uri)
        .header("host", "gw")
        .body(Empty::new())
        .expect("request")
}

/// Awaits `response`, reads its body and returns its status.
async fn status_of(
    response: impl std::future::Future<
        Output = Result<hyper::Response<hyper::body::Incoming>, hyper::Error>,
    >,
) -> StatusCode {
    let response = deadline(response).await.expect("response");
    let status = response.status();
    deadline(response.into_body().collect())
        .await
        .expect("body");
    status
}

/// One slot; heads may take long, so only `idle_timeout` can close these connections.
const IDLE_CONFIG: &str = "max_connections = 1\nheader_read_timeout = \"8s\"\nidle_timeout = \"400ms\"\nhttp2_keepalive_interval = \"100ms\"";

#[tokio::test]
async fn an_idle_http2_connection_answering_pings_is_closed_after_idle_timeout() {
    let upstream = Upstream::start().await;
    let gateway = TestGateway::start(&config(&upstream, IDLE_CONFIG)).await;
    let (mut sender, connection) = http2_client(&gateway).await;
    let status = status_of(sender.send_request(open_request(&gateway.url("/open/x")))).await;
    assert_eq!(status, StatusCode::OK);
    let idle_from = Instant::now();
    // Pings every 100 ms are answered by the client task, yet the server sends GOAWAY.
    let ended = deadline(connection).await.expect("connection task");
    let idle = idle_from.elapsed();
    assert!(ended.is_ok(), "closed gracefully: {ended:?}");
    assert!(
        idle >= Duration::from_millis(300) && idle < Duration::from_secs(4),
        "closed after {idle:?} idle"
    );
    // With `max_connections = 1`, being served shows the slot is free again.
    assert_served(&gateway).await;
    gateway.stop().await;
}

#[tokio::test]
async fn an_idle_http1_keep_alive_connection_is_closed_after_idle_timeout() {
    let upstream = Upstream::start().await;
    let gateway = TestGateway::start(&config(&upstream, IDLE_CONFIG)).await;
    let (mut sender, mut connection) = http1_client(&gateway).await;
    let status = status_of(sender.send_request(open_request("/open/x"))).await;
    assert_eq!(status, StatusCode::OK);
    let idle_from = Instant::now();
    deadline(&mut connection)
        .await
        .expect("connection task")
        .expect("closed cleanly");
    let idle = idle_from.elapsed();
    assert!(
        idle >= Duration::from_millis(300) && idle < Duration::from_secs(4),
        "closed after {idle:?} idle"
    );
    assert_served(&gateway).await;
    gateway.stop().await;
}

#[tokio::test]
async fn http1_keep_alive_lasts_idle_timeout_not_header_read_timeout() {
    let upstream = Upstream::start().await;
    let gateway = TestGateway::start(&config(
        &upstream,
        "header_read_timeout = \"300ms\"\nidle_timeout = \"5s\"",
    ))
    .await;
    let (mut sender, mut connection) = http1_client(&gateway).await;
    let status = status_of(sender.send_request(open_request("/open/x"))).await;
    assert_eq!(status, StatusCode::OK);
    let still_open = tokio::time::timeout(Duration::from_millis(900), &mut connection).await;
    assert!(
        still_open.is_err(),
        "closed while idle for less than idle_timeout"
    );
    deadline(sender.ready()).await.expect("still usable");
    let status = status_of(sender.send_request(open_request("/open/x"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(upstream.seen().len(), 2);
    gateway.stop().await;
}

#[tokio::test]
async fn a_later_http1_head_is_due_header_read_timeout_after_its_first_byte() {
    let upstream = Upstream::start().await;
    let gateway = TestGateway::start(&config(
        &upstream,
        "header_read_timeout = \"300ms\"\nidle_timeout = \"8s\"",
    ))
    .await;
    let mut stream = deadline(TcpStream::connect(gateway.data))
        .await
        .expect("connect");
    deadline(stream.write_all(b"GET /open/x HTTP/1.1\r\nhost: gw\r\n\r\n"))
        .await
        .expect("write");
    let mut answer = Vec::new();
    let mut chunk = [0u8; 1024];
    while !answer.ends_with(br#"{"ok":true}"#) {
        let n = deadline(stream.read(&mut chunk)).await.expect("read");
        assert!(n > 0, "closed before the answer");
        answer.extend_from_slice(&chunk[..n]);
    }
    assert!(answer.starts_with(b"HTTP/1.1 200"));
    // Idle, well within idle_timeout; then half a head, and a stall.
    let started = Instant::now();
    deadline(stream.write_all(b"GET /open/y HTTP/1.1\r\nhost:"))
        .await
        .expect("write");
    wait_closed_by_server(&mut stream).await;
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(4), "closed after {elapsed:?}");
    assert_eq!(upstream.seen().len(), 1);
    gateway.stop().await;
}

#[tokio::test]
async fn a_request_in_flight_longer_than_idle_timeout_keeps_its_connection() {
    let upstream = Upstream::start().await;
    upstream.behave(Behaviour {
        delay: Duration::from_millis(1200),
        ..Behaviour::default()
    });
    let gateway = TestGateway::start(&config(&upstream, IDLE_CONFIG)).await;
    let (mut sender, connection) = http2_client(&gateway).await;
    let status = status_of(sender.send_request(open_request(&gateway.url("/open/x")))).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "an h2 request outlives idle_timeout"
    );
    deadline(connection)
        .await
        .expect("connection task")
        .expect("then idles out gracefully");

    let (mut sender, connection) = http1_client(&gateway).await;
    let status = status_of(sender.send_request(open_request("/open/x"))).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "an h1 request outlives idle_timeout"
    );
    deadline(connection)
        .await
        .expect("connection task")
        .expect("then idles out");
    gateway.stop().await;
}

#[tokio::test]
async fn a_reset_http2_stream_no_longer_counts_as_in_flight() {
    let upstream = Upstream::start().await;
    upstream.behave(Behaviour {
        delay: Duration::from_secs(3),
        ..Behaviour::default()
    });
    let gateway = TestGateway::start(&config(&upstream, IDLE_CONFIG)).await;
    let (mut sender, connection) = http2_client(&gateway).await;
    let started = Instant::now();
    // The request reaches the upstream, then the client resets its stream (RST_STREAM).
    let mut response = Box::pin(sender.send_request(open_request(&gateway.url("/open/x"))));
    let seen_before = upstream.seen().len();
    let mut poll = tokio::time::interval(Duration::from_millis(20));
    deadline(async {
        while upstream.seen().len() == seen_before {
            tokio::select! {
                _ = response.as_mut() => panic!("answered before the upstream's delay"),
                _ = poll.tick() => {}
            }
        }
    })
    .await;
    drop(response);
    deadline(connection)
        .await
        .expect("connection task")
        .expect("closed gracefully");
    // The upstream answers at 3 s (the gateway's upstream timeout is 2 s): closing sooner
    // shows the reset request stopped counting at once.
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(1800),
        "closed after {elapsed:?}"
    );
    gateway.stop().await;
}
