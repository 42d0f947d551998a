//! Phases 3–7 of `auth = "webhook"` routes: verify over the exact bytes, filter by livemode and
//! event type, deduplicate by event id, forward, and answer Stripe so that no event is lost:
//! 2xx only when the backend answered 2xx, the event was filtered, or it was already delivered.

use http::header::HeaderValue;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use super::body::{json_response, GatewayBody};
use super::headers;
use super::record::Record;
use super::{forward, set_header, signature_header, Gateway, Target};
use crate::auth::{parse_event, verify_webhook_parsed, Rejection, WebhookEvent};
use crate::config::WebhookPolicy;
use crate::error::GatewayError;
use crate::snapshot::{Route, Snapshot};
use crate::store::{Claim, Held, SeenStore};

impl Gateway {
    pub(super) async fn webhook<'s>(
        &self,
        target: Target<'s, '_, WebhookPolicy>,
        request: Request<Incoming>,
        record: &mut Record<'s>,
    ) -> Result<Response<GatewayBody>, GatewayError> {
        let Target {
            snapshot,
            route,
            keyring,
            policy,
            peer,
        } = target;
        let (mut parts, body) = request.into_parts();
        // Header problems are known before the body arrives: refuse without reading it.
        let header = signature_header(&parts.headers, record, true)?;
        let server = &snapshot.config.server;
        let body = forward::read_body(body, &parts.headers, server, &self.budget).await?;
        let now = self.clock.now();
        let verified = verify_webhook_parsed(
            &header,
            &body,
            &keyring.keyring,
            now,
            snapshot.config.tolerance_secs,
        )
        .map_err(|rejection| record.deny(rejection, true))?;
        record.secret = keyring
            .keyring
            .secrets()
            .get(verified.secret_index)
            .map(|secret| secret.id());
        let age = now.saturating_sub(verified.timestamp);
        keyring.metrics.matched(verified.secret_index, age);
        let event = parse_event(&body).map_err(|rejection| record.deny(rejection, true))?;
        record.account = event.account.clone();
        record.auth_allowed();
        if !policy.livemode.admits(event.livemode) {
            return Ok(ack(route, "filtered", "livemode_filtered"));
        }
        if !policy.events.is_empty() && !policy.events.iter().any(|p| p.matches(&event.event_type))
        {
            return Ok(ack(route, "filtered", "event_type_filtered"));
        }
        let claim = match policy.dedupe {
            false => None,
            true => match DedupeClaim::take(
                &*self.dedupe,
                &route.id,
                &event.id,
                now,
                route.timeout.as_secs(),
            ) {
                Ok(claim) => Some(claim),
                Err(Held::InFlight) => {
                    route.metrics.webhook("in_flight");
                    return Err(GatewayError::DuplicateInFlight);
                }
                Err(Held::Done) => return Ok(ack(route, "duplicate", "duplicate")),
            },
        };
        headers::rewrite_request(
            &mut parts.headers,
            &snapshot.identity,
            peer,
            &record.request_id,
        );
        if inject(&mut parts.headers, snapshot, &event, verified.timestamp).is_err() {
            return Err(record.deny(Rejection::MalformedBody, true));
        }
        let body = GatewayBody::full(body);
        let result = forward::forward(snapshot, route, parts, body, record, &self.budget).await;
        settle(route, policy, claim, result, now)
    }
}

/// Turns the backend's answer into Stripe's: its 2xx confirms delivery (and dedupe), a 3xx
/// becomes a 502 (Stripe counts redirects as failures anyway), and errors stay errors so
/// that Stripe retries.
fn settle(
    route: &Route,
    policy: &WebhookPolicy,
    claim: Option<DedupeClaim<'_>>,
    result: Result<Response<GatewayBody>, GatewayError>,
    now: i64,
) -> Result<Response<GatewayBody>, GatewayError> {
    match result {
        Ok(response) if response.status().is_success() => {
            if let Some(claim) = claim {
                let window = i64::try_from(policy.dedupe_window.as_secs()).unwrap_or(i64::MAX);
                claim.complete(now.saturating_add(window));
            }
            route.metrics.webhook("forwarded");
            Ok(response)
        }
        Ok(response) if response.status().is_redirection() => {
            route.metrics.webhook("failed");
            Err(GatewayError::UpstreamUnavailable)
        }
        other => {
            route.metrics.webhook("failed");
            other
        }
    }
}

/// A 200 for Stripe for an event that is deliberately not forwarded.
fn ack(route: &Route, outcome: &str, reason: &str) -> Response<GatewayBody> {
    route.metrics.webhook(outcome);
    let body = format!("{{\"received\":true,\"forwarded\":false,\"reason\":\"{reason}\"}}");
    json_response(StatusCode::OK, body)
}

/// An event id held in flight; released on drop unless delivery was confirmed, so a failed or
/// abandoned delivery can be retried by Stripe.
struct DedupeClaim<'a> {
    store: &'a dyn SeenStore,
    key: Vec<u8>,
    claim: Claim,
    done: bool,
}

impl<'a> DedupeClaim<'a> {
    fn take(
        store: &'a dyn SeenStore,
        route: &str,
        event_id: &str,
        now: i64,
        timeout_secs: u64,
    ) -> Result<Self, Held> {
        let key = [route.as_bytes(), b"\0", event_id.as_bytes()].concat();
        // In flight for at most the upstream timeout plus a margin, even if this task dies.
        let timeout = i64::try_from(timeout_secs).unwrap_or(i64::MAX);
        let until = now.saturating_add(timeout).saturating_add(60);
        let claim = store.claim(&key, Held::InFlight, now, until)?;
        Ok(DedupeClaim {
            store,
            key,
            claim,
            done: false,
        })
    }

    fn complete(mut self, until: i64) {
        self.store.complete(&self.key, self.claim, until);
        self.done = true;
    }
}

impl Drop for DedupeClaim<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.store.release(&self.key, self.claim);
        }
    }
}

fn inject(
    headers: &mut http::HeaderMap,
    snapshot: &Snapshot,
    event: &WebhookEvent,
    timestamp: i64,
) -> Result<(), ()> {
    let names = &snapshot.identity;
    set_header(headers, &names.event_id, &event.id)?;
    set_header(headers, &names.event_type, &event.event_type)?;
    if let Some(livemode) = event.livemode {
        let value = if livemode { "true" } else { "false" };
        headers.insert(names.livemode.clone(), HeaderValue::from_static(value));
    }
    if let Some(account) = &event.account {
        set_header(headers, &names.account_id, account)?;
    }
    headers.insert(names.verified.clone(), HeaderValue::from_static("webhook"));
    headers.insert(
        names.signature_timestamp.clone(),
        HeaderValue::from(timestamp),
    );
    Ok(())
}
