//! The mock's Prometheus `/metrics`, named like vLLM's so that clients and
//! examples see what a real vLLM server would show: requests running and
//! waiting, KV-cache usage, token and request counters and a TTFT
//! histogram. One relaxed atomic add per request (and per first token);
//! the text is rendered only when `/metrics` is asked for.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// vLLM's TTFT histogram buckets, seconds.
pub const TTFT_BUCKETS_S: [f64; 22] = [
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
];

/// Sequences the mock pretends its KV cache holds: `kv_cache_usage_perc`
/// is running / this (capped at 1). The mock has no real cache.
pub const KV_CACHE_SEQUENCES: u64 = 256;

/// The counters behind `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    /// `GET /metrics` requests answered (tests check that none came).
    pub scrapes: AtomicU64,
    /// Chat completions being answered now (decoded, not yet fully written).
    pub running: AtomicU64,
    /// Prompt tokens of the answered requests (the mock's word count).
    pub prompt_tokens: AtomicU64,
    /// Tokens generated (reasoning + content) of the answered requests.
    pub generation_tokens: AtomicU64,
    /// Completions written in full, by finish reason.
    pub success_stop: AtomicU64,
    pub success_length: AtomicU64,
    /// TTFT histogram: counts per bucket (not cumulative) and the +Inf one.
    ttft_buckets: [AtomicU64; TTFT_BUCKETS_S.len() + 1],
    ttft_sum_ns: AtomicU64,
    ttft_count: AtomicU64,
}

/// Counts a request as running until dropped.
pub struct Running<'a>(&'a Metrics);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    pub fn start(&self) -> Running<'_> {
        self.running.fetch_add(1, Ordering::Relaxed);
        Running(self)
    }

    /// A completion written in full.
    pub fn served(&self, prompt_tokens: u64, generated: u64, finish_reason: &str) {
        self.prompt_tokens
            .fetch_add(prompt_tokens, Ordering::Relaxed);
        self.generation_tokens
            .fetch_add(generated, Ordering::Relaxed);
        let c = if finish_reason == "length" {
            &self.success_length
        } else {
            &self.success_stop
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// A stream's first token was handed to the socket `ttft_ns` after the
    /// request arrived.
    pub fn observe_ttft(&self, ttft_ns: u64) {
        let s = ttft_ns as f64 / 1e9;
        let i = TTFT_BUCKETS_S
            .iter()
            .position(|&b| s <= b)
            .unwrap_or(TTFT_BUCKETS_S.len());
        self.ttft_buckets[i].fetch_add(1, Ordering::Relaxed);
        self.ttft_sum_ns.fetch_add(ttft_ns, Ordering::Relaxed);
        self.ttft_count.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self, model: &str) -> String {
        let l = format!(
            "model_name=\"{}\"",
            model.replace('\\', "\\\\").replace('"', "\\\"")
        );
        let running = self.running.load(Ordering::Relaxed);
        let kv = (running as f64 / KV_CACHE_SEQUENCES as f64).min(1.0);
        let mut o = String::with_capacity(4096);
        let _ = write!(
            o,
            "# HELP vllm:num_requests_running Number of requests in model execution batches.\n\
             # TYPE vllm:num_requests_running gauge\n\
             vllm:num_requests_running{{{l}}} {running}\n\
             # HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n\
             # TYPE vllm:num_requests_waiting gauge\n\
             vllm:num_requests_waiting{{{l}}} 0\n\
             # HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.\n\
             # TYPE vllm:kv_cache_usage_perc gauge\n\
             vllm:kv_cache_usage_perc{{{l}}} {kv}\n\
             # HELP vllm:prompt_tokens_total Number of prefill tokens processed.\n\
             # TYPE vllm:prompt_tokens_total counter\n\
             vllm:prompt_tokens_total{{{l}}} {}\n\
             # HELP vllm:generation_tokens_total Number of generation tokens processed.\n\
             # TYPE vllm:generation_tokens_total counter\n\
             vllm:generation_tokens_total{{{l}}} {}\n\
             # HELP vllm:request_success_total Count of successfully processed requests.\n\
             # TYPE vllm:request_success_total counter\n\
             vllm:request_success_total{{finished_reason=\"stop\",{l}}} {}\n\
             vllm:request_success_total{{finished_reason=\"length\",{l}}} {}\n",
            self.prompt_tokens.load(Ordering::Relaxed),
            self.generation_tokens.load(Ordering::Relaxed),
            self.success_stop.load(Ordering::Relaxed),
            self.success_length.load(Ordering::Relaxed),
        );
        o.push_str(
            "# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.\n\
             # TYPE vllm:time_to_first_token_seconds histogram\n",
        );
        let mut cumulative = 0;
        for (i, b) in TTFT_BUCKETS_S.iter().enumerate() {
            cumulative += self.ttft_buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(
                o,
                "vllm:time_to_first_token_seconds_bucket{{le=\"{b}\",{l}}} {cumulative}"
            );
        }
        cumulative += self.ttft_buckets[TTFT_BUCKETS_S.len()].load(Ordering::Relaxed);
        let _ = writeln!(
            o,
            "vllm:time_to_first_token_seconds_bucket{{le=\"+Inf\",{l}}} {cumulative}\n\
             vllm:time_to_first_token_seconds_sum{{{l}}} {}\n\
             vllm:time_to_first_token_seconds_count{{{l}}} {}",
            self.ttft_sum_ns.load(Ordering::Relaxed) as f64 / 1e9,
            self.ttft_count.load(Ordering::Relaxed)
        );
        o
    }
}
