//! Which HTTP version a client speaks, read from its first bytes, and the I/O that hands those
//! bytes back to hyper and reports every later read, and writes that block or go through
//! again, to the connection's [`Activity`].

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

use super::activity::Activity;

/// The HTTP/2 connection preface (RFC 9113 §3.4), sent first by a prior-knowledge client.
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The protocol of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Protocol {
    Http1,
    /// HTTP/2 with prior knowledge (cleartext).
    Http2,
}

/// The protocol announced by a connection's first bytes, or `None` while they are a strict
/// prefix of the HTTP/2 preface and could still be either.
pub(super) fn protocol_of(first: &[u8]) -> Option<Protocol> {
    if !PREFACE.starts_with(first) {
        Some(Protocol::Http1)
    } else if first.len() == PREFACE.len() {
        Some(Protocol::Http2)
    } else {
        None
    }
}

/// Reads until the first bytes decide the protocol (at most the 24 of the preface) and returns
/// them, to be replayed; `None` if the client closes or the read fails first. Has no deadline
/// of its own: the caller's covers it.
pub(super) async fn sniff<I: AsyncRead + Unpin>(io: &mut I) -> Option<(Protocol, Bytes)> {
    let mut first = [0u8; PREFACE.len()];
    let mut filled = 0;
    loop {
        let read = io.read(&mut first[filled..]).await.ok()?;
        if read == 0 {
            return None;
        }
        filled += read;
        if let Some(protocol) = protocol_of(&first[..filled]) {
            return Some((protocol, Bytes::copy_from_slice(&first[..filled])));
        }
    }
}

/// A client stream that first yields the bytes [`sniff`] read, and reports reads, and writes
/// blocking or going through again, to the connection's [`Activity`].
#[derive(Debug)]
pub(super) struct ClientIo<I> {
    replay: Bytes,
    inner: I,
    activity: Arc<Activity>,
    /// Whether the last write or flush was `Pending`: only changes are reported.
    write_blocked: bool,
}

impl<I> ClientIo<I> {
    /// `inner`, after `replay`.
    pub(super) fn new(replay: Bytes, inner: I, activity: Arc<Activity>) -> ClientIo<I> {
        ClientIo {
            replay,
            inner,
            activity,
            write_blocked: false,
        }
    }

    /// Reports a write, flush or shutdown that blocked or went through, if that changed.
    fn track<T>(&mut self, polled: Poll<T>) -> Poll<T> {
        let blocked = polled.is_pending();
        if blocked != self.write_blocked {
            self.write_blocked = blocked;
            self.activity.write_blocked(blocked);
        }
        polled
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for ClientIo<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.replay.is_empty() {
            let n = this.replay.len().min(buf.remaining());
            buf.put_slice(&this.replay.split_to(n));
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        if buf.filled().len() > before {
            this.activity.bytes_read();
        }
        Poll::Ready(Ok(()))
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for ClientIo<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.track(polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.track(polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.track(polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.track(polled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preface_and_only_the_preface_is_http2() {
        assert_eq!(protocol_of(PREFACE), Some(Protocol::Http2));
        for len in 0..PREFACE.len() {
            assert_eq!(protocol_of(&PREFACE[..len]), None, "{len} bytes: undecided");
        }
        assert_eq!(protocol_of(b"G"), Some(Protocol::Http1));
        assert_eq!(
            protocol_of(b"PO"),
            Some(Protocol::Http1),
            "POST starts like PRI"
        );
        assert_eq!(
            protocol_of(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\r"),
            Some(Protocol::Http1)
        );
    }

    #[tokio::test]
    async fn sniff_stops_at_the_decision_and_on_eof() {
        let (mut client, mut server) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut client, b"GET / HTTP/1.1\r\n")
            .await
            .expect("write");
        let sniffed = tokio::time::timeout(std::time::Duration::from_secs(10), sniff(&mut server))
            .await
            .expect("deadline");
        assert_eq!(sniffed.map(|(p, _)| p), Some(Protocol::Http1));

        let (mut client, mut server) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut client, b"PRI")
            .await
            .expect("write");
        drop(client);
        let sniffed = tokio::time::timeout(std::time::Duration::from_secs(10), sniff(&mut server))
            .await
            .expect("deadline");
        assert_eq!(sniffed, None, "the client closed before deciding");
    }
}
