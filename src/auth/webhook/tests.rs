use super::*;
use crate::auth::signature::signature_header;
use crate::auth::{KeyringKind, KeyringSecret};
use crate::secret::Secret;

fn event(text: &str) -> Result<WebhookEvent, Rejection> {
    parse_event(text.as_bytes())
}

#[test]
fn reads_routing_fields() {
    let parsed = event(
        r#"{"id":"evt_1","object":"event","type":"account.application.authorized","livemode":true,"account":"acct_9","data":{"object":{"id":"ca_1"}}}"#,
    );
    let expected = WebhookEvent {
        id: "evt_1".into(),
        event_type: "account.application.authorized".into(),
        livemode: Some(true),
        account: Some("acct_9".into()),
    };
    assert_eq!(parsed, Ok(expected));
}

#[test]
fn account_is_optional_or_null() {
    let without = event(r#"{"id":"evt_1","type":"t","livemode":false}"#).map(|e| e.account);
    assert_eq!(without, Ok(None));
    let null = event(r#"{"id":"evt_1","type":"t","livemode":false,"account":null}"#);
    assert_eq!(null.map(|e| e.account), Ok(None));
}

#[test]
fn rejects_missing_or_mistyped_fields() {
    for text in [
        r#"{"type":"t","livemode":false}"#,
        r#"{"id":"evt_1","livemode":false}"#,
        r#"{"id":1,"type":"t","livemode":false}"#,
        r#"{"id":"evt_1","type":null,"livemode":false}"#,
        r#"{"id":"evt_1","type":"t","livemode":"false"}"#,
        r#"{"id":"evt_1","type":"t","livemode":0}"#,
        r#"{"id":"evt_1","type":"t","livemode":false,"account":7}"#,
    ] {
        assert_eq!(event(text), Err(Rejection::MalformedBody), "{text}");
    }
}

#[test]
fn rejects_non_objects_duplicates_and_garbage() {
    for text in [
        "",
        " ",
        "[]",
        "not json",
        r#"{"id":"evt_1","type":"t","livemode":false,"id":"evt_2"}"#,
        r#"{"id":"evt_1","type":"t","livemode":false,"data":{"object":{"a":1,"\u0061":2}}}"#,
        r#"{"id":"evt_1","type":"t","livemode":false} trailing"#,
    ] {
        assert_eq!(event(text), Err(Rejection::MalformedBody), "{text}");
    }
    assert_eq!(
        parse_event(b"{\"id\":\"\xff\"}"),
        Err(Rejection::MalformedBody)
    );
}

#[test]
fn verification_never_depends_on_json() {
    let secret = Secret::new("whsec_x");
    let ring = Keyring::new(
        KeyringKind::Webhook,
        vec![KeyringSecret::new("s0", &secret, None)],
    );
    for body in [&b" "[..], b"\xff\xfe not json", b"\xef\xbb\xbf{}"] {
        let header = signature_header(&[&secret], 100, body);
        assert_eq!(
            verify_webhook(&header, body, &ring, 100, 300).map(|v| v.timestamp),
            Ok(100)
        );
    }
}

#[test]
fn livemode_is_optional_but_typed() {
    assert_eq!(
        event(r#"{"id":"evt_1","type":"t"}"#).map(|e| e.livemode),
        Ok(None)
    );
    assert_eq!(
        event(r#"{"id":"evt_1","type":"t","livemode":false}"#).map(|e| e.livemode),
        Ok(Some(false))
    );
}
