//! Responses the gateway makes itself (SPEC §6): one error enum, and one exhaustive match
//! ([`GatewayError::classify`]) that chooses the status, the code (also the access log's
//! `error` field), the type, the message and any extra header.

#![warn(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use http::header::{HeaderName, HeaderValue, ALLOW, CONNECTION, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Response, StatusCode};

use crate::auth::{KeyringKind, Rejection};
use crate::body::{json_response, GatewayBody};
use crate::outcome::Denial;
use crate::upstream::UpstreamFailure;

/// Every way the gateway can refuse or fail a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GatewayError {
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
    /// Authentication or authorization refused the request; on a webhook route (`kind`)
    /// signature failures are 400, as Stripe asks, instead of 401.
    Denied {
        /// Why.
        denial: Denial,
        /// The kind of route that refused.
        kind: KeyringKind,
    },
    /// A webhook event with this id is being delivered right now.
    DuplicateInFlight,
    /// The upstream failed: 504 for a timeout, 502 otherwise.
    Upstream(UpstreamFailure),
    /// A webhook's upstream answered with a redirect, which Stripe counts as a failure.
    WebhookRedirected,
    /// More requests in flight than `server.max_in_flight`, or a body that
    /// `server.max_buffered_bytes` cannot cover right now.
    Overloaded,
    /// The gateway is draining for shutdown.
    ShuttingDown,
    /// An HTTP/1.1 request head broke a framing or syntax rule, or a limit: answered with the
    /// status the codec chose (400, 413, 414, 431, 501 or 505), then the connection closes.
    Malformed(StatusCode),
}

/// How an error is answered: everything [`GatewayError::classify`] chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Class<'e> {
    /// The response status.
    pub(crate) status: StatusCode,
    /// The machine-readable code (`error.code`, and the access log's `error`).
    pub(crate) code: &'static str,
    /// The error type (`error.type`).
    pub(crate) kind: &'static str,
    /// A sentence for humans; never a secret, an expected signature or which secret failed.
    pub(crate) message: &'static str,
    /// Headers the response carries besides the JSON ones.
    pub(crate) headers: Extra<'e>,
}

/// Headers an error response carries besides `Content-Type` and `Cache-Control`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Extra<'e> {
    /// None.
    None,
    /// `Allow` with the route's methods.
    Allow(&'e HeaderValue),
    /// Fixed headers.
    Fixed(&'static [(HeaderName, HeaderValue)]),
}

const INVALID: &str = "invalid_request_error";
const AUTHENTICATION: &str = "authentication_error";
const UPSTREAM: &str = "upstream_error";
const UNAVAILABLE: &str = "unavailable_error";
static CHALLENGE: [(HeaderName, HeaderValue); 1] = [(
    WWW_AUTHENTICATE,
    HeaderValue::from_static("Stripe-Signature"),
)];
static RETRY: [(HeaderName, HeaderValue); 1] = [(RETRY_AFTER, HeaderValue::from_static("1"))];
static RETRY_AND_CLOSE: [(HeaderName, HeaderValue); 2] = [
    (RETRY_AFTER, HeaderValue::from_static("1")),
    (CONNECTION, HeaderValue::from_static("close")),
];

impl GatewayError {
    /// The one place statuses, codes and messages are chosen (the answers themselves are
    /// the constants below).
    pub(crate) fn classify(&self) -> Class<'_> {
        match self {
            GatewayError::NoRoute => NO_ROUTE,
            GatewayError::MethodNotAllowed(allow) => Class {
                headers: Extra::Allow(allow),
                ..METHOD_NOT_ALLOWED
            },
            GatewayError::BodyTooLarge => BODY_TOO_LARGE,
            GatewayError::BodyTimeout => BODY_TIMEOUT,
            GatewayError::BodyUnreadable => BODY_UNREADABLE,
            GatewayError::Denied { denial, kind } => denied(*denial, *kind),
            GatewayError::DuplicateInFlight => DUPLICATE_IN_FLIGHT,
            GatewayError::Upstream(UpstreamFailure::Timeout) => UPSTREAM_TIMEOUT,
            GatewayError::Upstream(
                UpstreamFailure::Connect
                | UpstreamFailure::Broken
                | UpstreamFailure::InvalidResponse
                | UpstreamFailure::Tls,
            )
            | GatewayError::WebhookRedirected => UPSTREAM_UNAVAILABLE,
            GatewayError::Overloaded => OVERLOADED,
            GatewayError::ShuttingDown => SHUTTING_DOWN,
            GatewayError::Malformed(status) => malformed(*status),
        }
    }

    /// The denial this error reports, if it is one (for the auth decision of the request).
    pub(crate) fn denial(&self) -> Option<Denial> {
        match self {
            GatewayError::Denied { denial, .. } => Some(*denial),
            _ => None,
        }
    }

    /// The JSON error response of SPEC §6.
    pub(crate) fn into_response(self, request_id: &str) -> Response<GatewayBody> {
        let class = self.classify();
        let body = error_json(class.kind, class.code, class.message, request_id);
        let mut response = json_response(class.status, body);
        let headers = response.headers_mut();
        match class.headers {
            Extra::None => {}
            Extra::Allow(allow) => {
                headers.insert(ALLOW, allow.clone());
            }
            Extra::Fixed(fixed) => {
                for (name, value) in fixed {
                    headers.insert(name.clone(), value.clone());
                }
            }
        }
        response
    }
}

impl Class<'static> {
    const fn new(
        status: StatusCode,
        code: &'static str,
        kind: &'static str,
        message: &'static str,
    ) -> Self {
        Class {
            status,
            code,
            kind,
            message,
            headers: Extra::None,
        }
    }

    const fn with(self, headers: &'static [(HeaderName, HeaderValue)]) -> Self {
        Class {
            headers: Extra::Fixed(headers),
            ..self
        }
    }
}

/// The answer to a head the HTTP/1.1 codec refused.
fn malformed(status: StatusCode) -> Class<'static> {
    let (code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => return BODY_TOO_LARGE,
        StatusCode::URI_TOO_LONG => ("uri_too_long", "The request target is too long."),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => (
            "headers_too_large",
            "The request head is larger than this server accepts.",
        ),
        StatusCode::NOT_IMPLEMENTED => (
            "not_implemented",
            "The request uses a method or transfer coding this server does not implement.",
        ),
        StatusCode::HTTP_VERSION_NOT_SUPPORTED => (
            "version_not_supported",
            "Only HTTP/1.0, HTTP/1.1 and HTTP/2 are served.",
        ),
        _ => ("malformed_request", "The request is not valid HTTP/1.1."),
    };
    Class::new(status, code, INVALID, message)
}

const NO_ROUTE: Class<'static> = Class::new(
    StatusCode::NOT_FOUND,
    "no_route",
    INVALID,
    "No route matches this path.",
);
const METHOD_NOT_ALLOWED: Class<'static> = Class::new(
    StatusCode::METHOD_NOT_ALLOWED,
    "method_not_allowed",
    INVALID,
    "This route does not accept this method.",
);
const BODY_TOO_LARGE: Class<'static> = Class::new(
    StatusCode::PAYLOAD_TOO_LARGE,
    "body_too_large",
    INVALID,
    "The request body is larger than this endpoint accepts.",
);
const BODY_TIMEOUT: Class<'static> = Class::new(
    StatusCode::REQUEST_TIMEOUT,
    "body_timeout",
    INVALID,
    "The request body was not received in time.",
);
const BODY_UNREADABLE: Class<'static> = Class::new(
    StatusCode::BAD_REQUEST,
    "body_unreadable",
    INVALID,
    "The request body could not be read.",
);
const DUPLICATE_IN_FLIGHT: Class<'static> = Class::new(
    StatusCode::CONFLICT,
    "duplicate_in_flight",
    "conflict_error",
    "This event is being delivered right now; retry later.",
)
.with(&RETRY);
const UPSTREAM_TIMEOUT: Class<'static> = Class::new(
    StatusCode::GATEWAY_TIMEOUT,
    "upstream_timeout",
    UPSTREAM,
    "The backend did not answer in time.",
);
const UPSTREAM_UNAVAILABLE: Class<'static> = Class::new(
    StatusCode::BAD_GATEWAY,
    "upstream_unavailable",
    UPSTREAM,
    "The backend could not be reached.",
);
const OVERLOADED: Class<'static> = Class::new(
    StatusCode::SERVICE_UNAVAILABLE,
    "overloaded",
    UNAVAILABLE,
    "The gateway is at capacity; retry shortly.",
)
.with(&RETRY);
const SHUTTING_DOWN: Class<'static> = Class::new(
    StatusCode::SERVICE_UNAVAILABLE,
    "shutting_down",
    UNAVAILABLE,
    "The gateway is shutting down; retry on another instance.",
)
.with(&RETRY_AND_CLOSE);

/// Signature failures are 401 on app routes and 400 on webhook routes (with `WWW-Authenticate`
/// on app routes); a body that is not what the route requires is 400 either way.
fn denied(denial: Denial, kind: KeyringKind) -> Class<'static> {
    let (status, kind_name) = match (denial, kind) {
        (Denial::Signature(Rejection::MalformedBody), _) => (StatusCode::BAD_REQUEST, INVALID),
        (Denial::Signature(_), KeyringKind::Webhook) => (StatusCode::BAD_REQUEST, AUTHENTICATION),
        (Denial::Signature(_) | Denial::Replayed, KeyringKind::App) => {
            (StatusCode::UNAUTHORIZED, AUTHENTICATION)
        }
        (Denial::Replayed, KeyringKind::Webhook) => (StatusCode::UNAUTHORIZED, AUTHENTICATION),
        (Denial::RoleDenied, _) => (StatusCode::FORBIDDEN, "permission_error"),
    };
    let headers = match (denial, kind) {
        (Denial::Signature(_) | Denial::Replayed, KeyringKind::App) => Extra::Fixed(&CHALLENGE),
        (Denial::Signature(_) | Denial::Replayed, KeyringKind::Webhook)
        | (Denial::RoleDenied, _) => Extra::None,
    };
    Class {
        status,
        code: denial.code(),
        kind: kind_name,
        message: denial.message(),
        headers,
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
mod tests;
