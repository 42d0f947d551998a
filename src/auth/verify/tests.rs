use super::*;
use crate::auth::signature::{compute_signature, signature_header};
use crate::auth::{KeyringKind, KeyringSecret};
use crate::secret::Secret;

const SECRET: &str = "whsec_test_secret";
const NOW: i64 = 1_767_225_600;

fn keyring(secrets: &[&str]) -> Keyring {
    let secrets = secrets
        .iter()
        .enumerate()
        .map(|(index, secret)| KeyringSecret::new(format!("s{index}"), &Secret::new(*secret), None))
        .collect();
    Keyring::new(KeyringKind::Webhook, secrets)
}

fn signed(timestamp: i64, payload: &[u8]) -> String {
    signature_header(&[&Secret::new(SECRET)], timestamp, payload)
}

fn decoded(hex: &str) -> [u8; 32] {
    crate::auth::mac::decode_lower_hex(hex).expect("test signature is 64 lowercase hex digits")
}

#[test]
fn check_order_is_header_payload_signature_timestamp() {
    let ring = keyring(&[SECRET]);
    assert_eq!(
        verify_raw("", b"", &ring, NOW, 300),
        Err(Rejection::MissingHeader)
    );
    assert_eq!(
        verify_raw("t=1", b"", &ring, NOW, 300),
        Err(Rejection::NoV1Signature)
    );
    let old = signed(NOW - 3600, b"");
    assert_eq!(
        verify_raw(&old, b"", &ring, NOW, 300),
        Err(Rejection::EmptyPayload)
    );
    let wrong = signature_header(&[&Secret::new("whsec_other")], NOW - 3600, b"x");
    assert_eq!(
        verify_raw(&wrong, b"x", &ring, NOW, 300),
        Err(Rejection::SignatureMismatch)
    );
    let old = signed(NOW - 3600, b"x");
    assert_eq!(
        verify_raw(&old, b"x", &ring, NOW, 300),
        Err(Rejection::TimestampTooOld)
    );
}

#[test]
fn timestamp_window_is_inclusive_in_both_directions() {
    let ring = keyring(&[SECRET]);
    let check = |t: i64| verify_raw(&signed(t, b"x"), b"x", &ring, NOW, 300).map(|v| v.timestamp);
    assert_eq!(check(NOW - 300), Ok(NOW - 300));
    assert_eq!(check(NOW - 301), Err(Rejection::TimestampTooOld));
    assert_eq!(check(NOW + 300), Ok(NOW + 300));
    assert_eq!(check(NOW + 301), Err(Rejection::TimestampInFuture));
    assert_eq!(check(NOW), Ok(NOW));
}

#[test]
fn extreme_clock_values_do_not_overflow() {
    let ring = keyring(&[SECRET]);
    let header = signed(0, b"x");
    assert_eq!(
        verify_raw(&header, b"x", &ring, i64::MAX, 300),
        Err(Rejection::TimestampTooOld)
    );
    assert_eq!(
        verify_raw(&header, b"x", &ring, i64::MIN, 300),
        Err(Rejection::TimestampInFuture)
    );
    assert_eq!(
        verify_raw(&header, b"x", &ring, 0, 0).map(|v| v.timestamp),
        Ok(0)
    );
}

#[test]
fn uppercase_hex_never_matches() {
    let ring = keyring(&[SECRET]);
    let upper = signed(NOW, b"x")
        .to_ascii_uppercase()
        .replacen("T=", "t=", 1);
    let upper = upper.replace("V1=", "v1=");
    assert_eq!(
        verify_raw(&upper, b"x", &ring, NOW, 300),
        Err(Rejection::SignatureMismatch)
    );
}

#[test]
fn verified_carries_the_decoded_signature() {
    let ring = keyring(&[SECRET]);
    let hex = compute_signature(&Secret::new(SECRET), NOW, b"x");
    let verified = verify_raw(&format!("t={NOW},v1={hex}"), b"x", &ring, NOW, 300);
    assert_eq!(verified.map(|v| v.signature), Ok(decoded(&hex)));
}
