//! `auth = "app"` routes over real sockets: what a valid signature forwards (both modes), every
//! rejection and its response, roles, replay and path normalisation. Headers, CORS, upstream
//! failures and `auth = "none"` routes are in `app_headers.rs`.

mod policy;

use bytes::Bytes;
use http::Method;
use stripe_app_gateway::auth::compute_signature;
use stripe_app_gateway::secret::Secret;

use crate::common::*;

/// An app route with its own id and prefix, accepting `GET` and `POST`, plus `extra` keys.
fn route(id: &str, prefix: &str, extra: &str) -> String {
    format!(
        "[[routes]]\nid = \"{id}\"\npath_prefix = \"{prefix}\"\nmethods = [\"GET\", \"POST\"]\n\
         auth = \"app\"\nkeyring = \"app\"\n{extra}\n"
    )
}

/// A gateway in front of `upstream` with `server` keys added to `[server]`.
async fn start(upstream: &Upstream, server: &str, routes: &str) -> TestGateway {
    let text = config_text(&upstream.url(), routes).replacen(
        "[server]\n",
        &format!("[server]\n{server}\n"),
        1,
    );
    TestGateway::start(&text).await
}

/// A `POST` of `body` carrying `header` as its `Stripe-Signature`.
async fn post_with(url: &str, header: &str, body: &[u8]) -> Answer {
    let headers = [
        ("stripe-signature", header),
        ("content-type", "application/json"),
    ];
    send(Method::POST, url, &headers, body.to_vec()).await
}

/// A `POST` of `body` signed with the route's secret at `t`.
async fn post_at(url: &str, t: i64, body: &[u8]) -> Answer {
    post_with(url, &sign(&[APP_SECRET], t, body), body).await
}

/// An app body whose `stripe_roles` holds these role ids.
fn roles_body(roles: &[&str]) -> Vec<u8> {
    let roles: Vec<String> = roles
        .iter()
        .map(|id| format!(r#"{{"id":"{id}","name":"Role {id}"}}"#))
        .collect();
    format!(
        r#"{{"user_id":"usr_1","account_id":"acct_1","stripe_roles":[{}]}}"#,
        roles.join(",")
    )
    .into_bytes()
}

/// Asserts a rejection and that it reveals neither the secret nor `expected_signatures`.
fn assert_rejected(answer: &Answer, status: u16, code: &str, expected_signatures: &[&str]) {
    assert_error(answer, status, code);
    let mut needles = vec![APP_SECRET, "absec_"];
    needles.extend_from_slice(expected_signatures);
    assert_reveals_none(answer, &needles);
}

#[tokio::test]
async fn raw_body_signature_forwards_exact_bytes_and_identity() {
    let upstream = Upstream::start().await;
    let gateway = start(&upstream, "", &app_route("app_signature = \"raw_body\"")).await;
    let t = now();
    gateway.clock.set(t);
    // Odd spacing, escapes and key order: only the exact bytes verify, and they must arrive.
    let body = br#"{ "note":"caf\u00e9 \u2028 /",  "user_id":"usr_1","account_id":"acct_1","stripe_roles":[{"id":"admin","name":"Administrator"},{"name":"no id"},{"id":"developer"}] }"#;
    let header = sign(&[APP_SECRET], t, body);
    let headers = [
        ("stripe-signature", header.as_str()),
        ("content-type", "application/json"),
        ("x-request-id", "trace-abc_123"),
    ];
    let url = gateway.url("/api/things?x=1&y=two%20words");
    let answer = send(Method::POST, &url, &headers, body.to_vec()).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body, r#"{"ok":true}"#);
    assert_eq!(answer.headers["x-request-id"], "trace-abc_123");

    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path_and_query, "/api/things?x=1&y=two%20words");
    assert_eq!(request.body, &body[..]);
    let h = &request.headers;
    assert_eq!(h["stripe-signature"], header.as_str());
    assert_eq!(h["x-stripe-app-account-id"], "acct_1");
    assert_eq!(h["x-stripe-app-user-id"], "usr_1");
    assert_eq!(h["x-stripe-app-verified"], "raw_body");
    assert_eq!(
        h["x-stripe-app-signature-timestamp"],
        t.to_string().as_str()
    );
    assert_eq!(h["x-stripe-app-roles"], "admin,developer");
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], gateway.data.to_string().as_str());
    assert_eq!(h["x-request-id"], "trace-abc_123");
    assert_eq!(h["content-length"], body.len().to_string().as_str());

    // Without stripe_roles in the signed body there is no roles header.
    let answer = post_signed(&gateway.url("/api/x"), &app_body("usr_2", "acct_2"), &[]).await;
    assert_eq!(answer.status, 200);
    let h = &upstream.seen()[1].headers;
    assert_eq!(h["x-stripe-app-user-id"], "usr_2");
    assert!(!h.contains_key("x-stripe-app-roles"));
    gateway.stop().await;
}

#[tokio::test]
async fn request_ids_are_generated_when_absent_or_unsafe() {
    let upstream = Upstream::start().await;
    let gateway = start(&upstream, "", &app_route("")).await;
    let body = app_body("usr_1", "acct_1");
    for extra in [&[][..], &[("x-request-id", "bad id \"quoted\"")][..]] {
        let answer = post_signed(&gateway.url("/api/x"), &body, extra).await;
        assert_eq!(answer.status, 200);
        let id = answer.headers["x-request-id"].to_str().expect("ascii");
        assert!(
            id.len() == 36
                && id.starts_with("req_")
                && id[4..]
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{id}"
        );
        let seen = upstream.seen();
        assert_eq!(seen.last().expect("forwarded").headers["x-request-id"], id);
    }
    let seen = upstream.seen();
    assert_ne!(
        seen[0].headers["x-request-id"],
        seen[1].headers["x-request-id"]
    );
    gateway.stop().await;
}

#[tokio::test]
async fn default_payload_signature_forwards_only_the_signed_ids() {
    let upstream = Upstream::start().await;
    let routes = [
        route("either", "/either/", ""),
        route("default", "/default/", "app_signature = \"default\""),
        route("raw", "/raw/", "app_signature = \"raw_body\""),
    ]
    .concat();
    let gateway = start(&upstream, "", &routes).await;
    let t = now();
    gateway.clock.set(t);
    let header = sign(&[APP_SECRET], t, &app_body("u", "a"));
    let bodies: [&[u8]; 2] = [
        br#"{"setting":"x","user_id":"u","account_id":"a"}"#,
        // Roles in a body whose bytes were not signed are the caller's claim: never forwarded.
        br#"{"setting":"x","user_id":"u","account_id":"a","stripe_roles":[{"id":"admin"}]}"#,
    ];
    for prefix in ["/either/", "/default/"] {
        for body in bodies {
            let before = upstream.seen().len();
            let answer = post_with(&gateway.url(&format!("{prefix}x")), &header, body).await;
            assert_eq!(answer.status, 200, "{prefix}: {:?}", answer.body);
            let seen = upstream.seen();
            assert_eq!(seen.len(), before + 1);
            let request = &seen[before];
            assert_eq!(request.body, body);
            let h = &request.headers;
            assert_eq!(h["x-stripe-app-verified"], "reconstructed_default");
            assert_eq!(h["x-stripe-app-user-id"], "u");
            assert_eq!(h["x-stripe-app-account-id"], "a");
            assert_eq!(
                h["x-stripe-app-signature-timestamp"],
                t.to_string().as_str()
            );
            assert!(!h.contains_key("x-stripe-app-roles"), "{prefix}");
            assert_eq!(h["stripe-signature"], header.as_str());
        }
    }
    let forwarded = upstream.seen().len();
    let answer = post_with(&gateway.url("/raw/x"), &header, bodies[0]).await;
    let expected = compute_signature(&Secret::new(APP_SECRET), t, bodies[0]);
    assert_rejected(&answer, 401, "signature_mismatch", &[&expected]);
    assert_eq!(upstream.seen().len(), forwarded);
    gateway.stop().await;
}

#[tokio::test]
async fn missing_empty_and_repeated_signature_headers_are_401() {
    let upstream = Upstream::start().await;
    let gateway = start(&upstream, "", &app_route("")).await;
    let url = gateway.url("/api/x");
    let body = app_body("usr_1", "acct_1");
    let answer = send(Method::POST, &url, &[], body.clone()).await;
    assert_rejected(&answer, 401, "missing_header", &[]);
    let answer = post_with(&url, "", &body).await;
    assert_rejected(&answer, 401, "missing_header", &[]);
    let valid = sign(&[APP_SECRET], now(), &body);
    let headers = [
        ("stripe-signature", valid.as_str()),
        ("stripe-signature", valid.as_str()),
    ];
    let answer = send(Method::POST, &url, &headers, body.clone()).await;
    assert_rejected(&answer, 401, "malformed_header", &[]);
    assert!(upstream.seen().is_empty());
    gateway.stop().await;
}

#[tokio::test]
async fn malformed_headers_and_headers_without_v1_are_401() {
    let upstream = Upstream::start().await;
    let gateway = start(&upstream, "", &app_route("")).await;
    let url = gateway.url("/api/x");
    let body = app_body("usr_1", "acct_1");
    let t = now();
    let v1 = compute_signature(&Secret::new(APP_SECRET), t, &body);
    let cases = [
        (format!("t=abc,v1={v1}"), "malformed_header"),
        (format!("v1={v1}"), "malformed_header"),
        (format!("t={t},t={t},v1={v1}"), "malformed_header"),
        (format!("t={t},v1="), "malformed_header"),
        ("garbage".to_string(), "malformed_header"),
        (format!("t={t}"), "no_v1_signature"),
        (format!("t={t},v0={v1}"), "no_v1_signature"),
    ];
    for (header, code) in &cases {
        let answer = post_with(&url, header, &body).await;
        assert_rejected(&answer, 401, code, &[]);
    }
    assert!(upstream.seen().is_empty());
    gateway.stop().await;
}

#[tokio::test]
async fn a_wrong_secret_is_401_signature_mismatch_revealing_nothing() {
    let upstream = Upstream::start().await;
    let gateway = start(&upstream, "", &app_route("")).await;
    let wrong = "absec_test_wrong_0123456789abcdef";
    let body = br#"{"setting":"x","user_id":"usr_1","account_id":"acct_1"}"#;
    let t = now();
    gateway.clock.set(t);
    let answer = post_with(&gateway.url("/api/x"), &sign(&[wrong], t, body), body).await;
    let secret = Secret::new(APP_SECRET);
    let expected_raw = compute_signature(&secret, t, body);
    let expected_default = compute_signature(&secret, t, &app_body("usr_1", "acct_1"));
    assert_rejected(
        &answer,
        401,
        "signature_mismatch",
        &[&expected_raw, &expected_default, wrong],
    );
    assert!(upstream.seen().is_empty());
    gateway.stop().await;
}

#[tokio::test]
async fn timestamps_beyond_the_tolerance_are_401_and_the_boundary_passes() {
    let upstream = Upstream::start().await;
    let gateway = start(&upstream, "", &app_route("")).await;
    let url = gateway.url("/api/x");
    let body = app_body("usr_1", "acct_1");
    let t0 = now();
    gateway.clock.set(t0);
    assert_eq!(post_at(&url, t0 - 300, &body).await.status, 200);
    assert_eq!(post_at(&url, t0 + 300, &body).await.status, 200);
    assert_eq!(upstream.seen().len(), 2);
    let answer = post_at(&url, t0 - 301, &body).await;
    assert_rejected(&answer, 401, "timestamp_too_old", &[]);
    let answer = post_at(&url, t0 + 301, &body).await;
    assert_rejected(&answer, 401, "timestamp_in_future", &[]);
    // The same signature, judged by a clock that moved on.
    let header = sign(&[APP_SECRET], t0, &body);
    gateway.clock.set(t0 + 300);
    assert_eq!(post_with(&url, &header, &body).await.status, 200);
    gateway.clock.set(t0 + 301);
    let answer = post_with(&url, &header, &body).await;
    assert_rejected(&answer, 401, "timestamp_too_old", &[]);
    gateway.clock.set(t0 - 301);
    let answer = post_with(&url, &header, &body).await;
    assert_rejected(&answer, 401, "timestamp_in_future", &[]);
    assert_eq!(upstream.seen().len(), 3);
    gateway.stop().await;
}

#[tokio::test]
async fn an_empty_body_is_401_empty_payload() {
    let upstream = Upstream::start().await;
    let gateway = start(&upstream, "", &app_route("")).await;
    let answer = post_at(&gateway.url("/api/x"), now(), b"").await;
    assert_rejected(&answer, 401, "empty_payload", &[]);
    assert!(upstream.seen().is_empty());
    gateway.stop().await;
}

#[tokio::test]
async fn correctly_signed_bodies_that_are_not_app_json_are_400_malformed_body() {
    let upstream = Upstream::start().await;
    let routes = [
        route("either", "/api/", ""),
        route("raw", "/raw/", "app_signature = \"raw_body\""),
        route("default", "/default/", "app_signature = \"default\""),
    ]
    .concat();
    let gateway = start(&upstream, "", &routes).await;
    let bodies: [&[u8]; 11] = [
        b"not json",
        b"[1,2]",
        br#""user_id""#,
        br#"{"user_id":"u","user_id":"v","account_id":"a"}"#,
        br#"{"user_id":"u","account_id":"a","x":{"k":1,"k":2}}"#,
        br#"{"user_id":1,"account_id":"a"}"#,
        br#"{"user_id":"u","account_id":null}"#,
        br#"{"user_id":"u"}"#,
        br#"{"user_id":"u","account_id":"a"} {}"#,
        b"{\"user_id\":\"\xff\",\"account_id\":\"a\"}",
        br#"{"user_id":"u","account_id":"a","stripe_roles":"admin"}"#,
    ];
    for prefix in ["/api/", "/raw/", "/default/"] {
        for body in bodies {
            let answer = post_at(&gateway.url(&format!("{prefix}x")), now(), body).await;
            assert_eq!(
                answer.status,
                400,
                "{prefix} {:?}",
                String::from_utf8_lossy(body)
            );
            assert_rejected(&answer, 400, "malformed_body", &[]);
            assert_eq!(answer.json()["error"]["type"], "invalid_request_error");
        }
    }
    assert!(upstream.seen().is_empty());
    gateway.stop().await;
}

/// A correctly signed app body of exactly `len` bytes.
fn padded_body(len: usize) -> Vec<u8> {
    let head = br#"{"user_id":"usr_1","account_id":"acct_1","pad":""#;
    let mut body = head.to_vec();
    body.resize(len - 2, b'x');
    body.extend_from_slice(br#""}"#);
    body
}

#[tokio::test]
async fn bodies_over_max_body_bytes_are_413_with_or_without_content_length() {
    let upstream = Upstream::start().await;
    let gateway = start(&upstream, "max_body_bytes = 1024", &app_route("")).await;
    let url = gateway.url("/api/x");
    let at_limit = padded_body(1024);
    let over = padded_body(1025);
    assert_eq!(post_at(&url, now(), &at_limit).await.status, 200);
    let answer = post_at(&url, now(), &over).await;
    assert_rejected(&answer, 413, "body_too_large", &[]);

    let chunked =
        |body: &[u8]| -> Vec<Bytes> { body.chunks(300).map(Bytes::copy_from_slice).collect() };
    for (body, status) in [(&at_limit, 200), (&over, 413)] {
        let header = sign(&[APP_SECRET], now(), body);
        let headers = [("stripe-signature", header.as_str())];
        let answer = send_chunked(Method::POST, &url, &headers, chunked(body)).await;
        assert_eq!(answer.status, status, "{:?}", answer.body);
        if status == 413 {
            assert_rejected(&answer, 413, "body_too_large", &[]);
        }
    }
    let seen = upstream.seen();
    assert_eq!(seen.len(), 2, "only the bodies at the limit are forwarded");
    assert!(seen.iter().all(|request| request.body == at_limit));
    gateway.stop().await;
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405_with_allow() {
    let upstream = Upstream::start().await;
    let gateway = start(&upstream, "", &app_route("")).await;
    let body = app_body("usr_1", "acct_1");
    for path in ["/nope", "/api", "/API/x", "/"] {
        let answer = post_signed(&gateway.url(path), &body, &[]).await;
        assert_rejected(&answer, 404, "no_route", &[]);
    }
    for method in [Method::PUT, Method::DELETE, Method::PATCH] {
        let header = sign(&[APP_SECRET], now(), &body);
        let headers = [("stripe-signature", header.as_str())];
        let answer = send(method, &gateway.url("/api/x"), &headers, body.clone()).await;
        assert_rejected(&answer, 405, "method_not_allowed", &[]);
        assert_eq!(answer.headers["allow"], "GET, POST");
    }
    assert!(upstream.seen().is_empty());
    gateway.stop().await;
}
