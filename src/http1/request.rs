//! Request heads (server side): bytes from a client → `http::request::Parts` plus the framing
//! and connection decisions the server driver acts on.

use std::mem::MaybeUninit;

use http::header::{HeaderValue, HOST};
use http::uri::PathAndQuery;
use http::{Method, Uri, Version};

use super::fields::{has_bare_lf, scan_fields, valid_host, FieldFacts, Verbatim, REQUEST_ROOM};
use super::verbatim::{self, VerbatimFields};
use super::{BodyFraming, Http1Error, Limits, Status, MAX_HEADERS_CAP};

/// What the pipeline takes of a request head: method, target, version and fields. It travels
/// boxed, from the codec through every phase to the upstream, so that handing it on moves a
/// pointer.
#[derive(Debug)]
pub struct Head {
    /// Method, URI, version and headers. The received `Content-Length` / `Transfer-Encoding`
    /// fields stay in `headers`; [`RequestHead::framing`] is the decision. For an
    /// absolute-form target, `Host` holds the target's authority.
    pub parts: http::request::Parts,
    /// The fields relayed as received (`verbatim`), which are not in `parts.headers`.
    pub verbatim: VerbatimFields,
}

impl Head {
    /// A head of `parts` alone (no field relayed verbatim), as HTTP/2 requests arrive.
    pub fn of_parts(parts: http::request::Parts) -> Box<Head> {
        Box::new(Head {
            parts,
            verbatim: VerbatimFields::new(),
        })
    }
}

/// A parsed, checked request head.
#[derive(Debug)]
pub struct RequestHead {
    /// The head the pipeline takes.
    pub head: Box<Head>,
    /// Bytes the head took in the buffer (leading empty lines included); the body starts there.
    pub head_len: usize,
    /// How the body is delimited: `Length` (0 when no framing field was sent) or `Chunked`.
    pub framing: BodyFraming,
    /// Whether the connection may carry another request after this one's response.
    pub keep_alive: bool,
    /// HTTP/1.1 `Expect: 100-continue`: send `100 Continue` before reading the body.
    pub expect_continue: bool,
    /// The client asked for `Upgrade`; the gateway never switches protocols and relays
    /// no upgrade, so this is informational (the field is hop-by-hop and gets stripped).
    pub upgrade_requested: bool,
}

impl RequestHead {
    /// Every field of the head in one map: `parts.headers` with the fields relayed verbatim
    /// (and the held `Host` and `Content-Length`) merged in. For tests and diagnostics; the
    /// request path keeps them apart.
    pub fn all_fields(&self) -> http::HeaderMap {
        let mut headers = self.head.parts.headers.clone();
        self.head.verbatim.clone().merge_into(&mut headers);
        headers
    }
}

/// Parses a request head at the start of `buf`.
///
/// `Partial` when more bytes are needed (nothing is kept between calls: call again with the
/// grown buffer). On `Complete`, the body starts at `head_len`: the driver advances its read
/// buffer past the head (header values are copies, so the buffer is free to be reused).
/// Errors are final: answer [`Http1Error::status`] and close.
pub fn parse_request(buf: &[u8], limits: &Limits) -> Result<Status<RequestHead>, Http1Error> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS_CAP];
    let max_headers = limits.max_headers.min(MAX_HEADERS_CAP);
    let slots = slots.get_mut(..max_headers).unwrap_or_default();
    let mut request = httparse::Request::new(&mut []);
    let head_len = match request.parse_with_uninit_headers(buf, slots) {
        Ok(httparse::Status::Partial) => return partial(buf, limits),
        Ok(httparse::Status::Complete(len)) => len,
        Err(httparse::Error::Version) => return version_error(buf, limits),
        Err(error) => return Err(error.into()),
    };
    if head_len > limits.max_header_bytes {
        // Over both limits, the request line is the one to name (414, not 431).
        let line = request
            .method
            .zip(request.path)
            .map_or(0, |(method, target)| {
                method.len().saturating_add(target.len())
            });
        if line.saturating_add(10) > limits.max_request_line {
            return Err(Http1Error::RequestLineTooLong);
        }
        return Err(Http1Error::HeadTooLarge);
    }
    let head = buf.get(..head_len).unwrap_or_default();
    if has_bare_lf(head) {
        return Err(Http1Error::BareLineFeed);
    }
    build(&request, head, limits).map(Status::Complete)
}

/// Checks a complete head's request line and fields, and makes the `RequestHead`.
fn build(
    request: &httparse::Request<'_, '_>,
    head: &[u8],
    limits: &Limits,
) -> Result<RequestHead, Http1Error> {
    let (method, target, version) = request_line(request, limits)?;
    let form = target_form(method, target.as_bytes())?;
    let lines = Verbatim {
        names: verbatim::request_name,
        head,
        drop_length: false,
        hold_request_fields: true,
    };
    // The fields go straight into the parts' map (no second map made and dropped).
    let (mut parts, ()) = http::Request::new(()).into_parts();
    let headers = &mut parts.headers;
    let (facts, mut verbatim) = scan_fields(request.headers, REQUEST_ROOM, lines, headers)?;
    let framing = framing(version, &facts)?;
    let mut uri = Uri::try_from(target).map_err(|_| Http1Error::InvalidTarget)?;
    if form == TargetForm::Absolute {
        // §3.2.2: the target's authority wins over any Host sent alongside it.
        let authority = absolute_authority(&uri)?;
        // Where the sent `Host` is (held, or in the map when `Connection` named fields).
        if headers.contains_key(HOST) {
            headers.insert(HOST, authority);
        } else {
            verbatim.hold_host(authority);
        }
        uri = with_root_path(uri)?;
    }
    parts.method =
        Method::from_bytes(method.as_bytes()).map_err(|_| Http1Error::Syntax("invalid method"))?;
    parts.uri = uri;
    parts.version = version;
    Ok(RequestHead {
        head: Box::new(Head { parts, verbatim }),
        head_len: head.len(),
        framing,
        keep_alive: !facts.close && (version == Version::HTTP_11 || facts.keep_alive),
        expect_continue: facts.expect_continue && version == Version::HTTP_11,
        upgrade_requested: facts.upgrade,
    })
}

/// Method, target and version, within `max_request_line`; `CONNECT` refused.
fn request_line<'b>(
    request: &httparse::Request<'_, 'b>,
    limits: &Limits,
) -> Result<(&'b str, &'b str, Version), Http1Error> {
    let method = request.method.ok_or(Http1Error::Syntax("no method"))?;
    let target = request.path.ok_or(Http1Error::Syntax("no target"))?;
    // The line is `method SP target SP HTTP/1.x`.
    let line = method.len().saturating_add(target.len()).saturating_add(10);
    if line > limits.max_request_line {
        return Err(Http1Error::RequestLineTooLong);
    }
    let version = match request.version {
        Some(0) => Version::HTTP_10,
        Some(1) => Version::HTTP_11,
        _ => return Err(Http1Error::UnsupportedVersion),
    };
    if method == "CONNECT" {
        return Err(Http1Error::ConnectUnsupported);
    }
    Ok((method, target, version))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TargetForm {
    Origin,
    Absolute,
    Asterisk,
}

/// Host count and the body framing of a request (RFC 9112 §3.2, §6.1, §6.3).
fn framing(version: Version, facts: &FieldFacts) -> Result<BodyFraming, Http1Error> {
    if facts.host_count > 1 {
        return Err(Http1Error::MultipleHost);
    }
    // §3.2 asks a server to refuse an HTTP/1.1 request without `Host`; the gateway takes it,
    // as it always has (the upstream gets its own `Host` either way, and nothing is routed
    // by host), so clients that omit it keep working.
    match (facts.chunked, facts.content_length) {
        (true, Some(_)) => Err(Http1Error::ContentLengthWithTransferEncoding),
        (true, None) if version == Version::HTTP_10 => Err(Http1Error::TransferEncodingInHttp10),
        (true, None) => Ok(BodyFraming::Chunked),
        (false, Some(length)) => Ok(BodyFraming::Length(length)),
        (false, None) => Ok(BodyFraming::Length(0)),
    }
}

/// A head still incomplete: is it already over a limit? When it is over both, the request
/// line is the one named (414, not 431): its first line has not even ended.
fn partial(buf: &[u8], limits: &Limits) -> Result<Status<RequestHead>, Http1Error> {
    // Leading empty lines (§2.2) end in LF too, so they never count as an unended line.
    let unended = |within: usize| !buf.get(..within).unwrap_or(buf).contains(&b'\n');
    if buf.len() > limits.max_request_line && unended(limits.max_request_line) {
        return Err(Http1Error::RequestLineTooLong);
    }
    if buf.len() >= limits.max_header_bytes {
        if unended(buf.len()) {
            return Err(Http1Error::RequestLineTooLong);
        }
        return Err(Http1Error::HeadTooLarge);
    }
    Ok(Status::Partial)
}

/// httparse stops at the first byte after the target that does not continue `HTTP/1.0` or
/// `HTTP/1.1`. Only a request line that is otherwise well formed, `method SP target SP
/// HTTP/DIGIT.DIGIT` (RFC 9112 §2.3, §3), names a version the gateway does not serve (505);
/// any other line is malformed (400). A line that has not ended yet, and could still become a
/// well-formed one, waits for more bytes (within the limits).
fn version_error(buf: &[u8], limits: &Limits) -> Result<Status<RequestHead>, Http1Error> {
    const MALFORMED: Http1Error = Http1Error::Syntax("malformed request line");
    /// `HTTP-version`, with `0` standing for any digit.
    const SHAPE: &[u8] = b"HTTP/0.0";
    let start = buf
        .iter()
        .position(|&byte| byte != b'\r' && byte != b'\n')
        .unwrap_or(buf.len());
    let rest = buf.get(start..).unwrap_or_default();
    let (line, ended) = match rest.iter().position(|&byte| byte == b'\n') {
        Some(end) => (rest.get(..end).unwrap_or_default(), true),
        None => (rest, false),
    };
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut words = line.split(|&byte| byte == b' ');
    let (Some(_method), Some(_target), Some(version), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Err(MALFORMED);
    };
    let fits = |(&byte, &shape): (&u8, &u8)| match shape {
        b'0' => byte.is_ascii_digit(),
        _ => byte == shape,
    };
    let starts_well = version.len() <= SHAPE.len() && version.iter().zip(SHAPE).all(fits);
    if !starts_well {
        Err(MALFORMED)
    } else if !ended {
        partial(buf, limits)
    } else if version.len() == SHAPE.len() {
        Err(Http1Error::UnsupportedVersion)
    } else {
        Err(MALFORMED)
    }
}

/// RFC 9112 §3.2: origin-form; absolute-form (`http`/`https`); `*` for `OPTIONS` only.
fn target_form(method: &str, target: &[u8]) -> Result<TargetForm, Http1Error> {
    if target.contains(&b'#') {
        return Err(Http1Error::InvalidTarget);
    }
    match target {
        [b'/', ..] => Ok(TargetForm::Origin),
        b"*" if method == "OPTIONS" => Ok(TargetForm::Asterisk),
        _ if starts_with_ignore_case(target, b"http://")
            || starts_with_ignore_case(target, b"https://") =>
        {
            Ok(TargetForm::Absolute)
        }
        _ => Err(Http1Error::InvalidTarget),
    }
}

fn starts_with_ignore_case(bytes: &[u8], prefix: &[u8]) -> bool {
    bytes
        .get(..prefix.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
}

/// The `Host` value of an absolute-form target: `http`/`https`, a non-empty authority without
/// userinfo (RFC 9110 §4.2.4 says to treat userinfo as an error) that is a valid `Host` value:
/// it replaces the field, so it must pass the field's own check (`http::Uri` accepts ports such
/// as `81a`, which a `Host` field line would be refused for).
fn absolute_authority(uri: &Uri) -> Result<HeaderValue, Http1Error> {
    let scheme = uri.scheme_str().unwrap_or_default();
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(Http1Error::InvalidTarget);
    }
    let authority = uri.authority().ok_or(Http1Error::InvalidTarget)?.as_str();
    if authority.is_empty() || authority.contains('@') || !valid_host(authority.as_bytes()) {
        return Err(Http1Error::InvalidTarget);
    }
    HeaderValue::from_str(authority).map_err(|_| Http1Error::InvalidTarget)
}

/// §3.2.1: an empty path travels as `/` in origin-form. An absolute-form target without a path
/// (`http://h?q`) gets that `/` here, so that its `path_and_query` is a valid origin-form
/// target for whatever forwards it (it was `?q`).
fn with_root_path(uri: Uri) -> Result<Uri, Http1Error> {
    // `Uri::path` already reads an empty path as "/"; the stored text is what gets forwarded.
    let stored = uri.path_and_query().map(PathAndQuery::as_str);
    if stored.is_some_and(|target| target.starts_with('/')) {
        return Ok(uri);
    }
    let mut parts = uri.into_parts();
    let query = parts.path_and_query.as_ref().and_then(PathAndQuery::query);
    let rooted = match query {
        Some(query) => PathAndQuery::try_from(format!("/?{query}")),
        None => Ok(PathAndQuery::from_static("/")),
    };
    parts.path_and_query = Some(rooted.map_err(|_| Http1Error::InvalidTarget)?);
    Uri::from_parts(parts).map_err(|_| Http1Error::InvalidTarget)
}
