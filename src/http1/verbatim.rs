//! Fields relayed verbatim: the field lines of a head that the gateway neither reads nor
//! changes (`Accept`, `User-Agent`, `Content-Type`… in a request; `Content-Type`, `Date`,
//! `ETag`… in a response) skip `http::HeaderMap` altogether. They are copied once, as
//! `name: value` lines, out of the parsed head and written as they are into the head that
//! carries them on, which saves a map entry, a name lookup and a value allocation per field.
//!
//! Only names on fixed lists travel this way ([`request_name`], [`response_name`]): names that
//! no phase reads (routing, CORS, signature, body), that no rewrite touches (hop-by-hop,
//! forwarding, request id, framing, identity under the default prefix) and that the gateway
//! never sets on an answer. Whoever needs a complete `HeaderMap` (an HTTP/2 peer, the
//! in-process echo, a configured identity prefix that covers one of these names) merges the
//! lines in with [`VerbatimFields::merge_into`].
//!
//! The lines hold what the codec accepted: a name is a token, a value has no CR, LF or NUL,
//! so nothing written from here can split a line or inject a field.

use http::header::{HeaderMap, HeaderName, HeaderValue};

/// Field lines relayed as received, in their order: `name: value\r\n` each.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct VerbatimFields {
    lines: Vec<u8>,
    /// One of the lines is `Date`.
    has_date: bool,
    /// Where the value of the first `Stripe-Signature` line is, and how many there are (the
    /// signature phase reads it from here).
    signature: Option<(usize, usize)>,
    signature_lines: u8,
    /// A request's `Host` and declared `Content-Length`: held here, never written as lines
    /// (the upstream gets its own `Host`, and a length written from the body's framing), and
    /// restored by [`VerbatimFields::merge_into`].
    host: Option<HeaderValue>,
    content_length: Option<u64>,
}

impl VerbatimFields {
    /// No fields.
    pub const fn new() -> Self {
        VerbatimFields {
            lines: Vec::new(),
            has_date: false,
            signature: None,
            signature_lines: 0,
            host: None,
            content_length: None,
        }
    }

    /// Whether there is no field (no line, no held `Host` or `Content-Length`).
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.host.is_none() && self.content_length.is_none()
    }

    /// Holds a request's `Host` value (not written as a line).
    pub(crate) fn hold_host(&mut self, host: HeaderValue) {
        self.host = Some(host);
    }

    /// Takes the held `Host`, if any.
    pub fn take_host(&mut self) -> Option<HeaderValue> {
        self.host.take()
    }

    /// Holds a request's declared `Content-Length` (not written as a line).
    pub(crate) fn hold_content_length(&mut self, length: u64) {
        self.content_length = Some(length);
    }

    /// The held `Content-Length`, if one was declared.
    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }

    /// The field lines, each ending in CRLF, ready to go into a head.
    pub fn as_bytes(&self) -> &[u8] {
        &self.lines
    }

    /// The value of the first `Stripe-Signature` line among them, and how many such lines
    /// there are (0 when there is none).
    pub fn stripe_signature(&self) -> (Option<&[u8]>, usize) {
        let value = self
            .signature
            .and_then(|(start, end)| self.lines.get(start..end));
        (value, usize::from(self.signature_lines))
    }

    /// Whether a `Date` field is among them.
    pub fn has_date(&self) -> bool {
        self.has_date
    }

    /// Appends `name: value`. `room` is the size of the whole head: reserved at the first
    /// field, with `ADDED` more for the fields the gateway adds, so that the lines are written
    /// into one allocation.
    pub(crate) fn push(&mut self, name: &[u8], value: &[u8], room: usize) {
        self.reserve_first(room);
        self.lines.extend_from_slice(name);
        self.lines.extend_from_slice(b": ");
        self.note(name, self.lines.len(), value.len());
        self.lines.extend_from_slice(value);
        self.lines.extend_from_slice(b"\r\n");
    }

    /// At the first field, room for the whole head and the fields the gateway adds.
    fn reserve_first(&mut self, room: usize) {
        /// Room for the fields the gateway adds (forwarding, request id, identity, `Host`).
        const ADDED: usize = 512;
        if self.lines.capacity() == 0 {
            self.lines.reserve(room.saturating_add(ADDED));
        }
    }

    /// Notes what the lines must remember of a field named `name` whose value (`len` bytes)
    /// is, or is about to be, at `at` in the lines.
    fn note(&mut self, name: &[u8], at: usize, len: usize) {
        self.has_date |= name.eq_ignore_ascii_case(b"date");
        if name.len() == 16 && name.eq_ignore_ascii_case(b"stripe-signature") {
            self.signature.get_or_insert((at, at.saturating_add(len)));
            self.signature_lines = self.signature_lines.saturating_add(1);
        }
    }

    /// Appends a field the gateway sets itself. `name` must be a valid field name (a
    /// `HeaderName`'s text); `value` is checked as `HeaderValue` checks one (no control byte
    /// but tab): if it fails, nothing is appended and the answer is `false`.
    pub fn push_field(&mut self, name: &str, value: &[u8]) -> bool {
        use crate::words::{any, below, equal};
        // No control byte at all (the usual case) is checked a word at a time; a tab is let
        // through by the byte check.
        let control = |byte: u8| byte < 0x20 || byte == 0x7f;
        let valid = !any(value, |word| below(word, 0x20) | equal(word, 0x7f), control)
            || value.iter().fold(true, |valid, &byte| {
                valid & ((byte >= 0x20 && byte != 0x7f) | (byte == b'\t'))
            });
        if valid {
            self.push(name.as_bytes(), value, 0);
        }
        valid
    }

    /// Appends a field the gateway sets itself from a value already known to be valid (a
    /// `HeaderValue`'s bytes, or text the gateway wrote). `name` must be a valid field name.
    pub fn push_valid(&mut self, name: &str, value: &[u8]) {
        self.push(name.as_bytes(), value, 0);
    }

    /// The fields as (name, value) pairs, names as received.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.lines
            .split(|&byte| byte == b'\n')
            .filter_map(|line| line.strip_suffix(b"\r"))
            .filter_map(|line| {
                let colon = line.iter().position(|&byte| byte == b':')?;
                let (name, rest) = line.split_at(colon);
                Some((name, rest.get(2..).unwrap_or_default()))
            })
    }

    /// Moves the fields into `headers`, after what it holds (the held `Host` and
    /// `Content-Length` too); a name `headers` already has is left to it (the gateway's own
    /// value wins).
    pub fn merge_into(mut self, headers: &mut HeaderMap) {
        if self.is_empty() {
            return;
        }
        let present: Vec<HeaderName> = headers.keys().cloned().collect();
        if let Some(host) = self.host.take() {
            if !present.contains(&http::header::HOST) {
                headers.append(http::header::HOST, host);
            }
        }
        if let Some(length) = self.content_length {
            if !present.contains(&http::header::CONTENT_LENGTH) {
                headers.append(http::header::CONTENT_LENGTH, HeaderValue::from(length));
            }
        }
        for (name, value) in self.iter() {
            // Both were accepted by the codec, which checks what these constructors check.
            let (Ok(name), Ok(value)) =
                (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
            else {
                continue;
            };
            if !present.contains(&name) {
                headers.append(name, value);
            }
        }
    }
}

/// Fields of a received head going into [`VerbatimFields`]: a line received exactly as
/// `name: value` CRLF is the line the gateway would write, so consecutive ones are copied from
/// the head in one piece; any other (other whitespace, a bare LF) is written out field by field.
pub(crate) struct Received<'h> {
    head: &'h [u8],
    /// The received bytes not yet copied: `head[start..end]`.
    run: (usize, usize),
    /// The size of the head (see [`VerbatimFields::push`]).
    room: usize,
}

impl<'h> Received<'h> {
    /// Fields of `head`, the bytes httparse parsed them from.
    pub(crate) fn new(head: &'h [u8]) -> Self {
        Received {
            head,
            run: (0, 0),
            room: head.len(),
        }
    }

    /// Appends the field `name: value` (slices of the head) to `lines`.
    pub(crate) fn push(&mut self, lines: &mut VerbatimFields, name: &[u8], value: &[u8]) {
        let Some((start, value_start, end)) = self.line_of(name, value) else {
            self.flush(lines);
            lines.push(name, value, self.room);
            return;
        };
        if self.run.1 != start {
            self.flush(lines);
            self.run = (start, start);
        }
        // Where the value lands once the run is copied after what the lines hold now.
        let at = lines
            .lines
            .len()
            .saturating_add(value_start.saturating_sub(self.run.0));
        lines.note(name, at, value.len());
        self.run.1 = end;
    }

    /// Copies what is left of the run; the lines are complete.
    pub(crate) fn flush(&mut self, lines: &mut VerbatimFields) {
        let (start, end) = std::mem::take(&mut self.run);
        if let Some(run) = self.head.get(start..end).filter(|run| !run.is_empty()) {
            lines.reserve_first(self.room);
            lines.lines.extend_from_slice(run);
        }
    }

    /// Where the line of `name: value` starts, where its value starts and where it ends
    /// (after the CRLF) in the head, if it was received exactly as the gateway writes it.
    fn line_of(&self, name: &[u8], value: &[u8]) -> Option<(usize, usize, usize)> {
        let base = self.head.as_ptr() as usize;
        let start = (name.as_ptr() as usize).checked_sub(base)?;
        let value_start = (value.as_ptr() as usize).checked_sub(base)?;
        let separator = start.checked_add(name.len())?;
        let value_end = value_start.checked_add(value.len())?;
        let end = value_end.checked_add(2)?;
        // Slices that lie inside the head are its bytes at these offsets; any other fails a
        // bound here.
        let exact = self.head.get(separator..value_start)? == b": "
            && self.head.get(value_end..end)? == b"\r\n";
        exact.then_some((start, value_start, end))
    }
}

/// Whether a request field named `name` is relayed verbatim (case-insensitive). None of these
/// is hop-by-hop or forwarding, none has a `_`; the one a phase reads, `Stripe-Signature`, is
/// found by [`VerbatimFields::stripe_signature`].
pub fn request_name(name: &[u8]) -> bool {
    // By length first: most names are ruled out by one comparison.
    match name.len() {
        6 => {
            name.eq_ignore_ascii_case(b"accept")
                || name.eq_ignore_ascii_case(b"cookie")
                || name.eq_ignore_ascii_case(b"pragma")
        }
        7 => name.eq_ignore_ascii_case(b"referer"),
        8 => name.eq_ignore_ascii_case(b"if-match"),
        10 => name.eq_ignore_ascii_case(b"user-agent"),
        12 => name.eq_ignore_ascii_case(b"content-type"),
        13 => {
            name.eq_ignore_ascii_case(b"authorization")
                || name.eq_ignore_ascii_case(b"cache-control")
                || name.eq_ignore_ascii_case(b"if-none-match")
        }
        15 => {
            name.eq_ignore_ascii_case(b"accept-encoding")
                || name.eq_ignore_ascii_case(b"accept-language")
        }
        16 => name.eq_ignore_ascii_case(b"stripe-signature"),
        17 => name.eq_ignore_ascii_case(b"if-modified-since"),
        19 => name.eq_ignore_ascii_case(b"if-unmodified-since"),
        _ => false,
    }
}

/// Whether a response field named `name` is relayed verbatim (case-insensitive). None of these
/// is hop-by-hop or framing, and the gateway sets none of them on a response it relays.
pub fn response_name(name: &[u8]) -> bool {
    match name.len() {
        4 => name.eq_ignore_ascii_case(b"date") || name.eq_ignore_ascii_case(b"etag"),
        6 => name.eq_ignore_ascii_case(b"server"),
        7 => name.eq_ignore_ascii_case(b"expires"),
        8 => name.eq_ignore_ascii_case(b"location"),
        10 => name.eq_ignore_ascii_case(b"set-cookie"),
        12 => name.eq_ignore_ascii_case(b"content-type"),
        13 => {
            name.eq_ignore_ascii_case(b"cache-control")
                || name.eq_ignore_ascii_case(b"last-modified")
        }
        16 => {
            name.eq_ignore_ascii_case(b"content-encoding")
                || name.eq_ignore_ascii_case(b"content-language")
        }
        19 => name.eq_ignore_ascii_case(b"content-disposition"),
        _ => false,
    }
}

/// The request names relayed verbatim (lowercase).
pub const REQUEST_NAMES: &[&str] = &[
    "accept",
    "accept-encoding",
    "accept-language",
    "authorization",
    "cache-control",
    "content-type",
    "cookie",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-unmodified-since",
    "pragma",
    "referer",
    "stripe-signature",
    "user-agent",
];

/// The response names relayed verbatim (lowercase).
pub const RESPONSE_NAMES: &[&str] = &[
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "content-type",
    "date",
    "etag",
    "expires",
    "last-modified",
    "location",
    "server",
    "set-cookie",
];

#[cfg(test)]
mod tests;
