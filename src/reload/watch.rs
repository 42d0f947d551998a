//! The reload triggers that run in the background: a watcher over the directories of the
//! config and its files, and the content-fingerprint poll, in one task that also repeats the
//! expiry warnings.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::{warn_expiring_secrets, Reloader};

/// How often expiry warnings are repeated while secrets approach their `not_after`.
const EXPIRY_RECHECK: Duration = Duration::from_secs(3600);

/// Starts watching now (so no change after this call is missed), then runs the watcher and
/// the fingerprint poll in a task until `stop` resolves.
pub(crate) fn spawn_watch(
    reloader: Arc<Reloader>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<PathBuf>>(64);
    let watcher = start_watcher(&reloader, tx);
    tokio::spawn(watch_loop(reloader, watcher, rx, stop))
}

async fn watch_loop(
    reloader: Arc<Reloader>,
    mut watcher: Option<DirWatcher>,
    mut rx: tokio::sync::mpsc::Receiver<Vec<PathBuf>>,
    stop: impl std::future::Future<Output = ()>,
) {
    let poll = reloader.gateway.snapshot().config.reload.poll_interval;
    let mut ticker = tokio::time::interval(if poll.is_zero() {
        Duration::from_secs(3600)
    } else {
        poll
    });
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    // Secrets keep expiring between reloads: repeat the warning hourly.
    let mut expiry = tokio::time::interval(EXPIRY_RECHECK);
    expiry.tick().await;
    tokio::pin!(stop);
    loop {
        let trigger = tokio::select! {
            Some(paths) = rx.recv() => {
                if !reloader.concerns(&paths) {
                    continue;
                }
                // Editors and Kubernetes write in several steps: let them finish.
                tokio::time::sleep(Duration::from_millis(100)).await;
                while rx.try_recv().is_ok() {}
                "file_change"
            }
            _ = ticker.tick(), if !poll.is_zero() => "poll",
            _ = expiry.tick() => {
                warn_expiring_secrets(&reloader.gateway.snapshot(), reloader.gateway.clock().now());
                continue;
            }
            () = &mut stop => break,
        };
        let worker = reloader.clone();
        let _ = tokio::task::spawn_blocking(move || worker.reload_if_changed(trigger)).await;
        if let Some(watcher) = watcher.as_mut() {
            watcher.sync(&reloader);
        }
    }
}

/// A notify watcher over the parent directories of the referenced files.
struct DirWatcher {
    watcher: notify::RecommendedWatcher,
    dirs: BTreeSet<PathBuf>,
}

impl DirWatcher {
    /// Starts watching directories that new config added.
    fn sync(&mut self, reloader: &Reloader) {
        use notify::Watcher;
        for dir in reloader.watched_dirs() {
            if !self.dirs.contains(&dir)
                && self
                    .watcher
                    .watch(&dir, notify::RecursiveMode::NonRecursive)
                    .is_ok()
            {
                self.dirs.insert(dir);
            }
        }
    }
}

fn start_watcher(
    reloader: &Reloader,
    tx: tokio::sync::mpsc::Sender<Vec<PathBuf>>,
) -> Option<DirWatcher> {
    if !reloader.gateway.snapshot().config.reload.watch {
        return None;
    }
    let handler = move |event: notify::Result<notify::Event>| {
        // Reads (ours included: the fingerprint opens every file) change nothing.
        if let Ok(event) = event {
            if !matches!(event.kind, notify::EventKind::Access(_)) {
                let _ = tx.try_send(event.paths);
            }
        }
    };
    match notify::recommended_watcher(handler) {
        Ok(watcher) => {
            let mut watcher = DirWatcher {
                watcher,
                dirs: BTreeSet::new(),
            };
            watcher.sync(reloader);
            Some(watcher)
        }
        Err(err) => {
            tracing::warn!(error = %err, "cannot watch files; relying on the poll, SIGHUP and POST /reload");
            None
        }
    }
}
