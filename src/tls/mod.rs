//! TLS with rustls (ring provider): listener termination, upstream `https://`, and the PEM files
//! both read.
//!
//! - [`load`]: PEM chains and keys (PKCS#8, SEC1, PKCS#1) → checked rustls values, leaf expiry.
//! - [`server`]: `[server] tls` / `[admin] tls` → an acceptor; ALPN `h2` / `http/1.1`.
//! - [`client`]: `[upstream]` `ca_file`, client pair, `server_name` → a connector.
//!
//! The loaded values live in the [`Config`] (so in the snapshot): a reload that reads a new
//! pair serves it to new handshakes; a broken pair fails the whole reload like any bad config.
//! This module also holds the few reload and metrics steps that concern TLS.

pub mod client;
pub mod load;
pub mod server;

pub use client::UpstreamTls;
pub use server::ListenerTls;

use crate::config::Config;
use crate::metrics::Metrics;

/// Certificates expiring within this window are warned about (hourly, with the secrets).
pub const CERT_EXPIRY_WARNING: i64 = 7 * 24 * 3600;

/// The listeners of `config` that terminate TLS, by metric label.
pub fn listeners(config: &Config) -> impl Iterator<Item = (&'static str, &ListenerTls)> {
    [("data", &config.server.tls), ("admin", &config.admin.tls)]
        .into_iter()
        .filter_map(|(name, tls)| tls.as_ref().map(|tls| (name, tls)))
}

/// Sets `tls_cert_not_after_timestamp_seconds{listener}` for each TLS listener of `config`.
pub fn publish_expiry(metrics: &Metrics, config: &Config) {
    metrics.tls_cert_not_after.reset();
    for (listener, tls) in listeners(config) {
        metrics
            .tls_cert_not_after
            .with_label_values(&[listener])
            .set(tls.leaf.not_after as f64);
    }
}

/// Logs one line per listener certificate that has expired or expires within a week.
pub fn warn_expiring(config: &Config, now: i64) {
    for (listener, tls) in listeners(config) {
        let (at, file) = (tls.leaf.not_after, tls.cert_file.display());
        if at <= now {
            tracing::warn!(listener, file = %file, not_after = at, "TLS certificate has expired");
        } else if at - now <= CERT_EXPIRY_WARNING {
            tracing::warn!(listener, file = %file, not_after = at, seconds_left = at - now, "TLS certificate expires within 7 days");
        }
    }
}

/// Turning TLS on or off for a listener needs a restart (the listener's protocol changes): a
/// reload keeps the running choice and lists the key. A new pair for a listener that already
/// terminates TLS is applied.
pub fn keep_listener_presence(new: &mut Config, running: &Config) -> Vec<String> {
    let mut changed = Vec::new();
    if new.server.tls.is_some() != running.server.tls.is_some() {
        changed.push("server.tls".to_string());
        new.server.tls = running.server.tls.clone();
    }
    if new.admin.tls.is_some() != running.admin.tls.is_some() {
        changed.push("admin.tls".to_string());
        new.admin.tls = running.admin.tls.clone();
    }
    changed
}

#[cfg(test)]
mod tests;
