//! `builtin:echo`: answers with a JSON view of the request exactly as a backend would receive it
//! (method, path, query, headers after rewriting, body), so a newcomer sees what the gateway adds.

use base64::prelude::{Engine as _, BASE64_STANDARD};
use http::request::Parts;
use serde_json::{json, Map, Value};

/// The JSON body `builtin:echo` answers with (status 200) for a request that would have been
/// forwarded with `parts` and `body`.
pub(crate) fn render(parts: &Parts, body: &[u8]) -> Vec<u8> {
    let mut headers = Map::new();
    for name in parts.headers.keys() {
        let values: Vec<Value> = parts
            .headers
            .get_all(name)
            .iter()
            .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let value = if values.len() == 1 {
            values.into_iter().next().unwrap_or(Value::Null)
        } else {
            Value::Array(values)
        };
        headers.insert(name.as_str().to_string(), value);
    }
    let (body_text, body_base64) = match std::str::from_utf8(body) {
        Ok(text) => (Value::String(text.to_string()), Value::Null),
        Err(_) => (Value::Null, Value::String(BASE64_STANDARD.encode(body))),
    };
    let view = json!({
        "upstream": "builtin:echo",
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": headers,
        "body": body_text,
        "body_base64": body_base64,
    });
    let mut text = serde_json::to_vec_pretty(&view).unwrap_or_default();
    text.push(b'\n');
    text
}
