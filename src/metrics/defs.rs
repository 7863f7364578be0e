//! The metric table: one definition per metric (tag, header, units, console
//! order and group, formula), read by every writer. Names, units and order
//! follow AIPerf 0.13.0. The types of an entry are in `metric.rs`.

pub use super::metric::{ConsoleGroup, MetricDef, MetricId, MetricKind};
use super::metric::{NS_TO_MS, NS_TO_SEC};

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
pub static METRICS: [MetricDef; 78] = [
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
    MetricDef {
        id: MetricId::HttpReqBlocked,
        tag: "http_req_blocked",
        header: "HTTP Blocked",
        display_order: 2000,
        formula: "waiting for a free connection: a connection took the arrival - it was queued (open loop; 0 when one was free)",
        ..MetricDef::HTTP_MS
    },
    MetricDef {
        id: MetricId::HttpReqDnsLookup,
        tag: "http_req_dns_lookup",
        header: "HTTP DNS Lookup",
        display_order: 2010,
        formula: "DNS resolution per request: 0, the host is resolved once before the run",
        ..MetricDef::HTTP_MS
    },
    MetricDef {
        id: MetricId::HttpReqConnecting,
        tag: "http_req_connecting",
        header: "HTTP Connecting",
        display_order: 2020,
        formula: "TCP connect + TLS handshake of the connection, on the first request it carries (0 when reused)",
        ..MetricDef::HTTP_MS
    },
    MetricDef {
        id: MetricId::HttpReqSending,
        tag: "http_req_sending",
        header: "HTTP Sending",
        display_order: 2030,
        formula: "last request byte handed to the kernel - first (AIPerf's also holds connection set-up)",
        ..MetricDef::HTTP_MS
    },
    MetricDef {
        id: MetricId::HttpReqWaiting,
        tag: "http_req_waiting",
        header: "HTTP Waiting (TTFB)",
        display_order: 2040,
        formula: "first response byte read - last request byte sent (time to first byte)",
        ..MetricDef::HTTP_MS
    },
    MetricDef {
        id: MetricId::HttpReqReceiving,
        tag: "http_req_receiving",
        header: "HTTP Receiving",
        display_order: 2050,
        formula: "last response byte read - first response byte read",
        ..MetricDef::HTTP_MS
    },
    MetricDef {
        id: MetricId::HttpReqConnectionReused,
        tag: "http_req_connection_reused",
        header: "HTTP Connection Reused",
        unit: "ratio",
        display_unit: "ratio",
        display_order: 2060,
        formula: "1 when the connection carried a request before, else 0",
        ..MetricDef::HTTP_COUNT
    },
    MetricDef {
        id: MetricId::HttpReqDataSent,
        tag: "http_req_data_sent",
        header: "HTTP Data Sent",
        display_order: 2070,
        formula: "request body bytes (the head is not counted, as in AIPerf) / 1024",
        ..MetricDef::HTTP_KB
    },
    MetricDef {
        id: MetricId::HttpReqChunksSent,
        tag: "http_req_chunks_sent",
        header: "HTTP Chunks Sent",
        display_order: 2080,
        formula: "write calls that carried the request's bytes",
        ..MetricDef::HTTP_COUNT
    },
    MetricDef {
        id: MetricId::HttpReqDataReceived,
        tag: "http_req_data_received",
        header: "HTTP Data Received",
        display_order: 2090,
        formula: "response body bytes after de-chunking (no head, no chunk framing, as in AIPerf) / 1024",
        ..MetricDef::HTTP_KB
    },
    MetricDef {
        id: MetricId::HttpReqChunksReceived,
        tag: "http_req_chunks_received",
        header: "HTTP Chunks Received",
        display_order: 2100,
        formula: "reads that returned bytes of the response (head included)",
        ..MetricDef::HTTP_COUNT
    },
    MetricDef {
        id: MetricId::HttpReqConnectionOverhead,
        tag: "http_req_connection_overhead",
        header: "HTTP Connection Overhead",
        display_order: 2110,
        formula: "blocked + dns_lookup + connecting",
        ..MetricDef::HTTP_MS
    },
    MetricDef {
        id: MetricId::HttpReqDuration,
        tag: "http_req_duration",
        header: "HTTP Duration (excl. conn)",
        display_order: 2120,
        formula: "sending + waiting + receiving: last response byte - first request byte",
        ..MetricDef::HTTP_MS
    },
    MetricDef {
        id: MetricId::HttpReqTotal,
        tag: "http_req_total",
        header: "HTTP Total Time",
        display_order: 2130,
        formula: "connection overhead + duration",
        ..MetricDef::HTTP_MS
    },
    MetricDef {
        id: MetricId::InterChunkLatency,
        tag: "inter_chunk_latency",
        header: "Inter Chunk Latency",
        formula: "gaps between consecutive events carrying content or reasoning, every gap of every request (streaming)",
        group: ConsoleGroup::Hidden,
        ..MetricDef::HTTP_MS
    },
    MetricDef {
        id: MetricId::CreditToStartLatency,
        tag: "credit_to_start_latency",
        header: "Credit-to-Start Latency",
        formula: "request start - its release (open loop: intended time; closed loop: its slot claiming it); every profiling request sent",
        group: ConsoleGroup::Hidden,
        ..MetricDef::HTTP_MS
    },
    MetricDef {
        id: MetricId::UsagePromptTokensDiffPct,
        tag: "usage_prompt_tokens_diff_pct",
        header: "Usage Prompt Diff %",
        formula: "100 * |usage.prompt_tokens - ISL| / ISL (client tokenizer only; ISL > 0)",
        ..MetricDef::DIFF_PCT
    },
    MetricDef {
        id: MetricId::UsageCompletionTokensDiffPct,
        tag: "usage_completion_tokens_diff_pct",
        header: "Usage Completion Diff %",
        formula: "100 * |usage.completion_tokens - OSL| / OSL (client tokenizer only; OSL > 0)",
        ..MetricDef::DIFF_PCT
    },
    MetricDef {
        id: MetricId::UsageReasoningTokensDiffPct,
        tag: "usage_reasoning_tokens_diff_pct",
        header: "Usage Reasoning Diff %",
        formula: "100 * |usage reasoning tokens - reasoning tokens| / reasoning tokens (client tokenizer only)",
        ..MetricDef::DIFF_PCT
    },
    MetricDef {
        id: MetricId::UsageDiscrepancyCount,
        tag: "usage_discrepancy_count",
        header: "Usage Discrepancy Count",
        unit: "requests",
        display_unit: "requests",
        integer: true,
        kind: MetricKind::Aggregate,
        formula: "requests with both prompt and completion diffs whose prompt, completion or reasoning diff is over the threshold (10 %)",
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
