//! Prometheus metrics (SPEC §7): one [`Metrics`] registered into a registry passed in.
//!
//! Labels come only from bounded sets: route ids, keyring and secret ids from the config, and
//! fixed enums. Never a raw path or a client value.

#![warn(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::sync::OnceLock;

use crate::proxy::upstream::UpstreamFailure;
use prometheus::{
    Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry,
};

const PREFIX: &str = "stripe_app_gateway_";

/// Route label for requests that matched no route.
pub const NO_ROUTE: &str = "_none";

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
const AGE_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0];

/// Every metric of the gateway.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// `requests_total{route,status}`.
    pub requests: IntCounterVec,
    /// `request_duration_seconds{route}`.
    pub request_duration: HistogramVec,
    /// `auth_decisions_total{route,result,reason}`.
    pub auth_decisions: IntCounterVec,
    /// `secret_matches_total{keyring,secret}`.
    pub secret_matches: IntCounterVec,
    /// `signature_age_seconds{keyring}`.
    pub signature_age: HistogramVec,
    /// `upstream_duration_seconds{route}`.
    pub upstream_duration: HistogramVec,
    /// `upstream_errors_total{route,kind}`.
    pub upstream_errors: IntCounterVec,
    /// `in_flight_requests`.
    pub in_flight: IntGauge,
    /// `buffered_body_bytes`: request body bytes held for verification right now.
    pub buffered_body_bytes: IntGauge,
    /// `config_reloads_total{result}`.
    pub config_reloads: IntCounterVec,
    /// `config_last_reload_success`.
    pub config_last_reload_success: IntGauge,
    /// `config_last_reload_success_timestamp_seconds`.
    pub config_last_reload_success_timestamp: Gauge,
    /// `secret_not_after_timestamp_seconds{keyring,secret}`.
    pub secret_not_after: GaugeVec,
    /// `tls_cert_not_after_timestamp_seconds{listener}`.
    pub tls_cert_not_after: GaugeVec,
    /// `webhook_events_total{route,outcome}`.
    pub webhook_events: IntCounterVec,
    /// `build_info{version}`.
    pub build_info: IntGaugeVec,
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
    pub fn register(registry: &Registry) -> prometheus::Result<Metrics> {
        let metrics = Metrics {
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
        };
        registry.register(Box::new(metrics.requests.clone()))?;
        registry.register(Box::new(metrics.request_duration.clone()))?;
        registry.register(Box::new(metrics.auth_decisions.clone()))?;
        registry.register(Box::new(metrics.secret_matches.clone()))?;
        registry.register(Box::new(metrics.signature_age.clone()))?;
        registry.register(Box::new(metrics.upstream_duration.clone()))?;
        registry.register(Box::new(metrics.upstream_errors.clone()))?;
        registry.register(Box::new(metrics.in_flight.clone()))?;
        registry.register(Box::new(metrics.buffered_body_bytes.clone()))?;
        registry.register(Box::new(metrics.config_reloads.clone()))?;
        registry.register(Box::new(metrics.config_last_reload_success.clone()))?;
        registry.register(Box::new(
            metrics.config_last_reload_success_timestamp.clone(),
        ))?;
        registry.register(Box::new(metrics.secret_not_after.clone()))?;
        registry.register(Box::new(metrics.tls_cert_not_after.clone()))?;
        registry.register(Box::new(metrics.webhook_events.clone()))?;
        registry.register(Box::new(metrics.build_info.clone()))?;
        #[cfg(target_os = "linux")]
        // Standard `process_*` names, as every process dashboard expects them.
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        metrics
            .build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        Ok(metrics)
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

/// Auth decision results, in label order.
const RESULTS: [&str; 3] = ["allowed", "denied", "skipped"];
/// Every auth decision reason the pipeline records.
const REASONS: [&str; 14] = [
    "ok",
    "missing_header",
    "malformed_header",
    "no_v1_signature",
    "signature_mismatch",
    "timestamp_too_old",
    "timestamp_in_future",
    "empty_payload",
    "malformed_body",
    "replayed",
    "role_denied",
    "preflight",
    "none",
    "other",
];
/// Webhook event outcomes.
const OUTCOMES: [&str; 5] = ["forwarded", "filtered", "duplicate", "in_flight", "failed"];

/// The series of one route, resolved once per snapshot so that a request records its metrics
/// without hashing label values or taking the metric vectors' locks.
#[derive(Debug)]
pub struct RouteMetrics {
    route: String,
    requests: IntCounterVec,
    /// `requests_total` children for statuses 100–599, by status − 100, created on first use.
    statuses: Box<[OnceLock<IntCounter>]>,
    auth_vec: IntCounterVec,
    /// `auth_decisions_total` children by result, then reason, created on first use.
    auth: Box<[[OnceLock<IntCounter>; REASONS.len()]; RESULTS.len()]>,
    webhook_vec: IntCounterVec,
    webhook: [OnceLock<IntCounter>; OUTCOMES.len()],
    /// `request_duration_seconds{route}`.
    pub duration: prometheus::Histogram,
    /// `upstream_duration_seconds{route}`.
    pub upstream_duration: prometheus::Histogram,
    /// `upstream_errors_total{route,kind}`, in the order of [`UpstreamFailure::ALL`].
    upstream_errors: [IntCounter; UpstreamFailure::ALL.len()],
}

impl RouteMetrics {
    /// Resolves the series of route `route`.
    pub fn new(metrics: &Metrics, route: &str) -> RouteMetrics {
        RouteMetrics {
            route: route.to_string(),
            requests: metrics.requests.clone(),
            statuses: (100..600).map(|_| OnceLock::new()).collect(),
            auth_vec: metrics.auth_decisions.clone(),
            auth: Box::new(std::array::from_fn(|_| {
                std::array::from_fn(|_| OnceLock::new())
            })),
            webhook_vec: metrics.webhook_events.clone(),
            webhook: Default::default(),
            duration: metrics.request_duration.with_label_values(&[route]),
            upstream_duration: metrics.upstream_duration.with_label_values(&[route]),
            upstream_errors: UpstreamFailure::ALL.map(|kind| {
                metrics
                    .upstream_errors
                    .with_label_values(&[route, kind.as_str()])
            }),
        }
    }

    /// Counts a response with `status`. Any status `http` accepts (100–999) is counted; those
    /// outside 100–599 have no cached series and go through the vector.
    pub fn request(&self, status: http::StatusCode) {
        let slot = status
            .as_u16()
            .checked_sub(100)
            .and_then(|index| self.statuses.get(usize::from(index)));
        let labels = || [self.route.as_str(), status.as_str()];
        match slot {
            Some(slot) => slot
                .get_or_init(|| self.requests.with_label_values(&labels()))
                .inc(),
            None => self.requests.with_label_values(&labels()).inc(),
        }
    }

    /// Counts an upstream failure of `kind`.
    pub fn upstream_error(&self, kind: UpstreamFailure) {
        let [connect, timeout, broken, invalid, tls] = &self.upstream_errors;
        match kind {
            UpstreamFailure::Connect => connect,
            UpstreamFailure::Timeout => timeout,
            UpstreamFailure::Broken => broken,
            UpstreamFailure::InvalidResponse => invalid,
            UpstreamFailure::Tls => tls,
        }
        .inc();
    }

    /// The `upstream_errors_total{kind="timeout"}` series, for bodies cut off at the deadline.
    pub fn upstream_timeouts(&self) -> &IntCounter {
        let [_, timeout, ..] = &self.upstream_errors;
        timeout
    }

    /// Counts an auth decision.
    pub fn auth(&self, result: &str, reason: &str) {
        let slot = RESULTS
            .iter()
            .position(|r| *r == result)
            .and_then(|r| self.auth.get(r))
            .zip(REASONS.iter().position(|s| *s == reason))
            .and_then(|(row, s)| row.get(s));
        match slot {
            Some(slot) => slot
                .get_or_init(|| {
                    self.auth_vec
                        .with_label_values(&[&self.route, result, reason])
                })
                .inc(),
            None => self
                .auth_vec
                .with_label_values(&[&self.route, result, reason])
                .inc(),
        }
    }

    /// Counts a webhook event outcome.
    pub fn webhook(&self, outcome: &str) {
        let slot = OUTCOMES
            .iter()
            .position(|o| *o == outcome)
            .and_then(|index| self.webhook.get(index));
        match slot {
            Some(slot) => slot
                .get_or_init(|| self.webhook_vec.with_label_values(&[&self.route, outcome]))
                .inc(),
            None => self
                .webhook_vec
                .with_label_values(&[&self.route, outcome])
                .inc(),
        }
    }
}

/// The series of one keyring, resolved once per snapshot.
#[derive(Debug)]
pub struct KeyringMetrics {
    /// `secret_matches_total{keyring,secret}` by secret index.
    pub matches: Vec<prometheus::IntCounter>,
    /// `signature_age_seconds{keyring}`.
    pub age: prometheus::Histogram,
}

impl KeyringMetrics {
    /// Resolves the series of keyring `name` with these secret ids.
    pub fn new<'a>(
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
    pub fn matched(&self, index: usize, age: i64) {
        if let Some(counter) = self.matches.get(index) {
            counter.inc();
        }
        self.age.observe(age.max(0) as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(registry: &Registry, series: &str) -> Option<String> {
        render(registry)
            .lines()
            .find_map(|line| line.strip_prefix(series).map(str::to_string))
    }

    #[test]
    fn every_status_http_accepts_is_counted_without_panicking() {
        let registry = Registry::new();
        let metrics = Metrics::register(&registry).expect("register");
        let route = RouteMetrics::new(&metrics, "r");
        for code in [100, 200, 599, 600, 799, 999] {
            let status = http::StatusCode::from_u16(code).expect("status");
            route.request(status);
            route.request(status);
        }
        for code in [100, 200, 599, 600, 799, 999] {
            let series =
                format!(r#"stripe_app_gateway_requests_total{{route="r",status="{code}"}}"#);
            assert_eq!(count(&registry, &series).as_deref(), Some(" 2"), "{code}");
        }
    }

    #[test]
    fn unknown_labels_fall_back_to_the_vector() {
        let registry = Registry::new();
        let metrics = Metrics::register(&registry).expect("register");
        let route = RouteMetrics::new(&metrics, "r");
        route.auth("denied", "replayed");
        route.auth("elsewhere", "unheard_of");
        route.webhook("forwarded");
        route.webhook("other");
        for kind in UpstreamFailure::ALL {
            route.upstream_error(kind);
        }
        let text = render(&registry);
        for series in [
            r#"auth_decisions_total{reason="replayed",result="denied",route="r"} 1"#,
            r#"auth_decisions_total{reason="unheard_of",result="elsewhere",route="r"} 1"#,
            r#"webhook_events_total{outcome="forwarded",route="r"} 1"#,
            r#"webhook_events_total{outcome="other",route="r"} 1"#,
            r#"upstream_errors_total{kind="invalid_response",route="r"} 1"#,
            r#"upstream_errors_total{kind="connect",route="r"} 1"#,
        ] {
            assert!(text.contains(series), "{series}");
        }
    }
}
