//! Round-trip properties of webhook signatures through [`verify_webhook`] and [`parse_event`]:
//! an event signed with any secret of a keyring verifies within the tolerance and reads back
//! the fields it was built from; a single changed byte of the body, of the whole
//! `Stripe-Signature` value or of the secret is rejected.

#![allow(
    clippy::arithmetic_side_effects,
    reason = "tests: arithmetic on generated values, where a panic is a failed test"
)]

use proptest::prelude::*;

use super::*;
use crate::auth::{KeyringKind, KeyringSecret};
use crate::secret::Secret;

const TOLERANCE: i64 = 300;
const CASES: u32 = 256;

fn keyring(secrets: &[String]) -> Keyring {
    let secrets = secrets
        .iter()
        .enumerate()
        .map(|(i, s)| KeyringSecret::new(format!("s{i}"), &Secret::new(s.as_str()), None))
        .collect();
    Keyring::new(KeyringKind::Webhook, secrets)
}

fn sign(secret: &str, t: i64, payload: &[u8]) -> String {
    crate::auth::signature_header(&[&Secret::new(secret)], t, payload)
}

fn secret_text() -> impl Strategy<Value = String> {
    "whsec_[ -~]{1,40}"
}

fn timestamp() -> impl Strategy<Value = i64> {
    0i64..=999_999_999_999
}

/// An event as Stripe sends it, with `data` filler text; `livemode` and `account` are left out
/// when `None` (Stripe never sends a null `livemode`).
fn event(event: &WebhookEvent, filler: &str) -> Vec<u8> {
    let mut value = serde_json::json!({
        "id": event.id,
        "object": "event",
        "type": event.event_type,
        "data": { "object": { "description": filler } },
    });
    if let Some(livemode) = event.livemode {
        value["livemode"] = serde_json::Value::from(livemode);
    }
    if let Some(account) = &event.account {
        value["account"] = serde_json::Value::from(account.as_str());
    }
    serde_json::to_vec_pretty(&value).unwrap_or_default()
}

fn webhook_event() -> impl Strategy<Value = WebhookEvent> {
    (
        "evt_[A-Za-z0-9]{1,24}",
        "[a-z_]{1,12}(\\.[a-z_]{1,12}){0,3}",
        proptest::option::of(any::<bool>()),
        proptest::option::of("acct_[A-Za-z0-9]{1,16}"),
    )
        .prop_map(|(id, event_type, livemode, account)| WebhookEvent {
            id,
            event_type,
            livemode,
            account,
        })
}

/// `bytes` with the byte at `index % len` changed by a non-zero `mask`.
fn flipped(bytes: &[u8], index: usize, mask: u8) -> Vec<u8> {
    let mut bytes = bytes.to_vec();
    let at = index % bytes.len();
    bytes[at] ^= mask.max(1);
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn an_event_signed_with_any_secret_of_the_keyring_verifies(
        secrets in proptest::collection::vec(secret_text(), 1..4),
        which in any::<usize>(),
        sent in webhook_event(),
        filler in any::<String>(),
        t in timestamp(),
        skew in -TOLERANCE..=TOLERANCE,
    ) {
        let which = which % secrets.len();
        let body = event(&sent, &filler);
        let header = sign(&secrets[which], t, &body);
        let verified = verify_webhook(&header, &body, &keyring(&secrets), t + skew, TOLERANCE)
            .map_err(|rejection| TestCaseError::fail(rejection.code()))?;
        prop_assert_eq!(verified.timestamp, t);
        // Equal secrets may appear twice; the first that matches is the one reported.
        prop_assert_eq!(&secrets[verified.secret_index], &secrets[which]);
        prop_assert_eq!(parse_event(&body), Ok(sent));
    }

    #[test]
    fn a_changed_body_byte_is_rejected(
        secret in secret_text(),
        sent in webhook_event(),
        t in timestamp(),
        index in any::<usize>(),
        mask in any::<u8>(),
    ) {
        let body = event(&sent, "");
        let header = sign(&secret, t, &body);
        let tampered = flipped(&body, index, mask);
        let result = verify_webhook(&header, &tampered, &keyring(&[secret]), t, TOLERANCE);
        prop_assert_eq!(result, Err(Rejection::SignatureMismatch));
    }

    #[test]
    fn a_changed_header_byte_is_rejected(
        secret in secret_text(),
        sent in webhook_event(),
        t in timestamp(),
        index in any::<usize>(),
        replacement in 0x20u8..0x7f,
    ) {
        let body = event(&sent, "");
        let mut header = sign(&secret, t, &body).into_bytes();
        let at = index % header.len();
        prop_assume!(header[at] != replacement);
        header[at] = replacement;
        let header = String::from_utf8(header).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let result = verify_webhook(&header, &body, &keyring(&[secret]), t, TOLERANCE);
        prop_assert!(result.is_err(), "{header} verified");
    }

    #[test]
    fn a_changed_secret_byte_is_rejected(
        secret in secret_text(),
        sent in webhook_event(),
        t in timestamp(),
        index in any::<usize>(),
        mask in 1u8..0x80,
    ) {
        let body = event(&sent, "");
        let header = sign(&secret, t, &body);
        // Within 7 bits an ASCII secret stays ASCII, hence valid UTF-8.
        let other = String::from_utf8(flipped(secret.as_bytes(), index, mask))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let result = verify_webhook(&header, &body, &keyring(&[other]), t, TOLERANCE);
        prop_assert_eq!(result, Err(Rejection::SignatureMismatch));
    }
}
