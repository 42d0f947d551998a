//! HMAC-SHA256 keyed with a whole secret string, and the lowercase hex of `v1` values: the two
//! primitives that signing (`signature.rs`) and verifying (`keyring.rs`) share.

use ring::hmac;
use subtle::ConstantTimeEq;

use crate::secret::Secret;

/// An HMAC-SHA256 key (the only MAC Stripe uses for `v1`), keyed with the whole secret
/// string. ring prepares the inner and outer padded states once, here, so each message then
/// costs only its own blocks; its SHA-256 picks the CPU's SHA extensions or vector code at run
/// time.
pub(crate) fn new_key(secret: &Secret) -> hmac::Key {
    // HMAC accepts keys of any length (long keys are hashed, short ones padded).
    hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes())
}

/// HMAC-SHA256 of `<timestamp text>.<payload>` under `key`: the 32 bytes a `v1` encodes.
pub(crate) fn sign(key: &hmac::Key, timestamp_text: &str, payload: &[u8]) -> [u8; 32] {
    let mut context = hmac::Context::with_key(key);
    context.update(timestamp_text.as_bytes());
    context.update(b".");
    context.update(payload);
    let mut out = [0u8; 32];
    out.copy_from_slice(context.sign().as_ref());
    out
}

/// Whether a `v1` value is the lowercase hex of `mac`, in time that does not depend on where
/// they differ. Anything else (another length, uppercase, not hex) never is.
pub(crate) fn is_hex_of(text: &str, mac: &[u8; 32]) -> bool {
    let mut hex = [0u8; 64];
    for (pair, byte) in hex.chunks_exact_mut(2).zip(mac) {
        if let [high, low] = pair {
            *high = hex_byte(byte >> 4);
            *low = hex_byte(*byte);
        }
    }
    text.as_bytes().ct_eq(&hex).into()
}

#[cfg(test)]
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

#[cfg(test)]
fn lower_hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => digit.checked_sub(b'0'),
        b'a'..=b'f' => digit.checked_sub(b'a' - 10),
        _ => None,
    }
}

pub(crate) fn encode_lower_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().saturating_mul(2));
    for byte in bytes {
        out.push(hex_digit(byte >> 4));
        out.push(hex_digit(*byte));
    }
    out
}

/// The lowercase hex digit of the low four bits of `nibble`.
fn hex_digit(nibble: u8) -> char {
    char::from(hex_byte(nibble))
}

/// [`hex_digit`] as a byte.
#[allow(
    clippy::indexing_slicing,
    reason = "nibble & 0xf is below 16, the length of the table"
)]
fn hex_byte(nibble: u8) -> u8 {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    DIGITS[usize::from(nibble & 0xf)]
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIG: &str = "4f58ad0079425e08e16b6591d9285adc85c6e9a70d152839a1ac090661c3df36";

    #[test]
    fn hex_decoding_is_lowercase_and_exact_length() {
        assert_eq!(
            decode_lower_hex(SIG).map(|bytes| encode_lower_hex(&bytes)),
            Some(SIG.into())
        );
        assert_eq!(decode_lower_hex(&SIG.to_ascii_uppercase()), None);
        assert_eq!(decode_lower_hex(&SIG[..62]), None);
        assert_eq!(decode_lower_hex(&format!("{SIG}00")), None);
        assert_eq!(decode_lower_hex(&"g".repeat(64)), None);
    }
}
