//! `auth = "webhook"` routes over real sockets (SPEC §3, §5, §6; reference rules 13–19):
//! verification over the exact bytes, injected event headers and the `events`/`livemode`
//! filters here; the never-lose-an-event delivery rules in `webhook/delivery.rs`; every public
//! webhook vector through a live gateway in `webhook/vectors.rs`.

mod delivery;
mod vectors;

use http::{Method, StatusCode};
use stripe_app_gateway::clock::Clock;

use crate::common::*;

/// A webhook route on the `hooks` keyring at the exact `path`, plus `extra` keys.
fn hook_route(id: &str, path: &str, extra: &str) -> String {
    format!("[[routes]]\nid = \"{id}\"\npath = \"{path}\"\nmethods = [\"POST\"]\nauth = \"webhook\"\nkeyring = \"hooks\"\n{extra}\n")
}

/// Delivers `body` to `path` the way Stripe does: signed with the endpoint secret at the
/// gateway's current time (each call is a fresh `t` and `v1`).
async fn deliver(gateway: &TestGateway, path: &str, body: &[u8]) -> Answer {
    let header = sign(&[WEBHOOK_SECRET], gateway.clock.now(), body);
    deliver_with(gateway, path, Some(&header), body, &[]).await
}

/// Sends `body` to `path` with `header` as `Stripe-Signature` (none when `None`) and `extra`.
async fn deliver_with(
    gateway: &TestGateway,
    path: &str,
    header: Option<&str>,
    body: &[u8],
    extra: &[(&str, &str)],
) -> Answer {
    let mut headers = vec![("content-type", "application/json; charset=utf-8")];
    if let Some(header) = header {
        headers.push(("stripe-signature", header));
    }
    headers.extend_from_slice(extra);
    send(Method::POST, &gateway.url(path), &headers, body.to_vec()).await
}

/// Moves the gateway clock on, as time passes between Stripe's retries.
fn advance(gateway: &TestGateway, secs: i64) {
    gateway.clock.set(gateway.clock.now() + secs);
}

/// `webhook_events_total{route,outcome}` from the exposition text (0 when absent).
fn webhook_events(gateway: &TestGateway, route: &str, outcome: &str) -> u64 {
    let route = format!("route=\"{route}\"");
    let outcome = format!("outcome=\"{outcome}\"");
    gateway
        .metrics()
        .lines()
        .filter(|line| line.starts_with("stripe_app_gateway_webhook_events_total{"))
        .filter(|line| line.contains(&route) && line.contains(&outcome))
        .find_map(|line| line.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

/// Asserts a 2xx acknowledgement the gateway made itself (the event was not forwarded).
fn assert_acked(answer: &Answer, reason: &str) {
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!(answer.headers["content-type"], "application/json");
    let json = answer.json();
    assert_eq!(json["received"], true, "{json}");
    assert_eq!(json["forwarded"], false, "{json}");
    assert_eq!(json["reason"], reason, "{json}");
}

/// Asserts a gateway error response with `status` and `code`.
fn assert_error(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{:?}", answer.body);
    assert_eq!(answer.code(), code, "{:?}", answer.body);
    assert_eq!(answer.headers["content-type"], "application/json");
}

/// An event Stripe would send: pretty-printed, CRLF and tab inside, a trailing newline, non-ASCII
/// text — bytes that any re-serialisation would change.
fn pretty_event(id: &str, account: Option<&str>) -> Vec<u8> {
    let account = account.map_or(String::new(), |a| format!("  \"account\" :\t\"{a}\",\n"));
    format!(
        "{{\n  \"id\": \"{id}\",\r\n\t\"object\":   \"event\",\n  \"api_version\": \"2024-06-20\",\n{account}  \"type\" : \"account.application.authorized\" ,\n  \"livemode\": true,\n  \"data\": {{ \"object\": {{ \"name\": \"Caf\u{e9} \\u00e9\\n\", \"amount\": 1.50e2 }} }}\n}}\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn a_verified_event_is_forwarded_byte_for_byte_with_event_headers() {
    let upstream = Upstream::start().await;
    upstream.behave(Behaviour {
        status: StatusCode::ACCEPTED,
        body: r#"{"backend":"took it"}"#,
        ..Behaviour::default()
    });
    let gateway = TestGateway::start(&config_text(
        &upstream.url(),
        &hook_route("hooks", "/webhook", ""),
    ))
    .await;
    let spoofed = [
        ("x-stripe-app-account-id", "acct_spoofed"),
        ("X_Stripe_App_Verified", "raw_body"),
        ("x-stripe-app-event-type", "payout.paid"),
    ];

    let body = pretty_event("evt_1Pretty", Some("acct_1Installer"));
    let t = gateway.clock.now();
    let header = sign(&[WEBHOOK_SECRET], t, &body);
    let answer = deliver_with(&gateway, "/webhook", Some(&header), &body, &spoofed).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{:?}", answer.body);
    assert_eq!(answer.body, r#"{"backend":"took it"}"#);

    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path_and_query, "/webhook");
    assert_eq!(
        request.body, body,
        "the exact bytes, trailing newline included"
    );
    let headers = &request.headers;
    assert_eq!(headers["stripe-signature"], header.as_str());
    assert_eq!(headers["x-stripe-app-event-id"], "evt_1Pretty");
    assert_eq!(
        headers["x-stripe-app-event-type"],
        "account.application.authorized"
    );
    assert_eq!(headers["x-stripe-app-livemode"], "true");
    assert_eq!(headers["x-stripe-app-account-id"], "acct_1Installer");
    assert_eq!(headers["x-stripe-app-verified"], "webhook");
    assert_eq!(
        headers["x-stripe-app-signature-timestamp"],
        t.to_string().as_str()
    );
    assert!(headers.get("x_stripe_app_verified").is_none());

    // No top-level `account` (or `"account": null`): no Account-Id, and no inbound copy either.
    let without = event_body("evt_1NoAccount", "invoice.paid", false, None);
    let null_account =
        br#"{"id":"evt_1NullAccount","type":"invoice.paid","livemode":false,"account":null}"#;
    for body in [without.as_slice(), null_account.as_slice()] {
        let header = sign(&[WEBHOOK_SECRET], t, body);
        let answer = deliver_with(&gateway, "/webhook", Some(&header), body, &spoofed).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{:?}", answer.body);
        let seen = upstream.seen();
        let request = seen.last().expect("forwarded");
        assert_eq!(request.body, body);
        assert_eq!(request.headers["stripe-signature"], header.as_str());
        assert!(request.headers.get("x-stripe-app-account-id").is_none());
        assert_eq!(request.headers["x-stripe-app-event-type"], "invoice.paid");
        assert_eq!(request.headers["x-stripe-app-livemode"], "false");
        assert_eq!(request.headers["x-stripe-app-verified"], "webhook");
    }
    assert_eq!(upstream.seen().len(), 3);
    assert_eq!(webhook_events(&gateway, "hooks", "forwarded"), 3);
    gateway.stop().await;
}

#[tokio::test]
async fn every_signature_failure_is_a_400_and_never_forwarded() {
    let upstream = Upstream::start().await;
    let gateway = TestGateway::start(&config_text(
        &upstream.url(),
        &hook_route("hooks", "/webhook", ""),
    ))
    .await;
    let body = event_body("evt_1Reject", "invoice.paid", true, Some("acct_1"));
    let t = gateway.clock.now();
    let valid = sign(&[WEBHOOK_SECRET], t, &body);
    let v1 = valid.split_once(",v1=").expect("v1").1.to_string();
    let cases: Vec<(&str, Option<String>, &[u8], &str)> = vec![
        ("no header", None, &body[..], "missing_header"),
        (
            "garbage header",
            Some("garbage".into()),
            &body,
            "malformed_header",
        ),
        ("no t", Some(format!("v1={v1}")), &body, "malformed_header"),
        ("t only", Some(format!("t={t}")), &body, "no_v1_signature"),
        (
            "v0 only",
            Some(format!("t={t},v0={v1}")),
            &body,
            "no_v1_signature",
        ),
        (
            "wrong secret",
            Some(sign(&["whsec_some_other_endpoint_0123456789"], t, &body)),
            &body,
            "signature_mismatch",
        ),
        (
            "app secret",
            Some(sign(&[APP_SECRET], t, &body)),
            &body,
            "signature_mismatch",
        ),
        (
            "signed body tampered",
            Some(valid.clone()),
            &br#"{"id":"evt_1Reject","type":"invoice.paid","livemode":true}"#[..],
            "signature_mismatch",
        ),
        (
            "in the future",
            Some(sign(&[WEBHOOK_SECRET], t + 301, &body)),
            &body,
            "timestamp_in_future",
        ),
        (
            "empty body",
            Some(sign(&[WEBHOOK_SECRET], t, b"")),
            &b""[..],
            "empty_payload",
        ),
    ];
    for (name, header, body, code) in cases {
        let answer = deliver_with(&gateway, "/webhook", header.as_deref(), body, &[]).await;
        assert_eq!(answer.status, 400, "{name}: {:?}", answer.body);
        assert_eq!(answer.code(), code, "{name}");
        assert_eq!(
            answer.json()["error"]["type"],
            "authentication_error",
            "{name}"
        );
        assert!(answer.headers.get("www-authenticate").is_none(), "{name}");
        let text = String::from_utf8_lossy(&answer.body);
        assert!(
            !text.contains("whsec_") && !text.contains(&v1),
            "{name}: {text}"
        );
    }

    // Too old: the same valid delivery once the clock has moved past the tolerance.
    gateway.clock.set(t + 301);
    let answer = deliver_with(&gateway, "/webhook", Some(&valid), &body, &[]).await;
    assert_error(&answer, 400, "timestamp_too_old");
    gateway.clock.set(t + 300);
    let answer = deliver_with(&gateway, "/webhook", Some(&valid), &body, &[]).await;
    assert_eq!(answer.status, 200, "at the boundary: {:?}", answer.body);
    assert_eq!(upstream.seen().len(), 1, "only the boundary delivery");
    gateway.stop().await;
}

#[tokio::test]
async fn an_authenticated_body_that_is_not_an_event_is_400_malformed_body() {
    let upstream = Upstream::start().await;
    let gateway = TestGateway::start(&config_text(
        &upstream.url(),
        &hook_route("hooks", "/webhook", "dedupe = true"),
    ))
    .await;
    let bodies: [&[u8]; 8] = [
        b"not json at all",
        b" ",
        br#"{"id":"evt_1NoType","object":"event","livemode":true}"#,
        br#"{"type":"invoice.paid","livemode":true}"#,
        br#"{"id":42,"type":"invoice.paid","livemode":true}"#,
        br#"{"id":"evt_1","type":["invoice.paid"],"livemode":true}"#,
        br#"[{"id":"evt_1","type":"invoice.paid","livemode":true}]"#,
        b"\xff\xfe{\"id\":\"evt_1\"}",
    ];
    for body in bodies {
        let answer = deliver(&gateway, "/webhook", body).await;
        let shown = String::from_utf8_lossy(body);
        assert_eq!(answer.status, 400, "{shown}: {:?}", answer.body);
        assert_eq!(answer.code(), "malformed_body", "{shown}");
    }
    assert!(upstream.seen().is_empty());
    assert_eq!(webhook_events(&gateway, "hooks", "forwarded"), 0);
    gateway.stop().await;
}

#[tokio::test]
async fn an_event_without_livemode_is_forwarded_on_an_any_route() {
    let upstream = Upstream::start().await;
    let gateway = TestGateway::start(&config_text(
        &upstream.url(),
        &hook_route("hooks", "/webhook", ""),
    ))
    .await;
    let body = br#"{"id":"evt_1NoMode","object":"event","type":"customer.updated"}"#;
    let answer = deliver(&gateway, "/webhook", body).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body, &body[..]);
    assert_eq!(seen[0].headers["x-stripe-app-event-id"], "evt_1NoMode");
    gateway.stop().await;
}

#[tokio::test]
async fn events_outside_the_list_are_acknowledged_and_not_forwarded() {
    let upstream = Upstream::start().await;
    let route = hook_route(
        "billing",
        "/webhook",
        r#"events = ["account.application.*", "invoice.paid"]"#,
    );
    let gateway = TestGateway::start(&config_text(&upstream.url(), &route)).await;
    let forwarded = [
        "account.application.authorized",
        "account.application.deauthorized",
        "invoice.paid",
    ];
    for (n, event_type) in forwarded.iter().enumerate() {
        let body = event_body(&format!("evt_{n}"), event_type, true, Some("acct_1"));
        let answer = deliver(&gateway, "/webhook", &body).await;
        assert_eq!(answer.status, 200, "{event_type}: {:?}", answer.body);
        assert_eq!(
            answer.body, r#"{"ok":true}"#,
            "{event_type}: the backend's answer"
        );
    }
    let filtered = [
        "customer.created",
        "invoice.paid.extra",
        "invoice.payment_failed",
        "account.application",
        "account.applications.x",
    ];
    for (n, event_type) in filtered.iter().enumerate() {
        let body = event_body(&format!("evt_f{n}"), event_type, true, None);
        let answer = deliver(&gateway, "/webhook", &body).await;
        assert_acked(&answer, "event_type_filtered");
    }
    let seen: Vec<String> = upstream
        .seen()
        .iter()
        .map(|s| {
            s.headers["x-stripe-app-event-type"]
                .to_str()
                .expect("ascii")
                .to_string()
        })
        .collect();
    assert_eq!(seen, forwarded);
    assert_eq!(webhook_events(&gateway, "billing", "filtered"), 5);
    assert_eq!(webhook_events(&gateway, "billing", "forwarded"), 3);
    gateway.stop().await;
}

#[tokio::test]
async fn livemode_filters_on_the_events_own_livemode() {
    let upstream = Upstream::start().await;
    let routes = [
        hook_route("live", "/live", r#"livemode = "live""#),
        hook_route("test", "/test", r#"livemode = "test""#),
        hook_route("any", "/any", r#"livemode = "any""#),
        hook_route("default", "/default", ""),
    ]
    .concat();
    let gateway = TestGateway::start(&config_text(&upstream.url(), &routes)).await;
    let cases = [
        ("/live", true, true),
        ("/live", false, false),
        ("/test", true, false),
        ("/test", false, true),
        ("/any", true, true),
        ("/any", false, true),
        ("/default", true, true),
        ("/default", false, true),
    ];
    for (path, livemode, forwarded) in cases {
        let before = upstream.seen().len();
        let body = event_body("evt_1Mode", "invoice.paid", livemode, None);
        let answer = deliver(&gateway, path, &body).await;
        let after = upstream.seen();
        if forwarded {
            assert_eq!(answer.status, 200, "{path} {livemode}: {:?}", answer.body);
            assert_eq!(answer.body, r#"{"ok":true}"#, "{path} {livemode}");
            assert_eq!(after.len(), before + 1, "{path} {livemode}");
            let request = after.last().expect("forwarded");
            assert_eq!(request.path_and_query, path);
            assert_eq!(
                request.headers["x-stripe-app-livemode"],
                livemode.to_string().as_str()
            );
        } else {
            assert_acked(&answer, "livemode_filtered");
            assert_eq!(after.len(), before, "{path} {livemode}");
        }
    }
    assert_eq!(webhook_events(&gateway, "live", "filtered"), 1);
    assert_eq!(webhook_events(&gateway, "test", "filtered"), 1);
    assert_eq!(webhook_events(&gateway, "any", "filtered"), 0);
    gateway.stop().await;
}
