//! One connection to the target, plain TCP or TLS, behind monoio's rent-style
//! I/O traits so the exchange code is the same for `http://` and `https://`.
//!
//! This module owns opening a connection (TCP connect, `TCP_NODELAY`, the TLS
//! handshake when the target is `https://`) and naming what went wrong. It
//! does no buffering of its own: reads and writes go straight to the socket
//! or to rustls, so the plain path costs one `match` per call.
//!
//! On plain TCP it also owns the two kernel paths of the I/O (`--zero-copy`,
//! `--rx-stamps`): request bytes handed over with `MSG_ZEROCOPY` (the bodies
//! live, unchanged, for the whole run, so no send waits for the kernel's
//! notification), and reads done with `recvmsg` after the runtime (io_uring,
//! or epoll under the fallback driver) reports the socket readable, so each read carries the kernel's receive stamp of the
//! newest segment it consumed. TLS keeps io_uring reads and copying writes.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent};
use monoio::net::TcpStream;
use monoio::BufResult;
use rustls::pki_types::ServerName;

use crate::config::{
    ProfileConfig, RxStamps, Scheme, Target, TlsOptions, ZeroCopy, ZERO_COPY_MIN_BYTES,
};
use crate::record::IoCounts;
use crate::sys::clock::{now_ns, Nanos};
use crate::sys::{rx_stamp, zerocopy};
use crate::tls::{self, TlsSetupError};
use std::cell::Cell;

/// How a run's connections send and stamp (`--zero-copy`, `--rx-stamps`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct IoPaths {
    pub zero_copy: ZeroCopy,
    pub rx_stamps: RxStamps,
    /// The read-batching window (`--read-batch-us`), 0 = off.
    pub read_batch_ns: Nanos,
}

impl IoPaths {
    pub fn of(cfg: &ProfileConfig) -> IoPaths {
        IoPaths {
            zero_copy: cfg.zero_copy,
            rx_stamps: cfg.rx_stamps,
            read_batch_ns: u64::from(cfg.read_batch_us) * 1000,
        }
    }
}

thread_local! {
    /// What this thread's connections did on the kernel paths; a worker
    /// reads it when it ends (one thread, one runtime: a plain cell).
    static IO_COUNTS: Cell<IoCounts> = Cell::new(IoCounts::default());
}

/// This thread's sends and reads by path so far.
pub fn io_counts() -> IoCounts {
    IO_COUNTS.with(Cell::get)
}

/// Adds to this thread's counts.
fn tally(f: impl FnOnce(&mut IoCounts)) {
    IO_COUNTS.with(|c| {
        let mut counts = c.get();
        f(&mut counts);
        c.set(counts);
    });
}

/// When a read's bytes reached this host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// The time the exchange uses: the kernel's stamp when there is one,
    /// else when the read completed.
    pub at: Nanos,
    /// Read completion minus the kernel's stamp (the client's own wake-up
    /// and queue), when the kernel stamped the read.
    pub wake_lag: Option<Nanos>,
}

impl Arrival {
    /// From the kernel's stamp (if any) and the read's completion time. A
    /// stamp is never later than the read that returned its bytes; should
    /// one be (a clock step), the completion time is used.
    pub fn new(kernel: Option<Nanos>, completed: Nanos) -> Arrival {
        match kernel {
            Some(k) if k <= completed => Arrival {
                at: k,
                wake_lag: Some(completed - k),
            },
            _ => Arrival {
                at: completed,
                wake_lag: None,
            },
        }
    }
}

/// A read that says when its bytes arrived.
// Single-threaded runtimes: the futures need not be Send.
#[allow(async_fn_in_trait)]
pub trait TimedRead {
    /// Reads once into `buf`'s spare capacity (appending); the byte count
    /// (0: the peer closed) and when the bytes arrived.
    async fn read_timed(&mut self, buf: &mut Vec<u8>) -> io::Result<(usize, Arrival)>;
}

/// [`TimedRead`] for any runtime read: stamped when the read completes.
pub async fn read_user_stamped<S: AsyncReadRent>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> io::Result<(usize, Arrival)> {
    let b = std::mem::take(buf);
    let start = b.len();
    let (res, slice) = stream.read(b.slice_mut(start..)).await;
    let now = now_ns();
    *buf = slice.into_inner();
    res.map(|n| (n, Arrival::new(None, now)))
}

/// When a request's first bytes were handed to the kernel, and the write
/// calls that carried bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sent {
    pub calls: u32,
    /// `now_ns()` right after the first direct send that carried bytes
    /// returned; 0 when the first bytes went through the runtime (TLS, or a
    /// socket that took nothing at once), whose completion says nothing
    /// about when they reached the kernel.
    pub first_byte_ns: Nanos,
}

impl Sent {
    fn add(&mut self, calls: u32, first: Nanos) {
        if self.first_byte_ns == 0 {
            self.first_byte_ns = first;
        }
        self.calls += calls;
    }
}

/// A plain TCP connection and its kernel paths.
pub struct PlainConn {
    tcp: TcpStream,
    /// Reads go through `recvmsg` for the kernel's stamps.
    kernel_stamps: bool,
    zero_copy: ZeroCopy,
    /// Zero-copy sends are made (the socket accepted `SO_ZEROCOPY`, and under
    /// `auto` the kernel has not yet said it copies them).
    zc_active: bool,
    /// Zero-copy sends not yet notified.
    zc_pending: u64,
    /// The last read filled the buffer: more may be waiting, so the next
    /// read tries `recvmsg` before asking the runtime for readiness.
    maybe_more: bool,
    /// Reads in a row that skipped the readiness poll.
    skipped_polls: u8,
}

impl PlainConn {
    fn new(tcp: TcpStream, paths: IoPaths) -> PlainConn {
        let fd = tcp.as_raw_fd();
        let kernel_stamps = paths.rx_stamps == RxStamps::Kernel;
        if kernel_stamps {
            rx_stamp::enable_rx_timestamps_fd(fd);
        }
        let zc_active = kernel_stamps && paths.zero_copy != ZeroCopy::Off && zerocopy::enable(fd);
        PlainConn {
            tcp,
            kernel_stamps,
            zero_copy: paths.zero_copy,
            zc_active,
            zc_pending: 0,
            maybe_more: false,
            skipped_polls: 0,
        }
    }

    /// The flags of a send of `len` bytes: `MSG_ZEROCOPY` when this
    /// connection makes zero-copy sends of that size.
    fn send_flags(&self, len: usize) -> libc::c_int {
        let zc = self.zc_active && (self.zero_copy == ZeroCopy::On || len >= ZERO_COPY_MIN_BYTES);
        let base = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
        if zc {
            base | libc::MSG_ZEROCOPY
        } else {
            base
        }
    }

    /// Counts one send call made with `flags`.
    fn note_send(&mut self, flags: libc::c_int) {
        if flags & libc::MSG_ZEROCOPY != 0 {
            self.zc_pending += 1;
            tally(|c| c.zero_copy_sends += 1);
        } else {
            tally(|c| c.copy_sends += 1);
        }
    }

    /// Reads the zero-copy notifications waiting; under `auto`, a kernel
    /// that copied the sends anyway ends zero-copy on this connection.
    fn drain_notifications(&mut self) {
        if self.zc_pending == 0 {
            return;
        }
        let n = zerocopy::drain(self.tcp.as_raw_fd());
        self.zc_pending = self.zc_pending.saturating_sub(n.sends);
        tally(|c| c.zero_copy_notified += n.sends);
        tally(|c| c.zero_copy_copied += n.copied);
        if n.copied > 0 && self.zero_copy == ZeroCopy::Auto {
            self.zc_active = false;
        }
    }

    /// One read with the kernel's stamp: `recvmsg` once the runtime says the
    /// socket is readable (or at once, when the last read filled the buffer:
    /// more is likely waiting; at most [`MAX_SKIPPED_POLLS`] times in a row,
    /// so a peer that keeps the socket full cannot starve this worker's other
    /// tasks, which run while a poll is pending).
    async fn read_kernel_stamped(&mut self, buf: &mut Vec<u8>) -> io::Result<(usize, Arrival)> {
        if buf.len() == buf.capacity() {
            // A read into no room would return 0, which means EOF.
            buf.reserve(4096);
        }
        let fd = self.tcp.as_raw_fd();
        loop {
            if self.maybe_more && self.skipped_polls < MAX_SKIPPED_POLLS {
                self.skipped_polls += 1;
            } else {
                self.skipped_polls = 0;
                self.tcp.readable(false).await?;
            }
            match rx_stamp::recv_stamped_at(fd, buf) {
                Ok((n, kernel, completed)) => {
                    self.maybe_more = n > 0 && buf.len() == buf.capacity();
                    let arrival = Arrival::new(kernel, completed);
                    // An EOF carries no bytes and no stamp: not counted.
                    if n > 0 {
                        crate::sys::batch::note_read(fd);
                        if arrival.wake_lag.is_some() {
                            tally(|c| c.kernel_stamped_reads += 1);
                        } else {
                            tally(|c| c.user_stamped_reads += 1);
                        }
                    }
                    return Ok((n, arrival));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Readiness without data: the error queue holds
                    // zero-copy notifications (poll reports them as
                    // POLLERR), or the last read took everything.
                    self.maybe_more = false;
                    self.drain_notifications();
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Reads in a row that may skip the readiness poll (see
/// `PlainConn::read_kernel_stamped`).
const MAX_SKIPPED_POLLS: u8 = 4;

/// Requests at least this large send their head before the rest.
const HEAD_FIRST_MIN_BYTES: usize = 16 * 1024;

/// Iovecs handed to one `sendmsg(2)`; a request with more segments is sent
/// in several calls.
const IOV_BATCH: usize = 16;

/// Sends as much of `segs` (in order, as one byte stream) as the socket takes
/// without blocking, with one `sendmsg(2)` per up to [`IOV_BATCH`] segments:
/// the shared pieces are gathered by the kernel, never copied together here.
/// Returns where it stopped, (segment index, offset in that segment), with
/// the `sendmsg(2)` calls that sent some and when the first returned.
fn send_now_v(
    conn: &mut PlainConn,
    segs: &[&'static [u8]],
    mut at: usize,
    mut off: usize,
) -> io::Result<(usize, usize, Sent)> {
    let fd: RawFd = conn.tcp.as_raw_fd();
    let mut out = Sent::default();
    let total: usize = segs[at.min(segs.len())..]
        .iter()
        .map(|s| s.len())
        .sum::<usize>()
        - off;
    if total == 0 {
        return Ok((segs.len(), 0, out));
    }
    let mut flags = conn.send_flags(total);
    while at < segs.len() {
        // Empty segments carry nothing: a batch must start with bytes, or
        // `sendmsg` returns 0 and the caller would wait for room forever.
        if segs[at].len() <= off {
            at += 1;
            off = 0;
            continue;
        }
        let mut iov = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; IOV_BATCH];
        let mut k = 0;
        for (j, seg) in segs[at..].iter().take(IOV_BATCH).enumerate() {
            let rest = if j == 0 { &seg[off..] } else { &seg[..] };
            iov[k] = libc::iovec {
                iov_base: rest.as_ptr() as *mut libc::c_void,
                iov_len: rest.len(),
            };
            k += 1;
        }
        // SAFETY: an all-zero msghdr is valid (no address, no control data).
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = iov.as_mut_ptr();
        msg.msg_iovlen = k as _;
        // SAFETY: the iovecs point into live slices that outlive the call
        // (request bodies live until the process ends, as MSG_ZEROCOPY
        // needs) and are only read; fd is our open socket. MSG_NOSIGNAL: a
        // peer that closed gives EPIPE, not SIGPIPE.
        let n = unsafe { libc::sendmsg(fd, &msg, flags) };
        if n > 0 {
            out.add(1, now_ns());
            conn.note_send(flags);
            let mut n = n as usize;
            while n > 0 && at < segs.len() {
                let left = segs[at].len() - off;
                if n >= left {
                    n -= left;
                    at += 1;
                    off = 0;
                } else {
                    off += n;
                    n = 0;
                }
            }
            // Skip empty segments so `at` names the next byte to send.
            while at < segs.len() && segs[at].len() == off {
                at += 1;
                off = 0;
            }
            continue;
        }
        if n == 0 {
            // Nothing left but empty segments.
            break;
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::ENOBUFS) && flags & libc::MSG_ZEROCOPY != 0 {
            // No memory for the notification (optmem): copy instead.
            flags &= !libc::MSG_ZEROCOPY;
            continue;
        }
        match err.kind() {
            io::ErrorKind::WouldBlock => break,
            io::ErrorKind::Interrupted => continue,
            _ => return Err(err),
        }
    }
    Ok((at, off, out))
}

/// A connection to the target.
pub enum Stream {
    Plain(PlainConn),
    /// Boxed: the TLS state is large and the plain variant should stay small.
    Tls(Box<monoio_rustls::ClientTlsStream<TcpStream>>),
}

impl Stream {
    /// Writes a prepared request held as segments (head, own JSON, shared
    /// audio, ...), in order, without joining them. On plain TCP the bytes
    /// the socket takes right now are sent by this task with a non-blocking
    /// `sendmsg(2)` over the segments: an io_uring write would wait for the
    /// runtime's next batched submission, behind the writes of every task
    /// woken in the same round, and under a burst of hundreds of requests
    /// the start stamp taken before the write would run milliseconds ahead
    /// of the bytes. The rest follows when the socket drains: zero-copy sends
    /// once the runtime says it is writable, copying ones as runtime writes.
    pub async fn write_segments(&mut self, segs: &[&'static [u8]]) -> io::Result<Sent> {
        let mut sent = Sent::default();
        let (mut at, mut off) = (0usize, 0usize);
        if let Stream::Plain(p) = self {
            // A large request's head goes out on its own: the kernel sends
            // a segment once it holds ~64 kB, so with the body behind it the
            // first byte would reach the server only after that much copying.
            if segs.len() > 1 && segs.iter().map(|s| s.len()).sum::<usize>() >= HEAD_FIRST_MIN_BYTES
            {
                let (a, o, s) = send_now_v(p, &segs[..1], 0, 0)?;
                sent.add(s.calls, s.first_byte_ns);
                (at, off) = (a, o);
            }
            loop {
                let (a, o, s) = send_now_v(p, segs, at, off)?;
                sent.add(s.calls, s.first_byte_ns);
                (at, off) = (a, o);
                if at >= segs.len() || !p.zc_active {
                    p.drain_notifications();
                    break;
                }
                // Zero-copy: the rest goes the same way once there is room.
                p.tcp.writable(false).await?;
                p.drain_notifications();
            }
        }
        for (j, seg) in segs.iter().enumerate().skip(at) {
            let rest: &'static [u8] = if j == at {
                &seg[off.min(seg.len())..]
            } else {
                seg
            };
            let calls = self.write_counted(rest).await?;
            sent.calls += calls;
            tally(|c| c.copy_sends += u64::from(calls));
        }
        Ok(sent)
    }

    /// Writes all of `bytes` through the runtime; the write calls it took.
    async fn write_counted(&mut self, mut bytes: &'static [u8]) -> io::Result<u32> {
        let mut calls = 0;
        while !bytes.is_empty() {
            let (res, _) = self.write(bytes).await;
            match res? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => {
                    calls += 1;
                    bytes = &bytes[n.min(bytes.len())..];
                }
            }
        }
        Ok(calls)
    }

    /// Whether an idle keep-alive connection was closed by the server (FIN
    /// or reset already received) or carries bytes nobody asked for: then it
    /// must not carry the next request, which would fail without the server
    /// ever seeing it. Servers close idle connections silently (uvicorn after
    /// 5 s). One non-blocking `recv(MSG_PEEK)`, plain TCP only: on TLS, bytes
    /// waiting on an idle connection are normal (session tickets).
    pub fn peer_closed(&self) -> bool {
        let Stream::Plain(s) = self else {
            return false;
        };
        let mut byte = 0u8;
        // SAFETY: a one-byte peek into a local on a socket this stream owns.
        let n = unsafe {
            libc::recv(
                s.tcp.as_raw_fd(),
                (&mut byte as *mut u8).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        n >= 0 || io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock
    }

    /// Whether this connection is TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }

    /// The negotiated ALPN protocol (always `http/1.1` when present).
    pub fn alpn_protocol(&self) -> Option<Vec<u8>> {
        match self {
            Stream::Plain(_) => None,
            Stream::Tls(s) => s.alpn_protocol(),
        }
    }
}

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stream::Plain(_) => "Stream::Plain",
            Stream::Tls(_) => "Stream::Tls",
        })
    }
}

// `async fn` satisfies the traits' `impl Future` (RPITIT) signatures; each
// call is one `match` and a delegated await, nothing buffered here.
impl TimedRead for Stream {
    async fn read_timed(&mut self, buf: &mut Vec<u8>) -> io::Result<(usize, Arrival)> {
        match self {
            Stream::Plain(p) if p.kernel_stamps => p.read_kernel_stamped(buf).await,
            _ => {
                let r = read_user_stamped(self, buf).await;
                // As on the kernel path, an EOF is not a stamped read.
                if matches!(r, Ok((n, _)) if n > 0) {
                    tally(|c| c.user_stamped_reads += 1);
                }
                r
            }
        }
    }
}

impl AsyncReadRent for Stream {
    #[inline]
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Stream::Plain(s) => s.tcp.read(buf).await,
            Stream::Tls(s) => s.read(buf).await,
        }
    }

    #[inline]
    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Stream::Plain(s) => s.tcp.readv(buf).await,
            Stream::Tls(s) => s.readv(buf).await,
        }
    }
}

impl AsyncWriteRent for Stream {
    #[inline]
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Stream::Plain(s) => s.tcp.write(buf).await,
            Stream::Tls(s) => s.write(buf).await,
        }
    }

    #[inline]
    async fn writev<T: IoVecBuf>(&mut self, buf_vec: T) -> BufResult<usize, T> {
        match self {
            Stream::Plain(s) => s.tcp.writev(buf_vec).await,
            Stream::Tls(s) => s.writev(buf_vec).await,
        }
    }

    #[inline]
    async fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.tcp.flush().await,
            Stream::Tls(s) => s.flush().await,
        }
    }

    #[inline]
    async fn shutdown(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.tcp.shutdown().await,
            Stream::Tls(s) => s.shutdown().await,
        }
    }
}

/// The TLS side of a run, built once before the clock starts and shared by
/// every worker (it is `Send + Sync`; cloning copies two small handles).
#[derive(Clone)]
pub struct TlsConnector {
    inner: monoio_rustls::TlsConnector,
    server_name: ServerName<'static>,
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl TlsConnector {
    /// The connector for `target` with `opts` (roots, CA file, `--insecure`, SNI).
    pub fn new(target: &Target, opts: &TlsOptions) -> Result<Self, TlsSetupError> {
        let config = tls::client_config(opts)?;
        let server_name = tls::server_name(target, opts)?;
        Ok(Self::from_parts(config, server_name))
    }

    /// A connector from a ready client configuration (tests, embedding).
    pub fn from_parts(config: Arc<rustls::ClientConfig>, server_name: ServerName<'static>) -> Self {
        TlsConnector {
            inner: monoio_rustls::TlsConnector::from(config),
            server_name,
        }
    }

    /// `Some` connector for an `https://` target, `None` for `http://`.
    pub fn for_config(cfg: &ProfileConfig) -> Result<Option<Self>, TlsSetupError> {
        match cfg.target.scheme {
            Scheme::Http => Ok(None),
            Scheme::Https => Self::new(&cfg.target, &cfg.tls).map(Some),
        }
    }

    /// The name sent as SNI and checked against the certificate.
    pub fn server_name(&self) -> &ServerName<'static> {
        &self.server_name
    }
}

/// Why a connection could not be opened.
#[derive(Debug)]
pub enum ConnectError {
    /// TCP connect (or setting `TCP_NODELAY`) failed.
    Tcp(io::Error),
    /// The TLS handshake failed; the message says why and what to try.
    Tls(String),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Tcp(e) => write!(f, "{e}"),
            ConnectError::Tls(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConnectError::Tcp(e) => Some(e),
            ConnectError::Tls(_) => None,
        }
    }
}

/// Opens a connection to `addr`: TCP with `TCP_NODELAY` (requests are written
/// whole, so Nagle would only delay them), then the TLS handshake if `tls`.
pub async fn connect(
    addr: SocketAddr,
    tls: Option<&TlsConnector>,
    paths: IoPaths,
) -> Result<Stream, ConnectError> {
    let tcp = TcpStream::connect_addr(addr)
        .await
        .map_err(ConnectError::Tcp)?;
    tcp.set_nodelay(true).map_err(ConnectError::Tcp)?;
    let Some(tls) = tls else {
        return Ok(Stream::Plain(PlainConn::new(tcp, paths)));
    };
    match tls.inner.connect(tls.server_name.clone(), tcp).await {
        Ok(s) => Ok(Stream::Tls(Box::new(s))),
        Err(monoio_rustls::TlsError::Io(e)) => {
            Err(ConnectError::Tls(tls::describe_handshake_error(&e)))
        }
        Err(monoio_rustls::TlsError::Rustls(e)) => {
            // Raised before any byte is sent (e.g. a session that cannot start).
            let e = io::Error::new(io::ErrorKind::InvalidData, e);
            Err(ConnectError::Tls(tls::describe_handshake_error(&e)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Scheme, Target, TlsOptions};
    use monoio::io::AsyncWriteRentExt;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use std::io::{Read, Write};
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant};

    const REQUEST: &[u8] = b"GET /v1/models HTTP/1.1\r\nHost: localhost\r\n\r\n";
    const LIMIT: Duration = Duration::from_secs(10);

    /// What the test server saw: SNI, ALPN and the request bytes.
    type Seen = (Option<String>, Option<Vec<u8>>, Vec<u8>);

    fn target(host: &str, port: u16) -> Target {
        Target {
            scheme: Scheme::Https,
            host: host.into(),
            port,
            host_header: format!("{host}:{port}"),
            base_path: String::new(),
            query: String::new(),
        }
    }

    fn response(body: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    /// Accepts one connection on 127.0.0.1 within `LIMIT`.
    fn accept_one(listener: &std::net::TcpListener) -> Result<std::net::TcpStream, String> {
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let deadline = Instant::now() + LIMIT;
        loop {
            match listener.accept() {
                Ok((tcp, _)) => {
                    tcp.set_nonblocking(false).map_err(|e| e.to_string())?;
                    tcp.set_read_timeout(Some(LIMIT))
                        .map_err(|e| e.to_string())?;
                    tcp.set_write_timeout(Some(LIMIT))
                        .map_err(|e| e.to_string())?;
                    return Ok(tcp);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    /// A one-connection rustls server (std thread, blocking I/O) holding `key`'s
    /// certificate: reads one request head, answers with what it saw.
    fn tls_server(key: &rcgen::CertifiedKey) -> (SocketAddr, JoinHandle<Result<Seen, String>>) {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(key.cert.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.key_pair.serialize_der())),
            )
            .unwrap();
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let cfg = Arc::new(cfg);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = std::thread::spawn(move || -> Result<Seen, String> {
            let tcp = accept_one(&listener)?;
            let conn = rustls::ServerConnection::new(cfg).map_err(|e| e.to_string())?;
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let mut req = Vec::new();
            let mut buf = [0u8; 512];
            while !req.ends_with(b"\r\n\r\n") {
                let n = tls.read(&mut buf).map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err("client closed before a full request".into());
                }
                req.extend_from_slice(&buf[..n]);
            }
            let sni = tls.conn.server_name().map(str::to_string);
            let alpn = tls.conn.alpn_protocol().map(<[u8]>::to_vec);
            tls.write_all(&response("hello over tls"))
                .map_err(|e| e.to_string())?;
            tls.conn.send_close_notify();
            tls.flush().map_err(|e| e.to_string())?;
            Ok((sni, alpn, req))
        });
        (addr, handle)
    }

    /// Connects, writes `REQUEST`, reads to EOF; all within `LIMIT`.
    fn exchange(addr: SocketAddr, tls: Option<TlsConnector>) -> Result<(bool, Vec<u8>), String> {
        let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
            .enable_timer()
            .build()
            .unwrap();
        rt.block_on(async move {
            let run = async {
                let mut s = connect(addr, tls.as_ref(), IoPaths::default())
                    .await
                    .map_err(|e| e.to_string())?;
                let is_tls = s.is_tls();
                if is_tls {
                    assert_eq!(s.alpn_protocol().as_deref(), Some(&b"http/1.1"[..]));
                }
                let (r, _) = s.write_all(REQUEST.to_vec()).await;
                r.map_err(|e| e.to_string())?;
                let mut got = Vec::new();
                // One buffer reused for every read, as the workers do.
                let mut buf = Vec::with_capacity(64);
                loop {
                    buf.clear();
                    let (r, b) = s.read(buf).await;
                    buf = b;
                    match r.map_err(|e| e.to_string())? {
                        0 => break,
                        _ => got.extend_from_slice(&buf),
                    }
                }
                Ok((is_tls, got))
            };
            monoio::time::timeout(LIMIT, run)
                .await
                .map_err(|_| "timed out".to_string())?
        })
    }

    fn cert() -> rcgen::CertifiedKey {
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap()
    }

    fn ca_file(key: &rcgen::CertifiedKey) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(key.cert.pem().as_bytes()).unwrap();
        f
    }

    #[test]
    fn insecure_accepts_a_self_signed_server_and_sends_sni_and_alpn() {
        let key = cert();
        let (addr, server) = tls_server(&key);
        let opts = TlsOptions {
            insecure: true,
            server_name: Some("localhost".into()),
            ..Default::default()
        };
        let c = TlsConnector::new(&target("127.0.0.1", addr.port()), &opts).unwrap();
        let (is_tls, got) = exchange(addr, Some(c)).unwrap();
        assert!(is_tls);
        assert_eq!(got, response("hello over tls"));
        let (sni, alpn, req) = server.join().unwrap().unwrap();
        assert_eq!(sni.as_deref(), Some("localhost"));
        // The server prefers h2, but only http/1.1 was offered.
        assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
        assert_eq!(req, REQUEST);
    }

    #[test]
    fn ca_file_trusts_the_server_certificate() {
        let key = cert();
        let f = ca_file(&key);
        let (addr, server) = tls_server(&key);
        let opts = TlsOptions {
            ca_file: Some(f.path().to_path_buf()),
            ..Default::default()
        };
        let c = TlsConnector::new(&target("localhost", addr.port()), &opts).unwrap();
        let (_, got) = exchange(addr, Some(c)).unwrap();
        assert_eq!(got, response("hello over tls"));
        let (sni, _, req) = server.join().unwrap().unwrap();
        assert_eq!(sni.as_deref(), Some("localhost"));
        assert_eq!(req, REQUEST);
    }

    #[test]
    fn default_roots_reject_a_self_signed_server_with_a_clear_error() {
        let key = cert();
        let (addr, server) = tls_server(&key);
        let c =
            TlsConnector::new(&target("localhost", addr.port()), &TlsOptions::default()).unwrap();
        let e = exchange(addr, Some(c)).unwrap_err();
        assert!(
            e.starts_with("TLS handshake failed: invalid peer certificate: UnknownIssuer (")
                && e.contains("--ca-file")
                && e.contains("--insecure"),
            "{e}"
        );
        // The server never got a request: the connection ended in the handshake.
        assert!(server.join().unwrap().is_err());
    }

    #[test]
    fn name_mismatch_is_named() {
        let key = cert();
        let f = ca_file(&key);
        let (addr, server) = tls_server(&key);
        let opts = TlsOptions {
            ca_file: Some(f.path().to_path_buf()),
            server_name: Some("api.example.com".into()),
            ..Default::default()
        };
        let c = TlsConnector::new(&target("localhost", addr.port()), &opts).unwrap();
        let e = exchange(addr, Some(c)).unwrap_err();
        assert!(
            e.starts_with("TLS handshake failed: invalid peer certificate: certificate not valid for name \"api.example.com\"")
                && e.contains("--tls-server-name"),
            "{e}"
        );
        assert!(server.join().unwrap().is_err());
    }

    #[test]
    fn plain_stream_and_tcp_errors() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || -> Result<Vec<u8>, String> {
            let mut tcp = accept_one(&listener)?;
            let mut req = vec![0u8; REQUEST.len()];
            tcp.read_exact(&mut req).map_err(|e| e.to_string())?;
            tcp.write_all(&response("plain"))
                .map_err(|e| e.to_string())?;
            Ok(req)
        });
        let (is_tls, got) = exchange(addr, None).unwrap();
        assert!(!is_tls);
        assert_eq!(got, response("plain"));
        assert_eq!(server.join().unwrap().unwrap(), REQUEST);

        // Nothing listens on the port any more: a TCP error, not a TLS one.
        let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
            .enable_timer()
            .build()
            .unwrap();
        let r = rt.block_on(connect(addr, None, IoPaths::default()));
        match r {
            Err(ConnectError::Tcp(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused),
            other => panic!("expected a TCP error, got {other:?}"),
        }
    }

    #[test]
    fn plain_http_server_behind_an_https_url_gets_a_hint() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || -> Result<(), String> {
            let mut tcp = accept_one(&listener)?;
            let mut buf = [0u8; 64];
            let _ = tcp.read(&mut buf).map_err(|e| e.to_string())?;
            tcp.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                .map_err(|e| e.to_string())
        });
        let c = TlsConnector::new(
            &target("localhost", addr.port()),
            &TlsOptions {
                insecure: true,
                ..Default::default()
            },
        )
        .unwrap();
        let e = exchange(addr, Some(c)).unwrap_err();
        assert!(e.contains("use an http:// URL"), "{e}");
        server.join().unwrap().unwrap();
    }

    /// Segments go out in order as one byte stream: more of them than one
    /// `sendmsg` takes, empty ones, and one too large for the socket buffer
    /// (the rest then follows when the socket drains), on every send path.
    #[test]
    fn write_segments_sends_every_byte_in_order() {
        for zero_copy in [ZeroCopy::Auto, ZeroCopy::On, ZeroCopy::Off] {
            let paths = IoPaths {
                zero_copy,
                rx_stamps: RxStamps::Kernel,
                read_batch_ns: 0,
            };
            let before = io_counts();
            let (got, segs) = send_and_collect(paths);
            assert_eq!(got.len(), segs.iter().map(|s| s.len()).sum::<usize>());
            assert!(got == segs.concat(), "{zero_copy:?}");
            let after = io_counts();
            let (zc, copies) = (after.zero_copy_sends, after.copy_sends);
            match zero_copy {
                ZeroCopy::Off => {
                    assert_eq!(zc, before.zero_copy_sends, "no zero-copy send when off")
                }
                _ => assert!(
                    zc > before.zero_copy_sends,
                    "{zero_copy:?}: the large request went zero-copy"
                ),
            }
            if zero_copy != ZeroCopy::On {
                // Some sends copied: all of them under off, the small head
                // (below the zero-copy threshold) under auto.
                assert!(copies > before.copy_sends, "{zero_copy:?}");
            }
        }
    }

    /// Sends one large segmented request over a fresh connection; what the
    /// server received, and the segments.
    fn send_and_collect(paths: IoPaths) -> (Vec<u8>, &'static [&'static [u8]]) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || -> Result<Vec<u8>, String> {
            let mut tcp = accept_one(&listener)?;
            // Start reading late, so the client's first send fills the buffer.
            std::thread::sleep(Duration::from_millis(50));
            let mut got = Vec::new();
            tcp.read_to_end(&mut got).map_err(|e| e.to_string())?;
            Ok(got)
        });
        let mut segs: Vec<&'static [u8]> = Vec::new();
        for i in 0..40u32 {
            let seg: Vec<u8> = match i {
                7 | 8 => Vec::new(),
                20 => (0..8_000_000u32).map(|b| (b % 251) as u8).collect(),
                _ => format!("segment {i};").into_bytes(),
            };
            segs.push(seg.leak());
        }
        let segs: &'static [&'static [u8]] = segs.leak();
        let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
            .enable_timer()
            .build()
            .unwrap();
        rt.block_on(async move {
            let mut s = connect(addr, None, paths).await.unwrap();
            let sent = monoio::time::timeout(LIMIT, s.write_segments(segs))
                .await
                .unwrap()
                .unwrap();
            // The first bytes went out directly, the rest in more calls.
            assert!(sent.calls >= 2 && sent.first_byte_ns > 0, "{sent:?}");
            s.shutdown().await.unwrap();
        });
        (server.join().unwrap().unwrap(), segs)
    }

    /// A read's arrival is when its bytes reached this host: with kernel
    /// stamps, bytes that waited 30 ms before the read are dated when they
    /// were sent; with user stamps, when the read completed. Up to 3 tries:
    /// the sender can be preempted between its stamp and its write on a
    /// loaded machine, which is not the stamp's fault.
    #[test]
    fn kernel_stamps_date_bytes_by_arrival_not_by_read() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        // The kernel turns stamping on with a deferred switch: turn it on
        // early, as the mock does.
        crate::sys::rx_stamp::enable_rx_timestamps(&listener);
        std::thread::sleep(Duration::from_millis(50));
        let addr = listener.local_addr().unwrap();
        let mut misses = Vec::new();
        for _ in 0..3 {
            let mut kernel_on_time = false;
            for rx_stamps in [RxStamps::Kernel, RxStamps::User] {
                let paths = IoPaths {
                    zero_copy: ZeroCopy::Off,
                    rx_stamps,
                    read_batch_ns: 0,
                };
                let (tx, rx) = std::sync::mpsc::channel::<Nanos>();
                let l = listener.try_clone().unwrap();
                let server = std::thread::spawn(move || {
                    let mut tcp = accept_one(&l).unwrap();
                    tx.send(now_ns()).unwrap();
                    tcp.write_all(b"hello").unwrap();
                    std::thread::sleep(Duration::from_millis(100));
                });
                let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
                    .enable_timer()
                    .build()
                    .unwrap();
                let (n, arrival, read_at) = rt.block_on(async move {
                    let mut s = connect(addr, None, paths).await.unwrap();
                    monoio::time::sleep(Duration::from_millis(30)).await;
                    let mut buf = Vec::with_capacity(64);
                    let (n, arrival) = s.read_timed(&mut buf).await.unwrap();
                    assert_eq!(&buf[..n], b"hello");
                    (n, arrival, now_ns())
                });
                server.join().unwrap();
                let sent = rx.recv().unwrap();
                assert_eq!(n, 5);
                assert!(arrival.at <= read_at);
                match rx_stamps {
                    RxStamps::User => {
                        assert_eq!(arrival.wake_lag, None);
                        assert!(arrival.at >= sent + 25_000_000, "user stamp is the read's");
                    }
                    RxStamps::Kernel => {
                        let lag = arrival.wake_lag.expect("a kernel stamp");
                        assert!(lag >= 25_000_000, "read 30 ms after arrival: lag {lag}");
                        assert!(arrival.at + 1_000_000 >= sent, "stamp before the send");
                        kernel_on_time = arrival.at <= sent + 5_000_000;
                        if !kernel_on_time {
                            misses.push((arrival.at - sent) / 1_000);
                        }
                    }
                }
            }
            if kernel_on_time {
                return;
            }
        }
        panic!("kernel stamp later than 5 ms after the send, us: {misses:?}");
    }

    /// What reading `conns` sockets that each get one byte every 250 µs,
    /// `tokens` times, did with a 2 ms read-batching window: (bytes, reads,
    /// kernel-stamped reads, windows slept).
    fn batched_reads(conns: usize, tokens: usize) -> (usize, usize, usize, u64) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        crate::sys::rx_stamp::enable_rx_timestamps(&listener);
        std::thread::sleep(Duration::from_millis(50));
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let mut conns: Vec<_> = (0..conns).map(|_| accept_one(&listener).unwrap()).collect();
            for c in &conns {
                c.set_nodelay(true).unwrap();
            }
            for _ in 0..tokens {
                for c in conns.iter_mut() {
                    c.write_all(b"t").unwrap();
                }
                std::thread::sleep(Duration::from_micros(250));
            }
        });
        let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
            .enable_timer()
            .build()
            .unwrap();
        let paths = IoPaths {
            zero_copy: ZeroCopy::Off,
            rx_stamps: RxStamps::Kernel,
            read_batch_ns: 2_000_000,
        };
        let before = crate::sys::batch::stats();
        let (bytes, reads, kernel_stamped) = rt.block_on(async move {
            crate::sys::batch::start(paths.read_batch_ns).unwrap();
            let mut streams = Vec::new();
            for _ in 0..conns {
                streams.push(connect(addr, None, paths).await.unwrap());
            }
            let readers: Vec<_> = streams
                .into_iter()
                .map(|mut s| {
                    monoio::spawn(async move {
                        let (mut bytes, mut reads, mut stamped) = (0, 0, 0);
                        let mut buf = Vec::with_capacity(64);
                        loop {
                            buf.clear();
                            let (n, arrival) = s.read_timed(&mut buf).await.unwrap();
                            if n == 0 {
                                return (bytes, reads, stamped);
                            }
                            bytes += n;
                            reads += 1;
                            stamped += usize::from(arrival.wake_lag.is_some());
                        }
                    })
                })
                .collect();
            let mut total = (0, 0, 0);
            for r in readers {
                let (b, n, k) = monoio::time::timeout(LIMIT, r).await.expect("readers end");
                total = (total.0 + b, total.1 + n, total.2 + k);
            }
            total
        });
        server.join().unwrap();
        let windows = crate::sys::batch::stats().windows - before.windows;
        (bytes, reads, kernel_stamped, windows)
    }

    /// Read batching: tokens written to 8 sockets every 250 µs are read a
    /// 2 ms window at a time, several per read, each read still carrying
    /// the kernel's stamp (not the read's time).
    #[test]
    fn read_batching_reads_dense_streams_a_window_at_a_time() {
        let (bytes, reads, kernel_stamped, windows) = batched_reads(8, 40);
        assert_eq!(bytes, 8 * 40, "every byte read");
        assert_eq!(kernel_stamped, reads, "every read kernel-stamped");
        assert!(windows > 0, "the batcher slept no window");
        // ~8 tokens per socket per window: far fewer reads than tokens.
        assert!(
            reads * 2 < bytes,
            "{reads} reads for {bytes} tokens over {windows} windows"
        );
    }

    /// One connection (c=1) is never batched: its reads come as fast as
    /// with no batcher, so the next request is not held back by a window.
    #[test]
    fn read_batching_leaves_a_single_connection_alone() {
        let (bytes, reads, kernel_stamped, windows) = batched_reads(1, 40);
        assert_eq!(bytes, 40, "every byte read");
        assert_eq!(kernel_stamped, reads, "every read kernel-stamped");
        assert_eq!(windows, 0, "a single stream was batched ({reads} reads)");
    }

    /// Zero-copy notifications waiting on the error queue make the socket
    /// poll as ready (POLLERR) before the response comes: the read drains
    /// them and waits again, and returns the response when it arrives.
    #[test]
    fn a_read_waits_past_zero_copy_notifications() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let body: &'static [u8] = vec![b'q'; 300_000].leak();
        let server = std::thread::spawn(move || -> Result<(), String> {
            let mut tcp = accept_one(&listener)?;
            let mut got = vec![0u8; body.len()];
            tcp.read_exact(&mut got).map_err(|e| e.to_string())?;
            // The notifications are queued long before the answer.
            std::thread::sleep(Duration::from_millis(50));
            tcp.write_all(b"answer").map_err(|e| e.to_string())
        });
        let notified_before = io_counts().zero_copy_notified;
        let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
            .enable_timer()
            .build()
            .unwrap();
        let got = rt.block_on(async move {
            let paths = IoPaths {
                zero_copy: ZeroCopy::On,
                rx_stamps: RxStamps::Kernel,
                read_batch_ns: 0,
            };
            let mut s = connect(addr, None, paths).await.unwrap();
            monoio::time::timeout(LIMIT, s.write_segments(&[body]))
                .await
                .unwrap()
                .unwrap();
            let mut buf = Vec::with_capacity(64);
            let read = async {
                while buf.len() < 6 {
                    let (n, _) = s.read_timed(&mut buf).await.unwrap();
                    assert!(n > 0, "closed early");
                }
            };
            monoio::time::timeout(LIMIT, read).await.expect("read hung");
            buf
        });
        server.join().unwrap().unwrap();
        assert_eq!(got, b"answer");
        let notified = io_counts().zero_copy_notified - notified_before;
        assert!(notified >= 1, "the notifications were drained: {notified}");
    }

    #[test]
    fn arrival_prefers_the_kernel_stamp_when_it_is_sane() {
        assert_eq!(
            Arrival::new(Some(100), 150),
            Arrival {
                at: 100,
                wake_lag: Some(50)
            }
        );
        // A stamp after the read (a clock step) is not used.
        assert_eq!(
            Arrival::new(Some(200), 150),
            Arrival {
                at: 150,
                wake_lag: None
            }
        );
        assert_eq!(
            Arrival::new(None, 150),
            Arrival {
                at: 150,
                wake_lag: None
            }
        );
    }
}
