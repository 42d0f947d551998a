//! Request bodies on an HTTP/1.1 connection. A body already in the read buffer (the usual small
//! signed JSON, sent with its head) is handed to the pipeline as bytes; any other is pumped
//! from the connection by [`pump`], which runs beside the pipeline in the connection's task
//! and hands it pieces through a one-slot channel, so no more than a read's worth waits.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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
    /// Pieces as [`pump`] reads them; `length` when the client announced it. The body ends
    /// only where [`pump`] says it read the last byte (`ended`): a pump dropped before that
    /// (the response was ready first) leaves a body cut off, which reads as an error, never as
    /// a shorter body that ended.
    Pumped {
        pieces: mpsc::Receiver<io::Result<Bytes>>,
        ended: Arc<AtomicBool>,
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
            RequestBody::Pumped {
                pieces,
                ended,
                done,
                ..
            } => {
                if *done {
                    return Poll::Ready(None);
                }
                match pieces.poll_recv(cx) {
                    Poll::Ready(Some(piece)) => Poll::Ready(Some(piece.map(Frame::data))),
                    Poll::Ready(None) => {
                        *done = true;
                        if ended.load(Ordering::Acquire) {
                            Poll::Ready(None)
                        } else {
                            Poll::Ready(Some(Err(cut_off())))
                        }
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

/// The error of a body whose pump stopped before its last byte.
fn cut_off() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "the request body was cut off before its end",
    )
}

/// Where [`pump`] sends a body's pieces, and says it read the last one.
#[derive(Debug)]
pub(super) struct Feed {
    sender: mpsc::Sender<io::Result<Bytes>>,
    ended: Arc<AtomicBool>,
}

/// What [`pump`] needs for a body still on the wire: where to send it, and how it is framed.
pub(super) type Pumping = (Feed, BodyFraming);

/// A pumped body, and the feed its pump writes to.
fn pumped(length: Option<u64>) -> (RequestBody, Feed) {
    let (sender, pieces) = mpsc::channel(1);
    let ended = Arc::new(AtomicBool::new(false));
    let body = RequestBody::Pumped {
        pieces,
        ended: Arc::clone(&ended),
        length,
        done: false,
    };
    (body, Feed { sender, ended })
}

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
            let (body, feed) = pumped(Some(length));
            (body, Some((feed, framing)))
        }
        BodyFraming::Chunked | BodyFraming::UntilClose => {
            let (body, feed) = pumped(None);
            (body, Some((feed, BodyFraming::Chunked)))
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
    feed: Feed,
    expect_continue: bool,
    limits: &Limits,
    send_timeout: Duration,
) -> Pumped {
    let Feed { sender, ended } = feed;
    let pumped = pump_pieces(
        conn,
        framing,
        &sender,
        expect_continue,
        limits,
        send_timeout,
    )
    .await;
    if pumped == Pumped::Complete {
        // Before the sender is dropped: the body reads the channel's close as its end.
        ended.store(true, Ordering::Release);
    }
    drop(sender);
    pumped
}

/// [`pump`]'s reading: says how the body ended; [`pump`] marks an end that is one.
async fn pump_pieces<I: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<I>,
    framing: BodyFraming,
    sender: &mpsc::Sender<io::Result<Bytes>>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// The frames of `body` until it ends or fails, and how it stopped.
    async fn read_all(mut body: RequestBody) -> (Vec<u8>, Option<io::ErrorKind>) {
        let mut bytes = Vec::new();
        loop {
            match tokio::time::timeout(Duration::from_secs(5), body.frame()).await {
                Ok(Some(Ok(frame))) => {
                    bytes.extend_from_slice(&frame.into_data().unwrap_or_default())
                }
                Ok(Some(Err(error))) => return (bytes, Some(error.kind())),
                Ok(None) => {
                    assert!(body.is_end_stream());
                    return (bytes, None);
                }
                Err(_) => panic!("the body neither ends nor fails"),
            }
        }
    }

    #[tokio::test]
    async fn a_body_pumped_to_its_end_ends() {
        let (body, feed) = pumped(Some(5));
        feed.sender
            .send(Ok(Bytes::from_static(b"hello")))
            .await
            .expect("send");
        feed.ended.store(true, Ordering::Release);
        drop(feed);
        assert_eq!(read_all(body).await, (b"hello".to_vec(), None));
    }

    /// The pump is dropped when the response is ready before the body ended (an upstream that
    /// answered early): whatever still reads the body (an HTTP/2 upstream's stream) must see it
    /// cut off, never a shorter body that ended.
    #[tokio::test]
    async fn a_body_whose_pump_stopped_early_reads_as_cut_off() {
        for length in [Some(10), None] {
            let (body, feed) = pumped(length);
            feed.sender
                .send(Ok(Bytes::from_static(b"hello")))
                .await
                .expect("send");
            drop(feed);
            let cut = Some(io::ErrorKind::ConnectionAborted);
            assert_eq!(read_all(body).await, (b"hello".to_vec(), cut), "{length:?}");
        }
    }

    fn connection(io: tokio::io::DuplexStream) -> Conn<tokio::io::DuplexStream> {
        Conn {
            io,
            read: bytes::BytesMut::new(),
            write: Vec::new(),
            idle: Box::pin(tokio::time::sleep(Duration::from_secs(60))),
        }
    }

    /// Pumps a body of `Content-Length: 10` of which the client sends `sent` (then closes,
    /// with `then_close`), while the body is read as the pipeline reads it: how the pump
    /// ended, and what the body gave.
    async fn pump_ten(sent: &[u8], then_close: bool) -> (Pumped, (Vec<u8>, Option<io::ErrorKind>)) {
        let (mut client, server) = tokio::io::duplex(1024);
        let mut conn = connection(server);
        let (body, feed) = pumped(Some(10));
        let reading = tokio::spawn(read_all(body));
        tokio::io::AsyncWriteExt::write_all(&mut client, sent)
            .await
            .expect("write");
        if then_close {
            drop(client);
        }
        let limits = Limits::default();
        let framing = BodyFraming::Length(10);
        let send = Duration::from_secs(1);
        let outcome = pump(&mut conn, framing, feed, false, &limits, send).await;
        (outcome, reading.await.expect("join"))
    }

    #[tokio::test]
    async fn the_pump_marks_only_a_whole_body_ended() {
        // All ten bytes: ended.
        let (outcome, read) = pump_ten(b"0123456789", false).await;
        assert_eq!(outcome, Pumped::Complete);
        assert_eq!(read, (b"0123456789".to_vec(), None));
        // The client closes after four: cut off, never ended.
        let (outcome, (bytes, error)) = pump_ten(b"0123", true).await;
        assert_eq!(outcome, Pumped::ClientGone);
        assert_eq!(bytes, b"0123");
        assert!(error.is_some());
    }
}
