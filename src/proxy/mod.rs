//! The request pipeline. [`Gateway::handle`] runs one pass, top to bottom:
//!
//! 1. **route**: match the path (exact beats prefix, longest prefix wins); none → 404.
//! 2. **preflight**: CORS `OPTIONS` on a `cors` route is answered here, never forwarded.
//! 3. **read body**: app and webhook routes read it, bounded by size and time, paid for from
//!    the budget all buffered bodies share.
//! 4. **verify**: the pure signature core, with the snapshot's keyring and the clock's `now`.
//! 5. **authorize**: roles, replay, webhook filters and dedupe.
//! 6. **rewrite headers**: strip spoofable and hop-by-hop headers, set forwarding headers,
//!    inject identity.
//! 7. **forward**: pooled client with timeouts; the response streams back.
//! 8. **record**: one access-log line and the metrics.

#![warn(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

mod app;
pub mod body;
mod budget;
pub mod echo;
mod forward;
pub mod headers;
mod record;
pub mod request_id;
pub mod upstream;
mod webhook;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use http::header::HeaderValue;
use http::{Request, Response};
use hyper::body::Incoming;

use self::body::GatewayBody;
use self::budget::BodyBudget;
use self::headers::{Peer, X_REQUEST_ID};
use self::record::Record;
use crate::accesslog::AccessLog;
use crate::auth::{signature, SignatureHeader};
use crate::clock::Clock;
use crate::error::GatewayError;
use crate::metrics::Metrics;
use crate::snapshot::{Auth, Route, RouteKeyring, Snapshot};
use crate::store::SeenStore;

/// Shared state of every connection: the current snapshot and what outlives reloads.
pub struct Gateway {
    snapshot: ArcSwap<Snapshot>,
    clock: Arc<dyn Clock>,
    replay: Arc<dyn SeenStore>,
    dedupe: Arc<dyn SeenStore>,
    metrics: Metrics,
    /// Bytes held by buffered request bodies, against `server.max_buffered_bytes`.
    budget: Arc<BodyBudget>,
    access_log: Arc<AccessLog>,
    draining: AtomicBool,
    /// The listener has closed: requests still arriving on open connections are refused.
    closed: AtomicBool,
}

/// What a gateway is built from.
pub struct GatewayParts {
    pub snapshot: Snapshot,
    pub clock: Arc<dyn Clock>,
    pub replay: Arc<dyn SeenStore>,
    pub dedupe: Arc<dyn SeenStore>,
    pub metrics: Metrics,
    pub access_log: Arc<AccessLog>,
}

impl Gateway {
    /// A gateway serving `parts.snapshot`.
    pub fn new(parts: GatewayParts) -> Arc<Gateway> {
        Arc::new(Gateway {
            snapshot: ArcSwap::from_pointee(parts.snapshot),
            clock: parts.clock,
            replay: parts.replay,
            dedupe: parts.dedupe,
            budget: BodyBudget::new(parts.metrics.buffered_body_bytes.clone()),
            metrics: parts.metrics,
            access_log: parts.access_log,
            draining: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        })
    }

    /// The snapshot new requests use.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Makes `snapshot` the one new requests use; requests in flight keep theirs.
    pub fn swap(&self, snapshot: Snapshot) {
        self.snapshot.store(Arc::new(snapshot));
    }

    /// The metrics this gateway records into.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The clock verification uses.
    pub fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    /// Marks the gateway as draining (readiness turns 503).
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Marks the listener closed: new requests on connections still open get `503
    /// shutting_down` (with `Connection: close`) while in-flight ones finish.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    /// Runs the whole pipeline for one request from `client`.
    pub async fn handle(&self, request: Request<Incoming>, client: &Peer) -> Response<GatewayBody> {
        let started = Instant::now();
        let snapshot = self.snapshot.load_full();
        let snapshot: &Snapshot = &snapshot;
        let _in_flight = InFlight::enter(&self.metrics);
        let mut record = Record::new(&request, &snapshot.unmatched, &self.access_log, started);
        let route = snapshot
            .router
            .find(request.uri().path())
            .and_then(|index| snapshot.routes.get(index));
        record.route = route;
        let result = match route {
            _ if self.closed.load(Ordering::Relaxed) => Err(GatewayError::ShuttingDown),
            _ if self.metrics.in_flight.get() > snapshot.config.server.max_in_flight as i64 => {
                Err(GatewayError::Overloaded)
            }
            None => Err(GatewayError::NoRoute),
            Some(route) => {
                let mut peer = client.clone();
                peer.trusted = snapshot
                    .config
                    .server
                    .trusted_proxies
                    .iter()
                    .any(|net| net.contains(&peer.ip));
                self.route(snapshot, route, request, &peer, &mut record)
                    .await
            }
        };
        let mut response = result.unwrap_or_else(|error| {
            record.error = Some(error.classify().1);
            error.response(record.request_id_str())
        });
        let headers = response.headers_mut();
        if route.is_some_and(|route| route.cors) {
            crate::cors::allow_any_origin(headers);
        }
        headers.insert(X_REQUEST_ID.clone(), record.request_id.clone());
        record.finish(response.status());
        response
    }

    async fn route<'s>(
        &self,
        snapshot: &'s Snapshot,
        route: &'s Route,
        request: Request<Incoming>,
        peer: &Peer,
        record: &mut Record<'s>,
    ) -> Result<Response<GatewayBody>, GatewayError> {
        if route.cors && crate::cors::is_preflight(request.method(), request.headers()) {
            record.auth_skipped("preflight");
            return Ok(crate::cors::preflight(&route.allow));
        }
        if !route.allows(request.method()) {
            return Err(GatewayError::MethodNotAllowed(route.allow.clone()));
        }
        match &route.auth {
            Auth::None => {
                record.auth_skipped("none");
                let (mut parts, body) = request.into_parts();
                headers::rewrite_request(
                    &mut parts.headers,
                    &snapshot.identity,
                    peer,
                    &record.request_id,
                );
                let body = GatewayBody::Stream(body);
                forward::forward(snapshot, route, parts, body, record, &self.budget).await
            }
            Auth::App { keyring, policy } => {
                let target = Target {
                    snapshot,
                    route,
                    keyring,
                    policy,
                    peer,
                };
                self.app(target, request, record).await
            }
            Auth::Webhook { keyring, policy } => {
                let target = Target {
                    snapshot,
                    route,
                    keyring,
                    policy,
                    peer,
                };
                self.webhook(target, request, record).await
            }
        }
    }

    /// Flushes buffered access-log lines (at shutdown).
    pub fn flush_access_log(&self) {
        self.access_log.flush();
    }
}

/// What an authenticated route's phases work with.
struct Target<'s, 'p, P> {
    snapshot: &'s Snapshot,
    route: &'s Route,
    keyring: &'s RouteKeyring,
    policy: &'s P,
    peer: &'p Peer,
}

/// Counts a request in flight for as long as it lives, even if the client goes away.
struct InFlight<'a>(&'a Metrics);

impl<'a> InFlight<'a> {
    fn enter(metrics: &'a Metrics) -> Self {
        metrics.in_flight.inc();
        InFlight(metrics)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.dec();
    }
}

/// The parsed `Stripe-Signature` of a request (rules 1–5), or the refusal, recorded.
fn signature_header<'h>(
    headers: &'h http::HeaderMap,
    record: &mut Record<'_>,
    webhook: bool,
) -> Result<SignatureHeader<'h>, GatewayError> {
    signature::header_value(headers)
        .and_then(SignatureHeader::parse)
        .map_err(|rejection| record.deny(rejection, webhook))
}

/// Sets a header from a value the gateway verified. A value that cannot travel as a header
/// (control characters) returns `Err`: the request is refused rather than forwarded without
/// its identity.
fn set_header(
    headers: &mut http::HeaderMap,
    name: &http::HeaderName,
    value: &str,
) -> Result<(), ()> {
    let value = HeaderValue::from_str(value).map_err(drop)?;
    headers.insert(name.clone(), value);
    Ok(())
}
