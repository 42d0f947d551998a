//! TLS over real sockets with certificates made at test time: HTTPS/1.1 and h2 (ALPN) through
//! the whole pipeline, certificate rotation by file watch (new handshakes get the new pair,
//! open connections keep working), broken pairs on reload and at start-up, and the admin
//! listener over TLS. Upstream TLS (CA file, mTLS, `server_name`, h2) is in `tls/upstream_tests.rs`.

mod client;
mod pki;
mod upstream;
mod upstream_tests;

use std::path::Path;
use std::time::Duration;

use crate::common::*;
use client::Conn;
use http::{Method, Version};
use pki::{start_of, Ca};

const BIN: &str = env!("CARGO_BIN_EXE_stripe-app-gateway");

/// `tls = { cert_file, key_file }`.
fn tls_line(cert: &Path, key: &Path) -> String {
    format!(
        "tls = {{ cert_file = \"{}\", key_file = \"{}\" }}",
        cert.display(),
        key.display()
    )
}

/// An app route with CORS at `/api/`, a webhook route at `/webhook` and a plain `/health`.
fn routes() -> String {
    app_route("")
        + "[[routes]]\nid = \"hooks\"\npath = \"/webhook\"\nmethods = [\"POST\"]\nauth = \"webhook\"\nkeyring = \"hooks\"\n\n"
        + "[[routes]]\nid = \"health\"\npath = \"/health\"\nauth = \"none\"\n"
}

/// The usual test config in front of `upstream`, with `server_tls` added to `[server]`.
fn tls_config(upstream: &str, server_tls: &str) -> String {
    config_text(upstream, &routes()).replacen("[server]\n", &format!("[server]\n{server_tls}\n"), 1)
}

/// Writes `text` to `gateway.toml` in `dir` and starts a gateway on it.
async fn start_in(dir: tempfile::TempDir, text: &str) -> TestGateway {
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, text).expect("write config");
    TestGateway::start_in(dir, path).await
}

/// `Stripe-Signature` and `Content-Type` for an app `body` signed now.
fn signed(body: &[u8], secret: &str) -> [(&'static str, String); 2] {
    [
        ("stripe-signature", sign(&[secret], now(), body)),
        ("content-type", "application/json".to_string()),
    ]
}

fn pairs<'h>(headers: &'h [(&'static str, String)]) -> Vec<(&'static str, &'h str)> {
    headers.iter().map(|(n, v)| (*n, v.as_str())).collect()
}

#[tokio::test]
async fn https_serves_app_webhook_and_preflight_over_http1_and_h2() {
    let ca = Ca::new("gateway CA");
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = ca.leaf(&["localhost"], 1, 2040).write(dir.path(), "tls");
    let gateway = start_in(dir, &tls_config(&upstream.url(), &tls_line(&cert, &key))).await;
    let body = app_body("usr_1", "acct_1");
    let app_headers = signed(&body, APP_SECRET);

    let mut http1 = Conn::open(gateway.data, &ca, &["http/1.1"]).await;
    assert_eq!(http1.alpn.as_deref(), Some(&b"http/1.1"[..]));
    let (answer, version) = http1
        .send(Method::POST, "/api/x", &pairs(&app_headers), body.clone())
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(version, Version::HTTP_11);

    let mut h2 = Conn::open(gateway.data, &ca, &["h2", "http/1.1"]).await;
    assert_eq!(h2.alpn.as_deref(), Some(&b"h2"[..]), "ALPN chose h2");
    let (answer, version) = h2
        .send(Method::POST, "/api/x", &pairs(&app_headers), body)
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(version, Version::HTTP_2);
    let event = event_body(
        "evt_tls_1",
        "account.application.authorized",
        false,
        Some("acct_1"),
    );
    let hook_headers = signed(&event, WEBHOOK_SECRET);
    let (answer, _) = h2
        .send(Method::POST, "/webhook", &pairs(&hook_headers), event)
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let preflight = [
        ("origin", "null"),
        ("access-control-request-method", "POST"),
    ];
    let (answer, _) = h2
        .send(Method::OPTIONS, "/api/x", &preflight, Vec::new())
        .await;
    assert_eq!(answer.status, 204);
    assert_eq!(answer.headers["access-control-allow-origin"], "*");

    let seen = upstream.seen();
    assert_eq!(
        seen.len(),
        3,
        "two app requests and the webhook; the preflight is answered"
    );
    for request in &seen {
        assert_eq!(
            request.headers["x-forwarded-proto"], "https",
            "{}",
            request.path_and_query
        );
    }
    gateway.stop().await;
}

#[tokio::test]
async fn a_rotated_certificate_serves_new_handshakes_while_open_connections_keep_working() {
    let ca = Ca::new("gateway CA");
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let first = ca.leaf(&["localhost"], 1, 2040);
    let (cert, key) = first.write(dir.path(), "tls");
    let text = tls_config(&upstream.url(), &tls_line(&cert, &key))
        .replace("watch = false", "watch = true");
    let gateway = start_in(dir, &text).await;
    let data_expiry = |year| {
        format!(
            r#"stripe_app_gateway_tls_cert_not_after_timestamp_seconds{{listener="data"}} {}"#,
            start_of(year)
        )
    };
    assert!(
        gateway.metrics().lines().any(|l| l == data_expiry(2040)),
        "{}",
        gateway.metrics()
    );

    let mut open = Conn::open(gateway.data, &ca, &["http/1.1"]).await;
    assert_eq!(open.leaf, first.der);
    assert_eq!(
        open.send(Method::GET, "/health", &[], Vec::new())
            .await
            .0
            .status,
        200
    );

    // The files change as a Kubernetes Secret update or cert-manager renewal changes them.
    let second = ca.leaf(&["localhost"], 2, 2041);
    second.write(gateway.dir(), "tls");
    deadline(async {
        while Conn::open(gateway.data, &ca, &["http/1.1"]).await.leaf != second.der {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let (answer, _) = open.send(Method::GET, "/health", &[], Vec::new()).await;
    assert_eq!(answer.status, 200, "the open connection keeps working");
    assert!(
        gateway.metrics().lines().any(|l| l == data_expiry(2041)),
        "{}",
        gateway.metrics()
    );
    let mut fresh = Conn::open(gateway.data, &ca, &["h2"]).await;
    assert_eq!(
        fresh
            .send(Method::GET, "/health", &[], Vec::new())
            .await
            .0
            .status,
        200
    );
    gateway.stop().await;
}

#[tokio::test]
async fn a_broken_pair_on_reload_keeps_the_running_one_and_counts_a_failure() {
    let ca = Ca::new("gateway CA");
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let first = ca.leaf(&["localhost"], 1, 2040);
    let (cert, key) = first.write(dir.path(), "tls");
    let gateway = start_in(dir, &tls_config(&upstream.url(), &tls_line(&cert, &key))).await;

    pki::replace_file(
        &key,
        "-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n",
    );
    let json = refused_reload(&gateway).await;
    assert_eq!(json["key"], "server.tls.key_file", "{json}");
    assert!(
        json["error"]
            .as_str()
            .is_some_and(|e| e.contains("tls.key")),
        "{json}"
    );
    assert!(
        !json["error"]
            .as_str()
            .unwrap_or_default()
            .contains("garbage"),
        "{json}"
    );
    let failures = r#"stripe_app_gateway_config_reloads_total{result="failure"} 1"#;
    assert!(
        gateway.metrics().lines().any(|l| l == failures),
        "{}",
        gateway.metrics()
    );

    assert_serves(&gateway, &ca, &first).await;
    gateway.stop().await;
}

#[tokio::test]
async fn an_expired_certificate_on_reload_keeps_the_valid_running_one() {
    let ca = Ca::new("gateway CA");
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let first = ca.leaf(&["localhost"], 1, 2040);
    let (cert, key) = first.write(dir.path(), "tls");
    let gateway = start_in(dir, &tls_config(&upstream.url(), &tls_line(&cert, &key))).await;

    let expired = ca.leaf(&["localhost"], 2, 2020);
    let dir_of_cert = cert.parent().expect("cert dir").to_path_buf();
    expired.write(&dir_of_cert, "tls");
    let json = refused_reload(&gateway).await;
    assert_eq!(json["key"], "server.tls.cert_file", "{json}");
    assert!(
        json["error"]
            .as_str()
            .is_some_and(|e| e.contains("expired")),
        "{json}"
    );
    let failed = gateway.metrics().lines().any(|line| {
        line.strip_prefix(r#"stripe_app_gateway_config_reloads_total{result="failure"} "#)
            .and_then(|count| count.parse::<u64>().ok())
            .is_some_and(|count| count >= 1)
    });
    assert!(failed, "{}", gateway.metrics());

    assert_serves(&gateway, &ca, &first).await;
    let ready = send(Method::GET, &gateway.admin_url("/readyz"), &[], Vec::new()).await;
    assert_eq!(ready.status, 200, "{:?}", ready.body);
    gateway.stop().await;
}

/// `POST /reload` is refused with `422`; its JSON answer.
async fn refused_reload(gateway: &TestGateway) -> serde_json::Value {
    let answer = send(Method::POST, &gateway.admin_url("/reload"), &[], Vec::new()).await;
    assert_eq!(answer.status, 422, "{:?}", answer.body);
    answer.json()
}

/// A new handshake gets `leaf`, and a request on it is answered.
async fn assert_serves(gateway: &TestGateway, ca: &Ca, leaf: &pki::Leaf) {
    let mut conn = Conn::open(gateway.data, ca, &["h2"]).await;
    assert_eq!(conn.leaf, leaf.der, "still the running pair");
    assert_eq!(
        conn.send(Method::GET, "/health", &[], Vec::new())
            .await
            .0
            .status,
        200
    );
}

#[tokio::test]
async fn bad_certificate_files_at_start_are_config_errors_naming_key_and_file() {
    let ca = Ca::new("gateway CA");
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = ca.leaf(&["localhost"], 1, 2040).write(dir.path(), "good");
    let (_, other_key) = ca.leaf(&["localhost"], 2, 2040).write(dir.path(), "other");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").expect("write");
    let missing = dir.path().join("missing.crt");
    let cases = [
        (
            "missing",
            &missing,
            &key,
            "server.tls.cert_file",
            "missing.crt: cannot read",
        ),
        (
            "not PEM",
            &garbage,
            &key,
            "server.tls.cert_file",
            "garbage.pem: no certificate found",
        ),
        (
            "no key",
            &cert,
            &garbage,
            "server.tls.key_file",
            "garbage.pem: no private key found",
        ),
        (
            "mismatch",
            &cert,
            &other_key,
            "server.tls.key_file",
            "does not match the certificate",
        ),
    ];
    for (name, cert, key, key_path, reason) in cases {
        let config = dir.path().join(format!("{}.toml", name.replace(' ', "-")));
        std::fs::write(&config, tls_config("builtin:echo", &tls_line(cert, key))).expect("write");
        let err = stripe_app_gateway::config::Config::load(&config).expect_err(name);
        assert_eq!(
            (err.file.as_path(), err.key.as_str()),
            (config.as_path(), key_path),
            "{name}"
        );
        assert!(err.reason.contains(reason), "{name}: {err}");
        let path = config.clone();
        let check = move || {
            std::process::Command::new(BIN)
                .args(["check", "--config"])
                .arg(path)
                .output()
        };
        let output = deadline(tokio::task::spawn_blocking(check))
            .await
            .expect("join")
            .expect("run check");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(78), "{name}: {stderr}");
        for part in [
            config.display().to_string(),
            key_path.to_string(),
            reason.to_string(),
        ] {
            assert!(
                stderr.contains(&part),
                "{name}: {part} missing from {stderr}"
            );
        }
    }
}

#[tokio::test]
async fn the_admin_listener_serves_over_tls_and_reports_both_certificates() {
    let ca = Ca::new("gateway CA");
    let dir = tempfile::tempdir().expect("tempdir");
    let (data_cert, data_key) = ca.leaf(&["localhost"], 1, 2040).write(dir.path(), "data");
    let (admin_cert, admin_key) = ca.leaf(&["localhost"], 2, 2042).write(dir.path(), "admin");
    let text = tls_config("builtin:echo", &tls_line(&data_cert, &data_key)).replacen(
        "[admin]\n",
        &format!("[admin]\n{}\n", tls_line(&admin_cert, &admin_key)),
        1,
    );
    let gateway = start_in(dir, &text).await;
    let mut admin = Conn::open(gateway.admin, &ca, &["h2", "http/1.1"]).await;
    assert_eq!(
        admin.alpn.as_deref(),
        Some(&b"http/1.1"[..]),
        "admin speaks HTTP/1.1 only"
    );
    let (answer, _) = admin.send(Method::GET, "/healthz", &[], Vec::new()).await;
    assert_eq!(answer.status, 200);
    let (answer, _) = admin.send(Method::GET, "/readyz", &[], Vec::new()).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let checks = answer.json()["checks"].to_string();
    assert!(
        checks.contains("tls_certificate:admin") && checks.contains("tls_certificate:data"),
        "{checks}"
    );
    let (answer, _) = admin.send(Method::GET, "/metrics", &[], Vec::new()).await;
    let metrics = String::from_utf8_lossy(&answer.body);
    for (listener, year) in [("data", 2040), ("admin", 2042)] {
        let line = format!(
            r#"stripe_app_gateway_tls_cert_not_after_timestamp_seconds{{listener="{listener}"}} {}"#,
            start_of(year)
        );
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} missing from {metrics}"
        );
    }
    let plaintext = tokio::time::timeout(DEADLINE, plaintext_answers(gateway.admin)).await;
    assert!(
        matches!(plaintext, Ok(false)),
        "plaintext HTTP is not answered on a TLS admin listener"
    );
    gateway.stop().await;
}

/// Whether a plaintext `GET /healthz` gets an HTTP answer from `addr`.
async fn plaintext_answers(addr: std::net::SocketAddr) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
        return false;
    };
    let _ = stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await;
    let mut buffer = Vec::new();
    let _ = stream.read_to_end(&mut buffer).await;
    buffer.starts_with(b"HTTP/1.1 200")
}
