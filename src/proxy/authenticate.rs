//! Phase 4, verify: the pure signature core (`src/auth/`) applied to a route. The
//! `Stripe-Signature` header is checked first, before the body is read, so that a request
//! without a usable header is refused without buffering anything; then the body is verified
//! with the route's keyring and the clock's `now`. Both kinds of route end in one [`Identity`],
//! which the rewrite phase turns into headers, or in a typed refusal.

use http::HeaderMap;

use crate::auth::{
    header_value, parse_event, value_of_lines, verify_app_parsed, verify_webhook_parsed,
    AppIdentity, KeyringKind, Rejection, SignatureHeader, Verified, WebhookEvent,
};
use crate::error::GatewayError;
use crate::http1::VerbatimFields;
use crate::outcome::Denial;
use crate::snapshot::{AppAuth, Signed, WebhookAuth};

/// Who a verified request speaks for.
#[derive(Debug)]
pub(crate) enum Identity {
    /// A UI-extension request: the signed user and account (and roles, in raw-body mode).
    App(AppIdentity),
    /// A webhook delivery: the routing fields of the event.
    Webhook(WebhookIdentity),
}

/// A verified webhook event.
#[derive(Debug)]
pub(crate) struct WebhookIdentity {
    /// Its routing fields.
    pub(crate) event: WebhookEvent,
    /// The timestamp and secret that verified.
    pub(crate) verified: Verified,
}

impl Identity {
    /// The account the request acts for, for the access log.
    pub(crate) fn into_account(self) -> Option<String> {
        match self {
            Identity::App(app) => Some(app.account_id),
            Identity::Webhook(webhook) => webhook.event.account,
        }
    }

    /// The kind of signature that proved it.
    pub(crate) fn kind(&self) -> KeyringKind {
        match self {
            Identity::App(_) => KeyringKind::App,
            Identity::Webhook(_) => KeyringKind::Webhook,
        }
    }
}

/// A verified request, with the route policy authorization applies to it.
#[derive(Debug)]
pub(crate) enum Authenticated<'s> {
    /// An app route and the identity it verified.
    App(&'s AppAuth, AppIdentity),
    /// A webhook route and the event it verified.
    Webhook(&'s WebhookAuth, WebhookIdentity),
}

impl Authenticated<'_> {
    /// The timestamp and secret that verified.
    pub(crate) fn verified(&self) -> &Verified {
        match self {
            Authenticated::App(_, identity) => &identity.verified,
            Authenticated::Webhook(_, identity) => &identity.verified,
        }
    }
}

/// When a request is verified: the clock's `now`, and the skew accepted around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timing {
    /// Unix seconds.
    pub(crate) now: i64,
    /// Accepted skew of signature timestamps, both ways, in seconds.
    pub(crate) tolerance: i64,
}

/// The parsed `Stripe-Signature` of a request (rules 1–5), or the refusal. An HTTP/1.1 head
/// relays the field verbatim, so it is in `verbatim` (and then nowhere else); otherwise it is
/// in the map.
pub(super) fn signature<'a>(
    headers: &'a HeaderMap,
    verbatim: &'a VerbatimFields,
    kind: KeyringKind,
) -> Result<SignatureHeader<'a>, GatewayError> {
    let text = match verbatim.stripe_signature() {
        (None, _) => header_value(headers),
        (Some(value), 1) => value_of_lines(std::iter::once(value)),
        (Some(_), _) => Err(Rejection::MalformedHeader),
    };
    text.and_then(SignatureHeader::parse_text)
        .map_err(|rejection| denied(rejection, kind))
}

/// Verifies `body` signed as `header` says, for the route `signed`.
pub(super) fn verify<'s>(
    signed: Signed<'s>,
    header: &SignatureHeader<'_>,
    body: &[u8],
    Timing { now, tolerance }: Timing,
) -> Result<Authenticated<'s>, GatewayError> {
    match signed {
        Signed::App(app) => {
            let keyring = &app.keyring.keyring;
            verify_app_parsed(header, body, keyring, app.policy.mode, now, tolerance)
                .map(|identity| Authenticated::App(app, identity))
                .map_err(|rejection| denied(rejection, KeyringKind::App))
        }
        Signed::Webhook(webhook) => {
            let keyring = &webhook.keyring.keyring;
            verify_webhook_parsed(header, body, keyring, now, tolerance)
                .and_then(|verified| {
                    let event = parse_event(body)?;
                    Ok(WebhookIdentity { event, verified })
                })
                .map(|identity| Authenticated::Webhook(webhook, identity))
                .map_err(|rejection| denied(rejection, KeyringKind::Webhook))
        }
    }
}

fn denied(rejection: Rejection, kind: KeyringKind) -> GatewayError {
    GatewayError::Denied {
        denial: Denial::Signature(rejection),
        kind,
    }
}
