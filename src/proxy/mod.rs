//! The request pipeline and the state it runs on. [`Gateway`] holds what outlives a request
//! (the current snapshot, the state stores, the body budget, metrics, the access log);
//! `pipeline.rs` runs one request through the phases, each in its own file, in order:
//!
//! `route.rs` → `cors.rs` → `body.rs` (+ `budget.rs`) → `authenticate.rs` → `authorize.rs` →
//! `headers.rs` → `forward.rs` → `record.rs`; `request_id.rs` names the request on arrival.
//!
//! Phases depend only on shared types and on the phases before them; nothing below the
//! pipeline (snapshot, metrics, error, upstream, store) imports from here.

#![warn(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

mod authenticate;
mod authorize;
mod body;
mod budget;
mod cors;
mod forward;
pub(crate) mod headers;
mod pipeline;
mod record;
pub(crate) mod request_id;
mod route;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

use self::budget::BodyBudget;
use crate::accesslog::AccessLog;
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::snapshot::Snapshot;
use crate::store::SeenStore;

/// Shared state of every connection: the current snapshot and what outlives reloads.
pub struct Gateway {
    snapshot: ArcSwap<Snapshot>,
    clock: Arc<dyn Clock>,
    replay: Arc<dyn SeenStore>,
    dedupe: Arc<dyn SeenStore>,
    metrics: Metrics,
    /// Bytes held by buffered request bodies, against `server.max_buffered_bytes`.
    budget: Arc<BodyBudget>,
    access_log: Arc<AccessLog>,
    draining: AtomicBool,
    /// The listener has closed: requests still arriving on open connections are refused.
    closed: AtomicBool,
}

/// What a gateway is built from.
pub(crate) struct GatewayParts {
    pub(crate) snapshot: Snapshot,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) replay: Arc<dyn SeenStore>,
    pub(crate) dedupe: Arc<dyn SeenStore>,
    pub(crate) metrics: Metrics,
    pub(crate) access_log: Arc<AccessLog>,
}

impl Gateway {
    /// A gateway serving `parts.snapshot`.
    pub(crate) fn new(parts: GatewayParts) -> Arc<Gateway> {
        Arc::new(Gateway {
            snapshot: ArcSwap::from_pointee(parts.snapshot),
            clock: parts.clock,
            replay: parts.replay,
            dedupe: parts.dedupe,
            budget: BodyBudget::new(parts.metrics.buffered_body_bytes.clone()),
            metrics: parts.metrics,
            access_log: parts.access_log,
            draining: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        })
    }

    /// The snapshot new requests use: the running configuration, compiled.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Makes `snapshot` the one new requests use; requests in flight keep theirs.
    pub(crate) fn swap(&self, snapshot: Snapshot) {
        self.snapshot.store(Arc::new(snapshot));
    }

    /// The metrics this gateway records into.
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The clock verification uses.
    pub(crate) fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    /// Marks the gateway as draining (readiness turns 503).
    pub(crate) fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Whether shutdown has begun.
    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Marks the listener closed: new requests on connections still open get `503
    /// shutting_down` (with `Connection: close`) while in-flight ones finish.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    /// Flushes buffered access-log lines (at shutdown).
    pub(crate) fn flush_access_log(&self) {
        self.access_log.flush();
    }
}
