//! The bodies the gateway sends, without boxing on the signed path: [`ForwardBody`] towards the
//! upstream, [`GatewayBody`] back to the client; and [`InboundBody`], what a request body must
//! be for the pipeline to read it (hyper's `Incoming` in production, `Full<Bytes>` in tests).

#![warn(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::any::Any;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::BodyExt;
use hyper::body::Incoming;

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
    /// An `auth = "none"` body relayed frame by frame from hyper's connection.
    Stream(Incoming),
    /// An `auth = "none"` body of any other type (in-memory tests), boxed.
    Boxed(UnsyncBoxBody<Bytes, BoxError>),
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

    /// `body`, relayed as it arrives. hyper's own body type is kept as it is (no allocation);
    /// any other type is boxed.
    pub(crate) fn stream<B: InboundBody>(body: B) -> Self {
        // Nothing to relay (a GET): an empty body, which can also be sent again.
        if body.is_end_stream() {
            return ForwardBody::Empty;
        }
        let mut slot = Some(body);
        let incoming = (&mut slot as &mut dyn Any)
            .downcast_mut::<Option<Incoming>>()
            .and_then(Option::take);
        match (incoming, slot) {
            (Some(incoming), _) => ForwardBody::Stream(incoming),
            (None, Some(body)) => ForwardBody::Boxed(body.map_err(Into::into).boxed_unsync()),
            // Only an `Incoming` is taken out of the slot, and then the first arm matched.
            (None, None) => ForwardBody::Empty,
        }
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
            ForwardBody::Stream(incoming) => Pin::new(incoming).poll_frame(cx).map_err(Into::into),
            ForwardBody::Boxed(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ForwardBody::Empty => true,
            ForwardBody::Full(bytes) => bytes.is_none(),
            ForwardBody::Stream(incoming) => incoming.is_end_stream(),
            ForwardBody::Boxed(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ForwardBody::Empty => SizeHint::with_exact(0),
            ForwardBody::Full(bytes) => exact(bytes.as_ref()),
            ForwardBody::Stream(incoming) => incoming.size_hint(),
            ForwardBody::Boxed(body) => body.size_hint(),
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
            ForwardBody::Stream(_) | ForwardBody::Boxed(_) => None,
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
