//! stripe-app-gateway: a reverse proxy that authenticates Stripe App traffic.
//!
//! Module map, in the order a request meets them:
//! - [`server`]: accept loop and HTTP connections of the data listener.
//! - [`proxy`]: the pipeline (route → preflight → body → verify → authorize → rewrite →
//!   forward → record), the upstream client and `builtin:echo`.
//! - [`routes`]: path matching; [`cors`]: preflights and `Access-Control-Allow-Origin`.
//! - [`auth`]: the pure signature core (header parsing, HMAC verification, app modes, webhook
//!   events, strict JSON). No I/O, no clock: `now` is a parameter.
//! - [`store`]: replay cache and webhook dedupe record.
//! - [`error`]: every refusal and its JSON response.
//! - [`snapshot`]: config, keyrings, compiled routes and header names in one immutable value.
//! - [`config`]: the TOML file → validated types; [`secret`]: the redacted `Secret`.
//! - [`reload`]: hot reload (file watch, poll, SIGHUP, `POST /reload`); [`signal`]: signals.
//! - [`accesslog`]: the buffered access log.
//! - [`admin`]: `/healthz`, `/readyz`, `/metrics`, `/reload`; [`metrics`]: Prometheus.
//! - [`run`]: starting and draining a gateway; [`cli`]: the command line;
//!   [`telemetry`]: logs; [`clock`]: time as a dependency.

pub mod accesslog;
pub mod admin;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod cors;
pub mod error;
pub mod http1;
pub mod metrics;
pub mod proxy;
pub mod reload;
pub mod routes;
pub mod run;
pub mod secret;
pub mod server;
pub mod signal;
pub mod snapshot;
pub mod store;
pub mod telemetry;
