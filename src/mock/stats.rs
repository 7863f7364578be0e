//! What the server counts (`GET /v1/mock/stats`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use hdrhistogram::Histogram;

/// Counters since start, summed over workers. Atomics are fine here: the server
/// is not the client's hot path, and one relaxed add per request is noise.
#[derive(Debug, Default)]
pub struct Stats {
    /// Chat-completion requests whose body was read, valid or not (a request
    /// refused on its head is not counted).
    pub requests: AtomicU64,
    /// Of the valid ones, those asking for a stream.
    pub streaming: AtomicU64,
    /// `input_audio` parts of the valid requests.
    pub audio_parts: AtomicU64,
    /// Sum of those parts' durations, microseconds.
    pub audio_micros: AtomicU64,
    /// Requests refused: a bad head or an oversized body on any path (400, 411,
    /// 413, 431), or a chat-completions body that does not decode (400, or 404
    /// for another model). Unknown paths, wrong methods and fault responses are
    /// not counted.
    pub rejected: AtomicU64,
    /// How late the first token of each stream was handed to the socket, after
    /// its deadline (arrival + TTFT), in ns: the mock's own share of a client's
    /// TTFT error. One lock per stream, not per event.
    pub first_token_late: Mutex<Option<Histogram<u64>>>,
    /// Arrival (the kernel's receive stamp of the request's first bytes) to
    /// the moment the write carrying the first token returned, in ns: the
    /// upper end of the server-side TTFT a client's own TTFT is compared with
    /// (the lower end is TTFT + `first_token_late`).
    pub first_token_written: Mutex<Option<Histogram<u64>>>,
    /// What `/metrics` shows (vLLM's names); not reset by `DELETE /v1/mock/stats`
    /// (Prometheus counters only grow).
    pub prometheus: super::prometheus::Metrics,
}

impl Stats {
    /// Records that a stream's first token was handed to the socket `late_ns`
    /// after its deadline.
    pub fn record_first_token_late(&self, late_ns: u64) {
        record(&self.first_token_late, late_ns);
    }

    /// Records that a stream's first token was written `ns` after its
    /// request arrived.
    pub fn record_first_token_written(&self, ns: u64) {
        record(&self.first_token_written, ns);
    }

    /// The `/v1/mock/stats` JSON body.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "requests": self.requests.load(Ordering::Relaxed),
            "streaming": self.streaming.load(Ordering::Relaxed),
            "audio_parts": self.audio_parts.load(Ordering::Relaxed),
            "audio_seconds": self.audio_micros.load(Ordering::Relaxed) as f64 / 1e6,
            "rejected": self.rejected.load(Ordering::Relaxed),
            "first_token_late_us": summary(&self.first_token_late),
            "first_token_written_us": summary(&self.first_token_written),
            "metrics_scrapes": self.prometheus.scrapes.load(Ordering::Relaxed),
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
        for h in [&self.first_token_late, &self.first_token_written] {
            if let Ok(mut h) = h.lock() {
                *h = None;
            }
        }
    }
}

/// Adds `ns` to a lazily created histogram (1 ns to 1 hour, 3 significant
/// digits; beyond saturates).
fn record(h: &Mutex<Option<Histogram<u64>>>, ns: u64) {
    if let Ok(mut h) = h.lock() {
        if h.is_none() {
            *h = Histogram::new_with_bounds(1, 3_600_000_000_000, 3).ok();
        }
        if let Some(h) = h.as_mut() {
            h.saturating_record(ns);
        }
    }
}

/// count, p50, p90, p99 and max in microseconds (`{"count": 0}` when empty).
fn summary(h: &Mutex<Option<Histogram<u64>>>) -> serde_json::Value {
    match h.lock() {
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
    }
}
