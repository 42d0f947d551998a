//! The HTTP/1.1 connection over an in-memory stream, with `builtin:echo` behind it: pipelining,
//! refused heads, `HEAD`, HTTP/1.0, chunked bodies, `100-continue` and draining.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use prometheus::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::watch;
use tokio::time::Instant;

use super::{serve, Settings};
use crate::accesslog::AccessLog;
use crate::clock::ManualClock;
use crate::config::{Config, LogFormat};
use crate::http1::Limits;
use crate::metrics::Metrics;
use crate::proxy::headers::Peer;
use crate::proxy::{Gateway, GatewayParts};
use crate::server::activity::Timeouts;
use crate::snapshot::Snapshot;
use crate::store::MemoryStore;

const DEADLINE: Duration = Duration::from_secs(5);

fn gateway() -> Arc<Gateway> {
    let text = r#"
[upstream]
url = "builtin:echo"

[keyrings.app]
kind = "app"
secrets = [{ id = "current", value = "absec_test_current_0123456789abcdef" }]

[[routes]]
id = "open"
path_prefix = "/open/"
auth = "none"
"#;
    let config = Config::from_toml(Path::new("test.toml"), text, &|_| None).expect("config");
    let metrics = Metrics::register(&Registry::new()).expect("metrics");
    let snapshot = Snapshot::build(config, None, &metrics);
    Gateway::new(GatewayParts {
        snapshot,
        clock: Arc::new(ManualClock::new(1_767_225_600)),
        replay: Arc::new(MemoryStore::new(100)),
        dedupe: Arc::new(MemoryStore::new(100)),
        metrics,
        access_log: Arc::new(AccessLog::new(LogFormat::Json)),
    })
}

fn settings() -> Settings {
    Settings {
        limits: Limits::default(),
        timeouts: Timeouts {
            header_read: Duration::from_secs(2),
            idle: Duration::from_secs(2),
            send: Duration::from_secs(2),
        },
    }
}

/// A connection served on one end of an in-memory stream; the client end, and the sender
/// that starts draining.
fn connect() -> (DuplexStream, watch::Sender<bool>) {
    connect_to(gateway())
}

/// A connection served by `gateway` (see [`connect`]).
fn connect_to(gateway: Arc<Gateway>) -> (DuplexStream, watch::Sender<bool>) {
    let (client, server) = tokio::io::duplex(256 * 1024);
    let (drain, draining) = watch::channel(false);
    tokio::spawn(async move {
        let peer = Peer::new("203.0.113.7".parse().expect("ip"), false, "http");
        let by = Instant::now() + Duration::from_secs(2);
        serve(
            server,
            Bytes::new(),
            by,
            settings(),
            &gateway,
            &peer,
            &draining,
        )
        .await;
    });
    (client, drain)
}

/// Everything the server writes until it closes the connection.
async fn read_to_close(client: &mut DuplexStream) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(DEADLINE, client.read_to_end(&mut out))
        .await
        .expect("closed in time")
        .expect("read");
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads until `text` has arrived `times` times (the connection stays open).
async fn read_until(client: &mut DuplexStream, text: &str, times: usize) -> String {
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    tokio::time::timeout(DEADLINE, async {
        while String::from_utf8_lossy(&out).matches(text).count() < times {
            let n = client.read(&mut chunk).await.expect("read");
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&out));
            out.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .expect("answered in time");
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_on_one_connection() {
    let (mut client, _drain) = connect();
    client
        .write_all(
            b"GET /open/first HTTP/1.1\r\nhost: gw\r\n\r\nGET /open/second HTTP/1.1\r\nhost: gw\r\n\r\n",
        )
        .await
        .expect("write");
    let answer = read_until(&mut client, "HTTP/1.1 200 OK", 2).await;
    let first = answer.find("/open/first").expect("first answered");
    let second = answer.find("/open/second").expect("second answered");
    assert!(first < second, "{answer}");
    assert!(!answer.contains("connection: close"), "{answer}");
}

#[tokio::test]
async fn a_refused_head_gets_the_json_error_and_the_connection_closes() {
    let (mut client, _drain) = connect();
    client
        .write_all(b"POST /open/x HTTP/1.1\r\nhost: gw\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nGET /open/smuggled HTTP/1.1\r\nhost: gw\r\n\r\n")
        .await
        .expect("write");
    let answer = read_to_close(&mut client).await;
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    assert!(answer.contains("connection: close\r\n"), "{answer}");
    assert!(
        answer.contains("\"code\":\"malformed_request\""),
        "{answer}"
    );
    assert!(answer.contains("x-request-id: "), "{answer}");
    assert!(!answer.contains("smuggled"), "{answer}");
}

#[tokio::test]
async fn a_refused_head_is_counted_as_an_answer_of_no_route() {
    let gateway = gateway();
    let (mut client, _drain) = connect_to(gateway.clone());
    client
        .write_all(b"GET /open/x HTTP/1.1\r\nhost: gw\r\nbad header\r\n\r\n")
        .await
        .expect("write");
    let answer = read_to_close(&mut client).await;
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    let requests = &gateway.metrics().requests;
    assert_eq!(requests.with_label_values(&["_none", "400"]).get(), 1);
    assert_eq!(requests.with_label_values(&["open", "400"]).get(), 0);
}

#[tokio::test]
async fn statuses_of_refused_heads_follow_the_codec() {
    for (head, status) in [
        (&b"GET /open/x HTTP/1.2\r\nhost: gw\r\n\r\n"[..], "505"),
        (b"CONNECT gw:443 HTTP/1.1\r\nhost: gw\r\n\r\n", "501"),
        (b"GET /open/x HTTP/1.1\nhost: gw\n\n", "400"),
    ] {
        let (mut client, _drain) = connect();
        client.write_all(head).await.expect("write");
        let answer = read_to_close(&mut client).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status} ")),
            "{answer}"
        );
    }
}

#[tokio::test]
async fn a_head_request_gets_the_length_and_no_body() {
    let (mut client, _drain) = connect();
    client
        .write_all(b"HEAD /open/x HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n\r\n")
        .await
        .expect("write");
    let answer = read_to_close(&mut client).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("content-length: "), "{answer}");
    assert!(
        answer.ends_with("\r\n\r\n"),
        "no body after the head: {answer}"
    );
}

#[tokio::test]
async fn an_http10_client_gets_a_delimited_answer_and_the_connection_closes() {
    let (mut client, _drain) = connect();
    client
        .write_all(b"GET /open/x HTTP/1.0\r\n\r\n")
        .await
        .expect("write");
    let answer = read_to_close(&mut client).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("content-length: "), "{answer}");
    assert!(!answer.contains("transfer-encoding"), "{answer}");
    assert!(answer.contains("connection: close\r\n"), "{answer}");
}

#[tokio::test]
async fn a_chunked_body_sent_in_pieces_reaches_the_pipeline_decoded() {
    let (mut client, _drain) = connect();
    client
        .write_all(
            b"POST /open/x HTTP/1.1\r\nhost: gw\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel",
        )
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(20)).await;
    client
        .write_all(b"lo\r\n6\r\n world\r\n0\r\n\r\n")
        .await
        .expect("write");
    let answer = read_until(&mut client, "}", 1).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("hello world"), "{answer}");
}

#[tokio::test]
async fn expect_100_continue_is_answered_before_the_body_is_read() {
    let (mut client, _drain) = connect();
    client
        .write_all(b"POST /open/x HTTP/1.1\r\nhost: gw\r\ncontent-length: 5\r\nexpect: 100-continue\r\n\r\n")
        .await
        .expect("write");
    let interim = read_until(&mut client, "HTTP/1.1 100 Continue\r\n\r\n", 1).await;
    assert_eq!(interim, "HTTP/1.1 100 Continue\r\n\r\n");
    client.write_all(b"hello").await.expect("write");
    let answer = read_until(&mut client, "}", 1).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("hello"), "{answer}");
}

#[tokio::test]
async fn draining_closes_a_connection_between_requests() {
    let (mut client, drain) = connect();
    client
        .write_all(b"GET /open/x HTTP/1.1\r\nhost: gw\r\n\r\n")
        .await
        .expect("write");
    read_until(&mut client, "}", 1).await;
    drain.send_replace(true);
    assert_eq!(read_to_close(&mut client).await, "");
}

#[tokio::test]
async fn draining_closes_a_connection_idle_after_several_requests() {
    // The connection waits for the drain once for its whole life: it still hears it after
    // requests came and went.
    let (mut client, drain) = connect();
    for _ in 0..3 {
        client
            .write_all(b"GET /open/x HTTP/1.1\r\nhost: gw\r\n\r\n")
            .await
            .expect("write");
        let answer = read_until(&mut client, "}", 1).await;
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    }
    drain.send_replace(true);
    assert_eq!(read_to_close(&mut client).await, "");
}

#[tokio::test]
async fn a_response_in_flight_when_draining_starts_says_close() {
    let (mut client, drain) = connect();
    drain.send_replace(true);
    client
        .write_all(b"GET /open/x HTTP/1.1\r\nhost: gw\r\n\r\n")
        .await
        .expect("write");
    let answer = read_to_close(&mut client).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("connection: close\r\n"), "{answer}");
}
