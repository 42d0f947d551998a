//! Byte tests eight bytes at a time, for the scans on the request path (header text, JSON
//! strings, log values). A test marks a byte by setting its high bit in a `u64` read
//! little-endian, so the lowest mark is the first byte that matched.
//!
//! The marks are exact up to the first marked byte: the subtraction in a test can borrow
//! only out of a byte it marks, and so can add false marks only above a true one. Whether
//! there is any mark, and where the first one is, are therefore always right.

#![warn(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// `byte` in each of the eight bytes.
pub(crate) const fn splat(byte: u8) -> u64 {
    ONES.wrapping_mul(byte as u64)
}

/// Marks the bytes of `word` equal to `byte`.
pub(crate) const fn equal(word: u64, byte: u8) -> u64 {
    let x = word ^ splat(byte);
    x.wrapping_sub(ONES) & !x & HIGH
}

/// Marks the bytes of `word` below `limit` (at most 0x80).
pub(crate) const fn below(word: u64, limit: u8) -> u64 {
    word.wrapping_sub(splat(limit)) & !word & HIGH
}

/// Marks the bytes of `word` from 0x80 up.
pub(crate) const fn high(word: u64) -> u64 {
    word & HIGH
}

/// Where the first byte of `bytes` is that `marks` marks in its word, or `test` accepts among
/// the last few (fewer than eight) bytes.
pub(crate) fn find(
    bytes: &[u8],
    marks: impl Fn(u64) -> u64,
    test: impl Fn(u8) -> bool,
) -> Option<usize> {
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0usize;
    for chunk in &mut chunks {
        let found = marks(word(chunk));
        if found != 0 {
            let byte = usize::try_from(found.trailing_zeros() / 8).ok()?;
            return Some(offset.saturating_add(byte));
        }
        offset = offset.saturating_add(8);
    }
    let at = chunks.remainder().iter().position(|&byte| test(byte))?;
    Some(offset.saturating_add(at))
}

/// Whether any byte of `bytes` is marked by `marks` or, among the last few, accepted by `test`;
/// every word is tested (no early exit).
pub(crate) fn any(bytes: &[u8], marks: impl Fn(u64) -> u64, test: impl Fn(u8) -> bool) -> bool {
    let mut chunks = bytes.chunks_exact(8);
    let found = (&mut chunks).fold(0u64, |found, chunk| found | marks(word(chunk)));
    found != 0 || chunks.remainder().iter().any(|&byte| test(byte))
}

fn word(chunk: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(chunk);
    u64::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(bytes: &[u8], test: impl Fn(u8) -> bool) -> Option<usize> {
        bytes.iter().position(|&byte| test(byte))
    }

    proptest::proptest! {
        #[test]
        fn word_tests_find_what_byte_tests_find(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    20 => 0x20u8..=0x7e,
                    1 => proptest::num::u8::ANY,
                    1 => proptest::strategy::Just(0u8),
                    1 => proptest::strategy::Just(b'"'),
                    1 => proptest::strategy::Just(0x7fu8),
                    1 => proptest::strategy::Just(0x1fu8),
                    1 => proptest::strategy::Just(0x80u8),
                    1 => proptest::strategy::Just(0xffu8),
                ],
                0..48,
            ),
        ) {
            let quote_or_control = |byte: u8| byte == b'"' || byte < 0x20;
            let marks = |word| equal(word, b'"') | below(word, 0x20);
            proptest::prop_assert_eq!(find(&bytes, marks, quote_or_control), naive(&bytes, quote_or_control));
            let zero_or_high = |byte: u8| byte == 0 || byte >= 0x80;
            let marks = |word| equal(word, 0) | high(word);
            proptest::prop_assert_eq!(find(&bytes, marks, zero_or_high), naive(&bytes, zero_or_high));
            let delete = |byte: u8| byte == 0x7f;
            proptest::prop_assert_eq!(
                any(&bytes, |word| equal(word, 0x7f), delete),
                naive(&bytes, delete).is_some()
            );
            let below_tab = |byte: u8| byte < 0x09;
            proptest::prop_assert_eq!(find(&bytes, |word| below(word, 0x09), below_tab), naive(&bytes, below_tab));
        }
    }
}
