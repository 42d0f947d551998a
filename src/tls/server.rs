//! TLS termination for the data and admin listeners: a loaded `[server] tls` / `[admin] tls`
//! pair as a ready acceptor, the stream a connection is served on (plaintext or TLS), and the
//! protocol ALPN chose.
//!
//! Each snapshot holds its own acceptor, and a listener takes the current snapshot's for each
//! new connection: a reload with a new pair changes the certificate of new handshakes only,
//! and open connections keep theirs.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use super::load::{self, LeafInfo, Part, PemError};

/// ALPN identifiers, in the server's order of preference.
const H2: &[u8] = b"h2";
const HTTP1: &[u8] = b"http/1.1";

/// Which protocols a listener offers over TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// The data listener: `h2` and `http/1.1`.
    Http2AndHttp1,
    /// The admin listener, which serves HTTP/1.1 only.
    Http1,
}

/// A loaded `tls = { cert_file, key_file }`: the files, the leaf's facts and the acceptor.
#[derive(Clone)]
pub struct ListenerTls {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub leaf: LeafInfo,
    acceptor: TlsAcceptor,
}

impl fmt::Debug for ListenerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListenerTls")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .field("leaf", &self.leaf)
            .finish_non_exhaustive()
    }
}

impl ListenerTls {
    /// Reads and checks the pair and builds a TLS 1.2/1.3 server configuration offering `offer`.
    /// Blocking (reads files).
    pub fn load(cert_file: PathBuf, key_file: PathBuf, offer: Offer) -> Result<Self, PemError> {
        let cert_pem = load::read(&cert_file, Part::Cert)?;
        let key_pem = load::read(&key_file, Part::Key)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let pair = load::parse_pair(
            &cert_pem,
            &key_pem,
            &cert_file.display().to_string(),
            &key_file.display().to_string(),
            &provider,
        )?;
        let internal = |err: rustls::Error| PemError {
            part: Part::Cert,
            reason: format!("cannot build a TLS configuration ({err})"),
        };
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(internal)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(
                Arc::unwrap_or_clone(pair.certified),
            )));
        config.alpn_protocols = match offer {
            Offer::Http2AndHttp1 => vec![H2.to_vec(), HTTP1.to_vec()],
            Offer::Http1 => vec![HTTP1.to_vec()],
        };
        // Stateless resumption: resumed handshakes skip the certificate and key exchange.
        config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(internal)?;
        Ok(ListenerTls {
            cert_file,
            key_file,
            leaf: pair.leaf,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// The acceptor for new handshakes.
    pub fn acceptor(&self) -> TlsAcceptor {
        self.acceptor.clone()
    }
}

/// What a connection speaks: chosen by ALPN over TLS, sniffed from the first bytes otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Sniff,
    Http1,
    Http2,
}

/// A client connection as the listener serves it.
pub(crate) enum ClientStream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// Completes the TLS handshake when `tls` is set (the caller bounds this with its deadline);
/// `None` when the handshake fails. Without TLS the stream is served as it is.
pub(crate) async fn open(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
) -> Option<(ClientStream, Protocol)> {
    let Some(acceptor) = tls else {
        return Some((ClientStream::Plain(stream), Protocol::Sniff));
    };
    match acceptor.accept(stream).await {
        Ok(stream) => {
            let protocol = match stream.get_ref().1.alpn_protocol() {
                Some(H2) => Protocol::Http2,
                // ALPN `http/1.1`, or a client that offered none.
                _ => Protocol::Http1,
            };
            Some((ClientStream::Tls(Box::new(stream)), protocol))
        }
        Err(err) => {
            // Scanners and clients that distrust the certificate end here: not a warning.
            tracing::debug!(error = %err, "TLS handshake failed");
            None
        }
    }
}

impl AsyncRead for ClientStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            ClientStream::Tls(stream) => Pin::new(stream).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            ClientStream::Tls(stream) => Pin::new(stream).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Plain(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            ClientStream::Tls(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            ClientStream::Plain(stream) => stream.is_write_vectored(),
            ClientStream::Tls(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(stream) => Pin::new(stream).poll_flush(cx),
            ClientStream::Tls(stream) => Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            ClientStream::Tls(stream) => Pin::new(stream).poll_shutdown(cx),
        }
    }
}
