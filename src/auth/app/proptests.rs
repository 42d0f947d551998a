//! Round-trip properties of app signatures: whatever is signed verifies within the tolerance (raw
//! body and reconstructed default), and a single changed byte of the body, of the whole
//! `Stripe-Signature` value or of the secret never authenticates anything that was not signed.

#![allow(
    clippy::arithmetic_side_effects,
    reason = "tests: arithmetic on generated values, where a panic is a failed test"
)]

use proptest::prelude::*;

use super::*;
use crate::auth::signature::signature_header;
use crate::auth::{KeyringKind, KeyringSecret};
use crate::secret::Secret;

const TOLERANCE: i64 = 300;
const CASES: u32 = 256;

fn keyring(secret: &str) -> Keyring {
    let secret = KeyringSecret::new("current", &Secret::new(secret), None);
    Keyring::new(KeyringKind::App, vec![secret])
}

fn sign(secret: &str, t: i64, payload: &[u8]) -> String {
    signature_header(&[&Secret::new(secret)], t, payload)
}

fn secret_text() -> impl Strategy<Value = String> {
    "absec_[ -~]{1,40}"
}

fn timestamp() -> impl Strategy<Value = i64> {
    0i64..=999_999_999_999
}

/// Any text, control characters and non-ASCII included (JSON escapes them as it must).
fn field() -> impl Strategy<Value = String> {
    any::<String>()
}

/// An app body as the UI extension sends it: the two ids, and optionally extra fields.
fn body(user: &str, account: &str, extra: Option<&str>) -> Vec<u8> {
    let mut object = serde_json::Map::new();
    if let Some(extra) = extra {
        object.insert("setting".into(), serde_json::Value::from(extra));
    }
    object.insert("user_id".into(), serde_json::Value::from(user));
    object.insert("account_id".into(), serde_json::Value::from(account));
    serde_json::to_vec(&object).unwrap_or_default()
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
    fn a_signed_raw_body_verifies_within_the_tolerance(
        secret in secret_text(),
        user in field(),
        account in field(),
        extra in proptest::option::of(field()),
        t in timestamp(),
        skew in -TOLERANCE..=TOLERANCE,
        mode in prop_oneof![Just(AppMode::RawBody), Just(AppMode::RawBodyOrDefault)],
    ) {
        let body = body(&user, &account, extra.as_deref());
        let header = sign(&secret, t, &body);
        let identity = verify_app(&header, &body, &keyring(&secret), mode, t + skew, TOLERANCE)
            .map_err(|rejection| TestCaseError::fail(rejection.code()))?;
        prop_assert_eq!(identity.mode, VerifiedMode::RawBody);
        prop_assert_eq!((identity.user_id, identity.account_id), (user, account));
        prop_assert_eq!(identity.verified.timestamp, t);
    }

    #[test]
    fn a_signed_default_payload_verifies_within_the_tolerance(
        secret in secret_text(),
        user in field(),
        account in field(),
        extra in proptest::option::of(field()),
        t in timestamp(),
        skew in -TOLERANCE..=TOLERANCE,
        mode in prop_oneof![Just(AppMode::Default), Just(AppMode::RawBodyOrDefault)],
    ) {
        let header = sign(&secret, t, &default_payload(&user, &account));
        let body = body(&user, &account, extra.as_deref());
        let identity = verify_app(&header, &body, &keyring(&secret), mode, t + skew, TOLERANCE)
            .map_err(|rejection| TestCaseError::fail(rejection.code()))?;
        prop_assert_eq!((identity.user_id, identity.account_id), (user, account));
        prop_assert_eq!(identity.roles, None);
    }

    #[test]
    fn a_signature_outside_the_tolerance_is_rejected(
        secret in secret_text(),
        user in field(),
        t in timestamp(),
        beyond in 1i64..=1_000_000,
        past in any::<bool>(),
    ) {
        let body = body(&user, "acct_1", None);
        let header = sign(&secret, t, &body);
        let (now, expected) = if past {
            (t + TOLERANCE + beyond, Rejection::TimestampTooOld)
        } else {
            (t - TOLERANCE - beyond, Rejection::TimestampInFuture)
        };
        let result = verify_app(&header, &body, &keyring(&secret), AppMode::RawBody, now, TOLERANCE);
        prop_assert_eq!(result.map(|identity| identity.mode), Err(expected));
    }

    #[test]
    fn a_changed_body_byte_is_rejected_in_raw_body_mode(
        secret in secret_text(),
        user in field(),
        account in field(),
        t in timestamp(),
        index in any::<usize>(),
        mask in any::<u8>(),
    ) {
        let body = body(&user, &account, None);
        let header = sign(&secret, t, &body);
        let tampered = flipped(&body, index, mask);
        let result = verify_app(&header, &tampered, &keyring(&secret), AppMode::RawBody, t, TOLERANCE);
        prop_assert_eq!(result.map(|identity| identity.mode), Err(Rejection::SignatureMismatch));
    }

    /// With mode B allowed, a changed byte that leaves both ids as they were (`\u001f` →
    /// `\u001F`) may still verify: only the ids were authenticated. It never yields other ids.
    #[test]
    fn a_changed_body_byte_never_changes_the_authenticated_ids(
        secret in secret_text(),
        user in field(),
        account in field(),
        default_signed in any::<bool>(),
        t in timestamp(),
        index in any::<usize>(),
        mask in any::<u8>(),
    ) {
        let body = body(&user, &account, None);
        let signed = if default_signed { default_payload(&user, &account) } else { body.clone() };
        let header = sign(&secret, t, &signed);
        let tampered = flipped(&body, index, mask);
        let mode = AppMode::RawBodyOrDefault;
        if let Ok(identity) = verify_app(&header, &tampered, &keyring(&secret), mode, t, TOLERANCE) {
            prop_assert_eq!(identity.mode, VerifiedMode::ReconstructedDefault);
            prop_assert_eq!((identity.user_id, identity.account_id), (user, account));
        }
    }

    #[test]
    fn a_changed_header_byte_is_rejected(
        secret in secret_text(),
        user in field(),
        t in timestamp(),
        index in any::<usize>(),
        replacement in 0x20u8..0x7f,
        mode in prop_oneof![
            Just(AppMode::RawBody),
            Just(AppMode::Default),
            Just(AppMode::RawBodyOrDefault),
        ],
    ) {
        let body = body(&user, "acct_1", None);
        let signed = match mode {
            AppMode::Default => default_payload(&user, "acct_1"),
            AppMode::RawBody | AppMode::RawBodyOrDefault => body.clone(),
        };
        let mut header = sign(&secret, t, &signed).into_bytes();
        let at = index % header.len();
        prop_assume!(header[at] != replacement);
        header[at] = replacement;
        let header = String::from_utf8(header).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let result = verify_app(&header, &body, &keyring(&secret), mode, t, TOLERANCE);
        prop_assert!(result.is_err(), "{header} verified");
    }

    #[test]
    fn a_changed_secret_byte_is_rejected(
        secret in secret_text(),
        user in field(),
        t in timestamp(),
        index in any::<usize>(),
        mask in 1u8..0x80,
        mode in prop_oneof![Just(AppMode::RawBody), Just(AppMode::RawBodyOrDefault)],
    ) {
        let body = body(&user, "acct_1", None);
        let header = sign(&secret, t, &body);
        // Within 7 bits an ASCII secret stays ASCII, hence valid UTF-8.
        let other = String::from_utf8(flipped(secret.as_bytes(), index, mask))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let result = verify_app(&header, &body, &keyring(&other), mode, t, TOLERANCE);
        prop_assert_eq!(result.map(|identity| identity.mode), Err(Rejection::SignatureMismatch));
    }
}
