use super::*;
use crate::auth::signature::{compute_signature, signature_header};
use crate::auth::verify::verify_raw;
use crate::auth::Rejection;

const NOW: i64 = 1_767_225_600;

fn header(secrets: &[&str], payload: &[u8]) -> String {
    let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
    let refs: Vec<&Secret> = secrets.iter().collect();
    signature_header(&refs, NOW, payload)
}

fn ring(secrets: &[(&str, Option<i64>)]) -> Keyring {
    let secrets = secrets
        .iter()
        .enumerate()
        .map(|(i, (secret, not_after))| {
            KeyringSecret::new(format!("s{i}"), &Secret::new(*secret), *not_after)
        })
        .collect();
    Keyring::new(KeyringKind::Webhook, secrets)
}

fn find(ring: &Keyring, header: &str, payload: &[u8], now: i64) -> Option<(usize, usize)> {
    let parsed = SignatureHeader::parse(header).ok()?;
    ring.find_match(&parsed, payload, now)
}

#[test]
fn kinds_name_their_family() {
    assert_eq!(KeyringKind::App.prefix(), "absec_");
    assert_eq!(KeyringKind::Webhook.prefix(), "whsec_");
    assert_eq!(KeyringKind::App.as_str(), "app");
    assert_eq!(KeyringKind::Webhook.as_str(), "webhook");
}

#[test]
fn expiry_ends_exactly_at_not_after() {
    let secret = KeyringSecret::new("old", &Secret::new("whsec_old"), Some(NOW));
    assert!(secret.is_active(NOW - 1));
    assert!(!secret.is_active(NOW));
    assert!(KeyringSecret::new("k", &Secret::new("whsec_k"), None).is_active(i64::MAX));

    let ring = ring(&[("whsec_old", Some(NOW))]);
    let signed = header(&["whsec_old"], b"x");
    assert_eq!(find(&ring, &signed, b"x", NOW - 1), Some((0, 0)));
    assert_eq!(find(&ring, &signed, b"x", NOW), None);
    let rejected = verify_raw(&signed, b"x", &ring, NOW, 300);
    assert_eq!(rejected, Err(Rejection::SignatureMismatch));
}

#[test]
fn rotation_matches_any_v1_against_any_active_secret() {
    let both = ring(&[("whsec_new", None), ("whsec_old", Some(NOW + 10))]);
    let new_only = header(&["whsec_new"], b"x");
    let old_only = header(&["whsec_old"], b"x");
    let old_then_new = header(&["whsec_old", "whsec_new"], b"x");
    let junk_then_old = format!(
        "t={NOW},v1={},v1=zz,v1={}",
        compute_signature(&Secret::new("whsec_other"), NOW, b"x"),
        compute_signature(&Secret::new("whsec_old"), NOW, b"x"),
    );
    assert_eq!(find(&both, &new_only, b"x", NOW), Some((0, 0)));
    assert_eq!(find(&both, &old_only, b"x", NOW), Some((1, 0)));
    assert_eq!(find(&both, &old_then_new, b"x", NOW), Some((0, 1)));
    assert_eq!(find(&both, &junk_then_old, b"x", NOW), Some((1, 2)));
    assert_eq!(find(&both, &old_only, b"x", NOW + 10), None);
    assert_eq!(find(&both, &old_then_new, b"x", NOW + 10), Some((0, 1)));
    assert_eq!(find(&both, &new_only, b"y", NOW), None);
}

#[test]
fn verified_names_the_secret_that_matched() {
    let both = ring(&[("whsec_new", None), ("whsec_old", None)]);
    let verified = verify_raw(&header(&["whsec_old"], b"x"), b"x", &both, NOW, 300);
    assert_eq!(verified.map(|v| v.secret_index), Ok(1));
}

#[test]
fn empty_keyring_matches_nothing() {
    let empty = Keyring::new(KeyringKind::App, Vec::new());
    assert_eq!(find(&empty, &header(&["absec_a"], b"x"), b"x", NOW), None);
}

#[test]
fn whole_secret_string_is_the_key() {
    // Dropping the prefix must change the MAC: the prefix is part of the key (rule 6).
    let ring = ring(&[("whsec_abc", None)]);
    assert_eq!(find(&ring, &header(&["abc"], b"x"), b"x", NOW), None);
    assert_eq!(
        find(&ring, &header(&["whsec_abc"], b"x"), b"x", NOW),
        Some((0, 0))
    );
}

#[test]
fn debug_hides_secret_material() {
    let ring = ring(&[("whsec_very_secret_value", Some(5))]);
    let text = format!("{ring:?} {:?}", ring.secrets()[0]);
    assert!(!text.contains("very_secret_value"), "{text}");
    assert!(text.contains("s0") && text.contains("Webhook") && text.contains("not_after"));
    assert_eq!(ring.kind(), KeyringKind::Webhook);
    assert_eq!(ring.secrets()[0].id(), "s0");
    assert_eq!(ring.secrets()[0].not_after(), Some(5));
}
