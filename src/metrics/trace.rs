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
        let ordered =
            r.send_ns > 0 && r.send_ns <= r.sent_ns && r.sent_ns <= ack && ack <= r.end_ns;
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
                p > threshold_pct
                    || c > threshold_pct
                    || reasoning.is_some_and(|x| x > threshold_pct),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Usage;

    const MS: Nanos = 1_000_000;

    /// A request as the engine stamps it: slot at 1 s, queued 3 ms before
    /// (open loop), a new connection that took 2 ms, 1 ms to send, the head
    /// 50 ms later, the last byte 190 ms after the first.
    fn stamped() -> RequestRecord {
        let t = 1_000 * MS;
        RequestRecord {
            intended_start_ns: Some(t - 4 * MS),
            queued_ns: Some(t - 3 * MS),
            slot_ns: t,
            conn_setup_ns: Some(2 * MS),
            start_ns: t + 2 * MS,
            send_ns: t + 2 * MS,
            sent_ns: t + 3 * MS,
            ack_ns: Some(t + 53 * MS),
            end_ns: t + 243 * MS,
            send_writes: 2,
            recv_reads: 22,
            body_bytes_received: 5311,
            token_ns: vec![t + 53 * MS, t + 63 * MS, t + 63 * MS, t + 80 * MS].into(),
            ..Default::default()
        }
    }

    fn value(out: &[(MetricId, f64)], id: MetricId) -> Option<f64> {
        out.iter().find(|(i, _)| *i == id).map(|&(_, v)| v)
    }

    #[test]
    fn phases_follow_the_stamps_and_add_up() {
        let p = HttpPhases::of(&stamped()).unwrap();
        assert_eq!(
            p,
            HttpPhases {
                blocked: 3 * MS,
                dns_lookup: 0,
                connecting: 2 * MS,
                sending: MS,
                waiting: 50 * MS,
                receiving: 190 * MS,
                reused: false,
            }
        );
        assert_eq!(p.connection_overhead(), 5 * MS);
        assert_eq!(p.duration(), 241 * MS);
        assert_eq!(p.total(), 246 * MS);

        // A reused connection, taken at once (closed loop).
        let mut r = stamped();
        (r.queued_ns, r.conn_setup_ns) = (None, None);
        let p = HttpPhases::of(&r).unwrap();
        assert_eq!((p.blocked, p.connecting, p.reused), (0, 0, true));
        assert_eq!(p.total(), p.duration());
    }

    #[test]
    fn records_without_stamps_in_order_have_no_phases() {
        assert_eq!(HttpPhases::of(&RequestRecord::default()), None);
        let mut r = stamped();
        r.ack_ns = None;
        assert_eq!(HttpPhases::of(&r), None);
        let mut r = stamped();
        r.sent_ns = r.send_ns - 1;
        assert_eq!(HttpPhases::of(&r), None);
    }

    #[test]
    fn http_values_in_native_units() {
        let mut out = Vec::new();
        push_http(&stamped(), Some(216_020), &mut out);
        use MetricId::*;
        let v = |id| value(&out, id);
        assert_eq!(v(HttpReqWaiting), Some((50 * MS) as f64));
        assert_eq!(v(HttpReqReceiving), Some((190 * MS) as f64));
        assert_eq!(v(HttpReqConnectionReused), Some(0.0));
        assert_eq!(v(HttpReqDataSent), Some(216_020.0));
        assert_eq!(v(HttpReqDataReceived), Some(5311.0));
        assert_eq!(v(HttpReqChunksSent), Some(2.0));
        assert_eq!(v(HttpReqChunksReceived), Some(22.0));
        assert_eq!(v(HttpReqTotal), Some((246 * MS) as f64));
        assert_eq!(out.len(), 14);
        // No body size known: no data sent, the rest as before.
        let mut out = Vec::new();
        push_http(&stamped(), None, &mut out);
        assert_eq!((out.len(), value(&out, HttpReqDataSent)), (13, None));
    }

    #[test]
    fn gaps_and_credit_to_start() {
        let r = stamped();
        let gaps: Vec<Nanos> = inter_chunk_gaps(&r).collect();
        assert_eq!(gaps, [10 * MS, 0, 17 * MS]);
        // Open loop: from the intended time.
        assert_eq!(credit_to_start(&r), Some(6 * MS));
        // Closed loop: from the slot's claim.
        let mut r = stamped();
        r.intended_start_ns = None;
        assert_eq!(credit_to_start(&r), Some(2 * MS));
        assert_eq!(credit_to_start(&RequestRecord::default()), None);
    }

    #[test]
    fn usage_diffs_like_aiperf() {
        let mut r = RequestRecord {
            usage: Some(Usage {
                prompt_tokens: Some(105),
                completion_tokens: Some(48),
                reasoning_tokens: Some(13),
            }),
            ..Default::default()
        };
        let t = RequestTokens {
            isl: Some(100),
            osl: Some(50),
            reasoning: Some(10),
        };
        let d = UsageDiffs::of(&r, &t, 10.0);
        assert_eq!(d.prompt, Some(5.0));
        assert_eq!(d.completion, Some(4.0));
        assert_eq!(d.reasoning, Some(30.0));
        // The reasoning difference alone makes it a discrepancy.
        assert_eq!(d.discrepancy, Some(true));
        assert_eq!(UsageDiffs::of(&r, &t, 30.0).discrepancy, Some(false));
        let mut out = Vec::new();
        d.push(&mut out);
        assert_eq!(out.len(), 3);
        // Zero client tokens: no difference, and without both prompt and
        // completion differences the request is not judged.
        let zero = RequestTokens { osl: Some(0), ..t };
        let d = UsageDiffs::of(&r, &zero, 10.0);
        assert_eq!((d.completion, d.discrepancy), (None, None));
        r.usage = None;
        assert_eq!(UsageDiffs::of(&r, &t, 10.0), UsageDiffs::default());
    }
}
