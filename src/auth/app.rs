//! Stripe App UI-extension requests (rules 20–26): which bytes were signed, and what that
//! proves about the caller.
//!
//! Mode A (raw body) verifies the exact body bytes, which authenticates every field of it.
//! Mode B (reconstructed default) rebuilds `{"user_id":…,"account_id":…}` from a strictly parsed
//! body, which authenticates those two fields only. Mode A is always tried first (rule 23).

use super::json::{default_payload, parse_app_body, AppBody};
use super::keyring::Keyring;
use super::signature::SignatureHeader;
use super::verify::{verify_parsed, Verified};
use super::Rejection;

/// Which signed strings a route accepts (config values `"raw_body"`, `"default"`,
/// `"raw_body_or_default"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppMode {
    /// Mode A only: the signature must cover the exact body bytes.
    RawBody,
    /// Mode B only: the signature must cover the rebuilt `{user_id, account_id}`.
    Default,
    /// Mode A, then mode B.
    RawBodyOrDefault,
}

impl AppMode {
    /// The mode named `raw_body`, `default` or `raw_body_or_default`.
    pub fn parse(text: &str) -> Option<AppMode> {
        match text {
            "raw_body" => Some(AppMode::RawBody),
            "default" => Some(AppMode::Default),
            "raw_body_or_default" => Some(AppMode::RawBodyOrDefault),
            _ => None,
        }
    }

    /// The configuration spelling: `"raw_body"`, `"default"` or `"raw_body_or_default"`.
    pub fn as_str(self) -> &'static str {
        match self {
            AppMode::RawBody => "raw_body",
            AppMode::Default => "default",
            AppMode::RawBodyOrDefault => "raw_body_or_default",
        }
    }

    fn tries_raw_body(self) -> bool {
        matches!(self, AppMode::RawBody | AppMode::RawBodyOrDefault)
    }

    fn tries_default(self) -> bool {
        matches!(self, AppMode::Default | AppMode::RawBodyOrDefault)
    }
}

/// Which signed string matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifiedMode {
    /// The exact body bytes: every body field is authenticated.
    RawBody,
    /// The rebuilt default payload: only `user_id` and `account_id` are authenticated.
    ReconstructedDefault,
}

impl VerifiedMode {
    /// The spelling of the gateway-owned mode header: `"raw_body"` | `"reconstructed_default"`.
    pub fn as_str(self) -> &'static str {
        match self {
            VerifiedMode::RawBody => "raw_body",
            VerifiedMode::ReconstructedDefault => "reconstructed_default",
        }
    }
}

/// Who the signature vouches for.
#[derive(Debug)]
pub struct AppIdentity {
    /// The signed `user_id`.
    pub user_id: String,
    /// The signed `account_id`.
    pub account_id: String,
    /// Role ids from a signed `stripe_roles`: `Some` only in [`VerifiedMode::RawBody`] with the
    /// key present (roles without `id` are dropped); `None` when roles were not authenticated.
    pub roles: Option<Vec<String>>,
    /// Which signed string matched.
    pub mode: VerifiedMode,
    /// The timestamp, secret and signature that verified.
    pub verified: Verified,
}

/// Order: header (missing/malformed/no_v1) → empty body → signature → timestamp. Mode A (raw
/// body) tried first when the mode allows it: a match authenticates the whole body, which must
/// then parse with [`parse_app_body`] (else `MalformedBody`; the timestamp is checked before the
/// body is read). Else mode B (when allowed): parse strictly (unparseable → `MalformedBody`),
/// rebuild [`default_payload`], verify (mismatch → `SignatureMismatch`). RawBody-only mode never
/// parses on mismatch (→ `SignatureMismatch`). Timestamp checked after the signature matched.
pub fn verify_app(
    header: &str,
    body: &[u8],
    keyring: &Keyring,
    mode: AppMode,
    now: i64,
    tolerance: i64,
) -> Result<AppIdentity, Rejection> {
    let parsed = SignatureHeader::parse(header)?;
    verify_app_parsed(&parsed, body, keyring, mode, now, tolerance)
}

/// [`verify_app`] for a header the caller has already parsed (the gateway parses it before
/// reading the body, to refuse a bad header without buffering anything).
pub fn verify_app_parsed(
    parsed: &SignatureHeader<'_>,
    body: &[u8],
    keyring: &Keyring,
    mode: AppMode,
    now: i64,
    tolerance: i64,
) -> Result<AppIdentity, Rejection> {
    if body.is_empty() {
        return Err(Rejection::EmptyPayload);
    }
    if mode.tries_raw_body() {
        match verify_parsed(parsed, body, keyring, now, tolerance) {
            Ok(verified) => return raw_body_identity(body, verified),
            Err(Rejection::SignatureMismatch) if mode.tries_default() => {}
            Err(rejection) => return Err(rejection),
        }
    }
    let fields = parse_app_body(body)?;
    let payload = default_payload(&fields.user_id, &fields.account_id);
    let verified = verify_parsed(parsed, &payload, keyring, now, tolerance)?;
    Ok(AppIdentity {
        user_id: fields.user_id.into_owned(),
        account_id: fields.account_id.into_owned(),
        // Only user_id and account_id were signed; a body `stripe_roles` is the caller's claim.
        roles: None,
        mode: VerifiedMode::ReconstructedDefault,
        verified,
    })
}

/// Mode A succeeded: the whole body is authentic, so its roles are too.
fn raw_body_identity(body: &[u8], verified: Verified) -> Result<AppIdentity, Rejection> {
    let AppBody {
        user_id,
        account_id,
        roles,
    } = parse_app_body(body)?;
    let roles = roles.map(|roles| {
        roles
            .into_iter()
            .filter_map(|role| role.id.map(|id| id.into_owned()))
            .collect()
    });
    Ok(AppIdentity {
        user_id: user_id.into_owned(),
        account_id: account_id.into_owned(),
        roles,
        mode: VerifiedMode::RawBody,
        verified,
    })
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
