//! Request heads: one test per framing rule of `src/http1/mod.rs`.

use http::{Method, Version};

use super::SIGNED_REQUEST;
use crate::http1::{parse_request, BodyFraming, Http1Error, Limits, RequestHead, Status};

pub(super) fn parse(head: &[u8]) -> Result<RequestHead, Http1Error> {
    match parse_request(head, &Limits::default())? {
        Status::Complete(head) => Ok(head),
        Status::Partial => panic!("partial: {:?}", String::from_utf8_lossy(head)),
    }
}

pub(super) fn error(head: &[u8]) -> Http1Error {
    parse(head).expect_err("should be refused")
}

/// A 1.1 request with Host and the given extra field lines.
fn with_fields(fields: &str) -> Vec<u8> {
    format!("POST /p HTTP/1.1\r\nHost: h\r\n{fields}\r\n").into_bytes()
}

#[test]
fn parses_the_signed_request_into_parts() {
    let head = parse(SIGNED_REQUEST).unwrap();
    assert_eq!(head.head.parts.method, Method::POST);
    assert_eq!(head.head.parts.uri, "/api/resource");
    assert_eq!(head.head.parts.version, Version::HTTP_11);
    // Content-Type, Stripe-Signature, User-Agent and Accept are relayed verbatim, outside the
    // map, as sent.
    // Host and Content-Length are held beside the lines: the map is empty.
    assert!(head.head.parts.headers.is_empty());
    assert_eq!(head.all_fields().len(), 6);
    assert_eq!(head.head.verbatim.content_length(), Some(63));
    let names: Vec<_> = head.head.verbatim.iter().map(|(name, _)| name).collect();
    assert_eq!(
        names,
        [
            &b"Content-Type"[..],
            b"Stripe-Signature",
            b"User-Agent",
            b"Accept"
        ]
    );
    let (signature, lines) = head.head.verbatim.stripe_signature();
    assert_eq!(lines, 1);
    assert!(signature.is_some_and(|value| value.starts_with(b"t=1735689600,v1=")));
    assert_eq!(head.head_len, SIGNED_REQUEST.len());
    assert_eq!(head.framing, BodyFraming::Length(63));
    assert!(head.keep_alive);
    assert!(!head.expect_continue);
    assert!(!head.upgrade_requested);
}

#[test]
fn every_proper_prefix_is_partial() {
    for end in 0..SIGNED_REQUEST.len() {
        let status = parse_request(&SIGNED_REQUEST[..end], &Limits::default()).unwrap();
        assert_eq!(status.map_partial(), None, "prefix of {end} bytes");
    }
}

#[test]
fn head_over_max_header_bytes_is_431() {
    let limits = Limits {
        max_header_bytes: 64,
        ..Limits::default()
    };
    // Complete but too long.
    assert_eq!(
        parse_request(SIGNED_REQUEST, &limits).unwrap_err(),
        Http1Error::HeadTooLarge
    );
    // Still incomplete at the limit.
    let partial = &SIGNED_REQUEST[..64];
    assert_eq!(
        parse_request(partial, &limits).unwrap_err(),
        Http1Error::HeadTooLarge
    );
    assert_eq!(Http1Error::HeadTooLarge.status(), 431);
}

#[test]
fn more_fields_than_max_headers_is_431() {
    let limits = Limits {
        max_headers: 3,
        ..Limits::default()
    };
    let err = parse_request(SIGNED_REQUEST, &limits).unwrap_err();
    assert_eq!(err, Http1Error::TooManyHeaders);
    let fields: String = (0..super::super::MAX_HEADERS_CAP)
        .map(|i| format!("X-{i}: v\r\n"))
        .collect();
    let huge = Limits {
        max_headers: usize::MAX,
        ..Limits::default()
    };
    let err = parse_request(&with_fields(&fields), &huge).unwrap_err();
    assert_eq!(
        err,
        Http1Error::TooManyHeaders,
        "clamped to MAX_HEADERS_CAP"
    );
}

#[test]
fn transfer_encoding_with_content_length_is_400() {
    let err = error(&with_fields(
        "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
    ));
    assert_eq!(err, Http1Error::ContentLengthWithTransferEncoding);
    let err = error(&with_fields(
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
    ));
    assert_eq!(err, Http1Error::ContentLengthWithTransferEncoding);
}

#[test]
fn transfer_encoding_not_ending_in_chunked_is_400() {
    for value in [
        "gzip",
        "chunked, gzip",
        "identity",
        "chunked;x=1",
        "chunked,",
        "",
    ] {
        let err = error(&with_fields(&format!("Transfer-Encoding: {value}\r\n")));
        assert_eq!(err, Http1Error::TransferEncodingNotChunked, "{value:?}");
        assert_eq!(err.status(), 400);
    }
}

#[test]
fn transfer_coding_before_chunked_is_501() {
    for value in ["gzip, chunked", "identity,chunked"] {
        let err = error(&with_fields(&format!("Transfer-Encoding: {value}\r\n")));
        assert_eq!(err, Http1Error::UnsupportedTransferCoding, "{value:?}");
        assert_eq!(err.status(), 501);
    }
    let err = error(&with_fields(
        "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
    ));
    assert_eq!(
        err,
        Http1Error::UnsupportedTransferCoding,
        "codings span field lines"
    );
}

#[test]
fn chunked_applied_twice_is_400() {
    let err = error(&with_fields("Transfer-Encoding: chunked, chunked\r\n"));
    assert_eq!(err, Http1Error::TransferEncodingNotChunked);
    let err = error(&with_fields(
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
    ));
    assert_eq!(err, Http1Error::TransferEncodingNotChunked);
}

#[test]
fn a_single_chunked_in_any_case_with_ows_is_accepted() {
    for value in ["chunked", "Chunked", "CHUNKED", "  chunked\t ", "\tchunked"] {
        let head = parse(&with_fields(&format!("Transfer-Encoding: {value}\r\n"))).unwrap();
        assert_eq!(head.framing, BodyFraming::Chunked, "{value:?}");
    }
}

#[test]
fn transfer_encoding_in_http10_request_is_400() {
    let err = error(b"POST /p HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_eq!(err, Http1Error::TransferEncodingInHttp10);
}

#[test]
fn repeated_or_listed_content_length_is_400() {
    let err = error(&with_fields("Content-Length: 5\r\nContent-Length: 5\r\n"));
    assert_eq!(err, Http1Error::MultipleContentLength);
    for value in ["5, 5", "5,5", "5, 6"] {
        let err = error(&with_fields(&format!("Content-Length: {value}\r\n")));
        assert_eq!(err, Http1Error::InvalidContentLength, "{value:?}");
    }
}

#[test]
fn content_length_must_be_plain_digits_without_overflow() {
    let too_long = "9".repeat(20);
    for value in [
        "+5",
        "-5",
        "5 5",
        "0x5",
        "5a",
        "",
        "1e3",
        too_long.as_str(),
        "18446744073709551616",
    ] {
        let err = error(&with_fields(&format!("Content-Length: {value}\r\n")));
        assert_eq!(err, Http1Error::InvalidContentLength, "{value:?}");
    }
    let head = parse(&with_fields("Content-Length: 005\r\n")).unwrap();
    assert_eq!(
        head.framing,
        BodyFraming::Length(5),
        "leading zeros are digits"
    );
    let head = parse(&with_fields("Content-Length: 18446744073709551615\r\n")).unwrap();
    assert_eq!(head.framing, BodyFraming::Length(u64::MAX));
    let head = parse(&with_fields(
        "Content-Length: 0000000000000000000000007\r\n",
    ))
    .unwrap();
    assert_eq!(head.framing, BodyFraming::Length(7));
}

#[test]
fn no_framing_field_means_an_empty_body() {
    let head = parse(b"POST /p HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    assert_eq!(head.framing, BodyFraming::Length(0));
}

#[test]
fn obs_fold_is_400() {
    let err = error(b"GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\n two\r\n\r\n");
    assert!(matches!(err, Http1Error::Syntax(_)), "{err:?}");
    assert_eq!(err.status(), 400);
}

#[test]
fn whitespace_between_field_name_and_colon_is_400() {
    for line in ["Content-Length : 5", "Content-Length\t: 5", "X-A :1"] {
        let err = error(&with_fields(&format!("{line}\r\n")));
        assert!(matches!(err, Http1Error::Syntax(_)), "{line:?}: {err:?}");
    }
}

#[test]
fn bare_cr_and_nul_in_field_values_are_400() {
    for value in [&b"a\rb"[..], b"a\0b", b"a\r"] {
        let mut head = b"GET / HTTP/1.1\r\nHost: h\r\nX-A: ".to_vec();
        head.extend_from_slice(value);
        head.extend_from_slice(b"\r\n\r\n");
        let err = error(&head);
        assert!(matches!(err, Http1Error::Syntax(_)), "{value:?}: {err:?}");
    }
}

#[test]
fn bare_lf_line_endings_are_400() {
    for head in [
        &b"GET / HTTP/1.1\nHost: h\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: h\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\n\n",
        b"\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
    ] {
        assert_eq!(
            error(head),
            Http1Error::BareLineFeed,
            "{:?}",
            String::from_utf8_lossy(head)
        );
    }
}

#[test]
fn empty_lines_before_the_request_line_are_skipped() {
    let head = parse(b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    assert_eq!(head.head.parts.method, Method::GET);
    assert_eq!(head.head_len, 31);
}

#[test]
fn keep_alive_follows_version_and_connection_tokens() {
    let cases: [(&str, &str, bool); 7] = [
        ("1.1", "", true),
        ("1.1", "Connection: close\r\n", false),
        ("1.1", "Connection: foo, Close\r\n", false),
        ("1.0", "", false),
        ("1.0", "Connection: keep-alive\r\n", true),
        ("1.0", "Connection: Keep-Alive, close\r\n", false),
        (
            "1.1",
            "Connection: keep-alive\r\nConnection: close\r\n",
            false,
        ),
    ];
    for (version, fields, keep_alive) in cases {
        let head = format!("GET / HTTP/{version}\r\nHost: h\r\n{fields}\r\n");
        assert_eq!(
            parse(head.as_bytes()).unwrap().keep_alive,
            keep_alive,
            "{head:?}"
        );
    }
}

#[test]
fn expect_100_continue_is_reported_for_http11_only() {
    let head = parse(&with_fields(
        "Expect: 100-Continue\r\nContent-Length: 3\r\n",
    ))
    .unwrap();
    assert!(head.expect_continue);
    let head = parse(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").unwrap();
    assert!(
        !head.expect_continue,
        "RFC 9110 §10.1.1: ignored in HTTP/1.0"
    );
    let head = parse(&with_fields("Expect: something-else\r\n")).unwrap();
    assert!(!head.expect_continue, "other expectations are ignored");
}

#[test]
fn upgrade_is_reported_not_acted_on() {
    let head = parse(&with_fields(
        "Connection: upgrade\r\nUpgrade: websocket\r\n",
    ))
    .unwrap();
    assert!(head.upgrade_requested);
    assert_eq!(head.framing, BodyFraming::Length(0));
}

#[test]
fn pipelined_requests_parse_one_after_the_other() {
    let buf = b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhiGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
    let first = parse(buf).unwrap();
    assert_eq!(first.framing, BodyFraming::Length(2));
    let rest = &buf[first.head_len + 2..];
    let second = parse(rest).unwrap();
    assert_eq!(second.head.parts.uri, "/b");
    assert_eq!(second.head_len, rest.len());
}

trait MapPartial {
    fn map_partial(self) -> Option<()>;
}

impl<T> MapPartial for Status<T> {
    fn map_partial(self) -> Option<()> {
        match self {
            Status::Partial => None,
            Status::Complete(_) => Some(()),
        }
    }
}
