//! What one client connection is doing, and when it must close: the deadline for its first
//! request head, its idle timeout, and its send timeout while a response waits on the client.
//!
//! [`State`] is the pure part (transitions take `now`; [`State::due`] says what is due when).
//! [`Activity`] shares it between the connection's driver, its service, its response bodies
//! and its I/O, and wakes the driver only when a deadline moves before the one its timer is
//! set for. [`tracked`] holds a request in flight and its response body, which report whom the
//! request waits on.
//!
//! A request in flight waits on its source (the service preparing the response, the upstream
//! producing the next frame: the route's timeouts apply) or on the client (the response is
//! ready, or a body frame was handed to hyper, and hyper has not asked for the next one: a full
//! socket, a closed HTTP/2 window). The send deadline is `send_timeout` after the last progress
//! towards the client on the whole connection, so an HTTP/2 stream the client does not read is
//! kept while another stream of the same connection progresses; a write that finds the socket
//! full starts it too, in any state (an HTTP/1 answer can end in hyper's buffer and hold back
//! the pipelined request behind it).

mod tracked;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

pub(super) use self::tracked::{InFlight, Tracked};

/// The timeouts of an open connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Timeouts {
    /// `server.header_read_timeout`: from accept to the first complete request head; on
    /// HTTP/1 also from the first byte of a later head to its end.
    pub header_read: Duration,
    /// `server.idle_timeout`: how long a connection may stay with no request in flight.
    pub idle: Duration,
    /// `server.send_timeout`: how long responses may wait on the client with no progress.
    pub send: Duration,
}

/// What the connection's driver does once a deadline passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// Close gracefully: HTTP/2 sends `GOAWAY`, an idle HTTP/1 connection closes at once.
    CloseGracefully,
    /// Drop the connection: a head is overdue, a response has waited on a client that does not
    /// read for too long, or a graceful close did not finish in time.
    Drop,
}

/// A deadline and what happens when it passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Due {
    pub at: Instant,
    pub step: Step,
}

/// Whom a request in flight is waiting on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Waiting {
    /// Its source: the service preparing the response, or the body producing its next frame
    /// (or nothing more: the body has ended).
    OnSource,
    /// The client: the response is ready, or hyper took a frame of its body, and hyper has not
    /// asked for the next frame yet because it cannot send what it has.
    OnClient,
}

/// The facts the deadlines are computed from.
#[derive(Debug, Clone, Copy)]
pub(super) struct State {
    /// Accept time plus `header_read_timeout`: the first request head must be complete by then.
    first_head_by: Instant,
    /// Requests whose response has not been sent completely (or dropped).
    in_flight: usize,
    /// Of those, the ones [`Waiting::OnClient`].
    on_client: usize,
    /// The last progress towards the client while a response waits on it: a response began
    /// waiting when none did, or hyper asked one that waited for its next frame.
    progress_at: Instant,
    /// When a write to the client found its socket full, if none has gone through since.
    write_blocked_since: Option<Instant>,
    /// Whether any request has reached the service yet.
    served: bool,
    /// When `in_flight` last dropped to zero.
    idle_since: Instant,
    /// HTTP/1: when the first byte after `idle_since` was read, i.e. the next head began.
    head_started: Option<Instant>,
    /// When a graceful close was started (idle timeout or server shutdown).
    closing_since: Option<Instant>,
    /// The deadline the driver's timer is set for (`None`: no timer).
    armed: Option<Instant>,
}

impl State {
    /// A connection accepted at `accepted`, whose first head is due `header_read` later.
    pub(super) fn new(accepted: Instant, header_read: Duration) -> State {
        State {
            first_head_by: accepted + header_read,
            in_flight: 0,
            on_client: 0,
            progress_at: accepted,
            write_blocked_since: None,
            served: false,
            idle_since: accepted,
            head_started: None,
            closing_since: None,
            armed: None,
        }
    }

    /// A request head is complete and its request reaches the service (it waits on its source).
    pub(super) fn start_request(&mut self) {
        self.in_flight += 1;
        self.served = true;
        self.head_started = None;
    }

    /// A request in flight went from waiting on `before` to waiting on `after` at `now`. Hyper
    /// asking a response that waited on the client for its next frame is progress; a response
    /// beginning to wait while others already do is not.
    pub(super) fn waiting_changed(&mut self, now: Instant, before: Waiting, after: Waiting) {
        match (before, after) {
            (Waiting::OnSource, Waiting::OnSource) => {}
            (Waiting::OnSource, Waiting::OnClient) => {
                if self.on_client == 0 {
                    self.progress_at = now;
                }
                self.on_client += 1;
            }
            (Waiting::OnClient, Waiting::OnClient) => self.progress_at = now,
            (Waiting::OnClient, Waiting::OnSource) => {
                self.progress_at = now;
                self.on_client = self.on_client.saturating_sub(1);
            }
        }
    }

    /// A request that was `waiting` is over at `now` (response sent or abandoned). The last one
    /// starts the idle timeout.
    pub(super) fn finish_request(&mut self, now: Instant, waiting: Waiting) {
        if waiting == Waiting::OnClient {
            self.on_client = self.on_client.saturating_sub(1);
        }
        self.in_flight = self.in_flight.saturating_sub(1);
        if self.in_flight == 0 {
            self.idle_since = now;
            self.head_started = None;
        }
    }

    /// A write to the client could not go through at `now`: its socket is full. In any state
    /// (an HTTP/1 answer may wait in hyper's buffer after its body ended).
    pub(super) fn write_blocked(&mut self, now: Instant) {
        self.write_blocked_since.get_or_insert(now);
    }

    /// A write to the client went through.
    pub(super) fn wrote(&mut self) {
        self.write_blocked_since = None;
    }

    /// HTTP/1 bytes were read at `now`: the first ones while idle begin the next head.
    pub(super) fn bytes_read(&mut self, now: Instant) {
        if self.served && self.in_flight == 0 && self.head_started.is_none() {
            self.head_started = Some(now);
        }
    }

    /// A graceful close started at `now` (the first call counts).
    pub(super) fn close(&mut self, now: Instant) {
        self.closing_since.get_or_insert(now);
    }

    /// Whether a graceful close has started.
    pub(super) fn is_closing(&self) -> bool {
        self.closing_since.is_some()
    }

    /// The next deadline: the earlier of the send deadline and the connection's own. Deadlines
    /// count from fixed instants, so bytes trickling in never push them back.
    pub(super) fn due(&self, timeouts: Timeouts) -> Option<Due> {
        match (self.send_due(timeouts), self.connection_due(timeouts)) {
            (Some(send), Some(other)) if other.at < send.at => Some(other),
            (Some(send), _) => Some(send),
            (None, other) => other,
        }
    }

    /// `send_timeout` after the client last took something, while it is waited on: a response
    /// waits on it, or a write to its socket is blocked.
    fn send_due(&self, timeouts: Timeouts) -> Option<Due> {
        let responses = (self.on_client > 0).then_some(self.progress_at);
        let since = match (responses, self.write_blocked_since) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        Some(Due {
            at: since + timeouts.send,
            step: Step::Drop,
        })
    }

    /// The first-head, idle and graceful-close deadlines; none while a request is in flight
    /// (its own timeouts apply: `body_read_timeout`, the upstream timeout).
    fn connection_due(&self, timeouts: Timeouts) -> Option<Due> {
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

    /// The driver sets its timer for [`State::due`]; returns that deadline.
    pub(super) fn arm(&mut self, timeouts: Timeouts) -> Option<Due> {
        let due = self.due(timeouts);
        self.armed = due.map(|due| due.at);
        due
    }

    /// Whether the deadline is now before the driver's timer, which must then be woken. A
    /// deadline that moved later needs no wake: the timer fires early and is set again.
    pub(super) fn wakes_driver(&self, timeouts: Timeouts) -> bool {
        match (self.due(timeouts), self.armed) {
            (Some(due), Some(armed)) => due.at < armed,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }
}

/// [`State`] shared by a connection's driver, service, response bodies and I/O.
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
        self.update(State::start_request);
        InFlight::new(self.clone())
    }

    /// A write to the client found its socket full (`blocked`), or went through.
    pub(super) fn write_blocked(&self, blocked: bool) {
        if blocked {
            let now = Instant::now();
            self.update(|state| state.write_blocked(now));
        } else {
            self.update(State::wrote);
        }
    }

    /// Bytes were read from the client.
    pub(super) fn bytes_read(&self) {
        if self.reads_begin_heads {
            let now = Instant::now();
            self.update(|state| state.bytes_read(now));
        }
    }

    /// A graceful close has started.
    pub(super) fn close(&self) {
        let now = Instant::now();
        self.update(|state| state.close(now));
    }

    /// Whether a graceful close has started.
    pub(super) fn is_closing(&self) -> bool {
        self.state.borrow().is_closing()
    }

    /// The next deadline as of now, for the driver's timer: changes that bring a deadline
    /// before it are announced by [`Activity::changes`].
    pub(super) fn arm(&self) -> Option<Due> {
        let mut due = None;
        self.state.send_if_modified(|state| {
            due = state.arm(self.timeouts);
            false
        });
        due
    }

    /// The next deadline as of now.
    pub(super) fn due(&self) -> Option<Due> {
        self.state.borrow().due(self.timeouts)
    }

    /// Changes that bring the deadline before the one last armed.
    pub(super) fn changes(&self) -> watch::Receiver<State> {
        self.state.subscribe()
    }

    /// Applies `change`, and wakes the driver if the deadline is now before its timer.
    fn update(&self, change: impl FnOnce(&mut State)) {
        self.state.send_if_modified(|state| {
            change(state);
            state.wakes_driver(self.timeouts)
        });
    }
}

#[cfg(test)]
mod tests;
