//! Metric definitions and statistics: the collect stage.
//!
//! Owns ONE definition per metric (`defs::METRICS`: tag, header, units,
//! console order and group, formula) and the computation of every number
//! users see from `RunOutput` + `RequestTokens`. The console, CSV, JSON and
//! JSONL writers read these definitions and results; none of them
//! re-derives a number. Names, units, order and formulas follow AIPerf 0.13.0.
//!
//! Stats are computed in the native unit (ns, tokens) and converted to the
//! display unit afterwards, as AIPerf does; `stats::Series` bounds their
//! memory (exact up to `EXACT_VALUES` values per metric, then a histogram
//! with `SIGNIFICANT_DIGITS` significant digits).

pub mod defs;
pub mod effective;
pub mod goodput;
pub mod metric;
pub mod per_server;
pub mod shard;
pub mod stats;
#[cfg(test)]
pub(crate) mod tests;
pub mod timeslices;
mod trace;

use std::collections::BTreeMap;

pub use defs::{def_by_tag, ConsoleGroup, MetricDef, MetricId, MetricKind, METRICS};
pub use stats::{Series, Stat, Stats, EXACT_VALUES, SIGNIFICANT_DIGITS};
pub use trace::{HttpPhases, UsageDiffs, USAGE_DIFF_THRESHOLD_PCT};

use crate::record::{ErrorKind, RequestRecord, RunOutput};
use crate::sys::clock::{Nanos, NANOS_PER_SEC};
use crate::tokens::RequestTokens;

/// One metric's result for the run, in display units.
#[derive(Clone, Debug, PartialEq)]
pub enum MetricValue {
    /// Per-request metric summarised over successful requests.
    Stats(Stats),
    /// Run-level value.
    Single(f64),
}

#[derive(Clone, Debug, PartialEq)]
pub struct MetricResult {
    pub def: &'static MetricDef,
    pub value: MetricValue,
}

impl MetricResult {
    /// The `avg` column (the value itself for run-level metrics).
    pub fn avg(&self) -> f64 {
        match &self.value {
            MetricValue::Stats(s) => s.avg,
            MetricValue::Single(v) => *v,
        }
    }

    /// One stat; run-level metrics have only `avg`, time-weighted ones
    /// only avg, min, max, p50, p90, p95, p99 and std.
    pub fn stat(&self, stat: Stat) -> Option<f64> {
        match &self.value {
            MetricValue::Stats(_)
                if self.def.kind == MetricKind::TimeWeighted
                    && !TIME_WEIGHTED_STATS.contains(&stat) =>
            {
                None
            }
            MetricValue::Stats(s) => Some(s.get(stat)),
            MetricValue::Single(v) => (stat == Stat::Avg).then_some(*v),
        }
    }
}

/// The stats AIPerf reports for a time-weighted metric.
pub const TIME_WEIGHTED_STATS: [Stat; 8] = [
    Stat::Avg,
    Stat::Min,
    Stat::Max,
    Stat::P50,
    Stat::P90,
    Stat::P95,
    Stat::P99,
    Stat::Std,
];

/// One per-request metric value in its display unit (for the JSONL).
#[derive(Clone, Debug, PartialEq)]
pub enum RecordValue {
    Int(u64),
    Float(f64),
    /// A list metric (`inter_chunk_latency`): every value of the request.
    List(Box<[f64]>),
}

impl RecordValue {
    /// The value as a number; a list's is its first element (NaN when empty).
    pub fn as_f64(&self) -> f64 {
        match self {
            RecordValue::Int(v) => *v as f64,
            RecordValue::Float(v) => *v,
            RecordValue::List(l) => l.first().copied().unwrap_or(f64::NAN),
        }
    }
}

/// The metrics of one request (index into `RunOutput::records`).
#[derive(Clone, Debug, PartialEq)]
pub struct RecordMetrics {
    pub record_index: usize,
    pub values: Vec<(MetricId, RecordValue)>,
}

/// Failed requests grouped like AIPerf's `error_summary` (same code, type, message).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorCount {
    pub code: Option<u16>,
    /// `ErrorKind::as_str()`.
    pub error_type: &'static str,
    pub message: String,
    pub count: u64,
}

/// How the profiling requests ended: `sent = successful + errors + cancelled`
/// always holds (each request is exactly one of the three). Exported as
/// `request_accounting` in `profile_export_aiperf.json` (audioperf extension).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestAccounting {
    pub sent: u64,
    pub successful: u64,
    /// Failed for a reason other than a deliberate cancellation.
    pub errors: u64,
    /// Cancelled on purpose (`RequestRecord::cancelled`).
    pub cancelled: u64,
}

impl RequestAccounting {
    pub fn holds(&self) -> bool {
        self.sent == self.successful + self.errors + self.cancelled
    }
}

/// Everything the report stage prints, computed once.
#[derive(Clone, Debug, Default)]
pub struct MetricsSummary {
    /// Results in `MetricId` order; metrics without a value are absent.
    pub results: Vec<MetricResult>,
    pub error_summary: Vec<ErrorCount>,
    /// Benchmark duration (ns), when at least one request succeeded.
    pub benchmark_duration_ns: Option<Nanos>,
    /// Monotonic start of the first profiling request and end of the last
    /// response (any outcome), for `start_time`/`end_time`.
    pub start_ns: Option<Nanos>,
    pub end_ns: Option<Nanos>,
    pub was_cancelled: bool,
    /// Profiling requests by outcome.
    pub accounting: RequestAccounting,
    /// Warmup requests sent (any outcome); not part of any metric.
    pub warmup_requests: u64,
    /// Open loop: profiling arrivals that had to wait for a connection.
    pub waited_for_connection: u64,
    /// Latency and the TTFT family were measured from the intended start.
    pub latency_from_schedule: bool,
    /// Successful profiling requests without any token event (no TTFT).
    pub untimed_successes: u64,
    /// Profiling requests that failed to connect (TCP or TLS).
    pub connect_failures: u64,
    /// The message of the first of them.
    pub first_connect_error: Option<String>,
    /// Every stat is exact (no metric had more than `stats::EXACT_VALUES` values).
    pub percentiles_exact: bool,
    /// The usage discrepancy threshold, when usage differences were computed.
    pub usage_diff_threshold_pct: Option<f64>,
    /// `--slice-duration`: the non-empty slices, in time order.
    pub timeslices: Vec<timeslices::Timeslice>,
}

impl MetricsSummary {
    pub fn get(&self, id: MetricId) -> Option<&MetricResult> {
        self.results.iter().find(|r| r.def.id == id)
    }

    /// Benchmark duration in seconds (console footer).
    pub fn benchmark_duration_sec(&self) -> Option<f64> {
        self.benchmark_duration_ns
            .map(|ns| ns as f64 / NANOS_PER_SEC)
    }

    /// A per-request metric's stats, when it has values.
    pub fn stats(&self, id: MetricId) -> Option<&Stats> {
        match self.get(id).map(|r| &r.value) {
            Some(MetricValue::Stats(s)) => Some(s),
            _ => None,
        }
    }
}

/// AIPerf's code for a request the client cancelled ("Client Closed Request").
pub const CANCELLED_CODE: u16 = 499;

/// What the error summary and the JSONL say about a request that did not succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorDetails<'a> {
    pub error_type: &'static str,
    pub code: Option<u16>,
    pub message: &'a str,
}

/// The error shown for a record: its own error, or for a cancelled request
/// AIPerf's `RequestCancellationError` with code 499 (whatever status the
/// server had sent before the cancellation). None for a success.
pub fn error_details(r: &RequestRecord) -> Option<ErrorDetails<'_>> {
    if r.cancelled {
        return Some(ErrorDetails {
            error_type: ErrorKind::Cancelled.as_str(),
            code: Some(CANCELLED_CODE),
            message: r
                .error
                .as_ref()
                .map_or("Request cancelled", |e| e.message.as_str()),
        });
    }
    r.error.as_ref().map(|e| ErrorDetails {
        error_type: e.kind.as_str(),
        code: e.code,
        message: &e.message,
    })
}

/// What `compute` needs besides the records and token counts. The default
/// has no audio metrics and measures latency from the actual start.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ComputeOptions<'a> {
    /// Seconds of audio sent by each dataset entry, indexed by
    /// `RequestRecord::dataset_index` (`PreparedRequest::audio_seconds`);
    /// feeds `audio_duration` and `rtfx`. Empty: no audio metrics.
    pub audio_seconds: &'a [f64],
    /// `--latency-from-schedule`: request latency, TTFT and TTFO are taken
    /// from the intended start (open loop), so time an arrival spent waiting
    /// in the client is part of them (coordinated omission made visible).
    pub latency_from_schedule: bool,
    /// Request body bytes of each dataset entry, indexed like
    /// `audio_seconds`; feeds `http_req_data_sent`. Empty: not reported.
    pub body_bytes: &'a [u64],
    /// A client tokenizer counts ISL/OSL: the usage differences are reported,
    /// with this discrepancy threshold (percent). `None` with server counts.
    pub usage_diff_threshold_pct: Option<f64>,
    /// `--goodput` SLOs (display units); empty: no goodput metrics.
    pub goodput: &'a [crate::config::GoodputSlo],
    /// `--slice-duration`, ns.
    pub slice_ns: Option<Nanos>,
}

impl<'a> ComputeOptions<'a> {
    pub fn from_config(
        cfg: &'a crate::config::ProfileConfig,
        audio_seconds: &'a [f64],
    ) -> ComputeOptions<'a> {
        ComputeOptions {
            audio_seconds,
            latency_from_schedule: cfg.latency_from_schedule,
            goodput: &cfg.goodput,
            slice_ns: cfg
                .slice_duration
                .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
            ..Default::default()
        }
    }
}

/// Native values of one record in the JSONL's units, then its inter-chunk
/// latencies as one list (when it has two token events or more).
fn to_record_values(
    values: Vec<(MetricId, f64)>,
    r: &RequestRecord,
) -> Vec<(MetricId, RecordValue)> {
    let mut out: Vec<(MetricId, RecordValue)> = values
        .into_iter()
        .map(|(id, v)| (id, to_record_value(id, v)))
        .collect();
    if r.token_ns.len() >= 2 {
        let scale = MetricId::InterChunkLatency.def().display_scale;
        let gaps = trace::inter_chunk_gaps(r)
            .map(|g| g as f64 / scale)
            .collect();
        out.push((MetricId::InterChunkLatency, RecordValue::List(gaps)));
    }
    out
}

/// What `record_values` needs of a record besides the record itself.
struct RecordInputs<'t> {
    tokens: &'t RequestTokens,
    audio_s: Option<f64>,
    body_bytes: Option<u64>,
    usage_diff_threshold_pct: Option<f64>,
    /// Where request latency and the TTFT family start from.
    origin: Nanos,
}

/// Per-request metric values in native units, for one successful record.
fn record_values(r: &RequestRecord, inputs: &RecordInputs<'_>) -> Vec<(MetricId, f64)> {
    use MetricId::*;
    let (t, audio_s, origin) = (inputs.tokens, inputs.audio_s, inputs.origin);
    let mut out = Vec::with_capacity(40);
    let since_start = |ts: Option<Nanos>| ts.map(|v| v.saturating_sub(origin) as f64);
    let ttft = since_start(r.first_token_ns);
    if let Some(v) = ttft {
        out.push((TimeToFirstToken, v));
    }
    if let (Some(first), Some(second)) = (r.first_token_ns, r.second_token_ns) {
        out.push((TimeToSecondToken, second.saturating_sub(first) as f64));
    }
    if let Some(v) = since_start(r.first_output_ns) {
        out.push((TimeToFirstOutputToken, v));
    }
    // AIPerf: the last response carrying content; a non-streaming response is
    // its own last content response, so fall back to the end of the response.
    let latency = response_end(r).saturating_sub(origin) as f64;
    out.push((RequestLatency, latency));
    if let Some(lag) = r.schedule_lag_ns() {
        out.push((ScheduleLag, lag as f64));
    }
    // AIPerf: requests without audio have neither audio duration nor RTFx.
    if let Some(a) = audio_s.filter(|&a| a > 0.0) {
        out.push((AudioDuration, a));
        if latency > 0.0 {
            out.push((Rtfx, a / (latency / NANOS_PER_SEC)));
        }
    }
    let osl = t.osl;
    if let Some(ttft) = ttft {
        let decode = (latency - ttft).max(0.0);
        out.push((DecodeDuration, decode));
        if let Some(osl) = osl.filter(|&o| o >= 2) {
            let itl = decode / (osl - 1) as f64;
            out.push((InterTokenLatency, itl));
            if itl > 0.0 {
                out.push((OutputTokenThroughputPerUser, NANOS_PER_SEC / itl));
            }
        }
    }
    if let Some(osl) = osl {
        if latency > 0.0 {
            out.push((
                E2eOutputTokenThroughput,
                osl as f64 / (latency / NANOS_PER_SEC),
            ));
        }
        out.push((OutputSequenceLength, osl as f64));
    }
    if let Some(isl) = t.isl {
        out.push((InputSequenceLength, isl as f64));
        if let Some(ttft) = ttft.filter(|&v| v > 0.0) {
            out.push((
                PrefillThroughputPerUser,
                isl as f64 / (ttft / NANOS_PER_SEC),
            ));
        }
    }
    if let Some(o) = t.output() {
        out.push((OutputTokenCount, o as f64));
    }
    if let Some(rt) = t.reasoning {
        out.push((ReasoningTokenCount, rt as f64));
    }
    if let Some(u) = r.usage {
        if let Some(p) = u.prompt_tokens {
            out.push((UsagePromptTokens, p as f64));
        }
        if let Some(c) = u.completion_tokens {
            out.push((UsageCompletionTokens, c as f64));
        }
        if let Some(rt) = u.reasoning_tokens {
            out.push((UsageReasoningTokens, rt as f64));
        }
        if u.prompt_tokens.is_some() || u.completion_tokens.is_some() {
            let total = u.prompt_tokens.unwrap_or(0) + u.completion_tokens.unwrap_or(0);
            out.push((UsageTotalTokens, total as f64));
        }
    }
    if let Some(threshold) = inputs.usage_diff_threshold_pct {
        UsageDiffs::of(r, t, threshold).push(&mut out);
    }
    trace::push_http(r, inputs.body_bytes, &mut out);
    out
}

fn to_record_value(id: MetricId, native: f64) -> RecordValue {
    let d = id.def();
    if d.integer {
        RecordValue::Int(native as u64)
    } else {
        RecordValue::Float(native / d.display_scale)
    }
}

/// The actual end of a request's response: the last content event, or the
/// end of the response when there was none (not streaming).
fn response_end(r: &RequestRecord) -> Nanos {
    r.last_token_ns.unwrap_or(r.end_ns)
}

/// At most this many distinct (type, code, message) groups are kept in the
/// error summary; the rest are counted under one group per (type, code).
pub const MAX_ERROR_GROUPS: usize = 1_000;

/// The message of the group that counts errors past `MAX_ERROR_GROUPS`.
pub const OTHER_ERRORS_MESSAGE: &str =
    "(other messages: more distinct error messages than audioperf keeps; every one is in profile_export.jsonl)";

/// Computes every metric of the profiling phase, one record at a time, in
/// memory bounded by the number of metrics (never by the number of
/// requests): `add` takes each finished request (in any order) and returns
/// its own values for the JSONL, `finish` gives the summary.
///
/// A cancelled request is neither a success nor an error
/// (`error_request_count`, `request_error_rate` and `completed_request_count`
/// leave it out), is counted in `cancelled_request_count`, and is listed in
/// `error_summary` as AIPerf's `RequestCancellationError` (code 499). AIPerf
/// 0.13 itself also counts it in `error_request_count`.
#[derive(Debug)]
pub struct Accumulator<'a> {
    opts: ComputeOptions<'a>,
    /// Indexed by `MetricId as usize`.
    series: Vec<Series>,
    errors: BTreeMap<(&'static str, Option<u16>, String), u64>,
    acc: RequestAccounting,
    warmup: u64,
    waited: u64,
    open_loop: bool,
    first_start: Option<Nanos>,
    last_response: Option<Nanos>,
    span_start: Option<Nanos>,
    span_end: Option<Nanos>,
    untimed_successes: u64,
    connect_failures: u64,
    first_connect_error: Option<String>,
    /// Successful requests with both usage differences, and those over the threshold.
    usage_diffed: u64,
    usage_discrepancies: u64,
    /// Time-weighted curves of the run.
    sweep: effective::Sweep,
    slos: goodput::Slos,
    good: u64,
    slicer: Option<timeslices::Slicer>,
    /// Native values the current `add` pushed (handed to the slicer).
    pushed: Vec<(MetricId, f64)>,
}

fn widen(slot: &mut Option<Nanos>, v: Nanos, pick: fn(Nanos, Nanos) -> Nanos) {
    *slot = Some(slot.map_or(v, |s| pick(s, v)));
}

impl<'a> Accumulator<'a> {
    pub fn new(opts: ComputeOptions<'a>) -> Accumulator<'a> {
        Accumulator {
            opts,
            series: vec![Series::default(); METRICS.len()],
            errors: BTreeMap::new(),
            acc: RequestAccounting::default(),
            warmup: 0,
            waited: 0,
            open_loop: false,
            first_start: None,
            last_response: None,
            span_start: None,
            span_end: None,
            untimed_successes: 0,
            connect_failures: 0,
            first_connect_error: None,
            usage_diffed: 0,
            usage_discrepancies: 0,
            sweep: effective::Sweep::new(),
            slos: goodput::Slos::new(opts.goodput),
            good: 0,
            slicer: opts.slice_ns.map(timeslices::Slicer::new),
            pushed: Vec::new(),
        }
    }

    fn push(&mut self, id: MetricId, v: f64) {
        self.series[id as usize].push(v);
        self.pushed.push((id, v));
    }

    /// Adds one finished request and returns its metric values in the
    /// JSONL's units (warmup requests get their own values and feed nothing
    /// else; a failed request has only its schedule lag).
    pub fn add(&mut self, r: &RequestRecord, t: &RequestTokens) -> Vec<(MetricId, RecordValue)> {
        self.pushed.clear();
        let good_before = self.good;
        let out = self.add_one(r, t);
        if r.warmup {
            return out;
        }
        self.sweep.add(&effective::Spans::of(
            r,
            t.isl,
            t.osl.filter(|_| r.is_success()),
        ));
        // AIPerf: end - when the request was due, every request.
        let due = r.intended_start_ns.unwrap_or(r.start_ns);
        self.push(
            MetricId::EffectiveLatency,
            r.end_ns.saturating_sub(due) as f64,
        );
        if let Some(slicer) = &mut self.slicer {
            let outcome = if r.is_success() {
                timeslices::Outcome::Success {
                    good: self.good > good_before,
                }
            } else if r.cancelled {
                timeslices::Outcome::Cancelled
            } else {
                timeslices::Outcome::Error
            };
            slicer.add(
                (r.start_ns, r.end_ns, response_end(r)),
                outcome,
                &self.pushed,
            );
        }
        out
    }

    fn add_one(&mut self, r: &RequestRecord, t: &RequestTokens) -> Vec<(MetricId, RecordValue)> {
        use MetricId::*;
        let origin = match (self.opts.latency_from_schedule, r.intended_start_ns) {
            (true, Some(intended)) => intended,
            _ => r.start_ns,
        };
        let entry = r.dataset_index as usize;
        let inputs = RecordInputs {
            tokens: t,
            audio_s: self.opts.audio_seconds.get(entry).copied(),
            body_bytes: self.opts.body_bytes.get(entry).copied(),
            usage_diff_threshold_pct: self.opts.usage_diff_threshold_pct,
            origin,
        };
        if r.warmup {
            self.warmup += 1;
            return if r.is_success() {
                to_record_values(record_values(r, &inputs), r)
            } else {
                Vec::new()
            };
        }
        // The client's own queueing, whatever the outcome (AIPerf's is not
        // in the JSONL records either).
        if let Some(c) = trace::credit_to_start(r) {
            self.push(CreditToStartLatency, c as f64);
        }
        self.acc.sent += 1;
        self.open_loop |= r.intended_start_ns.is_some();
        self.waited += u64::from(r.waited_for_connection);
        widen(&mut self.span_start, r.start_ns, Nanos::min);
        widen(&mut self.span_end, r.end_ns, Nanos::max);
        if let Some(e) = error_details(r) {
            if r.cancelled {
                self.acc.cancelled += 1;
            } else {
                self.acc.errors += 1;
            }
            if let Some(err) = r
                .error
                .as_ref()
                .filter(|e| !r.cancelled && matches!(e.kind, ErrorKind::Connect | ErrorKind::Tls))
            {
                self.connect_failures += 1;
                self.first_connect_error
                    .get_or_insert_with(|| err.message.clone());
            }
            self.count_error(e);
            // Schedule lag is the client's, whatever the outcome.
            return match r.schedule_lag_ns() {
                Some(lag) => {
                    self.push(ScheduleLag, lag as f64);
                    vec![(ScheduleLag, to_record_value(ScheduleLag, lag as f64))]
                }
                None => Vec::new(),
            };
        }
        self.acc.successful += 1;
        if r.first_token_ns.is_none() {
            self.untimed_successes += 1;
        }
        let values = record_values(r, &inputs);
        for &(id, v) in &values {
            self.push(id, v);
        }
        for gap in trace::inter_chunk_gaps(r) {
            self.push(InterChunkLatency, gap as f64);
        }
        if let Some(threshold) = self.opts.usage_diff_threshold_pct {
            if let Some(over) = UsageDiffs::of(r, t, threshold).discrepancy {
                self.usage_diffed += 1;
                self.usage_discrepancies += u64::from(over);
            }
        }
        let judged = !self.slos.is_empty();
        let good = judged && self.slos.is_good(&values);
        self.good += u64::from(good);
        // AIPerf: max(start + latency) - min(start) over successful
        // requests, always on actual times (never the intended ones).
        widen(&mut self.last_response, response_end(r), Nanos::max);
        widen(&mut self.first_start, r.start_ns, Nanos::min);
        let mut out = to_record_values(values, r);
        if judged {
            // AIPerf's per-record flag: 1 when this request met every SLO.
            out.push((GoodRequestCount, RecordValue::Int(u64::from(good))));
        }
        out
    }

    fn count_error(&mut self, e: ErrorDetails<'_>) {
        let key = (e.error_type, e.code, e.message.to_string());
        if let Some(n) = self.errors.get_mut(&key) {
            *n += 1;
        } else if self.errors.len() < MAX_ERROR_GROUPS {
            self.errors.insert(key, 1);
        } else {
            let other = (e.error_type, e.code, OTHER_ERRORS_MESSAGE.to_string());
            *self.errors.entry(other).or_insert(0) += 1;
        }
    }

    /// The summary of everything added.
    pub fn finish(mut self, was_cancelled: bool) -> MetricsSummary {
        use MetricId::*;
        let mut results = Vec::new();
        // AIPerf's window: the phase's start to its last response.
        if let (Some(from), Some(to)) = (self.span_start, self.span_end) {
            for (id, tw) in self.sweep.metrics(from, to) {
                results.push(MetricResult {
                    def: id.def(),
                    value: MetricValue::Stats(tw.to_stats()),
                });
            }
        }
        let timeslices = match self.slicer.take() {
            Some(s) => s.finish(&mut self.sweep, !self.slos.is_empty()),
            None => Vec::new(),
        };
        for (d, series) in METRICS.iter().zip(&self.series) {
            if let Some(s) = series.stats() {
                results.push(MetricResult {
                    def: d,
                    value: MetricValue::Stats(s.scaled(d.display_scale)),
                });
            }
        }
        let sum_of = |id: MetricId| {
            let s = &self.series[id as usize];
            (s.count() > 0).then(|| s.sum())
        };
        let duration_ns = match (self.first_start, self.last_response) {
            (Some(s), Some(e)) if e > s => Some(e - s),
            _ => None,
        };
        let mut single = |id: MetricId, v: f64| {
            results.push(MetricResult {
                def: id.def(),
                value: MetricValue::Single(v / id.def().display_scale),
            })
        };
        let acc = self.acc;
        let (ok, failed) = (acc.successful, acc.errors);
        let total_osl = sum_of(OutputSequenceLength);
        let total_isl = sum_of(InputSequenceLength);
        if let Some(d) = duration_ns {
            let secs = d as f64 / NANOS_PER_SEC;
            if let Some(o) = total_osl {
                single(OutputTokenThroughput, o / secs);
            }
            if let Some(i) = total_isl {
                single(InputTokenThroughput, i / secs);
            }
            if let (Some(i), Some(o)) = (total_isl, total_osl) {
                single(TotalTokenThroughput, (i + o) / secs);
            }
            single(RequestThroughput, ok as f64 / secs);
            single(BenchmarkDuration, d as f64);
            if !self.slos.is_empty() {
                single(Goodput, self.good as f64 / secs);
            }
        }
        if !self.slos.is_empty() {
            single(GoodRequestCount, self.good as f64);
            let attempted = ok + failed;
            let frac = if attempted > 0 {
                self.good as f64 / attempted as f64
            } else {
                0.0
            };
            single(GoodRequestFraction, frac);
        }
        if ok + failed > 0 {
            single(CompletedRequestCount, (ok + failed) as f64);
            single(
                RequestErrorRate,
                100.0 * failed as f64 / (ok + failed) as f64,
            );
        }
        if ok > 0 {
            single(RequestCount, ok as f64);
        }
        if failed > 0 {
            single(ErrorRequestCount, failed as f64);
        }
        if acc.cancelled > 0 {
            single(CancelledRequestCount, acc.cancelled as f64);
        }
        // Shown whenever the run was open loop, zero included: "no arrival
        // waited" is the answer users look for.
        if self.open_loop {
            single(WaitedForConnectionCount, self.waited as f64);
        }
        if self.warmup > 0 {
            single(WarmupRequestCount, self.warmup as f64);
        }
        if self.usage_diffed > 0 {
            single(UsageDiscrepancyCount, self.usage_discrepancies as f64);
        }
        for (src, dst) in [
            (OutputTokenCount, TotalOutputTokens),
            (ReasoningTokenCount, TotalReasoningTokens),
            (InputSequenceLength, TotalIsl),
            (OutputSequenceLength, TotalOsl),
            (UsagePromptTokens, TotalUsagePromptTokens),
            (UsageCompletionTokens, TotalUsageCompletionTokens),
            (UsageReasoningTokens, TotalUsageReasoningTokens),
            (UsageTotalTokens, TotalUsageTotalTokens),
        ] {
            if let Some(s) = sum_of(src) {
                single(dst, s);
            }
        }
        results.sort_by_key(|r| r.def.id);

        let mut error_summary: Vec<ErrorCount> = self
            .errors
            .into_iter()
            .map(|((error_type, code, message), count)| ErrorCount {
                code,
                error_type,
                message,
                count,
            })
            .collect();
        // Most frequent first; ties keep the (type, code, message) order.
        error_summary.sort_by_key(|e| std::cmp::Reverse(e.count));

        MetricsSummary {
            results,
            error_summary,
            benchmark_duration_ns: duration_ns,
            start_ns: self.span_start,
            end_ns: self.span_end,
            was_cancelled,
            accounting: acc,
            warmup_requests: self.warmup,
            waited_for_connection: self.waited,
            latency_from_schedule: self.opts.latency_from_schedule,
            untimed_successes: self.untimed_successes,
            connect_failures: self.connect_failures,
            first_connect_error: self.first_connect_error,
            percentiles_exact: self.series.iter().all(Series::is_exact),
            usage_diff_threshold_pct: self.opts.usage_diff_threshold_pct,
            timeslices,
        }
    }
}

/// Every record of `run` through an `Accumulator` (`tokens` is index-aligned
/// with `run.records`; a shorter slice means unknown counts for the rest),
/// with each record's own values for the JSONL, in record order.
pub fn compute_with_records(
    run: &RunOutput,
    tokens: &[RequestTokens],
    opts: &ComputeOptions,
) -> (MetricsSummary, Vec<RecordMetrics>) {
    let none = RequestTokens::default();
    let mut acc = Accumulator::new(*opts);
    let records = run
        .records
        .iter()
        .enumerate()
        .map(|(i, r)| RecordMetrics {
            record_index: i,
            values: acc.add(r, tokens.get(i).unwrap_or(&none)),
        })
        .collect();
    (acc.finish(run.was_cancelled), records)
}

/// [`compute_with_records`] without the per-record values.
pub fn compute(run: &RunOutput, tokens: &[RequestTokens], opts: &ComputeOptions) -> MetricsSummary {
    compute_with_records(run, tokens, opts).0
}
