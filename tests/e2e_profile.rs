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

/// TTFT 50 ms, ITL 10 ms, 20 tokens: TTFT measured within `ttft_tol` of
/// 50 ms, ITL within 0.2 ms, OSL exactly 20. With `own_cores` the mock and
/// the client each get a core of their own (when the machine has two), as
/// in any real benchmark set-up; sharing both cores, each process's threads
/// wait for the other's under a burst of 256 requests. One run: counts are
/// asserted, timing misses returned (for `timing_attempts`).
fn timing_run(
    conc: &str,
    count: &str,
    warmup: &str,
    ttft_tol: f64,
    end_tol: f64,
    own_cores: bool,
) -> Result<(), String> {
    let cores = if own_cores { two_cores() } else { None };
    let mock_args = ["--ttft-ms", "50", "--itl-ms", "10", "--output-tokens", "20"];
    let mock = match cores {
        Some((_, server_core)) => MockServer::start_on(
            &[&mock_args[..], &["--workers", "1"]].concat(),
            Some(server_core),
        ),
        None => MockServer::start(&mock_args),
    };
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    let dir_s = dir.to_str().unwrap();
    let mut args = synthetic_args(&mock.url, dir_s, count, conc);
    args.extend(["--warmup-request-count", warmup]);
    let out = profile_on(&args, Duration::from_secs(120), cores.map(|c| c.0));
    assert!(out.status.success(), "stderr: {}", stderr_of(&out));
    let ex = read_json(&dir.join("profile_export_aiperf.json"));
    let n: f64 = count.parse().unwrap();
    assert_eq!(stat(&ex, "request_count", "avg"), n);
    assert_eq!(stat(&ex, "output_sequence_length", "min"), 20.0);
    assert_eq!(stat(&ex, "output_sequence_length", "max"), 20.0);
    let lines = read_jsonl(&dir.join("profile_export.jsonl"));
    let profiling = lines
        .iter()
        .filter(|l| l["metadata"]["benchmark_phase"] == "profiling")
        .count();
    assert_eq!(profiling as f64, n);
    let warm: f64 = warmup.parse().unwrap();
    assert_eq!(lines.len() as f64, n + warm);
    // Every audio part decoded on the server side; nothing rejected.
    let stats = mock.get_json("/v1/mock/stats");
    assert_eq!(stats["rejected"], 0);
    assert_eq!(stats["audio_parts"].as_f64().unwrap(), n + warm);

    let within = |v: f64, want: f64, tol: f64| v > want - 0.1 && v < want + tol;
    // The truth: 50 ms after the kernel received the request, plus however
    // late the mock itself wrote its first token (its own stamp, median over
    // warmup and profiling requests). A busy machine delays the mock; that
    // is the server's lateness, not an error of the client's measurement.
    let mock_late_ms = stats["first_token_late_us"]["p50"].as_f64().unwrap_or(0.0) / 1e3;
    let want = 50.0 + mock_late_ms;
    // The mock's median is over warmup and profiling requests, the client's
    // over profiling ones: half a millisecond of slack below.
    let near = |v: f64, tol: f64| v > want - 0.5 && v < want + tol;
    let ttft_p50 = stat(&ex, "time_to_first_token", "p50");
    ensure!(
        near(ttft_p50, ttft_tol),
        "TTFT p50 {ttft_p50} ms, want 50 + mock lateness {mock_late_ms:.3} + [0, {ttft_tol})"
    );
    let ttft = stat(&ex, "time_to_first_token", "avg");
    ensure!(
        near(ttft, 2.0 * ttft_tol),
        "TTFT avg {ttft} ms, want ~{want:.3}"
    );
    let itl = stat(&ex, "inter_token_latency", "avg");
    ensure!((itl - 10.0).abs() < 0.2, "ITL avg {itl} ms, want 10 ± 0.2");
    let itl_p50 = stat(&ex, "inter_token_latency", "p50");
    ensure!((itl_p50 - 10.0).abs() < 0.1, "ITL p50 {itl_p50} ms");
    // Latency = TTFT + 19 ITL = 240 ms, to the stream's last byte.
    let lat = stat(&ex, "request_latency", "p50");
    ensure!(
        within(lat, 240.0, end_tol),
        "latency p50 {lat} ms, want 240"
    );
    Ok(())
}

#[test]
fn streaming_timing_concurrency_4() {
    timing_attempts(3, || timing_run("4", "20", "4", 1.0, 1.5, false));
}

#[test]
fn streaming_timing_concurrency_256() {
    // Two warmup waves first: the first bursts of 256 new connections pay for
    // first-touch buffers and allocator growth in both processes.
    // The streams end in lock-step: the one-core mock writes 256 last tokens
    // plus their finish, usage and [DONE] events at the same deadline, one
    // stream after another, so the end of the median stream is up to ~3 ms
    // behind its deadline (seen once in CI: 242.7 ms); TTFT and ITL are not.
    // 256 streams on one client core of a busy 2-core machine: the client
    // reads up to ~2 ms late (seen with two CPU hogs running), hence 3 ms;
    // the strict figure (TTFT p50 +0.12–0.39 ms at c=256) is in
    // docs/PERFORMANCE.md ("Targets: met and missed").
    timing_attempts(3, || timing_run("256", "768", "512", 3.0, 4.0, true));
}

/// Without --streaming the whole answer arrives at TTFT + 19 ITL; OSL from usage.
#[test]
fn non_streaming_latency_and_osl() {
    timing_attempts(3, || {
        let mock =
            MockServer::start(&["--ttft-ms", "30", "--itl-ms", "5", "--output-tokens", "20"]);
        let tmp = tempdir();
        let dir = tmp.path().join("run");
        let mut args = synthetic_args(&mock.url, dir.to_str().unwrap(), "16", "2");
        args.retain(|a| *a != "--streaming");
        let out = profile(&args, Duration::from_secs(60));
        assert!(out.status.success(), "stderr: {}", stderr_of(&out));
        let ex = read_json(&dir.join("profile_export_aiperf.json"));
        assert_eq!(stat(&ex, "request_count", "avg"), 16.0);
        assert_eq!(stat(&ex, "output_sequence_length", "avg"), 20.0);
        // Streaming-only metrics are absent.
        assert!(ex.get("inter_token_latency").is_none());
        assert!(ex.get("time_to_second_token").is_none());
        let stats = mock.get_json("/v1/mock/stats");
        assert_eq!(stats["streaming"], 0);
        assert_eq!(stats["requests"], 16);
        let lat = stat(&ex, "request_latency", "p50");
        ensure!(
            (lat - 125.0).abs() < 1.5,
            "latency p50 {lat}, want 30 + 19*5 = 125"
        );
        Ok(())
    });
}

/// The default artifact directory, every export file, and the inputs.json
/// payloads; the same seed gives byte-identical inputs.json.
#[test]
fn exports_and_reproducible_inputs() {
    let mock = MockServer::start(&["--ttft-ms", "5", "--itl-ms", "1", "--output-tokens", "5"]);
    let tmp = tempdir();
    let run = |seed: &str| -> Vec<u8> {
        let out = audioperf()
            .current_dir(tmp.path())
            .args([
                "profile",
                "--model",
                MODEL,
                "--endpoint-type",
                "chat",
                "--audio-length-mean",
                "0.5",
                "--audio-format",
                "wav",
                "--audio-sample-rates",
                "16",
                "--streaming",
                "--url",
                &mock.url,
                "--request-count",
                "6",
                "--concurrency",
                "4",
                "--num-dataset-entries",
                "3",
                "--random-seed",
                seed,
                "--ui-type",
                "none",
            ])
            .output()
            .expect("run profile");
        assert!(out.status.success(), "stderr: {}", stderr_of(&out));
        let stdout = stdout_of(&out);
        assert!(stdout.contains("Time to First Token (ms)"), "{stdout}");
        assert!(stdout.contains("Benchmark Duration:"), "{stdout}");
        let dir = tmp
            .path()
            .join("artifacts/Qwen_Qwen2-Audio-7B-Instruct-openai-chat-concurrency4");
        for f in [
            "profile_export_aiperf.csv",
            "profile_export_aiperf.json",
            "profile_export.jsonl",
            "inputs.json",
            "logs/aiperf.log",
        ] {
            assert!(dir.join(f).is_file(), "missing {f}");
        }
        let csv = std::fs::read_to_string(dir.join("profile_export_aiperf.csv")).unwrap();
        assert!(csv.starts_with("Metric,avg,min,max,"), "{csv}");
        assert!(csv.contains("Time to First Token (ms)"));
        let inputs = read_json(&dir.join("inputs.json"));
        let data = inputs["data"].as_array().expect("inputs.json data");
        assert_eq!(data.len(), 3);
        let payload = &data[0]["payloads"][0];
        assert_eq!(payload["model"], MODEL);
        assert_eq!(payload["stream"], true);
        let parts = payload["messages"][0]["content"].as_array().unwrap();
        assert_eq!(parts[0]["type"], "text");
        assert_eq!(parts[1]["type"], "input_audio");
        assert_eq!(parts[1]["input_audio"]["format"], "wav");
        std::fs::read(dir.join("inputs.json")).unwrap()
    };
    let a = run("11");
    let b = run("11");
    let c = run("12");
    assert_eq!(a, b, "same seed must give byte-identical inputs.json");
    assert_ne!(a, c);
}

/// MP3 clips, several rates and stereo decode on the server (it validates
/// every audio part and would answer 400).
#[test]
fn mp3_and_wav_variants_are_accepted_by_the_server() {
    let mock = MockServer::start(&["--ttft-ms", "1", "--itl-ms", "1", "--output-tokens", "3"]);
    for (fmt, rates, depths, ch) in [
        ("mp3", "16,44.1,48", "16", "2"),
        ("wav", "8,44.1", "8,24,32", "2"),
    ] {
        let tmp = tempdir();
        let dir = tmp.path().join("run");
        let out = profile(
            &[
                "--model",
                "m",
                "--audio-length-mean",
                "0.3",
                "--audio-length-stddev",
                "0.1",
                "--audio-format",
                fmt,
                "--audio-sample-rates",
                rates,
                "--audio-depths",
                depths,
                "--audio-num-channels",
                ch,
                "--audio-batch-size",
                "2",
                "--streaming",
                "--url",
                &mock.url,
                "--request-count",
                "12",
                "--concurrency",
                "3",
                "--output-artifact-dir",
                dir.to_str().unwrap(),
                "--ui-type",
                "none",
            ],
            Duration::from_secs(60),
        );
        assert!(out.status.success(), "{fmt}: {}", stderr_of(&out));
        let ex = read_json(&dir.join("profile_export_aiperf.json"));
        assert_eq!(stat(&ex, "request_count", "avg"), 12.0, "{fmt}");
    }
    let stats = mock.get_json("/v1/mock/stats");
    assert_eq!(stats["rejected"], 0);
    assert_eq!(stats["audio_parts"], 48);
}

/// A bad flag value exits non-zero naming the flag, before any load.
#[test]
fn bad_values_are_clear_errors() {
    for (args, flag) in [
        (vec!["--model", "m", "--concurrency", "0"], "--concurrency"),
        (
            vec!["--model", "m", "--audio-format", "ogg"],
            "--audio-format",
        ),
        (
            vec!["--model", "m", "--audio-depths", "12"],
            "--audio-depths",
        ),
        (
            vec![
                "--model",
                "m",
                "--audio-format",
                "mp3",
                "--audio-sample-rates",
                "17",
                "--audio-length-mean",
                "1",
            ],
            "--audio-sample-rates",
        ),
        (
            vec!["--model", "m", "--url", "http://127.0.0.1:99999"],
            "--url",
        ),
        // Checked against the whole configuration, still before anything runs.
        (
            vec!["--model", "m", "--header", "Content-Length:5"],
            "--header",
        ),
        (
            vec!["--model", "m", "--audio-length-mean", "0.001"],
            "--audio-length-mean",
        ),
        (vec!["--model", "m", "--goodput", "ttft:100"], "--goodput"),
        (
            vec!["--model", "m", "--goodput", "request_latency:soon"],
            "--goodput",
        ),
        (
            vec!["--model", "m", "--fixed-schedule", "x"],
            "--fixed-schedule",
        ),
    ] {
        let tmp = tempdir();
        let dir = tmp.path().join("run");
        let mut args = args.clone();
        args.extend(["--output-artifact-dir", dir.to_str().unwrap()]);
        let out = profile(&args, Duration::from_secs(20));
        assert_eq!(out.status.code(), Some(2), "{args:?} should fail with 2");
        let err = stderr_of(&out);
        assert!(err.contains(flag), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(
            !dir.exists(),
            "{args:?}: nothing is written for a bad command line"
        );
    }
}
