//! PEM loading (every key format, every broken file), the TLS config keys and their errors,
//! the files reload watches, and the restart rule for turning TLS on or off.

use std::path::{Path, PathBuf};

use rcgen::{CertificateParams, KeyPair};

use super::client::tls_error;
use super::load::{parse_pair, Part};
use crate::config::{Config, ConfigError};

const RSA_PKCS1_KEY: &str = include_str!("../../tests/data/tls/rsa-pkcs1.key");
const RSA_CERT: &str = include_str!("../../tests/data/tls/rsa.crt");
const EC_SEC1_KEY: &str = include_str!("../../tests/data/tls/ec-sec1.key");
const EC_CERT: &str = include_str!("../../tests/data/tls/ec.crt");

/// 2040-01-01T00:00:00Z.
const NOT_AFTER_2040: i64 = 2_208_988_800;

/// A self-signed PKCS#8 pair for `name`, expiring at the start of 2040.
fn pkcs8_pair(name: &str) -> (String, String) {
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(vec![name.to_string()]).expect("params");
    params.not_after = rcgen::date_time_ymd(2040, 1, 1);
    let cert = params.self_signed(&key).expect("cert");
    (cert.pem(), key.serialize_pem())
}

fn parse(cert: &str, key: &str) -> Result<super::load::Pair, super::load::PemError> {
    let provider = rustls::crypto::ring::default_provider();
    parse_pair(
        cert.as_bytes(),
        key.as_bytes(),
        "cert.pem",
        "key.pem",
        &provider,
    )
}

#[test]
fn pkcs8_sec1_and_pkcs1_keys_load_with_their_leaf_facts() {
    let (cert, key) = pkcs8_pair("pkcs8.test");
    let pair = parse(&cert, &key).expect("PKCS#8");
    assert_eq!(pair.leaf.not_after, NOT_AFTER_2040);
    let pair = parse(EC_CERT, EC_SEC1_KEY).expect("SEC1");
    assert_eq!(pair.leaf.subject, "CN=ec.test");
    let pair = parse(RSA_CERT, RSA_PKCS1_KEY).expect("PKCS#1");
    assert_eq!(pair.leaf.subject, "CN=rsa.test");
    assert!(!pair.leaf.serial.is_empty());
}

#[test]
fn a_chain_keeps_every_certificate_leaf_first() {
    let (cert, key) = pkcs8_pair("leaf.test");
    let chain = format!("{cert}{RSA_CERT}");
    let pair = parse(&chain, &key).expect("chain");
    assert_eq!(pair.certified.cert.len(), 2);
    assert_eq!(pair.leaf.not_after, NOT_AFTER_2040);
}

#[test]
fn broken_pairs_name_the_file_at_fault_without_quoting_the_key() {
    let (cert, key) = pkcs8_pair("a.test");
    let (_, other_key) = pkcs8_pair("b.test");
    let cases: [(&str, &str, &str, Part, &str); 6] = [
        (
            "mismatch",
            &cert,
            &other_key,
            Part::Key,
            "does not match the certificate in cert.pem",
        ),
        (
            "key in cert file",
            &key,
            &key,
            Part::Cert,
            "no certificate found",
        ),
        (
            "garbage cert",
            "hello",
            &key,
            Part::Cert,
            "no certificate found",
        ),
        (
            "garbage key",
            &cert,
            "not a key",
            Part::Key,
            "no private key found",
        ),
        (
            "cert as key",
            &cert,
            &cert,
            Part::Key,
            "no private key found",
        ),
        (
            "encrypted key",
            &cert,
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
            Part::Key,
            "encrypted private keys are not supported",
        ),
    ];
    for (name, cert, key, part, reason) in cases {
        let err = parse(cert, key).expect_err(name);
        assert_eq!(err.part, part, "{name}: {err}");
        assert!(err.reason.contains(reason), "{name}: {err}");
    }
    let broken_base64 = "-----BEGIN PRIVATE KEY-----\nS3CR3T!!\n-----END PRIVATE KEY-----\n";
    let err = parse(&cert, broken_base64).expect_err("bad base64");
    assert_eq!(err.part, Part::Key);
    assert!(err.reason.contains("key.pem: not valid PEM"), "{err}");
    assert!(!err.reason.contains("S3CR3T"), "{err}");
}

/// A config text with `extra` appended to `[server]` and `upstream_extra` to `[upstream]`.
fn config(server_extra: &str, upstream: &str, upstream_extra: &str) -> String {
    format!("[server]\n{server_extra}\n[upstream]\nurl = \"{upstream}\"\n{upstream_extra}\n")
}

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(Path::new("gw.toml"), text, &|_| None)
}

/// Writes a pair and a CA-like certificate file into `dir`.
fn write_pair(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = pkcs8_pair("gateway.test");
    let (cert_file, key_file) = (dir.join("tls.crt"), dir.join("tls.key"));
    std::fs::write(&cert_file, cert).expect("write cert");
    std::fs::write(&key_file, key).expect("write key");
    (cert_file, key_file)
}

#[test]
fn listener_tls_loads_and_every_tls_file_is_watched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = write_pair(dir.path());
    let tls = format!(
        "tls = {{ cert_file = \"{}\", key_file = \"{}\" }}",
        cert.display(),
        key.display()
    );
    let upstream = format!("ca_file = \"{}\"", cert.display());
    let text =
        config(&tls, "https://backend.internal:8443", &upstream) + &format!("[admin]\n{tls}\n");
    let loaded = load(&text).expect("valid");
    let data = loaded.server.tls.as_ref().expect("server tls");
    assert_eq!(data.leaf.not_after, NOT_AFTER_2040);
    assert!(loaded.admin.tls.is_some());
    let files = loaded.referenced_files();
    for file in [&cert, &key] {
        assert!(files.contains(file), "{file:?} not watched: {files:?}");
    }
    let config_file = dir.path().join("gw.toml");
    std::fs::write(&config_file, &text).expect("write config");
    let declared = Config::declared_files(&config_file);
    assert!(
        declared.contains(&cert) && declared.contains(&key),
        "{declared:?}"
    );
}

#[test]
fn bad_tls_settings_are_errors_naming_the_config_the_key_and_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = write_pair(dir.path());
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not pem at all").expect("write");
    let missing = dir.path().join("missing.crt");
    let tls = |c: &Path, k: &Path| {
        format!(
            "tls = {{ cert_file = \"{}\", key_file = \"{}\" }}",
            c.display(),
            k.display()
        )
    };
    let cases = [
        (
            config(&tls(&missing, &key), "builtin:echo", ""),
            "server.tls.cert_file",
            "missing.crt: cannot read",
        ),
        (
            config(&tls(&garbage, &key), "builtin:echo", ""),
            "server.tls.cert_file",
            "garbage.pem: no certificate found",
        ),
        (
            config(&tls(&cert, &garbage), "builtin:echo", ""),
            "server.tls.key_file",
            "garbage.pem: no private key found",
        ),
        (
            config(
                &tls(&cert, &key).replace(" }", ", ciphers = \"x\" }"),
                "builtin:echo",
                "",
            ),
            "server.tls.ciphers",
            "unknown field `ciphers`",
        ),
        (
            config(
                "",
                "https://b.test",
                &format!("ca_file = \"{}\"", garbage.display()),
            ),
            "upstream.ca_file",
            "garbage.pem: no certificate found",
        ),
        (
            config(
                "",
                "https://b.test",
                &format!("client_cert_file = \"{}\"", cert.display()),
            ),
            "upstream.client_key_file",
            "needs client_key_file",
        ),
        (
            config("", "https://b.test", "server_name = \"not a name\""),
            "upstream.server_name",
            "not a DNS name",
        ),
        (
            config("", "ftp://b.test", ""),
            "upstream.url",
            "use http://, https:// or builtin:echo",
        ),
    ];
    for (text, key_path, reason) in cases {
        let err = load(&text).expect_err(key_path);
        assert_eq!(err.file, Path::new("gw.toml"), "{err}");
        assert_eq!(err.key, key_path, "{err}");
        assert!(err.reason.contains(reason), "{key_path}: {err}");
    }
}

#[test]
fn https_upstreams_are_accepted_with_the_webpki_roots() {
    let loaded = load(&config("", "https://api.example.com", "")).expect("valid");
    assert_eq!(
        loaded.upstream.target.to_string(),
        "https://api.example.com"
    );
    assert!(loaded.upstream.tls.files.ca_file.is_none());
}

#[test]
fn turning_tls_on_or_off_needs_a_restart_but_a_new_pair_applies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = write_pair(dir.path());
    let tls = format!(
        "tls = {{ cert_file = \"{}\", key_file = \"{}\" }}",
        cert.display(),
        key.display()
    );
    let plain = load(&config("", "builtin:echo", "")).expect("plain");
    let with_tls = load(&config(&tls, "builtin:echo", "")).expect("tls");
    let mut new = with_tls.clone();
    assert_eq!(
        crate::reload::tls::keep_listener_presence(&mut new, &plain),
        ["server.tls"]
    );
    assert!(new.server.tls.is_none(), "kept the running choice");
    let mut new = plain.clone();
    assert_eq!(
        crate::reload::tls::keep_listener_presence(&mut new, &with_tls),
        ["server.tls"]
    );
    assert!(new.server.tls.is_some());
    let mut new = with_tls.clone();
    assert!(crate::reload::tls::keep_listener_presence(&mut new, &with_tls).is_empty());
}

#[test]
fn tls_failures_are_found_inside_io_errors() {
    let certificate = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
    let io = std::io::Error::new(std::io::ErrorKind::InvalidData, certificate);
    assert!(tls_error(&io).is_some());
    let plain = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
    assert!(tls_error(&plain).is_none());
}
