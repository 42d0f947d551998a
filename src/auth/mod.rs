//! The pure signature core: everything needed to decide whether a request carries a valid
//! `Stripe-Signature`, and nothing else (no I/O, no clock, no logging; `now` is a parameter).
//!
//! - [`signature`]: the header grammar (rules 1–5) and the signing helpers (rule 6).
//! - `mac`: HMAC-SHA256 keyed with a whole secret, and lowercase hex.
//! - [`keyring`]: the secrets of one route, each with its HMAC key state prepared once and an
//!   optional expiry (rules 10–11).
//! - [`verify`]: raw-body verification with the timestamp window (rules 7–9).
//! - [`json`]: the strict JSON reader for app bodies (no duplicate keys at any depth) and the
//!   JS-compatible rebuild of the default signed payload (rules 21–22, 25).
//! - [`app`]: Stripe App UI-extension requests, raw-body and reconstructed-default modes
//!   (rules 20–26).
//! - [`webhook`]: Stripe webhook deliveries and the routing fields of the event (rules 13–19).
//!
//! Every failure is one [`Rejection`]; its code and message are generic so that no response or
//! log line can reveal a secret, an expected signature or which secret was tried (rule 12).

#![warn(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

pub mod app;
pub mod json;
pub mod keyring;
mod mac;
pub mod signature;
pub mod verify;
pub mod webhook;

use std::fmt;

pub use app::{verify_app, verify_app_parsed, AppIdentity, AppMode, VerifiedMode};
pub use json::{default_payload, parse_app_body, AppBody, Role};
pub use keyring::{Keyring, KeyringKind, KeyringSecret};
pub use signature::{
    compute_signature, header_value, signature_header, value_of_lines, SignatureHeader, HEADER_NAME,
};
pub use verify::{verify_raw, Verified};
pub use webhook::{parse_event, verify_webhook, verify_webhook_parsed, WebhookEvent};

/// Why a request was not authenticated: the outcome codes of the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rejection {
    /// No `Stripe-Signature` field, or an empty one.
    MissingHeader,
    /// The header breaks the grammar: no valid `t`, a duplicated `t`, a bad `v1` element,
    /// several header fields, or bytes outside visible ASCII.
    MalformedHeader,
    /// The header has a valid `t` but no `v1` element.
    NoV1Signature,
    /// No `v1` matches any active secret of the route.
    SignatureMismatch,
    /// The signature matched but `t` is more than the tolerance in the past.
    TimestampTooOld,
    /// The signature matched but `t` is more than the tolerance in the future.
    TimestampInFuture,
    /// The request body is empty.
    EmptyPayload,
    /// The body is not the JSON the route requires (strict parsing).
    MalformedBody,
}

impl Rejection {
    /// Every rejection, in the order of the spec's outcome codes (for metrics registration).
    pub const ALL: [Rejection; 8] = [
        Rejection::MissingHeader,
        Rejection::MalformedHeader,
        Rejection::NoV1Signature,
        Rejection::SignatureMismatch,
        Rejection::TimestampTooOld,
        Rejection::TimestampInFuture,
        Rejection::EmptyPayload,
        Rejection::MalformedBody,
    ];

    /// Position in [`Rejection::ALL`] (the declaration order).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The stable snake_case outcome code of the spec (`expected` in the test vectors).
    pub fn code(self) -> &'static str {
        match self {
            Rejection::MissingHeader => "missing_header",
            Rejection::MalformedHeader => "malformed_header",
            Rejection::NoV1Signature => "no_v1_signature",
            Rejection::SignatureMismatch => "signature_mismatch",
            Rejection::TimestampTooOld => "timestamp_too_old",
            Rejection::TimestampInFuture => "timestamp_in_future",
            Rejection::EmptyPayload => "empty_payload",
            Rejection::MalformedBody => "malformed_body",
        }
    }

    /// A short generic sentence for a response body. It never names a secret, an expected
    /// signature or which secret was tried.
    pub fn message(self) -> &'static str {
        match self {
            Rejection::MissingHeader => "The Stripe-Signature header is missing.",
            Rejection::MalformedHeader => "The Stripe-Signature header is malformed.",
            Rejection::NoV1Signature => "The Stripe-Signature header has no v1 signature.",
            Rejection::SignatureMismatch => "No signature matches the request.",
            Rejection::TimestampTooOld => "The signature timestamp is too old.",
            Rejection::TimestampInFuture => "The signature timestamp is too far in the future.",
            Rejection::EmptyPayload => "The request body is empty.",
            Rejection::MalformedBody => "The request body is not valid for this route.",
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl std::error::Error for Rejection {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_display_writes_the_code() {
        let mut codes: Vec<&str> = Rejection::ALL.iter().map(|r| r.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Rejection::ALL.len());
        for (index, rejection) in Rejection::ALL.into_iter().enumerate() {
            assert_eq!(rejection.index(), index);
            assert_eq!(rejection.to_string(), rejection.code());
            assert!(!rejection.message().is_empty());
        }
    }

    #[test]
    fn messages_stay_generic() {
        for rejection in Rejection::ALL {
            let message = rejection.message().to_ascii_lowercase();
            for word in ["secret", "expected", "whsec", "absec"] {
                assert!(!message.contains(word), "{rejection}: {message}");
            }
        }
    }
}
