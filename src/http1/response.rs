//! Response heads (client side): an upstream's bytes → `http::response::Parts` plus the body
//! framing for the request that was sent (RFC 9112 §6.3). Every error here means `502`.

use std::mem::MaybeUninit;

use bytes::Bytes;
use http::{Method, StatusCode, Version};

use super::fields::{scan_fields, FieldFacts, Verbatim, RESPONSE_ROOM};
use super::verbatim::{self, VerbatimFields};
use super::{BodyFraming, Http1Error, Limits, Status, MAX_HEADERS_CAP};

/// What a complete response head turned out to be.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "made once per response and moved straight into the response: boxing the head would cost an allocation each time"
)]
pub enum ResponseStart {
    /// An interim `1xx` (not `101`): drop its `head_len` bytes and parse again. The driver
    /// bounds how many it accepts in a row.
    Interim {
        /// The interim status (`100`, `102`, `103`…).
        status: StatusCode,
        /// Bytes the interim head took.
        head_len: usize,
    },
    /// The final response head.
    Final(ResponseHead),
}

/// A parsed, checked final response head.
#[derive(Debug)]
pub struct ResponseHead {
    /// Status, version and headers. The received `Content-Length` / `Transfer-Encoding`
    /// fields stay in `headers`; [`Self::framing`] is the decision.
    pub parts: http::response::Parts,
    /// The fields relayed as received (`verbatim`), which are not in `parts.headers`.
    pub verbatim: VerbatimFields,
    /// The reason phrase when it differs from the status's canonical one (`None` otherwise,
    /// and when it is empty or not ASCII): the gateway writes canonical reasons.
    pub reason: Option<Bytes>,
    /// Bytes the head took in the buffer; the body starts there.
    pub head_len: usize,
    /// How the body is delimited; `Length(0)` for responses that have none.
    pub framing: BodyFraming,
    /// Whether the upstream connection may be reused once this body has been read.
    pub keep_alive: bool,
}

/// Parses a response head at the start of `buf`, sent in answer to a `method` request.
/// `Partial` when more bytes are needed. On `Complete`, the body (or the next head, after an
/// interim one) starts at `head_len`. Errors are final: answer `502` and close the upstream
/// connection.
pub fn parse_response(
    buf: &[u8],
    method: &Method,
    limits: &Limits,
) -> Result<Status<ResponseStart>, Http1Error> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS_CAP];
    let max_headers = limits.max_headers.min(MAX_HEADERS_CAP);
    let slots = slots.get_mut(..max_headers).unwrap_or_default();
    let mut response = httparse::Response::new(&mut []);
    let config = httparse::ParserConfig::default();
    let head_len = match config.parse_response_with_uninit_headers(&mut response, buf, slots)? {
        httparse::Status::Partial if buf.len() >= limits.max_header_bytes => {
            return Err(Http1Error::HeadTooLarge)
        }
        httparse::Status::Partial => return Ok(Status::Partial),
        httparse::Status::Complete(len) => len,
    };
    if head_len > limits.max_header_bytes {
        return Err(Http1Error::HeadTooLarge);
    }
    let code = response.code.ok_or(Http1Error::InvalidStatus)?;
    if !(100..=599).contains(&code) {
        return Err(Http1Error::InvalidStatus);
    }
    let status = StatusCode::from_u16(code).map_err(|_| Http1Error::InvalidStatus)?;
    let version = match response.version {
        Some(0) => Version::HTTP_10,
        Some(1) => Version::HTTP_11,
        _ => return Err(Http1Error::UnsupportedVersion),
    };
    if status == StatusCode::SWITCHING_PROTOCOLS {
        return Err(Http1Error::UnexpectedUpgrade);
    }
    if status.is_informational() {
        return Ok(Status::Complete(ResponseStart::Interim {
            status,
            head_len,
        }));
    }
    let lines = Verbatim {
        names: verbatim::response_name,
        head: buf.get(..head_len).unwrap_or_default(),
        // A body's length is written from the body; a bodiless answer keeps the one declared.
        drop_length: !is_bodiless(method, status),
        hold_request_fields: false,
    };
    // The fields go straight into the parts' map (no second map made and dropped).
    let (mut parts, ()) = http::Response::new(()).into_parts();
    let headers = &mut parts.headers;
    let (facts, verbatim) = scan_fields(response.headers, RESPONSE_ROOM, lines, headers)?;
    let framing = framing(method, status, version, &facts)?;
    // §6.3 item 3: both framings, chunked wins; an intermediary relaying it removes the
    // length, and the connection (which may be out of step) is not reused.
    let both = facts.chunked && facts.content_length.is_some();
    if both {
        headers.remove(http::header::CONTENT_LENGTH);
    }
    let keep_alive = framing != BodyFraming::UntilClose
        && !both
        && !facts.close
        && (version == Version::HTTP_11 || facts.keep_alive);
    let reason = response
        .reason
        .filter(|reason| !reason.is_empty() && Some(*reason) != status.canonical_reason())
        .map(|reason| Bytes::copy_from_slice(reason.as_bytes()));
    parts.status = status;
    parts.version = version;
    Ok(Status::Complete(ResponseStart::Final(ResponseHead {
        parts,
        verbatim,
        reason,
        head_len,
        framing,
        keep_alive,
    })))
}

/// RFC 9112 §6.3: what delimits the body of this response to a `method` request.
fn framing(
    method: &Method,
    status: StatusCode,
    version: Version,
    facts: &FieldFacts,
) -> Result<BodyFraming, Http1Error> {
    let declared = match (facts.chunked, facts.content_length) {
        (true, _) if version == Version::HTTP_10 => {
            return Err(Http1Error::TransferEncodingInHttp10)
        }
        // §6.3 item 3: Transfer-Encoding overrides Content-Length (the caller closes after).
        (true, _) => BodyFraming::Chunked,
        (false, Some(length)) => BodyFraming::Length(length),
        (false, None) => BodyFraming::UntilClose,
    };
    Ok(if is_bodiless(method, status) {
        BodyFraming::Length(0)
    } else {
        declared
    })
}

/// §6.3 item 1: a response to `HEAD`, a `204` and a `304` have no body, whatever they declare.
fn is_bodiless(method: &Method, status: StatusCode) -> bool {
    *method == Method::HEAD
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
}
