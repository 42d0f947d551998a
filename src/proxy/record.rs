//! Phase 8: what one exchange did, written once as an access-log line and as metrics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::HeaderValue;
use http::{Method, Request, StatusCode, Uri};

use super::request_id;
use super::upstream::UpstreamFailure;
use crate::metrics::{Metrics, NO_ROUTE};

/// Facts gathered along the pipeline. Holds no secret and no signature.
pub(super) struct Record {
    pub request_id: HeaderValue,
    method: Method,
    uri: Uri,
    pub route: Option<Arc<str>>,
    /// `allowed`, `denied` or `skipped`, with a reason from a fixed set.
    auth: Option<(&'static str, &'static str)>,
    pub account: Option<String>,
    pub secret: Option<Arc<str>>,
    pub upstream: Option<(Option<StatusCode>, Duration)>,
    pub upstream_failure: Option<UpstreamFailure>,
    pub error: Option<&'static str>,
}

impl Record {
    pub fn new<B>(request: &Request<B>) -> Record {
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

    pub fn auth_skipped(&mut self, reason: &'static str) {
        self.auth = Some(("skipped", reason));
    }

    /// Records metrics and writes the access-log line.
    pub fn finish(&self, metrics: &Metrics, status: StatusCode, started: Instant) {
        let elapsed = started.elapsed();
        let route = self.route.as_deref().unwrap_or(NO_ROUTE);
        metrics
            .requests
            .with_label_values(&[route, status.as_str()])
            .inc();
        metrics
            .request_duration
            .with_label_values(&[route])
            .observe(elapsed.as_secs_f64());
        if let Some((result, reason)) = self.auth {
            metrics
                .auth_decisions
                .with_label_values(&[route, result, reason])
                .inc();
        }
        if let Some(failure) = self.upstream_failure {
            metrics
                .upstream_errors
                .with_label_values(&[route, failure.as_str()])
                .inc();
        }
        if let Some((_, took)) = self.upstream {
            metrics
                .upstream_duration
                .with_label_values(&[route])
                .observe(took.as_secs_f64());
        }
        let (upstream_status, upstream_ms) = match self.upstream {
            Some((status, took)) => (status.map(|s| s.as_u16()), Some(took.as_secs_f64() * 1e3)),
            None => (None, None),
        };
        tracing::info!(
            target: "access",
            request_id = self.request_id_str(),
            route,
            method = self.method.as_str(),
            path = self.uri.path(),
            status = status.as_u16(),
            duration_ms = elapsed.as_secs_f64() * 1e3,
            upstream_status,
            upstream_ms,
            auth = self.auth.map(|(result, _)| result),
            reason = self.auth.map(|(_, reason)| reason),
            error = self.error,
            account = self.account.as_deref(),
            secret = self.secret.as_deref(),
        );
    }
}
