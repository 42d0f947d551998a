use super::*;

fn body(text: &str) -> Result<AppBody<'_>, Rejection> {
    parse_app_body(text.as_bytes())
}

fn malformed(text: &str) {
    assert_eq!(body(text), Err(Rejection::MalformedBody), "{text}");
}

#[test]
fn reads_ids_and_borrows_unescaped_strings() {
    let parsed = body(r#"{"user_id":"usr_1","account_id":"acct_\u0031","x":[1,{"y":null}]}"#);
    let parsed = parsed.expect("valid body");
    assert!(matches!(parsed.user_id, Cow::Borrowed("usr_1")));
    assert!(matches!(parsed.account_id, Cow::Owned(ref id) if id == "acct_1"));
    assert_eq!(parsed.roles, None);
}

#[test]
fn requires_string_ids() {
    malformed(r#"{"account_id":"acct_1"}"#);
    malformed(r#"{"user_id":"usr_1"}"#);
    malformed(r#"{"user_id":1,"account_id":"acct_1"}"#);
    malformed(r#"{"user_id":null,"account_id":"acct_1"}"#);
    malformed(r#"{"user_id":"usr_1","account_id":["acct_1"]}"#);
    let empty = body(r#"{"user_id":"","account_id":""}"#).map(|b| b.user_id.into_owned());
    assert_eq!(empty, Ok(String::new()));
}

#[test]
fn requires_one_object() {
    for text in [
        "",
        " ",
        "[]",
        "\"x\"",
        "null",
        "1",
        "{}",
        "{",
        "{\"user_id\":\"u\",}",
    ] {
        malformed(text);
    }
    malformed(r#"{"user_id":"u","account_id":"a"} x"#);
    malformed(r#"{"user_id":"u","account_id":"a"}{}"#);
    assert!(body(" \n{\"user_id\":\"u\",\"account_id\":\"a\"}\n ").is_ok());
}

#[test]
fn rejects_invalid_utf8_and_bom() {
    assert_eq!(
        parse_app_body(b"{\"user_id\":\"\xff\",\"account_id\":\"a\"}"),
        Err(Rejection::MalformedBody)
    );
    assert_eq!(
        parse_app_body(b"\xef\xbb\xbf{\"user_id\":\"u\",\"account_id\":\"a\"}"),
        Err(Rejection::MalformedBody)
    );
    malformed(r#"{"user_id":"\ud800","account_id":"a"}"#);
}

#[test]
fn rejects_duplicate_keys_at_any_depth() {
    malformed(r#"{"user_id":"u","account_id":"a","user_id":"v"}"#);
    malformed(r#"{"user_id":"u","account_id":"a","x":1,"x":1}"#);
    malformed(r#"{"user_id":"u","account_id":"a","x":{"b":1,"b":2}}"#);
    malformed(r#"{"user_id":"u","account_id":"a","x":[[{"b":{"c":1,"c":1}}]]}"#);
    malformed(r#"{"user_id":"u","account_id":"a","\u0061":1,"a":2}"#);
    malformed(r#"{"a":1,"\u0061":2,"user_id":"u","account_id":"a"}"#);
    malformed(r#"{"user_id":"u","account_\u0069d":"b","account_id":"a"}"#);
    malformed(r#"{"user_id":"u","account_id":"a","stripe_roles":[{"id":"x","id":"y"}]}"#);
    assert!(body(r#"{"user_id":"u","account_id":"a","x":{"b":1},"y":{"b":1}}"#).is_ok());
}

#[test]
fn finds_duplicates_in_wide_objects() {
    let fields: Vec<String> = (0..200).map(|i| format!("\"k{i}\":{i}")).collect();
    let wide = format!(r#"{{"user_id":"u","account_id":"a",{}}}"#, fields.join(","));
    assert!(body(&wide).is_ok());
    let duplicated = format!(
        r#"{{"user_id":"u","account_id":"a",{},"k3":0}}"#,
        fields.join(",")
    );
    malformed(&duplicated);
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let arrays = "[".repeat(100_000);
    malformed(&arrays);
    let nested = format!(
        r#"{{"user_id":"u","account_id":"a","x":{}}}"#,
        "[".repeat(100_000)
    );
    malformed(&nested);
    let objects = format!(
        r#"{{"user_id":"u","account_id":"a","x":{}}}"#,
        "{\"k\":".repeat(100_000)
    );
    malformed(&objects);
    let fine = format!(
        r#"{{"user_id":"u","account_id":"a","x":{}{}}}"#,
        "[".repeat(100),
        "]".repeat(100)
    );
    assert!(body(&fine).is_ok());
}

#[test]
fn reads_stripe_roles() {
    let parsed = body(
        r#"{"stripe_roles":[{"id":"admin","name":"Administrator","type":"builtIn"},{"name":"Legacy","type":"custom"}],"user_id":"u","account_id":"a"}"#,
    );
    let ids: Option<Vec<Option<String>>> = parsed.expect("valid roles").roles.map(|roles| {
        roles
            .into_iter()
            .map(|r| r.id.map(Cow::into_owned))
            .collect()
    });
    assert_eq!(ids, Some(vec![Some("admin".to_owned()), None]));
    let empty = body(r#"{"stripe_roles":[],"user_id":"u","account_id":"a"}"#).map(|b| b.roles);
    assert_eq!(empty, Ok(Some(Vec::new())));
}

#[test]
fn rejects_malformed_stripe_roles() {
    for roles in [
        r#""admin""#,
        "null",
        "{}",
        r#"["admin"]"#,
        r#"[{"id":1}]"#,
        r#"[{"id":null}]"#,
        "[[]]",
    ] {
        malformed(&format!(
            r#"{{"stripe_roles":{roles},"user_id":"u","account_id":"a"}}"#
        ));
    }
}

#[test]
fn default_payload_is_compact_in_js_order() {
    let payload = default_payload("usr_K6yd2CbXLO9A5G", "acct_1JSkf6FRwUQjTSJE");
    assert_eq!(
        payload,
        br#"{"user_id":"usr_K6yd2CbXLO9A5G","account_id":"acct_1JSkf6FRwUQjTSJE"}"#
    );
}

#[test]
fn default_payload_escapes_like_json_stringify() {
    let cases = [
        ("q\"b\\s/", r#"q\"b\\s/"#),
        ("\n\r\t\u{8}\u{c}", r"\n\r\t\b\f"),
        ("\u{0}\u{1}\u{1f}\u{7f}", "\\u0000\\u0001\\u001f\u{7f}"),
        ("\u{2028}\u{2029}é😀", "\u{2028}\u{2029}é😀"),
    ];
    for (raw, escaped) in cases {
        let expected = format!(r#"{{"user_id":"{escaped}","account_id":"a"}}"#);
        assert_eq!(
            String::from_utf8(default_payload(raw, "a")),
            Ok(expected),
            "{raw:?}"
        );
    }
}

#[test]
fn default_payload_round_trips_through_the_strict_parser() {
    let user_id = "u\"\\\n\u{1}\u{2028}é/";
    let payload = default_payload(user_id, "acct_x");
    let parsed =
        parse_app_body(&payload).map(|b| (b.user_id.into_owned(), b.account_id.into_owned()));
    assert_eq!(parsed, Ok((user_id.to_owned(), "acct_x".to_owned())));
}

#[test]
fn flat_bodies_are_read_in_one_pass_and_borrowed() {
    let text = " {\"account_id\" : \"acct_1\",\n\"x\":\"\u{7f}é\", \"user_id\":\"usr_1\"}\t";
    let parsed = flat_app_body(text).expect("a flat body");
    assert!(matches!(parsed.user_id, Cow::Borrowed("usr_1")));
    assert!(matches!(parsed.account_id, Cow::Borrowed("acct_1")));
    assert_eq!(Ok(parsed), parse_app_body_strict(text.as_bytes()));
}

#[test]
fn what_a_flat_read_cannot_decide_goes_to_the_strict_reader() {
    for text in [
        r#"{"user_id":"u","account_id":"a","user_id":"v"}"#,
        r#"{"user_id":"u\u0041","account_id":"a"}"#,
        "{\"user_id\":\"u\u{1}\",\"account_id\":\"a\"}",
        r#"{"user_id":"u","account_id":"a","stripe_roles":[]}"#,
        r#"{"user_id":"u","account_id":"a","n":1}"#,
        r#"{"user_id":"u","account_id":"a",}"#,
        r#"{"user_id":"u","account_id":"a"}x"#,
        r#"{"user_id":"u"}"#,
        r#"{"a":"","b":"","c":"","d":"","e":"","f":"","g":"","user_id":"u","account_id":"a"}"#,
        "{}",
        "",
    ] {
        assert_eq!(flat_app_body(text), None, "{text}");
    }
}

/// A JSON-ish object written by hand: keys may repeat, strings may hold escapes, quotes and
/// control characters, values may be other than strings, whitespace anywhere.
fn jsonish_object() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let key = prop_oneof![
        Just("user_id".to_owned()),
        Just("account_id".to_owned()),
        Just("stripe_roles".to_owned()),
        Just("user\\u005fid".to_owned()),
        "[a-z_]{0,4}",
    ];
    let value = prop_oneof![
        "[ -~é\u{7f}\u{1}\\\\\"]{0,8}".prop_map(|text| format!("\"{text}\"")),
        Just("1".to_owned()),
        Just("[]".to_owned()),
        Just("[{\"id\":\"admin\"}]".to_owned()),
        Just("null".to_owned()),
    ];
    let space = prop_oneof![
        Just(""),
        Just(" "),
        Just("\n"),
        Just("\t\r"),
        Just("\u{a0}")
    ];
    (
        proptest::collection::vec((key, value, space.clone()), 0..11),
        space.clone(),
        space,
        any::<bool>(),
    )
        .prop_map(|(fields, before, after, trailing_comma)| {
            let fields: Vec<String> = fields
                .into_iter()
                .map(|(key, value, space)| format!("{space}\"{key}\"{space}:{space}{value}{space}"))
                .collect();
            let comma = if trailing_comma { "," } else { "" };
            format!("{before}{{{}{comma}}}{after}", fields.join(","))
        })
}

proptest::proptest! {
    #[test]
    fn the_one_pass_reading_decides_as_the_strict_reader(text in jsonish_object()) {
        let flat = flat_app_body(&text);
        let strict = parse_app_body_strict(text.as_bytes());
        if let Some(flat) = &flat {
            proptest::prop_assert_eq!(Ok(flat), strict.as_ref(), "{}", text);
        }
        proptest::prop_assert_eq!(parse_app_body(text.as_bytes()), strict, "{}", text);
    }
}

proptest::proptest! {
    #[test]
    fn the_word_scan_stops_where_a_byte_scan_does(
        bytes in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::strategy::Just(b'"'),
                proptest::strategy::Just(b'\\'),
                0u8..0x20,
                0x20u8..=0xff,
                proptest::strategy::Just(0x7fu8),
                proptest::strategy::Just(0x80u8),
            ],
            0..40,
        ),
        filler in 0usize..24,
    ) {
        // Mostly plain bytes before the stop, so that words without a stop are exercised.
        let mut input = vec![b'a'; filler];
        input.extend_from_slice(&bytes);
        let expected = input
            .iter()
            .position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20);
        proptest::prop_assert_eq!(string_stop(&input), expected);
    }
}
