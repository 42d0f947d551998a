//! What crosses the gateway besides the verdict, over real sockets: CORS, identity and hop-by-hop
//! header stripping, `X-Forwarded-*`, upstream failures, streaming `auth = "none"` routes and
//! `builtin:echo`.

mod upstream;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::common::*;

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
