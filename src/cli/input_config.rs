//! The configuration as AIPerf exports it: the `input_config` object of
//! `profile_export_aiperf.json`, built from the flags as the user gave them.

use std::path::{Component, Path, PathBuf};

use serde_json::{json, Map, Value};

use super::defaults;
use super::parse::{
    normalize_choice, normalize_url, parse_pairs, split_list, stdout_is_tty, LogLevel,
};
use super::ProfileArgs;
use crate::config::{ArrivalPattern, CustomDatasetType, TlsRoots, UiType};

/// The configuration as AIPerf 0.13 exports it under `input_config` in
/// `profile_export_aiperf.json`: its `BenchmarkConfig` dumped with
/// `exclude_unset`, so only what the user set (plus the few values AIPerf
/// derives) appears. Keys are inserted in the order AIPerf's models declare
/// their fields, and serde_json keeps insertion order (its `preserve_order`
/// feature), so the export lists them as AIPerf does.
pub(super) fn input_config(
    a: &ProfileArgs,
    model_names: &[String],
    urls: &[String],
    artifact_dir: &Path,
    ui: UiType,
    dataset_type: Option<CustomDatasetType>,
) -> Value {
    let mut root = Map::new();
    let items: Vec<Value> = model_names.iter().map(|m| json!({ "name": m })).collect();
    root.insert("models".into(), json!({ "items": items }));
    root.insert("endpoint".into(), endpoint(a, urls));
    root.insert("datasets".into(), json!([dataset(a, dataset_type)]));
    root.insert("phases".into(), phases(a));
    let mut artifacts = Map::new();
    artifacts.insert(
        "dir".into(),
        json!(absolute(artifact_dir).to_string_lossy()),
    );
    if a.show_trace_timing {
        artifacts.insert("show_trace_timing".into(), json!(true));
    }
    artifacts.insert("auto_plot".into(), json!(false));
    artifacts.insert("plot_required".into(), json!(false));
    root.insert("artifacts".into(), Value::Object(artifacts));
    root.insert("tokenizer".into(), tokenizer(a));
    root.insert(
        "gpu_telemetry".into(),
        json!({ "enabled": !a.no_gpu_telemetry }),
    );
    root.insert(
        "server_metrics".into(),
        if a.no_server_metrics {
            json!({ "enabled": false })
        } else {
            super::fleet::input_config_json(a)
        },
    );
    root.insert("network_latency".into(), json!({ "enabled": false }));
    root.insert("otel".into(), json!({}));
    root.insert("mlflow".into(), json!({}));
    root.insert("wandb".into(), json!({}));
    root.insert("runtime".into(), runtime(a, ui));
    if let Some(level) = log_level(a) {
        root.insert("logging".into(), json!({ "level": level.as_str() }));
    }
    // audioperf-only options, kept apart from AIPerf's keys and written only
    // when set, so a plain run's export matches AIPerf's shape.
    if let Some(tls) = audioperf_tls(a) {
        root.insert("audioperf".into(), json!({ "tls": tls }));
    }
    Value::Object(root)
}

/// `endpoint`: URLs as AIPerf normalises them, then what the user set.
fn endpoint(a: &ProfileArgs, urls: &[String]) -> Value {
    let mut ep = Map::new();
    let urls: Vec<Value> = urls.iter().map(|u| Value::from(normalize_url(u))).collect();
    ep.insert("urls".into(), Value::Array(urls));
    if let Some(t) = &a.endpoint_type {
        let name = match normalize_choice(t).as_str() {
            "audio-transcription" => "audio_transcription",
            _ => "chat",
        };
        ep.insert("type".into(), json!(name));
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
    Value::Object(ep)
}

/// The one dataset, `main`: a file, or synthetic prompts and audio.
fn dataset(a: &ProfileArgs, dataset_type: Option<CustomDatasetType>) -> Value {
    let mut ds = Map::new();
    ds.insert("name".into(), json!("main"));
    let entries = a
        .num_dataset_entries
        .map(u64::from)
        .or(a.conversation_num.map(u64::from))
        .or(a.request_count);
    if let Some(name) = &a.public_dataset {
        ds.insert("type".into(), json!("public"));
        ds.insert("dataset".into(), json!(name.trim().to_ascii_lowercase()));
        if let Some(s) = &a.hf_subset {
            ds.insert("hf_subset".into(), json!(s));
        }
        if let Some(e) = entries {
            ds.insert("entries".into(), json!(e));
        }
        return Value::Object(ds);
    }
    if let Some(path) = &a.input_file {
        ds.insert("type".into(), json!("file"));
        ds.insert("path".into(), json!(path.to_string_lossy()));
        if let Some(t) = dataset_type {
            ds.insert("format".into(), json!(t.as_str()));
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
        ds.insert("prompts".into(), synthetic_prompts(a));
        if let Some(audio) = synthetic_audio(a) {
            ds.insert("audio".into(), audio);
        }
    }
    Value::Object(ds)
}

fn synthetic_prompts(a: &ProfileArgs) -> Value {
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
    Value::Object(prompts)
}

/// The `audio` table, when any audio flag was set.
fn synthetic_audio(a: &ProfileArgs) -> Option<Value> {
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
    if a.audio_batch_size.is_none() && audio.is_empty() {
        return None;
    }
    // AIPerf's audio model always materialises batch_size once the table exists.
    let mut with_batch = Map::new();
    with_batch.insert("batch_size".into(), json!(a.audio_batch_size.unwrap_or(1)));
    with_batch.extend(audio);
    Some(Value::Object(with_batch))
}

/// The warmup phase (when asked for) and the profiling phase.
fn phases(a: &ProfileArgs) -> Value {
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
    Value::Array(phases)
}

fn tokenizer(a: &ProfileArgs) -> Value {
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
    Value::Object(tok)
}

fn runtime(a: &ProfileArgs, ui: UiType) -> Value {
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
    Value::Object(runtime)
}

/// AIPerf's level: -vv is TRACE, -v DEBUG, else `--log-level` when given.
fn log_level(a: &ProfileArgs) -> Option<LogLevel> {
    if a.extra_verbose || a.verbose >= 2 {
        Some(LogLevel::Trace)
    } else if a.verbose == 1 {
        Some(LogLevel::Debug)
    } else {
        a.log_level
    }
}

/// The TLS flags the user set (audioperf extensions), if any.
fn audioperf_tls(a: &ProfileArgs) -> Option<Map<String, Value>> {
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
    (!tls.is_empty()).then_some(tls)
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

fn num(v: f64) -> Value {
    // JSON has no Infinity; AIPerf's exporter writes non-finite values as null.
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}
