//! Keep-alive connections to one upstream ([`HostPool`]), the exchange with its deadline, and
//! the response body ([`UpstreamBody`]) that gives its connection back when it has been relayed
//! to the end. An idle connection the upstream closed (or wrote to) is never used; one found
//! closed under a request that the upstream cannot have acted on sends it again on the next
//! (or a new) connection. An `https://` upstream that chooses `h2` by ALPN gets one shared
//! HTTP/2 connection instead (`http2`).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::request::Parts;
use http::uri::Authority;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use prometheus::IntCounter;

use super::connect::{self, Connection, TlsTarget};
use super::http1::{self, Remaining};
use super::http2::{self, SharedHttp2, Unsent};
use super::idle;
use super::io::Conn;
use super::{SendBody, SendError, UpstreamFailure};
use crate::config::UpstreamConfig;
use crate::http1::ResponseHead;
use crate::tls::client::tls_error;

/// Stands in for a deadline past what the clock can represent (about 30 years, as tokio does).
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// The connect and pool settings of `[upstream]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Settings {
    connect_timeout: Duration,
    idle_timeout: Duration,
    max_idle: usize,
}

impl Settings {
    /// The settings of `config`.
    pub(super) fn of(config: &UpstreamConfig) -> Settings {
        Settings {
            connect_timeout: config.connect_timeout,
            idle_timeout: config.pool_idle_timeout,
            max_idle: config.pool_max_idle_per_host,
        }
    }
}

/// Connections to one upstream, sending request bodies of type `B`: HTTP/1.1 connections
/// idle between requests (kept per thread, see `idle`), or the one HTTP/2 connection every
/// request shares once an `https://` upstream chose `h2`.
#[derive(Debug)]
pub(crate) struct HostPool<B> {
    /// Names this pool's idle lists (unique in the process, never reused).
    id: u64,
    authority: Authority,
    settings: Settings,
    /// Set for `https://` upstreams.
    tls: Option<TlsTarget>,
    /// The HTTP/2 connection every request shares, once the upstream chose `h2`.
    http2: SharedHttp2<B>,
}

/// Where a response came from.
enum Exchanged {
    /// An HTTP/1.1 connection, now holding the response body; whether the whole request went
    /// out.
    Http1(Box<Conn>, ResponseHead, bool),
    /// A stream of the shared HTTP/2 connection.
    Http2(Response<Incoming>),
}

/// The next pool id.
static POOL_IDS: AtomicU64 = AtomicU64::new(1);

impl<B> HostPool<B> {
    /// An empty pool of connections to `authority`.
    pub(super) fn new(authority: Authority, settings: Settings, tls: Option<TlsTarget>) -> Self {
        HostPool {
            id: POOL_IDS.fetch_add(1, Ordering::Relaxed),
            authority,
            settings,
            tls,
            http2: SharedHttp2::new(),
        }
    }

    /// Lets the HTTP/2 connection go once no request has started on it for
    /// `pool_idle_timeout` (streams still open on it finish first). Idle HTTP/1.1 connections
    /// are reaped by the threads that hold them (`idle::reap`).
    pub(crate) fn reap(&self) {
        self.http2.reap(Instant::now(), self.settings.idle_timeout);
    }

    /// What a response body needs to give its connection back to this pool.
    fn returns(&self) -> Returns {
        Returns {
            pool: self.id,
            max_idle: self.settings.max_idle,
            idle_timeout: self.settings.idle_timeout,
        }
    }
}

impl<B: SendBody> HostPool<B> {
    /// Sends the request of `parts` (its `Host` set; over HTTP/1.1 the target goes in origin
    /// form) and `body`. `timeout` bounds the whole exchange:
    /// no response head in time is [`UpstreamFailure::Timeout`], and a body still streaming at
    /// the deadline is cut off (and counted in `timeouts`). The response body returns the
    /// connection to the pool when it ends. `route` names the route in TLS failure logs.
    pub(crate) async fn send(
        &self,
        parts: &Parts,
        body: B,
        route: &str,
        timeout: Duration,
        timeouts: &IntCounter,
    ) -> Result<Response<UpstreamBody>, SendError> {
        let now = tokio::time::Instant::now();
        // A configured timeout too large to add to the clock means no deadline in practice.
        let deadline = now
            .checked_add(timeout)
            .or_else(|| now.checked_add(FAR_FUTURE))
            .unwrap_or(now);
        let exchanged = self.exchange(parts, body, route, deadline).await?;
        let timeouts = timeouts.clone();
        let body = |source| UpstreamBody {
            source,
            deadline,
            sleep: None,
            timeouts,
        };
        Ok(match exchanged {
            Exchanged::Http1(conn, head, sent_whole) => {
                let remaining = Remaining::of(&head);
                let keep_alive = head.keep_alive && sent_whole;
                Response::from_parts(
                    head.parts,
                    body(Source::Http1 {
                        conn: Some(conn),
                        remaining,
                        keep_alive,
                        returns: self.returns(),
                    }),
                )
            }
            Exchanged::Http2(response) => response.map(|incoming| body(Source::Http2(incoming))),
        })
    }

    /// The exchange, by `deadline`: an HTTP/2 stream, or a pooled HTTP/1.1 connection (the
    /// next one when one turns out closed under a request the upstream cannot have acted on), or
    /// a new connection.
    async fn exchange(
        &self,
        parts: &Parts,
        body: B,
        route: &str,
        deadline: tokio::time::Instant,
    ) -> Result<Exchanged, SendError> {
        let mut body = body;
        // Only TLS upstreams negotiate HTTP/2: plaintext pools skip the lock.
        if let Some(sender) = self.tls.as_ref().and_then(|_| self.http2.current()) {
            let request = Request::from_parts(parts.clone(), body);
            let sending = http2::send(sender, request, &self.authority, route);
            match tokio::time::timeout_at(deadline, sending).await {
                Err(_elapsed) => return Err(UpstreamFailure::Timeout.into()),
                Ok(Err(Unsent::Again(unsent))) => body = unsent.into_body(),
                Ok(sent) => {
                    return sent
                        .map(Exchanged::Http2)
                        .map_err(|unsent| unsent.failure().into())
                }
            }
        }
        let replay = body.in_memory();
        while let Some(mut conn) = idle::checkout(self.id) {
            let replay = replay.as_ref();
            match http1::exchange_by(&mut conn, deadline, parts, &mut body, replay).await {
                Ok((head, whole)) => return Ok(Exchanged::Http1(conn, head, whole)),
                Err(failed) if failed.retry => continue,
                Err(failed) => return Err(self.failed(failed, route)),
            }
        }
        let timeout = self.settings.connect_timeout;
        // Boxed: opening a connection (TCP, TLS, the HTTP/2 handshake) is a large future that a
        // pooled request never needs; inline, it would grow every request's future by its size.
        let opening = Box::pin(connect::open(
            &self.authority,
            self.tls.as_ref(),
            timeout,
            route,
        ));
        let opened = tokio::time::timeout_at(deadline, opening)
            .await
            .map_err(|_elapsed| UpstreamFailure::Timeout)??;
        match opened {
            Connection::Http1(io) => {
                let mut conn = Conn::new(io);
                let replay = replay.as_ref();
                match http1::exchange_by(&mut conn, deadline, parts, &mut body, replay).await {
                    Ok((head, whole)) => Ok(Exchanged::Http1(conn, head, whole)),
                    Err(failed) => Err(self.failed(failed, route)),
                }
            }
            Connection::Http2(sender) => {
                self.http2.share(sender.clone());
                let request = Request::from_parts(parts.clone(), body);
                let sending = http2::send(sender, request, &self.authority, route);
                match tokio::time::timeout_at(deadline, sending).await {
                    Err(_elapsed) => Err(UpstreamFailure::Timeout.into()),
                    Ok(sent) => sent
                        .map(Exchanged::Http2)
                        .map_err(|unsent| unsent.failure().into()),
                }
            }
        }
    }

    /// The failure to report; a TLS alert (a TLS 1.3 server refusing the client certificate
    /// says so only on the first read) counts as `tls` and is logged.
    fn failed(&self, failed: http1::Failed, route: &str) -> SendError {
        if failed.request_body {
            return SendError::RequestBody;
        }
        let tls = failed.error.as_ref().and_then(|error| {
            let error: &(dyn std::error::Error + 'static) = error;
            tls_error(error).map(ToString::to_string)
        });
        match tls {
            Some(tls) => {
                tracing::warn!(route, upstream = %self.authority, error = %tls, "upstream TLS failure");
                SendError::Upstream(UpstreamFailure::Tls)
            }
            None => SendError::Upstream(failed.failure),
        }
    }
}

/// Where a finished HTTP/1.1 response gives its connection back.
#[derive(Debug, Clone, Copy)]
struct Returns {
    pool: u64,
    max_idle: usize,
    idle_timeout: Duration,
}

/// A response body from the upstream. An HTTP/1.1 body is read from its connection as the
/// client takes it, and the connection goes back to the pool when the body has been read to
/// the end (and the upstream sent nothing more); otherwise it is closed with the body.
#[derive(Debug)]
pub(crate) struct UpstreamBody {
    source: Source,
    /// End of the route's timeout; a timer is armed only if the body is not already here.
    deadline: tokio::time::Instant,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    timeouts: IntCounter,
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

impl Source {
    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, ResponseError>>> {
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
                match http1::poll_body(open, remaining, cx) {
                    Poll::Ready(None) => {
                        if let Some(done) = conn.take() {
                            if *keep_alive && done.read.is_empty() {
                                let Returns {
                                    pool,
                                    max_idle,
                                    idle_timeout,
                                } = *returns;
                                idle::release(pool, done, max_idle, idle_timeout);
                            }
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
        match this.source.poll_data(cx) {
            Poll::Ready(None) => Poll::Ready(None),
            // A body that never pauses (an endless fast stream) meets the deadline here.
            Poll::Ready(Some(Ok(_))) if tokio::time::Instant::now() >= this.deadline => {
                this.timeouts.inc();
                Poll::Ready(Some(Err(ResponseError::Timeout)))
            }
            Poll::Ready(Some(data)) => Poll::Ready(Some(data.map(Frame::data))),
            Poll::Pending => {
                let deadline = this.deadline;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.timeouts.inc();
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
            if let Some(done) = conn.take().filter(|done| done.read.is_empty()) {
                let Returns {
                    pool,
                    max_idle,
                    idle_timeout,
                } = *returns;
                idle::release(pool, done, max_idle, idle_timeout);
            }
        }
    }
}
