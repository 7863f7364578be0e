//! The run's data model: what the engine measured, and nothing derived.
//! Workers fill one `RequestRecord` per request (timestamps are plain integers
//! copied in, no allocation per event) and hand it, as it finishes, to the
//! `RecordQueue` that the collector drains while the run goes (so records
//! never pile up in memory); at the end the engine returns its `WorkerStats`
//! as one `RunOutput`. `metrics` derives every number users see from these,
//! and `report` writes the exports.

use crate::sys::clock::{ClockAnchor, Nanos};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A request that has finished, on its way from a worker to the collector.
#[derive(Debug)]
pub struct Finished {
    pub record: RequestRecord,
    /// The generated text (reasoning first, then content); `record`'s
    /// `output_text` and `reasoning_text` index it. Empty unless the queue
    /// asked for text (`RecordQueue::wants_text`).
    pub text: Box<[u8]>,
    /// The response as received; empty unless the queue asked for it
    /// (`RecordQueue::wants_raw`, `--export-level raw`).
    pub raw: RawResponse,
}

/// What a `RawResponse` piece is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawKind {
    /// The data of one SSE event.
    SseData,
    /// A whole (non-streaming or error) body.
    Body,
}

/// A request's response as it arrived, for `--export-level raw`: each SSE
/// event's data, or the whole body, with the time it was read. One buffer
/// per request (`[ns u64][kind u8][len u32][bytes]` per piece), filled only
/// when the raw export is on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawResponse {
    buf: Vec<u8>,
}

impl RawResponse {
    const PIECE_HEAD: usize = 8 + 1 + 4;

    pub fn push(&mut self, at: Nanos, kind: RawKind, data: &[u8]) {
        // A piece longer than u32::MAX is cut (bodies are capped far below).
        let len = data.len().min(u32::MAX as usize);
        self.buf.reserve(Self::PIECE_HEAD + len);
        self.buf.extend_from_slice(&at.to_le_bytes());
        self.buf.push(match kind {
            RawKind::SseData => 0,
            RawKind::Body => 1,
        });
        self.buf.extend_from_slice(&(len as u32).to_le_bytes());
        self.buf.extend_from_slice(&data[..len]);
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The pieces in arrival order.
    pub fn pieces(&self) -> impl Iterator<Item = (Nanos, RawKind, &[u8])> + '_ {
        let mut at = 0;
        std::iter::from_fn(move || {
            let head = self.buf.get(at..at + Self::PIECE_HEAD)?;
            let ns = Nanos::from_le_bytes(head[..8].try_into().ok()?);
            let kind = if head[8] == 0 {
                RawKind::SseData
            } else {
                RawKind::Body
            };
            let len = u32::from_le_bytes(head[9..13].try_into().ok()?) as usize;
            let data = self
                .buf
                .get(at + Self::PIECE_HEAD..at + Self::PIECE_HEAD + len)?;
            at += Self::PIECE_HEAD + len;
            Some((ns, kind, data))
        })
    }
}

/// The bounded queue between the workers and the collector: lock-free, and
/// a worker never waits on it. When it is full (the collector, which writes
/// the JSONL, cannot keep up with the disk) the record is dropped and
/// counted instead of stalling the worker or growing without bound.
#[derive(Debug)]
pub struct RecordQueue {
    queue: crossbeam_queue::ArrayQueue<Finished>,
    wants_text: bool,
    wants_raw: bool,
    dropped: AtomicU64,
    /// Set once every worker has ended: the collector drains and stops.
    closed: AtomicBool,
}

impl RecordQueue {
    /// A queue of `capacity` records; `wants_text`: workers attach each
    /// request's generated text (a tokenizer counts it).
    pub fn new(capacity: usize, wants_text: bool) -> RecordQueue {
        RecordQueue {
            queue: crossbeam_queue::ArrayQueue::new(capacity.max(1)),
            wants_text,
            wants_raw: false,
            dropped: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        }
    }

    pub fn wants_text(&self) -> bool {
        self.wants_text
    }

    /// Workers also attach each response as received (`--export-level raw`).
    pub fn with_raw(mut self, on: bool) -> RecordQueue {
        self.wants_raw = on;
        self
    }

    pub fn wants_raw(&self) -> bool {
        self.wants_raw
    }

    /// Hands a record over; never blocks. Drops (and counts) it when full.
    pub fn push(&self, f: Finished) {
        if self.queue.push(f).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn pop(&self) -> Option<Finished> {
        self.queue.pop()
    }

    /// Records dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub fn capacity(&self) -> usize {
        self.queue.capacity()
    }

    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// Everything a run produced, handed to `metrics` and `report`.
#[derive(Debug, Default)]
pub struct RunOutput {
    /// Requests held in memory: empty after a real run (its records went
    /// through the `RecordQueue`); tests and benchmarks build runs by hand
    /// and compute them with `metrics::compute`.
    pub records: Vec<RequestRecord>,
    /// Per worker: the generated text referenced by `RequestRecord::output_text`
    /// of `records`.
    pub text_arenas: Vec<Vec<u8>>,
    /// Monotonic/wall anchor taken at start, for wall-clock exports.
    pub anchor: Option<ClockAnchor>,
    pub workers: Vec<WorkerStats>,
    /// The I/O driver the workers ran on (`None` when no run set it).
    pub io_driver: Option<IoDriver>,
    /// The run was stopped before finishing: interrupted (SIGINT/SIGTERM)
    /// or by `--failed-request-threshold`.
    pub was_cancelled: bool,
    /// Why the run was stopped, for the exports (`stop_reason`).
    pub stop_reason: Option<String>,
    /// Why the I/O driver is what it is (e.g. the io_uring set-up error).
    pub driver_notes: Vec<String>,
    /// Records the `RecordQueue` dropped (not in the JSONL or any metric).
    pub dropped_records: u64,
    /// `--start-at`: how late the first phase started after it (0: on time).
    pub start_late_ns: Option<Nanos>,
    /// Each `--url` server (in order) and whether it went down during the run.
    pub servers: Vec<ServerOutcome>,
}

/// One `--url` server after the run: its URL, and when (monotonic ns) and
/// why it was marked down, if it was.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerOutcome {
    pub url: String,
    pub down: Option<(Nanos, String)>,
}

impl RunOutput {
    /// The generated text (reasoning + content) of a record.
    pub fn output_text(&self, r: &RequestRecord) -> &[u8] {
        self.text_arenas
            .get(r.worker as usize)
            .and_then(|a| a.get(r.output_text.clone()))
            .unwrap_or(&[])
    }
}

/// The kernel interface a worker's runtime drives its sockets with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IoDriver {
    IoUring,
    /// Where io_uring is refused, or forced with `AUDIOPERF_IO_DRIVER=epoll`.
    Epoll,
}

impl IoDriver {
    /// The name shown in the console and written to the exports.
    pub fn as_str(self) -> &'static str {
        match self {
            IoDriver::IoUring => "io_uring",
            IoDriver::Epoll => "epoll",
        }
    }
}

/// What one worker thread measured about itself.
#[derive(Clone, Debug, Default)]
pub struct WorkerStats {
    pub worker: u16,
    /// CPU time the thread used (user + system), from clock_gettime(CLOCK_THREAD_CPUTIME_ID).
    pub cpu_ns: Nanos,
    /// Wall time the worker was running.
    pub wall_ns: Nanos,
    /// Requests this worker completed (any outcome).
    pub requests: u64,
    /// SSE events this worker processed.
    pub events: u64,
    /// Bytes read from the network.
    pub bytes_read: u64,
    /// Loop lag: max observed lateness of the worker's timer wake-ups.
    pub max_loop_lag_ns: Nanos,
    pub p99_loop_lag_ns: Nanos,
    /// Lateness of the worker's periodic timer, merged over workers at the end.
    pub loop_lag: Option<hdrhistogram::Histogram<u64>>,
    /// Per request: start stamp to the first bytes handed to the kernel.
    pub send_lag: Option<hdrhistogram::Histogram<u64>>,
    /// Per kernel-stamped read: the read's completion minus the kernel's
    /// receive stamp (what user-space stamps would have added).
    pub wake_lag: Option<hdrhistogram::Histogram<u64>>,
    /// What the sends and reads did on the kernel paths.
    pub io: IoCounts,
}

/// A worker's sends and reads by path (`--zero-copy`, `--rx-stamps`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct IoCounts {
    pub zero_copy_sends: u64,
    /// Zero-copy sends the kernel has reported done, and of those, copied anyway.
    pub zero_copy_notified: u64,
    pub zero_copy_copied: u64,
    pub copy_sends: u64,
    pub kernel_stamped_reads: u64,
    pub user_stamped_reads: u64,
    /// Read-batching windows slept (`--read-batch-us`), and the reads made
    /// after them.
    pub batch_windows: u64,
    pub batch_window_reads: u64,
}

impl IoCounts {
    pub fn add(&mut self, o: &IoCounts) {
        self.zero_copy_sends += o.zero_copy_sends;
        self.zero_copy_notified += o.zero_copy_notified;
        self.zero_copy_copied += o.zero_copy_copied;
        self.copy_sends += o.copy_sends;
        self.kernel_stamped_reads += o.kernel_stamped_reads;
        self.user_stamped_reads += o.user_stamped_reads;
        self.batch_windows += o.batch_windows;
        self.batch_window_reads += o.batch_window_reads;
    }
}

/// Which part of the run a request belongs to. Warmup requests are never part
/// of the profiling metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Warmup,
    Profiling,
}

/// Token usage as reported by the server's `usage` object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    /// `usage.completion_tokens_details.reasoning_tokens`, when the server sends it.
    pub reasoning_tokens: Option<u64>,
}

/// Why a request failed. `as_str` is the error type shown in `error_summary`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// TCP connect failed (refused, unreachable, unresolvable).
    Connect,
    /// TLS handshake or certificate failure.
    Tls,
    /// The server answered with a non-2xx status.
    HttpStatus,
    /// The response head could not be parsed (bad status line, headers, too large).
    MalformedHead,
    /// The body framing was broken (bad chunk size, content-length mismatch).
    MalformedBody,
    /// The connection was reset or closed before the response was complete.
    ConnectionClosed,
    /// The SSE stream carried an `error` object or data that is not valid JSON.
    StreamError,
    /// The (non-streaming) body was not a valid chat completion.
    InvalidResponse,
    /// `--request-timeout-seconds` elapsed.
    Timeout,
    /// Any other I/O error.
    Io,
    /// Cancelled on purpose: `--request-cancellation-rate`, the end of the
    /// grace period, or an interrupt. Counted apart from errors.
    Cancelled,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connect => "ConnectionError",
            ErrorKind::Tls => "TLSError",
            ErrorKind::HttpStatus => "HTTPError",
            ErrorKind::MalformedHead => "MalformedResponseHead",
            ErrorKind::MalformedBody => "MalformedResponseBody",
            ErrorKind::ConnectionClosed => "ConnectionClosed",
            ErrorKind::StreamError => "StreamError",
            ErrorKind::InvalidResponse => "InvalidResponse",
            ErrorKind::Timeout => "RequestTimeout",
            ErrorKind::Io => "IOError",
            ErrorKind::Cancelled => "RequestCancellationError",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RequestError {
    pub kind: ErrorKind,
    /// HTTP status when the server answered one.
    pub code: Option<u16>,
    pub message: String,
}

/// Token event times kept per request (8 bytes each): a stream without end
/// must not take the host's memory.
pub const MAX_TOKEN_TIMES: usize = 1 << 20;

/// One request, as measured. All `*_ns` are monotonic (`clock::now_ns`).
#[derive(Clone, Debug, Default)]
pub struct RequestRecord {
    /// Sequence number over the whole run (all workers), from 0.
    pub request_id: u64,
    /// Index of the dataset entry (conversation) that was sent.
    pub dataset_index: u32,
    pub worker: u16,
    /// Index of the `--url` server it went to (0 with one server).
    pub server: u16,
    pub warmup: bool,
    /// Intended send time in open-loop (request-rate) mode; None in closed loop.
    pub intended_start_ns: Option<Nanos>,
    /// Open loop: the arrival found no free connection and had to wait for one.
    pub waited_for_connection: bool,
    /// When the request took its connection slot: in closed loop when its
    /// slot claimed it, in open loop when a slot took the arrival.
    pub slot_ns: Nanos,
    /// Open loop: when the arrival was queued because no connection was free
    /// (`http_req_blocked` runs from here to `slot_ns`).
    pub queued_ns: Option<Nanos>,
    /// Latency origin: `send_ns`, or the start of the connect when a
    /// connection lost mid-run was re-opened for this request (that connect
    /// is then part of its latency).
    pub start_ns: Nanos,
    /// Taken just before the first request byte is handed to the kernel.
    pub send_ns: Nanos,
    /// The write of the last request byte completed.
    pub sent_ns: Nanos,
    /// Set-up time (TCP connect, then TLS) of the connection when this is
    /// the first request it carries; `None` on a reused connection.
    pub conn_setup_ns: Option<Nanos>,
    /// Write calls that carried the request's bytes.
    pub send_writes: u32,
    /// Reads that returned bytes of the response (head included).
    pub recv_reads: u32,
    /// Response body bytes after de-chunking (no head, no chunk framing).
    pub body_bytes_received: u64,
    /// The first byte of the response head arrived (the read completing it).
    pub ack_ns: Option<Nanos>,
    /// First event carrying content or reasoning content.
    pub first_token_ns: Option<Nanos>,
    /// Second event carrying content or reasoning content.
    pub second_token_ns: Option<Nanos>,
    /// First event carrying non-reasoning content.
    pub first_output_ns: Option<Nanos>,
    /// Last event carrying content or reasoning (streaming).
    pub last_token_ns: Option<Nanos>,
    /// The response was complete (or the request failed).
    pub end_ns: Nanos,
    /// Number of SSE events that carried content or reasoning.
    pub token_events: u32,
    /// Arrival time (the read that brought it) of each such event, in order,
    /// the first `MAX_TOKEN_TIMES` of them.
    pub token_ns: Box<[Nanos]>,
    /// HTTP status of the response, when a head was parsed.
    pub status: Option<u16>,
    pub usage: Option<Usage>,
    /// Byte range in the worker's text arena holding the generated content
    /// (reasoning first, then content), kept for tokenizer-based counting.
    pub output_text: std::ops::Range<usize>,
    /// Byte range in the worker's text arena holding the reasoning content.
    pub reasoning_text: std::ops::Range<usize>,
    /// The request was cancelled on purpose (cancellation rate, end of run).
    pub cancelled: bool,
    pub error: Option<RequestError>,
}

impl RequestRecord {
    pub fn phase(&self) -> Phase {
        if self.warmup {
            Phase::Warmup
        } else {
            Phase::Profiling
        }
    }

    /// A request counts towards metrics only when it succeeded and was not cancelled.
    pub fn is_success(&self) -> bool {
        self.error.is_none() && !self.cancelled
    }

    /// Failed for a reason other than a deliberate cancellation.
    pub fn is_error(&self) -> bool {
        self.error.is_some() && !self.cancelled
    }

    /// Send time minus intended time (open loop), in ns.
    pub fn schedule_lag_ns(&self) -> Option<Nanos> {
        self.intended_start_ns
            .map(|i| self.start_ns.saturating_sub(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_pieces_come_back_in_order() {
        let mut raw = RawResponse::default();
        assert!(raw.is_empty() && raw.pieces().next().is_none());
        raw.push(5, RawKind::SseData, b"{\"a\":1}");
        raw.push(7, RawKind::SseData, b"");
        raw.push(9, RawKind::Body, b"[DONE]");
        let got: Vec<_> = raw.pieces().collect();
        assert_eq!(
            got,
            [
                (5, RawKind::SseData, &b"{\"a\":1}"[..]),
                (7, RawKind::SseData, &b""[..]),
                (9, RawKind::Body, &b"[DONE]"[..]),
            ]
        );
    }
}
