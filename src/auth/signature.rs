//! The `Stripe-Signature` header: field selection (rule 1), the strict grammar (rules 2–5),
//! signing helpers (rule 6) and raw-body verification with the timestamp window (rules 7–9).
//!
//! Parsing borrows from the header text and verification works on the stack: the common case
//! (one `t`, one or two `v1`) allocates nothing.

use std::fmt;

use http::{HeaderMap, HeaderName};

use super::keyring::{new_mac, Keyring};
use super::Rejection;
use crate::secret::Secret;
use hmac::Mac;

/// The header carrying the signature (`Stripe-Signature`; header names are case-insensitive).
pub const HEADER_NAME: HeaderName = HeaderName::from_static("stripe-signature");

/// `v1` entries kept inline before spilling to the heap; Stripe sends one, or two while a
/// secret is being rotated.
const INLINE_SIGNATURES: usize = 4;

/// The longest `t` the grammar accepts: `^(0|[1-9][0-9]{0,11})$` (rule 3).
const MAX_TIMESTAMP_DIGITS: usize = 12;

/// A parsed Stripe-Signature header (rules 2–5). Borrowed from the header text.
///
/// `Debug` shows the timestamp and the number of `v1` entries, not their values.
#[derive(Clone)]
pub struct SignatureHeader<'a> {
    timestamp: i64,
    timestamp_text: &'a str,
    signatures: SignatureList<'a>,
}

impl<'a> SignatureHeader<'a> {
    /// Parse one header value. `""` → `Err(MissingHeader)`. Bytes outside visible ASCII and
    /// space → `Err(MalformedHeader)`. Then, on the text as-is (no trimming): split on `,`,
    /// skip empty elements, split each at the first `=`, compare keys exactly; `t` exactly once
    /// matching `^(0|[1-9][0-9]{0,11})$`; every `v1` with a non-empty value free of `=`; other
    /// keys ignored. No `t` → `MalformedHeader`; `t` but no `v1` → `NoV1Signature`.
    pub fn parse(value: &'a str) -> Result<Self, Rejection> {
        if value.is_empty() {
            return Err(Rejection::MissingHeader);
        }
        if !is_header_text(value.as_bytes()) {
            return Err(Rejection::MalformedHeader);
        }
        let mut timestamp = None;
        let mut signatures = SignatureList::new();
        for element in value.split(',').filter(|element| !element.is_empty()) {
            let (key, element_value) = match element.split_once('=') {
                Some((key, element_value)) => (key, Some(element_value)),
                None => (element, None),
            };
            match key {
                "t" => {
                    let text = element_value.ok_or(Rejection::MalformedHeader)?;
                    let parsed = parse_timestamp(text).ok_or(Rejection::MalformedHeader)?;
                    if timestamp.replace((parsed, text)).is_some() {
                        return Err(Rejection::MalformedHeader);
                    }
                }
                "v1" => match element_value {
                    Some(text) if !text.is_empty() && !text.contains('=') => signatures.push(text),
                    _ => return Err(Rejection::MalformedHeader),
                },
                _ => {}
            }
        }
        let (timestamp, timestamp_text) = timestamp.ok_or(Rejection::MalformedHeader)?;
        if signatures.as_slice().is_empty() {
            return Err(Rejection::NoV1Signature);
        }
        Ok(SignatureHeader {
            timestamp,
            timestamp_text,
            signatures,
        })
    }

    /// The value of `t`, in Unix seconds.
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// The `t` digits exactly as sent; canonical by rule 3, so they are the MAC prefix.
    pub fn timestamp_text(&self) -> &'a str {
        self.timestamp_text
    }

    /// The `v1` values in header order (at least one).
    pub fn signatures(&self) -> &[&'a str] {
        self.signatures.as_slice()
    }
}

impl fmt::Debug for SignatureHeader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignatureHeader")
            .field("timestamp", &self.timestamp)
            .field("v1_count", &self.signatures().len())
            .finish()
    }
}

/// Rule 1 over an `http::HeaderMap`: zero `Stripe-Signature` fields or an empty value →
/// `Err(MissingHeader)`; more than one field line → `Err(MalformedHeader)`; a value that is not
/// visible ASCII (space allowed, tab not) → `Err(MalformedHeader)`; else `Ok(&str)`.
pub fn header_value(headers: &HeaderMap) -> Result<&str, Rejection> {
    let mut fields = headers.get_all(&HEADER_NAME).iter();
    let value = fields.next().ok_or(Rejection::MissingHeader)?;
    if fields.next().is_some() {
        return Err(Rejection::MalformedHeader);
    }
    if value.is_empty() {
        return Err(Rejection::MissingHeader);
    }
    if !is_header_text(value.as_bytes()) {
        return Err(Rejection::MalformedHeader);
    }
    value.to_str().map_err(|_| Rejection::MalformedHeader)
}

/// Lowercase hex HMAC-SHA256(key = whole secret string, msg = `"<t>.<payload>"`) — used by the
/// `sign` CLI and tests. `t` is written in decimal, as the header carries it.
pub fn compute_signature(secret: &Secret, timestamp: i64, payload: &[u8]) -> String {
    let mut mac = new_mac(secret);
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    encode_lower_hex(&mac.finalize().into_bytes())
}

/// `"t=<t>,v1=<sig>"` for one or more secrets (one `v1` per secret, in order). With no secrets
/// the result is `"t=<t>"`, which verifies as `no_v1_signature`.
pub fn signature_header(secrets: &[&Secret], timestamp: i64, payload: &[u8]) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&compute_signature(secret, timestamp, payload));
    }
    header
}

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

/// Decodes exactly 64 lowercase hex digits. Anything else cannot be a `v1` we produced.
pub(crate) fn decode_lower_hex(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let &[high, low] = pair else {
            return None;
        };
        *byte = (lower_hex_value(high)? << 4) | lower_hex_value(low)?;
    }
    Some(out)
}

fn lower_hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => digit.checked_sub(b'0'),
        b'a'..=b'f' => digit.checked_sub(b'a' - 10),
        _ => None,
    }
}

fn encode_lower_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().saturating_mul(2));
    for byte in bytes {
        out.push(hex_digit(byte >> 4));
        out.push(hex_digit(*byte));
    }
    out
}

/// The lowercase hex digit of the low four bits of `nibble`.
#[allow(
    clippy::indexing_slicing,
    reason = "nibble & 0xf is below 16, the length of the table"
)]
fn hex_digit(nibble: u8) -> char {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    char::from(DIGITS[usize::from(nibble & 0xf)])
}

/// Visible ASCII and space. Tabs and other controls have no business in this header, and
/// rejecting them keeps one canonical reading of the value.
fn is_header_text(bytes: &[u8]) -> bool {
    bytes.iter().all(|byte| (0x20..=0x7e).contains(byte))
}

/// `^(0|[1-9][0-9]{0,11})$` → the value; twelve digits always fit in an `i64` (checked anyway).
fn parse_timestamp(text: &str) -> Option<i64> {
    let digits = text.as_bytes();
    let canonical = match digits {
        [] => false,
        [b'0'] => true,
        [b'0', ..] => false,
        _ => digits.len() <= MAX_TIMESTAMP_DIGITS && digits.iter().all(u8::is_ascii_digit),
    };
    if !canonical {
        return None;
    }
    digits.iter().try_fold(0i64, |value, digit| {
        value
            .checked_mul(10)?
            .checked_add(i64::from(digit.checked_sub(b'0')?))
    })
}

/// The `v1` values: inline for the common case, on the heap past [`INLINE_SIGNATURES`].
#[derive(Clone)]
enum SignatureList<'a> {
    Inline {
        items: [&'a str; INLINE_SIGNATURES],
        len: usize,
    },
    Spilled(Vec<&'a str>),
}

impl<'a> SignatureList<'a> {
    fn new() -> Self {
        SignatureList::Inline {
            items: [""; INLINE_SIGNATURES],
            len: 0,
        }
    }

    fn push(&mut self, signature: &'a str) {
        match self {
            SignatureList::Inline { items, len } if *len < INLINE_SIGNATURES => {
                if let Some(slot) = items.get_mut(*len) {
                    *slot = signature;
                    *len = len.saturating_add(1);
                }
            }
            SignatureList::Inline { items, .. } => {
                let mut spilled = items.to_vec();
                spilled.push(signature);
                *self = SignatureList::Spilled(spilled);
            }
            SignatureList::Spilled(items) => items.push(signature),
        }
    }

    fn as_slice(&self) -> &[&'a str] {
        match self {
            // `len` never exceeds INLINE_SIGNATURES (`push` checks it first).
            SignatureList::Inline { items, len } => items.get(..*len).unwrap_or(items),
            SignatureList::Spilled(items) => items,
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::arithmetic_side_effects,
    reason = "tests: arithmetic on generated values, where a panic is a failed test"
)]
mod proptests;
#[cfg(test)]
mod tests;
