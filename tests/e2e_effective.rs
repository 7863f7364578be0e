//! End to end: effective (time-weighted) metrics, goodput and time slices
//! from the real binary against the real mock server on 127.0.0.1
//! (TTFT 50 ms, ITL 10 ms, 20 tokens: each request takes about 240 ms).

mod common;
use common::*;
use std::time::Duration;

fn run(mock: &MockServer, dir: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "--model",
        "m",
        "--endpoint-type",
        "chat",
        "--audio-length-mean",
        "0.5",
        "--synthetic-input-tokens-mean",
        "100",
        "--streaming",
        "--url",
        &mock.url,
        "--request-count",
        "24",
        "--concurrency",
        "4",
        "--output-artifact-dir",
        dir,
        "--ui-type",
        "none",
        "--tokenizer",
        "fixtures/tokenizers/qwen3",
    ];
    args.extend_from_slice(extra);
    let out = profile(&args, Duration::from_secs(120));
    assert!(out.status.success(), "{}", stderr_of(&out));
    read_json(&std::path::Path::new(dir).join("profile_export_aiperf.json"))
}

fn mock() -> MockServer {
    MockServer::start(&["--ttft-ms", "50", "--itl-ms", "10", "--output-tokens", "20"])
}

#[test]
fn effective_concurrency_matches_a_closed_loop_and_goodput_counts_slos() {
    let m = mock();
    let t = tempdir();
    let dir = t.path().join("a");
    let dir = dir.to_str().unwrap_or_default();
    // Every request meets TTFT <= 1 s; none meets TTFT <= 1 ms.
    let e = run(
        &m,
        dir,
        &["--goodput", "time_to_first_token:1000 request_latency:5000"],
    );
    let conc = stat(&e, "effective_concurrency", "avg");
    assert!((conc - 4.0).abs() <= 0.2, "effective_concurrency {conc}");
    assert_eq!(stat(&e, "effective_concurrency", "max"), 4.0);
    // Only AIPerf's eight time-weighted stats.
    let keys: Vec<&str> = e["effective_concurrency"]
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(
        keys,
        ["unit", "avg", "p50", "p90", "p95", "p99", "min", "max", "std"]
    );
    // 50 of every 240 ms in prefill.
    let prefill = stat(&e, "effective_prefill_concurrency", "avg");
    assert!(
        (prefill - 4.0 * 50.0 / 240.0).abs() < 0.25,
        "prefill {prefill}"
    );
    // Decode: 19 tokens over 190 ms per user, 4 users.
    let per_user = stat(&e, "active_decode_throughput_per_user", "p50");
    assert!((per_user - 100.0).abs() < 5.0, "per user {per_user}");
    let dec = stat(&e, "effective_decode_throughput", "avg");
    assert!((dec - 4.0 * 19.0 / 0.240).abs() < 30.0, "decode {dec}");
    let lat = stat(&e, "effective_latency", "p50");
    assert!((lat - 240.0).abs() < 10.0, "effective latency {lat}");
    assert_eq!(stat(&e, "good_request_count", "avg"), 24.0);
    assert_eq!(stat(&e, "good_request_fraction", "avg"), 1.0);
    let goodput = stat(&e, "goodput", "avg");
    let rps = stat(&e, "request_throughput", "avg");
    assert!((goodput - rps).abs() < 1e-9, "{goodput} vs {rps}");

    let dir2 = t.path().join("b");
    let dir2 = dir2.to_str().unwrap_or_default();
    let e = run(&m, dir2, &["--goodput", "time_to_first_token:1"]);
    assert_eq!(stat(&e, "good_request_count", "avg"), 0.0);
    assert_eq!(stat(&e, "good_request_fraction", "avg"), 0.0);
    assert_eq!(stat(&e, "goodput", "avg"), 0.0);
    // Each JSONL record carries AIPerf's per-request flag.
    let good_flags = |d: &str| -> Vec<u64> {
        read_jsonl(&std::path::Path::new(d).join("profile_export.jsonl"))
            .iter()
            .map(|l| {
                l["metrics"]["good_request_count"]["value"]
                    .as_u64()
                    .unwrap_or(99)
            })
            .collect()
    };
    assert_eq!(good_flags(dir), vec![1; 24]);
    assert_eq!(good_flags(dir2), vec![0; 24]);
}

#[test]
fn time_slices_add_up_to_the_run() {
    let m = mock();
    let t = tempdir();
    let dir = t.path().join("s");
    let dir_s = dir.to_str().unwrap_or_default();
    let e = run(&m, dir_s, &["--slice-duration", "0.5"]);
    let ts = read_json(&dir.join("profile_export_aiperf_timeslices.json"));
    let slices = ts["timeslices"].as_array().cloned().unwrap_or_default();
    // 24 requests of ~240 ms, 4 at a time: ~1.45 s, so 3 slices of 0.5 s.
    assert!((2..=4).contains(&slices.len()), "{} slices", slices.len());
    let total: f64 = slices
        .iter()
        .map(|s| s["request_count"]["avg"].as_f64().unwrap_or(0.0))
        .sum();
    assert_eq!(total, stat(&e, "request_count", "avg"));
    let osl: f64 = slices
        .iter()
        .map(|s| s["total_osl"]["avg"].as_f64().unwrap_or(0.0))
        .sum();
    assert_eq!(osl, 24.0 * 20.0);
    // Back to back, each 0.5 s; only the last is partial.
    for w in slices.windows(2) {
        assert_eq!(w[0]["end_ns"], w[1]["start_ns"]);
        assert_eq!(
            w[0]["end_ns"].as_u64().unwrap_or(0) - w[0]["start_ns"].as_u64().unwrap_or(0),
            500_000_000
        );
    }
    assert_eq!(
        slices.last().map(|s| s["is_complete"].clone()),
        Some(serde_json::json!(false))
    );
    let csv = std::fs::read_to_string(dir.join("profile_export_aiperf_timeslices.csv"))
        .unwrap_or_default();
    let mut lines = csv.split("\r\n");
    assert_eq!(
        lines.next(),
        Some("Timeslice,Start_NS,End_NS,Metric,Unit,Stat,Value")
    );
    let rows: Vec<Vec<&str>> = lines
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').collect())
        .collect();
    assert!(rows.iter().all(|r| r.len() == 7 && r[5] != "count"));
    let counted: f64 = rows
        .iter()
        .filter(|r| r[3] == "Request Count")
        .map(|r| r[6].parse::<f64>().unwrap_or(0.0))
        .sum();
    assert_eq!(counted, 24.0);
    // As AIPerf: two decimals, counts too.
    assert!(rows
        .iter()
        .any(|r| r[3] == "Request Count" && r[6].ends_with(".00")));
}
