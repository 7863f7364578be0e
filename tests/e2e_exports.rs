//! End to end: which files a run writes and how it ends. `--export-level`,
//! `--profile-export-prefix` and `--failed-request-threshold` against the
//! real mock server.

mod common;
use common::*;
use std::path::Path;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

/// A short streaming run into `dir` with `extra` flags.
fn run_into(url: &str, dir: &Path, count: &str, extra: &[&str]) -> std::process::Output {
    let dir_s = dir.to_str().unwrap_or_default().to_string();
    let mut args = vec![
        "--model",
        "m",
        "--endpoint-type",
        "chat",
        "--audio-length-mean",
        "0.1",
        "--synthetic-input-tokens-mean",
        "10",
        "--streaming",
        "--url",
        url,
        "--request-count",
        count,
        "--concurrency",
        "2",
        "--ui-type",
        "none",
        "--output-artifact-dir",
        &dir_s,
    ];
    args.extend_from_slice(extra);
    profile(&args, LIMIT)
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn summary_level_writes_no_jsonl_and_records_level_one_line_per_request() {
    let mock = MockServer::start(&["--ttft-ms", "1", "--itl-ms", "1", "--output-tokens", "4"]);
    let tmp = tempdir();
    let summary = tmp.path().join("summary");
    let out = run_into(&mock.url, &summary, "6", &["--export-level", "summary"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(
        names(&summary),
        [
            "inputs.json",
            "profile_export_aiperf.csv",
            "profile_export_aiperf.json",
            "profile_export_console.txt",
            // Server metrics are on by default, as in AIPerf (the mock has /metrics).
            "server_metrics_export.csv",
            "server_metrics_export.json"
        ]
    );
    let export = read_json(&summary.join("profile_export_aiperf.json"));
    assert_eq!(stat(&export, "request_count", "avg"), 6.0);

    let records = tmp.path().join("records");
    let out = run_into(
        &mock.url,
        &records,
        "6",
        &["--profile-export-level", "records"],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(read_jsonl(&records.join("profile_export.jsonl")).len(), 6);
}

#[test]
fn a_prefix_names_every_export_and_its_suffix_is_stripped() {
    let mock = MockServer::start(&["--ttft-ms", "1", "--itl-ms", "1", "--output-tokens", "4"]);
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    // AIPerf strips a known suffix: `foo_raw.jsonl` names the base `foo`.
    let out = run_into(
        &mock.url,
        &dir,
        "3",
        &["--profile-export-prefix", "foo_raw.jsonl"],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(
        names(&dir),
        [
            "foo.csv",
            "foo.json",
            "foo.jsonl",
            "foo_console.txt",
            "foo_server_metrics.csv",
            "foo_server_metrics.json",
            "inputs.json"
        ]
    );
    assert_eq!(read_jsonl(&dir.join("foo.jsonl")).len(), 3);
    assert!(stdout_of(&out).contains("foo.json"), "{}", stdout_of(&out));
}

#[test]
fn the_failure_threshold_stops_a_failing_run_exits_3_and_says_why() {
    // Every request fails with a 500.
    let mock = MockServer::start(&["--ttft-ms", "1", "--fault", "http500-json"]);
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    let out = run_into(
        &mock.url,
        &dir,
        "100000",
        &["--failed-request-threshold", "0.5"],
    );
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("--failed-request-threshold"), "{err}");
    let export = read_json(&dir.join("profile_export_aiperf.json"));
    assert_eq!(export["was_cancelled"], true);
    assert_eq!(export["is_complete"], false);
    let reason = export["stop_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("exceeded"), "{reason}");
    // Armed after max(concurrency, 10) = 10 records; stopped long before
    // the 100,000 asked for, and every request sent has its line.
    let lines = read_jsonl(&dir.join("profile_export.jsonl"));
    assert!(
        lines.len() >= 10 && lines.len() < 100_000,
        "{}",
        lines.len()
    );
    let acc = &export["request_accounting"];
    assert_eq!(acc["sent"].as_u64(), Some(lines.len() as u64), "{acc}");
}

#[test]
fn the_failure_threshold_leaves_a_healthy_run_alone() {
    let mock = MockServer::start(&["--ttft-ms", "1", "--itl-ms", "1", "--output-tokens", "4"]);
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    let out = run_into(&mock.url, &dir, "20", &["--failed-request-threshold", "0"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let export = read_json(&dir.join("profile_export_aiperf.json"));
    assert_eq!(export["was_cancelled"], false);
    assert!(export.get("stop_reason").is_none());
}

#[test]
fn bad_export_flags_are_command_line_errors() {
    for (flag, value, says) in [
        ("--export-level", "everything", "not an export level"),
        ("--failed-request-threshold", "1.5", "out of range"),
        ("--failed-request-threshold", "-0.1", "out of range"),
        ("--profile-export-prefix", ".json", "no file name"),
    ] {
        let tmp = tempdir();
        let dir = tmp.path().join("run");
        let out = run_into("127.0.0.1:1", &dir, "1", &[flag, value]);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        let err = stderr_of(&out);
        assert!(
            err.contains(says) && err.contains(flag),
            "{flag} {value}: {err}"
        );
        assert!(!dir.exists(), "{flag} {value}: nothing may be written");
    }
}

#[test]
fn raw_level_writes_each_payload_and_response_in_aiperfs_layout() {
    // 4 content tokens: role chunk + 4 tokens + finish/usage + [DONE].
    let mock = MockServer::start(&["--ttft-ms", "1", "--itl-ms", "1", "--output-tokens", "4"]);
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    let out = run_into(&mock.url, &dir, "5", &["--export-level", "raw"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stdout_of(&out).contains("Raw Records:"));
    let lines = read_jsonl(&dir.join("profile_export_raw.jsonl"));
    assert_eq!(lines.len(), 5);
    assert_eq!(read_jsonl(&dir.join("profile_export.jsonl")).len(), 5);
    for l in &lines {
        let keys: Vec<&str> = l
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(
            keys,
            [
                "metadata",
                "start_perf_ns",
                "request_headers",
                "status",
                "responses",
                "payload"
            ]
        );
        assert_eq!(l["status"], 200);
        let responses = l["responses"].as_array().cloned().unwrap_or_default();
        let values: Vec<&str> = responses
            .iter()
            .filter_map(|r| r["packets"][0]["value"].as_str())
            .collect();
        assert_eq!(values.last(), Some(&"[DONE]"), "{values:?}");
        let content: String = values
            .iter()
            .filter_map(|v| serde_json::from_str::<serde_json::Value>(v).ok())
            .filter_map(|v| {
                v["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(String::from)
            })
            .collect();
        assert_eq!(content.split_whitespace().count(), 4, "{content:?}");
        // Arrival times are monotonic and after the send.
        let start = l["start_perf_ns"].as_u64().unwrap_or(u64::MAX);
        let times: Vec<u64> = responses
            .iter()
            .filter_map(|r| r["perf_ns"].as_u64())
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]) && times[0] > start);
        let audio = &l["payload"]["messages"][0]["content"][1]["input_audio"];
        assert!(
            audio["data"]
                .as_str()
                .unwrap_or_default()
                .contains("elided"),
            "{audio}"
        );
        assert_eq!(audio["format"], "wav");
    }

    // --export-raw-audio keeps the base64 the request carried.
    let kept = tmp.path().join("kept");
    let out = run_into(
        &mock.url,
        &kept,
        "1",
        &["--export-level", "raw", "--export-raw-audio"],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let lines = read_jsonl(&kept.join("profile_export_raw.jsonl"));
    let data = lines[0]["payload"]["messages"][0]["content"][1]["input_audio"]["data"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        data.starts_with("UklGR"),
        "a base64 WAV (RIFF): {}",
        &data[..data.len().min(20)]
    );
}
