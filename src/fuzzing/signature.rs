//! `signature_header`: the `Stripe-Signature` grammar (rules 1–5) against a plain restatement
//! of the spec, plus the field-selection rule over a real `HeaderMap`.

use http::{HeaderMap, HeaderValue};

use crate::auth::{header_value, Rejection, SignatureHeader, HEADER_NAME};

/// Parses the input as a header value and checks: the result equals the spec model below;
/// every borrowed piece lies inside the input; a parsed header rebuilt as text parses to the
/// same values; rule 1 over a `HeaderMap` (one field, visible ASCII) agrees with the parser.
pub fn signature_header(data: &[u8]) {
    check_field_selection(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = SignatureHeader::parse(text);
    let expected = model(text);
    match (&parsed, &expected) {
        (Ok(header), Ok((timestamp, signatures))) => {
            assert_eq!(header.timestamp(), *timestamp, "timestamp of {text:?}");
            assert_eq!(header.signatures(), signatures.as_slice(), "v1 of {text:?}");
            assert_inside(text, header.timestamp_text());
            header
                .signatures()
                .iter()
                .for_each(|v1| assert_inside(text, v1));
            assert_eq!(header.timestamp_text(), header.timestamp().to_string());
            check_rebuilt(header);
        }
        (Err(got), Err(want)) => assert_eq!(got, want, "rejection of {text:?}"),
        _ => panic!("{text:?}: parser {parsed:?}, spec {expected:?}"),
    }
}

/// Rule 1: `header_value` over one field equals the parser's own byte check, and two fields
/// are always `MalformedHeader`.
fn check_field_selection(data: &[u8]) {
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(HEADER_NAME, value.clone());
    let selected = header_value(&headers);
    if data.is_empty() {
        assert_eq!(selected, Err(Rejection::MissingHeader));
    } else if data.iter().all(|byte| (0x20..=0x7e).contains(byte)) {
        assert_eq!(selected.map(str::as_bytes), Ok(data));
    } else {
        assert_eq!(selected, Err(Rejection::MalformedHeader), "{data:?}");
    }
    headers.append(HEADER_NAME, value);
    assert_eq!(header_value(&headers), Err(Rejection::MalformedHeader));
}

/// `t=<t>,v1=…,v1=…` from the parsed values parses back to the same values.
fn check_rebuilt(header: &SignatureHeader<'_>) {
    let mut text = format!("t={}", header.timestamp());
    for v1 in header.signatures() {
        text.push_str(",v1=");
        text.push_str(v1);
    }
    let again = SignatureHeader::parse(&text);
    let again = again.as_ref().map(|h| (h.timestamp(), h.signatures()));
    assert_eq!(again, Ok((header.timestamp(), header.signatures())));
}

/// `piece` is a sub-slice of `text` (the parser borrows, never copies).
fn assert_inside(text: &str, piece: &str) {
    let range = text.as_bytes().as_ptr_range();
    let start = piece.as_ptr();
    assert!(range.start <= start && start.wrapping_add(piece.len()) <= range.end);
}

/// The grammar as `reference/stripe-signatures.md` states it, written independently of the
/// parser: a list of elements, keys compared exactly, `t` once, `v1` values non-empty and free
/// of `=`.
fn model(text: &str) -> Result<(i64, Vec<&str>), Rejection> {
    if text.is_empty() {
        return Err(Rejection::MissingHeader);
    }
    if text.bytes().any(|byte| !(b' '..=b'~').contains(&byte)) {
        return Err(Rejection::MalformedHeader);
    }
    let elements: Vec<(&str, Option<&str>)> = text
        .split(',')
        .filter(|element| !element.is_empty())
        .map(|element| match element.find('=') {
            Some(at) => (&element[..at], Some(&element[at + 1..])),
            None => (element, None),
        })
        .collect();
    let times: Vec<Option<&str>> = elements
        .iter()
        .filter(|(key, _)| *key == "t")
        .map(|(_, value)| *value)
        .collect();
    let mut v1 = Vec::new();
    for (key, value) in &elements {
        if *key == "v1" {
            match value {
                Some(value) if !value.is_empty() && !value.contains('=') => v1.push(*value),
                _ => return Err(Rejection::MalformedHeader),
            }
        }
    }
    let timestamp = match times.as_slice() {
        [Some(digits)] if is_canonical_timestamp(digits) => {
            digits.parse().map_err(|_| Rejection::MalformedHeader)?
        }
        _ => return Err(Rejection::MalformedHeader),
    };
    if v1.is_empty() {
        return Err(Rejection::NoV1Signature);
    }
    Ok((timestamp, v1))
}

/// `^(0|[1-9][0-9]{0,11})$`.
fn is_canonical_timestamp(digits: &str) -> bool {
    digits == "0"
        || (!digits.starts_with('0')
            && (1..=12).contains(&digits.len())
            && digits.bytes().all(|byte| byte.is_ascii_digit()))
}
