use super::*;
use crate::auth::Rejection;
use crate::outcome::Denial;

fn count(registry: &Registry, series: &str) -> Option<String> {
    render(registry)
        .lines()
        .find_map(|line| line.strip_prefix(series).map(str::to_string))
}

#[test]
fn every_status_http_accepts_is_counted_without_panicking() {
    let registry = Registry::new();
    let metrics = Metrics::register(&registry).expect("register");
    let route = RequestMetrics::new(&metrics, "r");
    for code in [100, 200, 599, 600, 799, 999] {
        let status = http::StatusCode::from_u16(code).expect("status");
        route.answered(status, Duration::ZERO);
        route.answered(status, Duration::ZERO);
    }
    for code in [100, 200, 599, 600, 799, 999] {
        let series = format!(r#"stripe_app_gateway_requests_total{{route="r",status="{code}"}}"#);
        assert_eq!(count(&registry, &series).as_deref(), Some(" 2"), "{code}");
    }
}

#[test]
fn every_outcome_has_its_series_from_the_start() {
    let registry = Registry::new();
    let metrics = Metrics::register(&registry).expect("register");
    let route = RouteMetrics::new(&metrics, "r", true);
    let text = render(&registry);
    for outcome in AuthOutcome::ALL {
        let series = format!(
            r#"auth_decisions_total{{reason="{}",result="{}",route="r"}} 0"#,
            outcome.reason(),
            outcome.result()
        );
        assert!(text.contains(&series), "{series}");
    }
    route.auth(AuthOutcome::Denied(Denial::Replayed));
    route.auth(AuthOutcome::Denied(Denial::Signature(
        Rejection::SignatureMismatch,
    )));
    route.webhook(WebhookOutcome::Forwarded);
    for kind in UpstreamFailure::ALL {
        route.upstream_error(kind);
    }
    let text = render(&registry);
    for series in [
        r#"auth_decisions_total{reason="replayed",result="denied",route="r"} 1"#,
        r#"auth_decisions_total{reason="signature_mismatch",result="denied",route="r"} 1"#,
        r#"auth_decisions_total{reason="ok",result="allowed",route="r"} 0"#,
        r#"webhook_events_total{outcome="forwarded",route="r"} 1"#,
        r#"webhook_events_total{outcome="in_flight",route="r"} 0"#,
        r#"upstream_errors_total{kind="invalid_response",route="r"} 1"#,
        r#"upstream_errors_total{kind="connect",route="r"} 1"#,
    ] {
        assert!(text.contains(series), "{series}");
    }
}

#[test]
fn only_webhook_routes_have_webhook_series() {
    let registry = Registry::new();
    let metrics = Metrics::register(&registry).expect("register");
    let route = RouteMetrics::new(&metrics, "app", false);
    route.webhook(WebhookOutcome::Forwarded);
    assert!(!render(&registry).contains("webhook_events_total{"));
}
