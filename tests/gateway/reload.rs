//! Hot reload over real files and sockets: rotation under traffic, `POST /reload`, and expiry
//! at `not_after`. Changes noticed by the watcher and the poll are in `reload/watch.rs`.

mod watch;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::Method;

use crate::common::*;

const NEW_SECRET: &str = "absec_test_rotated_fedcba9876543210";

/// A config whose app keyring reads `secret_files` (id, path) and that watches for changes.
fn file_config(upstream: &str, secret_files: &[(&str, &Path)], watch: bool) -> String {
    let secrets: Vec<String> = secret_files
        .iter()
        .map(|(id, path)| format!("{{ id = \"{id}\", file = \"{}\" }}", path.display()))
        .collect();
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
shutdown_delay = "0s"
[admin]
listen = "127.0.0.1:0"
[upstream]
url = "{upstream}"
[reload]
poll_interval = "0s"
watch = {watch}
[keyrings.app]
kind = "app"
secrets = [{}]
[[routes]]
id = "ui"
path_prefix = "/api/"
auth = "app"
keyring = "app"
"#,
        secrets.join(", ")
    )
}

/// Writes `contents` to `path` the way editors and config tools do: a temporary file renamed
/// over the old one.
fn replace_file(path: &Path, contents: &str) {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, contents).expect("write temporary");
    std::fs::rename(&temporary, path).expect("rename over");
}

/// Waits until the running snapshot's app keyring holds exactly `ids`.
async fn wait_for_secrets(gateway: &TestGateway, ids: &[&str]) {
    let running = gateway.running.as_ref().expect("running");
    deadline(async {
        loop {
            let snapshot = running.gateway.snapshot();
            let current: Vec<String> = snapshot.config.keyrings["app"]
                .secrets
                .iter()
                .map(|s| s.id.clone())
                .collect();
            if current == ids {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

async fn status_signed_with(gateway: &TestGateway, secrets: &[&str]) -> u16 {
    let body = app_body("usr_1", "acct_1");
    let header = sign(secrets, now(), &body);
    send(
        Method::POST,
        &gateway.url("/api/x"),
        &[("stripe-signature", &header)],
        body,
    )
    .await
    .status
    .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_under_continuous_traffic_loses_no_request() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let old_file = dir.path().join("app-secret-old");
    let new_file = dir.path().join("app-secret-new");
    std::fs::write(&old_file, format!("{APP_SECRET_OLD}\n")).expect("write");
    std::fs::write(&new_file, format!("{NEW_SECRET}\n")).expect("write");
    let config_path = dir.path().join("gateway.toml");
    std::fs::write(
        &config_path,
        file_config(&upstream.url(), &[("old", &old_file)], true),
    )
    .expect("write");
    let gateway = TestGateway::start_in(dir, config_path.clone()).await;

    // What Stripe signs with: 0 = old only, 1 = old and new (rolled), 2 = new only.
    let phase = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let url = gateway.url("/api/rotate");
    let traffic = {
        let (phase, stop, sent, failed) =
            (phase.clone(), stop.clone(), sent.clone(), failed.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let secrets: &[&str] = match phase.load(Ordering::SeqCst) {
                    0 => &[APP_SECRET_OLD],
                    1 => &[APP_SECRET_OLD, NEW_SECRET],
                    _ => &[NEW_SECRET],
                };
                let body = app_body("usr_1", "acct_1");
                let header = sign(secrets, now(), &body);
                let answer = send(Method::POST, &url, &[("stripe-signature", &header)], body).await;
                sent.fetch_add(1, Ordering::SeqCst);
                if answer.status != 200 {
                    failed.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
    };
    let settle = |n: usize| {
        let sent = sent.clone();
        async move {
            let target = sent.load(Ordering::SeqCst) + n;
            deadline(async {
                while sent.load(Ordering::SeqCst) < target {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
            .await;
        }
    };
    settle(20).await;
    phase.store(1, Ordering::SeqCst); // Stripe rolls the secret: both signatures for 24 h.
    settle(20).await;
    replace_file(
        &config_path,
        &file_config(
            &upstream.url(),
            &[("new", &new_file), ("old", &old_file)],
            true,
        ),
    );
    wait_for_secrets(&gateway, &["new", "old"]).await;
    settle(20).await;
    phase.store(2, Ordering::SeqCst); // The old secret expires at Stripe.
    settle(20).await;
    replace_file(
        &config_path,
        &file_config(&upstream.url(), &[("new", &new_file)], true),
    );
    wait_for_secrets(&gateway, &["new"]).await;
    settle(20).await;
    stop.store(true, Ordering::SeqCst);
    deadline(traffic).await.expect("traffic task");
    assert!(sent.load(Ordering::SeqCst) >= 100);
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "requests failed during rotation"
    );
    let metrics = gateway.metrics();
    assert!(
        metrics.contains(r#"stripe_app_gateway_secret_matches_total{keyring="app",secret="new"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"stripe_app_gateway_secret_matches_total{keyring="app",secret="old"}"#)
    );
    assert_eq!(
        status_signed_with(&gateway, &[APP_SECRET_OLD]).await,
        401,
        "old secret removed"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn post_reload_answers_with_the_result() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let secret_file = dir.path().join("app-secret");
    std::fs::write(&secret_file, APP_SECRET).expect("write");
    let config_path = dir.path().join("gateway.toml");
    let good = file_config(&upstream.url(), &[("current", &secret_file)], false);
    std::fs::write(&config_path, &good).expect("write");
    let gateway = TestGateway::start_in(dir, config_path.clone()).await;

    std::fs::write(&secret_file, NEW_SECRET).expect("write");
    assert_eq!(
        status_signed_with(&gateway, &[NEW_SECRET]).await,
        401,
        "no watcher, no poll: not yet"
    );
    let answer = send(Method::POST, &gateway.admin_url("/reload"), &[], "").await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.json()["result"], "success");
    assert_eq!(status_signed_with(&gateway, &[NEW_SECRET]).await, 200);

    let listen_changed = good.replace(
        "listen = \"127.0.0.1:0\"\nshutdown_delay",
        "listen = \"127.0.0.1:1\"\nshutdown_delay",
    );
    std::fs::write(&config_path, listen_changed).expect("write");
    let answer = send(Method::POST, &gateway.admin_url("/reload"), &[], "").await;
    assert_eq!(
        answer.json()["restart_required"],
        serde_json::json!(["server.listen"])
    );
    let start_up_only = good
        .replace(
            "shutdown_delay = \"0s\"",
            "shutdown_delay = \"0s\"\nheader_read_timeout = \"3s\"\nmax_connections = 5",
        )
        .replace("[reload]", "[log]\nformat = \"json\"\n[reload]");
    std::fs::write(&config_path, start_up_only).expect("write");
    let answer = send(Method::POST, &gateway.admin_url("/reload"), &[], "").await;
    assert_eq!(
        answer.json()["restart_required"],
        serde_json::json!([
            "server.header_read_timeout",
            "server.max_connections",
            "log"
        ])
    );

    std::fs::write(&config_path, "[upstream]\nurl = 5\n").expect("write");
    let answer = send(Method::POST, &gateway.admin_url("/reload"), &[], "").await;
    assert_eq!(answer.status, 422);
    let json = answer.json();
    assert_eq!(json["result"], "failure");
    assert_eq!(json["key"], "upstream.url");
    assert_eq!(
        status_signed_with(&gateway, &[NEW_SECRET]).await,
        200,
        "failed reload changed nothing"
    );
    let answer = send(Method::GET, &gateway.admin_url("/reload"), &[], "").await;
    assert_eq!(answer.status, 405);
    gateway.stop().await;
}

#[tokio::test]
async fn a_secret_stops_verifying_exactly_at_not_after() {
    let upstream = Upstream::start().await;
    let expiry = now() + 3600;
    let stamp = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + Duration::from_secs(expiry as u64),
    );
    let routes = app_route("");
    let text = config_text(&upstream.url(), &routes).replace(
        &format!("secrets = [{{ id = \"current\", value = \"{APP_SECRET}\" }}]"),
        &format!(
            "secrets = [{{ id = \"current\", value = \"{APP_SECRET}\", not_after = \"{stamp}\" }}]"
        ),
    );
    let gateway = TestGateway::start(&text).await;
    let body = app_body("usr_1", "acct_1");
    let at = |t: i64| {
        let body = body.clone();
        let url = gateway.url("/api/x");
        async move {
            let header = sign(&[APP_SECRET], t, &body);
            send(Method::POST, &url, &[("stripe-signature", &header)], body).await
        }
    };
    gateway.clock.set(expiry - 1);
    assert_eq!(
        at(expiry - 1).await.status,
        200,
        "one second before not_after"
    );
    let ready = send(Method::GET, &gateway.admin_url("/readyz"), &[], "").await;
    assert_eq!(ready.status, 200);
    gateway.clock.set(expiry);
    let answer = at(expiry).await;
    assert_eq!(answer.status, 401, "at not_after");
    assert_eq!(answer.code(), "signature_mismatch");
    let ready = send(Method::GET, &gateway.admin_url("/readyz"), &[], "").await;
    assert_eq!(ready.status, 503, "the keyring's last secret expired");
    assert!(gateway.metrics().contains(&format!(r#"stripe_app_gateway_secret_not_after_timestamp_seconds{{keyring="app",secret="current"}} {expiry}"#)));
    gateway.stop().await;
}
