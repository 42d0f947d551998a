//! One client connection, from accept to close: the deadline for its first request head, the
//! protocol sniff, hyper's HTTP/1 or HTTP/2 connection, the idle and send timeouts and graceful
//! close.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use super::activity::{Activity, Step, Timeouts, Tracked};
use super::http1;
use super::sniff::{sniff, ClientIo, Protocol};
use crate::config::ServerConfig;
use crate::proxy::headers::Peer;
use crate::proxy::Gateway;
use crate::tls::server::{ClientStream, Protocol as Negotiated};

/// Streams an HTTP/2 client may have open at once on one connection.
const HTTP2_MAX_STREAMS: u32 = 128;

/// Request body bytes an HTTP/2 client may send on a stream ahead of the gateway reading them.
const HTTP2_STREAM_WINDOW: u32 = 64 * 1024;

/// How the data listener's connections are served: the HTTP/1.1 settings, hyper's HTTP/2
/// builder and the timeouts, fixed at start.
#[derive(Debug, Clone)]
pub(super) struct Connections {
    http1: http1::Settings,
    http2: http2::Builder<TokioExecutor>,
    timeouts: Timeouts,
}

impl Connections {
    /// The connection settings of `server`.
    pub(super) fn new(server: &ServerConfig) -> Connections {
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .max_concurrent_streams(HTTP2_MAX_STREAMS)
            .max_header_list_size(u32::try_from(server.max_header_bytes).unwrap_or(u32::MAX))
            .keep_alive_interval(server.http2_keepalive_interval)
            .keep_alive_timeout(server.header_read_timeout)
            // A client can have at most 64 KiB of request body per stream waiting to be read,
            // and the connection's window is the sum of its streams': a stream whose body is
            // not read yet (its upstream takes it slowly) never closes the window to the others,
            // which could then not send a byte, and would be blamed for it (`body_read_timeout`
            // counts the time a streamed body waits for its client). A client that resets
            // streams faster than they are answered (CVE-2023-44487, "rapid reset") or keeps
            // provoking stream errors (CVE-2025-8671) is disconnected. The same over TLS and in
            // plaintext.
            .initial_stream_window_size(HTTP2_STREAM_WINDOW)
            .initial_connection_window_size(HTTP2_MAX_STREAMS * HTTP2_STREAM_WINDOW)
            .max_pending_accept_reset_streams(20)
            .max_local_error_reset_streams(256);
        let timeouts = Timeouts {
            header_read: server.header_read_timeout,
            idle: server.idle_timeout,
            send: server.send_timeout,
        };
        let limits = crate::http1::Limits {
            max_header_bytes: server.max_header_bytes,
            max_request_line: server.max_header_bytes,
            ..crate::http1::Limits::default()
        };
        Connections {
            http1: http1::Settings { limits, timeouts },
            http2,
            timeouts,
        }
    }

    /// Serves one connection, accepted at `accepted`, until it closes.
    ///
    /// Everything before the first complete request head (the protocol sniff, then the HTTP/1
    /// head, or the HTTP/2 preface, SETTINGS and first HEADERS) runs under one deadline,
    /// `header_read_timeout` after accept, however the bytes trickle in; the TLS handshake,
    /// when the listener has a pair, comes first under the same deadline. Then the connection
    /// closes after `idle_timeout` with no request in flight, and is dropped when responses have
    /// waited on the client with no progress for `send_timeout`. `draining` turning true closes
    /// it gracefully.
    pub(super) async fn serve(
        &self,
        stream: TcpStream,
        tls: Option<TlsAcceptor>,
        accepted: Instant,
        gateway: Arc<Gateway>,
        peer: Peer,
        mut draining: watch::Receiver<bool>,
    ) {
        let first_head_by = accepted + self.timeouts.header_read;
        let opened = tokio::select! {
            opened = tokio::time::timeout_at(first_head_by, open(stream, tls)) => opened,
            _ = draining.wait_for(|draining| *draining) => return,
        };
        let Ok(Some((io, protocol, first_bytes))) = opened else {
            return;
        };
        if protocol == Protocol::Http1 {
            let settings = self.http1;
            http1::serve(
                io,
                first_bytes,
                first_head_by,
                settings,
                &gateway,
                &peer,
                &draining,
            )
            .await;
            return;
        }
        let activity = Activity::new(accepted, self.timeouts, false);
        let io = TokioIo::new(ClientIo::new(first_bytes, io, activity.clone()));
        let requests = activity.clone();
        let service = service_fn(move |request| {
            let in_flight = requests.start_request();
            let (gateway, peer) = (gateway.clone(), peer.clone());
            async move {
                let (parts, body) = request.into_parts();
                let head = crate::http1::Head::of_parts(parts);
                let mut response = gateway.handle(head, body, &peer).await;
                // hyper writes HTTP/2 heads from the map alone.
                crate::body::merge_verbatim(&mut response);
                Ok::<_, Infallible>(response.map(|body| Tracked::new(body, in_flight)))
            }
        });
        let connection = self.http2.serve_connection(io, service);
        drive(
            connection,
            http2::Connection::graceful_shutdown,
            &activity,
            draining,
        )
        .await;
    }
}

/// The TLS handshake (when the listener has a pair), then the protocol: ALPN's choice over TLS,
/// the first bytes otherwise (returned, to be replayed). `None` if the handshake fails or the
/// client closes first. Has no deadline of its own: the caller's covers it.
async fn open(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
) -> Option<(ClientStream, Protocol, Bytes)> {
    let (mut io, negotiated) = crate::tls::server::open(stream, tls).await?;
    let (protocol, first_bytes) = match negotiated {
        Negotiated::Sniff => sniff(&mut io).await?,
        Negotiated::Http1 => (Protocol::Http1, Bytes::new()),
        Negotiated::Http2 => (Protocol::Http2, Bytes::new()),
    };
    Some((io, protocol, first_bytes))
}

/// Polls `connection` to its end, closing it gracefully when it has been idle too long or
/// the server drains, and dropping it when a head, a response's progress towards the client,
/// or a graceful close is overdue.
async fn drive<C: Future>(
    connection: C,
    graceful_shutdown: impl Fn(Pin<&mut C>),
    activity: &Activity,
    mut draining: watch::Receiver<bool>,
) {
    tokio::pin!(connection);
    let mut changes = activity.changes();
    loop {
        let due = activity.arm();
        let timer = async {
            match due {
                Some(due) => tokio::time::sleep_until(due.at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = connection.as_mut() => return,
            _ = changes.changed() => {}
            _ = draining.wait_for(|draining| *draining), if !activity.is_closing() => {
                graceful_shutdown(connection.as_mut());
                activity.close();
            }
            () = timer => {
                // A request may have started since: only act on what is due now.
                match activity.due() {
                    Some(due) if due.at <= Instant::now() => match due.step {
                        Step::CloseGracefully => {
                            graceful_shutdown(connection.as_mut());
                            activity.close();
                        }
                        Step::Drop => return,
                    },
                    _ => {}
                }
            }
        }
    }
}
