//! A rustls test client that trusts a test CA: one connection, HTTP/1.1 or HTTP/2 as ALPN
//! decides, kept open so that later requests go over the same connection.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Version};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;

use super::pki::Ca;
use crate::common::{deadline, Answer};

enum Sender {
    Http1(http1::SendRequest<Full<Bytes>>),
    Http2(http2::SendRequest<Full<Bytes>>),
}

/// One open TLS connection to a listener.
pub struct Conn {
    sender: Sender,
    authority: String,
    /// The protocol ALPN chose.
    pub alpn: Option<Vec<u8>>,
    /// The leaf certificate the server presented.
    pub leaf: CertificateDer<'static>,
}

/// A client configuration trusting `ca` and offering `alpn`.
pub fn config(ca: &Ca, alpn: &[&str]) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der.clone()).expect("CA");
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    Arc::new(config)
}

/// The TLS handshake with `addr` as `localhost`; its error when the client refuses it.
pub async fn handshake(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = deadline(TcpStream::connect(addr)).await?;
    let name = ServerName::try_from("localhost").expect("name");
    deadline(tokio_rustls::TlsConnector::from(config).connect(name, tcp)).await
}

impl Conn {
    /// Connects to `addr`, trusting `ca` and offering `alpn`.
    pub async fn open(addr: SocketAddr, ca: &Ca, alpn: &[&str]) -> Conn {
        let stream = handshake(addr, config(ca, alpn))
            .await
            .expect("TLS handshake");
        let (_, session) = stream.get_ref();
        let alpn = session.alpn_protocol().map(<[u8]>::to_vec);
        let leaf = session.peer_certificates().expect("server certificate")[0].clone();
        let io = TokioIo::new(stream);
        let sender = if alpn.as_deref() == Some(b"h2") {
            let (sender, connection) = deadline(http2::handshake(TokioExecutor::new(), io))
                .await
                .expect("h2 handshake");
            tokio::spawn(connection);
            Sender::Http2(sender)
        } else {
            let (sender, connection) = deadline(http1::handshake(io)).await.expect("handshake");
            tokio::spawn(connection);
            Sender::Http1(sender)
        };
        Conn {
            sender,
            authority: format!("localhost:{}", addr.port()),
            alpn,
            leaf,
        }
    }

    /// Sends one request on this connection and reads the whole answer, with its version.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> (Answer, Version) {
        let mut builder = Request::builder().method(method);
        builder = match self.sender {
            Sender::Http1(_) => builder.uri(path).header("host", &self.authority),
            Sender::Http2(_) => builder.uri(format!("https://{}{path}", self.authority)),
        };
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder.body(Full::new(body.into())).expect("request");
        let response = match &mut self.sender {
            Sender::Http1(sender) => {
                deadline(sender.ready()).await.expect("connection ready");
                deadline(sender.send_request(request)).await
            }
            Sender::Http2(sender) => deadline(sender.send_request(request)).await,
        }
        .expect("response");
        let version = response.version();
        let (parts, body) = response.into_parts();
        let body = deadline(body.collect()).await.expect("body").to_bytes();
        let answer = Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        };
        (answer, version)
    }
}
