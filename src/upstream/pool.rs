//! Keep-alive connections to one upstream ([`HostPool`]), the exchange with its deadline, and
//! the response body ([`UpstreamBody`]) that gives its connection back when it has been relayed
//! to the end. An idle connection the upstream closed (or wrote to) is never used; one found
//! closed under a request that the upstream cannot have acted on sends it again on the next
//! (or a new) connection. An `https://` upstream that chooses `h2` by ALPN gets one shared
//! HTTP/2 connection instead (`http2`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::request::Parts;
use http::uri::Authority;
use http::{Request, Response};
use hyper::body::Incoming;

use super::connect::{self, Connection, TlsTarget};
use super::http1;
use super::http2::{self, SharedHttp2, Unsent};
use super::idle;
use super::io::Conn;
use super::response::{Returns, UpstreamBody};
use super::{SendBody, SendError, UpstreamFailure};
use crate::config::UpstreamConfig;
use crate::http1::{ResponseHead, VerbatimFields};
use crate::metrics::BodyCutoffs;
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
    Http1(Box<Conn>, Box<ResponseHead>, bool),
    /// A stream of the shared HTTP/2 connection.
    Http2(Response<Incoming>),
}

/// Why an HTTP/2 request got no response.
enum Http2Error<B> {
    /// The closing connection did not take it: here is its body back.
    Unsent(B),
    /// It failed.
    Failed(UpstreamFailure),
}

impl<B> Http2Error<B> {
    /// The failure to report when no other connection is tried.
    fn failure(self) -> SendError {
        match self {
            Http2Error::Unsent(_) => SendError::Upstream(UpstreamFailure::Broken),
            Http2Error::Failed(failure) => SendError::Upstream(failure),
        }
    }
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
    /// form) and `body`, starting at `now`. `timeout` bounds the whole exchange:
    /// no response head in time is [`UpstreamFailure::Timeout`], and a body still streaming at
    /// the deadline is cut off (counted in `cutoffs`, as is one whose connection breaks). The
    /// response body returns the connection to the pool when it ends. `route` names the route
    /// in TLS failure logs.
    pub(crate) async fn send(
        &self,
        parts: &Parts,
        verbatim: &VerbatimFields,
        body: B,
        route: &str,
        (now, timeout): (std::time::Instant, Duration),
        cutoffs: &Arc<BodyCutoffs>,
    ) -> Result<Response<UpstreamBody>, SendError> {
        let now = tokio::time::Instant::from_std(now);
        // A configured timeout too large to add to the clock means no deadline in practice.
        let deadline = now
            .checked_add(timeout)
            .or_else(|| now.checked_add(FAR_FUTURE))
            .unwrap_or(now);
        let exchanged = self
            .exchange(parts, verbatim, body, route, (now.into_std(), deadline))
            .await?;
        let cutoffs = Arc::clone(cutoffs);
        Ok(match exchanged {
            Exchanged::Http1(conn, mut head, sent_whole) => {
                let keep_alive = head.keep_alive && sent_whole;
                let returns = self.returns();
                let body =
                    UpstreamBody::http1(conn, &mut head, keep_alive, returns, deadline, cutoffs);
                Response::from_parts(head.parts, body)
            }
            Exchanged::Http2(response) => {
                response.map(|incoming| UpstreamBody::http2(incoming, deadline, cutoffs))
            }
        })
    }

    /// The exchange, from `now` by `deadline`: an HTTP/2 stream, or a pooled HTTP/1.1
    /// connection still fresh at `now` (the next one when one turns out closed under a request
    /// the upstream cannot have acted on), or a new connection.
    async fn exchange(
        &self,
        parts: &Parts,
        verbatim: &VerbatimFields,
        body: B,
        route: &str,
        (now, deadline): (Instant, tokio::time::Instant),
    ) -> Result<Exchanged, SendError> {
        let mut body = body;
        // Only TLS upstreams negotiate HTTP/2: plaintext pools skip the lock.
        if let Some(sender) = self.tls.as_ref().and_then(|_| self.http2.current()) {
            match self
                .send_http2(sender, parts, verbatim, body, route, deadline)
                .await
            {
                Err(Http2Error::Unsent(unsent)) => body = unsent,
                sent => return sent.map_err(Http2Error::failure),
            }
        }
        let replay = body.take_in_memory();
        let mut now = now;
        while let Some(mut conn) = idle::checkout(self.id, now) {
            let replay = replay.as_ref();
            match http1::exchange_by(&mut conn, deadline, (parts, verbatim), &mut body, replay)
                .await
            {
                Ok((head, whole)) => return Ok(Exchanged::Http1(conn, head, whole)),
                // The next idle connection is judged fresh as of now, not of the first try.
                Err(failed) if failed.retry => now = Instant::now(),
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
                match http1::exchange_by(&mut conn, deadline, (parts, verbatim), &mut body, replay)
                    .await
                {
                    Ok((head, whole)) => Ok(Exchanged::Http1(conn, head, whole)),
                    Err(failed) => Err(self.failed(failed, route)),
                }
            }
            Connection::Http2(sender) => {
                // hyper polls the body itself: it gets back the bytes taken for HTTP/1.1.
                if let Some(bytes) = replay {
                    body.put_back_in_memory(bytes);
                }
                self.http2.share(sender.clone());
                self.send_http2(sender, parts, verbatim, body, route, deadline)
                    .await
                    .map_err(Http2Error::failure)
            }
        }
    }

    /// One stream on the shared HTTP/2 connection, by `deadline`; a request the closing
    /// connection did not take comes back with its body, to go over HTTP/1.1.
    async fn send_http2(
        &self,
        sender: hyper::client::conn::http2::SendRequest<B>,
        parts: &Parts,
        verbatim: &VerbatimFields,
        body: B,
        route: &str,
        deadline: tokio::time::Instant,
    ) -> Result<Exchanged, Http2Error<B>> {
        let mut parts = parts.clone();
        verbatim.clone().merge_into(&mut parts.headers);
        let request = Request::from_parts(parts, body);
        let sending = http2::send(sender, request, &self.authority, route);
        match tokio::time::timeout_at(deadline, sending).await {
            Err(_elapsed) => Err(Http2Error::Failed(UpstreamFailure::Timeout)),
            Ok(Ok(response)) => Ok(Exchanged::Http2(response)),
            Ok(Err(Unsent::Again(unsent))) => Err(Http2Error::Unsent(unsent.into_body())),
            Ok(Err(unsent)) => Err(Http2Error::Failed(unsent.failure())),
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
