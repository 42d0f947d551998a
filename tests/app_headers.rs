//! What crosses the gateway besides the verdict, over real sockets: CORS, identity and hop-by-hop
//! header stripping, `X-Forwarded-*`, upstream failures, streaming `auth = "none"` routes and
//! `builtin:echo`.

mod common;

use bytes::Bytes;
use common::*;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// A gateway in front of `upstream` with `server` keys added to `[server]`.
async fn start(upstream: &str, server: &str, routes: &str) -> TestGateway {
    let text =
        config_text(upstream, routes).replacen("[server]\n", &format!("[server]\n{server}\n"), 1);
    TestGateway::start(&text).await
}

/// An `auth = "none"` route on `prefix`.
fn open_route(prefix: &str) -> String {
    format!("[[routes]]\nid = \"open\"\npath_prefix = \"{prefix}\"\nauth = \"none\"\n")
}

/// Inbound headers that try to pass as gateway-injected identity.
const SPOOFED: [(&str, &str); 6] = [
    ("X-Stripe-App-User-Id", "usr_evil"),
    ("x-stripe-app-account-id", "acct_evil"),
    ("X_Stripe_App_Roles", "admin"),
    ("X-STRIPE-APP-VERIFIED", "raw_body"),
    ("X-Stripe-App-Signature-Timestamp", "1"),
    ("X-Stripe-App-Whatever", "1"),
];

/// Header names under the identity prefix, whatever their spelling.
fn identity_names(headers: &HeaderMap, prefix: &str) -> Vec<String> {
    headers
        .keys()
        .map(|name| name.as_str().replace('_', "-"))
        .filter(|name| name.starts_with(prefix))
        .collect()
}

fn has_acao(answer: &Answer) -> bool {
    answer
        .headers
        .get("access-control-allow-origin")
        .is_some_and(|v| v == "*")
}

#[tokio::test]
async fn cors_preflight_is_answered_by_the_gateway() {
    let upstream = Upstream::start().await;
    let gateway = start(&upstream.url(), "", &app_route("")).await;
    let headers = [
        ("origin", "null"),
        ("access-control-request-method", "POST"),
        (
            "access-control-request-headers",
            "stripe-signature, content-type",
        ),
    ];
    let answer = send(
        Method::OPTIONS,
        &gateway.url("/api/x"),
        &headers,
        Bytes::new(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert!(answer.body.is_empty());
    let h = &answer.headers;
    assert_eq!(h["access-control-allow-origin"], "*");
    assert_eq!(h["access-control-allow-methods"], "GET, POST");
    let allowed = h["access-control-allow-headers"]
        .to_str()
        .expect("ascii")
        .to_ascii_lowercase();
    assert!(allowed.contains("stripe-signature") && allowed.contains("content-type"));
    let max_age: u64 = h["access-control-max-age"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(max_age > 0);
    assert!(upstream.seen().is_empty(), "preflights are never forwarded");
    gateway.stop().await;
}

#[tokio::test]
async fn every_response_on_a_cors_route_allows_any_origin_and_others_do_not() {
    let upstream = Upstream::start().await;
    let down = format!("http://{}", closed_port());
    let routes = [
        app_route(""),
        format!(
            "[[routes]]\nid = \"down\"\npath_prefix = \"/down/\"\nauth = \"app\"\nkeyring = \"app\"\n\
             cors = true\nupstream = \"{down}\"\n"
        ),
        "[[routes]]\nid = \"plain\"\npath_prefix = \"/plain/\"\nmethods = [\"POST\"]\n\
         auth = \"app\"\nkeyring = \"app\"\n"
            .to_string(),
        open_route("/open/"),
    ]
    .concat();
    let gateway = start(&upstream.url(), "max_body_bytes = 1024", &routes).await;
    let body = app_body("usr_1", "acct_1");
    let origin = [("origin", "null")];
    let big = vec![b'x'; 2048];

    let answer = post_signed(&gateway.url("/api/x"), &body, &origin).await;
    assert_eq!(answer.status, 200);
    assert!(has_acao(&answer));
    let answer = send(Method::POST, &gateway.url("/api/x"), &origin, body.clone()).await;
    assert_error(&answer, 401, "missing_header");
    assert!(has_acao(&answer));
    let answer = post_signed(&gateway.url("/api/x"), &big, &origin).await;
    assert_error(&answer, 413, "body_too_large");
    assert!(has_acao(&answer));
    let answer = send(Method::PUT, &gateway.url("/api/x"), &origin, body.clone()).await;
    assert_error(&answer, 405, "method_not_allowed");
    assert!(has_acao(&answer));
    let answer = post_signed(&gateway.url("/down/x"), &body, &origin).await;
    assert_error(&answer, 502, "upstream_unavailable");
    assert!(has_acao(&answer));

    let answer = post_signed(&gateway.url("/plain/x"), &body, &origin).await;
    assert_eq!(answer.status, 200);
    assert!(!answer.headers.contains_key("access-control-allow-origin"));
    let answer = send(
        Method::POST,
        &gateway.url("/plain/x"),
        &origin,
        body.clone(),
    )
    .await;
    assert_error(&answer, 401, "missing_header");
    assert!(!answer.headers.contains_key("access-control-allow-origin"));
    let preflight = [
        ("origin", "null"),
        ("access-control-request-method", "POST"),
    ];
    let answer = send(
        Method::OPTIONS,
        &gateway.url("/plain/x"),
        &preflight,
        Bytes::new(),
    )
    .await;
    assert_error(&answer, 405, "method_not_allowed");
    assert!(!answer.headers.contains_key("access-control-allow-origin"));
    let answer = send(Method::GET, &gateway.url("/open/x"), &origin, Bytes::new()).await;
    assert_eq!(answer.status, 200);
    assert!(!answer.headers.contains_key("access-control-allow-origin"));
    let answer = send(Method::GET, &gateway.url("/nowhere"), &origin, Bytes::new()).await;
    assert_error(&answer, 404, "no_route");
    assert!(!answer.headers.contains_key("access-control-allow-origin"));
    assert_eq!(upstream.seen().len(), 3);
    gateway.stop().await;
}

#[tokio::test]
async fn spoofed_identity_headers_are_removed_on_app_and_none_routes() {
    let upstream = Upstream::start().await;
    let routes = format!("{}{}", app_route(""), open_route("/open/"));
    let gateway = start(&upstream.url(), "", &routes).await;
    let body = app_body("usr_1", "acct_1");
    let answer = post_signed(&gateway.url("/api/x"), &body, &SPOOFED).await;
    assert_eq!(answer.status, 200);
    // Mode B: a spoofed roles header must not stand in for roles that were not signed.
    let header = sign(&[APP_SECRET], now(), &body);
    let mut headers = vec![("stripe-signature", header.as_str())];
    headers.extend_from_slice(&SPOOFED);
    let unsigned_extra = br#"{"user_id":"usr_1","account_id":"acct_1","more":1}"#;
    let answer = send(
        Method::POST,
        &gateway.url("/api/x"),
        &headers,
        &unsigned_extra[..],
    )
    .await;
    assert_eq!(answer.status, 200);
    let answer = send(
        Method::POST,
        &gateway.url("/open/x"),
        &SPOOFED,
        body.clone(),
    )
    .await;
    assert_eq!(answer.status, 200);

    let seen = upstream.seen();
    assert_eq!(seen.len(), 3);
    for (request, verified) in seen[..2].iter().zip(["raw_body", "reconstructed_default"]) {
        let h = &request.headers;
        let mut names = identity_names(h, "x-stripe-app-");
        names.sort();
        assert_eq!(
            names,
            [
                "x-stripe-app-account-id",
                "x-stripe-app-signature-timestamp",
                "x-stripe-app-user-id",
                "x-stripe-app-verified"
            ]
        );
        assert_eq!(h.get_all("x-stripe-app-user-id").iter().count(), 1);
        assert_eq!(h["x-stripe-app-user-id"], "usr_1");
        assert_eq!(h["x-stripe-app-account-id"], "acct_1");
        assert_eq!(h["x-stripe-app-verified"], verified);
        assert_ne!(h["x-stripe-app-signature-timestamp"], "1");
    }
    assert!(identity_names(&seen[2].headers, "x-stripe-app-").is_empty());
    assert_eq!(seen[2].body, body);
    gateway.stop().await;
}

#[tokio::test]
async fn a_custom_identity_prefix_is_injected_and_stripped() {
    let upstream = Upstream::start().await;
    let routes = format!(
        "[identity]\nheader_prefix = \"X-Acme-\"\n\n{}{}",
        app_route(""),
        open_route("/open/")
    );
    let gateway = start(&upstream.url(), "", &routes).await;
    let spoofed = [("X_Acme_User_Id", "usr_evil"), ("x-acme-anything", "1")];
    let body = app_body("usr_1", "acct_1");
    assert_eq!(
        post_signed(&gateway.url("/api/x"), &body, &spoofed)
            .await
            .status,
        200
    );
    let answer = send(Method::GET, &gateway.url("/open/x"), &spoofed, Bytes::new()).await;
    assert_eq!(answer.status, 200);
    let seen = upstream.seen();
    let mut names = identity_names(&seen[0].headers, "x-acme-");
    names.sort();
    assert_eq!(
        names,
        [
            "x-acme-account-id",
            "x-acme-signature-timestamp",
            "x-acme-user-id",
            "x-acme-verified"
        ]
    );
    assert_eq!(seen[0].headers["x-acme-user-id"], "usr_1");
    assert!(identity_names(&seen[1].headers, "x-acme-").is_empty());
    gateway.stop().await;
}

#[tokio::test]
async fn hop_by_hop_and_connection_named_headers_are_removed() {
    let upstream = Upstream::start().await;
    let routes = format!("{}{}", app_route(""), open_route("/open/"));
    let gateway = start(&upstream.url(), "", &routes).await;
    let hop = [
        ("connection", "x-hop-secret, x-other-hop"),
        ("x-hop-secret", "1"),
        ("x-other-hop", "1"),
        ("keep-alive", "timeout=5"),
        ("proxy-authorization", "Basic Zm9vOmJhcg=="),
        ("proxy-connection", "keep-alive"),
        ("te", "trailers"),
        ("x-kept", "yes"),
    ];
    let body = app_body("usr_1", "acct_1");
    assert_eq!(
        post_signed(&gateway.url("/api/x"), &body, &hop)
            .await
            .status,
        200
    );
    let answer = send(Method::GET, &gateway.url("/open/x"), &hop, Bytes::new()).await;
    assert_eq!(answer.status, 200);
    let seen = upstream.seen();
    assert_eq!(seen.len(), 2);
    for request in &seen {
        for (name, _) in &hop[1..7] {
            assert!(!request.headers.contains_key(*name), "{name} was forwarded");
        }
        assert!(request
            .headers
            .get_all("connection")
            .iter()
            .all(|v| !v.to_str().unwrap_or("").contains("x-hop-secret")));
        assert_eq!(request.headers["x-kept"], "yes");
    }
    gateway.stop().await;
}

#[tokio::test]
async fn forwarded_headers_from_an_untrusted_peer_are_replaced() {
    let upstream = Upstream::start().await;
    let routes = format!("{}{}", app_route(""), open_route("/open/"));
    let gateway = start(&upstream.url(), "", &routes).await;
    let inbound = [
        ("x-forwarded-for", "6.6.6.6"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "evil.example"),
    ];
    let body = app_body("usr_1", "acct_1");
    assert_eq!(
        post_signed(&gateway.url("/api/x"), &body, &inbound)
            .await
            .status,
        200
    );
    let answer = send(Method::GET, &gateway.url("/open/x"), &inbound, Bytes::new()).await;
    assert_eq!(answer.status, 200);
    for request in upstream.seen() {
        let h = &request.headers;
        assert_eq!(h.get_all("x-forwarded-for").iter().count(), 1);
        assert_eq!(h["x-forwarded-for"], "127.0.0.1");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], gateway.data.to_string().as_str());
    }
    gateway.stop().await;
}

#[tokio::test]
async fn forwarded_headers_from_a_trusted_proxy_are_kept_and_appended() {
    let upstream = Upstream::start().await;
    let routes = format!("{}{}", app_route(""), open_route("/open/"));
    let server = "trusted_proxies = [\"127.0.0.1/32\"]";
    let gateway = start(&upstream.url(), server, &routes).await;
    let inbound = [
        ("x-forwarded-for", "203.0.113.9"),
        ("x-forwarded-for", "198.51.100.7"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "app.example"),
    ];
    let body = app_body("usr_1", "acct_1");
    assert_eq!(
        post_signed(&gateway.url("/api/x"), &body, &inbound)
            .await
            .status,
        200
    );
    let answer = send(Method::GET, &gateway.url("/open/x"), &inbound, Bytes::new()).await;
    assert_eq!(answer.status, 200);
    // Without inbound values, a trusted proxy's request gets the gateway's own.
    let answer = send(Method::GET, &gateway.url("/open/y"), &[], Bytes::new()).await;
    assert_eq!(answer.status, 200);
    let seen = upstream.seen();
    for request in &seen[..2] {
        let h = &request.headers;
        assert_eq!(h.get_all("x-forwarded-for").iter().count(), 1);
        assert_eq!(h["x-forwarded-for"], "203.0.113.9, 198.51.100.7, 127.0.0.1");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "app.example");
    }
    let h = &seen[2].headers;
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], gateway.data.to_string().as_str());
    gateway.stop().await;
}

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
