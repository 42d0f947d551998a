//! A webhook delivery that failed, for whatever reason, is answered non-2xx so that Stripe
//! retries it; one test per way a delivery can fail. Where the backend was reached, what it saw
//! is checked, and so is that Stripe's retry is then delivered (a failure leaves no dedupe claim
//! behind).
//!
//! The only 2xx answers without a backend 2xx are by design (SPEC §6): an event the route
//! filters out (the operator asked not to receive it; a retry would be filtered again) and an
//! event already delivered (the backend answered 2xx for that id before).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame};

use super::*;
use crate::store::Held;
use crate::upstream::UpstreamFailure;

const ROUTES: &str = r#"
[keyrings.retired]
kind = "webhook"
secrets = [{ id = "old", value = "whsec_test_retired_0123456789abcdef", not_after = "2025-12-31T00:00:00Z" }]

[[routes]]
id = "hooks"
path = "/webhook"
methods = ["POST"]
auth = "webhook"
keyring = "hooks"
events = ["invoice.*"]
livemode = "live"
dedupe = true

[[routes]]
id = "both"
path = "/both"
methods = ["POST"]
auth = "webhook"
keyring = "hooks"
dedupe = true

[[routes]]
id = "retired"
path = "/retired"
methods = ["POST"]
auth = "webhook"
keyring = "retired"
"#;

const RETIRED_SECRET: &str = "whsec_test_retired_0123456789abcdef";

fn event(id: &str) -> Vec<u8> {
    format!(r#"{{"id":"{id}","type":"invoice.paid","livemode":true,"account":"acct_1"}}"#)
        .into_bytes()
}

fn signed_with(header: &str, body: &[u8]) -> Request<Full<Bytes>> {
    post("/webhook", &[("stripe-signature", header)], body.to_vec())
}

fn delivery(body: &[u8]) -> Request<Full<Bytes>> {
    signed_with(&sign(&[WEBHOOK_SECRET], NOW, body), body)
}

/// Sends `request` with a deadline.
async fn send(gateway: &Harness, request: Request<Full<Bytes>>) -> Answer {
    tokio::time::timeout(Duration::from_secs(5), gateway.send(request))
        .await
        .expect("answered within 5 s")
}

/// Sends `request` with any body type, with a deadline.
async fn send_body<B: crate::body::InboundBody>(gateway: &Harness, request: Request<B>) -> Answer {
    let client = Peer::new("203.0.113.7".parse().expect("ip"), false, "http");
    let answer = async {
        let (parts, body) = request.into_parts();
        let head = crate::http1::Head::of_parts(parts);
        let mut response = gateway.gateway.handle(head, body, &client).await;
        crate::body::merge_verbatim(&mut response);
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("in-memory body").to_bytes();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    };
    tokio::time::timeout(Duration::from_secs(5), answer)
        .await
        .expect("answered within 5 s")
}

/// The gateway's own refusal: `status`, `code`, and nothing forwarded.
fn assert_refused(gateway: &Harness, answer: &Answer, status: u16, code: &str) {
    assert_eq!(
        (answer.status.as_u16(), answer.code().as_str()),
        (status, code),
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert!(gateway.seen().is_empty(), "forwarded: {:?}", gateway.seen());
}

/// After a refusal, the same event correctly signed is delivered once: nothing was held.
async fn assert_retry_delivered(gateway: &Harness, id: &str) {
    let before = gateway.seen().len();
    gateway.upstream.behave(Behaviour::Respond(StatusCode::OK));
    let answer = send(gateway, delivery(&event(id))).await;
    assert_eq!(answer.status, StatusCode::OK, "retry of {id}");
    assert_eq!(
        gateway.seen().len().checked_sub(before),
        Some(1),
        "retry of {id} forwarded once"
    );
}

/// The upstream behaving as `behaviour` makes the delivery answer `status`; the upstream saw the
/// event exactly as sent (unless the connection failed), and the retry is delivered.
async fn assert_upstream_failure(behaviour: Behaviour, status: u16, code: Option<&str>) {
    let gateway = Harness::new(ROUTES);
    gateway.upstream.behave(behaviour);
    let body = event("evt_upstream");
    let answer = send(&gateway, delivery(&body)).await;
    assert_eq!(answer.status.as_u16(), status, "{behaviour:?}");
    if let Some(code) = code {
        assert_eq!(answer.code(), code, "{behaviour:?}");
    }
    let seen = gateway.seen();
    if behaviour == Behaviour::Fail(UpstreamFailure::Connect) {
        assert!(seen.is_empty(), "{seen:?}");
    } else {
        let [reached] = seen.as_slice() else {
            panic!("{behaviour:?}: forwarded once: {seen:?}")
        };
        assert_eq!(reached.body, body, "the exact bytes");
        assert_eq!(reached.headers["x-stripe-app-event-id"], "evt_upstream");
        assert!(reached.headers.contains_key("stripe-signature"));
    }
    assert_retry_delivered(&gateway, "evt_upstream").await;
}

#[tokio::test]
async fn a_missing_signature_is_400() {
    let gateway = Harness::new(ROUTES);
    let answer = send(&gateway, post("/webhook", &[], event("evt_1"))).await;
    assert_refused(&gateway, &answer, 400, "missing_header");
    assert_retry_delivered(&gateway, "evt_1").await;
}

#[tokio::test]
async fn a_malformed_signature_is_400() {
    let gateway = Harness::new(ROUTES);
    let answer = send(&gateway, signed_with("t=soon,v1=00", &event("evt_1"))).await;
    assert_refused(&gateway, &answer, 400, "malformed_header");
    assert_retry_delivered(&gateway, "evt_1").await;
}

#[tokio::test]
async fn a_signature_without_v1_is_400() {
    let gateway = Harness::new(ROUTES);
    let header = format!("t={NOW},v0=abc");
    let answer = send(&gateway, signed_with(&header, &event("evt_1"))).await;
    assert_refused(&gateway, &answer, 400, "no_v1_signature");
    assert_retry_delivered(&gateway, "evt_1").await;
}

#[tokio::test]
async fn a_signature_by_another_secret_is_400() {
    let gateway = Harness::new(ROUTES);
    let body = event("evt_1");
    let header = sign(&["whsec_test_someone_else"], NOW, &body);
    let answer = send(&gateway, signed_with(&header, &body)).await;
    assert_refused(&gateway, &answer, 400, "signature_mismatch");
    assert_retry_delivered(&gateway, "evt_1").await;
}

#[tokio::test]
async fn a_signature_by_a_secret_past_its_not_after_is_400() {
    let gateway = Harness::new(ROUTES);
    let body = event("evt_1");
    let header = sign(&[RETIRED_SECRET], NOW, &body);
    let request = post("/retired", &[("stripe-signature", &header)], body);
    let answer = send(&gateway, request).await;
    assert_refused(&gateway, &answer, 400, "signature_mismatch");
}

#[tokio::test]
async fn an_old_signature_is_400() {
    let gateway = Harness::new(ROUTES);
    let body = event("evt_1");
    let header = sign(&[WEBHOOK_SECRET], NOW - 301, &body);
    let answer = send(&gateway, signed_with(&header, &body)).await;
    assert_refused(&gateway, &answer, 400, "timestamp_too_old");
    assert_retry_delivered(&gateway, "evt_1").await;
}

#[tokio::test]
async fn a_signature_from_the_future_is_400() {
    let gateway = Harness::new(ROUTES);
    let body = event("evt_1");
    let header = sign(&[WEBHOOK_SECRET], NOW + 301, &body);
    let answer = send(&gateway, signed_with(&header, &body)).await;
    assert_refused(&gateway, &answer, 400, "timestamp_in_future");
    assert_retry_delivered(&gateway, "evt_1").await;
}

#[tokio::test]
async fn an_empty_body_is_400() {
    let gateway = Harness::new(ROUTES);
    let header = sign(&[WEBHOOK_SECRET], NOW, b"");
    let answer = send(&gateway, signed_with(&header, b"")).await;
    assert_refused(&gateway, &answer, 400, "empty_payload");
}

#[tokio::test]
async fn a_signed_body_that_is_not_an_event_is_400() {
    let gateway = Harness::new(ROUTES);
    for body in [
        &br#"{"id":"evt_1","type":"invoice.paid","id":"evt_2"}"#[..],
        br#"{"type":"invoice.paid"}"#,
        b"[]",
        b"not json",
    ] {
        let answer = send(&gateway, delivery(body)).await;
        assert_refused(&gateway, &answer, 400, "malformed_body");
    }
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let gateway = Harness::new(ROUTES);
    let mut body = event("evt_big");
    body.truncate(body.len() - 1);
    body.extend_from_slice(format!(r#","pad":"{}"}}"#, "x".repeat(1024)).as_bytes());
    let answer = send(&gateway, delivery(&body)).await;
    assert_refused(&gateway, &answer, 413, "body_too_large");
    assert_retry_delivered(&gateway, "evt_big").await;
}

/// A body that never ends (the sender stalled mid-body).
struct Stalled;

impl Body for Stalled {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Pending
    }
}

/// A body whose connection broke (the sender went away mid-body).
struct Broken;

impl Body for Broken {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        Poll::Ready(Some(Err(reset)))
    }
}

fn with_body<B>(body: B) -> Request<B> {
    let header = sign(&[WEBHOOK_SECRET], NOW, &event("evt_1"));
    Request::post("/webhook")
        .header("stripe-signature", header)
        .body(body)
        .expect("request")
}

/// The harness with `change` applied to its configuration (the double stays the upstream).
fn reconfigured(change: impl FnOnce(&mut crate::config::Config)) -> Harness {
    let gateway = Harness::new(ROUTES);
    let mut config = gateway.gateway.snapshot().config.clone();
    change(&mut config);
    let mut snapshot = Snapshot::build(config, None, &gateway.gateway.metrics);
    for route in &mut snapshot.routes {
        route.upstream = Upstream::Double(gateway.upstream.clone());
    }
    gateway.gateway.swap(snapshot);
    gateway
}

#[tokio::test]
async fn a_body_that_stops_arriving_is_408() {
    let gateway = reconfigured(|config| {
        config.server.body_read_timeout = Duration::from_millis(20);
    });
    let answer = send_body(&gateway, with_body(Stalled)).await;
    assert_refused(&gateway, &answer, 408, "body_timeout");
    assert_retry_delivered(&gateway, "evt_1").await;
}

#[tokio::test]
async fn a_body_cut_off_by_the_connection_is_400() {
    let gateway = Harness::new(ROUTES);
    let answer = send_body(&gateway, with_body(Broken)).await;
    assert_refused(&gateway, &answer, 400, "body_unreadable");
    assert_retry_delivered(&gateway, "evt_1").await;
}

#[tokio::test]
async fn a_method_the_route_does_not_take_is_405() {
    let gateway = Harness::new(ROUTES);
    let body = event("evt_1");
    let mut request = delivery(&body);
    *request.method_mut() = Method::PUT;
    let answer = send(&gateway, request).await;
    assert_refused(&gateway, &answer, 405, "method_not_allowed");
}

#[tokio::test]
async fn an_unreachable_upstream_is_502() {
    let behaviour = Behaviour::Fail(UpstreamFailure::Connect);
    assert_upstream_failure(behaviour, 502, Some("upstream_unavailable")).await;
}

#[tokio::test]
async fn an_upstream_timeout_is_504() {
    let behaviour = Behaviour::Fail(UpstreamFailure::Timeout);
    assert_upstream_failure(behaviour, 504, Some("upstream_timeout")).await;
}

#[tokio::test]
async fn an_upstream_connection_broken_mid_exchange_is_502() {
    let behaviour = Behaviour::Fail(UpstreamFailure::Broken);
    assert_upstream_failure(behaviour, 502, Some("upstream_unavailable")).await;
}

#[tokio::test]
async fn an_upstream_5xx_is_relayed() {
    for status in [500, 502, 503, 504] {
        let status_code = StatusCode::from_u16(status).expect("status");
        assert_upstream_failure(Behaviour::Respond(status_code), status, None).await;
    }
}

#[tokio::test]
async fn an_upstream_4xx_is_relayed() {
    for status in [400, 401, 404, 409, 422, 429] {
        let status_code = StatusCode::from_u16(status).expect("status");
        assert_upstream_failure(Behaviour::Respond(status_code), status, None).await;
    }
}

#[tokio::test]
async fn an_upstream_redirect_is_502() {
    for status in [301, 302, 304, 307, 308] {
        let status_code = StatusCode::from_u16(status).expect("status");
        let behaviour = Behaviour::Respond(status_code);
        assert_upstream_failure(behaviour, 502, Some("upstream_unavailable")).await;
    }
}

#[tokio::test]
async fn an_upstream_status_that_is_not_final_or_not_http_is_502() {
    for status in [100, 103, 199, 600, 999] {
        let status_code = StatusCode::from_u16(status).expect("status");
        let behaviour = Behaviour::Respond(status_code);
        assert_upstream_failure(behaviour, 502, Some("upstream_unavailable")).await;
    }
}

#[tokio::test]
async fn the_same_event_while_its_delivery_is_in_flight_is_409() {
    let gateway = Harness::new(ROUTES);
    // The claim another delivery of the same event holds while it is forwarded.
    let store = &*gateway.gateway.dedupe;
    let key = b"hooks\0live\0evt_1";
    let claim = store
        .claim(key, Held::InFlight, NOW, NOW + 60)
        .expect("first claim");
    let answer = send(&gateway, delivery(&event("evt_1"))).await;
    assert_refused(&gateway, &answer, 409, "duplicate_in_flight");
    store.release(key, claim);
    assert_retry_delivered(&gateway, "evt_1").await;
}

#[tokio::test]
async fn a_delivery_after_the_listener_closed_is_503() {
    let gateway = Harness::new(ROUTES);
    gateway.gateway.close();
    let answer = send(&gateway, delivery(&event("evt_1"))).await;
    assert_refused(&gateway, &answer, 503, "shutting_down");
}

#[tokio::test]
async fn a_delivery_past_max_in_flight_is_503() {
    let gateway = Harness::new(ROUTES);
    let limit = gateway.gateway.snapshot().config.server.max_in_flight;
    let in_flight = &gateway.gateway.metrics.in_flight;
    in_flight.set(i64::try_from(limit).expect("limit"));
    let answer = send(&gateway, delivery(&event("evt_1"))).await;
    assert_refused(&gateway, &answer, 503, "overloaded");
    in_flight.set(0);
    assert_retry_delivered(&gateway, "evt_1").await;
}

#[tokio::test]
async fn a_delivery_past_the_buffered_body_budget_is_503() {
    let gateway = Harness::new(ROUTES);
    let limit = gateway.gateway.snapshot().config.server.max_buffered_bytes;
    let held = gateway
        .gateway
        .budget
        .reserve(limit, limit)
        .expect("budget");
    let answer = send(&gateway, delivery(&event("evt_1"))).await;
    assert_refused(&gateway, &answer, 503, "overloaded");
    drop(held);
    assert_retry_delivered(&gateway, "evt_1").await;
}

/// The two 2xx answers that are not the backend's: neither forwards, and neither can lose an
/// event the backend wants (see the module documentation).
#[tokio::test]
async fn only_filtered_and_already_delivered_events_are_2xx_without_the_backend() {
    let gateway = Harness::new(ROUTES);
    let filtered = br#"{"id":"evt_f","type":"customer.created","livemode":true}"#;
    let answer = send(&gateway, delivery(filtered)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["reason"], "event_type_filtered");
    assert!(gateway.seen().is_empty());
    assert_retry_delivered(&gateway, "evt_d").await;
    let again = send(&gateway, delivery(&event("evt_d"))).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json()["reason"], "duplicate");
    assert_eq!(gateway.seen().len(), 1);
}

/// SPEC §9 scopes dedupe keys per route and live/test mode: a live event and a test event that
/// share an id are two events, and each must reach the backend.
#[tokio::test]
async fn an_event_id_delivered_in_one_mode_is_still_delivered_in_the_other() {
    let gateway = Harness::new(ROUTES);
    for livemode in [true, false] {
        let body = format!(r#"{{"id":"evt_same","type":"invoice.paid","livemode":{livemode}}}"#);
        let header = sign(&[WEBHOOK_SECRET], NOW, body.as_bytes());
        let request = post("/both", &[("stripe-signature", &header)], body);
        let answer = send(&gateway, request).await;
        assert_eq!(answer.status, StatusCode::OK, "livemode {livemode}");
        assert_ne!(answer.json()["reason"], "duplicate", "livemode {livemode}");
    }
    assert_eq!(gateway.seen().len(), 2, "both events forwarded");
}
