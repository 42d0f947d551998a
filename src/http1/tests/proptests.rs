//! Property tests: no input panics a parser; encode → parse gives back what was encoded.

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::uri::PathAndQuery;
use http::{Method, StatusCode};
use proptest::prelude::*;

use super::chunked::decode_in_steps;
use super::response::UPSTREAM_RESPONSE;
use super::SIGNED_REQUEST;
use crate::http1::{
    encode_chunk, encode_request_head, encode_response_head, parse_request, parse_response,
    BodyFraming, ChunkedDecoder, Limits, ResponseStart, Status, LAST_CHUNK,
};

/// Names the codec interprets or owns; random heads leave them out.
const RESERVED: [&str; 6] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "expect",
    "upgrade",
];

fn field_name() -> impl Strategy<Value = HeaderName> {
    "[a-z][a-z0-9-]{0,20}"
        .prop_filter("reserved", |name| !RESERVED.contains(&name.as_str()))
        .prop_map(|name| HeaderName::from_bytes(name.as_bytes()).unwrap())
}

/// Visible ASCII with inner spaces; no outer whitespace (parsers trim it).
fn field_value() -> impl Strategy<Value = HeaderValue> {
    "([!-~]([ !-~]{0,30}[!-~])?)?".prop_map(|value| HeaderValue::from_str(&value).unwrap())
}

fn header_map() -> impl Strategy<Value = HeaderMap> {
    proptest::collection::vec((field_name(), field_value()), 0..12).prop_map(|fields| {
        let mut map = HeaderMap::new();
        for (name, value) in fields {
            map.append(name, value);
        }
        map
    })
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::GET),
        Just(Method::POST),
        Just(Method::PUT),
        Just(Method::DELETE),
        Just(Method::PATCH),
        "[A-Z]{1,12}"
            .prop_filter("CONNECT is refused", |m| m != "CONNECT")
            .prop_map(|m| Method::from_bytes(m.as_bytes()).unwrap()),
    ]
}

fn framing() -> impl Strategy<Value = BodyFraming> {
    prop_oneof![
        (1u64..u64::MAX).prop_map(BodyFraming::Length),
        Just(BodyFraming::Chunked)
    ]
}

/// A valid head with bytes overwritten at random places.
fn mutated(base: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8).prop_map(
        move |edits| {
            let mut bytes = base.to_vec();
            for (index, byte) in edits {
                let at = index.index(bytes.len());
                bytes[at] = byte;
            }
            bytes
        },
    )
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_the_parsers(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let limits = Limits { max_header_bytes: 256, max_request_line: 64, ..Limits::default() };
        let _ = parse_request(&bytes, &limits);
        let _ = parse_response(&bytes, &Method::GET, &limits);
        let _ = decode_in_steps(&mut ChunkedDecoder::new(&limits, 1 << 20), &bytes, 7);
    }

    #[test]
    fn mutated_heads_never_panic_the_parsers(request in mutated(SIGNED_REQUEST), response in mutated(UPSTREAM_RESPONSE)) {
        let _ = parse_request(&request, &Limits::default());
        let _ = parse_response(&response, &Method::HEAD, &Limits::default());
    }

    #[test]
    fn chunk_like_bytes_never_panic_the_decoder(bytes in "[0-9a-fA-F; =\r\nxX:\t]{0,200}", step in 1usize..16) {
        let _ = decode_in_steps(&mut ChunkedDecoder::new(&Limits::default(), 1 << 20), bytes.as_bytes(), step);
    }

    #[test]
    fn request_heads_round_trip(
        method in method(),
        path in "/[a-zA-Z0-9._~!$&'()*+,;=:@%/-]{0,40}(\\?[a-zA-Z0-9=&%/?-]{0,20})?",
        host in "[a-z0-9.-]{1,20}(:[0-9]{1,5})?",
        mut headers in header_map(),
        framing in framing(),
    ) {
        headers.insert("host", HeaderValue::from_str(&host).unwrap());
        let target = PathAndQuery::try_from(path.as_str()).unwrap();
        let mut wire = Vec::new();
        encode_request_head(&mut wire, &method, &target, &headers, framing, false);
        let Ok(Status::Complete(head)) = parse_request(&wire, &Limits::default()) else {
            panic!("{:?}", String::from_utf8_lossy(&wire));
        };
        prop_assert_eq!(&head.head.parts.method, &method);
        prop_assert_eq!(head.head.parts.uri.path_and_query(), Some(&target));
        prop_assert_eq!(head.framing, framing);
        prop_assert_eq!(head.head_len, wire.len());
        prop_assert!(head.keep_alive);
        let mut parsed = head.all_fields();
        parsed.remove("content-length");
        parsed.remove("transfer-encoding");
        prop_assert_eq!(parsed, headers);
    }

    #[test]
    fn response_heads_round_trip(status in 200u16..600, headers in header_map(), framing in framing(), close in any::<bool>()) {
        let status = StatusCode::from_u16(status).unwrap();
        prop_assume!(status != StatusCode::NO_CONTENT && status != StatusCode::NOT_MODIFIED);
        let mut wire = Vec::new();
        encode_response_head(&mut wire, status, &headers, framing, close);
        let Ok(Status::Complete(ResponseStart::Final(head))) = parse_response(&wire, &Method::GET, &Limits::default()) else {
            panic!("{:?}", String::from_utf8_lossy(&wire));
        };
        prop_assert_eq!(head.parts.status, status);
        prop_assert_eq!(head.framing, framing);
        prop_assert_eq!(head.keep_alive, !close);
        let mut parsed = head.parts.headers;
        parsed.remove("content-length");
        parsed.remove("transfer-encoding");
        parsed.remove("connection");
        prop_assert_eq!(parsed, headers);
    }

    #[test]
    fn chunked_bodies_round_trip_in_any_split(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..8),
        step in 1usize..64,
    ) {
        let mut wire = Vec::new();
        for chunk in &chunks {
            encode_chunk(&mut wire, chunk);
        }
        wire.extend_from_slice(LAST_CHUNK);
        wire.extend_from_slice(b"NEXT");
        let (data, consumed) =
            decode_in_steps(&mut ChunkedDecoder::new(&Limits::default(), u64::MAX), &wire, step).unwrap();
        prop_assert_eq!(data, chunks.concat());
        prop_assert_eq!(consumed, Some(wire.len() - 4));
    }
}
