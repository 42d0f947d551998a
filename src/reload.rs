//! Hot reload: all or nothing. A reload loads the config and every secret anew, builds a whole
//! [`Snapshot`] and swaps it in; any error keeps the running snapshot. Triggers: changes in the
//! directories of the config and secret files (atomic renames and Kubernetes' `..data` symlink
//! swap included), `SIGHUP`, `POST /reload`, and a content-fingerprint poll as a backstop.
//!
//! - [`tls`]: the steps that concern listener certificates.
//! - [`watch`]: the file watcher and the poll, in one background task.

pub(crate) mod tls;
mod watch;

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::config::{Config, ConfigError};
use crate::metrics::Metrics;
use crate::proxy::Gateway;
use crate::snapshot::Snapshot;

pub(crate) use self::watch::spawn_watch;

/// Fingerprint that matches no content: the next trigger reloads.
const CHANGED: u64 = 0;

/// Secrets expiring within this window are warned about.
pub(crate) const EXPIRY_WARNING: i64 = 24 * 3600;

/// Reloads one gateway from one config path.
pub(crate) struct Reloader {
    gateway: Arc<Gateway>,
    path: PathBuf,
    /// Serialises reloads; remembers what was last loaded (or last failed to load).
    state: Mutex<Loaded>,
}

/// The files the last load attempt depended on and a fingerprint of their content. After a
/// failure these include the files the broken config names, so that the secret it waits for
/// triggers the retry, and nothing else does: a broken config is not reloaded (and logged)
/// again until something it depends on changes.
struct Loaded {
    files: Vec<PathBuf>,
    fingerprint: u64,
}

/// What a successful reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReloadReport {
    pub trigger: String,
    /// Keys whose new values need a restart and were not applied.
    pub restart_required: Vec<String>,
    pub warnings: Vec<String>,
}

impl ReloadReport {
    /// The JSON `POST /reload` answers with.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        json!({ "result": "success", "trigger": self.trigger, "restart_required": self.restart_required, "warnings": self.warnings })
    }
}

impl Reloader {
    /// A reloader for `gateway`, whose running snapshot was loaded from `path`.
    pub(crate) fn new(gateway: Arc<Gateway>, path: PathBuf) -> Arc<Reloader> {
        let files = gateway.snapshot().config.referenced_files();
        let fingerprint = fingerprint_of_path(&path, &files);
        Arc::new(Reloader {
            gateway,
            path,
            state: Mutex::new(Loaded { files, fingerprint }),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Loaded> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Loads and swaps in a new snapshot, or keeps the running one and returns why not.
    /// Blocking (reads files): call from a blocking context.
    pub(crate) fn reload(&self, trigger: &str) -> Result<ReloadReport, ConfigError> {
        let mut state = self.state();
        let metrics = self.gateway.metrics();
        let current = self.gateway.snapshot();
        let old_files = current.config.referenced_files();
        let before = fingerprint_of_path(&self.path, &old_files);
        // What a failed load depends on, fingerprinted before reading it: a file fixed while
        // (or right after) this load fails differs from this and is loaded by the next check.
        let attempted = self.attempted_files(&old_files);
        let attempted_fingerprint = fingerprint_of_path(&self.path, &attempted);
        let mut config = match Config::load(&self.path) {
            Ok(config) => config,
            Err(error) => {
                *state = Loaded {
                    files: attempted,
                    fingerprint: attempted_fingerprint,
                };
                record_failure(metrics, trigger, &error);
                return Err(error);
            }
        };
        if let Some(error) =
            tls::expired_replacement(&config, &current.config, self.gateway.clock().now())
        {
            *state = Loaded {
                files: attempted,
                fingerprint: attempted_fingerprint,
            };
            record_failure(metrics, trigger, &error);
            return Err(error);
        }
        let restart_required = keep_restart_keys(&mut config, &current.config);
        log_findings(trigger, &restart_required, &config.warnings);
        let warnings = config.warnings.clone();
        let files = config.referenced_files();
        let snapshot = Snapshot::build(config, Some(&current), metrics);
        publish_secret_expiry(metrics, &snapshot);
        warn_expiring_secrets(&snapshot, self.gateway.clock().now());
        self.gateway.swap(snapshot);
        let after = fingerprint_of_path(&self.path, &files);
        // Files that changed while being read: make the next trigger load them again.
        let fingerprint = if files == old_files && after != before {
            CHANGED
        } else {
            after
        };
        *state = Loaded { files, fingerprint };
        record_success(metrics);
        tracing::info!(trigger, "configuration reloaded");
        Ok(ReloadReport {
            trigger: trigger.to_string(),
            restart_required,
            warnings,
        })
    }

    /// The files a load now depends on, whatever its outcome: those of the running config and
    /// those the config file declares.
    fn attempted_files(&self, old_files: &[PathBuf]) -> Vec<PathBuf> {
        let mut attempted = old_files.to_vec();
        for declared in Config::declared_files(&self.path) {
            if !attempted.contains(&declared) {
                attempted.push(declared);
            }
        }
        attempted
    }

    /// Reloads if the content of the files the last attempt depended on has changed.
    pub(crate) fn reload_if_changed(
        &self,
        trigger: &str,
    ) -> Option<Result<ReloadReport, ConfigError>> {
        let changed = {
            let state = self.state();
            fingerprint_of_path(&self.path, &state.files) != state.fingerprint
        };
        changed.then(|| self.reload(trigger))
    }

    /// Directories to watch: those holding the config and the files it depends on.
    pub(crate) fn watched_dirs(&self) -> BTreeSet<PathBuf> {
        let state = self.state();
        std::iter::once(&self.path)
            .chain(&state.files)
            .map(|file| parent_dir(file))
            .collect()
    }

    /// Whether a change to `paths` can matter: one of the files the config depends on (an
    /// editor renaming over it included), or a Kubernetes `..data` symlink swap.
    pub(crate) fn concerns(&self, paths: &[PathBuf]) -> bool {
        let state = self.state();
        let names: Vec<&std::ffi::OsStr> = std::iter::once(&self.path)
            .chain(&state.files)
            .filter_map(|f| f.file_name())
            .collect();
        paths
            .iter()
            .filter_map(|path| path.file_name())
            .any(|name| name == "..data" || names.contains(&name))
    }
}

/// Marks a successful load in the metrics.
pub(crate) fn record_success(metrics: &Metrics) {
    metrics.config_reloads.with_label_values(&["success"]).inc();
    metrics.config_last_reload_success.set(1);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    metrics.config_last_reload_success_timestamp.set(now);
}

/// Marks a failed load in the metrics and logs why the previous configuration stays.
fn record_failure(metrics: &Metrics, trigger: &str, error: &ConfigError) {
    metrics.config_reloads.with_label_values(&["failure"]).inc();
    metrics.config_last_reload_success.set(0);
    tracing::error!(trigger, file = %error.file.display(), key = %error.key, reason = %error.reason, "reload failed; still serving the previous configuration");
}

/// Logs the keys kept until a restart and the new config's warnings.
fn log_findings(trigger: &str, restart_required: &[String], warnings: &[String]) {
    for key in restart_required {
        tracing::warn!(
            trigger,
            key,
            "changed value needs a restart; keeping the running one"
        );
    }
    for warning in warnings {
        tracing::warn!(trigger, "{warning}");
    }
}

/// Sets `secret_not_after_timestamp_seconds` for every secret of `snapshot` that has one (and
/// `tls_cert_not_after_timestamp_seconds` for each TLS listener).
pub(crate) fn publish_secret_expiry(metrics: &Metrics, snapshot: &Snapshot) {
    tls::publish_expiry(metrics, &snapshot.config);
    metrics.secret_not_after.reset();
    for (name, keyring) in &snapshot.keyrings {
        for secret in keyring.secrets() {
            if let Some(not_after) = secret.not_after() {
                metrics
                    .secret_not_after
                    .with_label_values(&[name, secret.id()])
                    .set(not_after as f64);
            }
        }
    }
}

/// Logs one line per secret that has expired or expires within 24 h (and per listener
/// certificate within 7 days).
pub(crate) fn warn_expiring_secrets(snapshot: &Snapshot, now: i64) {
    tls::warn_expiring(&snapshot.config, now);
    for (name, keyring) in &snapshot.keyrings {
        for secret in keyring.secrets() {
            match secret.not_after() {
                Some(at) if at <= now => {
                    tracing::warn!(keyring = %name, secret = secret.id(), not_after = at, "secret has expired and no longer verifies")
                }
                Some(at) if at - now <= EXPIRY_WARNING => {
                    tracing::warn!(keyring = %name, secret = secret.id(), not_after = at, seconds_left = at - now, "secret expires within 24 h")
                }
                _ => {}
            }
        }
    }
}

/// Keys that only take effect at start-up keep their running values.
fn keep_restart_keys(new: &mut Config, running: &Config) -> Vec<String> {
    let mut changed = Vec::new();
    let mut keep = |key: &str, differs: bool| {
        if differs {
            changed.push(key.to_string());
        }
    };
    // Listeners, connection settings, the log subscriber and the watcher are set up at start.
    let (new_server, old_server) = (&new.server, &running.server);
    keep("server.listen", new_server.listen != old_server.listen);
    keep(
        "server.header_read_timeout",
        new_server.header_read_timeout != old_server.header_read_timeout,
    );
    keep(
        "server.max_header_bytes",
        new_server.max_header_bytes != old_server.max_header_bytes,
    );
    keep(
        "server.idle_timeout",
        new_server.idle_timeout != old_server.idle_timeout,
    );
    keep(
        "server.send_timeout",
        new_server.send_timeout != old_server.send_timeout,
    );
    keep(
        "server.http2_keepalive_interval",
        new_server.http2_keepalive_interval != old_server.http2_keepalive_interval,
    );
    keep(
        "server.max_connections",
        new_server.max_connections != old_server.max_connections,
    );
    keep("server.workers", new_server.workers != old_server.workers);
    keep("admin.listen", new.admin.listen != running.admin.listen);
    keep("log", new.log != running.log);
    keep("reload", new.reload != running.reload);
    new.server.listen = running.server.listen;
    new.server.header_read_timeout = running.server.header_read_timeout;
    new.server.max_header_bytes = running.server.max_header_bytes;
    new.server.idle_timeout = running.server.idle_timeout;
    new.server.send_timeout = running.server.send_timeout;
    new.server.http2_keepalive_interval = running.server.http2_keepalive_interval;
    new.server.max_connections = running.server.max_connections;
    new.server.workers = running.server.workers;
    new.admin.listen = running.admin.listen;
    new.log = running.log.clone();
    new.reload = running.reload.clone();
    changed.extend(tls::keep_listener_presence(new, running));
    changed
}

fn parent_dir(file: &Path) -> PathBuf {
    match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Hash of the contents of `files` (a missing file hashes as missing).
pub(crate) fn fingerprint(files: &[PathBuf]) -> u64 {
    let mut hasher = DefaultHasher::new();
    for file in files {
        file.hash(&mut hasher);
        std::fs::read(file).ok().hash(&mut hasher);
    }
    hasher.finish()
}

fn fingerprint_of_path(config: &Path, files: &[PathBuf]) -> u64 {
    if files.first().map(PathBuf::as_path) == Some(config) {
        fingerprint(files)
    } else {
        let mut all = vec![config.to_path_buf()];
        all.extend_from_slice(files);
        fingerprint(&all)
    }
}
