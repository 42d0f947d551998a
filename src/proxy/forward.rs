//! Phase 7, forward: the rewritten request goes to the route's upstream, and the response
//! streams back. An HTTP/1.1 upstream is reached through its pool (origin-form target, the
//! upstream's own `Host`, the route's timeout); `builtin:echo` answers in process. A status
//! that cannot be relayed, and every upstream failure, become a [`GatewayError::Upstream`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::HOST;
use http::request::Parts;
use http::{HeaderValue, Response, StatusCode};

use super::record::Record;
use crate::body::{json_response, BodyFault, ClientFault, ForwardBody, GatewayBody};
use crate::error::GatewayError;
use crate::http1::{Head, VerbatimFields};
use crate::snapshot::Route;
use crate::upstream::{echo, HostPool, SendError, Upstream, UpstreamFailure};

/// Sends the request (`head`: its parts, with the fields it relays verbatim) to `route`'s
/// upstream and relays the response. An upstream that answers in process gets the body phase 3
/// read, and sees every field.
pub(super) async fn forward(
    route: &Route,
    mut head: Box<Head>,
    body: ForwardBody,
    record: &mut Record<'_>,
) -> Result<Response<GatewayBody>, GatewayError> {
    match &route.upstream {
        Upstream::Pool { pool, host } => {
            let Head { parts, verbatim } = &mut *head;
            pooled(route, pool, host, (parts, verbatim), body, record).await
        }
        Upstream::Echo => {
            let Head {
                mut parts,
                verbatim,
            } = *head;
            verbatim.merge_into(&mut parts.headers);
            let body = buffered(body)?;
            Ok(json_response(StatusCode::OK, echo::render(&parts, &body)))
        }
        #[cfg(test)]
        Upstream::Double(double) => {
            let started = Instant::now();
            let Head {
                mut parts,
                verbatim,
            } = *head;
            verbatim.merge_into(&mut parts.headers);
            let body = buffered(body)?;
            let answer = double.answer(&parts, body).map(|(status, body)| {
                let mut response = Response::new(GatewayBody::full(body));
                *response.status_mut() = status;
                response
            });
            relay(answer, started.elapsed(), record)
        }
    }
}

async fn pooled(
    route: &Route,
    pool: &Arc<HostPool<ForwardBody>>,
    host: &HeaderValue,
    (parts, verbatim): (&Parts, &mut VerbatimFields),
    body: ForwardBody,
    record: &mut Record<'_>,
) -> Result<Response<GatewayBody>, GatewayError> {
    // The upstream's own Host (the rewrite removed the client's); the client writes the
    // origin-form target.
    debug_assert!(!parts.headers.contains_key(HOST));
    verbatim.push_valid(HOST.as_str(), host.as_bytes());
    let fault = body.client_fault();
    let started = Instant::now();
    let result = match pool
        .send(
            parts,
            &*verbatim,
            body,
            &route.id,
            (started, route.timeout),
            &route.metrics.cutoffs,
        )
        .await
    {
        Ok(response) => Ok(response),
        Err(error) => Err(blame(error, fault)?),
    };
    let response =
        result.map(|response| response.map(|body| GatewayBody::Upstream(Box::new(body))));
    relay(response, started.elapsed(), record)
}

/// Whose fault a request that got no response is: the client's when it broke or stalled its
/// body, whichever way the upstream connection reports that (an HTTP/2 upstream sees its
/// stream reset); otherwise the upstream's.
#[cold]
fn blame(error: SendError, fault: Option<ClientFault>) -> Result<UpstreamFailure, GatewayError> {
    match (fault.as_ref().and_then(ClientFault::get), error) {
        (Some(BodyFault::TimedOut), _) => Err(GatewayError::BodyTimeout),
        (Some(BodyFault::Broken), _) | (None, SendError::RequestBody) => {
            Err(GatewayError::BodyUnreadable)
        }
        (None, SendError::Upstream(failure)) => Ok(failure),
    }
}

/// Records the upstream's answer, and refuses one whose status cannot be relayed
/// (`invalid_response`, 502).
fn relay(
    result: Result<Response<GatewayBody>, UpstreamFailure>,
    took: Duration,
    record: &mut Record<'_>,
) -> Result<Response<GatewayBody>, GatewayError> {
    let failure = match &result {
        Ok(response) => {
            record.upstream(Some(response.status()), took);
            (!is_relayable(response.status())).then_some(UpstreamFailure::InvalidResponse)
        }
        Err(failure) => {
            record.upstream(None, took);
            Some(*failure)
        }
    };
    match failure {
        None => result.map_err(GatewayError::Upstream),
        Some(failure) => {
            record.upstream_failed(failure);
            Err(GatewayError::Upstream(failure))
        }
    }
}

/// Whether a response with `status` can be relayed: a final status HTTP defines. `http`
/// parses 100–999, but a 1xx cannot end an exchange here (upgrades are not relayed) and 600–999
/// mean nothing to a client.
fn is_relayable(status: StatusCode) -> bool {
    (200..600).contains(&status.as_u16())
}

/// The whole body, for an upstream that answers in process: phase 3 read it.
fn buffered(body: ForwardBody) -> Result<Bytes, GatewayError> {
    match body {
        ForwardBody::Empty => Ok(Bytes::new()),
        ForwardBody::Full(bytes) => Ok(bytes.unwrap_or_default()),
        // Not for an upstream that answers in process (`Upstream::answers_in_process`).
        ForwardBody::Stream(_) => Err(GatewayError::BodyUnreadable),
    }
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
