//! What one client connection is doing, and when it must close: the deadline for its first
//! request head, its idle timeout, and the requests in flight that suspend both.
//!
//! [`State`] is the pure part (transitions take `now`; [`State::due`] says what is due when).
//! [`Activity`] shares it between the connection's driver, its service and its I/O, and wakes
//! the driver when a deadline may have moved earlier.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use tokio::sync::watch;
use tokio::time::Instant;

/// The two timeouts of an open connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Timeouts {
    /// `server.header_read_timeout`: from accept to the first complete request head; on
    /// HTTP/1 also from the first byte of a later head to its end.
    pub header_read: Duration,
    /// `server.idle_timeout`: how long a connection may stay with no request in flight.
    pub idle: Duration,
}

/// What the connection's driver does once a deadline passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// Close gracefully: HTTP/2 sends `GOAWAY`, an idle HTTP/1 connection closes at once.
    CloseGracefully,
    /// Drop the connection: a head is overdue, or a graceful close did not finish in time.
    Drop,
}

/// A deadline and what happens when it passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Due {
    pub at: Instant,
    pub step: Step,
}

/// The facts the deadlines are computed from.
#[derive(Debug, Clone, Copy)]
pub(super) struct State {
    /// Accept time plus `header_read_timeout`: the first request head must be complete by then.
    first_head_by: Instant,
    /// Requests whose response has not been sent completely (or dropped).
    in_flight: usize,
    /// Whether any request has reached the service yet.
    served: bool,
    /// When `in_flight` last dropped to zero.
    idle_since: Instant,
    /// HTTP/1: when the first byte after `idle_since` was read, i.e. the next head began.
    head_started: Option<Instant>,
    /// When a graceful close was started (idle timeout or server shutdown).
    closing_since: Option<Instant>,
}

impl State {
    /// A connection accepted at `accepted`, whose first head is due `header_read` later.
    pub(super) fn new(accepted: Instant, header_read: Duration) -> State {
        State {
            first_head_by: accepted + header_read,
            in_flight: 0,
            served: false,
            idle_since: accepted,
            head_started: None,
            closing_since: None,
        }
    }

    /// A request head is complete and its request reaches the service.
    pub(super) fn start_request(&mut self) {
        self.in_flight += 1;
        self.served = true;
        self.head_started = None;
    }

    /// A request is over (response sent or abandoned). Returns whether the connection just
    /// became idle, which starts a deadline.
    pub(super) fn finish_request(&mut self, now: Instant) -> bool {
        self.in_flight = self.in_flight.saturating_sub(1);
        if self.in_flight > 0 {
            return false;
        }
        self.idle_since = now;
        self.head_started = None;
        true
    }

    /// HTTP/1 bytes were read at `now`. Returns whether they began the next head while idle,
    /// which brings the deadline forward.
    pub(super) fn bytes_read(&mut self, now: Instant) -> bool {
        let begins_head = self.served && self.in_flight == 0 && self.head_started.is_none();
        if begins_head {
            self.head_started = Some(now);
        }
        begins_head
    }

    /// A graceful close started at `now` (the first call counts).
    pub(super) fn close(&mut self, now: Instant) {
        self.closing_since.get_or_insert(now);
    }

    /// Whether a graceful close has started.
    pub(super) fn is_closing(&self) -> bool {
        self.closing_since.is_some()
    }

    /// The next deadline, or `None` while a request is in flight (its own timeouts apply:
    /// `body_read_timeout`, the upstream timeout). Deadlines count from fixed instants, so
    /// bytes trickling in never push them back.
    pub(super) fn due(&self, timeouts: Timeouts) -> Option<Due> {
        if self.in_flight > 0 {
            return None;
        }
        let (at, step) = if !self.served {
            (self.first_head_by, Step::Drop)
        } else if let Some(closing) = self.closing_since {
            // Time to flush the last response and for the peer to see GOAWAY, then no more.
            (
                closing.max(self.idle_since) + timeouts.header_read,
                Step::Drop,
            )
        } else if let Some(started) = self.head_started {
            (started + timeouts.header_read, Step::Drop)
        } else {
            (self.idle_since + timeouts.idle, Step::CloseGracefully)
        };
        Some(Due { at, step })
    }
}

/// [`State`] shared by a connection's driver, service and I/O.
#[derive(Debug)]
pub(super) struct Activity {
    state: watch::Sender<State>,
    timeouts: Timeouts,
    /// HTTP/1 only: on HTTP/2 bytes arrive while idle (pings, settings) without starting
    /// a request.
    reads_begin_heads: bool,
}

impl Activity {
    /// The activity of a connection accepted at `accepted`.
    pub(super) fn new(
        accepted: Instant,
        timeouts: Timeouts,
        reads_begin_heads: bool,
    ) -> Arc<Activity> {
        Arc::new(Activity {
            state: watch::Sender::new(State::new(accepted, timeouts.header_read)),
            timeouts,
            reads_begin_heads,
        })
    }

    /// A request reached the service; it is in flight until the returned guard drops.
    pub(super) fn start_request(self: &Arc<Self>) -> InFlight {
        // Deadlines only move later: the driver finds out when its timer fires.
        self.state.send_if_modified(|state| {
            state.start_request();
            false
        });
        InFlight(self.clone())
    }

    /// Bytes were read from the client.
    pub(super) fn bytes_read(&self) {
        if self.reads_begin_heads {
            let now = Instant::now();
            self.state.send_if_modified(|state| state.bytes_read(now));
        }
    }

    /// A graceful close has started.
    pub(super) fn close(&self) {
        let now = Instant::now();
        self.state.send_if_modified(|state| {
            state.close(now);
            false
        });
    }

    /// Whether a graceful close has started.
    pub(super) fn is_closing(&self) -> bool {
        self.state.borrow().is_closing()
    }

    /// The next deadline as of now.
    pub(super) fn due(&self) -> Option<Due> {
        self.state.borrow().due(self.timeouts)
    }

    /// Changes that may bring the deadline forward.
    pub(super) fn changes(&self) -> watch::Receiver<State> {
        self.state.subscribe()
    }
}

/// One request in flight on a connection; dropping it ends the request.
#[derive(Debug)]
pub(super) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let now = Instant::now();
        self.0
            .state
            .send_if_modified(|state| state.finish_request(now));
    }
}

/// A response body that keeps its request in flight until it has been sent or dropped.
#[derive(Debug)]
pub(super) struct Tracked<B> {
    body: B,
    _in_flight: InFlight,
}

impl<B> Tracked<B> {
    /// `body`, with `in_flight` ending when it does.
    pub(super) fn new(body: B, in_flight: InFlight) -> Tracked<B> {
        Tracked {
            body,
            _in_flight: in_flight,
        }
    }
}

impl<B: Body + Unpin> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests;
