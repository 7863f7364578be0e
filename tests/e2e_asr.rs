//! ASR end to end: `--public-dataset librispeech` read from a Hugging Face
//! cache holding real speech (the committed fixture `fixtures/asr/hub`, made
//! by `scripts/make-asr-fixture.py` from espeak-ng speech: five sentences,
//! one clip over 30 s, one row that is not audio), and `--endpoint-type
//! audio_transcription` against the mock's `/v1/audio/transcriptions` in both
//! stream forms and the non-streaming response formats; plus the failures a
//! user meets: no cached dataset, and server answers that are not transcriptions.

mod common;
use common::*;
use std::io::Write;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

const FIXTURE_ROWS: u64 = 5;
const QWEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/tokenizers/qwen3");

/// A copy of the fixture cache as `$HF_HOME/hub`, so no test writes to the repo.
fn hf_home() -> tempfile::TempDir {
    let home = tempdir();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/asr/hub");
    copy_dir(&src, &home.path().join("hub"));
    home
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// `audioperf profile` with `HF_HOME` set (and no `HF_HUB_CACHE`, which
/// would take precedence), offline.
fn run(home: &Path, args: &[&str]) -> Output {
    let mut cmd = audioperf();
    cmd.env_remove("HF_HUB_CACHE")
        .env("HF_HOME", home)
        .arg("profile")
        .args(args);
    output_within(&mut cmd, Duration::from_secs(120))
}

fn base_args<'a>(url: &'a str, dir: &'a str, endpoint: &'a str) -> Vec<&'a str> {
    vec![
        "--model",
        "Qwen/Qwen2.5-Omni-3B",
        "--endpoint-type",
        endpoint,
        "--url",
        url,
        "--public-dataset",
        "librispeech",
        "--tokenizer",
        QWEN,
        "--output-artifact-dir",
        dir,
        "--ui-type",
        "none",
    ]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn metric(line: &serde_json::Value, tag: &str) -> Option<f64> {
    line["metrics"][tag]["value"].as_f64()
}

/// AIPerf's seed ASR command, unchanged but for the program name: every row
/// of real speech is sent as valid WAV (the mock decodes each), with a
/// 5-token prompt under the Qwen tokenizer; the long clip and the
/// undecodable row are skipped, counted and reported.
#[test]
fn public_dataset_chat_sends_every_eligible_row_with_a_five_token_prompt() {
    let mock = MockServer::start(&["--ttft-ms", "20", "--itl-ms", "2", "--output-tokens", "8"]);
    let home = hf_home();
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    let mut args = base_args(&mock.url, dir.to_str().unwrap(), "chat");
    args.extend(["--streaming", "--request-count", "10", "--concurrency", "4"]);
    let out = run(home.path(), &args);
    let err = stderr_of(&out);
    assert!(out.status.success(), "stderr: {err}");
    assert!(
        err.contains(
            "--public-dataset librispeech: 5 rows of openslr/librispeech_asr (clean, test)"
        ) && err.contains("skipped 1 clip(s) over 30 s")
            && err.contains("skipped 1 undecodable row(s) (row 7 of "),
        "{err}"
    );
    let stats = mock.get_json("/v1/mock/stats");
    assert_eq!(stats["requests"], 10);
    assert_eq!(stats["rejected"], 0, "every clip decodes as WAV: {stats}");
    assert_eq!(stats["audio_parts"], 10);
    let ex = read_json(&dir.join("profile_export_aiperf.json"));
    assert_eq!(stat(&ex, "request_count", "avg"), 10.0);
    assert_eq!(stat(&ex, "input_sequence_length", "avg"), 5.0);
    assert_eq!(stat(&ex, "input_sequence_length", "max"), 5.0);
    // Rows go out in order and are reused in order: two passes over 5 rows,
    // each clip's length (2.9-3.5 s of speech) as the fixture has it.
    let lines = read_jsonl(&dir.join("profile_export.jsonl"));
    assert_eq!(lines.len(), 10);
    let mut durations: Vec<f64> = lines
        .iter()
        .map(|l| metric(l, "audio_duration").expect("audio_duration"))
        .collect();
    durations.sort_by(f64::total_cmp);
    durations.dedup();
    assert_eq!(durations.len() as u64, FIXTURE_ROWS, "{durations:?}");
    assert!(
        durations.iter().all(|d| (2.5..4.0).contains(d)),
        "{durations:?}"
    );
    // inputs.json holds the WAV clips and AIPerf's prompt.
    let inputs = read_json(&dir.join("inputs.json"));
    let payloads = inputs["data"].as_array().unwrap();
    assert_eq!(payloads.len() as u64, FIXTURE_ROWS);
    let content = &payloads[0]["payloads"][0]["messages"][0]["content"];
    assert_eq!(content[0]["text"], "Transcribe this audio.");
    assert_eq!(content[1]["input_audio"]["format"], "wav");
}

/// The transcription command of AIPerf's guide, streamed in each form
/// servers use: TTFT and ITL are the mock's configured 50 ms / 10 ms within
/// the chat tests' tolerances; OSL is the tokenizer's count of the transcript.
#[test]
fn transcription_streams_in_both_forms_with_the_mock_timing() {
    for style in ["openai", "vllm"] {
        timing_attempts(3, || {
            let mock = MockServer::start(&[
                "--ttft-ms",
                "50",
                "--itl-ms",
                "10",
                "--output-tokens",
                "20",
                "--transcription-stream",
                style,
            ]);
            let home = hf_home();
            let tmp = tempdir();
            let dir = tmp.path().join("run");
            let mut args = base_args(&mock.url, dir.to_str().unwrap(), "audio_transcription");
            args.extend([
                "--streaming",
                "--request-count",
                "20",
                "--concurrency",
                "4",
                "--extra-inputs",
                r#"{"response_format":"verbose_json","timestamp_granularities[]":["word","segment"]}"#,
            ]);
            let out = run(home.path(), &args);
            assert!(out.status.success(), "{style}: {}", stderr_of(&out));
            let stats = mock.get_json("/v1/mock/stats");
            assert_eq!(stats["rejected"], 0, "{style}: {stats}");
            assert_eq!(stats["streaming"], 20, "{style}: {stats}");
            let lines = read_jsonl(&dir.join("profile_export.jsonl"));
            assert_eq!(lines.len(), 20, "{style}");
            for l in &lines {
                assert!(l["error"].is_null(), "{style}: {l}");
                assert_eq!(
                    metric(l, "output_sequence_length"),
                    Some(20.0),
                    "{style}: {l}"
                );
            }
            let ttft = median(
                lines
                    .iter()
                    .filter_map(|l| metric(l, "time_to_first_token"))
                    .collect(),
            );
            let itl = median(
                lines
                    .iter()
                    .filter_map(|l| metric(l, "inter_token_latency"))
                    .collect(),
            );
            ensure!(
                (ttft - 50.0).abs() < 1.0,
                "{style}: TTFT p50 {ttft} ms, want 50 ± 1"
            );
            ensure!(
                (itl - 10.0).abs() < 0.3,
                "{style}: ITL p50 {itl} ms, want 10 ± 0.3"
            );
            Ok(())
        });
    }
}

/// Non-streaming, in each `response_format`: the whole transcript arrives at
/// TTFT + 19 ITL, and its tokens are counted.
#[test]
fn transcription_response_formats_without_streaming() {
    for format in ["json", "verbose_json", "text", "srt"] {
        let mock =
            MockServer::start(&["--ttft-ms", "30", "--itl-ms", "5", "--output-tokens", "20"]);
        let home = hf_home();
        let tmp = tempdir();
        let dir = tmp.path().join("run");
        let extra = format!("response_format:{format}");
        let mut args = base_args(&mock.url, dir.to_str().unwrap(), "audio_transcription");
        args.extend([
            "--request-count",
            "6",
            "--concurrency",
            "2",
            "--extra-inputs",
            &extra,
        ]);
        let out = run(home.path(), &args);
        assert!(out.status.success(), "{format}: {}", stderr_of(&out));
        let lines = read_jsonl(&dir.join("profile_export.jsonl"));
        assert_eq!(lines.len(), 6);
        for l in &lines {
            assert!(l["error"].is_null(), "{format}: {l}");
            let osl = metric(l, "output_sequence_length").expect("osl");
            // srt adds its cue number and times to the 20 words.
            assert!(
                if format == "srt" {
                    osl > 20.0
                } else {
                    osl == 20.0
                },
                "{format}: OSL {osl}"
            );
            let latency = metric(l, "request_latency").expect("latency");
            assert!(
                (125.0..400.0).contains(&latency),
                "{format}: latency {latency}"
            );
        }
    }
}

/// Offline with nothing cached: the run fails before sending anything, and
/// says which repository, where it looked and the command that fetches it.
#[test]
fn an_uncached_dataset_fails_with_the_path_and_the_download_command() {
    let empty = tempdir();
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    let args = base_args("http://127.0.0.1:9", dir.to_str().unwrap(), "chat");
    let out = run(empty.path(), &args);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    let searched = empty
        .path()
        .join("hub/datasets--openslr--librispeech_asr/snapshots");
    assert!(
        err.contains(
            "openslr/librispeech_asr (subset clean, split test) is not in the Hugging Face cache"
        ) && err.contains(&searched.display().to_string())
            && err.contains("HF_HUB_OFFLINE is set")
            && err.contains("huggingface-cli download openslr/librispeech_asr --repo-type dataset"),
        "{err}"
    );
    // A subset the fixture does not have is not found either.
    let home = hf_home();
    let mut args = base_args("http://127.0.0.1:9", dir.to_str().unwrap(), "chat");
    args.extend(["--hf-subset", "other"]);
    let out = run(home.path(), &args);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("(subset other, split test)"),
        "{}",
        stderr_of(&out)
    );
}

/// A server whose answers are not transcriptions: each request is an error
/// with the reason, counted, and the run still writes its exports.
#[test]
fn answers_that_are_not_transcriptions_are_counted_errors() {
    let bodies: Vec<(&str, &str)> = vec![
        ("application/json", r#"{"segments":[]}"#),
        ("application/json", r#"{"text":""}"#),
        ("application/json", r#"{"text": "cut"#),
        ("text/plain", ""),
    ];
    for (ctype, body) in bodies {
        let url = serve_fixed(ctype, body);
        let home = hf_home();
        let tmp = tempdir();
        let dir = tmp.path().join("run");
        let mut args = base_args(&url, dir.to_str().unwrap(), "audio_transcription");
        args.extend(["--request-count", "3"]);
        let out = run(home.path(), &args);
        assert_eq!(out.status.code(), Some(1), "{body}: {}", stderr_of(&out));
        let ex = read_json(&dir.join("profile_export_aiperf.json"));
        assert_eq!(stat(&ex, "error_request_count", "avg"), 3.0, "{body}");
        let lines = read_jsonl(&dir.join("profile_export.jsonl"));
        let msg = lines[0]["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let want = match body {
            r#"{"segments":[]}"# => "no \"text\" field",
            r#"{"text":""}"# => "empty transcript",
            "" => "empty transcript",
            _ => "invalid JSON",
        };
        assert!(msg.contains(want), "{body}: {msg}");
    }
}

/// A server answering every request with `200` and this body.
fn serve_fixed(content_type: &'static str, body: &'static str) -> String {
    serve(move |conn| {
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        conn.write_all(resp.as_bytes()).is_ok()
    })
}
