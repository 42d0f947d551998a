//! Header rewrite properties: whatever the configured identity prefix, no inbound header under
//! it reaches the upstream, whatever its case, its `_`/`-` mix or how often it is repeated; every
//! other end-to-end header arrives with all its values. Checked on [`headers::rewrite`] itself
//! and through the whole pipeline.

use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use proptest::prelude::*;

use super::*;
use crate::proxy::headers;
use crate::proxy::request_id::RequestId;
use crate::snapshot::IdentityHeaders;

const CASES: u32 = 512;
const PIPELINE_CASES: u32 = 128;
const SPOOF: &str = "spoofed";

/// Names `rewrite` removes or sets for reasons other than the identity prefix.
const GATEWAY_OWNED: [&str; 14] = [
    "connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "http2-settings",
    "host",
    "x-request-id",
    "x-real-ip",
];

/// The identity test, written independently of the gateway's: lowercase, `_` read as `-`.
fn under_prefix(name: &str, prefix: &str) -> bool {
    let normal = |text: &str| text.to_ascii_lowercase().replace('_', "-");
    normal(name).starts_with(&normal(prefix))
}

fn gateway_owned(name: &str) -> bool {
    GATEWAY_OWNED.contains(&name)
        || name == "forwarded"
        || name.starts_with("x-forwarded-")
        || name.starts_with("content-")
}

/// A prefix the config accepts: a token ending in `-`, not shadowing gateway headers.
fn prefix() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("X-Stripe-App-".to_string()),
        "[A-Za-z][A-Za-z0-9]{2,7}([-_][A-Za-z0-9]{1,5}){0,2}-",
    ]
    .prop_filter("reserved", |prefix| {
        let lower = prefix.to_ascii_lowercase().replace('_', "-");
        [
            "x-forwarded-",
            "x-request-id",
            "stripe-signature",
            "content-",
            "host",
        ]
        .iter()
        .all(|reserved| !reserved.starts_with(&lower) && !lower.starts_with(reserved))
    })
}

/// One spelling of a name under `prefix`: each letter in either case, each `-` or `_` as
/// either, and a suffix that may be empty or itself contain `_`.
fn spelling(prefix: &str) -> impl Strategy<Value = String> {
    let chars: Vec<char> = prefix.chars().collect();
    (
        proptest::collection::vec(any::<(bool, bool)>(), chars.len()),
        "[A-Za-z0-9_-]{0,12}",
    )
        .prop_map(move |(choices, suffix)| {
            let mut name: String = chars
                .iter()
                .zip(choices)
                .map(|(c, (upper, underscore))| match c {
                    '-' | '_' if underscore => '_',
                    '-' | '_' => '-',
                    c if upper => c.to_ascii_uppercase(),
                    c => c.to_ascii_lowercase(),
                })
                .collect();
            name.push_str(&suffix);
            name
        })
}

/// Spoofed identity headers under `prefix`, each repeated one to three times.
fn spoofed(prefix: &str) -> impl Strategy<Value = Vec<(String, usize)>> {
    proptest::collection::vec((spelling(prefix), 1usize..=3), 1..8)
}

/// End-to-end headers that must survive: random tokens, and near misses of `prefix` (its name
/// without the final `-`, followed by a letter, as `x-stripe-apps`).
fn kept(prefix: &str) -> impl Strategy<Value = Vec<(String, Vec<String>)>> {
    let stem = prefix.trim_end_matches(['-', '_']).to_string();
    let name = prop_oneof![
        "[a-z][a-z0-9]{0,10}([-_][a-z0-9]{1,8}){0,2}",
        "[a-z0-9]{1,4}".prop_map(move |tail| format!("{stem}{tail}")),
    ];
    let owned = prefix.to_string();
    proptest::collection::vec((name, proptest::collection::vec("[ -~]{0,20}", 1..3)), 0..6)
        .prop_map(move |headers| {
            let mut seen = std::collections::HashSet::new();
            headers
                .into_iter()
                .map(|(name, values)| (name.to_ascii_lowercase(), values))
                .filter(|(name, _)| {
                    !under_prefix(name, &owned)
                        && !gateway_owned(name)
                        && name != "stripe-signature"
                        && seen.insert(name.clone())
                })
                .collect()
        })
}

fn header_name(name: &str) -> Result<HeaderName, TestCaseError> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|e| TestCaseError::fail(format!("{name}: {e}")))
}

fn header_value(value: &str) -> Result<HeaderValue, TestCaseError> {
    HeaderValue::from_str(value).map_err(|e| TestCaseError::fail(format!("{value:?}: {e}")))
}

/// Inbound headers: every spoofed one with the value [`SPOOF`], every kept one with its values,
/// interleaved in generation order.
fn inbound(
    spoofed: &[(String, usize)],
    kept: &[(String, Vec<String>)],
) -> Result<HeaderMap, TestCaseError> {
    let mut headers = HeaderMap::new();
    for (name, times) in spoofed {
        for _ in 0..*times {
            headers.append(header_name(name)?, HeaderValue::from_static(SPOOF));
        }
    }
    for (name, values) in kept {
        for value in values {
            headers.append(header_name(name)?, header_value(value)?);
        }
    }
    Ok(headers)
}

/// What the upstream would receive must hold no header under `prefix` other than the ones the
/// gateway injected (never with the spoofed value), and every kept header with all its values.
fn check_forwarded(
    forwarded: &HeaderMap,
    prefix: &str,
    injected: &[&HeaderName],
    kept: &[(String, Vec<String>)],
) -> Result<(), TestCaseError> {
    for (name, value) in forwarded {
        if under_prefix(name.as_str(), prefix) {
            prop_assert!(injected.contains(&name), "{name} reached the upstream");
            prop_assert_ne!(value.as_bytes(), SPOOF.as_bytes(), "{}", name);
        }
    }
    for (name, values) in kept {
        let arrived: Vec<&[u8]> = forwarded
            .get_all(name.as_str())
            .iter()
            .map(HeaderValue::as_bytes)
            .collect();
        let sent: Vec<&[u8]> = values.iter().map(|v| v.as_bytes()).collect();
        prop_assert_eq!(arrived, sent, "{}", name);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn rewrite_drops_every_spelling_of_the_identity_prefix_and_keeps_the_rest(
        (prefix, spoofed, kept) in prefix().prop_flat_map(|prefix| {
            (Just(prefix.clone()), spoofed(&prefix), kept(&prefix))
        }),
        trusted in any::<bool>(),
    ) {
        let names = IdentityHeaders::new(&prefix);
        let (mut parts, ()) = Request::post("/api/x").body(()).expect("request").into_parts();
        parts.headers = inbound(&spoofed, &kept)?;
        let peer = Peer::new("10.0.0.1".parse().expect("ip"), trusted, "http");
        let request_id = RequestId::Inbound(HeaderValue::from_static("rid"));
        let mut lines = crate::http1::VerbatimFields::new();
        headers::rewrite((&mut parts, &mut lines), &names, &peer, &request_id, None)
            .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        lines.merge_into(&mut parts.headers);
        check_forwarded(&parts.headers, &prefix, &[], &kept)?;
    }
}

const ROUTES: &str = r#"
[[routes]]
id = "ui"
path_prefix = "/api/"
methods = ["POST"]
auth = "app"
keyring = "app"

[[routes]]
id = "hooks"
path = "/webhook"
methods = ["POST"]
auth = "webhook"
keyring = "hooks"

[[routes]]
id = "public"
path_prefix = "/public/"
auth = "none"
"#;

/// A request to one of the three kinds of route: its path and body, signed when it needs to be.
fn request_to(route: u8, headers: &HeaderMap) -> Request<Full<Bytes>> {
    let (path, body, secret): (&str, &[u8], Option<&str>) = match route % 3 {
        0 => (
            "/api/x",
            br#"{"user_id":"usr_1","account_id":"acct_1"}"#,
            Some(APP_SECRET),
        ),
        1 => (
            "/webhook",
            br#"{"id":"evt_1","type":"invoice.paid","livemode":true,"account":"acct_1"}"#,
            Some(WEBHOOK_SECRET),
        ),
        _ => ("/public/x", b"hello", None),
    };
    let mut request = post(path, &[], body.to_vec());
    request.headers_mut().extend(headers.clone());
    if let Some(secret) = secret {
        let header = sign(&[secret], NOW, body);
        let value = HeaderValue::from_str(&header).expect("signature header");
        request.headers_mut().insert("stripe-signature", value);
    }
    request
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(PIPELINE_CASES))]

    #[test]
    fn no_spelling_of_the_identity_prefix_passes_the_pipeline(
        (prefix, spoofed, kept) in prefix().prop_flat_map(|prefix| {
            (Just(prefix.clone()), spoofed(&prefix), kept(&prefix))
        }),
        route in any::<u8>(),
    ) {
        let routes = format!("[identity]\nheader_prefix = \"{prefix}\"\n{ROUTES}");
        let gateway = Harness::new(&routes);
        let request = request_to(route, &inbound(&spoofed, &kept)?);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let answer = runtime
            .block_on(async { tokio::time::timeout(Duration::from_secs(5), gateway.send(request)).await })
            .map_err(|_| TestCaseError::fail("no answer within 5 s"))?;
        prop_assert_eq!(answer.status, StatusCode::OK, "{}", String::from_utf8_lossy(&answer.body));
        let seen = gateway.seen();
        prop_assert_eq!(seen.len(), 1);
        let names = IdentityHeaders::new(&prefix);
        let injected = [
            &names.account_id,
            &names.user_id,
            &names.roles,
            &names.verified,
            &names.signature_timestamp,
            &names.event_id,
            &names.event_type,
            &names.livemode,
        ];
        check_forwarded(&seen[0].headers, &prefix, &injected, &kept)?;
    }
}
