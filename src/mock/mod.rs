//! The built-in OpenAI-compatible mock server (`audioperf mock-server`).
//!
//! It answers `POST /v1/chat/completions` (streaming and not) the way vLLM does,
//! with exact, drift-free token timing, validates every `input_audio` part it
//! receives, and counts what it served (`GET /v1/mock/stats`). Tests, examples and
//! benchmarks run against it.
//!
//! Layout: this file holds the CLI arguments, the shared counters and the entry
//! points; `server` the per-core accept/serve loop, `http` request-head parsing
//! and response framing, `timer` the precise per-worker sleep, `audio` WAV/MP3
//! validation and `openai` request decoding and response bodies.

pub mod arrival;
pub mod audio;
pub mod http;
pub mod openai;
pub mod server;
pub mod tls;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use hdrhistogram::Histogram;

/// Arguments of `audioperf mock-server`.
#[derive(clap::Args, Debug, Clone)]
pub struct MockServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on; 0 picks a free port (the real one is printed).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Time to first token, milliseconds, from when the request's first bytes
    /// reached the host (the kernel's receive stamp).
    #[arg(long = "ttft-ms", default_value_t = 50.0)]
    pub ttft_ms: f64,
    /// Gap between consecutive tokens, milliseconds.
    #[arg(long = "itl-ms", default_value_t = 10.0)]
    pub itl_ms: f64,
    /// Content tokens per response; a request's max_completion_tokens / max_tokens caps
    /// reasoning + content tokens together.
    #[arg(long = "output-tokens", default_value_t = 20)]
    pub output_tokens: u64,
    /// Reasoning tokens per response, sent as delta.reasoning_content before the content.
    #[arg(long = "reasoning-tokens", default_value_t = 0)]
    pub reasoning_tokens: u64,
    /// Worker threads (one runtime per core); default: number of cores.
    #[arg(long)]
    pub workers: Option<usize>,
    /// Served model name (listed by /v1/models; other names get 404). Default: any name.
    #[arg(long)]
    pub model: Option<String>,
    /// Fault to inject into a fraction of responses (see --fault-rate).
    #[arg(long, value_enum, default_value_t = FaultMode::None)]
    pub fault: FaultMode,
    /// Fraction of chat-completion requests that get the fault, 0..=1 (a seeded
    /// per-worker draw for each request).
    #[arg(long = "fault-rate", default_value_t = 1.0)]
    pub fault_rate: f64,
    /// Targeted instead of random: exactly every Nth chat-completion request
    /// (counted over all workers, from 1) gets the fault; 1 = every request.
    /// Overrides --fault-rate.
    #[arg(long = "fault-every", value_parser = clap::value_parser!(u64).range(1..))]
    pub fault_every: Option<u64>,
    /// Gap between bytes for `--fault trickle`, microseconds.
    #[arg(long = "trickle-us", default_value_t = 100)]
    pub trickle_us: u64,
    /// Largest request body accepted, bytes (413 above).
    #[arg(long = "max-body-bytes", default_value_t = 256 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long = "tls-cert", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long = "tls-key", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Serve HTTPS with a certificate for 127.0.0.1/localhost generated at start.
    #[arg(long = "tls-self-signed", conflicts_with_all = ["tls_cert", "tls_key"])]
    pub tls_self_signed: bool,
    /// Where --tls-self-signed writes its certificate (PEM), for clients to trust.
    #[arg(long = "tls-cert-out", requires = "tls_self_signed")]
    pub tls_cert_out: Option<std::path::PathBuf>,
}

impl Default for MockServerArgs {
    fn default() -> Self {
        MockServerArgs {
            host: "127.0.0.1".into(),
            port: 8000,
            ttft_ms: 50.0,
            itl_ms: 10.0,
            output_tokens: 20,
            reasoning_tokens: 0,
            workers: None,
            model: None,
            fault: FaultMode::None,
            fault_rate: 1.0,
            fault_every: None,
            trickle_us: 100,
            max_body_bytes: 256 * 1024 * 1024,
            tls_cert: None,
            tls_key: None,
            tls_self_signed: false,
            tls_cert_out: None,
        }
    }
}

/// Faults the server can inject, for testing how a client reports failures.
///
/// Each applies to a chat-completions request picked by `--fault-every` or
/// `--fault-rate`. The `sse-*` faults only change streamed responses; the
/// framing faults (`bad-chunk-size`, `chunk-extensions`, `split-bytes`,
/// `trickle`, stalls, resets) apply to streamed and whole responses alike.
/// Faults marked "valid" are odd but legal HTTP/SSE: a client must succeed.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultMode {
    /// No fault.
    None,
    /// `429 Too Many Requests` with an OpenAI-style JSON error body (`RateLimitError`).
    #[value(name = "http429-json")]
    Http429Json,
    /// `500` with an OpenAI-style JSON error body.
    #[value(name = "http500-json")]
    Http500Json,
    /// `500` with a plain-text (non-JSON) body.
    #[value(name = "http500-text")]
    Http500Text,
    /// `503` with an HTML (non-JSON) body, as a proxy in front of a dead server sends.
    #[value(name = "http503-html")]
    Http503Html,
    /// TCP reset (SO_LINGER 0) after reading the request, before any response byte.
    #[value(name = "reset-before-head")]
    ResetBeforeHead,
    /// TCP reset (SO_LINGER 0) halfway through the tokens.
    #[value(name = "reset-mid-stream")]
    ResetMidStream,
    /// Orderly close halfway through the tokens: no finish chunk, no `[DONE]`.
    #[value(name = "close-mid-stream")]
    CloseMidStream,
    /// Send the response head (and role chunk when streaming), then nothing more.
    #[value(name = "stall-after-head")]
    StallAfterHead,
    /// Send half the tokens (half the body when not streaming), then nothing more.
    #[value(name = "stall-mid-stream")]
    StallMidStream,
    /// Answer normally but with `Connection: close`, closing after each response.
    #[value(name = "connection-close")]
    ConnectionClose,
    /// A status line that is not HTTP (`HTTP/1.1 2OO OK`), then close.
    #[value(name = "bad-status-line")]
    BadStatusLine,
    /// A header line without a colon, then close.
    #[value(name = "bad-header-line")]
    BadHeaderLine,
    /// A 200 head carrying 100 KiB of headers, then close.
    #[value(name = "oversized-head")]
    OversizedHead,
    /// A chunk size line that is not hex (`zz`) halfway through the body, then a stall.
    #[value(name = "bad-chunk-size")]
    BadChunkSize,
    /// Valid: every chunk carries extensions (`;ext=1`) and the last chunk trailers.
    #[value(name = "chunk-extensions")]
    ChunkExtensions,
    /// A whole (non-chunked) response whose body is shorter than its
    /// Content-Length, then an orderly close.
    #[value(name = "content-length-short")]
    ContentLengthShort,
    /// A whole response whose body is 16 bytes longer than its Content-Length, then close.
    #[value(name = "content-length-long")]
    ContentLengthLong,
    /// Streaming: a `data:` line that is not JSON halfway through (then the stream goes on).
    #[value(name = "sse-invalid-json")]
    SseInvalidJson,
    /// Valid, streaming: `: ping` comment events and comment lines inside events.
    #[value(name = "sse-comments")]
    SseComments,
    /// Valid, streaming: `event:`, `id:` and `retry:` fields in every event.
    #[value(name = "sse-fields")]
    SseFields,
    /// Valid, streaming: CRLF line ends in the event stream.
    #[value(name = "sse-crlf")]
    SseCrlf,
    /// Streaming: an OpenAI `error` object halfway through, then `[DONE]`.
    #[value(name = "sse-error-event")]
    SseErrorEvent,
    /// Valid: every byte of the response in its own write (and, when chunked,
    /// its own chunk).
    #[value(name = "split-bytes")]
    SplitBytes,
    /// Valid: the response one byte per write, `--trickle-us` apart.
    #[value(name = "trickle")]
    Trickle,
    /// Valid: no Content-Length and no chunking; the body ends when the
    /// server closes the connection (HTTP/1.0 style, `Connection: close`).
    #[value(name = "until-close")]
    UntilClose,
}

impl FaultMode {
    /// Faults after which the server closes the connection (it never serves
    /// another request on it).
    pub fn closes(self) -> bool {
        !matches!(
            self,
            FaultMode::None
                | FaultMode::Http429Json
                | FaultMode::Http500Json
                | FaultMode::Http500Text
                | FaultMode::Http503Html
                | FaultMode::ChunkExtensions
                | FaultMode::SseInvalidJson
                | FaultMode::SseComments
                | FaultMode::SseFields
                | FaultMode::SseCrlf
                | FaultMode::SseErrorEvent
                | FaultMode::SplitBytes
                | FaultMode::Trickle
        )
    }
}

/// Counters since start, summed over workers. Atomics are fine here: the server
/// is not the client's hot path, and one relaxed add per request is noise.
#[derive(Debug, Default)]
pub struct Stats {
    /// Chat-completion requests received (including rejected ones).
    pub requests: AtomicU64,
    /// Of those, requests asking for a stream.
    pub streaming: AtomicU64,
    /// Valid `input_audio` parts seen.
    pub audio_parts: AtomicU64,
    /// Sum of the valid parts' durations, microseconds.
    pub audio_micros: AtomicU64,
    /// Requests answered with a 4xx.
    pub rejected: AtomicU64,
    /// How late the first token of each stream left, after its deadline
    /// (arrival + TTFT), in ns: the mock's own share of a client's TTFT error.
    /// One lock per stream, not per event.
    pub first_token_late: Mutex<Option<Histogram<u64>>>,
}

impl Stats {
    /// Records that a stream's first token was written `late_ns` after its deadline.
    pub fn record_first_token_late(&self, late_ns: u64) {
        if let Ok(mut h) = self.first_token_late.lock() {
            if h.is_none() {
                // 1 ns to 1 hour, 3 significant digits; beyond saturates.
                *h = Histogram::new_with_bounds(1, 3_600_000_000_000, 3).ok();
            }
            if let Some(h) = h.as_mut() {
                h.saturating_record(late_ns);
            }
        }
    }

    /// The `/v1/mock/stats` JSON body.
    pub fn to_json(&self) -> String {
        let late = match self.first_token_late.lock() {
            Ok(h) => match h.as_ref() {
                Some(h) if !h.is_empty() => serde_json::json!({
                    "count": h.len(),
                    "p50": h.value_at_quantile(0.50) as f64 / 1e3,
                    "p90": h.value_at_quantile(0.90) as f64 / 1e3,
                    "p99": h.value_at_quantile(0.99) as f64 / 1e3,
                    "max": h.max() as f64 / 1e3,
                }),
                _ => serde_json::json!({"count": 0}),
            },
            Err(_) => serde_json::Value::Null,
        };
        serde_json::json!({
            "requests": self.requests.load(Ordering::Relaxed),
            "streaming": self.streaming.load(Ordering::Relaxed),
            "audio_parts": self.audio_parts.load(Ordering::Relaxed),
            "audio_seconds": self.audio_micros.load(Ordering::Relaxed) as f64 / 1e6,
            "rejected": self.rejected.load(Ordering::Relaxed),
            "first_token_late_us": late,
        })
        .to_string()
    }

    /// Back to zero (`DELETE /v1/mock/stats`), so one server can serve
    /// several measured runs.
    pub fn reset(&self) {
        for c in [
            &self.requests,
            &self.streaming,
            &self.audio_parts,
            &self.audio_micros,
            &self.rejected,
        ] {
            c.store(0, Ordering::Relaxed);
        }
        if let Ok(mut h) = self.first_token_late.lock() {
            *h = None;
        }
    }
}

/// A running server: its address, counters, and the means to stop it.
pub struct MockServer {
    addr: SocketAddr,
    /// Serving HTTPS.
    tls: bool,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
}

impl MockServer {
    /// The address every worker listens on (the real port when 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Live counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Stops every worker (within ~20 ms) and waits for them; open connections are dropped.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Starts the workers and returns once every one of them listens.
pub fn spawn(args: MockServerArgs) -> anyhow::Result<MockServer> {
    validate(&args)?;
    let stats = Arc::new(Stats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let tls = tls::server_config(&args)?;
    let is_tls = tls.is_some();
    let (addr, workers) = server::start(&args, tls, stats.clone(), stop.clone())?;
    Ok(MockServer {
        addr,
        tls: is_tls,
        stats,
        stop,
        workers,
    })
}

/// Serves until SIGINT or SIGTERM. Prints exactly one line to stdout once every
/// worker listens: `audioperf mock-server listening on http://HOST:PORT`
/// (`https://` with TLS).
pub fn run(args: MockServerArgs) -> anyhow::Result<()> {
    // Block the stop signals before any worker exists so that every thread inherits
    // the mask and only this thread's sigwait sees them.
    let set = stop_signal_set();
    // SAFETY: `set` is a valid, initialised sigset_t; a null old-set pointer is allowed.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        anyhow::bail!(
            "could not block SIGINT/SIGTERM: {}",
            std::io::Error::from_raw_os_error(rc)
        );
    }
    let server = spawn(args)?;
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "audioperf mock-server listening on {}://{}",
            if server.tls { "https" } else { "http" },
            server.addr()
        )?;
        out.flush()?;
    }
    let mut sig: libc::c_int = 0;
    // SAFETY: both pointers refer to live locals.
    let rc = unsafe { libc::sigwait(&set, &mut sig) };
    if rc != 0 {
        anyhow::bail!("sigwait failed: {}", std::io::Error::from_raw_os_error(rc));
    }
    server.shutdown();
    Ok(())
}

fn stop_signal_set() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the zeroed set; the signal numbers are valid.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        set
    }
}

fn validate(args: &MockServerArgs) -> anyhow::Result<()> {
    if !(args.ttft_ms.is_finite() && args.ttft_ms >= 0.0) {
        anyhow::bail!(
            "--ttft-ms must be a finite number >= 0, got {}",
            args.ttft_ms
        );
    }
    if !(args.itl_ms.is_finite() && args.itl_ms >= 0.0) {
        anyhow::bail!("--itl-ms must be a finite number >= 0, got {}", args.itl_ms);
    }
    if !(0.0..=1.0).contains(&args.fault_rate) {
        anyhow::bail!("--fault-rate must be within 0..=1, got {}", args.fault_rate);
    }
    if args.workers == Some(0) {
        anyhow::bail!("--workers must be at least 1");
    }
    Ok(())
}
