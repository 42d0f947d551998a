//! The HTTP/1.1 exchange with an upstream, driven inside the task of the client connection
//! that asked for it (no connection task, no channel): the request head (and an in-memory body)
//! in one write, a streamed body after it, then the response head; the response body is read
//! by [`Reader`] as the client takes it. Framing is the codec's (`crate::http1`).

use std::io;
use std::pin::Pin;

use bytes::{Buf, Bytes, BytesMut};
use http::request::Parts;
use http::Method;
use http_body::Body;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::io::{Conn, READ_CHUNK};
use super::{SendBody, UpstreamFailure};
use crate::http1::VerbatimFields;
use crate::http1::{
    append_lines, encode_request_head, parse_response, BodyFraming, ChunkSizeLine, Limits,
    ResponseHead, ResponseStart, Status, CHUNK_END, LAST_CHUNK,
};

/// Interim (`1xx`) responses accepted before the final one.
const MAX_INTERIM: usize = 8;

/// An in-memory body up to this size goes out in the same write as the head.
const COALESCE: usize = 64 * 1024;

/// Response heads are bounded like request heads, with the codec's default limits.
pub(super) const LIMITS: Limits = Limits {
    max_header_bytes: 64 * 1024,
    max_headers: 100,
    max_request_line: 8 * 1024,
    max_chunk_extension: 1024,
    max_chunk_extensions_total: 16 * 1024,
    max_trailer_bytes: 16 * 1024,
};

/// Why an exchange failed, and whether the request may go again on a new connection.
#[derive(Debug)]
pub(super) struct Failed {
    pub(super) failure: UpstreamFailure,
    /// Set when the upstream cannot have acted on the request: a pooled connection that was
    /// closed under it before any of the request was taken, or before any of the response came
    /// for a request that is safe to repeat.
    pub(super) retry: bool,
    /// The I/O error, when there was one (a TLS alert shows here).
    pub(super) error: Option<io::Error>,
    /// The client's request body broke (or ran short or long of its length) while it was
    /// relayed: the request is the client's fault, and the exchange ends at once.
    pub(super) request_body: bool,
}

impl Failed {
    fn new(failure: UpstreamFailure) -> Failed {
        Failed {
            failure,
            retry: false,
            error: None,
            request_body: false,
        }
    }
}

/// A response head, and whether the whole request went out before it (if not, the connection
/// cannot carry another request).
/// The head is boxed: it is handed up through every layer of the exchange.
pub(super) type Received = (Box<ResponseHead>, bool);

/// A request head: its parts, and the field lines relayed verbatim beside them.
pub(super) type Head<'a> = (&'a Parts, &'a VerbatimFields);

/// Sends the request of `head` and `body` on `conn` and reads the response head. `replay` is
/// the whole body when it is held in memory; a streamed body is sent while the response is
/// awaited, so an upstream that answers before reading it all is relayed at once. The caller
/// bounds this with the route's timeout.
pub(super) async fn exchange<B: SendBody>(
    conn: &mut Conn,
    head: Head<'_>,
    body: &mut B,
    replay: Option<&Bytes>,
) -> Result<Received, Failed> {
    let parts = head.0;
    let framing = match replay {
        Some(bytes) => BodyFraming::Length(bytes.len() as u64),
        None => body
            .size_hint()
            .exact()
            .map_or(BodyFraming::Chunked, BodyFraming::Length),
    };
    let sent = match send_head(conn, head, framing, replay).await {
        Ok(true) => Ok(()),
        Ok(false) => return stream_and_receive(conn, &parts.method, body, framing).await,
        Err(error) => Err(error),
    };
    if let Err(error) = sent {
        // Nothing of a streamed body was taken yet: it can go on another connection.
        let retry = conn.reused;
        // An upstream that answered early and closed may still have sent its response.
        if let Ok(head) = receive(conn, &parts.method).await {
            return Ok((head, false));
        }
        return Err(Failed {
            retry,
            error: Some(error),
            ..Failed::new(UpstreamFailure::Broken)
        });
    }
    let received = receive(conn, &parts.method).await.map_err(|mut failed| {
        // A pooled connection closed before any byte of the answer: the upstream dropped it
        // as the request arrived. Safe to send again only if repeating it is.
        failed.retry = failed.failure == UpstreamFailure::Broken
            && conn.reused
            && conn.read.is_empty()
            && replay.is_some()
            && is_idempotent(&parts.method);
        failed
    });
    received.map(|head| (head, true))
}

/// [`exchange`], failing with [`UpstreamFailure::Timeout`] at `deadline`. The timer lives
/// with the connection and is moved only when it would ring too late: on a kept-alive
/// connection, later deadlines need no new timer, and an early ring just moves it on.
pub(super) async fn exchange_by<B: SendBody>(
    conn: &mut Conn,
    deadline: Instant,
    head: Head<'_>,
    body: &mut B,
    replay: Option<&Bytes>,
) -> Result<Received, Failed> {
    let mut timer = conn
        .timer
        .take()
        .unwrap_or_else(|| Box::pin(tokio::time::sleep_until(deadline)));
    if timer.deadline() > deadline {
        timer.as_mut().reset(deadline);
    }
    let outcome = {
        let mut exchanging = std::pin::pin!(exchange(conn, head, body, replay));
        loop {
            tokio::select! {
                biased;
                received = exchanging.as_mut() => break received,
                () = timer.as_mut() => {
                    if Instant::now() >= deadline {
                        break Err(Failed::new(UpstreamFailure::Timeout));
                    }
                    timer.as_mut().reset(deadline);
                }
            }
        }
    };
    conn.timer = Some(timer);
    outcome
}

fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
    )
}

/// Writes the head, with an in-memory body (in the same write when small); `false` when the
/// body is streamed: the caller sends it.
async fn send_head(
    conn: &mut Conn,
    (parts, verbatim): Head<'_>,
    framing: BodyFraming,
    replay: Option<&Bytes>,
) -> io::Result<bool> {
    let root;
    let target = match parts.uri.path_and_query() {
        Some(target) => target,
        None => {
            root = http::uri::PathAndQuery::from_static("/");
            &root
        }
    };
    conn.write.clear();
    encode_request_head(
        &mut conn.write,
        &parts.method,
        target,
        &parts.headers,
        framing,
        false,
    );
    append_lines(&mut conn.write, verbatim.as_bytes());
    match replay {
        Some(bytes) if bytes.len() <= COALESCE => {
            conn.write.extend_from_slice(bytes);
            conn.io.write_all(&conn.write).await?;
        }
        Some(bytes) => {
            conn.io.write_all(&conn.write).await?;
            conn.io.write_all(bytes).await?;
        }
        None => {
            conn.io.write_all(&conn.write).await?;
            conn.io.flush().await?;
            return Ok(false);
        }
    }
    conn.io.flush().await?;
    Ok(true)
}

/// Streams `body` while reading the response: whichever comes first, the response head (the
/// rest of the body is not sent) or the body's end (then the head is awaited).
async fn stream_and_receive<B: SendBody>(
    conn: &mut Conn,
    method: &Method,
    body: &mut B,
    framing: BodyFraming,
) -> Result<Received, Failed> {
    let (mut reader, mut writer) = tokio::io::split(&mut conn.io);
    let receiving = receive_on(&mut reader, &mut conn.read, method);
    let mut receiving = std::pin::pin!(receiving);
    let sending = async {
        stream_body(&mut writer, body, framing).await?;
        writer.flush().await.map_err(|_| Streamed::Io)
    };
    tokio::select! {
        biased;
        head = receiving.as_mut() => head.map(|head| (head, false)),
        sent = sending => match sent {
            Ok(()) => receiving.await.map(|head| (head, true)),
            // The upstream waits for the rest of a body that will not come: stop here.
            Err(Streamed::Body) => Err(Failed {
                request_body: true,
                ..Failed::new(UpstreamFailure::Broken)
            }),
            // The upstream may have answered and closed: take its answer if it did.
            Err(Streamed::Io) => receiving.await.map(|head| (head, false)),
        },
    }
}

/// Why relaying a request body stopped.
enum Streamed {
    /// The client's body failed, or ran short or long of its announced length.
    Body,
    /// Writing to the upstream failed.
    Io,
}

/// Relays a body of unknown content frame by frame; a body that ends short of or beyond the
/// length announced is an error (the connection is not reused).
async fn stream_body<B: SendBody, W: AsyncWrite + Unpin>(
    io: &mut W,
    body: &mut B,
    framing: BodyFraming,
) -> Result<(), Streamed> {
    let mut left = match framing {
        BodyFraming::Length(length) => Some(length),
        BodyFraming::Chunked | BodyFraming::UntilClose => None,
    };
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await {
        let frame = frame.map_err(|_| Streamed::Body)?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers are not relayed
        };
        if data.is_empty() {
            continue;
        }
        match left.as_mut() {
            Some(left) => {
                *left = left.checked_sub(data.len() as u64).ok_or(Streamed::Body)?;
                io.write_all(&data).await.map_err(|_| Streamed::Io)?;
            }
            None => {
                let size = ChunkSizeLine::new(data.len() as u64);
                io.write_all(size.as_bytes())
                    .await
                    .map_err(|_| Streamed::Io)?;
                io.write_all(&data).await.map_err(|_| Streamed::Io)?;
                io.write_all(CHUNK_END).await.map_err(|_| Streamed::Io)?;
            }
        }
    }
    match left {
        Some(0) => Ok(()),
        Some(_) => Err(Streamed::Body),
        None => io.write_all(LAST_CHUNK).await.map_err(|_| Streamed::Io),
    }
}

/// Reads until a final response head, skipping (a bounded number of) interim ones.
async fn receive(conn: &mut Conn, method: &Method) -> Result<Box<ResponseHead>, Failed> {
    receive_on(&mut conn.io, &mut conn.read, method).await
}

async fn receive_on<R: AsyncRead + Unpin>(
    io: &mut R,
    read: &mut BytesMut,
    method: &Method,
) -> Result<Box<ResponseHead>, Failed> {
    let mut interim = 0usize;
    loop {
        match parse_response(read, method, &LIMITS) {
            Ok(Status::Complete(ResponseStart::Final(head))) => {
                read.advance(head.head_len.min(read.len()));
                return Ok(Box::new(head));
            }
            Ok(Status::Complete(ResponseStart::Interim { head_len, .. })) => {
                interim = interim.saturating_add(1);
                if interim > MAX_INTERIM {
                    return Err(Failed::new(UpstreamFailure::InvalidResponse));
                }
                read.advance(head_len.min(read.len()));
            }
            Ok(Status::Partial) => {
                read.reserve(READ_CHUNK);
                match io.read_buf(read).await {
                    Ok(0) => return Err(Failed::new(UpstreamFailure::Broken)),
                    Ok(_) => {}
                    Err(error) => {
                        return Err(Failed {
                            error: Some(error),
                            ..Failed::new(UpstreamFailure::Broken)
                        })
                    }
                }
            }
            Err(_invalid) => return Err(Failed::new(UpstreamFailure::InvalidResponse)),
        }
    }
}
