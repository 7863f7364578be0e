//! Thread-per-core serving: one pinned OS thread per worker, each with its own
//! monoio runtime (io_uring, epoll fallback) and its own SO_REUSEPORT listener on
//! the shared port, accepting and serving its connections end to end (HTTP/1.1
//! keep-alive, pipelining-safe). Token timing comes from absolute deadlines
//! `arrival + ttft + k * itl` slept on the worker's precise timer.

use std::cell::{Cell, RefCell};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use monoio_rustls::ServerTlsStream;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::arrival;
use super::http::{self, Method, RequestHead};
use super::openai::{self, ApiError, ChatRequest, EventBuilder, TokenPlan};
use super::{FaultMode, MockServerArgs, Stats};
use crate::timer::PreciseTimer;
use crate::units::{now_ns, Nanos};

/// A connection the server speaks HTTP over: plain TCP or TLS over TCP.
trait Io: AsyncReadRent + AsyncWriteRent {
    /// Reads the first bytes of a new request into `buf`; when they reached
    /// this host (monotonic ns), or `None` when the peer is gone.
    async fn read_first(&mut self, buf: &mut Vec<u8>) -> Option<Nanos>;
}

impl Io for TcpStream {
    async fn read_first(&mut self, buf: &mut Vec<u8>) -> Option<Nanos> {
        reserve_for_read(buf);
        loop {
            if self.readable(false).await.is_err() {
                return None;
            }
            match arrival::recv_stamped(self.as_raw_fd(), buf) {
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
    async fn read_first(&mut self, buf: &mut Vec<u8>) -> Option<Nanos> {
        read_more(self, buf).await.then(now_ns)
    }
}

/// How often a worker checks the stop flag.
const STOP_POLL: Duration = Duration::from_millis(10);
const READ_CHUNK: usize = 16 * 1024;

/// The per-run settings every worker reads.
struct Config {
    ttft_ns: Nanos,
    itl_ns: Nanos,
    output_tokens: u64,
    reasoning_tokens: u64,
    model: Option<String>,
    fault: FaultMode,
    fault_rate: f64,
    fault_every: Option<u64>,
    trickle_ns: Nanos,
    max_body_bytes: usize,
}

/// One worker's state, shared by its connection tasks (single-threaded).
struct Worker {
    index: usize,
    cfg: Arc<Config>,
    stats: Arc<Stats>,
    timer: PreciseTimer,
    rng: RefCell<StdRng>,
    served: Cell<u64>,
}

fn ms_to_ns(ms: f64) -> Nanos {
    (ms * 1e6).round() as Nanos
}

fn bind_reuseport(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    // Accepted sockets inherit it, and the kernel switches receive stamping
    // on (a deferred switch) now rather than when the first request arrives.
    arrival::enable_rx_timestamps(socket.as_raw_fd());
    Ok(socket.into())
}

/// Binds every worker's listener, starts the workers and returns once all listen.
pub(super) fn start(
    args: &MockServerArgs,
    tls: Option<Arc<rustls::ServerConfig>>,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<(SocketAddr, Vec<JoinHandle<()>>)> {
    let want = (args.host.as_str(), args.port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve --host {:?}", args.host))?
        .next()
        .with_context(|| format!("--host {:?} resolves to no address", args.host))?;
    let n = args.workers.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    // The first bind learns the real port when 0 was asked; the others share it.
    let first = bind_reuseport(want).with_context(|| format!("cannot listen on {want}"))?;
    let addr = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..n {
        listeners.push(bind_reuseport(addr).with_context(|| format!("cannot listen on {addr}"))?);
    }
    let cfg = Arc::new(Config {
        ttft_ns: ms_to_ns(args.ttft_ms),
        itl_ns: ms_to_ns(args.itl_ms),
        output_tokens: args.output_tokens,
        reasoning_tokens: args.reasoning_tokens,
        model: args.model.clone(),
        fault: args.fault,
        fault_rate: args.fault_rate,
        fault_every: args.fault_every,
        trickle_ns: args.trickle_us.saturating_mul(1000),
        max_body_bytes: args.max_body_bytes,
    });
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
    let mut handles = Vec::with_capacity(n);
    for (index, listener) in listeners.into_iter().enumerate() {
        let core = if cores.is_empty() {
            None
        } else {
            Some(cores[index % cores.len()])
        };
        let (cfg, stats, stop_flag, ready, tls) = (
            cfg.clone(),
            stats.clone(),
            stop.clone(),
            ready_tx.clone(),
            tls.clone(),
        );
        let spawned = std::thread::Builder::new()
            .name(format!("mock-worker-{index}"))
            .spawn(move || {
                if let Some(core) = core {
                    core_affinity::set_for_current(core);
                }
                let rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
                    .enable_timer()
                    .build();
                match rt {
                    Ok(mut rt) => rt.block_on(worker_main(
                        index, listener, tls, cfg, stats, stop_flag, ready,
                    )),
                    Err(e) => {
                        let _ =
                            ready.send(Err(format!("worker {index}: cannot build runtime: {e}")));
                    }
                }
            });
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                return Err(e).context("cannot spawn a worker thread");
            }
        }
    }
    drop(ready_tx);
    for _ in 0..n {
        let outcome = ready_rx
            .recv()
            .unwrap_or_else(|_| Err("a worker exited before listening".into()));
        if let Err(e) = outcome {
            stop.store(true, Ordering::Relaxed);
            for h in handles {
                let _ = h.join();
            }
            anyhow::bail!("mock server failed to start: {e}");
        }
    }
    Ok((addr, handles))
}

async fn worker_main(
    index: usize,
    listener: std::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    cfg: Arc<Config>,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    ready: mpsc::Sender<Result<(), String>>,
) {
    let setup = (|| {
        let listener = monoio::net::TcpListener::from_std(listener)
            .map_err(|e| format!("worker {index}: cannot register listener: {e}"))?;
        let timer = PreciseTimer::start()
            .map_err(|e| format!("worker {index}: cannot create timerfd: {e}"))?;
        Ok::<_, String>((listener, timer))
    })();
    let (listener, timer) = match setup {
        Ok(v) => v,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let worker = Rc::new(Worker {
        index,
        cfg,
        stats,
        timer,
        rng: RefCell::new(StdRng::seed_from_u64(0x5eed ^ index as u64)),
        served: Cell::new(0),
    });
    let _ = ready.send(Ok(()));
    drop(ready);

    let accept_loop = async {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    // Each event must leave as soon as it is written.
                    let _ = stream.set_nodelay(true);
                    let fd = stream.as_raw_fd();
                    match &tls {
                        None => {
                            monoio::spawn(serve_connection(worker.clone(), stream, fd));
                        }
                        Some(cfg) => {
                            let acceptor = monoio_rustls::TlsAcceptor::from(cfg.clone());
                            let worker = worker.clone();
                            // A failed handshake only ends that connection.
                            monoio::spawn(async move {
                                if let Ok(tls_stream) = acceptor.accept(stream).await {
                                    serve_connection(worker, tls_stream, fd).await;
                                }
                            });
                        }
                    }
                }
                // Typically EMFILE: back off instead of spinning on the error.
                Err(_) => monoio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    };
    let stop_watch = async {
        while !stop.load(Ordering::Relaxed) {
            monoio::time::sleep(STOP_POLL).await;
        }
    };
    monoio::select! {
        _ = accept_loop => {},
        _ = stop_watch => {},
    }
}

/// Reads more bytes after `buf`'s end. Returns false on EOF or error.
fn reserve_for_read(buf: &mut Vec<u8>) {
    if buf.capacity() - buf.len() < READ_CHUNK / 2 {
        buf.reserve(READ_CHUNK);
    }
}

async fn read_more(stream: &mut impl AsyncReadRent, buf: &mut Vec<u8>) -> bool {
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

/// Writes all of `out`; false when the peer is gone.
async fn send(stream: &mut impl Io, out: &mut Vec<u8>) -> bool {
    let (res, b) = stream.write_all(std::mem::take(out)).await;
    *out = b;
    out.clear();
    res.is_ok()
}

/// Waits until the peer closes (or errors), discarding what it sends.
async fn wait_for_close(stream: &mut impl Io) {
    let mut sink = Vec::with_capacity(READ_CHUNK);
    loop {
        sink.clear();
        if !read_more(stream, &mut sink).await {
            return;
        }
    }
}

/// Makes the next close send a TCP RST instead of a FIN.
fn set_linger_zero(fd: RawFd) {
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: valid socket fd and a live linger struct of the stated size.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
}

/// Serves one connection; `fd` is its TCP socket (for the reset faults).
async fn serve_connection(w: Rc<Worker>, mut stream: impl Io, fd: RawFd) {
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut out: Vec<u8> = Vec::with_capacity(4096);
    loop {
        // Token deadlines count from when the request's first bytes reached
        // this host, as a client's TTFT counts from when it starts sending
        // (see `arrival`). A pipelined request already here starts now.
        let arrival = if buf.is_empty() {
            match stream.read_first(&mut buf).await {
                Some(t) => t,
                None => return,
            }
        } else {
            now_ns()
        };
        let head = loop {
            match http::parse_head(&buf) {
                Ok(Some(h)) => break h,
                Ok(None) => {
                    if !read_more(&mut stream, &mut buf).await {
                        return;
                    }
                }
                Err(e) => {
                    w.stats.rejected.fetch_add(1, Ordering::Relaxed);
                    let body = openai::error_body(e.status, "BadRequestError", &e.message);
                    http::write_response(&mut out, e.status, "application/json", &body, true);
                    send(&mut stream, &mut out).await;
                    return;
                }
            }
        };
        if head.content_length > w.cfg.max_body_bytes {
            w.stats.rejected.fetch_add(1, Ordering::Relaxed);
            let msg = format!(
                "request body of {} bytes exceeds the limit of {} bytes",
                head.content_length, w.cfg.max_body_bytes
            );
            let body = openai::error_body(413, "BadRequestError", &msg);
            http::write_response(&mut out, 413, "application/json", &body, true);
            send(&mut stream, &mut out).await;
            return;
        }
        let need = head.head_len + head.content_length;
        if head.expect_continue && buf.len() < need {
            out.extend_from_slice(http::CONTINUE_100);
            if !send(&mut stream, &mut out).await {
                return;
            }
        }
        if buf.capacity() < need {
            buf.reserve(need - buf.len());
        }
        while buf.len() < need {
            if !read_more(&mut stream, &mut buf).await {
                return;
            }
        }
        // Let the other connections woken by the same batch of completions
        // stamp their arrival too before this one parses and validates its
        // body: under a burst, deadlines then start when requests arrived,
        // not after every earlier request's processing.
        YieldNow(false).await;
        let keep = handle(
            &w,
            &head,
            &buf[head.head_len..need],
            arrival,
            &mut stream,
            fd,
            &mut out,
        )
        .await;
        if !keep || !head.keep_alive {
            return;
        }
        buf.drain(..need);
        // Do not keep a huge audio body's buffer alive on an idle connection.
        if buf.capacity() > 1 << 20 && buf.len() < READ_CHUNK {
            buf.shrink_to(READ_CHUNK);
        }
    }
}

/// Routes one request and writes its response. Returns whether the connection
/// may serve another request.
async fn handle(
    w: &Rc<Worker>,
    head: &RequestHead,
    body: &[u8],
    arrival: Nanos,
    stream: &mut impl Io,
    fd: RawFd,
    out: &mut Vec<u8>,
) -> bool {
    let path = head.path.split('?').next().unwrap_or("");
    let close = !head.keep_alive;
    let json = "application/json";
    match (head.method, path) {
        (Method::Post, "/v1/chat/completions") => {
            return chat(w, head, body, arrival, stream, fd, out).await
        }
        (Method::Get, "/health") => http::write_response(out, 200, json, b"", close),
        (Method::Get, "/v1/models") => {
            let model = w.cfg.model.as_deref().unwrap_or("mock");
            http::write_response(
                out,
                200,
                json,
                &openai::models_body(model, unix_secs()),
                close,
            )
        }
        (Method::Get, "/v1/mock/stats") => {
            http::write_response(out, 200, json, w.stats.to_json().as_bytes(), close)
        }
        (Method::Delete, "/v1/mock/stats") => {
            w.stats.reset();
            http::write_response(out, 200, json, w.stats.to_json().as_bytes(), close)
        }
        (_, "/v1/chat/completions" | "/health" | "/v1/models" | "/v1/mock/stats") => {
            let body = openai::error_body(405, "MethodNotAllowed", "Method Not Allowed");
            http::write_response(out, 405, json, &body, close)
        }
        _ => {
            let body = openai::error_body(404, "NotFoundError", &format!("Not Found: {path}"));
            http::write_response(out, 404, json, &body, close)
        }
    }
    send(stream, out).await
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Worker {
    /// Whether chat request number `n` (1-based, over all workers) gets the fault.
    fn pick_fault(&self, n: u64) -> FaultMode {
        let f = self.cfg.fault;
        if f == FaultMode::None {
            return FaultMode::None;
        }
        let hit = match self.cfg.fault_every {
            Some(every) => n.is_multiple_of(every),
            None => {
                self.cfg.fault_rate >= 1.0
                    || (self.cfg.fault_rate > 0.0
                        && self.rng.borrow_mut().gen::<f64>() < self.cfg.fault_rate)
            }
        };
        if hit {
            f
        } else {
            FaultMode::None
        }
    }

    fn next_id(&self) -> String {
        let n = self.served.get();
        self.served.set(n + 1);
        format!("chatcmpl-mock{:04x}{:012x}", self.index, n)
    }

    /// Deadline of token `k` (0-based): absolute, so gaps never accumulate drift.
    fn token_due(&self, arrival: Nanos, k: u64) -> Nanos {
        arrival + self.cfg.ttft_ns + k * self.cfg.itl_ns
    }
}

/// Bytes of a head larger than any sane client accepts (100 KiB of headers).
const OVERSIZED_HEAD_BYTES: usize = 100 * 1024;
/// What `content-length-short` leaves out and `content-length-long` adds.
const SHORT_BY: usize = 64;
const LONG_BY: usize = 16;

/// Writes one response with the framing faults applied: per-byte writes
/// (`split-bytes`, `trickle`), per-byte chunks, chunk extensions and trailers.
struct Writer<'a, S> {
    w: &'a Worker,
    stream: &'a mut S,
    fd: RawFd,
    out: &'a mut Vec<u8>,
    fault: FaultMode,
    one: Vec<u8>,
}

impl<S: Io> Writer<'_, S> {
    /// Appends one chunk holding `payload`.
    fn chunk(&mut self, payload: &[u8]) {
        match self.fault {
            FaultMode::SplitBytes => {
                for b in payload {
                    http::write_chunk(self.out, std::slice::from_ref(b));
                }
            }
            FaultMode::ChunkExtensions => {
                use std::io::Write;
                let _ = write!(
                    self.out,
                    "{:x};ext=1;name=\"quoted value\"\r\n",
                    payload.len()
                );
                self.out.extend_from_slice(payload);
                self.out.extend_from_slice(b"\r\n");
            }
            FaultMode::UntilClose => self.out.extend_from_slice(payload),
            _ => http::write_chunk(self.out, payload),
        }
    }

    /// Appends the last chunk (with extensions and trailers for `chunk-extensions`).
    fn last_chunk(&mut self) {
        match self.fault {
            FaultMode::ChunkExtensions => self
                .out
                .extend_from_slice(b"0;final=1\r\nx-trailer: done\r\nx-other-trailer: 2\r\n\r\n"),
            // The close that follows ends the body.
            FaultMode::UntilClose => {}
            _ => self.out.extend_from_slice(http::LAST_CHUNK),
        }
    }

    /// Sends what was appended; false when the peer is gone.
    async fn flush(&mut self) -> bool {
        if !matches!(self.fault, FaultMode::SplitBytes | FaultMode::Trickle) {
            return send(self.stream, self.out).await;
        }
        let bytes = std::mem::take(self.out);
        let mut ok = true;
        for &b in &bytes {
            if self.fault == FaultMode::Trickle {
                self.w
                    .timer
                    .sleep_until(now_ns() + self.w.cfg.trickle_ns)
                    .await;
            }
            let mut one = std::mem::take(&mut self.one);
            one.clear();
            one.push(b);
            let (res, one) = self.stream.write_all(one).await;
            self.one = one;
            if res.is_err() {
                ok = false;
                break;
            }
        }
        *self.out = bytes;
        self.out.clear();
        ok
    }
}

async fn chat(
    w: &Rc<Worker>,
    head: &RequestHead,
    body: &[u8],
    arrival: Nanos,
    stream: &mut impl Io,
    fd: RawFd,
    out: &mut Vec<u8>,
) -> bool {
    let stats = &w.stats;
    let nth = stats.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let req: ChatRequest = match openai::decode_chat_request(body, w.cfg.model.as_deref()) {
        Ok(r) => r,
        Err(e) => return reject(w, &e, !head.keep_alive, stream, out).await,
    };
    if req.stream {
        stats.streaming.fetch_add(1, Ordering::Relaxed);
    }
    stats
        .audio_parts
        .fetch_add(req.audio_parts, Ordering::Relaxed);
    stats
        .audio_micros
        .fetch_add((req.audio_seconds * 1e6).round() as u64, Ordering::Relaxed);

    let fault = w.pick_fault(nth);
    let close = !head.keep_alive || fault == FaultMode::ConnectionClose;
    let plan = TokenPlan::new(w.cfg.output_tokens, w.cfg.reasoning_tokens, req.max_tokens);
    let json = "application/json";
    match fault {
        FaultMode::Http429Json => {
            let body = openai::error_body(
                429,
                "RateLimitError",
                "mock fault: rate limit exceeded, retry later",
            );
            http::write_response(out, 429, json, &body, close);
            return send(stream, out).await && !close;
        }
        FaultMode::Http500Json => {
            let body = openai::error_body(
                500,
                "InternalServerError",
                "mock fault: internal server error",
            );
            http::write_response(out, 500, json, &body, close);
            return send(stream, out).await && !close;
        }
        FaultMode::Http500Text => {
            http::write_response(
                out,
                500,
                "text/plain; charset=utf-8",
                b"Internal Server Error",
                close,
            );
            return send(stream, out).await && !close;
        }
        FaultMode::Http503Html => {
            http::write_response(
                out,
                503,
                "text/html",
                b"<html><body><h1>503 Service Unavailable</h1></body></html>",
                close,
            );
            return send(stream, out).await && !close;
        }
        FaultMode::ResetBeforeHead => {
            set_linger_zero(fd);
            return false;
        }
        FaultMode::BadStatusLine => {
            out.extend_from_slice(
                b"HTTP/1.1 2OO OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}",
            );
            send(stream, out).await;
            return false;
        }
        FaultMode::BadHeaderLine => {
            out.extend_from_slice(b"HTTP/1.1 200 OK\r\nserver: audioperf-mock\r\nthis header line has no colon\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}");
            send(stream, out).await;
            return false;
        }
        FaultMode::OversizedHead => {
            out.extend_from_slice(b"HTTP/1.1 200 OK\r\nserver: audioperf-mock\r\n");
            // 25 headers of 4 KiB: few enough fields that only the size is wrong.
            let mut k = 0;
            while out.len() < OVERSIZED_HEAD_BYTES {
                out.extend_from_slice(format!("x-pad-{k}: ").as_bytes());
                out.resize(out.len() + 4096, b'a');
                out.extend_from_slice(b"\r\n");
                k += 1;
            }
            out.extend_from_slice(b"content-type: application/json\r\ncontent-length: 2\r\n\r\n{}");
            send(stream, out).await;
            return false;
        }
        FaultMode::ContentLengthShort | FaultMode::ContentLengthLong => {
            // A whole JSON completion even when a stream was asked for: the
            // framing is what is wrong, so it is written in one piece.
            let body = openai::completion_body(
                &w.next_id(),
                unix_secs(),
                &req.model,
                req.prompt_tokens,
                &plan,
            );
            let declared = if fault == FaultMode::ContentLengthShort {
                body.len() + SHORT_BY
            } else {
                body.len().saturating_sub(LONG_BY)
            };
            w.timer
                .sleep_until(w.token_due(arrival, plan.total().saturating_sub(1)))
                .await;
            http::write_length_head(out, json, declared, close);
            out.extend_from_slice(&body);
            send(stream, out).await;
            return false;
        }
        _ => {}
    }
    let id = w.next_id();
    let created = unix_secs();
    let mut wr = Writer {
        w,
        stream,
        fd,
        out,
        fault,
        one: Vec::with_capacity(1),
    };
    let ok = if req.stream {
        stream_response(&mut wr, &req, &plan, &id, created, arrival, close).await
    } else {
        whole_response(&mut wr, &req, &plan, &id, created, arrival, close).await
    };
    ok && !close && !fault.closes()
}

async fn reject(
    w: &Worker,
    e: &ApiError,
    close: bool,
    stream: &mut impl Io,
    out: &mut Vec<u8>,
) -> bool {
    w.stats.rejected.fetch_add(1, Ordering::Relaxed);
    http::write_response(out, e.status, "application/json", &e.body(), close);
    send(stream, out).await && !close
}

/// Appends `event` (`data: ...\n\n`) as one chunk, dressed up as the SSE
/// faults ask: comment lines, extra fields, CRLF line ends.
fn push_event<S: Io>(wr: &mut Writer<'_, S>, scratch: &mut Vec<u8>, k: u64, event: &[u8]) {
    match wr.fault {
        FaultMode::SseComments => {
            wr.chunk(b": ping\n\n");
            scratch.clear();
            scratch.extend_from_slice(b": keep-alive comment inside the event\n");
            scratch.extend_from_slice(event);
            wr.chunk(scratch);
        }
        FaultMode::SseFields => {
            scratch.clear();
            scratch.extend_from_slice(format!("event: message\nid: {k}\nretry: 3000\n").as_bytes());
            scratch.extend_from_slice(event);
            wr.chunk(scratch);
        }
        FaultMode::SseCrlf => {
            scratch.clear();
            for &b in event {
                if b == b'\n' {
                    scratch.push(b'\r');
                }
                scratch.push(b);
            }
            wr.chunk(scratch);
        }
        _ => wr.chunk(event),
    }
}

async fn stream_response<S: Io>(
    wr: &mut Writer<'_, S>,
    req: &ChatRequest,
    plan: &TokenPlan,
    id: &str,
    created: u64,
    arrival: Nanos,
    close: bool,
) -> bool {
    let w = wr.w;
    let fault = wr.fault;
    let events = EventBuilder::new(id, created, &req.model);
    let mut event = Vec::with_capacity(512);
    let mut scratch = Vec::with_capacity(512);
    let n = plan.total();
    // Like vLLM, the head and the role-only event leave together with the first
    // token (stall-after-head sends them at once instead, then nothing).
    if fault != FaultMode::StallAfterHead {
        w.timer.sleep_until(w.token_due(arrival, 0)).await;
    }
    if fault == FaultMode::UntilClose {
        wr.out.extend_from_slice(b"HTTP/1.1 200 OK\r\nserver: audioperf-mock\r\ncontent-type: text/event-stream; charset=utf-8\r\nconnection: close\r\n\r\n");
    } else {
        http::write_stream_head(wr.out, close);
    }
    events.role(&mut event);
    push_event(wr, &mut scratch, 0, &event);
    if !wr.flush().await {
        return false;
    }
    if fault == FaultMode::StallAfterHead {
        wait_for_close(wr.stream).await;
        return false;
    }
    let half = n / 2;
    for k in 0..=n {
        if k == half {
            match fault {
                FaultMode::ResetMidStream | FaultMode::CloseMidStream => {
                    if fault == FaultMode::ResetMidStream {
                        set_linger_zero(wr.fd);
                    }
                    return false;
                }
                FaultMode::StallMidStream => {
                    wait_for_close(wr.stream).await;
                    return false;
                }
                FaultMode::BadChunkSize => {
                    wr.out.extend_from_slice(b"zz\r\ndata: {}\n\n\r\n");
                    if wr.flush().await {
                        wait_for_close(wr.stream).await;
                    }
                    return false;
                }
                FaultMode::SseInvalidJson => {
                    push_event(wr, &mut scratch, k, b"data: this is not json\n\n");
                }
                FaultMode::SseErrorEvent => {
                    // What vLLM sends when generation fails mid-stream.
                    event.clear();
                    event.extend_from_slice(b"data: ");
                    event.extend_from_slice(&openai::error_body(
                        500,
                        "InternalServerError",
                        "mock fault: error mid-stream",
                    ));
                    event.extend_from_slice(b"\n\n");
                    push_event(wr, &mut scratch, k, &event);
                    push_event(wr, &mut scratch, k, openai::DONE_EVENT);
                    wr.last_chunk();
                    return wr.flush().await;
                }
                _ => {}
            }
        }
        if k == n {
            break;
        }
        let due = w.token_due(arrival, k);
        w.timer.sleep_until(due).await;
        event.clear();
        events.token(&mut event, openai::word(k), k < plan.reasoning);
        push_event(wr, &mut scratch, k, &event);
        if k == 0 {
            w.stats
                .record_first_token_late(now_ns().saturating_sub(due));
        }
        if !wr.flush().await {
            return false;
        }
    }
    // The closing events are all due with the last token; one chunk per event.
    event.clear();
    events.finish(&mut event, plan.finish_reason);
    push_event(wr, &mut scratch, n, &event);
    if req.include_usage {
        event.clear();
        events.usage(&mut event, req.prompt_tokens, plan);
        push_event(wr, &mut scratch, n, &event);
    }
    push_event(wr, &mut scratch, n, openai::DONE_EVENT);
    wr.last_chunk();
    wr.flush().await
}

async fn whole_response<S: Io>(
    wr: &mut Writer<'_, S>,
    req: &ChatRequest,
    plan: &TokenPlan,
    id: &str,
    created: u64,
    arrival: Nanos,
    close: bool,
) -> bool {
    let w = wr.w;
    let fault = wr.fault;
    let json = "application/json";
    let body = openai::completion_body(id, created, &req.model, req.prompt_tokens, plan);
    let chunked = matches!(
        fault,
        FaultMode::BadChunkSize | FaultMode::ChunkExtensions | FaultMode::SplitBytes
    );
    if chunked {
        http::write_chunked_head(wr.out, json, close);
    } else if fault == FaultMode::UntilClose {
        wr.out.extend_from_slice(b"HTTP/1.1 200 OK\r\nserver: audioperf-mock\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n");
    } else {
        http::write_length_head(wr.out, json, body.len(), close);
    }
    if fault == FaultMode::StallAfterHead {
        // Everything but the body: the head ends at the blank line.
        if wr.flush().await {
            wait_for_close(wr.stream).await;
        }
        return false;
    }
    w.timer
        .sleep_until(w.token_due(arrival, plan.total().saturating_sub(1)))
        .await;
    let (first, second) = body.split_at(body.len() / 2);
    match fault {
        FaultMode::ResetMidStream | FaultMode::CloseMidStream | FaultMode::StallMidStream => {
            wr.out.extend_from_slice(first);
            let sent = wr.flush().await;
            match fault {
                FaultMode::ResetMidStream => set_linger_zero(wr.fd),
                FaultMode::StallMidStream if sent => wait_for_close(wr.stream).await,
                _ => {}
            }
            false
        }
        FaultMode::BadChunkSize => {
            wr.chunk(first);
            wr.out.extend_from_slice(b"zz\r\n");
            wr.out.extend_from_slice(second);
            if wr.flush().await {
                wait_for_close(wr.stream).await;
            }
            false
        }
        _ if chunked => {
            wr.chunk(first);
            wr.chunk(second);
            wr.last_chunk();
            wr.flush().await
        }
        _ => {
            wr.out.extend_from_slice(&body);
            wr.flush().await
        }
    }
}

/// Yields to the runtime once (the task is re-queued behind those already
/// woken).
struct YieldNow(bool);

impl std::future::Future for YieldNow {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}
