use http::Request;

use super::*;
use crate::auth::{Verified, VerifiedMode};

/// [`rewrite`], with the fields it sets merged into the map, as an upstream reads the head.
fn rewrite_merged(
    parts: &mut Parts,
    names: &IdentityHeaders,
    peer: &Peer,
    request_id: &RequestId,
    identity: Option<&Identity>,
) -> Result<(), GatewayError> {
    let mut lines = VerbatimFields::new();
    rewrite((&mut *parts, &mut lines), names, peer, request_id, identity)?;
    lines.merge_into(&mut parts.headers);
    Ok(())
}

fn identity() -> IdentityHeaders {
    IdentityHeaders::new("X-Stripe-App-")
}

fn peer(trusted: bool) -> Peer {
    Peer::new("10.1.2.3".parse().expect("ip"), trusted, "http")
}

fn head(uri: &str, headers: HeaderMap) -> Parts {
    let (mut parts, ()) = Request::get(uri).body(()).expect("request").into_parts();
    parts.headers = headers;
    parts
}

/// `headers` of a request to `uri` after [`rewrite`], without identity.
fn rewritten(uri: &str, headers: HeaderMap, trusted: bool) -> HeaderMap {
    let mut parts = head(uri, headers);
    let request_id = RequestId::Inbound(HeaderValue::from_static("rid"));
    rewrite_merged(&mut parts, &identity(), &peer(trusted), &request_id, None).expect("rewrite");
    parts.headers
}

fn app_identity(user_id: &str) -> Identity {
    Identity::App(AppIdentity {
        user_id: user_id.into(),
        account_id: "acct_1".into(),
        roles: Some(vec!["admin".into(), "developer".into()]),
        mode: VerifiedMode::RawBody,
        verified: Verified {
            timestamp: 1_767_225_600,
            secret_index: 0,
            signature: [0; 32],
        },
    })
}

#[test]
fn identity_headers_are_stripped_whatever_the_spelling() {
    let mut headers = HeaderMap::new();
    for name in [
        "x-stripe-app-account-id",
        "X-STRIPE-APP-USER-ID",
        "x_stripe_app_roles",
        "X-Stripe-App_Verified",
        "x-stripe-app-anything",
    ] {
        headers.insert(
            HeaderName::from_bytes(name.as_bytes()).expect("name"),
            HeaderValue::from_static("spoof"),
        );
    }
    headers.insert("x-stripe-apps", HeaderValue::from_static("kept"));
    let headers = rewritten("/api/x", headers, false);
    let left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
    assert!(
        left.iter()
            .all(|name| !name.replace('_', "-").starts_with("x-stripe-app-")),
        "{left:?}"
    );
    assert_eq!(headers["x-stripe-apps"], "kept");
}

#[test]
fn hop_by_hop_and_connection_named_headers_are_removed() {
    let mut headers = HeaderMap::new();
    headers.insert(
        CONNECTION,
        HeaderValue::from_static("keep-alive, x-secret-hop"),
    );
    headers.insert("x-secret-hop", HeaderValue::from_static("1"));
    headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
    headers.insert(TE, HeaderValue::from_static("trailers"));
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert("x-kept", HeaderValue::from_static("1"));
    let mut response = Response::new(());
    *response.headers_mut() = headers.clone();
    let response = rewrite_response(response);
    assert_eq!(response.headers().len(), 1);
    assert!(response.headers().contains_key("x-kept"));
    let forwarded = rewritten("/api/x", headers, false);
    for gone in ["connection", "x-secret-hop", "keep-alive", "te", "upgrade"] {
        assert!(!forwarded.contains_key(gone), "{gone}");
    }
    assert!(forwarded.contains_key("x-kept"));
}

#[test]
fn fields_named_in_a_connection_list_with_obs_text_are_still_removed() {
    let mut headers = HeaderMap::new();
    let list = HeaderValue::from_bytes(b"x-secret-hop, x\xff, cookie").expect("obs-text value");
    headers.insert(CONNECTION, list);
    headers.insert("x-secret-hop", HeaderValue::from_static("1"));
    headers.insert("cookie", HeaderValue::from_static("a=1"));
    headers.insert("x-kept", HeaderValue::from_static("1"));
    let mut response = Response::new(());
    *response.headers_mut() = headers.clone();
    let response = rewrite_response(response);
    assert!(!response.headers().contains_key("x-secret-hop"));
    assert!(!response.headers().contains_key("cookie"));
    let forwarded = rewritten("/api/x", headers, false);
    for gone in ["connection", "x-secret-hop", "cookie"] {
        assert!(!forwarded.contains_key(gone), "{gone}");
    }
    assert!(forwarded.contains_key("x-kept"));
}

#[test]
fn forwarded_headers_from_untrusted_peers_are_replaced() {
    let mut headers = HeaderMap::new();
    headers.insert(HOST, HeaderValue::from_static("gw.example"));
    headers.insert(&X_FORWARDED_FOR, HeaderValue::from_static("6.6.6.6"));
    headers.insert(&X_FORWARDED_PROTO, HeaderValue::from_static("https"));
    headers.insert(&X_FORWARDED_HOST, HeaderValue::from_static("evil.example"));
    headers.insert("forwarded", HeaderValue::from_static("for=6.6.6.6"));
    headers.insert("x-real-ip", HeaderValue::from_static("6.6.6.6"));
    headers.insert("x-forwarded-port", HeaderValue::from_static("1"));
    let headers = rewritten("/api/x", headers, false);
    assert_eq!(headers[&X_FORWARDED_FOR], "10.1.2.3");
    assert_eq!(headers[&X_FORWARDED_PROTO], "http");
    assert_eq!(headers[&X_FORWARDED_HOST], "gw.example");
    for spoofed in ["forwarded", "x-real-ip", "x-forwarded-port"] {
        assert!(!headers.contains_key(spoofed), "{spoofed}");
    }
    assert_eq!(headers[&X_REQUEST_ID], "rid");
    assert!(!headers.contains_key(HOST));
}

#[test]
fn forwarded_headers_from_trusted_peers_are_kept_and_appended() {
    let mut headers = HeaderMap::new();
    headers.insert(HOST, HeaderValue::from_static("internal"));
    headers.insert(&X_FORWARDED_FOR, HeaderValue::from_static("203.0.113.9"));
    headers.insert(&X_FORWARDED_PROTO, HeaderValue::from_static("https"));
    headers.insert(&X_FORWARDED_HOST, HeaderValue::from_static("app.example"));
    let headers = rewritten("/api/x", headers, true);
    assert_eq!(headers[&X_FORWARDED_FOR], "203.0.113.9, 10.1.2.3");
    assert_eq!(headers[&X_FORWARDED_PROTO], "https");
    assert_eq!(headers[&X_FORWARDED_HOST], "app.example");
}

#[test]
fn forwarded_host_falls_back_to_the_http2_authority() {
    let uri = "http://user@gw.example:8443/api/x";
    let headers = rewritten(uri, HeaderMap::new(), false);
    assert_eq!(headers[&X_FORWARDED_HOST], "gw.example:8443");
    let mut with_host = HeaderMap::new();
    with_host.insert(HOST, HeaderValue::from_static("from-host"));
    let headers = rewritten(uri, with_host, false);
    assert_eq!(headers[&X_FORWARDED_HOST], "from-host");
    let headers = rewritten("/api/x", HeaderMap::new(), false);
    assert!(!headers.contains_key(&X_FORWARDED_HOST));
}

#[test]
fn the_identity_is_injected_after_inbound_copies_are_removed() {
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-stripe-app-user-id",
        HeaderValue::from_static("usr_spoof"),
    );
    headers.insert("x_stripe_app_roles", HeaderValue::from_static("admin"));
    let mut parts = head("/api/x", headers);
    let rid = RequestId::Inbound(HeaderValue::from_static("rid"));
    let names = identity();
    let who = app_identity("usr_1");
    rewrite_merged(&mut parts, &names, &peer(false), &rid, Some(&who)).expect("rewrite");
    assert_eq!(parts.headers["x-stripe-app-user-id"], "usr_1");
    assert_eq!(parts.headers["x-stripe-app-account-id"], "acct_1");
    assert_eq!(parts.headers["x-stripe-app-roles"], "admin,developer");
    assert_eq!(parts.headers["x-stripe-app-verified"], "raw_body");
    assert_eq!(
        parts.headers["x-stripe-app-signature-timestamp"],
        "1767225600"
    );
    assert_eq!(
        parts.headers.get_all("x-stripe-app-user-id").iter().count(),
        1
    );
    assert!(!parts.headers.contains_key("x_stripe_app_roles"));
}

#[test]
fn an_identity_that_cannot_be_a_header_value_refuses_the_request() {
    let mut parts = head("/api/x", HeaderMap::new());
    let rid = RequestId::Inbound(HeaderValue::from_static("rid"));
    let who = app_identity("usr_\u{1}x");
    let refused = rewrite_merged(&mut parts, &identity(), &peer(false), &rid, Some(&who));
    assert_eq!(
        refused,
        Err(GatewayError::Denied {
            denial: Denial::Signature(Rejection::MalformedBody),
            kind: crate::auth::KeyringKind::App,
        })
    );
}

#[test]
fn an_identity_a_header_would_change_refuses_the_request() {
    let rid = RequestId::Inbound(HeaderValue::from_static("rid"));
    let refused = Err(GatewayError::Denied {
        denial: Denial::Signature(Rejection::MalformedBody),
        kind: crate::auth::KeyringKind::App,
    });
    // Padding a parser would trim, so the upstream would read another id.
    for user_id in [" usr_1", "usr_1 ", "\tusr_1", "usr_1\t"] {
        let mut parts = head("/api/x", HeaderMap::new());
        let who = app_identity(user_id);
        let result = rewrite_merged(&mut parts, &identity(), &peer(false), &rid, Some(&who));
        assert_eq!(result, refused, "{user_id:?}");
    }
    // Role ids the comma-separated list could not tell apart.
    for roles in [vec!["admin,owner"], vec!["admin", ""], vec![","]] {
        let mut parts = head("/api/x", HeaderMap::new());
        let Identity::App(mut app) = app_identity("usr_1") else {
            unreachable!("an app identity")
        };
        app.roles = Some(roles.iter().map(|id| id.to_string()).collect());
        let who = Identity::App(app);
        let result = rewrite_merged(&mut parts, &identity(), &peer(false), &rid, Some(&who));
        assert_eq!(result, refused, "{roles:?}");
    }
    // Inner spaces and tabs are kept as signed.
    let mut parts = head("/api/x", HeaderMap::new());
    let who = app_identity("usr 1\tx");
    rewrite_merged(&mut parts, &identity(), &peer(false), &rid, Some(&who)).expect("rewrite");
    assert_eq!(parts.headers["x-stripe-app-user-id"], "usr 1\tx");
}

#[test]
fn underscore_spellings_of_forwarding_framing_and_hop_by_hop_fields_are_removed() {
    for trusted in [false, true] {
        let mut headers = HeaderMap::new();
        for name in [
            "x_forwarded_for",
            "X-Forwarded_Host",
            "x_real_ip",
            "transfer_encoding",
            "Content_Length",
            "proxy_connection",
            "keep_alive",
            "X_Request_Id",
            "x_request_id",
        ] {
            headers.insert(
                HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_static("7.7.7.7"),
            );
        }
        headers.insert("x_custom_field", HeaderValue::from_static("kept"));
        let headers = rewritten("/api/x", headers, trusted);
        let left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert!(
            left.iter()
                .all(|name| !name.contains('_') || *name == "x_custom_field"),
            "trusted={trusted}: {left:?}"
        );
        assert_eq!(headers["x_custom_field"], "kept");
        assert_eq!(headers["x-forwarded-for"], "10.1.2.3");
        assert_eq!(headers.get_all("x-request-id").iter().count(), 1);
        assert_eq!(headers["x-request-id"], "rid");
    }
}

#[test]
fn cookies_split_by_an_http2_client_travel_as_one_field() {
    let mut parts = head("/api/x", HeaderMap::new());
    parts.version = http::Version::HTTP_2;
    parts
        .headers
        .append(COOKIE, HeaderValue::from_static("a=1"));
    parts
        .headers
        .append(COOKIE, HeaderValue::from_static("b=2"));
    parts
        .headers
        .append(COOKIE, HeaderValue::from_static("c=3"));
    let rid = RequestId::Inbound(HeaderValue::from_static("rid"));
    rewrite_merged(&mut parts, &identity(), &peer(false), &rid, None).expect("rewrite");
    let cookies: Vec<_> = parts.headers.get_all(COOKIE).iter().collect();
    assert_eq!(cookies, ["a=1; b=2; c=3"]);
}

#[test]
fn a_host_named_in_connection_makes_no_forwarded_host() {
    let mut headers = HeaderMap::new();
    headers.insert(CONNECTION, HeaderValue::from_static("host"));
    headers.insert(HOST, HeaderValue::from_static("gw.example"));
    let forwarded = rewritten("/api/x", headers, false);
    assert!(!forwarded.contains_key(&X_FORWARDED_HOST));
    assert!(!forwarded.contains_key(HOST));
}
