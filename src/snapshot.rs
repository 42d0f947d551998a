//! One immutable [`Snapshot`] of everything a request needs: config, keyrings, compiled routes,
//! precomputed header names and values, and the upstream client. It lives behind one `ArcSwap`
//! in [`crate::proxy::Gateway`]; a request loads it once and keeps it to the end.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};

use crate::auth::{Keyring, KeyringSecret};
use crate::config::{AppPolicy, Config, RouteAuth, UpstreamTarget, WebhookPolicy};
use crate::proxy::upstream::UpstreamClient;
use crate::routes::Router;

/// A keyring with its name, as routes hold it.
type NamedKeyring = (Arc<str>, Arc<Keyring>);

/// Everything one request needs, built once per (re)load.
#[derive(Debug)]
pub struct Snapshot {
    pub config: Config,
    pub router: Router,
    pub routes: Vec<Route>,
    pub identity: IdentityHeaders,
    pub client: Arc<UpstreamClient>,
    /// Keyrings by name (shared with the routes that use them).
    pub keyrings: Vec<NamedKeyring>,
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
    pub timeout: Duration,
}

impl Route {
    /// Whether the route accepts `method`.
    pub fn allows(&self, method: &Method) -> bool {
        self.methods
            .as_ref()
            .is_none_or(|methods| methods.contains(method))
    }
}

/// A route's authentication, with its keyring resolved.
#[derive(Debug)]
pub enum Auth {
    None,
    App {
        keyring_id: Arc<str>,
        keyring: Arc<Keyring>,
        policy: AppPolicy,
    },
    Webhook {
        keyring_id: Arc<str>,
        keyring: Arc<Keyring>,
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
    /// Compiles `config`; reuses the upstream client of `previous` when its settings are equal.
    pub fn build(config: Config, previous: Option<&Snapshot>) -> Snapshot {
        let keyrings: Vec<NamedKeyring> = config
            .keyrings
            .iter()
            .map(|(name, keyring)| {
                let secrets = keyring
                    .secrets
                    .iter()
                    .map(|s| KeyringSecret::new(s.id.as_str(), &s.value, s.not_after))
                    .collect();
                (
                    Arc::from(name.as_str()),
                    Arc::new(Keyring::new(keyring.kind, secrets)),
                )
            })
            .collect();
        let find = |name: &str| {
            keyrings
                .iter()
                .find(|(id, _)| &**id == name)
                .map(|(id, keyring)| (id.clone(), keyring.clone()))
                // Config conversion guarantees every route names an existing keyring.
                .expect("route keyring exists")
        };
        let routes = config
            .routes
            .iter()
            .map(|route| compile_route(route, &config, &find))
            .collect();
        let client = match previous {
            Some(previous) if previous.client.settings_match(&config.upstream) => {
                previous.client.clone()
            }
            _ => Arc::new(UpstreamClient::new(&config.upstream)),
        };
        Snapshot {
            router: Router::new(config.routes.iter().map(|route| &route.path)),
            routes,
            identity: IdentityHeaders::new(&config.identity.header_prefix),
            client,
            keyrings,
            config,
        }
    }
}

fn compile_route(
    route: &crate::config::RouteConfig,
    config: &Config,
    find: &dyn Fn(&str) -> NamedKeyring,
) -> Route {
    let (auth, default_timeout) = match &route.auth {
        RouteAuth::None => (Auth::None, config.upstream.timeout),
        RouteAuth::App(policy) => {
            let (keyring_id, keyring) = find(&policy.keyring);
            (
                Auth::App {
                    keyring_id,
                    keyring,
                    policy: policy.clone(),
                },
                config.upstream.timeout,
            )
        }
        RouteAuth::Webhook(policy) => {
            let (keyring_id, keyring) = find(&policy.keyring);
            (
                Auth::Webhook {
                    keyring_id,
                    keyring,
                    policy: policy.clone(),
                },
                config.upstream.webhook_timeout,
            )
        }
    };
    let allow = match &route.methods {
        Some(methods) => methods
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        None => "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS".to_string(),
    };
    Route {
        id: Arc::from(route.id.as_str()),
        methods: route.methods.clone(),
        // Methods are validated tokens joined by ", ": always a valid header value.
        allow: HeaderValue::from_str(&allow).expect("method list is a valid header value"),
        auth,
        cors: route.cors,
        upstream: route
            .upstream
            .clone()
            .unwrap_or_else(|| config.upstream.target.clone()),
        timeout: route.timeout.unwrap_or(default_timeout),
    }
}
