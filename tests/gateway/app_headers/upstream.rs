//! HTTP/2 clients, upstream failures, streaming on `none` routes and `builtin:echo`.

use super::*;

/// An HTTP/2 (prior knowledge) request: the host travels as `:authority`, with no `Host` header.
async fn send_h2(method: Method, url: &str, headers: &[(&str, &str)], body: Vec<u8>) -> StatusCode {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let mut builder = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder.body(Full::new(Bytes::from(body))).expect("request");
    let response = deadline(client.request(request)).await.expect("response");
    assert_eq!(response.version(), http::Version::HTTP_2);
    let status = response.status();
    deadline(response.into_body().collect())
        .await
        .expect("body");
    status
}

#[tokio::test]
async fn http2_clients_get_x_forwarded_host_from_the_authority() {
    let upstream = Upstream::start().await;
    let routes = format!("{}{}", app_route(""), open_route("/open/"));
    let gateway = start(&upstream.url(), "", &routes).await;
    let body = app_body("usr_1", "acct_1");
    let header = sign(&[APP_SECRET], now(), &body);
    let signed = [("stripe-signature", header.as_str())];
    let status = send_h2(Method::POST, &gateway.url("/api/x"), &signed, body).await;
    assert_eq!(status, 200);
    let spoof = [("x-forwarded-host", "evil.example")];
    let status = send_h2(Method::GET, &gateway.url("/open/x"), &spoof, Vec::new()).await;
    assert_eq!(status, 200);
    let seen = upstream.seen();
    assert_eq!(seen.len(), 2);
    for request in &seen {
        let h = &request.headers;
        assert_eq!(h["x-forwarded-host"], gateway.data.to_string().as_str());
        assert_eq!(h["x-forwarded-for"], "127.0.0.1");
        assert_eq!(h["x-forwarded-proto"], "http");
    }
    assert_eq!(seen[0].headers["x-stripe-app-user-id"], "usr_1");
    gateway.stop().await;
}

#[tokio::test]
async fn an_upstream_that_drops_the_connection_is_502() {
    let listener = deadline(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            drop(stream);
        }
    });
    let gateway = start(&format!("http://{addr}"), "", &app_route("")).await;
    let answer = post_signed(&gateway.url("/api/x"), &app_body("usr_1", "acct_1"), &[]).await;
    assert_error(&answer, 502, "upstream_unavailable");
    gateway.stop().await;
}

#[tokio::test]
async fn a_closed_upstream_is_502_upstream_unavailable() {
    let down = format!("http://{}", closed_port());
    let gateway = start(&down, "", &app_route("")).await;
    let answer = post_signed(&gateway.url("/api/x"), &app_body("usr_1", "acct_1"), &[]).await;
    assert_error(&answer, 502, "upstream_unavailable");
    gateway.stop().await;
}

#[tokio::test]
async fn a_slow_upstream_is_504_upstream_timeout() {
    let upstream = Upstream::start().await;
    upstream.behave(Behaviour {
        delay: std::time::Duration::from_secs(3),
        ..Behaviour::default()
    });
    let gateway = start(&upstream.url(), "", &app_route("timeout = \"300ms\"")).await;
    let answer = post_signed(&gateway.url("/api/x"), &app_body("usr_1", "acct_1"), &[]).await;
    assert_error(&answer, 504, "upstream_timeout");
    assert_eq!(
        upstream.seen().len(),
        1,
        "the request did reach the upstream"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn upstream_errors_pass_through_on_app_routes() {
    let upstream = Upstream::start().await;
    upstream.behave(Behaviour {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        body: "backend exploded",
        ..Behaviour::default()
    });
    let gateway = start(&upstream.url(), "", &app_route("")).await;
    let answer = post_signed(&gateway.url("/api/x"), &app_body("usr_1", "acct_1"), &[]).await;
    assert_eq!(answer.status, 500);
    assert_eq!(answer.body, "backend exploded");
    assert!(has_acao(&answer));
    assert!(answer.headers.contains_key("x-request-id"));
    gateway.stop().await;
}

#[tokio::test]
async fn none_routes_stream_large_bodies_both_ways_without_a_signature() {
    let upstream = Upstream::start().await;
    let large: &'static str = Box::leak("0123456789abcdef".repeat(16 * 1024).into_boxed_str());
    upstream.behave(Behaviour {
        body: large,
        ..Behaviour::default()
    });
    // The app-route limit does not apply: none routes stream.
    let routes = format!("{}{}", app_route(""), open_route("/open/"));
    let gateway = start(&upstream.url(), "max_body_bytes = 1024", &routes).await;
    let body: Vec<u8> = (0..256 * 1024).map(|i| (i % 251) as u8).collect();
    let url = gateway.url("/open/upload?part=1");
    let answer = send(Method::POST, &url, &SPOOFED, body.clone()).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, large);
    let chunks: Vec<Bytes> = body.chunks(10_000).map(Bytes::copy_from_slice).collect();
    let answer = send_chunked(Method::PUT, &url, &SPOOFED, chunks).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body.len(), large.len());

    let seen = upstream.seen();
    assert_eq!(seen.len(), 2);
    for request in &seen {
        assert_eq!(request.path_and_query, "/open/upload?part=1");
        assert_eq!(request.body.len(), body.len());
        assert!(request.body == body, "the body arrives intact");
        assert!(identity_names(&request.headers, "x-stripe-app-").is_empty());
        assert_eq!(request.headers["x-forwarded-for"], "127.0.0.1");
    }
    assert_eq!(seen[1].method, Method::PUT);
    gateway.stop().await;
}

#[tokio::test]
async fn builtin_echo_shows_what_the_backend_would_receive() {
    let gateway = start("builtin:echo", "", &app_route("")).await;
    let body = br#"{"user_id":"usr_1","account_id":"acct_1","stripe_roles":[{"id":"admin"}]}"#;
    let t = now();
    gateway.clock.set(t);
    let header = sign(&[APP_SECRET], t, body);
    let headers = [
        ("stripe-signature", header.as_str()),
        ("x-stripe-app-whatever", "spoof"),
    ];
    let url = gateway.url("/api/echo?q=1");
    let answer = send(Method::POST, &url, &headers, &body[..]).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.headers["content-type"], "application/json");
    let echo = answer.json();
    assert_eq!(echo["upstream"], "builtin:echo");
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/api/echo");
    assert_eq!(echo["query"], "q=1");
    assert_eq!(echo["body"], std::str::from_utf8(body).expect("utf8"));
    let h = &echo["headers"];
    assert_eq!(h["x-stripe-app-user-id"], "usr_1");
    assert_eq!(h["x-stripe-app-account-id"], "acct_1");
    assert_eq!(h["x-stripe-app-roles"], "admin");
    assert_eq!(h["x-stripe-app-verified"], "raw_body");
    assert_eq!(h["x-stripe-app-signature-timestamp"], t.to_string());
    assert_eq!(h["stripe-signature"], header);
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(
        h["x-request-id"],
        answer.headers["x-request-id"].to_str().expect("ascii")
    );
    assert!(h.get("x-stripe-app-whatever").is_none());
    gateway.stop().await;
}
