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
    tasks: Vec<JoinHandle<()>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Serving,
    StopAccepting,
    Stopped,
}

/// Binds the listeners of `config` and starts serving it.
pub async fn start(
    config: Config,
    registry: Registry,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Running> {
    let metrics = Metrics::register(&registry)?;
    let data = bind(config.server.listen, "server.listen").await?;
    let admin = bind(config.admin.listen, "admin.listen").await?;
    let (data_addr, admin_addr) = (data.local_addr()?, admin.local_addr()?);
    let path: PathBuf = config.path.clone();
    let (gateway, access_log) = first_gateway(config, clock, metrics);
    let reloader = Reloader::new(gateway.clone(), path);
    let (stop, phase) = watch::channel(Phase::Serving);
    let admin_state = Admin {
        gateway: gateway.clone(),
        registry,
        reloader: reloader.clone(),
    };
    let tasks = spawn_tasks(data, admin, admin_state, access_log, &phase);
    tracing::info!(listen = %data_addr, admin = %admin_addr, upstream = %gateway.snapshot().config.upstream.target, version = env!("CARGO_PKG_VERSION"), "stripe-app-gateway started");
    Ok(Running {
        data_addr,
        admin_addr,
        gateway,
        reloader,
        stop,
        tasks,
    })
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

/// Spawns the named tasks, each until its [`Phase`]: the data server (until it stops
/// accepting), then the admin server, the reload watcher, the access-log flusher and the
/// reaper of idle upstream connections (until stopped).
fn spawn_tasks(
    data: TcpListener,
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
        tokio::spawn(crate::server::serve(
            data,
            gateway.clone(),
            until(Phase::StopAccepting),
        )),
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
        let _ = self.stop.send(Phase::StopAccepting);
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
