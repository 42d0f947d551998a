//! Operations over real sockets: metrics after each kind of traffic (and `promtool check
//! metrics` on the exposition), overload, admin endpoints, readiness during drain.

use std::time::Duration;

use http::{Method, StatusCode};

use crate::common::*;

fn ops_routes() -> String {
    format!(
        "{}\n[[routes]]\nid = \"hooks\"\npath = \"/webhook\"\nmethods = [\"POST\"]\nauth = \"webhook\"\nkeyring = \"hooks\"\nevents = [\"invoice.paid\"]\n\n[[routes]]\nid = \"down\"\npath = \"/down\"\nauth = \"none\"\nupstream = \"http://{}\"\n",
        app_route(""),
        closed_port()
    )
}

/// Value of the exposition line that starts with `series` (name and labels), if any.
fn value(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        line.strip_prefix(series)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|v| v.parse().ok())
    })
}

/// Serves one of each kind of traffic: allowed, rejected, preflight, webhook (forwarded and
/// filtered), upstream error, no route.
async fn mixed_traffic(gateway: &TestGateway) {
    assert_eq!(
        post_signed(&gateway.url("/api/a"), &app_body("usr_1", "acct_1"), &[])
            .await
            .status,
        200
    );
    let bad = send(
        Method::POST,
        &gateway.url("/api/a"),
        &[("stripe-signature", "t=1,v1=00")],
        app_body("u", "a"),
    )
    .await;
    assert_eq!(bad.status, 401);
    let preflight = send(
        Method::OPTIONS,
        &gateway.url("/api/a"),
        &[
            ("origin", "null"),
            ("access-control-request-method", "POST"),
        ],
        "",
    )
    .await;
    assert_eq!(preflight.status, 204);
    for (id, kind) in [("evt_1", "invoice.paid"), ("evt_2", "customer.created")] {
        let body = event_body(id, kind, false, Some("acct_1"));
        let header = sign(&[WEBHOOK_SECRET], now(), &body);
        assert_eq!(
            send(
                Method::POST,
                &gateway.url("/webhook"),
                &[("stripe-signature", &header)],
                body
            )
            .await
            .status,
            200
        );
    }
    assert_eq!(
        send(Method::GET, &gateway.url("/down"), &[], "")
            .await
            .status,
        502
    );
    assert_eq!(
        send(Method::GET, &gateway.url("/nowhere"), &[], "")
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn metrics_follow_each_kind_of_traffic() {
    let upstream = Upstream::start().await;
    let gateway = TestGateway::start(&config_text(&upstream.url(), &ops_routes())).await;
    mixed_traffic(&gateway).await;
    let m = gateway.metrics();
    let expect =
        |series: &str, wanted: f64| assert_eq!(value(&m, series), Some(wanted), "{series} in\n{m}");
    expect(
        r#"stripe_app_gateway_requests_total{route="ui",status="200"}"#,
        1.0,
    );
    expect(
        r#"stripe_app_gateway_requests_total{route="ui",status="401"}"#,
        1.0,
    );
    expect(
        r#"stripe_app_gateway_requests_total{route="ui",status="204"}"#,
        1.0,
    );
    expect(
        r#"stripe_app_gateway_requests_total{route="hooks",status="200"}"#,
        2.0,
    );
    expect(
        r#"stripe_app_gateway_requests_total{route="down",status="502"}"#,
        1.0,
    );
    expect(
        r#"stripe_app_gateway_requests_total{route="_none",status="404"}"#,
        1.0,
    );
    expect(
        r#"stripe_app_gateway_auth_decisions_total{reason="ok",result="allowed",route="ui"}"#,
        1.0,
    );
    expect(
        r#"stripe_app_gateway_auth_decisions_total{reason="signature_mismatch",result="denied",route="ui"}"#,
        1.0,
    );
    expect(
        r#"stripe_app_gateway_auth_decisions_total{reason="preflight",result="skipped",route="ui"}"#,
        1.0,
    );
    expect(
        r#"stripe_app_gateway_secret_matches_total{keyring="app",secret="current"}"#,
        1.0,
    );
    expect(
        r#"stripe_app_gateway_secret_matches_total{keyring="hooks",secret="live"}"#,
        2.0,
    );
    expect(
        r#"stripe_app_gateway_webhook_events_total{outcome="forwarded",route="hooks"}"#,
        1.0,
    );
    expect(
        r#"stripe_app_gateway_webhook_events_total{outcome="filtered",route="hooks"}"#,
        1.0,
    );
    expect(
        r#"stripe_app_gateway_upstream_errors_total{kind="connect",route="down"}"#,
        1.0,
    );
    expect(
        r#"stripe_app_gateway_signature_age_seconds_count{keyring="app"}"#,
        1.0,
    );
    expect(
        r#"stripe_app_gateway_upstream_duration_seconds_count{route="ui"}"#,
        1.0,
    );
    expect(
        r#"stripe_app_gateway_request_duration_seconds_count{route="ui"}"#,
        3.0,
    );
    expect("stripe_app_gateway_in_flight_requests", 0.0);
    expect(
        r#"stripe_app_gateway_config_reloads_total{result="success"}"#,
        1.0,
    );
    expect("stripe_app_gateway_config_last_reload_success", 1.0);
    expect(
        &format!(
            r#"stripe_app_gateway_build_info{{version="{}"}}"#,
            env!("CARGO_PKG_VERSION")
        ),
        1.0,
    );
    assert!(
        m.contains("process_resident_memory_bytes"),
        "process metrics"
    );
    assert!(
        !m.contains("/api/a") && !m.contains("/nowhere"),
        "no raw path in labels"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn the_exposition_passes_promtool() {
    let required = std::env::var_os("PROMTOOL_REQUIRED").is_some();
    let promtool = std::process::Command::new("promtool")
        .arg("--version")
        .output();
    if promtool.is_err() {
        assert!(
            !required,
            "PROMTOOL_REQUIRED is set but promtool is not installed (apt-get install prometheus)"
        );
        eprintln!(
            "SKIPPED: promtool not installed; .ci/run installs it and sets PROMTOOL_REQUIRED"
        );
        return;
    }
    let upstream = Upstream::start().await;
    let gateway = TestGateway::start(&config_text(&upstream.url(), &ops_routes())).await;
    mixed_traffic(&gateway).await;
    let exposition = send(Method::GET, &gateway.admin_url("/metrics"), &[], "").await;
    assert_eq!(exposition.status, 200);
    assert!(exposition.headers["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/plain; version=0.0.4"));
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn promtool");
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&exposition.body)
            .expect("write exposition");
    }
    let output = child.wait_with_output().expect("promtool output");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && report.trim().is_empty(),
        "promtool check metrics:\n{report}"
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_max_in_flight_requests_are_refused_with_retry_after() {
    let upstream = Upstream::start().await;
    upstream.behave(Behaviour {
        delay: Duration::from_millis(800),
        ..Behaviour::default()
    });
    let text = config_text(&upstream.url(), &app_route("")).replace(
        "shutdown_grace = \"5s\"",
        "shutdown_grace = \"5s\"\nmax_in_flight = 1",
    );
    let gateway = TestGateway::start(&text).await;
    let url = gateway.url("/api/slow");
    let first =
        tokio::spawn(async move { post_signed(&url, &app_body("usr_1", "acct_1"), &[]).await });
    deadline(async {
        while upstream.seen().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let second = post_signed(&gateway.url("/api/slow"), &app_body("usr_1", "acct_1"), &[]).await;
    assert_eq!(second.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(second.code(), "overloaded");
    assert_eq!(second.headers["retry-after"], "1");
    assert_eq!(second.headers["access-control-allow-origin"], "*");
    assert_eq!(
        deadline(first).await.expect("first").status,
        200,
        "the request in flight completes"
    );
    assert_eq!(upstream.seen().len(), 1);
    gateway.stop().await;
}

#[tokio::test]
async fn admin_endpoints_live_only_on_the_admin_listener() {
    let upstream = Upstream::start().await;
    let gateway = TestGateway::start(&config_text(&upstream.url(), &app_route(""))).await;
    for path in ["/metrics", "/healthz", "/readyz", "/reload"] {
        assert_eq!(
            send(Method::GET, &gateway.url(path), &[], "").await.status,
            404,
            "{path} on the data listener"
        );
    }
    let health = send(Method::GET, &gateway.admin_url("/healthz"), &[], "").await;
    assert_eq!(health.status, 200);
    let ready = send(Method::GET, &gateway.admin_url("/readyz"), &[], "").await;
    assert_eq!(ready.status, 200);
    let checks = ready.json()["checks"].as_array().expect("checks").clone();
    let names: Vec<&str> = checks.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "snapshot_loaded",
            "keyring:app",
            "keyring:hooks",
            "not_draining"
        ]
    );
    assert!(upstream.seen().is_empty());
    gateway.stop().await;
}

#[tokio::test]
async fn readiness_turns_503_as_soon_as_draining_starts() {
    let upstream = Upstream::start().await;
    let text = config_text(&upstream.url(), &app_route(""))
        .replace("shutdown_delay = \"0s\"", "shutdown_delay = \"1s\"");
    let mut gateway = TestGateway::start(&text).await;
    let admin = gateway.admin_url("/readyz");
    let data = gateway.url("/api/x");
    let running = gateway.running.take().expect("running");
    let shutdown = tokio::spawn(running.shutdown());
    deadline(async {
        while send(Method::GET, &admin, &[], "").await.status != 503 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let ready = send(Method::GET, &admin, &[], "").await;
    assert_eq!(ready.json()["checks"][3]["ok"], false);
    // Still accepting during shutdown_delay, so load balancers can move traffic away.
    assert_eq!(
        post_signed(&data, &app_body("usr_1", "acct_1"), &[])
            .await
            .status,
        200
    );
    deadline(shutdown).await.expect("shutdown");
    // The listener is closed now, but a child process that another test is spawning may still
    // hold a copy of its descriptor until its `exec`: a connection can then complete (and be
    // reset) for a moment longer. Any such copy goes away quickly.
    deadline(async {
        while tokio::net::TcpStream::connect(gateway.data).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_the_client_abandons_is_still_recorded_as_499() {
    let upstream = Upstream::start().await;
    upstream.behave(Behaviour {
        delay: Duration::from_secs(5),
        ..Behaviour::default()
    });
    let gateway = TestGateway::start(&config_text(&upstream.url(), &app_route(""))).await;
    let url = gateway.url("/api/slow");
    let abandoned =
        tokio::spawn(async move { post_signed(&url, &app_body("usr_1", "acct_1"), &[]).await });
    deadline(async {
        while upstream.seen().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    abandoned.abort();
    let series = r#"stripe_app_gateway_requests_total{route="ui",status="499"}"#;
    deadline(async {
        while value(&gateway.metrics(), series) != Some(1.0) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    gateway.stop().await;
}

#[tokio::test]
async fn admin_connections_are_bounded_and_the_next_one_waits_its_turn() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let gateway = TestGateway::start(&config_text("builtin:echo", &app_route(""))).await;
    let mut held = Vec::new();
    for _ in 0..64 {
        held.push(
            deadline(tokio::net::TcpStream::connect(gateway.admin))
                .await
                .expect("connect"),
        );
    }
    // The 65th is accepted by the kernel but not served while 64 are open.
    let mut next = deadline(tokio::net::TcpStream::connect(gateway.admin))
        .await
        .expect("connect");
    deadline(next.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"))
        .await
        .expect("write");
    let mut reply = Vec::new();
    let early = tokio::time::timeout(Duration::from_millis(500), next.read_to_end(&mut reply));
    assert!(early.await.is_err(), "served beyond the limit: {reply:?}");
    drop(held);
    deadline(next.read_to_end(&mut reply)).await.expect("read");
    assert!(
        reply.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    gateway.stop().await;
}
