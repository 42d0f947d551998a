//! Webhook deliveries whose upstream fails in ways only a real socket shows (the in-memory
//! tests in `src/proxy/tests/failures.rs` cover every other failure kind): each is answered
//! non-2xx so that Stripe retries, and the retry is delivered; and what Stripe sees when the
//! upstream's 2xx head arrives but its body breaks.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use stripe_app_gateway::clock::Clock;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::common::*;

const OK: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\ncontent-type: application/json\r\n\r\n{\"ok\":true}";

/// An upstream that answers its n-th connection's first request with `script[n]` (written as
/// is, then the connection is shut down; an empty reply closes without answering) and every
/// later connection with a plain `200`; it keeps each request it read, head and body.
#[derive(Clone)]
struct Scripted {
    url: String,
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Scripted {
    async fn start(script: &'static [&'static [u8]]) -> Scripted {
        let listener = deadline(TcpListener::bind("127.0.0.1:0"))
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let record = seen.clone();
        tokio::spawn(async move {
            let mut connection = 0;
            while let Ok((mut stream, _)) = listener.accept().await {
                let reply = script.get(connection).copied().unwrap_or(OK);
                connection += 1;
                let record = record.clone();
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut stream).await else {
                        return;
                    };
                    record.lock().expect("lock").push(request);
                    let _ = stream.write_all(reply).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Scripted { url, seen }
    }

    /// The bodies of the requests received so far.
    fn bodies(&self) -> Vec<Vec<u8>> {
        self.seen
            .lock()
            .expect("lock")
            .iter()
            .map(|request| {
                let end = request
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .map_or(request.len(), |at| at + 4);
                request[end..].to_vec()
            })
            .collect()
    }
}

/// One request with a `Content-Length` body, head and body, or `None` if the peer went away.
async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(head_end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or(0);
            if buffer.len() >= head_end + 4 + length {
                return Some(buffer);
            }
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

async fn gateway_for(upstream: &Scripted) -> TestGateway {
    let route = "[[routes]]\nid = \"hooks\"\npath = \"/webhook\"\nmethods = [\"POST\"]\nauth = \"webhook\"\nkeyring = \"hooks\"\ndedupe = true\n";
    TestGateway::start(&config_text(&upstream.url, route)).await
}

async fn deliver(gateway: &TestGateway, body: &[u8]) -> Answer {
    let header = sign(&[WEBHOOK_SECRET], gateway.clock.now(), body);
    let headers = [
        ("stripe-signature", header.as_str()),
        ("content-type", "application/json"),
    ];
    send(
        Method::POST,
        &gateway.url("/webhook"),
        &headers,
        body.to_vec(),
    )
    .await
}

/// The upstream fails the first delivery as scripted: the answer is `502
/// upstream_unavailable`, the upstream had the exact event, and Stripe's retry is delivered.
async fn assert_failed_then_delivered(script: &'static [&'static [u8]]) {
    let upstream = Scripted::start(script).await;
    let gateway = gateway_for(&upstream).await;
    let body = event_body("evt_sock", "invoice.paid", true, None);
    let answer = deliver(&gateway, &body).await;
    assert_error(&answer, 502, "upstream_unavailable");
    assert_eq!(upstream.bodies(), vec![body.clone()], "reached once");
    let retry = deliver(&gateway, &body).await;
    assert_eq!(retry.status, StatusCode::OK);
    assert_eq!(upstream.bodies().len(), 2, "the retry was forwarded");
    gateway.stop().await;
}

#[tokio::test]
async fn an_upstream_that_closes_without_answering_is_502_and_the_retry_is_delivered() {
    assert_failed_then_delivered(&[b""]).await;
}

#[tokio::test]
async fn an_upstream_that_answers_garbage_is_502_and_the_retry_is_delivered() {
    assert_failed_then_delivered(&[b"HTTP/1.1 2OO OK\r\n\r\n"]).await;
}

#[tokio::test]
async fn an_upstream_that_answers_a_truncated_head_is_502_and_the_retry_is_delivered() {
    assert_failed_then_delivered(&[b"HTTP/1.1 200 OK\r\ncontent-len"]).await;
}

/// The backend's `200` head is relayed as soon as it arrives, so when its body then breaks,
/// Stripe sees a `200` whose body is cut off (an error reading the response, for an HTTP
/// client). The backend answered 2xx for the event, which is what confirms a delivery: the
/// event is recorded as delivered, and a retry is acknowledged without a second forward.
#[tokio::test]
async fn a_2xx_head_with_a_broken_body_is_a_delivery_whose_response_is_cut_off() {
    let upstream = Scripted::start(&[
        b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\ncontent-type: application/json\r\n\r\n{\"ok\"",
    ])
    .await;
    let gateway = gateway_for(&upstream).await;
    let body = event_body("evt_cut", "invoice.paid", true, None);
    let header = sign(&[WEBHOOK_SECRET], gateway.clock.now(), &body);
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let request = Request::post(gateway.url("/webhook"))
        .header("stripe-signature", header)
        .body(Full::new(Bytes::from(body.clone())))
        .expect("request");
    let response = deadline(client.request(request))
        .await
        .expect("response head");
    assert_eq!(response.status(), StatusCode::OK);
    let read = deadline(response.into_body().collect()).await;
    assert!(read.is_err(), "the body is cut off, not completed");
    assert_eq!(upstream.bodies(), vec![body.clone()]);
    let retry = deliver(&gateway, &body).await;
    assert_eq!(retry.status, StatusCode::OK);
    assert_eq!(retry.json()["reason"], "duplicate");
    assert_eq!(upstream.bodies().len(), 1, "not forwarded twice");
    gateway.stop().await;
}
