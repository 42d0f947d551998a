use super::replay::key;
use super::*;
use crate::auth::AppMode;

fn policy(any: &[&str], all: &[&str]) -> AppPolicy {
    AppPolicy {
        keyring: "app".into(),
        mode: AppMode::RawBody,
        roles_any: any.iter().map(|s| s.to_string()).collect(),
        roles_all: all.iter().map(|s| s.to_string()).collect(),
        replay_reject: false,
    }
}

#[test]
fn only_a_failed_connect_gives_a_signature_back() {
    let failed = |failure| Err(GatewayError::Upstream(failure));
    assert!(nothing_reached_the_backend(&failed(
        UpstreamFailure::Connect
    )));
    for spent in [
        failed(UpstreamFailure::Timeout),
        failed(UpstreamFailure::Broken),
        failed(UpstreamFailure::InvalidResponse),
        Err(GatewayError::WebhookRedirected),
        Ok(Response::new(GatewayBody::Empty)),
    ] {
        assert!(!nothing_reached_the_backend(&spent), "{spent:?}");
    }
}

#[test]
fn roles_any_and_all() {
    let roles = vec!["admin".to_string(), "developer".to_string()];
    assert!(roles_satisfied(&policy(&[], &[]), None));
    assert!(roles_satisfied(
        &policy(&["admin", "support_specialist"], &[]),
        Some(&roles)
    ));
    assert!(!roles_satisfied(&policy(&["view_only"], &[]), Some(&roles)));
    assert!(roles_satisfied(
        &policy(&[], &["admin", "developer"]),
        Some(&roles)
    ));
    assert!(!roles_satisfied(
        &policy(&[], &["admin", "iam_admin"]),
        Some(&roles)
    ));
    assert!(
        !roles_satisfied(&policy(&["admin"], &[]), None),
        "unsigned roles never count"
    );
    assert!(!roles_satisfied(&policy(&["admin"], &[]), Some(&[])));
}

#[test]
fn replay_keys_differ_by_keyring_time_and_content() {
    let base = key(&[1; 8], 10, &[7; 32]);
    assert_ne!(base, key(&[2; 8], 10, &[7; 32]), "keyring");
    assert_ne!(base, key(&[1; 8], 11, &[7; 32]), "timestamp");
    assert_ne!(base, key(&[1; 8], 10, &[8; 32]), "content");
    assert_eq!(base, key(&[1; 8], 10, &[7; 32]));
}
