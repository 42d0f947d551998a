//! Request lines and `Host`: version, target forms, `CONNECT`, line length.

use super::request::{error, parse};
use crate::http1::{parse_request, Http1Error, Limits};

#[test]
fn http11_request_takes_at_most_one_host() {
    assert!(parse(b"GET / HTTP/1.1\r\n\r\n")
        .unwrap()
        .head
        .parts
        .headers
        .get("host")
        .is_none());
    assert_eq!(
        error(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"),
        Http1Error::MultipleHost
    );
    assert_eq!(
        error(b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"),
        Http1Error::MultipleHost
    );
    assert!(
        parse(b"GET / HTTP/1.0\r\n\r\n").is_ok(),
        "HTTP/1.0 may omit Host"
    );
}

#[test]
fn host_must_be_host_and_optional_port() {
    for host in ["a@b", "a b", "a/b", "a:b", "[::1", "[]", "h:80x", "a?b"] {
        let err = error(format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes());
        assert_eq!(err, Http1Error::InvalidHost, "{host:?}");
    }
    for host in [
        "",
        "example.com",
        "example.com:8080",
        "10.0.0.1:80",
        "[::1]",
        "[::1]:443",
        "h:",
        "example.com \t",
    ] {
        assert!(
            parse(format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes()).is_ok(),
            "{host:?}"
        );
    }
}

#[test]
fn connect_is_501() {
    let err = error(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    assert_eq!(err, Http1Error::ConnectUnsupported);
    assert_eq!(err.status(), 501);
}

#[test]
fn absolute_form_is_accepted_and_its_authority_replaces_host() {
    let head = parse(b"GET http://Up.Example:81/a?b=1 HTTP/1.1\r\nHost: other\r\n\r\n").unwrap();
    assert_eq!(head.head.parts.uri.path(), "/a");
    assert_eq!(head.head.parts.uri.query(), Some("b=1"));
    assert_eq!(head.all_fields()["host"], "Up.Example:81");
    assert_eq!(head.all_fields().get_all("host").iter().count(), 1);
    assert!(parse(b"GET HTTPS://h/ HTTP/1.1\r\nHost: h\r\n\r\n").is_ok());
    for target in ["http://user@h/", "ftp://h/", "http:///x", "mailto:a@b"] {
        let err = error(format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes());
        assert_eq!(err, Http1Error::InvalidTarget, "{target:?}");
    }
}

/// Found by fuzzing (`fuzz/regressions/http1_request/absolute-form-port-not-digits`): the
/// authority replaces `Host`, so it must be a `Host` the field check would accept.
#[test]
fn absolute_form_authority_must_be_a_valid_host() {
    for authority in ["h:81a", "h:8o", "h:+1", "Up.Example:81na"] {
        let head = format!("GET http://{authority}/x HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(
            error(head.as_bytes()),
            Http1Error::InvalidTarget,
            "{authority}"
        );
        let head = format!("GET /x HTTP/1.1\r\nHost: {authority}\r\n\r\n");
        assert_eq!(
            error(head.as_bytes()),
            Http1Error::InvalidHost,
            "{authority}"
        );
    }
    let head = parse(b"GET http://[::1]:8080/ HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    assert_eq!(head.all_fields()["host"], "[::1]:8080");
}

/// Found by fuzzing (`fuzz/regressions/http1_request/absolute-form-query-without-path`): the
/// path of an absolute-form target is never empty, so `path_and_query` is an origin-form target.
#[test]
fn absolute_form_without_path_gets_root_path() {
    let head = parse(b"GET http://Up.Example:81?a?1b=1 HTTP/1.1\r\nHost: other\r\n\r\n").unwrap();
    assert_eq!(head.head.parts.uri.path(), "/");
    assert_eq!(head.head.parts.uri.query(), Some("a?1b=1"));
    let target = head
        .head
        .parts
        .uri
        .path_and_query()
        .map(|target| target.as_str());
    assert_eq!(target, Some("/?a?1b=1"));
    assert_eq!(head.all_fields()["host"], "Up.Example:81");
    let head = parse(b"GET http://h HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    assert_eq!(
        head.head
            .parts
            .uri
            .path_and_query()
            .map(|target| target.as_str()),
        Some("/")
    );
}

#[test]
fn asterisk_form_only_for_options() {
    let head = parse(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    assert_eq!(head.head.parts.uri.path(), "*");
    assert_eq!(
        error(b"GET * HTTP/1.1\r\nHost: h\r\n\r\n"),
        Http1Error::InvalidTarget
    );
}

#[test]
fn authority_form_and_fragments_are_400() {
    assert_eq!(
        error(b"GET h:80 HTTP/1.1\r\nHost: h\r\n\r\n"),
        Http1Error::InvalidTarget
    );
    assert_eq!(
        error(b"GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n"),
        Http1Error::InvalidTarget
    );
    assert_eq!(
        error(b"GET a/b HTTP/1.1\r\nHost: h\r\n\r\n"),
        Http1Error::InvalidTarget
    );
}

#[test]
fn versions_other_than_10_and_11_are_505() {
    for version in ["HTTP/2.0", "HTTP/1.2", "HTTP/0.9", "HTTP/3.0"] {
        let err = error(format!("GET / {version}\r\nHost: h\r\n\r\n").as_bytes());
        assert_eq!(err, Http1Error::UnsupportedVersion, "{version}");
        assert_eq!(err.status(), 505);
    }
}

#[test]
fn a_malformed_request_line_is_400_not_505() {
    for line in [
        "GET /a b HTTP/1.1",
        "GET http://a b/open/x HTTP/1.1",
        "GET /x FOO",
        "GET /x Http/1.1",
        "GET /x http/1.1",
        "GET /x HTTP/1",
        "GET /x HTTP/01.1",
        "GET /x HTTP/11",
        "GET /x HTTP/1.1 ",
        "GET /x HTTP/2.0 x",
    ] {
        let err = error(format!("{line}\r\nHost: h\r\n\r\n").as_bytes());
        assert_eq!(err.status(), 400, "{line}: {err:?}");
    }
}

#[test]
fn an_unsupported_version_split_across_reads_waits_for_the_line_to_end() {
    let limits = Limits::default();
    for cut in ["GET / HTTP/2", "GET / HTTP/2.", "GET / HTTP/1.2"] {
        assert!(
            matches!(
                parse_request(cut.as_bytes(), &limits),
                Ok(crate::http1::Status::Partial)
            ),
            "{cut}"
        );
    }
    assert_eq!(
        parse_request(b"GET / HTTP/2.0\r\n", &limits).unwrap_err(),
        Http1Error::UnsupportedVersion
    );
    assert_eq!(
        parse_request(b"GET / HTTP/2x", &limits)
            .unwrap_err()
            .status(),
        400
    );
}

#[test]
fn a_request_line_over_both_limits_is_414_not_431() {
    // As the server configures it: one limit for the head and for its request line.
    let limits = Limits {
        max_header_bytes: 64,
        max_request_line: 64,
        ..Limits::default()
    };
    let long = format!("GET /{} HTTP/1.1\r\nHost: h\r\n\r\n", "a".repeat(100));
    assert_eq!(
        parse_request(long.as_bytes(), &limits).unwrap_err(),
        Http1Error::RequestLineTooLong
    );
    assert_eq!(
        parse_request(&long.as_bytes()[..80], &limits).unwrap_err(),
        Http1Error::RequestLineTooLong,
        "refused before the line ends"
    );
    let many = format!(
        "GET / HTTP/1.1\r\nHost: h\r\nx-a: {}\r\n\r\n",
        "b".repeat(80)
    );
    assert_eq!(
        parse_request(many.as_bytes(), &limits).unwrap_err(),
        Http1Error::HeadTooLarge
    );
    assert_eq!(
        parse_request(&many.as_bytes()[..70], &limits).unwrap_err(),
        Http1Error::HeadTooLarge
    );
}

#[test]
fn request_line_over_max_request_line_is_414() {
    let limits = Limits {
        max_request_line: 32,
        ..Limits::default()
    };
    let long = format!("GET /{} HTTP/1.1\r\nHost: h\r\n\r\n", "a".repeat(40));
    assert_eq!(
        parse_request(long.as_bytes(), &limits).unwrap_err(),
        Http1Error::RequestLineTooLong
    );
    assert_eq!(
        parse_request(&long.as_bytes()[..36], &limits).unwrap_err(),
        Http1Error::RequestLineTooLong,
        "refused before the line ends"
    );
    let fits = format!("GET /{} HTTP/1.1\r\nHost: h\r\n\r\n", "a".repeat(18));
    assert!(parse_request(fits.as_bytes(), &limits).is_ok());
}
