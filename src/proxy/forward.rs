//! Phases 3 and 7: reading a bounded request body, and forwarding to the upstream.

use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::request::Parts;
use http::uri::Uri;
use http::{HeaderMap, Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::body::GatewayBody;
use super::budget::{BodyBudget, Reservation};
use super::echo;
use super::headers::{forwarded_host_from_authority, strip_hop_by_hop};
use super::record::Record;
use super::upstream::UpstreamFailure;
use crate::config::ServerConfig;
use crate::error::GatewayError;
use crate::snapshot::{Route, Snapshot};

/// Reads the whole body into one buffer, at most `server.max_body_bytes` within
/// `server.body_read_timeout`, paid for from `budget` within `server.max_buffered_bytes`: a
/// declared `Content-Length` is reserved before any byte is read, a body of unknown length
/// grows its reservation frame by frame; when the budget cannot cover it the answer is `503
/// overloaded`. The bytes returned hold the reservation until their last clone is dropped.
pub(super) async fn read_body(
    body: Incoming,
    headers: &HeaderMap,
    server: &ServerConfig,
    budget: &Arc<BodyBudget>,
) -> Result<Bytes, GatewayError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
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
async fn collect(
    mut body: Incoming,
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

/// Whether a response with `status` can be relayed: a final status HTTP defines. `http`
/// parses 100–999, but a 1xx cannot end an exchange here (upgrades are not relayed) and 600–999
/// mean nothing to a client.
fn is_relayable(status: StatusCode) -> bool {
    (200..600).contains(&status.as_u16())
}

/// Sends the rewritten request to the route's upstream and relays the response. A response
/// whose status cannot be relayed is a failure (`invalid_response`, 502). `budget` pays for
/// the bodies `builtin:echo` reads.
pub(super) async fn forward(
    snapshot: &Snapshot,
    route: &Route,
    mut parts: Parts,
    body: GatewayBody,
    record: &mut Record<'_>,
    budget: &Arc<BodyBudget>,
) -> Result<Response<GatewayBody>, GatewayError> {
    // Finishes the rewrite for HTTP/2, whose host is only in the URI (every route kind passes here).
    forwarded_host_from_authority(&mut parts.headers, &parts.uri);
    let Some(pool) = &route.pool else {
        return echo_response(snapshot, parts, body, budget).await;
    };
    // HTTP/1.1 to the upstream: origin-form target, the upstream's own Host.
    parts.uri = parts
        .uri
        .path_and_query()
        .cloned()
        .map_or_else(|| Uri::from_static("/"), Uri::from);
    parts.version = Version::HTTP_11;
    if let Some(host) = &route.upstream_host {
        parts.headers.insert(HOST, host.clone());
    }
    let started = Instant::now();
    let timeouts = route.metrics.upstream_timeouts();
    let result = pool
        .send(
            Request::from_parts(parts, body),
            &route.id,
            route.timeout,
            timeouts,
        )
        .await;
    let took = started.elapsed();
    match result {
        Ok(response) if !is_relayable(response.status()) => {
            record.upstream = Some((Some(response.status()), took));
            record.upstream_failure = Some(UpstreamFailure::InvalidResponse);
            Err(GatewayError::UpstreamUnavailable)
        }
        Ok(mut response) => {
            record.upstream = Some((Some(response.status()), took));
            let headers = response.headers_mut();
            // Both framings present: the body was decoded as chunked, so a Content-Length would
            // misdescribe it (RFC 9112 §6.1).
            if headers.contains_key(TRANSFER_ENCODING) {
                headers.remove(CONTENT_LENGTH);
            }
            strip_hop_by_hop(headers);
            Ok(response)
        }
        Err(failure) => {
            record.upstream = Some((None, took));
            record.upstream_failure = Some(failure);
            Err(match failure {
                UpstreamFailure::Timeout => GatewayError::UpstreamTimeout,
                UpstreamFailure::Connect
                | UpstreamFailure::Broken
                | UpstreamFailure::InvalidResponse
                | UpstreamFailure::Tls => GatewayError::UpstreamUnavailable,
            })
        }
    }
}

async fn echo_response(
    snapshot: &Snapshot,
    parts: Parts,
    body: GatewayBody,
    budget: &Arc<BodyBudget>,
) -> Result<Response<GatewayBody>, GatewayError> {
    let bytes = match body {
        GatewayBody::Empty => Bytes::new(),
        GatewayBody::Full(bytes) => bytes.unwrap_or_default(),
        GatewayBody::Upstream(_) => Bytes::new(),
        GatewayBody::Stream(incoming) => {
            read_body(incoming, &parts.headers, &snapshot.config.server, budget).await?
        }
    };
    Ok(echo::respond(&parts, &bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_final_statuses_http_defines_are_relayed() {
        for (code, relayable) in [
            (100, false),
            (101, false),
            (199, false),
            (200, true),
            (404, true),
            (599, true),
            (600, false),
            (799, false),
            (999, false),
        ] {
            let status = StatusCode::from_u16(code).expect("status");
            assert_eq!(is_relayable(status), relayable, "{code}");
        }
    }
}
