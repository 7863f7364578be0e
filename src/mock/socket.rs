//! A connection's reads and writes, over plain TCP or TLS: the first read of a
//! request with its arrival stamp, further reads, whole writes, waiting for
//! the peer to close, and the reset the reset faults send.

use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use monoio_rustls::ServerTlsStream;

use crate::sys::clock::{now_ns, Nanos};
use crate::sys::rx_stamp;

/// How much a read asks for at least.
pub(super) const READ_CHUNK: usize = 16 * 1024;

/// A connection the server speaks HTTP over: plain TCP or TLS over TCP.
pub(super) trait Io: AsyncReadRent + AsyncWriteRent {
    /// Reads the first bytes of a new request into `buf`; when they reached
    /// this host (monotonic ns), or `None` when the peer is gone.
    async fn read_first(&mut self, buf: &mut Vec<u8>) -> Option<Nanos>;

    /// The socket to send on directly, bypassing the runtime (plain TCP only).
    fn direct_fd(&self) -> Option<RawFd>;
}

impl Io for TcpStream {
    fn direct_fd(&self) -> Option<RawFd> {
        Some(self.as_raw_fd())
    }

    async fn read_first(&mut self, buf: &mut Vec<u8>) -> Option<Nanos> {
        reserve_for_read(buf);
        loop {
            if self.readable(false).await.is_err() {
                return None;
            }
            match rx_stamp::recv_stamped(self.as_raw_fd(), buf) {
                Ok((0, _)) => return None,
                Ok((_, stamp)) => return Some(stamp.unwrap_or_else(now_ns)),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                    ) =>
                {
                    continue
                }
                Err(_) => return None,
            }
        }
    }
}

/// TLS records hide the kernel's stamps: the time the bytes are decrypted.
impl Io for ServerTlsStream<TcpStream> {
    fn direct_fd(&self) -> Option<RawFd> {
        None
    }

    async fn read_first(&mut self, buf: &mut Vec<u8>) -> Option<Nanos> {
        read_more(self, buf).await.then(now_ns)
    }
}

/// Makes room for at least half a `READ_CHUNK` after `buf`'s end.
fn reserve_for_read(buf: &mut Vec<u8>) {
    if buf.capacity() - buf.len() < READ_CHUNK / 2 {
        buf.reserve(READ_CHUNK);
    }
}

/// Reads more bytes after `buf`'s end. Returns false on EOF or error.
pub(super) async fn read_more(stream: &mut impl AsyncReadRent, buf: &mut Vec<u8>) -> bool {
    reserve_for_read(buf);
    let len = buf.len();
    let cap = buf.capacity();
    let (res, slice) = stream
        .read(monoio::buf::IoBufMut::slice_mut(
            std::mem::take(buf),
            len..cap,
        ))
        .await;
    *buf = slice.into_inner();
    matches!(res, Ok(n) if n > 0)
}

/// Writes all of `out` and clears it; false when the peer is gone. On plain
/// TCP what the socket takes now goes out with a non-blocking `send(2)` from
/// this task: an io_uring write would leave at the runtime's next batched
/// submission, after the moment the mock counts a token as sent. The rest
/// goes through the runtime.
pub(super) async fn send(stream: &mut impl Io, out: &mut Vec<u8>) -> bool {
    if let Some(fd) = stream.direct_fd() {
        let mut sent = 0;
        while sent < out.len() {
            let rest = &out[sent..];
            // SAFETY: a live slice and this connection's open socket.
            // MSG_NOSIGNAL: a peer that closed gives EPIPE, not SIGPIPE.
            let n = unsafe {
                libc::send(
                    fd,
                    rest.as_ptr().cast(),
                    rest.len(),
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                )
            };
            if n > 0 {
                sent += n as usize;
                continue;
            }
            match std::io::Error::last_os_error().kind() {
                std::io::ErrorKind::Interrupted => continue,
                std::io::ErrorKind::WouldBlock => break,
                _ => {
                    out.clear();
                    return false;
                }
            }
        }
        out.drain(..sent);
        if out.is_empty() {
            return true;
        }
    }
    let (res, b) = stream.write_all(std::mem::take(out)).await;
    *out = b;
    out.clear();
    res.is_ok()
}

/// Waits until the peer closes (or errors), discarding what it sends.
pub(super) async fn wait_for_close(stream: &mut impl Io) {
    let mut sink = Vec::with_capacity(READ_CHUNK);
    loop {
        sink.clear();
        if !read_more(stream, &mut sink).await {
            return;
        }
    }
}

/// Makes the next close of the TCP socket `fd` send a RST instead of a FIN
/// (SO_LINGER on with a zero timeout).
pub(super) fn reset_on_close(fd: RawFd) {
    // SAFETY: `fd` is the socket of a connection whose stream the caller still
    // holds, so it stays open for this borrow.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let _ = socket2::SockRef::from(&fd).set_linger(Some(Duration::ZERO));
}
