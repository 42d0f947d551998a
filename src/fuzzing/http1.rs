//! `http1_request`, `http1_response`, `http1_chunked`: the HTTP/1 codec on hostile bytes.
//!
//! Heads: `head_len` lies inside the input and no shorter prefix completes; the head alone
//! parses the same as the head with what follows; the framing decision agrees with the fields
//! kept; written back with the encoder, the head parses to the same message. Chunked bodies:
//! however the input is split across calls, the decoder yields the same bytes and the same end.

use http::header::{CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, Method, StatusCode, Version};

use crate::http1::{
    append_field, append_lines, encode_chunk, encode_request_head, encode_response_head,
    parse_request, parse_response, BodyFraming, ChunkedDecoder, Decoded, Http1Error, Limits,
    ResponseStart, Status, VerbatimFields, LAST_CHUNK, MAX_HEADERS_CAP,
};

/// First byte: even for the default limits, odd for tight ones; the rest is a request head.
pub fn http1_request(data: &[u8]) {
    let Some((&selector, buf)) = data.split_first() else {
        return;
    };
    let limits = limits(selector);
    let head = match parse_request(buf, &limits) {
        Ok(Status::Complete(head)) => head,
        Ok(Status::Partial) => {
            assert!(buf.len() < limits.max_header_bytes);
            return;
        }
        Err(error) => return assert_refusal(error),
    };
    let head_len = head.head_len;
    assert!(head_len <= buf.len() && head_len <= limits.max_header_bytes);
    assert!(buf[..head_len].ends_with(b"\r\n\r\n"), "{buf:?}");
    match parse_request(&buf[..head_len], &limits) {
        Ok(Status::Complete(alone)) => assert_eq!(format!("{alone:?}"), format!("{head:?}")),
        other => panic!("{buf:?}: the head alone reads as {other:?}"),
    }
    let shorter = parse_request(&buf[..head_len - 1], &limits);
    assert!(!matches!(shorter, Ok(Status::Complete(_))));
    let parts = &head.head.parts;
    // `Host` and `Content-Length` are held beside the verbatim lines: read them all together.
    let all = head.all_fields();
    let hosts = all.get_all(HOST).iter().count();
    // At most one `Host`; none is taken too (the codec's documented leniency).
    assert!(hosts <= 1);
    check_framing(&all, head.framing, false, false);
    check_verbatim(
        (&head.head.verbatim, &buf[..head_len]),
        &parts.headers,
        crate::http1::request_name,
    );
    if parts.version == Version::HTTP_10 && !all.contains_key(CONNECTION) {
        assert!(!head.keep_alive);
    }
    // Written back (as HTTP/1.1, which needs a Host), it reads as the same message.
    let Some(target) = parts.uri.path_and_query().filter(|_| hosts == 1) else {
        return;
    };
    let mut out = Vec::new();
    let close = !head.keep_alive;
    encode_request_head(
        &mut out,
        &parts.method,
        target,
        &parts.headers,
        head.framing,
        close,
    );
    if let Some(host) = head.head.verbatim.clone().take_host() {
        append_field(&mut out, b"host", host.as_bytes());
    }
    append_lines(&mut out, head.head.verbatim.as_bytes());
    let again = match parse_request(&out, &roomy()) {
        Ok(Status::Complete(again)) => again,
        other => panic!("{out:?} written from {buf:?} reads as {other:?}"),
    };
    assert_eq!(again.head_len, out.len());
    assert_eq!(again.head.parts.method, parts.method);
    assert_eq!(again.head.parts.uri.path_and_query(), Some(target));
    assert_eq!(again.framing, head.framing);
    assert_eq!(again.keep_alive, head.keep_alive);
    // A `Connection` that named fields sent them all to the map; written back without those
    // tokens, they come back as lines. Either way the message holds the same fields.
    if !head.head.verbatim.as_bytes().is_empty() {
        assert_eq!(
            again.head.verbatim.as_bytes(),
            head.head.verbatim.as_bytes()
        );
    }
    assert_eq!(end_to_end(&again.all_fields()), end_to_end(&all));
}

/// First byte: the method (`n % 8` bytes of method name follow when `n % 8 > 0`, else one of
/// the usual methods); the rest is a response head sent in answer to it.
pub fn http1_response(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let length = usize::from(selector % 8);
    let (method, buf) = if length == 0 {
        let usual = [Method::GET, Method::HEAD, Method::POST, Method::OPTIONS];
        (usual[usize::from(selector / 8) % usual.len()].clone(), rest)
    } else {
        let name = rest.get(..length).unwrap_or(rest);
        let method = Method::from_bytes(name).unwrap_or(Method::GET);
        (method, rest.get(length..).unwrap_or_default())
    };
    let limits = Limits::default();
    let head = match parse_response(buf, &method, &limits) {
        Ok(Status::Complete(ResponseStart::Final(head))) => head,
        Ok(Status::Complete(ResponseStart::Interim { status, head_len })) => {
            assert!(status.is_informational() && status != StatusCode::SWITCHING_PROTOCOLS);
            assert!(head_len <= buf.len());
            return;
        }
        Ok(Status::Partial) => return assert!(buf.len() < limits.max_header_bytes),
        // The driver answers 502 for any of these; the codec still classifies each.
        Err(error) => return assert_refusal(error),
    };
    let head_len = head.head_len;
    assert!(head_len <= buf.len() && head_len <= limits.max_header_bytes);
    match parse_response(&buf[..head_len], &method, &limits) {
        Ok(Status::Complete(ResponseStart::Final(alone))) => {
            assert_eq!(format!("{alone:?}"), format!("{head:?}"));
        }
        other => panic!("{buf:?}: the head alone reads as {other:?}"),
    }
    let shorter = parse_response(&buf[..head_len - 1], &method, &limits);
    assert!(!matches!(shorter, Ok(Status::Complete(_))));
    let status = head.parts.status;
    assert!(!status.is_informational());
    let bodiless = method == Method::HEAD
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    // A response with a body keeps no `Content-Length` in its map: its body gives the length.
    check_framing(&head.parts.headers, head.framing, bodiless, !bodiless);
    check_verbatim(
        (&head.verbatim, &buf[..head_len]),
        &head.parts.headers,
        crate::http1::response_name,
    );
    if head.framing == BodyFraming::UntilClose {
        assert!(!head.keep_alive);
    }
    let canonical = status.canonical_reason().map(str::as_bytes);
    assert!(head
        .reason
        .as_deref()
        .is_none_or(|r| !r.is_empty() && Some(r) != canonical));
    let mut out = Vec::new();
    let headers = &head.parts.headers;
    encode_response_head(&mut out, status, headers, head.framing, !head.keep_alive);
    append_lines(&mut out, head.verbatim.as_bytes());
    let again = match parse_response(&out, &method, &roomy()) {
        Ok(Status::Complete(ResponseStart::Final(again))) => again,
        other => panic!("{out:?} written from {buf:?} reads as {other:?}"),
    };
    assert_eq!(again.parts.status, status);
    assert_eq!(again.framing, head.framing);
    assert_eq!(again.keep_alive, head.keep_alive);
    if !head.verbatim.as_bytes().is_empty() {
        assert_eq!(again.verbatim, head.verbatim);
    }
    let all = |headers: &HeaderMap, verbatim: &VerbatimFields| {
        let mut all = headers.clone();
        verbatim.clone().merge_into(&mut all);
        end_to_end(&all)
    };
    assert_eq!(
        all(&again.parts.headers, &again.verbatim),
        all(headers, &head.verbatim)
    );
}

/// First byte: body limit (bits 0–1) and tight limits (bit 2); second: how many split
/// lengths follow (modulo 8), one byte each; the rest is a chunked body. Fed whole, in those
/// splits and byte by byte, the decoder yields the same data and the same end; a body it
/// accepts, written again with the encoder, decodes to the same data.
pub fn http1_chunked(data: &[u8]) {
    let [selector, count, rest @ ..] = data else {
        return;
    };
    let max_body = [u64::MAX, 0, 16, 1024][usize::from(selector & 3)];
    let limits = limits(selector >> 2);
    let count = usize::from(count % 8).min(rest.len());
    let (splits, input) = rest.split_at(count);
    let splits: Vec<usize> = splits.iter().map(|&n| usize::from(n.max(1))).collect();
    let whole = feed(input, &[input.len().max(1)], &limits, max_body);
    assert_eq!(
        feed(input, &splits, &limits, max_body),
        whole,
        "splits {splits:?}"
    );
    assert_eq!(feed(input, &[1], &limits, max_body), whole, "byte by byte");
    let Fed {
        data: body,
        end: End::Done(_),
    } = whole
    else {
        return;
    };
    let mut encoded = Vec::new();
    let mut pieces = splits.iter().cycle();
    let mut left = body.as_slice();
    while !left.is_empty() {
        let (piece, after) = left.split_at(pieces.next().copied().unwrap_or(64).min(left.len()));
        encode_chunk(&mut encoded, piece);
        left = after;
    }
    encoded.extend_from_slice(LAST_CHUNK);
    let again = feed(&encoded, &[encoded.len()], &roomy(), max_body);
    assert_eq!(
        again,
        Fed {
            data: body,
            end: End::Done(encoded.len())
        }
    );
}

/// What a decoder made of an input: the body data and how it ended.
#[derive(Debug, PartialEq, Eq)]
struct Fed {
    data: Vec<u8>,
    end: End,
}

#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The body ended after this many input bytes.
    Done(usize),
    /// The input ran out first.
    Incomplete,
    /// The decoder refused the input.
    Refused(Http1Error),
}

/// Drives a decoder as a connection would: the bytes arrive in pieces of `splits` lengths
/// (cycled), and each call sees what has arrived and was not consumed yet.
fn feed(input: &[u8], splits: &[usize], limits: &Limits, max_body: u64) -> Fed {
    let mut decoder = ChunkedDecoder::new(limits, max_body);
    let mut data = Vec::new();
    let (mut position, mut arrived) = (0usize, 0usize);
    let mut pieces = splits.iter().cycle();
    let end = loop {
        if position == arrived {
            if arrived == input.len() {
                assert_eq!(decoder.finish(), Err(Http1Error::IncompleteBody));
                break End::Incomplete;
            }
            arrived = (arrived + pieces.next().copied().unwrap_or(1)).min(input.len());
        }
        let window = &input[position..arrived];
        match decoder.decode(window) {
            Ok(Decoded::Data(range)) => {
                assert!(
                    range.start < range.end && range.end <= window.len(),
                    "{range:?}"
                );
                data.extend_from_slice(&window[range.clone()]);
                position += range.end;
            }
            Ok(Decoded::NeedMore) => position = arrived,
            Ok(Decoded::Done { consumed }) => {
                assert!(consumed <= window.len());
                assert!(decoder.is_done() && decoder.finish().is_ok());
                break End::Done(position + consumed);
            }
            Err(error) => break End::Refused(error),
        }
    };
    if matches!(end, End::Done(_)) {
        assert_eq!(decoder.received(), data.len() as u64);
    }
    assert!(decoder.received() <= max_body && data.len() as u64 <= decoder.received());
    Fed { data, end }
}

/// The decision `framing` agrees with the fields: `Content-Length` gives the length, chunked
/// needs `Transfer-Encoding` and no `Content-Length`; a bodiless message has `Length(0)`.
/// The fields relayed verbatim are the ones `names` picks, and only those (unless `Connection`
/// named fields, which sends them all to the map).
/// The verbatim lines hold only names on the list, none of which is also in the map, and, when
/// there are any, exactly the listed fields of `head` in order, each as `name: value` CRLF
/// (whether they were copied from the head in runs or written field by field).
fn check_verbatim(
    (verbatim, head): (&VerbatimFields, &[u8]),
    headers: &HeaderMap,
    names: fn(&[u8]) -> bool,
) {
    for (name, _) in verbatim.iter() {
        assert!(names(name), "{name:?} relayed verbatim");
    }
    if !verbatim.is_empty() {
        assert!(headers.keys().all(|name| !names(name.as_str().as_bytes())));
    }
    if verbatim.as_bytes().is_empty() {
        return;
    }
    let mut slots = [httparse::EMPTY_HEADER; crate::http1::MAX_HEADERS_CAP];
    let fields = match head.starts_with(b"HTTP/") {
        true => {
            let mut response = httparse::Response::new(&mut slots);
            let _ = response.parse(head);
            response.headers.to_vec()
        }
        false => {
            let mut request = httparse::Request::new(&mut slots);
            let _ = request.parse(head);
            request.headers.to_vec()
        }
    };
    let mut expected = Vec::new();
    for field in fields.iter().filter(|field| names(field.name.as_bytes())) {
        expected.extend_from_slice(field.name.as_bytes());
        expected.extend_from_slice(b": ");
        expected.extend_from_slice(field.value);
        expected.extend_from_slice(b"\r\n");
    }
    assert_eq!(verbatim.as_bytes(), &expected[..], "{head:?}");
}

fn check_framing(headers: &HeaderMap, framing: BodyFraming, bodiless: bool, length_dropped: bool) {
    let lengths: Vec<_> = headers.get_all(CONTENT_LENGTH).iter().collect();
    if length_dropped {
        assert!(lengths.is_empty());
    }
    let chunked = headers.contains_key(TRANSFER_ENCODING);
    assert!(lengths.len() <= 1);
    assert!(!chunked || lengths.is_empty());
    let declared = lengths.first().map(|value| {
        value
            .to_str()
            .ok()
            .and_then(|text| text.trim().parse::<u64>().ok())
    });
    match framing {
        _ if bodiless => assert_eq!(framing, BodyFraming::Length(0)),
        BodyFraming::Length(_) if length_dropped => assert!(!chunked),
        BodyFraming::Length(length) => {
            assert!(!chunked);
            assert_eq!(declared.unwrap_or(Some(0)), Some(length));
        }
        BodyFraming::Chunked => assert!(chunked),
        BodyFraming::UntilClose => assert!(!chunked && declared.is_none()),
    }
}

/// The fields a proxy passes on: all but the framing and `Connection`, which the encoder owns.
fn end_to_end(headers: &HeaderMap) -> Vec<(String, Vec<u8>)> {
    headers
        .iter()
        .filter(|(name, _)| ![CONTENT_LENGTH, TRANSFER_ENCODING, CONNECTION].contains(name))
        .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec()))
        .collect()
}

/// A request refusal is an error status the server sends before closing.
fn assert_refusal(error: Http1Error) {
    let status = error.status();
    assert!(
        status.is_client_error() || status.is_server_error(),
        "{error:?}"
    );
}

/// Default limits (`selector` even) or tight ones that a short input can reach.
fn limits(selector: u8) -> Limits {
    if selector & 1 == 0 {
        return Limits::default();
    }
    Limits {
        max_header_bytes: 512,
        max_headers: 8,
        max_request_line: 128,
        max_chunk_extension: 8,
        max_chunk_extensions_total: 24,
        max_trailer_bytes: 48,
    }
}

/// Limits nothing re-encoded from an accepted message can reach.
fn roomy() -> Limits {
    Limits {
        max_header_bytes: 1 << 20,
        max_headers: MAX_HEADERS_CAP,
        max_request_line: 1 << 20,
        ..Limits::default()
    }
}
