//! The data listener: the accept loop bounded by `max_connections`, and graceful drain.
//!
//! - [`connection`]: one connection from accept to close: the first-head deadline (TLS
//!   handshake included), HTTP/1 or HTTP/2 (prior knowledge, or ALPN over TLS) with header-size
//!   and HTTP/2 limits, the idle and send timeouts, graceful close.
//! - [`activity`]: the pure deadline rules a connection follows, and requests in flight:
//!   waiting on their source or on the client.
//! - [`sniff`]: the protocol read from the first bytes; the client I/O that reports reads and
//!   blocked writes.

mod activity;
mod connection;
mod sniff;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use self::connection::Connections;
use crate::proxy::headers::Peer;
use crate::proxy::Gateway;
use crate::tls::server::ListenerTls;

/// Serves `listener` until `stop` resolves, then stops accepting, closes idle connections and
/// gives in-flight requests `server.shutdown_grace` (from the snapshot current at that time).
///
/// Connection settings and `max_connections` are read once, at start.
pub(crate) async fn serve(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    stop: impl Future<Output = ()>,
) {
    let server = &gateway.snapshot().config.server;
    let connections = Arc::new(Connections::new(server));
    let limit = Arc::new(Semaphore::new(server.max_connections));
    // Every connection task holds a receiver: `closed()` resolves when the last one ends.
    let (drain, draining) = watch::channel(false);
    tokio::pin!(stop);
    loop {
        let (stream, remote, permit) = tokio::select! {
            accepted = accept(&listener, &limit) => match accepted {
                Some(accepted) => accepted,
                None => continue,
            },
            () = &mut stop => break,
        };
        let accepted = Instant::now();
        let _ = stream.set_nodelay(true);
        // TLS with the current snapshot's pair: a reloaded one serves new handshakes only.
        let tls = gateway
            .snapshot()
            .config
            .server
            .tls
            .as_ref()
            .map(ListenerTls::acceptor);
        let proto = if tls.is_some() { "https" } else { "http" };
        // Per-connection facts, computed once: the peer's address as a header value.
        let peer = Peer::new(remote.ip().to_canonical(), false, proto);
        let (connections, gateway, draining) =
            (connections.clone(), gateway.clone(), draining.clone());
        tokio::spawn(async move {
            connections
                .serve(stream, tls, accepted, gateway, peer, draining)
                .await;
            drop(permit);
        });
    }
    drop(listener);
    drop(draining);
    drain.send_replace(true);
    let grace = gateway.snapshot().config.server.shutdown_grace;
    if tokio::time::timeout(grace, drain.closed()).await.is_err() {
        tracing::warn!(grace = ?grace, "shutdown grace elapsed with requests still in flight");
    }
}

/// Accepts one connection once fewer than `server.max_connections` are open; `None` after an
/// accept error (logged, with a pause so that running out of descriptors does not spin).
async fn accept(
    listener: &TcpListener,
    limit: &Arc<Semaphore>,
) -> Option<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    // The semaphore is never closed, so acquiring only waits.
    let permit = limit.clone().acquire_owned().await.ok()?;
    match listener.accept().await {
        Ok((stream, remote)) => Some((stream, remote, permit)),
        Err(err) => {
            tracing::warn!(error = %err, "accept failed");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            None
        }
    }
}
