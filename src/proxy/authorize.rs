//! Phase 5, authorize: what a verified request may do.
//!
//! - App routes: replay first (a signed message is recorded as used for every app request of a
//!   keyring that a `replay = "reject"` route uses, and such a route refuses one used before,
//!   on any route of that keyring), then roles (`require_roles_any` / `_all`, only when the
//!   signature covered them).
//! - Webhook routes: the livemode and event-type filters (`200`, not forwarded), then dedupe by
//!   event id (`409` while in flight, `200` once delivered).
//!
//! A request that may go on leaves with a [`Grant`]: its [`Identity`], which the rewrite phase
//! turns into headers (or a decision listener into a `200`), and a [`Hold`] on the replay mark
//! or dedupe claim it took, which [`Hold::settle`] resolves once the forward phase has answered.

mod dedupe;
mod replay;
#[cfg(test)]
mod tests;

use http::{Response, StatusCode};

use self::dedupe::{DedupeClaim, Delivery};
use self::replay::ReplayMark;
use super::authenticate::{Authenticated, Identity, Timing, WebhookIdentity};
use super::record::Record;
use crate::auth::KeyringKind;
use crate::body::{json_response, GatewayBody};
use crate::config::{AppPolicy, WebhookPolicy};
use crate::error::GatewayError;
use crate::outcome::{Denial, WebhookOutcome};
use crate::snapshot::{AppAuth, Route};
use crate::store::{Held, SeenStore};
use crate::upstream::UpstreamFailure;

/// Where authorization leaves a request.
#[derive(Debug)]
pub(crate) enum Decision<'g> {
    /// Forward it.
    Forward(Grant<'g>),
    /// Answer it without forwarding (a webhook event filtered out or already delivered).
    Answer(Response<GatewayBody>),
}

/// Leave to forward a request.
#[derive(Debug)]
pub(crate) struct Grant<'g> {
    /// Who the request speaks for (`None` on `auth = "none"` routes).
    pub(crate) identity: Option<Identity>,
    /// What the request holds until its answer is known.
    pub(crate) hold: Hold<'g>,
}

impl Grant<'static> {
    /// The grant of an `auth = "none"` route: no identity, nothing held.
    pub(crate) fn anonymous() -> Self {
        Grant {
            identity: None,
            hold: Hold::Nothing,
        }
    }
}

/// What a request holds in the state store while it is forwarded.
#[derive(Debug)]
pub(crate) enum Hold<'g> {
    /// Nothing.
    Nothing,
    /// The replay mark this request created.
    Replay(ReplayMark<'g>),
    /// A webhook delivery, with its dedupe claim.
    Webhook(Delivery<'g>),
}

/// The state stores authorization records into.
#[derive(Clone, Copy)]
pub(crate) struct Stores<'g> {
    /// Replay marks of app signatures.
    pub(crate) replay: &'g dyn SeenStore,
    /// Webhook deliveries, by route and event id.
    pub(crate) dedupe: &'g dyn SeenStore,
}

/// Applies the route's rules to a verified request. `body` is the verified body, `timing` when
/// it was verified.
pub(super) fn authorize<'g>(
    authenticated: Authenticated<'g>,
    route: &'g Route,
    body: &[u8],
    timing: Timing,
    stores: Stores<'g>,
    record: &mut Record<'_>,
) -> Result<Decision<'g>, GatewayError> {
    match authenticated {
        Authenticated::App(app, identity) => {
            let hold = replay(app, &identity, body, timing, stores.replay)?;
            if !roles_satisfied(&app.policy, identity.roles.as_deref()) {
                return Err(denied(Denial::RoleDenied, KeyringKind::App));
            }
            Ok(Decision::Forward(Grant {
                identity: Some(Identity::App(identity)),
                hold,
            }))
        }
        Authenticated::Webhook(webhook, identity) => webhook_rules(
            route,
            &webhook.policy,
            identity,
            timing.now,
            stores.dedupe,
            record,
        ),
    }
}

/// Records the signed message as used when its keyring needs it; refuses one used before on a
/// `replay = "reject"` route. An `allow` route records but never refuses.
fn replay<'g>(
    app: &AppAuth,
    identity: &crate::auth::AppIdentity,
    body: &[u8],
    timing: Timing,
    store: &'g dyn SeenStore,
) -> Result<Hold<'g>, GatewayError> {
    let Some(scope) = &app.keyring.replay else {
        return Ok(Hold::Nothing);
    };
    match ReplayMark::take(store, scope, identity, body, timing) {
        Ok(mark) => Ok(Hold::Replay(mark)),
        Err(_used) if app.policy.replay_reject => Err(denied(Denial::Replayed, KeyringKind::App)),
        Err(_used) => Ok(Hold::Nothing),
    }
}

/// Role policy: roles count only when the signature covered them (raw-body mode), compared on
/// role `id`.
fn roles_satisfied(policy: &AppPolicy, roles: Option<&[String]>) -> bool {
    if policy.roles_any.is_empty() && policy.roles_all.is_empty() {
        return true;
    }
    let Some(roles) = roles else { return false };
    let has = |wanted: &String| roles.iter().any(|role| role == wanted);
    (policy.roles_any.is_empty() || policy.roles_any.iter().any(has))
        && policy.roles_all.iter().all(has)
}

/// Filters, then dedupe.
fn webhook_rules<'g>(
    route: &'g Route,
    policy: &WebhookPolicy,
    identity: WebhookIdentity,
    now: i64,
    store: &'g dyn SeenStore,
    record: &mut Record<'_>,
) -> Result<Decision<'g>, GatewayError> {
    let event = &identity.event;
    if !policy.livemode.admits(event.livemode) {
        return Ok(ack(WebhookOutcome::Filtered, "livemode_filtered", record));
    }
    if !policy.events.is_empty() && !policy.events.iter().any(|p| p.matches(&event.event_type)) {
        return Ok(ack(WebhookOutcome::Filtered, "event_type_filtered", record));
    }
    let claim = match policy.dedupe {
        false => None,
        true => match DedupeClaim::take(
            store,
            &route.id,
            event.livemode,
            &event.id,
            now,
            route.timeout,
        ) {
            Ok(claim) => Some(claim),
            Err(Held::InFlight) => {
                record.webhook(WebhookOutcome::InFlight);
                return Err(GatewayError::DuplicateInFlight);
            }
            Err(Held::Done) => return Ok(ack(WebhookOutcome::Duplicate, "duplicate", record)),
        },
    };
    Ok(Decision::Forward(Grant {
        identity: Some(Identity::Webhook(identity)),
        hold: Hold::Webhook(Delivery::new(claim, policy, now)),
    }))
}

/// A 200 for Stripe for an event that is deliberately not forwarded.
fn ack(outcome: WebhookOutcome, reason: &str, record: &mut Record<'_>) -> Decision<'static> {
    record.webhook(outcome);
    let body = format!("{{\"received\":true,\"forwarded\":false,\"reason\":\"{reason}\"}}");
    Decision::Answer(json_response(StatusCode::OK, body))
}

fn denied(denial: Denial, kind: KeyringKind) -> GatewayError {
    GatewayError::Denied { denial, kind }
}

impl Hold<'_> {
    /// Resolves what the request held once the forward phase has answered: a replay mark is
    /// given back when nothing reached the backend; a webhook delivery confirms or releases its
    /// claim and turns the backend's answer into Stripe's.
    pub(super) fn settle(
        self,
        result: Result<Response<GatewayBody>, GatewayError>,
        record: &mut Record<'_>,
    ) -> Result<Response<GatewayBody>, GatewayError> {
        match self {
            Hold::Nothing => result,
            Hold::Replay(mark) => {
                if nothing_reached_the_backend(&result) {
                    mark.release();
                }
                result
            }
            Hold::Webhook(delivery) => delivery.settle(result, record),
        }
    }
}

/// Whether the request certainly never reached the backend, so that its signature may be used
/// again: only when no connection could be made (refused, unreachable, connect timeout, a TLS
/// handshake that failed), as a request is written only to an established connection. After a timeout or a broken connection the
/// backend may have received it and acted on it: the signature stays spent.
fn nothing_reached_the_backend(result: &Result<Response<GatewayBody>, GatewayError>) -> bool {
    match result {
        Err(GatewayError::Upstream(failure)) => match failure {
            UpstreamFailure::Connect | UpstreamFailure::Tls => true,
            UpstreamFailure::Timeout
            | UpstreamFailure::Broken
            | UpstreamFailure::InvalidResponse => false,
        },
        Ok(_) | Err(_) => false,
    }
}
