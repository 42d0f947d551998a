//! HMAC-SHA256 keyed with a whole secret string, and the lowercase hex of `v1` values: the two
//! primitives that signing (`signature.rs`) and verifying (`keyring.rs`) share.

use ring::hmac;

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
    /// A message up to this size is assembled on the stack and hashed in one call.
    const ONE_CALL: usize = 256;
    let timestamp = timestamp_text.as_bytes();
    let length = timestamp
        .len()
        .saturating_add(1)
        .saturating_add(payload.len());
    let tag = match length {
        0..=ONE_CALL => {
            let mut message = [0u8; ONE_CALL];
            let mut at = 0usize;
            for part in [timestamp, &b"."[..], payload] {
                let end = at.saturating_add(part.len());
                if let Some(slot) = message.get_mut(at..end) {
                    slot.copy_from_slice(part);
                }
                at = end;
            }
            hmac::sign(key, message.get(..length).unwrap_or_default())
        }
        _ => {
            let mut context = hmac::Context::with_key(key);
            context.update(timestamp);
            context.update(b".");
            context.update(payload);
            context.sign()
        }
    };
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
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
    equal_in_constant_time(text.as_bytes(), &hex)
}

/// `a == b` for a secret `b`: the length is public (a `v1` of another length is not ours), the
/// contents are compared eight bytes at a time into one accumulator, with no branch and no early
/// exit on where they differ; the accumulator goes through `black_box` so the compiler cannot
/// turn the fold into a search.
fn equal_in_constant_time(a: &[u8], b: &[u8; 64]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let words = |bytes: &[u8]| -> u64 {
        let mut word = [0u8; 8];
        word.copy_from_slice(bytes);
        u64::from_ne_bytes(word)
    };
    let difference = a
        .chunks_exact(8)
        .zip(b.chunks_exact(8))
        .fold(0u64, |difference, (x, y)| {
            difference | (words(x) ^ words(y))
        });
    std::hint::black_box(difference) == 0
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
        out.push(char::from(hex_byte(byte >> 4)));
        out.push(char::from(hex_byte(*byte)));
    }
    out
}

/// The lowercase hex digit of the low four bits of `nibble`.
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
    fn a_mac_equals_only_its_own_lowercase_hex() {
        let mac: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37));
        let hex = encode_lower_hex(&mac);
        assert!(is_hex_of(&hex, &mac));
        assert!(!is_hex_of(&hex.to_ascii_uppercase(), &mac));
        assert!(!is_hex_of(&hex[..63], &mac));
        assert!(!is_hex_of(&format!("{hex}0"), &mac));
        assert!(!is_hex_of("", &mac));
        for at in 0..64 {
            let mut flipped = hex.clone().into_bytes();
            flipped[at] = if flipped[at] == b'0' { b'1' } else { b'0' };
            let flipped = String::from_utf8(flipped).expect("ascii");
            assert!(!is_hex_of(&flipped, &mac), "differs at {at}");
        }
    }

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
