//! Smoke test: a signed request reaches the upstream with its identity.

use crate::common::*;

#[tokio::test]
async fn a_signed_request_reaches_the_upstream_with_identity() {
    let upstream = Upstream::start().await;
    let gateway = TestGateway::start(&config_text(&upstream.url(), &app_route(""))).await;
    let body = app_body("usr_1", "acct_1");
    let answer = post_signed(&gateway.url("/api/things"), &body, &[]).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body, body);
    assert_eq!(seen[0].headers["x-stripe-app-user-id"], "usr_1");
    gateway.stop().await;
}
