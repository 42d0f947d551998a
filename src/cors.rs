//! CORS rules for app routes (SPEC §2 step 2), as pure functions over headers: the UI extension
//! runs in a sandboxed iframe whose origin is `null`, so every response of a CORS route allows
//! any origin, and preflights are answered by the gateway (the phase is `proxy/cors.rs`)
//! without authentication and without reaching the upstream.

#![warn(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use http::header::{
    HeaderValue, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use http::{HeaderMap, HeaderName, Method};

/// Headers the UI may send: the signature, the body type and a request id.
const ALLOW_HEADERS: HeaderValue =
    HeaderValue::from_static("Stripe-Signature, Content-Type, X-Request-Id");
/// Browsers cap the preflight cache (Chromium at 2 h); asking for more gains nothing.
const MAX_AGE: HeaderValue = HeaderValue::from_static("7200");

/// Whether a request is a CORS preflight: `OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`.
pub(crate) fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS
        && headers.contains_key(ORIGIN)
        && headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD)
}

/// The headers of the gateway's answer (`204`) to a preflight on a route that allows `methods`.
pub(crate) fn preflight_headers(headers: &mut HeaderMap, methods: &HeaderValue) {
    headers.insert(ACCESS_CONTROL_ALLOW_METHODS, methods.clone());
    headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS);
    headers.insert(ACCESS_CONTROL_MAX_AGE, MAX_AGE);
    headers.insert(
        VARY,
        HeaderValue::from_static("Access-Control-Request-Method, Access-Control-Request-Headers"),
    );
}

/// The fields that make any response of a CORS route readable by the UI extension.
pub(crate) const ANY_ORIGIN: [(HeaderName, HeaderValue); 2] = [
    (ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*")),
    (
        ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("X-Request-Id"),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preflight_needs_options_origin_and_requested_method() {
        let mut headers = HeaderMap::new();
        headers.insert(ORIGIN, HeaderValue::from_static("null"));
        assert!(!is_preflight(&Method::OPTIONS, &headers));
        headers.insert(
            ACCESS_CONTROL_REQUEST_METHOD,
            HeaderValue::from_static("POST"),
        );
        assert!(is_preflight(&Method::OPTIONS, &headers));
        assert!(!is_preflight(&Method::POST, &headers));
    }

    #[test]
    fn preflight_allows_the_signature_header() {
        let mut headers = HeaderMap::new();
        preflight_headers(&mut headers, &HeaderValue::from_static("POST"));
        let allowed = headers[ACCESS_CONTROL_ALLOW_HEADERS]
            .to_str()
            .expect("ascii");
        assert!(allowed.contains("Stripe-Signature") && allowed.contains("Content-Type"));
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_METHODS], "POST");
    }
}
