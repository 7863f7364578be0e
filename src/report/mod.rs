//! Report stage: the console table, the export files and the run log, laid
//! out like AIPerf 0.13.0's so its users read them the same way.
//!
//! Owns formatting and writing only: every number comes from
//! `metrics::MetricsSummary` (computed once), every name and unit from
//! `metrics::METRICS`. Writing never stops at the first failure: each file is
//! attempted and its error recorded, so measurements are never lost to one
//! unwritable path.
//!
//! `write_all` here drives the exports; each file's layout lives in its own
//! module (`csv`, `json`, `jsonl`, `inputs`, `console`), the run log in
//! `log` and the client's self-check in `selfcheck`.

pub mod console;
pub mod csv;
pub mod inputs;
pub mod json;
pub mod jsonl;
pub mod log;
mod ordered;
pub mod per_server;
pub mod raw;
pub mod selfcheck;
pub mod shard_file;
pub mod timeslices;

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::config::{ExportLevel, ProfileConfig};
use crate::dataset::Dataset;
use crate::metrics::{MetricsSummary, RecordMetrics};
use crate::record::RunOutput;

pub use self::log::{format_log_line, LocalTime, RunLog, LOG_DIR, LOG_FILE};

/// AIPerf's file names inside the artifact directory.
pub const CSV_FILE: &str = "profile_export_aiperf.csv";
pub const JSON_FILE: &str = "profile_export_aiperf.json";
pub const JSONL_FILE: &str = "profile_export.jsonl";
pub const INPUTS_FILE: &str = "inputs.json";
pub const CONSOLE_FILE: &str = "profile_export_console.txt";
pub const RAW_JSONL_FILE: &str = "profile_export_raw.jsonl";

/// Where each export goes: AIPerf's names, or `PREFIX.csv` etc. with
/// `--profile-export-prefix` (the base, suffix already stripped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportFiles {
    pub csv: PathBuf,
    pub json: PathBuf,
    pub jsonl: PathBuf,
    pub raw_jsonl: PathBuf,
    pub timeslices_csv: PathBuf,
    pub timeslices_json: PathBuf,
    pub console: PathBuf,
    pub inputs: PathBuf,
}

impl ExportFiles {
    pub fn new(dir: &Path, prefix: Option<&str>) -> ExportFiles {
        let named = |with_prefix: &str, default: &str| match prefix {
            Some(base) => dir.join(format!("{base}{with_prefix}")),
            None => dir.join(default),
        };
        ExportFiles {
            csv: named(".csv", CSV_FILE),
            json: named(".json", JSON_FILE),
            jsonl: named(".jsonl", JSONL_FILE),
            raw_jsonl: named("_raw.jsonl", RAW_JSONL_FILE),
            timeslices_csv: named("_timeslices.csv", timeslices::CSV_FILE),
            timeslices_json: named("_timeslices.json", timeslices::JSON_FILE),
            console: named("_console.txt", CONSOLE_FILE),
            inputs: dir.join(INPUTS_FILE),
        }
    }

    pub fn for_config(cfg: &ProfileConfig) -> ExportFiles {
        ExportFiles::new(&cfg.artifact_dir, cfg.export_prefix.as_deref())
    }
}

/// Which export a path is (the console prints "CSV Export: ..." etc.).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportKind {
    Csv,
    Json,
    Jsonl,
    /// `profile_export_raw.jsonl` (`--export-level raw`).
    Raw,
    Inputs,
    Console,
    TimeslicesJson,
    TimeslicesCsv,
}

impl ExportKind {
    /// AIPerf's label in the console footer, for the files it lists there.
    pub fn label(self) -> Option<&'static str> {
        match self {
            ExportKind::Csv => Some("CSV Export"),
            ExportKind::Json => Some("JSON Export"),
            ExportKind::Raw => Some("Raw Records"),
            _ => None,
        }
    }
}

/// A file that could not be written, and why.
#[derive(Debug)]
pub struct ExportError {
    pub kind: ExportKind,
    pub path: PathBuf,
    pub error: io::Error,
}

impl std::fmt::Display for ExportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "could not write {}: {}", self.path.display(), self.error)
    }
}

/// What `write_all` did: files written (in order) and files that failed.
#[derive(Debug, Default)]
pub struct ExportReport {
    pub written: Vec<(ExportKind, PathBuf)>,
    pub errors: Vec<ExportError>,
}

impl ExportReport {
    pub fn path_of(&self, kind: ExportKind) -> Option<&Path> {
        self.written
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, p)| p.as_path())
    }
}

/// Where `profile_export.jsonl` comes from.
#[derive(Debug)]
pub enum Jsonl<'a> {
    /// Written line by line while the run went (`collect`): its outcome.
    Streamed(io::Result<()>),
    /// Written by `write_all` from records held in memory (a run built by hand).
    Records(&'a [RecordMetrics]),
}

/// Writes every export into `dir` (created if needed): CSV, JSON, JSONL
/// (unless it was streamed), inputs.json and the console text. Each file is
/// attempted even when an earlier one failed; failures are collected in the
/// report.
pub fn write_all(
    dir: &Path,
    cfg: &ProfileConfig,
    dataset: &Dataset,
    run: &RunOutput,
    summary: &MetricsSummary,
    jsonl: Jsonl<'_>,
) -> ExportReport {
    let mut report = ExportReport::default();
    // A failure here shows up again, per file, below; keep going so each
    // file's own error names its path.
    let _ = fs::create_dir_all(dir);

    let files = ExportFiles::new(dir, cfg.export_prefix.as_deref());
    let csv_text = csv::render(summary);
    write_file(&mut report, ExportKind::Csv, files.csv, |w| {
        w.write_all(csv_text.as_bytes())
    });
    write_file(&mut report, ExportKind::Json, files.json, |w| {
        json::write(w, cfg, run, summary)
    });
    if !summary.timeslices.is_empty() {
        write_file(
            &mut report,
            ExportKind::TimeslicesJson,
            files.timeslices_json.clone(),
            |w| timeslices::write_json(w, cfg, run.anchor, &summary.timeslices),
        );
        let text = timeslices::render_csv(run.anchor, &summary.timeslices);
        write_file(
            &mut report,
            ExportKind::TimeslicesCsv,
            files.timeslices_csv.clone(),
            |w| w.write_all(text.as_bytes()),
        );
    }
    match jsonl {
        Jsonl::Records(_) | Jsonl::Streamed(_) if cfg.export_level == ExportLevel::Summary => {}
        Jsonl::Records(records) => write_file(&mut report, ExportKind::Jsonl, files.jsonl, |w| {
            jsonl::write(w, run, records)
        }),
        Jsonl::Streamed(Ok(())) => report.written.push((ExportKind::Jsonl, files.jsonl)),
        Jsonl::Streamed(Err(error)) => report.errors.push(ExportError {
            kind: ExportKind::Jsonl,
            path: files.jsonl,
            error,
        }),
    }
    write_file(&mut report, ExportKind::Inputs, files.inputs, |w| {
        inputs::write(w, dataset)
    });
    // The console text file mirrors the error summary and tables (no
    // footer), as AIPerf's does, plus the saturation warning when there is one.
    let mut tables =
        console::render_errors(summary) + &console::render_tables(summary, cfg.show_trace_timing);
    if let Some(w) = console::usage_discrepancy_warning(summary) {
        tables.push('\n');
        tables.push_str(&w);
        tables.push('\n');
    }
    if let Some(w) = selfcheck::ClientReport::new(run, summary).warning() {
        tables.push('\n');
        tables.push_str(&w);
        tables.push('\n');
    }
    write_file(&mut report, ExportKind::Console, files.console, |w| {
        w.write_all(tables.as_bytes())
    });
    report
}

fn write_file(
    report: &mut ExportReport,
    kind: ExportKind,
    path: PathBuf,
    body: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) {
    // A prefix may name a subdirectory (`--profile-export-prefix runs/a`).
    if let Some(parent) = path.parent() {
        let _ = fs::create_dir_all(parent);
    }
    let result = File::create(&path).and_then(|f| {
        let mut w = BufWriter::with_capacity(1 << 16, f);
        body(&mut w)?;
        w.flush()
    });
    match result {
        Ok(()) => report.written.push((kind, path)),
        Err(error) => report.errors.push(ExportError { kind, path, error }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::*;
    use crate::dataset::{BuildStats, PreparedRequest};
    use crate::metrics::{compute_with_records, tests::sample_run, ComputeOptions};
    use crate::sys::clock::ClockAnchor;

    pub(crate) fn test_config(dir: &Path) -> ProfileConfig {
        // The dataset's shared test config, with what these tests rely on.
        let mut cfg = crate::dataset::test_config();
        cfg.model = "m".into();
        cfg.model_names = vec!["m".into()];
        cfg.request_count = 3;
        cfg.warmup_request_count = 1;
        cfg.concurrency = 1;
        cfg.random_seed = None;
        cfg.num_dataset_entries = 1;
        cfg.artifact_dir = dir.to_path_buf();
        cfg.use_server_token_count = true;
        cfg.cli_command = "audioperf profile --model 'm' --streaming".into();
        cfg.input_config_json = serde_json::json!({"endpoint": {"model_names": ["m"]}});
        cfg
    }

    fn dataset() -> Dataset {
        let head = "POST /v1/chat/completions HTTP/1.1\r\n\r\n";
        Dataset {
            requests: vec![PreparedRequest {
                http: format!("{head}{{\"model\":\"m\",\"stream\":true}}").into_bytes(),
                body_offset: head.len(),
                text: String::new(),
                text_tokens: None,
                audio_seconds: 0.0,
                max_tokens: None,
                ..Default::default()
            }],
            stats: BuildStats::default(),
        }
    }

    fn run_with_anchor() -> RunOutput {
        let mut run = sample_run();
        run.anchor = Some(ClockAnchor {
            mono_ns: 1_000_000_000,
            wall_ns: 1_700_000_000_000_000_000,
        });
        run
    }

    #[test]
    fn write_all_writes_every_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp
            .path()
            .join("artifacts")
            .join("m-openai-chat-concurrency1");
        let cfg = test_config(&dir);
        let run = run_with_anchor();
        let (s, records) = compute_with_records(
            &run,
            &crate::tokens::from_server_usage(&run),
            &ComputeOptions::default(),
        );
        let rep = write_all(&dir, &cfg, &dataset(), &run, &s, Jsonl::Records(&records));
        assert!(rep.errors.is_empty(), "{:?}", rep.errors);
        assert_eq!(rep.written.len(), 5);

        // JSON: AIPerf's key order and metric objects.
        let text = fs::read_to_string(dir.join(JSON_FILE)).unwrap();
        assert!(!text.ends_with('\n'));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let keys: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("  \""))
            .map(|l| l.trim_start()[1..].split('"').next().unwrap())
            .collect();
        assert_eq!(
            &keys[..6],
            [
                "schema_version",
                "aiperf_version",
                "benchmark_id",
                "request_throughput",
                "request_latency",
                "request_count"
            ]
        );
        let pos = |k: &str| keys.iter().position(|x| *x == k).unwrap();
        assert!(pos("total_osl") < pos("error_request_count"));
        assert!(pos("error_request_count") < pos("input_config"));
        assert!(pos("input_config") < pos("run_info"));
        assert!(pos("was_cancelled") < pos("error_summary"));
        assert!(pos("end_time") < pos("time_to_first_output_token"));
        let ttft = &v["time_to_first_token"];
        let tkeys: Vec<&String> = ttft.as_object().unwrap().keys().collect();
        assert_eq!(tkeys.len(), 16);
        assert_eq!(ttft["unit"], "ms");
        assert_eq!(ttft["avg"], 20.0);
        assert_eq!(ttft["count"], 3);
        assert_eq!(
            v["request_count"],
            serde_json::json!({"unit": "requests", "avg": 3.0})
        );
        assert_eq!(v["benchmark_duration"]["unit"], "sec");
        assert_eq!(v["input_config"], cfg.input_config_json);
        assert_eq!(v["run_info"]["cli_command"], cfg.cli_command);
        assert_eq!(v["was_cancelled"], false);
        // audioperf extensions: the accounting invariant and the client report.
        assert_eq!(
            v["request_accounting"],
            serde_json::json!({"sent": 4, "successful": 3, "errors": 1, "cancelled": 0,
                               "warmup": 1, "latency_from_schedule": false})
        );
        assert_eq!(keys[keys.len() - 2..], ["request_accounting", "audioperf"]);
        assert!(v["audioperf"]["client_cpu_sec"].is_number());
        assert!(v["audioperf"]["workers"].is_array());
        assert_eq!(v["warmup_request_count"]["avg"], 1.0);
        assert_eq!(
            v["error_summary"],
            serde_json::json!([{"error_details": {"code": 500, "type": "HTTPError", "message": "Internal Server Error"}, "count": 1}])
        );
        let start = LocalTime::from_wall_ns(1_700_000_000_000_000_000).isoformat();
        assert_eq!(v["start_time"], start);

        // JSONL: the warmup line first (AIPerf's phase name), then one line
        // per profiling request, wall-clock ns.
        let jl = fs::read_to_string(dir.join(JSONL_FILE)).unwrap();
        let mut lines: Vec<serde_json::Value> = jl
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0]["metadata"]["benchmark_phase"], "warmup");
        assert_eq!(lines[0]["metrics"]["output_sequence_length"]["value"], 100);
        lines.remove(0);
        assert_eq!(
            lines[0]["metadata"]["request_start_ns"],
            1_700_000_000_000_000_000u64
        );
        assert_eq!(lines[0]["metadata"]["benchmark_phase"], "profiling");
        assert_eq!(lines[0]["metadata"]["worker_id"], "worker_0");
        assert_eq!(
            lines[0]["metrics"]["time_to_first_token"],
            serde_json::json!({"value": 10.0, "unit": "ms"})
        );
        assert_eq!(
            lines[0]["metrics"]["output_sequence_length"],
            serde_json::json!({"value": 5, "unit": "tokens"})
        );
        assert!(lines[0].get("error").is_none());
        assert_eq!(lines[3]["error"]["type"], "HTTPError");
        assert_eq!(lines[3]["metrics"], serde_json::json!({}));

        // inputs.json and the console text.
        let inputs = fs::read_to_string(dir.join(INPUTS_FILE)).unwrap();
        assert!(inputs.contains("\"payloads\": [\n        {\n          \"model\": \"m\",\n          \"stream\": true\n        }"));
        let console = fs::read_to_string(dir.join(CONSOLE_FILE)).unwrap();
        assert!(console.contains("audioperf | LLM Metrics"));

        // Footer wording and paths.
        let log = RunLog::open(&dir);
        let text = console::render(&cfg, &s, &rep, log.path(), None);
        assert!(text.contains("\nCLI Command: audioperf profile --model 'm' --streaming\nBenchmark Duration: 0.10 sec\nCSV Export: "));
        // The saturation warning: one line between the tables and the footer.
        let warned = console::render(&cfg, &s, &rep, log.path(), Some("WARNING: busy"));
        assert!(
            warned.contains("┘\n\nWARNING: busy\n\nCLI Command: "),
            "{warned}"
        );
        assert!(text.find("Error Summary").unwrap() < text.find("LLM Metrics").unwrap());
        assert!(text.contains(&format!(
            "JSON Export: {}\n",
            fs::canonicalize(dir.join(JSON_FILE)).unwrap().display()
        )));
        assert!(text.ends_with(&format!(
            "Log File: {}\n",
            fs::canonicalize(dir.join("logs/aiperf.log"))
                .unwrap()
                .display()
        )));
    }

    #[test]
    fn write_all_reports_each_failure() {
        let tmp = tempfile::tempdir().unwrap();
        // A directory under a regular file cannot be created (even as root).
        let blocker = tmp.path().join("file");
        fs::write(&blocker, b"x").unwrap();
        let bad = blocker.join("out");
        let cfg = test_config(&bad);
        let run = sample_run();
        let (s, records) = compute_with_records(
            &run,
            &crate::tokens::from_server_usage(&run),
            &ComputeOptions::default(),
        );
        let rep = write_all(&bad, &cfg, &dataset(), &run, &s, Jsonl::Records(&records));
        assert!(rep.written.is_empty());
        assert_eq!(rep.errors.len(), 5);
        assert_eq!(rep.errors[0].path, bad.join(CSV_FILE));
        assert!(rep.errors[0]
            .to_string()
            .starts_with(&format!("could not write {}", bad.join(CSV_FILE).display())));

        // One file blocked (a directory in its place): the others are written.
        let dir = tmp.path().join("partial");
        fs::create_dir_all(dir.join(JSONL_FILE)).unwrap();
        let rep = write_all(&dir, &cfg, &dataset(), &run, &s, Jsonl::Records(&records));
        assert_eq!(rep.errors.len(), 1);
        assert_eq!(rep.errors[0].kind, ExportKind::Jsonl);
        assert_eq!(rep.written.len(), 4);
        assert!(fs::read_to_string(dir.join(CSV_FILE))
            .unwrap()
            .starts_with("Metric,avg,"));
    }
}
