//! TLS with rustls (ring provider): listener termination, upstream `https://`, and the PEM files
//! both read.
//!
//! - [`load`]: PEM chains and keys (PKCS#8, SEC1, PKCS#1) → checked rustls values, leaf expiry.
//! - [`server`]: `[server] tls` / `[admin] tls` → an acceptor; ALPN `h2` / `http/1.1`.
//! - [`client`]: `[upstream]` `ca_file`, client pair, `server_name` → a connector.
//!
//! The loaded values live in the `Config` (so in the snapshot): a reload that reads a new
//! pair serves it to new handshakes; a broken pair fails the whole reload like any bad config.
//! This module imports nothing else of the crate; the reload steps that concern TLS are in
//! `reload/tls.rs`.

pub(crate) mod client;
pub(crate) mod load;
pub(crate) mod server;

pub(crate) use client::UpstreamTls;
pub(crate) use server::ListenerTls;

#[cfg(test)]
mod tests;
