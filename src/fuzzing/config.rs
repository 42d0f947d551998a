//! `config`: TOML text → validated [`Config`]. The loader returns errors, never panics; a
//! config it accepts holds its documented guarantees, and the snapshot can be compiled from it.

use std::collections::HashSet;
use std::path::Path;

use crate::auth::KeyringKind;
use crate::config::{Config, PathMatch, RouteAuth};
use crate::routes::Router;
use crate::snapshot::IdentityHeaders;

/// The name the fuzzed text is loaded under; every error must name it.
const FILE: &str = "fuzz/gateway.toml";

/// Loads the input (UTF-8) as a configuration file, twice, and checks the outcome is the same
/// both times; an error names the file, a configuration that loads keeps its invariants.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if names_outside_file(text) {
        return;
    }
    let path = Path::new(FILE);
    let first = Config::from_toml(path, text, &environment);
    let second = Config::from_toml(path, text, &environment);
    match (first, second) {
        (Ok(config), Ok(again)) => {
            check_valid(&config);
            assert_eq!(config.routes.len(), again.routes.len());
            assert_eq!(config.warnings, again.warnings);
        }
        (Err(error), Err(again)) => {
            let message = error.to_string();
            assert_eq!(message, again.to_string());
            assert!(message.contains(FILE), "{message}");
        }
        (first, second) => panic!("{text:?} loads once as {first:?}, once as {second:?}"),
    }
}

/// A fixed environment for `env = "…"` secrets (the real one would make runs differ).
fn environment(name: &str) -> Option<String> {
    match name {
        "APP_SECRET" => Some("absec_fuzz0000000000000000000000000000000".into()),
        "WEBHOOK_SECRET" => Some("whsec_fuzz0000000000000000000000000000000".into()),
        "BLANK" => Some("  ".into()),
        _ => None,
    }
}

/// Whether a `…file` key names a path outside the working directory. The loader reads what
/// the operator names; the harness keeps the fuzzer off devices such as `/dev/zero`, which would
/// only measure how long reading forever takes.
fn names_outside_file(text: &str) -> bool {
    fn walk(key: &str, value: &toml::Value) -> bool {
        match value {
            toml::Value::String(text) => {
                key.ends_with("file") && (text.starts_with('/') || text.contains(".."))
            }
            toml::Value::Array(items) => items.iter().any(|item| walk(key, item)),
            toml::Value::Table(table) => table.iter().any(|(key, value)| walk(key, value)),
            _ => false,
        }
    }
    toml::from_str::<toml::Table>(text)
        .is_ok_and(|table| table.iter().any(|(key, value)| walk(key, value)))
}

/// The guarantees a loaded [`Config`] gives the rest of the gateway.
fn check_valid(config: &Config) {
    assert!(config.tolerance_secs > 0);
    assert!(config.server.max_buffered_bytes >= config.server.max_body_bytes);
    for (name, keyring) in &config.keyrings {
        assert!(!keyring.secrets.is_empty(), "keyring {name} is empty");
        for secret in &keyring.secrets {
            assert!(
                secret.value.expose().starts_with(keyring.kind.prefix()),
                "{name}"
            );
        }
    }
    let mut ids = HashSet::new();
    for route in &config.routes {
        assert!(ids.insert(route.id.as_str()), "route id {} twice", route.id);
        let (keyring, kind) = match &route.auth {
            RouteAuth::None => continue,
            RouteAuth::App(policy) => (&policy.keyring, KeyringKind::App),
            RouteAuth::Webhook(policy) => (&policy.keyring, KeyringKind::Webhook),
        };
        let found = config
            .keyrings
            .get(keyring.as_str())
            .map(|keyring| keyring.kind);
        assert_eq!(found, Some(kind), "route {}", route.id);
    }
    // Compiling the snapshot's pieces must not panic: they `expect` what config validated.
    IdentityHeaders::new(&config.identity.header_prefix);
    let router = Router::new(config.routes.iter().map(|route| &route.path));
    // Paths are unique (ignoring case), so each route's own path finds that route.
    for (index, route) in config.routes.iter().enumerate() {
        let (PathMatch::Exact(path) | PathMatch::Prefix(path)) = &route.path;
        assert_eq!(router.find(path), Some(index), "route {}", route.id);
    }
}
