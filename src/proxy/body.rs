//! Phase 3, body: app and webhook routes read the whole body before verifying it, bounded by
//! size (`413`) and time (`408`), and paid for from the budget all buffered bodies share
//! (`budget.rs`; `503 overloaded` when it cannot cover one more). `auth = "none"` routes do
//! not come here: their body streams, within the same time (`crate::body::ForwardBody::stream`).

use std::future::Future;
use std::sync::Arc;
use std::task::Poll;

use bytes::{Bytes, BytesMut};
use http::header::CONTENT_LENGTH;

use crate::http1::VerbatimFields;
use http::HeaderMap;
use http_body_util::BodyExt;

use super::budget::{BodyBudget, Reservation};
use crate::body::InboundBody;
use crate::config::ServerConfig;
use crate::error::GatewayError;

/// The `Content-Length` a request declared: in the map, or held beside the fields an HTTP/1.1
/// head relays verbatim.
pub(crate) fn declared_length(headers: &HeaderMap, verbatim: &VerbatimFields) -> Option<u64> {
    verbatim.content_length().or_else(|| {
        headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
    })
}

/// Reads the whole body into one buffer, at most `server.max_body_bytes` within
/// `server.body_read_timeout`, paid for from `budget` within `server.max_buffered_bytes`: a
/// declared `Content-Length` is reserved before any byte is read, a body of unknown length
/// grows its reservation frame by frame; when the budget cannot cover it the answer is `503
/// overloaded`. The bytes returned hold the reservation until their last clone is dropped.
pub(crate) async fn read<B: InboundBody>(
    body: B,
    declared: Option<u64>,
    server: &ServerConfig,
    budget: &Arc<BodyBudget>,
) -> Result<Bytes, GatewayError> {
    let declared = match declared.map(usize::try_from) {
        None => 0,
        Some(Ok(length)) if length <= server.max_body_bytes => length,
        Some(_) => return Err(GatewayError::BodyTooLarge),
    };
    let reservation = budget
        .reserve(declared, server.max_buffered_bytes)
        .ok_or(GatewayError::Overloaded)?;
    let buffer = BytesMut::with_capacity(declared);
    let collect = collect(body, buffer, reservation, server);
    tokio::pin!(collect);
    // Small bodies usually arrive with the request head: take them without arming a timer.
    let ready = std::future::poll_fn(|cx| Poll::Ready(collect.as_mut().poll(cx))).await;
    match ready {
        Poll::Ready(collected) => collected,
        Poll::Pending => match tokio::time::timeout(server.body_read_timeout, collect).await {
            Ok(collected) => collected,
            Err(_elapsed) => Err(GatewayError::BodyTimeout),
        },
    }
}

/// Copies each data frame of `body` into `buffer` (one copy, no second pass), growing
/// `reservation` with it. Trailers are dropped: a buffered body is forwarded without them.
async fn collect<B: InboundBody>(
    mut body: B,
    mut buffer: BytesMut,
    mut reservation: Reservation,
    server: &ServerConfig,
) -> Result<Bytes, GatewayError> {
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| GatewayError::BodyUnreadable)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let total = buffer
            .len()
            .checked_add(data.len())
            .filter(|total| *total <= server.max_body_bytes)
            .ok_or(GatewayError::BodyTooLarge)?;
        if !reservation.grow_to(total, server.max_buffered_bytes) {
            return Err(GatewayError::Overloaded);
        }
        buffer.extend_from_slice(&data);
    }
    Ok(reservation.hold(buffer))
}
