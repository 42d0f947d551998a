//! The bodies the gateway sends, without boxing on the signed path: [`ForwardBody`] towards the
//! upstream, [`GatewayBody`] back to the client; and [`InboundBody`], what a request body must
//! be for the pipeline to read it (hyper's `Incoming` in production, `Full<Bytes>` in tests).

#![warn(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

use crate::upstream::{ResponseError, SendBody, UpstreamBody};

/// The error type bodies of unknown origin are boxed into.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request body the pipeline can read or relay.
pub(crate) trait InboundBody:
    Body<Data = Bytes, Error: Into<BoxError>> + Send + Unpin + 'static
{
}

impl<B> InboundBody for B
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
}

/// A request body on its way to the upstream.
#[derive(Debug, Default)]
pub(crate) enum ForwardBody {
    /// No body.
    #[default]
    Empty,
    /// A verified body, held in memory.
    Full(Option<Bytes>),
    /// An `auth = "none"` body, relayed as it arrives. Boxed: the signed path never makes one,
    /// and this keeps the body it does make small.
    Stream(Box<Streamed>),
}

impl ForwardBody {
    /// A body of exactly these bytes.
    pub(crate) fn full(bytes: Bytes) -> Self {
        if bytes.is_empty() {
            ForwardBody::Empty
        } else {
            ForwardBody::Full(Some(bytes))
        }
    }

    /// `body`, relayed as it arrives, while its client keeps the relay waiting for no more
    /// than `patience` in all (`server.body_read_timeout`). hyper's own body type is kept as
    /// it is; any other type is boxed.
    pub(crate) fn stream<B: InboundBody>(body: B, patience: Duration) -> Self {
        // Nothing to relay (a GET): an empty body, which can also be sent again.
        if body.is_end_stream() {
            return ForwardBody::Empty;
        }
        let mut slot = Some(body);
        let incoming = (&mut slot as &mut dyn Any)
            .downcast_mut::<Option<Incoming>>()
            .and_then(Option::take);
        let source = match (incoming, slot) {
            (Some(incoming), _) => Source::Incoming(incoming),
            (None, Some(body)) => Source::Boxed(body.map_err(Into::into).boxed_unsync()),
            // Only an `Incoming` is taken out of the slot, and then the first arm matched.
            (None, None) => return ForwardBody::Empty,
        };
        ForwardBody::Stream(Box::new(Streamed {
            source,
            patience: Patience::new(patience),
            fault: Arc::new(AtomicU8::new(NO_FAULT)),
        }))
    }

    /// Where a streamed body will say whether its client failed it: broke it off, or kept the
    /// relay waiting past its patience (the body then ends in [`BodyTimedOut`]). Taken before
    /// the body is handed to the upstream connection, which may not say why the body ended.
    pub(crate) fn client_fault(&self) -> Option<ClientFault> {
        match self {
            ForwardBody::Stream(streamed) => Some(ClientFault(Arc::clone(&streamed.fault))),
            ForwardBody::Empty | ForwardBody::Full(_) => None,
        }
    }
}

/// A body relayed as its client sends it, and how much longer the client may keep the relay
/// waiting.
#[derive(Debug)]
pub(crate) struct Streamed {
    source: Source,
    patience: Patience,
    /// How the client failed the body, if it did (shared with [`ClientFault`]).
    fault: Arc<AtomicU8>,
}

const NO_FAULT: u8 = 0;
const BROKEN: u8 = 1;
const TIMED_OUT: u8 = 2;

#[derive(Debug)]
enum Source {
    /// hyper's body (an HTTP/2 client's), relayed without boxing.
    Incoming(Incoming),
    /// Any other body (an HTTP/1.1 client's, pumped from its connection), boxed.
    Boxed(UnsyncBoxBody<Bytes, BoxError>),
}

impl Body for Source {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Source::Incoming(incoming) => Pin::new(incoming).poll_frame(cx).map_err(Into::into),
            Source::Boxed(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Source::Incoming(incoming) => incoming.is_end_stream(),
            Source::Boxed(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Source::Incoming(incoming) => incoming.size_hint(),
            Source::Boxed(body) => body.size_hint(),
        }
    }
}

/// The time a streamed body's client may keep the relay waiting, in all: only the time spent
/// waiting for its next bytes counts, never the time the upstream takes to accept them, so a
/// slow upstream is never blamed on the client.
#[derive(Debug)]
struct Patience {
    /// What is left of it, as of the start of the current wait.
    left: Duration,
    /// When the relay started waiting for the client, while it waits.
    since: Option<Instant>,
    /// Armed at the first wait, moved at later ones.
    timer: Option<Pin<Box<Sleep>>>,
}

impl Patience {
    fn new(left: Duration) -> Self {
        Patience {
            left,
            since: None,
            timer: None,
        }
    }

    /// Bytes (or the end) came: the wait, if there was one, is paid for.
    fn received(&mut self) {
        if let Some(since) = self.since.take() {
            self.left = self.left.saturating_sub(since.elapsed());
        }
    }

    /// The client has nothing more yet: waits, and says whether it has now waited too long.
    fn exhausted(&mut self, cx: &mut Context<'_>) -> bool {
        let since = *self.since.get_or_insert_with(Instant::now);
        // A patience too large to add to the clock never runs out.
        let Some(by) = since.checked_add(self.left) else {
            return false;
        };
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(by)));
        if timer.deadline() != by {
            timer.as_mut().reset(by);
        }
        timer.as_mut().poll(cx).is_ready()
    }
}

/// How a streamed body's client failed it, as the body found out; kept by the pipeline while
/// the body itself goes to the upstream.
#[derive(Debug)]
pub(crate) struct ClientFault(Arc<AtomicU8>);

/// How a client failed the body it was sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFault {
    /// The body broke: the connection closed or failed, or its framing was broken.
    Broken,
    /// The client kept the relay waiting past `server.body_read_timeout`.
    TimedOut,
}

impl ClientFault {
    pub(crate) fn get(&self) -> Option<BodyFault> {
        match self.0.load(Ordering::Relaxed) {
            BROKEN => Some(BodyFault::Broken),
            TIMED_OUT => Some(BodyFault::TimedOut),
            _ => None,
        }
    }
}

/// How a streamed body ends when its client kept the relay waiting past
/// `server.body_read_timeout`.
#[derive(Debug)]
pub(crate) struct BodyTimedOut;

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the client did not send its body within body_read_timeout")
    }
}

impl std::error::Error for BodyTimedOut {}

impl Body for Streamed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.fault.load(Ordering::Relaxed) != NO_FAULT {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.source).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.patience.received();
                if let Some(Err(_)) = &frame {
                    this.fault.store(BROKEN, Ordering::Relaxed);
                }
                Poll::Ready(frame)
            }
            Poll::Pending if this.patience.exhausted(cx) => {
                this.fault.store(TIMED_OUT, Ordering::Relaxed);
                Poll::Ready(Some(Err(Box::new(BodyTimedOut))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        // A body its client failed has ended: nothing more comes from it.
        self.fault.load(Ordering::Relaxed) != NO_FAULT || self.source.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.source.size_hint()
    }
}

impl Body for ForwardBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            ForwardBody::Empty => Poll::Ready(None),
            ForwardBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            ForwardBody::Stream(streamed) => Pin::new(&mut **streamed).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ForwardBody::Empty => true,
            ForwardBody::Full(bytes) => bytes.is_none(),
            ForwardBody::Stream(streamed) => streamed.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ForwardBody::Empty => SizeHint::with_exact(0),
            ForwardBody::Full(bytes) => exact(bytes.as_ref()),
            ForwardBody::Stream(streamed) => streamed.size_hint(),
        }
    }
}

impl SendBody for ForwardBody {
    fn take_in_memory(&mut self) -> Option<Bytes> {
        match self {
            ForwardBody::Empty => Some(Bytes::new()),
            // Taken, not cloned: a clone of bytes read into a vector would allocate to share
            // them.
            ForwardBody::Full(bytes) => Some(bytes.take().unwrap_or_default()),
            ForwardBody::Stream(_) => None,
        }
    }

    fn put_back_in_memory(&mut self, bytes: Bytes) {
        if let ForwardBody::Full(slot @ None) = self {
            *slot = Some(bytes);
        }
    }
}

/// A response body: one the gateway made, or the upstream's, relayed.
#[derive(Debug, Default)]
pub(crate) enum GatewayBody {
    /// No body.
    #[default]
    Empty,
    /// Bytes held in memory (the gateway's own responses, `builtin:echo`).
    Full(Option<Bytes>),
    /// An upstream response, relayed frame by frame; returns its connection to the pool.
    /// Boxed: a response moves through every phase, and this keeps it a third of the size.
    Upstream(Box<UpstreamBody>),
}

impl GatewayBody {
    /// A body of exactly these bytes.
    pub(crate) fn full(bytes: Bytes) -> Self {
        if bytes.is_empty() {
            GatewayBody::Empty
        } else {
            GatewayBody::Full(Some(bytes))
        }
    }
}

/// Moves the fields an upstream's response relays verbatim into its header map, for a peer
/// that needs them there (HTTP/2, which hyper writes from the map).
pub(crate) fn merge_verbatim(response: &mut http::Response<GatewayBody>) {
    let verbatim = match response.body_mut() {
        GatewayBody::Upstream(body) => body.take_verbatim(),
        GatewayBody::Empty | GatewayBody::Full(_) => return,
    };
    verbatim.merge_into(response.headers_mut());
}

/// Sets the field `name` of `response` to `value`, replacing any the response had. On an
/// upstream's response the field joins the lines relayed verbatim (the map keeps what the
/// upstream sent under names the gateway handles, such as this one, so it is removed there).
pub(crate) fn set_field(
    response: &mut http::Response<GatewayBody>,
    name: &http::HeaderName,
    value: &http::HeaderValue,
) {
    set_field_with(response, name, value.as_bytes(), || value.clone());
}

/// [`set_field`] with the value's bytes (a valid header value), made a `HeaderValue` by
/// `value` only for a response whose fields are all in its map.
pub(crate) fn set_field_with(
    response: &mut http::Response<GatewayBody>,
    name: &http::HeaderName,
    bytes: &[u8],
    value: impl FnOnce() -> http::HeaderValue,
) {
    let GatewayBody::Upstream(body) = response.body_mut() else {
        response.headers_mut().insert(name.clone(), value());
        return;
    };
    body.verbatim_mut().push_valid(name.as_str(), bytes);
    let headers = response.headers_mut();
    if !headers.is_empty() {
        headers.remove(name);
    }
}

/// A response the gateway makes itself: `status`, a JSON body, `Cache-Control: no-store`.
pub(crate) fn json_response(
    status: http::StatusCode,
    body: impl Into<Bytes>,
) -> http::Response<GatewayBody> {
    use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
    let mut response = http::Response::new(GatewayBody::full(body.into()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

impl Body for GatewayBody {
    type Data = Bytes;
    type Error = ResponseError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ResponseError>>> {
        match self.get_mut() {
            GatewayBody::Empty => Poll::Ready(None),
            GatewayBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            GatewayBody::Upstream(body) => Pin::new(&mut **body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            GatewayBody::Empty => true,
            GatewayBody::Full(bytes) => bytes.is_none(),
            GatewayBody::Upstream(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            GatewayBody::Empty => SizeHint::with_exact(0),
            GatewayBody::Full(bytes) => exact(bytes.as_ref()),
            GatewayBody::Upstream(body) => body.size_hint(),
        }
    }
}

fn exact(bytes: Option<&Bytes>) -> SizeHint {
    SizeHint::with_exact(bytes.map_or(0, |b| b.len() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::channel::{Channel, Sender};

    /// A streamed body the test feeds; pending while nothing has been fed.
    fn fed(patience: Duration) -> (Sender<Bytes, std::io::Error>, ForwardBody) {
        let (sender, body) = Channel::new(1024);
        (sender, ForwardBody::stream(body, patience))
    }

    /// Hands the body one more piece; false once the body is gone.
    fn feed(sender: &mut Sender<Bytes, std::io::Error>, piece: &'static [u8]) -> bool {
        sender
            .try_send(Frame::data(Bytes::from_static(piece)))
            .is_ok()
    }

    /// The next frame, or `None` if none came within `within` (time is paused: the runtime
    /// moves the clock on while everything waits).
    async fn next(
        body: &mut ForwardBody,
        within: Duration,
    ) -> Option<Option<Result<Bytes, BoxError>>> {
        let frame = tokio::time::timeout(within, body.frame()).await.ok()?;
        Some(frame.map(|frame| frame.map(|frame| frame.into_data().unwrap_or_default())))
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_stops_sending_ends_its_body_in_a_timeout() {
        let (mut sender, mut body) = fed(Duration::from_secs(10));
        let fault = body.client_fault().expect("a streamed body");
        assert!(feed(&mut sender, b"part"));
        let first = next(&mut body, Duration::from_secs(1)).await;
        assert!(matches!(first, Some(Some(Ok(ref bytes))) if bytes == "part"));
        let started = Instant::now();
        let ended = next(&mut body, Duration::from_secs(60)).await;
        let Some(Some(Err(error))) = ended else {
            panic!("the body ends in an error, not {ended:?}");
        };
        assert!(error.is::<BodyTimedOut>(), "{error}");
        assert_eq!(started.elapsed(), Duration::from_secs(10));
        assert_eq!(fault.get(), Some(BodyFault::TimedOut));
        // Nothing more comes from it, even if the client sends again.
        assert!(feed(&mut sender, b"late"));
        assert!(matches!(
            next(&mut body, Duration::from_secs(1)).await,
            Some(None)
        ));
        drop(sender);
    }

    #[tokio::test(start_paused = true)]
    async fn only_the_time_spent_waiting_for_the_client_counts() {
        let (mut sender, mut body) = fed(Duration::from_secs(10));
        let fault = body.client_fault().expect("a streamed body");
        // Waits 6 s for the first bytes: 4 s of patience left.
        assert!(next(&mut body, Duration::from_secs(6)).await.is_none());
        assert!(feed(&mut sender, b"a"));
        assert!(matches!(
            next(&mut body, Duration::from_secs(1)).await,
            Some(Some(Ok(_)))
        ));
        // The upstream takes a minute to ask for more: none of it is the client's.
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(feed(&mut sender, b"b"));
        assert!(matches!(
            next(&mut body, Duration::from_secs(1)).await,
            Some(Some(Ok(_)))
        ));
        // 3 s more of waiting is still within the 4 s left...
        assert!(next(&mut body, Duration::from_secs(3)).await.is_none());
        assert_eq!(fault.get(), None);
        assert!(feed(&mut sender, b"c"));
        assert!(matches!(
            next(&mut body, Duration::from_secs(1)).await,
            Some(Some(Ok(_)))
        ));
        // ...and the last second runs out.
        let started = Instant::now();
        let ended = next(&mut body, Duration::from_secs(60)).await;
        assert!(matches!(ended, Some(Some(Err(_)))), "{ended:?}");
        assert_eq!(started.elapsed(), Duration::from_secs(1));
        assert_eq!(fault.get(), Some(BodyFault::TimedOut));
    }

    /// Sends a byte every 10 ms until the body is dropped.
    fn trickle(mut sender: Sender<Bytes, std::io::Error>) {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
                if !feed(&mut sender, b"x") {
                    return;
                }
            }
        });
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickle_is_cut_off_once_its_waits_add_up_to_the_patience() {
        let (sender, mut body) = fed(Duration::from_secs(1));
        trickle(sender);
        let started = Instant::now();
        let mut pieces = 0;
        let error = loop {
            match next(&mut body, Duration::from_secs(5)).await {
                Some(Some(Ok(_))) => pieces += 1,
                Some(Some(Err(error))) => break error,
                other => panic!("a trickle never ends: {other:?}"),
            }
        };
        assert!(error.is::<BodyTimedOut>(), "{error}");
        assert_eq!(started.elapsed(), Duration::from_secs(1));
        assert!((99..=100).contains(&pieces), "{pieces}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_ends_within_the_patience_is_relayed_whole() {
        let (mut sender, mut body) = fed(Duration::from_secs(1));
        let fault = body.client_fault().expect("a streamed body");
        tokio::spawn(async move {
            for _ in 0..50 {
                tokio::time::sleep(Duration::from_millis(10)).await;
                assert!(feed(&mut sender, b"x"));
            }
        });
        let mut pieces = 0;
        while let Some(frame) = next(&mut body, Duration::from_secs(5))
            .await
            .expect("in time")
        {
            assert!(frame.is_ok());
            pieces += 1;
        }
        assert_eq!(pieces, 50);
        assert_eq!(fault.get(), None);
    }

    #[test]
    fn bodies_held_in_memory_have_no_client_to_fail_them() {
        assert!(ForwardBody::Empty.client_fault().is_none());
        assert!(ForwardBody::full(Bytes::from_static(b"{}"))
            .client_fault()
            .is_none());
    }
}
