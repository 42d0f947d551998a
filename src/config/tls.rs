//! TLS keys → loaded rustls values: `[server] tls`, `[admin] tls`, and `[upstream]` `ca_file`,
//! `client_cert_file`, `client_key_file`, `server_name`. Files are read here, once per load;
//! every problem names the config file, the key and the file it is about.

use std::path::PathBuf;
use std::sync::Arc;

use rustls_pki_types::ServerName;

use super::context::Ctx;
use super::raw::{RawConfig, RawTls, RawUpstream};
use super::ConfigError;
use crate::tls::client::{UpstreamTlsFiles, UpstreamTlsKey};
use crate::tls::load::Part;
use crate::tls::server::Offer;
use crate::tls::{ListenerTls, UpstreamTls};

/// `base` = `tls = { cert_file, key_file }` (e.g. `server.tls`), loaded.
pub(super) fn listener(
    ctx: &Ctx<'_>,
    base: &str,
    raw: Option<&RawTls>,
    offer: Offer,
) -> Result<Option<ListenerTls>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    let cert_file = file(ctx, &format!("{base}.cert_file"), &raw.cert_file)?;
    let key_file = file(ctx, &format!("{base}.key_file"), &raw.key_file)?;
    ListenerTls::load(cert_file, key_file, offer)
        .map(Some)
        .map_err(|err| {
            let key = match err.part {
                Part::Cert => "cert_file",
                Part::Key => "key_file",
            };
            ctx.err(format!("{base}.{key}"), err.reason)
        })
}

/// The `[upstream]` TLS keys, loaded (the webpki roots when `ca_file` is not set).
pub(super) fn upstream(ctx: &Ctx<'_>, raw: &RawUpstream) -> Result<Arc<UpstreamTls>, ConfigError> {
    let ca_file = match raw.ca_file.as_deref() {
        Some(text) => Some(file(ctx, "upstream.ca_file", text)?),
        None => None,
    };
    let client_pair = match (&raw.client_cert_file, &raw.client_key_file) {
        (None, None) => None,
        (Some(cert), Some(key)) => Some((
            file(ctx, "upstream.client_cert_file", cert)?,
            file(ctx, "upstream.client_key_file", key)?,
        )),
        (Some(_), None) => {
            return Err(ctx.err(
                "upstream.client_key_file",
                "client_cert_file needs client_key_file",
            ))
        }
        (None, Some(_)) => {
            return Err(ctx.err(
                "upstream.client_cert_file",
                "client_key_file needs client_cert_file",
            ))
        }
    };
    let server_name = match raw.server_name.as_deref() {
        Some(text) => Some(ServerName::try_from(text.to_string()).map_err(|_| {
            ctx.err(
                "upstream.server_name",
                format!("{text:?} is not a DNS name or IP address"),
            )
        })?),
        None => None,
    };
    let files = UpstreamTlsFiles {
        ca_file,
        client_pair,
        server_name,
    };
    UpstreamTls::load(files)
        .map(Arc::new)
        .map_err(|(key, err)| {
            let key = match key {
                UpstreamTlsKey::CaFile => "upstream.ca_file",
                UpstreamTlsKey::ClientCertFile => "upstream.client_cert_file",
                UpstreamTlsKey::ClientKeyFile => "upstream.client_key_file",
            };
            ctx.err(key, err.reason)
        })
}

/// The TLS files a config file names, read as far as it parses (for watching a broken one).
pub(super) fn declared_files(raw: &RawConfig) -> Vec<PathBuf> {
    let listeners = [&raw.server.tls, &raw.admin.tls]
        .into_iter()
        .flatten()
        .flat_map(|tls| [&tls.cert_file, &tls.key_file]);
    let upstream = &raw.upstream;
    let upstream = [
        &upstream.ca_file,
        &upstream.client_cert_file,
        &upstream.client_key_file,
    ]
    .into_iter()
    .flatten();
    listeners.chain(upstream).map(PathBuf::from).collect()
}

fn file(ctx: &Ctx<'_>, key: &str, text: &str) -> Result<PathBuf, ConfigError> {
    if text.trim().is_empty() {
        return Err(ctx.err(key, "must name a file"));
    }
    Ok(PathBuf::from(text))
}
