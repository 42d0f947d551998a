//! Stripe webhook deliveries (rules 13–19): verification over the exact body bytes, then, only
//! once authenticated, the few event fields the gateway routes and logs on.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};

use super::json::{parse_strict, KeySet, ObjectSeed, StrSeed, StrictValue};
use super::keyring::Keyring;
use super::signature::SignatureHeader;
use super::verify::{verify_parsed, verify_raw, Verified};
use super::Rejection;

/// The routing fields of a verified event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    /// `id` (`evt_…`): the deduplication key (rule 18).
    pub id: String,
    /// `type`, e.g. `payment_intent.succeeded`.
    pub event_type: String,
    /// `livemode`: route on this, not on the endpoint that received the event (rule 16).
    /// `None` when the event has no `livemode` field (Stripe always sends one).
    pub livemode: Option<bool>,
    /// `account`: the connected or installing account, when the event has one (rule 19).
    pub account: Option<String>,
}

/// = [`verify_raw`] over the exact bytes (kept as a named entry point). The body is never
/// decoded, trimmed or parsed before the signature matched (rules 13–15).
pub fn verify_webhook(
    header: &str,
    body: &[u8],
    keyring: &Keyring,
    now: i64,
    tolerance: i64,
) -> Result<Verified, Rejection> {
    verify_raw(header, body, keyring, now, tolerance)
}

/// [`verify_webhook`] for a header the caller has already parsed.
pub fn verify_webhook_parsed(
    parsed: &SignatureHeader<'_>,
    body: &[u8],
    keyring: &Keyring,
    now: i64,
    tolerance: i64,
) -> Result<Verified, Rejection> {
    if body.is_empty() {
        return Err(Rejection::EmptyPayload);
    }
    verify_parsed(parsed, body, keyring, now, tolerance)
}

/// After verification: JSON object (no duplicate keys at any depth) with string `id`, string
/// `type`, optional boolean `livemode`, optional string/null `account`; else `Err(MalformedBody)`. Other
/// fields are ignored (but still checked for duplicate keys).
pub fn parse_event(body: &[u8]) -> Result<WebhookEvent, Rejection> {
    parse_strict(body, ObjectSeed(EventVisitor))
}

struct EventVisitor;

impl<'de> Visitor<'de> for EventVisitor {
    type Value = WebhookEvent;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Stripe event object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WebhookEvent, A::Error> {
        let mut keys = KeySet::new();
        let (mut id, mut event_type, mut livemode, mut account) = (None, None, None, None);
        while let Some(key) = map.next_key_seed(StrSeed)? {
            let field = EventField::of(&key);
            keys.insert_new(key)?;
            match field {
                EventField::Id => id = Some(map.next_value_seed(StrSeed)?),
                EventField::Type => event_type = Some(map.next_value_seed(StrSeed)?),
                EventField::Livemode => livemode = Some(map.next_value::<bool>()?),
                EventField::Account => account = Some(map.next_value::<Option<String>>()?),
                EventField::Other => map.next_value_seed(StrictValue)?,
            }
        }
        Ok(WebhookEvent {
            id: id
                .ok_or_else(|| de::Error::missing_field("id"))?
                .into_owned(),
            event_type: event_type
                .ok_or_else(|| de::Error::missing_field("type"))?
                .into_owned(),
            livemode,
            account: account.flatten(),
        })
    }
}

/// The event keys the gateway reads.
enum EventField {
    Id,
    Type,
    Livemode,
    Account,
    Other,
}

impl EventField {
    fn of(key: &str) -> Self {
        match key {
            "id" => EventField::Id,
            "type" => EventField::Type,
            "livemode" => EventField::Livemode,
            "account" => EventField::Account,
            _ => EventField::Other,
        }
    }
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
