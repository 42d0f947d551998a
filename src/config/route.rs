//! `[[routes]]` entries → [`RouteConfig`]: ids, paths, methods, upstream and timeout; the auth
//! policy of each kind is converted in `policy.rs`.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use super::context::{is_label, upstream_target, Ctx};
use super::policy::{app_policy, none_policy, webhook_policy};
use super::raw::RawRoute;
use super::*;
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
