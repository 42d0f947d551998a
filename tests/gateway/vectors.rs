//! Known-answer tests: every public Stripe-Signature vector (generated with stripe-node 23.1.0
//! as oracle) through the gateway's verification entry points. Rule 27 of the reference.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;

use stripe_app_gateway::auth::{
    verify_app, verify_webhook, AppMode, Keyring, KeyringKind, KeyringSecret, VerifiedMode,
};
use stripe_app_gateway::secret::Secret;

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/stripe-vectors-public.json"
);

#[derive(Deserialize)]
struct VectorFile {
    count: usize,
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    name: String,
    kind: String,
    secrets: Vec<String>,
    header: String,
    payload_base64: String,
    body_base64: Option<String>,
    user_id: Option<String>,
    account_id: Option<String>,
    verification_mode: Option<String>,
    now: i64,
    tolerance: i64,
    expected: String,
    #[serde(default)]
    acceptable_alternatives: Vec<String>,
}

#[test]
fn public_vectors() {
    let text = std::fs::read_to_string(VECTORS).expect("vector file is readable");
    let file: VectorFile = serde_json::from_str(&text).expect("vector file parses");
    assert_eq!(file.count, 48);
    assert_eq!(file.vectors.len(), 48);

    let failures: Vec<String> = file
        .vectors
        .iter()
        .filter_map(|vector| check(vector).err())
        .collect();
    for failure in &failures {
        println!("FAILED {failure}");
    }
    assert!(
        failures.is_empty(),
        "{} vector(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn both_kinds_are_covered() {
    let text = std::fs::read_to_string(VECTORS).expect("vector file is readable");
    let file: VectorFile = serde_json::from_str(&text).expect("vector file parses");
    let webhooks = file.vectors.iter().filter(|v| v.kind == "webhook").count();
    let apps = file.vectors.iter().filter(|v| v.kind == "app").count();
    assert_eq!((webhooks, apps), (33, 15));
}

/// Runs one vector; `Err` describes the failure, starting with the vector's name.
fn check(vector: &Vector) -> Result<(), String> {
    let fail = |what: String| format!("{}: {what}", vector.name);
    let keyring = keyring(vector).map_err(fail)?;
    let (code, identity) = match vector.kind.as_str() {
        "webhook" => {
            let payload = decode(&vector.payload_base64).map_err(fail)?;
            let result = verify_webhook(
                &vector.header,
                &payload,
                &keyring,
                vector.now,
                vector.tolerance,
            );
            (result.map(|_| ()).err(), None)
        }
        "app" => {
            let body = vector
                .body_base64
                .as_deref()
                .ok_or("no body_base64".to_owned());
            let body = body.and_then(decode).map_err(fail)?;
            let result = verify_app(
                &vector.header,
                &body,
                &keyring,
                AppMode::RawBodyOrDefault,
                vector.now,
                vector.tolerance,
            );
            match result {
                Ok(identity) => (None, Some(identity)),
                Err(rejection) => (Some(rejection), None),
            }
        }
        other => return Err(fail(format!("unknown kind {other:?}"))),
    };
    let code = code.map_or("ok", |rejection| rejection.code());
    let acceptable =
        code == vector.expected || vector.acceptable_alternatives.iter().any(|a| a == code);
    if !acceptable {
        return Err(fail(format!(
            "got {code}, expected {} (or {:?})",
            vector.expected, vector.acceptable_alternatives
        )));
    }
    match identity {
        Some(identity) => check_identity(vector, &identity).map_err(fail),
        None => Ok(()),
    }
}

fn check_identity(
    vector: &Vector,
    identity: &stripe_app_gateway::auth::AppIdentity,
) -> Result<(), String> {
    let mode = match identity.mode {
        VerifiedMode::RawBody => "raw_body",
        VerifiedMode::ReconstructedDefault => "reconstructed_default",
    };
    if vector.verification_mode.as_deref() != Some(mode) {
        return Err(format!(
            "verified as {mode}, expected {:?}",
            vector.verification_mode
        ));
    }
    if vector.user_id.as_deref() != Some(identity.user_id.as_str())
        || vector.account_id.as_deref() != Some(identity.account_id.as_str())
    {
        return Err(format!(
            "identity {}/{} differs from {:?}/{:?}",
            identity.user_id, identity.account_id, vector.user_id, vector.account_id
        ));
    }
    Ok(())
}

fn keyring(vector: &Vector) -> Result<Keyring, String> {
    let kind = match vector.kind.as_str() {
        "app" => KeyringKind::App,
        "webhook" => KeyringKind::Webhook,
        other => return Err(format!("unknown kind {other:?}")),
    };
    let secrets = vector
        .secrets
        .iter()
        .enumerate()
        .map(|(index, secret)| {
            if !secret.starts_with(kind.prefix()) {
                return Err(format!("secret {index} lacks the {} prefix", kind.prefix()));
            }
            Ok(KeyringSecret::new(
                format!("s{index}"),
                &Secret::new(secret.as_str()),
                None,
            ))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Keyring::new(kind, secrets))
}

fn decode(text: &str) -> Result<Vec<u8>, String> {
    STANDARD
        .decode(text)
        .map_err(|error| format!("bad base64: {error}"))
}
