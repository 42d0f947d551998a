//! Header rewriting (SPEC §2 step 6, §5): pure functions over `HeaderMap`.
//!
//! Inbound: identity-prefixed headers (any case, `_` read as `-`), hop-by-hop headers and the
//! ones named in `Connection` are removed; `X-Forwarded-*` are set (inbound values kept only from
//! trusted proxies); `X-Request-Id` is set; identity headers are injected last.

use std::net::IpAddr;

use http::header::{
    HeaderName, HeaderValue, CONNECTION, HOST, TE, TRAILER, TRANSFER_ENCODING, UPGRADE,
};
use http::{HeaderMap, Uri};

use crate::snapshot::IdentityHeaders;

/// `X-Forwarded-For`.
pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `X-Forwarded-Proto`.
pub static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// `X-Forwarded-Host`.
pub static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
/// `X-Request-Id`.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

const HOP_BY_HOP: [&str; 5] = [
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "http2-settings",
];

/// Where the request came from, for the `X-Forwarded-*` headers.
#[derive(Debug, Clone)]
pub struct Peer {
    pub ip: IpAddr,
    /// `ip` as a header value, made once per connection.
    pub ip_value: HeaderValue,
    /// The peer is in `server.trusted_proxies`: its `X-Forwarded-*` values are kept.
    pub trusted: bool,
    /// `http` or `https`, as the gateway received the request.
    pub proto: &'static str,
}

impl Peer {
    /// The peer at `ip`; `trusted` and `proto` as for [`Peer`].
    pub fn new(ip: IpAddr, trusted: bool, proto: &'static str) -> Peer {
        Peer {
            ip,
            ip_value: ip_value(ip),
            trusted,
            proto,
        }
    }
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    name == CONNECTION
        || name == TE
        || name == TRAILER
        || name == TRANSFER_ENCODING
        || name == UPGRADE
        || HOP_BY_HOP.contains(&name.as_str())
}

/// Headers that describe the path of a request: only trusted proxies may set them.
fn is_forwarding(name: &HeaderName) -> bool {
    let name = name.as_str();
    name == "forwarded" || name == "x-real-ip" || name.starts_with("x-forwarded-")
}

/// Removes hop-by-hop headers and the headers named in `Connection` (requests and responses).
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    strip(headers, is_hop_by_hop);
}

/// Removes every header `doomed` picks, plus those named in `Connection`. One pass over the
/// names first: most messages have nothing to remove, and then nothing is allocated.
fn strip(headers: &mut HeaderMap, doomed: impl Fn(&HeaderName) -> bool) {
    if !headers.keys().any(&doomed) {
        return;
    }
    let mut names: Vec<HeaderName> = headers
        .keys()
        .filter(|name| doomed(name))
        .cloned()
        .collect();
    names.extend(
        headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok()),
    );
    for name in names {
        headers.remove(name);
    }
}

/// Prepares inbound request headers for the upstream: strips what must not pass, sets the
/// forwarding headers and the request id. Identity headers are injected by the caller after.
pub fn rewrite_request(
    headers: &mut HeaderMap,
    identity: &IdentityHeaders,
    peer: &Peer,
    request_id: &HeaderValue,
) {
    strip(headers, |name| {
        is_hop_by_hop(name)
            || identity.is_identity_header(name)
            || (!peer.trusted && is_forwarding(name))
    });
    let host = headers.remove(HOST);
    if peer.trusted {
        append_forwarded_for(headers, peer);
        if !headers.contains_key(&X_FORWARDED_PROTO) {
            headers.insert(
                X_FORWARDED_PROTO.clone(),
                HeaderValue::from_static(peer.proto),
            );
        }
        if !headers.contains_key(&X_FORWARDED_HOST) {
            if let Some(host) = host {
                headers.insert(X_FORWARDED_HOST.clone(), host);
            }
        }
    } else {
        headers.insert(X_FORWARDED_FOR.clone(), peer.ip_value.clone());
        headers.insert(
            X_FORWARDED_PROTO.clone(),
            HeaderValue::from_static(peer.proto),
        );
        match host {
            Some(host) => headers.insert(X_FORWARDED_HOST.clone(), host),
            None => headers.remove(&X_FORWARDED_HOST),
        };
    }
    headers.insert(X_REQUEST_ID.clone(), request_id.clone());
}

/// HTTP/2 carries the host in `:authority`, which arrives in the URI and not as a `Host` header,
/// so [`rewrite_request`] cannot see it: when no `X-Forwarded-Host` was set, take the URI's
/// authority (without any `user@`).
pub fn forwarded_host_from_authority(headers: &mut HeaderMap, uri: &Uri) {
    if headers.contains_key(&X_FORWARDED_HOST) {
        return;
    }
    let Some(authority) = uri.authority() else {
        return;
    };
    let host = authority
        .as_str()
        .rsplit_once('@')
        .map_or(authority.as_str(), |(_, host)| host);
    if let Ok(value) = HeaderValue::from_str(host) {
        headers.insert(X_FORWARDED_HOST.clone(), value);
    }
}

fn append_forwarded_for(headers: &mut HeaderMap, peer: &Peer) {
    let existing: Vec<&str> = headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if existing.is_empty() {
        headers.insert(X_FORWARDED_FOR.clone(), peer.ip_value.clone());
        return;
    }
    let joined = format!("{}, {}", existing.join(", "), peer.ip);
    match HeaderValue::from_str(&joined) {
        Ok(value) => headers.insert(X_FORWARDED_FOR.clone(), value),
        Err(_) => headers.insert(X_FORWARDED_FOR.clone(), peer.ip_value.clone()),
    };
}

fn ip_value(ip: IpAddr) -> HeaderValue {
    // An IP address prints as ASCII digits, dots, colons and hex: always a valid value.
    HeaderValue::from_str(&ip.to_string()).expect("IP address is a valid header value")
}

/// Whether `value` may be propagated as a request id: 1–128 characters of a safe set, so it
/// cannot inject anything into logs or headers.
pub fn is_valid_request_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    (1..=128).contains(&bytes.len())
        && bytes.iter().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/' | b'+' | b'=')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> IdentityHeaders {
        IdentityHeaders::new("X-Stripe-App-")
    }

    fn peer(trusted: bool) -> Peer {
        Peer::new("10.1.2.3".parse().expect("ip"), trusted, "http")
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
        rewrite_request(
            &mut headers,
            &identity(),
            &peer(false),
            &HeaderValue::from_static("rid"),
        );
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
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("x-kept"));
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
        rewrite_request(
            &mut headers,
            &identity(),
            &peer(false),
            &HeaderValue::from_static("rid"),
        );
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
        rewrite_request(
            &mut headers,
            &identity(),
            &peer(true),
            &HeaderValue::from_static("rid"),
        );
        assert_eq!(headers[&X_FORWARDED_FOR], "203.0.113.9, 10.1.2.3");
        assert_eq!(headers[&X_FORWARDED_PROTO], "https");
        assert_eq!(headers[&X_FORWARDED_HOST], "app.example");
    }

    #[test]
    fn forwarded_host_falls_back_to_the_http2_authority() {
        let uri: Uri = "http://user@gw.example:8443/api/x".parse().expect("uri");
        let mut headers = HeaderMap::new();
        rewrite_request(
            &mut headers,
            &identity(),
            &peer(false),
            &HeaderValue::from_static("rid"),
        );
        forwarded_host_from_authority(&mut headers, &uri);
        assert_eq!(headers[&X_FORWARDED_HOST], "gw.example:8443");
        headers.insert(&X_FORWARDED_HOST, HeaderValue::from_static("from-host"));
        forwarded_host_from_authority(&mut headers, &uri);
        assert_eq!(headers[&X_FORWARDED_HOST], "from-host");
        let mut headers = HeaderMap::new();
        forwarded_host_from_authority(&mut headers, &"/api/x".parse().expect("uri"));
        assert!(!headers.contains_key(&X_FORWARDED_HOST));
    }

    #[test]
    fn request_ids_are_limited_to_a_safe_alphabet() {
        assert!(is_valid_request_id(&HeaderValue::from_static(
            "req_abc-123"
        )));
        assert!(!is_valid_request_id(&HeaderValue::from_static("a b")));
        assert!(!is_valid_request_id(&HeaderValue::from_static("")));
        assert!(!is_valid_request_id(
            &HeaderValue::from_str(&"a".repeat(129)).expect("value")
        ));
    }
}
