//! One immutable [`Snapshot`] of everything a request needs: config, keyrings, compiled routes,
//! precomputed header names and values, metric handles and the upstream pools. It lives behind
//! one `ArcSwap` in the gateway (`proxy/mod.rs`); a request loads it once and keeps it to the
//! end. Nothing here is I/O: a snapshot is a value built from a `Config`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};
use sha2::{Digest, Sha256};

use crate::auth::{Keyring, KeyringKind, KeyringSecret};
use crate::body::ForwardBody;
use crate::config::{AppPolicy, Config, RouteAuth, RouteConfig, UpstreamTarget, WebhookPolicy};
use crate::metrics::{KeyringMetrics, Metrics, RequestMetrics, RouteMetrics, NO_ROUTE};
use crate::routes::Router;
use crate::upstream::{Upstream, UpstreamClient};

/// Everything one request needs, built once per (re)load.
#[derive(Debug)]
pub struct Snapshot {
    /// The configuration this snapshot was built from.
    pub config: Config,
    pub(crate) router: Router,
    /// Compiled routes, in config order (the router yields their indexes).
    pub(crate) routes: Vec<Route>,
    pub(crate) identity: IdentityHeaders,
    pub(crate) client: Arc<UpstreamClient<ForwardBody>>,
    /// Keyrings by name (shared with the routes that use them).
    pub(crate) keyrings: Vec<(Arc<str>, Arc<Keyring>)>,
    /// Metric handles for requests that match no route.
    pub(crate) unmatched: RequestMetrics,
}

/// A compiled route.
#[derive(Debug)]
pub(crate) struct Route {
    pub(crate) id: Arc<str>,
    /// `None`: every method.
    pub(crate) methods: Option<Vec<Method>>,
    /// `Allow` / `Access-Control-Allow-Methods` value.
    pub(crate) allow: HeaderValue,
    pub(crate) auth: Auth,
    pub(crate) cors: bool,
    pub(crate) upstream: Upstream<ForwardBody>,
    pub(crate) timeout: Duration,
    pub(crate) metrics: RouteMetrics,
}

/// What a route without `methods` accepts (and lists in `Allow`).
const STANDARD_METHODS: [Method; 7] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

impl Route {
    /// Whether the route accepts `method`.
    pub(crate) fn allows(&self, method: &Method) -> bool {
        match &self.methods {
            Some(methods) => methods.contains(method),
            // `CONNECT`, `TRACE` and extension methods only when a route names them.
            None => STANDARD_METHODS.contains(method),
        }
    }
}

/// A keyring as a route holds it: the secrets, their metric handles, and the replay scope.
#[derive(Debug)]
pub(crate) struct RouteKeyring {
    pub(crate) keyring: Arc<Keyring>,
    pub(crate) metrics: Arc<KeyringMetrics>,
    /// Set when a `replay = "reject"` route uses this keyring: then every app request it
    /// verifies, on any route, is recorded under this scope (a digest of the keyring name).
    pub(crate) replay: Option<ReplayScope>,
}

/// The part of a replay mark that names its keyring: the first bytes of SHA-256 of its name.
pub(crate) type ReplayScope = [u8; 8];

/// A route's authentication, with its keyring resolved.
#[derive(Debug)]
pub(crate) enum Auth {
    /// `auth = "none"`.
    None,
    /// `auth = "app"`.
    App(AppAuth),
    /// `auth = "webhook"`.
    Webhook(WebhookAuth),
}

/// An `auth = "app"` route's keyring and policy.
#[derive(Debug)]
pub(crate) struct AppAuth {
    pub(crate) keyring: RouteKeyring,
    pub(crate) policy: AppPolicy,
}

/// An `auth = "webhook"` route's keyring and policy.
#[derive(Debug)]
pub(crate) struct WebhookAuth {
    pub(crate) keyring: RouteKeyring,
    pub(crate) policy: WebhookPolicy,
}

/// A signed route's authentication, borrowed: what verification needs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Signed<'s> {
    /// An app route.
    App(&'s AppAuth),
    /// A webhook route.
    Webhook(&'s WebhookAuth),
}

impl Auth {
    /// The signature this route demands, if any.
    pub(crate) fn signed(&self) -> Option<Signed<'_>> {
        match self {
            Auth::None => None,
            Auth::App(app) => Some(Signed::App(app)),
            Auth::Webhook(webhook) => Some(Signed::Webhook(webhook)),
        }
    }
}

impl<'s> Signed<'s> {
    /// The route's keyring.
    pub(crate) fn keyring(self) -> &'s RouteKeyring {
        match self {
            Signed::App(app) => &app.keyring,
            Signed::Webhook(webhook) => &webhook.keyring,
        }
    }

    /// Which kind of signature.
    pub(crate) fn kind(self) -> KeyringKind {
        match self {
            Signed::App(_) => KeyringKind::App,
            Signed::Webhook(_) => KeyringKind::Webhook,
        }
    }
}

/// The names of the injected identity headers, built from `identity.header_prefix`.
#[derive(Debug)]
pub(crate) struct IdentityHeaders {
    /// Lower-case prefix with `_` read as `-`, for stripping inbound copies.
    pub(crate) prefix: Box<str>,
    pub(crate) account_id: HeaderName,
    pub(crate) user_id: HeaderName,
    pub(crate) roles: HeaderName,
    pub(crate) verified: HeaderName,
    pub(crate) signature_timestamp: HeaderName,
    pub(crate) event_id: HeaderName,
    pub(crate) event_type: HeaderName,
    pub(crate) livemode: HeaderName,
    /// The prefix takes in a request field name that HTTP/1.1 heads relay verbatim
    /// (`crate::http1::REQUEST_NAMES`): those fields must reach the rewrite in the map.
    pub(crate) covers_verbatim: bool,
}

impl IdentityHeaders {
    /// Header names for `prefix` (validated by config).
    pub(crate) fn new(prefix: &str) -> IdentityHeaders {
        let name = |suffix: &str| {
            // The prefix was validated as a header-name token in config; suffixes are fixed tokens.
            HeaderName::from_bytes(format!("{prefix}{suffix}").as_bytes())
                .expect("validated header prefix")
        };
        let mut headers = IdentityHeaders {
            prefix: prefix.to_ascii_lowercase().replace('_', "-").into(),
            account_id: name("Account-Id"),
            user_id: name("User-Id"),
            roles: name("Roles"),
            verified: name("Verified"),
            signature_timestamp: name("Signature-Timestamp"),
            event_id: name("Event-Id"),
            event_type: name("Event-Type"),
            livemode: name("Livemode"),
            covers_verbatim: false,
        };
        headers.covers_verbatim = crate::http1::REQUEST_NAMES
            .iter()
            .any(|name| headers.is_identity_header(&HeaderName::from_static(name)));
        headers
    }

    /// Whether an inbound header name falls under the identity prefix (`_` read as `-`).
    pub(crate) fn is_identity_header(&self, name: &HeaderName) -> bool {
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
    pub(crate) fn build(
        config: Config,
        previous: Option<&Snapshot>,
        metrics: &Metrics,
    ) -> Snapshot {
        let keyrings = keyrings(&config, metrics);
        let client = match previous {
            Some(previous) if previous.client.settings_match(&config.upstream) => {
                previous.client.clone()
            }
            _ => Arc::new(UpstreamClient::new(&config.upstream)),
        };
        let routes: Vec<Route> = config
            .routes
            .iter()
            .map(|route| compile_route(route, &config, &keyrings, metrics, &client))
            .collect();
        let in_use: Vec<(&http::uri::Scheme, &http::uri::Authority)> = config
            .routes
            .iter()
            .map(|route| route.upstream.as_ref().unwrap_or(&config.upstream.target))
            .filter_map(|target| match target {
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
                .iter()
                .map(|(name, keyring)| (name.clone(), keyring.keyring.clone()))
                .collect(),
            unmatched: RequestMetrics::new(metrics, NO_ROUTE),
            config,
        }
    }
}

/// Every keyring of `config` with its metric handles, and its replay scope when a
/// `replay = "reject"` route uses it.
fn keyrings(config: &Config, metrics: &Metrics) -> Vec<(Arc<str>, RouteKeyring)> {
    let rejecting: BTreeSet<&str> = config
        .routes
        .iter()
        .filter_map(|route| match &route.auth {
            RouteAuth::App(policy) if policy.replay_reject => Some(policy.keyring.as_str()),
            RouteAuth::App(_) | RouteAuth::Webhook(_) | RouteAuth::None => None,
        })
        .collect();
    config
        .keyrings
        .iter()
        .map(|(name, keyring)| {
            let secrets = keyring
                .secrets
                .iter()
                .map(|s| KeyringSecret::new(s.id.as_str(), &s.value, s.not_after))
                .collect();
            let ids = keyring.secrets.iter().map(|s| s.id.as_str());
            let replay = rejecting.contains(name.as_str()).then(|| {
                let digest = Sha256::digest(name.as_bytes());
                let mut scope = ReplayScope::default();
                for (byte, digest) in scope.iter_mut().zip(digest) {
                    *byte = digest;
                }
                scope
            });
            let route_keyring = RouteKeyring {
                keyring: Arc::new(Keyring::new(keyring.kind, secrets)),
                metrics: Arc::new(KeyringMetrics::new(metrics, name, ids)),
                replay,
            };
            (Arc::from(name.as_str()), route_keyring)
        })
        .collect()
}

/// The keyring `name` as a route holds it. Config conversion guarantees every route names an
/// existing keyring.
fn find_keyring(keyrings: &[(Arc<str>, RouteKeyring)], name: &str) -> RouteKeyring {
    keyrings
        .iter()
        .find(|(id, _)| &**id == name)
        .map(|(_, keyring)| RouteKeyring {
            keyring: keyring.keyring.clone(),
            metrics: keyring.metrics.clone(),
            replay: keyring.replay,
        })
        .expect("route keyring exists")
}

fn compile_route(
    route: &RouteConfig,
    config: &Config,
    keyrings: &[(Arc<str>, RouteKeyring)],
    metrics: &Metrics,
    client: &UpstreamClient<ForwardBody>,
) -> Route {
    let (auth, default_timeout) = match &route.auth {
        RouteAuth::None => (Auth::None, config.upstream.timeout),
        RouteAuth::App(policy) => (
            Auth::App(AppAuth {
                keyring: find_keyring(keyrings, &policy.keyring),
                policy: policy.clone(),
            }),
            config.upstream.timeout,
        ),
        RouteAuth::Webhook(policy) => (
            Auth::Webhook(WebhookAuth {
                keyring: find_keyring(keyrings, &policy.keyring),
                policy: policy.clone(),
            }),
            config.upstream.webhook_timeout,
        ),
    };
    let allow = allow_header(route.methods.as_deref());
    let target = route.upstream.as_ref().unwrap_or(&config.upstream.target);
    let upstream = match target {
        UpstreamTarget::Echo => Upstream::Echo,
        UpstreamTarget::Http { scheme, authority } => Upstream::Pool {
            pool: client.pool(scheme, authority),
            // An authority parsed from a URL is always a valid header value.
            host: HeaderValue::from_str(authority.as_str()).expect("authority is a header value"),
        },
    };
    let webhook = matches!(auth, Auth::Webhook(_));
    Route {
        id: Arc::from(route.id.as_str()),
        methods: route.methods.clone(),
        allow,
        auth,
        cors: route.cors,
        upstream,
        timeout: route.timeout.unwrap_or(default_timeout),
        metrics: RouteMetrics::new(metrics, &route.id, webhook),
    }
}

/// The `Allow` / `Access-Control-Allow-Methods` value of a route taking `methods` (every
/// method when `None`).
fn allow_header(methods: Option<&[Method]>) -> HeaderValue {
    let allow = match methods {
        Some(methods) => methods
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        None => "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS".to_string(),
    };
    // Methods are validated tokens joined by ", ": always a valid header value.
    HeaderValue::from_str(&allow).expect("method list is a valid header value")
}
