use super::*;

fn entry() -> Entry<'static> {
    Entry {
        request_id: b"req_1",
        route: "ui",
        method: "POST",
        path: b"/api/\"x\"",
        status: 200,
        duration: Duration::from_micros(1_234),
        upstream_status: Some(201),
        upstream: Some(Duration::from_micros(5)),
        auth: Some("allowed"),
        reason: Some("ok"),
        error: None,
        account: Some("acct_\u{1}1"),
        secret: Some("current"),
    }
}

#[test]
fn json_lines_parse_and_carry_every_field() {
    let mut out = Vec::new();
    json_line(&mut out, &entry());
    assert_eq!(out.last(), Some(&b'\n'));
    let json: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
    assert_eq!(json["target"], "access");
    assert_eq!(json["level"], "INFO");
    assert_eq!(json["path"], "/api/\"x\"");
    assert_eq!(json["status"], 200);
    assert_eq!(json["duration_ms"], 1.234);
    assert_eq!(json["upstream_ms"], 0.005);
    assert_eq!(json["account"], "acct_\u{1}1");
    assert!(json.get("error").is_none());
    let stamp = json["timestamp"].as_str().expect("timestamp");
    assert!(humantime::parse_rfc3339(stamp).is_ok(), "{stamp}");
}

#[test]
fn buffers_are_handed_over_full_before_they_would_regrow() {
    for format in [LogFormat::Json, LogFormat::Text] {
        let log = AccessLog::new(format);
        let mut buffer = Vec::with_capacity(CAPACITY);
        let capacity = buffer.capacity();
        let mut handed = 0;
        for _ in 0..2_000 {
            if let Some(full) = log.append(&mut buffer, &entry()) {
                assert!(full.len() >= FLUSH_AT && full.len() <= capacity);
                assert_eq!(full.capacity(), capacity, "the full buffer never grew");
                assert!(full.ends_with(b"\n"));
                handed += 1;
            }
            assert_eq!(buffer.capacity(), capacity);
        }
        assert!(handed >= 2, "{handed}");
    }
}

#[test]
fn text_lines_read_like_the_other_log_lines() {
    let mut out = Vec::new();
    text_line(&mut out, &entry());
    let line = String::from_utf8(out).expect("utf-8");
    assert!(
        line.contains("  INFO access: request_id=\"req_1\" route=\"ui\""),
        "{line}"
    );
    assert!(
        line.contains(" status=200 duration_ms=1.234 upstream_status=201"),
        "{line}"
    );
    assert!(line.ends_with(" secret=\"current\"\n"), "{line}");
}

#[test]
fn quoted_values_escape_exactly_what_json_needs_and_copy_the_rest() {
    let cases: [(&str, &str); 5] = [
        ("/api/resource", r#""/api/resource""#),
        ("", r#""""#),
        ("a\"b\\c", r#""a\"b\\c""#),
        ("line\nbreak\r\ttab", r#""line\nbreak\r\ttab""#),
        ("\u{1}x\u{7f}é", "\"\\u0001x\\u007fé\""),
    ];
    for (text, expected) in cases {
        let mut out = Vec::new();
        quoted(&mut out, text.as_bytes());
        assert_eq!(String::from_utf8(out).expect("utf-8"), expected, "{text:?}");
    }
}

proptest::proptest! {
    #[test]
    fn the_word_check_for_escapes_agrees_with_a_byte_check(
        bytes in proptest::collection::vec(
            proptest::prop_oneof![
                30 => 0x20u8..=0x7e,
                1 => proptest::num::u8::ANY,
                1 => proptest::strategy::Just(b'"'),
                1 => proptest::strategy::Just(b'\\'),
                1 => proptest::strategy::Just(0x7fu8),
                1 => proptest::strategy::Just(0x1fu8),
                1 => proptest::strategy::Just(0x80u8),
            ],
            0..40,
        ),
    ) {
        let expected = bytes.iter().copied().any(needs_escape);
        proptest::prop_assert_eq!(any_needs_escape(&bytes), expected);
    }

    #[test]
    fn integers_are_written_in_decimal(n in proptest::prop_oneof![0u64..1200, proptest::num::u64::ANY]) {
        let mut out = Vec::new();
        Value::Int(n).write(&mut out);
        proptest::prop_assert_eq!(out, n.to_string().into_bytes());
    }
}
