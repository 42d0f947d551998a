//! [`GatewayBody`]: one body type for everything the gateway sends, without boxing.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use super::upstream::UpstreamBody;

/// A body the gateway sends: empty, a buffer it holds, or a stream it relays.
#[derive(Debug, Default)]
pub enum GatewayBody {
    #[default]
    Empty,
    /// Bytes held in memory (verified request bodies, the gateway's own responses).
    Full(Option<Bytes>),
    /// A body relayed frame by frame (`auth = "none"` requests).
    Stream(Incoming),
    /// An upstream response, relayed frame by frame; returns its connection to the pool.
    Upstream(UpstreamBody),
}

/// Why a body stopped short.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The connection failed mid-body.
    #[error(transparent)]
    Hyper(#[from] hyper::Error),
    /// The upstream did not finish its response within the route's timeout.
    #[error("the upstream did not finish its response in time")]
    UpstreamTimeout,
}

/// A response the gateway makes itself: `status`, a JSON body, `Cache-Control: no-store`.
pub fn json_response(
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

impl GatewayBody {
    /// A body of exactly these bytes.
    pub fn full(bytes: Bytes) -> Self {
        if bytes.is_empty() {
            GatewayBody::Empty
        } else {
            GatewayBody::Full(Some(bytes))
        }
    }
}

impl Body for GatewayBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match self.get_mut() {
            GatewayBody::Empty => Poll::Ready(None),
            GatewayBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            GatewayBody::Stream(incoming) => {
                Pin::new(incoming).poll_frame(cx).map_err(BodyError::from)
            }
            GatewayBody::Upstream(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            GatewayBody::Empty => true,
            GatewayBody::Full(bytes) => bytes.is_none(),
            GatewayBody::Stream(incoming) => incoming.is_end_stream(),
            GatewayBody::Upstream(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            GatewayBody::Empty => SizeHint::with_exact(0),
            GatewayBody::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            GatewayBody::Stream(incoming) => incoming.size_hint(),
            GatewayBody::Upstream(body) => body.size_hint(),
        }
    }
}
