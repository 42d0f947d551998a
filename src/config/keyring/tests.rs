//! Keyrings and their secrets: sources, prefixes, expiry, and errors that name the config file,
//! the key and the secret file.

use std::path::Path;

use crate::config::tests::{base, error, parse, APP_SECRET};

#[test]
fn secrets_are_checked_and_never_quoted() {
    let err = error(&base().replace(APP_SECRET, "whsec_wrong_family"));
    assert_eq!(err.key, "keyrings.app.secrets[0]");
    assert!(err.reason.contains("absec_"));
    assert!(!err.to_string().contains("wrong_family"), "{err}");
    let err = error(&base().replace(APP_SECRET, "   "));
    assert!(err.reason.contains("empty"), "{err}");
    let err = error(&base().replace(
        &format!("value = \"{APP_SECRET}\""),
        "env = \"UNSET_VARIABLE\"",
    ));
    assert_eq!(err.key, "keyrings.app.secrets[0].env");
    let err = error(&base().replace(
        &format!("value = \"{APP_SECRET}\""),
        "file = \"/nonexistent/secret\"",
    ));
    assert_eq!(err.file, Path::new("test.toml"));
    assert_eq!(err.key, "keyrings.app.secrets[0].file");
    assert!(err.to_string().contains("/nonexistent/secret"), "{err}");
}

/// Whatever makes a secret file unreadable (missing, a directory, not UTF-8), the error names
/// the config file, the key and the secret file.
#[test]
fn unreadable_secret_files_name_config_key_and_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let not_utf8 = dir.path().join("binary-secret");
    std::fs::write(&not_utf8, b"absec_\xff\xfe").expect("write");
    let missing = dir.path().join("missing-secret");
    for file in [missing.as_path(), dir.path(), not_utf8.as_path()] {
        let err = error(&base().replace(
            &format!("value = \"{APP_SECRET}\""),
            &format!("file = \"{}\"", file.display()),
        ));
        let shown = err.to_string();
        assert!(shown.starts_with("test.toml: "), "{shown}");
        assert!(shown.contains("keyrings.app.secrets[0].file"), "{shown}");
        assert!(shown.contains(&file.display().to_string()), "{shown}");
    }
}

#[test]
fn env_secrets_are_trimmed_and_not_after_parsed() {
    let text = base().replace(
        &format!("{{ id = \"current\", value = \"{APP_SECRET}\" }}"),
        &format!("{{ id = \"current\", value = \"{APP_SECRET}\" }}, {{ id = \"previous\", env = \"PREVIOUS\", not_after = \"2026-11-23T10:00:00Z\" }}"),
    );
    let config = parse(&text).expect("valid");
    let secrets = &config.keyrings["app"].secrets;
    assert_eq!(secrets[1].value.expose(), format!("{APP_SECRET}_old"));
    assert_eq!(secrets[1].not_after, Some(1_795_428_000));
    let err = error(&text.replace("2026-11-23T10:00:00Z", "tomorrow"));
    assert_eq!(err.key, "keyrings.app.secrets[1].not_after");
}

#[cfg(unix)]
#[test]
fn secret_files_open_to_group_or_others_are_warned_about_without_their_content() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("app-secret");
    std::fs::write(&file, format!("{APP_SECRET}\n")).expect("write");
    let text = base().replace(
        &format!("value = \"{APP_SECRET}\""),
        &format!("file = {:?}", file.display().to_string()),
    );
    for (mode, warned) in [
        (0o644, true),
        (0o640, true),
        (0o604, true),
        (0o600, false),
        (0o400, false),
    ] {
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let warnings = parse(&text).expect("valid").warnings.join("\n");
        assert_eq!(
            warnings.contains("accessible to group or others"),
            warned,
            "{mode:o}: {warnings}"
        );
        if warned {
            for needle in [
                "test.toml",
                "keyrings.app.secrets[0].file",
                &format!("{mode:04o}"),
            ] {
                assert!(warnings.contains(needle), "{needle}: {warnings}");
            }
            assert!(
                warnings.contains(&format!("chmod 600 {}", file.display())),
                "{warnings}"
            );
            assert!(!warnings.contains(APP_SECRET), "{warnings}");
        }
    }
}
