//! The upstream client: per-upstream pools of HTTP/1.1 keep-alive connections, with connect and
//! total timeouts and failures classified by fault. An `https://` upstream that chooses `h2`
//! by ALPN gets one shared HTTP/2 connection instead ([`connect`] opens connections).
//!
//! Each route holds the [`HostPool`] of its upstream, resolved when the snapshot is built, so a
//! request neither hashes nor formats anything to find a connection. A connection goes back to
//! its pool when the response body has been relayed to the end; one that the upstream closed
//! while idle hands the request back unsent, and the next one (or a new one) is tried.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

mod connect;
mod http2;

use bytes::Bytes;
use http::uri::{Authority, Scheme};
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use prometheus::IntCounter;

use self::connect::{Connection, TlsTarget};
use self::http2::{Shared, Unsent};
use super::body::{BodyError, GatewayBody};
use crate::config::UpstreamConfig;
use crate::tls::UpstreamTls;

/// Stands in for a deadline past what the clock can represent (about 30 years, as tokio does).
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// Why the upstream did not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// The connection could not be made (refused, unreachable, connect timeout).
    Connect = 0,
    /// No response within the route's timeout.
    Timeout = 1,
    /// The connection broke before a response head arrived.
    Broken = 2,
    /// The response cannot be relayed: a status outside 200–599 (1xx as the final answer, or
    /// 600–999, which `http` parses but HTTP does not define).
    InvalidResponse = 3,
    /// TLS failed: the upstream's certificate did not verify, the handshake failed, or the
    /// upstream refused the gateway's client certificate.
    Tls = 4,
}

impl UpstreamFailure {
    /// Every kind, in the order of their discriminants (the index of their metric handles).
    pub const ALL: [UpstreamFailure; 5] = [
        UpstreamFailure::Connect,
        UpstreamFailure::Timeout,
        UpstreamFailure::Broken,
        UpstreamFailure::InvalidResponse,
        UpstreamFailure::Tls,
    ];

    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamFailure::Connect => "connect",
            UpstreamFailure::Timeout => "timeout",
            UpstreamFailure::Broken => "broken",
            UpstreamFailure::InvalidResponse => "invalid_response",
            UpstreamFailure::Tls => "tls",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Settings {
    connect_timeout: Duration,
    idle_timeout: Duration,
    max_idle: usize,
}

/// The pools of every upstream a configuration names, kept across reloads while the pool
/// settings stay the same.
#[derive(Debug)]
pub struct UpstreamClient {
    settings: Settings,
    /// TLS settings of every `https://` pool.
    tls: Arc<UpstreamTls>,
    pools: Mutex<HashMap<(Scheme, Authority), Arc<HostPool>>>,
}

impl UpstreamClient {
    /// A client with the pool and connect settings of `config`.
    pub fn new(config: &UpstreamConfig) -> Self {
        UpstreamClient {
            settings: Self::settings(config),
            tls: config.tls.clone(),
            pools: Mutex::default(),
        }
    }

    fn settings(config: &UpstreamConfig) -> Settings {
        Settings {
            connect_timeout: config.connect_timeout,
            idle_timeout: config.pool_idle_timeout,
            max_idle: config.pool_max_idle_per_host,
        }
    }

    /// Whether a client built from `config` would be the same as this one.
    pub fn settings_match(&self, config: &UpstreamConfig) -> bool {
        self.settings == Self::settings(config) && self.tls.same_as(&config.tls)
    }

    /// Closes idle connections past `pool_idle_timeout` in every pool.
    pub fn reap(&self) {
        let pools: Vec<Arc<HostPool>> = self
            .pools
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        for pool in pools {
            pool.reap();
        }
    }

    /// Forgets the pools of upstreams no longer configured (routes of older snapshots still
    /// hold theirs until their last request ends).
    pub fn retain(&self, in_use: &[(&Scheme, &Authority)]) {
        let mut pools = self.pools.lock().unwrap_or_else(PoisonError::into_inner);
        pools.retain(|(scheme, authority), _| in_use.contains(&(scheme, authority)));
    }

    /// The pool of connections to `scheme://authority` (one per upstream, shared by its routes).
    pub fn pool(&self, scheme: &Scheme, authority: &Authority) -> Arc<HostPool> {
        let mut pools = self.pools.lock().unwrap_or_else(PoisonError::into_inner);
        let new_pool = || {
            let tls = (*scheme == Scheme::HTTPS).then(|| TlsTarget {
                tls: self.tls.clone(),
                name: self.tls.server_name(authority.host()),
            });
            Arc::new(HostPool {
                authority: authority.clone(),
                settings: self.settings,
                tls,
                idle: Mutex::default(),
                http2: Mutex::default(),
            })
        };
        pools
            .entry((scheme.clone(), authority.clone()))
            .or_insert_with(new_pool)
            .clone()
    }
}

/// Idle keep-alive connections to one upstream.
#[derive(Debug)]
pub struct HostPool {
    authority: Authority,
    settings: Settings,
    /// Set for `https://` upstreams.
    tls: Option<TlsTarget>,
    idle: Mutex<Vec<Idle>>,
    /// The HTTP/2 connection every request shares, once the upstream chose `h2`.
    http2: Mutex<Option<Shared>>,
}

#[derive(Debug)]
struct Idle {
    sender: SendRequest<GatewayBody>,
    since: Instant,
}

/// The HTTP/1.1 connection that has answered (none for HTTP/2), and its response.
type Exchanged = (Option<SendRequest<GatewayBody>>, Response<Incoming>);

impl HostPool {
    /// Sends `request` (origin-form URI, `Host` set). `timeout` bounds the whole exchange:
    /// no response head in time is [`UpstreamFailure::Timeout`], and a body still streaming at
    /// the deadline is cut off (and counted in `timeouts`). The response body returns the
    /// connection to the pool when it ends. `route` names the route in TLS failure logs.
    pub async fn send(
        self: &Arc<Self>,
        request: Request<GatewayBody>,
        route: &str,
        timeout: Duration,
        timeouts: &IntCounter,
    ) -> Result<Response<GatewayBody>, UpstreamFailure> {
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
        Ok(response.map(|body| {
            GatewayBody::Upstream(UpstreamBody {
                body,
                lease,
                deadline,
                sleep: None,
                timeouts,
            })
        }))
    }

    async fn exchange(
        &self,
        mut request: Request<GatewayBody>,
        route: &str,
    ) -> Result<Exchanged, UpstreamFailure> {
        if let Some(sender) = self.shared_http2() {
            match self.send_http2(sender, request, route).await {
                Err(Unsent::Again(unsent)) => request = *unsent,
                sent => return sent.map_err(Unsent::failure),
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
        match connect::open(&self.authority, self.tls.as_ref(), timeout, route).await? {
            Connection::Http1(mut sender) => match sender.send_request(request).await {
                Ok(response) => Ok((Some(sender), response)),
                Err(err) => Err(connect::failure_of(&err, &self.authority, route)),
            },
            Connection::Http2(sender) => {
                self.share_http2(sender.clone());
                let sent = self.send_http2(sender, request, route).await;
                sent.map_err(Unsent::failure)
            }
        }
    }

    /// The most recently used idle connection that is ready, if any. Never waits: a connection
    /// that is not ready belongs to nobody else's request only once it is, and is dropped here.
    fn checkout(&self) -> Option<SendRequest<GatewayBody>> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        self.drop_expired(&mut idle, Instant::now());
        while let Some(candidate) = idle.pop() {
            if candidate.sender.is_ready() {
                return Some(candidate.sender);
            }
        }
        None
    }

    /// Idle connections are kept oldest first: drop those idle longer than `pool_idle_timeout`.
    fn drop_expired(&self, idle: &mut Vec<Idle>, now: Instant) {
        let expired =
            idle.partition_point(|i| now.duration_since(i.since) >= self.settings.idle_timeout);
        idle.drain(..expired);
    }

    /// Closes connections idle longer than `pool_idle_timeout` (called periodically, so a
    /// quiet gateway does not hold them). The HTTP/2 connection is let go once no request has
    /// started on it for that long; streams still open on it finish first.
    pub fn reap(&self) {
        let now = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        self.drop_expired(&mut idle, now);
        drop(idle);
        self.reap_http2(now);
    }

    /// Returns a connection whose response has ended. One still sending its request body (the
    /// upstream answered early) is returned only once that is done, within `pool_idle_timeout`.
    fn release(self: &Arc<Self>, mut sender: SendRequest<GatewayBody>) {
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

    fn push(&self, sender: SendRequest<GatewayBody>) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        self.drop_expired(&mut idle, now);
        if idle.len() < self.settings.max_idle {
            idle.push(Idle { sender, since: now });
        }
    }
}

/// A response body from the upstream; when it has been read to the end its connection goes
/// back to the pool, otherwise the connection is dropped with it.
#[derive(Debug)]
pub struct UpstreamBody {
    body: Incoming,
    lease: Lease,
    /// End of the route's timeout; a timer is armed only if the body is not already here.
    deadline: tokio::time::Instant,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    timeouts: IntCounter,
}

#[derive(Debug)]
struct Lease {
    pool: Arc<HostPool>,
    sender: Option<SendRequest<GatewayBody>>,
}

impl UpstreamBody {
    fn give_back(&mut self) {
        if let Some(sender) = self.lease.sender.take() {
            self.lease.pool.release(sender);
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(None) => {
                this.give_back();
                Poll::Ready(None)
            }
            Poll::Ready(Some(frame)) => Poll::Ready(Some(frame.map_err(BodyError::from))),
            Poll::Pending => {
                let deadline = this.deadline;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.timeouts.inc();
                Poll::Ready(Some(Err(BodyError::UpstreamTimeout)))
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

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        // A body never polled (empty, or a HEAD response) may still have ended cleanly.
        if self.body.is_end_stream() {
            self.give_back();
        }
    }
}
