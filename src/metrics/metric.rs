//! The types of the metric table (`defs::METRICS`): what a metric is, which
//! console table shows it, and the shared defaults its entries start from.

use crate::sys::clock::NANOS_PER_SEC;

/// Whether a metric has one value per request (stats) or one per run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// One value per successful request; summarised with avg/min/max/pXX/std.
    Record,
    /// One value for the whole run (shown as `avg` only).
    Aggregate,
    /// A step function over the run, summarised time-weighted with avg, min,
    /// max, p50, p90, p95, p99 and std only (AIPerf's sweep-line metrics).
    TimeWeighted,
}

/// Which console table a metric appears in (AIPerf's `MetricConsoleGroup`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsoleGroup {
    /// The main "LLM Metrics" table.
    Default,
    /// The "LLM Metrics: Usage" table (server-reported token usage).
    Usage,
    /// The "HTTP Trace Timing" table, shown with `--show-trace-timing`.
    HttpTrace,
    /// Exported to files only.
    Hidden,
    /// "LLM Metrics: Effective": time-weighted over the run, and effective latency.
    Effective,
    /// "LLM Metrics: Active": time-weighted over the time a phase is in flight.
    Active,
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
    HttpReqBlocked,
    HttpReqDnsLookup,
    HttpReqConnecting,
    HttpReqSending,
    HttpReqWaiting,
    HttpReqReceiving,
    HttpReqConnectionReused,
    HttpReqDataSent,
    HttpReqChunksSent,
    HttpReqDataReceived,
    HttpReqChunksReceived,
    HttpReqConnectionOverhead,
    HttpReqDuration,
    HttpReqTotal,
    InterChunkLatency,
    CreditToStartLatency,
    UsagePromptTokensDiffPct,
    UsageCompletionTokensDiffPct,
    UsageReasoningTokensDiffPct,
    UsageDiscrepancyCount,
    EffectiveConcurrency,
    EffectiveDecodeThroughput,
    EffectivePrefillThroughput,
    EffectiveDecodeConcurrency,
    EffectivePrefillConcurrency,
    EffectiveTotalThroughput,
    EffectiveDecodeThroughputPerUser,
    EffectivePrefillThroughputPerUser,
    TokensInFlight,
    ActiveDecodeThroughput,
    ActivePrefillThroughput,
    ActiveDecodeThroughputPerUser,
    ActivePrefillThroughputPerUser,
    ActiveTotalThroughput,
    EffectiveLatency,
    PrefillThroughputPerUser,
    GoodRequestCount,
    GoodRequestFraction,
    Goodput,
}

/// The single definition of a metric, read by every writer.
#[derive(Clone, Copy, Debug, PartialEq)]
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

pub(super) const NS_TO_MS: f64 = 1_000_000.0;
pub(super) const NS_TO_SEC: f64 = NANOS_PER_SEC;
pub(super) const LAST: u32 = u32::MAX;

impl MetricDef {
    /// The values most metrics share: no unit scaling, not integer-valued,
    /// no console order, not error-only. The other fields are placeholders:
    /// every entry of `METRICS` sets them.
    pub const BASE: MetricDef = MetricDef {
        id: MetricId::TimeToFirstToken,
        tag: "",
        header: "",
        unit: "",
        display_unit: "",
        display_scale: 1.0,
        integer: false,
        kind: MetricKind::Record,
        group: ConsoleGroup::Hidden,
        display_order: LAST,
        error_only: false,
        formula: "",
    };

    /// An HTTP phase of the trace breakdown (ns, shown in ms).
    pub(super) const HTTP_MS: MetricDef = MetricDef {
        unit: "ns",
        display_unit: "ms",
        display_scale: NS_TO_MS,
        group: ConsoleGroup::HttpTrace,
        ..MetricDef::BASE
    };

    /// A count per request in the trace breakdown.
    pub(super) const HTTP_COUNT: MetricDef = MetricDef {
        unit: "count",
        display_unit: "count",
        integer: true,
        group: ConsoleGroup::HttpTrace,
        ..MetricDef::BASE
    };

    /// Bytes per request in the trace breakdown, shown in KB (1,024 bytes).
    pub(super) const HTTP_KB: MetricDef = MetricDef {
        unit: "bytes",
        display_unit: "KB",
        display_scale: 1024.0,
        group: ConsoleGroup::HttpTrace,
        ..MetricDef::BASE
    };

    /// A usage-vs-tokenizer difference in percent, per request.
    pub(super) const DIFF_PCT: MetricDef = MetricDef {
        unit: "%",
        display_unit: "%",
        ..MetricDef::BASE
    };
}
