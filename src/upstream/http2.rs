//! The pool's shared HTTP/2 connection, for an `https://` upstream that chose `h2` by ALPN:
//! every request is one stream on it until it closes or idles past `pool_idle_timeout`.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use http::uri::{Authority, Scheme};
use http::{Request, Response, Uri, Version};
use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;

use super::connect;
use super::{SendBody, UpstreamFailure};

/// The one HTTP/2 connection of a pool, once the upstream chose `h2`, and when a request last
/// started on it.
#[derive(Debug)]
pub(super) struct SharedHttp2<B> {
    slot: Mutex<Option<(SendRequest<B>, Instant)>>,
}

/// Why an HTTP/2 request got no response.
pub(super) enum Unsent<B> {
    /// The connection closed before taking the request: try another connection.
    Again(Box<Request<B>>),
    /// The request failed.
    Failed(UpstreamFailure),
}

impl<B> Unsent<B> {
    /// The failure to report when no other connection is tried.
    pub(super) fn failure(self) -> UpstreamFailure {
        match self {
            Unsent::Again(_) => UpstreamFailure::Broken,
            Unsent::Failed(failure) => failure,
        }
    }
}

impl<B> SharedHttp2<B> {
    /// No connection yet.
    pub(super) fn new() -> Self {
        SharedHttp2 {
            slot: Mutex::new(None),
        }
    }

    /// The shared connection, unless there is none or it has closed.
    pub(super) fn current(&self) -> Option<SendRequest<B>> {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        match slot.as_mut() {
            Some((sender, last_used)) if !sender.is_closed() => {
                *last_used = Instant::now();
                Some(sender.clone())
            }
            _ => {
                *slot = None;
                None
            }
        }
    }

    /// Makes `sender` the connection later requests share (replacing an older one, whose
    /// open streams finish).
    pub(super) fn share(&self, sender: SendRequest<B>) {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        *slot = Some((sender, Instant::now()));
    }

    /// Lets the shared connection go once it has closed or no request started on it for
    /// `idle_timeout`; streams still open on it finish first.
    pub(super) fn reap(&self, now: Instant, idle_timeout: Duration) {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.as_ref().is_some_and(|(sender, last_used)| {
            sender.is_closed() || now.duration_since(*last_used) >= idle_timeout
        }) {
            *slot = None;
        }
    }
}

/// Sends `request` to `authority` as one stream of `sender`. HTTP/2 carries the target in
/// pseudo-headers, so the URI becomes absolute; a request the closing connection did not take
/// comes back in its HTTP/1.1 form.
pub(super) async fn send<B: SendBody>(
    mut sender: SendRequest<B>,
    mut request: Request<B>,
    authority: &Authority,
    route: &str,
) -> Result<Response<Incoming>, Unsent<B>> {
    let mut target = request.uri().clone().into_parts();
    target.scheme = Some(Scheme::HTTPS);
    target.authority = Some(authority.clone());
    if let Ok(uri) = Uri::from_parts(target) {
        *request.uri_mut() = uri;
    }
    *request.version_mut() = Version::HTTP_2;
    match sender.try_send_request(request).await {
        Ok(response) => Ok(response),
        Err(mut err) => match err.take_message() {
            Some(mut unsent) => {
                let origin = unsent.uri().path_and_query().cloned();
                *unsent.uri_mut() = origin.map_or_else(|| Uri::from_static("/"), Uri::from);
                *unsent.version_mut() = Version::HTTP_11;
                Err(Unsent::Again(Box::new(unsent)))
            }
            None => Err(Unsent::Failed(connect::failure_of(
                err.error(),
                authority,
                route,
            ))),
        },
    }
}
