//! The pooled upstream client: connect and total timeouts, failures classified by fault.

use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::body::GatewayBody;
use crate::config::UpstreamConfig;

/// Why the upstream did not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// The connection could not be made (refused, unreachable, connect timeout).
    Connect = 0,
    /// No response head within the route's timeout.
    Timeout = 1,
    /// The connection broke before a response head arrived.
    Broken = 2,
}

impl UpstreamFailure {
    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamFailure::Connect => "connect",
            UpstreamFailure::Timeout => "timeout",
            UpstreamFailure::Broken => "broken",
        }
    }
}

/// A keep-alive connection pool to HTTP upstreams.
#[derive(Debug)]
pub struct UpstreamClient {
    client: Client<HttpConnector, GatewayBody>,
    settings: (Duration, Duration, usize),
}

impl UpstreamClient {
    /// A client with the pool and connect settings of `config`.
    pub fn new(config: &UpstreamConfig) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(config.connect_timeout));
        connector.set_nodelay(true);
        connector.set_keepalive(Some(Duration::from_secs(60)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(config.pool_idle_timeout)
            .pool_max_idle_per_host(config.pool_max_idle_per_host)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector);
        UpstreamClient {
            client,
            settings: Self::key(config),
        }
    }

    fn key(config: &UpstreamConfig) -> (Duration, Duration, usize) {
        (
            config.connect_timeout,
            config.pool_idle_timeout,
            config.pool_max_idle_per_host,
        )
    }

    /// Whether a client built from `config` would be the same as this one.
    pub fn settings_match(&self, config: &UpstreamConfig) -> bool {
        self.settings == Self::key(config)
    }

    /// Sends `request` and waits at most `timeout` for the response head.
    pub async fn send(
        &self,
        request: Request<GatewayBody>,
        timeout: Duration,
    ) -> Result<Response<Incoming>, UpstreamFailure> {
        match tokio::time::timeout(timeout, self.client.request(request)).await {
            Err(_elapsed) => Err(UpstreamFailure::Timeout),
            Ok(Ok(response)) => Ok(response),
            Ok(Err(err)) if err.is_connect() => Err(UpstreamFailure::Connect),
            Ok(Err(_)) => Err(UpstreamFailure::Broken),
        }
    }
}
