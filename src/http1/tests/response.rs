//! Response heads: status range, interim answers and the framing of RFC 9112 §6.3.

use http::{Method, StatusCode, Version};

use crate::http1::{
    parse_response, BodyFraming, Http1Error, Limits, ResponseHead, ResponseStart, Status,
};

/// The bench's upstream answer.
pub(in crate::http1) const UPSTREAM_RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\n\
content-type: application/json\r\n\
content-length: 27\r\n\
date: Wed, 01 Jan 2025 00:00:00 GMT\r\n\
\r\n";

fn start(head: &[u8], method: &Method) -> Result<ResponseStart, Http1Error> {
    match parse_response(head, method, &Limits::default())? {
        Status::Complete(start) => Ok(start),
        Status::Partial => panic!("partial: {:?}", String::from_utf8_lossy(head)),
    }
}

fn final_head(head: &[u8], method: &Method) -> Result<ResponseHead, Http1Error> {
    match start(head, method)? {
        ResponseStart::Final(head) => Ok(head),
        ResponseStart::Interim { status, .. } => panic!("interim {status}"),
    }
}

fn framing(head: &str) -> BodyFraming {
    final_head(head.as_bytes(), &Method::POST).unwrap().framing
}

#[test]
fn parses_a_typical_upstream_answer() {
    let head = final_head(UPSTREAM_RESPONSE, &Method::POST).unwrap();
    assert_eq!(head.parts.status, StatusCode::OK);
    assert_eq!(head.parts.version, Version::HTTP_11);
    // Content-Type and Date are relayed verbatim; the length is the body's.
    assert!(head.parts.headers.is_empty());
    assert_eq!(
        head.verbatim.as_bytes(),
        b"content-type: application/json\r\ndate: Wed, 01 Jan 2025 00:00:00 GMT\r\n"
    );
    assert!(head.verbatim.has_date());
    assert_eq!(head.framing, BodyFraming::Length(27));
    assert_eq!(head.head_len, UPSTREAM_RESPONSE.len());
    assert!(head.keep_alive);
    assert_eq!(head.reason, None, "canonical reason not kept");
    for end in 0..UPSTREAM_RESPONSE.len() {
        let status = parse_response(&UPSTREAM_RESPONSE[..end], &Method::GET, &Limits::default());
        assert!(matches!(status, Ok(Status::Partial)), "prefix of {end}");
    }
}

#[test]
fn non_canonical_reason_is_kept() {
    let head = final_head(
        b"HTTP/1.1 200 Fine\r\ncontent-length: 0\r\n\r\n",
        &Method::GET,
    )
    .unwrap();
    assert_eq!(head.reason.as_deref(), Some(&b"Fine"[..]));
    let head = final_head(b"HTTP/1.1 204\r\n\r\n", &Method::GET).unwrap();
    assert_eq!(head.reason, None);
}

#[test]
fn status_outside_100_to_599_is_an_error() {
    for status in ["000", "099", "600", "999"] {
        let head = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
        let err = start(head.as_bytes(), &Method::GET).unwrap_err();
        assert_eq!(err, Http1Error::InvalidStatus, "{status}");
        assert_eq!(err.status(), 502);
    }
}

#[test]
fn interim_responses_are_reported_for_skipping() {
    for status in [100u16, 102, 103] {
        let head = format!("HTTP/1.1 {status} X\r\nlink: </a>\r\n\r\nHTTP/1.1 200 OK\r\n");
        match start(head.as_bytes(), &Method::POST).unwrap() {
            ResponseStart::Interim {
                status: got,
                head_len,
            } => {
                assert_eq!(got.as_u16(), status);
                assert_eq!(&head.as_bytes()[head_len..], b"HTTP/1.1 200 OK\r\n");
            }
            ResponseStart::Final(_) => panic!("final"),
        }
    }
}

#[test]
fn switching_protocols_is_an_error() {
    let err = start(
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\n\r\n",
        &Method::GET,
    )
    .unwrap_err();
    assert_eq!(err, Http1Error::UnexpectedUpgrade);
    assert_eq!(err.status(), 502);
}

#[test]
fn head_204_and_304_responses_have_no_body() {
    let head = final_head(
        b"HTTP/1.1 200 OK\r\ncontent-length: 1234\r\n\r\n",
        &Method::HEAD,
    )
    .unwrap();
    assert_eq!(head.framing, BodyFraming::Length(0));
    assert!(head.keep_alive);
    let head = final_head(
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
        &Method::HEAD,
    )
    .unwrap();
    assert_eq!(head.framing, BodyFraming::Length(0));
    assert_eq!(
        framing("HTTP/1.1 204 No Content\r\n\r\n"),
        BodyFraming::Length(0)
    );
    assert_eq!(
        framing("HTTP/1.1 304 Not Modified\r\ncontent-length: 9\r\n\r\n"),
        BodyFraming::Length(0)
    );
}

#[test]
fn chunked_content_length_and_close_delimited_bodies() {
    assert_eq!(
        framing("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"),
        BodyFraming::Chunked
    );
    assert_eq!(
        framing("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"),
        BodyFraming::Length(5)
    );
    let head = final_head(b"HTTP/1.1 200 OK\r\n\r\n", &Method::GET).unwrap();
    assert_eq!(head.framing, BodyFraming::UntilClose);
    assert!(
        !head.keep_alive,
        "a close-delimited body ends the connection"
    );
}

#[test]
fn a_response_framed_both_ways_is_decoded_as_chunked_without_its_length_and_not_reused() {
    let head = final_head(
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n",
        &Method::GET,
    )
    .unwrap();
    assert_eq!(head.framing, BodyFraming::Chunked);
    assert!(!head.parts.headers.contains_key("content-length"));
    assert!(!head.keep_alive);
}

#[test]
fn response_framing_errors_match_the_request_rules() {
    let cases: [(&str, Http1Error); 4] = [
        (
            "transfer-encoding: gzip\r\n",
            Http1Error::TransferEncodingNotChunked,
        ),
        (
            "content-length: 5\r\ncontent-length: 5\r\n",
            Http1Error::MultipleContentLength,
        ),
        ("content-length: -1\r\n", Http1Error::InvalidContentLength),
        ("x : y\r\n", Http1Error::Syntax("invalid header name")),
    ];
    for (fields, expected) in cases {
        let head = format!("HTTP/1.1 200 OK\r\n{fields}\r\n");
        assert_eq!(
            start(head.as_bytes(), &Method::GET).unwrap_err(),
            expected,
            "{fields:?}"
        );
    }
    let err = start(
        b"HTTP/1.0 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
        &Method::GET,
    )
    .unwrap_err();
    assert_eq!(err, Http1Error::TransferEncodingInHttp10);
    let err = start(b"HTTP/1.1 200 OK\r\nx: a\r\n b\r\n\r\n", &Method::GET).unwrap_err();
    assert!(matches!(err, Http1Error::Syntax(_)), "obs-fold: {err:?}");
}

#[test]
fn response_keep_alive_follows_version_and_connection() {
    let cases: [(&str, bool); 4] = [
        ("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", true),
        (
            "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
            false,
        ),
        ("HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n", false),
        (
            "HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n",
            true,
        ),
    ];
    for (head, keep_alive) in cases {
        assert_eq!(
            final_head(head.as_bytes(), &Method::GET)
                .unwrap()
                .keep_alive,
            keep_alive,
            "{head:?}"
        );
    }
}

#[test]
fn bare_lf_is_accepted_from_the_upstream() {
    let head = final_head(b"HTTP/1.1 200 OK\ncontent-length: 2\n\n", &Method::GET).unwrap();
    assert_eq!(head.framing, BodyFraming::Length(2));
    assert_eq!(head.head_len, 35);
}

#[test]
fn response_head_over_the_limit_is_an_error() {
    let limits = Limits {
        max_header_bytes: 32,
        ..Limits::default()
    };
    let err = parse_response(UPSTREAM_RESPONSE, &Method::GET, &limits).unwrap_err();
    assert_eq!(err, Http1Error::HeadTooLarge);
    let err = parse_response(&UPSTREAM_RESPONSE[..40], &Method::GET, &limits).unwrap_err();
    assert_eq!(err, Http1Error::HeadTooLarge);
}

#[test]
fn interim_then_final_head_in_one_buffer() {
    let buf = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok";
    let ResponseStart::Interim { head_len, .. } = start(buf, &Method::POST).unwrap() else {
        panic!("expected interim");
    };
    let head = final_head(&buf[head_len..], &Method::POST).unwrap();
    assert_eq!(head.parts.status, StatusCode::CREATED);
    assert_eq!(&buf[head_len + head.head_len..], b"ok");
}
