//! `sign` and `verify`: round trips, failures, tolerance forms, `--explain` hygiene, usage errors.

use super::*;

/// `sign --kind app` for `usr_1`/`acct_1` at [`T`]; returns the header and the body file.
fn sign_app(dir: &tempfile::TempDir) -> (String, PathBuf) {
    let body = dir.path().join("body.json");
    let out = run(
        dir,
        &[
            "sign",
            "--kind",
            "app",
            "--secret",
            APP_SECRET,
            "--user-id",
            "usr_1",
            "--account-id",
            "acct_1",
            "--payload",
            r#"{"amount": 100}"#,
            "--timestamp",
            &T.to_string(),
            "--body-out",
            text(&body),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    out.assert_reveals_none(&[APP_SECRET]);
    (out.first_line().to_string(), body)
}

/// `verify --kind app` of `header` (if any) over `body` at `now`, plus `extra` flags.
fn verify_app(
    dir: &tempfile::TempDir,
    header: Option<&str>,
    body: &Path,
    now: i64,
    extra: &[&str],
) -> Run {
    let now = now.to_string();
    let header = header.map(|h| format!("--header={h}"));
    let mut args = vec![
        "verify",
        "--kind",
        "app",
        "--secret",
        APP_SECRET,
        "--body-file",
        text(body),
        "--now",
        &now,
    ];
    args.extend(header.as_deref());
    args.extend_from_slice(extra);
    run(dir, &args)
}

#[test]
fn sign_then_verify_round_trips_and_reports_each_failure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (header, body) = sign_app(&dir);
    let bytes = std::fs::read(&body).expect("body");
    assert_eq!(
        bytes,
        br#"{"amount":100,"user_id":"usr_1","account_id":"acct_1"}"#
    );
    let v1 = compute_signature(&Secret::new(APP_SECRET), T, &bytes);
    assert_eq!(header, format!("t={T},v1={v1}"));

    let out = verify_app(&dir, Some(&header), &body, T + 10, &[]);
    assert_eq!((out.first_line(), out.code), ("ok", 0), "{}", out.all());

    let tampered = write(
        &dir,
        "tampered.json",
        &String::from_utf8(bytes.clone())
            .expect("utf8")
            .replace("100", "999")
            .into_bytes(),
    );
    let out = verify_app(&dir, Some(&header), &tampered, T + 10, &[]);
    assert_eq!((out.first_line(), out.code), ("signature_mismatch", 1));
    let out = verify_app(&dir, None, &body, T + 10, &[]);
    assert_eq!((out.first_line(), out.code), ("missing_header", 1));
    let out = verify_app(&dir, Some(""), &body, T + 10, &[]);
    assert_eq!((out.first_line(), out.code), ("missing_header", 1));
    let out = verify_app(&dir, Some(&format!("t={T}")), &body, T, &[]);
    assert_eq!((out.first_line(), out.code), ("no_v1_signature", 1));
    let out = verify_app(&dir, Some("t=abc,v1=00"), &body, T, &[]);
    assert_eq!((out.first_line(), out.code), ("malformed_header", 1));
    let out = verify_app(&dir, Some(&header), &body, T + 86_400, &[]);
    assert_eq!((out.first_line(), out.code), ("timestamp_too_old", 1));
    let out = verify_app(&dir, Some(&header), &body, T - 86_400, &[]);
    assert_eq!((out.first_line(), out.code), ("timestamp_in_future", 1));
    let empty = write(&dir, "empty", b"");
    let out = verify_app(&dir, Some(&header), &empty, T, &[]);
    assert_eq!((out.first_line(), out.code), ("empty_payload", 1));
    // Only the default payload signed: mode B accepts, raw_body alone does not.
    let extra = write(
        &dir,
        "extra.json",
        br#"{"x":1,"user_id":"u","account_id":"a"}"#,
    );
    let default_header = format!(
        "t={T},v1={}",
        compute_signature(
            &Secret::new(APP_SECRET),
            T,
            br#"{"user_id":"u","account_id":"a"}"#
        )
    );
    let out = verify_app(&dir, Some(&default_header), &extra, T, &["--explain"]);
    assert_eq!(out.first_line(), "ok");
    assert!(
        out.stdout.contains("reconstructed_default"),
        "{}",
        out.stdout
    );
    let raw_only = ["--app-signature", "raw_body"];
    let out = verify_app(&dir, Some(&default_header), &extra, T, &raw_only);
    assert_eq!((out.first_line(), out.code), ("signature_mismatch", 1));
}

#[test]
fn verify_tolerance_accepts_seconds_and_durations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (header, body) = sign_app(&dir);
    for tolerance in ["5m", "300s", "300"] {
        let flags = ["--tolerance", tolerance];
        let out = verify_app(&dir, Some(&header), &body, T + 300, &flags);
        assert_eq!((out.first_line(), out.code), ("ok", 0), "{tolerance}");
        let out = verify_app(&dir, Some(&header), &body, T + 301, &flags);
        assert_eq!(out.first_line(), "timestamp_too_old", "{tolerance}");
    }
    let out = verify_app(&dir, Some(&header), &body, T + 3000, &["--tolerance", "1h"]);
    assert_eq!(out.first_line(), "ok");
    for bad in ["0", "-5", "soon"] {
        let out = verify_app(
            &dir,
            Some(&header),
            &body,
            T,
            &[&format!("--tolerance={bad}")],
        );
        assert_eq!(out.code, 2, "--tolerance {bad}: {}", out.all());
    }
}

#[test]
fn verify_explain_reveals_no_secret_and_no_expected_signature() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (header, body) = sign_app(&dir);
    let bytes = std::fs::read(&body).expect("body");
    let expected_other = compute_signature(&Secret::new(OTHER_APP_SECRET), T, &bytes);
    let expected_default = compute_signature(
        &Secret::new(OTHER_APP_SECRET),
        T,
        br#"{"user_id":"usr_1","account_id":"acct_1"}"#,
    );
    let ok = compute_signature(&Secret::new(APP_SECRET), T, &bytes);
    let now = T.to_string();
    let header_flag = format!("--header={header}");
    let base = [
        "verify",
        "--kind",
        "app",
        "--body-file",
        text(&body),
        "--now",
        &now,
        &header_flag,
        "--explain",
    ];
    let out = run(&dir, &[&base[..], &["--secret", APP_SECRET]].concat());
    assert_eq!((out.first_line(), out.code), ("ok", 0), "{}", out.all());
    assert!(out.stdout.lines().count() > 1, "--explain adds lines");
    out.assert_reveals_none(&[APP_SECRET, &ok]);
    let wrong = ["--secret", OTHER_APP_SECRET];
    let out = run(&dir, &[&base[..], &wrong].concat());
    assert_eq!((out.first_line(), out.code), ("signature_mismatch", 1));
    out.assert_reveals_none(&[OTHER_APP_SECRET, &expected_other, &expected_default]);
    assert!(out.stdout.contains("sha256"), "{}", out.stdout);
    // A keyring of two secrets: the matching one is named by id, never by value.
    let both = ["--secret", OTHER_APP_SECRET, "--secret", APP_SECRET];
    let out = run(&dir, &[&base[..], &both].concat());
    assert_eq!(out.first_line(), "ok");
    assert!(out.stdout.contains("secret-2"), "{}", out.stdout);
    out.assert_reveals_none(&[APP_SECRET, OTHER_APP_SECRET, &ok, &expected_other]);
}

#[test]
fn sign_webhook_signs_the_exact_file_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let event = b"{\n  \"id\": \"evt_1\",\n  \"type\": \"invoice.paid\"\n}\n";
    let body = write(&dir, "event.json", event);
    let out = run(
        &dir,
        &[
            "sign",
            "--kind",
            "webhook",
            "--secret",
            WEBHOOK_SECRET,
            "--body-file",
            text(&body),
            "--timestamp",
            &T.to_string(),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let v1 = compute_signature(&Secret::new(WEBHOOK_SECRET), T, event);
    assert_eq!(out.stdout, format!("t={T},v1={v1}\n"));
    let header = format!("--header={}", out.first_line());
    let verify = [
        "verify",
        "--kind",
        "webhook",
        "--secret",
        WEBHOOK_SECRET,
        "--body-file",
        text(&body),
        &header,
        "--now",
        &(T + 1).to_string(),
    ];
    let out = run(&dir, &verify);
    assert_eq!((out.first_line(), out.code), ("ok", 0), "{}", out.all());
    // --secret-file reads (and trims) the secret like the config does.
    let secret = write(&dir, "whsec", format!("{WEBHOOK_SECRET}\n").as_bytes());
    let out = run(
        &dir,
        &[
            "sign",
            "--kind",
            "webhook",
            "--secret-file",
            text(&secret),
            "--body-file",
            text(&body),
            "--timestamp",
            &T.to_string(),
        ],
    );
    assert_eq!(out.stdout, format!("t={T},v1={v1}\n"));
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = write(&dir, "body", b"{}");
    let cases: [&[&str]; 7] = [
        &["no-such-command"],
        &["sign"],
        &["sign", "--kind", "nope", "--secret", APP_SECRET],
        &["verify", "--kind", "app", "--body-file", text(&body)],
        &["verify", "--kind", "app", "--secret", APP_SECRET],
        &[
            "verify",
            "--kind",
            "app",
            "--secret",
            WEBHOOK_SECRET,
            "--body-file",
            text(&body),
        ],
        &[
            "verify",
            "--kind",
            "app",
            "--secret",
            APP_SECRET,
            "--body-file",
            text(&body),
            "--app-signature",
            "sometimes",
        ],
    ];
    for args in cases {
        let out = run(&dir, args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.all());
        assert!(!out.stderr.is_empty(), "{args:?}: says why on stderr");
        out.assert_reveals_none(&[APP_SECRET, WEBHOOK_SECRET]);
    }
    assert_eq!(run(&dir, &["--help"]).code, 0);
}
