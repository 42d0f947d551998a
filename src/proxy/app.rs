//! Phases 3–6 of `auth = "app"` routes: body, signature (raw body or rebuilt default payload),
//! replay, roles, identity headers.

use http::header::HeaderValue;
use http::{Request, Response};
use hyper::body::Incoming;

use super::body::GatewayBody;
use super::headers;
use super::record::Record;
use super::{forward, set_header, signature_header, Gateway, Target};
use sha2::{Digest, Sha256};

use crate::auth::{default_payload, verify_app_parsed, AppIdentity, Rejection, VerifiedMode};
use crate::config::AppPolicy;
use crate::error::GatewayError;
use crate::snapshot::Snapshot;
use crate::store::Held;

impl Gateway {
    pub(super) async fn app<'s>(
        &self,
        target: Target<'s, '_, AppPolicy>,
        request: Request<Incoming>,
        record: &mut Record<'s>,
    ) -> Result<Response<GatewayBody>, GatewayError> {
        let Target {
            snapshot,
            route,
            keyring,
            policy,
            peer,
        } = target;
        let (mut parts, body) = request.into_parts();
        // Header problems are known before the body arrives: refuse without reading it.
        let header = signature_header(&parts.headers, record, false)?;
        let body = forward::read_body(body, &parts.headers, &snapshot.config.server).await?;
        let now = self.clock.now();
        let tolerance = snapshot.config.tolerance_secs;
        let identity = verify_app_parsed(
            &header,
            &body,
            &keyring.keyring,
            policy.mode,
            now,
            tolerance,
        )
        .map_err(|rejection| record.deny(rejection, false))?;
        let secret = identity.verified.secret_index;
        record.secret = Some(keyring.keyring.secrets()[secret].id());
        keyring
            .metrics
            .matched(secret, now - identity.verified.timestamp);
        if policy.replay_reject && self.is_replay(&identity, &body, now, tolerance) {
            record.auth_denied("replayed");
            return Err(GatewayError::Replayed);
        }
        if !roles_satisfied(policy, identity.roles.as_deref()) {
            record.auth_denied("role_denied");
            return Err(GatewayError::RoleDenied);
        }
        record.auth_allowed();
        headers::rewrite_request(
            &mut parts.headers,
            &snapshot.identity,
            peer,
            &record.request_id,
        );
        if inject(&mut parts.headers, snapshot, &identity).is_err() {
            return Err(record.deny(Rejection::MalformedBody, false));
        }
        record.account = Some(identity.account_id);
        forward::forward(snapshot, route, parts, GatewayBody::full(body), record).await
    }

    /// Whether this signed message was accepted before; records it otherwise. The key is `t`
    /// and a hash of what was signed, not the `v1` that matched: during a secret roll Stripe
    /// sends one `v1` per secret, and each alone would verify. It is kept until the signature
    /// could no longer pass the tolerance check.
    fn is_replay(&self, identity: &AppIdentity, body: &[u8], now: i64, tolerance: i64) -> bool {
        let timestamp = identity.verified.timestamp;
        let digest = match identity.mode {
            VerifiedMode::RawBody => Sha256::digest(body),
            VerifiedMode::ReconstructedDefault => {
                Sha256::digest(default_payload(&identity.user_id, &identity.account_id))
            }
        };
        let mut key = [0u8; 40];
        key[..8].copy_from_slice(&timestamp.to_be_bytes());
        key[8..].copy_from_slice(&digest);
        let until = timestamp.saturating_add(tolerance).saturating_add(1);
        self.replay.claim(&key, Held::Done, now, until).is_err()
    }
}

/// Role policy: roles count only when the signature covered them (raw-body mode), compared on
/// role `id`.
fn roles_satisfied(policy: &AppPolicy, roles: Option<&[String]>) -> bool {
    if policy.roles_any.is_empty() && policy.roles_all.is_empty() {
        return true;
    }
    let Some(roles) = roles else { return false };
    let has = |wanted: &String| roles.iter().any(|role| role == wanted);
    (policy.roles_any.is_empty() || policy.roles_any.iter().any(has))
        && policy.roles_all.iter().all(has)
}

fn inject(
    headers: &mut http::HeaderMap,
    snapshot: &Snapshot,
    identity: &AppIdentity,
) -> Result<(), ()> {
    let names = &snapshot.identity;
    set_header(headers, &names.account_id, &identity.account_id)?;
    set_header(headers, &names.user_id, &identity.user_id)?;
    if let Some(roles) = &identity.roles {
        set_header(headers, &names.roles, &roles.join(","))?;
    }
    headers.insert(
        names.verified.clone(),
        HeaderValue::from_static(identity.mode.as_str()),
    );
    headers.insert(
        names.signature_timestamp.clone(),
        HeaderValue::from(identity.verified.timestamp),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
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
}
