//! The metric table: one definition per metric (tag, header, units, console
//! order and group, formula), read by every writer. Names, units and order
//! follow AIPerf 0.13.0.

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

const NS_TO_MS: f64 = 1_000_000.0;
const NS_TO_SEC: f64 = NANOS_PER_SEC;
const LAST: u32 = u32::MAX;

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
}

/// A time-weighted metric: same native and display unit, no scaling.
const fn tw(
    id: MetricId,
    tag: &'static str,
    header: &'static str,
    unit: &'static str,
    group: ConsoleGroup,
    display_order: u32,
    formula: &'static str,
) -> MetricDef {
    MetricDef {
        id,
        tag,
        header,
        unit,
        display_unit: unit,
        kind: MetricKind::TimeWeighted,
        group,
        display_order,
        formula,
        ..MetricDef::BASE
    }
}

/// AIPerf's sweep-line metrics and their active variants, in its order.
#[rustfmt::skip]
const TIME_WEIGHTED: [MetricDef; 14] = [
    tw(MetricId::EffectiveConcurrency, "effective_concurrency", "Effective Concurrency", "requests", ConsoleGroup::Effective, 3000, "requests in flight (start to end of response), time-weighted over the run"),
    tw(MetricId::EffectiveDecodeThroughput, "effective_decode_throughput", "Effective Decode Throughput", "tokens/sec", ConsoleGroup::Effective, 3010, "sum over requests in decode of (OSL - 1) / (last token - first token), time-weighted"),
    tw(MetricId::EffectivePrefillThroughput, "effective_prefill_throughput", "Effective Prefill Throughput", "tokens/sec", ConsoleGroup::Effective, 3020, "sum over requests in prefill of ISL / TTFT, time-weighted"),
    tw(MetricId::EffectiveDecodeConcurrency, "effective_decode_concurrency", "Effective Decode Concurrency", "requests", ConsoleGroup::Effective, 3030, "requests between first token and end of response, time-weighted"),
    tw(MetricId::EffectivePrefillConcurrency, "effective_prefill_concurrency", "Effective Prefill Concurrency", "requests", ConsoleGroup::Effective, 3040, "requests between start and first token, time-weighted"),
    tw(MetricId::EffectiveTotalThroughput, "effective_total_throughput", "Effective Total Throughput", "tokens/sec", ConsoleGroup::Effective, 3050, "effective prefill + decode throughput, time-weighted"),
    tw(MetricId::EffectiveDecodeThroughputPerUser, "effective_decode_throughput_per_user", "Effective Decode Throughput Per User", "tokens/sec/user", ConsoleGroup::Effective, 3060, "effective decode throughput / decode concurrency (0 when none), time-weighted"),
    tw(MetricId::EffectivePrefillThroughputPerUser, "effective_prefill_throughput_per_user", "Effective Prefill Throughput Per User", "tokens/sec/user", ConsoleGroup::Effective, 3070, "effective prefill throughput / prefill concurrency (0 when none), time-weighted"),
    tw(MetricId::TokensInFlight, "tokens_in_flight", "Tokens In Flight", "tokens", ConsoleGroup::Effective, 3080, "ISL from start to end plus output tokens from first token to end, per request in flight, time-weighted"),
    tw(MetricId::ActiveDecodeThroughput, "active_decode_throughput", "Active Decode Throughput", "tokens/sec", ConsoleGroup::Active, 3100, "effective decode throughput, weighted over the time a request is in decode"),
    tw(MetricId::ActivePrefillThroughput, "active_prefill_throughput", "Active Prefill Throughput", "tokens/sec", ConsoleGroup::Active, 3110, "effective prefill throughput, weighted over the time a request is in prefill"),
    tw(MetricId::ActiveDecodeThroughputPerUser, "active_decode_throughput_per_user", "Active Decode Throughput Per User", "tokens/sec/user", ConsoleGroup::Active, 3120, "decode throughput per user, weighted over the time a request is in decode"),
    tw(MetricId::ActivePrefillThroughputPerUser, "active_prefill_throughput_per_user", "Active Prefill Throughput Per User", "tokens/sec/user", ConsoleGroup::Active, 3130, "prefill throughput per user, weighted over the time a request is in prefill"),
    tw(MetricId::ActiveTotalThroughput, "active_total_throughput", "Active Total Throughput", "tokens/sec", ConsoleGroup::Active, 3140, "effective total throughput, weighted over the time a request is in flight"),
];

/// All metric definitions, in `MetricId` order.
pub static METRICS: [MetricDef; 58] = [
    MetricDef {
        id: MetricId::TimeToFirstToken,
        tag: "time_to_first_token",
        header: "Time to First Token",
        unit: "ns",
        display_unit: "ms",
        display_scale: NS_TO_MS,
        kind: MetricKind::Record,
        group: ConsoleGroup::Default,
        display_order: 100,
        formula: "first event carrying content or reasoning - request start (the intended start with --latency-from-schedule)",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::TimeToSecondToken,
        tag: "time_to_second_token",
        header: "Time to Second Token",
        unit: "ns",
        display_unit: "ms",
        display_scale: NS_TO_MS,
        kind: MetricKind::Record,
        group: ConsoleGroup::Default,
        display_order: 200,
        formula: "second event carrying content or reasoning - first such event",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::TimeToFirstOutputToken,
        tag: "time_to_first_output_token",
        header: "Time to First Output Token",
        unit: "ns",
        display_unit: "ms",
        display_scale: NS_TO_MS,
        kind: MetricKind::Record,
        group: ConsoleGroup::Default,
        display_order: 210,
        formula: "first event carrying non-reasoning content - request start (the intended start with --latency-from-schedule)",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::RequestLatency,
        tag: "request_latency",
        header: "Request Latency",
        unit: "ns",
        display_unit: "ms",
        display_scale: NS_TO_MS,
        kind: MetricKind::Record,
        group: ConsoleGroup::Default,
        display_order: 300,
        formula: "last content event (or the full response when not streaming) - request start (the intended start with --latency-from-schedule)",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::DecodeDuration,
        tag: "decode_duration",
        header: "Decode Duration",
        unit: "ns",
        display_unit: "ms",
        display_scale: NS_TO_MS,
        kind: MetricKind::Record,
        group: ConsoleGroup::Default,
        display_order: 350,
        formula: "request latency - time to first token",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::InterTokenLatency,
        tag: "inter_token_latency",
        header: "Inter Token Latency",
        unit: "ns",
        display_unit: "ms",
        display_scale: NS_TO_MS,
        kind: MetricKind::Record,
        group: ConsoleGroup::Default,
        display_order: 400,
        formula: "(request latency - time to first token) / (OSL - 1), needs OSL >= 2",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::OutputTokenThroughputPerUser,
        tag: "output_token_throughput_per_user",
        header: "Output Token Throughput Per User",
        unit: "tokens/sec/user",
        display_unit: "tokens/sec/user",
        kind: MetricKind::Record,
        group: ConsoleGroup::Default,
        display_order: 500,
        formula: "1 / inter token latency (seconds)",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::E2eOutputTokenThroughput,
        tag: "e2e_output_token_throughput",
        header: "E2E Output Token Throughput",
        unit: "tokens/sec/user",
        display_unit: "tokens/sec/user",
        kind: MetricKind::Record,
        group: ConsoleGroup::Default,
        display_order: 510,
        formula: "OSL / request latency (seconds)",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::OutputSequenceLength,
        tag: "output_sequence_length",
        header: "Output Sequence Length",
        unit: "tokens",
        display_unit: "tokens",
        integer: true,
        kind: MetricKind::Record,
        group: ConsoleGroup::Default,
        display_order: 600,
        formula: "output tokens + reasoning tokens",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::InputSequenceLength,
        tag: "input_sequence_length",
        header: "Input Sequence Length",
        unit: "tokens",
        display_unit: "tokens",
        integer: true,
        kind: MetricKind::Record,
        group: ConsoleGroup::Default,
        display_order: 700,
        formula: "prompt tokens",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::OutputTokenCount,
        tag: "output_token_count",
        header: "Output Token Count",
        unit: "tokens",
        display_unit: "tokens",
        integer: true,
        kind: MetricKind::Record,
        group: ConsoleGroup::Hidden,
        formula: "OSL - reasoning tokens",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::ReasoningTokenCount,
        tag: "reasoning_token_count",
        header: "Reasoning Token Count",
        unit: "tokens",
        display_unit: "tokens",
        integer: true,
        kind: MetricKind::Record,
        group: ConsoleGroup::Hidden,
        formula: "reasoning tokens",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::UsagePromptTokens,
        tag: "usage_prompt_tokens",
        header: "Usage Prompt Tokens",
        unit: "tokens",
        display_unit: "tokens",
        integer: true,
        kind: MetricKind::Record,
        group: ConsoleGroup::Usage,
        display_order: 1000,
        formula: "usage.prompt_tokens",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::UsageCompletionTokens,
        tag: "usage_completion_tokens",
        header: "Usage Completion Tokens",
        unit: "tokens",
        display_unit: "tokens",
        integer: true,
        kind: MetricKind::Record,
        group: ConsoleGroup::Usage,
        display_order: 1100,
        formula: "usage.completion_tokens",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::UsageReasoningTokens,
        tag: "usage_reasoning_tokens",
        header: "Usage Reasoning Tokens",
        unit: "tokens",
        display_unit: "tokens",
        integer: true,
        kind: MetricKind::Record,
        group: ConsoleGroup::Usage,
        display_order: 1110,
        formula: "usage.completion_tokens_details.reasoning_tokens",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::UsageTotalTokens,
        tag: "usage_total_tokens",
        header: "Usage Total Tokens",
        unit: "tokens",
        display_unit: "tokens",
        integer: true,
        kind: MetricKind::Record,
        group: ConsoleGroup::Usage,
        display_order: 1200,
        formula: "usage.prompt_tokens + usage.completion_tokens",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::OutputTokenThroughput,
        tag: "output_token_throughput",
        header: "Output Token Throughput",
        unit: "tokens/sec",
        display_unit: "tokens/sec",
        kind: MetricKind::Aggregate,
        group: ConsoleGroup::Default,
        display_order: 800,
        formula: "sum of OSL / benchmark duration (seconds)",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::InputTokenThroughput,
        tag: "input_token_throughput",
        header: "Input Token Throughput",
        unit: "tokens/sec",
        display_unit: "tokens/sec",
        kind: MetricKind::Aggregate,
        group: ConsoleGroup::Default,
        display_order: 805,
        formula: "sum of ISL / benchmark duration (seconds)",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::TotalTokenThroughput,
        tag: "total_token_throughput",
        header: "Total Token Throughput",
        unit: "tokens/sec",
        display_unit: "tokens/sec",
        kind: MetricKind::Aggregate,
        group: ConsoleGroup::Hidden,
        formula: "(sum of ISL + sum of OSL) / benchmark duration (seconds)",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::RequestThroughput,
        tag: "request_throughput",
        header: "Request Throughput",
        unit: "requests/sec",
        display_unit: "requests/sec",
        kind: MetricKind::Aggregate,
        group: ConsoleGroup::Default,
        display_order: 900,
        formula: "successful requests / benchmark duration (seconds)",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::CompletedRequestCount,
        tag: "completed_request_count",
        header: "Completed Requests (Success + Error)",
        unit: "requests",
        display_unit: "requests",
        integer: true,
        kind: MetricKind::Aggregate,
        group: ConsoleGroup::Default,
        display_order: 1075,
        formula: "successful + failed requests",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::RequestErrorRate,
        tag: "request_error_rate",
        header: "Request Error Rate",
        unit: "%",
        display_unit: "%",
        kind: MetricKind::Aggregate,
        group: ConsoleGroup::Default,
        display_order: 1080,
        formula: "100 * failed / (successful + failed)",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::RequestCount,
        tag: "request_count",
        header: "Request Count",
        unit: "requests",
        display_unit: "requests",
        integer: true,
        kind: MetricKind::Aggregate,
        group: ConsoleGroup::Default,
        display_order: 1100,
        formula: "successful requests",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::ErrorRequestCount,
        tag: "error_request_count",
        header: "Error Request Count",
        unit: "requests",
        display_unit: "requests",
        integer: true,
        kind: MetricKind::Aggregate,
        group: ConsoleGroup::Default,
        error_only: true,
        formula: "failed requests",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::BenchmarkDuration,
        tag: "benchmark_duration",
        header: "Benchmark Duration",
        unit: "ns",
        display_unit: "sec",
        display_scale: NS_TO_SEC,
        kind: MetricKind::Aggregate,
        group: ConsoleGroup::Hidden,
        formula: "max(last response of a successful request) - min(its request start), actual times (also with --benchmark-duration, as AIPerf)",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::TotalOutputTokens,
        tag: "total_output_tokens",
        header: "Total Output Tokens",
        unit: "tokens",
        display_unit: "tokens",
        integer: true,
        kind: MetricKind::Aggregate,
        group: ConsoleGroup::Hidden,
        formula: "sum of output token counts",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::TotalReasoningTokens,
        tag: "total_reasoning_tokens",
        header: "Total Reasoning Tokens",
        unit: "tokens",
        display_unit: "tokens",
        integer: true,
        kind: MetricKind::Aggregate,
        group: ConsoleGroup::Hidden,
        formula: "sum of reasoning token counts",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::TotalIsl,
        tag: "total_isl",
        header: "Total Input Sequence Length",
        unit: "tokens",
        display_unit: "tokens",
        integer: true,
        kind: MetricKind::Aggregate,
        group: ConsoleGroup::Hidden,
        formula: "sum of ISL",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::TotalOsl,
        tag: "total_osl",
        header: "Total Output Sequence Length",
        unit: "tokens",
        display_unit: "tokens",
        integer: true,
        kind: MetricKind::Aggregate,
        group: ConsoleGroup::Hidden,
        formula: "sum of OSL",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::TotalUsagePromptTokens,
        tag: "total_usage_prompt_tokens",
        header: "Total Usage Prompt Tokens",
        unit: "tokens",
        display_unit: "tokens",
        integer: true,
        kind: MetricKind::Aggregate,
        group: ConsoleGroup::Usage,
        display_order: 2000,
        formula: "sum of usage.prompt_tokens",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::TotalUsageCompletionTokens,
        tag: "total_usage_completion_tokens",
        header: "Total Usage Completion Tokens",
        unit: "tokens",
        display_unit: "tokens",
        integer: true,
        kind: MetricKind::Aggregate,
        group: ConsoleGroup::Usage,
        display_order: 2100,
        formula: "sum of usage.completion_tokens",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::TotalUsageReasoningTokens,
        tag: "total_usage_reasoning_tokens",
        header: "Total Usage Reasoning Tokens",
        unit: "tokens",
        display_unit: "tokens",
        integer: true,
        kind: MetricKind::Aggregate,
        group: ConsoleGroup::Usage,
        display_order: 2110,
        formula: "sum of usage reasoning tokens",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::TotalUsageTotalTokens,
        tag: "total_usage_total_tokens",
        header: "Total Usage Total Tokens",
        unit: "tokens",
        display_unit: "tokens",
        integer: true,
        kind: MetricKind::Aggregate,
        group: ConsoleGroup::Usage,
        display_order: 2200,
        formula: "sum of usage total tokens",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::AudioDuration,
        tag: "audio_duration",
        header: "Audio Duration",
        unit: "sec",
        display_unit: "sec",
        kind: MetricKind::Record,
        group: ConsoleGroup::Hidden,
        display_order: 870,
        formula: "seconds of audio sent in the request",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::Rtfx,
        tag: "rtfx",
        header: "Inverse Real-Time Factor (RTFx)",
        unit: "ratio",
        display_unit: "ratio",
        kind: MetricKind::Record,
        group: ConsoleGroup::Default,
        display_order: 850,
        formula: "audio duration (seconds) / request latency (seconds)",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::ScheduleLag,
        tag: "schedule_lag",
        header: "Schedule Lag",
        unit: "ns",
        display_unit: "ms",
        display_scale: NS_TO_MS,
        kind: MetricKind::Record,
        group: ConsoleGroup::Default,
        display_order: 360,
        formula: "request start - intended start, every profiling request sent (--request-rate only; audioperf)",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::WaitedForConnectionCount,
        tag: "waited_for_connection_count",
        header: "Waited For Connection Count",
        unit: "requests",
        display_unit: "requests",
        integer: true,
        kind: MetricKind::Aggregate,
        group: ConsoleGroup::Default,
        display_order: 1110,
        formula: "arrivals that found no free connection and waited for one (--request-rate only; audioperf)",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::CancelledRequestCount,
        tag: "cancelled_request_count",
        header: "Cancelled Request Count",
        unit: "requests",
        display_unit: "requests",
        integer: true,
        kind: MetricKind::Aggregate,
        group: ConsoleGroup::Default,
        display_order: 1090,
        formula: "requests cancelled on purpose (cancellation rate, grace period, interrupt); not errors (audioperf)",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::WarmupRequestCount,
        tag: "warmup_request_count",
        header: "Warmup Request Count",
        unit: "requests",
        display_unit: "requests",
        integer: true,
        kind: MetricKind::Aggregate,
        group: ConsoleGroup::Hidden,
        formula: "warmup requests sent; never part of any other metric (audioperf)",
        ..MetricDef::BASE
    },
    TIME_WEIGHTED[0],
    TIME_WEIGHTED[1],
    TIME_WEIGHTED[2],
    TIME_WEIGHTED[3],
    TIME_WEIGHTED[4],
    TIME_WEIGHTED[5],
    TIME_WEIGHTED[6],
    TIME_WEIGHTED[7],
    TIME_WEIGHTED[8],
    TIME_WEIGHTED[9],
    TIME_WEIGHTED[10],
    TIME_WEIGHTED[11],
    TIME_WEIGHTED[12],
    TIME_WEIGHTED[13],
    MetricDef {
        id: MetricId::EffectiveLatency,
        tag: "effective_latency",
        header: "Effective Latency (CO-aware)",
        unit: "ns",
        display_unit: "ms",
        display_scale: NS_TO_MS,
        kind: MetricKind::Record,
        group: ConsoleGroup::Effective,
        display_order: 3090,
        formula: "end of response - moment the request was due (intended start in open loop, else start), every profiling request",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::PrefillThroughputPerUser,
        tag: "prefill_throughput_per_user",
        header: "Prefill Throughput Per User",
        unit: "tokens/sec/user",
        display_unit: "tokens/sec/user",
        kind: MetricKind::Record,
        group: ConsoleGroup::Hidden,
        formula: "ISL / time to first token (seconds)",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::GoodRequestCount,
        tag: "good_request_count",
        header: "Good Request Count",
        unit: "requests",
        display_unit: "requests",
        integer: true,
        kind: MetricKind::Aggregate,
        group: ConsoleGroup::Hidden,
        formula: "successful requests meeting every --goodput SLO",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::GoodRequestFraction,
        tag: "good_request_fraction",
        header: "GoodRequestFraction",
        unit: "ratio",
        display_unit: "ratio",
        kind: MetricKind::Aggregate,
        group: ConsoleGroup::Hidden,
        formula: "good requests / (successful + failed requests)",
        ..MetricDef::BASE
    },
    MetricDef {
        id: MetricId::Goodput,
        tag: "goodput",
        header: "Goodput",
        unit: "requests/sec",
        display_unit: "requests/sec",
        kind: MetricKind::Aggregate,
        group: ConsoleGroup::Default,
        display_order: 1000,
        formula: "good requests / benchmark duration (seconds)",
        ..MetricDef::BASE
    },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_are_indexed_by_id() {
        for (i, d) in METRICS.iter().enumerate() {
            assert_eq!(d.id as usize, i, "{}", d.tag);
            // No entry keeps a placeholder of `MetricDef::BASE`.
            for field in [d.tag, d.header, d.unit, d.display_unit, d.formula] {
                assert!(!field.is_empty(), "{:?}", d.id);
            }
        }
        assert_eq!(
            def_by_tag("inter_token_latency").map(|d| d.id),
            Some(MetricId::InterTokenLatency)
        );
    }
}
