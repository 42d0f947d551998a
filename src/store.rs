//! Keys seen recently: the replay cache of app signatures and the webhook dedupe record share
//! this [`SeenStore`] trait, so a shared store (Redis, …) can replace the in-memory one.

#![warn(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

/// The state a key is held in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Held {
    /// Work for this key is under way (a webhook being delivered).
    InFlight,
    /// The key has been used (a signature accepted, an event delivered).
    Done,
}

/// Proof of a claim: only its holder may complete or release the key, so a claim that
/// expired and was taken over (a clock jump, a very slow delivery) cannot undo the new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Claim(u64);

/// A record of keys, each remembered until a Unix time.
pub(crate) trait SeenStore: std::fmt::Debug + Send + Sync + 'static {
    /// Atomically: if `key` is unknown or its time has passed, holds it in `state` until `until`
    /// and returns the claim; otherwise returns the state it is already held in.
    fn claim(&self, key: &[u8], state: Held, now: i64, until: i64) -> Result<Claim, Held>;
    /// Marks a key held by `claim` done until `until` (nothing if another claim took it over).
    fn complete(&self, key: &[u8], claim: Claim, until: i64);
    /// Forgets a key held by `claim` (its work failed and may be tried again).
    fn release(&self, key: &[u8], claim: Claim);
}

/// In-memory [`SeenStore`] with a bound on the number of keys: past it, the oldest keys are
/// evicted first (keys of one store share one lifetime, so oldest ≈ soonest to expire).
#[derive(Debug)]
pub(crate) struct MemoryStore {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    held: Held,
    until: i64,
    claim: Claim,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<Box<[u8]>, Entry>,
    /// Insertion order, for eviction; may hold keys already released or re-claimed.
    order: VecDeque<(Box<[u8]>, i64)>,
    next_claim: u64,
}

impl MemoryStore {
    /// A store holding at most `capacity` keys.
    pub(crate) fn new(capacity: usize) -> Self {
        MemoryStore {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Number of keys held (expired ones may still count until evicted).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().entries.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (every update is one insert or
        // remove), so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Inner {
    /// Queues `key` for eviction. Released and re-held keys leave stale entries that `evict`
    /// only drops from the front, so the queue is compacted once it is twice the capacity:
    /// memory stays bounded however many deliveries fail (amortised O(1) per call).
    fn remember(&mut self, key: &[u8], until: i64, capacity: usize) {
        self.order.push_back((key.into(), until));
        if self.order.len() > capacity.saturating_mul(2) {
            let entries = &self.entries;
            let mut queued = HashSet::with_capacity(entries.len());
            self.order.retain(|(key, until)| {
                entries.get(key).is_some_and(|e| e.until == *until) && queued.insert(key.clone())
            });
        }
    }

    fn evict(&mut self, now: i64, capacity: usize) {
        while let Some((key, until)) = self.order.front() {
            let current = self.entries.get(key).map(|e| e.until);
            let stale = current != Some(*until);
            if !(stale || *until <= now || self.entries.len() > capacity) {
                break;
            }
            if !stale {
                self.entries.remove(key);
            }
            self.order.pop_front();
        }
    }
}

impl SeenStore for MemoryStore {
    fn claim(&self, key: &[u8], state: Held, now: i64, until: i64) -> Result<Claim, Held> {
        let mut inner = self.lock();
        inner.evict(now, self.capacity);
        if let Some(entry) = inner.entries.get(key) {
            if entry.until > now {
                return Err(entry.held);
            }
        }
        // 2⁶⁴ claims never happen (585 years at a billion a second); wrapping cannot panic.
        inner.next_claim = inner.next_claim.wrapping_add(1);
        let claim = Claim(inner.next_claim);
        inner.entries.insert(
            key.into(),
            Entry {
                held: state,
                until,
                claim,
            },
        );
        inner.remember(key, until, self.capacity);
        inner.evict(now, self.capacity);
        Ok(claim)
    }

    fn complete(&self, key: &[u8], claim: Claim, until: i64) {
        let mut inner = self.lock();
        // A claim evicted meanwhile still delivered: record it. One taken over is not ours.
        if inner
            .entries
            .get(key)
            .is_some_and(|entry| entry.claim != claim)
        {
            return;
        }
        inner.entries.insert(
            key.into(),
            Entry {
                held: Held::Done,
                until,
                claim,
            },
        );
        inner.remember(key, until, self.capacity);
    }

    fn release(&self, key: &[u8], claim: Claim) {
        let mut inner = self.lock();
        if inner
            .entries
            .get(key)
            .is_some_and(|entry| entry.claim == claim)
        {
            inner.entries.remove(key);
        }
    }
}

#[cfg(test)]
mod tests;
