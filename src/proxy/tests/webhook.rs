//! Webhook routes: verified, filtered, duplicate, and Stripe's view of a failed delivery.

use super::*;

const ROUTES: &str = r#"
[[routes]]
id = "hooks"
path = "/webhook"
methods = ["POST"]
auth = "webhook"
keyring = "hooks"
events = ["invoice.*"]
livemode = "live"
dedupe = true
"#;

fn event(id: &str, kind: &str, livemode: bool) -> Vec<u8> {
    format!(r#"{{"id":"{id}","type":"{kind}","livemode":{livemode},"account":"acct_1"}}"#)
        .into_bytes()
}

fn delivery(body: &[u8]) -> Request<Full<Bytes>> {
    let header = sign(&[WEBHOOK_SECRET], NOW, body);
    post("/webhook", &[("stripe-signature", &header)], body.to_vec())
}

fn outcome(gateway: &Harness, outcome: &str) -> Option<f64> {
    gateway.metric(&format!(
        r#"stripe_app_gateway_webhook_events_total{{outcome="{outcome}",route="hooks"}}"#
    ))
}

#[tokio::test]
async fn a_verified_event_is_forwarded_with_its_identity() {
    let gateway = Harness::new(ROUTES);
    let answer = gateway
        .send(delivery(&event("evt_1", "invoice.paid", true)))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let seen = gateway.seen();
    let [forwarded] = seen.as_slice() else {
        panic!("forwarded once: {seen:?}")
    };
    let headers = &forwarded.headers;
    assert_eq!(headers["x-stripe-app-event-id"], "evt_1");
    assert_eq!(headers["x-stripe-app-event-type"], "invoice.paid");
    assert_eq!(headers["x-stripe-app-livemode"], "true");
    assert_eq!(headers["x-stripe-app-account-id"], "acct_1");
    assert_eq!(headers["x-stripe-app-verified"], "webhook");
    assert!(!headers.contains_key("x-stripe-app-user-id"));
    assert_eq!(outcome(&gateway, "forwarded"), Some(1.0));
}

#[tokio::test]
async fn filtered_events_are_acknowledged_and_not_forwarded() {
    let gateway = Harness::new(ROUTES);
    for (body, reason) in [
        (
            event("evt_1", "customer.created", true),
            "event_type_filtered",
        ),
        (event("evt_2", "invoice.paid", false), "livemode_filtered"),
    ] {
        let answer = gateway.send(delivery(&body)).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.json()["forwarded"], false);
        assert_eq!(answer.json()["reason"], reason);
    }
    assert!(gateway.seen().is_empty());
    assert_eq!(outcome(&gateway, "filtered"), Some(2.0));
}

#[tokio::test]
async fn a_delivered_event_is_not_delivered_twice() {
    let gateway = Harness::new(ROUTES);
    let body = event("evt_1", "invoice.paid", true);
    assert_eq!(gateway.send(delivery(&body)).await.status, 200);
    let again = gateway.send(delivery(&body)).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json()["reason"], "duplicate");
    assert_eq!(gateway.seen().len(), 1);
    assert_eq!(outcome(&gateway, "duplicate"), Some(1.0));
}

#[tokio::test]
async fn a_failed_delivery_is_an_error_for_stripe_and_is_delivered_on_retry() {
    let gateway = Harness::new(ROUTES);
    let body = event("evt_1", "invoice.paid", true);
    gateway
        .upstream
        .behave(Behaviour::Respond(StatusCode::INTERNAL_SERVER_ERROR));
    assert_eq!(gateway.send(delivery(&body)).await.status, 500);
    gateway
        .upstream
        .behave(Behaviour::Respond(StatusCode::MOVED_PERMANENTLY));
    let redirected = gateway.send(delivery(&body)).await;
    assert_eq!(redirected.status, StatusCode::BAD_GATEWAY);
    gateway.upstream.behave(Behaviour::Respond(StatusCode::OK));
    assert_eq!(gateway.send(delivery(&body)).await.status, 200);
    assert_eq!(gateway.seen().len(), 3);
    assert_eq!(outcome(&gateway, "failed"), Some(2.0));
}

#[tokio::test]
async fn webhook_signature_failures_are_400() {
    let gateway = Harness::new(ROUTES);
    let body = event("evt_1", "invoice.paid", true);
    let header = sign(&[WEBHOOK_SECRET], NOW - 3600, &body);
    let answer = gateway
        .send(post("/webhook", &[("stripe-signature", &header)], body))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.code(), "timestamp_too_old");
    assert!(!answer.headers.contains_key("www-authenticate"));
    assert!(gateway.seen().is_empty());
}
