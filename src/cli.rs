//! The `profile` command line, spelled exactly like AIPerf 0.13.0's (flag names,
//! aliases, defaults, value syntax), and its one-time validation into
//! [`ProfileConfig`].
//!
//! This module owns: parsing flags (clap derive), checking every value once with
//! an error that names the flag and what is allowed, the AIPerf artifact
//! directory naming, and the AIPerf-shaped `input_config` JSON. It must not do
//! any I/O beyond checking that `--input-file` exists and reading the working
//! directory (AIPerf records the artifact directory as an absolute path).

use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use clap::ArgAction;
use serde_json::{json, Map, Value};

use crate::config::{
    ArrivalPattern, AudioConfig, AudioFormat, ProfileConfig, PromptConfig, Scheme, Target,
    TlsOptions, TlsRoots, UiType,
};

/// AIPerf's defaults, in one place (values from AIPerf 0.13.0's `CLIConfig`).
pub mod defaults {
    pub const URL: &str = "http://localhost:8000";
    pub const ENDPOINT_PATH: &str = "/v1/chat/completions";
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

/// Bit depths the synthetic audio generator can write.
const ALLOWED_DEPTHS: [u16; 4] = [8, 16, 24, 32];
/// Sample rates (Hz) an MP3 encoder accepts (MPEG-1, -2 and -2.5 layer III).
const MP3_RATES_HZ: [u32; 9] = [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000];
/// Every `--endpoint-type` AIPerf knows; only `chat` is served by audioperf.
const AIPERF_ENDPOINT_TYPES: [&str; 19] = [
    "audio-transcription",
    "chat",
    "cohere-rankings",
    "completions",
    "responses",
    "messages",
    "chat-embeddings",
    "embeddings",
    "hf-tei-rankings",
    "huggingface-generate",
    "image-generation",
    "image-edit",
    "video-generation",
    "image-retrieval",
    "nim-embeddings",
    "nim-rankings",
    "solido-rag",
    "raw",
    "template",
];
/// `--custom-dataset-type` values AIPerf knows (underscore spelling); audioperf
/// reads only `single_turn` files.
const AIPERF_DATASET_TYPES: [&str; 10] = [
    "single_turn",
    "multi_turn",
    "random_pool",
    "mooncake_trace",
    "bailian_trace",
    "baseten_trace",
    "burst_gpt_trace",
    "raw_payload",
    "inputs_json",
    "dag_jsonl",
];

/// A configuration error: which flag, and what is wrong with its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    /// The flag as the user can type it, e.g. `--audio-depths`.
    pub flag: &'static str,
    pub message: String,
}

impl CliError {
    fn new(flag: &'static str, message: impl Into<String>) -> Self {
        CliError {
            flag,
            message: message.into(),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.flag, self.message)
    }
}

impl std::error::Error for CliError {}

/// `aiperf profile` options that matter for audio models. Every value a user
/// can omit is an `Option` so that "set on the command line" stays visible:
/// AIPerf's `input_config` export lists only what the user set.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ProfileArgs {
    // ---- Endpoint ----
    /// Model name(s) to benchmark; a comma-separated list or repeated flag.
    #[arg(long = "model-names", visible_alias = "model", short = 'm', action = ArgAction::Append, value_name = "NAMES")]
    pub model_names: Vec<String>,
    /// Custom API path (e.g. /v1/custom); default /v1/chat/completions.
    #[arg(
        long = "custom-endpoint",
        visible_alias = "endpoint",
        value_name = "PATH"
    )]
    pub custom_endpoint: Option<String>,
    /// API endpoint type; audioperf serves `chat`.
    #[arg(long = "endpoint-type", value_name = "TYPE")]
    pub endpoint_type: Option<String>,
    /// Stream responses (SSE); enables TTFT and ITL.
    #[arg(long)]
    pub streaming: bool,
    /// Base URL of the server (http:// is prepended when no scheme is given).
    #[arg(long = "url", short = 'u', action = ArgAction::Append, value_name = "URL")]
    pub url: Vec<String>,
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
    /// Warmup requests before measuring.
    #[arg(long = "warmup-request-count", visible_alias = "num-warmup-requests", value_name = "N", value_parser = parse_positive_u64, allow_negative_numbers = true)]
    pub warmup_request_count: Option<u64>,

    /// audioperf extension (open loop): measure request latency and TTFT from
    /// each request's intended send time instead of its actual send time, so
    /// time spent queued in the client (coordinated omission) is included.
    #[arg(long = "latency-from-schedule")]
    pub latency_from_schedule: bool,

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
    /// `-v` is AIPerf's --verbose, `-vv` its --extra-verbose.
    #[arg(long = "verbose", short = 'v', action = ArgAction::Count)]
    pub verbose: u8,
    /// Most verbose logging (AIPerf's -vv).
    #[arg(long = "extra-verbose")]
    pub extra_verbose: bool,
    /// Log level (accepted for compatibility): trace, debug, info, notice, warning, success, error, critical.
    #[arg(long = "log-level", value_name = "LEVEL", value_parser = parse_log_level)]
    pub log_level: Option<String>,

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

    // ---- Accepted no-ops: AIPerf collectors audioperf does not have ----
    /// Accepted for compatibility (audioperf never scrapes /metrics).
    #[arg(long = "no-server-metrics")]
    pub no_server_metrics: bool,
    /// Accepted for compatibility (audioperf has no GPU telemetry).
    #[arg(long = "no-gpu-telemetry")]
    pub no_gpu_telemetry: bool,
}

// ---------------------------------------------------------------------------
// Value parsers: clap prefixes their messages with the flag's name.
// ---------------------------------------------------------------------------

fn parse_f64(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number"))?;
    if v.is_nan() {
        return Err(format!("'{s}' is not a number"));
    }
    Ok(v)
}

fn parse_positive_f64(s: &str) -> Result<f64, String> {
    let v = parse_f64(s)?;
    if v > 0.0 && v.is_finite() {
        Ok(v)
    } else {
        Err(format!("{s} is out of range; allowed: a finite number > 0"))
    }
}

fn parse_non_negative_f64(s: &str) -> Result<f64, String> {
    let v = parse_f64(s)?;
    // `inf` is allowed on purpose: AIPerf documents `--benchmark-grace-period inf`.
    if v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("{s} is out of range; allowed: a number >= 0"))
    }
}

fn parse_percentage(s: &str) -> Result<f64, String> {
    let v = parse_f64(s)?;
    if v > 0.0 && v <= 100.0 {
        Ok(v)
    } else {
        Err(format!(
            "{s} is out of range; allowed: a percentage > 0 and <= 100"
        ))
    }
}

fn parse_int<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    let t = s.trim();
    if t.contains(',') {
        // AIPerf turns a list here into a parameter sweep; audioperf runs one point.
        return Err(format!(
            "'{s}' is a list; parameter sweeps are not supported by audioperf, pass one value"
        ));
    }
    t.parse().map_err(|_| {
        let digits = t.strip_prefix('-').unwrap_or(t);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            format!("'{s}' is not a whole number >= 0")
        } else if t.starts_with('-') {
            format!("'{s}' is negative; allowed: a whole number >= 0")
        } else {
            format!("'{s}' is too large; allowed: at most {}", max_of::<T>())
        }
    })
}

/// The largest value of an unsigned integer type, found by parsing (the
/// types here are u32 and u64).
fn max_of<T: std::str::FromStr>() -> u64 {
    if u32::MAX.to_string().parse::<T>().is_ok() && u64::MAX.to_string().parse::<T>().is_err() {
        u64::from(u32::MAX)
    } else {
        u64::MAX
    }
}

fn parse_u32(s: &str) -> Result<u32, String> {
    parse_int(s)
}

fn parse_seed(s: &str) -> Result<u64, String> {
    parse_int(s)
}

fn parse_positive_u32(s: &str) -> Result<u32, String> {
    match parse_int::<u32>(s)? {
        0 => Err("0 is out of range; allowed: a whole number >= 1".into()),
        v => Ok(v),
    }
}

fn parse_positive_u64(s: &str) -> Result<u64, String> {
    match parse_int::<u64>(s)? {
        0 => Err("0 is out of range; allowed: a whole number >= 1".into()),
        v => Ok(v),
    }
}

fn parse_positive_usize(s: &str) -> Result<usize, String> {
    match parse_int::<usize>(s)? {
        0 => Err("0 is out of range; allowed: a whole number >= 1".into()),
        v => Ok(v),
    }
}

/// AIPerf 0.13 `profile` options audioperf does not implement. Named here so
/// a command line using one gets a clear refusal instead of clap's bare
/// "unexpected argument".
pub const UNSUPPORTED_AIPERF_FLAGS: &[&str] = &[
    "--export-level",
    "--profile-export-level",
    "--profile-export-prefix",
    "--profile-export-file",
    "--slice-duration",
    "--export-outputs-json",
    "--goodput",
    "--warmup-duration",
    "--warmup-concurrency",
    "--warmup-request-rate",
    "--num-warmup-sessions",
    "--warmup-grace-period",
    "--public-dataset",
    "--model-selection-strategy",
    "--dataset-sampling-strategy",
    "--conversation-turn-mean",
    "--conversation-turn-stddev",
    "--conversation-turn-delay-mean",
    "--system-prompt",
    "--shared-system-prompt-length",
    "--concurrency-ramp-duration",
    "--request-rate-ramp-duration",
    "--prefill-concurrency",
    "--wait-for-model-timeout",
    "--server-metrics",
    "--gpu-telemetry",
    "--failed-request-threshold",
    "--fixed-schedule",
    "--config",
];

/// The first AIPerf option in `args` that audioperf does not implement, with
/// a message saying so.
pub fn unsupported_aiperf_flag(args: &[String]) -> Option<String> {
    args.iter().find_map(|a| {
        let name = a.split('=').next().unwrap_or(a);
        (UNSUPPORTED_AIPERF_FLAGS.contains(&name) || name == "-f").then(|| {
            format!(
                "{name} is an AIPerf option that audioperf does not support; see `audioperf profile --help` for the options it has"
            )
        })
    })
}

/// AIPerf matches enum values case-insensitively with `-` and `_` alike.
fn normalize_choice(s: &str) -> String {
    s.trim().to_ascii_lowercase().replace('_', "-")
}

fn parse_arrival_pattern(s: &str) -> Result<ArrivalPattern, String> {
    match normalize_choice(s).as_str() {
        "constant" => Ok(ArrivalPattern::Constant),
        "poisson" => Ok(ArrivalPattern::Poisson),
        "gamma" => Ok(ArrivalPattern::Gamma),
        "concurrency-burst" => Err(
            "'concurrency-burst' is not supported by audioperf; allowed: constant, poisson, gamma"
                .into(),
        ),
        _ => Err(format!(
            "'{s}' is not an arrival pattern; allowed: constant, poisson, gamma"
        )),
    }
}

fn parse_ui_type(s: &str) -> Result<UiType, String> {
    match normalize_choice(s).as_str() {
        "none" => Ok(UiType::None),
        "simple" => Ok(UiType::Simple),
        "dashboard" => Ok(UiType::Dashboard),
        _ => Err(format!(
            "'{s}' is not a UI type; allowed: none, simple, dashboard"
        )),
    }
}

fn parse_tls_roots(s: &str) -> Result<TlsRoots, String> {
    match normalize_choice(s).as_str() {
        "webpki" => Ok(TlsRoots::Webpki),
        "system" => Ok(TlsRoots::System),
        "both" => Ok(TlsRoots::Both),
        _ => Err(format!(
            "'{s}' is not a root store; allowed: webpki, system, both"
        )),
    }
}

fn parse_log_level(s: &str) -> Result<String, String> {
    const LEVELS: [&str; 8] = [
        "TRACE", "DEBUG", "INFO", "NOTICE", "WARNING", "SUCCESS", "ERROR", "CRITICAL",
    ];
    let up = s.trim().to_ascii_uppercase();
    if LEVELS.contains(&up.as_str()) {
        Ok(up)
    } else {
        Err(format!(
            "'{s}' is not a log level; allowed: trace, debug, info, notice, warning, success, error, critical"
        ))
    }
}

// ---------------------------------------------------------------------------
// List and key:value syntax (AIPerf's parse_str_or_list / coerce_value).
// ---------------------------------------------------------------------------

/// Each occurrence may itself be a comma-separated list (AIPerf splits on ',').
fn split_list(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_string())
        .collect()
}

/// AIPerf's `coerce_value`: true/false, none/null, integers without leading
/// zeros, and plain decimals become typed values; everything else stays text.
fn coerce_value(v: &str) -> Value {
    let lower = v.to_ascii_lowercase();
    if lower == "true" || lower == "false" {
        return Value::Bool(lower == "true");
    }
    if lower == "none" || lower == "null" {
        return Value::Null;
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let unsigned = v.strip_prefix('-').unwrap_or(v);
    if digits(unsigned) && (!unsigned.starts_with('0') || unsigned == "0") {
        if let Ok(i) = v.parse::<i64>() {
            return Value::from(i);
        }
    }
    if v.matches('.').count() == 1 && digits(&unsigned.replace('.', "")) {
        if let Ok(f) = v.parse::<f64>() {
            return Value::from(f);
        }
    }
    Value::String(v.to_string())
}

/// Parses repeated `key:value[,key:value]` / JSON-object occurrences into pairs.
fn parse_pairs(flag: &'static str, values: &[String]) -> Result<Vec<(String, Value)>, CliError> {
    let mut out = Vec::new();
    for raw in values {
        let item = raw.trim();
        if item.starts_with('{') {
            let obj: Map<String, Value> = serde_json::from_str(item).map_err(|e| {
                CliError::new(flag, format!("'{raw}' is not a valid JSON object ({e})"))
            })?;
            out.extend(obj);
            continue;
        }
        for part in item.split(',') {
            let Some((k, v)) = part.split_once(':') else {
                return Err(CliError::new(
                    flag,
                    format!("'{part}' is not in 'key:value' form (or a JSON object)"),
                ));
            };
            let key = k.trim();
            if key.is_empty() {
                return Err(CliError::new(flag, format!("'{part}' has an empty key")));
            }
            out.push((key.to_string(), coerce_value(v.trim())));
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// URL
// ---------------------------------------------------------------------------

/// AIPerf's `normalize_http_url`: prepend `http://` when there is no `://`.
fn normalize_url(url: &str) -> String {
    if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    }
}

/// Parses `--url` (scheme optional) into a [`Target`].
pub fn parse_target(url: &str) -> Result<Target, CliError> {
    const FLAG: &str = "--url";
    let full = normalize_url(url.trim());
    let (scheme_str, rest) = full
        .split_once("://")
        .ok_or_else(|| CliError::new(FLAG, format!("'{url}' is not a URL")))?;
    let scheme = match scheme_str.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => {
            return Err(CliError::new(
                FLAG,
                format!("'{url}': scheme '{other}' is not supported; allowed: http, https"),
            ))
        }
    };
    let default_port = match scheme {
        Scheme::Http => 80,
        Scheme::Https => 443,
    };
    // A fragment is never sent; a query is (Azure's api-version), as AIPerf does.
    let rest = rest.split('#').next().unwrap_or("");
    let (rest, query) = match rest.find('?') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, String::new()),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(CliError::new(
            FLAG,
            format!("'{url}': user info in the URL is not supported; use --api-key or --header"),
        ));
    }
    let (host, port_str) = if let Some(after) = authority.strip_prefix('[') {
        let end = after
            .find(']')
            .ok_or_else(|| CliError::new(FLAG, format!("'{url}': unterminated IPv6 address")))?;
        let host = &after[..end];
        let tail = &after[end + 1..];
        let port = match tail.strip_prefix(':') {
            Some(p) => Some(p),
            None if tail.is_empty() => None,
            None => {
                return Err(CliError::new(
                    FLAG,
                    format!("'{url}': unexpected '{tail}' after the IPv6 address"),
                ))
            }
        };
        (host, port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(CliError::new(FLAG, format!("'{url}' has no host")));
    }
    let port = match port_str {
        None | Some("") => default_port,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => {
                return Err(CliError::new(
                    FLAG,
                    format!("'{url}' has an invalid port '{p}'; allowed: 1..65535"),
                ))
            }
        },
    };
    let host_for_header = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let host_header = if port == default_port {
        host_for_header
    } else {
        format!("{host_for_header}:{port}")
    };
    Ok(Target {
        scheme,
        host: host.to_string(),
        port,
        host_header,
        base_path: path.trim_end_matches('/').to_string(),
        query,
    })
}

// ---------------------------------------------------------------------------
// Artifact directory
// ---------------------------------------------------------------------------

/// Python's `repr(float)`: shortest round-trip digits, `.0` on integral values,
/// exponent form below 1e-4 and from 1e16 (`1e-05`, `1e+16`).
pub fn python_float(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    // `{:e}` gives the shortest round-trip mantissa, e.g. "1.5e-5".
    let sci = format!("{v:e}");
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    if (-4..16).contains(&exp) {
        let s = format!("{v}");
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

/// AIPerf's run directory name: `<model, / as _>[_multi]-openai-chat-<stimulus>`,
/// the stimulus being `concurrency<N>`, `request_rate<R>` or both joined by `-`.
pub fn artifact_name(
    model_names: &[String],
    concurrency: Option<u32>,
    request_rate: Option<f64>,
) -> String {
    let mut parts = Vec::new();
    if let Some(first) = model_names.first() {
        let mut name = first.clone();
        if model_names.len() > 1 {
            name.push_str("_multi");
        }
        parts.push(name.replace('/', "_"));
    }
    parts.push("openai-chat".to_string());
    match request_rate {
        // Concurrency phase: AIPerf prints its (default 1) concurrency.
        None => parts.push(format!(
            "concurrency{}",
            concurrency.unwrap_or(defaults::CONCURRENCY)
        )),
        Some(rate) => {
            if let Some(c) = concurrency {
                parts.push(format!("concurrency{c}"));
            }
            parts.push(format!("request_rate{}", python_float(rate)));
        }
    }
    parts.join("-")
}

/// `cwd.join(p)` with `.` and `..` folded, like Python's `Path.resolve()` on a
/// path that does not exist yet (symlinks are left alone).
fn absolute(p: &Path) -> PathBuf {
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .unwrap_or_else(|_| PathBuf::from("/"))
            .join(p)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The longest time any flag may name: 10^9 s (about 32 years), which every
/// run treats as "no limit"; `inf` and larger values mean the same. Deadlines
/// are nanoseconds in a u64, which anything much longer would overflow.
pub const MAX_SECONDS: f64 = 1e9;
/// Bounds of `--request-rate`, requests per second.
pub const MIN_REQUEST_RATE: f64 = 1e-6;
pub const MAX_REQUEST_RATE: f64 = 1e7;
/// Most arrivals one run precomputes (8 bytes each).
pub const MAX_SCHEDULED_ARRIVALS: f64 = 1e8;
/// Largest token count (mean or spread) a prompt or answer may ask for.
pub const MAX_TOKENS: f64 = 10_000_000.0;
/// Most distinct dataset entries implied by `--request-count` alone.
pub const MAX_ENTRIES_FROM_COUNT: u64 = 100_000;

fn secs(flag: &'static str, s: f64) -> Result<Duration, CliError> {
    let d = Duration::try_from_secs_f64(s.min(MAX_SECONDS))
        .map_err(|_| CliError::new(flag, format!("{s} is not a valid number of seconds")))?;
    if s > 0.0 && d.is_zero() {
        return Err(CliError::new(
            flag,
            format!("{s} seconds is below the clock's 1 ns resolution"),
        ));
    }
    Ok(d)
}

fn num(v: f64) -> Value {
    // JSON has no Infinity; AIPerf's exporter writes non-finite values as null.
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

// ---------------------------------------------------------------------------
// Validation into ProfileConfig
// ---------------------------------------------------------------------------

impl ProfileArgs {
    /// Validates every value once and builds the run configuration.
    /// `cli_command` is the command line as typed (for the console and exports).
    pub fn into_config(self, cli_command: String) -> Result<ProfileConfig, CliError> {
        let a = self;

        // ---- models ----
        let model_names: Vec<String> = split_list(&a.model_names)
            .into_iter()
            .filter(|m| !m.is_empty())
            .collect();
        let Some(model) = model_names.first().cloned() else {
            return Err(CliError::new(
                "--model-names",
                "at least one model name is required (e.g. --model Qwen/Qwen2-Audio-7B-Instruct)",
            ));
        };

        // ---- endpoint ----
        if let Some(t) = &a.endpoint_type {
            let n = normalize_choice(t);
            if n != "chat" {
                let msg = if AIPERF_ENDPOINT_TYPES.contains(&n.as_str()) {
                    format!("'{t}' is not supported by audioperf; allowed: chat")
                } else {
                    format!("'{t}' is not an endpoint type; allowed: chat")
                };
                return Err(CliError::new("--endpoint-type", msg));
            }
        }
        let endpoint_path = match &a.custom_endpoint {
            Some(p) if !p.starts_with('/') => {
                return Err(CliError::new(
                    "--custom-endpoint",
                    format!("'{p}' must start with '/' (e.g. /v1/chat/completions)"),
                ))
            }
            Some(p) => p.clone(),
            None => defaults::ENDPOINT_PATH.to_string(),
        };
        let urls: Vec<String> = if a.url.is_empty() {
            vec![defaults::URL.to_string()]
        } else {
            split_list(&a.url)
        };
        if urls.len() != 1 {
            return Err(CliError::new(
                "--url",
                format!(
                    "{} URLs given; audioperf drives one server per run, pass one --url",
                    urls.len()
                ),
            ));
        }
        let target = parse_target(&urls[0])?;
        let tls = TlsOptions {
            roots: a.tls_roots.unwrap_or_default(),
            ca_file: a.ca_file.clone(),
            insecure: a.insecure,
            server_name: a.tls_server_name.clone(),
        };
        // Checked now (CA file readable, certificates in it, server name
        // valid) so a bad value is a configuration error naming its flag,
        // not a failure of every connection. For http:// the TLS flags are
        // unused, but a given one is still checked.
        if target.scheme == Scheme::Https || tls != TlsOptions::default() {
            crate::tls::client_config(&tls)
                .and_then(|_| crate::tls::server_name(&target, &tls))
                .map_err(|e| CliError::new(e.flag, e.message))?;
        }
        let request_timeout = secs(
            "--request-timeout-seconds",
            a.request_timeout_seconds
                .unwrap_or(defaults::REQUEST_TIMEOUT_S),
        )?;
        let headers: Vec<(String, String)> = parse_pairs("--header", &a.header)?
            .into_iter()
            .map(|(k, v)| {
                // Header values are text even when they look like numbers.
                let text = match v {
                    Value::String(s) => s,
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                (k, text)
            })
            .collect();
        for (k, v) in &headers {
            if k.bytes().any(|b| !(b.is_ascii_graphic() && b != b':'))
                || v.bytes().any(|b| b == b'\r' || b == b'\n')
            {
                return Err(CliError::new(
                    "--header",
                    format!("'{k}:{v}' is not a valid HTTP header"),
                ));
            }
        }
        let mut extra_inputs = Map::new();
        for (k, v) in parse_pairs("--extra-inputs", &a.extra_inputs)? {
            extra_inputs.insert(k, v);
        }

        // ---- input file ----
        if let Some(p) = &a.input_file {
            if p.is_dir() {
                return Err(CliError::new(
                    "--input-file",
                    format!(
                        "'{}' is a directory; audioperf reads one JSONL file (single_turn)",
                        p.display()
                    ),
                ));
            }
            if !p.is_file() {
                return Err(CliError::new(
                    "--input-file",
                    format!("'{}' is not an existing file", p.display()),
                ));
            }
        }
        let custom_dataset_type = match &a.custom_dataset_type {
            None => None,
            Some(t) => {
                let n = normalize_choice(t).replace('-', "_");
                if a.input_file.is_none() {
                    return Err(CliError::new(
                        "--custom-dataset-type",
                        "requires --input-file",
                    ));
                }
                if n != "single_turn" {
                    let msg = if AIPERF_DATASET_TYPES.contains(&n.as_str()) {
                        format!("'{t}' is not supported by audioperf; allowed: single_turn")
                    } else {
                        format!("'{t}' is not a dataset type; allowed: single_turn")
                    };
                    return Err(CliError::new("--custom-dataset-type", msg));
                }
                Some(n)
            }
        };
        if a.input_file.is_some() {
            // AIPerf rejects synthetic-only prompt shaping with a file dataset.
            let synthetic_only: [(&'static str, bool); 4] = [
                (
                    "--synthetic-input-tokens-mean",
                    a.input_tokens_mean.is_some(),
                ),
                (
                    "--synthetic-input-tokens-stddev",
                    a.input_tokens_stddev.is_some(),
                ),
                ("--audio-batch-size", a.audio_batch_size.is_some()),
                ("--batch-size-text", a.prompt_batch_size.is_some()),
            ];
            for (flag, set) in synthetic_only {
                if set {
                    return Err(CliError::new(
                        flag,
                        "only applies to synthetic datasets; remove it or --input-file",
                    ));
                }
            }
        }

        // ---- load ----
        if a.benchmark_grace_period.is_some() && a.benchmark_duration.is_none() {
            return Err(CliError::new(
                "--benchmark-grace-period",
                "requires --benchmark-duration",
            ));
        }
        if a.request_cancellation_delay.is_some() && a.request_cancellation_rate.is_none() {
            return Err(CliError::new(
                "--request-cancellation-delay",
                "requires --request-cancellation-rate",
            ));
        }
        if a.arrival_smoothness.is_some()
            && a.arrival_pattern.unwrap_or(ArrivalPattern::Poisson) != ArrivalPattern::Gamma
        {
            return Err(CliError::new(
                "--arrival-smoothness",
                "only applies with --arrival-pattern gamma",
            ));
        }
        if let Some(rate) = a.request_rate {
            // Below this an arrival gap overflows the schedule's clock; above
            // it no HTTP/1.1 client keeps up. Both are typos, not benchmarks.
            if !(MIN_REQUEST_RATE..=MAX_REQUEST_RATE).contains(&rate) {
                return Err(CliError::new(
                    "--request-rate",
                    format!(
                        "{rate:e} is out of range: requests per second must be between {MIN_REQUEST_RATE:e} and {MAX_REQUEST_RATE:e}"
                    ),
                ));
            }
            // The arrival schedule is computed up front: bound its size.
            let by_duration = a.benchmark_duration.map(|d| rate * d.min(MAX_SECONDS));
            let by_count = a.request_count.map(|n| n as f64);
            let arrivals = match (by_duration, by_count) {
                (Some(d), Some(n)) => d.min(n),
                (Some(x), None) | (None, Some(x)) => x,
                (None, None) => 0.0,
            };
            if arrivals > MAX_SCHEDULED_ARRIVALS {
                let flag = if by_duration.is_some_and(|d| d >= arrivals) {
                    "--benchmark-duration"
                } else {
                    "--request-count"
                };
                return Err(CliError::new(
                    flag,
                    format!(
                        "{arrivals:.0} arrivals at --request-rate {rate}; at most {MAX_SCHEDULED_ARRIVALS:.0} are scheduled per run (split the run)"
                    ),
                ));
            }
            if a.warmup_request_count
                .is_some_and(|n| n as f64 > MAX_SCHEDULED_ARRIVALS)
            {
                return Err(CliError::new(
                    "--warmup-request-count",
                    format!("at most {MAX_SCHEDULED_ARRIVALS:.0} with --request-rate"),
                ));
            }
        }
        for (flag, v) in [
            (
                "--synthetic-input-tokens-mean",
                a.input_tokens_mean.map(f64::from),
            ),
            ("--synthetic-input-tokens-stddev", a.input_tokens_stddev),
            ("--output-tokens-mean", a.output_tokens_mean.map(f64::from)),
            ("--output-tokens-stddev", a.output_tokens_stddev),
        ] {
            if v.is_some_and(|v| v > MAX_TOKENS) {
                return Err(CliError::new(
                    flag,
                    format!("at most {MAX_TOKENS:.0} tokens (every prompt is built up front)"),
                ));
            }
        }
        let request_count = match (a.request_count, a.conversation_num, a.benchmark_duration) {
            // Both bound the run (single-turn: a session is one request).
            (Some(n), Some(sessions), _) => n.min(u64::from(sessions)),
            (Some(n), None, _) => n,
            (None, Some(sessions), _) => u64::from(sessions),
            // A duration bounds the run; the count is then unbounded.
            (None, None, Some(_)) => u64::MAX,
            (None, None, None) => defaults::REQUEST_COUNT,
        };
        let benchmark_duration = a
            .benchmark_duration
            .map(|d| secs("--benchmark-duration", d))
            .transpose()?;
        let benchmark_grace_period = secs(
            "--benchmark-grace-period",
            a.benchmark_grace_period.unwrap_or(defaults::GRACE_PERIOD_S),
        )?;
        // AIPerf builds one entry per request when only --request-count is
        // given; past MAX_ENTRIES_FROM_COUNT entries are reused instead (each
        // holds a whole request body: a million 5 s clips would be 280 GB).
        let num_dataset_entries = a
            .num_dataset_entries
            .or(a.conversation_num)
            .or_else(|| {
                a.request_count
                    .map(|n| n.min(MAX_ENTRIES_FROM_COUNT) as u32)
            })
            .unwrap_or(defaults::NUM_DATASET_ENTRIES);

        // AIPerf: an output-length spread needs a mean ("osl.mean Field required").
        if a.output_tokens_stddev.is_some() && a.output_tokens_mean.is_none() {
            return Err(CliError::new(
                "--output-tokens-stddev",
                "requires --output-tokens-mean",
            ));
        }

        // ---- audio ----
        if a.audio_length_stddev.is_some() && a.audio_length_mean.is_none() {
            return Err(CliError::new(
                "--audio-length-stddev",
                "requires --audio-length-mean",
            ));
        }
        let format = match a.audio_format.as_deref().map(normalize_choice).as_deref() {
            None | Some("wav") => AudioFormat::Wav,
            Some("mp3") => AudioFormat::Mp3,
            Some(_) => {
                return Err(CliError::new(
                    "--audio-format",
                    format!(
                        "'{}' is not supported; allowed: wav, mp3",
                        a.audio_format.as_deref().unwrap_or_default()
                    ),
                ))
            }
        };
        let depths_bits: Vec<u16> = if a.audio_depths.is_empty() {
            vec![defaults::AUDIO_DEPTH]
        } else {
            split_list(&a.audio_depths)
                .iter()
                .map(|d| match d.parse::<u16>() {
                    Ok(b) if ALLOWED_DEPTHS.contains(&b) => Ok(b),
                    Ok(_) => Err(CliError::new(
                        "--audio-depths",
                        format!("{d} is not supported; allowed: 8, 16, 24, 32"),
                    )),
                    Err(_) => Err(CliError::new(
                        "--audio-depths",
                        format!("{d} is not a number; allowed: 8, 16, 24, 32"),
                    )),
                })
                .collect::<Result<_, _>>()?
        };
        let rates_khz: Vec<f64> = if a.audio_sample_rates.is_empty() {
            vec![defaults::AUDIO_SAMPLE_RATE_KHZ]
        } else {
            split_list(&a.audio_sample_rates)
                .iter()
                .map(|r| match r.parse::<f64>() {
                    Ok(v) if v > 0.0 && v.is_finite() => {
                        // AIPerf reads values above 96 as Hz (16000 -> 16 kHz).
                        Ok(if v > 96.0 { v / 1000.0 } else { v })
                    }
                    Ok(_) => Err(CliError::new(
                        "--audio-sample-rates",
                        format!("{r} is out of range; allowed: kHz values > 0 (e.g. 16, 44.1, 48)"),
                    )),
                    Err(_) => Err(CliError::new(
                        "--audio-sample-rates",
                        format!("{r} is not a number; allowed: kHz values (e.g. 16, 44.1, 48)"),
                    )),
                })
                .collect::<Result<_, _>>()?
        };
        let mut sample_rates_hz = Vec::with_capacity(rates_khz.len());
        for khz in &rates_khz {
            let hz = (khz * 1000.0).round();
            if !(1.0..=f64::from(u32::MAX)).contains(&hz) {
                return Err(CliError::new(
                    "--audio-sample-rates",
                    format!("{khz} kHz is out of range"),
                ));
            }
            let hz = hz as u32;
            if format == AudioFormat::Mp3 && !MP3_RATES_HZ.contains(&hz) {
                return Err(CliError::new(
                    "--audio-sample-rates",
                    format!(
                        "{} kHz is not supported by mp3; allowed: 8, 11.025, 12, 16, 22.05, 24, 32, 44.1, 48",
                        python_float(*khz).trim_end_matches(".0")
                    ),
                ));
            }
            sample_rates_hz.push(hz);
        }
        let audio = AudioConfig {
            length_mean_s: a.audio_length_mean.unwrap_or(0.0),
            length_stddev_s: a.audio_length_stddev.unwrap_or(0.0),
            format,
            sample_rates_hz,
            depths_bits,
            channels: a.audio_num_channels.unwrap_or(1),
            batch_size: a.audio_batch_size.unwrap_or(1),
        };
        let prompt = PromptConfig {
            input_tokens_mean: a.input_tokens_mean.unwrap_or(defaults::ISL_MEAN),
            input_tokens_stddev: a.input_tokens_stddev.unwrap_or(0.0),
            output_tokens_mean: a.output_tokens_mean,
            output_tokens_stddev: a.output_tokens_stddev.unwrap_or(0.0),
            use_legacy_max_tokens: a.use_legacy_max_tokens,
            text_batch_size: a.prompt_batch_size.unwrap_or(1),
        };

        // ---- UI (AIPerf: -v/-vv force simple; otherwise dashboard only on a terminal) ----
        let verbose = a.verbose > 0 || a.extra_verbose;
        let ui_type = if verbose {
            UiType::Simple
        } else {
            match a.ui_type {
                Some(UiType::Dashboard) | None if !stdout_is_tty() => {
                    if a.ui_type.is_some() {
                        UiType::Simple
                    } else {
                        UiType::None
                    }
                }
                Some(u) => u,
                None => UiType::Dashboard,
            }
        };

        // ---- artifacts ----
        let artifact_dir = match &a.output_artifact_dir {
            Some(dir) => dir.clone(),
            None => PathBuf::from(defaults::ARTIFACT_DIR).join(artifact_name(
                &model_names,
                a.concurrency,
                a.request_rate,
            )),
        };

        let input_config_json = input_config(&a, &model_names, &urls, &artifact_dir, ui_type);

        Ok(ProfileConfig {
            model,
            model_names,
            target,
            endpoint_path,
            streaming: a.streaming,
            request_count,
            warmup_request_count: a.warmup_request_count.unwrap_or(0),
            concurrency: a.concurrency.unwrap_or(defaults::CONCURRENCY),
            concurrency_set: a.concurrency.is_some(),
            request_rate: a.request_rate,
            arrival_pattern: a.arrival_pattern.unwrap_or(ArrivalPattern::Poisson),
            arrival_smoothness: a.arrival_smoothness,
            benchmark_duration,
            benchmark_grace_period,
            request_timeout,
            request_cancellation_rate: a.request_cancellation_rate.unwrap_or(0.0),
            request_cancellation_delay: secs(
                "--request-cancellation-delay",
                a.request_cancellation_delay.unwrap_or(0.0),
            )?,
            latency_from_schedule: a.latency_from_schedule,
            audio,
            prompt,
            random_seed: a.random_seed,
            num_dataset_entries,
            artifact_dir,
            api_key: a.api_key.clone(),
            tls,
            headers,
            extra_inputs,
            input_file: a.input_file.clone(),
            custom_dataset_type,
            tokenizer: a.tokenizer.clone(),
            tokenizer_revision: a.tokenizer_revision.clone(),
            use_server_token_count: a.use_server_token_count,
            ui_type,
            workers_max: a.workers_max,
            cli_command,
            input_config_json,
        })
    }
}

fn stdout_is_tty() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal()
}

/// The configuration as AIPerf 0.13 exports it under `input_config` in
/// `profile_export_aiperf.json`: its `BenchmarkConfig` dumped with
/// `exclude_unset`, so only what the user set (plus the few values AIPerf
/// derives) appears. Keys are inserted in AIPerf's order.
fn input_config(
    a: &ProfileArgs,
    model_names: &[String],
    urls: &[String],
    artifact_dir: &Path,
    ui: UiType,
) -> Value {
    let mut root = Map::new();
    let items: Vec<Value> = model_names.iter().map(|m| json!({ "name": m })).collect();
    root.insert("models".into(), json!({ "items": items }));

    // endpoint
    let mut ep = Map::new();
    let urls: Vec<Value> = urls.iter().map(|u| Value::from(normalize_url(u))).collect();
    ep.insert("urls".into(), Value::Array(urls));
    if a.endpoint_type.is_some() {
        ep.insert("type".into(), json!("chat"));
    }
    if let Some(p) = &a.custom_endpoint {
        ep.insert("path".into(), json!(p));
    }
    if a.api_key.is_some() {
        ep.insert("api_key".into(), json!("<redacted>"));
    }
    if let Some(t) = a.request_timeout_seconds {
        ep.insert("timeout".into(), num(t));
    }
    if a.streaming {
        ep.insert("streaming".into(), json!(true));
    }
    if a.use_legacy_max_tokens {
        ep.insert("use_legacy_max_tokens".into(), json!(true));
    }
    if a.use_server_token_count {
        ep.insert("use_server_token_count".into(), json!(true));
    }
    if !a.header.is_empty() {
        let mut h = Map::new();
        for (k, v) in parse_pairs("--header", &a.header).unwrap_or_default() {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            h.insert(k, Value::String(text));
        }
        ep.insert("headers".into(), Value::Object(h));
    }
    if !a.extra_inputs.is_empty() {
        let m: Map<String, Value> = parse_pairs("--extra-inputs", &a.extra_inputs)
            .unwrap_or_default()
            .into_iter()
            .collect();
        ep.insert("extra".into(), Value::Object(m));
    }
    root.insert("endpoint".into(), Value::Object(ep));

    // dataset
    let mut ds = Map::new();
    ds.insert("name".into(), json!("main"));
    let entries = a
        .num_dataset_entries
        .map(u64::from)
        .or(a.conversation_num.map(u64::from))
        .or(a.request_count);
    if let Some(path) = &a.input_file {
        ds.insert("type".into(), json!("file"));
        ds.insert("path".into(), json!(path.to_string_lossy()));
        if let Some(t) = &a.custom_dataset_type {
            ds.insert(
                "format".into(),
                json!(normalize_choice(t).replace('-', "_")),
            );
        }
        if let Some(e) = entries {
            ds.insert("entries".into(), json!(e));
        }
        if let Some(s) = a.random_seed {
            ds.insert("random_seed".into(), json!(s));
        }
        if let Some(osl) = osl_json(a) {
            ds.insert("osl".into(), osl);
        }
    } else {
        ds.insert("type".into(), json!("synthetic"));
        if let Some(e) = entries {
            ds.insert("entries".into(), json!(e));
        }
        if let Some(s) = a.random_seed {
            ds.insert("random_seed".into(), json!(s));
        }
        let mut prompts = Map::new();
        let mut isl = Map::new();
        let mean = a.input_tokens_mean.unwrap_or(defaults::ISL_MEAN);
        isl.insert("mean".into(), num(f64::from(mean)));
        if let Some(sd) = a.input_tokens_stddev {
            isl.insert("stddev".into(), num(sd));
        }
        prompts.insert("isl".into(), Value::Object(isl));
        if let Some(osl) = osl_json(a) {
            prompts.insert("osl".into(), osl);
        }
        if let Some(b) = a.prompt_batch_size {
            prompts.insert("batch_size".into(), json!(b));
        }
        ds.insert("prompts".into(), Value::Object(prompts));
        let mut audio = Map::new();
        let mut length = Map::new();
        if let Some(m) = a.audio_length_mean {
            length.insert("mean".into(), num(m));
        }
        if let Some(s) = a.audio_length_stddev {
            length.insert("stddev".into(), num(s));
        }
        if !length.is_empty() {
            audio.insert("length".into(), Value::Object(length));
        }
        if let Some(f) = &a.audio_format {
            audio.insert("format".into(), json!(normalize_choice(f)));
        }
        if !a.audio_sample_rates.is_empty() {
            let rates: Vec<Value> = split_list(&a.audio_sample_rates)
                .iter()
                .filter_map(|r| r.parse::<f64>().ok())
                .map(|v| num(if v > 96.0 { v / 1000.0 } else { v }))
                .collect();
            audio.insert("sample_rates".into(), Value::Array(rates));
        }
        if !a.audio_depths.is_empty() {
            let depths: Vec<Value> = split_list(&a.audio_depths)
                .iter()
                .filter_map(|d| d.parse::<u64>().ok())
                .map(Value::from)
                .collect();
            audio.insert("depths".into(), Value::Array(depths));
        }
        if let Some(c) = a.audio_num_channels {
            audio.insert("channels".into(), json!(c));
        }
        if a.audio_batch_size.is_some() || !audio.is_empty() {
            // AIPerf's audio model always materialises batch_size once the table exists.
            let mut with_batch = Map::new();
            with_batch.insert("batch_size".into(), json!(a.audio_batch_size.unwrap_or(1)));
            with_batch.extend(audio);
            ds.insert("audio".into(), Value::Object(with_batch));
        }
    }
    root.insert("datasets".into(), json!([Value::Object(ds)]));

    // phases
    let phase_type = match (a.request_rate, a.arrival_pattern) {
        (None, _) => "concurrency",
        (Some(_), Some(ArrivalPattern::Constant)) => "constant",
        (Some(_), Some(ArrivalPattern::Gamma)) => "gamma",
        (Some(_), _) => "poisson",
    };
    let mut phases = Vec::new();
    if let Some(w) = a.warmup_request_count {
        let mut p = Map::new();
        p.insert("name".into(), json!("warmup"));
        p.insert("kind".into(), json!("warmup"));
        p.insert("type".into(), json!(phase_type));
        p.insert("exclude_from_results".into(), json!(true));
        p.insert("requests".into(), json!(w));
        match (a.concurrency, a.request_rate) {
            (Some(c), _) => {
                p.insert("concurrency".into(), json!(c));
            }
            // A concurrency warmup needs a concurrency; AIPerf fills in its default.
            (None, None) => {
                p.insert("concurrency".into(), json!(defaults::CONCURRENCY));
            }
            (None, Some(_)) => {}
        }
        if let Some(r) = a.request_rate {
            p.insert("rate".into(), num(r));
        }
        if let (Some(s), "gamma") = (a.arrival_smoothness, phase_type) {
            p.insert("smoothness".into(), num(s));
        }
        phases.push(Value::Object(p));
    }
    let mut p = Map::new();
    p.insert("name".into(), json!("profiling"));
    p.insert("kind".into(), json!("profiling"));
    p.insert("type".into(), json!(phase_type));
    match (a.request_count, a.benchmark_duration, a.conversation_num) {
        (Some(n), _, _) => {
            p.insert("requests".into(), json!(n));
        }
        (None, None, None) => {
            p.insert("requests".into(), json!(defaults::REQUEST_COUNT));
        }
        _ => {}
    }
    if let Some(d) = a.benchmark_duration {
        p.insert("duration".into(), num(d));
    }
    if let Some(s) = a.conversation_num {
        p.insert("sessions".into(), json!(s));
    }
    if let Some(c) = a.concurrency {
        p.insert("concurrency".into(), json!(c));
    }
    if a.benchmark_duration.is_some() {
        let g = a.benchmark_grace_period.unwrap_or(defaults::GRACE_PERIOD_S);
        p.insert("grace_period".into(), num(g));
    }
    if let Some(rate) = a.request_cancellation_rate {
        let mut c = Map::new();
        c.insert("rate".into(), num(rate));
        if let Some(d) = a.request_cancellation_delay {
            c.insert("delay".into(), num(d));
        }
        p.insert("cancellation".into(), Value::Object(c));
    }
    if let Some(r) = a.request_rate {
        p.insert("rate".into(), num(r));
        if let (Some(s), "gamma") = (a.arrival_smoothness, phase_type) {
            p.insert("smoothness".into(), num(s));
        }
    }
    phases.push(Value::Object(p));
    root.insert("phases".into(), Value::Array(phases));

    root.insert(
        "artifacts".into(),
        json!({
            "dir": absolute(artifact_dir).to_string_lossy(),
            "auto_plot": false,
            "plot_required": false,
        }),
    );
    let mut tok = Map::new();
    if let Some(t) = &a.tokenizer {
        tok.insert("name".into(), json!(t));
    }
    if let Some(r) = &a.tokenizer_revision {
        tok.insert("revision".into(), json!(r));
    }
    if a.tokenizer_trust_remote_code {
        tok.insert("trust_remote_code".into(), json!(true));
    }
    root.insert("tokenizer".into(), Value::Object(tok));
    root.insert(
        "gpu_telemetry".into(),
        json!({ "enabled": !a.no_gpu_telemetry }),
    );
    root.insert(
        "server_metrics".into(),
        if a.no_server_metrics {
            json!({ "enabled": false })
        } else {
            json!({ "enabled": true, "urls": [], "formats": ["json", "csv"] })
        },
    );
    root.insert("network_latency".into(), json!({ "enabled": false }));
    root.insert("otel".into(), json!({}));
    root.insert("mlflow".into(), json!({}));
    root.insert("wandb".into(), json!({}));
    let mut runtime = Map::new();
    // AIPerf records the UI only when it chose one: set by flag, forced by
    // -v/-vv, or defaulted to none off a terminal.
    let ui_chosen = a.ui_type.is_some() || a.verbose > 0 || a.extra_verbose || !stdout_is_tty();
    if ui_chosen {
        runtime.insert(
            "ui".into(),
            json!(match ui {
                UiType::None => "none",
                UiType::Simple => "simple",
                UiType::Dashboard => "dashboard",
            }),
        );
    }
    if let Some(w) = a.workers_max {
        runtime.insert("workers".into(), json!(w));
    }
    root.insert("runtime".into(), Value::Object(runtime));
    let level = if a.extra_verbose || a.verbose >= 2 {
        Some("TRACE".to_string())
    } else if a.verbose == 1 {
        Some("DEBUG".to_string())
    } else {
        a.log_level.clone()
    };
    if let Some(l) = level {
        root.insert("logging".into(), json!({ "level": l }));
    }
    // audioperf-only options, kept apart from AIPerf's keys and written only
    // when set, so a plain run's export matches AIPerf's shape.
    let mut tls = Map::new();
    if a.insecure {
        tls.insert("insecure".into(), json!(true));
    }
    if let Some(p) = &a.ca_file {
        tls.insert("ca_file".into(), json!(p.to_string_lossy()));
    }
    if let Some(r) = a.tls_roots {
        let name = match r {
            TlsRoots::Webpki => "webpki",
            TlsRoots::System => "system",
            TlsRoots::Both => "both",
        };
        tls.insert("roots".into(), json!(name));
    }
    if let Some(n) = &a.tls_server_name {
        tls.insert("server_name".into(), json!(n));
    }
    if !tls.is_empty() {
        root.insert("audioperf".into(), json!({ "tls": tls }));
    }
    Value::Object(root)
}

fn osl_json(a: &ProfileArgs) -> Option<Value> {
    let mut osl = Map::new();
    if let Some(m) = a.output_tokens_mean {
        osl.insert("mean".into(), num(f64::from(m)));
    }
    if let Some(s) = a.output_tokens_stddev {
        osl.insert("stddev".into(), num(s));
    }
    (!osl.is_empty()).then_some(Value::Object(osl))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// Stand-in for the lead's top-level parser.
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

    fn config(line: &str) -> Result<ProfileConfig, CliError> {
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

    fn err(line: &str) -> CliError {
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
        assert_eq!(ic_without_dir(&c), expected);
        let dir = c.input_config_json["artifacts"]["dir"]
            .as_str()
            .unwrap_or("");
        assert!(Path::new(dir).is_absolute());
        assert!(dir.ends_with("/artifacts/Qwen_Qwen2-Audio-7B-Instruct-openai-chat-concurrency4"));
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
        assert_eq!(c.custom_dataset_type.as_deref(), Some("single_turn"));
        assert_eq!(c.request_count, 3);
        assert_eq!(c.concurrency, 1);
        assert!(!c.concurrency_set);
        assert_eq!(
            c.artifact_dir,
            PathBuf::from("artifacts/Qwen_Qwen2.5-Omni-3B-openai-chat-concurrency1")
        );
        let mut expected: Value = serde_json::from_str(r#"{"models": {"items": [{"name": "Qwen/Qwen2.5-Omni-3B"}]}, "endpoint": {"urls": ["http://localhost:8000"], "type": "chat", "streaming": true}, "datasets": [{"name": "main", "type": "file", "path": "inputs.jsonl", "format": "single_turn", "entries": 3}], "phases": [{"name": "profiling", "kind": "profiling", "type": "concurrency", "requests": 3}], "artifacts": {"dir": "DIR", "auto_plot": false, "plot_required": false}, "tokenizer": {}, "gpu_telemetry": {"enabled": true}, "server_metrics": {"enabled": true, "urls": [], "formats": ["json", "csv"]}, "network_latency": {"enabled": false}, "otel": {}, "mlflow": {}, "wandb": {}, "runtime": {"ui": "none"}}"#).unwrap();
        expected["datasets"][0]["path"] = json!(file.to_string_lossy());
        assert_eq!(ic_without_dir(&c), expected);
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
        assert_eq!(ic_without_dir(&c), expected);
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
        assert_eq!(ic_without_dir(&c), expected);
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
        let a = ok("--model-names a -u localhost:1 --num-requests 3 --isl 7 --osl 9 \
                    --batch-size-audio 2 --batch-size 3 --num-prompts 4 --ui simple --max-workers 2 \
                    --request-rate 1 --arrival-pattern constant --endpoint /x --num-warmup-requests 1");
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
        let e = err("-m a --url a:1 --url b:2");
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
        let cases: [(&str, &str, &str); 24] = [
            ("--audio-depths 24x", "--audio-depths", "24x is not a number; allowed: 8, 16, 24, 32"),
            ("--audio-depths 12", "--audio-depths", "12 is not supported; allowed: 8, 16, 24, 32"),
            ("--audio-format ogg", "--audio-format", "'ogg' is not supported; allowed: wav, mp3"),
            ("--audio-sample-rates 0", "--audio-sample-rates", "out of range"),
            ("--audio-sample-rates x", "--audio-sample-rates", "not a number"),
            (
                "--audio-format mp3 --audio-sample-rates 20",
                "--audio-sample-rates",
                "20 kHz is not supported by mp3; allowed: 8, 11.025, 12, 16, 22.05, 24, 32, 44.1, 48",
            ),
            ("--endpoint-type completions", "--endpoint-type", "not supported by audioperf"),
            ("--endpoint-type bogus", "--endpoint-type", "allowed: chat"),
            ("--custom-endpoint v1/chat", "--custom-endpoint", "must start with '/'"),
            ("--benchmark-grace-period 3", "--benchmark-grace-period", "requires --benchmark-duration"),
            ("--request-cancellation-delay 1", "--request-cancellation-delay", "requires --request-cancellation-rate"),
            ("--audio-length-stddev 1", "--audio-length-stddev", "requires --audio-length-mean"),
            ("--osl-stddev 5", "--output-tokens-stddev", "requires --output-tokens-mean"),
            ("--arrival-smoothness 2", "--arrival-smoothness", "gamma"),
            ("--extra-inputs novalue", "--extra-inputs", "'key:value'"),
            ("--extra-inputs {bad", "--extra-inputs", "JSON"),
            ("--custom-dataset-type single_turn", "--custom-dataset-type", "requires --input-file"),
            ("--request-rate 1e-300", "--request-rate", "out of range"),
            ("--request-rate 1e300", "--request-rate", "out of range"),
            ("--request-rate 1e6 --benchmark-duration 1000", "--benchmark-duration", "at most 100000000"),
            ("--request-timeout-seconds 1e-12", "--request-timeout-seconds", "resolution"),
            ("--isl 20000000", "--synthetic-input-tokens-mean", "at most 10000000"),
            ("--request-rate 1 --request-count 200000000", "--request-count", "at most 100000000"),
            ("--osl-stddev 1e30 --osl 5", "--output-tokens-stddev", "at most 10000000"),
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
        let msg = unsupported_aiperf_flag(&args("-m m --goodput time_to_first_token:100"));
        assert!(msg.is_some_and(|m| m.starts_with("--goodput is an AIPerf option")));
        let msg = unsupported_aiperf_flag(&args("-m m --export-level=records"));
        assert!(msg.is_some_and(|m| m.starts_with("--export-level is")));
        assert!(
            unsupported_aiperf_flag(&args("-m m --concurrency 4 --no-server-metrics")).is_none()
        );
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
        let path = |args: &str| {
            crate::dataset::request::request_path(&config(&format!("-m m {args}")).unwrap())
        };
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
        let c =
            config("-m m --request-cancellation-rate 5 --request-cancellation-delay inf").unwrap();
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
        assert!(
            clap_err("-m m --arrival-pattern burst").contains("allowed: constant, poisson, gamma")
        );
    }
}
