//! Process signals: SIGTERM/SIGINT drain and stop (a second one exits at once), SIGHUP reloads.

use tokio::signal::unix::{signal, SignalKind};

use crate::run::Running;

/// Serves until SIGTERM or SIGINT, reloading on SIGHUP, then runs the drain sequence.
pub async fn run_until_shutdown(running: Running) {
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers; stopping");
        running.shutdown().await;
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                let reloader = running.reloader.clone();
                let _ = tokio::task::spawn_blocking(move || reloader.reload("sighup")).await;
            }
        }
    }
    tokio::select! {
        () = running.shutdown() => {}
        _ = term.recv() => second_signal(),
        _ = int.recv() => second_signal(),
    }
}

fn second_signal() {
    tracing::warn!("second signal: exiting at once");
    std::process::exit(1);
}
