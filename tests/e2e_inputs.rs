//! End to end: the user-file workflow of AIPerf's audio guide, exact token
//! counts with the Qwen tokenizer, and reasoning models.

mod common;
use common::*;

fn run(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = audioperf();
    c.arg("profile").args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run profile")
}

/// A Hugging Face cache (as `huggingface-cli download` leaves it) holding the
/// fixture Qwen tokenizer under the model's repo id.
fn hf_cache_with_qwen(repo: &str) -> tempfile::TempDir {
    let cache = tempdir();
    let snap = cache
        .path()
        .join(format!("models--{}", repo.replace('/', "--")))
        .join("snapshots/0123abc");
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::copy(
        "fixtures/tokenizers/qwen3/tokenizer.json",
        snap.join("tokenizer.json"),
    )
    .unwrap();
    let refs = snap.parent().unwrap().parent().unwrap().join("refs");
    std::fs::create_dir_all(&refs).unwrap();
    std::fs::write(refs.join("main"), "0123abc").unwrap();
    cache
}

/// The user's command, unchanged: three lines, three requests, ISL 4.00.
#[test]
fn input_file_example_gives_isl_4_with_the_qwen_tokenizer() {
    let mock = MockServer::start(&["--ttft-ms", "5", "--itl-ms", "1", "--output-tokens", "8"]);
    let cache = hf_cache_with_qwen("Qwen/Qwen2.5-Omni-3B");
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    let out = run(
        &[
            "--model",
            "Qwen/Qwen2.5-Omni-3B",
            "--endpoint-type",
            "chat",
            "--input-file",
            "fixtures/inputs.jsonl",
            "--custom-dataset-type",
            "single_turn",
            "--streaming",
            "--url",
            &mock.url,
            "--request-count",
            "3",
            "--output-artifact-dir",
            dir.to_str().unwrap(),
            "--ui-type",
            "none",
        ],
        &[("HF_HUB_CACHE", cache.path().to_str().unwrap())],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let stdout = stdout_of(&out);
    let isl_row = stdout
        .lines()
        .find(|l| l.contains("Input Sequence Length"))
        .expect("ISL row");
    assert!(isl_row.contains("4.00"), "{isl_row}");
    let ex = read_json(&dir.join("profile_export_aiperf.json"));
    assert_eq!(stat(&ex, "input_sequence_length", "avg"), 4.0);
    assert_eq!(stat(&ex, "input_sequence_length", "std"), 0.0);
    assert_eq!(stat(&ex, "request_count", "avg"), 3.0);
    // OSL from the tokenizer: the mock's 8 words are one Qwen token each.
    assert_eq!(stat(&ex, "output_sequence_length", "avg"), 8.0);
    // Each line was sent once, in order, with its own audio file.
    let inputs = read_json(&dir.join("inputs.json"));
    let texts: Vec<&str> = inputs["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            d["payloads"][0]["messages"][0]["content"][0]["text"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(texts, ["Transcribe this.", "What is said?", "Summarize."]);
    let stats = mock.get_json("/v1/mock/stats");
    assert_eq!(stats["audio_parts"], 3);
    assert_eq!(stats["rejected"], 0);
    let secs = stats["audio_seconds"].as_f64().unwrap();
    assert!(
        (secs - (1.0 + 1.54 + 2.23)).abs() < 0.05,
        "audio seconds {secs}"
    );
    let log = std::fs::read_to_string(dir.join("logs/aiperf.log")).unwrap();
    assert!(
        log.contains("tokenizer Qwen/Qwen2.5-Omni-3B loaded"),
        "{log}"
    );
}

/// With no tokenizer to be had, the run falls back to server usage with a
/// warning, never a crash.
#[test]
fn missing_tokenizer_falls_back_to_server_usage() {
    let mock = MockServer::start(&["--ttft-ms", "5", "--itl-ms", "1", "--output-tokens", "8"]);
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    let out = run(
        &[
            "--model",
            "no-such/model",
            "--input-file",
            "fixtures/inputs.jsonl",
            "--custom-dataset-type",
            "single_turn",
            "--streaming",
            "--url",
            &mock.url,
            "--request-count",
            "3",
            "--output-artifact-dir",
            dir.to_str().unwrap(),
            "--ui-type",
            "none",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("could not load tokenizer 'no-such/model'"));
    let ex = read_json(&dir.join("profile_export_aiperf.json"));
    // The mock's usage.prompt_tokens counts words: 2, 3 and 1.
    assert_eq!(stat(&ex, "input_sequence_length", "avg"), 2.0);
    assert_eq!(stat(&ex, "output_sequence_length", "avg"), 8.0);
}

/// Synthetic prompts hit the requested token count exactly with a tokenizer.
#[test]
fn synthetic_prompts_are_exact_with_a_tokenizer() {
    let mock = MockServer::start(&["--ttft-ms", "1", "--itl-ms", "1", "--output-tokens", "4"]);
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    let out = run(
        &[
            "--model",
            "m",
            "--tokenizer",
            "fixtures/tokenizers/qwen3",
            "--audio-length-mean",
            "0.2",
            "--synthetic-input-tokens-mean",
            "100",
            "--streaming",
            "--url",
            &mock.url,
            "--request-count",
            "8",
            "--concurrency",
            "2",
            "--output-artifact-dir",
            dir.to_str().unwrap(),
            "--ui-type",
            "none",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let ex = read_json(&dir.join("profile_export_aiperf.json"));
    assert_eq!(stat(&ex, "input_sequence_length", "min"), 100.0);
    assert_eq!(stat(&ex, "input_sequence_length", "max"), 100.0);
}

/// Reasoning first: TTFT counts the first reasoning token, TTFO the first
/// content token (5 reasoning tokens × 10 ms later); OSL counts both.
/// Medians over 12 requests: on a shared 2-core machine a scheduling stall
/// now and then delays one pair of requests by a few ms.
#[test]
fn reasoning_tokens_split_ttft_and_ttfo() {
    let mock = MockServer::start(&[
        "--ttft-ms",
        "20",
        "--itl-ms",
        "10",
        "--output-tokens",
        "12",
        "--reasoning-tokens",
        "5",
    ]);
    timing_attempts(3, || {
        let tmp = tempdir();
        let dir = tmp.path().join("run");
        let out = run(
            &[
                "--model",
                "m",
                "--tokenizer",
                "fixtures/tokenizers/qwen3",
                "--audio-length-mean",
                "0.2",
                "--synthetic-input-tokens-mean",
                "10",
                "--streaming",
                "--url",
                &mock.url,
                "--request-count",
                "12",
                "--concurrency",
                "2",
                "--output-artifact-dir",
                dir.to_str().unwrap(),
                "--ui-type",
                "none",
            ],
            &[],
        );
        assert!(out.status.success(), "{}", stderr_of(&out));
        let ex = read_json(&dir.join("profile_export_aiperf.json"));
        // 5 reasoning + 12 content tokens.
        assert_eq!(stat(&ex, "output_sequence_length", "avg"), 17.0);
        // The tokenizer splits them: 5 reasoning, 12 output tokens per request.
        for l in read_jsonl(&dir.join("profile_export.jsonl")) {
            assert_eq!(l["metrics"]["reasoning_token_count"]["value"], 5, "{l}");
            assert_eq!(l["metrics"]["output_token_count"]["value"], 12, "{l}");
        }
        let ttft = stat(&ex, "time_to_first_token", "p50");
        let ttfo = stat(&ex, "time_to_first_output_token", "p50");
        ensure!((ttft - 20.0).abs() < 1.0, "TTFT {ttft}");
        ensure!((ttfo - 70.0).abs() < 1.0, "TTFO {ttfo}, want 20 + 5 × 10");
        Ok(())
    });
}

/// A bad input file names the file, the line and the cause; nothing is sent.
#[test]
fn bad_input_files_are_clear_errors_and_send_nothing() {
    let mock = MockServer::start(&["--ttft-ms", "1", "--itl-ms", "1", "--output-tokens", "2"]);
    let tmp = tempdir();
    // A WAV cut short: its data chunk declares 3,200 bytes, 3,100 follow. The
    // mock server (like a real decoder) would refuse it with a 400.
    let trunc = tmp.path().join("trunc.wav");
    let mut wav = b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0\x80\x3e\0\0\0\x7d\0\0\x02\0\x10\0data\x80\x0c\0\0".to_vec();
    wav.resize(wav.len() + 3_100, 0);
    std::fs::write(&trunc, &wav).unwrap();
    let trunc_line = format!(
        "{{\"text\": \"a\", \"audio\": {:?}}}\n",
        trunc.to_str().unwrap()
    );
    let cases = [
        (
            trunc_line.as_str(),
            "line 1",
            "declares 3200 bytes but only 3100 remain",
        ),
        (
            "{\"texts\": [\"a\"], \"audios\": [\"nope.wav\"]}\n",
            "line 1",
            "nope.wav",
        ),
        ("{\"texts\": [\"a\"]}\nnot json\n", "line 2", "JSON"),
        (
            "{\"texts\": [\"a\"], \"audios\": [\"wav,AAAA\"]}\n",
            "line 1",
            "wav",
        ),
        ("", "", "no"),
    ];
    for (i, (content, line, cause)) in cases.iter().enumerate() {
        let file = tmp.path().join(format!("in{i}.jsonl"));
        std::fs::write(&file, content).unwrap();
        let out = run(
            &[
                "--model",
                "m",
                "--input-file",
                file.to_str().unwrap(),
                "--custom-dataset-type",
                "single_turn",
                "--url",
                &mock.url,
                "--request-count",
                "1",
                "--output-artifact-dir",
                tmp.path().join(format!("run{i}")).to_str().unwrap(),
                "--ui-type",
                "none",
            ],
            &[],
        );
        assert!(!out.status.success(), "case {i}");
        let err = stderr_of(&out);
        assert!(err.contains(&format!("in{i}.jsonl")), "case {i}: {err}");
        assert!(err.contains(line), "case {i}: {err}");
        assert!(
            err.to_lowercase().contains(&cause.to_lowercase()),
            "case {i}: {err}"
        );
    }
    assert_eq!(mock.get_json("/v1/mock/stats")["requests"], 0);
}

/// Entries with a timestamp or delay run, with a warning that they are not
/// used for scheduling (no fixed-schedule mode yet), not silently.
#[test]
fn timestamps_in_input_files_are_warned_about() {
    let mock = MockServer::start(&["--ttft-ms", "1", "--itl-ms", "1", "--output-tokens", "2"]);
    let tmp = tempdir();
    let file = tmp.path().join("in.jsonl");
    std::fs::write(
        &file,
        "{\"text\": \"a\", \"delay\": 3000}\n{\"text\": \"b\", \"timestamp\": 10}\n",
    )
    .unwrap();
    let dir = tmp.path().join("run");
    let out = run(
        &[
            "--model",
            "m",
            "--input-file",
            file.to_str().unwrap(),
            "--custom-dataset-type",
            "single_turn",
            "--url",
            &mock.url,
            "--request-count",
            "2",
            "--output-artifact-dir",
            dir.to_str().unwrap(),
            "--ui-type",
            "none",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("2 input-file entries carry a timestamp or delay"),
        "{err}"
    );
    let log = std::fs::read_to_string(dir.join("logs/aiperf.log")).unwrap();
    assert!(log.contains("does not schedule by them"), "{log}");
    assert_eq!(mock.get_json("/v1/mock/stats")["requests"], 2);
}
