//! Writing a response on an HTTP/1.1 connection: the head (framing from the body, a `Date`,
//! `Connection: close` when the connection ends), then the body. A small body goes out in the
//! head's write; a streamed one is written as it arrives, chunked unless its length is known.
//! Every write that makes no progress for `send_timeout` ends the connection.

use std::cell::RefCell;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, DATE as DATE_HEADER};
use http::{HeaderMap, Response, StatusCode};
use http_body::Body;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::Conn;
use crate::body::GatewayBody;
use crate::http1::VerbatimFields;
use crate::http1::{
    append_field, append_lines, encode_response_head, BodyFraming, ChunkSizeLine, CHUNK_END,
    LAST_CHUNK,
};

/// Body bytes gathered behind the head (or one another) before a write.
const GATHER: usize = 64 * 1024;

/// How a response went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sent {
    /// Whole, and the connection may carry the next request.
    KeepAlive,
    /// Whole, with `Connection: close` (or delimited by the close).
    Close,
    /// Cut short: the client stopped taking it, or the body failed.
    Failed,
}

/// What the request asked of the response's form.
#[derive(Debug, Clone, Copy)]
pub(super) struct Asked {
    /// A `HEAD` request: the head only.
    pub(super) head: bool,
    /// The connection ends after this response.
    pub(super) close: bool,
    /// An HTTP/1.0 client: it cannot read a chunked body (RFC 9112 §6.1), so a body of unknown
    /// length is delimited by closing, and the connection always ends after the response.
    pub(super) http10: bool,
}

/// Writes `response` to `conn`.
pub(super) async fn respond<I: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<I>,
    response: Response<GatewayBody>,
    asked: Asked,
    send_timeout: Duration,
) -> Sent {
    let (parts, mut body) = response.into_parts();
    let status = parts.status;
    let bodiless = asked.head
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let mut close = asked.close || asked.http10 || asks_close(&parts.headers);
    let framing = if bodiless {
        // The length the answer to a GET would have: the upstream's, or that of an answer the
        // gateway made itself; no field otherwise.
        let own = !matches!(body, GatewayBody::Upstream(_));
        declared_length(&parts.headers)
            .or_else(|| {
                (asked.head && own)
                    .then(|| body.size_hint().exact())
                    .flatten()
            })
            .map_or(BodyFraming::UntilClose, BodyFraming::Length)
    } else {
        match body.size_hint().exact() {
            Some(length) => BodyFraming::Length(length),
            None if asked.http10 => BodyFraming::UntilClose,
            None => BodyFraming::Chunked,
        }
    };
    // An upstream's fields relayed verbatim follow the map's (the gateway sets none of them).
    let verbatim = match &mut body {
        GatewayBody::Upstream(upstream) => upstream.take_verbatim(),
        GatewayBody::Empty | GatewayBody::Full(_) => VerbatimFields::new(),
    };
    conn.write.clear();
    encode_response_head(&mut conn.write, status, &parts.headers, framing, close);
    append_lines(&mut conn.write, verbatim.as_bytes());
    if !verbatim.has_date() && !parts.headers.contains_key(DATE_HEADER) {
        DATE.with(|date| append_field(&mut conn.write, b"date", date.borrow_mut().now()));
    }
    if bodiless {
        drop(body);
        return finish(conn, send_timeout, close).await;
    }
    let mut out = match framing {
        BodyFraming::Length(length) => Out::Length(length),
        BodyFraming::Chunked => Out::Chunked,
        BodyFraming::UntilClose => Out::UntilClose,
    };
    loop {
        // Take what is ready without waiting; write before waiting for more.
        let polled = poll_fn(|cx| Poll::Ready(Pin::new(&mut body).poll_frame(cx))).await;
        let frame = match polled {
            Poll::Ready(frame) => frame,
            Poll::Pending => {
                if write(conn, send_timeout).await.is_err() {
                    return Sent::Failed;
                }
                poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
            }
        };
        let data = match frame {
            None => break,
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                Err(_trailers) => continue,
            },
            Some(Err(_)) => {
                // What was gathered goes out; the client sees a body cut short.
                let _ = write(conn, send_timeout).await;
                return Sent::Failed;
            }
        };
        if !gather(conn, &mut out, data) {
            let _ = write(conn, send_timeout).await;
            return Sent::Failed;
        }
        if conn.write.len() >= GATHER && write(conn, send_timeout).await.is_err() {
            return Sent::Failed;
        }
    }
    match out {
        Out::Length(0) | Out::UntilClose => {}
        Out::Length(_) => {
            let _ = write(conn, send_timeout).await;
            return Sent::Failed;
        }
        Out::Chunked => conn.write.extend_from_slice(LAST_CHUNK),
    }
    close |= framing == BodyFraming::UntilClose;
    finish(conn, send_timeout, close).await
}

/// How the body goes out: this many bytes left, chunks, or raw bytes until the close.
#[derive(Debug, Clone, Copy)]
enum Out {
    Length(u64),
    Chunked,
    UntilClose,
}

/// Appends `data` to the pending write, framed; `false` if it runs past the announced length.
fn gather<I>(conn: &mut Conn<I>, out: &mut Out, data: Bytes) -> bool {
    if data.is_empty() {
        return true;
    }
    match out {
        Out::Length(left) => match left.checked_sub(data.len() as u64) {
            Some(rest) => {
                *left = rest;
                conn.write.extend_from_slice(&data);
                true
            }
            None => false,
        },
        Out::UntilClose => {
            conn.write.extend_from_slice(&data);
            true
        }
        Out::Chunked => {
            let size = ChunkSizeLine::new(data.len() as u64);
            conn.write.extend_from_slice(size.as_bytes());
            conn.write.extend_from_slice(&data);
            conn.write.extend_from_slice(CHUNK_END);
            true
        }
    }
}

async fn finish<I: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<I>,
    send_timeout: Duration,
    close: bool,
) -> Sent {
    match write(conn, send_timeout).await {
        Err(()) => Sent::Failed,
        Ok(()) if close => Sent::Close,
        Ok(()) => Sent::KeepAlive,
    }
}

/// Writes and flushes the pending bytes; each write gets `send_timeout` to make progress. A
/// write the socket takes at once (the usual case) arms no timer.
async fn write<I: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<I>,
    send_timeout: Duration,
) -> Result<(), ()> {
    let mut written = 0;
    while let Some(rest) = conn.write.get(written..).filter(|rest| !rest.is_empty()) {
        let now = poll_fn(|cx| Poll::Ready(Pin::new(&mut conn.io).poll_write(cx, rest))).await;
        let wrote = match now {
            Poll::Ready(result) => result,
            Poll::Pending => match tokio::time::timeout(send_timeout, conn.io.write(rest)).await {
                Ok(result) => result,
                Err(_elapsed) => return Err(()),
            },
        };
        match wrote {
            Ok(0) | Err(_) => return Err(()),
            Ok(n) => written = written.saturating_add(n),
        }
    }
    conn.write.clear();
    let now = poll_fn(|cx| Poll::Ready(Pin::new(&mut conn.io).poll_flush(cx))).await;
    let flushed = match now {
        Poll::Ready(result) => result,
        Poll::Pending => match tokio::time::timeout(send_timeout, conn.io.flush()).await {
            Ok(result) => result,
            Err(_elapsed) => return Err(()),
        },
    };
    flushed.map_err(|_| ())
}

/// A `Content-Length` the response carries (an upstream's answer to `HEAD`, or a `304`).
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
}

/// Whether the response itself asks to close (a `503 shutting_down`).
fn asks_close(headers: &HeaderMap) -> bool {
    headers
        .get_all(CONNECTION)
        .iter()
        .any(|value| value.as_bytes().eq_ignore_ascii_case(b"close"))
}

/// The `Date` value, formatted once a second per thread.
struct DateCache {
    second: u64,
    value: [u8; 29],
}

impl DateCache {
    fn now(&mut self) -> &[u8] {
        let now = SystemTime::now();
        let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if second != self.second {
            let formatted = httpdate::fmt_http_date(now);
            if let Some(value) = formatted.as_bytes().first_chunk::<29>() {
                self.value = *value;
                self.second = second;
            }
        }
        &self.value
    }
}

thread_local! {
    static DATE: RefCell<DateCache> = const {
        RefCell::new(DateCache { second: 0, value: *b"Thu, 01 Jan 1970 00:00:00 GMT" })
    };
}
