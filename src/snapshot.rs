//! One immutable [`Snapshot`] of everything a request needs: config, keyrings, compiled routes,
//! precomputed header names and values, metric handles and the upstream client. It lives behind
//! one `ArcSwap` in [`crate::proxy::Gateway`]; a request loads it once and keeps it to the end.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};

use crate::auth::{Keyring, KeyringSecret};
use crate::config::{AppPolicy, Config, RouteAuth, RouteConfig, UpstreamTarget, WebhookPolicy};
use crate::metrics::{KeyringMetrics, Metrics, RouteMetrics, NO_ROUTE};
use crate::proxy::upstream::{HostPool, UpstreamClient};
use crate::routes::Router;

/// Everything one request needs, built once per (re)load.
#[derive(Debug)]
pub struct Snapshot {
    pub config: Config,
    pub router: Router,
    pub routes: Vec<Route>,
    pub identity: IdentityHeaders,
    pub client: Arc<UpstreamClient>,
    /// Keyrings by name (shared with the routes that use them).
    pub keyrings: Vec<(Arc<str>, Arc<Keyring>)>,
    /// Metric handles for requests that match no route.
    pub unmatched: RouteMetrics,
}

/// A compiled route.
#[derive(Debug)]
pub struct Route {
    pub id: Arc<str>,
    /// `None`: every method.
    pub methods: Option<Vec<Method>>,
    /// `Allow` / `Access-Control-Allow-Methods` value.
    pub allow: HeaderValue,
    pub auth: Auth,
    pub cors: bool,
    pub upstream: UpstreamTarget,
    /// `Host` sent upstream, precomputed (`None` for `builtin:echo`).
    pub upstream_host: Option<HeaderValue>,
    /// Connections to the upstream (`None` for `builtin:echo`).
    pub pool: Option<Arc<HostPool>>,
    pub timeout: Duration,
    pub metrics: RouteMetrics,
}

impl Route {
    /// Whether the route accepts `method`.
    pub fn allows(&self, method: &Method) -> bool {
        self.methods
            .as_ref()
            .is_none_or(|methods| methods.contains(method))
    }
}

/// A keyring as a route holds it: the secrets and their metric handles.
#[derive(Debug)]
pub struct RouteKeyring {
    pub keyring: Arc<Keyring>,
    pub metrics: Arc<KeyringMetrics>,
}

/// A route's authentication, with its keyring resolved.
#[derive(Debug)]
pub enum Auth {
    None,
    App {
        keyring: RouteKeyring,
        policy: AppPolicy,
    },
    Webhook {
        keyring: RouteKeyring,
        policy: WebhookPolicy,
    },
}

/// The names of the injected identity headers, built from `identity.header_prefix`.
#[derive(Debug)]
pub struct IdentityHeaders {
    /// Lower-case prefix with `_` read as `-`, for stripping inbound copies.
    pub prefix: Box<str>,
    pub account_id: HeaderName,
    pub user_id: HeaderName,
    pub roles: HeaderName,
    pub verified: HeaderName,
    pub signature_timestamp: HeaderName,
    pub event_id: HeaderName,
    pub event_type: HeaderName,
    pub livemode: HeaderName,
}

impl IdentityHeaders {
    /// Header names for `prefix` (validated by config).
    pub fn new(prefix: &str) -> IdentityHeaders {
        let name = |suffix: &str| {
            // The prefix was validated as a header-name token in config; suffixes are fixed tokens.
            HeaderName::from_bytes(format!("{prefix}{suffix}").as_bytes())
                .expect("validated header prefix")
        };
        IdentityHeaders {
            prefix: prefix.to_ascii_lowercase().replace('_', "-").into(),
            account_id: name("Account-Id"),
            user_id: name("User-Id"),
            roles: name("Roles"),
            verified: name("Verified"),
            signature_timestamp: name("Signature-Timestamp"),
            event_id: name("Event-Id"),
            event_type: name("Event-Type"),
            livemode: name("Livemode"),
        }
    }

    /// Whether an inbound header name falls under the identity prefix (`_` read as `-`).
    pub fn is_identity_header(&self, name: &HeaderName) -> bool {
        let name = name.as_str().as_bytes();
        let prefix = self.prefix.as_bytes();
        name.len() >= prefix.len()
            && name
                .iter()
                .zip(prefix)
                .all(|(n, p)| n == p || (*n == b'_' && *p == b'-'))
    }
}

impl Snapshot {
    /// Compiles `config`, resolving metric handles in `metrics`; reuses the upstream client of
    /// `previous` when its settings are equal.
    pub fn build(config: Config, previous: Option<&Snapshot>, metrics: &Metrics) -> Snapshot {
        let keyrings: Vec<(Arc<str>, RouteKeyring)> = config
            .keyrings
            .iter()
            .map(|(name, keyring)| {
                let secrets = keyring
                    .secrets
                    .iter()
                    .map(|s| KeyringSecret::new(s.id.as_str(), &s.value, s.not_after))
                    .collect();
                let ids = keyring.secrets.iter().map(|s| s.id.as_str());
                let route_keyring = RouteKeyring {
                    keyring: Arc::new(Keyring::new(keyring.kind, secrets)),
                    metrics: Arc::new(KeyringMetrics::new(metrics, name, ids)),
                };
                (Arc::from(name.as_str()), route_keyring)
            })
            .collect();
        let find = |name: &str| {
            keyrings
                .iter()
                .find(|(id, _)| &**id == name)
                .map(|(_, keyring)| RouteKeyring {
                    keyring: keyring.keyring.clone(),
                    metrics: keyring.metrics.clone(),
                })
                // Config conversion guarantees every route names an existing keyring.
                .expect("route keyring exists")
        };
        let client = match previous {
            Some(previous) if previous.client.settings_match(&config.upstream) => {
                previous.client.clone()
            }
            _ => Arc::new(UpstreamClient::new(&config.upstream)),
        };
        let compile = |route| compile_route(route, &config, &find, metrics, &client);
        let routes: Vec<Route> = config.routes.iter().map(compile).collect();
        let in_use: Vec<(&http::uri::Scheme, &http::uri::Authority)> = routes
            .iter()
            .filter_map(|route| match &route.upstream {
                UpstreamTarget::Http { scheme, authority } => Some((scheme, authority)),
                UpstreamTarget::Echo => None,
            })
            .collect();
        client.retain(&in_use);
        Snapshot {
            router: Router::new(config.routes.iter().map(|route| &route.path)),
            routes,
            identity: IdentityHeaders::new(&config.identity.header_prefix),
            client,
            keyrings: keyrings
                .into_iter()
                .map(|(name, keyring)| (name, keyring.keyring))
                .collect(),
            unmatched: RouteMetrics::new(metrics, NO_ROUTE),
            config,
        }
    }
}

fn compile_route(
    route: &RouteConfig,
    config: &Config,
    find: &dyn Fn(&str) -> RouteKeyring,
    metrics: &Metrics,
    client: &UpstreamClient,
) -> Route {
    let (auth, default_timeout) = match &route.auth {
        RouteAuth::None => (Auth::None, config.upstream.timeout),
        RouteAuth::App(policy) => (
            Auth::App {
                keyring: find(&policy.keyring),
                policy: policy.clone(),
            },
            config.upstream.timeout,
        ),
        RouteAuth::Webhook(policy) => (
            Auth::Webhook {
                keyring: find(&policy.keyring),
                policy: policy.clone(),
            },
            config.upstream.webhook_timeout,
        ),
    };
    let allow = match &route.methods {
        Some(methods) => methods
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        None => "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS".to_string(),
    };
    let upstream = route
        .upstream
        .clone()
        .unwrap_or_else(|| config.upstream.target.clone());
    let (upstream_host, pool) = match &upstream {
        UpstreamTarget::Echo => (None, None),
        // An authority parsed from a URL is always a valid header value.
        UpstreamTarget::Http { scheme, authority } => (
            HeaderValue::from_str(authority.as_str()).ok(),
            Some(client.pool(scheme, authority)),
        ),
    };
    Route {
        id: Arc::from(route.id.as_str()),
        methods: route.methods.clone(),
        // Methods are validated tokens joined by ", ": always a valid header value.
        allow: HeaderValue::from_str(&allow).expect("method list is a valid header value"),
        auth,
        cors: route.cors,
        upstream,
        upstream_host,
        pool,
        timeout: route.timeout.unwrap_or(default_timeout),
        metrics: RouteMetrics::new(metrics, &route.id),
    }
}
