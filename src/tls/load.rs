//! PEM certificate chains and private keys → rustls values, checked to belong together, with the
//! leaf's expiry. [`parse_pair`] and [`parse_certificates`] take bytes and return values (no
//! files, no clock); [`read`] is the thin file shell around them.
//!
//! Errors never quote key material: a key file's problem is described, not shown.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Which of the two files of a pair a problem is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Cert,
    Key,
}

/// A problem with one file of a pair (or of a CA bundle): which file, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct PemError {
    pub part: Part,
    pub reason: String,
}

impl PemError {
    fn new(part: Part, reason: impl Into<String>) -> PemError {
        PemError {
            part,
            reason: reason.into(),
        }
    }
}

/// A certificate chain and its private key, checked to match, with facts about the leaf.
#[derive(Debug, Clone)]
pub(crate) struct Pair {
    pub certified: Arc<CertifiedKey>,
    pub leaf: LeafInfo,
}

/// What the gateway reports about a leaf certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafInfo {
    /// Unix seconds after which the certificate is expired (`notAfter`).
    pub not_after: i64,
    /// The subject as an RFC 4514 string, for logs and `check`.
    pub subject: String,
    /// The serial number in hex, for logs and `check`.
    pub serial: String,
}

/// Reads `file`, the `part` of a pair (or a CA bundle): an unreadable file is an error naming
/// it.
pub(crate) fn read(file: &Path, part: Part) -> Result<Vec<u8>, PemError> {
    std::fs::read(file)
        .map_err(|err| PemError::new(part, format!("{}: cannot read: {err}", file.display())))
}

/// Parses a PEM chain (leaf first) and a PEM private key (PKCS#8, SEC1 or PKCS#1) and checks
/// that the key is the leaf's. `cert_name` and `key_name` name the sources in errors.
pub(crate) fn parse_pair(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_name: &str,
    key_name: &str,
    provider: &CryptoProvider,
) -> Result<Pair, PemError> {
    let chain = parse_certificates(cert_pem, cert_name, Part::Cert)?;
    let leaf = leaf_info(&chain[0]).map_err(|reason| {
        PemError::new(
            Part::Cert,
            format!("{cert_name}: first certificate: {reason}"),
        )
    })?;
    let key = parse_private_key(key_pem, key_name)?;
    let signing_key = provider.key_provider.load_private_key(key).map_err(|err| {
        PemError::new(
            Part::Key,
            format!("{key_name}: unsupported private key ({err})"),
        )
    })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        Ok(()) => Ok(Pair {
            certified: Arc::new(certified),
            leaf,
        }),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(PemError::new(
                Part::Key,
                format!(
                    "{key_name}: the private key does not match the certificate in {cert_name}"
                ),
            ))
        }
        Err(err) => Err(PemError::new(
            Part::Key,
            format!("{key_name}: cannot check the key against {cert_name} ({err})"),
        )),
    }
}

/// Every `CERTIFICATE` section of `pem`, in order; at least one.
pub(crate) fn parse_certificates(
    pem: &[u8],
    name: &str,
    part: Part,
) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| PemError::new(part, format!("{name}: not valid PEM ({err})")))?;
    if chain.is_empty() {
        return Err(PemError::new(
            part,
            format!("{name}: no certificate found (expected PEM \"-----BEGIN CERTIFICATE-----\")"),
        ));
    }
    Ok(chain)
}

/// The first private key of `pem`. The parser's message is not repeated: it could quote
/// part of the key.
fn parse_private_key(pem: &[u8], name: &str) -> Result<PrivateKeyDer<'static>, PemError> {
    match PrivateKeyDer::from_pem_slice(pem) {
        Ok(key) => Ok(key),
        Err(pem::Error::NoItemsFound) if contains(pem, b"ENCRYPTED PRIVATE KEY") => Err(
            PemError::new(Part::Key, format!("{name}: encrypted private keys are not supported; decrypt it (openssl pkey -in … -out …)")),
        ),
        Err(pem::Error::NoItemsFound) => Err(PemError::new(
            Part::Key,
            format!("{name}: no private key found (expected PEM \"PRIVATE KEY\", \"EC PRIVATE KEY\" or \"RSA PRIVATE KEY\")"),
        )),
        Err(_) => Err(PemError::new(
            Part::Key,
            format!("{name}: not valid PEM (details not shown: the file holds a key)"),
        )),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Expiry, subject and serial of a DER certificate.
pub(crate) fn leaf_info(der: &CertificateDer<'_>) -> Result<LeafInfo, String> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, certificate) = X509Certificate::from_der(der.as_ref())
        .map_err(|err| format!("not an X.509 certificate ({err})"))?;
    Ok(LeafInfo {
        not_after: certificate.validity().not_after.timestamp(),
        subject: certificate.subject().to_string(),
        serial: certificate.raw_serial_as_string(),
    })
}
