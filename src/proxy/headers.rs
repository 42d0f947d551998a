//! Phase 6, rewrite headers (SPEC §2 step 6, §5): every change the gateway makes to the headers
//! of a request it forwards happens in [`rewrite`], a pure function over the request head.
//!
//! In order: identity-prefixed headers (any case, `_` read as `-`), hop-by-hop headers and the
//! ones named in `Connection` are removed (and, from peers outside `trusted_proxies`, every
//! forwarding header); `X-Forwarded-For/-Proto/-Host` are set; `X-Request-Id` is set; the
//! verified identity is injected last. [`rewrite_response`] does the same for the upstream's
//! response (framing, hop-by-hop).

use std::net::IpAddr;

use http::header::{
    HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, COOKIE, HOST, TE, TRAILER,
    TRANSFER_ENCODING, UPGRADE,
};
use http::request::Parts;
use http::{HeaderMap, Response, Uri};
use ipnet::IpNet;

use super::authenticate::Identity;
use super::request_id::{RequestId, X_REQUEST_ID};
use crate::auth::{AppIdentity, Rejection};
use crate::error::GatewayError;
use crate::http1::VerbatimFields;
use crate::outcome::Denial;
use crate::snapshot::IdentityHeaders;

/// `X-Forwarded-For`.
pub(crate) static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `X-Forwarded-Proto`.
pub(crate) static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// `X-Forwarded-Host`.
pub(crate) static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

const HOP_BY_HOP: [&str; 6] = [
    // The gateway answers `100 Continue` itself (or has read the body already).
    "expect",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "http2-settings",
];

/// Where the request came from, for the `X-Forwarded-*` headers.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    pub(crate) ip: IpAddr,
    /// `ip` as a header value, made once per connection.
    pub(crate) ip_value: HeaderValue,
    /// The peer is in `server.trusted_proxies`: its `X-Forwarded-*` values are kept.
    pub(crate) trusted: bool,
    /// `http` or `https`, as the gateway received the request.
    pub(crate) proto: &'static str,
}

impl Peer {
    /// The peer at `ip`; `trusted` and `proto` as for [`Peer`].
    pub(crate) fn new(ip: IpAddr, trusted: bool, proto: &'static str) -> Peer {
        Peer {
            ip,
            ip_value: ip_value(ip),
            trusted,
            proto,
        }
    }

    /// This peer, trusted when its address is in one of `proxies`.
    pub(crate) fn trusted_by(&self, proxies: &[IpNet]) -> Peer {
        Peer {
            trusted: proxies.iter().any(|net| net.contains(&self.ip)),
            ..self.clone()
        }
    }
}

/// Prepares a request head for the upstream (see the module documentation). The fields the
/// gateway sets go into `lines`, after every field of the same name was removed from the map
/// (`parts.headers`): the upstream gets the map's fields, then `lines`. A verified value that
/// cannot travel as a header exactly as it was signed (a control character, a space or tab
/// at either end, a role id that is empty or holds a comma) refuses the request
/// (`malformed_body`) rather than forwarding it without its identity, or with another one.
pub(crate) fn rewrite(
    (parts, lines): (&mut Parts, &mut VerbatimFields),
    names: &IdentityHeaders,
    peer: &Peer,
    request_id: &RequestId,
    identity: Option<&Identity>,
) -> Result<(), GatewayError> {
    let headers = &mut parts.headers;
    strip(headers, |name| {
        is_hop_by_hop(name)
            || names.is_identity_header(name)
            || (!peer.trusted && is_forwarding(name))
            || is_underscore_alias(name)
            || name == X_REQUEST_ID
    });
    // After the strip: a `Host` the client named in `Connection` is gone, and so is the
    // `X-Forwarded-Host` it would have made.
    let host = headers.remove(HOST).or_else(|| lines.take_host());
    if parts.version == http::Version::HTTP_2 {
        join_cookies(headers);
    }
    if peer.trusted {
        // A trusted proxy's forwarding fields are kept, and completed, in the map.
        forwarding(headers, peer, host);
        forwarded_host_from_authority(headers, &parts.uri);
    } else {
        // Every forwarding field was removed: the gateway's are the only ones.
        lines.push_valid(X_FORWARDED_FOR.as_str(), peer.ip_value.as_bytes());
        lines.push_valid(X_FORWARDED_PROTO.as_str(), peer.proto.as_bytes());
        if let Some(host) = &host {
            lines.push_valid(X_FORWARDED_HOST.as_str(), host.as_bytes());
        } else if let Some(authority) = authority_host(&parts.uri) {
            // HTTP/2's `:authority`: checked as a value, as the map path does.
            lines.push_field(X_FORWARDED_HOST.as_str(), authority.as_bytes());
        }
    }
    lines.push_valid(X_REQUEST_ID.as_str(), request_id.as_bytes());
    match identity {
        None => Ok(()),
        Some(identity) => {
            inject(lines, names, identity).map_err(|Unrepresentable| GatewayError::Denied {
                denial: Denial::Signature(Rejection::MalformedBody),
                kind: identity.kind(),
            })
        }
    }
}

/// HTTP/2 clients may split `Cookie` into one field per pair; an HTTP/1.1 backend expects one
/// line, so they are joined with `; ` (RFC 9113 §8.2.3).
fn join_cookies(headers: &mut HeaderMap) {
    let mut cookies = headers.get_all(COOKIE).iter();
    let (Some(first), Some(_)) = (cookies.next(), cookies.next()) else {
        return;
    };
    let mut joined = first.as_bytes().to_vec();
    for cookie in headers.get_all(COOKIE).iter().skip(1) {
        joined.extend_from_slice(b"; ");
        joined.extend_from_slice(cookie.as_bytes());
    }
    // Joined valid values with `; ` between them are a valid value.
    if let Ok(value) = HeaderValue::from_bytes(&joined) {
        headers.insert(COOKIE, value);
    }
}

/// A verified value that is not a valid header value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unrepresentable;

/// Appends the identity fields of SPEC §5 for `identity` to `lines`.
pub(crate) fn inject(
    lines: &mut VerbatimFields,
    names: &IdentityHeaders,
    identity: &Identity,
) -> Result<(), Unrepresentable> {
    match identity {
        Identity::App(app) => inject_app(lines, names, app),
        Identity::Webhook(webhook) => {
            let event = &webhook.event;
            set(lines, &names.event_id, &event.id)?;
            set(lines, &names.event_type, &event.event_type)?;
            if let Some(livemode) = event.livemode {
                let value = if livemode { "true" } else { "false" };
                set(lines, &names.livemode, value)?;
            }
            if let Some(account) = &event.account {
                set(lines, &names.account_id, account)?;
            }
            set(lines, &names.verified, "webhook")?;
            let mut timestamp = itoa::Buffer::new();
            set(
                lines,
                &names.signature_timestamp,
                timestamp.format(webhook.verified.timestamp),
            )
        }
    }
}

fn inject_app(
    lines: &mut VerbatimFields,
    names: &IdentityHeaders,
    app: &AppIdentity,
) -> Result<(), Unrepresentable> {
    set(lines, &names.account_id, &app.account_id)?;
    set(lines, &names.user_id, &app.user_id)?;
    if let Some(roles) = &app.roles {
        // One comma-separated list: a role id that is empty or holds a comma would make it
        // say something other than the signed roles.
        if roles.iter().any(|id| id.is_empty() || id.contains(',')) {
            return Err(Unrepresentable);
        }
        set(lines, &names.roles, &roles.join(","))?;
    }
    set(lines, &names.verified, app.mode.as_str())?;
    let mut timestamp = itoa::Buffer::new();
    set(
        lines,
        &names.signature_timestamp,
        timestamp.format(app.verified.timestamp),
    )
}

/// Prepares the upstream's response for the client: with both framings present the body was
/// decoded as chunked, so a `Content-Length` would misdescribe it (RFC 9112 §6.1); hop-by-hop
/// headers and those named in `Connection` are removed.
pub(crate) fn rewrite_response<B>(mut response: Response<B>) -> Response<B> {
    let headers = response.headers_mut();
    if headers.contains_key(TRANSFER_ENCODING) {
        headers.remove(CONTENT_LENGTH);
    }
    strip(headers, is_hop_by_hop);
    response
}

/// Appends `name: value`, where `value` is a verified value the upstream must read exactly as
/// it was signed: one with a control character, or with a space or tab at either end (which
/// every HTTP parser trims, RFC 9110 §5.5), cannot be sent.
fn set(lines: &mut VerbatimFields, name: &HeaderName, value: &str) -> Result<(), Unrepresentable> {
    let padded = |byte: Option<&u8>| matches!(byte, Some(b' ' | b'\t'));
    let bytes = value.as_bytes();
    if padded(bytes.first()) || padded(bytes.last()) {
        return Err(Unrepresentable);
    }
    if lines.push_field(name.as_str(), bytes) {
        Ok(())
    } else {
        Err(Unrepresentable)
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
    is_forwarding_name(name.as_str())
}

fn is_forwarding_name(name: &str) -> bool {
    name == "forwarded" || name == "x-real-ip" || name.starts_with("x-forwarded-")
}

/// A name that spells a forwarding, framing or hop-by-hop field with `_` for `-`
/// (`X_Forwarded_For`, `Transfer_Encoding`): CGI-style backends (WSGI, Rack, PHP) read it as
/// that field, so it is removed whoever sent it; the gateway sets the real ones itself.
fn is_underscore_alias(name: &HeaderName) -> bool {
    let name = name.as_str();
    if !name.contains('_') {
        return false;
    }
    let dashed = name.replace('_', "-");
    is_forwarding_name(&dashed)
        || HOP_BY_HOP.contains(&dashed.as_str())
        || [
            "connection",
            "content-length",
            "host",
            "te",
            "trailer",
            "transfer-encoding",
            "upgrade",
            // The gateway sets it: a CGI-style backend reads `X_Request_Id` as the same field.
            "x-request-id",
        ]
        .contains(&dashed.as_str())
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
    // Read as bytes: a token list with an obs-text byte somewhere still names the others.
    names.extend(
        headers
            .get_all(CONNECTION)
            .iter()
            .flat_map(|value| value.as_bytes().split(|&byte| byte == b','))
            .filter_map(|name| HeaderName::from_bytes(name.trim_ascii()).ok()),
    );
    for name in names {
        headers.remove(name);
    }
}

/// `X-Forwarded-For/-Proto/-Host`: a trusted peer's values are kept (its address appended to
/// `For`), anyone else's are replaced.
fn forwarding(headers: &mut HeaderMap, peer: &Peer, host: Option<HeaderValue>) {
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
}

/// HTTP/2 carries the host in `:authority`, which arrives in the URI and not as a `Host` header:
/// when no `X-Forwarded-Host` was set, take the URI's authority (without any `user@`).
fn forwarded_host_from_authority(headers: &mut HeaderMap, uri: &Uri) {
    if headers.contains_key(&X_FORWARDED_HOST) {
        return;
    }
    if let Some(value) = authority_host(uri).and_then(|host| HeaderValue::from_str(host).ok()) {
        headers.insert(X_FORWARDED_HOST.clone(), value);
    }
}

/// The URI's authority without any `user@`.
fn authority_host(uri: &Uri) -> Option<&str> {
    let authority = uri.authority()?.as_str();
    Some(
        authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host),
    )
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

#[cfg(test)]
mod tests;
