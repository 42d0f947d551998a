//! The data listener: one serving thread per core, each with its own `SO_REUSEPORT` listener
//! and single-threaded runtime; the accept loop bounded by `max_connections` (shared), and
//! graceful drain.
//!
//! - [`connection`]: one connection from accept to close: the first-head deadline (TLS
//!   handshake included), HTTP/1 or HTTP/2 (prior knowledge, or ALPN over TLS) with header-size
//!   and HTTP/2 limits, the idle and send timeouts, graceful close.
//! - [`http1`]: the HTTP/1.1 connection, on the gateway's own codec; HTTP/2 runs on hyper.
//! - [`activity`]: the pure deadline rules a connection follows, and requests in flight:
//!   waiting on their source or on the client.
//! - [`sniff`]: the protocol read from the first bytes; the client I/O that reports reads and
//!   blocked writes.

mod activity;
mod connection;
mod http1;
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

/// Starts one serving thread per listener (each a single-threaded runtime with its own
/// `SO_REUSEPORT` listener, its own connections, upstream connections and access-log buffer),
/// sharing `gateway` and the `max_connections` limit. They stop accepting when `stop` turns
/// true; the returned receiver ends when the last of them has drained.
pub(crate) fn spawn_workers(
    listeners: Vec<std::net::TcpListener>,
    gateway: &Arc<Gateway>,
    stop: &watch::Receiver<bool>,
) -> std::io::Result<(Serving, Vec<tokio::sync::oneshot::Receiver<()>>)> {
    let limit = Arc::new(Semaphore::new(
        gateway.snapshot().config.server.max_connections,
    ));
    let mut done = Vec::with_capacity(listeners.len());
    let mut handles = Vec::with_capacity(listeners.len());
    for (index, listener) in listeners.into_iter().enumerate() {
        let (gateway, limit, mut stop) = (gateway.clone(), limit.clone(), stop.clone());
        let (finished, finished_rx) = tokio::sync::oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        handles.push(runtime.handle().clone());
        std::thread::Builder::new()
            .name(format!("gateway-worker-{index}"))
            .spawn(move || {
                runtime.block_on(async move {
                    match TcpListener::from_std(listener) {
                        Ok(listener) => {
                            let stop = async move {
                                let _ = stop.wait_for(|stop| *stop).await;
                            };
                            serve(listener, gateway, limit, stop).await;
                        }
                        Err(err) => tracing::error!(error = %err, "cannot serve the listener"),
                    }
                });
                drop(runtime);
                let _ = finished.send(());
            })?;
        done.push(finished_rx);
    }
    Ok((Serving { handles }, done))
}

/// The runtimes of the serving threads, for their metrics.
#[derive(Debug, Clone)]
pub(crate) struct Serving {
    handles: Vec<tokio::runtime::Handle>,
}

impl Serving {
    /// Tasks alive on the serving threads now.
    pub(crate) fn alive_tasks(&self) -> usize {
        self.handles
            .iter()
            .map(|handle| handle.metrics().num_alive_tasks())
            .sum()
    }
}

/// Serves `listener` until `stop` resolves, then stops accepting, closes idle connections and
/// gives in-flight requests `server.shutdown_grace` (from the snapshot current at that time).
/// Reaps this thread's idle upstream connections every second meanwhile.
///
/// Connection settings are read once, at start.
async fn serve(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    limit: Arc<Semaphore>,
    stop: impl Future<Output = ()>,
) {
    let server = &gateway.snapshot().config.server;
    let connections = Arc::new(Connections::new(server));
    // Every connection task holds a receiver: `closed()` resolves when the last one ends.
    let (drain, draining) = watch::channel(false);
    let reaper = tokio::spawn(async {
        let mut ticker = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            ticker.tick().await;
            crate::upstream::idle::reap();
        }
    });
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
    reaper.abort();
}

/// Accepts one connection, then waits until fewer than `server.max_connections` are open (the
/// limit is shared by every serving thread, so a thread never holds a slot while it waits for a
/// connection that another thread's listener may get); `None` after an accept error (logged,
/// with a pause so that running out of descriptors does not spin).
async fn accept(
    listener: &TcpListener,
    limit: &Arc<Semaphore>,
) -> Option<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    let (stream, remote) = match listener.accept().await {
        Ok(accepted) => accepted,
        Err(err) => {
            tracing::warn!(error = %err, "accept failed");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            return None;
        }
    };
    // The semaphore is never closed, so acquiring only waits.
    let permit = limit.clone().acquire_owned().await.ok()?;
    Some((stream, remote, permit))
}
