//! Head and chunk encoding: exact bytes, and the codec owning the framing fields.

use http::header::{HeaderMap, HeaderValue};
use http::uri::PathAndQuery;
use http::{Method, StatusCode};

use crate::http1::{
    encode_chunk, encode_request_head, encode_response_head, BodyFraming, ChunkSizeLine, LAST_CHUNK,
};

fn headers(fields: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in fields {
        map.append(*name, HeaderValue::from_static(value));
    }
    map
}

fn request(method: Method, framing: BodyFraming, close: bool, map: &HeaderMap) -> String {
    let mut dst = Vec::new();
    let target = PathAndQuery::from_static("/api/resource?x=1");
    encode_request_head(&mut dst, &method, &target, map, framing, close);
    String::from_utf8(dst).unwrap()
}

fn response(status: StatusCode, framing: BodyFraming, close: bool, map: &HeaderMap) -> String {
    let mut dst = Vec::new();
    encode_response_head(&mut dst, status, map, framing, close);
    String::from_utf8(dst).unwrap()
}

#[test]
fn request_head_bytes() {
    let map = headers(&[("host", "up:80"), ("x-a", "1"), ("x-a", "2")]);
    assert_eq!(
        request(Method::POST, BodyFraming::Length(63), false, &map),
        "POST /api/resource?x=1 HTTP/1.1\r\nhost: up:80\r\nx-a: 1\r\nx-a: 2\r\ncontent-length: 63\r\n\r\n"
    );
    assert_eq!(
        request(Method::PUT, BodyFraming::Chunked, true, &map),
        "PUT /api/resource?x=1 HTTP/1.1\r\nhost: up:80\r\nx-a: 1\r\nx-a: 2\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
}

#[test]
fn framing_and_connection_fields_come_from_the_caller_not_the_map() {
    let map = headers(&[
        ("content-length", "999"),
        ("transfer-encoding", "gzip"),
        ("connection", "upgrade"),
        ("x-b", "b"),
    ]);
    assert_eq!(
        request(Method::POST, BodyFraming::Length(2), false, &map),
        "POST /api/resource?x=1 HTTP/1.1\r\nx-b: b\r\ncontent-length: 2\r\n\r\n"
    );
    assert_eq!(
        response(StatusCode::OK, BodyFraming::Chunked, false, &map),
        "HTTP/1.1 200 OK\r\nx-b: b\r\ntransfer-encoding: chunked\r\n\r\n"
    );
}

#[test]
fn empty_request_bodies_get_content_length_only_where_content_is_expected() {
    let map = HeaderMap::new();
    assert!(!request(Method::GET, BodyFraming::Length(0), false, &map).contains("content-length"));
    assert!(
        !request(Method::DELETE, BodyFraming::Length(0), false, &map).contains("content-length")
    );
    for method in [Method::POST, Method::PUT, Method::PATCH] {
        assert!(
            request(method, BodyFraming::Length(0), false, &map).contains("content-length: 0\r\n")
        );
    }
    assert!(
        request(Method::POST, BodyFraming::UntilClose, false, &map)
            .contains("transfer-encoding: chunked"),
        "a request of unknown length goes chunked"
    );
}

#[test]
fn response_head_bytes() {
    let map = headers(&[("content-type", "application/json")]);
    assert_eq!(
        response(StatusCode::OK, BodyFraming::Length(27), false, &map),
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 27\r\n\r\n"
    );
    assert_eq!(
        response(
            StatusCode::BAD_GATEWAY,
            BodyFraming::UntilClose,
            true,
            &HeaderMap::new()
        ),
        "HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\n\r\n"
    );
    let unknown = StatusCode::from_u16(599).unwrap();
    assert_eq!(
        response(unknown, BodyFraming::Length(0), false, &HeaderMap::new()),
        "HTTP/1.1 599 \r\ncontent-length: 0\r\n\r\n"
    );
}

#[test]
fn no_framing_field_on_1xx_and_204() {
    let map = HeaderMap::new();
    assert_eq!(
        response(StatusCode::CONTINUE, BodyFraming::Length(0), false, &map),
        "HTTP/1.1 100 Continue\r\n\r\n"
    );
    assert_eq!(
        response(StatusCode::NO_CONTENT, BodyFraming::Length(5), false, &map),
        "HTTP/1.1 204 No Content\r\n\r\n"
    );
    assert_eq!(
        response(
            StatusCode::NOT_MODIFIED,
            BodyFraming::Length(5),
            false,
            &map
        ),
        "HTTP/1.1 304 Not Modified\r\ncontent-length: 5\r\n\r\n",
        "304 may carry the representation's length"
    );
}

#[test]
fn chunk_size_lines_are_lower_case_hex() {
    for (size, line) in [
        (1u64, "1\r\n"),
        (15, "f\r\n"),
        (16, "10\r\n"),
        (255, "ff\r\n"),
        (0x1234_abcd, "1234abcd\r\n"),
        (u64::MAX, "ffffffffffffffff\r\n"),
    ] {
        assert_eq!(
            ChunkSizeLine::new(size).as_bytes(),
            line.as_bytes(),
            "{size}"
        );
    }
}

#[test]
fn chunks_and_the_last_chunk() {
    let mut dst = Vec::new();
    encode_chunk(&mut dst, b"hello");
    encode_chunk(&mut dst, b"");
    dst.extend_from_slice(LAST_CHUNK);
    assert_eq!(dst, b"5\r\nhello\r\n0\r\n\r\n");
}
