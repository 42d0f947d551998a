use super::*;
use crate::auth::signature::signature_header;
use crate::auth::{KeyringKind, KeyringSecret};
use crate::secret::Secret;

const SECRET: &str = "absec_test";
const NOW: i64 = 1_767_225_600;
const DEFAULT: &str = r#"{"user_id":"usr_1","account_id":"acct_1"}"#;
const WITH_EXTRA: &str = r#"{"setting":"dark","user_id":"usr_1","account_id":"acct_1"}"#;
const WITH_ROLES: &str = r#"{"stripe_roles":[{"id":"admin","name":"A","type":"builtIn"},{"name":"B","type":"custom"}],"user_id":"usr_1","account_id":"acct_1"}"#;

fn ring() -> Keyring {
    let secret = KeyringSecret::new("s0", &Secret::new(SECRET), None);
    Keyring::new(KeyringKind::App, vec![secret])
}

fn sign_at(t: i64, signed: &str) -> String {
    signature_header(&[&Secret::new(SECRET)], t, signed.as_bytes())
}

fn verify(signed: &str, body: &str, mode: AppMode) -> Result<AppIdentity, Rejection> {
    verify_app(
        &sign_at(NOW, signed),
        body.as_bytes(),
        &ring(),
        mode,
        NOW,
        300,
    )
}

fn outcome(
    result: Result<AppIdentity, Rejection>,
) -> Result<(VerifiedMode, Option<Vec<String>>), Rejection> {
    result.map(|identity| (identity.mode, identity.roles))
}

#[test]
fn mode_names() {
    assert_eq!(AppMode::RawBody.as_str(), "raw_body");
    assert_eq!(AppMode::Default.as_str(), "default");
    assert_eq!(AppMode::RawBodyOrDefault.as_str(), "raw_body_or_default");
    assert_eq!(VerifiedMode::RawBody.as_str(), "raw_body");
    assert_eq!(
        VerifiedMode::ReconstructedDefault.as_str(),
        "reconstructed_default"
    );
}

#[test]
fn raw_body_is_tried_first_and_authenticates_roles() {
    let identity = verify(WITH_ROLES, WITH_ROLES, AppMode::RawBodyOrDefault);
    assert_eq!(
        outcome(identity),
        Ok((VerifiedMode::RawBody, Some(vec!["admin".to_owned()])))
    );
    let identity = verify(DEFAULT, DEFAULT, AppMode::RawBodyOrDefault);
    assert_eq!(outcome(identity), Ok((VerifiedMode::RawBody, None)));
}

#[test]
fn default_mode_authenticates_ids_only() {
    let identity = verify(DEFAULT, WITH_EXTRA, AppMode::RawBodyOrDefault).expect("mode B");
    assert_eq!(
        (identity.user_id.as_str(), identity.account_id.as_str()),
        ("usr_1", "acct_1")
    );
    assert_eq!(
        (identity.mode, identity.roles),
        (VerifiedMode::ReconstructedDefault, None)
    );
    assert_eq!(identity.verified.timestamp, NOW);
}

#[test]
fn unsigned_roles_in_a_default_body_are_not_trusted() {
    let identity = verify(DEFAULT, WITH_ROLES, AppMode::RawBodyOrDefault);
    assert_eq!(
        outcome(identity),
        Ok((VerifiedMode::ReconstructedDefault, None))
    );
}

#[test]
fn raw_body_mode_never_accepts_a_default_signature() {
    let result = verify(DEFAULT, WITH_EXTRA, AppMode::RawBody);
    assert_eq!(outcome(result), Err(Rejection::SignatureMismatch));
    // Not even an unparseable body is read when the raw signature does not match.
    let result = verify(DEFAULT, "not json", AppMode::RawBody);
    assert_eq!(outcome(result), Err(Rejection::SignatureMismatch));
}

#[test]
fn default_mode_never_uses_the_raw_body() {
    let result = verify(WITH_ROLES, WITH_ROLES, AppMode::Default);
    assert_eq!(outcome(result), Err(Rejection::SignatureMismatch));
    let identity = verify(DEFAULT, DEFAULT, AppMode::Default);
    assert_eq!(
        outcome(identity),
        Ok((VerifiedMode::ReconstructedDefault, None))
    );
}

#[test]
fn authenticated_raw_body_must_be_strict_json() {
    for body in [
        "not json",
        r#"{"user_id":"u"}"#,
        r#"{"user_id":"u","account_id":"a","user_id":"v"}"#,
    ] {
        let result = verify(body, body, AppMode::RawBodyOrDefault);
        assert_eq!(outcome(result), Err(Rejection::MalformedBody), "{body}");
        let result = verify(body, body, AppMode::RawBody);
        assert_eq!(outcome(result), Err(Rejection::MalformedBody), "{body}");
    }
}

#[test]
fn mode_b_distinguishes_unparseable_from_mismatch() {
    let result = verify("something else", "not json", AppMode::RawBodyOrDefault);
    assert_eq!(outcome(result), Err(Rejection::MalformedBody));
    let tampered = r#"{"user_id":"usr_2","account_id":"acct_1"}"#;
    let result = verify(DEFAULT, tampered, AppMode::Default);
    assert_eq!(outcome(result), Err(Rejection::SignatureMismatch));
}

#[test]
fn header_and_empty_body_come_first() {
    let keyring = ring();
    let run = |header: &str, body: &[u8]| {
        outcome(verify_app(
            header,
            body,
            &keyring,
            AppMode::RawBodyOrDefault,
            NOW,
            300,
        ))
    };
    assert_eq!(run("", b"x"), Err(Rejection::MissingHeader));
    assert_eq!(run("t=01,v1=ab", b"x"), Err(Rejection::MalformedHeader));
    assert_eq!(run("t=1", b""), Err(Rejection::NoV1Signature));
    assert_eq!(run(&sign_at(NOW, ""), b""), Err(Rejection::EmptyPayload));
}

#[test]
fn timestamp_is_checked_after_the_signature_in_both_modes() {
    let keyring = ring();
    for body in [DEFAULT, WITH_EXTRA] {
        let run = |t: i64| {
            let header = sign_at(t, DEFAULT);
            let mode = AppMode::RawBodyOrDefault;
            outcome(verify_app(
                &header,
                body.as_bytes(),
                &keyring,
                mode,
                NOW,
                300,
            ))
        };
        assert!(run(NOW - 300).is_ok(), "{body}");
        assert!(run(NOW + 300).is_ok(), "{body}");
        assert_eq!(run(NOW - 301), Err(Rejection::TimestampTooOld), "{body}");
        assert_eq!(run(NOW + 301), Err(Rejection::TimestampInFuture), "{body}");
    }
    let wrong = signature_header(
        &[&Secret::new("absec_other")],
        NOW - 3600,
        DEFAULT.as_bytes(),
    );
    let mode = AppMode::RawBodyOrDefault;
    let result = verify_app(&wrong, DEFAULT.as_bytes(), &keyring, mode, NOW, 300);
    assert_eq!(outcome(result), Err(Rejection::SignatureMismatch));
}

#[test]
fn stale_raw_body_is_rejected_before_the_body_is_read() {
    let header = sign_at(NOW - 301, "not json");
    let result = verify_app(&header, b"not json", &ring(), AppMode::RawBody, NOW, 300);
    assert_eq!(outcome(result), Err(Rejection::TimestampTooOld));
}
