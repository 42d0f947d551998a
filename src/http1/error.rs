//! Every way an HTTP/1 message can be refused, and the status a server answers with.

use http::StatusCode;

/// A message the codec refuses. After any of these the connection's framing can no longer be
/// trusted: the driver answers (a request error with [`Http1Error::status`], a response error
/// with `502`) and closes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Http1Error {
    /// The head is longer than `max_header_bytes`.
    #[error("message head larger than the limit")]
    HeadTooLarge,
    /// The head has more field lines than `max_headers`.
    #[error("more header fields than the limit")]
    TooManyHeaders,
    /// The request line is longer than `max_request_line`.
    #[error("request line longer than the limit")]
    RequestLineTooLong,
    /// The head is not HTTP/1 syntax (httparse's reason).
    #[error("malformed message head: {0}")]
    Syntax(&'static str),
    /// A line of a request head ends in LF without CR.
    #[error("bare LF line ending in a request head")]
    BareLineFeed,
    /// A version other than HTTP/1.0 and HTTP/1.1.
    #[error("HTTP version not supported")]
    UnsupportedVersion,
    /// The request target is in no form the gateway accepts for this method.
    #[error("invalid request target")]
    InvalidTarget,
    /// A `CONNECT` request: the gateway does not tunnel.
    #[error("CONNECT is not supported")]
    ConnectUnsupported,
    /// An HTTP/1.1 request without `Host`.
    #[error("missing Host header")]
    MissingHost,
    /// More than one `Host` field line.
    #[error("more than one Host header")]
    MultipleHost,
    /// A `Host` value that is not `host[:port]`.
    #[error("invalid Host header")]
    InvalidHost,
    /// A `Content-Length` that is not a run of digits fitting a `u64`.
    #[error("invalid Content-Length")]
    InvalidContentLength,
    /// `Content-Length` given on more than one field line.
    #[error("more than one Content-Length header")]
    MultipleContentLength,
    /// Both `Transfer-Encoding` and `Content-Length`.
    #[error("both Transfer-Encoding and Content-Length")]
    ContentLengthWithTransferEncoding,
    /// A `Transfer-Encoding` whose final coding is not `chunked`, or `chunked` twice.
    #[error("Transfer-Encoding does not end in a single chunked")]
    TransferEncodingNotChunked,
    /// A transfer coding other than `chunked` (before a final `chunked`).
    #[error("unsupported transfer coding")]
    UnsupportedTransferCoding,
    /// `Transfer-Encoding` in an HTTP/1.0 message.
    #[error("Transfer-Encoding in an HTTP/1.0 message")]
    TransferEncodingInHttp10,
    /// A chunk-size line whose size is missing, not hex, or longer than 16 digits.
    #[error("invalid chunk size")]
    InvalidChunkSize,
    /// A chunk extension with a control character or beyond its limits.
    #[error("invalid or oversized chunk extension")]
    InvalidChunkExtension,
    /// A chunk-size line or chunk data not followed by CRLF.
    #[error("missing CRLF in chunked body")]
    MissingChunkCrlf,
    /// A trailer line that is malformed or beyond `max_trailer_bytes`.
    #[error("invalid or oversized trailer section")]
    InvalidTrailer,
    /// The body's data is larger than the bound the decoder was given.
    #[error("body larger than the limit")]
    BodyTooLarge,
    /// The connection ended before the body did.
    #[error("connection closed before the body ended")]
    IncompleteBody,
    /// A response status outside 100–599.
    #[error("response status outside 100-599")]
    InvalidStatus,
    /// A `101 Switching Protocols` response: the gateway never asks to upgrade.
    #[error("unexpected 101 Switching Protocols")]
    UnexpectedUpgrade,
}

impl Http1Error {
    /// The status a server answers a client's request with when the request fails this way.
    ///
    /// Errors met while reading an *upstream response* (including `InvalidStatus` and
    /// `UnexpectedUpgrade`, which only a response can cause) are all answered `502`, whatever
    /// the variant: the client did nothing wrong.
    pub fn status(&self) -> StatusCode {
        use Http1Error::{
            BareLineFeed, BodyTooLarge, ConnectUnsupported, ContentLengthWithTransferEncoding,
            HeadTooLarge, IncompleteBody, InvalidChunkExtension, InvalidChunkSize,
            InvalidContentLength, InvalidHost, InvalidStatus, InvalidTarget, InvalidTrailer,
            MissingChunkCrlf, MissingHost, MultipleContentLength, MultipleHost, RequestLineTooLong,
            Syntax, TooManyHeaders, TransferEncodingInHttp10, TransferEncodingNotChunked,
            UnexpectedUpgrade, UnsupportedTransferCoding, UnsupportedVersion,
        };
        match self {
            HeadTooLarge | TooManyHeaders => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            RequestLineTooLong => StatusCode::URI_TOO_LONG,
            UnsupportedVersion => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            ConnectUnsupported | UnsupportedTransferCoding => StatusCode::NOT_IMPLEMENTED,
            BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            InvalidStatus | UnexpectedUpgrade => StatusCode::BAD_GATEWAY,
            Syntax(_)
            | BareLineFeed
            | InvalidTarget
            | MissingHost
            | MultipleHost
            | InvalidHost
            | InvalidContentLength
            | MultipleContentLength
            | ContentLengthWithTransferEncoding
            | TransferEncodingNotChunked
            | TransferEncodingInHttp10
            | InvalidChunkSize
            | InvalidChunkExtension
            | MissingChunkCrlf
            | InvalidTrailer
            | IncompleteBody => StatusCode::BAD_REQUEST,
        }
    }
}

impl From<httparse::Error> for Http1Error {
    fn from(error: httparse::Error) -> Self {
        match error {
            httparse::Error::TooManyHeaders => Http1Error::TooManyHeaders,
            httparse::Error::Version => Http1Error::UnsupportedVersion,
            httparse::Error::HeaderName => Http1Error::Syntax("invalid header name"),
            httparse::Error::HeaderValue => Http1Error::Syntax("invalid header value"),
            httparse::Error::NewLine => Http1Error::Syntax("invalid line ending"),
            httparse::Error::Status => Http1Error::Syntax("invalid status line"),
            httparse::Error::Token => Http1Error::Syntax("invalid token"),
        }
    }
}
