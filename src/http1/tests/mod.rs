//! Tests of the HTTP/1 codec, one file per part; each framing rule has a named test.

mod chunked;
mod encode;
mod proptests;
mod request;
mod request_line;
mod response;

use super::{Http1Error, Limits};

/// The bench's signed request: what the gateway sees most.
pub(super) const SIGNED_REQUEST: &[u8] = b"POST /api/resource HTTP/1.1\r\n\
Host: gateway.example:8080\r\n\
Content-Type: application/json\r\n\
Content-Length: 63\r\n\
Stripe-Signature: t=1735689600,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd\r\n\
User-Agent: wrk\r\n\
Accept: */*\r\n\
\r\n";

#[test]
fn every_error_maps_to_the_documented_status() {
    use Http1Error::*;
    let cases = [
        (HeadTooLarge, 431),
        (TooManyHeaders, 431),
        (RequestLineTooLong, 414),
        (Syntax("x"), 400),
        (BareLineFeed, 400),
        (UnsupportedVersion, 505),
        (InvalidTarget, 400),
        (ConnectUnsupported, 501),
        (MissingHost, 400),
        (MultipleHost, 400),
        (InvalidHost, 400),
        (InvalidContentLength, 400),
        (MultipleContentLength, 400),
        (ContentLengthWithTransferEncoding, 400),
        (TransferEncodingNotChunked, 400),
        (UnsupportedTransferCoding, 501),
        (TransferEncodingInHttp10, 400),
        (InvalidChunkSize, 400),
        (InvalidChunkExtension, 400),
        (MissingChunkCrlf, 400),
        (InvalidTrailer, 400),
        (BodyTooLarge, 413),
        (IncompleteBody, 400),
        (InvalidStatus, 502),
        (UnexpectedUpgrade, 502),
    ];
    for (error, status) in cases {
        assert_eq!(error.status().as_u16(), status, "{error:?}");
    }
}

#[test]
fn default_limits_match_the_server_defaults() {
    let limits = Limits::default();
    assert_eq!(limits.max_header_bytes, 65536);
    assert_eq!(limits.max_headers, 100);
}
