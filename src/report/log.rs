//! The run log, `<artifact_dir>/logs/aiperf.log`, and the local-time
//! formatting it shares with the JSON export's `start_time`/`end_time`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The log's folder inside the artifact directory, and its file name (AIPerf's).
pub const LOG_DIR: &str = "logs";
pub const LOG_FILE: &str = "aiperf.log";

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
        let now = crate::sys::clock::ClockAnchor::now().wall_ns;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_log_appends_lines() {
        let tmp = tempfile::tempdir().unwrap();
        let mut log = RunLog::open(tmp.path());
        log.info("first");
        log.warning("second");
        log.flush().unwrap();
        let text = fs::read_to_string(tmp.path().join("logs/aiperf.log")).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[0].ends_with(" - audioperf - INFO - first"),
            "{}",
            lines[0]
        );
        assert!(lines[1].ends_with(" - audioperf - WARNING - second"));
        // "YYYY-MM-DD HH:MM:SS.mmm"
        assert_eq!(lines[0].as_bytes()[10], b' ');
        assert_eq!(lines[0].as_bytes()[19], b'.');

        let blocker = tmp.path().join("f");
        fs::write(&blocker, b"x").unwrap();
        let mut bad = RunLog::open(&blocker);
        bad.info("kept");
        assert!(bad.error().is_some());
        assert_eq!(bad.pending().len(), 1);
    }

    #[test]
    fn isoformat_like_python() {
        let t = LocalTime {
            year: 2026,
            month: 1,
            day: 2,
            hour: 3,
            minute: 4,
            second: 5,
            micros: 60,
        };
        assert_eq!(t.isoformat(), "2026-01-02T03:04:05.000060");
        assert_eq!(
            LocalTime { micros: 0, ..t }.isoformat(),
            "2026-01-02T03:04:05"
        );
    }
}
