//! Configuration: the TOML file of SPEC §3 turned into validated domain types.
//!
//! [`Config::load`] reads the file, loads every secret it references and checks every rule; a
//! `Config` that exists is valid, so nothing downstream checks it again. Every failure is a
//! [`ConfigError`] naming the file, the key path and the problem.

mod context;
mod convert;
mod error;
mod files;
mod keyring;
mod policy;
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

pub use self::error::ConfigError;
use crate::auth::{AppMode, KeyringKind};
pub use crate::routes::PathMatch;
use crate::secret::Secret;

/// A validated configuration with its secrets loaded.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was loaded from.
    pub path: PathBuf,
    /// `[server]`: the data listener and the limits of each request.
    pub server: ServerConfig,
    /// `[admin]`: the admin listener.
    pub admin: AdminConfig,
    /// `[upstream]`: where requests go, and the client's timeouts and pool.
    pub upstream: UpstreamConfig,
    /// `[identity]`: the injected identity headers.
    pub identity: IdentityConfig,
    /// Accepted clock skew of signature timestamps, both ways, in whole seconds (> 0).
    pub tolerance_secs: i64,
    /// `[log]`: log format and level.
    pub log: LogConfig,
    /// `[reload]`: how changes are noticed.
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
    /// Address of the data listener (`server.listen`).
    pub listen: SocketAddr,
    /// `server.tls`: terminate TLS with this pair (restart to turn on or off).
    pub tls: Option<crate::tls::ListenerTls>,
    /// Largest request body an app or webhook route reads (413 beyond).
    pub max_body_bytes: usize,
    /// Bytes all buffered request bodies may hold together (≥ `max_body_bytes`).
    pub max_buffered_bytes: usize,
    /// Largest request head (header section) a connection accepts.
    pub max_header_bytes: usize,
    /// From accept to the first complete request head (whatever the protocol); on HTTP/1 also
    /// from the first byte of each later head to its end. Doubles as the HTTP/2 ping timeout.
    pub header_read_timeout: Duration,
    /// Time a client gets to send a body an app or webhook route reads (408 beyond).
    pub body_read_timeout: Duration,
    /// A connection with no request in flight for this long is closed (HTTP/2: `GOAWAY`).
    pub idle_timeout: Duration,
    /// A connection whose responses wait on the client (the next frame cannot be sent) with
    /// no progress for this long is dropped.
    pub send_timeout: Duration,
    /// Interval of HTTP/2 keep-alive pings.
    pub http2_keepalive_interval: Duration,
    /// Peers whose `X-Forwarded-*` headers are kept.
    pub trusted_proxies: Vec<IpNet>,
    /// Readiness reports 503 for this long before the listener closes.
    pub shutdown_delay: Duration,
    /// Then requests in flight get this long to finish.
    pub shutdown_grace: Duration,
    /// Requests handled at once; beyond it, `503 overloaded`.
    pub max_in_flight: usize,
    /// Connections open at once; beyond it, accepting waits.
    pub max_connections: usize,
    /// Runtime worker threads; 0 means one per CPU the process may use.
    pub workers: usize,
}

/// `[admin]`.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// Address of the admin listener (`admin.listen`).
    pub listen: SocketAddr,
    /// `admin.tls`.
    pub tls: Option<crate::tls::ListenerTls>,
}

/// `[upstream]`.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// Where routes without their own `upstream` send requests.
    pub target: UpstreamTarget,
    /// Time to establish a connection to the upstream (502 beyond).
    pub connect_timeout: Duration,
    /// Total time for the upstream to answer with a response head (app and `none` routes).
    pub timeout: Duration,
    /// The same for webhook routes: a few seconds, so Stripe sees a failure and retries.
    pub webhook_timeout: Duration,
    /// Idle keep-alive connections are closed after this long.
    pub pool_idle_timeout: Duration,
    /// Idle keep-alive connections kept per upstream.
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
        /// `http` (the only scheme forwarded to).
        scheme: Scheme,
        /// `host:port`.
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
    /// `json` or `text`.
    pub format: LogFormat,
    /// The log filter (`info`, or a filter such as `info,hyper=warn`).
    pub level: String,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
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
    /// Which family of secrets (`app` → `absec_`, `webhook` → `whsec_`).
    pub kind: KeyringKind,
    /// The secrets in priority order.
    pub secrets: Vec<SecretConfig>,
}

/// One secret of a keyring.
#[derive(Debug, Clone)]
pub struct SecretConfig {
    /// The id shown in logs and metric labels (never the value).
    pub id: String,
    /// The secret itself, redacted in `Debug`.
    pub value: Secret,
    /// Unix seconds at which the secret stops verifying.
    pub not_after: Option<i64>,
    /// Where the value came from.
    pub source: SecretSource,
}

/// Where a secret's value came from (shown by `check`; never the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `file = "…"`: read from this file.
    File(PathBuf),
    /// `env = "…"`: read from this environment variable.
    Env(String),
    /// `value = "…"`: written in the config file (demos only).
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
    /// Bounded id, used in metric labels and logs.
    pub id: String,
    /// `path` or `path_prefix`.
    pub path: PathMatch,
    /// Allowed methods; `None` allows every method.
    pub methods: Option<Vec<Method>>,
    /// What the route demands before forwarding.
    pub auth: RouteAuth,
    /// Whether the route answers CORS preflights and marks its responses readable by any origin.
    pub cors: bool,
    /// Overrides `upstream.url` for this route.
    pub upstream: Option<UpstreamTarget>,
    /// Overrides the upstream timeout of the route's kind.
    pub timeout: Option<Duration>,
}

/// What a route demands before forwarding.
#[derive(Debug, Clone)]
pub enum RouteAuth {
    /// `auth = "none"`: forwarded without authentication (the body streams).
    None,
    /// `auth = "app"`: a signed Stripe App UI-extension request.
    App(AppPolicy),
    /// `auth = "webhook"`: a signed Stripe webhook delivery.
    Webhook(WebhookPolicy),
}

/// Policy of an `auth = "app"` route.
#[derive(Debug, Clone)]
pub struct AppPolicy {
    /// Name of the `app` keyring that verifies the route.
    pub keyring: String,
    /// Which signed strings the route accepts (`app_signature`).
    pub mode: AppMode,
    /// `require_roles_any`: at least one of these role ids.
    pub roles_any: Vec<String>,
    /// `require_roles_all`: all of these role ids.
    pub roles_all: Vec<String>,
    /// `replay = "reject"`: each signed message is accepted once.
    pub replay_reject: bool,
}

/// Policy of an `auth = "webhook"` route.
#[derive(Debug, Clone)]
pub struct WebhookPolicy {
    /// Name of the `webhook` keyring that verifies the route.
    pub keyring: String,
    /// Empty: every event type is forwarded.
    pub events: Vec<EventPattern>,
    /// Which events pass, by their `livemode`.
    pub livemode: LivemodeFilter,
    /// Deliver each event id once (`dedupe = true`).
    pub dedupe: bool,
    /// How long a delivered event id is remembered.
    pub dedupe_window: Duration,
}

/// An entry of `events = [...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventPattern {
    /// An exact event type such as `invoice.paid`.
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
    /// Only live-mode events.
    Live,
    /// Only test-mode events.
    Test,
    /// Every event.
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
    /// The listeners that terminate TLS, by metric label (`data`, `admin`).
    pub(crate) fn tls_listeners(
        &self,
    ) -> impl Iterator<Item = (&'static str, &crate::tls::ListenerTls)> {
        [("data", &self.server.tls), ("admin", &self.admin.tls)]
            .into_iter()
            .filter_map(|(name, tls)| tls.as_ref().map(|tls| (name, tls)))
    }

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
        let raw: raw::RawConfig = serde_path_to_error::deserialize(deserializer)
            .map_err(|err| error::parse_error(path, text, &err))?;
        convert::convert(raw, path, env)
    }
}
