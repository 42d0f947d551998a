//! `check` warnings about exposure: secret files open to group or others (as ssh refuses private
//! keys), and an admin listener that is not on loopback.

use super::*;

/// The `check` run of [`valid_config`] with its secret file at `mode`.
#[cfg(unix)]
fn check_with_secret_mode(mode: u32) -> (Run, PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write(&dir, "gateway.toml", valid_config(&dir).as_bytes());
    let secret = dir.path().join("app-secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(mode)).expect("chmod");
    let out = run(&dir, &["check", "--config", text(&config)]);
    (out, config, secret)
}

#[cfg(unix)]
#[test]
fn check_warns_about_a_secret_file_others_can_read_naming_it_but_not_its_content() {
    let (out, config, secret) = check_with_secret_mode(0o644);
    assert_eq!(out.code, 0, "a warning, not an error: {}", out.all());
    let line = out
        .stdout
        .lines()
        .find(|line| line.contains("accessible to group or others"))
        .unwrap_or_else(|| panic!("no warning: {}", out.stdout));
    assert!(line.starts_with("warning: "), "{line}");
    for needle in [
        text(&config),
        "keyrings.app.secrets[0].file",
        text(&secret),
        "mode 0644",
        &format!("chmod 600 {}", text(&secret)),
    ] {
        assert!(line.contains(needle), "{needle}: {line}");
    }
    out.assert_reveals_none(&[APP_SECRET, OTHER_APP_SECRET, WEBHOOK_SECRET]);

    let (out, _, _) = check_with_secret_mode(0o600);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(!out.stdout.contains("warning"), "{}", out.stdout);
}

#[test]
fn check_warns_when_the_admin_listener_is_not_on_loopback() {
    let dir = tempfile::tempdir().expect("tempdir");
    let contents = valid_config(&dir).replace(
        "[admin]\nlisten = \"127.0.0.1:0\"",
        "[admin]\nlisten = \"0.0.0.0:0\"",
    );
    let config = write(&dir, "gateway.toml", contents.as_bytes());
    let out = run(&dir, &["check", "--config", text(&config)]);
    assert_eq!(out.code, 0, "{}", out.all());
    let warning = "admin.listen = \"0.0.0.0:0\" is not a loopback address: /metrics and POST \
                   /reload are reachable, without authentication, by anyone who can reach that \
                   address";
    assert!(out.stdout.contains(warning), "{}", out.stdout);

    let config = write(&dir, "gateway.toml", valid_config(&dir).as_bytes());
    let out = run(&dir, &["check", "--config", text(&config)]);
    assert!(!out.stdout.contains("admin.listen"), "{}", out.stdout);
}
