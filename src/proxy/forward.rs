//! Phases 3 and 7: reading a bounded request body, and forwarding to the upstream.

use std::future::Future;
use std::task::Poll;
use std::time::Instant;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::request::Parts;
use http::uri::Uri;
use http::{HeaderMap, Request, Response, Version};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;

use super::body::GatewayBody;
use super::echo;
use super::headers::{forwarded_host_from_authority, strip_hop_by_hop};
use super::record::Record;
use super::upstream::UpstreamFailure;
use crate::config::ServerConfig;
use crate::error::GatewayError;
use crate::snapshot::{Route, Snapshot};

/// Reads the whole body, at most `server.max_body_bytes` within `server.body_read_timeout`.
pub(super) async fn read_body(
    body: Incoming,
    headers: &HeaderMap,
    server: &ServerConfig,
) -> Result<Bytes, GatewayError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > server.max_body_bytes as u64) {
        return Err(GatewayError::BodyTooLarge);
    }
    let collect = Limited::new(body, server.max_body_bytes).collect();
    tokio::pin!(collect);
    // Small bodies usually arrive with the request head: take them without arming a timer.
    let ready = std::future::poll_fn(|cx| Poll::Ready(collect.as_mut().poll(cx))).await;
    let collected = match ready {
        Poll::Ready(collected) => collected,
        Poll::Pending => match tokio::time::timeout(server.body_read_timeout, collect).await {
            Ok(collected) => collected,
            Err(_elapsed) => return Err(GatewayError::BodyTimeout),
        },
    };
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => {
            Err(GatewayError::BodyTooLarge)
        }
        Err(_) => Err(GatewayError::BodyUnreadable),
    }
}

/// Sends the rewritten request to the route's upstream and relays the response.
pub(super) async fn forward(
    snapshot: &Snapshot,
    route: &Route,
    mut parts: Parts,
    body: GatewayBody,
    record: &mut Record<'_>,
) -> Result<Response<GatewayBody>, GatewayError> {
    // Finishes the rewrite for HTTP/2, whose host is only in the URI (every route kind passes here).
    forwarded_host_from_authority(&mut parts.headers, &parts.uri);
    let Some(pool) = &route.pool else {
        return echo_response(snapshot, parts, body).await;
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
    let timeouts = &route.metrics.upstream_errors[UpstreamFailure::Timeout as usize];
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
        // Upgrades are not relayed: a 101 (or any other 1xx as the final answer) is a failure.
        Ok(response) if response.status().is_informational() => {
            record.upstream = Some((Some(response.status()), took));
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
                UpstreamFailure::Connect | UpstreamFailure::Broken | UpstreamFailure::Tls => {
                    GatewayError::UpstreamUnavailable
                }
            })
        }
    }
}

async fn echo_response(
    snapshot: &Snapshot,
    parts: Parts,
    body: GatewayBody,
) -> Result<Response<GatewayBody>, GatewayError> {
    let bytes = match body {
        GatewayBody::Empty => Bytes::new(),
        GatewayBody::Full(bytes) => bytes.unwrap_or_default(),
        GatewayBody::Upstream(_) => Bytes::new(),
        GatewayBody::Stream(incoming) => {
            read_body(incoming, &parts.headers, &snapshot.config.server).await?
        }
    };
    Ok(echo::respond(&parts, &bytes))
}
