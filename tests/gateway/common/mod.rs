//! Shared harness for the integration tests: a gateway on `127.0.0.1:0`, a recording test
//! upstream on `127.0.0.1:0`, a client with a deadline on every await, and signing helpers.

mod upstream;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use stripe_app_gateway::auth::signature::signature_header;
use stripe_app_gateway::clock::{Clock, ManualClock, SystemClock};
use stripe_app_gateway::config::Config;
use stripe_app_gateway::run::{self, Running};
use stripe_app_gateway::secret::Secret;

pub use self::upstream::{Behaviour, Seen, Upstream};

/// Every await in a test ends within this.
pub const DEADLINE: Duration = Duration::from_secs(10);

pub const APP_SECRET: &str = "absec_test_current_0123456789abcdef";
pub const APP_SECRET_OLD: &str = "absec_test_previous_0123456789abcdef";
pub const WEBHOOK_SECRET: &str = "whsec_test_live_0123456789abcdef";

/// Awaits `future` or panics after [`DEADLINE`].
pub async fn deadline<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(DEADLINE, future)
        .await
        .expect("deadline exceeded")
}

/// Unix seconds now.
pub fn now() -> i64 {
    SystemClock.now()
}

/// `t=…,v1=…` for `body` signed with `secrets` at `timestamp`.
pub fn sign(secrets: &[&str], timestamp: i64, body: &[u8]) -> String {
    let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
    let refs: Vec<&Secret> = secrets.iter().collect();
    signature_header(&refs, timestamp, body)
}

/// The default app body `{"user_id":…,"account_id":…}`.
pub fn app_body(user: &str, account: &str) -> Vec<u8> {
    format!(r#"{{"user_id":"{user}","account_id":"{account}"}}"#).into_bytes()
}

/// A webhook event body.
pub fn event_body(id: &str, event_type: &str, livemode: bool, account: Option<&str>) -> Vec<u8> {
    let account = account.map_or(String::new(), |a| format!(r#","account":"{a}""#));
    format!(r#"{{"id":"{id}","object":"event","type":"{event_type}","livemode":{livemode}{account},"data":{{"object":{{}}}}}}"#).into_bytes()
}

/// A gateway started from a config text, in its own temporary directory.
pub struct TestGateway {
    pub running: Option<Running>,
    pub data: SocketAddr,
    pub admin: SocketAddr,
    pub dir: tempfile::TempDir,
    pub clock: Arc<ManualClock>,
    pub registry: prometheus::Registry,
}

/// Configuration text with the usual keyrings; `{upstream}` and `{dir}` are substituted.
pub fn config_text(upstream: &str, routes: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
shutdown_delay = "0s"
shutdown_grace = "5s"

[admin]
listen = "127.0.0.1:0"

[upstream]
url = "{upstream}"
connect_timeout = "1s"
timeout = "2s"
webhook_timeout = "2s"

[reload]
poll_interval = "0s"
watch = false

[keyrings.app]
kind = "app"
secrets = [{{ id = "current", value = "{APP_SECRET}" }}]

[keyrings.hooks]
kind = "webhook"
secrets = [{{ id = "live", value = "{WEBHOOK_SECRET}" }}]

{routes}
"#
    )
}

/// An app route `/api/` with CORS, plus `extra` keys.
pub fn app_route(extra: &str) -> String {
    format!("[[routes]]\nid = \"ui\"\npath_prefix = \"/api/\"\nmethods = [\"GET\", \"POST\"]\nauth = \"app\"\nkeyring = \"app\"\ncors = true\n{extra}\n")
}

impl TestGateway {
    /// An HTTP/2 prior-knowledge connection to the data listener; the spawned task drives it
    /// (answering pings) until it ends.
    pub async fn http2<B>(
        &self,
    ) -> (
        hyper::client::conn::http2::SendRequest<B>,
        tokio::task::JoinHandle<Result<(), hyper::Error>>,
    )
    where
        B: http_body::Body + Send + Unpin + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let stream = deadline(tokio::net::TcpStream::connect(self.data))
            .await
            .expect("connect");
        let io = hyper_util::rt::TokioIo::new(stream);
        let (sender, connection) = deadline(hyper::client::conn::http2::handshake(
            TokioExecutor::new(),
            io,
        ))
        .await
        .expect("h2 handshake");
        (sender, tokio::spawn(connection))
    }

    /// Writes `text` to `gateway.toml` in a fresh directory and starts a gateway on it, with a
    /// manual clock set to the real time.
    pub async fn start(text: &str) -> TestGateway {
        let dir = tempfile::tempdir().expect("tempdir");
        let config_path = dir.path().join("gateway.toml");
        std::fs::write(
            &config_path,
            text.replace("{dir}", &dir.path().display().to_string()),
        )
        .expect("write config");
        Self::start_in(dir, config_path).await
    }

    /// Starts a gateway on an existing config file.
    pub async fn start_in(dir: tempfile::TempDir, config_path: PathBuf) -> TestGateway {
        let config = Config::load(&config_path).unwrap_or_else(|err| panic!("test config: {err}"));
        let clock = Arc::new(ManualClock::new(now()));
        let registry = prometheus::Registry::new();
        let running = deadline(run::start(config, registry.clone(), clock.clone()))
            .await
            .expect("start gateway");
        TestGateway {
            data: running.data_addr,
            admin: running.admin_addr,
            running: Some(running),
            dir,
            clock,
            registry,
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.data)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    /// The Prometheus exposition text.
    pub fn metrics(&self) -> String {
        stripe_app_gateway::metrics::render(&self.registry)
    }

    /// Drains and stops the gateway.
    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            deadline(running.shutdown()).await;
        }
    }
}

/// A response with its body read.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "not JSON ({err}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// `error.code` of a gateway error body.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// Sends one request with a deadline and reads the whole response.
pub async fn send(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Answer {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut builder = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder.body(Full::new(body.into())).expect("request");
    let response = deadline(client.request(request)).await.expect("response");
    let (parts, body) = response.into_parts();
    let body = deadline(body.collect()).await.expect("body").to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// A signed app `POST` of `body` to `url`.
pub async fn post_signed(url: &str, body: &[u8], extra: &[(&str, &str)]) -> Answer {
    let header = sign(&[APP_SECRET], now(), body);
    let mut headers = vec![
        ("stripe-signature", header.as_str()),
        ("content-type", "application/json"),
    ];
    headers.extend_from_slice(extra);
    send(Method::POST, url, &headers, body.to_vec()).await
}

/// A request body of several chunks whose length is not known in advance, so the client sends
/// it with `Transfer-Encoding: chunked` and no `Content-Length`.
pub struct Chunked(std::collections::VecDeque<Bytes>);

impl http_body::Body for Chunked {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(
            self.get_mut()
                .0
                .pop_front()
                .map(|b| Ok(http_body::Frame::data(b))),
        )
    }
}

/// Like [`send`], but the body goes out chunked (no `Content-Length`), in these chunks.
pub async fn send_chunked(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    chunks: Vec<Bytes>,
) -> Answer {
    let client: Client<_, Chunked> = Client::builder(TokioExecutor::new()).build_http();
    let mut builder = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder.body(Chunked(chunks.into())).expect("request");
    let response = deadline(client.request(request)).await.expect("response");
    let (parts, body) = response.into_parts();
    let body = deadline(body.collect()).await.expect("body").to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// Asserts that `answer` is the gateway's own JSON error of SPEC §6 with this status and code.
/// No upstream error of any kind was counted on any route.
pub fn assert_no_upstream_error(metrics: &str) {
    let counted: Vec<&str> = metrics
        .lines()
        .filter(|line| line.starts_with("stripe_app_gateway_upstream_errors_total{"))
        .filter(|line| !line.ends_with(" 0"))
        .collect();
    assert!(counted.is_empty(), "{counted:?}");
}

pub fn assert_error(answer: &Answer, status: u16, code: &str) {
    assert_eq!(
        answer.status,
        status,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let json = answer.json();
    let error = &json["error"];
    assert_eq!(error["code"], code, "{json}");
    for field in ["type", "code", "message", "request_id"] {
        assert!(
            error[field].as_str().is_some_and(|s| !s.is_empty()),
            "error.{field} missing: {json}"
        );
    }
    assert_eq!(
        error["request_id"].as_str(),
        answer.headers["x-request-id"].to_str().ok(),
        "the body's request id is the header's"
    );
    assert_eq!(answer.headers["content-type"], "application/json");
    assert_eq!(answer.headers["cache-control"], "no-store");
    if status == 401 {
        assert_eq!(answer.headers["www-authenticate"], "Stripe-Signature");
    }
}

/// Asserts that none of `needles` occurs in the body or in any header value of `answer`.
pub fn assert_reveals_none(answer: &Answer, needles: &[&str]) {
    let body = String::from_utf8_lossy(&answer.body);
    for needle in needles {
        assert!(!body.contains(needle), "body reveals {needle}: {body}");
        for (name, value) in &answer.headers {
            assert!(
                !String::from_utf8_lossy(value.as_bytes()).contains(needle),
                "header {name} reveals {needle}"
            );
        }
    }
}

/// An address on 127.0.0.1 where nothing listens. Its port stays bound, never listening, until
/// the suite ends: a port only released could be given to another test's listener (they all
/// bind port 0 in this process), which would then answer in its place. A test may still
/// listen on it itself, as both sockets set `SO_REUSEADDR`.
pub fn closed_port() -> SocketAddr {
    static RESERVED: Mutex<Vec<tokio::net::TcpSocket>> = Mutex::new(Vec::new());
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("bind");
    let addr = socket.local_addr().expect("addr");
    RESERVED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(socket);
    addr
}
