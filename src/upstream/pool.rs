//! Keep-alive connections to one upstream ([`HostPool`]), the exchange with its deadline, and
//! the response body ([`UpstreamBody`]) that gives its connection back when it has been relayed
//! to the end. A connection that the upstream closed while idle hands the request back unsent,
//! and the next one (or a new one) is tried. An `https://` upstream that chooses `h2` by ALPN
//! gets one shared HTTP/2 connection instead (`http2`).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::uri::Authority;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use prometheus::IntCounter;

use super::connect::{self, Connection, TlsTarget};
use super::http2::{self, SharedHttp2, Unsent};
use super::{SendBody, UpstreamFailure};
use crate::config::UpstreamConfig;

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

/// Idle keep-alive connections to one upstream, sending request bodies of type `B`.
#[derive(Debug)]
pub(crate) struct HostPool<B> {
    authority: Authority,
    settings: Settings,
    /// Set for `https://` upstreams.
    tls: Option<TlsTarget>,
    idle: Mutex<Vec<Idle<B>>>,
    /// The HTTP/2 connection every request shares, once the upstream chose `h2`.
    http2: SharedHttp2<B>,
}

#[derive(Debug)]
struct Idle<B> {
    sender: SendRequest<B>,
    since: Instant,
}

/// The HTTP/1.1 connection that has answered (none for HTTP/2), and its response.
type Exchanged<B> = (Option<SendRequest<B>>, Response<Incoming>);

impl<B> HostPool<B> {
    /// An empty pool of connections to `authority`.
    pub(super) fn new(authority: Authority, settings: Settings, tls: Option<TlsTarget>) -> Self {
        HostPool {
            authority,
            settings,
            tls,
            idle: Mutex::new(Vec::new()),
            http2: SharedHttp2::new(),
        }
    }

    /// Idle connections are kept oldest first: drop those idle longer than `pool_idle_timeout`.
    fn drop_expired(&self, idle: &mut Vec<Idle<B>>, now: Instant) {
        let expired =
            idle.partition_point(|i| now.duration_since(i.since) >= self.settings.idle_timeout);
        idle.drain(..expired);
    }

    /// Closes connections idle longer than `pool_idle_timeout` (called periodically, so a
    /// quiet gateway does not hold them). The HTTP/2 connection is let go once no request has
    /// started on it for that long; streams still open on it finish first.
    pub(crate) fn reap(&self) {
        let now = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        self.drop_expired(&mut idle, now);
        drop(idle);
        self.http2.reap(now, self.settings.idle_timeout);
    }

    fn push(&self, sender: SendRequest<B>) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        self.drop_expired(&mut idle, now);
        if idle.len() < self.settings.max_idle {
            idle.push(Idle { sender, since: now });
        }
    }
}

impl<B: SendBody> HostPool<B> {
    /// Sends `request` (origin-form URI, `Host` set). `timeout` bounds the whole exchange:
    /// no response head in time is [`UpstreamFailure::Timeout`], and a body still streaming at
    /// the deadline is cut off (and counted in `timeouts`). The response body returns the
    /// connection to the pool when it ends. `route` names the route in TLS failure logs.
    pub(crate) async fn send(
        self: &Arc<Self>,
        request: Request<B>,
        route: &str,
        timeout: Duration,
        timeouts: &IntCounter,
    ) -> Result<Response<UpstreamBody<B>>, UpstreamFailure> {
        let now = tokio::time::Instant::now();
        // A configured timeout too large to add to the clock means no deadline in practice.
        let deadline = now
            .checked_add(timeout)
            .or_else(|| now.checked_add(FAR_FUTURE))
            .unwrap_or(now);
        let (sender, response) = tokio::time::timeout_at(deadline, self.exchange(request, route))
            .await
            .unwrap_or(Err(UpstreamFailure::Timeout))?;
        let lease = Lease {
            pool: self.clone(),
            sender,
        };
        let timeouts = timeouts.clone();
        Ok(response.map(|body| UpstreamBody {
            body,
            lease,
            deadline,
            sleep: None,
            timeouts,
        }))
    }

    async fn exchange(
        &self,
        mut request: Request<B>,
        route: &str,
    ) -> Result<Exchanged<B>, UpstreamFailure> {
        // Only TLS upstreams negotiate HTTP/2: plaintext pools skip the lock.
        if let Some(sender) = self.tls.as_ref().and_then(|_| self.http2.current()) {
            match http2::send(sender, request, &self.authority, route).await {
                Err(Unsent::Again(unsent)) => request = *unsent,
                sent => {
                    return sent
                        .map(|response| (None, response))
                        .map_err(Unsent::failure)
                }
            }
        }
        while let Some(mut sender) = self.checkout() {
            match sender.try_send_request(request).await {
                Ok(response) => return Ok((Some(sender), response)),
                // The upstream closed this idle connection before reading the request.
                Err(mut err) => match err.take_message() {
                    Some(unsent) => request = unsent,
                    None => return Err(connect::failure_of(err.error(), &self.authority, route)),
                },
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
        match opening.await? {
            Connection::Http1(mut sender) => match sender.send_request(request).await {
                Ok(response) => Ok((Some(sender), response)),
                Err(err) => Err(connect::failure_of(&err, &self.authority, route)),
            },
            Connection::Http2(sender) => {
                self.http2.share(sender.clone());
                let sent = http2::send(sender, request, &self.authority, route).await;
                sent.map(|response| (None, response))
                    .map_err(Unsent::failure)
            }
        }
    }

    /// The most recently used idle connection that is ready, if any. Never waits: a connection
    /// that is not ready belongs to nobody else's request only once it is, and is dropped here.
    fn checkout(&self) -> Option<SendRequest<B>> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        self.drop_expired(&mut idle, Instant::now());
        while let Some(candidate) = idle.pop() {
            if candidate.sender.is_ready() {
                return Some(candidate.sender);
            }
        }
        None
    }

    /// Returns a connection whose response has ended. One still sending its request body (the
    /// upstream answered early) is returned only once that is done, within `pool_idle_timeout`.
    fn release(self: &Arc<Self>, mut sender: SendRequest<B>) {
        if sender.is_closed() {
            return;
        }
        if !sender.is_ready() {
            let pool = self.clone();
            tokio::spawn(async move {
                if let Ok(Ok(())) =
                    tokio::time::timeout(pool.settings.idle_timeout, sender.ready()).await
                {
                    pool.push(sender);
                }
            });
            return;
        }
        self.push(sender);
    }
}

/// A response body from the upstream; when it has been read to the end its connection goes
/// back to the pool, otherwise the connection is dropped with it.
#[derive(Debug)]
pub(crate) struct UpstreamBody<B: SendBody> {
    body: Incoming,
    lease: Lease<B>,
    /// End of the route's timeout; a timer is armed only if the body is not already here.
    deadline: tokio::time::Instant,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    timeouts: IntCounter,
}

#[derive(Debug)]
struct Lease<B: SendBody> {
    pool: Arc<HostPool<B>>,
    sender: Option<SendRequest<B>>,
}

/// Why an upstream response body stopped short.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ResponseError {
    /// The connection failed mid-body.
    #[error(transparent)]
    Broken(#[from] hyper::Error),
    /// The upstream did not finish its response within the route's timeout.
    #[error("the upstream did not finish its response in time")]
    Timeout,
}

impl<B: SendBody> UpstreamBody<B> {
    fn give_back(&mut self) {
        if let Some(sender) = self.lease.sender.take() {
            self.lease.pool.release(sender);
        }
    }
}

impl<B: SendBody> Body for UpstreamBody<B> {
    type Data = Bytes;
    type Error = ResponseError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ResponseError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(None) => {
                this.give_back();
                Poll::Ready(None)
            }
            // A body that never pauses (an endless fast stream) meets the deadline here.
            Poll::Ready(Some(_)) if tokio::time::Instant::now() >= this.deadline => {
                this.timeouts.inc();
                Poll::Ready(Some(Err(ResponseError::Timeout)))
            }
            Poll::Ready(Some(frame)) => Poll::Ready(Some(frame.map_err(ResponseError::from))),
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
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl<B: SendBody> Drop for UpstreamBody<B> {
    fn drop(&mut self) {
        // A body never polled (empty, or a HEAD response) may still have ended cleanly.
        if self.body.is_end_stream() {
            self.give_back();
        }
    }
}
