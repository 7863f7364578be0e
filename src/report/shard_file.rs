//! The shard result file, `audioperf_shard.json`: what a shard of a
//! sharded run (`--shard-count`) writes next to its AIPerf exports so that
//! `audioperf merge` can compute the whole run's summary.
//!
//! It holds the metrics accumulator's state (`metrics::shard`: per metric the
//! exact values or the histogram, exact counts, sums, min/max, the error
//! groups, the run's window in wall-clock ns), the shard's index and count,
//! its command, audioperf's version, the workload identity (`profile`'s
//! arguments without the per-shard options) and the client's own figures
//! per worker. Its size is bounded by the number of metrics, never by the
//! number of requests (at most 65,536 values per metric, else a histogram).

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{ProfileConfig, Shard};
use crate::metrics::shard::AccumulatorState;
use crate::record::{IoDriver, RunOutput, WorkerStats};
use crate::sys::clock::ClockAnchor;

pub const SHARD_FILE: &str = "audioperf_shard.json";
/// What the `format` field must say.
pub const FORMAT: &str = "audioperf-shard-result";
pub const FORMAT_VERSION: u32 = 1;
/// A larger file is refused unread (a real one stays far below: about 1 MB
/// per metric at most).
const MAX_FILE_BYTES: u64 = 1 << 30;

/// The options that differ between the shards of one run, with whether
/// each takes a value: left out of the workload identity.
const PER_SHARD_OPTIONS: [(&str, bool); 5] = [
    ("--shard-index", true),
    ("--shard-count", true),
    ("--start-at", true),
    ("--output-artifact-dir", true),
    ("--artifact-dir", true),
];

/// `profile`'s arguments (after the subcommand) without the per-shard
/// options: what every shard of one run has in common, and the command line
/// of the single process the shards stand for.
pub fn workload_args(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut skip_next = false;
    for a in args {
        if std::mem::take(&mut skip_next) {
            continue;
        }
        let name = a.split('=').next().unwrap_or(a);
        match PER_SHARD_OPTIONS.iter().find(|(o, _)| *o == name) {
            Some((_, takes_value)) => skip_next = *takes_value && !a.contains('='),
            None => out.push(a.clone()),
        }
    }
    out
}

/// One worker's own figures (as `WorkerStats`, without the loop-lag histogram).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerFigures {
    pub cpu_ns: u64,
    pub wall_ns: u64,
    pub requests: u64,
    pub events: u64,
    pub bytes_read: u64,
    pub max_loop_lag_ns: u64,
    pub p99_loop_lag_ns: u64,
    /// Sends and reads by I/O path (absent in files from before it was kept).
    #[serde(default)]
    pub io: crate::record::IoCounts,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardFile {
    pub format: String,
    pub format_version: u32,
    pub audioperf_version: String,
    pub shard_index: u32,
    pub shard_count: u32,
    /// `profile`'s arguments without the per-shard options: equal for every
    /// shard of one run, and the command of the one process they stand for.
    pub workload_args: Vec<String>,
    /// This shard's command line, as typed.
    pub command: String,
    pub clock_anchor_mono_ns: u64,
    pub clock_anchor_wall_ns: u64,
    /// `--start-at` (wall-clock ns), and how late the shard started after it.
    pub start_at_ns: Option<u64>,
    pub start_late_ns: Option<u64>,
    pub was_cancelled: bool,
    pub stop_reason: Option<String>,
    pub dropped_records: u64,
    pub io_driver: Option<String>,
    pub workers: Vec<WorkerFigures>,
    /// The JSONL export's file name in this directory, when there is one.
    pub jsonl_file: Option<String>,
    pub raw_jsonl_file: Option<String>,
    pub metrics: AccumulatorState,
}

/// What `write` needs besides the run's own outputs.
pub struct ShardRun<'a> {
    pub cfg: &'a ProfileConfig,
    pub shard: Shard,
    /// `profile`'s arguments (after the subcommand).
    pub args: &'a [String],
    pub anchor: ClockAnchor,
    pub run: &'a RunOutput,
    pub metrics: AccumulatorState,
    pub jsonl: Option<&'a Path>,
    pub raw_jsonl: Option<&'a Path>,
}

fn file_name(p: Option<&Path>) -> Option<String> {
    p.and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
}

/// Writes `dir/audioperf_shard.json`.
pub fn write(dir: &Path, s: ShardRun<'_>) -> io::Result<PathBuf> {
    let file = ShardFile {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        audioperf_version: env!("CARGO_PKG_VERSION").into(),
        shard_index: s.shard.index,
        shard_count: s.shard.count,
        workload_args: workload_args(s.args),
        command: s.cfg.cli_command.clone(),
        clock_anchor_mono_ns: s.anchor.mono_ns,
        clock_anchor_wall_ns: s.anchor.wall_ns,
        start_at_ns: s.cfg.start_at_wall_ns,
        start_late_ns: s.run.start_late_ns,
        was_cancelled: s.run.was_cancelled,
        stop_reason: s.run.stop_reason.clone(),
        dropped_records: s.run.dropped_records,
        io_driver: s.run.io_driver.map(|d| d.as_str().to_string()),
        workers: s
            .run
            .workers
            .iter()
            .map(|w| WorkerFigures {
                cpu_ns: w.cpu_ns,
                wall_ns: w.wall_ns,
                requests: w.requests,
                events: w.events,
                bytes_read: w.bytes_read,
                max_loop_lag_ns: w.max_loop_lag_ns,
                p99_loop_lag_ns: w.p99_loop_lag_ns,
                io: w.io,
            })
            .collect(),
        jsonl_file: file_name(s.jsonl),
        raw_jsonl_file: file_name(s.raw_jsonl),
        metrics: s.metrics,
    };
    let path = dir.join(SHARD_FILE);
    let mut w = BufWriter::with_capacity(1 << 16, File::create(&path)?);
    serde_json::to_writer(&mut w, &file).map_err(io::Error::other)?;
    w.flush()?;
    Ok(path)
}

/// Reads and checks `dir/audioperf_shard.json`; the error says which file
/// and what is wrong with it.
pub fn read(dir: &Path) -> Result<ShardFile, String> {
    let path = dir.join(SHARD_FILE);
    let shown = path.display();
    let f = File::open(&path).map_err(|e| {
        format!(
            "{shown}: {e} (a directory written by `audioperf profile --shard-count N` holds one)"
        )
    })?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len > MAX_FILE_BYTES {
        return Err(format!(
            "{shown}: {len} bytes is larger than any shard result file"
        ));
    }
    let file: ShardFile = serde_json::from_reader(BufReader::new(f.take(MAX_FILE_BYTES)))
        .map_err(|e| format!("{shown}: not a shard result file: {e}"))?;
    if file.format != FORMAT || file.format_version != FORMAT_VERSION {
        return Err(format!(
            "{shown}: format '{}' version {}; this audioperf reads '{FORMAT}' version {FORMAT_VERSION}",
            file.format, file.format_version
        ));
    }
    if file.shard_count == 0 || file.shard_index >= file.shard_count {
        return Err(format!(
            "{shown}: shard {} of {} is not a shard",
            file.shard_index, file.shard_count
        ));
    }
    Ok(file)
}

impl ShardFile {
    /// The workers' figures as `WorkerStats` (numbered after those of the
    /// shards before), for the merged client report.
    pub fn worker_stats(&self, first: u16) -> Vec<WorkerStats> {
        self.workers
            .iter()
            .enumerate()
            .map(|(i, w)| WorkerStats {
                worker: first.saturating_add(i as u16),
                cpu_ns: w.cpu_ns,
                wall_ns: w.wall_ns,
                requests: w.requests,
                events: w.events,
                bytes_read: w.bytes_read,
                max_loop_lag_ns: w.max_loop_lag_ns,
                p99_loop_lag_ns: w.p99_loop_lag_ns,
                loop_lag: None,
                send_lag: None,
                wake_lag: None,
                io: w.io,
            })
            .collect()
    }

    pub fn io_driver(&self) -> Option<IoDriver> {
        match self.io_driver.as_deref() {
            Some("io_uring") => Some(IoDriver::IoUring),
            Some("epoll") => Some(IoDriver::Epoll),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_args_drop_only_the_per_shard_options() {
        let args: Vec<String> = [
            "--model",
            "m",
            "--shard-index",
            "2",
            "--shard-count=3",
            "--start-at",
            "1796221500",
            "--output-artifact-dir",
            "/results/shard-2",
            "--concurrency",
            "6",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            workload_args(&args),
            ["--model", "m", "--concurrency", "6"].map(String::from)
        );
    }
}
