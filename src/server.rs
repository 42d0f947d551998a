//! The data listener: accept loop, HTTP/1.1 and HTTP/2 (prior knowledge) connections with
//! header-size and header-read limits, and graceful shutdown.

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

/// Serves `listener` until `stop` resolves, then stops accepting and gives in-flight requests
/// `server.shutdown_grace` (from the snapshot current at that time) to finish.
pub async fn serve(listener: TcpListener, gateway: Arc<Gateway>, stop: impl Future<Output = ()>) {
    let builder = Arc::new(connection_builder(&gateway));
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
        // Per-connection facts, computed once: the peer's address as a header value.
        let peer = Peer::new(remote.ip().to_canonical(), false, "http");
        let service = service_fn(move |request| {
            let gateway = gateway.clone();
            let peer = peer.clone();
            async move { Ok::<_, Infallible>(gateway.handle(request, &peer).await) }
        });
        let (builder, watcher) = (builder.clone(), graceful.watcher());
        tokio::spawn(async move {
            // The protocol sniff (HTTP/1 or HTTP/2) has no timeout of its own: a client that
            // connects and says nothing is dropped after `header_read_timeout`.
            let mut first = [0u8; 1];
            if !matches!(
                tokio::time::timeout(first_byte_timeout, stream.peek(&mut first)).await,
                Ok(Ok(1..))
            ) {
                return;
            }
            let connection = builder
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
