//! The HTTP/1.1 server connection: heads parsed by the codec (`crate::http1`, strict RFC 9112
//! framing), one request at a time through the pipeline, responses written by `respond`. The
//! pipeline's upstream exchange runs in this same task, so a proxied request costs no task
//! switch and no channel.
//!
//! Deadlines: the first head must be complete `header_read_timeout` after accept (the caller's
//! deadline, which the TLS handshake and the sniff already ran under); a later one must start
//! within `idle_timeout` of the previous response and be complete `header_read_timeout` after
//! its first byte. Writes that make no progress for `send_timeout` end the connection. A draining
//! server closes connections between requests and answers the request in flight with
//! `Connection: close`.
//!
//! A head the codec refuses is answered with its status and the JSON error of SPEC §6, then
//! the connection closes; so does one whose body was not read to its end (nothing left of it
//! can be taken for the next request).

mod body;
mod respond;
#[cfg(test)]
mod tests;

use std::future::{poll_fn, Future};
use std::io;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

use self::body::{body_for, pump, Pumped};
use self::respond::{respond, Asked, Sent};
use super::activity::Timeouts;
use crate::http1::{parse_request, Http1Error, Limits, RequestHead, Status};
use crate::proxy::headers::Peer;
use crate::proxy::Gateway;

/// Bytes read from a client at a time, at least.
const READ_CHUNK: usize = 8 * 1024;

/// A client connection: its stream, the bytes read but not yet consumed (the start of the next
/// request when a client pipelines), and the buffer responses are assembled in.
pub(super) struct Conn<I> {
    io: I,
    read: BytesMut,
    write: Vec<u8>,
    /// The keep-alive idle timer (see `read_head`).
    idle: Pin<Box<Sleep>>,
}

impl<I: AsyncRead + AsyncWrite + Unpin> Conn<I> {
    /// Reads more from the client into the buffer; `Ok(0)` when it closed.
    async fn fill(&mut self) -> io::Result<usize> {
        fill(&mut self.io, &mut self.read).await
    }
}

/// Reads more from `io` into `read`; `Ok(0)` when the client closed.
async fn fill<I: AsyncRead + Unpin>(io: &mut I, read: &mut BytesMut) -> io::Result<usize> {
    read.reserve(READ_CHUNK);
    io.read_buf(read).await
}

/// The fixed settings of HTTP/1.1 connections.
#[derive(Debug, Clone, Copy)]
pub(super) struct Settings {
    pub(super) limits: Limits,
    pub(super) timeouts: Timeouts,
}

/// Why no request head came.
enum NoHead {
    /// The client closed, stayed idle too long, or the server is draining: close quietly.
    Closed,
    /// The head is malformed or too large: answer this, then close.
    Refused(Http1Error),
}

/// Serves HTTP/1.1 on `io` (after `first`, the bytes the protocol sniff read) until the
/// connection closes. The first head is due by `first_head_by`.
pub(super) async fn serve<I: AsyncRead + AsyncWrite + Unpin>(
    io: I,
    first: Bytes,
    first_head_by: Instant,
    settings: Settings,
    gateway: &Gateway,
    peer: &Peer,
    draining: &watch::Receiver<bool>,
) {
    let mut read = BytesMut::with_capacity(READ_CHUNK.max(first.len()));
    read.extend_from_slice(&first);
    let mut conn = Conn {
        io,
        read,
        write: Vec::with_capacity(1024),
        idle: Box::pin(tokio::time::sleep_until(first_head_by)),
    };
    // Registered once per connection: waiting between requests costs no registration with
    // the channel each time.
    let mut watch = draining.clone();
    let mut drained = pin!(async move {
        // A sender gone is a server gone: close as for a drain.
        let _ = watch.wait_for(|draining| *draining).await;
    });
    let mut due = Due::Head(first_head_by);
    loop {
        let head = match read_head(&mut conn, due, settings, drained.as_mut()).await {
            Ok(head) => head,
            Err(NoHead::Closed) => return,
            Err(NoHead::Refused(error)) => {
                refuse(&mut conn, &error, settings, gateway).await;
                return;
            }
        };
        match exchange(&mut conn, head, settings, gateway, peer, draining).await {
            Sent::KeepAlive => due = Due::Idle,
            Sent::Close => return linger(&mut conn).await,
            Sent::Failed => return,
        }
    }
}

/// One request: the body wired up, the pipeline (with the body pump beside it while the body
/// is still on the wire, then a watch for the client going away), the response written.
async fn exchange<I: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<I>,
    head: RequestHead,
    settings: Settings,
    gateway: &Gateway,
    peer: &Peer,
    draining: &watch::Receiver<bool>,
) -> Sent {
    let RequestHead {
        head,
        framing,
        keep_alive,
        expect_continue,
        ..
    } = head;
    let asked_head = head.parts.method == http::Method::HEAD;
    let http10 = head.parts.version == http::Version::HTTP_10;
    let (body, pumping) = body_for(conn, framing);
    let complete = AtomicBool::new(pumping.is_none());
    let response = {
        let mut handling = pin!(gateway.handle(head, body, peer));
        let mut beside = pin!(async {
            if let Some((feed, framing)) = pumping {
                let (limits, send) = (&settings.limits, settings.timeouts.send);
                match pump(conn, framing, feed, expect_continue, limits, send).await {
                    Pumped::Complete => complete.store(true, Ordering::Relaxed),
                    Pumped::ClientGone => return,
                    // The connection closes after the response; nothing more to watch.
                    Pumped::Unfinished => std::future::pending().await,
                }
            }
            client_gone(conn, settings.limits.max_header_bytes).await;
        });
        // The pipeline first: a request answered without waiting never polls the client.
        poll_fn(|cx| match handling.as_mut().poll(cx) {
            Poll::Ready(response) => Poll::Ready(Some(response)),
            Poll::Pending => beside.as_mut().poll(cx).map(|()| None),
        })
        .await
    };
    // A client gone before its answer: the pipeline was dropped (and recorded a 499).
    let Some(response) = response else {
        return Sent::Failed;
    };
    let complete = complete.load(Ordering::Relaxed);
    let close = !keep_alive || !complete || is_draining(draining);
    let asked = Asked {
        head: asked_head,
        close,
        http10,
    };
    respond(conn, response, asked, settings.timeouts.send).await
}

/// Whether the server is draining (or gone). The drain value only ever turns true, so a
/// version unchanged since the receiver was made means not draining: one atomic load, no
/// lock taken on the channel every connection shares.
fn is_draining(draining: &watch::Receiver<bool>) -> bool {
    draining
        .has_changed()
        .map_or(true, |changed| changed && *draining.borrow())
}

/// Resolves when the client closes the connection (or it fails) while its request is handled.
/// Bytes it sends meanwhile (a pipelined request) are kept for later, up to `keep` of them;
/// past that the connection is no longer watched.
async fn client_gone<I: AsyncRead + AsyncWrite + Unpin>(conn: &mut Conn<I>, keep: usize) {
    while conn.read.len() < keep {
        match conn.fill().await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
    std::future::pending().await
}

/// When the next head is due.
#[derive(Debug, Clone, Copy)]
enum Due {
    /// Complete by then (the first head, or one whose first byte has come).
    Head(Instant),
    /// Starting within `idle_timeout`, then complete within `header_read_timeout`.
    Idle,
}

/// Reads and parses the next request head.
async fn read_head<I: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<I>,
    mut due: Due,
    settings: Settings,
    mut drained: Pin<&mut impl Future<Output = ()>>,
) -> Result<RequestHead, NoHead> {
    let timeouts = settings.timeouts;
    loop {
        if !conn.read.is_empty() {
            match parse_request(&conn.read, &settings.limits) {
                Ok(Status::Complete(head)) => {
                    let _ = conn.read.split_to(head.head_len.min(conn.read.len()));
                    return Ok(head);
                }
                Ok(Status::Partial) => {}
                Err(error) => return Err(NoHead::Refused(error)),
            }
            if let Due::Idle = due {
                due = Due::Head(Instant::now() + timeouts.header_read);
            }
        }
        let read = match due {
            Due::Head(by) => tokio::time::timeout_at(by, conn.fill()).await,
            Due::Idle => {
                let idle_by = Instant::now() + timeouts.idle;
                // One timer per connection, moved only when it would ring too late: a busy
                // keep-alive connection pays for no timer per request, and an early ring just
                // moves it to the real deadline.
                if conn.idle.deadline() > idle_by {
                    conn.idle.as_mut().reset(idle_by);
                }
                loop {
                    tokio::select! {
                        biased;
                        read = fill(&mut conn.io, &mut conn.read) => break Ok(read),
                        () = drained.as_mut() => return Err(NoHead::Closed),
                        () = conn.idle.as_mut() => {
                            if Instant::now() >= idle_by {
                                return Err(NoHead::Closed);
                            }
                            conn.idle.as_mut().reset(idle_by);
                        }
                    }
                }
            }
        };
        match read {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return Err(NoHead::Closed),
            Ok(Ok(_)) => {}
        }
    }
}

/// Answers a head the codec refused with its status and a JSON error (recorded as any answer
/// is), and closes.
async fn refuse<I: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<I>,
    error: &Http1Error,
    settings: Settings,
    gateway: &Gateway,
) {
    let response = gateway.refuse(error.status());
    let asked = Asked {
        head: false,
        close: true,
        http10: false,
    };
    if respond(conn, response, asked, settings.timeouts.send).await != Sent::Failed {
        linger(conn).await;
    }
}

/// Closes after a final answer without losing it: the write side is shut first (a TLS
/// `close_notify`, then FIN), then what the client still sends is read and dropped for a moment (at most `LINGER_BYTES` within
/// `LINGER`), so the kernel does not reset a connection whose unread input would destroy the
/// answer before the client reads it (RFC 9112 §9.6).
async fn linger<I: AsyncRead + AsyncWrite + Unpin>(conn: &mut Conn<I>) {
    const LINGER: std::time::Duration = std::time::Duration::from_secs(2);
    const LINGER_BYTES: usize = 256 * 1024;
    let _ = tokio::time::timeout(LINGER, async {
        if conn.io.shutdown().await.is_err() {
            return;
        }
        let mut drained = 0usize;
        let mut sink = [0u8; 4096];
        while drained < LINGER_BYTES {
            match conn.io.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(n) => drained = drained.saturating_add(n),
            }
        }
    })
    .await;
}
