//! The auth policy of a route, by kind: `none` (no keys of the other kinds), `app` (keyring,
//! signature mode, roles, replay) and `webhook` (keyring, event and livemode filters, dedupe).

use std::collections::BTreeMap;
use std::time::Duration;

use super::context::Ctx;
use super::raw::RawRoute;
use super::*;
use crate::auth::{AppMode, KeyringKind};

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

pub(super) fn none_policy(
    ctx: &Ctx<'_>,
    base: &str,
    raw: &RawRoute,
) -> Result<RouteAuth, ConfigError> {
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

pub(super) fn app_policy(
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
    let mode = app_mode(ctx, base, raw.app_signature.as_deref())?;
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
    let replay_reject = replay_reject(ctx, base, raw.replay.as_deref())?;
    Ok(AppPolicy {
        keyring,
        mode,
        roles_any,
        roles_all,
        replay_reject,
    })
}

pub(super) fn webhook_policy(
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
    let events = events(ctx, base, raw.events.as_deref())?;
    let livemode = livemode(ctx, base, raw.livemode.as_deref())?;
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

/// `app_signature`, default `raw_body_or_default`.
fn app_mode(ctx: &Ctx<'_>, base: &str, text: Option<&str>) -> Result<AppMode, ConfigError> {
    let Some(text) = text else {
        return Ok(AppMode::RawBodyOrDefault);
    };
    AppMode::parse(text).ok_or_else(|| {
        ctx.err(
            format!("{base}.app_signature"),
            format!("{text:?} is not one of \"raw_body\", \"default\", \"raw_body_or_default\""),
        )
    })
}

/// `replay`: `"reject"` or `"allow"` (the default).
fn replay_reject(ctx: &Ctx<'_>, base: &str, text: Option<&str>) -> Result<bool, ConfigError> {
    match text {
        None | Some("allow") => Ok(false),
        Some("reject") => Ok(true),
        Some(other) => Err(ctx.err(
            format!("{base}.replay"),
            format!("{other:?} is not one of \"reject\", \"allow\""),
        )),
    }
}

/// `events`: omitted forwards every event; an empty list is an error.
fn events(
    ctx: &Ctx<'_>,
    base: &str,
    list: Option<&[String]>,
) -> Result<Vec<EventPattern>, ConfigError> {
    if list.is_some_and(<[String]>::is_empty) {
        return Err(ctx.err(
            format!("{base}.events"),
            "an empty list would drop every event; omit the key to forward all",
        ));
    }
    let patterns = list.into_iter().flatten().enumerate();
    patterns
        .map(|(index, text)| {
            event_pattern(text).ok_or_else(|| {
                ctx.err(format!("{base}.events[{index}]"), format!("{text:?} is not an event type such as \"invoice.paid\", a \"prefix.*\" pattern or \"*\""))
            })
        })
        .collect()
}

/// `livemode`: `"live"`, `"test"` or `"any"` (the default).
fn livemode(ctx: &Ctx<'_>, base: &str, text: Option<&str>) -> Result<LivemodeFilter, ConfigError> {
    match text.unwrap_or("any") {
        "live" => Ok(LivemodeFilter::Live),
        "test" => Ok(LivemodeFilter::Test),
        "any" => Ok(LivemodeFilter::Any),
        other => Err(ctx.err(
            format!("{base}.livemode"),
            format!("{other:?} is not one of \"live\", \"test\", \"any\""),
        )),
    }
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
