//! End to end under faults: the real binary profiles the real mock server
//! with one fault switched on (`--fault MODE`, every request or every Nth),
//! and must end in bounded time without panicking, write its exports, name
//! each failure precisely in the per-request JSONL, count it in
//! `error_summary`, and keep the books straight: sent = ok + errors +
//! cancelled, once each. Odd-but-valid servers (comments, chunk extensions,
//! CRLF, per-byte writes, trickle) must give all-successful runs with the
//! right output length.

mod common;
use common::*;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

const MODEL: &str = "Qwen/Qwen2-Audio-7B-Instruct";
/// Tokens per response from the mock.
const OSL: f64 = 5.0;
/// Wall-clock bound for any one profile run.
const LIMIT: Duration = Duration::from_secs(20);

/// One finished `profile` run and what it wrote.
struct Run {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    status: std::process::ExitStatus,
    stderr: String,
    export: Value,
    lines: Vec<Value>,
}

struct Opts<'a> {
    count: u32,
    streaming: bool,
    timeout_s: Option<&'a str>,
}

const STREAM: Opts = Opts {
    count: 8,
    streaming: true,
    timeout_s: None,
};

fn mock(fault: &str, every: Option<u32>, extra: &[&str]) -> MockServer {
    let every = every.map(|e| e.to_string());
    let mut args = vec![
        "--ttft-ms",
        "2",
        "--itl-ms",
        "1",
        "--output-tokens",
        "5",
        "--workers",
        "1",
        "--fault",
        fault,
    ];
    if let Some(e) = every.as_deref() {
        args.extend(["--fault-every", e]);
    }
    args.extend_from_slice(extra);
    MockServer::start(&args)
}

fn profile_run(url: &str, o: &Opts) -> Run {
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    let count = o.count.to_string();
    let mut args = vec![
        "--model",
        MODEL,
        "--endpoint-type",
        "chat",
        "--audio-length-mean",
        "0.1",
        "--audio-format",
        "wav",
        "--audio-sample-rates",
        "16",
        "--synthetic-input-tokens-mean",
        "10",
        "--url",
        url,
        "--request-count",
        &count,
        "--concurrency",
        "2",
        "--ui-type",
        "none",
        "--random-seed",
        "7",
    ];
    let dir_s = dir.to_str().unwrap_or_default().to_string();
    args.extend(["--output-artifact-dir", &dir_s]);
    if o.streaming {
        args.push("--streaming");
    }
    if let Some(t) = o.timeout_s {
        args.extend(["--request-timeout-seconds", t]);
    }
    let out = profile(&args, LIMIT);
    let stderr = stderr_of(&out);
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    for f in [
        "profile_export_aiperf.json",
        "profile_export_aiperf.csv",
        "profile_export.jsonl",
    ] {
        assert!(
            dir.join(f).is_file(),
            "{f} not written; exit {:?}, stderr: {stderr}",
            out.status
        );
    }
    let export = read_json(&dir.join("profile_export_aiperf.json"));
    let lines = read_jsonl(&dir.join("profile_export.jsonl"));
    let run = Run {
        _tmp: tmp,
        dir,
        status: out.status,
        stderr,
        export,
        lines,
    };
    check_books(&run, o.count);
    run
}

/// A count metric from the export, 0 when absent (AIPerf leaves zero counts out).
fn count_of(ex: &Value, tag: &str) -> u64 {
    ex[tag]["avg"].as_f64().map_or(0, |v| v as u64)
}

/// sent = successes + errors + cancelled, each request once, and the
/// export's counts agree with the JSONL.
fn check_books(r: &Run, sent: u32) {
    assert_eq!(r.lines.len(), sent as usize, "one JSONL line per request");
    let mut ids: Vec<u64> = r
        .lines
        .iter()
        .map(|l| l["metadata"]["session_num"].as_u64().unwrap_or(u64::MAX))
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..sent as u64).collect::<Vec<_>>(), "ids once each");
    let cancelled = r
        .lines
        .iter()
        .filter(|l| l["metadata"]["was_cancelled"] == true)
        .count() as u64;
    let errors = r
        .lines
        .iter()
        .filter(|l| l.get("error").is_some() && l["metadata"]["was_cancelled"] != true)
        .count() as u64;
    let ok = r.lines.iter().filter(|l| l.get("error").is_none()).count() as u64;
    assert_eq!(ok + errors + cancelled, sent as u64);
    assert_eq!(count_of(&r.export, "request_count"), ok, "request_count");
    assert_eq!(
        count_of(&r.export, "error_request_count"),
        errors,
        "error_request_count"
    );
    let summed: u64 = r.export["error_summary"]
        .as_array()
        .map(|a| a.iter().map(|e| e["count"].as_u64().unwrap_or(0)).sum())
        .unwrap_or(0);
    assert_eq!(summed, errors, "error_summary counts");
}

/// The JSONL errors, as (type, code, message).
fn errors(r: &Run) -> Vec<(String, Option<u64>, String)> {
    r.lines
        .iter()
        .filter_map(|l| l.get("error"))
        .map(|e| {
            (
                e["type"].as_str().unwrap_or_default().to_string(),
                e["code"].as_u64(),
                e["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// A run in which no request succeeded exits 1 (its exports written, as
/// `profile_run` checked) and says so.
fn no_success_exit(r: &Run) {
    assert_eq!(r.status.code(), Some(1), "stderr: {}", r.stderr);
    assert!(
        r.stderr.contains("no request succeeded") || r.stderr.contains("cannot connect"),
        "{}",
        r.stderr
    );
}

/// Every request failed with this type, code and message; `error_summary`
/// holds exactly that one group with the full count.
fn all_failed(r: &Run, kind: &str, code: Option<u64>, message: &str) {
    no_success_exit(r);
    let errs = errors(r);
    assert_eq!(errs.len(), r.lines.len(), "all failed: {errs:?}");
    for (k, c, m) in &errs {
        assert_eq!(
            (k.as_str(), *c, m.as_str()),
            (kind, code, message),
            "{errs:?}"
        );
    }
    let summary = r.export["error_summary"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(summary.len(), 1, "{summary:?}");
    assert_eq!(summary[0]["error_details"]["type"], kind);
    assert_eq!(summary[0]["error_details"]["message"], message);
    assert_eq!(summary[0]["count"].as_u64(), Some(errs.len() as u64));
}

/// Like `all_failed`, for messages that carry an OS or parser detail: the
/// message must start with `prefix`.
fn all_failed_prefix(r: &Run, kind: &str, code: Option<u64>, prefix: &str) {
    no_success_exit(r);
    let errs = errors(r);
    assert_eq!(errs.len(), r.lines.len(), "all failed: {errs:?}");
    for (k, c, m) in &errs {
        assert_eq!((k.as_str(), *c), (kind, code), "{errs:?}");
        assert!(
            m.starts_with(prefix),
            "message {m:?} should start {prefix:?}"
        );
    }
    assert_eq!(count_of(&r.export, "request_count"), 0);
}

/// Every request succeeded with OSL exactly `OSL` tokens.
fn all_ok(r: &Run) {
    assert!(r.status.success(), "exit {:?}: {}", r.status, r.stderr);
    assert_eq!(errors(r), vec![], "no errors expected");
    assert_eq!(count_of(&r.export, "request_count"), r.lines.len() as u64);
    assert_eq!(stat(&r.export, "output_sequence_length", "min"), OSL);
    assert_eq!(stat(&r.export, "output_sequence_length", "max"), OSL);
    for l in &r.lines {
        assert_eq!(l["metrics"]["output_sequence_length"]["value"], 5, "{l}");
    }
}

/// Faulting every 3rd of 12 requests: exactly 4 fail (the connection is
/// replaced after each failure) and the other 8 succeed with full output.
fn every_third(fault: &str, o: Opts, kind: &str) -> Run {
    let m = mock(fault, Some(3), &[]);
    let o = Opts { count: 12, ..o };
    let r = profile_run(&m.url, &o);
    let errs = errors(&r);
    assert_eq!(errs.len(), 4, "{errs:?}");
    assert!(errs.iter().all(|(k, _, _)| k == kind), "{errs:?}");
    assert_eq!(count_of(&r.export, "request_count"), 8);
    assert_eq!(stat(&r.export, "output_sequence_length", "min"), OSL);
    assert_eq!(m.get_json("/v1/mock/stats")["requests"], 12);
    r
}

// ---- HTTP status errors -------------------------------------------------

#[test]
fn http429_json() {
    let m = mock("http429-json", None, &[]);
    let r = profile_run(&m.url, &STREAM);
    all_failed(
        &r,
        "HTTPError",
        Some(429),
        "HTTP 429: mock fault: rate limit exceeded, retry later",
    );
}

#[test]
fn http500_json_every_third() {
    every_third("http500-json", STREAM, "HTTPError");
}

#[test]
fn http500_text() {
    let m = mock("http500-text", None, &[]);
    let r = profile_run(&m.url, &STREAM);
    all_failed(
        &r,
        "HTTPError",
        Some(500),
        "HTTP 500: Internal Server Error",
    );
}

#[test]
fn http503_html_non_streaming() {
    let m = mock("http503-html", None, &[]);
    let r = profile_run(
        &m.url,
        &Opts {
            streaming: false,
            ..STREAM
        },
    );
    all_failed(
        &r,
        "HTTPError",
        Some(503),
        "HTTP 503: <html><body><h1>503 Service Unavailable</h1></body></html>",
    );
}

// ---- Connection faults --------------------------------------------------

#[test]
fn reset_before_head() {
    let m = mock("reset-before-head", None, &[]);
    let r = profile_run(&m.url, &STREAM);
    all_failed_prefix(
        &r,
        "ConnectionClosed",
        None,
        "read failed before response head: Connection reset by peer",
    );
}

#[test]
fn reset_before_head_every_third() {
    every_third("reset-before-head", STREAM, "ConnectionClosed");
}

#[test]
fn reset_mid_stream() {
    let m = mock("reset-mid-stream", None, &[]);
    let r = profile_run(&m.url, &STREAM);
    all_failed_prefix(
        &r,
        "ConnectionClosed",
        Some(200),
        "read failed mid-body: Connection reset by peer",
    );
}

#[test]
fn close_mid_stream() {
    let m = mock("close-mid-stream", None, &[]);
    let r = profile_run(&m.url, &STREAM);
    all_failed(
        &r,
        "ConnectionClosed",
        Some(200),
        "connection closed mid-body (chunked stream not terminated)",
    );
}

#[test]
fn reset_mid_stream_at_random_rate() {
    // A seeded per-request draw: some fail, the rest succeed in full, and
    // nothing is lost or counted twice.
    let m = mock("reset-mid-stream", None, &["--fault-rate", "0.5"]);
    let r = profile_run(
        &m.url,
        &Opts {
            count: 20,
            ..STREAM
        },
    );
    let errs = errors(&r);
    assert!(!errs.is_empty() && errs.len() < 20, "{errs:?}");
    assert!(
        errs.iter().all(|(k, _, _)| k == "ConnectionClosed"),
        "{errs:?}"
    );
    assert_eq!(count_of(&r.export, "request_count"), 20 - errs.len() as u64);
    assert_eq!(stat(&r.export, "output_sequence_length", "min"), OSL);
}

#[test]
fn close_mid_stream_every_third() {
    every_third("close-mid-stream", STREAM, "ConnectionClosed");
}

#[test]
fn connection_close_after_each_response() {
    let m = mock("connection-close", None, &[]);
    let r = profile_run(&m.url, &STREAM);
    all_ok(&r);
}

#[test]
fn connection_refused() {
    // A port nothing listens on: bind one, then let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(1);
    let url = format!("http://127.0.0.1:{port}");
    let r = profile_run(&url, &Opts { count: 6, ..STREAM });
    all_failed(
        &r,
        "ConnectionError",
        None,
        &format!("connect to 127.0.0.1:{port} failed: Connection refused (os error 111)"),
    );
}

#[test]
fn connection_refused_fails_fast() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(1);
    let url = format!("http://127.0.0.1:{port}");
    let r = profile_run(&url, &Opts { count: 6, ..STREAM });
    assert!(!r.status.success(), "a dead URL must give a non-zero exit");
    assert!(
        r.stderr.contains("Connection refused"),
        "stderr should say why: {}",
        r.stderr
    );
}

// ---- Malformed heads ----------------------------------------------------

#[test]
fn bad_status_line() {
    let m = mock("bad-status-line", None, &[]);
    let r = profile_run(&m.url, &STREAM);
    all_failed(&r, "MalformedResponseHead", None, "invalid status line");
}

#[test]
fn bad_header_line() {
    let m = mock("bad-header-line", None, &[]);
    let r = profile_run(&m.url, &STREAM);
    all_failed(&r, "MalformedResponseHead", None, "invalid header line");
}

#[test]
fn oversized_head_every_third() {
    let r = every_third("oversized-head", STREAM, "MalformedResponseHead");
    for (_, code, m) in errors(&r) {
        assert_eq!(
            (code, m.as_str()),
            (None, "response head larger than 65536 bytes")
        );
    }
}

// ---- Broken and odd body framing ----------------------------------------

#[test]
fn bad_chunk_size() {
    let m = mock("bad-chunk-size", None, &[]);
    let r = profile_run(&m.url, &STREAM);
    all_failed(
        &r,
        "MalformedResponseBody",
        Some(200),
        "invalid chunk size line",
    );
}

#[test]
fn bad_chunk_size_non_streaming() {
    let m = mock("bad-chunk-size", None, &[]);
    let r = profile_run(
        &m.url,
        &Opts {
            streaming: false,
            ..STREAM
        },
    );
    all_failed(
        &r,
        "MalformedResponseBody",
        Some(200),
        "invalid chunk size line",
    );
}

#[test]
fn chunk_extensions_and_trailers_are_valid() {
    let m = mock("chunk-extensions", None, &[]);
    all_ok(&profile_run(&m.url, &STREAM));
    all_ok(&profile_run(
        &m.url,
        &Opts {
            streaming: false,
            ..STREAM
        },
    ));
}

#[test]
fn content_length_short() {
    let m = mock("content-length-short", None, &[]);
    let r = profile_run(&m.url, &STREAM);
    all_failed(
        &r,
        "ConnectionClosed",
        Some(200),
        "connection closed with 64 body bytes missing",
    );
}

#[test]
fn content_length_long() {
    let m = mock("content-length-long", None, &[]);
    let r = profile_run(
        &m.url,
        &Opts {
            streaming: false,
            ..STREAM
        },
    );
    all_failed(
        &r,
        "MalformedResponseBody",
        Some(200),
        "16 bytes after the Content-Length body",
    );
}

// ---- SSE content --------------------------------------------------------

#[test]
fn sse_invalid_json() {
    let m = mock("sse-invalid-json", None, &[]);
    let r = profile_run(&m.url, &STREAM);
    all_failed_prefix(
        &r,
        "StreamError",
        None,
        "invalid SSE data: invalid JSON in stream (",
    );
    for (_, _, msg) in errors(&r) {
        assert!(msg.ends_with("): this is not json"), "{msg}");
    }
}

#[test]
fn sse_error_event() {
    let m = mock("sse-error-event", None, &[]);
    let r = profile_run(&m.url, &STREAM);
    all_failed(
        &r,
        "StreamError",
        None,
        "error event in stream: InternalServerError: mock fault: error mid-stream",
    );
}

#[test]
fn sse_error_event_every_third() {
    every_third("sse-error-event", STREAM, "StreamError");
}

#[test]
fn sse_comments_are_valid() {
    let m = mock("sse-comments", None, &[]);
    all_ok(&profile_run(&m.url, &STREAM));
}

#[test]
fn sse_event_id_retry_fields_are_valid() {
    let m = mock("sse-fields", None, &[]);
    all_ok(&profile_run(&m.url, &STREAM));
}

#[test]
fn sse_crlf_is_valid() {
    let m = mock("sse-crlf", None, &[]);
    all_ok(&profile_run(&m.url, &STREAM));
}

#[test]
fn body_until_close_is_valid() {
    let m = mock("until-close", None, &[]);
    all_ok(&profile_run(&m.url, &STREAM));
    all_ok(&profile_run(
        &m.url,
        &Opts {
            streaming: false,
            ..STREAM
        },
    ));
}

#[test]
fn split_bytes_is_valid() {
    let m = mock("split-bytes", None, &[]);
    all_ok(&profile_run(&m.url, &STREAM));
    all_ok(&profile_run(
        &m.url,
        &Opts {
            count: 4,
            streaming: false,
            timeout_s: None,
        },
    ));
}

#[test]
fn trickle_within_timeout_is_valid() {
    let m = mock("trickle", None, &["--trickle-us", "20"]);
    all_ok(&profile_run(
        &m.url,
        &Opts {
            count: 4,
            streaming: true,
            timeout_s: Some("10"),
        },
    ));
}

// ---- Stalls -------------------------------------------------------------

#[test]
fn stall_after_head() {
    let m = mock("stall-after-head", None, &[]);
    let r = profile_run(
        &m.url,
        &Opts {
            count: 4,
            streaming: true,
            timeout_s: Some("0.3"),
        },
    );
    all_failed(
        &r,
        "RequestTimeout",
        Some(200),
        "no complete response within --request-timeout-seconds 0.3",
    );
}

#[test]
fn stall_mid_stream_every_third() {
    let r = every_third(
        "stall-mid-stream",
        Opts {
            count: 12,
            streaming: true,
            timeout_s: Some("0.3"),
        },
        "RequestTimeout",
    );
    assert!(r.dir.join("profile_export_aiperf.csv").is_file());
}

#[test]
fn stall_mid_body_non_streaming() {
    let m = mock("stall-mid-stream", None, &[]);
    let r = profile_run(
        &m.url,
        &Opts {
            count: 4,
            streaming: false,
            timeout_s: Some("0.3"),
        },
    );
    all_failed(
        &r,
        "RequestTimeout",
        Some(200),
        "no complete response within --request-timeout-seconds 0.3",
    );
}
