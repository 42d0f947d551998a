//! The files a configuration depends on, which reload fingerprints and watches: those a
//! loaded [`Config`] references, and those a config file declares even when it does not load.

use std::path::{Path, PathBuf};

use super::{raw, tls, Config, SecretSource};

impl Config {
    /// The secret files a config file names, read as far as it parses (nothing when it does
    /// not): after a failed reload these are watched too, so that a secret mounted later than
    /// its config is picked up.
    pub fn declared_files(path: &Path) -> Vec<PathBuf> {
        let Ok(text) = std::fs::read_to_string(path) else {
            return Vec::new();
        };
        let Ok(raw) = toml::from_str::<raw::RawConfig>(&text) else {
            return Vec::new();
        };
        let mut files = tls::declared_files(&raw);
        files.extend(
            raw.keyrings
                .into_values()
                .flat_map(|keyring| keyring.secrets)
                .filter_map(|secret| secret.file.map(PathBuf::from)),
        );
        files
    }

    /// Every file this configuration depends on: the config file, each secret file and each
    /// TLS certificate, key and CA file.
    pub fn referenced_files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.path.clone()];
        for tls in [&self.server.tls, &self.admin.tls].into_iter().flatten() {
            files.extend([tls.cert_file.clone(), tls.key_file.clone()]);
        }
        let upstream = &self.upstream.tls.files;
        files.extend(upstream.ca_file.iter().cloned());
        if let Some((cert, key)) = &upstream.client_pair {
            files.extend([cert.clone(), key.clone()]);
        }
        for keyring in self.keyrings.values() {
            for secret in &keyring.secrets {
                if let SecretSource::File(path) = &secret.source {
                    files.push(path.clone());
                }
            }
        }
        files
    }
}
