//! Phase 8: what one exchange did, written once as an access-log line and as metrics.

use std::time::{Duration, Instant};

use http::header::HeaderValue;
use http::{Method, Request, StatusCode, Uri};

use super::request_id;
use super::upstream::UpstreamFailure;
use crate::accesslog::{AccessLog, Entry};
use crate::auth::Rejection;
use crate::error::GatewayError;
use crate::metrics::{RouteMetrics, NO_ROUTE};
use crate::snapshot::Route;

/// Status recorded for a request whose client left before the answer (not sent: nobody is
/// there to read it).
const CLIENT_CLOSED: StatusCode = match StatusCode::from_u16(499) {
    Ok(status) => status,
    Err(_) => StatusCode::BAD_REQUEST,
};

/// Facts gathered along the pipeline, borrowing from the request's snapshot `'s`. Holds no
/// secret and no signature.
pub(super) struct Record<'s> {
    pub request_id: HeaderValue,
    method: Method,
    uri: Uri,
    pub route: Option<&'s Route>,
    /// `allowed`, `denied` or `skipped`, with a reason from a fixed set.
    auth: Option<(&'static str, &'static str)>,
    pub account: Option<String>,
    /// Id of the secret that matched.
    pub secret: Option<&'s str>,
    pub upstream: Option<(Option<StatusCode>, Duration)>,
    pub upstream_failure: Option<UpstreamFailure>,
    pub error: Option<&'static str>,
    /// Where [`Record::finish`] writes, and when the request began; taken when it is written.
    sink: Option<(&'s RouteMetrics, &'s AccessLog, Instant)>,
}

impl<'s> Record<'s> {
    /// A record of `request`, written to `log` (and the route's metrics, or `unmatched`) when
    /// finished, or when dropped unfinished because the client went away (status 499).
    pub fn new<B>(
        request: &Request<B>,
        unmatched: &'s RouteMetrics,
        log: &'s AccessLog,
        started: Instant,
    ) -> Record<'s> {
        Record {
            request_id: request_id::for_request(request.headers()),
            method: request.method().clone(),
            uri: request.uri().clone(),
            route: None,
            auth: None,
            account: None,
            secret: None,
            upstream: None,
            upstream_failure: None,
            error: None,
            sink: Some((unmatched, log, started)),
        }
    }

    pub fn request_id_str(&self) -> &str {
        // Request ids are checked or generated ASCII.
        self.request_id.to_str().unwrap_or("")
    }

    pub fn auth_allowed(&mut self) {
        self.auth = Some(("allowed", "ok"));
    }

    pub fn auth_denied(&mut self, reason: &'static str) {
        self.auth = Some(("denied", reason));
    }

    /// Records a failed verification and returns the error to answer with (400 on webhook
    /// routes, as Stripe asks; 401 elsewhere).
    pub fn deny(&mut self, rejection: Rejection, webhook: bool) -> GatewayError {
        self.auth_denied(rejection.code());
        GatewayError::Unauthenticated { rejection, webhook }
    }

    pub fn auth_skipped(&mut self, reason: &'static str) {
        self.auth = Some(("skipped", reason));
    }

    /// Records metrics (into the route's handles, or `unmatched`) and the access-log line.
    pub fn finish(&mut self, status: StatusCode) {
        let Some((unmatched, log, started)) = self.sink.take() else {
            return;
        };
        let elapsed = started.elapsed();
        let metrics = self.route.map_or(unmatched, |route| &route.metrics);
        metrics.request(status);
        metrics.duration.observe(elapsed.as_secs_f64());
        if let Some((result, reason)) = self.auth {
            metrics.auth(result, reason);
        }
        if let Some(failure) = self.upstream_failure {
            metrics.upstream_error(failure);
        }
        if let Some((_, took)) = self.upstream {
            metrics.upstream_duration.observe(took.as_secs_f64());
        }
        log.write(&Entry {
            request_id: self.request_id_str(),
            route: self.route.map_or(NO_ROUTE, |route| &route.id),
            method: self.method.as_str(),
            path: self.uri.path(),
            status: status.as_u16(),
            duration: elapsed,
            upstream_status: self
                .upstream
                .and_then(|(status, _)| status.map(|s| s.as_u16())),
            upstream: self.upstream.map(|(_, took)| took),
            auth: self.auth.map(|(result, _)| result),
            reason: self.auth.map(|(_, reason)| reason),
            error: self.error,
            account: self.account.as_deref(),
            secret: self.secret,
        });
    }
}

impl Drop for Record<'_> {
    fn drop(&mut self) {
        // The client went away before the response head: nginx's 499, "client closed request".
        if self.sink.is_some() {
            self.error.get_or_insert("client_closed");
            self.finish(CLIENT_CLOSED);
        }
    }
}
