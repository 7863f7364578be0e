//! Metric definitions and statistics: the collect stage.
//!
//! Owns ONE definition per metric (`METRICS`: tag, header, units, console
//! order and group, formula) and the computation of every number users see
//! from `RunOutput` + `RequestTokens`. The console, CSV, JSON and JSONL
//! writers read these definitions and results; none of them re-derives a
//! number. Names, units, order and formulas follow AIPerf 0.13.0.
//!
//! Stats are exact (every value kept, sorted): percentiles by linear
//! interpolation (numpy's default), population std (ddof = 0), computed in
//! the native unit (ns, tokens) and converted to the display unit afterwards,
//! as AIPerf does.

use std::collections::BTreeMap;

use crate::record::{ErrorKind, RequestRecord, RunOutput};
use crate::tokens::RequestTokens;
use crate::units::{Nanos, NANOS_PER_SEC};

/// Whether a metric has one value per request (stats) or one per run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// One value per successful request; summarised with avg/min/max/pXX/std.
    Record,
    /// One value for the whole run (shown as `avg` only).
    Aggregate,
}

/// Which console table a metric appears in (AIPerf's `MetricConsoleGroup`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsoleGroup {
    /// The main "LLM Metrics" table.
    Default,
    /// The "LLM Metrics: Usage" table (server-reported token usage).
    Usage,
    /// Exported to files only.
    Hidden,
}

/// Every metric audioperf reports. The discriminant indexes `METRICS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MetricId {
    TimeToFirstToken,
    TimeToSecondToken,
    TimeToFirstOutputToken,
    RequestLatency,
    DecodeDuration,
    InterTokenLatency,
    OutputTokenThroughputPerUser,
    E2eOutputTokenThroughput,
    OutputSequenceLength,
    InputSequenceLength,
    OutputTokenCount,
    ReasoningTokenCount,
    UsagePromptTokens,
    UsageCompletionTokens,
    UsageReasoningTokens,
    UsageTotalTokens,
    OutputTokenThroughput,
    InputTokenThroughput,
    TotalTokenThroughput,
    RequestThroughput,
    CompletedRequestCount,
    RequestErrorRate,
    RequestCount,
    ErrorRequestCount,
    BenchmarkDuration,
    TotalOutputTokens,
    TotalReasoningTokens,
    TotalIsl,
    TotalOsl,
    TotalUsagePromptTokens,
    TotalUsageCompletionTokens,
    TotalUsageReasoningTokens,
    TotalUsageTotalTokens,
    AudioDuration,
    Rtfx,
    ScheduleLag,
    WaitedForConnectionCount,
    CancelledRequestCount,
    WarmupRequestCount,
}

/// The single definition of a metric, read by every writer.
#[derive(Debug, PartialEq)]
pub struct MetricDef {
    pub id: MetricId,
    /// AIPerf's tag: JSON key, JSONL key, sort key of the CSV.
    pub tag: &'static str,
    /// Human name, e.g. "Time to First Token".
    pub header: &'static str,
    /// Unit the formula produces ("ns", "tokens", ...).
    pub unit: &'static str,
    /// Unit shown everywhere (values are divided by `display_scale`).
    pub display_unit: &'static str,
    /// native / display_scale = display value (1e6 for ns → ms).
    pub display_scale: f64,
    /// Per-record values are integers (tokens), written without a fraction in JSONL.
    pub integer: bool,
    pub kind: MetricKind,
    pub group: ConsoleGroup,
    /// AIPerf's `display_order` (console row order); `u32::MAX` = unordered.
    pub display_order: u32,
    /// Only reported when there are errors; never in the console table (AIPerf's ERROR_ONLY).
    pub error_only: bool,
    /// One line saying how the value is computed (docs, `--help`-style listings).
    pub formula: &'static str,
}

const NS_TO_MS: f64 = 1_000_000.0;
const NS_TO_SEC: f64 = NANOS_PER_SEC;
const LAST: u32 = u32::MAX;

macro_rules! def {
    ($id:ident, $tag:literal, $header:literal, $unit:literal, $disp:literal, $scale:expr,
     $int:expr, $kind:ident, $group:ident, $order:expr, $err:expr, $formula:literal) => {
        MetricDef {
            id: MetricId::$id,
            tag: $tag,
            header: $header,
            unit: $unit,
            display_unit: $disp,
            display_scale: $scale,
            integer: $int,
            kind: MetricKind::$kind,
            group: ConsoleGroup::$group,
            display_order: $order,
            error_only: $err,
            formula: $formula,
        }
    };
}

/// All metric definitions, in `MetricId` order.
pub static METRICS: [MetricDef; 39] = [
    def!(
        TimeToFirstToken,
        "time_to_first_token",
        "Time to First Token",
        "ns",
        "ms",
        NS_TO_MS,
        false,
        Record,
        Default,
        100,
        false,
        "first event carrying content or reasoning - request start (the intended start with --latency-from-schedule)"
    ),
    def!(
        TimeToSecondToken,
        "time_to_second_token",
        "Time to Second Token",
        "ns",
        "ms",
        NS_TO_MS,
        false,
        Record,
        Default,
        200,
        false,
        "second event carrying content or reasoning - first such event"
    ),
    def!(
        TimeToFirstOutputToken,
        "time_to_first_output_token",
        "Time to First Output Token",
        "ns",
        "ms",
        NS_TO_MS,
        false,
        Record,
        Default,
        210,
        false,
        "first event carrying non-reasoning content - request start (the intended start with --latency-from-schedule)"
    ),
    def!(
        RequestLatency,
        "request_latency",
        "Request Latency",
        "ns",
        "ms",
        NS_TO_MS,
        false,
        Record,
        Default,
        300,
        false,
        "last content event (or the full response when not streaming) - request start (the intended start with --latency-from-schedule)"
    ),
    def!(
        DecodeDuration,
        "decode_duration",
        "Decode Duration",
        "ns",
        "ms",
        NS_TO_MS,
        false,
        Record,
        Default,
        350,
        false,
        "request latency - time to first token"
    ),
    def!(
        InterTokenLatency,
        "inter_token_latency",
        "Inter Token Latency",
        "ns",
        "ms",
        NS_TO_MS,
        false,
        Record,
        Default,
        400,
        false,
        "(request latency - time to first token) / (OSL - 1), needs OSL >= 2"
    ),
    def!(
        OutputTokenThroughputPerUser,
        "output_token_throughput_per_user",
        "Output Token Throughput Per User",
        "tokens/sec/user",
        "tokens/sec/user",
        1.0,
        false,
        Record,
        Default,
        500,
        false,
        "1 / inter token latency (seconds)"
    ),
    def!(
        E2eOutputTokenThroughput,
        "e2e_output_token_throughput",
        "E2E Output Token Throughput",
        "tokens/sec/user",
        "tokens/sec/user",
        1.0,
        false,
        Record,
        Default,
        510,
        false,
        "OSL / request latency (seconds)"
    ),
    def!(
        OutputSequenceLength,
        "output_sequence_length",
        "Output Sequence Length",
        "tokens",
        "tokens",
        1.0,
        true,
        Record,
        Default,
        600,
        false,
        "output tokens + reasoning tokens"
    ),
    def!(
        InputSequenceLength,
        "input_sequence_length",
        "Input Sequence Length",
        "tokens",
        "tokens",
        1.0,
        true,
        Record,
        Default,
        700,
        false,
        "prompt tokens"
    ),
    def!(
        OutputTokenCount,
        "output_token_count",
        "Output Token Count",
        "tokens",
        "tokens",
        1.0,
        true,
        Record,
        Hidden,
        LAST,
        false,
        "OSL - reasoning tokens"
    ),
    def!(
        ReasoningTokenCount,
        "reasoning_token_count",
        "Reasoning Token Count",
        "tokens",
        "tokens",
        1.0,
        true,
        Record,
        Hidden,
        LAST,
        false,
        "reasoning tokens"
    ),
    def!(
        UsagePromptTokens,
        "usage_prompt_tokens",
        "Usage Prompt Tokens",
        "tokens",
        "tokens",
        1.0,
        true,
        Record,
        Usage,
        1000,
        false,
        "usage.prompt_tokens"
    ),
    def!(
        UsageCompletionTokens,
        "usage_completion_tokens",
        "Usage Completion Tokens",
        "tokens",
        "tokens",
        1.0,
        true,
        Record,
        Usage,
        1100,
        false,
        "usage.completion_tokens"
    ),
    def!(
        UsageReasoningTokens,
        "usage_reasoning_tokens",
        "Usage Reasoning Tokens",
        "tokens",
        "tokens",
        1.0,
        true,
        Record,
        Usage,
        1110,
        false,
        "usage.completion_tokens_details.reasoning_tokens"
    ),
    def!(
        UsageTotalTokens,
        "usage_total_tokens",
        "Usage Total Tokens",
        "tokens",
        "tokens",
        1.0,
        true,
        Record,
        Usage,
        1200,
        false,
        "usage.prompt_tokens + usage.completion_tokens"
    ),
    def!(
        OutputTokenThroughput,
        "output_token_throughput",
        "Output Token Throughput",
        "tokens/sec",
        "tokens/sec",
        1.0,
        false,
        Aggregate,
        Default,
        800,
        false,
        "sum of OSL / benchmark duration (seconds)"
    ),
    def!(
        InputTokenThroughput,
        "input_token_throughput",
        "Input Token Throughput",
        "tokens/sec",
        "tokens/sec",
        1.0,
        false,
        Aggregate,
        Default,
        805,
        false,
        "sum of ISL / benchmark duration (seconds)"
    ),
    def!(
        TotalTokenThroughput,
        "total_token_throughput",
        "Total Token Throughput",
        "tokens/sec",
        "tokens/sec",
        1.0,
        false,
        Aggregate,
        Hidden,
        LAST,
        false,
        "(sum of ISL + sum of OSL) / benchmark duration (seconds)"
    ),
    def!(
        RequestThroughput,
        "request_throughput",
        "Request Throughput",
        "requests/sec",
        "requests/sec",
        1.0,
        false,
        Aggregate,
        Default,
        900,
        false,
        "successful requests / benchmark duration (seconds)"
    ),
    def!(
        CompletedRequestCount,
        "completed_request_count",
        "Completed Requests (Success + Error)",
        "requests",
        "requests",
        1.0,
        true,
        Aggregate,
        Default,
        1075,
        false,
        "successful + failed requests"
    ),
    def!(
        RequestErrorRate,
        "request_error_rate",
        "Request Error Rate",
        "%",
        "%",
        1.0,
        false,
        Aggregate,
        Default,
        1080,
        false,
        "100 * failed / (successful + failed)"
    ),
    def!(
        RequestCount,
        "request_count",
        "Request Count",
        "requests",
        "requests",
        1.0,
        true,
        Aggregate,
        Default,
        1100,
        false,
        "successful requests"
    ),
    def!(
        ErrorRequestCount,
        "error_request_count",
        "Error Request Count",
        "requests",
        "requests",
        1.0,
        true,
        Aggregate,
        Default,
        LAST,
        true,
        "failed requests"
    ),
    def!(
        BenchmarkDuration,
        "benchmark_duration",
        "Benchmark Duration",
        "ns",
        "sec",
        NS_TO_SEC,
        false,
        Aggregate,
        Hidden,
        LAST,
        false,
        "max(last response of a successful request) - min(its request start), actual times (also with --benchmark-duration, as AIPerf)"
    ),
    def!(
        TotalOutputTokens,
        "total_output_tokens",
        "Total Output Tokens",
        "tokens",
        "tokens",
        1.0,
        true,
        Aggregate,
        Hidden,
        LAST,
        false,
        "sum of output token counts"
    ),
    def!(
        TotalReasoningTokens,
        "total_reasoning_tokens",
        "Total Reasoning Tokens",
        "tokens",
        "tokens",
        1.0,
        true,
        Aggregate,
        Hidden,
        LAST,
        false,
        "sum of reasoning token counts"
    ),
    def!(
        TotalIsl,
        "total_isl",
        "Total Input Sequence Length",
        "tokens",
        "tokens",
        1.0,
        true,
        Aggregate,
        Hidden,
        LAST,
        false,
        "sum of ISL"
    ),
    def!(
        TotalOsl,
        "total_osl",
        "Total Output Sequence Length",
        "tokens",
        "tokens",
        1.0,
        true,
        Aggregate,
        Hidden,
        LAST,
        false,
        "sum of OSL"
    ),
    def!(
        TotalUsagePromptTokens,
        "total_usage_prompt_tokens",
        "Total Usage Prompt Tokens",
        "tokens",
        "tokens",
        1.0,
        true,
        Aggregate,
        Usage,
        2000,
        false,
        "sum of usage.prompt_tokens"
    ),
    def!(
        TotalUsageCompletionTokens,
        "total_usage_completion_tokens",
        "Total Usage Completion Tokens",
        "tokens",
        "tokens",
        1.0,
        true,
        Aggregate,
        Usage,
        2100,
        false,
        "sum of usage.completion_tokens"
    ),
    def!(
        TotalUsageReasoningTokens,
        "total_usage_reasoning_tokens",
        "Total Usage Reasoning Tokens",
        "tokens",
        "tokens",
        1.0,
        true,
        Aggregate,
        Usage,
        2110,
        false,
        "sum of usage reasoning tokens"
    ),
    def!(
        TotalUsageTotalTokens,
        "total_usage_total_tokens",
        "Total Usage Total Tokens",
        "tokens",
        "tokens",
        1.0,
        true,
        Aggregate,
        Usage,
        2200,
        false,
        "sum of usage total tokens"
    ),
    def!(
        AudioDuration,
        "audio_duration",
        "Audio Duration",
        "sec",
        "sec",
        1.0,
        false,
        Record,
        Hidden,
        870,
        false,
        "seconds of audio sent in the request"
    ),
    def!(
        Rtfx,
        "rtfx",
        "Inverse Real-Time Factor (RTFx)",
        "ratio",
        "ratio",
        1.0,
        false,
        Record,
        Default,
        850,
        false,
        "audio duration (seconds) / request latency (seconds)"
    ),
    def!(
        ScheduleLag,
        "schedule_lag",
        "Schedule Lag",
        "ns",
        "ms",
        NS_TO_MS,
        false,
        Record,
        Default,
        360,
        false,
        "request start - intended start, every profiling request sent (--request-rate only; audioperf)"
    ),
    def!(
        WaitedForConnectionCount,
        "waited_for_connection_count",
        "Waited For Connection Count",
        "requests",
        "requests",
        1.0,
        true,
        Aggregate,
        Default,
        1110,
        false,
        "arrivals that found no free connection and waited for one (--request-rate only; audioperf)"
    ),
    def!(
        CancelledRequestCount,
        "cancelled_request_count",
        "Cancelled Request Count",
        "requests",
        "requests",
        1.0,
        true,
        Aggregate,
        Default,
        1090,
        false,
        "requests cancelled on purpose (cancellation rate, grace period, interrupt); not errors (audioperf)"
    ),
    def!(
        WarmupRequestCount,
        "warmup_request_count",
        "Warmup Request Count",
        "requests",
        "requests",
        1.0,
        true,
        Aggregate,
        Hidden,
        LAST,
        false,
        "warmup requests sent; never part of any other metric (audioperf)"
    ),
];

impl MetricId {
    pub fn def(self) -> &'static MetricDef {
        &METRICS[self as usize]
    }
}

/// Looks a definition up by AIPerf tag.
pub fn def_by_tag(tag: &str) -> Option<&'static MetricDef> {
    METRICS.iter().find(|d| d.tag == tag)
}

/// Exact statistics of one metric, in its display unit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    pub avg: f64,
    pub min: f64,
    pub max: f64,
    pub p1: f64,
    pub p5: f64,
    pub p10: f64,
    pub p25: f64,
    pub p50: f64,
    pub p75: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub std: f64,
    pub count: u64,
    pub sum: f64,
}

/// The stat names AIPerf exports, in its CSV column order.
pub const STAT_KEYS: [&str; 14] = [
    "avg", "min", "max", "sum", "p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99", "std",
];

impl Stats {
    /// Stats of `values` (any order; sorted here). None when empty.
    /// Percentiles: numpy's linear method; std: population (ddof = 0).
    pub fn from_values(values: &mut [f64]) -> Option<Stats> {
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let sum: f64 = values.iter().sum();
        let avg = sum / n as f64;
        // numpy's np.std: sqrt(mean(|x - mean|^2)), mean taken as sum / n.
        let var = values.iter().map(|v| (v - avg) * (v - avg)).sum::<f64>() / n as f64;
        let pct = |q: f64| -> f64 {
            let virt = q / 100.0 * (n - 1) as f64;
            let lo = virt as usize;
            let hi = (lo + 1).min(n - 1);
            let frac = virt - lo as f64;
            values[lo] + frac * (values[hi] - values[lo])
        };
        Some(Stats {
            avg,
            min: values[0],
            max: values[n - 1],
            p1: pct(1.0),
            p5: pct(5.0),
            p10: pct(10.0),
            p25: pct(25.0),
            p50: pct(50.0),
            p75: pct(75.0),
            p90: pct(90.0),
            p95: pct(95.0),
            p99: pct(99.0),
            std: var.sqrt(),
            count: n as u64,
            sum,
        })
    }

    /// Every stat divided by `scale` (native → display unit); count kept.
    pub fn scaled(&self, scale: f64) -> Stats {
        if scale == 1.0 {
            return *self;
        }
        Stats {
            avg: self.avg / scale,
            min: self.min / scale,
            max: self.max / scale,
            p1: self.p1 / scale,
            p5: self.p5 / scale,
            p10: self.p10 / scale,
            p25: self.p25 / scale,
            p50: self.p50 / scale,
            p75: self.p75 / scale,
            p90: self.p90 / scale,
            p95: self.p95 / scale,
            p99: self.p99 / scale,
            std: self.std / scale,
            count: self.count,
            sum: self.sum / scale,
        }
    }

    /// A stat by its AIPerf name (`STAT_KEYS`, plus "count").
    pub fn get(&self, key: &str) -> Option<f64> {
        Some(match key {
            "avg" => self.avg,
            "min" => self.min,
            "max" => self.max,
            "sum" => self.sum,
            "p1" => self.p1,
            "p5" => self.p5,
            "p10" => self.p10,
            "p25" => self.p25,
            "p50" => self.p50,
            "p75" => self.p75,
            "p90" => self.p90,
            "p95" => self.p95,
            "p99" => self.p99,
            "std" => self.std,
            "count" => self.count as f64,
            _ => return None,
        })
    }
}

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

    /// A stat by name; run-level metrics have only `avg`.
    pub fn stat(&self, key: &str) -> Option<f64> {
        match &self.value {
            MetricValue::Stats(s) => s.get(key),
            MetricValue::Single(v) => (key == "avg").then_some(*v),
        }
    }
}

/// One per-request metric value in its display unit (for the JSONL).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RecordValue {
    Int(u64),
    Float(f64),
}

impl RecordValue {
    pub fn as_f64(self) -> f64 {
        match self {
            RecordValue::Int(v) => v as f64,
            RecordValue::Float(v) => v,
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
    /// Per request (warmup first, then profiling), in record order. Warmup
    /// entries carry their own values for the JSONL but feed no result.
    pub records: Vec<RecordMetrics>,
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

/// Options that change how metrics are measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ComputeOptions {
    /// `--latency-from-schedule`: request latency, TTFT and TTFO are taken
    /// from the intended start (open loop), so time an arrival spent waiting
    /// in the client is part of them (coordinated omission made visible).
    pub latency_from_schedule: bool,
}

impl ComputeOptions {
    pub fn from_config(cfg: &crate::config::ProfileConfig) -> ComputeOptions {
        ComputeOptions {
            latency_from_schedule: cfg.latency_from_schedule,
        }
    }
}

/// Per-request metric values in native units, for one successful record.
/// `origin` is where request latency and the TTFT family start from.
fn record_values(
    r: &RequestRecord,
    t: &RequestTokens,
    audio_s: Option<f64>,
    origin: Nanos,
) -> Vec<(MetricId, f64)> {
    use MetricId::*;
    let mut out = Vec::with_capacity(16);
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

/// Computes every metric of the profiling phase. `tokens` is index-aligned
/// with `run.records` (a shorter slice means unknown counts for the rest).
pub fn compute(run: &RunOutput, tokens: &[RequestTokens]) -> MetricsSummary {
    compute_with_audio(run, tokens, &[])
}

/// `compute`, plus the audio metrics (`audio_duration`, `rtfx`):
/// `audio_seconds[dataset_index]` is the audio sent by each dataset entry
/// (`PreparedRequest::audio_seconds`).
pub fn compute_with_audio(
    run: &RunOutput,
    tokens: &[RequestTokens],
    audio_seconds: &[f64],
) -> MetricsSummary {
    compute_with_options(run, tokens, audio_seconds, ComputeOptions::default())
}

/// Everything: the audio metrics and the measuring options.
///
/// Accounting follows the brief of issue A: a cancelled request is neither a
/// success nor an error (`error_request_count`, `request_error_rate` and
/// `completed_request_count` leave it out), is counted in
/// `cancelled_request_count`, and is listed in `error_summary` as AIPerf's
/// `RequestCancellationError` (code 499). AIPerf 0.13 itself also counts it
/// in `error_request_count`.
pub fn compute_with_options(
    run: &RunOutput,
    tokens: &[RequestTokens],
    audio_seconds: &[f64],
    opts: ComputeOptions,
) -> MetricsSummary {
    use MetricId::*;
    let none = RequestTokens::default();
    let mut per_metric: BTreeMap<MetricId, Vec<f64>> = BTreeMap::new();
    let mut records = Vec::new();
    let mut errors: BTreeMap<(&'static str, Option<u16>, String), u64> = BTreeMap::new();
    let mut acc = RequestAccounting::default();
    let (mut warmup, mut waited, mut open_loop) = (0u64, 0u64, false);
    let (mut first_start, mut last_response) = (None::<Nanos>, None::<Nanos>);
    let (mut span_start, mut span_end) = (None::<Nanos>, None::<Nanos>);

    for (i, r) in run.records.iter().enumerate() {
        let origin = match (opts.latency_from_schedule, r.intended_start_ns) {
            (true, Some(intended)) => intended,
            _ => r.start_ns,
        };
        let t = tokens.get(i).unwrap_or(&none);
        let audio = audio_seconds.get(r.dataset_index as usize).copied();
        if r.warmup {
            // Warmup requests get their own values in the JSONL (phase
            // "warmup") and feed nothing else.
            warmup += 1;
            let values = if r.is_success() {
                record_values(r, t, audio, origin)
            } else {
                Vec::new()
            };
            records.push(RecordMetrics {
                record_index: i,
                values: values
                    .into_iter()
                    .map(|(id, v)| (id, to_record_value(id, v)))
                    .collect(),
            });
            continue;
        }
        acc.sent += 1;
        open_loop |= r.intended_start_ns.is_some();
        waited += u64::from(r.waited_for_connection);
        span_start = Some(span_start.map_or(r.start_ns, |s| s.min(r.start_ns)));
        span_end = Some(span_end.map_or(r.end_ns, |e| e.max(r.end_ns)));
        if let Some(e) = error_details(r) {
            if r.cancelled {
                acc.cancelled += 1;
            } else {
                acc.errors += 1;
            }
            *errors
                .entry((e.error_type, e.code, e.message.to_string()))
                .or_insert(0) += 1;
            // Schedule lag is the client's, whatever the outcome.
            let mut values = Vec::new();
            if let Some(lag) = r.schedule_lag_ns() {
                per_metric.entry(ScheduleLag).or_default().push(lag as f64);
                values.push((ScheduleLag, to_record_value(ScheduleLag, lag as f64)));
            }
            records.push(RecordMetrics {
                record_index: i,
                values,
            });
            continue;
        }
        acc.successful += 1;
        let values = record_values(r, t, audio, origin);
        for &(id, v) in &values {
            per_metric.entry(id).or_default().push(v);
        }
        // AIPerf: max(start + latency) - min(start) over successful
        // requests, always on actual times (never the intended ones).
        let end = response_end(r);
        last_response = Some(last_response.map_or(end, |e| e.max(end)));
        first_start = Some(first_start.map_or(r.start_ns, |s| s.min(r.start_ns)));
        records.push(RecordMetrics {
            record_index: i,
            values: values
                .into_iter()
                .map(|(id, v)| (id, to_record_value(id, v)))
                .collect(),
        });
    }

    let mut results = Vec::new();
    let sum_of = |id: MetricId| per_metric.get(&id).map(|v| v.iter().sum::<f64>());
    for (&id, values) in per_metric.iter() {
        let mut vals = values.clone();
        if let Some(s) = Stats::from_values(&mut vals) {
            results.push(MetricResult {
                def: id.def(),
                value: MetricValue::Stats(s.scaled(id.def().display_scale)),
            });
        }
    }

    let duration_ns = match (first_start, last_response) {
        (Some(s), Some(e)) if e > s => Some(e - s),
        _ => None,
    };
    let mut single = |id: MetricId, v: f64| {
        results.push(MetricResult {
            def: id.def(),
            value: MetricValue::Single(v / id.def().display_scale),
        })
    };
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
    if open_loop {
        single(WaitedForConnectionCount, waited as f64);
    }
    if warmup > 0 {
        single(WarmupRequestCount, warmup as f64);
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

    let mut error_summary: Vec<ErrorCount> = errors
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
        records,
        error_summary,
        benchmark_duration_ns: duration_ns,
        start_ns: span_start,
        end_ns: span_end,
        was_cancelled: run.was_cancelled,
        accounting: acc,
        warmup_requests: warmup,
        waited_for_connection: waited,
        latency_from_schedule: opts.latency_from_schedule,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::record::{ErrorKind, RequestError, Usage};

    const MS: u64 = 1_000_000;

    /// A successful streaming record: times in ms after `start_ms`.
    pub(crate) fn rec(
        id: u64,
        start_ms: u64,
        ttft: u64,
        latency: u64,
        osl: u64,
        isl: u64,
    ) -> RequestRecord {
        let start = 1_000 * MS + start_ms * MS;
        RequestRecord {
            request_id: id,
            start_ns: start,
            ack_ns: Some(start + MS),
            first_token_ns: Some(start + ttft * MS),
            second_token_ns: Some(start + ttft * MS + 2 * MS),
            first_output_ns: Some(start + ttft * MS),
            last_token_ns: Some(start + latency * MS),
            end_ns: start + latency * MS + MS,
            token_events: osl as u32,
            status: Some(200),
            usage: Some(Usage {
                prompt_tokens: Some(isl),
                completion_tokens: Some(osl),
                reasoning_tokens: None,
            }),
            ..Default::default()
        }
    }

    /// Three successes (TTFT 10/20/30 ms, latency 50/100/70 ms, OSL 5/9/11,
    /// ISL 10/20/30), one warmup and one error.
    pub(crate) fn sample_run() -> RunOutput {
        let mut warm = rec(0, 0, 1, 500, 100, 100);
        warm.warmup = true;
        let mut bad = rec(4, 3, 0, 0, 0, 0);
        bad.first_token_ns = None;
        bad.usage = None;
        bad.error = Some(RequestError {
            kind: ErrorKind::HttpStatus,
            code: Some(500),
            message: "Internal Server Error".into(),
        });
        RunOutput {
            records: vec![
                warm,
                rec(1, 0, 10, 50, 5, 10),
                rec(2, 5, 20, 100, 9, 20),
                rec(3, 10, 30, 70, 11, 30),
                bad,
            ],
            ..Default::default()
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    fn stats(s: &MetricsSummary, id: MetricId) -> Stats {
        match s.get(id).map(|r| &r.value) {
            Some(MetricValue::Stats(st)) => *st,
            other => panic!("{id:?}: expected stats, got {other:?}"),
        }
    }

    fn single(s: &MetricsSummary, id: MetricId) -> f64 {
        match s.get(id).map(|r| &r.value) {
            Some(MetricValue::Single(v)) => *v,
            other => panic!("{id:?}: expected a single value, got {other:?}"),
        }
    }

    #[test]
    fn definitions_are_indexed_by_id() {
        for (i, d) in METRICS.iter().enumerate() {
            assert_eq!(d.id as usize, i, "{}", d.tag);
        }
        assert_eq!(
            def_by_tag("inter_token_latency").map(|d| d.id),
            Some(MetricId::InterTokenLatency)
        );
    }

    #[test]
    fn stats_match_numpy() {
        // np.percentile([1,2,3,4,10], [1,5,10,25,50,75,90,95,99]) and np.std.
        let mut v = vec![10.0, 2.0, 4.0, 1.0, 3.0];
        let s = Stats::from_values(&mut v).unwrap();
        assert_eq!(
            (s.min, s.max, s.avg, s.sum, s.count),
            (1.0, 10.0, 4.0, 20.0, 5)
        );
        assert!(close(s.p1, 1.04));
        assert!(close(s.p5, 1.2));
        assert!(close(s.p10, 1.4));
        assert!(close(s.p25, 2.0));
        assert!(close(s.p50, 3.0));
        assert!(close(s.p75, 4.0));
        assert!(close(s.p90, 7.6));
        assert!(close(s.p95, 8.8));
        assert!(close(s.p99, 9.76));
        assert!(close(s.std, 10.0f64.sqrt()));
        assert!(Stats::from_values(&mut []).is_none());
        let one = Stats::from_values(&mut [7.0]).unwrap();
        assert_eq!((one.p1, one.p99, one.std), (7.0, 7.0, 0.0));
    }

    #[test]
    fn same_numbers_as_aiperf_0_13() {
        // TTFTs (ns) from an AIPerf 0.13.0 profile_export.jsonl and the stats
        // its profile_export_aiperf.json printed for them.
        let mut ns = [
            41751217.0, 41664628.0, 46862583.0, 45361907.0, 45645044.0, 44735819.0,
        ];
        let s = Stats::from_values(&mut ns).unwrap().scaled(1e6);
        let expected = [
            (s.avg, 44.33686633333333),
            (s.p1, 41.66895745),
            (s.p5, 41.68627525),
            (s.p10, 41.707922499999995),
            (s.p25, 42.497367499999996),
            (s.p50, 45.048863),
            (s.p75, 45.574259749999996),
            (s.p90, 46.2538135),
            (s.p95, 46.55819825),
            (s.p99, 46.80170604999999),
            (s.min, 41.664628),
            (s.max, 46.862583),
            (s.std, 1.963283188586037),
            (s.sum, 266.02119799999997),
        ];
        for (i, (got, want)) in expected.iter().enumerate() {
            assert!(
                (got - want).abs() <= 1e-12 * want,
                "stat {i}: {got} != {want}"
            );
        }
        assert_eq!(s.count, 6);
    }

    #[test]
    fn hand_computed_run() {
        let run = sample_run();
        let tokens = crate::tokens::from_server_usage(&run);
        let s = compute(&run, &tokens);

        let ttft = stats(&s, MetricId::TimeToFirstToken);
        assert_eq!(ttft.count, 3);
        assert!(close(ttft.avg, 20.0));
        assert!(close(ttft.p50, 20.0));
        assert!(close(ttft.p90, 28.0));
        assert!(close(ttft.std, (200.0f64 / 3.0).sqrt()));
        assert!(close(ttft.min, 10.0) && close(ttft.max, 30.0));

        let ttst = stats(&s, MetricId::TimeToSecondToken);
        assert!(close(ttst.avg, 2.0) && close(ttst.std, 0.0));

        // ITL = (latency - ttft) / (osl - 1): 40/4, 80/8, 40/10.
        let itl = stats(&s, MetricId::InterTokenLatency);
        assert!(close(itl.min, 4.0) && close(itl.max, 10.0) && close(itl.avg, 8.0));
        let tpu = stats(&s, MetricId::OutputTokenThroughputPerUser);
        assert!(close(tpu.min, 100.0) && close(tpu.max, 250.0) && close(tpu.avg, 150.0));

        let lat = stats(&s, MetricId::RequestLatency);
        assert!(close(lat.avg, 220.0 / 3.0) && close(lat.p50, 70.0));
        let dec = stats(&s, MetricId::DecodeDuration);
        assert!(close(dec.sum, 160.0));
        // E2E = osl / latency: 5/0.05, 9/0.1, 11/0.07.
        let e2e = stats(&s, MetricId::E2eOutputTokenThroughput);
        assert!(close(e2e.min, 90.0) && close(e2e.max, 11.0 / 0.07));

        assert_eq!(stats(&s, MetricId::OutputSequenceLength).sum, 25.0);
        assert_eq!(stats(&s, MetricId::InputSequenceLength).avg, 20.0);

        // Duration: max(start + latency) = 105 ms after the first start.
        assert_eq!(s.benchmark_duration_ns, Some(105 * MS));
        assert!(close(single(&s, MetricId::BenchmarkDuration), 0.105));
        assert!(close(
            single(&s, MetricId::OutputTokenThroughput),
            25.0 / 0.105
        ));
        assert!(close(
            single(&s, MetricId::InputTokenThroughput),
            60.0 / 0.105
        ));
        assert!(close(single(&s, MetricId::RequestThroughput), 3.0 / 0.105));
        assert_eq!(single(&s, MetricId::RequestCount), 3.0);
        assert_eq!(single(&s, MetricId::ErrorRequestCount), 1.0);
        assert_eq!(single(&s, MetricId::CompletedRequestCount), 4.0);
        assert_eq!(single(&s, MetricId::RequestErrorRate), 25.0);
        assert_eq!(single(&s, MetricId::TotalOsl), 25.0);
        assert_eq!(single(&s, MetricId::TotalUsageTotalTokens), 85.0);
        assert!(s.get(MetricId::ReasoningTokenCount).is_none());

        // Warmup keeps its own per-record values (JSONL) and feeds no
        // result; the error is listed without metrics.
        assert_eq!(s.records.len(), 5);
        assert_eq!(s.records[0].record_index, 0);
        assert!(s.records[0]
            .values
            .contains(&(MetricId::OutputSequenceLength, RecordValue::Int(100))));
        assert_eq!(s.records[1].record_index, 1);
        assert!(s.records[4].values.is_empty());
        assert_eq!(s.warmup_requests, 1);
        assert_eq!(single(&s, MetricId::WarmupRequestCount), 1.0);
        assert_eq!(
            s.accounting,
            RequestAccounting {
                sent: 4,
                successful: 3,
                errors: 1,
                cancelled: 0
            }
        );
        // Closed loop: no schedule lag, no waited count, no cancellations.
        assert!(s.get(MetricId::ScheduleLag).is_none());
        assert!(s.get(MetricId::WaitedForConnectionCount).is_none());
        assert!(s.get(MetricId::CancelledRequestCount).is_none());
        assert_eq!(
            s.error_summary,
            vec![ErrorCount {
                code: Some(500),
                error_type: "HTTPError",
                message: "Internal Server Error".into(),
                count: 1
            }]
        );
        // Span covers every profiling request: first start to the last end (R2: 5 + 100 + 1 ms).
        assert_eq!(s.start_ns, Some(1_000 * MS));
        assert_eq!(s.end_ns, Some(1_000 * MS + 106 * MS));
    }

    /// Open loop: three arrivals due at 0, 10 and 20 ms after t0, sent 1, 4
    /// and 12 ms late (the third waited for a connection), plus one error
    /// sent 2 ms late and one cancelled request sent on time.
    pub(crate) fn open_loop_run() -> RunOutput {
        let t0 = 1_000 * MS;
        let mut records = Vec::new();
        for (id, (due, late, waited)) in [(0, 1, false), (10, 4, false), (20, 12, true)]
            .into_iter()
            .enumerate()
        {
            // rec() starts at 1000 ms + start_ms; TTFT 10 ms, latency 50 ms.
            let mut r = rec(id as u64, due + late, 10, 50, 5, 10);
            r.intended_start_ns = Some(t0 + due * MS);
            r.waited_for_connection = waited;
            records.push(r);
        }
        let mut bad = rec(3, 32, 0, 5, 0, 0);
        bad.intended_start_ns = Some(t0 + 30 * MS);
        bad.first_token_ns = None;
        bad.usage = None;
        bad.error = Some(RequestError {
            kind: ErrorKind::ConnectionClosed,
            code: None,
            message: "closed".into(),
        });
        let mut cancelled = rec(4, 40, 10, 50, 5, 10);
        cancelled.intended_start_ns = Some(t0 + 40 * MS);
        cancelled.cancelled = true;
        cancelled.error = Some(RequestError {
            kind: ErrorKind::Cancelled,
            code: Some(200),
            message: "cancelled by --request-cancellation-rate".into(),
        });
        records.extend([bad, cancelled]);
        RunOutput {
            records,
            ..Default::default()
        }
    }

    #[test]
    fn schedule_lag_and_accounting() {
        let run = open_loop_run();
        let s = compute(&run, &crate::tokens::from_server_usage(&run));
        // Lags of every request sent: 1, 4, 12, 2 and 0 ms.
        let lag = stats(&s, MetricId::ScheduleLag);
        assert_eq!(lag.count, 5);
        assert!(close(lag.avg, 19.0 / 5.0) && close(lag.max, 12.0) && close(lag.min, 0.0));
        assert!(close(lag.p50, 2.0));
        assert_eq!(single(&s, MetricId::WaitedForConnectionCount), 1.0);
        assert_eq!(s.waited_for_connection, 1);
        // Cancelled: not an error, counted apart, listed as AIPerf does.
        assert_eq!(
            s.accounting,
            RequestAccounting {
                sent: 5,
                successful: 3,
                errors: 1,
                cancelled: 1
            }
        );
        assert!(s.accounting.holds());
        assert_eq!(single(&s, MetricId::ErrorRequestCount), 1.0);
        assert_eq!(single(&s, MetricId::CancelledRequestCount), 1.0);
        assert_eq!(single(&s, MetricId::CompletedRequestCount), 4.0);
        assert_eq!(single(&s, MetricId::RequestErrorRate), 25.0);
        assert_eq!(single(&s, MetricId::RequestCount), 3.0);
        assert!(s.error_summary.contains(&ErrorCount {
            code: Some(CANCELLED_CODE),
            error_type: "RequestCancellationError",
            message: "cancelled by --request-cancellation-rate".into(),
            count: 1
        }));
        assert_eq!(s.error_summary.len(), 2);
        // Error and cancelled records carry their schedule lag in the JSONL.
        assert_eq!(
            s.records[3].values,
            vec![(MetricId::ScheduleLag, RecordValue::Float(2.0))]
        );
        assert_eq!(
            s.records[4].values,
            vec![(MetricId::ScheduleLag, RecordValue::Float(0.0))]
        );
        // Default: latency from the actual start.
        assert!(close(stats(&s, MetricId::RequestLatency).avg, 50.0));
        assert!(close(stats(&s, MetricId::TimeToFirstToken).avg, 10.0));
    }

    #[test]
    fn latency_from_schedule() {
        let run = open_loop_run();
        let tokens = crate::tokens::from_server_usage(&run);
        let opts = ComputeOptions {
            latency_from_schedule: true,
        };
        let s = compute_with_options(&run, &tokens, &[], opts);
        assert!(s.latency_from_schedule);
        // Each lateness (1, 4, 12 ms) is added to latency, TTFT and TTFO.
        let lat = stats(&s, MetricId::RequestLatency);
        assert!(close(lat.min, 51.0) && close(lat.max, 62.0) && close(lat.avg, 167.0 / 3.0));
        let ttft = stats(&s, MetricId::TimeToFirstToken);
        assert!(close(ttft.min, 11.0) && close(ttft.max, 22.0));
        let ttfo = stats(&s, MetricId::TimeToFirstOutputToken);
        assert!(close(ttfo.avg, 10.0 + 17.0 / 3.0));
        // TTST and ITL are differences of response times: unchanged.
        assert!(close(stats(&s, MetricId::TimeToSecondToken).avg, 2.0));
        assert!(close(stats(&s, MetricId::InterTokenLatency).avg, 10.0));
        // Benchmark duration stays on actual times: first actual start (1 ms)
        // to the last actual response (32 + 50 ms).
        assert_eq!(s.benchmark_duration_ns, Some(81 * MS));
        // Closed-loop records (no intended start) are unaffected.
        let closed = sample_run();
        let a = compute(&closed, &crate::tokens::from_server_usage(&closed));
        let b = compute_with_options(
            &closed,
            &crate::tokens::from_server_usage(&closed),
            &[],
            opts,
        );
        assert_eq!(a.results, b.results);
    }

    #[test]
    fn audio_metrics_need_audio() {
        let run = sample_run();
        let tokens = crate::tokens::from_server_usage(&run);
        assert!(compute(&run, &tokens).get(MetricId::Rtfx).is_none());
        // Every record uses dataset entry 0: 5 s of audio.
        let s = compute_with_audio(&run, &tokens, &[5.0]);
        let rtfx = stats(&s, MetricId::Rtfx);
        // 5 s over latencies of 0.05, 0.1 and 0.07 s.
        assert!(close(rtfx.min, 50.0) && close(rtfx.max, 100.0) && close(rtfx.p50, 5.0 / 0.07));
        assert_eq!(stats(&s, MetricId::AudioDuration).sum, 15.0);
        assert!(compute_with_audio(&run, &tokens, &[0.0])
            .get(MetricId::AudioDuration)
            .is_none());
    }

    #[test]
    fn non_streaming_has_no_streaming_metrics() {
        let mut r = rec(0, 0, 0, 40, 1, 3);
        r.first_token_ns = None;
        r.second_token_ns = None;
        r.first_output_ns = None;
        r.last_token_ns = None;
        let run = RunOutput {
            records: vec![r],
            ..Default::default()
        };
        let s = compute(&run, &crate::tokens::from_server_usage(&run));
        assert!(s.get(MetricId::TimeToFirstToken).is_none());
        assert!(s.get(MetricId::InterTokenLatency).is_none());
        // Latency falls back to the end of the response: 40 + 1 ms.
        assert!(close(stats(&s, MetricId::RequestLatency).avg, 41.0));
        assert!(s.get(MetricId::ErrorRequestCount).is_none());
        assert_eq!(single(&s, MetricId::RequestErrorRate), 0.0);
    }
}
