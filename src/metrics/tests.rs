//! Tests of `compute`, and the sample runs other modules' tests share.

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
fn hand_computed_run() {
    let run = sample_run();
    let tokens = crate::tokens::from_server_usage(&run);
    let (s, records) = compute_with_records(&run, &tokens, &ComputeOptions::default());

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
    assert_eq!(records.len(), 5);
    assert_eq!(records[0].record_index, 0);
    assert!(records[0]
        .values
        .contains(&(MetricId::OutputSequenceLength, RecordValue::Int(100))));
    assert_eq!(records[1].record_index, 1);
    assert!(records[4].values.is_empty());
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
    let (s, records) = compute_with_records(
        &run,
        &crate::tokens::from_server_usage(&run),
        &ComputeOptions::default(),
    );
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
        records[3].values,
        vec![(MetricId::ScheduleLag, RecordValue::Float(2.0))]
    );
    assert_eq!(
        records[4].values,
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
        ..ComputeOptions::default()
    };
    let s = compute(&run, &tokens, &opts);
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
    let a = compute(
        &closed,
        &crate::tokens::from_server_usage(&closed),
        &ComputeOptions::default(),
    );
    let b = compute(&closed, &crate::tokens::from_server_usage(&closed), &opts);
    assert_eq!(a.results, b.results);
}

#[test]
fn audio_metrics_need_audio() {
    let run = sample_run();
    let tokens = crate::tokens::from_server_usage(&run);
    assert!(compute(&run, &tokens, &ComputeOptions::default())
        .get(MetricId::Rtfx)
        .is_none());
    // Every record uses dataset entry 0: 5 s of audio.
    let s = compute(
        &run,
        &tokens,
        &ComputeOptions {
            audio_seconds: &[5.0],
            ..ComputeOptions::default()
        },
    );
    let rtfx = stats(&s, MetricId::Rtfx);
    // 5 s over latencies of 0.05, 0.1 and 0.07 s.
    assert!(close(rtfx.min, 50.0) && close(rtfx.max, 100.0) && close(rtfx.p50, 5.0 / 0.07));
    assert_eq!(stats(&s, MetricId::AudioDuration).sum, 15.0);
    assert!(compute(
        &run,
        &tokens,
        &ComputeOptions {
            audio_seconds: &[0.0],
            ..ComputeOptions::default()
        },
    )
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
    let s = compute(
        &run,
        &crate::tokens::from_server_usage(&run),
        &ComputeOptions::default(),
    );
    assert!(s.get(MetricId::TimeToFirstToken).is_none());
    assert!(s.get(MetricId::InterTokenLatency).is_none());
    // Latency falls back to the end of the response: 40 + 1 ms.
    assert!(close(stats(&s, MetricId::RequestLatency).avg, 41.0));
    assert!(s.get(MetricId::ErrorRequestCount).is_none());
    assert_eq!(single(&s, MetricId::RequestErrorRate), 0.0);
}

#[test]
fn error_groups_are_bounded() {
    let mut acc = Accumulator::new(ComputeOptions::default());
    let n = MAX_ERROR_GROUPS + 500;
    for i in 0..n as u64 {
        let mut r = rec(i, 0, 1, 2, 1, 1);
        r.error = Some(RequestError {
            kind: ErrorKind::Io,
            code: None,
            message: format!("distinct message {i}"),
        });
        acc.add(&r, &RequestTokens::default());
    }
    let s = acc.finish(false);
    assert_eq!(s.error_summary.len(), MAX_ERROR_GROUPS + 1);
    assert_eq!(
        s.error_summary.iter().map(|e| e.count).sum::<u64>(),
        n as u64
    );
    let other = &s.error_summary[0];
    assert_eq!(
        (other.message.as_str(), other.count),
        (OTHER_ERRORS_MESSAGE, 500)
    );
    assert_eq!(s.accounting.errors, n as u64);
}

#[test]
fn connect_failures_and_untimed_successes_are_counted() {
    let mut acc = Accumulator::new(ComputeOptions::default());
    let mut refused = rec(0, 0, 1, 2, 1, 1);
    refused.error = Some(RequestError {
        kind: ErrorKind::Connect,
        code: None,
        message: "connection refused".into(),
    });
    acc.add(&refused, &RequestTokens::default());
    let mut untimed = rec(1, 0, 1, 2, 1, 1);
    untimed.first_token_ns = None;
    acc.add(&untimed, &RequestTokens::default());
    let s = acc.finish(false);
    assert_eq!(s.connect_failures, 1);
    assert_eq!(s.first_connect_error.as_deref(), Some("connection refused"));
    assert_eq!(s.untimed_successes, 1);
    assert!(s.percentiles_exact);
}

/// `rec` as the engine stamps it: a slot, a send of 1 ms, the head 10 ms
/// later, `gaps` between its token events.
fn traced(id: u64, start_ms: u64, fresh: bool, gaps: &[u64]) -> RequestRecord {
    let mut r = rec(id, start_ms, 10, 50, gaps.len() as u64 + 1, 10);
    r.slot_ns = r.start_ns;
    r.send_ns = r.start_ns;
    r.sent_ns = r.start_ns + MS;
    r.ack_ns = Some(r.sent_ns + 10 * MS);
    r.conn_setup_ns = fresh.then_some(3 * MS);
    (r.send_writes, r.recv_reads, r.body_bytes_received) = (1, 4, 2048);
    let mut t = r.ack_ns.unwrap_or_default();
    let mut times = vec![t];
    for g in gaps {
        t += g * MS;
        times.push(t);
    }
    r.token_ns = times.into();
    r
}

#[test]
fn http_trace_metrics_feed_the_summary_and_the_records() {
    let run = RunOutput {
        records: vec![traced(0, 0, true, &[10, 20]), traced(1, 5, false, &[30])],
        ..Default::default()
    };
    let tokens = crate::tokens::from_server_usage(&run);
    let opts = ComputeOptions {
        body_bytes: &[10 * 1024],
        ..Default::default()
    };
    let (s, per) = compute_with_records(&run, &tokens, &opts);
    let st = |id| s.stats(id).cloned().unwrap_or_else(|| panic!("{id:?}"));
    use MetricId::*;
    assert_eq!(st(HttpReqWaiting).avg, 10.0);
    assert_eq!(st(HttpReqSending).avg, 1.0);
    assert_eq!(st(HttpReqConnecting).max, 3.0);
    assert_eq!(st(HttpReqConnectionReused).avg, 0.5);
    assert_eq!(st(HttpReqDataSent).avg, 10.0);
    assert_eq!(st(HttpReqDataReceived).avg, 2.0);
    assert_eq!(st(HttpReqChunksReceived).avg, 4.0);
    // Every gap of every request, in ms.
    let icl = st(InterChunkLatency);
    assert_eq!(
        (icl.count, icl.min, icl.max, icl.sum),
        (3, 10.0, 30.0, 60.0)
    );
    // Closed loop, sent at once: no queueing in the client.
    assert_eq!(st(CreditToStartLatency).max, 0.0);
    // Server usage as the token source: no usage differences.
    assert!(s.get(UsagePromptTokensDiffPct).is_none());
    assert!(s.get(UsageDiscrepancyCount).is_none());
    // The JSONL gets the list, in ms, and AIPerf's integer counts.
    let first = &per[0].values;
    let list = first.iter().find(|(id, _)| *id == InterChunkLatency);
    assert_eq!(
        list.map(|(_, v)| v.clone()),
        Some(RecordValue::List(vec![10.0, 20.0].into()))
    );
    assert!(first.contains(&(HttpReqConnectionReused, RecordValue::Int(0))));
    assert!(first.contains(&(HttpReqChunksSent, RecordValue::Int(1))));
    assert!(!first.iter().any(|(id, _)| *id == CreditToStartLatency));
}

#[test]
fn usage_discrepancies_are_counted_with_a_client_tokenizer() {
    let run = RunOutput {
        records: vec![traced(0, 0, true, &[10]), traced(1, 5, false, &[10])],
        ..Default::default()
    };
    // The client counted 12 prompt tokens for the first (usage says 10:
    // 16.7 %), 10 for the second; 2 output tokens for both.
    let client = |isl| crate::tokens::RequestTokens {
        isl: Some(isl),
        osl: Some(2),
        reasoning: None,
    };
    let tokens = [client(12), client(10)];
    let opts = ComputeOptions {
        usage_diff_threshold_pct: Some(10.0),
        ..Default::default()
    };
    let s = compute(&run, &tokens, &opts);
    let prompt = s
        .stats(MetricId::UsagePromptTokensDiffPct)
        .cloned()
        .unwrap();
    assert!((prompt.max - 100.0 * 2.0 / 12.0).abs() < 1e-9, "{prompt:?}");
    assert_eq!(prompt.min, 0.0);
    assert_eq!(
        s.get(MetricId::UsageDiscrepancyCount).map(|r| r.avg()),
        Some(1.0)
    );
    let warning = crate::report::console::usage_discrepancy_warning(&s).unwrap();
    assert!(warning.contains("1 of 2 requests (50.0%)"), "{warning}");
    // A higher threshold: none over it, the count is 0 and nothing is said.
    let opts = ComputeOptions {
        usage_diff_threshold_pct: Some(20.0),
        ..Default::default()
    };
    let s = compute(&run, &tokens, &opts);
    assert_eq!(
        s.get(MetricId::UsageDiscrepancyCount).map(|r| r.avg()),
        Some(0.0)
    );
    assert_eq!(crate::report::console::usage_discrepancy_warning(&s), None);
}
