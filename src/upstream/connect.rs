//! Opening a connection to an upstream: TCP within `connect_timeout`; for `https://` the TLS
//! handshake (see [`crate::tls::client`]) within another `connect_timeout`; then HTTP/1.1, or
//! HTTP/2 when the upstream chose `h2` by ALPN.

use std::fmt::Display;
use std::time::Duration;

use http::uri::Authority;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls_pki_types::ServerName;
use std::sync::Arc;
use tokio::net::TcpStream;

use super::io::UpstreamIo;
use super::{SendBody, UpstreamFailure};
use crate::tls::client::{tls_error, Negotiated};
use crate::tls::UpstreamTls;

/// A new connection, ready for requests.
pub(super) enum Connection<B> {
    /// One request at a time, driven by the task that sends it (`super::http1`).
    Http1(UpstreamIo),
    /// Shared by concurrent requests (one stream each).
    Http2(http2::SendRequest<B>),
}

/// How a pool's connections speak TLS: the shared settings and the name to verify.
#[derive(Debug)]
pub(crate) struct TlsTarget {
    /// The shared client settings (roots, client certificate).
    pub(super) tls: Arc<UpstreamTls>,
    /// `None` only for a host no certificate can name (config refuses those).
    pub(super) name: Option<ServerName<'static>>,
}

/// Connects to `authority`, with TLS when `tls` is set. A TLS failure is logged with `route`
/// and the reason, which never reaches the client.
pub(super) async fn open<B: SendBody>(
    authority: &Authority,
    tls: Option<&TlsTarget>,
    timeout: Duration,
    route: &str,
) -> Result<Connection<B>, UpstreamFailure> {
    let default_port = if tls.is_some() { 443 } else { 80 };
    let port = authority.port_u16().unwrap_or(default_port);
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let connecting = tokio::time::timeout(timeout, TcpStream::connect((host, port)));
    let Ok(Ok(stream)) = connecting.await else {
        return Err(UpstreamFailure::Connect);
    };
    let _ = stream.set_nodelay(true);
    let Some(tls) = tls else {
        return Ok(Connection::Http1(UpstreamIo::Left(stream)));
    };
    let failed = |error: &dyn Display| {
        tracing::warn!(route, upstream = %authority, error = %error, "upstream TLS handshake failed");
        UpstreamFailure::Tls
    };
    let Some(name) = tls.name.clone() else {
        return Err(failed(&"the host is not a name a certificate can hold"));
    };
    let negotiated = match tokio::time::timeout(timeout, tls.tls.handshake(name, stream)).await {
        Ok(Ok(negotiated)) => negotiated,
        Ok(Err(err)) => return Err(failed(&err)),
        Err(_) => return Err(failed(&"handshake timed out (connect_timeout)")),
    };
    let Negotiated { stream, http2 } = negotiated;
    if !http2 {
        return Ok(Connection::Http1(UpstreamIo::Right(Box::new(stream))));
    }
    let (sender, connection) = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|err| failure_of(&err, authority, route))?;
    tokio::spawn(async move {
        // Ends when the upstream closes, or once the pool and the last stream let go.
        let _ = connection.await;
    });
    Ok(Connection::Http2(sender))
}

/// A connection that broke before the response head. A TLS alert counts as `tls` and is
/// logged like a failed handshake (a TLS 1.3 server refusing the client certificate says so
/// only on the first read).
pub(super) fn failure_of(
    error: &hyper::Error,
    authority: &Authority,
    route: &str,
) -> UpstreamFailure {
    match tls_error(error) {
        Some(tls) => {
            tracing::warn!(route, upstream = %authority, error = %tls, "upstream TLS failure");
            UpstreamFailure::Tls
        }
        None => UpstreamFailure::Broken,
    }
}
