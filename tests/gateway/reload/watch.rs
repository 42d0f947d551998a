//! Changes the gateway notices by itself: Kubernetes `..data` symlink swaps, editor renames,
//! broken configs kept out until fixed, a secret file that appears after its config, and the
//! poll without a watcher.

use super::*;

#[tokio::test]
async fn a_kubernetes_data_symlink_swap_is_picked_up() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    // The layout kubelet writes for a mounted Secret.
    let secrets = dir.path().join("secrets");
    std::fs::create_dir_all(secrets.join("..2026_11_24_a")).expect("mkdir");
    std::fs::write(secrets.join("..2026_11_24_a/app-secret"), APP_SECRET).expect("write");
    std::os::unix::fs::symlink("..2026_11_24_a", secrets.join("..data")).expect("symlink");
    std::os::unix::fs::symlink("..data/app-secret", secrets.join("app-secret")).expect("symlink");
    let config_path = dir.path().join("gateway.toml");
    std::fs::write(
        &config_path,
        file_config(
            &upstream.url(),
            &[("k8s", &secrets.join("app-secret"))],
            true,
        ),
    )
    .expect("write");
    let gateway = TestGateway::start_in(dir, config_path).await;
    assert_eq!(status_signed_with(&gateway, &[APP_SECRET]).await, 200);

    std::fs::create_dir_all(secrets.join("..2026_11_24_b")).expect("mkdir");
    std::fs::write(secrets.join("..2026_11_24_b/app-secret"), NEW_SECRET).expect("write");
    std::os::unix::fs::symlink("..2026_11_24_b", secrets.join("..data_tmp")).expect("symlink");
    std::fs::rename(secrets.join("..data_tmp"), secrets.join("..data")).expect("swap");

    deadline(async {
        while status_signed_with(&gateway, &[NEW_SECRET]).await != 200 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(status_signed_with(&gateway, &[APP_SECRET]).await, 401);
    gateway.stop().await;
}

#[tokio::test]
async fn a_broken_config_keeps_the_running_one_until_fixed() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let secret_file = dir.path().join("app-secret");
    std::fs::write(&secret_file, APP_SECRET).expect("write");
    let config_path = dir.path().join("gateway.toml");
    let good = file_config(&upstream.url(), &[("current", &secret_file)], true);
    std::fs::write(&config_path, &good).expect("write");
    let gateway = TestGateway::start_in(dir, config_path.clone()).await;

    // An editor-style rename of a broken file: parse error.
    replace_file(
        &config_path,
        &good.replace("kind = \"app\"", "kind = \"app\"\nbogus = 1"),
    );
    wait_for_metric(
        &gateway,
        r#"stripe_app_gateway_config_reloads_total{result="failure"} 1"#,
    )
    .await;
    assert!(gateway
        .metrics()
        .contains("stripe_app_gateway_config_last_reload_success 0"));
    assert_eq!(
        status_signed_with(&gateway, &[APP_SECRET]).await,
        200,
        "still serving the old snapshot"
    );

    // A secret with the wrong prefix: also refused, all or nothing.
    std::fs::write(&secret_file, "whsec_wrong_family").expect("write");
    wait_for_metric(
        &gateway,
        r#"stripe_app_gateway_config_reloads_total{result="failure"} 2"#,
    )
    .await;
    assert_eq!(status_signed_with(&gateway, &[APP_SECRET]).await, 200);

    // Fixed: the new secret is applied.
    std::fs::write(&secret_file, NEW_SECRET).expect("write");
    replace_file(&config_path, &good);
    wait_for_metric(&gateway, "stripe_app_gateway_config_last_reload_success 1").await;
    assert_eq!(status_signed_with(&gateway, &[NEW_SECRET]).await, 200);
    assert_eq!(status_signed_with(&gateway, &[APP_SECRET]).await, 401);
    gateway.stop().await;
}

#[tokio::test]
async fn the_poll_picks_up_changes_without_a_watcher() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let secret_file = dir.path().join("app-secret");
    std::fs::write(&secret_file, APP_SECRET).expect("write");
    let config_path = dir.path().join("gateway.toml");
    let text = file_config(&upstream.url(), &[("current", &secret_file)], false)
        .replace("poll_interval = \"0s\"", "poll_interval = \"100ms\"");
    std::fs::write(&config_path, text).expect("write");
    let gateway = TestGateway::start_in(dir, config_path).await;
    std::fs::write(&secret_file, NEW_SECRET).expect("write");
    deadline(async {
        while status_signed_with(&gateway, &[NEW_SECRET]).await != 200 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    gateway.stop().await;
}

#[tokio::test]
async fn a_config_naming_a_secret_file_that_appears_later_is_applied_when_it_does() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let secret_file = dir.path().join("app-secret");
    std::fs::write(&secret_file, APP_SECRET).expect("write");
    let config_path = dir.path().join("gateway.toml");
    std::fs::write(
        &config_path,
        file_config(&upstream.url(), &[("current", &secret_file)], true),
    )
    .expect("write");
    let gateway = TestGateway::start_in(dir, config_path.clone()).await;
    // The config arrives first (a ConfigMap), naming a secret not mounted yet.
    let later = gateway.dir().join("app-secret-new");
    replace_file(
        &config_path,
        &file_config(
            &upstream.url(),
            &[("new", &later), ("current", &secret_file)],
            true,
        ),
    );
    wait_for_count(&gateway, FAILURES, 1).await;
    assert_eq!(status_signed_with(&gateway, &[NEW_SECRET]).await, 401);
    // Unrelated files in the same directory change: the broken config is not retried (and not
    // logged again). Events are handled in order, so had they counted, they would have before
    // the reload below.
    for round in 0..5 {
        std::fs::write(
            gateway.dir().join("unrelated.log"),
            format!("line {round}\n"),
        )
        .expect("write");
    }
    // Then the secret (a Secret volume): its arrival retries the whole reload.
    std::fs::write(&later, NEW_SECRET).expect("write");
    wait_for_secrets(&gateway, &["new", "current"]).await;
    let failures = gateway
        .metrics()
        .lines()
        .find_map(|l| l.strip_prefix(FAILURES)?.trim().parse::<u64>().ok());
    assert_eq!(
        failures,
        Some(1),
        "unrelated changes retried the broken config"
    );
    assert_eq!(status_signed_with(&gateway, &[NEW_SECRET]).await, 200);
    gateway.stop().await;
}

async fn wait_for_metric(gateway: &TestGateway, line: &str) {
    deadline(async {
        while !gateway.metrics().lines().any(|l| l == line) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// Waits until the counter `series` reaches at least `wanted`.
async fn wait_for_count(gateway: &TestGateway, series: &str, wanted: u64) {
    deadline(async {
        loop {
            let value = gateway
                .metrics()
                .lines()
                .find_map(|l| l.strip_prefix(series)?.trim().parse::<u64>().ok());
            if value.is_some_and(|v| v >= wanted) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

const FAILURES: &str = r#"stripe_app_gateway_config_reloads_total{result="failure"}"#;
