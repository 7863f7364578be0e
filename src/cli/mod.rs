//! The `profile` command line, spelled exactly like AIPerf 0.13.0's (flag names,
//! aliases, defaults, value syntax), and its one-time validation into
//! [`ProfileConfig`](crate::config::ProfileConfig).
//!
//! This module owns: parsing flags (clap derive, here), turning each value's
//! text into a value (`parse`), checking every value once with an error that
//! names the flag and what is allowed, plus the AIPerf artifact directory
//! naming (`validate`), and the AIPerf-shaped `input_config` JSON
//! (`input_config`). It must not do any I/O beyond checking that
//! `--input-file` exists, reading a `--ca-file`, and reading the working
//! directory (AIPerf records the artifact directory as an absolute path).

use std::path::PathBuf;

use clap::ArgAction;

use crate::config::{ArrivalPattern, CpuList, ExportLevel, RxStamps, TlsRoots, UiType, ZeroCopy};

mod fleet;
mod input_config;
mod io_flags;
mod parse;
mod shard;
#[cfg(test)]
mod tests;
mod validate;

pub use crate::config::FlagError;
pub use parse::{
    command_line, parse_target, python_float, unsupported_aiperf_flag, LogLevel,
    UNSUPPORTED_AIPERF_FLAGS,
};
pub use shard::{parse_start_at, JOB_INDEX_VAR};
pub use validate::{
    artifact_name, MAX_ENTRIES_FROM_COUNT, MAX_REQUEST_RATE, MAX_SCHEDULED_ARRIVALS, MAX_SECONDS,
    MAX_TOKENS, MIN_REQUEST_RATE,
};

use parse::{
    parse_arrival_pattern, parse_cpu_list, parse_export_level, parse_log_level,
    parse_non_negative_f64, parse_percentage, parse_positive_f64, parse_positive_u32,
    parse_positive_u64, parse_positive_usize, parse_ratio, parse_read_batch_us, parse_rx_stamps,
    parse_seed, parse_tls_roots, parse_u32, parse_ui_type, parse_zero_copy,
};

/// AIPerf's defaults, in one place (values from AIPerf 0.13.0's `CLIConfig`).
pub mod defaults {
    pub const URL: &str = "http://localhost:8000";
    pub const REQUEST_TIMEOUT_S: f64 = 21600.0;
    /// Requests sent when neither a count, a duration nor a session count is given.
    pub const REQUEST_COUNT: u64 = 10;
    pub const CONCURRENCY: u32 = 1;
    pub const GRACE_PERIOD_S: f64 = 30.0;
    pub const NUM_DATASET_ENTRIES: u32 = 100;
    pub const ISL_MEAN: u32 = 550;
    pub const AUDIO_SAMPLE_RATE_KHZ: f64 = 16.0;
    pub const AUDIO_DEPTH: u16 = 16;
    pub const ARTIFACT_DIR: &str = "artifacts";
}

/// `aiperf profile` options that matter for audio models. Every value a user
/// can omit is an `Option` so that "set on the command line" stays visible:
/// AIPerf's `input_config` export lists only what the user set.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ProfileArgs {
    // ---- Endpoint ----
    /// Model name(s) to benchmark; a comma-separated list or repeated flag.
    #[arg(long = "model-names", visible_alias = "model", short = 'm', action = ArgAction::Append, value_name = "NAMES")]
    pub model_names: Vec<String>,
    /// Custom API path (e.g. /v1/custom); default: the endpoint type's
    /// (/v1/chat/completions, /v1/audio/transcriptions).
    #[arg(
        long = "custom-endpoint",
        visible_alias = "endpoint",
        value_name = "PATH"
    )]
    pub custom_endpoint: Option<String>,
    /// API endpoint type: `chat` (default) or `audio_transcription`
    /// (multipart/form-data to /v1/audio/transcriptions).
    #[arg(long = "endpoint-type", value_name = "TYPE")]
    pub endpoint_type: Option<String>,
    /// Stream responses (SSE); enables TTFT and ITL.
    #[arg(long)]
    pub streaming: bool,
    /// Base URL of the server (http:// is prepended when no scheme is given);
    /// several servers: repeat the flag, list them after it or comma-separate them.
    #[arg(long = "url", short = 'u', action = ArgAction::Append, num_args = 1.., value_name = "URL")]
    pub url: Vec<String>,
    /// How requests are spread over several --url servers: round-robin (request k to server k mod n).
    #[arg(long = "url-strategy", value_name = "STRATEGY")]
    pub url_strategy: Option<String>,
    /// Per-request timeout in seconds [default: 21600].
    #[arg(long = "request-timeout-seconds", value_name = "SECONDS", value_parser = parse_positive_f64, allow_negative_numbers = true)]
    pub request_timeout_seconds: Option<f64>,
    /// API key, sent as `Authorization: Bearer <key>`.
    #[arg(long = "api-key", value_name = "KEY")]
    pub api_key: Option<String>,
    /// Send `max_tokens` instead of `max_completion_tokens`.
    #[arg(long = "use-legacy-max-tokens")]
    pub use_legacy_max_tokens: bool,
    /// Use the server's `usage` token counts instead of the tokenizer.
    #[arg(long = "use-server-token-count")]
    pub use_server_token_count: bool,

    // ---- Input ----
    /// Extra request body fields: `key:value[,key:value]` or a JSON object; repeatable.
    #[arg(long = "extra-inputs", action = ArgAction::Append, num_args = 1.., value_name = "KEY:VALUE")]
    pub extra_inputs: Vec<String>,
    /// Extra HTTP header `Name:Value` (or a JSON object); repeatable.
    #[arg(long = "header", short = 'H', action = ArgAction::Append, value_name = "NAME:VALUE")]
    pub header: Vec<String>,
    /// JSONL file with the dataset (single_turn: one request per line).
    #[arg(long = "input-file", value_name = "PATH")]
    pub input_file: Option<PathBuf>,
    /// Real speech from a Hugging Face ASR dataset in the local cache:
    /// librispeech, voxpopuli, gigaspeech, ami or spgispeech (each row sent
    /// as WAV with the prompt "Transcribe this audio."; clips over 30 s skipped).
    #[arg(long = "public-dataset", value_name = "NAME")]
    pub public_dataset: Option<String>,
    /// Subset (config) of --public-dataset, instead of the dataset's default.
    #[arg(long = "hf-subset", value_name = "NAME")]
    pub hf_subset: Option<String>,
    /// Format of --input-file (audioperf reads single_turn).
    #[arg(long = "custom-dataset-type", value_name = "TYPE")]
    pub custom_dataset_type: Option<String>,
    /// Seed for synthetic data and schedules.
    #[arg(
        long = "random-seed",
        value_name = "SEED",
        value_parser = parse_seed,
        allow_negative_numbers = true
    )]
    pub random_seed: Option<u64>,

    // ---- Output ----
    /// Artifact directory [default: artifacts]; a named directory is written into directly.
    #[arg(
        long = "output-artifact-dir",
        visible_alias = "artifact-dir",
        value_name = "DIR"
    )]
    pub output_artifact_dir: Option<PathBuf>,
    /// Base name of every export: PREFIX.csv, PREFIX.json, PREFIX.jsonl,
    /// PREFIX_raw.jsonl, PREFIX_timeslices.{csv,json}, PREFIX_console.txt
    /// (known suffixes such as .json or _raw.jsonl are stripped; an absolute
    /// path keeps only its file name).
    #[arg(
        long = "profile-export-prefix",
        visible_alias = "profile-export-file",
        value_name = "PREFIX"
    )]
    pub profile_export_prefix: Option<PathBuf>,
    /// summary (CSV/JSON only), records (+ per-request JSONL) or raw (+ each
    /// request's payload and response in PREFIX_raw.jsonl, base64 audio
    /// elided unless --export-raw-audio) [default: records].
    #[arg(long = "export-level", visible_alias = "profile-export-level", value_name = "LEVEL", value_parser = parse_export_level)]
    pub export_level: Option<ExportLevel>,
    /// audioperf extension: keep the base64 audio in profile_export_raw.jsonl
    /// (by default each clip is replaced by its length, the file would
    /// otherwise hold every clip of every request).
    #[arg(long = "export-raw-audio")]
    pub export_raw_audio: bool,
    /// Print the HTTP trace timing table (blocked, DNS, connecting, sending,
    /// waiting, receiving, ...) at the end; the exports always hold it.
    #[arg(long = "show-trace-timing")]
    pub show_trace_timing: bool,

    // ---- Tokenizer ----
    /// Tokenizer (Hugging Face id or local folder); defaults to the model name.
    #[arg(long = "tokenizer", value_name = "NAME_OR_PATH")]
    pub tokenizer: Option<String>,
    /// Tokenizer revision [default: main].
    #[arg(long = "tokenizer-revision", value_name = "REV")]
    pub tokenizer_revision: Option<String>,
    /// Allow custom tokenizer code (accepted for compatibility).
    #[arg(long = "tokenizer-trust-remote-code")]
    pub tokenizer_trust_remote_code: bool,

    // ---- Load generator ----
    /// Maximum benchmark run time in seconds.
    #[arg(long = "benchmark-duration", value_name = "SECONDS", value_parser = parse_positive_f64, allow_negative_numbers = true)]
    pub benchmark_duration: Option<f64>,
    /// Seconds to wait for responses after --benchmark-duration ('inf' waits forever) [default: 30].
    #[arg(long = "benchmark-grace-period", value_name = "SECONDS", value_parser = parse_non_negative_f64, allow_negative_numbers = true)]
    pub benchmark_grace_period: Option<f64>,
    /// Requests kept in flight [default: 1].
    #[arg(long, value_name = "N", value_parser = parse_positive_u32, allow_negative_numbers = true)]
    pub concurrency: Option<u32>,
    /// Target requests per second (open loop).
    #[arg(long = "request-rate", value_name = "RPS", value_parser = parse_positive_f64, allow_negative_numbers = true)]
    pub request_rate: Option<f64>,
    /// Arrival pattern for --request-rate: constant, poisson or gamma [default: poisson].
    #[arg(long = "arrival-pattern", visible_alias = "request-rate-mode", value_name = "PATTERN", value_parser = parse_arrival_pattern)]
    pub arrival_pattern: Option<ArrivalPattern>,
    /// Gamma smoothness (1.0 = Poisson-like; same as vLLM's --burstiness).
    #[arg(long = "arrival-smoothness", visible_alias = "vllm-burstiness", value_name = "K", value_parser = parse_positive_f64, allow_negative_numbers = true)]
    pub arrival_smoothness: Option<f64>,
    /// Requests to send [default: 10].
    #[arg(long = "request-count", visible_alias = "num-requests", value_name = "N", value_parser = parse_positive_u64, allow_negative_numbers = true)]
    pub request_count: Option<u64>,
    /// Stop the run once failed / all profiling records exceed this ratio
    /// (0-1), checked once max(concurrency, 10) records have finished;
    /// in-flight requests drain, the exports say why, the exit status is 3.
    #[arg(long = "failed-request-threshold", value_name = "RATIO", value_parser = parse_ratio, allow_negative_numbers = true)]
    pub failed_request_threshold: Option<f64>,
    /// Warmup requests before measuring.
    #[arg(long = "warmup-request-count", visible_alias = "num-warmup-requests", value_name = "N", value_parser = parse_positive_u64, allow_negative_numbers = true)]
    pub warmup_request_count: Option<u64>,

    /// audioperf extension (open loop): measure request latency and TTFT from
    /// each request's intended send time instead of its actual send time, so
    /// time spent queued in the client (coordinated omission) is included.
    #[arg(long = "latency-from-schedule")]
    pub latency_from_schedule: bool,

    // ---- Goodput and time slices ----
    /// SLOs for goodput, space-separated 'KEY:VALUE' pairs in the metric's
    /// display unit, e.g. 'time_to_first_token:200 inter_token_latency:20' (ms).
    #[arg(long = "goodput", value_name = "SLOS", allow_hyphen_values = true)]
    pub goodput: Option<String>,
    /// Also export metrics per time slice of this many seconds
    /// (profile_export_aiperf_timeslices.json/.csv).
    #[arg(long = "slice-duration", value_name = "SECONDS", value_parser = parse_positive_f64, allow_negative_numbers = true)]
    pub slice_duration: Option<f64>,

    // ---- Request cancellation ----
    /// Percentage (0-100] of requests to cancel.
    #[arg(long = "request-cancellation-rate", value_name = "PERCENT", value_parser = parse_percentage, allow_negative_numbers = true)]
    pub request_cancellation_rate: Option<f64>,
    /// Seconds after sending before a cancelled request is dropped [default: 0].
    #[arg(long = "request-cancellation-delay", value_name = "SECONDS", value_parser = parse_non_negative_f64, allow_negative_numbers = true)]
    pub request_cancellation_delay: Option<f64>,

    // ---- Conversation input ----
    /// Unique conversations (sessions) to send.
    #[arg(long = "conversation-num", visible_aliases = ["num-conversations", "num-sessions"], value_name = "N", value_parser = parse_positive_u32, allow_negative_numbers = true)]
    pub conversation_num: Option<u32>,
    /// Unique dataset entries to build [default: 100].
    #[arg(long = "num-dataset-entries", visible_alias = "num-prompts", value_name = "N", value_parser = parse_positive_u32, allow_negative_numbers = true)]
    pub num_dataset_entries: Option<u32>,
    /// Memory budget for the unique request bodies, in MB [default: 512].
    ///
    /// Every body is built before the run starts; this caps how many unique
    /// ones there are. Entries implied by --request-count are capped to what
    /// fits (the figure is printed at start-up) and requests past the pool
    /// reuse it in a fixed order seeded by --random-seed; an explicit
    /// --num-dataset-entries that does not fit is refused.
    #[arg(long = "dataset-memory-mb", value_name = "MB", value_parser = parse_positive_u64, allow_negative_numbers = true)]
    pub dataset_memory_mb: Option<u64>,

    // ---- ISL / OSL / prompt ----
    /// Mean synthetic prompt length in tokens [default: 550].
    #[arg(long = "prompt-input-tokens-mean", visible_aliases = ["synthetic-input-tokens-mean", "isl"], value_name = "TOKENS", value_parser = parse_u32, allow_negative_numbers = true)]
    pub input_tokens_mean: Option<u32>,
    /// Standard deviation of the prompt length [default: 0].
    #[arg(long = "prompt-input-tokens-stddev", visible_aliases = ["synthetic-input-tokens-stddev", "isl-stddev"], value_name = "TOKENS", value_parser = parse_non_negative_f64, allow_negative_numbers = true)]
    pub input_tokens_stddev: Option<f64>,
    /// Mean output length, sent as max_completion_tokens.
    #[arg(long = "prompt-output-tokens-mean", visible_aliases = ["output-tokens-mean", "osl"], value_name = "TOKENS", value_parser = parse_u32, allow_negative_numbers = true)]
    pub output_tokens_mean: Option<u32>,
    /// Standard deviation of the output length [default: 0].
    #[arg(long = "prompt-output-tokens-stddev", visible_aliases = ["output-tokens-stddev", "osl-stddev"], value_name = "TOKENS", value_parser = parse_non_negative_f64, allow_negative_numbers = true)]
    pub output_tokens_stddev: Option<f64>,
    /// Text parts per request [default: 1].
    #[arg(long = "prompt-batch-size", visible_aliases = ["batch-size-text", "batch-size"], short = 'b', value_name = "N", value_parser = parse_positive_u32, allow_negative_numbers = true)]
    pub prompt_batch_size: Option<u32>,

    // ---- Audio input ----
    /// Audio parts per request [default: 1].
    #[arg(long = "audio-batch-size", visible_alias = "batch-size-audio", value_name = "N", value_parser = parse_u32, allow_negative_numbers = true)]
    pub audio_batch_size: Option<u32>,
    /// Mean clip length in seconds; 0 disables audio [default: 0].
    #[arg(long = "audio-length-mean", value_name = "SECONDS", value_parser = parse_non_negative_f64, allow_negative_numbers = true)]
    pub audio_length_mean: Option<f64>,
    /// Standard deviation of the clip length in seconds [default: 0].
    #[arg(long = "audio-length-stddev", value_name = "SECONDS", value_parser = parse_non_negative_f64, allow_negative_numbers = true)]
    pub audio_length_stddev: Option<f64>,
    /// wav or mp3 [default: wav].
    #[arg(long = "audio-format", value_name = "FORMAT")]
    pub audio_format: Option<String>,
    /// Bit depths to pick from (8, 16, 24, 32), comma-separated or repeated [default: 16].
    #[arg(long = "audio-depths", action = ArgAction::Append, value_name = "BITS")]
    pub audio_depths: Vec<String>,
    /// Sample rates in kHz to pick from, comma-separated or repeated [default: 16].
    #[arg(long = "audio-sample-rates", action = ArgAction::Append, value_name = "KHZ")]
    pub audio_sample_rates: Vec<String>,
    /// 1 (mono) or 2 (stereo) [default: 1].
    #[arg(long = "audio-num-channels", value_name = "N", value_parser = clap::value_parser!(u16).range(1..=2), allow_negative_numbers = true)]
    pub audio_num_channels: Option<u16>,

    // ---- UI, workers, logging ----
    /// none, simple or dashboard [default: dashboard on a terminal, none otherwise].
    #[arg(long = "ui-type", visible_alias = "ui", value_name = "UI", value_parser = parse_ui_type)]
    pub ui_type: Option<UiType>,
    /// Upper bound on worker threads.
    #[arg(long = "workers-max", visible_alias = "max-workers", value_name = "N", value_parser = parse_positive_usize, allow_negative_numbers = true)]
    pub workers_max: Option<usize>,
    /// Cores to pin the worker threads to, e.g. `0-3,6` (audioperf only) [default: every core this process may use].
    #[arg(long = "cpus", value_name = "LIST", value_parser = parse_cpu_list)]
    pub cpus: Option<CpuList>,
    /// Zero-copy request sends (MSG_ZEROCOPY): auto, on or off (audioperf only) [default: auto].
    #[arg(long = "zero-copy", value_name = "MODE", value_parser = parse_zero_copy)]
    pub zero_copy: Option<ZeroCopy>,
    /// Arrival stamps of response bytes: kernel (SO_TIMESTAMPNS) or user (audioperf only) [default: kernel].
    #[arg(long = "rx-stamps", value_name = "CLOCK", value_parser = parse_rx_stamps)]
    pub rx_stamps: Option<RxStamps>,
    /// While busy, wake at most once per this many µs to read every ready socket; 0 turns it off; with kernel stamps on plain TCP, for more than one connection (audioperf only) [default: 100].
    #[arg(long = "read-batch-us", value_name = "US", value_parser = parse_read_batch_us)]
    pub read_batch_us: Option<u32>,
    /// `-v` is AIPerf's --verbose, `-vv` its --extra-verbose.
    #[arg(long = "verbose", short = 'v', action = ArgAction::Count)]
    pub verbose: u8,
    /// Most verbose logging (AIPerf's -vv).
    #[arg(long = "extra-verbose")]
    pub extra_verbose: bool,
    /// Log level (accepted for compatibility): trace, debug, info, notice, warning, success, error, critical.
    #[arg(long = "log-level", value_name = "LEVEL", value_parser = parse_log_level)]
    pub log_level: Option<LogLevel>,

    // ---- Scale-out (audioperf extensions; see README "Scaling out") ----
    /// audioperf extension: run shard I (0-based) of --shard-count; default: $JOB_COMPLETION_INDEX (a Kubernetes Indexed Job's index).
    #[arg(long = "shard-index", env = "JOB_COMPLETION_INDEX", value_name = "I", value_parser = parse_u32)]
    pub shard_index: Option<u32>,
    /// audioperf extension: the run is split into N shards (processes or pods) that together send exactly the load of one process; default: $AUDIOPERF_SHARD_COUNT.
    #[arg(long = "shard-count", env = "AUDIOPERF_SHARD_COUNT", value_name = "N", value_parser = parse_positive_u32)]
    pub shard_count: Option<u32>,
    /// audioperf extension: start sending at TIME (RFC 3339, e.g. 2026-12-02T14:25:00.5Z, or Unix seconds), after building the dataset and connecting.
    #[arg(long = "start-at", value_name = "TIME")]
    pub start_at: Option<String>,

    // ---- TLS (audioperf extensions; AIPerf has no TLS flags) ----
    /// audioperf extension: skip TLS certificate checks for https:// (self-signed lab servers).
    #[arg(long = "insecure", short = 'k')]
    pub insecure: bool,
    /// audioperf extension: PEM (or DER) CA certificate(s) to trust for https://, on top of --tls-roots.
    #[arg(long = "ca-file", value_name = "PATH")]
    pub ca_file: Option<PathBuf>,
    /// audioperf extension: trusted roots for https://: webpki (Mozilla's, built in), system or both [default: webpki].
    #[arg(long = "tls-roots", value_name = "ROOTS", value_parser = parse_tls_roots)]
    pub tls_roots: Option<TlsRoots>,
    /// audioperf extension: TLS server name (SNI and certificate name) instead of the URL's host.
    #[arg(long = "tls-server-name", value_name = "NAME")]
    pub tls_server_name: Option<String>,

    // ---- Server metrics (Prometheus /metrics of every --url server) ----
    /// More Prometheus endpoints to scrape besides each --url server's /metrics (host:port or a URL).
    #[arg(long = "server-metrics", action = ArgAction::Append, num_args = 0.., value_name = "URL")]
    pub server_metrics: Option<Vec<String>>,
    /// Do not scrape /metrics and write no server_metrics_export files.
    #[arg(long = "no-server-metrics")]
    pub no_server_metrics: bool,
    /// Server metrics export formats: json, csv, jsonl [default: json csv]; the scrape
    /// interval is AIPERF_SERVER_METRICS_COLLECTION_INTERVAL seconds [default: 0.333], as in AIPerf.
    #[arg(long = "server-metrics-formats", action = ArgAction::Append, num_args = 1.., value_name = "FORMAT")]
    pub server_metrics_formats: Vec<String>,

    // ---- Accepted no-ops: AIPerf collectors audioperf does not have ----
    /// Accepted for compatibility (audioperf has no GPU telemetry).
    #[arg(long = "no-gpu-telemetry")]
    pub no_gpu_telemetry: bool,
}
