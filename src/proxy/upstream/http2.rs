//! The pool's shared HTTP/2 connection, for an `https://` upstream that chose `h2` by ALPN:
//! every request is one stream on it until it closes or idles past `pool_idle_timeout`.

use std::sync::PoisonError;
use std::time::Instant;

use http::uri::Scheme;
use http::{Request, Uri, Version};
use hyper::client::conn::http2::SendRequest;

use super::{connect, Exchanged, HostPool, UpstreamFailure};
use crate::proxy::body::GatewayBody;

/// The connection and when a request last started on it.
#[derive(Debug)]
pub(super) struct Shared {
    sender: SendRequest<GatewayBody>,
    last_used: Instant,
}

/// Why an HTTP/2 request got no response.
pub(super) enum Unsent {
    /// The connection closed before taking the request: try another connection.
    Again(Box<Request<GatewayBody>>),
    Failed(UpstreamFailure),
}

impl Unsent {
    pub(super) fn failure(self) -> UpstreamFailure {
        match self {
            Unsent::Again(_) => UpstreamFailure::Broken,
            Unsent::Failed(failure) => failure,
        }
    }
}

impl HostPool {
    /// The shared HTTP/2 connection, unless there is none or it has closed.
    pub(super) fn shared_http2(&self) -> Option<SendRequest<GatewayBody>> {
        // Only TLS upstreams negotiate HTTP/2: plaintext pools skip the lock.
        self.tls.as_ref()?;
        let mut shared = self.http2.lock().unwrap_or_else(PoisonError::into_inner);
        match shared.as_mut() {
            Some(live) if !live.sender.is_closed() => {
                live.last_used = Instant::now();
                Some(live.sender.clone())
            }
            _ => {
                *shared = None;
                None
            }
        }
    }

    /// Makes `sender` the connection later requests share (replacing an older one, whose
    /// open streams finish).
    pub(super) fn share_http2(&self, sender: SendRequest<GatewayBody>) {
        let mut shared = self.http2.lock().unwrap_or_else(PoisonError::into_inner);
        *shared = Some(Shared {
            sender,
            last_used: Instant::now(),
        });
    }

    /// Lets the shared connection go once it has closed or no request started on it for
    /// `pool_idle_timeout`; streams still open on it finish first.
    pub(super) fn reap_http2(&self, now: Instant) {
        let mut shared = self.http2.lock().unwrap_or_else(PoisonError::into_inner);
        if shared.as_ref().is_some_and(|live| {
            live.sender.is_closed()
                || now.duration_since(live.last_used) >= self.settings.idle_timeout
        }) {
            *shared = None;
        }
    }

    /// Sends `request` as one stream. HTTP/2 carries the target in pseudo-headers, so the URI
    /// becomes absolute; a request the closing connection did not take comes back in its
    /// HTTP/1.1 form.
    pub(super) async fn send_http2(
        &self,
        mut sender: SendRequest<GatewayBody>,
        mut request: Request<GatewayBody>,
        route: &str,
    ) -> Result<Exchanged, Unsent> {
        let mut target = request.uri().clone().into_parts();
        target.scheme = Some(Scheme::HTTPS);
        target.authority = Some(self.authority.clone());
        if let Ok(uri) = Uri::from_parts(target) {
            *request.uri_mut() = uri;
        }
        *request.version_mut() = Version::HTTP_2;
        match sender.try_send_request(request).await {
            Ok(response) => Ok((None, response)),
            Err(mut err) => match err.take_message() {
                Some(mut unsent) => {
                    let origin = unsent.uri().path_and_query().cloned();
                    *unsent.uri_mut() = origin.map_or_else(|| Uri::from_static("/"), Uri::from);
                    *unsent.version_mut() = Version::HTTP_11;
                    Err(Unsent::Again(Box::new(unsent)))
                }
                None => Err(Unsent::Failed(connect::failure_of(
                    err.error(),
                    &self.authority,
                    route,
                ))),
            },
        }
    }
}
