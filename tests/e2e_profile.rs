//! End to end: the real binary profiles the real mock server on 127.0.0.1 with
//! known delays, and the measured numbers must match them.

mod common;
use common::*;
use std::time::Duration;

const MODEL: &str = "Qwen/Qwen2-Audio-7B-Instruct";

fn synthetic_args<'a>(url: &'a str, dir: &'a str, count: &'a str, conc: &'a str) -> Vec<&'a str> {
    vec![
        "--model",
        MODEL,
        "--endpoint-type",
        "chat",
        "--audio-length-mean",
        "1.0",
        "--audio-format",
        "wav",
        "--audio-sample-rates",
        "16",
        "--synthetic-input-tokens-mean",
        "100",
        "--streaming",
        "--url",
        url,
        "--request-count",
        count,
        "--concurrency",
        conc,
        "--output-artifact-dir",
        dir,
        "--ui-type",
        "none",
        "--random-seed",
        "7",
    ]
}

/// TTFT 50 ms, ITL 10 ms, 20 tokens: measured within 1 ms, OSL exactly 20.
fn check_timing(conc: &str, count: &str) {
    let mock = MockServer::start(&["--ttft-ms", "50", "--itl-ms", "10", "--output-tokens", "20"]);
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    let dir_s = dir.to_str().unwrap();
    let out = profile(
        &synthetic_args(&mock.url, dir_s, count, conc),
        Duration::from_secs(120),
    );
    assert!(out.status.success(), "stderr: {}", stderr_of(&out));
    let ex = read_json(&dir.join("profile_export_aiperf.json"));
    let n: f64 = count.parse().unwrap();
    assert_eq!(stat(&ex, "request_count", "avg"), n);
    let ttft = stat(&ex, "time_to_first_token", "avg");
    assert!((ttft - 50.0).abs() < 1.0, "TTFT avg {ttft} ms, want 50 ± 1");
    let ttft_p99 = stat(&ex, "time_to_first_token", "p99");
    assert!(ttft_p99 < 52.0, "TTFT p99 {ttft_p99} ms");
    let itl = stat(&ex, "inter_token_latency", "avg");
    assert!((itl - 10.0).abs() < 1.0, "ITL avg {itl} ms, want 10 ± 1");
    assert_eq!(stat(&ex, "output_sequence_length", "min"), 20.0);
    assert_eq!(stat(&ex, "output_sequence_length", "max"), 20.0);
    // Latency = TTFT + 19 ITL = 240 ms.
    let lat = stat(&ex, "request_latency", "avg");
    assert!(
        (lat - 240.0).abs() < 2.0,
        "latency avg {lat} ms, want 240 ± 2"
    );
    let lines = read_jsonl(&dir.join("profile_export.jsonl"));
    assert_eq!(lines.len() as f64, n);
    // Every audio part decoded on the server side; nothing rejected.
    let stats = mock.get_json("/v1/mock/stats");
    assert_eq!(stats["rejected"], 0);
    assert_eq!(stats["audio_parts"].as_f64().unwrap(), n);
}

#[test]
fn streaming_timing_concurrency_4() {
    check_timing("4", "20");
}

#[test]
fn streaming_timing_concurrency_256() {
    check_timing("256", "512");
}
