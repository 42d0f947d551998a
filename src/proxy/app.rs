//! Phases 3–6 of `auth = "app"` routes: body, signature (raw body or rebuilt default payload),
//! replay, roles, identity headers.

use http::header::HeaderValue;
use http::{Request, Response};
use hyper::body::Incoming;

use super::body::GatewayBody;
use super::headers;
use super::record::Record;
use super::upstream::UpstreamFailure;
use super::{forward, set_header, signature_header, Gateway, Target};
use sha2::{Digest, Sha256};

use crate::auth::{default_payload, verify_app_parsed, AppIdentity, Rejection, VerifiedMode};
use crate::config::AppPolicy;
use crate::error::GatewayError;
use crate::snapshot::Snapshot;
use crate::store::{Claim, Held};

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
        let server = &snapshot.config.server;
        let body = forward::read_body(body, &parts.headers, server, &self.budget).await?;
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
        record.secret = keyring.keyring.secrets().get(secret).map(|s| s.id());
        let age = now.saturating_sub(identity.verified.timestamp);
        keyring.metrics.matched(secret, age);
        let replay_mark = self.authorize(policy, &identity, &body, now, tolerance, record)?;
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
        let body = GatewayBody::full(body);
        let result = forward::forward(snapshot, route, parts, body, record, &self.budget).await;
        if let Some(mark) = replay_mark {
            if nothing_reached_the_backend(record.upstream_failure) {
                self.replay.release(&mark.key, mark.claim);
            }
        }
        result
    }

    /// Replay, then roles. On success, the mark of a `replay = "reject"` route, for
    /// [`nothing_reached_the_backend`] to give back.
    fn authorize(
        &self,
        policy: &AppPolicy,
        identity: &AppIdentity,
        body: &[u8],
        now: i64,
        tolerance: i64,
        record: &mut Record<'_>,
    ) -> Result<Option<ReplayMark>, GatewayError> {
        let replay_mark = match policy.replay_reject {
            false => None,
            true => match self.mark_signed(identity, body, now, tolerance) {
                Some(mark) => Some(mark),
                None => {
                    record.auth_denied("replayed");
                    return Err(GatewayError::Replayed);
                }
            },
        };
        if !roles_satisfied(policy, identity.roles.as_deref()) {
            record.auth_denied("role_denied");
            return Err(GatewayError::RoleDenied);
        }
        record.auth_allowed();
        Ok(replay_mark)
    }

    /// Records this signed message as used, or `None` if it was used before. The key is `t`
    /// and a hash of what was signed, not the `v1` that matched: during a secret roll Stripe
    /// sends one `v1` per secret, and each alone would verify. It is kept until the signature
    /// could no longer pass the tolerance check.
    fn mark_signed(
        &self,
        identity: &AppIdentity,
        body: &[u8],
        now: i64,
        tolerance: i64,
    ) -> Option<ReplayMark> {
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
        let claim = self.replay.claim(&key, Held::Done, now, until).ok()?;
        Some(ReplayMark { key, claim })
    }
}

/// A signed message recorded as used, with the claim that lets this request (and only it)
/// take the record back.
struct ReplayMark {
    key: [u8; 40],
    claim: Claim,
}

/// Whether the request certainly never reached the backend, so that its signature may be used
/// again: only when no connection could be made (refused, unreachable, connect timeout, a TLS
/// handshake that failed), as a request is written only to an established connection. After a timeout or a broken connection the
/// backend may have received it and acted on it: the signature stays spent.
fn nothing_reached_the_backend(failure: Option<UpstreamFailure>) -> bool {
    match failure {
        Some(UpstreamFailure::Connect | UpstreamFailure::Tls) => true,
        Some(
            UpstreamFailure::Timeout | UpstreamFailure::Broken | UpstreamFailure::InvalidResponse,
        )
        | None => false,
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
    fn only_a_failed_connect_gives_a_signature_back() {
        assert!(nothing_reached_the_backend(Some(UpstreamFailure::Connect)));
        for spent in [
            None,
            Some(UpstreamFailure::Timeout),
            Some(UpstreamFailure::Broken),
            Some(UpstreamFailure::InvalidResponse),
        ] {
            assert!(!nothing_reached_the_backend(spent), "{spent:?}");
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
