//! What is refused before or instead of authentication, unauthenticated routes, and upstream
//! failures.

use super::*;
use crate::upstream::UpstreamFailure;

const ROUTES: &str = r#"
[[routes]]
id = "ui"
path_prefix = "/api/"
methods = ["GET", "POST"]
auth = "app"
keyring = "app"
cors = true
replay = "reject"

[[routes]]
id = "public"
path_prefix = "/public/"
auth = "none"
"#;

fn app_body() -> Vec<u8> {
    br#"{"user_id":"usr_1","account_id":"acct_1"}"#.to_vec()
}

fn signed(body: &[u8]) -> Request<Full<Bytes>> {
    let header = sign(&[APP_SECRET], NOW, body);
    post("/api/x", &[("stripe-signature", &header)], body.to_vec())
}

#[tokio::test]
async fn a_path_without_a_route_is_404_and_never_forwarded() {
    let gateway = Harness::new(ROUTES);
    for path in ["/nowhere", "/api/../admin", "/API/x"] {
        let answer = gateway.send(post(path, &[], "x")).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(answer.code(), "no_route");
        assert!(answer.headers.contains_key("x-request-id"));
    }
    assert!(gateway.seen().is_empty());
    let series = r#"stripe_app_gateway_requests_total{route="_none",status="404"}"#;
    assert_eq!(gateway.metric(series), Some(3.0));
}

#[tokio::test]
async fn a_method_the_route_does_not_take_is_405_with_allow() {
    let gateway = Harness::new(ROUTES);
    let request = Request::delete("/api/x")
        .body(Full::new(Bytes::new()))
        .expect("request");
    let answer = gateway.send(request).await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.headers["allow"], "GET, POST");
}

#[tokio::test]
async fn a_route_without_methods_takes_the_standard_ones_only() {
    let gateway = Harness::new(ROUTES);
    for method in ["CONNECT", "TRACE", "PROPFIND", "get"] {
        let method = http::Method::from_bytes(method.as_bytes()).expect("method");
        let request = Request::builder()
            .method(method.clone())
            .uri("/public/x")
            .body(Full::new(Bytes::new()))
            .expect("request");
        let answer = gateway.send(request).await;
        assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(
            answer.headers["allow"],
            "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
        );
    }
    assert!(gateway.seen().is_empty());
    let answer = gateway
        .send(post("/public/x", &[("expect", "100-continue")], "x"))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let seen = gateway.seen();
    let [forwarded] = seen.as_slice() else {
        panic!("forwarded once: {seen:?}")
    };
    assert!(
        !forwarded.headers.contains_key("expect"),
        "the gateway answers Expect itself"
    );
}

#[tokio::test]
async fn a_preflight_is_answered_204_and_never_forwarded() {
    let gateway = Harness::new(ROUTES);
    let request = Request::options("/api/x")
        .header("origin", "null")
        .header("access-control-request-method", "POST")
        .body(Full::new(Bytes::new()))
        .expect("request");
    let answer = gateway.send(request).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert_eq!(answer.headers["access-control-allow-origin"], "*");
    assert_eq!(answer.headers["access-control-allow-methods"], "GET, POST");
    assert!(gateway.seen().is_empty());
    let series = r#"stripe_app_gateway_auth_decisions_total{reason="preflight",result="skipped",route="ui"}"#;
    assert_eq!(gateway.metric(series), Some(1.0));
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_declared_or_not() {
    let gateway = Harness::new(ROUTES);
    let big = vec![b'x'; 2000];
    let header = sign(&[APP_SECRET], NOW, &big);
    let declared = post(
        "/api/x",
        &[("stripe-signature", &header), ("content-length", "2000")],
        big.clone(),
    );
    let undeclared = post("/api/x", &[("stripe-signature", &header)], big);
    for request in [declared, undeclared] {
        let answer = gateway.send(request).await;
        assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(answer.code(), "body_too_large");
    }
    assert!(gateway.seen().is_empty());
}

#[tokio::test]
async fn an_unauthenticated_route_streams_its_body_without_identity() {
    let gateway = Harness::new(ROUTES);
    let answer = gateway
        .send(post(
            "/public/x",
            &[("x-stripe-app-user-id", "usr_spoofed")],
            "hello",
        ))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let seen = gateway.seen();
    let [forwarded] = seen.as_slice() else {
        panic!("forwarded once: {seen:?}")
    };
    assert_eq!(forwarded.body, "hello");
    assert!(!forwarded.headers.contains_key("x-stripe-app-user-id"));
    assert!(!answer.headers.contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn upstream_failures_are_classified_by_fault() {
    let gateway = Harness::new(ROUTES);
    for (failure, status, code) in [
        (UpstreamFailure::Connect, 502, "upstream_unavailable"),
        (UpstreamFailure::Timeout, 504, "upstream_timeout"),
        (UpstreamFailure::Broken, 502, "upstream_unavailable"),
    ] {
        gateway.upstream.behave(Behaviour::Fail(failure));
        let answer = gateway.send(post("/public/x", &[], "x")).await;
        assert_eq!(
            (answer.status.as_u16(), answer.code().as_str()),
            (status, code)
        );
        let series = format!(
            r#"stripe_app_gateway_upstream_errors_total{{kind="{}",route="public"}}"#,
            failure.as_str()
        );
        assert_eq!(gateway.metric(&series), Some(1.0), "{series}");
    }
    gateway.upstream.behave(Behaviour::Respond(
        StatusCode::from_u16(600).expect("status"),
    ));
    let invalid = gateway.send(post("/public/x", &[], "x")).await;
    assert_eq!(invalid.status, StatusCode::BAD_GATEWAY);
}

#[tokio::test]
async fn a_failed_connect_gives_the_replay_mark_back_and_a_timeout_does_not() {
    let gateway = Harness::new(ROUTES);
    let body = app_body();
    gateway
        .upstream
        .behave(Behaviour::Fail(UpstreamFailure::Connect));
    assert_eq!(gateway.send(signed(&body)).await.status, 502);
    gateway
        .upstream
        .behave(Behaviour::Fail(UpstreamFailure::Timeout));
    assert_eq!(
        gateway.send(signed(&body)).await.status,
        504,
        "retry allowed"
    );
    gateway.upstream.behave(Behaviour::Respond(StatusCode::OK));
    assert_eq!(gateway.send(signed(&body)).await.code(), "replayed");
}

#[tokio::test]
async fn builtin_echo_shows_the_request_as_the_backend_would_see_it() {
    let mut gateway = Harness::new(ROUTES);
    let snapshot = gateway.gateway.snapshot();
    let config = snapshot.config.clone();
    let registry = Registry::new();
    let metrics = Metrics::register(&registry).expect("metrics");
    gateway
        .gateway
        .swap(Snapshot::build(config, None, &metrics));
    gateway.registry = registry;
    let body = app_body();
    let answer = gateway.send(signed(&body)).await;
    assert_eq!(answer.status, StatusCode::OK);
    let echo = answer.json();
    assert_eq!(echo["upstream"], "builtin:echo");
    assert_eq!(echo["path"], "/api/x");
    assert_eq!(echo["headers"]["x-stripe-app-user-id"], "usr_1");
    assert_eq!(echo["body"], String::from_utf8(body).expect("utf-8"));
    let answer = gateway.send(post("/public/y", &[], "streamed")).await;
    assert_eq!(answer.json()["body"], "streamed");
}
