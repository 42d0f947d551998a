//! Strict JSON for signed bodies (rules 21–22, 25) and the JS-compatible rebuild of the default
//! app payload (rule 22).
//!
//! Strict means: UTF-8, exactly one JSON value, an object at the top, and no duplicate keys at
//! any depth (compared after unescaping). `serde_json::Value` silently keeps the last duplicate,
//! so the readers here are hand-written visitors; they borrow strings from the body where
//! serde_json allows it (no escapes) and rely on serde_json's recursion limit, so deep nesting
//! is an error, never a stack overflow.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::Rejection;

/// Objects with more keys than this switch from a linear scan to a hash set, so that duplicate
/// detection stays linear on hostile bodies.
const LINEAR_KEY_SCAN_LIMIT: usize = 16;

/// A role from `stripe_roles`; `id` is optional in Stripe's RoleDefinition. `name` and `type`
/// are read (and checked for duplicate keys) but not kept: comparisons use `id` (rule 25).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role<'a> {
    /// The role id (`admin`, `developer`, a custom role id, …), when present.
    pub id: Option<Cow<'a, str>>,
}

/// The fields of an app request body the gateway reads. Other fields are checked for strictness
/// and otherwise left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppBody<'a> {
    /// `user_id` (a string, possibly empty).
    pub user_id: Cow<'a, str>,
    /// `account_id` (a string, possibly empty).
    pub account_id: Cow<'a, str>,
    /// `stripe_roles` when the key is present (`Some(vec![])` for an empty array).
    pub roles: Option<Vec<Role<'a>>>,
}

/// Body must be UTF-8, one JSON value that is an object, NO duplicate keys at ANY depth (compared
/// after unescaping), `user_id` and `account_id` strings, `stripe_roles` (optional) an array of
/// objects whose `id` (optional) is a string. Anything else → `Err(Rejection::MalformedBody)`.
pub fn parse_app_body(body: &[u8]) -> Result<AppBody<'_>, Rejection> {
    let text = std::str::from_utf8(body).map_err(|_| Rejection::MalformedBody)?;
    match flat_app_body(text) {
        Some(parsed) => Ok(parsed),
        None => parse_app_body_strict(body),
    }
}

/// [`parse_app_body`] without the one-pass reading of flat bodies: every body through the
/// strict reader.
pub(crate) fn parse_app_body_strict(body: &[u8]) -> Result<AppBody<'_>, Rejection> {
    parse_strict(body, ObjectSeed(AppBodyVisitor))
}

/// Most keys a body read by [`flat_app_body`] may have.
const FLAT_KEYS: usize = 8;

/// The shape nearly every app body has, read in one pass: one object of at most
/// [`FLAT_KEYS`] distinct keys whose values are all strings, with no escape and no control
/// character in any key or value, and both ids present. What this accepts, the strict reader
/// accepts with the same result (a property test holds them together); anything else (`None`)
/// goes to the strict reader, which decides.
fn flat_app_body(text: &str) -> Option<AppBody<'_>> {
    let mut keys = [""; FLAT_KEYS];
    let mut count = 0usize;
    let (mut user_id, mut account_id) = (None, None);
    let mut at = json_whitespace(text, 0);
    (text.as_bytes().get(at) == Some(&b'{')).then_some(())?;
    at = json_whitespace(text, at.saturating_add(1));
    loop {
        let (key, next) = plain_string(text, at)?;
        if keys.get(..count)?.contains(&key) {
            return None;
        }
        // Past `FLAT_KEYS` there is no slot: the strict reader takes it.
        *keys.get_mut(count)? = key;
        count = count.saturating_add(1);
        at = json_whitespace(text, next);
        (text.as_bytes().get(at) == Some(&b':')).then_some(())?;
        at = json_whitespace(text, at.saturating_add(1));
        let (value, next) = plain_string(text, at)?;
        match key {
            "user_id" => user_id = Some(value),
            "account_id" => account_id = Some(value),
            "stripe_roles" => return None,
            _ => {}
        }
        at = json_whitespace(text, next);
        match text.as_bytes().get(at) {
            Some(b',') => at = json_whitespace(text, at.saturating_add(1)),
            Some(b'}') => break,
            _ => return None,
        }
    }
    (json_whitespace(text, at.saturating_add(1)) == text.len()).then_some(())?;
    Some(AppBody {
        user_id: Cow::Borrowed(user_id?),
        account_id: Cow::Borrowed(account_id?),
        roles: None,
    })
}

/// Where the first `"`, `\\` or control character (U+0000–U+001F) in `bytes` is.
fn string_stop(bytes: &[u8]) -> Option<usize> {
    use crate::words::{below, equal, find};
    find(
        bytes,
        |word| equal(word, b'"') | equal(word, b'\\') | below(word, 0x20),
        |byte| byte == b'"' || byte == b'\\' || byte < 0x20,
    )
}

/// Where the JSON whitespace starting at `at` ends.
fn json_whitespace(text: &str, at: usize) -> usize {
    let rest = text.as_bytes().get(at..).unwrap_or_default();
    let spaces = rest
        .iter()
        .take_while(|&&byte| matches!(byte, b' ' | b'\t' | b'\n' | b'\r'))
        .count();
    at.saturating_add(spaces)
}

/// The string starting at `at` and where it ends, if it has no escape and no control character
/// (its text is then its value).
fn plain_string(text: &str, at: usize) -> Option<(&str, usize)> {
    let rest = text.as_bytes().get(at..)?;
    let (&b'"', rest) = rest.split_first()? else {
        return None;
    };
    // One pass: the closing quote ends it; an escape or a control character first, and the
    // strict reader decides.
    let len = string_stop(rest)?;
    (rest.get(len) == Some(&b'"')).then_some(())?;
    let start = at.saturating_add(1);
    let end = start.saturating_add(len);
    Some((text.get(start..end)?, end.saturating_add(1)))
}

/// Exactly JS `JSON.stringify({user_id, account_id})`: `{"user_id":"…","account_id":"…"}` with
/// JS escaping (only `"`, `\` and U+0000–U+001F escaped; `\b \t \n \f \r` short forms, other
/// controls `\u00xx` lowercase; `/`, U+2028/2029 and non-ASCII raw).
pub fn default_payload(user_id: &str, account_id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        32_usize
            .saturating_add(user_id.len())
            .saturating_add(account_id.len()),
    );
    out.extend_from_slice(br#"{"user_id":"#);
    push_js_string(&mut out, user_id);
    out.extend_from_slice(br#","account_id":"#);
    push_js_string(&mut out, account_id);
    out.push(b'}');
    out
}

/// Runs `seed` over `body` as one strict JSON document: UTF-8 first, then the value, then
/// nothing but whitespace. Every failure is `MalformedBody`.
pub(crate) fn parse_strict<'de, S>(body: &'de [u8], seed: S) -> Result<S::Value, Rejection>
where
    S: DeserializeSeed<'de>,
{
    let text = std::str::from_utf8(body).map_err(|_| Rejection::MalformedBody)?;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = seed
        .deserialize(&mut deserializer)
        .map_err(|_| Rejection::MalformedBody)?;
    deserializer.end().map_err(|_| Rejection::MalformedBody)?;
    Ok(value)
}

/// Requires a JSON object and hands it to the wrapped visitor.
pub(crate) struct ObjectSeed<V>(pub(crate) V);

impl<'de, V: Visitor<'de>> DeserializeSeed<'de> for ObjectSeed<V> {
    type Value = V::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        deserializer.deserialize_map(self.0)
    }
}

/// A JSON string, borrowed when it has no escapes. Also used for object keys.
pub(crate) struct StrSeed;

impl<'de> DeserializeSeed<'de> for StrSeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(StrSeed)
    }
}

impl<'de> Visitor<'de> for StrSeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(text))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(text.to_owned()))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(text))
    }
}

/// Any JSON value, discarded, but still held to the no-duplicate-keys rule at every depth.
pub(crate) struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(StrictValue)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(StrictValue)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut keys = KeySet::new();
        while let Some(key) = map.next_key_seed(StrSeed)? {
            keys.insert_new(key)?;
            map.next_value_seed(StrictValue)?;
        }
        Ok(())
    }
}

/// The keys seen so far in one object: the first [`LINEAR_KEY_SCAN_LIMIT`] inline (no
/// allocation for the objects signed bodies hold), then a hash set.
#[allow(
    clippy::large_enum_variant,
    reason = "lives on the stack for one object; the inline keys are what saves the allocation"
)]
pub(crate) enum KeySet<'de> {
    Few {
        keys: [Cow<'de, str>; LINEAR_KEY_SCAN_LIMIT],
        len: usize,
    },
    Many(HashSet<Cow<'de, str>>),
}

impl<'de> KeySet<'de> {
    pub(crate) fn new() -> Self {
        KeySet::Few {
            keys: std::array::from_fn(|_| Cow::Borrowed("")),
            len: 0,
        }
    }

    /// Records `key`; a key already seen (after unescaping) is an error.
    pub(crate) fn insert_new<E: de::Error>(&mut self, key: Cow<'de, str>) -> Result<(), E> {
        let fresh = match self {
            KeySet::Few { keys, len } => {
                let seen = keys.get(..*len).unwrap_or_default();
                if seen.contains(&key) {
                    false
                } else if let Some(slot) = keys.get_mut(*len) {
                    *slot = key;
                    *len = len.saturating_add(1);
                    true
                } else {
                    let mut set: HashSet<Cow<'de, str>> =
                        keys.iter_mut().map(std::mem::take).collect();
                    set.insert(key);
                    *self = KeySet::Many(set);
                    true
                }
            }
            KeySet::Many(set) => set.insert(key),
        };
        if fresh {
            Ok(())
        } else {
            Err(E::custom("duplicate key"))
        }
    }
}

struct AppBodyVisitor;

impl<'de> Visitor<'de> for AppBodyVisitor {
    type Value = AppBody<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with string user_id and account_id")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut keys = KeySet::new();
        let (mut user_id, mut account_id, mut roles) = (None, None, None);
        while let Some(key) = map.next_key_seed(StrSeed)? {
            let field = AppField::of(&key);
            keys.insert_new(key)?;
            match field {
                AppField::UserId => user_id = Some(map.next_value_seed(StrSeed)?),
                AppField::AccountId => account_id = Some(map.next_value_seed(StrSeed)?),
                AppField::Roles => roles = Some(map.next_value_seed(RolesSeed)?),
                AppField::Other => map.next_value_seed(StrictValue)?,
            }
        }
        Ok(AppBody {
            user_id: user_id.ok_or_else(|| de::Error::missing_field("user_id"))?,
            account_id: account_id.ok_or_else(|| de::Error::missing_field("account_id"))?,
            roles,
        })
    }
}

/// The app body keys the gateway reads.
enum AppField {
    UserId,
    AccountId,
    Roles,
    Other,
}

impl AppField {
    fn of(key: &str) -> Self {
        match key {
            "user_id" => AppField::UserId,
            "account_id" => AppField::AccountId,
            "stripe_roles" => AppField::Roles,
            _ => AppField::Other,
        }
    }
}

struct RolesSeed;

impl<'de> DeserializeSeed<'de> for RolesSeed {
    type Value = Vec<Role<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(RolesSeed)
    }
}

impl<'de> Visitor<'de> for RolesSeed {
    type Value = Vec<Role<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of role objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut roles = Vec::new();
        while let Some(role) = seq.next_element_seed(ObjectSeed(RoleVisitor))? {
            roles.push(role);
        }
        Ok(roles)
    }
}

struct RoleVisitor;

impl<'de> Visitor<'de> for RoleVisitor {
    type Value = Role<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a role object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut keys = KeySet::new();
        let mut id = None;
        while let Some(key) = map.next_key_seed(StrSeed)? {
            let is_id = key == "id";
            keys.insert_new(key)?;
            if is_id {
                id = Some(map.next_value_seed(StrSeed)?);
            } else {
                map.next_value_seed(StrictValue)?;
            }
        }
        Ok(Role { id })
    }
}

/// Appends `text` as a JSON string the way JS `JSON.stringify` writes it.
fn push_js_string(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    // Byte-wise is sound: every byte of a multi-byte UTF-8 sequence is ≥ 0x80, so only ASCII
    // bytes can need escaping and everything else is copied unchanged.
    for &byte in text.as_bytes() {
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0x00..=0x1f => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                hex_digit(byte >> 4),
                hex_digit(byte),
            ]),
            _ => out.push(byte),
        }
    }
    out.push(b'"');
}

/// The lowercase hex digit of the low four bits of `nibble`.
#[allow(
    clippy::indexing_slicing,
    reason = "nibble & 0xf is below 16, the length of the table"
)]
fn hex_digit(nibble: u8) -> u8 {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    HEX[usize::from(nibble & 0xf)]
}

#[cfg(test)]
mod tests;
