//! Raw-body verification (rules 7–9): a signature one of the keyring's active secrets made over
//! `<t>.<payload>`, then the timestamp window. Webhooks and app mode A verify this way; app
//! mode B verifies the rebuilt payload the same way.

use super::keyring::Keyring;
use super::signature::SignatureHeader;
use super::Rejection;

/// What a successful verification proved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The signed `t`, in Unix seconds.
    pub timestamp: i64,
    /// Index of the matching secret in [`Keyring::secrets`].
    pub secret_index: usize,
    /// The matching `v1`, decoded: the replay-cache key together with `timestamp`.
    pub signature: [u8; 32],
}

/// Raw-body verification (webhooks, and app mode A), full check order of rule 8: header →
/// empty payload → signature → timestamp (rule 9: age > tolerance → `TimestampTooOld`;
/// t − now > tolerance → `TimestampInFuture`; |age| == tolerance passes). `header` is the result
/// of [`header_value`] (or `""` for a missing header).
pub fn verify_raw(
    header: &str,
    payload: &[u8],
    keyring: &Keyring,
    now: i64,
    tolerance: i64,
) -> Result<Verified, Rejection> {
    let parsed = SignatureHeader::parse(header)?;
    if payload.is_empty() {
        return Err(Rejection::EmptyPayload);
    }
    verify_parsed(&parsed, payload, keyring, now, tolerance)
}

/// Signature then timestamp, for a header already parsed and a payload already checked.
pub(crate) fn verify_parsed(
    header: &SignatureHeader<'_>,
    payload: &[u8],
    keyring: &Keyring,
    now: i64,
    tolerance: i64,
) -> Result<Verified, Rejection> {
    let found = keyring
        .matching(header, payload, now)
        .ok_or(Rejection::SignatureMismatch)?;
    check_timestamp(header.timestamp(), now, tolerance)?;
    Ok(Verified {
        timestamp: header.timestamp(),
        secret_index: found.secret_index,
        signature: found.signature,
    })
}

/// Rule 9. A tolerance ≤ 0 is not a "disable" switch here: it only admits `t == now` (0) or
/// nothing (negative); configuration refuses such values before they reach this point.
fn check_timestamp(timestamp: i64, now: i64, tolerance: i64) -> Result<(), Rejection> {
    // Saturating: `now` comes from the caller and may be anything; overflow must not panic.
    if now.saturating_sub(timestamp) > tolerance {
        return Err(Rejection::TimestampTooOld);
    }
    if timestamp.saturating_sub(now) > tolerance {
        return Err(Rejection::TimestampInFuture);
    }
    Ok(())
}

#[cfg(test)]
#[allow(
    clippy::arithmetic_side_effects,
    reason = "tests: arithmetic on generated values, where a panic is a failed test"
)]
mod proptests;
#[cfg(test)]
mod tests;
