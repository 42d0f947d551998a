//! The buffered-body budget: one byte count shared by every request that holds its body in
//! memory (authenticated routes, and `builtin:echo`), so that buffered bodies stay under
//! `server.max_buffered_bytes` together, however many requests are in flight.
//!
//! A request takes a [`Reservation`] before it reads its body and grows it as bytes arrive; the
//! reservation travels inside the buffered [`Bytes`] and is given back when the last reference
//! to them is dropped (the body was forwarded and freed, the request was refused, or the client
//! went away).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use prometheus::IntGauge;

/// Bytes reserved by buffered bodies. Shared across snapshots: a reload changes the limit that
/// requests pass in, not the count of what is held.
#[derive(Debug)]
pub(super) struct BodyBudget {
    reserved: AtomicUsize,
    /// `buffered_body_bytes`, kept equal to `reserved`.
    gauge: IntGauge,
}

impl BodyBudget {
    /// An empty budget reporting into `gauge`.
    pub(super) fn new(gauge: IntGauge) -> Arc<BodyBudget> {
        Arc::new(BodyBudget {
            reserved: AtomicUsize::new(0),
            gauge,
        })
    }

    /// Reserves `bytes` if the total reserved stays within `limit`; `None` (nothing reserved)
    /// otherwise.
    pub(super) fn reserve(self: &Arc<Self>, bytes: usize, limit: usize) -> Option<Reservation> {
        let mut reservation = Reservation {
            budget: self.clone(),
            bytes: 0,
        };
        reservation.grow_to(bytes, limit).then_some(reservation)
    }

    fn take(&self, bytes: usize, limit: usize) -> bool {
        let taken = self
            .reserved
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |reserved| {
                reserved.checked_add(bytes).filter(|total| *total <= limit)
            })
            .is_ok();
        if taken {
            self.gauge.add(gauge_value(bytes));
        }
        taken
    }

    fn give_back(&self, bytes: usize) {
        // Only bytes taken by `take` come back, so the count cannot go below zero.
        self.reserved.fetch_sub(bytes, Ordering::AcqRel);
        self.gauge.sub(gauge_value(bytes));
    }
}

/// Bytes held against a [`BodyBudget`]; given back when dropped.
#[derive(Debug)]
pub(super) struct Reservation {
    budget: Arc<BodyBudget>,
    bytes: usize,
}

impl Reservation {
    /// Grows the reservation to `total` bytes (nothing to do if it holds that many already).
    /// `false`, with the reservation unchanged, when the budget cannot cover the difference
    /// within `limit`.
    pub(super) fn grow_to(&mut self, total: usize, limit: usize) -> bool {
        let more = total.saturating_sub(self.bytes);
        if more == 0 {
            return true;
        }
        if !self.budget.take(more, limit) {
            return false;
        }
        self.bytes = total;
        true
    }

    /// `buffer` as shared bytes that keep this reservation until their last clone is dropped.
    pub(super) fn hold(self, buffer: BytesMut) -> Bytes {
        Bytes::from_owner(Buffered {
            buffer,
            _reservation: self,
        })
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.give_back(self.bytes);
    }
}

/// A buffered body and the reservation that pays for it.
struct Buffered {
    buffer: BytesMut,
    _reservation: Reservation,
}

impl AsRef<[u8]> for Buffered {
    fn as_ref(&self) -> &[u8] {
        &self.buffer
    }
}

/// Reservations never exceed `server.max_buffered_bytes` (at most 2⁴⁰), so they fit an `i64`.
fn gauge_value(bytes: usize) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
