//! Process signals: SIGTERM/SIGINT drain and stop (a second one exits at once), SIGHUP reloads.

use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::run::Running;

/// The signals the gateway handles, installed before it starts so that none arriving after the
/// start-up line gets its default action.
pub(crate) struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

impl Signals {
    /// Installs the handlers (needs a running Tokio runtime).
    pub(crate) fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }
}

/// Serves until SIGTERM or SIGINT, reloading on SIGHUP, then runs the drain sequence.
pub(crate) async fn run_until_shutdown(running: Running, mut signals: Signals) {
    loop {
        tokio::select! {
            _ = signals.term.recv() => break,
            _ = signals.int.recv() => break,
            _ = signals.hup.recv() => {
                let reloader = running.reloader.clone();
                let _ = tokio::task::spawn_blocking(move || reloader.reload("sighup")).await;
            }
        }
    }
    let gateway = running.gateway.clone();
    tokio::select! {
        () = running.shutdown() => {}
        _ = signals.term.recv() => second_signal(&gateway),
        _ = signals.int.recv() => second_signal(&gateway),
    }
}

fn second_signal(gateway: &crate::proxy::Gateway) {
    tracing::warn!("second signal: exiting at once");
    gateway.flush_access_log();
    std::process::exit(1);
}
