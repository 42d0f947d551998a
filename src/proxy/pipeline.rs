//! The request pipeline: [`Gateway::handle`] runs one pass, top to bottom, one phase per file:
//!
//! 1. **route** (`route.rs`): match the path (exact beats prefix, longest prefix wins); none →
//!    404; a method the route does not take → 405.
//! 2. **preflight** (`cors.rs`): a CORS `OPTIONS` on a `cors` route is answered here, never
//!    forwarded.
//! 3. **body** (`body.rs`, `budget.rs`): app and webhook routes read it, bounded by size and
//!    time, paid for from the budget all buffered bodies share; `none` routes stream it (to an
//!    upstream that answers in process, such as `builtin:echo`, it is read too).
//! 4. **verify** (`authenticate.rs`): the pure signature core with the route's keyring and the
//!    clock's `now` (the header is checked before the body is read) → an `Identity`.
//! 5. **authorize** (`authorize.rs`): roles, replay, webhook filters and dedupe → a `Grant`.
//! 6. **rewrite** (`headers.rs`): strip spoofable and hop-by-hop headers, set forwarding headers
//!    and the request id, inject the identity.
//! 7. **forward** (`forward.rs`): the route's upstream, with its timeout; the response streams
//!    back. Then what authorization held (a replay mark, a dedupe claim) is settled.
//! 8. **record** (`record.rs`): one access-log line and the metrics, from the facts each phase
//!    handed over.

use std::sync::atomic::Ordering;
use std::time::Instant;

use http::{Response, StatusCode};

use super::authenticate::{self, Timing};
use super::authorize::{self, Decision, Grant, Stores};
use super::headers::{self, Peer};
use super::record::Record;
use super::request_id::{self, X_REQUEST_ID};
use super::{body, cors, forward, route, Gateway};
use crate::accesslog::Entry;
use crate::body::{ForwardBody, GatewayBody, InboundBody};
use crate::config::ServerConfig;
use crate::error::GatewayError;
use crate::http1::Head;
use crate::metrics::{Metrics, NO_ROUTE};
use crate::outcome::{AuthOutcome, Skip};
use crate::snapshot::{Route, Snapshot};

impl Gateway {
    /// Runs the whole pipeline for one request from `client` (its `head` and `body`), with the
    /// snapshot current when it arrives. The head's `verbatim` holds the fields an HTTP/1.1
    /// head relays as received, which are not in its header map (see
    /// `crate::http1::VerbatimFields`). The head stays boxed all the way: each phase it passes
    /// through moves a pointer.
    pub(crate) async fn handle<B: InboundBody>(
        &self,
        head: Box<Head>,
        body: B,
        client: &Peer,
    ) -> Response<GatewayBody> {
        let started = Instant::now();
        let snapshot = self.snapshot.load_full();
        let snapshot: &Snapshot = &snapshot;
        let _in_flight = InFlight::enter(&self.metrics);
        let id = request_id::for_request(&head.parts.headers);
        let mut record = Record::new(
            &head.parts,
            id,
            &snapshot.unmatched,
            &self.access_log,
            started,
        );
        let route = route::find(snapshot, head.parts.uri.path()); // 1. route
        if let Some(route) = route {
            record.route(route);
        }
        let result = match self.admit(snapshot, route) {
            Ok(route) => {
                self.pass(snapshot, route, (head, body), client, &mut record)
                    .await
            }
            Err(error) => Err(error),
        };
        let mut response = result.unwrap_or_else(|error| {
            if let Some(denial) = error.denial() {
                record.auth(AuthOutcome::Denied(denial));
            }
            record.error(error.classify().code);
            error.into_response(record.request_id_str())
        });
        cors::expose(route, &mut response);
        let id = record.request_id();
        crate::body::set_field_with(&mut response, &X_REQUEST_ID, id.as_bytes(), || {
            id.to_header_value()
        });
        record.finish(response.status()); // 8. record
        response
    }

    /// Answers a request head the HTTP/1.1 codec refused (`status`: 400, 413, 414, 431, 501
    /// or 505) with the JSON error of SPEC §6, and records it as every answer is recorded: an
    /// access-log line and `requests_total{route="_none"}`. Its method and path are logged as
    /// `-`: a head that was not understood has neither.
    pub(crate) fn refuse(&self, status: StatusCode) -> Response<GatewayBody> {
        let started = Instant::now();
        let id = request_id::generate();
        let error = GatewayError::Malformed(status);
        let code = error.classify().code;
        let mut response = error.into_response(id.as_str());
        let status = response.status();
        response
            .headers_mut()
            .insert(X_REQUEST_ID.clone(), id.to_header_value());
        let elapsed = started.elapsed();
        self.snapshot.load().unmatched.answered(status, elapsed);
        self.access_log.write(&Entry {
            request_id: id.as_bytes(),
            route: NO_ROUTE,
            method: "-",
            path: b"-",
            status: status.as_u16(),
            duration: elapsed,
            upstream_status: None,
            upstream: None,
            auth: None,
            reason: None,
            error: Some(code),
            account: None,
            secret: None,
        });
        response
    }

    /// Phases 2–7 for a request that matched `route`.
    async fn pass<'s, B: InboundBody>(
        &self,
        snapshot: &'s Snapshot,
        route: &'s Route,
        (mut head, body): (Box<Head>, B),
        client: &Peer,
        record: &mut Record<'s>,
    ) -> Result<Response<GatewayBody>, GatewayError> {
        if let Some(response) = cors::preflight(route, &head.parts) {
            record.auth(AuthOutcome::Skipped(Skip::Preflight)); // 2. preflight
            return Ok(response);
        }
        route::check_method(route, &head.parts.method)?;
        let server = &snapshot.config.server;
        let Head { parts, verbatim } = &mut *head;
        let (body, grant) = match route.auth.signed() {
            None => {
                record.auth(AuthOutcome::Skipped(Skip::None));
                let declared = body::declared_length(&parts.headers, verbatim);
                let body = self.unsigned(route, declared, body, server).await?; // 3.
                (body, Grant::anonymous())
            }
            Some(signed) => {
                let header = authenticate::signature(&parts.headers, verbatim, signed.kind())?;
                let declared = body::declared_length(&parts.headers, verbatim);
                let body = body::read(body, declared, server, &self.budget).await?; // 3.
                let timing = Timing {
                    now: self.clock.now(),
                    tolerance: snapshot.config.tolerance_secs,
                };
                let verified = authenticate::verify(signed, &header, &body, timing)?; // 4. verify
                record.verified(signed.keyring(), verified.verified(), timing.now);
                record.auth(AuthOutcome::Allowed);
                let stores = self.stores();
                match authorize::authorize(verified, route, &body, timing, stores, record)? {
                    Decision::Answer(response) => return Ok(response), // 5. authorize
                    Decision::Forward(grant) => (ForwardBody::full(body), grant),
                }
            }
        };
        let Grant { identity, hold } = grant;
        let peer = client.trusted_by(&server.trusted_proxies);
        let (names, id) = (&snapshot.identity, record.request_id());
        if names.covers_verbatim {
            // The identity prefix takes in a name relayed verbatim: the rewrite must see it.
            std::mem::take(verbatim).merge_into(&mut parts.headers);
        }
        headers::rewrite((parts, verbatim), names, &peer, id, identity.as_ref())?; // 6. rewrite
        record.account(identity.and_then(authenticate::Identity::into_account));
        let result = forward::forward(route, head, body, record).await; // 7. forward
        hold.settle(result.map(headers::rewrite_response), record)
    }

    /// Phase 3 for an `auth = "none"` route: the body streams to an upstream over the network,
    /// and is read (within the limits of signed bodies) for one that answers in process.
    async fn unsigned<B: InboundBody>(
        &self,
        route: &Route,
        declared: Option<u64>,
        body: B,
        server: &ServerConfig,
    ) -> Result<ForwardBody, GatewayError> {
        if route.upstream.answers_in_process() {
            let body = body::read(body, declared, server, &self.budget).await?;
            Ok(ForwardBody::full(body))
        } else {
            Ok(ForwardBody::stream(body, server.body_read_timeout))
        }
    }

    /// Requests are refused while the listener is closed, past `max_in_flight`, or without a
    /// route.
    fn admit<'s>(
        &self,
        snapshot: &Snapshot,
        route: Option<&'s Route>,
    ) -> Result<&'s Route, GatewayError> {
        let limit = snapshot.config.server.max_in_flight;
        if self.closed.load(Ordering::Relaxed) {
            Err(GatewayError::ShuttingDown)
        } else if usize::try_from(self.metrics.in_flight.get()).is_ok_and(|n| n > limit) {
            Err(GatewayError::Overloaded)
        } else {
            route.ok_or(GatewayError::NoRoute)
        }
    }

    fn stores(&self) -> Stores<'_> {
        Stores {
            replay: &*self.replay,
            dedupe: &*self.dedupe,
        }
    }
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
