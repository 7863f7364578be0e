//! The `profile` command line end to end: flags in, `ProfileConfig` and
//! `input_config` out, compared with what AIPerf 0.13.0 produces.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use serde_json::{json, Value};

use super::*;
use crate::config::{
    ArrivalPattern, AudioFormat, CustomDatasetType, ExportLevel, ProfileConfig, RxStamps, Scheme,
    TlsOptions, TlsRoots, UiType, ZeroCopy,
};

/// Stand-in for the binary's top-level parser (src/main.rs).
#[derive(Parser, Debug)]
#[command(name = "profile")]
struct TestCli {
    #[command(flatten)]
    args: ProfileArgs,
}

fn args(line: &str) -> Result<ProfileArgs, clap::Error> {
    let argv = std::iter::once("profile").chain(line.split_whitespace());
    TestCli::try_parse_from(argv).map(|c| c.args)
}

fn config(line: &str) -> Result<ProfileConfig, FlagError> {
    match args(line) {
        Ok(a) => a.into_config(format!("audioperf profile {line}")),
        Err(e) => panic!("clap rejected '{line}': {e}"),
    }
}

fn ok(line: &str) -> ProfileConfig {
    match config(line) {
        Ok(c) => c,
        Err(e) => panic!("'{line}' rejected: {e}"),
    }
}

fn err(line: &str) -> FlagError {
    match config(line) {
        Ok(_) => panic!("'{line}' was accepted"),
        Err(e) => e,
    }
}

/// clap's message for a value-parser failure; it must name the flag.
fn clap_err(line: &str) -> String {
    match args(line) {
        Ok(_) => panic!("clap accepted '{line}'"),
        Err(e) => e.to_string(),
    }
}

/// `input_config` with the machine-specific absolute directory blanked.
fn ic_without_dir(c: &ProfileConfig) -> Value {
    let mut v = c.input_config_json.clone();
    v["artifacts"]["dir"] = json!("DIR");
    v
}

const SYNTH: &str = "--model Qwen/Qwen2-Audio-7B-Instruct --endpoint-type chat \
    --audio-length-mean 5.0 --audio-format wav --audio-sample-rates 16 \
    --synthetic-input-tokens-mean 100 --streaming --url localhost:8000 \
    --request-count 20 --concurrency 4";

#[test]
fn synthetic_audio_example() {
    let c = ok(SYNTH);
    assert_eq!(c.model, "Qwen/Qwen2-Audio-7B-Instruct");
    assert_eq!(c.target.host, "localhost");
    assert_eq!(c.target.port, 8000);
    assert_eq!(c.target.scheme, Scheme::Http);
    assert_eq!(c.target.host_header, "localhost:8000");
    assert_eq!(c.target.base_path, "");
    assert_eq!(c.endpoint_path, "/v1/chat/completions");
    assert_eq!(c.url(), "http://localhost:8000/v1/chat/completions");
    assert!(c.streaming);
    assert_eq!(c.request_count, 20);
    assert_eq!(c.concurrency, 4);
    assert!(c.concurrency_set);
    assert_eq!(c.request_rate, None);
    assert_eq!(c.audio.length_mean_s, 5.0);
    assert_eq!(c.audio.format, AudioFormat::Wav);
    assert_eq!(c.audio.sample_rates_hz, vec![16000]);
    assert_eq!(c.audio.depths_bits, vec![16]);
    assert_eq!(c.audio.channels, 1);
    assert_eq!(c.audio.batch_size, 1);
    assert_eq!(c.prompt.input_tokens_mean, 100);
    assert_eq!(c.prompt.output_tokens_mean, None);
    assert_eq!(c.num_dataset_entries, 20);
    assert_eq!(
        c.artifact_dir,
        PathBuf::from("artifacts/Qwen_Qwen2-Audio-7B-Instruct-openai-chat-concurrency4")
    );
    assert!(c.cli_command.starts_with("audioperf profile --model"));
}

#[test]
fn synthetic_example_input_config_equals_aiperf() {
    // Produced by AIPerf 0.13.0's own converter for the same line (+ --ui-type none).
    let expected: Value = serde_json::from_str(r#"{"models": {"items": [{"name": "Qwen/Qwen2-Audio-7B-Instruct"}]}, "endpoint": {"urls": ["http://localhost:8000"], "type": "chat", "streaming": true}, "datasets": [{"name": "main", "type": "synthetic", "entries": 20, "prompts": {"isl": {"mean": 100.0}}, "audio": {"batch_size": 1, "length": {"mean": 5.0}, "format": "wav", "sample_rates": [16.0]}}], "phases": [{"name": "profiling", "kind": "profiling", "type": "concurrency", "requests": 20, "concurrency": 4}], "artifacts": {"dir": "DIR", "auto_plot": false, "plot_required": false}, "tokenizer": {}, "gpu_telemetry": {"enabled": true}, "server_metrics": {"enabled": true, "urls": [], "formats": ["json", "csv"]}, "network_latency": {"enabled": false}, "otel": {}, "mlflow": {}, "wandb": {}, "runtime": {"ui": "none"}}"#).unwrap();
    let c = ok(&format!("{SYNTH} --ui-type none"));
    assert_same_in_order(&ic_without_dir(&c), &expected);
    let dir = c.input_config_json["artifacts"]["dir"]
        .as_str()
        .unwrap_or("");
    assert!(Path::new(dir).is_absolute());
    assert!(dir.ends_with("/artifacts/Qwen_Qwen2-Audio-7B-Instruct-openai-chat-concurrency4"));
}

/// Equal as JSON values and also in key order, at every level (Value's `==`
/// ignores order).
fn assert_same_in_order(actual: &Value, expected: &Value) {
    assert_eq!(actual, expected);
    let text = |v: &Value| serde_json::to_string(v).unwrap_or_default();
    assert_eq!(text(actual), text(expected));
}

/// `input_config` lists its keys in AIPerf's order, at the top level and
/// inside. The expected texts are AIPerf 0.13.0's exports for the same flags
/// (the artifact directory blanked, the tokenizer path shortened); AIPerf's
/// objects keep its config models' field order.
#[test]
fn input_config_keys_follow_aiperf_order() {
    let c = ok(&format!("{SYNTH} --ui-type none --log-level info"));
    let keys: Vec<&str> = c
        .input_config_json
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(
        keys,
        [
            "models",
            "endpoint",
            "datasets",
            "phases",
            "artifacts",
            "tokenizer",
            "gpu_telemetry",
            "server_metrics",
            "network_latency",
            "otel",
            "mlflow",
            "wandb",
            "runtime",
            "logging"
        ]
    );
    // Gamma phases with a duration and sessions, a tokenizer revision, a log level.
    let expected: Value = serde_json::from_str(r#"{"models": {"items": [{"name": "m"}]}, "endpoint": {"urls": ["http://localhost:18777"]}, "datasets": [{"name": "main", "type": "synthetic", "entries": 3, "prompts": {"isl": {"mean": 10.0}}}], "phases": [{"name": "warmup", "kind": "warmup", "type": "gamma", "exclude_from_results": true, "requests": 1, "concurrency": 2, "rate": 20.0, "smoothness": 1.5}, {"name": "profiling", "kind": "profiling", "type": "gamma", "duration": 1.0, "sessions": 3, "concurrency": 2, "grace_period": 30.0, "rate": 20.0, "smoothness": 1.5}], "artifacts": {"dir": "DIR", "auto_plot": false, "plot_required": false}, "tokenizer": {"name": "/tok", "revision": "main"}, "gpu_telemetry": {"enabled": true}, "server_metrics": {"enabled": true, "urls": [], "formats": ["json", "csv"]}, "network_latency": {"enabled": false}, "otel": {}, "mlflow": {}, "wandb": {}, "runtime": {"ui": "none"}, "logging": {"level": "INFO"}}"#).unwrap();
    let c = ok(
        "-m m --url localhost:18777 --request-rate 20 --arrival-pattern gamma \
        --arrival-smoothness 1.5 --warmup-request-count 1 --conversation-num 3 \
        --benchmark-duration 1 --concurrency 2 --tokenizer /tok --tokenizer-revision main \
        --log-level info --isl 10 --ui-type none",
    );
    assert_same_in_order(&ic_without_dir(&c), &expected);
    // --extra-inputs keep the order they were given in (a Python dict's).
    let c = ok("-m m --extra-inputs z:1,a:2 --extra-inputs {\"m\":{\"y\":1,\"b\":2}}");
    assert_eq!(
        serde_json::to_string(&c.input_config_json["endpoint"]["extra"]).unwrap_or_default(),
        r#"{"z":1,"a":2,"m":{"y":1,"b":2}}"#
    );
    let keys: Vec<&str> = c.extra_inputs.keys().map(String::as_str).collect();
    assert_eq!(keys, ["z", "a", "m"]);
}

#[test]
fn input_file_example() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("inputs.jsonl");
    std::fs::write(
        &file,
        "{\"texts\": [\"Transcribe this.\"], \"audios\": [\"a.wav\"]}\n",
    )
    .unwrap();
    let line = format!(
        "--model Qwen/Qwen2.5-Omni-3B --endpoint-type chat --input-file {} \
         --custom-dataset-type single_turn --streaming --url localhost:8000 --request-count 3 --ui-type none",
        file.display()
    );
    let c = ok(&line);
    assert_eq!(c.input_file.as_deref(), Some(file.as_path()));
    assert_eq!(c.custom_dataset_type, Some(CustomDatasetType::SingleTurn));
    assert_eq!(c.request_count, 3);
    assert_eq!(c.concurrency, 1);
    assert!(!c.concurrency_set);
    assert_eq!(
        c.artifact_dir,
        PathBuf::from("artifacts/Qwen_Qwen2.5-Omni-3B-openai-chat-concurrency1")
    );
    let mut expected: Value = serde_json::from_str(r#"{"models": {"items": [{"name": "Qwen/Qwen2.5-Omni-3B"}]}, "endpoint": {"urls": ["http://localhost:8000"], "type": "chat", "streaming": true}, "datasets": [{"name": "main", "type": "file", "path": "inputs.jsonl", "format": "single_turn", "entries": 3}], "phases": [{"name": "profiling", "kind": "profiling", "type": "concurrency", "requests": 3}], "artifacts": {"dir": "DIR", "auto_plot": false, "plot_required": false}, "tokenizer": {}, "gpu_telemetry": {"enabled": true}, "server_metrics": {"enabled": true, "urls": [], "formats": ["json", "csv"]}, "network_latency": {"enabled": false}, "otel": {}, "mlflow": {}, "wandb": {}, "runtime": {"ui": "none"}}"#).unwrap();
    expected["datasets"][0]["path"] = json!(file.to_string_lossy());
    assert_same_in_order(&ic_without_dir(&c), &expected);
    // A missing file is caught here, naming the flag.
    let e = err("-m m --input-file /nonexistent/x.jsonl");
    assert_eq!(e.flag, "--input-file");
}

#[test]
fn every_flag_input_config_equals_aiperf() {
    let line = "-m x/y --url https://h:9000/api --custom-endpoint /v1/chat --request-count 40 \
        --warmup-request-count 5 --concurrency 4 --request-rate 8 --request-rate-mode constant \
        --benchmark-duration 60 --benchmark-grace-period 5 --request-timeout-seconds 30 \
        --request-cancellation-rate 10 --request-cancellation-delay 0.5 --audio-length-mean 2 \
        --audio-length-stddev 0.5 --audio-format mp3 --audio-sample-rates 16,44.1 \
        --audio-sample-rates 48000 --audio-depths 16,24 --audio-num-channels 2 --batch-size-audio 2 \
        --isl 100 --isl-stddev 10 --osl 50 --osl-stddev 5 --use-legacy-max-tokens --batch-size-text 2 \
        --random-seed 42 --api-key sk --header X-A:one -H X-B:two --extra-inputs temperature:0.5 \
        --extra-inputs {\"top_k\":3} --num-dataset-entries 7 --tokenizer /tok --tokenizer-revision v1 \
        --tokenizer-trust-remote-code --use-server-token-count --ui-type none --workers-max 3 \
        --no-server-metrics --no-gpu-telemetry -v --artifact-dir out/dir";
    let expected: Value = serde_json::from_str(r#"{"models": {"items": [{"name": "x/y"}]}, "endpoint": {"urls": ["https://h:9000/api"], "path": "/v1/chat", "api_key": "<redacted>", "timeout": 30.0, "use_legacy_max_tokens": true, "use_server_token_count": true, "headers": {"X-A": "one", "X-B": "two"}, "extra": {"temperature": 0.5, "top_k": 3}}, "datasets": [{"name": "main", "type": "synthetic", "entries": 7, "random_seed": 42, "prompts": {"isl": {"mean": 100.0, "stddev": 10.0}, "osl": {"mean": 50.0, "stddev": 5.0}, "batch_size": 2}, "audio": {"batch_size": 2, "length": {"mean": 2.0, "stddev": 0.5}, "format": "mp3", "sample_rates": [16.0, 44.1, 48.0], "depths": [16, 24], "channels": 2}}], "phases": [{"name": "warmup", "kind": "warmup", "type": "constant", "exclude_from_results": true, "requests": 5, "concurrency": 4, "rate": 8.0}, {"name": "profiling", "kind": "profiling", "type": "constant", "requests": 40, "duration": 60.0, "concurrency": 4, "grace_period": 5.0, "cancellation": {"rate": 10.0, "delay": 0.5}, "rate": 8.0}], "artifacts": {"dir": "DIR", "auto_plot": false, "plot_required": false}, "tokenizer": {"name": "/tok", "revision": "v1", "trust_remote_code": true}, "gpu_telemetry": {"enabled": false}, "server_metrics": {"enabled": false}, "network_latency": {"enabled": false}, "otel": {}, "mlflow": {}, "wandb": {}, "runtime": {"ui": "simple", "workers": 3}, "logging": {"level": "DEBUG"}}"#).unwrap();
    let c = ok(line);
    assert_same_in_order(&ic_without_dir(&c), &expected);
    // A named directory is used as is, no run-name subfolder.
    assert_eq!(c.artifact_dir, PathBuf::from("out/dir"));
    assert_eq!(c.target.scheme, Scheme::Https);
    assert_eq!(c.target.port, 9000);
    assert_eq!(c.target.base_path, "/api");
    assert_eq!(c.url(), "https://h:9000/api/v1/chat");
    assert_eq!(c.request_timeout, Duration::from_secs(30));
    assert_eq!(c.benchmark_duration, Some(Duration::from_secs(60)));
    assert_eq!(c.benchmark_grace_period, Duration::from_secs(5));
    assert_eq!(c.warmup_request_count, 5);
    assert_eq!(c.request_rate, Some(8.0));
    assert_eq!(c.arrival_pattern, ArrivalPattern::Constant);
    assert_eq!(c.audio.sample_rates_hz, vec![16000, 44100, 48000]);
    assert_eq!(c.audio.depths_bits, vec![16, 24]);
    assert_eq!(c.audio.length_stddev_s, 0.5);
    assert_eq!(c.audio.channels, 2);
    assert_eq!(c.audio.batch_size, 2);
    assert_eq!(c.prompt.output_tokens_mean, Some(50));
    assert_eq!(c.prompt.output_tokens_stddev, 5.0);
    assert!(c.prompt.use_legacy_max_tokens);
    assert_eq!(c.prompt.text_batch_size, 2);
    assert_eq!(c.random_seed, Some(42));
    assert_eq!(c.num_dataset_entries, 7);
    assert_eq!(c.api_key.as_deref(), Some("sk"));
    assert_eq!(
        c.headers,
        vec![
            ("X-A".to_string(), "one".to_string()),
            ("X-B".to_string(), "two".to_string())
        ]
    );
    assert_eq!(c.extra_inputs.get("temperature"), Some(&json!(0.5)));
    assert_eq!(c.extra_inputs.get("top_k"), Some(&json!(3)));
    assert_eq!(c.tokenizer.as_deref(), Some("/tok"));
    assert!(c.use_server_token_count);
    assert_eq!(c.ui_type, UiType::Simple); // -v forces simple, as in AIPerf
    assert_eq!(c.workers_max, Some(3));
}

#[test]
fn gamma_warmup_sessions_input_config_equals_aiperf() {
    let expected: Value = serde_json::from_str(r#"{"models": {"items": [{"name": "m"}]}, "endpoint": {"urls": ["http://localhost:8000"]}, "datasets": [{"name": "main", "type": "synthetic", "entries": 5, "prompts": {"isl": {"mean": 550.0}}}], "phases": [{"name": "warmup", "kind": "warmup", "type": "gamma", "exclude_from_results": true, "requests": 2, "rate": 2.0, "smoothness": 1.5}, {"name": "profiling", "kind": "profiling", "type": "gamma", "sessions": 5, "rate": 2.0, "smoothness": 1.5}], "artifacts": {"dir": "DIR", "auto_plot": false, "plot_required": false}, "tokenizer": {}, "gpu_telemetry": {"enabled": true}, "server_metrics": {"enabled": true, "urls": [], "formats": ["json", "csv"]}, "network_latency": {"enabled": false}, "otel": {}, "mlflow": {}, "wandb": {}, "runtime": {"ui": "none"}}"#).unwrap();
    let c = ok(
        "-m m --request-rate 2 --arrival-pattern gamma --arrival-smoothness 1.5 \
                --warmup-request-count 2 --ui-type none --conversation-num 5",
    );
    assert_same_in_order(&ic_without_dir(&c), &expected);
    assert_eq!(c.request_count, 5);
    assert_eq!(c.num_dataset_entries, 5);
    assert_eq!(c.arrival_pattern, ArrivalPattern::Gamma);
    assert_eq!(c.arrival_smoothness, Some(1.5));
}

#[test]
fn defaults_equal_aiperf() {
    let c = ok("-m m");
    assert_eq!(c.request_count, 10);
    assert_eq!(c.warmup_request_count, 0);
    assert_eq!(c.concurrency, 1);
    assert!(!c.concurrency_set);
    assert_eq!(c.request_rate, None);
    assert_eq!(c.arrival_pattern, ArrivalPattern::Poisson);
    assert_eq!(c.arrival_smoothness, None);
    assert_eq!(c.benchmark_duration, None);
    assert_eq!(c.benchmark_grace_period, Duration::from_secs(30));
    assert_eq!(c.request_timeout, Duration::from_secs(21600));
    assert_eq!(c.audio.length_mean_s, 0.0);
    assert_eq!(c.audio.length_stddev_s, 0.0);
    assert_eq!(c.audio.format, AudioFormat::Wav);
    assert_eq!(c.audio.sample_rates_hz, vec![16000]);
    assert_eq!(c.audio.depths_bits, vec![16]);
    assert_eq!(c.audio.channels, 1);
    assert_eq!(c.audio.batch_size, 1);
    assert_eq!(c.prompt.input_tokens_mean, 550);
    assert_eq!(c.prompt.input_tokens_stddev, 0.0);
    assert_eq!(c.prompt.output_tokens_mean, None);
    assert_eq!(c.prompt.text_batch_size, 1);
    assert!(!c.prompt.use_legacy_max_tokens);
    assert_eq!(c.num_dataset_entries, 100);
    assert_eq!(c.target.port, 8000);
    assert_eq!(c.endpoint_path, "/v1/chat/completions");
    assert!(!c.streaming);
    assert_eq!(c.random_seed, None);
    assert!(c.headers.is_empty() && c.extra_inputs.is_empty());
    assert_eq!(
        c.artifact_dir,
        PathBuf::from("artifacts/m-openai-chat-concurrency1")
    );
    // A duration alone leaves the count unbounded.
    let d = ok("-m m --benchmark-duration 10");
    assert_eq!(d.request_count, u64::MAX);
    assert_eq!(
        d.input_config_json["phases"][0]["grace_period"],
        json!(30.0)
    );
    assert!(d.input_config_json["phases"][0].get("requests").is_none());
    // 'inf' grace period: wait forever; JSON null like AIPerf's exporter.
    let g = ok("-m m --benchmark-duration 10 --benchmark-grace-period inf");
    assert_eq!(g.benchmark_grace_period, Duration::from_secs(1_000_000_000));
    assert_eq!(
        g.input_config_json["phases"][0]["grace_period"],
        Value::Null
    );
}

#[test]
fn aliases() {
    let a = ok(
        "--model-names a -u localhost:1 --num-requests 3 --isl 7 --osl 9 \
                --batch-size-audio 2 --batch-size 3 --num-prompts 4 --ui simple --max-workers 2 \
                --request-rate 1 --arrival-pattern constant --endpoint /x --num-warmup-requests 1",
    );
    let b = ok(
        "-m a --url localhost:1 --request-count 3 --prompt-input-tokens-mean 7 \
                --output-tokens-mean 9 --audio-batch-size 2 -b 3 --num-dataset-entries 4 \
                --ui-type simple --workers-max 2 --request-rate 1 --request-rate-mode constant \
                --custom-endpoint /x --warmup-request-count 1",
    );
    for c in [&a, &b] {
        assert_eq!(c.model, "a");
        assert_eq!(c.target.port, 1);
        assert_eq!(c.request_count, 3);
        assert_eq!(c.prompt.input_tokens_mean, 7);
        assert_eq!(c.prompt.output_tokens_mean, Some(9));
        assert_eq!(c.audio.batch_size, 2);
        assert_eq!(c.prompt.text_batch_size, 3);
        assert_eq!(c.num_dataset_entries, 4);
        assert_eq!(c.ui_type, UiType::Simple);
        assert_eq!(c.workers_max, Some(2));
        assert_eq!(c.arrival_pattern, ArrivalPattern::Constant);
        assert_eq!(c.endpoint_path, "/x");
        assert_eq!(c.warmup_request_count, 1);
    }
    let c = ok(
        "-m a --synthetic-input-tokens-mean 5 --prompt-output-tokens-mean 6 \
                --num-conversations 8 --output-artifact-dir o --vllm-burstiness 2 \
                --request-rate 1 --arrival-pattern gamma --isl-stddev 1 --osl-stddev 2",
    );
    assert_eq!(c.prompt.input_tokens_mean, 5);
    assert_eq!(c.prompt.output_tokens_mean, Some(6));
    assert_eq!(c.prompt.input_tokens_stddev, 1.0);
    assert_eq!(c.prompt.output_tokens_stddev, 2.0);
    assert_eq!(c.request_count, 8);
    assert_eq!(c.arrival_smoothness, Some(2.0));
    assert_eq!(c.artifact_dir, PathBuf::from("o"));
    assert_eq!(ok("-m a --num-sessions 6").request_count, 6);
    assert_eq!(ok("-m a --prompt-batch-size 2").prompt.text_batch_size, 2);
    // No-op compat flags are accepted.
    let n = ok("-m a --no-server-metrics --no-gpu-telemetry -vv --log-level info");
    assert_eq!(n.ui_type, UiType::Simple);
    assert_eq!(n.input_config_json["logging"]["level"], json!("TRACE"));
}

#[test]
fn lists_and_pairs_use_aiperf_syntax() {
    let c = ok("--model a,b --model c --audio-sample-rates 16,44.1 --audio-sample-rates 48 \
                --audio-sample-rates 22050 --audio-depths 8,16 --audio-depths 32 \
                -H A:b,C:d:e -H {\"J\":\"k\"} --extra-inputs ignore_eos:true,x:null,y:007,z:-3,w:1e5,s:hi \
                --extra-inputs {\"nested\":{\"a\":[1,2]}}");
    assert_eq!(c.model_names, vec!["a", "b", "c"]);
    assert_eq!(c.model, "a");
    assert_eq!(c.audio.sample_rates_hz, vec![16000, 44100, 48000, 22050]);
    assert_eq!(c.audio.depths_bits, vec![8, 16, 32]);
    assert_eq!(
        c.headers,
        vec![
            ("A".to_string(), "b".to_string()),
            ("C".to_string(), "d:e".to_string()),
            ("J".to_string(), "k".to_string())
        ]
    );
    let x = &c.extra_inputs;
    assert_eq!(x["ignore_eos"], json!(true));
    assert_eq!(x["x"], Value::Null);
    assert_eq!(x["y"], json!("007"));
    assert_eq!(x["z"], json!(-3));
    assert_eq!(x["w"], json!("1e5"));
    assert_eq!(x["s"], json!("hi"));
    assert_eq!(x["nested"], json!({"a": [1, 2]}));
    assert_eq!(
        c.artifact_dir,
        PathBuf::from("artifacts/a_multi-openai-chat-concurrency1")
    );
    // A numeric-looking header value stays text.
    assert_eq!(
        ok("-m a -H X-N:1").headers,
        vec![("X-N".to_string(), "1".to_string())]
    );
}

#[test]
fn urls() {
    let t = parse_target("localhost:8000").unwrap();
    assert_eq!(
        (t.scheme, t.host.as_str(), t.port),
        (Scheme::Http, "localhost", 8000)
    );
    assert_eq!(t.base_path, "");
    let t = parse_target("http://localhost:8000/").unwrap();
    assert_eq!(
        (t.host.as_str(), t.port, t.base_path.as_str()),
        ("localhost", 8000, "")
    );
    let t = parse_target("https://h").unwrap();
    assert_eq!(
        (t.scheme, t.port, t.host_header.as_str()),
        (Scheme::Https, 443, "h")
    );
    let t = parse_target("http://h").unwrap();
    assert_eq!((t.port, t.host_header.as_str()), (80, "h"));
    let t = parse_target("[::1]:8000").unwrap();
    assert_eq!(
        (t.host.as_str(), t.port, t.host_header.as_str()),
        ("::1", 8000, "[::1]:8000")
    );
    let t = parse_target("HTTPS://[::1]/v1/").unwrap();
    assert_eq!(
        (t.scheme, t.port, t.host_header.as_str()),
        (Scheme::Https, 443, "[::1]")
    );
    assert_eq!(t.base_path, "/v1");
    let t = parse_target("10.0.0.2:9/api/x?q=1").unwrap();
    assert_eq!(
        (t.host.as_str(), t.port, t.base_path.as_str()),
        ("10.0.0.2", 9, "/api/x")
    );
    for bad in [
        "localhost:99999",
        "localhost:0",
        "localhost:http",
        "ftp://h",
        "http://:80",
        "[::1",
    ] {
        let e = parse_target(bad).unwrap_err();
        assert_eq!(e.flag, "--url", "{bad}");
    }
    assert!(parse_target("localhost:99999")
        .unwrap_err()
        .message
        .contains("1..65535"));
    let e = err("-m a --url a:1 --url b:x");
    assert_eq!(e.flag, "--url");
    // The input_config keeps the URL as AIPerf normalises it.
    let c = ok("-m a --url http://localhost:8000/");
    assert_eq!(
        c.input_config_json["endpoint"]["urls"],
        json!(["http://localhost:8000/"])
    );
    let c = ok("-m a --url localhost:8000");
    assert_eq!(
        c.input_config_json["endpoint"]["urls"],
        json!(["http://localhost:8000"])
    );
}

#[test]
fn tls_flags() {
    // Plain runs carry the defaults and no audioperf section in the export.
    let c = ok("-m a");
    assert_eq!(c.tls, TlsOptions::default());
    assert_eq!(c.tls.roots, TlsRoots::Webpki);
    assert!(c.input_config_json.get("audioperf").is_none());
    let c = ok("-m a --url https://localhost:8443");
    assert_eq!(c.target.scheme, Scheme::Https);
    assert_eq!(c.tls, TlsOptions::default());

    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let mut ca = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut ca, key.cert.pem().as_bytes()).unwrap();
    let p = ca.path().display().to_string();
    let c = ok(&format!(
        "-m a --url https://10.0.0.2:8443 -k --ca-file {p} --tls-roots BOTH --tls-server-name api.lab"
    ));
    assert_eq!(
        c.tls,
        TlsOptions {
            roots: TlsRoots::Both,
            ca_file: Some(PathBuf::from(&p)),
            insecure: true,
            server_name: Some("api.lab".into()),
        }
    );
    assert_eq!(
        c.input_config_json["audioperf"],
        json!({"tls": {"insecure": true, "ca_file": p, "roots": "both", "server_name": "api.lab"}})
    );
    assert!(ok("-m a --url https://h --insecure").tls.insecure);

    // Bad values name their flag, for https:// and (when given) http:// alike.
    for url in ["https://localhost", "http://localhost"] {
        let e = err(&format!("-m a --url {url} --ca-file /nonexistent/ca.pem"));
        assert_eq!(e.flag, "--ca-file");
        assert!(
            e.message.contains("cannot read '/nonexistent/ca.pem'"),
            "{e}"
        );
    }
    let text = tempfile::NamedTempFile::new().unwrap();
    let e = err(&format!(
        "-m a --url https://h --ca-file {}",
        text.path().display()
    ));
    assert_eq!(e.flag, "--ca-file");
    assert!(e.message.contains("no certificates found"), "{e}");
    let e = err("-m a --url https://h --tls-server-name bad!name");
    assert_eq!(e.flag, "--tls-server-name");
    let msg = clap_err("-m a --tls-roots mozilla");
    assert!(
        msg.contains("--tls-roots") && msg.contains("allowed: webpki, system, both"),
        "{msg}"
    );
}

#[test]
fn artifact_dir_names() {
    let m = |s: &str| vec![s.to_string()];
    assert_eq!(
        artifact_name(&m("a/b"), Some(4), None),
        "a_b-openai-chat-concurrency4"
    );
    assert_eq!(
        artifact_name(&m("a"), None, None),
        "a-openai-chat-concurrency1"
    );
    assert_eq!(
        artifact_name(&m("a"), None, Some(10.0)),
        "a-openai-chat-request_rate10.0"
    );
    assert_eq!(
        artifact_name(&m("a"), Some(3), Some(2.5)),
        "a-openai-chat-concurrency3-request_rate2.5"
    );
    assert_eq!(
        artifact_name(&m("a"), None, Some(1e-5)),
        "a-openai-chat-request_rate1e-05"
    );
    let two = vec!["a/b".to_string(), "c".to_string()];
    assert_eq!(
        artifact_name(&two, None, Some(10.0)),
        "a_b_multi-openai-chat-request_rate10.0"
    );
    assert_eq!(
        ok("-m org/model --request-rate 0.5").artifact_dir,
        PathBuf::from("artifacts/org_model-openai-chat-request_rate0.5")
    );
}

#[test]
fn python_float_repr() {
    let cases = [
        (10.0, "10.0"),
        (2.5, "2.5"),
        (0.1, "0.1"),
        (0.0001, "0.0001"),
        (1e-5, "1e-05"),
        (1.5e-7, "1.5e-07"),
        (1e15, "1000000000000000.0"),
        (1e16, "1e+16"),
        (123.456, "123.456"),
    ];
    for (v, s) in cases {
        assert_eq!(python_float(v), s, "{v}");
    }
}

#[test]
fn validation_errors_name_their_flag() {
    let cases: [(&str, &str, &str); 28] = [
        (
            "--audio-depths 24x",
            "--audio-depths",
            "24x is not a number; allowed: 8, 16, 24, 32",
        ),
        (
            "--audio-depths 12",
            "--audio-depths",
            "12 is not supported; allowed: 8, 16, 24, 32",
        ),
        (
            "--audio-format ogg",
            "--audio-format",
            "'ogg' is not supported; allowed: wav, mp3",
        ),
        (
            "--audio-sample-rates 0",
            "--audio-sample-rates",
            "out of range",
        ),
        (
            "--audio-sample-rates x",
            "--audio-sample-rates",
            "not a number",
        ),
        (
            "--audio-format mp3 --audio-sample-rates 20",
            "--audio-sample-rates",
            "20 kHz is not supported by mp3; allowed: 8, 11.025, 12, 16, 22.05, 24, 32, 44.1, 48",
        ),
        (
            "--endpoint-type completions",
            "--endpoint-type",
            "not supported by audioperf",
        ),
        (
            "--endpoint-type bogus",
            "--endpoint-type",
            "allowed: chat, audio_transcription",
        ),
        (
            "--public-dataset sharegpt",
            "--public-dataset",
            "allowed: librispeech, voxpopuli, gigaspeech, ami, spgispeech",
        ),
        (
            "--hf-subset other",
            "--hf-subset",
            "only with --public-dataset",
        ),
        (
            "--public-dataset ami --hf-subset ../x",
            "--hf-subset",
            "not a subset name",
        ),
        (
            "--public-dataset ami --input-file Cargo.toml",
            "--input-file",
            "cannot be combined with --public-dataset",
        ),
        (
            "--custom-endpoint v1/chat",
            "--custom-endpoint",
            "must start with '/'",
        ),
        (
            "--benchmark-grace-period 3",
            "--benchmark-grace-period",
            "requires --benchmark-duration",
        ),
        (
            "--request-cancellation-delay 1",
            "--request-cancellation-delay",
            "requires --request-cancellation-rate",
        ),
        (
            "--audio-length-stddev 1",
            "--audio-length-stddev",
            "requires --audio-length-mean",
        ),
        (
            "--osl-stddev 5",
            "--output-tokens-stddev",
            "requires --output-tokens-mean",
        ),
        ("--arrival-smoothness 2", "--arrival-smoothness", "gamma"),
        ("--extra-inputs novalue", "--extra-inputs", "'key:value'"),
        ("--extra-inputs {bad", "--extra-inputs", "JSON"),
        (
            "--custom-dataset-type single_turn",
            "--custom-dataset-type",
            "requires --input-file",
        ),
        ("--request-rate 1e-300", "--request-rate", "out of range"),
        ("--request-rate 1e300", "--request-rate", "out of range"),
        (
            "--request-rate 1e6 --benchmark-duration 1000",
            "--benchmark-duration",
            "at most 100000000",
        ),
        (
            "--request-timeout-seconds 1e-12",
            "--request-timeout-seconds",
            "resolution",
        ),
        (
            "--isl 20000000",
            "--synthetic-input-tokens-mean",
            "at most 10000000",
        ),
        (
            "--request-rate 1 --request-count 200000000",
            "--request-count",
            "at most 100000000",
        ),
        (
            "--osl-stddev 1e30 --osl 5",
            "--output-tokens-stddev",
            "at most 10000000",
        ),
    ];
    for (line, flag, text) in cases {
        let e = err(&format!("-m m {line}"));
        assert_eq!(e.flag, flag, "{line}");
        assert!(e.message.contains(text), "{line}: {e}");
        assert!(e.to_string().starts_with(flag));
    }
    assert_eq!(err("").flag, "--model-names");
    let tmp = tempfile::NamedTempFile::new().unwrap();
    let p = tmp.path().display();
    for (extra, flag) in [
        ("--isl 10", "--synthetic-input-tokens-mean"),
        ("--batch-size-text 2", "--batch-size-text"),
        ("--custom-dataset-type multi_turn", "--custom-dataset-type"),
    ] {
        assert_eq!(err(&format!("-m m --input-file {p} {extra}")).flag, flag);
    }
    // Audio flags are ignored with a file dataset, as in AIPerf.
    assert!(config(&format!("-m m --input-file {p} --audio-length-mean 1")).is_ok());
}

#[test]
fn unsupported_aiperf_flags_are_named() {
    let args = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
    let msg = unsupported_aiperf_flag(&args("-m m --fixed-schedule=true"));
    assert!(msg.is_some_and(|m| m.starts_with("--fixed-schedule is")));
    assert!(unsupported_aiperf_flag(&args("-m m --goodput time_to_first_token:100")).is_none());
    assert!(unsupported_aiperf_flag(&args("-m m --export-level=records")).is_none());
    assert!(unsupported_aiperf_flag(&args("-m m --concurrency 4 --no-server-metrics")).is_none());
    // Every name here is unknown to the parser (else it would be supported).
    for flag in UNSUPPORTED_AIPERF_FLAGS {
        assert!(
            clap_err(&format!("-m m {flag} 1")).contains("unexpected argument"),
            "{flag}"
        );
    }
}

/// The URL's path and the endpoint are joined as AIPerf joins them, and
/// the URL's query is kept.
#[test]
fn request_paths_join_like_aiperf() {
    let path = |args: &str| config(&format!("-m m {args}")).unwrap().request_path();
    assert_eq!(path("--url h:1"), "/v1/chat/completions");
    assert_eq!(path("--url http://h:1/v1"), "/v1/chat/completions");
    assert_eq!(path("--url http://h:1/v1/"), "/v1/chat/completions");
    assert_eq!(
        path("--url h:1/v1/chat/completions"),
        "/v1/chat/completions"
    );
    assert_eq!(path("--url h:1/api"), "/api/v1/chat/completions");
    assert_eq!(
        path("--url h:1/openai/v1?api-version=2#frag"),
        "/openai/v1/chat/completions?api-version=2"
    );
    assert_eq!(path("--url h:1/v1 --endpoint /x"), "/v1/x");
    // AIPerf's documented space-separated form of --extra-inputs.
    let c = config("-m m --extra-inputs temperature:0.7 top_p:0.9 --streaming").unwrap();
    assert_eq!(c.extra_inputs.len(), 2);
    let c = config("-m m --url http://h:1/v1").unwrap();
    assert_eq!(c.url(), "http://h:1/v1/chat/completions");
}

/// Times past 10^9 s (and inf) mean "no limit" and are held there, so
/// deadlines in u64 nanoseconds cannot overflow; a count given with a
/// duration bounds the run too, so it is kept.
#[test]
fn huge_times_are_capped_and_counts_kept() {
    let forever = Duration::from_secs(1_000_000_000);
    let c = config("-m m --request-timeout-seconds 1e17").unwrap();
    assert_eq!(c.request_timeout, forever);
    let c = config("-m m --request-cancellation-rate 5 --request-cancellation-delay inf").unwrap();
    assert_eq!(c.request_cancellation_delay, forever);
    let c = config("-m m --benchmark-duration 1e30 --request-count 5").unwrap();
    assert_eq!((c.benchmark_duration, c.request_count), (Some(forever), 5));
    let c = config("-m m --benchmark-duration 2").unwrap();
    assert_eq!(c.request_count, u64::MAX);
    // One entry per request, up to 100,000.
    let c = config("-m m --request-count 5000000").unwrap();
    assert_eq!(c.num_dataset_entries, 100_000);
}

#[test]
fn out_of_range_numbers_are_rejected_by_clap_naming_the_flag() {
    let cases = [
        ("--concurrency 0", "--concurrency"),
        ("--concurrency -1", "--concurrency"),
        ("--concurrency 10,20", "--concurrency"),
        ("--request-rate 0", "--request-rate"),
        ("--request-rate -2", "--request-rate"),
        ("--request-rate nan", "--request-rate"),
        ("--request-count 0", "--request-count"),
        ("--warmup-request-count 0", "--warmup-request-count"),
        (
            "--request-cancellation-rate 0",
            "--request-cancellation-rate",
        ),
        (
            "--request-cancellation-rate 101",
            "--request-cancellation-rate",
        ),
        (
            "--request-cancellation-delay -1",
            "--request-cancellation-delay",
        ),
        ("--benchmark-duration 0", "--benchmark-duration"),
        ("--request-timeout-seconds 0", "--request-timeout-seconds"),
        ("--audio-num-channels 3", "--audio-num-channels"),
        ("--audio-length-mean -1", "--audio-length-mean"),
        ("--arrival-pattern burst", "--arrival-pattern"),
        ("--arrival-pattern concurrency-burst", "--arrival-pattern"),
        ("--ui-type fancy", "--ui-type"),
        ("--random-seed -1", "--random-seed"),
        ("--workers-max 0", "--workers-max"),
        ("--num-dataset-entries 0", "--num-dataset-entries"),
        ("--batch-size-text 0", "--prompt-batch-size"),
    ];
    for (line, flag) in cases {
        let msg = clap_err(&format!("-m m {line}"));
        assert!(msg.contains(flag), "{line}: {msg}");
    }
    assert!(clap_err("-m m --request-cancellation-rate 101").contains("<= 100"));
    assert!(clap_err("-m m --concurrency 4294967296").contains("at most 4294967295"));
    assert!(clap_err("-m m --random-seed -1").contains("is negative"));
    assert!(clap_err("-m m --random-seed 1.5").contains("not a whole number"));
    assert!(clap_err("-m m --random-seed -0").contains("is negative"));
    assert!(clap_err("-m m --random-seed 1e400").contains("not a whole number"));
    assert!(clap_err(&format!("-m m --random-seed {}", "9".repeat(50))).contains("too large"));
    assert!(clap_err("-m m --arrival-pattern burst").contains("allowed: constant, poisson, gamma"));
}

#[test]
fn command_line_is_quoted_for_a_shell() {
    let argv = |s: &[&str]| s.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    assert_eq!(
        command_line(&argv(&[
            "/usr/bin/audioperf",
            "profile",
            "-m",
            "a/b",
            "--x=1,2"
        ])),
        "audioperf profile -m a/b --x=1,2"
    );
    assert_eq!(
        command_line(&argv(&["ap", "-H", "X: y", "", "it's"])),
        r#"audioperf -H 'X: y' '' 'it'\''s'"#
    );
}

#[test]
fn log_levels_and_dataset_types_use_aiperf_names() {
    let c = ok("-m m --log-level Warning");
    assert_eq!(c.input_config_json["logging"]["level"], json!("WARNING"));
    let msg = clap_err("-m m --log-level loud");
    assert!(
        msg.contains("--log-level") && msg.contains("'loud' is not a log level"),
        "{msg}"
    );
    for t in CustomDatasetType::ALL {
        assert_eq!(CustomDatasetType::from_name(t.as_str()), Some(t));
    }
    assert_eq!(CustomDatasetType::from_name("single-turn"), None);
    let tmp = tempfile::NamedTempFile::new().unwrap();
    let p = tmp.path().display();
    let c = ok(&format!(
        "-m m --input-file {p} --custom-dataset-type Single-Turn"
    ));
    assert_eq!(c.custom_dataset_type, Some(CustomDatasetType::SingleTurn));
    assert_eq!(
        c.input_config_json["datasets"][0]["format"],
        json!("single_turn")
    );
    let e = err(&format!(
        "-m m --input-file {p} --custom-dataset-type mooncake-trace"
    ));
    assert_eq!(
        e.message,
        "'mooncake-trace' is not supported by audioperf; allowed: single_turn"
    );
    let e = err(&format!("-m m --input-file {p} --custom-dataset-type csv"));
    assert_eq!(
        e.message,
        "'csv' is not a dataset type; allowed: single_turn"
    );
}

#[test]
fn export_prefix_and_level_resolve_as_in_aiperf() {
    let c = ok("-m m");
    assert_eq!(
        (c.export_prefix, c.export_level),
        (None, ExportLevel::Records)
    );
    // A known suffix is stripped (the first that matches, longest first).
    for (given, base) in [
        ("foo", "foo"),
        ("foo.json", "foo"),
        ("foo_timeslices.csv", "foo"),
        ("foo_raw.jsonl", "foo"),
        ("runs/foo.csv", "runs/foo"),
        // An absolute path keeps only its file name: exports stay in the
        // artifact directory.
        ("/tmp/elsewhere/bar.jsonl", "bar"),
    ] {
        let c = ok(&format!("-m m --profile-export-prefix {given}"));
        assert_eq!(c.export_prefix.as_deref(), Some(base), "{given}");
    }
    let c = ok("-m m --profile-export-level SUMMARY --failed-request-threshold 0.25");
    assert_eq!(c.export_level, ExportLevel::Summary);
    assert_eq!(c.failed_request_threshold, Some(0.25));
    assert_eq!(ok("-m m --export-level raw").export_level, ExportLevel::Raw);
}

#[test]
fn show_trace_timing_is_a_flag_and_in_input_config_as_aiperf_writes_it() {
    let c = ok("--model m --url localhost:1 --show-trace-timing");
    assert!(c.show_trace_timing);
    let keys: Vec<&String> = c.input_config_json["artifacts"]
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    // AIPerf 0.13.0's order: dir, show_trace_timing, auto_plot, plot_required.
    assert_eq!(
        keys,
        ["dir", "show_trace_timing", "auto_plot", "plot_required"]
    );
    assert_eq!(
        c.input_config_json["artifacts"]["show_trace_timing"],
        json!(true)
    );
    let c = ok("--model m --url localhost:1");
    assert!(!c.show_trace_timing);
    assert!(c.input_config_json["artifacts"]
        .get("show_trace_timing")
        .is_none());
}

#[test]
fn goodput_and_slice_duration() {
    let c = ok("-m m --goodput time_to_first_token:51 --slice-duration 0.5");
    assert_eq!(c.slice_duration, Some(Duration::from_millis(500)));
    assert_eq!(c.goodput.len(), 1);
    assert_eq!(c.goodput[0].tag, "time_to_first_token");
    assert_eq!(c.goodput[0].threshold, 51.0);
    assert!(ok("-m m").goodput.is_empty());
    assert!(clap_err("-m m --slice-duration 0").contains("--slice-duration"));
    assert_eq!(err("-m m --goodput ttft:5").flag, "--goodput");
    assert_eq!(err("-m m --goodput request_latency:x").flag, "--goodput");
}

/// Several servers: AIPerf's three spellings give the same list, in order;
/// each server's /metrics is scraped, then the --server-metrics URLs.
#[test]
fn several_urls_and_server_metrics() {
    for line in [
        "-m a --url a:1 --url http://b:2/v1",
        "-m a --url a:1 http://b:2/v1",
        "-m a --url a:1,http://b:2/v1",
        "-m a -u a:1 --url-strategy round_robin -u http://b:2/v1",
    ] {
        let c = ok(line);
        let urls: Vec<String> = c.targets().iter().map(|t| t.base_url()).collect();
        assert_eq!(urls, ["http://a:1", "http://b:2/v1"], "{line}");
        assert_eq!(c.target, c.targets()[0]);
        assert_eq!(c.for_server(1).url(), "http://b:2/v1/chat/completions");
        assert_eq!(
            c.input_config_json["endpoint"]["urls"],
            json!(["http://a:1", "http://b:2/v1"])
        );
        let sm = &c.fleet.server_metrics;
        assert!(sm.enabled);
        let scraped: Vec<String> = sm.endpoints.iter().map(|t| t.base_url()).collect();
        assert_eq!(scraped, ["http://a:1/metrics", "http://b:2/v1/metrics"]);
        assert_eq!(sm.interval, Duration::from_millis(333));
    }
    assert_eq!(ok("-m a").targets().len(), 1);
    assert_eq!(err("-m a --url-strategy random").flag, "--url-strategy");

    let c = ok(
        "-m a --url a:1 --server-metrics a:1/metrics node:9090 http://n2:81/m/ \
        --server-metrics-formats json,jsonl",
    );
    let scraped: Vec<String> = c
        .fleet
        .server_metrics
        .endpoints
        .iter()
        .map(|t| t.base_url())
        .collect();
    assert_eq!(
        scraped,
        [
            "http://a:1/metrics",
            "http://node:9090/metrics",
            "http://n2:81/m/metrics"
        ]
    );
    assert_eq!(
        c.input_config_json["server_metrics"],
        json!({"enabled": true, "urls": ["http://a:1/metrics", "http://node:9090/metrics", "http://n2:81/m/metrics"], "formats": ["json", "jsonl"]})
    );
    let off = ok("-m a --no-server-metrics");
    assert!(!off.fleet.server_metrics.enabled);
    assert!(off.fleet.server_metrics.endpoints.is_empty());
    assert_eq!(
        err("-m a --no-server-metrics --server-metrics n:1").flag,
        "--server-metrics"
    );
    let e = err("-m a --server-metrics-formats json parquet");
    assert!(e.message.contains("parquet"), "{e}");
    assert_eq!(
        err("-m a --server-metrics-formats xml").flag,
        "--server-metrics-formats"
    );
}

#[test]
fn asr_endpoint_and_public_datasets() {
    let c = ok("--model m --endpoint-type audio_transcription --public-dataset librispeech");
    assert_eq!(
        c.endpoint_type,
        crate::config::EndpointType::AudioTranscription
    );
    assert_eq!(c.endpoint_path, "/v1/audio/transcriptions");
    assert_eq!(c.url(), "http://localhost:8000/v1/audio/transcriptions");
    let p = c.public_dataset.clone().unwrap();
    assert_eq!(
        (p.dataset.repo(), p.subset.as_str()),
        ("openslr/librispeech_asr", "clean")
    );
    assert_eq!(
        c.input_config_json["endpoint"]["type"],
        "audio_transcription"
    );
    assert_eq!(
        c.input_config_json["datasets"][0],
        json!({"name": "main", "type": "public", "dataset": "librispeech"})
    );
    // AIPerf's hyphen spelling, another dataset's default subset, --hf-subset.
    let c = ok("--model m --endpoint-type audio-transcription --public-dataset voxpopuli");
    assert_eq!(c.public_dataset.unwrap().subset, "en");
    let c = ok("--model m --public-dataset ami --hf-subset sdm");
    assert_eq!(c.public_dataset.unwrap().subset, "sdm");
    assert_eq!(c.endpoint_path, "/v1/chat/completions");
}

#[test]
fn io_path_flags() {
    let c = ok("-m m");
    assert_eq!(
        (c.cpus.clone(), c.zero_copy, c.rx_stamps),
        (None, ZeroCopy::Auto, RxStamps::Kernel)
    );
    let c = ok("-m m --zero-copy off --rx-stamps user --cpus 0");
    assert_eq!(
        (c.cpus.clone(), c.zero_copy, c.rx_stamps),
        (Some(vec![0]), ZeroCopy::Off, RxStamps::User)
    );
    assert_eq!(ok("-m m --zero-copy ON").zero_copy, ZeroCopy::On);
    for (line, needle) in [
        (
            "-m m --zero-copy maybe",
            "'maybe' is not a zero-copy mode; allowed: auto, on, off",
        ),
        (
            "-m m --rx-stamps nic",
            "'nic' is not a stamp source; allowed: kernel, user",
        ),
        ("-m m --cpus 3-1", "'3-1' is an empty range"),
        ("-m m --cpus 0,0", "core 0 is listed twice"),
        ("-m m --cpus a", "'a' is not a core number"),
        ("-m m --cpus 0,", "'' is not a core number"),
        ("-m m --cpus 99999", "'99999' is not a core number"),
    ] {
        let e = clap_err(line);
        assert!(e.contains(needle), "{line}: {e}");
    }
    let e = err("-m m --cpus 8000");
    assert_eq!(e.flag, "--cpus");
    assert!(
        e.message
            .starts_with("core 8000 is not one this process may run on (allowed: "),
        "{e}"
    );
    let e = err("-m m --zero-copy on --rx-stamps user");
    assert_eq!(e.flag, "--zero-copy");
}

#[test]
fn cpu_lists_parse_as_taskset_writes_them() {
    assert_eq!(
        super::parse::parse_cpu_list("0-3,6").unwrap().0,
        vec![0, 1, 2, 3, 6]
    );
    assert_eq!(
        super::parse::parse_cpu_list(" 2 , 5-5").unwrap().0,
        vec![2, 5]
    );
    assert_eq!(super::io_flags::cpu_list(&[6, 0, 1, 2, 3, 9]), "0-3,6,9");
    assert_eq!(super::io_flags::cpu_list(&[]), "none");
}
