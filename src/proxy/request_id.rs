//! Request ids, chosen when a request arrives (every response and log line carries one, and the
//! rewrite phase forwards it): an inbound `X-Request-Id` in a safe alphabet is kept, otherwise a
//! new random one is made from a per-thread generator (no shared state on the request path).

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use http::{HeaderMap, HeaderName, HeaderValue};

/// `X-Request-Id`.
pub(crate) static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

thread_local! {
    static STATE: Cell<(u64, u64)> = Cell::new(seed());
}

fn seed() -> (u64, u64) {
    // RandomState is seeded from the OS once per thread and perturbed per instance.
    let mut a = RandomState::new().build_hasher();
    a.write_u64(1);
    let mut b = RandomState::new().build_hasher();
    b.write_u64(2);
    (a.finish() | 1, b.finish() | 1)
}

/// xorshift128+: fast, non-cryptographic; ids only need to be unique, not secret.
fn next() -> u64 {
    STATE.with(|state| {
        let (mut s1, s0) = state.get();
        let result = s0.wrapping_add(s1);
        s1 ^= s1 << 23;
        s1 ^= s1 >> 17;
        s1 ^= s0 ^ (s0 >> 26);
        state.set((s0, s1));
        result
    })
}

/// The length of a generated id: `req_` and 32 hex digits.
const GENERATED_LEN: usize = 36;

/// A request's id: one the gateway made (held inline: no allocation per request) or a valid
/// inbound `X-Request-Id`, kept. Either is ASCII in a safe alphabet, so it is a valid header
/// value and needs no escape in a log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RequestId {
    Generated([u8; GENERATED_LEN]),
    Inbound(HeaderValue),
}

impl RequestId {
    /// The id's bytes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            RequestId::Generated(id) => id,
            RequestId::Inbound(value) => value.as_bytes(),
        }
    }

    /// The id as text.
    pub(crate) fn as_str(&self) -> &str {
        match self {
            RequestId::Generated(id) => std::str::from_utf8(id).unwrap_or_default(),
            RequestId::Inbound(value) => value.to_str().unwrap_or_default(),
        }
    }

    /// The id as a header value, for a header map.
    pub(crate) fn to_header_value(&self) -> HeaderValue {
        match self {
            // `req_` and hex digits: always a valid value.
            RequestId::Generated(id) => {
                HeaderValue::from_bytes(id).expect("hex id is a valid header value")
            }
            RequestId::Inbound(value) => value.clone(),
        }
    }
}

/// The request id for a request with these headers.
pub(crate) fn for_request(headers: &HeaderMap) -> RequestId {
    match headers.get(&X_REQUEST_ID) {
        Some(value) if is_valid_request_id(value) => RequestId::Inbound(value.clone()),
        _ => generate(),
    }
}

/// Whether `value` may be propagated as a request id: 1–128 characters of a safe set, so it
/// cannot inject anything into logs or headers.
pub(crate) fn is_valid_request_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    (1..=128).contains(&bytes.len())
        && bytes.iter().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/' | b'+' | b'=')
        })
}

/// A new id: `req_` and 32 lower-case hex digits.
pub(crate) fn generate() -> RequestId {
    let mut id = [0u8; GENERATED_LEN];
    let (prefix, digits) = id.split_at_mut(4);
    prefix.copy_from_slice(b"req_");
    // 32 hex digits: 16 from each of two draws, eight from each half of a draw.
    let (first, second) = (next(), next());
    let halves = [first >> 32, first, second >> 32, second];
    for (eight, half) in digits.chunks_exact_mut(8).zip(halves) {
        eight.copy_from_slice(&hex8(half as u32));
    }
    RequestId::Generated(id)
}

/// The eight lower-case hex digits of `value`, most significant first, computed a word at a
/// time: each nibble is spread into a byte of its own, then turned into `0`–`9` or `a`–`f`.
fn hex8(value: u32) -> [u8; 8] {
    const NIBBLES: u64 = 0x0f0f_0f0f_0f0f_0f0f;
    let mut spread = u64::from(value);
    spread = (spread | (spread << 16)) & 0x0000_ffff_0000_ffff;
    spread = (spread | (spread << 8)) & 0x00ff_00ff_00ff_00ff;
    spread = (spread | (spread << 4)) & NIBBLES;
    // 1 in each byte whose nibble is 10 or more (nibble + 6 carries into bit 4, never past
    // the byte).
    let letters = (spread.wrapping_add(0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
    // `'0'` is 0x30; a letter needs 0x27 more (`'a'` is 0x61 = 0x30 + 10 + 0x27).
    spread
        .wrapping_add(0x3030_3030_3030_3030)
        .wrapping_add(letters.wrapping_mul(0x27))
        .to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_digits_are_those_of_the_formatter() {
        for value in [
            0,
            1,
            9,
            10,
            15,
            16,
            0xdead_beef,
            0x0123_4567,
            0x89ab_cdef,
            u32::MAX,
        ] {
            assert_eq!(
                hex8(value),
                *format!("{value:08x}").as_bytes(),
                "{value:#x}"
            );
        }
        let mut value = 0x9e37_79b9_u32;
        for _ in 0..10_000 {
            value = value.wrapping_mul(0x0101_0101).wrapping_add(0x6d2b_79f5);
            assert_eq!(hex8(value), *format!("{value:08x}").as_bytes());
        }
    }

    #[test]
    fn generated_ids_are_distinct_and_well_formed() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert_eq!(a.as_bytes().len(), 36);
        assert!(a.as_str().starts_with("req_"));
        assert!(is_valid_request_id(&a.to_header_value()));
        assert_eq!(a.to_header_value().as_bytes(), a.as_bytes());
    }

    #[test]
    fn valid_inbound_ids_are_kept_and_bad_ones_replaced() {
        let mut headers = HeaderMap::new();
        headers.insert(&X_REQUEST_ID, HeaderValue::from_static("trace-123"));
        assert_eq!(for_request(&headers).as_str(), "trace-123");
        assert_eq!(for_request(&headers).to_header_value(), "trace-123");
        headers.insert(
            &X_REQUEST_ID,
            HeaderValue::from_static("bad id\"with quote"),
        );
        let replaced = for_request(&headers);
        assert_ne!(replaced.as_bytes(), b"bad id\"with quote");
        assert!(replaced.as_str().starts_with("req_"));
    }

    #[test]
    fn request_ids_are_limited_to_a_safe_alphabet() {
        assert!(is_valid_request_id(&HeaderValue::from_static(
            "req_abc-123"
        )));
        assert!(!is_valid_request_id(&HeaderValue::from_static("a b")));
        assert!(!is_valid_request_id(&HeaderValue::from_static("")));
        let long = HeaderValue::from_str(&"a".repeat(129)).expect("value");
        assert!(!is_valid_request_id(&long));
    }
}
