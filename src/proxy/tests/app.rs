//! App routes: identity headers, signature failures, roles, replay.

use super::*;

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
id = "open"
path_prefix = "/open/"
auth = "app"
keyring = "app"

[[routes]]
id = "admin"
path_prefix = "/admin/"
auth = "app"
keyring = "app"
app_signature = "raw_body"
require_roles_any = ["admin"]

[[routes]]
id = "other"
path_prefix = "/other/"
auth = "app"
keyring = "other"
replay = "reject"
"#;

fn body(roles: &str) -> Vec<u8> {
    format!(r#"{{"user_id":"usr_1","account_id":"acct_1","stripe_roles":[{roles}]}}"#).into_bytes()
}

/// A `POST` to `path` of `body` signed now with the `app` secret, plus `headers`.
fn signed(path: &str, body: &[u8], headers: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let header = sign(&[APP_SECRET], NOW, body);
    let mut all = vec![("stripe-signature", header.as_str())];
    all.extend_from_slice(headers);
    post(path, &all, body.to_vec())
}

#[tokio::test]
async fn a_signed_request_is_forwarded_with_its_identity_and_without_inbound_copies() {
    let gateway = Harness::new(ROUTES);
    let body = body(r#"{"id":"admin"}"#);
    let spoofed = [
        ("x-stripe-app-user-id", "usr_spoofed"),
        ("x_stripe_app_roles", "admin"),
        ("X-Stripe-App-Verified", "raw_body"),
        ("connection", "x-hop"),
        ("x-hop", "1"),
    ];
    let answer = gateway.send(signed("/api/x?q=1", &body, &spoofed)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["access-control-allow-origin"], "*");
    let seen = gateway.seen();
    let [forwarded] = seen.as_slice() else {
        panic!("forwarded once: {seen:?}")
    };
    let headers = &forwarded.headers;
    assert_eq!(headers["x-stripe-app-user-id"], "usr_1");
    assert_eq!(headers.get_all("x-stripe-app-user-id").iter().count(), 1);
    assert_eq!(headers["x-stripe-app-account-id"], "acct_1");
    assert_eq!(headers["x-stripe-app-roles"], "admin");
    assert_eq!(headers["x-stripe-app-verified"], "raw_body");
    assert_eq!(headers["x-stripe-app-signature-timestamp"], NOW.to_string());
    assert!(!headers.contains_key("x_stripe_app_roles"));
    assert!(!headers.contains_key("x-hop") && !headers.contains_key("connection"));
    assert_eq!(headers["x-forwarded-for"], "203.0.113.7");
    assert_eq!(headers["x-request-id"], answer.headers["x-request-id"]);
    assert!(
        headers.contains_key("stripe-signature"),
        "forwarded unchanged"
    );
    assert_eq!(forwarded.body, body, "the exact body bytes");
    assert_eq!(forwarded.uri, "/api/x?q=1");
    let series =
        r#"stripe_app_gateway_auth_decisions_total{reason="ok",result="allowed",route="ui"}"#;
    assert_eq!(gateway.metric(series), Some(1.0));
}

#[tokio::test]
async fn a_bad_signature_is_401_json_with_the_request_id() {
    let gateway = Harness::new(ROUTES);
    let body = body("");
    let header = sign(&["absec_wrong"], NOW, &body);
    let request = post(
        "/api/x",
        &[("stripe-signature", &header), ("x-request-id", "trace-42")],
        body,
    );
    let answer = gateway.send(request).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.code(), "signature_mismatch");
    assert_eq!(answer.json()["error"]["type"], "authentication_error");
    assert_eq!(answer.json()["error"]["request_id"], "trace-42");
    assert_eq!(answer.headers["x-request-id"], "trace-42");
    assert_eq!(answer.headers["www-authenticate"], "Stripe-Signature");
    assert_eq!(answer.headers["content-type"], "application/json");
    assert_eq!(answer.headers["access-control-allow-origin"], "*");
    assert!(gateway.seen().is_empty());
    let missing = gateway.send(post("/api/x", &[], "{}")).await;
    assert_eq!(
        (missing.status, missing.code().as_str()),
        (StatusCode::UNAUTHORIZED, "missing_header")
    );
    let series = r#"stripe_app_gateway_auth_decisions_total{reason="signature_mismatch",result="denied",route="ui"}"#;
    assert_eq!(gateway.metric(series), Some(1.0));
}

#[tokio::test]
async fn roles_that_do_not_satisfy_the_route_are_403() {
    let gateway = Harness::new(ROUTES);
    let answer = gateway
        .send(signed("/admin/x", &body(r#"{"id":"view_only"}"#), &[]))
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.code(), "role_denied");
    let answer = gateway
        .send(signed("/admin/x", &body(r#"{"id":"admin"}"#), &[]))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(gateway.seen().len(), 1);
}

#[tokio::test]
async fn a_signature_is_accepted_once_on_a_reject_route() {
    let gateway = Harness::new(ROUTES);
    let body = body("");
    assert_eq!(gateway.send(signed("/api/x", &body, &[])).await.status, 200);
    let again = gateway.send(signed("/api/y", &body, &[])).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert_eq!(again.code(), "replayed");
    assert_eq!(again.headers["www-authenticate"], "Stripe-Signature");
    assert_eq!(gateway.seen().len(), 1);
}

#[tokio::test]
async fn a_signature_used_on_an_allow_route_is_spent_on_reject_routes_of_its_keyring() {
    let gateway = Harness::new(ROUTES);
    let body = body("");
    assert_eq!(
        gateway.send(signed("/open/x", &body, &[])).await.status,
        200
    );
    let replayed = gateway.send(signed("/api/x", &body, &[])).await;
    assert_eq!(
        (replayed.status, replayed.code().as_str()),
        (StatusCode::UNAUTHORIZED, "replayed")
    );
    assert_eq!(
        gateway.send(signed("/open/x", &body, &[])).await.status,
        200,
        "an allow route records but never refuses"
    );
    assert_eq!(gateway.seen().len(), 2);
}

#[tokio::test]
async fn replay_marks_of_different_keyrings_do_not_interfere() {
    let gateway = Harness::new(ROUTES);
    let body = body("");
    // One header that both keyrings verify (one v1 per secret), on the same body and time.
    let header = sign(&[APP_SECRET, OTHER_SECRET], NOW, &body);
    let both = |path: &str| post(path, &[("stripe-signature", &header)], body.clone());
    assert_eq!(gateway.send(both("/api/x")).await.status, 200);
    assert_eq!(gateway.send(both("/other/x")).await.status, 200);
    assert_eq!(gateway.send(both("/other/x")).await.code(), "replayed");
    assert_eq!(gateway.send(both("/api/x")).await.code(), "replayed");
}
