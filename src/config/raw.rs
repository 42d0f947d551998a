//! The TOML file as written: serde structs with `deny_unknown_fields`, nothing validated yet.
//!
//! `convert.rs` turns these into the domain types of this module; nothing else reads them.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::secret::Secret;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub admin: RawAdmin,
    pub upstream: RawUpstream,
    #[serde(default)]
    pub identity: RawIdentity,
    #[serde(default)]
    pub signature: RawSignature,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default)]
    pub reload: RawReload,
    #[serde(default)]
    pub keyrings: BTreeMap<String, RawKeyring>,
    #[serde(default)]
    pub routes: Vec<RawRoute>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    pub listen: Option<String>,
    pub tls: Option<RawTls>,
    pub max_body_bytes: Option<u64>,
    pub max_buffered_bytes: Option<u64>,
    pub max_header_bytes: Option<u64>,
    pub header_read_timeout: Option<String>,
    pub body_read_timeout: Option<String>,
    pub idle_timeout: Option<String>,
    pub send_timeout: Option<String>,
    pub http2_keepalive_interval: Option<String>,
    pub trusted_proxies: Option<Vec<String>>,
    pub shutdown_delay: Option<String>,
    pub shutdown_grace: Option<String>,
    pub max_in_flight: Option<u64>,
    pub max_connections: Option<u64>,
    pub workers: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAdmin {
    pub listen: Option<String>,
    pub tls: Option<RawTls>,
}

/// `tls = { cert_file, key_file }` of a listener.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    pub cert_file: String,
    pub key_file: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUpstream {
    pub url: String,
    pub connect_timeout: Option<String>,
    pub timeout: Option<String>,
    pub webhook_timeout: Option<String>,
    pub pool_idle_timeout: Option<String>,
    pub pool_max_idle_per_host: Option<u64>,
    pub ca_file: Option<String>,
    pub client_cert_file: Option<String>,
    pub client_key_file: Option<String>,
    pub server_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIdentity {
    pub header_prefix: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSignature {
    pub tolerance: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    pub format: Option<String>,
    pub level: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReload {
    pub poll_interval: Option<String>,
    pub watch: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKeyring {
    pub kind: String,
    pub secrets: Vec<RawSecret>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSecret {
    pub id: String,
    pub file: Option<String>,
    pub env: Option<String>,
    pub value: Option<Secret>,
    pub not_after: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    pub id: String,
    pub path: Option<String>,
    pub path_prefix: Option<String>,
    pub methods: Option<Vec<String>>,
    pub auth: String,
    pub keyring: Option<String>,
    pub app_signature: Option<String>,
    pub require_roles_any: Option<Vec<String>>,
    pub require_roles_all: Option<Vec<String>>,
    pub cors: Option<bool>,
    pub upstream: Option<String>,
    pub timeout: Option<String>,
    pub replay: Option<String>,
    pub events: Option<Vec<String>>,
    pub livemode: Option<String>,
    pub dedupe: Option<bool>,
    pub dedupe_window: Option<String>,
}
