//! Request bodies on an HTTP/1.1 connection. A body already in the read buffer (the usual small
//! signed JSON, sent with its head) is handed to the pipeline as bytes; any other is pumped
//! from the connection by [`pump`], which runs beside the pipeline in the connection's task
//! and hands it pieces through a one-slot channel, so no more than a read's worth waits.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::Conn;
use crate::http1::{BodyFraming, ChunkedDecoder, Decoded, Limits};

/// A request body as the pipeline reads it.
#[derive(Debug)]
pub(crate) enum RequestBody {
    /// No body (no framing field, or `Content-Length: 0`).
    Empty,
    /// The whole body, read with the head.
    Full(Option<Bytes>),
    /// Pieces as [`pump`] reads them; `length` when the client announced it.
    Pumped {
        pieces: mpsc::Receiver<io::Result<Bytes>>,
        length: Option<u64>,
        done: bool,
    },
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            RequestBody::Empty => Poll::Ready(None),
            RequestBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            RequestBody::Pumped { pieces, done, .. } => {
                if *done {
                    return Poll::Ready(None);
                }
                match pieces.poll_recv(cx) {
                    Poll::Ready(Some(piece)) => Poll::Ready(Some(piece.map(Frame::data))),
                    Poll::Ready(None) => {
                        *done = true;
                        Poll::Ready(None)
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Empty => true,
            RequestBody::Full(bytes) => bytes.is_none(),
            RequestBody::Pumped { done, .. } => *done,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RequestBody::Empty => SizeHint::with_exact(0),
            RequestBody::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            RequestBody::Pumped { length, .. } => {
                length.map_or_else(SizeHint::default, SizeHint::with_exact)
            }
        }
    }
}

/// How a pumped body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pumped {
    /// Read to its end: the connection can carry the next request.
    Complete,
    /// The client closed the connection (or it failed) before the body ended.
    ClientGone,
    /// The framing was broken (the pipeline hears of it), or the pipeline stopped reading.
    Unfinished,
}

/// What [`pump`] needs for a body still on the wire: where to send it, and how it is framed.
pub(super) type Pumping = (mpsc::Sender<io::Result<Bytes>>, BodyFraming);

/// The body of a request whose head is already consumed: taken from `conn`'s buffer when it
/// is all there, pumped otherwise (the returned receiver half goes into the body).
pub(super) fn body_for(
    conn: &mut Conn<impl AsyncRead + AsyncWrite + Unpin>,
    framing: BodyFraming,
) -> (RequestBody, Option<Pumping>) {
    match framing {
        BodyFraming::Length(0) => (RequestBody::Empty, None),
        BodyFraming::Length(length) if length <= conn.read.len() as u64 => {
            // `length` fits the buffer, so it fits a `usize`.
            let take = usize::try_from(length).unwrap_or(conn.read.len());
            let bytes = conn.read.split_to(take).freeze();
            (RequestBody::Full(Some(bytes)), None)
        }
        BodyFraming::Length(length) => {
            let (sender, pieces) = mpsc::channel(1);
            let body = RequestBody::Pumped {
                pieces,
                length: Some(length),
                done: false,
            };
            (body, Some((sender, framing)))
        }
        BodyFraming::Chunked | BodyFraming::UntilClose => {
            let (sender, pieces) = mpsc::channel(1);
            let body = RequestBody::Pumped {
                pieces,
                length: None,
                done: false,
            };
            (body, Some((sender, BodyFraming::Chunked)))
        }
    }
}

/// Reads the body framed by `framing` from `conn` and sends it on in pieces, after a
/// `100 Continue` when the client asked for one. Ends when the body has been read, the client
/// fails, or the pipeline drops the body. Has no deadline of its own: it runs only while the
/// pipeline waits for the body, which bounds that wait (`body_read_timeout`, whether it buffers
/// the body or streams it) and drops the pump with it.
pub(super) async fn pump<I: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<I>,
    framing: BodyFraming,
    sender: mpsc::Sender<io::Result<Bytes>>,
    expect_continue: bool,
    limits: &Limits,
    send_timeout: Duration,
) -> Pumped {
    if expect_continue {
        let write = conn.io.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
        if !matches!(tokio::time::timeout(send_timeout, write).await, Ok(Ok(()))) {
            return Pumped::ClientGone;
        }
    }
    let mut chunked = match framing {
        BodyFraming::Chunked | BodyFraming::UntilClose => {
            Some(ChunkedDecoder::new(limits, u64::MAX))
        }
        BodyFraming::Length(_) => None,
    };
    let mut left = match framing {
        BodyFraming::Length(length) => length,
        BodyFraming::Chunked | BodyFraming::UntilClose => 0,
    };
    loop {
        // Hand over what the buffer holds.
        while !conn.read.is_empty() {
            let piece = match chunked.as_mut() {
                None if left == 0 => return Pumped::Complete,
                None => {
                    let take = usize::try_from(left)
                        .map_or(conn.read.len(), |left| left.min(conn.read.len()));
                    left = left.saturating_sub(take as u64);
                    conn.read.split_to(take).freeze()
                }
                Some(decoder) => match decoder.decode(&conn.read) {
                    Ok(Decoded::Data(range)) => {
                        let mut data = conn.read.split_to(range.end);
                        data.advance(range.start.min(data.len()));
                        data.freeze()
                    }
                    Ok(Decoded::NeedMore) => {
                        conn.read.clear();
                        break;
                    }
                    Ok(Decoded::Done { consumed }) => {
                        conn.read.advance(consumed.min(conn.read.len()));
                        return Pumped::Complete;
                    }
                    Err(error) => {
                        let _ = sender.send(Err(io::Error::other(error))).await;
                        return Pumped::Unfinished;
                    }
                },
            };
            if sender.send(Ok(piece)).await.is_err() {
                return Pumped::Unfinished;
            }
        }
        if chunked.is_none() && left == 0 {
            return Pumped::Complete;
        }
        match conn.fill().await {
            Ok(0) | Err(_) => {
                let closed = io::Error::new(io::ErrorKind::UnexpectedEof, "client closed");
                let _ = sender.try_send(Err(closed));
                return Pumped::ClientGone;
            }
            Ok(_) => {}
        }
    }
}
