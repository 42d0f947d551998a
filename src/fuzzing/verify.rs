//! `verify` and `identity`: signature verification end to end (rules 6–12, 20–26) with a fixed
//! keyring and a fixed `now`, against an oracle that signs with [`compute_signature`] (the
//! signing path, not the verifier's key search).

use std::sync::OnceLock;

use http::{HeaderMap, HeaderValue};

use crate::auth::{
    compute_signature, default_payload, header_value, parse_app_body, signature_header, verify_app,
    verify_raw, verify_webhook, AppIdentity, AppMode, Keyring, KeyringKind, KeyringSecret,
    Rejection, SignatureHeader, Verified, VerifiedMode, HEADER_NAME,
};
use crate::secret::Secret;

use super::json::{app_fields, AppFields};

/// The fixed `now` (the public vectors' `now`), Unix seconds.
const NOW: i64 = 1_767_225_600;
/// The fixed tolerance (the public vectors' and the configuration default).
const TOLERANCE: i64 = 300;
/// The secret of each keyring that expired one second before [`NOW`].
const RETIRED: usize = 2;

/// Webhook secrets (the public vectors' two, then a retired one).
const WEBHOOK_SECRETS: [&str; 3] = [
    "whsec_pub1Xq7tN4mR8vK2cL5yH9bW3eJ6dF0gS1aZ",
    "whsec_pub0Old8Pq3rT6uV9wX2yZ5aB8cD1eF4gH7",
    "whsec_fuzzRetired0000000000000000000000000",
];
/// App secrets (the public vectors' two, then a retired one).
const APP_SECRETS: [&str; 3] = [
    "absec_pub1Zk3Lm5Nn7Pp9Qq2Rr4Ss6Tt8Uu0Vv2Ww",
    "absec_pub0Aa1Bb2Cc3Dd4Ee5Ff6Gg7Hh8Ii9Jj0K",
    "absec_fuzzRetired0000000000000000000000000",
];

/// A keyring and the plain secrets it was built from.
struct Fixture {
    keyring: Keyring,
    secrets: Vec<Secret>,
}

fn fixture(kind: KeyringKind) -> &'static Fixture {
    static WEBHOOK: OnceLock<Fixture> = OnceLock::new();
    static APP: OnceLock<Fixture> = OnceLock::new();
    let (cell, texts) = match kind {
        KeyringKind::Webhook => (&WEBHOOK, WEBHOOK_SECRETS),
        KeyringKind::App => (&APP, APP_SECRETS),
    };
    cell.get_or_init(|| {
        let secrets: Vec<Secret> = texts.into_iter().map(Secret::new).collect();
        let entries = secrets.iter().enumerate().map(|(index, secret)| {
            let not_after = (index == RETIRED).then_some(NOW - 1);
            KeyringSecret::new(format!("s{index}"), secret, not_after)
        });
        Fixture {
            keyring: Keyring::new(kind, entries.collect()),
            secrets,
        }
    })
}

/// First byte: the mode. Even: `header \n body` from the input, verified and compared with the
/// oracle (bits 1–2: webhook, or app with mode `raw_body`, `default`, `raw_body_or_default`).
/// Odd: a correctly signed message, which must verify exactly as its timestamp and secret say,
/// and must stop verifying when one byte of its body, its header or its secret changes (see
/// [`signed`] for the layout).
pub fn verify(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if selector & 1 == 0 {
        let (header, body) = match rest.iter().position(|&byte| byte == b'\n') {
            Some(at) => (&rest[..at], &rest[at + 1..]),
            None => (rest, &[][..]),
        };
        received(selector >> 1, header, body);
    } else {
        signed(selector >> 1, rest);
    }
}

/// A header and body as a client sent them, through rule 1 and then verification.
fn received(kind: u8, header: &[u8], body: &[u8]) {
    let Ok(value) = HeaderValue::from_bytes(header) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(HEADER_NAME, value);
    // The gateway refuses a header rule 1 rejects before it verifies anything.
    let text = header_value(&headers).unwrap_or("");
    match kind % 4 {
        0 => {
            let webhook = fixture(KeyringKind::Webhook);
            let got = verify_raw(text, body, &webhook.keyring, NOW, TOLERANCE);
            let same = verify_webhook(text, body, &webhook.keyring, NOW, TOLERANCE);
            assert_eq!(got, same);
            assert_eq!(got, oracle_raw(text, body, webhook), "{text:?}");
        }
        mode => {
            let mode = [
                AppMode::RawBody,
                AppMode::Default,
                AppMode::RawBodyOrDefault,
            ][usize::from(mode - 1)];
            let app = fixture(KeyringKind::App);
            let got = verify_app(text, body, &app.keyring, mode, NOW, TOLERANCE);
            assert_eq!(
                outcome(got),
                oracle_app(text, body, mode),
                "{text:?} {mode:?}"
            );
        }
    }
}

/// Layout after the selector (bit 1: app instead of webhook; bits 2–7: secret index modulo
/// 3): two bytes of signed offset from [`NOW`], two bytes of flip position, one byte of flip
/// mask, then the body.
fn signed(selector: u8, rest: &[u8]) {
    let byte = |index: usize| rest.get(index).copied().unwrap_or(0);
    let kind = if selector & 1 == 0 {
        KeyringKind::Webhook
    } else {
        KeyringKind::App
    };
    let index = usize::from(selector >> 1) % 3;
    let timestamp = NOW + i64::from(i16::from_le_bytes([byte(0), byte(1)]));
    let position = usize::from(u16::from_le_bytes([byte(2), byte(3)]));
    let mask = byte(4).max(1);
    let body = rest.get(5..).unwrap_or_default();
    let fixture = fixture(kind);
    let secret = &fixture.secrets[index];
    let header = signature_header(&[secret], timestamp, body);
    let verified = Verified {
        timestamp,
        secret_index: index,
        signature: decode(&compute_signature(secret, timestamp, body)),
    };
    let expected = if body.is_empty() {
        Err(Rejection::EmptyPayload)
    } else if index == RETIRED {
        Err(Rejection::SignatureMismatch)
    } else {
        window(timestamp).map(|()| verified)
    };
    let check = |header: &str, body: &[u8]| match kind {
        KeyringKind::Webhook => verify_raw(header, body, &fixture.keyring, NOW, TOLERANCE),
        KeyringKind::App => {
            let app = verify_app(
                header,
                body,
                &fixture.keyring,
                AppMode::RawBody,
                NOW,
                TOLERANCE,
            );
            app.map(|identity| identity.verified)
        }
    };
    let got = check(&header, body);
    match (kind, expected) {
        // An app body must also parse once its signature holds (rule 21).
        (KeyringKind::App, Ok(_)) if parse_app_body(body).is_err() => {
            assert_eq!(got, Err(Rejection::MalformedBody));
        }
        (_, expected) => assert_eq!(got, expected, "{header:?}"),
    }
    if got.is_err() {
        return;
    }
    let mut flipped = body.to_vec();
    flipped[position % body.len()] ^= mask;
    assert_eq!(check(&header, &flipped), Err(Rejection::SignatureMismatch));
    let mut flipped = header.clone().into_bytes();
    let at = position % flipped.len();
    flipped[at] = visible_other(flipped[at], mask);
    let flipped = String::from_utf8(flipped).unwrap_or_default();
    assert!(check(&flipped, body).is_err(), "{flipped:?} still verifies");
    let mut other = secret.expose().as_bytes().to_vec();
    let at = position % other.len();
    other[at] = visible_other(other[at], mask);
    let other = Secret::new(String::from_utf8(other).unwrap_or_default());
    let forged = signature_header(&[&other], timestamp, body);
    assert_eq!(check(&forged, body), Err(Rejection::SignatureMismatch));
}

/// `identity`: the input is an app body. Signed over its exact bytes (mode A), it verifies
/// exactly when it parses, and yields its user, account and roles; signed over the rebuilt
/// default payload (mode B), it yields the user and account and never roles; the default
/// payload itself parses back to the same user and account.
pub fn identity(data: &[u8]) {
    let app = fixture(KeyringKind::App);
    let secret = &app.secrets[0];
    let run =
        |header: &str, mode| outcome(verify_app(header, data, &app.keyring, mode, NOW, TOLERANCE));
    let raw_header = signature_header(&[secret], NOW, data);
    let parsed = parse_app_body(data).map(|body| app_fields(&body));
    let claimed = |mode| {
        parsed.clone().map(|(user, account, roles)| {
            let roles = roles.map(|roles| roles.into_iter().flatten().collect());
            (user, account, roles, mode)
        })
    };
    if data.is_empty() {
        for mode in [
            AppMode::RawBody,
            AppMode::Default,
            AppMode::RawBodyOrDefault,
        ] {
            assert_eq!(
                run(&raw_header, mode).map(drop),
                Err(Rejection::EmptyPayload)
            );
        }
        return;
    }
    let raw_identity = claimed(VerifiedMode::RawBody);
    assert_eq!(run(&raw_header, AppMode::RawBody).map(fst), raw_identity);
    assert_eq!(
        run(&raw_header, AppMode::RawBodyOrDefault).map(fst),
        raw_identity
    );
    let Ok((user, account, _)) = parsed.clone() else {
        assert_eq!(
            run(&raw_header, AppMode::Default),
            Err(Rejection::MalformedBody)
        );
        return;
    };
    let payload = default_payload(&user, &account);
    let rebuilt = parse_app_body(&payload).map(|body| app_fields(&body));
    assert_eq!(
        rebuilt,
        Ok((user.clone(), account.clone(), None)),
        "{payload:?}"
    );
    let default_header = signature_header(&[secret], NOW, &payload);
    let default_identity = Ok((user, account, None, VerifiedMode::ReconstructedDefault));
    let body_is_payload = data == payload.as_slice();
    assert_eq!(
        run(&default_header, AppMode::Default).map(fst),
        default_identity
    );
    let either = run(&default_header, AppMode::RawBodyOrDefault).map(fst);
    let raw_only = run(&default_header, AppMode::RawBody).map(fst);
    if body_is_payload {
        assert_eq!(either, raw_identity);
        assert_eq!(raw_only, raw_identity);
    } else {
        assert_eq!(either, default_identity);
        assert_eq!(raw_only, Err(Rejection::SignatureMismatch));
        assert_eq!(
            run(&raw_header, AppMode::Default),
            Err(Rejection::SignatureMismatch)
        );
    }
}

/// An [`AppIdentity`] as comparable values: user, account, role ids, mode; and what verified.
type Outcome = Result<
    (
        (String, String, Option<Vec<String>>, VerifiedMode),
        Verified,
    ),
    Rejection,
>;

fn outcome(result: Result<AppIdentity, Rejection>) -> Outcome {
    result.map(|identity| {
        let fields = (
            identity.user_id,
            identity.account_id,
            identity.roles,
            identity.mode,
        );
        (fields, identity.verified)
    })
}

fn fst<A, B>((first, _): (A, B)) -> A {
    first
}

/// Rules 7–9 restated: the first active secret whose signature (made by the signer) is one of
/// the header's `v1`, then the timestamp window.
fn oracle_raw(header: &str, payload: &[u8], fixture: &Fixture) -> Result<Verified, Rejection> {
    let parsed = SignatureHeader::parse(header)?;
    if payload.is_empty() {
        return Err(Rejection::EmptyPayload);
    }
    let timestamp = parsed.timestamp();
    let (secret_index, signature) = fixture
        .secrets
        .iter()
        .enumerate()
        .filter(|(index, _)| *index != RETIRED)
        .map(|(index, secret)| (index, compute_signature(secret, timestamp, payload)))
        .find(|(_, signature)| parsed.signatures().contains(&signature.as_str()))
        .ok_or(Rejection::SignatureMismatch)?;
    window(timestamp)?;
    Ok(Verified {
        timestamp,
        secret_index,
        signature: decode(&signature),
    })
}

/// Rules 20–26 restated over [`oracle_raw`]: mode A first, then mode B.
fn oracle_app(header: &str, body: &[u8], mode: AppMode) -> Outcome {
    let app = fixture(KeyringKind::App);
    SignatureHeader::parse(header)?;
    if body.is_empty() {
        return Err(Rejection::EmptyPayload);
    }
    if mode != AppMode::Default {
        match oracle_raw(header, body, app) {
            Ok(verified) => {
                let (user, account, roles) = parse_fields(body)?;
                let roles = roles.map(|roles| roles.into_iter().flatten().collect());
                return Ok(((user, account, roles, VerifiedMode::RawBody), verified));
            }
            Err(Rejection::SignatureMismatch) if mode == AppMode::RawBodyOrDefault => {}
            Err(rejection) => return Err(rejection),
        }
    }
    let (user, account, _) = parse_fields(body)?;
    let verified = oracle_raw(header, &default_payload(&user, &account), app)?;
    Ok((
        (user, account, None, VerifiedMode::ReconstructedDefault),
        verified,
    ))
}

fn parse_fields(body: &[u8]) -> Result<AppFields, Rejection> {
    parse_app_body(body).map(|body| app_fields(&body))
}

/// Rule 9 at [`NOW`]: an age or a lead of exactly [`TOLERANCE`] passes.
fn window(timestamp: i64) -> Result<(), Rejection> {
    if NOW - timestamp > TOLERANCE {
        Err(Rejection::TimestampTooOld)
    } else if timestamp - NOW > TOLERANCE {
        Err(Rejection::TimestampInFuture)
    } else {
        Ok(())
    }
}

/// The 32 bytes of a signature this module computed (64 lowercase hex digits).
fn decode(hex: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.as_bytes().chunks(2)) {
        let text = std::str::from_utf8(pair).unwrap_or_default();
        *byte = u8::from_str_radix(text, 16).unwrap_or_default();
    }
    out
}

/// A visible ASCII byte other than `byte` (so the result stays header text and UTF-8).
fn visible_other(byte: u8, mask: u8) -> u8 {
    let offset = 1 + mask % 94;
    let index = (byte.wrapping_sub(b' ') % 95 + offset) % 95;
    b' ' + index
}
