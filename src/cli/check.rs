//! `check`: load everything a start would load, print what it found.

use std::path::Path;

use super::{load, now_or};
use crate::config::{Config, RouteAuth};
use crate::reload::EXPIRY_WARNING;
use crate::routes::PathMatch;

pub(super) fn check(path: &Path) -> u8 {
    let config = match load(path) {
        Ok(config) => config,
        Err(code) => return code,
    };
    print_summary(&config, now_or(None));
    0
}

/// Prints the listeners, keyrings and routes of `config` with each expiry as of `now`, then its
/// warnings.
fn print_summary(config: &Config, now: i64) {
    say!("config {}: ok", config.path.display());
    say!(
        "listen {}  admin {}  upstream {}",
        config.server.listen,
        config.admin.listen,
        config.upstream.target
    );
    print_tls(config, now);
    print_keyrings(config, now);
    print_routes(config);
    for warning in &config.warnings {
        say!("warning: {warning}");
    }
}

/// One line per TLS listener: its certificate and until when it is valid.
fn print_tls(config: &Config, now: i64) {
    for (listener, tls) in config.tls_listeners() {
        let at = tls.leaf.not_after;
        let expiry = if at <= now {
            "EXPIRED at"
        } else {
            "valid until"
        };
        say!(
            "tls {listener}: {} (subject {}, serial {}), {expiry} {}",
            tls.cert_file.display(),
            tls.leaf.subject,
            tls.leaf.serial,
            rfc3339(at)
        );
    }
}

/// One line per keyring, then one per secret: where it came from and its expiry.
fn print_keyrings(config: &Config, now: i64) {
    for (name, keyring) in &config.keyrings {
        say!(
            "keyring {name} ({}, {} secret(s))",
            keyring.kind.as_str(),
            keyring.secrets.len()
        );
        for secret in &keyring.secrets {
            let expiry = match secret.not_after {
                None => "no expiry".to_string(),
                Some(at) if at <= now => format!("EXPIRED at {} (no longer verifies)", rfc3339(at)),
                Some(at) if at - now <= EXPIRY_WARNING => {
                    format!("expires within 24 h, at {}", rfc3339(at))
                }
                Some(at) => format!("valid until {}", rfc3339(at)),
            };
            say!("  secret {} from {}: {expiry}", secret.id, secret.source);
        }
    }
}

/// One line per route: its path, methods, auth and CORS.
fn print_routes(config: &Config) {
    for route in &config.routes {
        let path = match &route.path {
            PathMatch::Exact(p) => format!("path {p}"),
            PathMatch::Prefix(p) => format!("path_prefix {p}"),
        };
        let auth = match &route.auth {
            RouteAuth::None => "auth none".to_string(),
            RouteAuth::App(app) => {
                format!("auth app (keyring {}, {})", app.keyring, app.mode.as_str())
            }
            RouteAuth::Webhook(hook) => format!("auth webhook (keyring {})", hook.keyring),
        };
        let methods = route
            .methods
            .as_ref()
            .map_or("any method".to_string(), |m| {
                m.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(",")
            });
        say!(
            "route {}: {path}, {methods}, {auth}{}",
            route.id,
            if route.cors { ", cors" } else { "" }
        );
    }
}

fn rfc3339(unix: i64) -> String {
    let time =
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(unix).unwrap_or(0));
    humantime::format_rfc3339_seconds(time).to_string()
}
