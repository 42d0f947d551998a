//! Starting and stopping a gateway: binds both listeners, spawns the named tasks (data server,
//! admin server, reload watcher) and runs the drain sequence on shutdown. Tests call [`start`]
//! with `127.0.0.1:0` listeners and their own registry and clock.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use prometheus::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::accesslog::AccessLog;
use crate::admin::Admin;
use crate::clock::Clock;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::proxy::{Gateway, GatewayParts};
use crate::reload::{self, Reloader};
use crate::snapshot::Snapshot;
use crate::store::MemoryStore;

/// Keys remembered by the in-memory replay cache and dedupe record, each.
pub(crate) const STORE_CAPACITY: usize = 1_000_000;

/// A started gateway.
pub struct Running {
    /// Where the data listener listens.
    pub data_addr: SocketAddr,
    /// Where the admin listener listens.
    pub admin_addr: SocketAddr,
    /// The gateway both listeners serve.
    pub gateway: Arc<Gateway>,
    pub(crate) reloader: Arc<Reloader>,
    stop: watch::Sender<Phase>,
    /// Turned true when the serving threads stop accepting.
    stop_accepting: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Serving,
    Stopped,
}

/// Binds the listeners of `config` and starts serving it.
pub async fn start(
    config: Config,
    registry: Registry,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Running> {
    let metrics = Metrics::register(&registry)?;
    let workers = match config.server.workers {
        0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        n => n,
    };
    let (data, data_addr) = bind_group(config.server.listen, workers, "server.listen")?;
    let admin = bind(config.admin.listen, "admin.listen").await?;
    let admin_addr = admin.local_addr()?;
    let path: PathBuf = config.path.clone();
    let (gateway, access_log) = first_gateway(config, clock, metrics);
    let reloader = Reloader::new(gateway.clone(), path);
    let (stop, phase) = watch::channel(Phase::Serving);
    let (stop_accepting, accepting) = watch::channel(false);
    let (threads, serving) = crate::server::spawn_workers(data, &gateway, &accepting)
        .map_err(|err| anyhow::anyhow!("cannot start the serving threads: {err}"))?;
    let admin_state = Admin {
        gateway: gateway.clone(),
        registry,
        reloader: reloader.clone(),
        serving: threads,
    };
    let mut tasks = vec![tokio::spawn(async move {
        for done in serving {
            let _ = done.await;
        }
    })];
    tasks.extend(spawn_tasks(admin, admin_state, access_log, &phase));
    tracing::info!(listen = %data_addr, admin = %admin_addr, upstream = %gateway.snapshot().config.upstream.target, version = env!("CARGO_PKG_VERSION"), "stripe-app-gateway started");
    Ok(Running {
        data_addr,
        admin_addr,
        gateway,
        reloader,
        stop,
        stop_accepting,
        tasks,
    })
}

/// Binds `workers` listeners to `addr` (the value of the config key `key`) with
/// `SO_REUSEPORT`, so the kernel spreads connections over the serving threads. Port 0 takes one
/// free port for all. An address another process already listens on is refused, as a plain
/// bind would be (the group is only formed after a plain bind succeeded).
fn bind_group(
    addr: SocketAddr,
    workers: usize,
    key: &str,
) -> anyhow::Result<(Vec<std::net::TcpListener>, SocketAddr)> {
    let refused = |err: std::io::Error| anyhow::anyhow!("cannot listen on {addr} ({key}): {err}");
    if addr.port() != 0 {
        drop(std::net::TcpListener::bind(addr).map_err(refused)?);
    }
    let mut listeners = Vec::with_capacity(workers);
    let mut bound = addr;
    for _ in 0..workers.max(1) {
        let listener = reuseport_listener(bound).map_err(refused)?;
        bound = listener.local_addr().map_err(refused)?;
        listeners.push(listener);
    }
    Ok((listeners, bound))
}

fn reuseport_listener(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    socket.listen(1024)?.into_std()
}

/// Binds `addr`, the value of the config key `key`; the error names both.
async fn bind(addr: SocketAddr, key: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|err| anyhow::anyhow!("cannot listen on {addr} ({key}): {err}"))
}

/// The gateway serving `config` as its first snapshot, announced as a successful load (its
/// warnings and expiring secrets logged, expiry metrics set), and its access log.
fn first_gateway(
    config: Config,
    clock: Arc<dyn Clock>,
    metrics: Metrics,
) -> (Arc<Gateway>, Arc<AccessLog>) {
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let access_log = Arc::new(AccessLog::new(config.log.format));
    let snapshot = Snapshot::build(config, None, &metrics);
    reload::publish_secret_expiry(&metrics, &snapshot);
    reload::warn_expiring_secrets(&snapshot, clock.now());
    reload::record_success(&metrics);
    let gateway = Gateway::new(GatewayParts {
        snapshot,
        clock,
        replay: Arc::new(MemoryStore::new(STORE_CAPACITY)),
        dedupe: Arc::new(MemoryStore::new(STORE_CAPACITY)),
        metrics,
        access_log: access_log.clone(),
    });
    (gateway, access_log)
}

/// Spawns the named tasks, each until it is [`Phase::Stopped`]: the admin server, the reload
/// watcher, the access-log flusher and the reaper of idle upstream HTTP/2 connections.
fn spawn_tasks(
    admin: TcpListener,
    admin_state: Admin,
    access_log: Arc<AccessLog>,
    phase: &watch::Receiver<Phase>,
) -> Vec<JoinHandle<()>> {
    let until = |wanted: Phase| {
        let mut phase = phase.clone();
        async move {
            let _ = phase.wait_for(|now| *now >= wanted).await;
        }
    };
    let (gateway, reloader) = (admin_state.gateway.clone(), admin_state.reloader.clone());
    vec![
        tokio::spawn(crate::admin::serve(
            admin,
            admin_state,
            until(Phase::Stopped),
        )),
        reload::spawn_watch(reloader, until(Phase::Stopped)),
        tokio::spawn(crate::accesslog::flusher(access_log, until(Phase::Stopped))),
        tokio::spawn(crate::upstream::reap_idle(
            move || gateway.snapshot().client.clone(),
            until(Phase::Stopped),
        )),
    ]
}

impl Running {
    /// The drain sequence: readiness turns 503 at once, the listener keeps accepting for
    /// `shutdown_delay` (load balancers notice), then stops; in-flight requests get
    /// `shutdown_grace`; then the admin listener and the watcher stop.
    pub async fn shutdown(mut self) {
        self.gateway.start_draining();
        tracing::info!("shutdown: draining");
        let delay = self.gateway.snapshot().config.server.shutdown_delay;
        tokio::time::sleep(delay).await;
        let _ = self.stop_accepting.send(true);
        self.gateway.close();
        let data = self.tasks.remove(0);
        let _ = data.await;
        let _ = self.stop.send(Phase::Stopped);
        for task in self.tasks {
            let _ = task.await;
        }
        tracing::info!("shutdown complete");
    }
}
