//! The upstream side: where a route's requests go, and the HTTP/1.1 client that takes them
//! there. It knows nothing of routes, signatures or the pipeline; it is generic over the
//! request body it sends.
//!
//! - [`client`]: the pools of every configured upstream, kept across reloads.
//! - [`pool`]: keep-alive connections to one upstream, the exchange with its deadline, and
//!   the response body that gives its connection back.
//! - [`connect`]: opening a connection (TCP, TLS for `https://`, the HTTP/1 or HTTP/2
//!   handshake) within the connect timeout.
//! - [`http2`]: the one shared HTTP/2 connection of an upstream that chose `h2`.
//! - [`echo`]: `builtin:echo`, the JSON view of a request as a backend would receive it.

#![warn(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

mod client;
mod connect;
pub(crate) mod echo;
mod http1;
mod http2;
pub(crate) mod idle;
mod io;
mod pool;
mod response;

#[cfg(test)]
pub(crate) mod double;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::HeaderValue;
use http_body::Body;

pub(crate) use self::client::UpstreamClient;
pub(crate) use self::pool::HostPool;
pub(crate) use self::response::{ResponseError, UpstreamBody};

/// What a request body must be for the client to send it.
pub(crate) trait SendBody:
    Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>> + Send + Unpin + 'static
{
    /// The whole body, when it is held in memory, taken out (what is left is polled for
    /// nothing more): it goes out with the request head, and can be sent again on another
    /// connection if the first was found closed.
    fn take_in_memory(&mut self) -> Option<Bytes>;

    /// Puts back what [`SendBody::take_in_memory`] took, for a sender that polls the body
    /// itself (a new HTTP/2 connection).
    fn put_back_in_memory(&mut self, bytes: Bytes);
}

/// Where a route's requests go, resolved when the snapshot is built.
#[derive(Debug)]
pub(crate) enum Upstream<B> {
    /// `builtin:echo`: answered in process.
    Echo,
    /// An HTTP/1.1 upstream: its pool, and the `Host` sent to it.
    Pool {
        /// Keep-alive connections to the upstream (shared by the routes that use it).
        pool: Arc<HostPool<B>>,
        /// The upstream's authority as a `Host` value.
        host: HeaderValue,
    },
    /// An in-memory upstream for tests of the pipeline.
    #[cfg(test)]
    Double(Arc<double::Double>),
}

impl<B> Upstream<B> {
    /// Whether requests are answered in process (they need their whole body first).
    pub(crate) fn answers_in_process(&self) -> bool {
        match self {
            Upstream::Echo => true,
            Upstream::Pool { .. } => false,
            #[cfg(test)]
            Upstream::Double(_) => true,
        }
    }
}

/// Why a request got no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendError {
    /// The upstream failed.
    Upstream(UpstreamFailure),
    /// The client's request body broke (or ran short or long of its length) while it was
    /// relayed: the client's fault, answered `400 body_unreadable`, not an upstream error.
    RequestBody,
}

impl From<UpstreamFailure> for SendError {
    fn from(failure: UpstreamFailure) -> Self {
        SendError::Upstream(failure)
    }
}

/// Why the upstream did not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UpstreamFailure {
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
    pub(crate) const ALL: [UpstreamFailure; 5] = [
        UpstreamFailure::Connect,
        UpstreamFailure::Timeout,
        UpstreamFailure::Broken,
        UpstreamFailure::InvalidResponse,
        UpstreamFailure::Tls,
    ];

    /// Metric label.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            UpstreamFailure::Connect => "connect",
            UpstreamFailure::Timeout => "timeout",
            UpstreamFailure::Broken => "broken",
            UpstreamFailure::InvalidResponse => "invalid_response",
            UpstreamFailure::Tls => "tls",
        }
    }
}

/// Closes connections idle past `pool_idle_timeout` every second, also while no request comes,
/// in the client `current` returns (the one of the running snapshot), until `stop` resolves.
pub(crate) async fn reap_idle<B>(
    current: impl Fn() -> Arc<UpstreamClient<B>>,
    stop: impl Future<Output = ()>,
) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = ticker.tick() => current().reap(),
            () = &mut stop => break,
        }
    }
}
