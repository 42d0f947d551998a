//! Webhook dedupe: an event id is claimed while its delivery is in flight, confirmed for
//! `dedupe_window` once the backend answered 2xx, and released otherwise, so that Stripe's
//! retry is delivered.

use std::time::Duration;

use http::Response;

use crate::body::GatewayBody;
use crate::config::WebhookPolicy;
use crate::error::GatewayError;
use crate::outcome::WebhookOutcome;
use crate::proxy::record::Record;
use crate::store::{Claim, Held, SeenStore};

/// An event id held in flight; released on drop unless delivery was confirmed, so a failed or
/// abandoned delivery can be retried by Stripe.
#[derive(Debug)]
pub(crate) struct DedupeClaim<'a> {
    store: &'a dyn SeenStore,
    key: Vec<u8>,
    claim: Claim,
    done: bool,
}

impl<'a> DedupeClaim<'a> {
    /// Claims `event_id` on `route` in its mode (`livemode`: live, test, or unknown) for the
    /// upstream `timeout` plus a margin, or returns how it is held already. Keys are scoped per
    /// route and mode (SPEC §9): a test event never counts as the delivery of a live one.
    pub(super) fn take(
        store: &'a dyn SeenStore,
        route: &str,
        livemode: Option<bool>,
        event_id: &str,
        now: i64,
        timeout: Duration,
    ) -> Result<Self, Held> {
        let mode: &[u8] = match livemode {
            Some(true) => b"live",
            Some(false) => b"test",
            None => b"-",
        };
        let key = [route.as_bytes(), b"\0", mode, b"\0", event_id.as_bytes()].concat();
        // In flight for at most the upstream timeout plus a margin, even if this task dies.
        let timeout = i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX);
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

/// A webhook event being forwarded.
#[derive(Debug)]
pub(crate) struct Delivery<'a> {
    claim: Option<DedupeClaim<'a>>,
    /// Until when a confirmed delivery is remembered.
    until: i64,
}

impl<'a> Delivery<'a> {
    /// A delivery holding `claim` (with `dedupe = true`), verified at `now`.
    pub(super) fn new(claim: Option<DedupeClaim<'a>>, policy: &WebhookPolicy, now: i64) -> Self {
        let window = i64::try_from(policy.dedupe_window.as_secs()).unwrap_or(i64::MAX);
        Delivery {
            claim,
            until: now.saturating_add(window),
        }
    }

    /// Turns the backend's answer into Stripe's: its 2xx confirms delivery (and dedupe), a 3xx
    /// becomes a 502 (Stripe counts redirects as failures anyway), and errors stay errors so
    /// that Stripe retries.
    pub(super) fn settle(
        self,
        result: Result<Response<GatewayBody>, GatewayError>,
        record: &mut Record<'_>,
    ) -> Result<Response<GatewayBody>, GatewayError> {
        match result {
            Ok(response) if response.status().is_success() => {
                if let Some(claim) = self.claim {
                    claim.complete(self.until);
                }
                record.webhook(WebhookOutcome::Forwarded);
                Ok(response)
            }
            Ok(response) if response.status().is_redirection() => {
                record.webhook(WebhookOutcome::Failed);
                Err(GatewayError::WebhookRedirected)
            }
            other => {
                record.webhook(WebhookOutcome::Failed);
                other
            }
        }
    }
}
