//! A request in flight on a connection ([`InFlight`]) and its response body ([`Tracked`]):
//! whom the request waits on, its source or the client, as hyper polls the body, reported to
//! the connection's [`Activity`].

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use tokio::time::Instant;

use super::{Activity, Waiting};

/// One request in flight on a connection, and whom it waits on; dropping it ends the request.
#[derive(Debug)]
pub(in crate::server) struct InFlight {
    activity: Arc<Activity>,
    waiting: Waiting,
}

impl InFlight {
    /// A request of `activity`'s connection that has just reached the service: it waits on
    /// its source.
    pub(super) fn new(activity: Arc<Activity>) -> InFlight {
        InFlight {
            activity,
            waiting: Waiting::OnSource,
        }
    }

    /// The request now waits on `waiting`.
    fn wait_on(&mut self, waiting: Waiting) {
        let before = std::mem::replace(&mut self.waiting, waiting);
        // A body still waiting on its source changes nothing: no clock read, no lock.
        if before == Waiting::OnSource && waiting == Waiting::OnSource {
            return;
        }
        let now = Instant::now();
        self.activity
            .update(|state| state.waiting_changed(now, before, waiting));
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let now = Instant::now();
        let waiting = self.waiting;
        self.activity
            .update(|state| state.finish_request(now, waiting));
    }
}

/// A response body that keeps its request in flight until it has been sent or dropped, and
/// tells whether it waits on the client (from creation and after each frame, until hyper asks
/// for the next) or on its source (while producing a frame returns `Pending`).
#[derive(Debug)]
pub(in crate::server) struct Tracked<B> {
    body: B,
    in_flight: InFlight,
}

impl<B> Tracked<B> {
    /// `body`, ready to send: it waits on the client from now, and `in_flight` ends with it.
    pub(in crate::server) fn new(body: B, mut in_flight: InFlight) -> Tracked<B> {
        in_flight.wait_on(Waiting::OnClient);
        Tracked { body, in_flight }
    }
}

impl<B: Body + Unpin> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        // A frame handed over waits on the client; an error or the end leaves nothing to send.
        let waiting = match &polled {
            Poll::Ready(Some(Ok(_))) => Waiting::OnClient,
            _ => Waiting::OnSource,
        };
        this.in_flight.wait_on(waiting);
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
