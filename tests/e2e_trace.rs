//! End to end: the HTTP trace breakdown (`http_req_*`), inter-chunk latency,
//! credit-to-start latency and the usage differences, measured by the real
//! binary against servers whose truth is known: the built-in mock (TTFT,
//! ITL, token count, connections) and a scripted server that reports the
//! body sizes it received and writes its answer in a known number of pieces.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MODEL: &str = "Qwen/Qwen2-Audio-7B-Instruct";

/// Every profiling line of the JSONL.
fn profiling(lines: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    lines
        .iter()
        .filter(|l| l["metadata"]["benchmark_phase"] == "profiling")
        .collect()
}

fn metric(line: &serde_json::Value, tag: &str) -> f64 {
    line["metrics"][tag]["value"]
        .as_f64()
        .unwrap_or_else(|| panic!("{tag} missing in {}", line["metrics"]))
}

/// TTFT 50 ms, ITL 10 ms, 20 tokens, 40 requests at concurrency 4: the HTTP
/// phases must show the mock's delays (waiting = TTFT, receiving = 19 ITLs),
/// 4 fresh connections, 19 inter-chunk gaps of 10 ms per request.
fn mock_run(show_trace: bool) -> Result<(), String> {
    let mock = MockServer::start(&["--ttft-ms", "50", "--itl-ms", "10", "--output-tokens", "20"]);
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    let mut args = vec![
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
        "--tokenizer",
        "fixtures/tokenizers/qwen3",
        "--streaming",
        "--url",
        &mock.url,
        "--request-count",
        "40",
        "--concurrency",
        "4",
        "--output-artifact-dir",
        dir.to_str().unwrap(),
        "--ui-type",
        "none",
    ];
    if show_trace {
        args.push("--show-trace-timing");
    }
    let out = profile(&args, Duration::from_secs(120));
    assert!(out.status.success(), "stderr: {}", stderr_of(&out));
    let stdout = stdout_of(&out);
    assert_eq!(stdout.contains("audioperf | HTTP Trace Timing"), show_trace);
    if show_trace {
        for row in [
            "HTTP Waiting (TTFB) (ms)",
            "HTTP Data Sent (KB)",
            "HTTP Chunks Received (count)",
        ] {
            assert!(stdout.contains(row), "{row} not in\n{stdout}");
        }
    }
    let ex = read_json(&dir.join("profile_export_aiperf.json"));
    // Always exported, whatever the console shows; AIPerf's units.
    for (tag, unit) in [
        ("http_req_blocked", "ms"),
        ("http_req_dns_lookup", "ms"),
        ("http_req_connecting", "ms"),
        ("http_req_sending", "ms"),
        ("http_req_waiting", "ms"),
        ("http_req_receiving", "ms"),
        ("http_req_duration", "ms"),
        ("http_req_total", "ms"),
        ("http_req_connection_overhead", "ms"),
        ("http_req_connection_reused", "ratio"),
        ("http_req_data_sent", "KB"),
        ("http_req_data_received", "KB"),
        ("http_req_chunks_sent", "count"),
        ("http_req_chunks_received", "count"),
        ("inter_chunk_latency", "ms"),
        ("credit_to_start_latency", "ms"),
        ("usage_prompt_tokens_diff_pct", "%"),
        ("usage_completion_tokens_diff_pct", "%"),
        ("usage_discrepancy_count", "requests"),
    ] {
        assert_eq!(ex[tag]["unit"], unit, "{tag}: {}", ex[tag]);
    }
    // Counts: no timing in them, hard asserts.
    assert_eq!(stat(&ex, "http_req_connection_reused", "count"), 40.0);
    // Each of the 4 connections is fresh for its first request only.
    assert_eq!(stat(&ex, "http_req_connection_reused", "sum"), 36.0);
    assert_eq!(stat(&ex, "http_req_dns_lookup", "max"), 0.0);
    assert_eq!(stat(&ex, "http_req_blocked", "max"), 0.0);
    assert_eq!(stat(&ex, "inter_chunk_latency", "count"), 40.0 * 19.0);
    // The mock writes its head with the first token, then one write per token
    // 10 ms apart, then the closing events: 22 writes at 20 distinct moments.
    // Never more reads than writes; as many as moments when the client reads
    // each before the next arrives (a timing property: a busy client may
    // find two writes in one read).
    let chunks_p50 = stat(&ex, "http_req_chunks_received", "p50");
    assert!(stat(&ex, "http_req_chunks_received", "max") <= 22.0);
    // The mock answers 20 tokens with the same events every time (ids and
    // timestamps may differ by a digit).
    let received = stat(&ex, "http_req_data_received", "min");
    let spread = (stat(&ex, "http_req_data_received", "max") - received) * 1024.0;
    assert!(spread <= 16.0, "{spread} bytes");
    assert!(received > 1.0, "{received} KB");
    // A 1 s 16 kHz 16-bit WAV is 32,044 bytes, 42,728 in base64.
    let sent = stat(&ex, "http_req_data_sent", "min") * 1024.0;
    assert!((42_728.0..50_000.0).contains(&sent), "{sent} bytes");
    assert_eq!(stat(&ex, "usage_completion_tokens_diff_pct", "max"), 0.0);
    let lines = read_jsonl(&dir.join("profile_export.jsonl"));
    let lines = profiling(&lines);
    assert_eq!(lines.len(), 40);
    let fresh = lines
        .iter()
        .filter(|l| l["metrics"]["http_req_connection_reused"]["value"] == 0)
        .count();
    assert_eq!(fresh, 4);
    for l in &lines {
        let icl = l["metrics"]["inter_chunk_latency"]["value"]
            .as_array()
            .unwrap_or_else(|| panic!("no list: {}", l["metrics"]));
        assert_eq!(icl.len(), 19);
        // The phases add up to the total, to the ns (values are in ms).
        let parts: f64 = [
            "http_req_blocked",
            "http_req_dns_lookup",
            "http_req_connecting",
            "http_req_sending",
            "http_req_waiting",
            "http_req_receiving",
        ]
        .iter()
        .map(|t| metric(l, t))
        .sum();
        assert!(
            (parts - metric(l, "http_req_total")).abs() < 1e-5,
            "{}",
            l["metrics"]
        );
        assert!(l["metadata"]["credit_issued_ns"].as_u64().is_some());
    }

    // Timing, against the mock's delays.
    let p50 = |tag| stat(&ex, tag, "p50");
    ensure!(
        (p50("http_req_waiting") - 50.0).abs() < 5.0,
        "waiting p50 {}",
        p50("http_req_waiting")
    );
    ensure!(
        (p50("http_req_receiving") - 190.0).abs() < 5.0,
        "receiving p50 {}",
        p50("http_req_receiving")
    );
    ensure!(
        (p50("inter_chunk_latency") - 10.0).abs() < 2.0,
        "icl p50 {}",
        p50("inter_chunk_latency")
    );
    ensure!(
        (p50("http_req_duration") - p50("request_latency")).abs() < 5.0,
        "duration p50 {} vs latency p50 {}",
        p50("http_req_duration"),
        p50("request_latency")
    );
    ensure!(
        (20.0..=22.0).contains(&chunks_p50),
        "chunks received p50 {chunks_p50}"
    );
    ensure!(
        p50("credit_to_start_latency") < 5.0,
        "credit-to-start p50 {}",
        p50("credit_to_start_latency")
    );
    Ok(())
}

#[test]
fn http_trace_matches_the_mock_with_show_trace_timing() {
    timing_attempts(2, || mock_run(true));
}

#[test]
fn http_trace_is_exported_without_the_console_table() {
    timing_attempts(2, || mock_run(false));
}

/// Reads one request's head and body; its Content-Length, or None at EOF.
fn read_request(conn: &mut TcpStream) -> Option<usize> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())?;
    let mut body = vec![0u8; len];
    conn.read_exact(&mut body).ok()?;
    Some(len)
}

fn chunk(data: &str) -> Vec<u8> {
    let mut c = format!("{:x}\r\n", data.len()).into_bytes();
    c.extend_from_slice(data.as_bytes());
    c.extend_from_slice(b"\r\n");
    c
}

/// The scripted answer: head + first event, then four more events (the
/// server writes each 25 ms after the last), and the events'
/// body bytes.
fn answer() -> (Vec<Vec<u8>>, usize) {
    let events: Vec<String> = ["a", "b", "c", "d"]
        .iter()
        .map(|t| {
            format!(
                "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\" {t}\"}}}}]}}\n\n"
            )
        })
        .chain(["data: [DONE]\n\n".to_string()])
        .collect();
    let body: usize = events.iter().map(String::len).sum();
    let mut writes: Vec<Vec<u8>> = events.iter().map(|e| chunk(e)).collect();
    writes[0].splice(
        0..0,
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            .iter()
            .copied(),
    );
    if let Some(last) = writes.last_mut() {
        last.extend_from_slice(b"0\r\n\r\n");
    }
    (writes, body)
}

/// Data sent is the request body the server read; data received the body it
/// wrote, de-chunked; one connection, fresh for the first request only; at
/// most one read per write, and (when the client is not starved of CPU) one
/// read per write 25 ms apart; waiting is the server's own delay. One run:
/// sizes and counts asserted, timing misses returned.
fn scripted_run() -> Result<(), String> {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let seen: Arc<Mutex<Vec<usize>>> = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let log = log.clone();
            std::thread::spawn(move || {
                conn.set_nodelay(true).ok();
                while let Some(len) = read_request(&mut conn) {
                    log.lock().unwrap().push(len);
                    std::thread::sleep(Duration::from_millis(30));
                    for (i, w) in answer().0.iter().enumerate() {
                        if i > 0 {
                            std::thread::sleep(Duration::from_millis(25));
                        }
                        if conn.write_all(w).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    let out = profile(
        &[
            "--model",
            "m",
            "--tokenizer",
            "fixtures/tokenizers/qwen3",
            "--audio-length-mean",
            "0.5",
            "--synthetic-input-tokens-mean",
            "20",
            "--streaming",
            "--url",
            &url,
            "--request-count",
            "5",
            "--concurrency",
            "1",
            "--ui-type",
            "none",
            "--output-artifact-dir",
            dir.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "stderr: {}", stderr_of(&out));
    let lines = read_jsonl(&dir.join("profile_export.jsonl"));
    let lines = profiling(&lines);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(lines.len(), 5);
    assert_eq!(seen.len(), 5);
    let body_received = answer().1 as f64;
    // One connection: requests go out (and end) in order.
    for (i, (l, len)) in lines.iter().zip(&seen).enumerate() {
        assert_eq!(metric(l, "http_req_data_sent") * 1024.0, *len as f64, "{i}");
        assert_eq!(metric(l, "http_req_data_received") * 1024.0, body_received);
        // A request of 16 KiB or more sends its head first, on its own.
        let writes = if *len >= 16 * 1024 { 2.0 } else { 1.0 };
        assert_eq!(metric(l, "http_req_chunks_sent"), writes, "{i}");
        let reused = l["metrics"]["http_req_connection_reused"]["value"].as_u64();
        assert_eq!(reused, Some(u64::from(i > 0)));
        let icl = l["metrics"]["inter_chunk_latency"]["value"]
            .as_array()
            .map(Vec::len);
        assert_eq!(icl, Some(3));
        let chunks = metric(l, "http_req_chunks_received");
        assert!((1.0..=5.0).contains(&chunks), "{chunks}");
        ensure!(chunks == 5.0, "request {i}: {chunks} reads for 5 writes");
        // The server waits 30 ms before its head, then 4 x 25 ms.
        let (waiting, receiving) = (
            metric(l, "http_req_waiting"),
            metric(l, "http_req_receiving"),
        );
        ensure!((30.0..40.0).contains(&waiting), "waiting {waiting}");
        ensure!((100.0..110.0).contains(&receiving), "receiving {receiving}");
    }
    Ok(())
}

#[test]
fn http_trace_sizes_and_chunks_match_a_scripted_server() {
    timing_attempts(3, scripted_run);
}
