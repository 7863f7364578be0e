//! End to end against scripted servers on 127.0.0.1: byte sequences the
//! built-in mock never sends (interim responses, a head cut across reads,
//! events after `[DONE]`, a byte-order mark, an endless stream, an oversized
//! event, idle keep-alive connections closed by the server). Each must give
//! the right numbers or a precise error, in bounded time.

mod common;
use common::*;
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

const SSE_HEAD: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";

fn chunk(data: &[u8]) -> Vec<u8> {
    let mut c = format!("{:x}\r\n", data.len()).into_bytes();
    c.extend_from_slice(data);
    c.extend_from_slice(b"\r\n");
    c
}

/// One SSE event carrying `text` as content.
fn token(text: &str) -> Vec<u8> {
    chunk(
        format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{text}\"}}}}]}}\n\n")
            .as_bytes(),
    )
}

fn done_and_end() -> Vec<u8> {
    let mut v = chunk(b"data: [DONE]\n\n");
    v.extend_from_slice(b"0\r\n\r\n");
    v
}

fn send(conn: &mut TcpStream, bytes: &[u8]) -> bool {
    conn.write_all(bytes).is_ok()
}

fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

struct Run {
    _tmp: tempfile::TempDir,
    export: serde_json::Value,
    lines: Vec<serde_json::Value>,
    stderr: String,
}

/// Profiles `url` with `count` streaming requests, one at a time, counting
/// tokens with the fixture Qwen tokenizer (" hello" is one token).
fn profile_run(url: &str, count: u32, extra: &[&str]) -> Run {
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    let count = count.to_string();
    let mut args = vec![
        "--model",
        "m",
        "--tokenizer",
        "fixtures/tokenizers/qwen3",
        "--audio-length-mean",
        "0.1",
        "--synthetic-input-tokens-mean",
        "5",
        "--streaming",
        "--url",
        url,
        "--request-count",
        &count,
        "--concurrency",
        "1",
        "--request-timeout-seconds",
        "10",
        "--ui-type",
        "none",
        // These servers answer every path as the chat endpoint and count
        // connections: no /metrics scrapes among them.
        "--no-server-metrics",
        "--output-artifact-dir",
        dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = profile(&args, Duration::from_secs(60));
    let stderr = stderr_of(&out);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let export = read_json(&dir.join("profile_export_aiperf.json"));
    let lines = read_jsonl(&dir.join("profile_export.jsonl"));
    let acc = &export["request_accounting"];
    assert_eq!(acc["sent"].as_u64(), Some(count.parse().unwrap()), "{acc}");
    Run {
        _tmp: tmp,
        export,
        lines,
        stderr,
    }
}

fn error_messages(r: &Run) -> Vec<String> {
    r.lines
        .iter()
        .filter(|l| !l["error"].is_null())
        .map(|l| {
            format!(
                "{}: {}",
                l["error"]["type"].as_str().unwrap_or_default(),
                l["error"]["message"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

/// A `100 Continue` first, then the real head 150 ms later with the first
/// token in the same write, then 4 tokens 20 ms apart: TTFT is ~150 ms and
/// ITL ~20 ms (the body bytes that came with the head are stamped with the
/// read that completed the head, not with the interim response's read).
#[test]
fn interim_response_and_late_head() {
    let url = serve(|c| {
        send(c, b"HTTP/1.1 100 Continue\r\n\r\n");
        sleep_ms(150);
        let mut first = SSE_HEAD.to_vec();
        first.extend(token(" hello"));
        send(c, &first);
        for _ in 0..4 {
            sleep_ms(20);
            send(c, &token(" hello"));
        }
        send(c, &done_and_end())
    });
    let r = profile_run(&url, 3, &[]);
    assert!(error_messages(&r).is_empty(), "{:?}", error_messages(&r));
    let ttft = stat(&r.export, "time_to_first_token", "avg");
    assert!((148.0..300.0).contains(&ttft), "TTFT {ttft} ms, want ~150");
    let itl = stat(&r.export, "inter_token_latency", "avg");
    assert!((18.0..60.0).contains(&itl), "ITL {itl} ms, want ~20");
    assert_eq!(stat(&r.export, "output_sequence_length", "avg"), 5.0);
}

/// The status line alone, then the rest of the head and the first token
/// 150 ms later: TTFT ~150 ms, not the time of the status line.
#[test]
fn head_cut_across_reads() {
    let url = serve(|c| {
        send(c, b"HTTP/1.1 200 OK\r\n");
        sleep_ms(150);
        let mut rest = SSE_HEAD[b"HTTP/1.1 200 OK\r\n".len()..].to_vec();
        rest.extend(token(" hello"));
        send(c, &rest);
        send(c, &done_and_end())
    });
    let r = profile_run(&url, 2, &[]);
    assert!(error_messages(&r).is_empty(), "{:?}", error_messages(&r));
    let ttft = stat(&r.export, "time_to_first_token", "avg");
    assert!((148.0..300.0).contains(&ttft), "TTFT {ttft} ms, want ~150");
}

/// Tokens after `[DONE]` are not part of the answer; a byte-order mark at
/// the start of the stream is skipped, not allowed to eat the first event;
/// a last event without its blank line still counts.
#[test]
fn done_ends_the_answer_and_bom_is_skipped() {
    let url = serve(|c| {
        let mut v = SSE_HEAD.to_vec();
        v.extend(chunk(b"\xEF\xBB\xBF"));
        for _ in 0..3 {
            v.extend(token(" hello"));
        }
        v.extend(chunk(b"data: [DONE]\n\n"));
        v.extend(token(" hello"));
        v.extend(token(" hello"));
        v.extend_from_slice(b"0\r\n\r\n");
        send(c, &v)
    });
    let r = profile_run(&url, 2, &[]);
    assert!(error_messages(&r).is_empty(), "{:?}", error_messages(&r));
    assert_eq!(stat(&r.export, "output_sequence_length", "avg"), 3.0);

    // `[DONE]` as the body's last line, without the blank line after it.
    let url = serve(|c| {
        let mut v = SSE_HEAD.to_vec();
        v.extend(token(" hello"));
        v.extend(chunk(b"data: [DONE]"));
        v.extend_from_slice(b"0\r\n\r\n");
        send(c, &v)
    });
    let r = profile_run(&url, 2, &[]);
    assert!(error_messages(&r).is_empty(), "{:?}", error_messages(&r));
    assert_eq!(stat(&r.export, "output_sequence_length", "avg"), 1.0);
}

/// An event that grows past 1 MiB across reads fails the request at once
/// with its own message; the server keeps streaming, the run still ends.
#[test]
fn oversized_event_fails_fast() {
    let url = serve(|c| {
        let mut v = SSE_HEAD.to_vec();
        v.extend(chunk(
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"",
        ));
        if !send(c, &v) {
            return false;
        }
        let piece = chunk(&[b'a'; 60_000]);
        // 3 MB of one event, then an endless trickle: only the cap ends it.
        for _ in 0..50 {
            if !send(c, &piece) {
                return false;
            }
        }
        while send(c, &chunk(b"a")) {
            sleep_ms(10);
        }
        false
    });
    let t0 = std::time::Instant::now();
    let r = profile_run(&url, 2, &[]);
    assert!(t0.elapsed() < Duration::from_secs(8), "{:?}", t0.elapsed());
    let errs = error_messages(&r);
    assert_eq!(errs.len(), 2, "{errs:?}");
    for e in &errs {
        assert_eq!(
            e, "MalformedResponseBody: SSE event larger than 1048576 bytes",
            "{errs:?}"
        );
    }
}

/// A server that streams content without end: the request fails once its
/// text passes 64 MiB instead of taking the host's memory.
#[test]
fn endless_stream_is_cut_off() {
    let url = serve(|c| {
        if !send(c, SSE_HEAD) {
            return false;
        }
        let ev = token(&"x".repeat(60_000));
        while send(c, &ev) {}
        false
    });
    let r = profile_run(&url, 1, &[]);
    assert_eq!(
        error_messages(&r),
        ["MalformedResponseBody: streamed text larger than 67108864 bytes"]
    );
}

/// A server that closes idle keep-alive connections (uvicorn does after 5 s)
/// without saying so: the next request goes out on a fresh connection, not
/// on the dead one, so no request fails that the server never saw.
#[test]
fn idle_connections_closed_by_the_server_are_not_reused() {
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let seen = answered.clone();
    let url = serve(move |c| {
        seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut v = SSE_HEAD.to_vec();
        v.extend(token(" hello"));
        v.extend(done_and_end());
        send(c, &v);
        // Close without `Connection: close` (the data goes out before the FIN).
        false
    });
    let r = profile_run(
        &url,
        6,
        &["--request-rate", "10", "--request-rate-mode", "constant"],
    );
    assert!(error_messages(&r).is_empty(), "{:?}", error_messages(&r));
    assert_eq!(answered.load(std::sync::atomic::Ordering::Relaxed), 6);
}

/// A server that ignores `"stream": true` and answers with one JSON body:
/// the requests succeed, OSL is right, and the run warns that they have no
/// token timing instead of leaving TTFT silently out.
#[test]
fn json_answer_to_a_streaming_request_is_warned_about() {
    let url = serve(|c| {
        let body =
            r#"{"choices":[{"index":0,"message":{"role":"assistant","content":" hello hello"}}]}"#;
        send(
            c,
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
    });
    let r = profile_run(&url, 3, &[]);
    assert!(error_messages(&r).is_empty(), "{:?}", error_messages(&r));
    assert_eq!(stat(&r.export, "output_sequence_length", "avg"), 2.0);
    assert!(
        r.stderr
            .contains("3 successful streaming requests carried no token events"),
        "{}",
        r.stderr
    );
}
