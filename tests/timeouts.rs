//! Read timeouts against clients that stall: a body that never completes gets `408
//! body_timeout` and is never forwarded; a request head that never completes closes the
//! connection after `header_read_timeout`.

mod common;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn config(upstream: &Upstream) -> String {
    config_text(&upstream.url(), &app_route("")).replace(
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
