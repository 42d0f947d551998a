//! The integration suite: one test binary, so the crate is linked once for all of it. Each
//! module was a test binary of its own; `common` is the shared harness (a gateway and a
//! recording upstream on `127.0.0.1:0`, a client with a deadline on every await, signing).
//!
//! All tests share this process, in parallel threads. None may change process-wide state
//! (environment variables, current directory, umask, signal handlers): tests that need the
//! real binary spawn `CARGO_BIN_EXE_stripe-app-gateway`, set its environment on the `Command`
//! and signal only its pid. While a child starts, it holds copies of every descriptor of this
//! process until its `exec`, so a socket another test drops may stay open a moment longer:
//! close with `shutdown` where the peer must see the FIN at once, and do not expect a closed
//! listener's port to refuse connections the instant it is dropped.

#![allow(
    unreachable_pub,
    reason = "the suite's modules are private to this binary; `pub` is their interface"
)]

mod common;

mod app;
mod app_headers;
mod cli;
mod connection_limits;
mod http1_path;
mod ops;
mod pipeline_limits;
mod process;
mod reload;
mod route_encodings;
mod send_timeout;
mod smoke;
mod timeouts;
mod tls;
mod upstream_pool;
mod vectors;
mod webhook;
mod webhook_failures;
