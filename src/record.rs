//! The per-request record: what the engine measured about one request, and
//! nothing derived. Workers fill one `RequestRecord` per request (timestamps are
//! plain integers copied in, no allocation per event); `metrics` derives every
//! number users see from these fields after the run.

use crate::units::Nanos;
use serde::Serialize;

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

/// One request, as measured. All `*_ns` are monotonic (`units::now_ns`).
#[derive(Clone, Debug, Default)]
pub struct RequestRecord {
    /// Sequence number over the whole run (all workers), from 0.
    pub request_id: u64,
    /// Index of the dataset entry (conversation) that was sent.
    pub dataset_index: u32,
    pub worker: u16,
    pub warmup: bool,
    /// Intended send time in open-loop (request-rate) mode; None in closed loop.
    pub intended_start_ns: Option<Nanos>,
    /// Open loop: the arrival found no free connection and had to wait for one.
    pub waited_for_connection: bool,
    /// Taken just before the request bytes are written.
    pub start_ns: Nanos,
    /// Time spent re-opening the connection mid-run, included in this
    /// request's latency (`start_ns` is then the start of the connect).
    pub connect_ns: Option<Nanos>,
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
