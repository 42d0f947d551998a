//! `https://` upstreams: a private CA (`ca_file`) verified, a wrong CA refused with a 502 that
//! does not say why, upstream mTLS, the `server_name` override on a per-route upstream, and
//! HTTP/2 to the upstream when ALPN chooses it.

use std::path::Path;

use http::{Method, Version};

use super::pki::{Ca, Leaf};
use super::upstream::TlsUpstream;
use crate::common::*;

/// A plain `auth = "none"` route at `/x/` (with `extra` keys) and the app route at `/api/`.
fn routes(extra: &str) -> String {
    format!("[[routes]]\nid = \"plain\"\npath_prefix = \"/x/\"\nauth = \"none\"\n{extra}\n\n")
        + &app_route("")
}

/// A plaintext gateway forwarding to `url` with `upstream_keys` added to `[upstream]`.
async fn gateway(url: &str, upstream_keys: &str, route_extra: &str) -> TestGateway {
    gateway_with(url, upstream_keys, route_extra, "").await
}

/// [`gateway`] with `server_keys` added to `[server]`.
async fn gateway_with(
    url: &str,
    upstream_keys: &str,
    route_extra: &str,
    server_keys: &str,
) -> TestGateway {
    let text = config_text(url, &routes(route_extra))
        .replacen("[upstream]\n", &format!("[upstream]\n{upstream_keys}\n"), 1)
        .replacen("[server]\n", &format!("[server]\n{server_keys}\n"), 1);
    TestGateway::start(&text).await
}

fn key_line(key: &str, path: &Path) -> String {
    format!("{key} = \"{}\"\n", path.display())
}

/// A CA, an upstream leaf it signed for `names`, and the CA written to `dir`.
fn upstream_pki(dir: &Path, names: &[&str]) -> (Ca, Leaf, std::path::PathBuf) {
    let ca = Ca::new("upstream CA");
    let leaf = ca.leaf(names, 7, 2040);
    let ca_file = ca.write(dir, "upstream-ca.pem");
    (ca, leaf, ca_file)
}

const TLS_ERRORS: &str = r#"stripe_app_gateway_upstream_errors_total{kind="tls",route="plain"} 1"#;

#[tokio::test]
async fn an_upstream_with_a_private_ca_is_verified_and_forwarded_to() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_ca, leaf, ca_file) = upstream_pki(dir.path(), &["localhost", "127.0.0.1"]);
    let upstream = TlsUpstream::start(&leaf, &["http/1.1"], None).await;
    let gateway = gateway(&upstream.url(), &key_line("ca_file", &ca_file), "").await;
    let answer = send(Method::GET, &gateway.url("/x/1"), &[], Vec::new()).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let answer = post_signed(&gateway.url("/api/y"), &app_body("usr_1", "acct_1"), &[]).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let seen = upstream.seen();
    assert_eq!(
        seen.iter().map(|s| s.path.as_str()).collect::<Vec<_>>(),
        ["/x/1", "/api/y"]
    );
    assert!(seen
        .iter()
        .all(|s| s.version == Version::HTTP_11 && !s.client_certificate));
    gateway.stop().await;
}

#[tokio::test]
async fn an_unverifiable_upstream_is_a_502_that_does_not_say_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_ca, leaf, _) = upstream_pki(dir.path(), &["127.0.0.1"]);
    let other_ca = Ca::new("some other CA").write(dir.path(), "other-ca.pem");
    let upstream = TlsUpstream::start(&leaf, &["http/1.1"], None).await;
    for keys in [key_line("ca_file", &other_ca), String::new()] {
        let gateway = gateway(&upstream.url(), &keys, "").await;
        let answer = send(Method::GET, &gateway.url("/x/1"), &[], Vec::new()).await;
        assert_error(&answer, 502, "upstream_unavailable");
        assert_reveals_none(
            &answer,
            &[
                "certificate",
                "Certificate",
                "issuer",
                "Issuer",
                "TLS",
                "tls",
                "rustls",
            ],
        );
        assert!(
            gateway.metrics().lines().any(|l| l == TLS_ERRORS),
            "{}",
            gateway.metrics()
        );
        gateway.stop().await;
    }
    assert!(upstream.seen().is_empty(), "nothing reached the upstream");
}

#[tokio::test]
async fn upstream_mtls_presents_the_client_certificate_and_fails_without_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_ca, leaf, ca_file) = upstream_pki(dir.path(), &["127.0.0.1"]);
    let client_ca = Ca::new("client CA");
    let (client_cert, client_key) = client_ca
        .leaf(&["gateway.test"], 9, 2040)
        .write(dir.path(), "client");
    let upstream = TlsUpstream::start(&leaf, &["http/1.1"], Some(&client_ca)).await;
    let with_pair = key_line("ca_file", &ca_file)
        + &key_line("client_cert_file", &client_cert)
        + &key_line("client_key_file", &client_key);
    let gateway_with = gateway(&upstream.url(), &with_pair, "").await;
    let answer = send(Method::GET, &gateway_with.url("/x/1"), &[], Vec::new()).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert!(upstream.seen()[0].client_certificate);
    gateway_with.stop().await;

    let gateway_without = gateway(&upstream.url(), &key_line("ca_file", &ca_file), "").await;
    let answer = send(Method::GET, &gateway_without.url("/x/2"), &[], Vec::new()).await;
    assert_error(&answer, 502, "upstream_unavailable");
    assert!(
        gateway_without.metrics().lines().any(|l| l == TLS_ERRORS),
        "{}",
        gateway_without.metrics()
    );
    assert_eq!(
        upstream.seen().len(),
        1,
        "the request without a certificate never arrived"
    );
    gateway_without.stop().await;
}

#[tokio::test]
async fn server_name_sets_sni_and_the_verified_name_for_per_route_upstreams() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_ca, leaf, ca_file) = upstream_pki(dir.path(), &["upstream.internal"]);
    let upstream = TlsUpstream::start(&leaf, &["http/1.1"], None).await;
    // The default upstream is the echo; only the route goes to the TLS upstream, by IP.
    let route_upstream = format!("upstream = \"{}\"", upstream.url());
    let without = gateway(
        "builtin:echo",
        &key_line("ca_file", &ca_file),
        &route_upstream,
    )
    .await;
    let answer = send(Method::GET, &without.url("/x/1"), &[], Vec::new()).await;
    assert_error(&answer, 502, "upstream_unavailable");
    without.stop().await;

    let keys = key_line("ca_file", &ca_file) + "server_name = \"upstream.internal\"\n";
    let with = gateway("builtin:echo", &keys, &route_upstream).await;
    let answer = send(Method::GET, &with.url("/x/2"), &[], Vec::new()).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].sni.as_deref(), Some("upstream.internal"));
    with.stop().await;
}

#[tokio::test]
async fn an_upstream_choosing_h2_gets_http2_over_one_shared_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_ca, leaf, ca_file) = upstream_pki(dir.path(), &["127.0.0.1"]);
    let upstream = TlsUpstream::start(&leaf, &["h2", "http/1.1"], None).await;
    let gateway = gateway(&upstream.url(), &key_line("ca_file", &ca_file), "").await;
    let answer = send(Method::GET, &gateway.url("/x/first"), &[], Vec::new()).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let body = app_body("usr_1", "acct_1");
    let concurrent = (0..8).map(|i| {
        let (url, body) = (gateway.url(&format!("/api/{i}")), body.clone());
        tokio::spawn(async move { post_signed(&url, &body, &[]).await.status })
    });
    for request in concurrent {
        assert_eq!(deadline(request).await.expect("join"), 200);
    }
    let seen = upstream.seen();
    assert_eq!(seen.len(), 9);
    assert!(
        seen.iter().all(|s| s.version == Version::HTTP_2),
        "{seen:?}"
    );
    assert_eq!(
        upstream.connections(),
        1,
        "one HTTP/2 connection carries every request"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn a_signed_body_reaches_an_h2_upstream_whole_on_a_new_connection() {
    // The first request opens the HTTP/2 connection: its body, held in memory after
    // verification, must go out whole on it, as on the shared connection after it.
    let dir = tempfile::tempdir().expect("tempdir");
    let (_ca, leaf, ca_file) = upstream_pki(dir.path(), &["127.0.0.1"]);
    let upstream = TlsUpstream::start(&leaf, &["h2", "http/1.1"], None).await;
    let gateway = gateway(&upstream.url(), &key_line("ca_file", &ca_file), "").await;
    let body = app_body("usr_1", "acct_1");
    for path in ["/api/first", "/api/second"] {
        let answer = post_signed(&gateway.url(path), &body, &[]).await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
    }
    let seen = upstream.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for request in &seen {
        assert_eq!(request.version, Version::HTTP_2);
        assert_eq!(request.body.as_ref(), &body[..], "{request:?}");
        if let Some(length) = &request.content_length {
            assert_eq!(length, &body.len().to_string(), "{request:?}");
        }
    }
    assert_eq!(upstream.connections(), 1);
    gateway.stop().await;
}

/// A client's body relayed to an h2 upstream fails on the client's side: a stall past
/// `body_read_timeout`, then a chunked body whose framing breaks after its first chunk. The
/// upstream sees its stream reset; the client gets the client's error, and no upstream error is
/// counted.
#[tokio::test]
async fn a_body_the_client_fails_on_its_way_to_an_h2_upstream_is_the_clients_error() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = tempfile::tempdir().expect("tempdir");
    let (_ca, leaf, ca_file) = upstream_pki(dir.path(), &["127.0.0.1"]);
    let upstream = TlsUpstream::start(&leaf, &["h2", "http/1.1"], None).await;
    let ca = key_line("ca_file", &ca_file);
    let gateway = gateway_with(&upstream.url(), &ca, "", "body_read_timeout = \"300ms\"").await;
    // The shared HTTP/2 connection first, so that the failing bodies go out on it.
    let answer = send(Method::GET, &gateway.url("/x/first"), &[], Vec::new()).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let cases = [
        (
            "POST /x/upload HTTP/1.1\r\nhost: gw\r\ncontent-length: 100\r\n\r\n0123456789",
            "HTTP/1.1 408",
            "body_timeout",
        ),
        (
            "POST /x/upload HTTP/1.1\r\nhost: gw\r\ntransfer-encoding: chunked\r\n\r\na\r\n0123456789\r\nzz\r\n",
            "HTTP/1.1 400",
            "body_unreadable",
        ),
    ];
    for (request, status, code) in cases {
        let mut stream = deadline(tokio::net::TcpStream::connect(gateway.data))
            .await
            .expect("connect");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut answer = Vec::new();
        deadline(stream.read_to_end(&mut answer))
            .await
            .expect("read");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with(status), "{answer}");
        assert!(answer.contains(&format!("\"code\":\"{code}\"")), "{answer}");
    }
    assert!(upstream
        .seen()
        .iter()
        .all(|seen| seen.version == Version::HTTP_2));
    assert_no_upstream_error(&gateway.metrics());
    gateway.stop().await;
}

/// An HTTP/2 upstream that answers before the request body has ended and goes on reading it:
/// the gateway stops relaying the body when it relays the answer, and the upstream must see the
/// body cut off (a reset stream), never a shorter body that ended, whatever the client sends
/// after.
#[tokio::test]
async fn an_h2_upstream_that_answers_early_never_sees_a_cut_body_as_whole() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = tempfile::tempdir().expect("tempdir");
    let (_ca, leaf, ca_file) = upstream_pki(dir.path(), &["127.0.0.1"]);
    let upstream = TlsUpstream::start(&leaf, &["h2", "http/1.1"], None).await;
    let gateway = gateway(&upstream.url(), &key_line("ca_file", &ca_file), "").await;
    let answer = send(Method::GET, &gateway.url("/x/first"), &[], Vec::new()).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let cases: [(&str, &[u8], &[u8]); 2] = [
        (
            "transfer-encoding: chunked",
            b"5\r\nhello\r\n",
            b"5\r\nworld\r\n0\r\n\r\n",
        ),
        ("content-length: 10", b"hello", b"world"),
    ];
    for (framing, first, rest) in cases {
        let before = upstream.seen().len();
        let mut stream = deadline(tokio::net::TcpStream::connect(gateway.data))
            .await
            .expect("connect");
        let head = format!("POST /x/early HTTP/1.1\r\nhost: gw\r\n{framing}\r\n\r\n");
        stream.write_all(head.as_bytes()).await.expect("write head");
        stream.write_all(first).await.expect("write the first part");
        let mut status = [0u8; 12];
        deadline(stream.read_exact(&mut status))
            .await
            .expect("the early answer");
        assert_eq!(&status, b"HTTP/1.1 200", "{framing}");
        // The rest of the body, promptly, after the answer has started.
        let _ = stream.write_all(rest).await;
        let seen = deadline(async {
            loop {
                if let Some(seen) = upstream.seen().get(before).cloned() {
                    return seen;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        })
        .await;
        assert_eq!(seen.version, Version::HTTP_2);
        assert!(
            seen.body_failed || seen.body.as_ref() == b"helloworld",
            "{framing}: the upstream took {:?} as the whole body",
            seen.body
        );
    }
    gateway.stop().await;
}
