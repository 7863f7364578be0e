//! The built-in OpenAI-compatible mock server (`audioperf mock-server`).
//!
//! It answers `POST /v1/chat/completions` (streaming and not) the way vLLM does,
//! and `POST /v1/audio/transcriptions` (multipart, `transcription`) in OpenAI's
//! or vLLM's stream form,
//! with exact, drift-free token timing, validates every `input_audio` part it
//! receives, and counts what it served (`GET /v1/mock/stats`). Tests, examples and
//! benchmarks run against it.
//!
//! Layout, in the order a request meets it: this file holds the CLI arguments
//! and the entry points (`spawn`, `run`); `server` binds one listener per
//! worker and starts the worker threads, whose state is in `worker`;
//! `connection` reads each request off a connection (head, limits, body) and
//! `route` dispatches it; `respond` answers a chat completion, streamed or
//! whole, applying the fault `fault` picked for it, through `writer`, which
//! frames what it sends as the framing faults ask, onto `socket`, the
//! connection's reads and writes (with the kernel's arrival stamps, `sys::rx_stamp`).
//! Below them: `http` request-head parsing and response heads, `openai`
//! request decoding and response bodies, `audio` WAV/MP3 validation, `stats`
//! the counters, `tls` the HTTPS configuration.

pub mod audio;
mod connection;
mod fault;
pub mod http;
pub mod openai;
pub mod prometheus;
mod respond;
mod route;
pub mod server;
mod socket;
mod stats;
pub mod tls;
mod transcription;
mod worker;
mod writer;

#[cfg(test)]
mod tests;

use openai::TranscriptStream;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

pub use fault::FaultMode;
pub use stats::Stats;

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
    /// reached the host (the kernel's receive stamp; with TLS, when they are
    /// decrypted).
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
    /// How transcriptions stream: OpenAI's `transcript.text.delta` events
    /// (`openai`) or vLLM's `transcription.chunk` objects (`vllm`).
    #[arg(long = "transcription-stream", value_enum, default_value_t = TranscriptStream::Openai)]
    pub transcription_stream: TranscriptStream,
    /// Put the mock's own timing of each chat stream into its first token
    /// event, as `"mock_timing":{"arrival_ns":…,"handed_ns":…}` (wall clock:
    /// the kernel's receive stamp of the request's first bytes, and the
    /// moment before the mock's send of that event), so a benchmark can
    /// compare a client's TTFT with the server's, request by request.
    #[arg(long = "timing-in-stream")]
    pub timing_in_stream: bool,
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
            transcription_stream: TranscriptStream::Openai,
            timing_in_stream: false,
            tls_cert: None,
            tls_key: None,
            tls_self_signed: false,
            tls_cert_out: None,
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

    /// Stops every worker (each checks the stop flag every 10 ms) and waits for
    /// them; open connections are dropped.
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
