//! Configuration: the TOML file of SPEC §3 turned into validated domain types.
//!
//! [`Config::load`] reads the file, loads every secret it references and checks every rule; a
//! `Config` that exists is valid, so nothing downstream checks it again. Every failure is a
//! [`ConfigError`] naming the file, the key path and the problem.

mod convert;
mod keyring;
mod raw;
mod route;
#[cfg(test)]
mod tests;
mod tls;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::uri::{Authority, Scheme};
use http::Method;
use ipnet::IpNet;

use crate::auth::{AppMode, KeyringKind};
use crate::secret::Secret;

/// A configuration problem: which file, which key, what is wrong with the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {key}: {reason}", file.display())]
pub struct ConfigError {
    /// The file that holds the problem (the config file, or a secret file it names).
    pub file: PathBuf,
    /// Dotted key path such as `routes[1].keyring`, or `(file)` for the file as a whole.
    pub key: String,
    /// What is wrong, without ever quoting a secret value.
    pub reason: String,
}

/// A validated configuration with its secrets loaded.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was loaded from.
    pub path: PathBuf,
    pub server: ServerConfig,
    pub admin: AdminConfig,
    pub upstream: UpstreamConfig,
    pub identity: IdentityConfig,
    /// Accepted clock skew of signature timestamps, both ways, in whole seconds (> 0).
    pub tolerance_secs: i64,
    pub log: LogConfig,
    pub reload: ReloadConfig,
    /// Keyrings by name, in name order.
    pub keyrings: BTreeMap<String, KeyringConfig>,
    /// Routes in file order.
    pub routes: Vec<RouteConfig>,
    /// Non-fatal findings (a secret containing whitespace, no routes, …), to log once.
    pub warnings: Vec<String>,
}

/// `[server]`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// `server.tls`: terminate TLS with this pair (restart to turn on or off).
    pub tls: Option<crate::tls::ListenerTls>,
    pub max_body_bytes: usize,
    /// Bytes all buffered request bodies may hold together (≥ `max_body_bytes`).
    pub max_buffered_bytes: usize,
    pub max_header_bytes: usize,
    /// From accept to the first complete request head (whatever the protocol); on HTTP/1 also
    /// from the first byte of each later head to its end. Doubles as the HTTP/2 ping timeout.
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    /// A connection with no request in flight for this long is closed (HTTP/2: `GOAWAY`).
    pub idle_timeout: Duration,
    /// A connection whose responses wait on the client (the next frame cannot be sent) with
    /// no progress for this long is dropped.
    pub send_timeout: Duration,
    /// Interval of HTTP/2 keep-alive pings.
    pub http2_keepalive_interval: Duration,
    pub trusted_proxies: Vec<IpNet>,
    pub shutdown_delay: Duration,
    pub shutdown_grace: Duration,
    pub max_in_flight: usize,
    pub max_connections: usize,
    /// Runtime worker threads; 0 means one per CPU the process may use.
    pub workers: usize,
}

/// `[admin]`.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    /// `admin.tls`.
    pub tls: Option<crate::tls::ListenerTls>,
}

/// `[upstream]`.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    pub target: UpstreamTarget,
    pub connect_timeout: Duration,
    /// Total time for the upstream to answer with a response head (app and `none` routes).
    pub timeout: Duration,
    /// The same for webhook routes: a few seconds, so Stripe sees a failure and retries.
    pub webhook_timeout: Duration,
    pub pool_idle_timeout: Duration,
    pub pool_max_idle_per_host: usize,
    /// Trust anchors, client pair and `server_name` for `https://` upstreams.
    pub tls: std::sync::Arc<crate::tls::UpstreamTls>,
}

/// Where requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamTarget {
    /// `builtin:echo`: answers with a JSON view of the request it received.
    Echo,
    /// `http://host:port` or `https://host:port`.
    Http {
        scheme: Scheme,
        authority: Authority,
    },
}

impl fmt::Display for UpstreamTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpstreamTarget::Echo => f.write_str("builtin:echo"),
            UpstreamTarget::Http { scheme, authority } => write!(f, "{scheme}://{authority}"),
        }
    }
}

/// `[identity]`.
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    /// Prefix of every injected header, as written (e.g. `X-Stripe-App-`).
    pub header_prefix: String,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    pub format: LogFormat,
    pub level: String,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

/// `[reload]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadConfig {
    /// Interval of the content-fingerprint poll; zero disables it.
    pub poll_interval: Duration,
    /// Watch the directories of the config and secret files for changes.
    pub watch: bool,
}

/// `[keyrings.NAME]` with its secrets loaded.
#[derive(Debug, Clone)]
pub struct KeyringConfig {
    pub kind: KeyringKind,
    pub secrets: Vec<SecretConfig>,
}

/// One secret of a keyring.
#[derive(Debug, Clone)]
pub struct SecretConfig {
    pub id: String,
    pub value: Secret,
    /// Unix seconds at which the secret stops verifying.
    pub not_after: Option<i64>,
    pub source: SecretSource,
}

/// Where a secret's value came from (shown by `check`; never the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    File(PathBuf),
    Env(String),
    Inline,
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::File(path) => write!(f, "file {}", path.display()),
            SecretSource::Env(name) => write!(f, "env {name}"),
            SecretSource::Inline => f.write_str("inline value"),
        }
    }
}

/// One `[[routes]]` entry.
#[derive(Debug, Clone)]
pub struct RouteConfig {
    pub id: String,
    pub path: PathMatch,
    /// Allowed methods; `None` allows every method.
    pub methods: Option<Vec<Method>>,
    pub auth: RouteAuth,
    pub cors: bool,
    pub upstream: Option<UpstreamTarget>,
    /// Overrides the upstream timeout of the route's kind.
    pub timeout: Option<Duration>,
}

/// How a route matches a request path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathMatch {
    Exact(String),
    Prefix(String),
}

/// What a route demands before forwarding.
#[derive(Debug, Clone)]
pub enum RouteAuth {
    None,
    App(AppPolicy),
    Webhook(WebhookPolicy),
}

/// Policy of an `auth = "app"` route.
#[derive(Debug, Clone)]
pub struct AppPolicy {
    pub keyring: String,
    pub mode: AppMode,
    pub roles_any: Vec<String>,
    pub roles_all: Vec<String>,
    pub replay_reject: bool,
}

/// Policy of an `auth = "webhook"` route.
#[derive(Debug, Clone)]
pub struct WebhookPolicy {
    pub keyring: String,
    /// Empty: every event type is forwarded.
    pub events: Vec<EventPattern>,
    pub livemode: LivemodeFilter,
    pub dedupe: bool,
    pub dedupe_window: Duration,
}

/// An entry of `events = [...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventPattern {
    Exact(String),
    /// `prefix.*`, stored with the trailing dot (`account.application.`).
    Prefix(String),
    /// `*`.
    Any,
}

impl EventPattern {
    /// Whether an event type matches this pattern.
    pub fn matches(&self, event_type: &str) -> bool {
        match self {
            EventPattern::Exact(name) => name == event_type,
            EventPattern::Prefix(prefix) => event_type.starts_with(prefix.as_str()),
            EventPattern::Any => true,
        }
    }
}

/// `livemode = "live" | "test" | "any"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LivemodeFilter {
    Live,
    Test,
    Any,
}

impl LivemodeFilter {
    /// Whether an event with this `livemode` passes; an event without one passes only `any`.
    pub fn admits(self, livemode: Option<bool>) -> bool {
        match self {
            LivemodeFilter::Live => livemode == Some(true),
            LivemodeFilter::Test => livemode == Some(false),
            LivemodeFilter::Any => true,
        }
    }
}

impl Config {
    /// Reads, parses and validates `path`, loading every secret it references from files and
    /// the process environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|err| ConfigError {
            file: path.to_path_buf(),
            key: "(file)".into(),
            reason: format!("cannot read: {err}"),
        })?;
        Config::from_toml(path, &text, &|name| std::env::var(name).ok())
    }

    /// Parses and validates `text` as if read from `path`; `env` resolves `env = "…"` secrets.
    pub fn from_toml(
        path: &Path,
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let deserializer = toml::Deserializer::new(text);
        let raw: raw::RawConfig =
            serde_path_to_error::deserialize(deserializer).map_err(|err| {
                let key = err.path().to_string();
                let mut reason = redact_values(&first_line(&err.inner().to_string()));
                if let Some(span) = err.inner().span() {
                    reason = format!("{} ({reason})", location(text, span.start));
                }
                ConfigError {
                    file: path.to_path_buf(),
                    key: if key == "." { "(file)".into() } else { key },
                    reason,
                }
            })?;
        convert::convert(raw, path, env)
    }

    /// The secret files a config file names, read as far as it parses (nothing when it does
    /// not): after a failed reload these are watched too, so that a secret mounted later than
    /// its config is picked up.
    pub fn declared_files(path: &Path) -> Vec<PathBuf> {
        let Ok(text) = std::fs::read_to_string(path) else {
            return Vec::new();
        };
        let Ok(raw) = toml::from_str::<raw::RawConfig>(&text) else {
            return Vec::new();
        };
        let mut files = tls::declared_files(&raw);
        files.extend(
            raw.keyrings
                .into_values()
                .flat_map(|keyring| keyring.secrets)
                .filter_map(|secret| secret.file.map(PathBuf::from)),
        );
        files
    }

    /// Every file this configuration depends on: the config file, each secret file and each
    /// TLS certificate, key and CA file.
    pub fn referenced_files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.path.clone()];
        for tls in [&self.server.tls, &self.admin.tls].into_iter().flatten() {
            files.extend([tls.cert_file.clone(), tls.key_file.clone()]);
        }
        let upstream = &self.upstream.tls.files;
        files.extend(upstream.ca_file.iter().cloned());
        if let Some((cert, key)) = &upstream.client_pair {
            files.extend([cert.clone(), key.clone()]);
        }
        for keyring in self.keyrings.values() {
            for secret in &keyring.secrets {
                if let SecretSource::File(path) = &secret.source {
                    files.push(path.clone());
                }
            }
        }
        files
    }
}

/// `line L, column C` of byte `offset` in `text`.
fn location(text: &str, offset: usize) -> String {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let column = before.iter().rev().take_while(|b| **b != b'\n').count() + 1;
    format!("line {line}, column {column}")
}

/// Parser messages quote the offending value (`invalid type: string "…"`), which may be a
/// secret written in the wrong place: every double-quoted part is blanked. Field names, which
/// serde quotes with backticks, stay.
fn redact_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        if c == '"' {
            if quoted {
                out.push_str("…\"");
            } else {
                out.push('"');
            }
            quoted = !quoted;
        } else if !quoted {
            out.push(c);
        }
    }
    out
}

/// toml's messages span several lines with a source excerpt; the key path already says where.
fn first_line(message: &str) -> String {
    let mut lines = message.lines().filter(|line| {
        let line = line.trim();
        !(line.is_empty()
            || line.starts_with("TOML parse error")
            || line.starts_with('|')
            || line.chars().next().is_some_and(|c| c.is_ascii_digit()))
    });
    lines.next().unwrap_or(message).trim().to_string()
}
