//! The command line (SPEC §4) through the built binary: `check`, `sign`, `verify`, exit codes, and
//! the public Stripe vectors mapped one to one onto `verify`'s flags.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;
use stripe_app_gateway::auth::compute_signature;
use stripe_app_gateway::secret::Secret;

mod sign_verify;
mod vectors;
mod warnings;

const BIN: &str = env!("CARGO_BIN_EXE_stripe-app-gateway");
const DEADLINE: Duration = Duration::from_secs(20);
const APP_SECRET: &str = "absec_cli_current_0123456789abcdef";
const OTHER_APP_SECRET: &str = "absec_cli_other_0123456789abcdef";
const WEBHOOK_SECRET: &str = "whsec_cli_live_0123456789abcdef";
const T: i64 = 1_767_225_600;

/// What one run of the binary printed and returned.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn first_line(&self) -> &str {
        self.stdout.lines().next().unwrap_or("")
    }

    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    fn assert_reveals_none(&self, needles: &[&str]) {
        let all = self.all();
        for needle in needles {
            assert!(!all.contains(needle), "output reveals {needle}:\n{all}");
        }
    }
}

/// Runs the binary in `dir` with `args`, killed if it outlives [`DEADLINE`].
fn run_in(dir: &Path, args: &[&str]) -> Run {
    let child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("STRIPE_APP_GATEWAY_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the binary");
    let pid = child.id();
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let output: Output = match result.recv_timeout(DEADLINE) {
        Ok(output) => output.expect("binary output"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("{args:?} did not finish within {DEADLINE:?}");
        }
    };
    Run {
        code: output.status.code().expect("exit code"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn run(dir: &tempfile::TempDir, args: &[&str]) -> Run {
    run_in(dir.path(), args)
}

fn write(dir: &tempfile::TempDir, name: &str, contents: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, contents).expect("write");
    path
}

fn text(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// A valid configuration whose app secret is in a file in `dir`.
fn valid_config(dir: &tempfile::TempDir) -> String {
    let secret = write(dir, "app-secret", format!("{APP_SECRET}\n").as_bytes());
    format!(
        r#"
[server]
listen = "127.0.0.1:0"

[admin]
listen = "127.0.0.1:0"

[upstream]
url = "builtin:echo"

[keyrings.app]
kind = "app"
secrets = [
  {{ id = "current", file = "{secret}" }},
  {{ id = "previous", value = "{OTHER_APP_SECRET}", not_after = "2999-01-01T00:00:00Z" }},
]

[keyrings.hooks]
kind = "webhook"
secrets = [{{ id = "live", value = "{WEBHOOK_SECRET}" }}]

[[routes]]
id = "ui"
path_prefix = "/api/"
methods = ["POST"]
auth = "app"
keyring = "app"
cors = true

[[routes]]
id = "hooks"
path = "/webhook"
auth = "webhook"
keyring = "hooks"

[[routes]]
id = "health"
path = "/health"
auth = "none"
"#,
        secret = text(&secret)
    )
}

#[test]
fn check_warns_about_secrets_expiring_within_a_day_or_expired() {
    let dir = tempfile::tempdir().expect("tempdir");
    let soon = humantime::format_rfc3339_seconds(
        std::time::SystemTime::now() + std::time::Duration::from_secs(3600),
    );
    let contents = valid_config(&dir).replace("2999-01-01T00:00:00Z", &soon.to_string());
    let config = write(&dir, "gateway.toml", contents.as_bytes());
    let out = run(&dir, &["check", "--config", text(&config)]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("expires within 24 h"), "{}", out.stdout);
    let contents = valid_config(&dir).replace("2999-01-01T00:00:00Z", "2001-01-01T00:00:00Z");
    let config = write(&dir, "gateway.toml", contents.as_bytes());
    let out = run(&dir, &["check", "--config", text(&config)]);
    assert_eq!(
        out.code, 0,
        "an expired secret is a warning: the others still verify"
    );
    assert!(out.stdout.contains("EXPIRED"), "{}", out.stdout);
}

#[test]
fn check_accepts_a_valid_config_and_prints_a_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write(&dir, "gateway.toml", valid_config(&dir).as_bytes());
    let out = run(&dir, &["check", "--config", text(&config)]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("ok"), "{}", out.stdout);
    for expected in [
        "keyring app",
        "keyring hooks",
        "secret current",
        "secret previous",
        "route ui",
        "route hooks",
        "route health",
    ] {
        assert!(out.stdout.contains(expected), "{expected}: {}", out.stdout);
    }
    out.assert_reveals_none(&[APP_SECRET, OTHER_APP_SECRET, WEBHOOK_SECRET]);
    // The flag before the command works too, and so does the environment variable.
    assert_eq!(run(&dir, &["--config", text(&config), "check"]).code, 0);
    let status = Command::new(BIN)
        .arg("check")
        .current_dir(dir.path())
        .env("STRIPE_APP_GATEWAY_CONFIG", &config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn check_refuses_each_bad_config_with_78_naming_file_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let valid = valid_config(&dir);
    let leaked = "whsec_must_never_be_printed_0123456789";
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "unknown key",
            valid.replace("[server]\n", "[server]\nlisten_port = 1\n"),
            "server.listen_port",
        ),
        (
            "bad duration",
            valid.replace(
                "url = \"builtin:echo\"",
                "url = \"builtin:echo\"\ntimeout = \"soon\"",
            ),
            "upstream.timeout",
        ),
        (
            "missing keyring",
            valid.replace("keyring = \"app\"", "keyring = \"nope\""),
            "routes[0].keyring",
        ),
        (
            "wrong secret prefix",
            valid.replace(OTHER_APP_SECRET, leaked),
            "keyrings.app.secrets[1]",
        ),
        (
            "empty secret",
            valid.replace(OTHER_APP_SECRET, "   "),
            "keyrings.app.secrets[1]",
        ),
        (
            "missing secret file",
            valid.replace("app-secret\"", "no-such-secret\""),
            "keyrings.app.secrets[0].file",
        ),
        (
            "unset secret variable",
            valid.replace(
                &format!("value = \"{OTHER_APP_SECRET}\""),
                "env = \"STRIPE_APP_GATEWAY_TEST_UNSET_SECRET\"",
            ),
            "keyrings.app.secrets[1].env",
        ),
        (
            "tolerance 0",
            format!("{valid}\n[signature]\ntolerance = \"0s\"\n"),
            "signature.tolerance",
        ),
        (
            "cors on auth none",
            valid.replace("auth = \"none\"", "auth = \"none\"\ncors = true"),
            "routes[2].cors",
        ),
        (
            "duplicate route id",
            valid.replace("id = \"hooks\"\npath", "id = \"ui\"\npath"),
            "routes[1].id",
        ),
        (
            "duplicate route path",
            format!(
                "{valid}\n[[routes]]\nid = \"ui2\"\npath_prefix = \"/api/\"\nauth = \"none\"\n"
            ),
            "routes[3]",
        ),
    ];
    for (name, config, key) in &cases {
        assert_ne!(config, &valid, "{name}: the case must change the config");
        let path = write(&dir, "bad.toml", config.as_bytes());
        let out = run(&dir, &["check", "--config", text(&path)]);
        assert_eq!(out.code, 78, "{name}: {}", out.all());
        let file = if *name == "missing secret file" {
            dir.path().join("no-such-secret")
        } else {
            path.clone()
        };
        assert!(
            out.stderr.contains(text(&file)),
            "{name}: stderr does not name {}: {}",
            file.display(),
            out.stderr
        );
        assert!(
            out.stderr.contains(key),
            "{name}: stderr does not name {key}: {}",
            out.stderr
        );
        out.assert_reveals_none(&[APP_SECRET, OTHER_APP_SECRET, WEBHOOK_SECRET, leaked]);
    }
}

#[test]
fn the_shipped_default_config_checks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = run_in(root, &["--config", "config/gateway.toml", "check"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let demo =
        std::fs::read_to_string(root.join("config/secrets/demo-app-secret")).expect("demo secret");
    out.assert_reveals_none(&[demo.trim()]);
}
