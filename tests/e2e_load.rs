//! End to end: the load modes (request rate, duration + grace, warmup,
//! timeouts, cancellation, interrupts) against the real mock server.

mod common;
use common::*;
use std::time::{Duration, Instant};

fn base<'a>(url: &'a str, dir: &'a str) -> Vec<&'a str> {
    vec![
        "--model",
        "m",
        "--audio-length-mean",
        "0.2",
        "--synthetic-input-tokens-mean",
        "20",
        "--streaming",
        "--url",
        url,
        "--output-artifact-dir",
        dir,
        "--ui-type",
        "none",
        "--random-seed",
        "3",
    ]
}

fn profiling_lines(dir: &std::path::Path) -> Vec<serde_json::Value> {
    read_jsonl(&dir.join("profile_export.jsonl"))
        .into_iter()
        .filter(|l| l["metadata"]["benchmark_phase"] == "profiling")
        .collect()
}

/// requests sent = successful + errors + cancelled, from the exports.
fn assert_accounting(ex: &serde_json::Value, sent: u64) {
    let acc = &ex["request_accounting"];
    let ok = acc["successful"].as_u64().expect("successful");
    let err = acc["errors"].as_u64().expect("errors");
    let can = acc["cancelled"].as_u64().expect("cancelled");
    assert_eq!(acc["sent"].as_u64(), Some(sent), "{acc}");
    assert_eq!(ok + err + can, sent, "{acc}");
}

/// Open loop at 200 req/s for 3 s: 600 arrivals (±1%), each sent on time.
#[test]
fn constant_rate_for_a_duration() {
    let mock = MockServer::start(&["--ttft-ms", "5", "--itl-ms", "1", "--output-tokens", "5"]);
    timing_attempts(3, || {
        let tmp = tempdir();
        let dir = tmp.path().join("run");
        let mut args = base(&mock.url, dir.to_str().unwrap());
        args.extend([
            "--request-rate",
            "200",
            "--request-rate-mode",
            "constant",
            "--benchmark-duration",
            "3",
            "--benchmark-grace-period",
            "2",
        ]);
        let t0 = Instant::now();
        let out = profile(&args, Duration::from_secs(30));
        assert!(out.status.success(), "{}", stderr_of(&out));
        ensure!(
            t0.elapsed() < Duration::from_secs(8),
            "took {:?}",
            t0.elapsed()
        );
        let lines = profiling_lines(&dir);
        let ex = read_json(&dir.join("profile_export_aiperf.json"));
        assert_accounting(&ex, lines.len() as u64);
        ensure!(
            (594..=606).contains(&lines.len()),
            "{} requests",
            lines.len()
        );
        // 0.25-0.4 ms on a quiet machine (scripts/bench-overhead.sh).
        let lag_p99 = stat(&ex, "schedule_lag", "p99");
        ensure!(lag_p99 < 2.0, "schedule lag p99 {lag_p99} ms");
        let rps = stat(&ex, "request_throughput", "avg");
        ensure!((rps - 200.0).abs() < 10.0, "request throughput {rps}");
        Ok(())
    });
}

/// Both a duration and a request count: the run ends at whichever comes
/// first (as AIPerf), here the 6 requests, long before the 30 s.
#[test]
fn count_and_duration_stop_at_the_first_reached() {
    let mock = MockServer::start(&["--ttft-ms", "5", "--itl-ms", "1", "--output-tokens", "5"]);
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    let mut args = base(&mock.url, dir.to_str().unwrap());
    args.extend([
        "--benchmark-duration",
        "30",
        "--request-count",
        "6",
        "--concurrency",
        "2",
    ]);
    let t0 = Instant::now();
    let out = profile(&args, Duration::from_secs(40));
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    let ex = read_json(&dir.join("profile_export_aiperf.json"));
    assert_accounting(&ex, 6);
    assert_eq!(profiling_lines(&dir).len(), 6);
}

/// Poisson arrivals faster than two connections can serve: arrivals wait
/// for a connection, are counted as waiting, and none is dropped.
#[test]
fn rate_capped_by_concurrency_queues_and_counts() {
    let mock = MockServer::start(&["--ttft-ms", "40", "--itl-ms", "10", "--output-tokens", "5"]);
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    let mut args = base(&mock.url, dir.to_str().unwrap());
    args.extend([
        "--request-rate",
        "100",
        "--concurrency",
        "2",
        "--request-count",
        "30",
    ]);
    let out = profile(&args, Duration::from_secs(30));
    assert!(out.status.success(), "{}", stderr_of(&out));
    let ex = read_json(&dir.join("profile_export_aiperf.json"));
    assert_eq!(stat(&ex, "request_count", "avg"), 30.0);
    let waited = stat(&ex, "waited_for_connection_count", "avg");
    assert!(waited >= 10.0, "waited {waited}");
    // Queueing shows up as schedule lag, not hidden.
    assert!(stat(&ex, "schedule_lag", "max") > 50.0);
    assert_accounting(&ex, 30);
}

/// A closed-loop run bounded by duration stops within its grace period; the
/// requests still running then are cancelled and reported as such.
#[test]
fn duration_with_grace_cancels_stragglers() {
    // Each request takes 5 s: none can finish within 1 s + 0.5 s grace.
    let mock = MockServer::start(&[
        "--ttft-ms",
        "100",
        "--itl-ms",
        "100",
        "--output-tokens",
        "50",
    ]);
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    let mut args = base(&mock.url, dir.to_str().unwrap());
    args.extend([
        "--concurrency",
        "4",
        "--benchmark-duration",
        "1",
        "--benchmark-grace-period",
        "0.5",
    ]);
    let t0 = Instant::now();
    let out = profile(&args, Duration::from_secs(30));
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(4), "took {took:?}");
    let ex = read_json(&dir.join("profile_export_aiperf.json"));
    assert_accounting(&ex, 4);
    assert_eq!(ex["request_accounting"]["cancelled"], 4);
    let lines = profiling_lines(&dir);
    assert_eq!(lines.len(), 4);
    assert!(lines.iter().all(|l| l["metadata"]["was_cancelled"] == true));
    let _ = out;
}

/// Warmup requests run first and never count in the metrics.
#[test]
fn warmup_is_excluded() {
    let mock = MockServer::start(&["--ttft-ms", "5", "--itl-ms", "1", "--output-tokens", "5"]);
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    let mut args = base(&mock.url, dir.to_str().unwrap());
    args.extend([
        "--warmup-request-count",
        "5",
        "--request-count",
        "10",
        "--concurrency",
        "2",
    ]);
    let out = profile(&args, Duration::from_secs(30));
    assert!(out.status.success(), "{}", stderr_of(&out));
    let ex = read_json(&dir.join("profile_export_aiperf.json"));
    assert_eq!(stat(&ex, "request_count", "avg"), 10.0);
    assert_eq!(profiling_lines(&dir).len(), 10);
    let stats = mock.get_json("/v1/mock/stats");
    assert_eq!(stats["requests"], 15);
}

/// A request over --request-timeout-seconds is cancelled, counted as a
/// timeout error, and its connection replaced.
#[test]
fn request_timeout_is_an_error_of_its_own_type() {
    let mock = MockServer::start(&["--ttft-ms", "3000", "--itl-ms", "1", "--output-tokens", "5"]);
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    let mut args = base(&mock.url, dir.to_str().unwrap());
    args.extend([
        "--request-count",
        "4",
        "--concurrency",
        "2",
        "--request-timeout-seconds",
        "0.3",
    ]);
    let t0 = Instant::now();
    let _ = profile(&args, Duration::from_secs(30));
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    let ex = read_json(&dir.join("profile_export_aiperf.json"));
    assert_accounting(&ex, 4);
    assert_eq!(ex["request_accounting"]["errors"], 4);
    let lines = profiling_lines(&dir);
    assert_eq!(lines.len(), 4);
    for l in &lines {
        assert_eq!(l["error"]["type"], "RequestTimeout", "{l}");
    }
}

/// --request-cancellation-rate 50: about half the requests are cancelled
/// after the delay, counted apart from errors and successes.
#[test]
fn cancellation_rate_cancels_that_share() {
    let mock = MockServer::start(&["--ttft-ms", "20", "--itl-ms", "10", "--output-tokens", "20"]);
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    let mut args = base(&mock.url, dir.to_str().unwrap());
    args.extend([
        "--request-count",
        "40",
        "--concurrency",
        "8",
        "--request-cancellation-rate",
        "50",
        "--request-cancellation-delay",
        "0.05",
    ]);
    let out = profile(&args, Duration::from_secs(60));
    assert!(out.status.success(), "{}", stderr_of(&out));
    let ex = read_json(&dir.join("profile_export_aiperf.json"));
    assert_accounting(&ex, 40);
    let cancelled = ex["request_accounting"]["cancelled"].as_u64().unwrap();
    assert!(
        (10..=30).contains(&cancelled),
        "cancelled {cancelled} of 40"
    );
    assert_eq!(ex["request_accounting"]["errors"], 0);
    assert_eq!(stat(&ex, "request_count", "avg"), (40 - cancelled) as f64);
}

/// Runs `audioperf args`, sends it SIGINT after `delay` and waits for it to
/// exit (10 s at most): its exit status and how long it took after the signal.
fn interrupt_after(args: &[&str], delay: Duration) -> (std::process::ExitStatus, Duration) {
    let mut child = audioperf()
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(delay);
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let t0 = Instant::now();
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return (s, t0.elapsed());
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "did not stop after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGINT while an open-loop run waits 5 s for its next arrival: it stops at
/// once (not when the arrival is due) and writes its exports.
#[test]
fn interrupt_during_a_long_arrival_gap() {
    let mock = MockServer::start(&["--ttft-ms", "1", "--itl-ms", "1", "--output-tokens", "2"]);
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    let mut args = vec!["profile"];
    args.extend(base(&mock.url, dir.to_str().unwrap()));
    args.extend([
        "--request-rate",
        "0.2",
        "--request-rate-mode",
        "constant",
        "--request-count",
        "4",
    ]);
    let (status, took) = interrupt_after(&args, Duration::from_millis(1000));
    // Without the fix it stopped only at the next arrival, 4 s later.
    assert!(
        took < Duration::from_millis(3000),
        "stopped {took:?} after SIGINT"
    );
    assert!(!status.success());
    let ex = read_json(&dir.join("profile_export_aiperf.json"));
    assert_eq!(ex["was_cancelled"], true);
    assert_accounting(&ex, profiling_lines(&dir).len() as u64);
}

/// SIGINT mid-run: sending stops, in-flight requests get a short drain, and
/// every export is still written with was_cancelled: true.
#[test]
fn interrupt_still_writes_exports() {
    let mock = MockServer::start(&[
        "--ttft-ms",
        "10",
        "--itl-ms",
        "10",
        "--output-tokens",
        "300",
    ]);
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    let mut args = vec!["profile"];
    args.extend(base(&mock.url, dir.to_str().unwrap()));
    args.extend(["--request-count", "100", "--concurrency", "4"]);
    let (status, _) = interrupt_after(&args, Duration::from_millis(1500));
    assert!(!status.success());
    let ex = read_json(&dir.join("profile_export_aiperf.json"));
    assert_eq!(ex["was_cancelled"], true);
    let lines = profiling_lines(&dir);
    assert!(
        !lines.is_empty() && lines.len() < 100,
        "{} lines",
        lines.len()
    );
    assert_accounting(&ex, lines.len() as u64);
}
