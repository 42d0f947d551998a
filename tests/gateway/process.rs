//! The real binary as an operator runs it: signals (SIGHUP reload, SIGTERM drain, a second
//! signal), start-up and access log lines, and logs that never carry a secret.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use http::Method;

use crate::common::*;

struct Process {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
    data: String,
    admin: String,
}

impl Process {
    /// Starts the binary on `config` and waits for its start-up line (JSON logs).
    fn start(config: &std::path::Path) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_stripe-app-gateway"))
            .args(["--config", config.to_str().expect("utf-8 path"), "run"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn gateway");
        let (tx, lines) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        let mut process = Process {
            child,
            lines,
            log: Vec::new(),
            data: String::new(),
            admin: String::new(),
        };
        let started = process.wait_for_line(|line| line.contains("stripe-app-gateway started"));
        let json: serde_json::Value = serde_json::from_str(&started).expect("JSON log line");
        process.data = json["listen"].as_str().expect("listen").to_string();
        process.admin = json["admin"].as_str().expect("admin").to_string();
        process
    }

    fn wait_for_line(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        loop {
            let line = self.lines.recv_timeout(DEADLINE).unwrap_or_else(|_| {
                panic!("no such log line; log so far:\n{}", self.log.join("\n"))
            });
            self.log.push(line.clone());
            if wanted(&line) {
                return line;
            }
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.log.push(line);
                }
                return status;
            }
            assert!(started.elapsed() < DEADLINE, "gateway did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn write_config(dir: &std::path::Path, upstream: &str, delay: &str) -> std::path::PathBuf {
    let secret = dir.join("app-secret");
    std::fs::write(&secret, format!("{APP_SECRET}\n")).expect("write secret");
    let text = format!(
        r#"
[server]
listen = "127.0.0.1:0"
shutdown_delay = "{delay}"
shutdown_grace = "5s"
[admin]
listen = "127.0.0.1:0"
[upstream]
url = "{upstream}"
[log]
format = "json"
level = "info"
[reload]
poll_interval = "0s"
watch = false
[keyrings.app]
kind = "app"
secrets = [{{ id = "current", file = "{}" }}]
[keyrings.hooks]
kind = "webhook"
secrets = [{{ id = "live", value = "{WEBHOOK_SECRET}" }}]
[[routes]]
id = "ui"
path_prefix = "/api/"
auth = "app"
keyring = "app"
cors = true
[[routes]]
id = "hooks"
path = "/webhook"
auth = "webhook"
keyring = "hooks"
"#,
        secret.display()
    );
    let path = dir.join("gateway.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

#[tokio::test]
async fn sighup_reloads_and_sigterm_exits_zero() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &upstream.url(), "0s");
    let mut process = Process::start(&config);
    let url = format!("http://{}/api/x", process.data);
    let body = app_body("usr_1", "acct_1");
    let rotated = "absec_test_after_sighup_000000000000";
    std::fs::write(dir.path().join("app-secret"), rotated).expect("rotate");
    let header = sign(&[rotated], now(), &body);
    assert_eq!(
        send(
            Method::POST,
            &url,
            &[("stripe-signature", &header)],
            body.clone()
        )
        .await
        .status,
        401,
        "not reloaded yet"
    );
    process.signal("HUP");
    process
        .wait_for_line(|line| line.contains("configuration reloaded") && line.contains("sighup"));
    assert_eq!(
        send(Method::POST, &url, &[("stripe-signature", &header)], body)
            .await
            .status,
        200
    );
    process.signal("TERM");
    assert_eq!(process.wait_exit().code(), Some(0));
    assert!(process
        .log
        .iter()
        .any(|line| line.contains("shutdown complete")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_flight_at_sigterm_completes_and_new_connections_are_then_refused() {
    let upstream = Upstream::start().await;
    upstream.behave(Behaviour {
        delay: Duration::from_millis(1500),
        ..Behaviour::default()
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &upstream.url(), "500ms");
    let mut process = Process::start(&config);
    let url = format!("http://{}/api/slow", process.data);
    let in_flight =
        tokio::spawn(async move { post_signed(&url, &app_body("usr_1", "acct_1"), &[]).await });
    deadline(async {
        while upstream.seen().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    process.signal("TERM");
    let ready = format!("http://{}/readyz", process.admin);
    deadline(async {
        while send(Method::GET, &ready, &[], "").await.status != 503 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let data = process.data.clone();
    deadline(async {
        while tokio::net::TcpStream::connect(&data).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(deadline(in_flight).await.expect("in flight").status, 200);
    assert_eq!(
        tokio::task::spawn_blocking(move || process.wait_exit())
            .await
            .expect("exit")
            .code(),
        Some(0)
    );
}

#[test]
fn a_second_signal_exits_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "builtin:echo", "60s");
    let mut process = Process::start(&config);
    process.signal("TERM");
    process.wait_for_line(|line| line.contains("draining"));
    let sent = std::time::Instant::now();
    process.signal("INT");
    let status = process.wait_exit();
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "exited {:?} after the second signal",
        sent.elapsed()
    );
    assert_eq!(status.code(), Some(1));
}

#[tokio::test]
async fn logs_carry_no_secret_signature_cookie_or_authorization() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &upstream.url(), "0s");
    let mut process = Process::start(&config);
    let body = app_body("usr_1", "acct_1");
    let header = sign(&[APP_SECRET], now(), &body);
    let v1 = header.split("v1=").nth(1).expect("v1").to_string();
    let secrets_and_values = [
        APP_SECRET,
        WEBHOOK_SECRET,
        v1.as_str(),
        "cookie-value-123",
        "Bearer token-456",
    ];
    let url = format!("http://{}/api/x", process.data);
    let extra = [
        ("cookie", "session=cookie-value-123"),
        ("authorization", "Bearer token-456"),
    ];
    let mut headers = vec![("stripe-signature", header.as_str())];
    headers.extend_from_slice(&extra);
    assert_eq!(
        send(Method::POST, &url, &headers, body.clone())
            .await
            .status,
        200
    );
    let wrong = sign(&["absec_wrong_secret_value"], now(), &body);
    headers[0].1 = wrong.as_str();
    assert_eq!(
        send(Method::POST, &url, &headers, body.clone())
            .await
            .status,
        401
    );
    let event = event_body("evt_1", "invoice.paid", true, Some("acct_1"));
    let hook = sign(&[WEBHOOK_SECRET], now(), &event);
    let hook_url = format!("http://{}/webhook", process.data);
    assert_eq!(
        send(
            Method::POST,
            &hook_url,
            &[("stripe-signature", &hook)],
            event
        )
        .await
        .status,
        200
    );
    // A head the codec refuses is answered by the gateway and logged like any other answer.
    let refused = tokio::time::timeout(Duration::from_secs(10), async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut raw = tokio::net::TcpStream::connect(&process.data)
            .await
            .expect("connect");
        raw.write_all(b"POST /api/x HTTP/1.1\r\nhost: gw\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n")
            .await
            .expect("write");
        let mut answer = Vec::new();
        raw.read_to_end(&mut answer).await.expect("read");
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .expect("answered in time");
    assert!(refused.starts_with("HTTP/1.1 400 "), "{refused}");
    process.signal("TERM");
    process.wait_exit();
    let access: Vec<serde_json::Value> = process
        .log
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|json| json["target"] == "access")
        .collect();
    assert_eq!(
        access.len(),
        4,
        "one access line per request:\n{}",
        process.log.join("\n")
    );
    // The gateway buffers access lines per worker thread and flushes buffer after buffer, so
    // lines of requests served on different threads need not come out in request order.
    let line = |route: &str, status: u16| {
        access
            .iter()
            .find(|json| json["route"] == route && json["status"] == status)
            .unwrap_or_else(|| {
                panic!(
                    "no {route} {status} access line:\n{}",
                    process.log.join("\n")
                )
            })
    };
    let allowed = line("ui", 200);
    for field in [
        "timestamp",
        "request_id",
        "route",
        "method",
        "path",
        "status",
        "duration_ms",
        "upstream_status",
        "upstream_ms",
        "auth",
        "reason",
        "account",
        "secret",
    ] {
        assert!(
            !allowed[field].is_null(),
            "access line lacks {field}: {allowed}"
        );
    }
    assert_eq!(line("ui", 401)["reason"], "signature_mismatch");
    assert_eq!(line("hooks", 200)["reason"], "ok");
    let refused = line("_none", 400);
    assert_eq!(refused["method"], "-");
    assert_eq!(refused["path"], "-");
    assert_eq!(refused["error"], "malformed_request");
    assert!(refused["request_id"]
        .as_str()
        .is_some_and(|id| id.starts_with("req_")));
    let all = process.log.join("\n");
    for needle in secrets_and_values
        .iter()
        .chain([wrong.split("v1=").nth(1).expect("v1")].iter())
    {
        assert!(!all.contains(needle), "log contains {needle:?}");
    }
}
