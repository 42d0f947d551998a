//! TLS to `https://` upstreams: the `[upstream]` trust anchors (webpki roots, or `ca_file`),
//! the optional client certificate for upstream mTLS, the `server_name` override, and the
//! handshake, which offers `h2` and `http/1.1`.

use std::collections::hash_map::DefaultHasher;
use std::error::Error as StdError;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::load::{self, Part, PemError};

/// The files and names `[upstream]` sets for TLS, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct UpstreamTlsFiles {
    pub ca_file: Option<PathBuf>,
    /// `client_cert_file` and `client_key_file` (both or neither).
    pub client_pair: Option<(PathBuf, PathBuf)>,
    pub server_name: Option<ServerName<'static>>,
}

/// Which `[upstream]` key a TLS problem belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(
    clippy::enum_variant_names,
    reason = "the variants name the config keys, which all end in _file"
)]
pub enum UpstreamTlsKey {
    CaFile,
    ClientCertFile,
    ClientKeyFile,
}

/// Loaded upstream TLS settings: a ready connector, shared by every `https://` upstream.
#[derive(Clone)]
pub struct UpstreamTls {
    pub files: UpstreamTlsFiles,
    connector: TlsConnector,
    /// Hash of the files' contents and the settings: equal fingerprints, equal behaviour.
    fingerprint: u64,
}

impl fmt::Debug for UpstreamTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamTls")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

/// How a handshake with an upstream ended well.
pub struct Negotiated {
    pub stream: TlsStream<TcpStream>,
    /// The upstream chose `h2` by ALPN.
    pub http2: bool,
}

impl UpstreamTls {
    /// Reads the CA bundle and the client pair, if any. Blocking (reads files).
    pub fn load(files: UpstreamTlsFiles) -> Result<UpstreamTls, (UpstreamTlsKey, PemError)> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut hasher = DefaultHasher::new();
        files.hash(&mut hasher);
        let roots = match &files.ca_file {
            None => RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            Some(path) => {
                let at = |err| (UpstreamTlsKey::CaFile, err);
                let pem = load::read(path, Part::Cert).map_err(at)?;
                pem.hash(&mut hasher);
                let name = path.display().to_string();
                let mut roots = RootCertStore::empty();
                for certificate in load::parse_certificates(&pem, &name, Part::Cert).map_err(at)? {
                    roots.add(certificate).map_err(|err| {
                        at(PemError {
                            part: Part::Cert,
                            reason: format!("{name}: not a usable CA certificate ({err})"),
                        })
                    })?;
                }
                roots
            }
        };
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|err| (UpstreamTlsKey::CaFile, internal(err)))?
            .with_root_certificates(roots);
        let mut config = match &files.client_pair {
            None => builder.with_no_client_auth(),
            Some((cert_file, key_file)) => {
                let cert_pem = load::read(cert_file, Part::Cert).map_err(pair_key)?;
                let key_pem = load::read(key_file, Part::Key).map_err(pair_key)?;
                cert_pem.hash(&mut hasher);
                key_pem.hash(&mut hasher);
                let pair = load::parse_pair(
                    &cert_pem,
                    &key_pem,
                    &cert_file.display().to_string(),
                    &key_file.display().to_string(),
                    &provider,
                )
                .map_err(pair_key)?;
                builder.with_client_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(
                    Arc::unwrap_or_clone(pair.certified),
                )))
            }
        };
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(UpstreamTls {
            files,
            connector: TlsConnector::from(Arc::new(config)),
            fingerprint: hasher.finish(),
        })
    }

    /// Whether `other` was loaded from the same settings and file contents.
    pub fn same_as(&self, other: &UpstreamTls) -> bool {
        self.fingerprint == other.fingerprint
    }

    /// The name to verify an upstream at `host` by (and send as SNI): `server_name` if set.
    pub fn server_name(&self, host: &str) -> Option<ServerName<'static>> {
        match &self.files.server_name {
            Some(name) => Some(name.clone()),
            None => {
                let host = host.trim_start_matches('[').trim_end_matches(']');
                ServerName::try_from(host.to_string()).ok()
            }
        }
    }

    /// The handshake over a connected `stream`; the error is rustls' (or the socket's).
    pub async fn handshake(
        &self,
        name: ServerName<'static>,
        stream: TcpStream,
    ) -> std::io::Result<Negotiated> {
        let stream = self.connector.connect(name, stream).await?;
        let http2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        Ok(Negotiated { stream, http2 })
    }
}

fn internal(err: rustls::Error) -> PemError {
    PemError {
        part: Part::Cert,
        reason: format!("cannot build a TLS configuration ({err})"),
    }
}

fn pair_key(err: PemError) -> (UpstreamTlsKey, PemError) {
    let key = match err.part {
        Part::Cert => UpstreamTlsKey::ClientCertFile,
        Part::Key => UpstreamTlsKey::ClientKeyFile,
    };
    (key, err)
}

/// The TLS failure `error` is or wraps, if any: a rejected certificate, a failed handshake,
/// or an alert from the peer (a TLS 1.3 server refusing the client certificate says so only
/// after the handshake, on the first read).
pub(crate) fn tls_error<'e>(error: &'e (dyn StdError + 'static)) -> Option<&'e rustls::Error> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            // `io::Error::source` skips the wrapped error itself: look at it directly.
            if let Some(tls) = io.get_ref().and_then(|inner| inner.downcast_ref()) {
                return Some(tls);
            }
        }
        current = error.source();
    }
    None
}

/// Whether `host` (of an `https://` URL) can be verified: a DNS name or an IP address.
pub(crate) fn is_server_name(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host).is_ok()
}
