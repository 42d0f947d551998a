//! In-memory tests of the whole pipeline: [`Gateway::handle`] with `Full<Bytes>` requests and an
//! in-memory upstream ([`Double`], or `builtin:echo`), no socket and no runtime timer, so each
//! runs in microseconds. Socket behaviour (connections, pools, reload, drain, the process) is
//! tested in `tests/`.

mod app;
mod failures;
mod limits;
mod properties;
mod webhook;

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use prometheus::Registry;

use super::headers::Peer;
use super::{Gateway, GatewayParts};
use crate::accesslog::AccessLog;
use crate::auth::signature::signature_header;
use crate::clock::ManualClock;
use crate::config::{Config, LogFormat};
use crate::metrics::Metrics;
use crate::secret::Secret;
use crate::snapshot::Snapshot;
use crate::store::MemoryStore;
use crate::upstream::double::{Behaviour, Double, Seen};
use crate::upstream::Upstream;

const NOW: i64 = 1_767_225_600;
const APP_SECRET: &str = "absec_test_current_0123456789abcdef";
const OTHER_SECRET: &str = "absec_test_other_0123456789abcdef";
const WEBHOOK_SECRET: &str = "whsec_test_live_0123456789abcdef";

/// A gateway on a config with the keyrings `app`, `other` (app) and `hooks` (webhook) and
/// `routes`, every route forwarding to one [`Double`].
struct Harness {
    gateway: Arc<Gateway>,
    upstream: Arc<Double>,
    registry: Registry,
}

/// A response with its body read.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    /// The body as JSON (every answer of the gateway's own is JSON).
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// `error.code` of a gateway error.
    fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

impl Harness {
    fn new(routes: &str) -> Harness {
        let text = format!(
            r#"
[server]
max_body_bytes = 1024

[upstream]
url = "builtin:echo"

[keyrings.app]
kind = "app"
secrets = [{{ id = "current", value = "{APP_SECRET}" }}]

[keyrings.other]
kind = "app"
secrets = [{{ id = "other", value = "{OTHER_SECRET}" }}]

[keyrings.hooks]
kind = "webhook"
secrets = [{{ id = "live", value = "{WEBHOOK_SECRET}" }}]

{routes}
"#
        );
        let config = Config::from_toml(Path::new("test.toml"), &text, &|_| None)
            .unwrap_or_else(|err| panic!("test config: {err}"));
        let registry = Registry::new();
        let metrics = Metrics::register(&registry).expect("metrics");
        let mut snapshot = Snapshot::build(config, None, &metrics);
        let upstream = Double::new(Behaviour::Respond(StatusCode::OK));
        for route in &mut snapshot.routes {
            route.upstream = Upstream::Double(upstream.clone());
        }
        let gateway = Gateway::new(GatewayParts {
            snapshot,
            clock: Arc::new(ManualClock::new(NOW)),
            replay: Arc::new(MemoryStore::new(1000)),
            dedupe: Arc::new(MemoryStore::new(1000)),
            metrics,
            access_log: Arc::new(AccessLog::new(LogFormat::Json)),
        });
        Harness {
            gateway,
            upstream,
            registry,
        }
    }

    async fn send(&self, request: Request<Full<Bytes>>) -> Answer {
        let client = Peer::new("203.0.113.7".parse().expect("ip"), false, "http");
        let (parts, body) = request.into_parts();
        let head = crate::http1::Head::of_parts(parts);
        let mut response = self.gateway.handle(head, body, &client).await;
        crate::body::merge_verbatim(&mut response);
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("in-memory body").to_bytes();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// Requests that reached the upstream.
    fn seen(&self) -> Vec<Seen> {
        self.upstream.seen()
    }

    /// The value of one series of the exposition, if present.
    fn metric(&self, series: &str) -> Option<f64> {
        crate::metrics::render(&self.registry)
            .lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
    }
}

/// `Stripe-Signature` for `payload` signed at `t` with each of `secrets`.
fn sign(secrets: &[&str], t: i64, payload: &[u8]) -> String {
    let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
    let refs: Vec<&Secret> = secrets.iter().collect();
    signature_header(&refs, t, payload)
}

/// A `POST` of `body` to `path` with `headers`.
fn post(path: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Request<Full<Bytes>> {
    let mut request = Request::builder().method(Method::POST).uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(Full::new(body.into())).expect("request")
}
