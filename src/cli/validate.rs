//! Checking the parsed flags once and building the run's [`ProfileConfig`].
//!
//! [`ProfileArgs::into_config`] reads top to bottom as the steps it takes;
//! each step checks one concern and returns the typed values for it. The
//! steps run in a fixed order, so when a command line has several mistakes
//! the first one reported is always the same. Every error names the flag
//! and what is allowed.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

use super::input_config::input_config;
use super::parse::{
    normalize_choice, parse_pairs, parse_target, python_float, split_list, stdout_is_tty,
};
use super::{defaults, ProfileArgs};
use crate::config::{
    ArrivalPattern, AudioConfig, AudioFormat, CustomDatasetType, EndpointType, ExportLevel,
    FlagError, ProfileConfig, PromptConfig, PublicDataset, PublicDatasetChoice, Scheme, Target,
    TlsOptions, UiType,
};

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

/// Bit depths the synthetic audio generator can write.
const ALLOWED_DEPTHS: [u16; 4] = [8, 16, 24, 32];
/// Sample rates (Hz) an MP3 encoder accepts (MPEG-1, -2 and -2.5 layer III).
const MP3_RATES_HZ: [u32; 9] = [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000];
/// Every `--endpoint-type` AIPerf knows; audioperf serves `chat` and
/// `audio-transcription` (compared after `normalize_choice`).
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

impl ProfileArgs {
    /// Validates every value once and builds the run configuration.
    /// `cli_command` is the command line as typed (for the console and exports).
    pub fn into_config(self, cli_command: String) -> Result<ProfileConfig, FlagError> {
        let a = self;
        let model_names = model_names(&a)?;
        let endpoint_type = endpoint_type(&a)?;
        let endpoint_path = endpoint_path(&a, endpoint_type)?;
        let urls = urls(&a)?;
        let target = parse_target(&urls[0])?;
        let tls = tls_options(&a, &target)?;
        let fleet = super::fleet::fleet(&a, &urls)?;
        let request_timeout = secs(
            "--request-timeout-seconds",
            a.request_timeout_seconds
                .unwrap_or(defaults::REQUEST_TIMEOUT_S),
        )?;
        let headers = headers(&a)?;
        let extra_inputs = extra_inputs(&a)?;
        let custom_dataset_type = input_file(&a)?;
        let public_dataset = public_dataset(&a)?;
        check_load_flag_pairs(&a)?;
        check_schedule_size(&a)?;
        check_token_limits(&a)?;
        super::io_flags::check(&a)?;
        let run = run_length(&a)?;
        let prompt = prompt_config(&a)?;
        let audio = audio_config(&a)?;
        let ui_type = ui_type(&a);
        let artifact_dir = artifact_dir(&a, &model_names);
        let request_cancellation_delay = secs(
            "--request-cancellation-delay",
            a.request_cancellation_delay.unwrap_or(0.0),
        )?;
        let goodput = match &a.goodput {
            Some(text) => {
                crate::metrics::goodput::parse(text).map_err(|m| FlagError::new("--goodput", m))?
            }
            None => Vec::new(),
        };
        let slice_duration = a
            .slice_duration
            .map(|s| secs("--slice-duration", s))
            .transpose()?;
        let (shard, start_at_wall_ns) = super::shard::shard_flags(&a, run.request_count)?;
        let input_config_json = input_config(
            &a,
            &model_names,
            &urls,
            &artifact_dir,
            ui_type,
            custom_dataset_type,
        );

        Ok(ProfileConfig {
            model: model_names[0].clone(),
            model_names,
            target,
            fleet,
            endpoint_type,
            endpoint_path,
            streaming: a.streaming,
            request_count: run.request_count,
            warmup_request_count: a.warmup_request_count.unwrap_or(0),
            concurrency: a.concurrency.unwrap_or(defaults::CONCURRENCY),
            concurrency_set: a.concurrency.is_some(),
            request_rate: a.request_rate,
            arrival_pattern: a.arrival_pattern.unwrap_or(ArrivalPattern::Poisson),
            arrival_smoothness: a.arrival_smoothness,
            benchmark_duration: run.benchmark_duration,
            benchmark_grace_period: run.benchmark_grace_period,
            request_timeout,
            request_cancellation_rate: a.request_cancellation_rate.unwrap_or(0.0),
            request_cancellation_delay,
            latency_from_schedule: a.latency_from_schedule,
            show_trace_timing: a.show_trace_timing,
            goodput,
            slice_duration,
            audio,
            prompt,
            random_seed: a.random_seed,
            num_dataset_entries: run.num_dataset_entries,
            num_dataset_entries_flag: if a.num_dataset_entries.is_some() {
                Some("--num-dataset-entries")
            } else if a.conversation_num.is_some() {
                Some("--conversation-num")
            } else {
                None
            },
            dataset_memory_mb: a
                .dataset_memory_mb
                .unwrap_or(crate::dataset::pool::DEFAULT_MEMORY_MB),
            artifact_dir,
            export_prefix: export_prefix(&a)?,
            export_level: a.export_level.unwrap_or(ExportLevel::Records),
            export_raw_audio: a.export_raw_audio,
            failed_request_threshold: a.failed_request_threshold,
            api_key: a.api_key,
            tls,
            headers,
            extra_inputs,
            input_file: a.input_file,
            public_dataset,
            custom_dataset_type,
            tokenizer: a.tokenizer,
            tokenizer_revision: a.tokenizer_revision,
            use_server_token_count: a.use_server_token_count,
            ui_type,
            workers_max: a.workers_max,
            cpus: a.cpus.clone().map(|c| c.0),
            zero_copy: a.zero_copy.unwrap_or_default(),
            rx_stamps: a.rx_stamps.unwrap_or_default(),
            read_batch_us: a
                .read_batch_us
                .unwrap_or(crate::config::DEFAULT_READ_BATCH_US),
            cli_command,
            input_config_json,
            shard,
            start_at_wall_ns,
        })
    }
}

/// `--model-names`: every name from every occurrence; at least one.
fn model_names(a: &ProfileArgs) -> Result<Vec<String>, FlagError> {
    let names: Vec<String> = split_list(&a.model_names)
        .into_iter()
        .filter(|m| !m.is_empty())
        .collect();
    if names.is_empty() {
        return Err(FlagError::new(
            "--model-names",
            "at least one model name is required (e.g. --model Qwen/Qwen2-Audio-7B-Instruct)",
        ));
    }
    Ok(names)
}

/// `--endpoint-type`: `chat` (the default) or `audio_transcription`.
fn endpoint_type(a: &ProfileArgs) -> Result<EndpointType, FlagError> {
    let Some(t) = &a.endpoint_type else {
        return Ok(EndpointType::Chat);
    };
    match normalize_choice(t).as_str() {
        "chat" => Ok(EndpointType::Chat),
        "audio-transcription" => Ok(EndpointType::AudioTranscription),
        n => {
            let what = if AIPERF_ENDPOINT_TYPES.contains(&n) {
                "is not supported by audioperf"
            } else {
                "is not an endpoint type"
            };
            Err(FlagError::new(
                "--endpoint-type",
                format!("'{t}' {what}; allowed: chat, audio_transcription"),
            ))
        }
    }
}

/// `--custom-endpoint`, else the endpoint type's path.
fn endpoint_path(a: &ProfileArgs, endpoint_type: EndpointType) -> Result<String, FlagError> {
    match &a.custom_endpoint {
        Some(p) if !p.starts_with('/') => Err(FlagError::new(
            "--custom-endpoint",
            format!(
                "'{p}' must start with '/' (e.g. {})",
                endpoint_type.default_path()
            ),
        )),
        Some(p) => Ok(p.clone()),
        None => Ok(endpoint_type.default_path().to_string()),
    }
}

/// `--public-dataset` (one of AIPerf's ASR datasets) and `--hf-subset`.
fn public_dataset(a: &ProfileArgs) -> Result<Option<PublicDatasetChoice>, FlagError> {
    let Some(name) = &a.public_dataset else {
        if a.hf_subset.is_some() {
            return Err(FlagError::new(
                "--hf-subset",
                "applies only with --public-dataset",
            ));
        }
        return Ok(None);
    };
    let allowed = PublicDataset::ALL.map(PublicDataset::name).join(", ");
    let dataset = PublicDataset::from_name(&name.trim().to_ascii_lowercase()).ok_or_else(|| {
        FlagError::new(
            "--public-dataset",
            format!("'{name}' is not a dataset audioperf can read; allowed: {allowed}"),
        )
    })?;
    for (flag, set) in [
        ("--input-file", a.input_file.is_some()),
        ("--custom-dataset-type", a.custom_dataset_type.is_some()),
    ] {
        if set {
            return Err(FlagError::new(
                flag,
                "cannot be combined with --public-dataset (one dataset per run)",
            ));
        }
    }
    let subset = match &a.hf_subset {
        Some(s) if s.trim().is_empty() || s.contains(['/', '\\']) || s.contains("..") => {
            return Err(FlagError::new(
                "--hf-subset",
                format!("'{s}' is not a subset name"),
            ))
        }
        Some(s) => s.trim().to_string(),
        None => dataset.subset().to_string(),
    };
    Ok(Some(PublicDatasetChoice { dataset, subset }))
}

/// `--url` as given (AIPerf's default when absent): every value of every
/// occurrence, comma-separated lists split, empty items dropped.
fn urls(a: &ProfileArgs) -> Result<Vec<String>, FlagError> {
    let urls: Vec<String> = if a.url.is_empty() {
        vec![defaults::URL.to_string()]
    } else {
        split_list(&a.url)
            .into_iter()
            .filter(|u| !u.is_empty())
            .collect()
    };
    if urls.is_empty() {
        return Err(FlagError::new("--url", "no URL given"));
    }
    Ok(urls)
}

/// The TLS flags, checked now (CA file readable, certificates in it, server
/// name valid) so a bad value is a configuration error naming its flag, not
/// a failure of every connection. For http:// the TLS flags are unused, but
/// a given one is still checked.
fn tls_options(a: &ProfileArgs, target: &Target) -> Result<TlsOptions, FlagError> {
    let tls = super::fleet::tls_of(a);
    if target.scheme == Scheme::Https || tls != TlsOptions::default() {
        crate::tls::client_config(&tls).and_then(|_| crate::tls::server_name(target, &tls))?;
    }
    Ok(tls)
}

/// `--header`: name/value pairs in order; values are text even when they
/// look like numbers.
fn headers(a: &ProfileArgs) -> Result<Vec<(String, String)>, FlagError> {
    let headers: Vec<(String, String)> = parse_pairs("--header", &a.header)?
        .into_iter()
        .map(|(k, v)| {
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
            return Err(FlagError::new(
                "--header",
                format!("'{k}:{v}' is not a valid HTTP header"),
            ));
        }
    }
    Ok(headers)
}

/// `--extra-inputs`: merged into every request body; a later key replaces
/// an earlier one in its place.
fn extra_inputs(a: &ProfileArgs) -> Result<Map<String, Value>, FlagError> {
    let mut extra = Map::new();
    for (k, v) in parse_pairs("--extra-inputs", &a.extra_inputs)? {
        extra.insert(k, v);
    }
    Ok(extra)
}

/// `--input-file` and `--custom-dataset-type`: the file exists, its type is
/// one audioperf reads, and no synthetic-only option is given with it.
fn input_file(a: &ProfileArgs) -> Result<Option<CustomDatasetType>, FlagError> {
    if let Some(p) = &a.input_file {
        if p.is_dir() {
            return Err(FlagError::new(
                "--input-file",
                format!(
                    "'{}' is a directory; audioperf reads one JSONL file (single_turn)",
                    p.display()
                ),
            ));
        }
        if !p.is_file() {
            return Err(FlagError::new(
                "--input-file",
                format!("'{}' is not an existing file", p.display()),
            ));
        }
    }
    let dataset_type = a
        .custom_dataset_type
        .as_deref()
        .map(|t| custom_dataset_type(a, t))
        .transpose()?;
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
                return Err(FlagError::new(
                    flag,
                    "only applies to synthetic datasets; remove it or --input-file",
                ));
            }
        }
    }
    Ok(dataset_type)
}

/// One `--custom-dataset-type` value: needs `--input-file`, and must be
/// `single_turn` (AIPerf's other types are refused as unsupported).
fn custom_dataset_type(a: &ProfileArgs, t: &str) -> Result<CustomDatasetType, FlagError> {
    const FLAG: &str = "--custom-dataset-type";
    let n = normalize_choice(t).replace('-', "_");
    if a.input_file.is_none() {
        return Err(FlagError::new(FLAG, "requires --input-file"));
    }
    match CustomDatasetType::from_name(&n) {
        Some(CustomDatasetType::SingleTurn) => Ok(CustomDatasetType::SingleTurn),
        Some(_) => Err(FlagError::new(
            FLAG,
            format!("'{t}' is not supported by audioperf; allowed: single_turn"),
        )),
        None => Err(FlagError::new(
            FLAG,
            format!("'{t}' is not a dataset type; allowed: single_turn"),
        )),
    }
}

/// Load flags that only mean something next to another flag.
fn check_load_flag_pairs(a: &ProfileArgs) -> Result<(), FlagError> {
    if a.benchmark_grace_period.is_some() && a.benchmark_duration.is_none() {
        return Err(FlagError::new(
            "--benchmark-grace-period",
            "requires --benchmark-duration",
        ));
    }
    if a.request_cancellation_delay.is_some() && a.request_cancellation_rate.is_none() {
        return Err(FlagError::new(
            "--request-cancellation-delay",
            "requires --request-cancellation-rate",
        ));
    }
    if a.arrival_smoothness.is_some()
        && a.arrival_pattern.unwrap_or(ArrivalPattern::Poisson) != ArrivalPattern::Gamma
    {
        return Err(FlagError::new(
            "--arrival-smoothness",
            "only applies with --arrival-pattern gamma",
        ));
    }
    Ok(())
}

/// `--request-rate` within bounds, and the arrival schedule (computed up
/// front) of a bounded size.
fn check_schedule_size(a: &ProfileArgs) -> Result<(), FlagError> {
    let Some(rate) = a.request_rate else {
        return Ok(());
    };
    // Below this an arrival gap overflows the schedule's clock; above it no
    // HTTP/1.1 client keeps up. Both are typos, not benchmarks.
    if !(MIN_REQUEST_RATE..=MAX_REQUEST_RATE).contains(&rate) {
        return Err(FlagError::new(
            "--request-rate",
            format!(
                "{rate:e} is out of range: requests per second must be between {MIN_REQUEST_RATE:e} and {MAX_REQUEST_RATE:e}"
            ),
        ));
    }
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
        return Err(FlagError::new(
            flag,
            format!(
                "{arrivals:.0} arrivals at --request-rate {rate}; at most {MAX_SCHEDULED_ARRIVALS:.0} are scheduled per run (split the run)"
            ),
        ));
    }
    if a.warmup_request_count
        .is_some_and(|n| n as f64 > MAX_SCHEDULED_ARRIVALS)
    {
        return Err(FlagError::new(
            "--warmup-request-count",
            format!("at most {MAX_SCHEDULED_ARRIVALS:.0} with --request-rate"),
        ));
    }
    Ok(())
}

/// Token counts small enough to build every prompt up front.
fn check_token_limits(a: &ProfileArgs) -> Result<(), FlagError> {
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
            return Err(FlagError::new(
                flag,
                format!("at most {MAX_TOKENS:.0} tokens (every prompt is built up front)"),
            ));
        }
    }
    Ok(())
}

/// What bounds the run, and how many distinct entries it draws from.
struct RunLength {
    request_count: u64,
    benchmark_duration: Option<Duration>,
    benchmark_grace_period: Duration,
    num_dataset_entries: u32,
}

fn run_length(a: &ProfileArgs) -> Result<RunLength, FlagError> {
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
    Ok(RunLength {
        request_count,
        benchmark_duration,
        benchmark_grace_period,
        num_dataset_entries,
    })
}

/// The synthetic text prompt and the output length.
fn prompt_config(a: &ProfileArgs) -> Result<PromptConfig, FlagError> {
    // AIPerf: an output-length spread needs a mean ("osl.mean Field required").
    if a.output_tokens_stddev.is_some() && a.output_tokens_mean.is_none() {
        return Err(FlagError::new(
            "--output-tokens-stddev",
            "requires --output-tokens-mean",
        ));
    }
    Ok(PromptConfig {
        input_tokens_mean: a.input_tokens_mean.unwrap_or(defaults::ISL_MEAN),
        input_tokens_stddev: a.input_tokens_stddev.unwrap_or(0.0),
        output_tokens_mean: a.output_tokens_mean,
        output_tokens_stddev: a.output_tokens_stddev.unwrap_or(0.0),
        use_legacy_max_tokens: a.use_legacy_max_tokens,
        text_batch_size: a.prompt_batch_size.unwrap_or(1),
    })
}

/// The synthetic audio clips.
fn audio_config(a: &ProfileArgs) -> Result<AudioConfig, FlagError> {
    if a.audio_length_stddev.is_some() && a.audio_length_mean.is_none() {
        return Err(FlagError::new(
            "--audio-length-stddev",
            "requires --audio-length-mean",
        ));
    }
    let format = audio_format(a)?;
    let depths_bits = audio_depths(a)?;
    let sample_rates_hz = audio_sample_rates_hz(a, format)?;
    Ok(AudioConfig {
        length_mean_s: a.audio_length_mean.unwrap_or(0.0),
        length_stddev_s: a.audio_length_stddev.unwrap_or(0.0),
        format,
        sample_rates_hz,
        depths_bits,
        channels: a.audio_num_channels.unwrap_or(1),
        batch_size: a.audio_batch_size.unwrap_or(1),
    })
}

fn audio_format(a: &ProfileArgs) -> Result<AudioFormat, FlagError> {
    match a.audio_format.as_deref().map(normalize_choice).as_deref() {
        None | Some("wav") => Ok(AudioFormat::Wav),
        Some("mp3") => Ok(AudioFormat::Mp3),
        Some(_) => Err(FlagError::new(
            "--audio-format",
            format!(
                "'{}' is not supported; allowed: wav, mp3",
                a.audio_format.as_deref().unwrap_or_default()
            ),
        )),
    }
}

fn audio_depths(a: &ProfileArgs) -> Result<Vec<u16>, FlagError> {
    if a.audio_depths.is_empty() {
        return Ok(vec![defaults::AUDIO_DEPTH]);
    }
    split_list(&a.audio_depths)
        .iter()
        .map(|d| match d.parse::<u16>() {
            Ok(b) if ALLOWED_DEPTHS.contains(&b) => Ok(b),
            Ok(_) => Err(FlagError::new(
                "--audio-depths",
                format!("{d} is not supported; allowed: 8, 16, 24, 32"),
            )),
            Err(_) => Err(FlagError::new(
                "--audio-depths",
                format!("{d} is not a number; allowed: 8, 16, 24, 32"),
            )),
        })
        .collect()
}

/// `--audio-sample-rates` in kHz (values above 96 read as Hz, like AIPerf),
/// as whole Hz; with mp3, only the rates an MP3 encoder takes.
fn audio_sample_rates_hz(a: &ProfileArgs, format: AudioFormat) -> Result<Vec<u32>, FlagError> {
    const FLAG: &str = "--audio-sample-rates";
    let rates_khz: Vec<f64> = if a.audio_sample_rates.is_empty() {
        vec![defaults::AUDIO_SAMPLE_RATE_KHZ]
    } else {
        split_list(&a.audio_sample_rates)
            .iter()
            .map(|r| match r.parse::<f64>() {
                Ok(v) if v > 0.0 && v.is_finite() => Ok(if v > 96.0 { v / 1000.0 } else { v }),
                Ok(_) => Err(FlagError::new(
                    FLAG,
                    format!("{r} is out of range; allowed: kHz values > 0 (e.g. 16, 44.1, 48)"),
                )),
                Err(_) => Err(FlagError::new(
                    FLAG,
                    format!("{r} is not a number; allowed: kHz values (e.g. 16, 44.1, 48)"),
                )),
            })
            .collect::<Result<_, _>>()?
    };
    let mut rates_hz = Vec::with_capacity(rates_khz.len());
    for khz in &rates_khz {
        let hz = (khz * 1000.0).round();
        if !(1.0..=f64::from(u32::MAX)).contains(&hz) {
            return Err(FlagError::new(FLAG, format!("{khz} kHz is out of range")));
        }
        let hz = hz as u32;
        if format == AudioFormat::Mp3 && !MP3_RATES_HZ.contains(&hz) {
            return Err(FlagError::new(
                FLAG,
                format!(
                    "{} kHz is not supported by mp3; allowed: 8, 11.025, 12, 16, 22.05, 24, 32, 44.1, 48",
                    python_float(*khz).trim_end_matches(".0")
                ),
            ));
        }
        rates_hz.push(hz);
    }
    Ok(rates_hz)
}

/// AIPerf's UI choice: -v/-vv force simple; otherwise the dashboard only on
/// a terminal (asked for off a terminal, it falls back to simple).
fn ui_type(a: &ProfileArgs) -> UiType {
    if a.verbose > 0 || a.extra_verbose {
        return UiType::Simple;
    }
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
}

/// `--output-artifact-dir` as given, else `artifacts/<AIPerf's run name>`.
/// AIPerf's suffixes stripped from `--profile-export-prefix`, longest first
/// (`foo_raw.jsonl` and `foo` both give the base `foo`).
const EXPORT_SUFFIXES: [&str; 14] = [
    "_server_metrics.parquet",
    "_server_metrics.jsonl",
    "_server_metrics.json",
    "_server_metrics.csv",
    "_network_latency.jsonl",
    "_gpu_telemetry.jsonl",
    "_timeslices.csv",
    "_timeslices.json",
    "_console.txt",
    "_raw.jsonl",
    ".parquet",
    ".csv",
    ".json",
    ".jsonl",
];

/// `--profile-export-prefix` as AIPerf resolves it: an absolute path keeps
/// only its file name (exports stay in the artifact directory), then the
/// first known suffix is stripped.
fn export_prefix(a: &ProfileArgs) -> Result<Option<String>, FlagError> {
    let Some(p) = &a.profile_export_prefix else {
        return Ok(None);
    };
    let bad = |why: &str| FlagError {
        flag: "--profile-export-prefix",
        message: format!("'{}' {why}", p.display()),
    };
    let raw = if p.is_absolute() {
        p.file_name()
            .ok_or_else(|| bad("names no file"))?
            .to_str()
            .ok_or_else(|| bad("is not valid UTF-8"))?
    } else {
        p.to_str().ok_or_else(|| bad("is not valid UTF-8"))?
    };
    let base = EXPORT_SUFFIXES
        .iter()
        .find_map(|s| raw.strip_suffix(s))
        .unwrap_or(raw);
    if base.is_empty() || base.ends_with('/') {
        return Err(bad("leaves no file name once its suffix is stripped"));
    }
    Ok(Some(base.to_string()))
}

fn artifact_dir(a: &ProfileArgs, model_names: &[String]) -> PathBuf {
    match &a.output_artifact_dir {
        Some(dir) => dir.clone(),
        None => PathBuf::from(defaults::ARTIFACT_DIR).join(artifact_name(
            model_names,
            a.concurrency,
            a.request_rate,
        )),
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

/// Seconds from a flag as a `Duration`, held at [`MAX_SECONDS`].
fn secs(flag: &'static str, s: f64) -> Result<Duration, FlagError> {
    let d = Duration::try_from_secs_f64(s.min(MAX_SECONDS))
        .map_err(|_| FlagError::new(flag, format!("{s} is not a valid number of seconds")))?;
    if s > 0.0 && d.is_zero() {
        return Err(FlagError::new(
            flag,
            format!("{s} seconds is below the clock's 1 ns resolution"),
        ));
    }
    Ok(d)
}
