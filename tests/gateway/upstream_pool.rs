//! The upstream connection pool: keep-alive reuse, and upstreams that close idle connections.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::common::*;

/// A raw HTTP/1.1 upstream that answers each request with `200` and counts connections;
/// with `close_after_each`, it closes every connection after one response although the
/// response promised keep-alive (as an upstream whose idle timeout fires does). It shuts the
/// connection down rather than only dropping it: a child process that another test is
/// spawning may hold a copy of the descriptor until its `exec`, and a drop alone sends the
/// FIN only once the last copy is closed.
async fn raw_upstream(close_after_each: bool) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = stream.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buffer.extend_from_slice(&chunk[..n]);
                    // Requests here carry a Content-Length body; answer once head and body are in.
                    while let Some(end) = complete_request(&buffer) {
                        buffer.drain(..end);
                        let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok";
                        if stream.write_all(reply).await.is_err() {
                            return;
                        }
                        if close_after_each {
                            let _ = stream.shutdown().await;
                            return;
                        }
                    }
                }
            });
        }
    });
    (url, connections)
}

/// The length of the first complete request in `buffer`, if there is one.
fn complete_request(buffer: &[u8]) -> Option<usize> {
    let head_end = buffer.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buffer[..head_end])
        .ok()?
        .to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map_or(0, |value| value.trim().parse::<usize>().unwrap_or(0));
    (buffer.len() >= head_end + length).then_some(head_end + length)
}

#[tokio::test]
async fn sequential_requests_reuse_one_connection() {
    // Each serving thread keeps its own idle connections: with one thread, one connection.
    let (url, connections) = raw_upstream(false).await;
    let text = config_text(&url, &app_route("")).replace(
        "shutdown_grace = \"5s\"",
        "shutdown_grace = \"5s\"\nworkers = 1",
    );
    let gateway = TestGateway::start(&text).await;
    for _ in 0..20 {
        let answer = post_signed(&gateway.url("/api/x"), &app_body("usr_1", "acct_1"), &[]).await;
        assert_eq!(answer.status, 200);
        assert_eq!(&answer.body[..], b"ok");
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        1,
        "keep-alive connection reused"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn each_serving_thread_reuses_its_own_connections() {
    let (url, connections) = raw_upstream(false).await;
    let text = config_text(&url, &app_route("")).replace(
        "shutdown_grace = \"5s\"",
        "shutdown_grace = \"5s\"\nworkers = 2",
    );
    let gateway = TestGateway::start(&text).await;
    for _ in 0..40 {
        let answer = post_signed(&gateway.url("/api/x"), &app_body("usr_1", "acct_1"), &[]).await;
        assert_eq!(answer.status, 200);
    }
    let opened = connections.load(Ordering::SeqCst);
    assert!(
        (1..=2).contains(&opened),
        "{opened} upstream connections for 40 sequential requests on 2 threads"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn pool_max_idle_per_host_0_opens_a_connection_per_request() {
    let (url, connections) = raw_upstream(false).await;
    let text = config_text(&url, &app_route("")).replacen(
        "[upstream]\n",
        "[upstream]\npool_max_idle_per_host = 0\n",
        1,
    );
    let gateway = TestGateway::start(&text).await;
    for _ in 0..5 {
        let answer = post_signed(&gateway.url("/api/x"), &app_body("usr_1", "acct_1"), &[]).await;
        assert_eq!(answer.status, 200);
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        5,
        "no connection kept for reuse"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn an_upstream_closing_idle_connections_costs_no_request() {
    let (url, connections) = raw_upstream(true).await;
    let gateway = TestGateway::start(&config_text(&url, &app_route(""))).await;
    for attempt in 0..20 {
        let answer = post_signed(&gateway.url("/api/x"), &app_body("usr_1", "acct_1"), &[]).await;
        assert_eq!(answer.status, 200, "request {attempt}: {:?}", answer.body);
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        20,
        "a fresh connection each time"
    );
    gateway.stop().await;
}

/// A raw upstream that reads each request (head and body) and then lets `respond` write
/// whatever it likes on the connection.
async fn responding_upstream<F, Fut>(respond: F) -> String
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + Copy + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 4096];
                while complete_request(&buffer).is_none() {
                    let Ok(n @ 1..) = stream.read(&mut chunk).await else {
                        return;
                    };
                    buffer.extend_from_slice(&chunk[..n]);
                }
                respond(stream).await;
            });
        }
    });
    url
}

/// Sends a signed request to `gateway`'s `/api/x` and returns the response as soon as its head
/// is in, its body still to be read (so a test can see how the body ends).
async fn signed_response_head(gateway: &TestGateway) -> http::Response<hyper::body::Incoming> {
    let body = app_body("usr_1", "acct_1");
    let header = sign(&[APP_SECRET], now(), &body);
    let client: hyper_util::client::legacy::Client<_, http_body_util::Full<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let request = http::Request::post(gateway.url("/api/x"))
        .header("stripe-signature", header)
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .expect("request");
    deadline(client.request(request))
        .await
        .expect("response head")
}

/// Sends a signed request to a gateway whose route times out after 300 ms and reads the `200`
/// response's body slowly, as a client on a slow link does (so that a fast upstream is always
/// ahead and the gateway always has data ready); returns once the gateway has cut the body off
/// at the route timeout (`upstream_errors_total{kind="timeout"}` counts it).
async fn assert_body_cut_off(url: &str) -> TestGateway {
    let text = config_text(url, &app_route("timeout = \"300ms\""));
    let gateway = TestGateway::start(&text).await;
    let response = signed_response_head(&gateway).await;
    assert_eq!(response.status(), 200);
    let reader = tokio::spawn(async move {
        let mut body = response.into_body();
        let until = std::time::Instant::now() + DEADLINE;
        while std::time::Instant::now() < until {
            match http_body_util::BodyExt::frame(&mut body).await {
                Some(Ok(_)) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
                Some(Err(_)) | None => return,
            }
        }
    });
    let cut = r#"stripe_app_gateway_upstream_errors_total{kind="timeout",route="ui"} 1"#;
    deadline(async {
        while !gateway.metrics().contains(cut) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    reader.abort();
    gateway
}

#[tokio::test]
async fn an_upstream_body_that_breaks_off_is_counted_as_broken() {
    let url = responding_upstream(|mut stream| async move {
        // Promise 100 bytes, send 7, then close.
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
            .await;
    })
    .await;
    let gateway = TestGateway::start(&config_text(&url, &app_route(""))).await;
    let response = signed_response_head(&gateway).await;
    // The head was relayed; the body ends early, which the client sees as an incomplete body.
    assert_eq!(response.status(), 200);
    let read = deadline(http_body_util::BodyExt::collect(response.into_body())).await;
    assert!(read.is_err(), "a 100-byte body read whole from 7 bytes");
    let broken = r#"stripe_app_gateway_upstream_errors_total{kind="broken",route="ui"} 1"#;
    deadline(async {
        while !gateway.metrics().contains(broken) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    gateway.stop().await;
}

#[tokio::test]
async fn an_upstream_body_that_stalls_is_cut_off_at_the_route_timeout() {
    let url = responding_upstream(|mut stream| async move {
        // Promise 100 bytes, send 3, then stall for longer than the route timeout.
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nabc")
            .await;
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
    })
    .await;
    let gateway = assert_body_cut_off(&url).await;
    gateway.stop().await;
}

#[tokio::test]
async fn an_upstream_body_that_never_pauses_is_cut_off_at_the_route_timeout() {
    let url = responding_upstream(|mut stream| async move {
        let head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
        if stream.write_all(head).await.is_err() {
            return;
        }
        // An endless chunked body, as fast as the gateway takes it (for at most 20 s).
        let chunk = format!("1000\r\n{}\r\n", "x".repeat(4096));
        let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::time::Instant::now() < until {
            if stream.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
        }
    })
    .await;
    let gateway = assert_body_cut_off(&url).await;
    gateway.stop().await;
}

/// A raw upstream answering every connection with `reply` as soon as a request head arrives,
/// without reading the body, keeping the connection open; counts open connections.
async fn early_upstream(reply: &'static [u8]) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let open = Arc::new(AtomicUsize::new(0));
    let counter = open.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let counter = counter.clone();
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut chunk = [0u8; 4096];
                let mut buffer = Vec::new();
                while let Ok(n @ 1..) = stream.read(&mut chunk).await {
                    buffer.extend_from_slice(&chunk[..n]);
                    while let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                        buffer.drain(..end + 4);
                        if stream.write_all(reply).await.is_err() {
                            break;
                        }
                    }
                }
                counter.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (url, open)
}

fn open_route(extra: &str) -> String {
    format!("[[routes]]\nid = \"open\"\npath_prefix = \"/open/\"\nauth = \"none\"\n{extra}\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_still_uploading_is_not_handed_to_another_request() {
    let (url, _) = early_upstream(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n").await;
    let gateway = TestGateway::start(&config_text(&url, &open_route(""))).await;
    // A client that trickles a body: the upstream answers before reading it, and the upload
    // keeps that connection busy.
    let mut slow = deadline(tokio::net::TcpStream::connect(gateway.data))
        .await
        .expect("connect");
    slow.write_all(b"POST /open/x HTTP/1.1\r\nhost: gw\r\ncontent-length: 100\r\n\r\n12345")
        .await
        .expect("write");
    let mut head = [0u8; 12];
    deadline(slow.read_exact(&mut head))
        .await
        .expect("early answer");
    assert_eq!(&head, b"HTTP/1.1 401");
    // Meanwhile other requests are answered at once, on another connection.
    for _ in 0..3 {
        let answer = send(http::Method::GET, &gateway.url("/open/y"), &[], "").await;
        assert_eq!(answer.status, 401);
    }
    drop(slow);
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_upstream_connections_are_closed_after_pool_idle_timeout() {
    let (url, open) = early_upstream(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
    let text = config_text(&url, &open_route("")).replace(
        "webhook_timeout = \"2s\"",
        "webhook_timeout = \"2s\"\npool_idle_timeout = \"300ms\"",
    );
    let gateway = TestGateway::start(&text).await;
    let url = gateway.url("/open/x");
    let requests: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { send(http::Method::GET, &url, &[], "").await.status })
        })
        .collect();
    for request in requests {
        assert_eq!(deadline(request).await.expect("task"), 200);
    }
    assert!(open.load(Ordering::SeqCst) >= 1);
    // Nothing else happens: the reaper closes them.
    deadline(async {
        while open.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    gateway.stop().await;
}

#[tokio::test]
async fn a_response_with_both_framings_is_relayed_as_decoded() {
    let (url, _) = early_upstream(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\nb\r\nhello world\r\n0\r\n\r\n").await;
    let gateway = TestGateway::start(&config_text(&url, &open_route(""))).await;
    let answer = send(http::Method::GET, &gateway.url("/open/x"), &[], "").await;
    assert_eq!(answer.status, 200);
    assert_eq!(&answer.body[..], b"hello world");
    assert_ne!(
        answer.headers.get("content-length").map(|v| v.as_bytes()),
        Some(&b"5"[..])
    );
    gateway.stop().await;
}

#[tokio::test]
async fn an_upstream_switching_protocols_is_502() {
    let (url, _) = early_upstream(
        b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n",
    )
    .await;
    let gateway = TestGateway::start(&config_text(&url, &open_route(""))).await;
    let answer = send(http::Method::GET, &gateway.url("/open/x"), &[], "").await;
    assert_eq!(answer.status, 502);
    assert_eq!(answer.code(), "upstream_unavailable");
    gateway.stop().await;
}
