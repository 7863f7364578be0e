//! Reading one run's export files back: the per-request lines of
//! `profile_export.jsonl`, the summary `profile_export_aiperf.json` and, when
//! present, `profile_export_aiperf_timeslices.json`. audioperf and AIPerf 0.13
//! write the same layout, so either tool's directory reads the same way.
//!
//! The files are input from outside: a line that is not JSON or lacks the
//! stamps is counted in `skipped_lines` and left out, never a panic.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

pub const SUMMARY_FILE: &str = "profile_export_aiperf.json";
pub const RECORDS_FILE: &str = "profile_export.jsonl";
pub const TIMESLICES_FILE: &str = "profile_export_aiperf_timeslices.json";

/// One successful request as the charts need it. Times are seconds since the
/// run's first request start; latencies in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequestPoint {
    pub start_s: f64,
    pub end_s: f64,
    pub ttft_ms: Option<f64>,
    pub itl_ms: Option<f64>,
    pub latency_ms: Option<f64>,
    pub output_tokens: Option<f64>,
}

/// One `--slice-duration` window: its start (seconds since the first slice)
/// and the metrics' `avg` in that window.
#[derive(Debug, Clone)]
pub struct TimeSlice {
    pub start_s: f64,
    pub end_s: f64,
    pub stats: Value,
}

/// Everything the charts and the report read from one run directory.
#[derive(Debug)]
pub struct Run {
    pub dir: PathBuf,
    /// The directory's name, used as the run's label.
    pub name: String,
    /// The parsed summary JSON (metric objects, input_config, run_info, …).
    pub summary: Value,
    /// Successful requests in file order (empty without a JSONL).
    pub requests: Vec<RequestPoint>,
    /// Requests that ended in an error (they have no TTFT to draw).
    pub error_requests: u64,
    /// Lines that were not a request record this reader understands.
    pub skipped_lines: u64,
    pub timeslices: Vec<TimeSlice>,
}

/// Whether `dir` holds a run's summary export.
pub fn is_run_dir(dir: &Path) -> bool {
    dir.join(SUMMARY_FILE).is_file()
}

/// Reads the run in `dir`; the summary is required, the JSONL and the
/// timeslices are optional (an `--export-level summary` run has no JSONL).
pub fn load_run(dir: &Path) -> Result<Run> {
    let summary_path = dir.join(SUMMARY_FILE);
    let text = std::fs::read_to_string(&summary_path)
        .with_context(|| format!("reading {}", summary_path.display()))?;
    let summary: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", summary_path.display()))?;
    if !summary.is_object() {
        anyhow::bail!("{} is not a JSON object", summary_path.display());
    }
    let mut run = Run {
        dir: dir.to_path_buf(),
        name: dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string()),
        summary,
        requests: Vec::new(),
        error_requests: 0,
        skipped_lines: 0,
        timeslices: Vec::new(),
    };
    let records = dir.join(RECORDS_FILE);
    if records.is_file() {
        read_records(&records, &mut run)?;
    }
    let slices = dir.join(TIMESLICES_FILE);
    if slices.is_file() {
        run.timeslices = read_timeslices(&slices)?;
    }
    Ok(run)
}

/// A metric's `value` in a record's `metrics` object.
fn metric_value(metrics: &Value, tag: &str) -> Option<f64> {
    metrics
        .get(tag)?
        .get("value")?
        .as_f64()
        .filter(|v| v.is_finite())
}

/// Stamps of one line, in ns: (start, end), or None when the line is not a
/// request record.
fn stamps(line: &Value) -> Option<(u64, u64)> {
    let meta = line.get("metadata")?;
    let start = meta.get("request_start_ns")?.as_u64()?;
    let end = meta.get("request_end_ns")?.as_u64().unwrap_or(start);
    Some((start, end.max(start)))
}

fn read_records(path: &Path, run: &mut Run) -> Result<()> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut raw: Vec<(u64, u64, RequestPoint)> = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            run.skipped_lines += 1;
            continue;
        };
        let Some((start, end)) = stamps(&v) else {
            run.skipped_lines += 1;
            continue;
        };
        if v.get("error").is_some_and(|e| !e.is_null()) {
            run.error_requests += 1;
            continue;
        }
        let m = v.get("metrics").cloned().unwrap_or(Value::Null);
        let point = RequestPoint {
            start_s: 0.0,
            end_s: 0.0,
            ttft_ms: metric_value(&m, "time_to_first_token"),
            itl_ms: metric_value(&m, "inter_token_latency"),
            latency_ms: metric_value(&m, "request_latency"),
            output_tokens: metric_value(&m, "output_sequence_length")
                .or_else(|| metric_value(&m, "output_token_count")),
        };
        raw.push((start, end, point));
    }
    let origin = raw.iter().map(|r| r.0).min().unwrap_or(0);
    run.requests = raw
        .into_iter()
        .map(|(start, end, mut p)| {
            p.start_s = (start - origin) as f64 / 1e9;
            p.end_s = (end - origin) as f64 / 1e9;
            p
        })
        .collect();
    Ok(())
}

fn read_timeslices(path: &Path) -> Result<Vec<TimeSlice>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let v: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let Some(slices) = v.get("timeslices").and_then(Value::as_array) else {
        anyhow::bail!("{} has no \"timeslices\" list", path.display());
    };
    let ns = |s: &Value, k: &str| s.get(k).and_then(Value::as_u64);
    let origin = slices.iter().filter_map(|s| ns(s, "start_ns")).min();
    Ok(slices
        .iter()
        .filter_map(|s| {
            let (start, end) = (ns(s, "start_ns")?, ns(s, "end_ns")?);
            let origin = origin?;
            Some(TimeSlice {
                start_s: start.saturating_sub(origin) as f64 / 1e9,
                end_s: end.saturating_sub(origin) as f64 / 1e9,
                stats: s.clone(),
            })
        })
        .collect())
}

impl Run {
    /// `summary[tag][stat]`, e.g. `("time_to_first_token", "p99")`.
    pub fn stat(&self, tag: &str, stat: &str) -> Option<f64> {
        self.summary.get(tag)?.get(stat)?.as_f64()
    }

    /// The profiling phase's object in `input_config.phases` (AIPerf 0.13's layout).
    fn profiling_phase(&self) -> Option<&Value> {
        self.summary
            .get("input_config")?
            .get("phases")?
            .as_array()?
            .iter()
            .find(|p| p.get("kind").and_then(Value::as_str) == Some("profiling"))
    }

    /// The run's concurrency, from its config (None when it was not set).
    pub fn concurrency(&self) -> Option<f64> {
        self.profiling_phase()?.get("concurrency")?.as_f64()
    }

    /// The run's target request rate (None for a closed-loop run).
    pub fn request_rate(&self) -> Option<f64> {
        self.profiling_phase()?.get("rate")?.as_f64()
    }

    /// The command line that made the run, as the run recorded it.
    pub fn command(&self) -> Option<&str> {
        self.summary.get("run_info")?.get("cli_command")?.as_str()
    }
}

/// Every run directory at or under each path (a run dir itself, or a folder of
/// runs such as `artifacts/` or a sweep's base directory), searched a few
/// levels deep, in path order. Plots, aggregate and log folders are skipped.
pub fn find_runs(paths: &[PathBuf]) -> Vec<PathBuf> {
    const MAX_DEPTH: usize = 4;
    fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
        if is_run_dir(dir) {
            out.push(dir.to_path_buf());
            return;
        }
        if depth == MAX_DEPTH {
            return;
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut subdirs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .filter(|p| {
                let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
                !matches!(
                    name.as_deref(),
                    Some("plots" | "logs" | "aggregate" | "sweep_aggregate")
                )
            })
            .collect();
        subdirs.sort();
        for d in subdirs {
            walk(&d, depth + 1, out);
        }
    }
    let mut out = Vec::new();
    for p in paths {
        walk(p, 0, &mut out);
    }
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_read_and_bad_lines_counted() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SUMMARY_FILE), r#"{"request_count": {"unit": "requests", "avg": 2.0}, "input_config": {"phases": [{"kind": "warmup", "concurrency": 9}, {"kind": "profiling", "concurrency": 4}]}, "run_info": {"cli_command": "audioperf profile x"}}"#).unwrap();
        let lines = [
            r#"{"metadata": {"request_start_ns": 2000000000, "request_end_ns": 2500000000}, "metrics": {"time_to_first_token": {"value": 20.5, "unit": "ms"}, "request_latency": {"value": 500.0, "unit": "ms"}, "output_sequence_length": {"value": 10, "unit": "tokens"}}}"#,
            "not json",
            r#"{"metadata": {"request_start_ns": 1000000000, "request_end_ns": 1100000000}, "metrics": {"time_to_first_token": {"value": 10.0, "unit": "ms"}}}"#,
            r#"{"metadata": {"request_start_ns": 1500000000, "request_end_ns": 1600000000}, "metrics": {}, "error": {"code": 500}}"#,
            r#"{"metadata": {}}"#,
        ];
        std::fs::write(dir.path().join(RECORDS_FILE), lines.join("\n")).unwrap();
        let run = load_run(dir.path()).unwrap();
        assert_eq!(run.requests.len(), 2);
        assert_eq!(run.error_requests, 1);
        assert_eq!(run.skipped_lines, 2);
        // Times from the earliest start (the second line).
        assert_eq!(run.requests[0].start_s, 1.0);
        assert_eq!(run.requests[0].end_s, 1.5);
        assert_eq!(run.requests[0].ttft_ms, Some(20.5));
        assert_eq!(run.requests[0].output_tokens, Some(10.0));
        assert_eq!(run.requests[1].start_s, 0.0);
        assert_eq!(run.requests[1].latency_ms, None);
        assert_eq!(run.concurrency(), Some(4.0));
        assert_eq!(run.request_rate(), None);
        assert_eq!(run.command(), Some("audioperf profile x"));
        assert_eq!(run.stat("request_count", "avg"), Some(2.0));
    }

    #[test]
    fn a_summary_that_is_not_json_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SUMMARY_FILE), "{oops").unwrap();
        let err = load_run(dir.path()).unwrap_err();
        assert!(format!("{err:#}").contains("is not JSON"), "{err:#}");
    }

    #[test]
    fn runs_are_found_under_a_sweep_directory_but_not_in_plots() {
        let dir = tempfile::tempdir().unwrap();
        for sub in [
            "concurrency_1",
            "concurrency_4",
            "plots/x",
            "aggregate/concurrency_1",
        ] {
            let d = dir.path().join(sub);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(SUMMARY_FILE), "{}").unwrap();
        }
        let runs = find_runs(&[dir.path().to_path_buf()]);
        let names: Vec<_> = runs
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["concurrency_1", "concurrency_4"]);
    }
}
