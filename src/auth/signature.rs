//! The `Stripe-Signature` header: field selection (rule 1), the strict grammar (rules 2–5) and
//! signing helpers (rule 6). Verification is in `verify.rs`.
//!
//! Parsing borrows from the header text: the common case (one `t`, one or two `v1`) allocates
//! nothing.

use std::fmt;

use http::{HeaderMap, HeaderName};

use super::mac::{encode_lower_hex, new_key, sign};
use super::Rejection;
use crate::secret::Secret;

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
        Self::parse_text(value)
    }

    /// [`SignatureHeader::parse`] of a value already known to be non-empty header text (what
    /// [`header_value`] returns).
    pub(crate) fn parse_text(value: &'a str) -> Result<Self, Rejection> {
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
    let fields = headers.get_all(&HEADER_NAME).iter();
    value_of_lines(fields.map(http::HeaderValue::as_bytes))
}

/// Rule 1 over the values of the `Stripe-Signature` field lines, in order (see
/// [`header_value`]).
pub fn value_of_lines<'a>(mut lines: impl Iterator<Item = &'a [u8]>) -> Result<&'a str, Rejection> {
    let value = lines.next().ok_or(Rejection::MissingHeader)?;
    if lines.next().is_some() {
        return Err(Rejection::MalformedHeader);
    }
    if value.is_empty() {
        return Err(Rejection::MissingHeader);
    }
    if !is_header_text(value) {
        return Err(Rejection::MalformedHeader);
    }
    // Visible ASCII and space: valid UTF-8 (checked again, at ASCII speed).
    std::str::from_utf8(value).map_err(|_| Rejection::MalformedHeader)
}

/// Lowercase hex HMAC-SHA256(key = whole secret string, msg = `"<t>.<payload>"`) — used by the
/// `sign` CLI and tests. `t` is written in decimal, as the header carries it.
pub fn compute_signature(secret: &Secret, timestamp: i64, payload: &[u8]) -> String {
    encode_lower_hex(&sign(&new_key(secret), &timestamp.to_string(), payload))
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

/// Visible ASCII and space. Tabs and other controls have no business in this header, and
/// rejecting them keeps one canonical reading of the value.
fn is_header_text(bytes: &[u8]) -> bool {
    use crate::words::{any, below, equal, high};
    !any(
        bytes,
        |word| high(word) | below(word, 0x20) | equal(word, 0x7f),
        |byte| !(0x20..=0x7e).contains(&byte),
    )
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
mod tests;
