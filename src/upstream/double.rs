//! An in-memory upstream for tests of the pipeline: it answers with a fixed status, or fails the
//! way a real upstream can, and keeps every request that reached it.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, StatusCode};

use super::UpstreamFailure;

/// How the double answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Behaviour {
    /// A response with this status.
    Respond(StatusCode),
    /// This failure; with [`UpstreamFailure::Connect`] the request never reaches the double.
    Fail(UpstreamFailure),
}

/// A request as the double received it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    /// Path and query as sent.
    pub(crate) uri: http::Uri,
    /// Headers as sent.
    pub(crate) headers: HeaderMap,
    /// The body as sent.
    pub(crate) body: Bytes,
}

/// The test upstream.
#[derive(Debug)]
pub(crate) struct Double {
    behaviour: Mutex<Behaviour>,
    seen: Mutex<Vec<Seen>>,
}

impl Double {
    /// A double that behaves as `behaviour`.
    pub(crate) fn new(behaviour: Behaviour) -> Arc<Double> {
        Arc::new(Double {
            behaviour: Mutex::new(behaviour),
            seen: Mutex::new(Vec::new()),
        })
    }

    /// Changes how the next requests are answered.
    pub(crate) fn behave(&self, behaviour: Behaviour) {
        *self
            .behaviour
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = behaviour;
    }

    /// Every request received so far.
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Answers a request: the status and body of the response, or the failure.
    pub(crate) fn answer(
        &self,
        parts: &Parts,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes), UpstreamFailure> {
        let behaviour = *self
            .behaviour
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if behaviour != Behaviour::Fail(UpstreamFailure::Connect) {
            self.seen
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Seen {
                    uri: parts.uri.clone(),
                    headers: parts.headers.clone(),
                    body,
                });
        }
        match behaviour {
            Behaviour::Respond(status) => Ok((status, Bytes::from_static(b"upstream says hi"))),
            Behaviour::Fail(failure) => Err(failure),
        }
    }
}
