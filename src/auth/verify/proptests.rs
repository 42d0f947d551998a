//! Round-trip properties: whatever is signed verifies, and any single changed byte of the body,
//! of a `v1`, of `t` or of the secret is rejected.

use proptest::prelude::*;

use super::*;
use crate::auth::signature::{compute_signature, signature_header};
use crate::auth::{KeyringKind, KeyringSecret};
use crate::secret::Secret;

const TOLERANCE: i64 = 300;

fn keyring(secret: &str) -> Keyring {
    let secret = KeyringSecret::new("s0", &Secret::new(secret), None);
    Keyring::new(KeyringKind::Webhook, vec![secret])
}

fn secret_text() -> impl Strategy<Value = String> {
    "whsec_[ -~]{0,40}"
}

fn timestamp() -> impl Strategy<Value = i64> {
    0i64..=999_999_999_999
}

/// Replaces the byte at `index % len` with a different byte `flip` away.
fn flip(bytes: &mut [u8], index: usize, flip: u8) {
    let at = index % bytes.len();
    bytes[at] ^= flip.max(1);
}

proptest! {
    #[test]
    fn signed_payloads_verify(
        secret in secret_text(),
        payload in proptest::collection::vec(any::<u8>(), 1..512),
        t in timestamp(),
        skew in -TOLERANCE..=TOLERANCE,
    ) {
        let header = signature_header(&[&Secret::new(secret.as_str())], t, &payload);
        let verified = verify_raw(&header, &payload, &keyring(&secret), t + skew, TOLERANCE);
        prop_assert_eq!(verified.map(|v| (v.timestamp, v.secret_index)), Ok((t, 0)));
    }

    #[test]
    fn a_changed_payload_byte_is_rejected(
        secret in secret_text(),
        payload in proptest::collection::vec(any::<u8>(), 1..512),
        t in timestamp(),
        index in any::<usize>(),
        mask in any::<u8>(),
    ) {
        let header = signature_header(&[&Secret::new(secret.as_str())], t, &payload);
        let mut tampered = payload.clone();
        flip(&mut tampered, index, mask);
        let result = verify_raw(&header, &tampered, &keyring(&secret), t, TOLERANCE);
        prop_assert_eq!(result, Err(Rejection::SignatureMismatch));
    }

    #[test]
    fn a_changed_signature_byte_is_rejected(
        secret in secret_text(),
        payload in proptest::collection::vec(any::<u8>(), 1..64),
        t in timestamp(),
        index in 0usize..64,
        replacement in 0x20u8..0x7f,
    ) {
        let mut hex = compute_signature(&Secret::new(secret.as_str()), t, &payload).into_bytes();
        prop_assume!(hex[index] != replacement);
        hex[index] = replacement;
        let hex = String::from_utf8(hex).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let header = format!("t={t},v1={hex}");
        prop_assert!(verify_raw(&header, &payload, &keyring(&secret), t, TOLERANCE).is_err());
    }

    #[test]
    fn a_changed_timestamp_digit_is_rejected(
        secret in secret_text(),
        payload in proptest::collection::vec(any::<u8>(), 1..64),
        t in timestamp(),
        index in any::<usize>(),
        replacement in 0x20u8..0x7f,
    ) {
        let signature = compute_signature(&Secret::new(secret.as_str()), t, &payload);
        let mut digits = t.to_string().into_bytes();
        let at = index % digits.len();
        prop_assume!(digits[at] != replacement);
        digits[at] = replacement;
        let digits = String::from_utf8(digits).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let header = format!("t={digits},v1={signature}");
        prop_assert!(verify_raw(&header, &payload, &keyring(&secret), t, TOLERANCE).is_err());
    }

    #[test]
    fn a_changed_secret_byte_is_rejected(
        secret in secret_text(),
        payload in proptest::collection::vec(any::<u8>(), 1..64),
        t in timestamp(),
        index in any::<usize>(),
        mask in 1u8..0x80,
    ) {
        let header = signature_header(&[&Secret::new(secret.as_str())], t, &payload);
        let mut other = secret.clone().into_bytes();
        flip(&mut other, index, mask);
        // Flipping within 7 bits keeps ASCII, hence valid UTF-8.
        let other = String::from_utf8(other).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let result = verify_raw(&header, &payload, &keyring(&other), t, TOLERANCE);
        prop_assert_eq!(result, Err(Rejection::SignatureMismatch));
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(value in "[ -~]{0,200}") {
        let _ = SignatureHeader::parse(&value);
    }
}
