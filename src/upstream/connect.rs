//! Opening a connection to an upstream: TCP within the connect timeout, then the HTTP/1
//! handshake (a TLS client would wrap the stream between the two). The connection task ends
//! when the upstream closes or the pool drops the sender.

use std::time::Duration;

use http::uri::Authority;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::{SendBody, UpstreamFailure};

/// A new HTTP/1 connection to `authority`; every failure is [`UpstreamFailure::Connect`].
pub(super) async fn connect<B: SendBody>(
    authority: &Authority,
    timeout: Duration,
) -> Result<SendRequest<B>, UpstreamFailure> {
    let port = authority.port_u16().unwrap_or(80);
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let connecting = tokio::time::timeout(timeout, TcpStream::connect((host, port)));
    let Ok(Ok(stream)) = connecting.await else {
        return Err(UpstreamFailure::Connect);
    };
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|_| UpstreamFailure::Connect)?;
    tokio::spawn(async move {
        // Ends when the upstream closes or the pool drops the sender.
        let _ = connection.await;
    });
    Ok(sender)
}
