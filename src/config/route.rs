//! `[[routes]]` entries → [`RouteConfig`]: path, methods and the auth policy of each kind.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use super::context::{is_label, upstream_target, Ctx};
use super::raw::RawRoute;
use super::*;
use crate::auth::{AppMode, KeyringKind};
use crate::routes::{is_normal_path, PathMatch};

/// Converts one route; `base` is its key path (`routes[3]`).
pub(super) fn route(
    ctx: &Ctx<'_>,
    base: &str,
    raw: RawRoute,
    keyrings: &BTreeMap<String, KeyringConfig>,
) -> Result<RouteConfig, ConfigError> {
    let path = path(ctx, base, raw.path.as_deref(), raw.path_prefix.as_deref())?;
    let methods = methods(ctx, base, raw.methods.as_deref())?;
    let cors = raw.cors.unwrap_or(false);
    let auth = match raw.auth.as_str() {
        "none" => none_policy(ctx, base, &raw)?,
        "app" => RouteAuth::App(app_policy(ctx, base, &raw, keyrings)?),
        "webhook" => RouteAuth::Webhook(webhook_policy(ctx, base, &raw, keyrings)?),
        other => {
            return Err(ctx.err(
                format!("{base}.auth"),
                format!("{other:?} is not one of \"app\", \"webhook\", \"none\""),
            ))
        }
    };
    let upstream = match raw.upstream.as_deref() {
        Some(text) => Some(upstream_target(ctx, &format!("{base}.upstream"), text)?),
        None => None,
    };
    let timeout = match raw.timeout.as_deref() {
        Some(text) => {
            Some(ctx.positive_duration(&format!("{base}.timeout"), Some(text), Duration::ZERO)?)
        }
        None => None,
    };
    Ok(RouteConfig {
        id: raw.id,
        path,
        methods,
        auth,
        cors,
        upstream,
        timeout,
    })
}

fn path(
    ctx: &Ctx<'_>,
    base: &str,
    exact: Option<&str>,
    prefix: Option<&str>,
) -> Result<PathMatch, ConfigError> {
    let (key, text, matcher): (_, _, fn(String) -> PathMatch) = match (exact, prefix) {
        (Some(p), None) => ("path", p, PathMatch::Exact),
        (None, Some(p)) => ("path_prefix", p, PathMatch::Prefix),
        _ => return Err(ctx.err(base, "set exactly one of path, path_prefix")),
    };
    let key = format!("{base}.{key}");
    if !text.starts_with('/') {
        return Err(ctx.err(key, format!("{text:?} must start with '/'")));
    }
    // No '%' at all: a route's path is compared with request paths byte for byte, never decoded.
    if !is_normal_path(text) || text.contains('%') {
        return Err(ctx.err(key, format!("{text:?} is not a normalised path (no '.', '..' or empty segments; no '%', ';', '\\', '?', '#', spaces or non-ASCII characters)")));
    }
    Ok(matcher(text.to_string()))
}

fn methods(
    ctx: &Ctx<'_>,
    base: &str,
    raw: Option<&[String]>,
) -> Result<Option<Vec<http::Method>>, ConfigError> {
    let Some(list) = raw else { return Ok(None) };
    if list.is_empty() {
        return Err(ctx.err(
            format!("{base}.methods"),
            "an empty list would refuse every request; omit the key to allow every method",
        ));
    }
    let mut methods = Vec::with_capacity(list.len());
    for (index, text) in list.iter().enumerate() {
        let method = parse_method(text).ok_or_else(|| {
            ctx.err(
                format!("{base}.methods[{index}]"),
                format!("{text:?} is not an upper-case HTTP method such as \"POST\""),
            )
        })?;
        if !methods.contains(&method) {
            methods.push(method);
        }
    }
    Ok(Some(methods))
}

/// Keys that belong to another kind of route are errors, not silently ignored.
fn reject_keys(
    ctx: &Ctx<'_>,
    base: &str,
    auth: &str,
    keys: &[(&str, bool)],
) -> Result<(), ConfigError> {
    match keys.iter().find(|(_, present)| *present) {
        Some((key, _)) => Err(ctx.err(
            format!("{base}.{key}"),
            format!("does not apply to auth = {auth:?} routes"),
        )),
        None => Ok(()),
    }
}

fn none_policy(ctx: &Ctx<'_>, base: &str, raw: &RawRoute) -> Result<RouteAuth, ConfigError> {
    if raw.cors == Some(true) {
        return Err(ctx.err(format!("{base}.cors"), "cors = true on an auth = \"none\" route would let any web page call it (CSRF); CORS is only for app routes"));
    }
    reject_keys(
        ctx,
        base,
        "none",
        &[
            ("keyring", raw.keyring.is_some()),
            ("app_signature", raw.app_signature.is_some()),
            ("require_roles_any", raw.require_roles_any.is_some()),
            ("require_roles_all", raw.require_roles_all.is_some()),
            ("replay", raw.replay.is_some()),
            ("events", raw.events.is_some()),
            ("livemode", raw.livemode.is_some()),
            ("dedupe", raw.dedupe.is_some()),
            ("dedupe_window", raw.dedupe_window.is_some()),
        ],
    )?;
    Ok(RouteAuth::None)
}

fn keyring_of(
    ctx: &Ctx<'_>,
    base: &str,
    name: Option<&str>,
    kind: KeyringKind,
    keyrings: &BTreeMap<String, KeyringConfig>,
) -> Result<String, ConfigError> {
    let key = format!("{base}.keyring");
    let name = name.ok_or_else(|| {
        ctx.err(
            &key,
            format!("auth = {:?} routes need a keyring", kind.as_str()),
        )
    })?;
    let keyring = keyrings
        .get(name)
        .ok_or_else(|| ctx.err(&key, format!("no keyring named {name:?} in [keyrings]")))?;
    if keyring.kind != kind {
        return Err(ctx.err(&key, format!(
            "keyring {name:?} holds {} secrets ({}); auth = {:?} routes need a {:?} keyring ({})",
            keyring.kind.as_str(), keyring.kind.prefix(), kind.as_str(), kind.as_str(), kind.prefix()
        )));
    }
    Ok(name.to_string())
}

fn roles(ctx: &Ctx<'_>, key: String, raw: Option<&[String]>) -> Result<Vec<String>, ConfigError> {
    let Some(list) = raw else {
        return Ok(Vec::new());
    };
    if list.is_empty() {
        return Err(ctx.err(
            key,
            "an empty list is ambiguous; omit the key to require no role",
        ));
    }
    if let Some(bad) = list
        .iter()
        .find(|role| role.trim().is_empty() || role.contains(','))
    {
        return Err(ctx.err(key, format!("{bad:?} is not a role id")));
    }
    Ok(list.to_vec())
}

fn app_policy(
    ctx: &Ctx<'_>,
    base: &str,
    raw: &RawRoute,
    keyrings: &BTreeMap<String, KeyringConfig>,
) -> Result<AppPolicy, ConfigError> {
    reject_keys(
        ctx,
        base,
        "app",
        &[
            ("events", raw.events.is_some()),
            ("livemode", raw.livemode.is_some()),
            ("dedupe", raw.dedupe.is_some()),
            ("dedupe_window", raw.dedupe_window.is_some()),
        ],
    )?;
    let keyring = keyring_of(
        ctx,
        base,
        raw.keyring.as_deref(),
        KeyringKind::App,
        keyrings,
    )?;
    let mode = match raw.app_signature.as_deref() {
        None => AppMode::RawBodyOrDefault,
        Some(text) => AppMode::parse(text).ok_or_else(|| {
            ctx.err(
                format!("{base}.app_signature"),
                format!(
                    "{text:?} is not one of \"raw_body\", \"default\", \"raw_body_or_default\""
                ),
            )
        })?,
    };
    let roles_any = roles(
        ctx,
        format!("{base}.require_roles_any"),
        raw.require_roles_any.as_deref(),
    )?;
    let roles_all = roles(
        ctx,
        format!("{base}.require_roles_all"),
        raw.require_roles_all.as_deref(),
    )?;
    if mode == AppMode::Default && !(roles_any.is_empty() && roles_all.is_empty()) {
        return Err(ctx.err(format!("{base}.app_signature"), "roles are only signed in raw_body mode: requiring roles needs app_signature = \"raw_body\" or \"raw_body_or_default\""));
    }
    let replay_reject = match raw.replay.as_deref() {
        None | Some("allow") => false,
        Some("reject") => true,
        Some(other) => {
            return Err(ctx.err(
                format!("{base}.replay"),
                format!("{other:?} is not one of \"reject\", \"allow\""),
            ))
        }
    };
    Ok(AppPolicy {
        keyring,
        mode,
        roles_any,
        roles_all,
        replay_reject,
    })
}

fn webhook_policy(
    ctx: &Ctx<'_>,
    base: &str,
    raw: &RawRoute,
    keyrings: &BTreeMap<String, KeyringConfig>,
) -> Result<WebhookPolicy, ConfigError> {
    if raw.cors == Some(true) {
        return Err(ctx.err(
            format!("{base}.cors"),
            "webhooks come from Stripe's servers, never from a browser: cors does not apply",
        ));
    }
    reject_keys(
        ctx,
        base,
        "webhook",
        &[
            ("app_signature", raw.app_signature.is_some()),
            ("require_roles_any", raw.require_roles_any.is_some()),
            ("require_roles_all", raw.require_roles_all.is_some()),
            ("replay", raw.replay.is_some()),
        ],
    )?;
    let keyring = keyring_of(
        ctx,
        base,
        raw.keyring.as_deref(),
        KeyringKind::Webhook,
        keyrings,
    )?;
    let mut events = Vec::new();
    for (index, text) in raw.events.iter().flatten().enumerate() {
        events.push(event_pattern(text).ok_or_else(|| {
            ctx.err(format!("{base}.events[{index}]"), format!("{text:?} is not an event type such as \"invoice.paid\", a \"prefix.*\" pattern or \"*\""))
        })?);
    }
    if raw.events.as_ref().is_some_and(Vec::is_empty) {
        return Err(ctx.err(
            format!("{base}.events"),
            "an empty list would drop every event; omit the key to forward all",
        ));
    }
    let livemode = match raw.livemode.as_deref().unwrap_or("any") {
        "live" => LivemodeFilter::Live,
        "test" => LivemodeFilter::Test,
        "any" => LivemodeFilter::Any,
        other => {
            return Err(ctx.err(
                format!("{base}.livemode"),
                format!("{other:?} is not one of \"live\", \"test\", \"any\""),
            ))
        }
    };
    let dedupe_window = ctx.positive_duration(
        &format!("{base}.dedupe_window"),
        raw.dedupe_window.as_deref(),
        Duration::from_secs(72 * 3600),
    )?;
    Ok(WebhookPolicy {
        keyring,
        events,
        livemode,
        dedupe: raw.dedupe.unwrap_or(false),
        dedupe_window,
    })
}

fn event_pattern(text: &str) -> Option<EventPattern> {
    if text == "*" {
        return Some(EventPattern::Any);
    }
    let (name, wildcard) = match text.strip_suffix(".*") {
        Some(prefix) => (prefix, true),
        None => (text, false),
    };
    let valid = !name.is_empty()
        && name.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        });
    match (valid, wildcard) {
        (false, _) => None,
        (true, true) => Some(EventPattern::Prefix(format!("{name}."))),
        (true, false) => Some(EventPattern::Exact(name.to_string())),
    }
}

pub(super) fn routes(
    ctx: &Ctx<'_>,
    raw: Vec<RawRoute>,
    keyrings: &BTreeMap<String, KeyringConfig>,
) -> Result<Vec<RouteConfig>, ConfigError> {
    let mut ids = HashSet::new();
    let mut paths = HashSet::new();
    let mut routes = Vec::with_capacity(raw.len());
    for (index, entry) in raw.into_iter().enumerate() {
        let base = format!("routes[{index}]");
        if !is_label(&entry.id) {
            return Err(ctx.err(
                format!("{base}.id"),
                "route ids may only use letters, digits, '_', '-' and '.' (at most 64)",
            ));
        }
        if !ids.insert(entry.id.clone()) {
            return Err(ctx.err(
                format!("{base}.id"),
                format!("duplicate route id {:?}", entry.id),
            ));
        }
        let converted = route(ctx, &base, entry, keyrings)?;
        // Backends that route case-insensitively would see one route where the gateway sees two.
        if !paths.insert(match &converted.path {
            PathMatch::Exact(p) => PathMatch::Exact(p.to_ascii_lowercase()),
            PathMatch::Prefix(p) => PathMatch::Prefix(p.to_ascii_lowercase()),
        }) {
            let shown = match &converted.path {
                PathMatch::Exact(p) => format!("path {p:?}"),
                PathMatch::Prefix(p) => format!("path_prefix {p:?}"),
            };
            return Err(ctx.err(
                &base,
                format!("duplicate {shown}: another route already matches it (paths are compared ignoring ASCII case)"),
            ));
        }
        routes.push(converted);
    }
    Ok(routes)
}

fn parse_method(text: &str) -> Option<Method> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_uppercase()) {
        return None;
    }
    Method::from_bytes(text.as_bytes()).ok()
}
