//! Limits of the request pipeline under hostile or failing peers: upstream statuses outside
//! what HTTP defines, the shared budget of buffered bodies, and when a replay mark is given
//! back after an upstream failure.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::*;

/// A raw HTTP/1.1 upstream answering every request with `reply` (keep-alive).
async fn raw_upstream(reply: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 4096];
                while let Ok(n @ 1..) = stream.read(&mut chunk).await {
                    buffer.extend_from_slice(&chunk[..n]);
                    while let Some(end) = complete_request(&buffer) {
                        buffer.drain(..end);
                        if stream.write_all(reply).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    url
}

/// The length of the first complete request (head and `Content-Length` body) in `buffer`.
fn complete_request(buffer: &[u8]) -> Option<usize> {
    let head_end = buffer.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map_or(0, |value| value.trim().parse::<usize>().unwrap_or(0));
    (buffer.len() >= head_end + length).then_some(head_end + length)
}

fn open_route(id: &str, prefix: &str, extra: &str) -> String {
    format!("[[routes]]\nid = \"{id}\"\npath_prefix = \"{prefix}\"\nauth = \"none\"\n{extra}\n")
}

/// The value of the metric line `series` (labels included), if present.
fn metric(gateway: &TestGateway, series: &str) -> Option<f64> {
    gateway.metrics().lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.parse().ok()
    })
}

/// Waits until the metric `series` reads `wanted`.
async fn wait_for_metric(gateway: &TestGateway, series: &str, wanted: f64) {
    deadline(async {
        while metric(gateway, series) != Some(wanted) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

const INVALID: &str =
    r#"stripe_app_gateway_upstream_errors_total{kind="invalid_response",route="ui"}"#;
const BUFFERED: &str = "stripe_app_gateway_buffered_body_bytes";

#[tokio::test]
async fn statuses_beyond_599_from_the_upstream_are_502_and_counted() {
    let healthy = raw_upstream(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
    let replies: [&'static [u8]; 3] = [
        b"HTTP/1.1 799 Weird\r\ncontent-length: 0\r\n\r\n",
        b"HTTP/1.1 600 Six\r\ncontent-length: 5\r\n\r\nhello",
        b"HTTP/1.1 999 Max\r\ncontent-length: 0\r\n\r\n",
    ];
    for reply in replies {
        let weird = raw_upstream(reply).await;
        let routes = format!(
            "{}{}{}",
            app_route(""),
            open_route("weird-open", "/weird/", ""),
            open_route("fine", "/fine/", &format!("upstream = \"{healthy}\""))
        );
        let gateway = TestGateway::start(&config_text(&weird, &routes)).await;
        for attempt in 1..=2 {
            let answer =
                post_signed(&gateway.url("/api/x"), &app_body("usr_1", "acct_1"), &[]).await;
            assert_error(&answer, 502, "upstream_unavailable");
            assert_eq!(metric(&gateway, INVALID), Some(f64::from(attempt)));
        }
        let answer = send(Method::GET, &gateway.url("/weird/x"), &[], "").await;
        assert_error(&answer, 502, "upstream_unavailable");
        let answer = send(Method::GET, &gateway.url("/fine/x"), &[], "").await;
        assert_eq!(answer.status, 200, "the gateway keeps serving");
        let requests = r#"stripe_app_gateway_requests_total{route="ui",status="502"}"#;
        assert_eq!(metric(&gateway, requests), Some(2.0));
        gateway.stop().await;
    }
}

#[tokio::test]
async fn an_http2_connection_survives_an_upstream_status_beyond_599() {
    let healthy = raw_upstream(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
    let weird = raw_upstream(b"HTTP/1.1 799 Weird\r\ncontent-length: 0\r\n\r\n").await;
    let routes = format!(
        "{}{}",
        app_route(""),
        open_route("fine", "/fine/", &format!("upstream = \"{healthy}\""))
    );
    let gateway = TestGateway::start(&config_text(&weird, &routes)).await;
    let stream = deadline(TcpStream::connect(gateway.data))
        .await
        .expect("connect");
    let (mut sender, connection) = deadline(hyper::client::conn::http2::handshake(
        TokioExecutor::new(),
        TokioIo::new(stream),
    ))
    .await
    .expect("h2 handshake");
    tokio::spawn(connection);
    let body = app_body("usr_1", "acct_1");
    let signature = sign(&[APP_SECRET], now(), &body);
    let requests = [
        ("/api/x", Some(signature.as_str()), StatusCode::BAD_GATEWAY),
        ("/fine/x", None, StatusCode::OK),
        ("/api/x", Some(signature.as_str()), StatusCode::BAD_GATEWAY),
        ("/fine/x", None, StatusCode::OK),
    ];
    for (path, signature, status) in requests {
        let mut request = Request::post(gateway.url(path));
        if let Some(signature) = signature {
            request = request.header("stripe-signature", signature);
        }
        let request = request
            .body(Full::new(Bytes::from(body.clone())))
            .expect("request");
        deadline(sender.ready())
            .await
            .expect("connection still open");
        let response = deadline(sender.send_request(request))
            .await
            .expect("response on the same connection");
        assert_eq!(response.status(), status, "{path}");
        let bytes = deadline(response.into_body().collect())
            .await
            .expect("body")
            .to_bytes();
        if status == StatusCode::BAD_GATEWAY {
            assert!(
                String::from_utf8_lossy(&bytes).contains("upstream_unavailable"),
                "{bytes:?}"
            );
        }
    }
    assert_eq!(metric(&gateway, INVALID), Some(2.0));
    gateway.stop().await;
}

/// A signed app body of exactly `length` bytes.
fn padded_app_body(length: usize) -> Vec<u8> {
    let bare = r#"{"user_id":"usr_1","account_id":"acct_1","pad":""}"#.len();
    let pad = "x".repeat(length - bare);
    let body = format!(r#"{{"user_id":"usr_1","account_id":"acct_1","pad":"{pad}"}}"#);
    assert_eq!(body.len(), length);
    body.into_bytes()
}

/// Opens a connection that sends a signed request head and the first bytes of its body, then
/// stalls. Returns the stream and the rest of the body.
async fn stalled_upload(gateway: SocketAddr, body: &[u8]) -> (TcpStream, Vec<u8>) {
    let header = sign(&[APP_SECRET], now(), body);
    let mut stream = deadline(TcpStream::connect(gateway))
        .await
        .expect("connect");
    let head = format!(
        "POST /api/upload HTTP/1.1\r\nhost: gw\r\nstripe-signature: {header}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    deadline(stream.write_all(head.as_bytes()))
        .await
        .expect("write head");
    deadline(stream.write_all(&body[..10]))
        .await
        .expect("write part of the body");
    (stream, body[10..].to_vec())
}

#[tokio::test]
async fn buffered_bodies_share_one_budget() {
    let upstream = Upstream::start().await;
    let routes = format!("{}{}", app_route(""), open_route("open", "/open/", ""));
    let text = config_text(&upstream.url(), &routes).replace(
        "shutdown_grace = \"5s\"",
        "shutdown_grace = \"5s\"\nmax_body_bytes = 1024\nmax_buffered_bytes = 2048",
    );
    let gateway = TestGateway::start(&text).await;
    let body = padded_app_body(1024);
    let (mut first, rest) = stalled_upload(gateway.data, &body).await;
    let (second, _) = stalled_upload(gateway.data, &body).await;
    // Both declared lengths are reserved before their bodies have arrived.
    wait_for_metric(&gateway, BUFFERED, 2048.0).await;

    let answer = post_signed(&gateway.url("/api/x"), &app_body("usr_1", "acct_1"), &[]).await;
    assert_error(&answer, 503, "overloaded");
    assert_eq!(answer.headers["retry-after"], "1");
    assert!(answer.headers.contains_key("access-control-allow-origin"));
    let small = app_body("usr_1", "acct_1");
    let header = sign(&[APP_SECRET], now(), &small);
    let chunks = vec![
        Bytes::from(small[..5].to_vec()),
        Bytes::from(small[5..].to_vec()),
    ];
    let answer = send_chunked(
        Method::POST,
        &gateway.url("/api/x"),
        &[("stripe-signature", &header)],
        chunks,
    )
    .await;
    assert_error(&answer, 503, "overloaded");
    // A streaming route does not buffer, whatever its body size.
    let large = vec![b'z'; 8192];
    let answer = send(Method::POST, &gateway.url("/open/x"), &[], large).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        upstream.seen().len(),
        1,
        "only the streamed request got through"
    );

    // One upload finishes and is forwarded; the other client goes away.
    deadline(first.write_all(&rest)).await.expect("write rest");
    let mut reply = Vec::new();
    deadline(first.read_to_end(&mut reply)).await.expect("read");
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    drop(second);
    wait_for_metric(&gateway, BUFFERED, 0.0).await;

    let answer = post_signed(&gateway.url("/api/x"), &app_body("usr_1", "acct_1"), &[]).await;
    assert_eq!(answer.status, 200, "the budget is free again");
    let seen = upstream.seen();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[1].body, body, "the finished upload, byte for byte");
    gateway.stop().await;
}

/// A `200` upstream on `addr` that counts the requests it receives.
async fn upstream_on(addr: SocketAddr) -> Arc<AtomicUsize> {
    let listener = TcpListener::bind(addr)
        .await
        .expect("bind the upstream's port");
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 4096];
                while let Ok(n @ 1..) = stream.read(&mut chunk).await {
                    buffer.extend_from_slice(&chunk[..n]);
                    while let Some(end) = complete_request(&buffer) {
                        buffer.drain(..end);
                        counter.fetch_add(1, Ordering::SeqCst);
                        let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if stream.write_all(reply).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    count
}

#[tokio::test]
async fn a_replay_mark_is_given_back_when_the_upstream_could_not_be_reached() {
    let addr = closed_port();
    let text = config_text(&format!("http://{addr}"), &app_route("replay = \"reject\""));
    let gateway = TestGateway::start(&text).await;
    let body = app_body("usr_1", "acct_1");
    let header = sign(&[APP_SECRET], now(), &body);
    let headers = [("stripe-signature", header.as_str())];
    let url = gateway.url("/api/x");
    let answer = send(Method::POST, &url, &headers, body.clone()).await;
    assert_error(&answer, 502, "upstream_unavailable");
    let connect = r#"stripe_app_gateway_upstream_errors_total{kind="connect",route="ui"}"#;
    assert_eq!(metric(&gateway, connect), Some(1.0));

    let received = upstream_on(addr).await;
    let answer = send(Method::POST, &url, &headers, body.clone()).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(received.load(Ordering::SeqCst), 1);
    let answer = send(Method::POST, &url, &headers, body).await;
    assert_error(&answer, 401, "replayed");
    assert_eq!(
        received.load(Ordering::SeqCst),
        1,
        "a replay is never forwarded"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn a_replay_mark_stays_spent_when_the_upstream_may_have_acted() {
    let upstream = Upstream::start().await;
    upstream.behave(Behaviour {
        delay: Duration::from_secs(1),
        ..Behaviour::default()
    });
    let route = app_route("replay = \"reject\"\ntimeout = \"200ms\"");
    let gateway = TestGateway::start(&config_text(&upstream.url(), &route)).await;
    let body = app_body("usr_1", "acct_1");
    let header = sign(&[APP_SECRET], now(), &body);
    let headers = [("stripe-signature", header.as_str())];
    let url = gateway.url("/api/x");
    let answer = send(Method::POST, &url, &headers, body.clone()).await;
    assert_error(&answer, 504, "upstream_timeout");
    let answer = send(Method::POST, &url, &headers, body).await;
    assert_error(&answer, 401, "replayed");
    assert_eq!(upstream.seen().len(), 1, "the backend got the request once");
    gateway.stop().await;
}
