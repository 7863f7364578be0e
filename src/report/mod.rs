//! Report stage: the console table, the export files and the run log, laid
//! out like AIPerf 0.13.0's so its users read them the same way.
//!
//! Owns formatting and writing only: every number comes from
//! `metrics::MetricsSummary` (computed once), every name and unit from
//! `metrics::METRICS`. Writing never stops at the first failure: each file is
//! attempted and its error recorded, so measurements are never lost to one
//! unwritable path.

pub mod console;
pub mod csv;
pub mod inputs;
pub mod json;
pub mod jsonl;

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::config::ProfileConfig;
use crate::dataset::Dataset;
use crate::engine::RunOutput;
use crate::metrics::MetricsSummary;

/// AIPerf's file names inside the artifact directory.
pub const CSV_FILE: &str = "profile_export_aiperf.csv";
pub const JSON_FILE: &str = "profile_export_aiperf.json";
pub const JSONL_FILE: &str = "profile_export.jsonl";
pub const INPUTS_FILE: &str = "inputs.json";
pub const CONSOLE_FILE: &str = "profile_export_console.txt";
pub const LOG_DIR: &str = "logs";
pub const LOG_FILE: &str = "aiperf.log";

/// Which export a path is (the console prints "CSV Export: ..." etc.).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportKind {
    Csv,
    Json,
    Jsonl,
    Inputs,
    Console,
}

impl ExportKind {
    /// AIPerf's label in the console footer, for the files it lists there.
    pub fn label(self) -> Option<&'static str> {
        match self {
            ExportKind::Csv => Some("CSV Export"),
            ExportKind::Json => Some("JSON Export"),
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

/// Writes every export into `dir` (created if needed): CSV, JSON, JSONL,
/// inputs.json and the console text. Each file is attempted even when an
/// earlier one failed; failures are collected in the report.
pub fn write_all(
    dir: &Path,
    cfg: &ProfileConfig,
    dataset: &Dataset,
    run: &RunOutput,
    summary: &MetricsSummary,
) -> ExportReport {
    let mut report = ExportReport::default();
    // A failure here shows up again, per file, below; keep going so each
    // file's own error names its path.
    let _ = fs::create_dir_all(dir);

    let csv_text = csv::render(summary);
    write_file(&mut report, ExportKind::Csv, dir.join(CSV_FILE), |w| {
        w.write_all(csv_text.as_bytes())
    });
    write_file(&mut report, ExportKind::Json, dir.join(JSON_FILE), |w| {
        json::write(w, cfg, run, summary)
    });
    write_file(&mut report, ExportKind::Jsonl, dir.join(JSONL_FILE), |w| {
        jsonl::write(w, run, summary)
    });
    write_file(
        &mut report,
        ExportKind::Inputs,
        dir.join(INPUTS_FILE),
        |w| inputs::write(w, dataset),
    );
    // The console text file mirrors the tables (no footer), as AIPerf's does.
    let tables = console::render_tables(summary);
    write_file(
        &mut report,
        ExportKind::Console,
        dir.join(CONSOLE_FILE),
        |w| w.write_all(tables.as_bytes()),
    );
    report
}

fn write_file(
    report: &mut ExportReport,
    kind: ExportKind,
    path: PathBuf,
    body: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) {
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

/// Broken-down local time (what Python's `datetime.fromtimestamp` shows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub micros: u32,
}

impl LocalTime {
    /// Local time of `wall_ns` (ns since the Unix epoch).
    pub fn from_wall_ns(wall_ns: u64) -> LocalTime {
        let secs = (wall_ns / 1_000_000_000) as libc::time_t;
        let micros = ((wall_ns % 1_000_000_000) / 1_000) as u32;
        // SAFETY: localtime_r only writes into the tm we own; a zeroed tm is valid.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers are valid for the duration of the call.
        let ok = unsafe { !libc::localtime_r(&secs, &mut tm).is_null() };
        if !ok {
            return LocalTime {
                year: 1970,
                month: 1,
                day: 1,
                hour: 0,
                minute: 0,
                second: 0,
                micros,
            };
        }
        LocalTime {
            year: tm.tm_year + 1900,
            month: (tm.tm_mon + 1) as u32,
            day: tm.tm_mday as u32,
            hour: tm.tm_hour as u32,
            minute: tm.tm_min as u32,
            second: tm.tm_sec as u32,
            micros,
        }
    }

    /// Python's `datetime.isoformat()`: microseconds only when non-zero.
    pub fn isoformat(&self) -> String {
        let mut s = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        );
        if self.micros != 0 {
            s.push_str(&format!(".{:06}", self.micros));
        }
        s
    }
}

/// The run log, `<artifact_dir>/logs/aiperf.log`, in AIPerf's line format
/// (`2026-01-01 12:00:00.123 - audioperf - INFO - message`). Lines logged
/// before the file can be opened (or when it cannot be) are kept in memory so
/// nothing is lost; `error()` says why the file is missing.
#[derive(Debug)]
pub struct RunLog {
    path: PathBuf,
    file: Option<BufWriter<File>>,
    pending: Vec<String>,
    open_error: Option<String>,
}

impl RunLog {
    /// Opens (appends to) `<artifact_dir>/logs/aiperf.log`, creating folders.
    pub fn open(artifact_dir: &Path) -> RunLog {
        let path = artifact_dir.join(LOG_DIR).join(LOG_FILE);
        let opened = fs::create_dir_all(artifact_dir.join(LOG_DIR))
            .and_then(|_| OpenOptions::new().create(true).append(true).open(&path));
        let (file, open_error) = match opened {
            Ok(f) => (Some(BufWriter::new(f)), None),
            Err(e) => (
                None,
                Some(format!("could not open {}: {e}", path.display())),
            ),
        };
        RunLog {
            path,
            file,
            pending: Vec::new(),
            open_error,
        }
    }

    /// The log file's path (printed as "Log File: ...").
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Why the file could not be opened, if it could not.
    pub fn error(&self) -> Option<&str> {
        self.open_error.as_deref()
    }

    /// Lines not written to a file (the file could not be opened).
    pub fn pending(&self) -> &[String] {
        &self.pending
    }

    pub fn info(&mut self, msg: &str) {
        self.line("INFO", msg);
    }

    pub fn warning(&mut self, msg: &str) {
        self.line("WARNING", msg);
    }

    pub fn error_line(&mut self, msg: &str) {
        self.line("ERROR", msg);
    }

    /// Appends one timestamped line at `level`.
    pub fn line(&mut self, level: &str, msg: &str) {
        let now = crate::units::ClockAnchor::now().wall_ns;
        let line = format_log_line(now, level, msg);
        let failed = match self.file.as_mut() {
            Some(f) => writeln!(f, "{line}").is_err(),
            None => true,
        };
        if failed {
            self.pending.push(line);
        }
    }

    /// Flushes buffered lines to disk.
    pub fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for RunLog {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// One log line in AIPerf's format.
pub fn format_log_line(wall_ns: u64, level: &str, msg: &str) -> String {
    let t = LocalTime::from_wall_ns(wall_ns);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03} - audioperf - {} - {}",
        t.year,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second,
        t.micros / 1000,
        level,
        msg
    )
}
