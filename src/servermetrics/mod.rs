//! Server metrics: every `--url` server's Prometheus `/metrics` (and any
//! `--server-metrics` endpoint) scraped during the run on a thread of its
//! own (`scrape`), parsed (`prom`), streamed to disk as AIPerf's slim JSONL
//! (`store`), and at the end turned into `server_metrics_export.json`/`.csv`
//! with statistics over exactly the profiling window (`window`, `export`),
//! plus a console table of the key vLLM / SGLang / TRT-LLM metrics.

pub mod export;
pub mod prom;
pub mod scrape;
pub mod store;
pub mod window;

use crate::config::{ProfileConfig, ServerMetricsFormat};
use crate::sys::clock::ClockAnchor;
use serde_json::Value;
use std::path::{Path, PathBuf};

pub use scrape::{ScrapeReport, Scraper};

/// The export files' base name (AIPerf's; a `--profile-export-prefix` P gives `P_server_metrics`).
pub fn base_name(cfg: &ProfileConfig) -> String {
    match &cfg.export_prefix {
        Some(p) => format!("{p}_server_metrics"),
        None => "server_metrics_export".into(),
    }
}

/// Starts scraping when server metrics are on (None when off: no request
/// is ever sent to `/metrics`).
pub fn start(cfg: &ProfileConfig, anchor: ClockAnchor) -> std::io::Result<Option<Scraper>> {
    let sm = &cfg.fleet.server_metrics;
    if !sm.enabled || sm.endpoints.is_empty() {
        return Ok(None);
    }
    let path = cfg.artifact_dir.join(format!("{}.jsonl", base_name(cfg)));
    Scraper::start(&sm.endpoints, sm.interval, path, anchor).map(Some)
}

/// What the export produced.
#[derive(Debug, Default)]
pub struct Exported {
    pub files: Vec<PathBuf>,
    /// One line per endpoint that never answered, and per failed write.
    pub warnings: Vec<String>,
    /// The console table (empty when no key metric was scraped).
    pub console: String,
}

/// Families shown on the console when present, with the stat shown.
const KEY_METRICS: &[(&str, &str)] = &[
    ("vllm:num_requests_running", "avg"),
    ("vllm:num_requests_waiting", "avg"),
    ("vllm:kv_cache_usage_perc", "avg"),
    ("vllm:gpu_cache_usage_perc", "avg"),
    ("vllm:num_preemptions", "total"),
    ("vllm:prompt_tokens", "total"),
    ("vllm:generation_tokens", "total"),
    ("vllm:request_success", "total"),
    ("vllm:time_to_first_token_seconds", "p50_estimate"),
    ("vllm:e2e_request_latency_seconds", "p50_estimate"),
    ("sglang:num_running_reqs", "avg"),
    ("sglang:num_queue_reqs", "avg"),
    ("sglang:token_usage", "avg"),
    ("sglang:cache_hit_rate", "avg"),
    ("sglang:prompt_tokens", "total"),
    ("sglang:generation_tokens", "total"),
    ("sglang:time_to_first_token_seconds", "p50_estimate"),
    ("trtllm:num_requests_running", "avg"),
    ("trtllm:num_requests_waiting", "avg"),
    ("trtllm:kv_cache_utilization", "avg"),
    ("trtllm:request_success", "total"),
    ("trtllm:time_to_first_token_seconds", "p50_estimate"),
];

fn console_table(metrics: &serde_json::Map<String, Value>) -> String {
    let mut rows: Vec<[String; 4]> = Vec::new();
    for (name, stat) in KEY_METRICS {
        let Some(fam) = metrics.get(*name) else {
            continue;
        };
        for s in fam["series"].as_array().into_iter().flatten() {
            let v = &s["stats"][*stat];
            let Some(v) = v.as_f64() else { continue };
            let labels = s["labels"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter(|(k, _)| k.as_str() != "model_name" && k.as_str() != "engine")
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            let metric = if labels.is_empty() {
                name.to_string()
            } else {
                format!("{name}{{{labels}}}")
            };
            let endpoint = s["endpoint_url"].as_str().unwrap_or("").to_string();
            rows.push([endpoint, metric, stat.to_string(), format!("{v:.4}")]);
        }
    }
    if rows.is_empty() {
        return String::new();
    }
    let head = ["Endpoint", "Metric", "Stat", "Value"].map(String::from);
    let widths: Vec<usize> = (0..4)
        .map(|i| {
            rows.iter()
                .chain([&head])
                .map(|r| r[i].len())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |r: &[String; 4]| {
        format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {:>w3$}\n",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3]
        )
    };
    let mut out = String::from("\nServer Metrics (profiling window)\n");
    out.push_str(&line(&head));
    for r in &rows {
        out.push_str(&line(r));
    }
    out
}

/// Takes the last scrape, then writes the exports asked for. `window` is
/// the profiling window in wall-clock ns; the scrape JSONL is kept only
/// when `jsonl` is among the formats.
pub fn finish(
    cfg: &ProfileConfig,
    scraper: Scraper,
    window: export::Window,
    benchmark_id: &str,
) -> Exported {
    let mut out = Exported::default();
    let Some(report) = scraper.finish() else {
        out.warnings
            .push("server metrics: the scraper thread panicked; no export".into());
        return out;
    };
    for e in &report.endpoints {
        if e.fetches == 0 {
            out.warnings.push(format!(
                "server metrics: {} never answered ({}); the run went on without its metrics",
                e.url,
                e.first_error.as_deref().unwrap_or("no response")
            ));
        }
    }
    if let Some(e) = &report.write_error {
        out.warnings.push(format!(
            "server metrics: writing {} failed: {e}; the export holds the scrapes before it",
            report.path.display()
        ));
    }
    let formats = &cfg.fleet.server_metrics.formats;
    let collected = export::Collected::load(&report.path);
    let metrics = export::metrics_json(&collected, &report, &window);
    out.console = console_table(&metrics);
    let base = base_name(cfg);
    let dir: &Path = &cfg.artifact_dir;
    if formats.contains(&ServerMetricsFormat::Json) {
        let path = dir.join(format!("{base}.json"));
        let doc = export::document(
            metrics.clone(),
            export::summary_json(&report, &window),
            benchmark_id,
            &cfg.input_config_json,
        );
        match export::write_json(&path, &doc) {
            Ok(()) => out.files.push(path),
            Err(e) => out.warnings.push(format!(
                "server metrics: cannot write {}: {e}",
                path.display()
            )),
        }
    }
    if formats.contains(&ServerMetricsFormat::Csv) {
        let path = dir.join(format!("{base}.csv"));
        match export::write_csv(&path, &metrics, benchmark_id) {
            Ok(()) => out.files.push(path),
            Err(e) => out.warnings.push(format!(
                "server metrics: cannot write {}: {e}",
                path.display()
            )),
        }
    }
    if formats.contains(&ServerMetricsFormat::Jsonl) {
        out.files.push(report.path.clone());
    } else {
        let _ = std::fs::remove_file(&report.path);
    }
    out
}
