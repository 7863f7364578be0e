//! Per-request values derived from the engine's stamps after the fact: the
//! HTTP trace breakdown (AIPerf's k6-named `http_req_*`), inter-chunk
//! latency, credit-to-start latency and the usage-vs-tokenizer differences.
//!
//! The engine copies a few integers per request (when a slot took it, when
//! it was queued, the connection's set-up time, the first and last request
//! byte handed to the kernel, the first and last response byte read, write
//! and read counts, body bytes, token event times); everything here is
//! arithmetic on them, run by the collector, never on the hot path.

use super::defs::MetricId;
use crate::record::RequestRecord;
use crate::sys::clock::Nanos;
use crate::tokens::RequestTokens;

/// AIPerf's default `AIPERF_METRICS_USAGE_PCT_DIFF_THRESHOLD` (percent).
pub const USAGE_DIFF_THRESHOLD_PCT: f64 = 10.0;

/// The HTTP phases of one request, in ns (each phase ends where the next
/// begins, so sending + waiting + receiving is the duration exactly).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpPhases {
    pub blocked: Nanos,
    /// Always 0: the target is resolved once, before the run.
    pub dns_lookup: Nanos,
    pub connecting: Nanos,
    pub sending: Nanos,
    pub waiting: Nanos,
    pub receiving: Nanos,
    /// The connection carried a request before this one.
    pub reused: bool,
}

impl HttpPhases {
    /// The phases of `r`, when the engine stamped them all in order (a
    /// response head was read after the last request byte was written);
    /// `None` for records made without them.
    pub fn of(r: &RequestRecord) -> Option<HttpPhases> {
        let ack = r.ack_ns?;
        let ordered = r.send_ns > 0 && r.send_ns <= r.sent_ns && r.sent_ns <= ack && ack <= r.end_ns;
        if !ordered {
            return None;
        }
        Some(HttpPhases {
            blocked: r.queued_ns.map_or(0, |q| r.slot_ns.saturating_sub(q)),
            dns_lookup: 0,
            connecting: r.conn_setup_ns.unwrap_or(0),
            sending: r.sent_ns - r.send_ns,
            waiting: ack - r.sent_ns,
            receiving: r.end_ns - ack,
            reused: r.conn_setup_ns.is_none(),
        })
    }

    /// blocked + dns_lookup + connecting.
    pub fn connection_overhead(&self) -> Nanos {
        self.blocked + self.dns_lookup + self.connecting
    }

    /// sending + waiting + receiving: first request byte to last response byte.
    pub fn duration(&self) -> Nanos {
        self.sending + self.waiting + self.receiving
    }

    /// Every phase, from the connection slot to the last response byte.
    pub fn total(&self) -> Nanos {
        self.connection_overhead() + self.duration()
    }
}

/// Appends the HTTP trace metrics of a successful request (native units:
/// ns, bytes, counts); `body_bytes_sent` is its request body's size.
pub fn push_http(r: &RequestRecord, body_bytes_sent: Option<u64>, out: &mut Vec<(MetricId, f64)>) {
    use MetricId::*;
    let Some(p) = HttpPhases::of(r) else {
        return;
    };
    out.extend([
        (HttpReqBlocked, p.blocked as f64),
        (HttpReqDnsLookup, p.dns_lookup as f64),
        (HttpReqConnecting, p.connecting as f64),
        (HttpReqSending, p.sending as f64),
        (HttpReqWaiting, p.waiting as f64),
        (HttpReqReceiving, p.receiving as f64),
        (HttpReqConnectionReused, f64::from(u8::from(p.reused))),
    ]);
    if let Some(b) = body_bytes_sent {
        out.push((HttpReqDataSent, b as f64));
    }
    out.extend([
        (HttpReqChunksSent, f64::from(r.send_writes)),
        (HttpReqDataReceived, r.body_bytes_received as f64),
        (HttpReqChunksReceived, f64::from(r.recv_reads)),
        (HttpReqConnectionOverhead, p.connection_overhead() as f64),
        (HttpReqDuration, p.duration() as f64),
        (HttpReqTotal, p.total() as f64),
    ]);
}

/// Gaps between consecutive token events (ns), AIPerf's `inter_chunk_latency`.
pub fn inter_chunk_gaps(r: &RequestRecord) -> impl Iterator<Item = Nanos> + '_ {
    r.token_ns.windows(2).map(|w| w[1].saturating_sub(w[0]))
}

/// Request start - the moment the request was released to be sent: its
/// intended time in open loop, the claim by its slot in closed loop.
/// `None` when the record has neither stamp.
pub fn credit_to_start(r: &RequestRecord) -> Option<Nanos> {
    let released = r.intended_start_ns.unwrap_or(r.slot_ns);
    (released > 0).then(|| r.start_ns.saturating_sub(released))
}

/// `100 * |server - client| / client`, when the client count is above 0.
fn diff_pct(server: Option<u64>, client: Option<u64>) -> Option<f64> {
    let (s, c) = (server?, client?);
    (c > 0).then(|| 100.0 * s.abs_diff(c) as f64 / c as f64)
}

/// The usage differences of one request and whether they count as a
/// discrepancy (AIPerf: both prompt and completion differences exist and
/// one of them, or the reasoning one, is over `threshold_pct`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct UsageDiffs {
    pub prompt: Option<f64>,
    pub completion: Option<f64>,
    pub reasoning: Option<f64>,
    pub discrepancy: Option<bool>,
}

impl UsageDiffs {
    /// Server usage vs the client tokenizer's counts `t`.
    pub fn of(r: &RequestRecord, t: &RequestTokens, threshold_pct: f64) -> UsageDiffs {
        let u = r.usage.unwrap_or_default();
        let prompt = diff_pct(u.prompt_tokens, t.isl);
        let completion = diff_pct(u.completion_tokens, t.osl);
        let reasoning = diff_pct(u.reasoning_tokens, t.reasoning);
        let discrepancy = match (prompt, completion) {
            (Some(p), Some(c)) => Some(
                p > threshold_pct || c > threshold_pct || reasoning.is_some_and(|x| x > threshold_pct),
            ),
            _ => None,
        };
        UsageDiffs {
            prompt,
            completion,
            reasoning,
            discrepancy,
        }
    }

    /// Appends the per-request differences (percent).
    pub fn push(&self, out: &mut Vec<(MetricId, f64)>) {
        use MetricId::*;
        for (id, v) in [
            (UsagePromptTokensDiffPct, self.prompt),
            (UsageCompletionTokensDiffPct, self.completion),
            (UsageReasoningTokensDiffPct, self.reasoning),
        ] {
            if let Some(v) = v {
                out.push((id, v));
            }
        }
    }
}
