//! A TLS test upstream on `127.0.0.1:0`: serves a leaf of a test CA, offers the given ALPN
//! protocols, optionally requires a client certificate, and records what it saw.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivateKeyDer;
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpListener;

use super::pki::{Ca, Leaf};

/// What the upstream saw of one request.
#[derive(Debug, Clone)]
pub struct SeenTls {
    pub version: Version,
    pub path: String,
    /// The name the gateway sent as SNI.
    pub sni: Option<String>,
    /// The gateway presented a client certificate.
    pub client_certificate: bool,
    /// The request's `content-length`, if it had one, and the body it carried.
    pub content_length: Option<String>,
    pub body: Bytes,
    /// The body ended in an error (a reset stream) rather than at its end.
    pub body_failed: bool,
}

#[derive(Clone)]
pub struct TlsUpstream {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<SeenTls>>>,
    connections: Arc<AtomicUsize>,
}

impl TlsUpstream {
    /// Serves `leaf`, offering `alpn`; with `client_ca`, only clients with a certificate it
    /// signed complete the handshake.
    pub async fn start(leaf: &Leaf, alpn: &[&str], client_ca: Option<&Ca>) -> TlsUpstream {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("versions");
        let builder = match client_ca {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                roots.add(ca.der.clone()).expect("client CA");
                let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .expect("verifier");
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).expect("key");
        let mut config = builder
            .with_single_cert(vec![leaf.der.clone()], key)
            .expect("server config");
        config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let upstream = TlsUpstream {
            addr: listener.local_addr().expect("addr"),
            seen: Arc::default(),
            connections: Arc::default(),
        };
        let state = upstream.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, state) = (acceptor.clone(), state.clone());
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    state.connections.fetch_add(1, Ordering::SeqCst);
                    let (_, session) = stream.get_ref();
                    let sni = session.server_name().map(str::to_string);
                    let client_certificate = session.peer_certificates().is_some();
                    let service = service_fn(move |request| {
                        let (state, sni) = (state.clone(), sni.clone());
                        async move {
                            let seen = state.record(request, sni, client_certificate).await;
                            Ok::<_, std::convert::Infallible>(seen)
                        }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        upstream
    }

    async fn record(
        &self,
        request: Request<Incoming>,
        sni: Option<String>,
        client_certificate: bool,
    ) -> Response<Full<Bytes>> {
        let version = request.version();
        let path = request.uri().path().to_string();
        let content_length = request
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        let early = path.starts_with("/x/early");
        let state = self.clone();
        // Under `/x/early` the answer goes before the body is read, which is then read to
        // its end (or its failure) all the same.
        let reading = async move {
            let (body, body_failed) = match request.into_body().collect().await {
                Ok(collected) => (collected.to_bytes(), false),
                Err(_) => (Bytes::new(), true),
            };
            state.seen.lock().expect("lock").push(SeenTls {
                version,
                path,
                sni,
                client_certificate,
                content_length,
                body,
                body_failed,
            });
        };
        if early {
            tokio::spawn(reading);
        } else {
            reading.await;
        }
        Response::new(Full::new(Bytes::from_static(br#"{"ok":true}"#)))
    }

    pub fn seen(&self) -> Vec<SeenTls> {
        self.seen.lock().expect("lock").clone()
    }

    /// TLS connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }
}
