//! Several `--url` servers and their Prometheus `/metrics`, end to end: the
//! real binary against real mock servers on 127.0.0.1.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);
const MOCK: [&str; 6] = ["--ttft-ms", "20", "--itl-ms", "5", "--output-tokens", "10"];

fn base_args<'a>(dir: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "-m",
        "m",
        "--streaming",
        "--synthetic-input-tokens-mean",
        "10",
        "--audio-length-mean",
        "0.1",
        "--ui-type",
        "none",
        "--output-artifact-dir",
        dir,
    ];
    a.extend_from_slice(extra);
    a
}

/// `metrics[family].series` of the server metrics export.
fn series<'a>(doc: &'a Value, family: &str) -> &'a Vec<Value> {
    doc["metrics"][family]["series"]
        .as_array()
        .unwrap_or_else(|| panic!("{family} missing: {}", doc["metrics"]))
}

/// The series of `family` scraped from `server` (its base URL) with `label`.
fn series_of<'a>(
    doc: &'a Value,
    family: &str,
    server: &str,
    label: Option<(&str, &str)>,
) -> &'a Value {
    series(doc, family)
        .iter()
        .find(|s| {
            s["endpoint_url"] == format!("{server}/metrics")
                && label.is_none_or(|(k, v)| s["labels"][k] == v)
        })
        .unwrap_or_else(|| panic!("no {family} series for {server}"))
}

fn stat_of(s: &Value, key: &str) -> f64 {
    s["stats"][key]
        .as_f64()
        .unwrap_or_else(|| panic!("stats.{key} missing: {s}"))
}

fn per_server(dir: &Path) -> Vec<Value> {
    read_json(&dir.join("profile_export_aiperf_servers.json"))["servers"]
        .as_array()
        .cloned()
        .expect("servers")
}

#[test]
fn two_servers_split_requests_evenly_and_their_counters_match_what_each_served() {
    let a = MockServer::start(&MOCK);
    let b = MockServer::start(&MOCK);
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    let dir_s = dir.to_string_lossy().into_owned();
    let urls = format!("{},{}", a.url, b.url);
    let out = profile(
        &base_args(
            &dir_s,
            &[
                "--url",
                &urls,
                "--request-count",
                "41",
                "--concurrency",
                "4",
            ],
        ),
        LIMIT,
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let servers = per_server(&dir);
    assert_eq!(servers.len(), 2);
    let counts: Vec<u64> = servers
        .iter()
        .map(|s| s["requests"].as_u64().unwrap())
        .collect();
    assert_eq!(counts.iter().sum::<u64>(), 41, "{servers:?}");
    assert!(counts[0].abs_diff(counts[1]) <= 1, "{counts:?}");
    // Every request accounted for, at the client and at each server.
    for (s, mock) in servers.iter().zip([&a, &b]) {
        assert_eq!(s["successful"], s["requests"], "{s}");
        assert_eq!(mock.get_json("/v1/mock/stats")["requests"], s["requests"]);
    }
    let stdout = stdout_of(&out);
    assert!(stdout.contains("Per server"), "{stdout}");

    let doc = read_json(&dir.join("server_metrics_export.json"));
    assert_eq!(
        doc["summary"]["endpoints_successful"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    // One series per server (and label set), counters named without _total.
    assert_eq!(series(&doc, "vllm:num_requests_running").len(), 2);
    assert!(doc["metrics"]["vllm:request_success_total"].is_null());
    for (s, mock) in servers.iter().zip([&a, &b]) {
        let ok = series_of(
            &doc,
            "vllm:request_success",
            &mock.url,
            Some(("finished_reason", "stop")),
        );
        assert_eq!(
            stat_of(ok, "total"),
            s["successful"].as_f64().unwrap(),
            "{ok}"
        );
        let gen = series_of(&doc, "vllm:generation_tokens", &mock.url, None);
        assert_eq!(
            stat_of(gen, "total"),
            10.0 * s["successful"].as_f64().unwrap()
        );
        let ttft = series_of(&doc, "vllm:time_to_first_token_seconds", &mock.url, None);
        assert_eq!(stat_of(ttft, "count"), s["successful"].as_f64().unwrap());
        // 20 ms TTFT: in vLLM's (0.02, 0.04] bucket.
        let p50 = stat_of(ttft, "p50_estimate");
        assert!((0.02..=0.04).contains(&p50), "{p50}");
    }
    let csv = std::fs::read_to_string(dir.join("server_metrics_export.csv")).expect("csv");
    assert!(
        csv.contains("counter,vllm:request_success,requests"),
        "{csv}"
    );
    // The scrape JSONL is kept only when asked for.
    assert!(!dir.join("server_metrics_export.jsonl").exists());
}

#[test]
fn running_gauge_average_is_the_concurrency_over_the_profiling_window() {
    const C: f64 = 6.0;
    timing_attempts(3, || {
        let mock =
            MockServer::start(&["--ttft-ms", "20", "--itl-ms", "5", "--output-tokens", "20"]);
        let tmp = tempdir();
        let dir = tmp.path().join("run");
        let dir_s = dir.to_string_lossy().into_owned();
        let out = profile(
            &base_args(
                &dir_s,
                &[
                    "--url",
                    &mock.url,
                    "--benchmark-duration",
                    "4",
                    "--concurrency",
                    "6",
                    "--warmup-request-count",
                    "6",
                    "--server-metrics-formats",
                    "json",
                    "jsonl",
                    "--slice-duration",
                    "1",
                ],
            ),
            LIMIT,
        );
        assert!(out.status.success(), "{}", stderr_of(&out));
        let doc = read_json(&dir.join("server_metrics_export.json"));
        let running = series_of(&doc, "vllm:num_requests_running", &mock.url, None);
        let avg = stat_of(running, "avg");
        assert!(stat_of(running, "max") <= C, "{running}");
        // The scrapes streamed to disk, one line each (~3 a second).
        let lines = read_jsonl(&dir.join("server_metrics_export.jsonl"));
        assert!(lines.len() >= 10, "{} scrapes", lines.len());
        assert!(lines[0]["metrics"]["vllm:num_requests_running"].is_array());
        // Time slices of 1 s over the ~4 s window, each with its own stats.
        let slices = running["timeslices"].as_array().expect("timeslices");
        assert!((4..=5).contains(&slices.len()), "{slices:?}");
        assert!(slices.iter().all(|s| s["avg"].as_f64().is_some()));
        let gen = series_of(&doc, "vllm:generation_tokens", &mock.url, None);
        let sliced: f64 = gen["timeslices"]
            .as_array()
            .expect("counter timeslices")
            .iter()
            .map(|s| s["total"].as_f64().unwrap_or(0.0))
            .sum();
        // The slices' increases add up to the window's.
        assert!(
            (sliced - stat_of(gen, "total")).abs() < 1e-6,
            "{sliced} vs {gen}"
        );
        ensure!(
            (avg - C).abs() <= 0.1 * C,
            "num_requests_running avg {avg}, concurrency {C}"
        );
        Ok(())
    });
}

#[test]
fn a_server_that_dies_mid_run_is_passed_over_and_the_run_finishes_on_the_other() {
    let a = MockServer::start(&MOCK);
    let b = MockServer::start(&MOCK);
    let (a_url, b_url) = (a.url.clone(), b.url.clone());
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    let dir_s = dir.to_string_lossy().into_owned();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1200));
        drop(b);
    });
    let out = profile(
        &base_args(
            &dir_s,
            &[
                "--url",
                &a_url,
                "--url",
                &b_url,
                "--benchmark-duration",
                "3",
                "--concurrency",
                "4",
            ],
        ),
        LIMIT,
    );
    killer.join().expect("killer");
    assert!(out.status.success(), "{}", stderr_of(&out));
    let stdout = stdout_of(&out);
    assert!(
        stdout.contains(&format!("server {b_url} went down during the run")),
        "{stdout}"
    );
    let servers = per_server(&dir);
    assert_eq!(servers[0]["went_down"], false);
    assert_eq!(servers[1]["went_down"], true);
    assert!(servers[1]["down_reason"]
        .as_str()
        .unwrap_or_default()
        .contains("refused"));
    // The survivor carried the rest of the run, and every request is counted once.
    let ok0 = servers[0]["successful"].as_u64().unwrap();
    let ok1 = servers[1]["successful"].as_u64().unwrap();
    assert!(ok0 > ok1 + 20, "{servers:?}");
    assert_eq!(servers[0]["errors"], 0);
    let export = read_json(&dir.join("profile_export_aiperf.json"));
    let sent: u64 = servers
        .iter()
        .map(|s| s["requests"].as_u64().unwrap())
        .sum();
    let errors: u64 = servers.iter().map(|s| s["errors"].as_u64().unwrap()).sum();
    assert_eq!(
        sent as f64,
        stat(&export, "request_count", "avg") + errors as f64
    );
    assert_eq!(a.get_json("/v1/mock/stats")["requests"].as_u64(), Some(ok0));
}

#[test]
fn no_server_metrics_sends_no_scrape_and_writes_no_export() {
    let mock = MockServer::start(&MOCK);
    let tmp = tempdir();
    let off = tmp.path().join("off");
    let off_s = off.to_string_lossy().into_owned();
    let out = profile(
        &base_args(
            &off_s,
            &[
                "--url",
                &mock.url,
                "--request-count",
                "5",
                "--no-server-metrics",
            ],
        ),
        LIMIT,
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(mock.get_json("/v1/mock/stats")["metrics_scrapes"], 0);
    let names: Vec<String> = std::fs::read_dir(&off)
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.contains("server_metrics")),
        "{names:?}"
    );

    // On by default: scraped at least at the start and the end.
    let on = tmp.path().join("on");
    let on_s = on.to_string_lossy().into_owned();
    let out = profile(
        &base_args(&on_s, &["--url", &mock.url, "--request-count", "5"]),
        LIMIT,
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(mock.get_json("/v1/mock/stats")["metrics_scrapes"].as_u64() >= Some(2));
    assert!(on.join("server_metrics_export.json").exists());
}

#[test]
fn an_endpoint_without_metrics_is_one_warning_not_a_failed_run() {
    let mock = MockServer::start(&MOCK);
    // A port nothing listens on (bound, then closed).
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead_url = format!("127.0.0.1:{}", dead.local_addr().expect("addr").port());
    drop(dead);
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    let dir_s = dir.to_string_lossy().into_owned();
    let out = profile(
        &base_args(
            &dir_s,
            &[
                "--url",
                &mock.url,
                "--request-count",
                "5",
                "--server-metrics",
                &dead_url,
            ],
        ),
        LIMIT,
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let stdout = stdout_of(&out);
    let warning = format!("http://{dead_url}/metrics never answered");
    assert_eq!(stdout.matches(&warning).count(), 1, "{stdout}");
    let doc = read_json(&dir.join("server_metrics_export.json"));
    assert_eq!(
        doc["summary"]["endpoints_configured"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(
        doc["summary"]["endpoints_successful"],
        serde_json::json!([format!("{}/metrics", mock.url)])
    );
}
