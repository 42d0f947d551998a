//! Response bodies from an upstream ([`UpstreamBody`]), with the route's deadline: an HTTP/1.1
//! body read from its connection as the client takes it (framing by length, chunks or close),
//! the connection given back to its thread's pool once the body ended cleanly; or a stream of
//! the shared HTTP/2 connection.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio_util::io::poll_read_buf;

use super::http1::LIMITS;
use super::idle;
use super::io::{Conn, READ_CHUNK};
use crate::http1::{BodyFraming, ChunkedDecoder, Decoded, ResponseHead, VerbatimFields};
use crate::metrics::BodyCutoffs;

/// Where a finished HTTP/1.1 response gives its connection back.
#[derive(Debug, Clone, Copy)]
pub(super) struct Returns {
    pub(super) pool: u64,
    pub(super) max_idle: usize,
    pub(super) idle_timeout: Duration,
}

impl Returns {
    /// Gives `conn` back, idle from `now`, when its response ended cleanly: the upstream may
    /// keep it open and sent nothing after the response.
    fn give_back(self, conn: Box<Conn>, keep_alive: bool, now: Instant) {
        if keep_alive && conn.read.is_empty() {
            let limits = (self.max_idle, self.idle_timeout);
            idle::release(self.pool, conn, limits, now);
        }
    }
}

/// A response body from the upstream. An HTTP/1.1 body is read from its connection as the
/// client takes it, and the connection goes back to the pool when the body has been read to
/// the end (and the upstream sent nothing more); otherwise it is closed with the body.
#[derive(Debug)]
pub(crate) struct UpstreamBody {
    source: Source,
    /// The response's fields relayed verbatim (HTTP/1.1), until the head is written.
    verbatim: VerbatimFields,
    /// End of the route's timeout; a timer is armed only if the body is not already here.
    deadline: tokio::time::Instant,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Where a body cut off at the deadline, or broken mid-way, is counted.
    cutoffs: Arc<BodyCutoffs>,
    /// When the last frame was handed over: the end of the body follows it at once, so the
    /// connection goes back idle from then without another clock read.
    last_frame: Option<Instant>,
}

#[derive(Debug)]
enum Source {
    Http1 {
        /// `None` once given back or dropped.
        conn: Option<Box<Conn>>,
        remaining: Remaining,
        keep_alive: bool,
        returns: Returns,
    },
    Http2(Incoming),
}

/// Why an upstream response body stopped short.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ResponseError {
    /// The connection failed mid-body, or its framing was broken.
    #[error("the upstream connection broke before the response body ended")]
    Broken,
    /// The upstream did not finish its response within the route's timeout.
    #[error("the upstream did not finish its response in time")]
    Timeout,
}

impl UpstreamBody {
    /// The body of an HTTP/1.1 response with `head`, read from `conn`, which goes back to the
    /// pool through `returns` if `keep_alive` and the body ends cleanly; cut off at `deadline`.
    pub(super) fn http1(
        conn: Box<Conn>,
        head: &mut ResponseHead,
        keep_alive: bool,
        returns: Returns,
        deadline: tokio::time::Instant,
        cutoffs: Arc<BodyCutoffs>,
    ) -> Self {
        let source = Source::Http1 {
            conn: Some(conn),
            remaining: Remaining::of(head),
            keep_alive,
            returns,
        };
        let mut body = UpstreamBody::new(source, deadline, cutoffs);
        body.verbatim = std::mem::take(&mut head.verbatim);
        body
    }

    /// Takes the fields of the response head that are relayed verbatim (not in its header map);
    /// whoever writes the head must write these too.
    pub(crate) fn take_verbatim(&mut self) -> VerbatimFields {
        std::mem::take(&mut self.verbatim)
    }

    /// The fields relayed verbatim, for the gateway to add its own.
    pub(crate) fn verbatim_mut(&mut self) -> &mut VerbatimFields {
        &mut self.verbatim
    }

    /// The body of a response on the shared HTTP/2 connection; cut off at `deadline`.
    pub(super) fn http2(
        incoming: Incoming,
        deadline: tokio::time::Instant,
        cutoffs: Arc<BodyCutoffs>,
    ) -> Self {
        UpstreamBody::new(Source::Http2(incoming), deadline, cutoffs)
    }

    fn new(source: Source, deadline: tokio::time::Instant, cutoffs: Arc<BodyCutoffs>) -> Self {
        UpstreamBody {
            source,
            verbatim: VerbatimFields::new(),
            deadline,
            sleep: None,
            cutoffs,
            last_frame: None,
        }
    }
}

impl Source {
    /// The next piece of the body; at its end an HTTP/1.1 connection goes back to the pool,
    /// idle since `last_frame` (when a frame came just before) or now.
    fn poll_data(
        &mut self,
        cx: &mut Context<'_>,
        last_frame: Option<Instant>,
    ) -> Poll<Option<Result<Bytes, ResponseError>>> {
        match self {
            Source::Http1 {
                conn,
                remaining,
                keep_alive,
                returns,
            } => {
                let Some(open) = conn.as_mut() else {
                    return Poll::Ready(None);
                };
                match poll_body(open, remaining, cx) {
                    Poll::Ready(None) => {
                        if let Some(done) = conn.take() {
                            let now = last_frame.unwrap_or_else(Instant::now);
                            returns.give_back(done, *keep_alive, now);
                        }
                        Poll::Ready(None)
                    }
                    Poll::Ready(Some(Ok(data))) => Poll::Ready(Some(Ok(data))),
                    Poll::Ready(Some(Err(_))) => {
                        *conn = None;
                        Poll::Ready(Some(Err(ResponseError::Broken)))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
            Source::Http2(incoming) => loop {
                match ready!(Pin::new(&mut *incoming).poll_frame(cx)) {
                    None => return Poll::Ready(None),
                    Some(Err(_)) => return Poll::Ready(Some(Err(ResponseError::Broken))),
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            return Poll::Ready(Some(Ok(data)));
                        }
                    }
                }
            },
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = ResponseError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ResponseError>>> {
        let this = &mut *self;
        match this.source.poll_data(cx, this.last_frame.take()) {
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Ok(data))) => {
                // A body that never pauses (an endless fast stream) meets the deadline here.
                let now = tokio::time::Instant::now();
                if now >= this.deadline {
                    this.cutoffs.timeout.inc();
                    return Poll::Ready(Some(Err(ResponseError::Timeout)));
                }
                this.last_frame = Some(now.into_std());
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
            Poll::Ready(Some(Err(error))) => {
                // The status was relayed and recorded; the client sees the body end early.
                if let ResponseError::Broken = error {
                    this.cutoffs.broken.inc();
                }
                Poll::Ready(Some(Err(error)))
            }
            Poll::Pending => {
                let deadline = this.deadline;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.cutoffs.timeout.inc();
                Poll::Ready(Some(Err(ResponseError::Timeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.source {
            Source::Http1 {
                conn, remaining, ..
            } => conn.is_none() || matches!(remaining, Remaining::Done),
            Source::Http2(incoming) => incoming.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.source {
            Source::Http1 { remaining, .. } => remaining
                .exact()
                .map_or_else(SizeHint::default, SizeHint::with_exact),
            Source::Http2(incoming) => incoming.size_hint(),
        }
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        // A body never polled (empty, or a HEAD response) may still have ended cleanly.
        if let Source::Http1 {
            conn,
            remaining: Remaining::Done,
            keep_alive: true,
            returns,
        } = &mut self.source
        {
            if let Some(done) = conn.take() {
                returns.give_back(done, true, Instant::now());
            }
        }
    }
}

/// What is left of a response body on its connection.
#[derive(Debug)]
enum Remaining {
    /// This many bytes.
    Length(u64),
    /// A chunked body, part way.
    Chunked(Box<ChunkedDecoder>),
    /// Everything until the upstream closes.
    UntilClose,
    /// The body has ended.
    Done,
}

impl Remaining {
    /// The framing of a response to a request with `method` (`Length(0)` when it has no body).
    fn of(head: &ResponseHead) -> Remaining {
        match head.framing {
            BodyFraming::Length(0) => Remaining::Done,
            BodyFraming::Length(length) => Remaining::Length(length),
            // A response to a request limited by `max_body_bytes` is not: the client reads it.
            BodyFraming::Chunked => {
                Remaining::Chunked(Box::new(ChunkedDecoder::new(&LIMITS, u64::MAX)))
            }
            BodyFraming::UntilClose => Remaining::UntilClose,
        }
    }

    /// The exact length left, when known.
    fn exact(&self) -> Option<u64> {
        match self {
            Remaining::Length(length) => Some(*length),
            Remaining::Done => Some(0),
            Remaining::Chunked(_) | Remaining::UntilClose => None,
        }
    }
}

/// Why reading a response body stopped short: the connection closed or failed before the
/// body ended, or its chunked framing is broken.
#[derive(Debug)]
struct BodyError;

/// The next piece of a response body from `conn`: `None` at its end.
fn poll_body(
    conn: &mut Conn,
    remaining: &mut Remaining,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<Bytes, BodyError>>> {
    loop {
        match remaining {
            Remaining::Done => return Poll::Ready(None),
            Remaining::Length(0) => {
                *remaining = Remaining::Done;
                return Poll::Ready(None);
            }
            Remaining::Length(left) if !conn.read.is_empty() => {
                let take = usize::try_from(*left)
                    .map_or(conn.read.len(), |left| left.min(conn.read.len()));
                *left = left.saturating_sub(take as u64);
                return Poll::Ready(Some(Ok(conn.read.split_to(take).freeze())));
            }
            Remaining::UntilClose if !conn.read.is_empty() => {
                return Poll::Ready(Some(Ok(conn.read.split().freeze())));
            }
            Remaining::Chunked(decoder) if !conn.read.is_empty() => {
                match decoder.decode(&conn.read) {
                    Ok(Decoded::Data(range)) => {
                        let mut data = conn.read.split_to(range.end);
                        data.advance(range.start.min(data.len()));
                        return Poll::Ready(Some(Ok(data.freeze())));
                    }
                    Ok(Decoded::NeedMore) => conn.read.clear(),
                    Ok(Decoded::Done { consumed }) => {
                        conn.read.advance(consumed.min(conn.read.len()));
                        *remaining = Remaining::Done;
                        return Poll::Ready(None);
                    }
                    Err(_) => return Poll::Ready(Some(Err(BodyError))),
                }
            }
            Remaining::Length(_) | Remaining::Chunked(_) | Remaining::UntilClose => {
                conn.read.reserve(READ_CHUNK);
                let read = ready!(poll_read_buf(Pin::new(&mut conn.io), cx, &mut conn.read));
                match read {
                    Ok(0) if matches!(remaining, Remaining::UntilClose) => {
                        *remaining = Remaining::Done;
                        return Poll::Ready(None);
                    }
                    Ok(0) | Err(_) => return Poll::Ready(Some(Err(BodyError))),
                    Ok(_) => {}
                }
            }
        }
    }
}
