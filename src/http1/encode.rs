//! Writing heads and chunk framing: request heads for the upstream, response heads for the
//! client. Header names and values come from `http` types, whose constructors refuse CR, LF
//! and NUL, so nothing written here can split a line or inject a field; the codec does not
//! check them again.

use http::header::{HeaderMap, CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::uri::PathAndQuery;
use http::{Method, StatusCode};

use super::BodyFraming;

/// The last chunk and the empty trailer section that end a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// The CRLF that follows each chunk's data.
pub const CHUNK_END: &[u8] = b"\r\n";

/// Appends `method target HTTP/1.1`, the fields of `headers` and the framing to `dst`.
///
/// The codec owns the framing and persistence fields: `Content-Length`, `Transfer-Encoding`
/// and `Connection` in `headers` are skipped, and written from `framing` and `close` instead.
/// `Length(0)` writes `content-length: 0` only for `POST`, `PUT` and `PATCH` (RFC 9110 §8.6:
/// not for methods whose requests have no content); `UntilClose` cannot delimit a request
/// and is sent as `Chunked`.
pub fn encode_request_head(
    dst: &mut Vec<u8>,
    method: &Method,
    target: &PathAndQuery,
    headers: &HeaderMap,
    framing: BodyFraming,
    close: bool,
) {
    dst.extend_from_slice(method.as_str().as_bytes());
    dst.push(b' ');
    dst.extend_from_slice(target.as_str().as_bytes());
    dst.extend_from_slice(b" HTTP/1.1\r\n");
    write_fields(dst, headers);
    match framing {
        BodyFraming::Length(0)
            if !matches!(*method, Method::POST | Method::PUT | Method::PATCH) => {}
        BodyFraming::Length(length) => write_content_length(dst, length),
        BodyFraming::Chunked | BodyFraming::UntilClose => {
            dst.extend_from_slice(b"transfer-encoding: chunked\r\n");
        }
    }
    finish(dst, close);
}

/// Appends `HTTP/1.1 status reason`, the fields of `headers` and the framing to `dst`.
///
/// As for requests, `Content-Length`, `Transfer-Encoding` and `Connection` come from
/// `framing` and `close`, never from `headers`. `1xx` and `204` get no framing field
/// (RFC 9110 §8.6); `UntilClose` writes none (the driver closes after the body, and should
/// set `close`). The reason is always the canonical one. The version is always HTTP/1.1
/// (RFC 9110 §6.2); for an HTTP/1.0 client, pass `Length` or `UntilClose`, never `Chunked`.
pub fn encode_response_head(
    dst: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    framing: BodyFraming,
    close: bool,
) {
    dst.extend_from_slice(b"HTTP/1.1 ");
    dst.extend_from_slice(status.as_str().as_bytes());
    dst.push(b' ');
    dst.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    dst.extend_from_slice(b"\r\n");
    write_fields(dst, headers);
    if !status.is_informational() && status != StatusCode::NO_CONTENT {
        match framing {
            BodyFraming::Length(length) => write_content_length(dst, length),
            BodyFraming::Chunked => dst.extend_from_slice(b"transfer-encoding: chunked\r\n"),
            BodyFraming::UntilClose => {}
        }
    }
    finish(dst, close);
}

/// The size line in front of a chunk of `size` bytes (`{hex}\r\n`), on the stack, for a
/// vectored write of `[size line, data, CHUNK_END]`. Never make one for size 0: that is
/// [`LAST_CHUNK`].
#[derive(Debug, Clone, Copy)]
pub struct ChunkSizeLine {
    bytes: [u8; 18],
    start: usize,
}

impl ChunkSizeLine {
    /// The size line for `size` bytes of data.
    pub fn new(size: u64) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut bytes = [0u8; 18];
        let [.., cr, lf] = &mut bytes;
        (*cr, *lf) = (b'\r', b'\n');
        let mut start = 16usize;
        let mut rest = size;
        loop {
            start = start.saturating_sub(1);
            // `start` runs from 15 down and at most 16 nibbles are written: always in range.
            if let (Some(slot), Some(&digit)) =
                (bytes.get_mut(start), HEX.get((rest & 0xf) as usize))
            {
                *slot = digit;
            }
            rest >>= 4;
            if rest == 0 || start == 0 {
                break;
            }
        }
        ChunkSizeLine { bytes, start }
    }

    /// The line's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(self.start..).unwrap_or_default()
    }
}

/// Appends one chunk (size line, `data`, CRLF) to `dst`; empty `data` appends nothing, as an
/// empty chunk would end the body.
pub fn encode_chunk(dst: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    dst.extend_from_slice(ChunkSizeLine::new(data.len() as u64).as_bytes());
    dst.extend_from_slice(data);
    dst.extend_from_slice(CHUNK_END);
}

/// Adds `lines` (whole field lines, each ending in CRLF, as `VerbatimFields` holds them) to the
/// head that `dst` ends with, before its empty line.
pub fn append_lines(dst: &mut Vec<u8>, lines: &[u8]) {
    if !lines.is_empty() && dst.ends_with(b"\r\n\r\n") {
        dst.truncate(dst.len().saturating_sub(2));
        dst.extend_from_slice(lines);
        dst.extend_from_slice(b"\r\n");
    }
}

/// Adds the field `name: value` to the head that `dst` ends with (just written by
/// [`encode_response_head`] or [`encode_request_head`]), before its empty line. The caller
/// gives a valid field name and a value free of CR, LF and NUL.
pub fn append_field(dst: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    if dst.ends_with(b"\r\n\r\n") {
        dst.truncate(dst.len().saturating_sub(2));
        dst.extend_from_slice(name);
        dst.extend_from_slice(b": ");
        dst.extend_from_slice(value);
        dst.extend_from_slice(b"\r\n\r\n");
    }
}

fn write_fields(dst: &mut Vec<u8>, headers: &HeaderMap) {
    for (name, value) in headers {
        if name == CONTENT_LENGTH || name == TRANSFER_ENCODING || name == CONNECTION {
            continue;
        }
        dst.extend_from_slice(name.as_str().as_bytes());
        dst.extend_from_slice(b": ");
        dst.extend_from_slice(value.as_bytes());
        dst.extend_from_slice(b"\r\n");
    }
}

fn write_content_length(dst: &mut Vec<u8>, length: u64) {
    dst.extend_from_slice(b"content-length: ");
    dst.extend_from_slice(itoa::Buffer::new().format(length).as_bytes());
    dst.extend_from_slice(b"\r\n");
}

fn finish(dst: &mut Vec<u8>, close: bool) {
    if close {
        dst.extend_from_slice(b"connection: close\r\n");
    }
    dst.extend_from_slice(b"\r\n");
}
