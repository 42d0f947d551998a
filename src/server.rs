//! The data listener: accept loop, HTTP/1.1 and HTTP/2 (prior knowledge, or ALPN over TLS)
//! connections with header-size and header-read limits, and graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::proxy::headers::Peer;
use crate::proxy::Gateway;
use crate::tls::server::Builders;
use crate::tls::ListenerTls;

/// Serves `listener` until `stop` resolves, then stops accepting and gives in-flight requests
/// `server.shutdown_grace` (from the snapshot current at that time) to finish.
pub async fn serve(listener: TcpListener, gateway: Arc<Gateway>, stop: impl Future<Output = ()>) {
    let builders = Arc::new(Builders::new(connection_builder(&gateway)));
    let server = &gateway.snapshot().config.server;
    let (first_byte_timeout, limit) = (
        server.header_read_timeout,
        Arc::new(Semaphore::new(server.max_connections)),
    );
    let graceful = GracefulShutdown::new();
    tokio::pin!(stop);
    loop {
        let (stream, remote, permit) = tokio::select! {
            accepted = accept(&listener, &limit) => match accepted {
                Some(accepted) => accepted,
                None => continue,
            },
            () = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let gateway = gateway.clone();
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
        let service = service_fn(move |request| {
            let gateway = gateway.clone();
            let peer = peer.clone();
            async move { Ok::<_, Infallible>(gateway.handle(request, &peer).await) }
        });
        let (builders, watcher) = (builders.clone(), graceful.watcher());
        tokio::spawn(async move {
            // The protocol sniff (HTTP/1 or HTTP/2) has no timeout of its own: a client that
            // connects and says nothing is dropped after `header_read_timeout`. The TLS
            // handshake, when configured, completes within the same deadline.
            let opened = tokio::time::timeout(first_byte_timeout, async {
                let mut first = [0u8; 1];
                match stream.peek(&mut first).await {
                    Ok(1..) => crate::tls::server::open(stream, tls).await,
                    _ => None,
                }
            });
            let Ok(Some((stream, protocol))) = opened.await else {
                return;
            };
            let connection = builders
                .get(protocol)
                .serve_connection(TokioIo::new(stream), service)
                .into_owned();
            let _ = watcher.watch(connection).await;
            drop(permit);
        });
    }
    drop(listener);
    let grace = gateway.snapshot().config.server.shutdown_grace;
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
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

fn connection_builder(gateway: &Gateway) -> auto::Builder<TokioExecutor> {
    let server = &gateway.snapshot().config.server;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    http2_limits(&mut builder);
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(server.header_read_timeout)
        .max_buf_size(server.max_header_bytes)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(128)
        .max_header_list_size(u32::try_from(server.max_header_bytes).unwrap_or(u32::MAX))
        .keep_alive_interval(server.idle_timeout)
        .keep_alive_timeout(server.header_read_timeout);
    builder
}

/// HTTP/2 limits beyond hyper's defaults, the same over TLS and in plaintext: a client can
/// hold at most 1 MiB of unread request body per connection (256 KiB per stream), and one that
/// resets streams faster than they are answered (CVE-2023-44487, "rapid reset") or keeps
/// provoking stream errors (CVE-2025-8671) is disconnected.
fn http2_limits(builder: &mut auto::Builder<TokioExecutor>) {
    builder
        .http2()
        .initial_stream_window_size(256 * 1024)
        .initial_connection_window_size(1024 * 1024)
        .max_pending_accept_reset_streams(20)
        .max_local_error_reset_streams(256);
}
