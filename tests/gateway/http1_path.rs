//! The gateway's own HTTP/1.1 path end to end, against raw upstreams: what HTTP/1.0 clients
//! get, a `Date` relayed once, idempotent requests sent again when a pooled connection was
//! closed under them, and a broken request body on a streaming route answered at once.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::*;

fn open_route() -> String {
    "[[routes]]\nid = \"open\"\npath_prefix = \"/open/\"\nauth = \"none\"\n".into()
}

/// A raw upstream that answers every request head on a connection with `reply`; with
/// `answers_per_connection`, it reads one more request after that many answers and closes
/// without answering it.
async fn raw_upstream(reply: &'static [u8], answers_per_connection: Option<usize>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut buffer, mut answered) = (Vec::new(), 0usize);
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = stream.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buffer.extend_from_slice(&chunk[..n]);
                    while let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                        buffer.drain(..end + 4);
                        if answers_per_connection.is_some_and(|limit| answered >= limit) {
                            return; // reads the request, closes without an answer
                        }
                        if stream.write_all(reply).await.is_err() {
                            return;
                        }
                        answered += 1;
                    }
                }
            });
        }
    });
    url
}

/// Sends `request` on a new connection and reads until the gateway closes it.
async fn exchange_raw(gateway: &TestGateway, request: &[u8]) -> String {
    let mut stream = deadline(TcpStream::connect(gateway.data))
        .await
        .expect("connect");
    deadline(stream.write_all(request)).await.expect("write");
    let mut answer = Vec::new();
    deadline(stream.read_to_end(&mut answer))
        .await
        .expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn an_http10_client_gets_a_chunked_upstream_body_delimited_by_close() {
    let url = raw_upstream(
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        None,
    )
    .await;
    let gateway = TestGateway::start(&config_text(&url, &open_route())).await;
    for request in [
        &b"GET /open/x HTTP/1.0\r\n\r\n"[..],
        b"GET /open/x HTTP/1.0\r\nconnection: keep-alive\r\n\r\n",
    ] {
        let answer = exchange_raw(&gateway, request).await;
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(!answer.contains("transfer-encoding"), "{answer}");
        assert!(answer.contains("connection: close\r\n"), "{answer}");
        assert!(answer.ends_with("\r\n\r\nhello world"), "{answer}");
    }
    gateway.stop().await;
}

#[tokio::test]
async fn the_upstream_date_is_relayed_once() {
    let url = raw_upstream(
        b"HTTP/1.1 200 OK\r\ndate: Mon, 01 Jan 2024 00:00:00 GMT\r\ncontent-length: 2\r\n\r\nok",
        None,
    )
    .await;
    let gateway = TestGateway::start(&config_text(&url, &open_route())).await;
    let answer = exchange_raw(
        &gateway,
        b"GET /open/x HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(answer.matches("date: ").count(), 1, "{answer}");
    assert!(
        answer.contains("date: Mon, 01 Jan 2024 00:00:00 GMT\r\n"),
        "{answer}"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn an_idempotent_request_goes_again_when_its_pooled_connection_was_closed_under_it() {
    let url = raw_upstream(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", Some(1)).await;
    let text = config_text(&url, &open_route()).replace(
        "shutdown_grace = \"5s\"",
        "shutdown_grace = \"5s\"\nworkers = 1",
    );
    let gateway = TestGateway::start(&text).await;
    for method in [
        http::Method::GET,
        http::Method::HEAD,
        http::Method::DELETE,
        http::Method::GET,
    ] {
        let answer = send(method.clone(), &gateway.url("/open/x"), &[], "").await;
        assert_eq!(answer.status, 200, "{method}");
    }
    gateway.stop().await;
}

#[tokio::test]
async fn a_broken_chunked_body_on_a_streaming_route_is_400_at_once() {
    let url = raw_upstream(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", None).await;
    let text = config_text(&url, &open_route()).replace("timeout = \"2s\"", "timeout = \"20s\"");
    let gateway = TestGateway::start(&text).await;
    let started = Instant::now();
    let answer = exchange_raw(
        &gateway,
        b"POST /open/x HTTP/1.1\r\nhost: gw\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(answer.contains("\"code\":\"body_unreadable\""), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    gateway.stop().await;
}

#[tokio::test]
async fn a_head_answer_without_a_length_gets_none_made_up() {
    let url = raw_upstream(
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
        None,
    )
    .await;
    let gateway = TestGateway::start(&config_text(&url, &open_route())).await;
    let answer = exchange_raw(
        &gateway,
        b"HEAD /open/x HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(!answer.contains("content-length"), "{answer}");
    assert!(answer.ends_with("\r\n\r\n"), "{answer}");
    gateway.stop().await;
}

/// `stripe_app_gateway_runtime_alive_tasks` as the admin listener serves it.
async fn alive_tasks(gateway: &TestGateway) -> f64 {
    let url = format!("http://{}/metrics", gateway.admin);
    let answer = send(http::Method::GET, &url, &[], "").await;
    String::from_utf8_lossy(&answer.body)
        .lines()
        .find_map(|line| line.strip_prefix("stripe_app_gateway_runtime_alive_tasks "))
        .and_then(|value| value.trim().parse().ok())
        .expect("runtime_alive_tasks in /metrics")
}

#[tokio::test]
async fn the_tasks_gauge_counts_open_connections_and_comes_back_down() {
    let url = raw_upstream(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", None).await;
    let gateway = TestGateway::start(&config_text(&url, &open_route())).await;
    let before = alive_tasks(&gateway).await;
    let mut open = Vec::new();
    for _ in 0..5 {
        let mut stream = deadline(TcpStream::connect(gateway.data))
            .await
            .expect("connect");
        deadline(stream.write_all(b"GET /open/x HTTP/1.1\r\nhost: gw\r\n\r\n"))
            .await
            .expect("write");
        let mut head = [0u8; 12];
        deadline(stream.read_exact(&mut head))
            .await
            .expect("answer");
        open.push(stream);
    }
    let during = alive_tasks(&gateway).await;
    assert!(
        during >= before + 5.0,
        "{before} before, {during} with 5 connections"
    );
    drop(open);
    // The 5 connection tasks end (the serving threads' own tasks, started with them, stay).
    let mut after = during;
    for _ in 0..250 {
        after = alive_tasks(&gateway).await;
        if during - after >= 5.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        during - after >= 5.0,
        "{before} before, {during} with 5 connections, {after} after closing them"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn a_port_another_gateway_serves_is_refused_not_shared() {
    // The serving threads share their port through SO_REUSEPORT; a second process must not
    // join that group and take half of the first one's connections.
    let url = raw_upstream(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", None).await;
    let first = TestGateway::start(&config_text(&url, &open_route())).await;
    let text = config_text(&url, &open_route()).replace(
        "listen = \"127.0.0.1:0\"\nshutdown_delay",
        &format!("listen = \"{}\"\nshutdown_delay", first.data),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, text).expect("write config");
    let config = stripe_app_gateway::config::Config::load(&path).expect("config");
    let clock = std::sync::Arc::new(stripe_app_gateway::clock::ManualClock::new(now()));
    let second = deadline(stripe_app_gateway::run::start(
        config,
        prometheus::Registry::new(),
        clock,
    ))
    .await;
    let Err(err) = second else {
        panic!("a second gateway joined the port of the first");
    };
    assert!(err.to_string().contains("cannot listen on"), "{err}");
    assert!(err.to_string().contains("server.listen"), "{err}");
    first.stop().await;
}

#[tokio::test]
async fn an_upstream_answer_keeps_its_relayed_fields_and_gets_the_gateways_request_id() {
    // A broken upstream sends its own request id, repeated cookies and a field it names in
    // `Connection`: the client sees the gateway's id once, both cookies, and not the named one.
    let url = raw_upstream(
        b"HTTP/1.1 200 OK\r\nX-Request-Id: from-upstream\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\
          Content-Type: text/plain\r\nConnection: etag\r\nETag: \"v1\"\r\ncontent-length: 2\r\n\r\nok",
        None,
    )
    .await;
    let gateway = TestGateway::start(&config_text(&url, &open_route())).await;
    let answer = exchange_raw(
        &gateway,
        b"GET /open/x HTTP/1.1\r\nhost: gw\r\nx-request-id: client-id\r\nconnection: close\r\n\r\n",
    )
    .await;
    let lower = answer.to_ascii_lowercase();
    assert_eq!(lower.matches("x-request-id: ").count(), 1, "{answer}");
    assert!(lower.contains("x-request-id: client-id\r\n"), "{answer}");
    // `Connection` named a field, so the whole head went through the map (names lowercased).
    assert!(
        lower.contains("set-cookie: a=1\r\nset-cookie: b=2\r\n"),
        "{answer}"
    );
    assert!(lower.contains("content-type: text/plain\r\n"), "{answer}");
    assert!(!lower.contains("etag"), "{answer}");
    gateway.stop().await;
}

#[tokio::test]
async fn relayed_request_fields_and_the_gateways_own_reach_the_upstream_once() {
    let upstream = Upstream::start().await;
    let gateway = TestGateway::start(&config_text(&upstream.url(), &open_route())).await;
    // Relayed fields in odd case, one of them named in `Connection` (so it must not pass),
    // and spoofed copies of the fields the gateway sets.
    let answer = exchange_raw(
        &gateway,
        b"GET /open/x HTTP/1.1\r\nHost: gw.example\r\nUser-Agent: agent\r\naCCept: */*\r\n\
          Cookie: c=1\r\nConnection: cookie, close\r\nX-FORWARDED-FOR: 6.6.6.6\r\n\
          x-forwarded-host: evil.example\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    let seen = upstream.seen();
    let headers = &seen.last().expect("the upstream saw the request").headers;
    assert_eq!(headers["user-agent"], "agent");
    assert_eq!(headers["accept"], "*/*");
    assert!(!headers.contains_key("cookie"));
    for (name, value) in [
        ("x-forwarded-for", "127.0.0.1"),
        ("x-forwarded-host", "gw.example"),
        ("x-forwarded-proto", "http"),
    ] {
        let values: Vec<_> = headers.get_all(name).iter().collect();
        assert_eq!(values, [value], "{name}");
    }
    assert_eq!(headers.get_all("host").iter().count(), 1);
    assert_ne!(headers["host"], "gw.example");
    gateway.stop().await;
}

#[tokio::test]
async fn relayed_response_fields_keep_their_spelling_and_the_gateways_id_replaces_the_upstreams() {
    let url = raw_upstream(
        b"HTTP/1.1 200 OK\r\nX-Request-Id: from-upstream\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\
          Content-Type: text/plain\r\ncontent-length: 2\r\n\r\nok",
        None,
    )
    .await;
    let gateway = TestGateway::start(&config_text(&url, &open_route())).await;
    let answer = exchange_raw(
        &gateway,
        b"GET /open/x HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n\r\n",
    )
    .await;
    let lower = answer.to_ascii_lowercase();
    assert_eq!(lower.matches("x-request-id: ").count(), 1, "{answer}");
    assert!(!answer.contains("from-upstream"), "{answer}");
    assert!(
        answer.contains("Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n"),
        "{answer}"
    );
    assert!(answer.contains("Content-Type: text/plain\r\n"), "{answer}");
    assert_eq!(lower.matches("date: ").count(), 1, "{answer}");
    gateway.stop().await;
}
