//! `json_body`: the strict JSON readers (rules 21–22, 25) against `serde_json::Value`.
//!
//! Strict parsing accepts a subset of JSON: whatever it accepts, `serde_json` reads to the same
//! fields; and a document `serde_json` writes (which cannot repeat a key) is refused by the strict
//! readers only when its fields have the wrong shape.

use serde_json::{Map, Value};

use crate::auth::{parse_app_body, parse_event, AppBody, WebhookEvent};

/// The app-body and event readers on the input, each compared with `serde_json`'s reading of
/// the input and of its re-serialization.
pub fn json_body(data: &[u8]) {
    let value: Option<Value> = serde_json::from_slice(data).ok();
    let app = parse_app_body(data).ok();
    // The one-pass reading of flat bodies decides exactly as the strict reader does.
    assert_eq!(
        parse_app_body(data),
        crate::auth::json::parse_app_body_strict(data),
        "{data:?}"
    );
    let event = parse_event(data).ok();
    if app.is_some() || event.is_some() {
        let object = value.as_ref().and_then(Value::as_object);
        let object = object.unwrap_or_else(|| panic!("strict accepted non-object {data:?}"));
        if let Some(app) = &app {
            assert_eq!(Some(app_fields(app)), expected_app(object), "{data:?}");
        }
        if let Some(event) = &event {
            assert_eq!(Some(event), expected_event(object).as_ref(), "{data:?}");
        }
    }
    // Re-serialized, the document has no duplicate keys: only the field shapes decide.
    let Some(Value::Object(object)) = value else {
        return;
    };
    let unique = serde_json::to_vec(&object).unwrap_or_default();
    let app_again = parse_app_body(&unique).ok().map(|body| app_fields(&body));
    assert_eq!(app_again, expected_app(&object), "app fields of {data:?}");
    let event_again = parse_event(&unique).ok();
    assert_eq!(
        event_again,
        expected_event(&object),
        "event fields of {data:?}"
    );
}

/// `user_id`, `account_id` and the role ids (`None` per role without an id), owned.
pub(super) type AppFields = (String, String, Option<Vec<Option<String>>>);

/// The fields an [`AppBody`] holds, owned, for comparison.
pub(super) fn app_fields(body: &AppBody<'_>) -> AppFields {
    let roles = body.roles.as_ref().map(|roles| {
        roles
            .iter()
            .map(|role| role.id.as_ref().map(|id| id.to_string()))
            .collect()
    });
    (body.user_id.to_string(), body.account_id.to_string(), roles)
}

/// What the strict app reader must return for a duplicate-free `object` (rule 21).
fn expected_app(object: &Map<String, Value>) -> Option<AppFields> {
    let user_id = object.get("user_id")?.as_str()?.to_owned();
    let account_id = object.get("account_id")?.as_str()?.to_owned();
    let roles = match object.get("stripe_roles") {
        None => None,
        Some(Value::Array(roles)) => Some(
            roles
                .iter()
                .map(|role| match role.as_object()?.get("id") {
                    None => Some(None),
                    Some(id) => id.as_str().map(|id| Some(id.to_owned())),
                })
                .collect::<Option<Vec<_>>>()?,
        ),
        Some(_) => return None,
    };
    Some((user_id, account_id, roles))
}

/// What the strict event reader must return for a duplicate-free `object` (rule 16).
fn expected_event(object: &Map<String, Value>) -> Option<WebhookEvent> {
    let livemode = match object.get("livemode") {
        None => None,
        Some(value) => Some(value.as_bool()?),
    };
    let account = match object.get("account") {
        None | Some(Value::Null) => None,
        Some(value) => Some(value.as_str()?.to_owned()),
    };
    Some(WebhookEvent {
        id: object.get("id")?.as_str()?.to_owned(),
        event_type: object.get("type")?.as_str()?.to_owned(),
        livemode,
        account,
    })
}
