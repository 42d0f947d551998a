//! What request and response heads share: one pass over httparse's fields that reads the
//! framing fields (`Content-Length`, `Transfer-Encoding`, `Connection`, `Host`, `Expect`,
//! `Upgrade`) and builds the `http::HeaderMap`, and the line-ending check.

use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::verbatim::{Received, VerbatimFields};
use super::Http1Error;

/// Fields the gateway may add to a request head before it is sent on (forwarding, request id,
/// identity), so the map is never rehashed while the request is rewritten.
pub(super) const REQUEST_ROOM: usize = 16;

/// Fields the gateway may add to a response head (request id, CORS).
pub(super) const RESPONSE_ROOM: usize = 4;

/// What the framing-relevant fields of one head say. Syntax is checked while scanning; the
/// rules that depend on the version or on the message kind are the caller's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct FieldFacts {
    /// The single valid `Content-Length`, if one was sent.
    pub content_length: Option<u64>,
    /// A `Transfer-Encoding` was sent and is exactly one `chunked`.
    pub chunked: bool,
    /// `Host` field lines seen (each checked as `host[:port]`).
    pub host_count: u8,
    /// `Connection: close` was among the tokens.
    pub close: bool,
    /// `Connection: keep-alive` was among the tokens.
    pub keep_alive: bool,
    /// `Expect: 100-continue`.
    pub expect_continue: bool,
    /// An `Upgrade` field was sent.
    pub upgrade: bool,
    /// `Connection` named a field (a token other than `close` and `keep-alive`).
    pub connection_names: bool,
}

/// Which fields skip the map.
#[derive(Debug, Clone, Copy)]
pub(super) struct Verbatim<'h> {
    /// The names relayed as lines (`verbatim::request_name` or `response_name`).
    pub names: fn(&[u8]) -> bool,
    /// The head the fields were parsed from (its lines are copied from here).
    pub head: &'h [u8],
    /// `Content-Length` is checked and reported in the facts, but not kept in the map (a
    /// response with a body: its framing is written from the body).
    pub drop_length: bool,
    /// A request: `Host` and `Content-Length` are held beside the lines
    /// ([`VerbatimFields::hold_host`]), not kept in the map.
    pub hold_request_fields: bool,
}

/// Checks the fields httparse found and copies them, in their order, into `map` (empty), or as
/// lines into [`VerbatimFields`] for the names `verbatim` picks. A `Connection` that names fields
/// sends every field to the map, where the rewrite can remove the ones it names.
pub(super) fn scan_fields(
    fields: &[httparse::Header<'_>],
    room: usize,
    verbatim: Verbatim<'_>,
    map: &mut HeaderMap,
) -> Result<(FieldFacts, VerbatimFields), Http1Error> {
    let mut facts = FieldFacts::default();
    let mut transfer_codings = TransferCodings::default();
    let mut lines = VerbatimFields::new();
    let mut received = Received::new(verbatim.head);
    // Allocated at its first field, for all of them and `room` more: a head whose fields all
    // go verbatim allocates no map.
    for field in fields {
        let name = field.name.as_bytes();
        // Dispatch on length first: most fields are none of these and cost one comparison.
        match name.len() {
            4 if name.eq_ignore_ascii_case(b"host") => {
                facts.host_count = facts.host_count.saturating_add(1);
                if !valid_host(field.value) {
                    return Err(Http1Error::InvalidHost);
                }
                // A second `Host` is refused by the caller; the first is the one held.
                if verbatim.hold_request_fields && facts.host_count == 1 {
                    lines.hold_host(header_value(field.value)?);
                    continue;
                }
            }
            6 if name.eq_ignore_ascii_case(b"expect") => {
                facts.expect_continue |=
                    trim_ows(field.value).eq_ignore_ascii_case(b"100-continue");
            }
            7 if name.eq_ignore_ascii_case(b"upgrade") => facts.upgrade = true,
            10 if name.eq_ignore_ascii_case(b"connection") => {
                for token in list_elements(field.value) {
                    let close = token.eq_ignore_ascii_case(b"close");
                    let keep_alive = token.eq_ignore_ascii_case(b"keep-alive");
                    facts.close |= close;
                    facts.keep_alive |= keep_alive;
                    facts.connection_names |= !close && !keep_alive;
                }
            }
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                if facts.content_length.is_some() {
                    return Err(Http1Error::MultipleContentLength);
                }
                let length = content_length(field.value)?;
                facts.content_length = Some(length);
                if verbatim.hold_request_fields {
                    lines.hold_content_length(length);
                    continue;
                }
                if verbatim.drop_length {
                    continue;
                }
            }
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                transfer_codings.add(field.value)?;
            }
            _ if (verbatim.names)(name) => {
                received.push(&mut lines, name, field.value);
                continue;
            }
            _ => {}
        }
        if map.capacity() == 0 {
            map.reserve(fields.len().saturating_add(room));
        }
        map.append(header_name(name)?, header_value(field.value)?);
    }
    received.flush(&mut lines);
    facts.chunked = transfer_codings.decide()?;
    if facts.connection_names {
        std::mem::take(&mut lines).merge_into(map);
    }
    Ok((facts, lines))
}

fn header_name(name: &[u8]) -> Result<HeaderName, Http1Error> {
    HeaderName::from_bytes(name).map_err(|_| Http1Error::Syntax("invalid header name"))
}

/// httparse allows only HTAB, SP, VCHAR and obs-text in values, which is what `HeaderValue`
/// accepts: the check repeats but cannot fail. The value is copied: measured against
/// slicing a shared head (`Bytes`), copying costs the same instructions and lets the driver
/// reuse one read buffer for the whole connection.
fn header_value(value: &[u8]) -> Result<HeaderValue, Http1Error> {
    HeaderValue::from_bytes(value).map_err(|_| Http1Error::Syntax("invalid header value"))
}

/// The codings of every `Transfer-Encoding` line, in order, reduced to what decides framing.
#[derive(Default)]
struct TransferCodings {
    present: bool,
    chunked_count: u32,
    other_count: u32,
    last_is_chunked: bool,
}

impl TransferCodings {
    fn add(&mut self, value: &[u8]) -> Result<(), Http1Error> {
        self.present = true;
        for coding in value.split(|&b| b == b',').map(trim_ows) {
            if coding.is_empty() {
                return Err(Http1Error::TransferEncodingNotChunked);
            }
            self.last_is_chunked = coding.eq_ignore_ascii_case(b"chunked");
            if self.last_is_chunked {
                self.chunked_count = self.chunked_count.saturating_add(1);
            } else {
                self.other_count = self.other_count.saturating_add(1);
            }
        }
        Ok(())
    }

    /// `Ok(true)` for exactly one `chunked`, `Ok(false)` when no `Transfer-Encoding` was sent.
    fn decide(&self) -> Result<bool, Http1Error> {
        if !self.present {
            return Ok(false);
        }
        if !self.last_is_chunked || self.chunked_count > 1 {
            return Err(Http1Error::TransferEncodingNotChunked);
        }
        if self.other_count > 0 {
            return Err(Http1Error::UnsupportedTransferCoding);
        }
        Ok(true)
    }
}

/// `Content-Length = 1*DIGIT` whose value fits a `u64`, nothing else.
fn content_length(value: &[u8]) -> Result<u64, Http1Error> {
    if value.is_empty() {
        return Err(Http1Error::InvalidContentLength);
    }
    value.iter().try_fold(0u64, |length, &byte| {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            return Err(Http1Error::InvalidContentLength);
        }
        length
            .checked_mul(10)
            .and_then(|length| length.checked_add(u64::from(digit)))
            .ok_or(Http1Error::InvalidContentLength)
    })
}

/// The non-empty elements of a comma-separated list, OWS trimmed (RFC 9110 §5.6.1).
fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

fn trim_ows(mut value: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}

/// `Host = uri-host [ ":" port ]` (RFC 9110 §7.2), empty allowed; no userinfo, path or space.
pub(super) fn valid_host(value: &[u8]) -> bool {
    let (host, port) = match value {
        [b'[', rest @ ..] => {
            let Some(close) = rest.iter().position(|&b| b == b']') else {
                return false;
            };
            let (literal, after) = rest.split_at(close);
            if literal.is_empty() || !literal.iter().all(|&b| b == b':' || is_reg_name_byte(b)) {
                return false;
            }
            match after {
                [b']'] => return true,
                [b']', b':', port @ ..] => (&[][..], port),
                _ => return false,
            }
        }
        _ => match value.iter().rposition(|&b| b == b':') {
            Some(colon) => {
                let (host, port) = value.split_at(colon);
                (host, port.get(1..).unwrap_or_default())
            }
            None => (value, &[][..]),
        },
    };
    host.iter().all(|&b| is_reg_name_byte(b)) && port.iter().all(u8::is_ascii_digit)
}

/// unreserved / pct-encoded / sub-delims (RFC 3986 §3.2.2), the bytes of a reg-name or IP.
fn is_reg_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'%'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
        )
}

/// Whether a line of `head` ends in LF without CR before it.
pub(super) fn has_bare_lf(head: &[u8]) -> bool {
    let first = head.first() == Some(&b'\n');
    // Branch-free fold over byte pairs so the compiler can vectorise it.
    let inner = head
        .iter()
        .zip(head.iter().skip(1))
        .fold(false, |seen, (&before, &byte)| {
            seen | ((byte == b'\n') & (before != b'\r'))
        });
    first | inner
}
