//! Prometheus metrics (SPEC §7): one [`Metrics`] registered into a registry passed in, and the
//! series of each route and keyring resolved once per snapshot ([`RouteMetrics`],
//! [`KeyringMetrics`]) into arrays indexed by the outcome enums, so that a request records its
//! metrics without looking up or hashing a label.
//!
//! Labels come only from bounded sets: route ids, keyring and secret ids from the config, and
//! fixed enums. Never a raw path or a client value.

#![warn(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::sync::OnceLock;
use std::time::Duration;

use prometheus::{
    Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry,
};

use crate::outcome::{AuthOutcome, WebhookOutcome};
use crate::upstream::UpstreamFailure;

const PREFIX: &str = "stripe_app_gateway_";

/// Route label for requests that matched no route.
pub(crate) const NO_ROUTE: &str = "_none";

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
const AGE_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0];

/// Every metric of the gateway.
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    /// `requests_total{route,status}`.
    pub(crate) requests: IntCounterVec,
    /// `request_duration_seconds{route}`.
    pub(crate) request_duration: HistogramVec,
    /// `auth_decisions_total{route,result,reason}`.
    pub(crate) auth_decisions: IntCounterVec,
    /// `secret_matches_total{keyring,secret}`.
    pub(crate) secret_matches: IntCounterVec,
    /// `signature_age_seconds{keyring}`.
    pub(crate) signature_age: HistogramVec,
    /// `upstream_duration_seconds{route}`.
    pub(crate) upstream_duration: HistogramVec,
    /// `upstream_errors_total{route,kind}`.
    pub(crate) upstream_errors: IntCounterVec,
    /// `in_flight_requests`.
    pub(crate) in_flight: IntGauge,
    /// `buffered_body_bytes`: request body bytes held for verification right now.
    pub(crate) buffered_body_bytes: IntGauge,
    /// `runtime_alive_tasks`: tasks alive on the serving threads (connections and their
    /// helpers), read when the metrics are scraped.
    pub(crate) runtime_alive_tasks: IntGauge,
    /// `config_reloads_total{result}`.
    pub(crate) config_reloads: IntCounterVec,
    /// `config_last_reload_success`.
    pub(crate) config_last_reload_success: IntGauge,
    /// `config_last_reload_success_timestamp_seconds`.
    pub(crate) config_last_reload_success_timestamp: Gauge,
    /// `secret_not_after_timestamp_seconds{keyring,secret}`.
    pub(crate) secret_not_after: GaugeVec,
    /// `tls_cert_not_after_timestamp_seconds{listener}`.
    pub(crate) tls_cert_not_after: GaugeVec,
    /// `webhook_events_total{route,outcome}`.
    pub(crate) webhook_events: IntCounterVec,
    /// `build_info{version}`.
    pub(crate) build_info: IntGaugeVec,
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(format!("{PREFIX}{name}"), help)
}

fn histogram(
    name: &str,
    help: &str,
    buckets: &[f64],
    labels: &[&str],
) -> prometheus::Result<HistogramVec> {
    HistogramVec::new(
        HistogramOpts::new(format!("{PREFIX}{name}"), help).buckets(buckets.to_vec()),
        labels,
    )
}

impl Metrics {
    /// Creates every metric and registers it (and the process collector) into `registry`.
    pub(crate) fn register(registry: &Registry) -> prometheus::Result<Metrics> {
        let metrics = Metrics::unregistered()?;
        metrics.register_into(registry)?;
        metrics
            .build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        Ok(metrics)
    }

    /// Every metric, created but not registered anywhere yet.
    fn unregistered() -> prometheus::Result<Metrics> {
        Ok(Metrics {
            requests: IntCounterVec::new(opts("requests_total", "Requests answered, by route and HTTP status."), &["route", "status"])?,
            request_duration: histogram("request_duration_seconds", "Time from request head to response head, by route.", LATENCY_BUCKETS, &["route"])?,
            auth_decisions: IntCounterVec::new(
                opts("auth_decisions_total", "Authentication and authorization decisions, by route, result (allowed, denied, skipped) and reason."),
                &["route", "result", "reason"],
            )?,
            secret_matches: IntCounterVec::new(opts("secret_matches_total", "Verified signatures, by keyring and the secret id that matched."), &["keyring", "secret"])?,
            signature_age: histogram("signature_age_seconds", "Age of accepted signature timestamps (future ones count as 0), by keyring.", AGE_BUCKETS, &["keyring"])?,
            upstream_duration: histogram("upstream_duration_seconds", "Time for the upstream to answer with a response head, by route.", LATENCY_BUCKETS, &["route"])?,
            upstream_errors: IntCounterVec::new(opts("upstream_errors_total", "Upstream failures, by route and kind (connect, timeout, broken, invalid_response, tls)."), &["route", "kind"])?,
            in_flight: IntGauge::with_opts(opts("in_flight_requests", "Requests being handled right now."))?,
            buffered_body_bytes: IntGauge::with_opts(opts(
                "buffered_body_bytes",
                "Request body bytes reserved for buffering (authenticated routes), against server.max_buffered_bytes.",
            ))?,
            runtime_alive_tasks: IntGauge::with_opts(opts(
                "runtime_alive_tasks",
                "Tasks alive on the serving threads (one per open connection, plus one reaper per thread).",
            ))?,
            config_reloads: IntCounterVec::new(opts("config_reloads_total", "Configuration reloads, by result (success, failure)."), &["result"])?,
            config_last_reload_success: IntGauge::with_opts(opts("config_last_reload_success", "1 if the last reload attempt succeeded, else 0."))?,
            config_last_reload_success_timestamp: Gauge::with_opts(opts(
                "config_last_reload_success_timestamp_seconds",
                "Unix time of the last successful configuration load.",
            ))?,
            secret_not_after: GaugeVec::new(
                opts("secret_not_after_timestamp_seconds", "Unix time at which a secret stops verifying (secrets with a not_after only)."),
                &["keyring", "secret"],
            )?,
            tls_cert_not_after: GaugeVec::new(
                opts("tls_cert_not_after_timestamp_seconds", "Unix time at which the certificate a listener serves expires (listener: data, admin; TLS listeners only)."),
                &["listener"],
            )?,
            webhook_events: IntCounterVec::new(
                opts("webhook_events_total", "Verified webhook events, by route and outcome (forwarded, filtered, duplicate, in_flight, failed)."),
                &["route", "outcome"],
            )?,
            build_info: IntGaugeVec::new(opts("build_info", "Always 1; the version label tells the build."), &["version"])?,
        })
    }

    /// Registers every metric, then the process collector, into `registry`.
    fn register_into(&self, registry: &Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.requests.clone()))?;
        registry.register(Box::new(self.request_duration.clone()))?;
        registry.register(Box::new(self.auth_decisions.clone()))?;
        registry.register(Box::new(self.secret_matches.clone()))?;
        registry.register(Box::new(self.signature_age.clone()))?;
        registry.register(Box::new(self.upstream_duration.clone()))?;
        registry.register(Box::new(self.upstream_errors.clone()))?;
        registry.register(Box::new(self.in_flight.clone()))?;
        registry.register(Box::new(self.buffered_body_bytes.clone()))?;
        registry.register(Box::new(self.runtime_alive_tasks.clone()))?;
        registry.register(Box::new(self.config_reloads.clone()))?;
        registry.register(Box::new(self.config_last_reload_success.clone()))?;
        registry.register(Box::new(self.config_last_reload_success_timestamp.clone()))?;
        registry.register(Box::new(self.secret_not_after.clone()))?;
        registry.register(Box::new(self.tls_cert_not_after.clone()))?;
        registry.register(Box::new(self.webhook_events.clone()))?;
        registry.register(Box::new(self.build_info.clone()))?;
        #[cfg(target_os = "linux")]
        // Standard `process_*` names, as every process dashboard expects them.
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(())
    }
}

/// The exposition text of `registry`.
pub fn render(registry: &Registry) -> String {
    use prometheus::Encoder;
    let mut buffer = Vec::new();
    // The text encoder only fails on a write error, and a Vec never fails to grow.
    let _ = prometheus::TextEncoder::new().encode(&registry.gather(), &mut buffer);
    String::from_utf8(buffer).unwrap_or_default()
}

/// The `requests_total` and `request_duration_seconds` series of one route label (also
/// `_none`, for requests that match no route).
#[derive(Debug)]
pub(crate) struct RequestMetrics {
    route: Box<str>,
    requests: IntCounterVec,
    /// `requests_total` children for statuses 100–599, by status − 100, created on first use:
    /// at most 500 per route.
    statuses: Box<[OnceLock<IntCounter>]>,
    duration: Histogram,
}

impl RequestMetrics {
    /// Resolves the series of route label `route`.
    pub(crate) fn new(metrics: &Metrics, route: &str) -> RequestMetrics {
        RequestMetrics {
            route: route.into(),
            requests: metrics.requests.clone(),
            statuses: (100..600).map(|_| OnceLock::new()).collect(),
            duration: metrics.request_duration.with_label_values(&[route]),
        }
    }

    /// Counts a response with `status`, `elapsed` after the request began. Any status `http`
    /// accepts (100–999) is counted; those outside 100–599 have no cached series and go through
    /// the vector.
    pub(crate) fn answered(&self, status: http::StatusCode, elapsed: Duration) {
        self.duration.observe(elapsed.as_secs_f64());
        let slot = status
            .as_u16()
            .checked_sub(100)
            .and_then(|index| self.statuses.get(usize::from(index)));
        let labels = || [&*self.route, status.as_str()];
        match slot {
            Some(slot) => slot
                .get_or_init(|| self.requests.with_label_values(&labels()))
                .inc(),
            None => self.requests.with_label_values(&labels()).inc(),
        }
    }
}

/// The `upstream_errors_total` series a response body counts in while it streams, after its
/// request was recorded: `timeout` (cut off at the route's deadline) and `broken` (the
/// connection or its framing failed mid-body).
#[derive(Debug)]
pub(crate) struct BodyCutoffs {
    pub(crate) timeout: IntCounter,
    pub(crate) broken: IntCounter,
}

/// The series of one route, resolved once per snapshot.
#[derive(Debug)]
pub(crate) struct RouteMetrics {
    /// `requests_total{route,status}`, `request_duration_seconds{route}`.
    pub(crate) requests: RequestMetrics,
    /// `upstream_duration_seconds{route}`.
    upstream_duration: Histogram,
    /// `upstream_errors_total{route,kind}`, by [`UpstreamFailure::index`].
    upstream_errors: [IntCounter; UpstreamFailure::ALL.len()],
    /// `auth_decisions_total{route,result,reason}`, by [`AuthOutcome::index`].
    auth: [IntCounter; AuthOutcome::COUNT],
    /// `webhook_events_total{route,outcome}` of a webhook route, by [`WebhookOutcome::index`].
    webhook: Option<[IntCounter; WebhookOutcome::ALL.len()]>,
    /// The `timeout` and `broken` series of `upstream_errors`, shared with streaming bodies.
    pub(crate) cutoffs: std::sync::Arc<BodyCutoffs>,
}

impl RouteMetrics {
    /// Resolves every series of route `route`; `webhook` for a webhook route.
    pub(crate) fn new(metrics: &Metrics, route: &str, webhook: bool) -> RouteMetrics {
        let upstream_errors = |kind: UpstreamFailure| {
            metrics
                .upstream_errors
                .with_label_values(&[route, kind.as_str()])
        };
        RouteMetrics {
            requests: RequestMetrics::new(metrics, route),
            upstream_duration: metrics.upstream_duration.with_label_values(&[route]),
            upstream_errors: UpstreamFailure::ALL.map(upstream_errors),
            // The same series as in `upstream_errors`: a vector hands out one child per label set.
            cutoffs: std::sync::Arc::new(BodyCutoffs {
                timeout: upstream_errors(UpstreamFailure::Timeout),
                broken: upstream_errors(UpstreamFailure::Broken),
            }),
            auth: AuthOutcome::ALL.map(|outcome| {
                metrics.auth_decisions.with_label_values(&[
                    route,
                    outcome.result(),
                    outcome.reason(),
                ])
            }),
            webhook: webhook.then(|| {
                WebhookOutcome::ALL.map(|outcome| {
                    metrics
                        .webhook_events
                        .with_label_values(&[route, outcome.as_str()])
                })
            }),
        }
    }

    /// Counts an auth decision.
    pub(crate) fn auth(&self, outcome: AuthOutcome) {
        if let Some(counter) = self.auth.get(outcome.index()) {
            counter.inc();
        }
    }

    /// Records how long the upstream took to answer with a response head (or to fail).
    pub(crate) fn upstream_answered(&self, took: Duration) {
        self.upstream_duration.observe(took.as_secs_f64());
    }

    /// Counts an upstream failure of `kind`.
    pub(crate) fn upstream_error(&self, kind: UpstreamFailure) {
        self.upstream_errors(kind).inc();
    }

    /// The `upstream_errors_total` series of `kind` (a body that streams counts through
    /// `cutoffs`, the same series).
    fn upstream_errors(&self, kind: UpstreamFailure) -> &IntCounter {
        let [connect, timeout, broken, invalid, tls] = &self.upstream_errors;
        match kind {
            UpstreamFailure::Connect => connect,
            UpstreamFailure::Timeout => timeout,
            UpstreamFailure::Broken => broken,
            UpstreamFailure::InvalidResponse => invalid,
            UpstreamFailure::Tls => tls,
        }
    }

    /// Counts what became of a webhook event (nothing on other routes, which have none).
    pub(crate) fn webhook(&self, outcome: WebhookOutcome) {
        let counter = self
            .webhook
            .as_ref()
            .and_then(|counters| counters.get(outcome.index()));
        if let Some(counter) = counter {
            counter.inc();
        }
    }
}

/// The series of one keyring, resolved once per snapshot.
#[derive(Debug)]
pub(crate) struct KeyringMetrics {
    /// `secret_matches_total{keyring,secret}` by secret index.
    matches: Vec<IntCounter>,
    /// `signature_age_seconds{keyring}`.
    age: Histogram,
}

impl KeyringMetrics {
    /// Resolves the series of keyring `name` with these secret ids.
    pub(crate) fn new<'a>(
        metrics: &Metrics,
        name: &str,
        secret_ids: impl Iterator<Item = &'a str>,
    ) -> KeyringMetrics {
        KeyringMetrics {
            matches: secret_ids
                .map(|secret| metrics.secret_matches.with_label_values(&[name, secret]))
                .collect(),
            age: metrics.signature_age.with_label_values(&[name]),
        }
    }

    /// Counts a match of secret `index` by a signature `age` seconds old.
    pub(crate) fn matched(&self, index: usize, age: i64) {
        if let Some(counter) = self.matches.get(index) {
            counter.inc();
        }
        self.age.observe(age.max(0) as f64);
    }
}

#[cfg(test)]
mod tests;
