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
