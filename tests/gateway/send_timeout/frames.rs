//! Raw HTTP/2 frames, for a client that announces a zero flow-control window and then only
//! acknowledges SETTINGS and PINGs.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{deadline, TestGateway};

/// An HTTP/2 frame header.
fn frame(len: usize, kind: u8, flags: u8, stream: u32) -> Vec<u8> {
    let len = u32::try_from(len).expect("frame length").to_be_bytes();
    let mut header = vec![len[1], len[2], len[3], kind, flags];
    header.extend_from_slice(&stream.to_be_bytes());
    header
}

/// Opens an HTTP/2 connection announcing `SETTINGS_INITIAL_WINDOW_SIZE = 0` and sends
/// `GET /no/such/route` on stream 1 (HPACK: indexed `:method` and `:scheme`, literals
/// without Huffman for `:path` and `:authority`).
pub async fn zero_window_request(gateway: &TestGateway) -> TcpStream {
    let mut stream = deadline(TcpStream::connect(gateway.data))
        .await
        .expect("connect");
    let path = b"/no/such/route";
    let mut block = vec![0x82, 0x86, 0x04, path.len() as u8];
    block.extend_from_slice(path);
    block.extend_from_slice(&[0x01, 2, b'g', b'w']);
    let mut bytes = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    bytes.extend(frame(6, 4, 0, 0));
    bytes.extend_from_slice(&[0, 4, 0, 0, 0, 0]);
    // END_STREAM | END_HEADERS.
    bytes.extend(frame(block.len(), 1, 0x5, 1));
    bytes.extend(block);
    deadline(stream.write_all(&bytes)).await.expect("write");
    stream
}

/// Reads frames, acknowledging SETTINGS and PINGs, until stream 1's response HEADERS arrive
/// (`until_head`) or the server closes. Returns whether the connection is still open; panics
/// on a DATA frame, which the zero window forbids.
pub async fn answer_frames(stream: &mut TcpStream, until_head: bool) -> bool {
    loop {
        let mut header = [0u8; 9];
        if stream.read_exact(&mut header).await.is_err() {
            return false;
        }
        let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
        let mut payload = vec![0u8; len];
        if stream.read_exact(&mut payload).await.is_err() {
            return false;
        }
        let (kind, flags) = (header[3], header[4]);
        let ack = match kind {
            4 if flags & 1 == 0 => frame(0, 4, 1, 0),
            6 if flags & 1 == 0 => [frame(8, 6, 1, 0), payload].concat(),
            0 => panic!("DATA sent into a zero window"),
            1 if until_head => return true,
            _ => continue,
        };
        if stream.write_all(&ack).await.is_err() {
            return false;
        }
    }
}
