//! A pure HTTP/1.1 codec: request and response heads, message framing, chunked bodies.
//!
//! No sockets, no runtime: callers own the buffers and the I/O. The server driver parses
//! request heads with [`parse_request`], decodes bodies with
//! [`ChunkedDecoder`] or by counting [`BodyFraming::Length`] bytes, and writes answers with
//! [`encode_response_head`]; the upstream client driver does the mirror image with
//! [`encode_request_head`] and [`parse_response`].
//!
//! Framing rules (RFC 9112 section numbers unless RFC 9110 is named), each refused with an
//! [`Http1Error`] whose [`Http1Error::status`] is the answer to send before closing:
//! - **Versions** (§2.3): only `HTTP/1.0` and `HTTP/1.1`; others are `505` (so is a malformed
//!   version token: httparse does not tell the two apart).
//! - **Line endings** (§2.2): a request head must use CRLF; a bare LF is `400` (a front proxy
//!   that splits lines only on CRLF would see other fields than we do). Upstream response heads
//!   may use bare LF, as §2.2 lets a recipient accept. Chunked bodies need CRLF both ways.
//! - **Request target** (§3.2): origin-form; absolute-form (`http`/`https`, no userinfo), which
//!   a server must accept (§3.2.2) and whose authority then replaces `Host`, so everything
//!   after the codec sees one host; `*` for `OPTIONS` only (§3.2.4); `CONNECT` (authority-form)
//!   is `501`: the gateway does not tunnel. A fragment (`#`) is `400`.
//! - **Host** (§3.2.2): at most one, a valid `host[:port]`. An HTTP/1.1 request without one is
//!   taken (§3.2 asks for `400`): nothing is routed by host and the upstream gets its own.
//! - **Field syntax**: no whitespace between a field name and its colon (§5.1), no obs-fold
//!   (§5.2), no NUL or bare CR in values (RFC 9110 §5.5): all `400`.
//! - **Transfer-Encoding** (§6.1, §7): only a single `chunked` coding (any case, OWS trimmed).
//!   A final coding other than `chunked` is `400` (§6.3 item 4), `chunked` twice is `400` (§7),
//!   another coding before `chunked` is `501` (§6.1), and `Transfer-Encoding` in an HTTP/1.0
//!   message is `400` (§6.1).
//! - **Content-Length** (§6.3 item 5; RFC 9110 §8.6): one field line of digits whose value fits
//!   a `u64`. A list, a repeated field (even with equal values), a sign, inner spaces or an
//!   overflow are `400`.
//! - **Both** `Transfer-Encoding` and `Content-Length` (§6.3 item 3): a request is `400` (the RFC
//!   lets a server drop `Content-Length` instead, but a proxy that refuses leaves nothing to
//!   smuggle); a response is decoded as chunked, relayed without its length, and its
//!   connection is not reused.
//! - **No framing field**: a request has no body (§6.3 item 7); a response's body runs until
//!   the connection closes (§6.3 item 8), and the connection is not reused.
//! - **Bodiless responses** (§6.3 item 1): to `HEAD`, and `1xx`, `204`, `304`, whatever their
//!   fields say.
//! - **Persistence** (§9.3): HTTP/1.1 keeps the connection unless `Connection: close`;
//!   HTTP/1.0 only with `Connection: keep-alive`; `close` wins.
//! - **Expect** (RFC 9110 §10.1.1): `100-continue` is reported (ignored in HTTP/1.0); other
//!   expectations are ignored, as the RFC allows.
//! - **Upgrade** (RFC 9110 §7.8): reported, never acted on; an upstream `101` is an error.
//! - **Chunked bodies** (§7.1): hex sizes of at most 16 digits, extensions bounded and free of
//!   control bytes, CRLF after every size line and every chunk, trailers bounded and discarded,
//!   the data total bounded by the caller (`413`).
//!
//! Responses follow the same field rules; any error in a response is answered `502`.
//!
//! Limits ([`Limits`]): head bytes (`431`), field count (`431`), request-line length (`414`),
//! chunk extension bytes per line and per body, trailer bytes.
//!
//! Parsed heads copy their field values out of the caller's buffer: measured, that costs the
//! same instructions as slicing a shared `Bytes` head, and the driver keeps one read buffer
//! for the whole connection instead of giving each request's head away.

#![warn(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

mod chunked;
mod encode;
mod error;
mod fields;
mod request;
mod response;
mod verbatim;

pub use chunked::{ChunkedDecoder, Decoded};
pub use encode::{
    append_field, append_lines, encode_chunk, encode_request_head, encode_response_head,
    ChunkSizeLine, CHUNK_END, LAST_CHUNK,
};
pub use error::Http1Error;
pub use request::{parse_request, Head, RequestHead};
pub use response::{parse_response, ResponseHead, ResponseStart};
pub use verbatim::{request_name, response_name, VerbatimFields, REQUEST_NAMES, RESPONSE_NAMES};

/// The outcome of parsing a head from a buffer that may hold only part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status<T> {
    /// The head is complete; `T` says how many bytes it took (`head_len`).
    Complete(T),
    /// More bytes are needed; nothing was consumed.
    Partial,
}

/// How a message's body is delimited on the wire (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// Exactly this many bytes follow the head (`0`: no body at all).
    Length(u64),
    /// A chunked body follows: decode it with [`ChunkedDecoder`].
    Chunked,
    /// Responses only: the body runs until the upstream closes the connection.
    UntilClose,
}

/// The most header fields any [`Limits::max_headers`] can allow (the parser's array size).
pub const MAX_HEADERS_CAP: usize = 128;

/// Bounds on what a peer can make the codec hold or scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of a whole head, start line to the empty line included (`431` beyond).
    pub max_header_bytes: usize,
    /// Header field lines in one head (`431` beyond); clamped to [`MAX_HEADERS_CAP`].
    pub max_headers: usize,
    /// Bytes of a request line before its line ending (`414` beyond).
    pub max_request_line: usize,
    /// Bytes of the extensions on one chunk-size line.
    pub max_chunk_extension: usize,
    /// Bytes of extensions over all chunk-size lines of one body.
    pub max_chunk_extensions_total: usize,
    /// Bytes of the trailer section of a chunked body, line endings included.
    pub max_trailer_bytes: usize,
}

impl Default for Limits {
    /// 64 KiB heads (the `server.max_header_bytes` default), 100 fields, 8 KiB request lines,
    /// 1 KiB of extensions per chunk and 16 KiB per body, 16 KiB of trailers.
    fn default() -> Self {
        Limits {
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            max_request_line: 8 * 1024,
            max_chunk_extension: 1024,
            max_chunk_extensions_total: 16 * 1024,
            max_trailer_bytes: 16 * 1024,
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    reason = "tests: fixtures and generated values, where a panic is a failed test"
)]
mod tests;
