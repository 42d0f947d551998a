//! Responses the gateway makes itself (SPEC §6): one error enum, one mapping to status and code.

#![warn(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use http::header::{HeaderValue, ALLOW, CONNECTION, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Response, StatusCode};

use crate::auth::Rejection;
use crate::proxy::body::{json_response, GatewayBody};

/// Every way the gateway can refuse or fail a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayError {
    /// No route matches the path (or the path is not in normal form).
    NoRoute,
    /// The route exists but not for this method; carries the `Allow` value.
    MethodNotAllowed(HeaderValue),
    /// The body is larger than `server.max_body_bytes`.
    BodyTooLarge,
    /// The client did not send its body within `server.body_read_timeout`.
    BodyTimeout,
    /// The body could not be read (the client aborted or sent a broken chunked encoding).
    BodyUnreadable,
    /// Signature verification failed; `webhook` selects 400 (Stripe's convention) over 401.
    Unauthenticated { rejection: Rejection, webhook: bool },
    /// A valid app signature seen before within the tolerance window.
    Replayed,
    /// Authenticated, but the verified roles do not satisfy the route.
    RoleDenied,
    /// A webhook event with this id is being delivered right now.
    DuplicateInFlight,
    /// The upstream refused the connection, broke it before answering, or answered with a
    /// status that cannot be relayed (a 1xx as the final answer, or 600–999).
    UpstreamUnavailable,
    /// The upstream did not answer within the route's timeout.
    UpstreamTimeout,
    /// More requests in flight than `server.max_in_flight`, or a body that
    /// `server.max_buffered_bytes` cannot cover right now.
    Overloaded,
    /// The gateway is draining for shutdown.
    ShuttingDown,
}

impl GatewayError {
    /// Status, machine-readable code and error type: the one place statuses are chosen.
    pub fn classify(&self) -> (StatusCode, &'static str, &'static str) {
        use GatewayError::*;
        match self {
            NoRoute => (StatusCode::NOT_FOUND, "no_route", "invalid_request_error"),
            MethodNotAllowed(_) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "invalid_request_error",
            ),
            BodyTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "invalid_request_error",
            ),
            BodyTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                "invalid_request_error",
            ),
            BodyUnreadable => (
                StatusCode::BAD_REQUEST,
                "body_unreadable",
                "invalid_request_error",
            ),
            Unauthenticated {
                rejection: Rejection::MalformedBody,
                ..
            } => (
                StatusCode::BAD_REQUEST,
                Rejection::MalformedBody.code(),
                "invalid_request_error",
            ),
            Unauthenticated {
                rejection,
                webhook: true,
            } => (
                StatusCode::BAD_REQUEST,
                rejection.code(),
                "authentication_error",
            ),
            Unauthenticated {
                rejection,
                webhook: false,
            } => (
                StatusCode::UNAUTHORIZED,
                rejection.code(),
                "authentication_error",
            ),
            Replayed => (StatusCode::UNAUTHORIZED, "replayed", "authentication_error"),
            RoleDenied => (StatusCode::FORBIDDEN, "role_denied", "permission_error"),
            DuplicateInFlight => (
                StatusCode::CONFLICT,
                "duplicate_in_flight",
                "conflict_error",
            ),
            UpstreamUnavailable => (
                StatusCode::BAD_GATEWAY,
                "upstream_unavailable",
                "upstream_error",
            ),
            UpstreamTimeout => (
                StatusCode::GATEWAY_TIMEOUT,
                "upstream_timeout",
                "upstream_error",
            ),
            Overloaded => (
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "unavailable_error",
            ),
            ShuttingDown => (
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "unavailable_error",
            ),
        }
    }

    /// A sentence for humans; never a secret, an expected signature or which secret failed.
    pub fn message(&self) -> &'static str {
        use GatewayError::*;
        match self {
            NoRoute => "No route matches this path.",
            MethodNotAllowed(_) => "This route does not accept this method.",
            BodyTooLarge => "The request body is larger than this endpoint accepts.",
            BodyTimeout => "The request body was not received in time.",
            BodyUnreadable => "The request body could not be read.",
            Unauthenticated { rejection, .. } => rejection.message(),
            Replayed => "This signature was already used; sign each request anew.",
            RoleDenied => "The signed user roles do not allow this request.",
            DuplicateInFlight => "This event is being delivered right now; retry later.",
            UpstreamUnavailable => "The backend could not be reached.",
            UpstreamTimeout => "The backend did not answer in time.",
            Overloaded => "The gateway is at capacity; retry shortly.",
            ShuttingDown => "The gateway is shutting down; retry on another instance.",
        }
    }

    /// The JSON error response of SPEC §6.
    pub fn response(&self, request_id: &str) -> Response<GatewayBody> {
        let (status, code, kind) = self.classify();
        let body = error_json(kind, code, self.message(), request_id);
        let mut response = json_response(status, body);
        let headers = response.headers_mut();
        match self {
            GatewayError::MethodNotAllowed(allow) => {
                headers.insert(ALLOW, allow.clone());
            }
            GatewayError::Unauthenticated { webhook: false, .. } | GatewayError::Replayed => {
                headers.insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Stripe-Signature"),
                );
            }
            GatewayError::ShuttingDown => {
                headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
                headers.insert(CONNECTION, HeaderValue::from_static("close"));
            }
            GatewayError::Overloaded | GatewayError::DuplicateInFlight => {
                headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

/// The SPEC §6 body, serialized without building a JSON tree: this runs for every refused
/// request, including floods of bad signatures.
#[derive(serde::Serialize)]
struct ErrorBody<'a> {
    error: ErrorFields<'a>,
}

#[derive(serde::Serialize)]
struct ErrorFields<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    code: &'a str,
    message: &'a str,
    request_id: &'a str,
}

fn error_json(kind: &str, code: &str, message: &str, request_id: &str) -> String {
    let body = ErrorBody {
        error: ErrorFields {
            kind,
            code,
            message,
            request_id,
        },
    };
    // Serializing string fields into a String cannot fail.
    serde_json::to_string(&body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::CACHE_CONTROL;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn error_body_is_the_spec_json() {
        let error = GatewayError::Unauthenticated {
            rejection: Rejection::SignatureMismatch,
            webhook: false,
        };
        let response = error.response("req_1");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("full body")
            .to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(json["error"]["code"], "signature_mismatch");
        assert_eq!(json["error"]["type"], "authentication_error");
        assert_eq!(json["error"]["request_id"], "req_1");
    }

    #[test]
    fn error_json_escapes_and_parses() {
        let text = error_json("t", "c", "say \"hi\"\\\n", "req_1");
        let json: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(json["error"]["message"], "say \"hi\"\\\n");
        assert_eq!(json["error"]["request_id"], "req_1");
    }

    #[test]
    fn webhook_signature_failures_are_400() {
        let error = GatewayError::Unauthenticated {
            rejection: Rejection::TimestampTooOld,
            webhook: true,
        };
        assert_eq!(error.classify().0, StatusCode::BAD_REQUEST);
    }
}
