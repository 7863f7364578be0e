//! Per-request bookkeeping benchmarks: recording into an HdrHistogram (as the
//! workers do per sample), filling one `RequestRecord` from timestamps (the
//! per-request work on the hot path), and `metrics::compute` over 10k
//! synthetic records (after the run). Criterion prints elements/s.

use audioperf::record::{IoDriver, RequestRecord, RunOutput, Usage};
use audioperf::{metrics, tokens};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use std::time::Duration;

const RECORDS: usize = 10_000;

/// One streamed 50-token request: TTFT 50 ms, ITL 10 ms, as the mock serves.
fn record(i: u64, base: u64) -> RequestRecord {
    let start = base + i * 1_000_000;
    let first = start + 50_000_000 + (i % 97) * 1_000;
    let last = first + 49 * 10_000_000;
    RequestRecord {
        request_id: i,
        dataset_index: (i % 100) as u32,
        worker: (i % 2) as u16,
        start_ns: start,
        ack_ns: Some(first - 20_000),
        first_token_ns: Some(first),
        second_token_ns: Some(first + 10_000_000),
        first_output_ns: Some(first),
        last_token_ns: Some(last),
        end_ns: last + 50_000,
        token_events: 50,
        status: Some(200),
        usage: Some(Usage {
            prompt_tokens: Some(112),
            completion_tokens: Some(50),
            reasoning_tokens: None,
        }),
        ..RequestRecord::default()
    }
}

fn bench(c: &mut Criterion) {
    // hdrhistogram with the engine's bounds (1 ns .. 60 s, 3 significant digits).
    let mut h = match hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3) {
        Ok(h) => h,
        Err(e) => panic!("{e}"),
    };
    let samples: Vec<u64> = (0..1024u64).map(|i| 50_000_000 + i * 7_919).collect();
    let mut g = c.benchmark_group("hdrhistogram");
    g.measurement_time(Duration::from_secs(2));
    g.warm_up_time(Duration::from_millis(500));
    g.throughput(Throughput::Elements(samples.len() as u64));
    g.bench_function("record_1024", |b| {
        b.iter(|| {
            for &s in black_box(&samples) {
                h.saturating_record(s);
            }
        })
    });
    g.finish();
    assert!(h.len() >= 1024);

    let mut g = c.benchmark_group("request_record");
    g.measurement_time(Duration::from_secs(2));
    g.warm_up_time(Duration::from_millis(500));
    g.throughput(Throughput::Elements(RECORDS as u64));
    let mut out: Vec<RequestRecord> = Vec::with_capacity(RECORDS);
    g.bench_function("build_10k", |b| {
        b.iter(|| {
            out.clear();
            for i in 0..RECORDS as u64 {
                out.push(record(black_box(i), 1_000_000_000));
            }
            out.len()
        })
    });
    g.finish();

    let run = RunOutput {
        records: (0..RECORDS as u64)
            .map(|i| record(i, 1_000_000_000))
            .collect(),
        text_arenas: vec![Vec::new(), Vec::new()],
        io_driver: Some(IoDriver::IoUring),
        ..RunOutput::default()
    };
    let toks = tokens::from_server_usage(&run);
    let summary = metrics::compute(&run, &toks, &metrics::ComputeOptions::default());
    let ttft = match summary.get(metrics::MetricId::TimeToFirstToken) {
        Some(m) => m.avg(),
        None => panic!("no TTFT computed"),
    };
    // 50 ms + mean of (i % 97) us, in ms.
    assert!((ttft - 50.048).abs() < 0.01, "TTFT avg {ttft}");

    let mut g = c.benchmark_group("metrics_compute");
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_millis(500));
    g.throughput(Throughput::Elements(RECORDS as u64));
    g.bench_function("10k_records", |b| {
        b.iter(|| {
            let t = tokens::from_server_usage(black_box(&run));
            metrics::compute_with_records(&run, &t, &metrics::ComputeOptions::default())
                .1
                .len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
