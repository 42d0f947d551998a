//! The authentication hot path, as the gateway runs it for the bench harness's signed request:
//! `Stripe-Signature` parse + HMAC verification + identity extraction (`verify_app`), the
//! identity extraction alone (strict JSON), a webhook verification, and a wrong signature (the
//! rejection path). `cargo bench --bench auth`.
//!
//! HMAC-SHA256 uses SHA-NI where the CPU has it; under valgrind (which hides it) SHA-256 runs in
//! software and dominates `bench/icount.sh`'s verify figure.

#![allow(
    missing_docs,
    reason = "criterion_group! defines undocumented functions"
)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use stripe_app_gateway::auth::{
    parse_app_body, signature_header, verify_app, verify_webhook, AppMode, Keyring, KeyringKind,
    KeyringSecret,
};
use stripe_app_gateway::secret::Secret;

/// The harness's 63-byte body.
const BODY: &[u8] = br#"{"user_id":"usr_bench_0001","account_id":"acct_bench_0001_xyz"}"#;
const EVENT: &[u8] = br#"{"id":"evt_1","object":"event","type":"invoice.paid","livemode":false,"account":"acct_1","data":{"object":{"id":"in_1"}}}"#;
const NOW: i64 = 1_767_225_600;

fn keyring(kind: KeyringKind, secret: &Secret) -> Keyring {
    Keyring::new(kind, vec![KeyringSecret::new("bench", secret, None)])
}

fn auth(c: &mut Criterion) {
    let app_secret = Secret::new("absec_bench_0123456789abcdef0123456789abcdef");
    let app = keyring(KeyringKind::App, &app_secret);
    let header = signature_header(&[&app_secret], NOW, BODY);
    c.bench_function(
        "verify_app: parse header, HMAC, identity (63-byte body)",
        |b| {
            b.iter(|| {
                verify_app(
                    black_box(&header),
                    black_box(BODY),
                    &app,
                    AppMode::RawBodyOrDefault,
                    NOW,
                    300,
                )
            })
        },
    );
    let wrong = signature_header(&[&Secret::new("absec_other_0123456789abcdef")], NOW, BODY);
    c.bench_function("verify_app: wrong v1 (rejected after the HMAC)", |b| {
        b.iter(|| {
            verify_app(
                black_box(&wrong),
                black_box(BODY),
                &app,
                AppMode::RawBody,
                NOW,
                300,
            )
        })
    });
    c.bench_function("identity extraction: strict JSON body parse", |b| {
        b.iter(|| parse_app_body(black_box(BODY)).map(|fields| fields.user_id.len()))
    });
    let hook_secret = Secret::new("whsec_bench_0123456789abcdef0123456789abcdef");
    let hooks = keyring(KeyringKind::Webhook, &hook_secret);
    let hook_header = signature_header(&[&hook_secret], NOW, EVENT);
    c.bench_function("verify_webhook: parse header, HMAC (120-byte event)", |b| {
        b.iter(|| verify_webhook(black_box(&hook_header), black_box(EVENT), &hooks, NOW, 300))
    });
}

criterion_group!(benches, auth);
criterion_main!(benches);
