//! An HTTP/1.1 connection to an upstream as the client drives it: the stream (TCP, or TLS over
//! TCP), the bytes read but not yet consumed, and the buffer request heads are written into.
//! Both buffers live as long as the connection, so a pooled connection costs no allocation
//! per request.

use std::pin::Pin;
use std::task::{Context, Waker};

use bytes::BytesMut;
use tokio::io::ReadBuf;
use tokio::net::TcpStream;
use tokio::time::Sleep;
use tokio_rustls::client::TlsStream;
use tokio_util::either::Either;

/// Bytes read from an upstream at a time, at least.
pub(super) const READ_CHUNK: usize = 16 * 1024;

/// The stream of an upstream connection: `http://` on the left, `https://` that chose HTTP/1.1
/// (or no ALPN) on the right.
pub(super) type UpstreamIo = Either<TcpStream, Box<TlsStream<TcpStream>>>;

/// An HTTP/1.1 connection to an upstream, between requests or during one.
#[derive(Debug)]
pub(super) struct Conn {
    pub(super) io: UpstreamIo,
    /// Read from the upstream, not yet consumed: what follows a response head is body.
    pub(super) read: BytesMut,
    /// Where the request head (and a small in-memory body) is assembled.
    pub(super) write: Vec<u8>,
    /// Whether a request has been sent on it before (it came from the pool).
    pub(super) reused: bool,
    /// The exchange deadline's timer, kept with the connection (see `http1::exchange_by`).
    pub(super) timer: Option<Pin<Box<Sleep>>>,
}

impl Conn {
    /// A new connection over `io`, boxed: it moves between the pool and response bodies, which
    /// then carry a pointer instead of its buffers.
    pub(super) fn new(io: UpstreamIo) -> Box<Conn> {
        Box::new(Conn {
            io,
            read: BytesMut::with_capacity(READ_CHUNK),
            write: Vec::with_capacity(1024),
            reused: false,
            timer: None,
        })
    }

    /// Whether the upstream closed the connection, reset it or sent bytes nobody asked for
    /// while it sat idle: such a connection must not carry a request. Costs no system call
    /// unless the runtime saw the socket become readable.
    pub(super) fn is_stale(&self) -> bool {
        if !self.read.is_empty() {
            return true;
        }
        let tcp = match &self.io {
            Either::Left(tcp) => tcp,
            Either::Right(tls) => tls.get_ref().0,
        };
        let mut cx = Context::from_waker(Waker::noop());
        let mut byte = [0u8; 1];
        let mut peek = ReadBuf::new(&mut byte);
        // Pending: nothing to read (and the readiness left from the last response is cleared).
        // Ready: end of stream, an error, or unsolicited bytes (for TLS, possibly a session
        // ticket: dropping that connection costs a handshake, never a wrong answer).
        tcp.poll_peek(&mut cx, &mut peek).is_ready()
    }
}
