//! The reload steps that concern TLS: publishing and warning about certificate expiry, and
//! keeping a listener's TLS on or off until a restart.

use crate::config::{Config, ConfigError};
use crate::metrics::Metrics;

/// Certificates expiring within this window are warned about (hourly, with the secrets).
pub(crate) const CERT_EXPIRY_WARNING: i64 = 7 * 24 * 3600;

/// Sets `tls_cert_not_after_timestamp_seconds{listener}` for each TLS listener of `config`.
pub(crate) fn publish_expiry(metrics: &Metrics, config: &Config) {
    metrics.tls_cert_not_after.reset();
    for (listener, tls) in config.tls_listeners() {
        metrics
            .tls_cert_not_after
            .with_label_values(&[listener])
            .set(tls.leaf.not_after as f64);
    }
}

/// Logs one line per listener certificate that has expired or expires within a week.
pub(crate) fn warn_expiring(config: &Config, now: i64) {
    for (listener, tls) in config.tls_listeners() {
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
pub(crate) fn keep_listener_presence(new: &mut Config, running: &Config) -> Vec<String> {
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

/// A reload must not swap a listener's valid certificate for one that has already expired (a
/// bad push from a certificate manager would otherwise take every replica out of rotation):
/// the error that refuses it, if `new` does. A listener whose running certificate has expired
/// too takes the new one (nothing valid is lost).
pub(crate) fn expired_replacement(new: &Config, running: &Config, now: i64) -> Option<ConfigError> {
    new.tls_listeners().find_map(|(listener, tls)| {
        let running_valid = running
            .tls_listeners()
            .any(|(name, old)| name == listener && old.leaf.not_after > now);
        (tls.leaf.not_after <= now && running_valid).then(|| ConfigError {
            file: new.path.clone(),
            key: format!("{}.tls.cert_file", config_section(listener)),
            reason: format!(
                "{}: the certificate expired at Unix time {}; the running certificate, still \
                 valid, is kept",
                tls.cert_file.display(),
                tls.leaf.not_after
            ),
        })
    })
}

/// The config section of a listener's metric label.
fn config_section(listener: &str) -> &'static str {
    match listener {
        "admin" => "admin",
        _ => "server",
    }
}
