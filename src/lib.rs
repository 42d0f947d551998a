//! stripe-app-gateway: a reverse proxy that authenticates Stripe App traffic.
//!
//! Modules, and the one direction their dependencies point (each layer imports only from the
//! layers above it in this list):
//!
//! 1. **Pure core** (values in, values out; no sockets, no clock reads, nothing from below):
//!    [`auth`] (signature parsing and verification, app modes, webhook events, strict JSON),
//!    [`config`] (the TOML file → validated types), `routes` (path matching), `cors` (CORS
//!    rules), [`secret`] (the redacted `Secret`), [`clock`] (time as a dependency), `tls`
//!    (certificates and keys from PEM files → rustls configurations, reloadable), [`http1`]
//!    (the HTTP/1.1 head and chunked-body codec with strict framing rules that the server
//!    connection and the upstream client drive; benchmarked in `benches/http1.rs`).
//! 2. **I/O services**, each knowing nothing of the pipeline: `upstream` (the HTTP/1.1 client
//!    driven in the caller's task, its per-thread idle connections, the shared HTTP/2
//!    connection, failures, `builtin:echo`), `store` (replay marks and webhook dedupe, behind
//!    one trait), `accesslog` (buffered access-log lines).
//! 3. **Shared types**: `body` (the bodies the gateway sends), `outcome` (auth and webhook
//!    outcomes), `error` (every refusal and its response), [`metrics`] (Prometheus handles
//!    resolved per route), [`snapshot`] (config, keyrings, compiled routes and upstreams in one
//!    immutable value).
//! 4. **Pipeline**: [`proxy`] (route → preflight → body → verify → authorize → rewrite →
//!    forward → record, one file per phase).
//! 5. **Shell**: `server` (one serving thread per core with its own listener; the HTTP/1.1
//!    connection on the codec, HTTP/2 on hyper), `admin` (`/healthz`, `/readyz`,
//!    `/metrics`, `/reload`), `reload` (hot reload), [`run`] (start and drain), `signal`,
//!    `telemetry`.
//! 6. **Command line**: [`cli`].
//!
//! `fuzzing` (hidden) holds the checks the fuzz targets in `fuzz/` and their replay test run.

mod accesslog;
mod admin;
pub mod auth;
mod body;
pub mod cli;
pub mod clock;
pub mod config;
mod cors;
mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod http1;
pub mod metrics;
mod outcome;
pub mod proxy;
mod reload;
mod routes;
pub mod run;
pub mod secret;
mod server;
mod signal;
pub mod snapshot;
mod store;
mod telemetry;
mod tls;
mod upstream;
mod words;
