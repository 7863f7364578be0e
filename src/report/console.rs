//! The console summary: AIPerf's end-of-run tables (rich's heavy-head box,
//! right-aligned columns, `1,234.56` numbers, `N/A`), the error summary and
//! the footer (CLI command, benchmark duration, export paths, log file), with
//! the client-saturation warning between the tables and the footer.
//!
//! Reads rows from `metrics::METRICS` (order, group, header, unit) and values
//! from the summary; computes nothing.

use std::path::Path;

use crate::config::ProfileConfig;
use crate::metrics::{ConsoleGroup, MetricId, MetricResult, MetricsSummary, Stat, METRICS};

use super::ExportReport;

/// Title prefix of every table (AIPerf: "NVIDIA AIPerf | LLM Metrics").
pub const TITLE: &str = "audioperf | LLM Metrics";
/// Title of the `--show-trace-timing` table (AIPerf: "NVIDIA AIPerf | HTTP Trace Timing").
pub const TRACE_TITLE: &str = "audioperf | HTTP Trace Timing";

/// Python's `f"{v:,.2f}"`: two decimals, thousands separated by commas.
pub fn format_number(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let s = format!("{:.2}", v.abs());
    let (int, frac) = s.split_once('.').unwrap_or((&s, "00"));
    let mut out = String::with_capacity(s.len() + s.len() / 3 + 1);
    // Python keeps the sign of values that round to zero ("-0.00").
    if v.is_sign_negative() {
        out.push('-');
    }
    let digits = int.len();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (digits - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out.push('.');
    out.push_str(frac);
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Justify {
    Left,
    Right,
}

/// A minimal rich-style table (HEAVY_HEAD box), enough for AIPerf's layout.
struct Table {
    title: String,
    columns: Vec<(String, Justify)>,
    /// Cells may hold several lines ("\n"); a row is as tall as its tallest cell.
    rows: Vec<Vec<String>>,
}

impl Table {
    fn render(&self, out: &mut String) {
        let width_of = |s: &str| s.lines().map(|l| l.chars().count()).max().unwrap_or(0);
        let mut widths: Vec<usize> = self.columns.iter().map(|(h, _)| width_of(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width_of(cell));
            }
        }
        let total: usize = widths.iter().map(|w| w + 3).sum::<usize>() + 1;
        let tlen = self.title.chars().count();
        if tlen <= total {
            let left = (total - tlen) / 2;
            out.push_str(&" ".repeat(left));
            out.push_str(&self.title);
            out.push_str(&" ".repeat(total - tlen - left));
        } else {
            out.push_str(&self.title);
        }
        out.push('\n');
        let rule = |out: &mut String, l: char, fill: char, mid: char, r: char| {
            out.push(l);
            for (i, w) in widths.iter().enumerate() {
                if i > 0 {
                    out.push(mid);
                }
                out.extend(std::iter::repeat_n(fill, w + 2));
            }
            out.push(r);
            out.push('\n');
        };
        let line = |out: &mut String, cells: &[String], sep: char| {
            let height = cells
                .iter()
                .map(|c| c.lines().count().max(1))
                .max()
                .unwrap_or(1);
            for k in 0..height {
                out.push(sep);
                for (i, cell) in cells.iter().enumerate() {
                    let text = cell.lines().nth(k).unwrap_or("");
                    let pad = widths[i].saturating_sub(text.chars().count());
                    out.push(' ');
                    if self.columns[i].1 == Justify::Right {
                        out.push_str(&" ".repeat(pad));
                        out.push_str(text);
                    } else {
                        out.push_str(text);
                        out.push_str(&" ".repeat(pad));
                    }
                    out.push(' ');
                    out.push(sep);
                }
                out.push('\n');
            }
        };
        rule(out, '┏', '━', '┳', '┓');
        let headers: Vec<String> = self.columns.iter().map(|(h, _)| h.clone()).collect();
        line(out, &headers, '┃');
        rule(out, '┡', '━', '╇', '┩');
        for row in &self.rows {
            line(out, row, '│');
        }
        rule(out, '└', '─', '┴', '┘');
    }
}

/// "Header (unit)", or "Header\n(unit)" when the header is over 30 characters
/// (AIPerf wraps long names this way).
fn metric_label(r: &MetricResult) -> String {
    let sep = if r.def.header.chars().count() > 30 {
        "\n"
    } else {
        " "
    };
    format!("{}{}({})", r.def.header, sep, r.def.display_unit)
}

fn metrics_table(title: String, mut rows: Vec<&MetricResult>) -> Table {
    rows.sort_by_key(|r| r.def.display_order);
    let mut columns = vec![("Metric".to_string(), Justify::Right)];
    columns.extend(
        Stat::CONSOLE_COLUMNS
            .iter()
            .map(|s| (s.key().to_string(), Justify::Right)),
    );
    let rows = rows
        .into_iter()
        .map(|r| {
            let mut row = vec![metric_label(r)];
            row.extend(Stat::CONSOLE_COLUMNS.iter().map(|&k| match r.stat(k) {
                Some(v) => format_number(v),
                None => "N/A".to_string(),
            }));
            row
        })
        .collect();
    Table {
        title,
        columns,
        rows,
    }
}

/// The metric tables (with `show_trace`, AIPerf's `--show-trace-timing`, the
/// HTTP trace table first; then the Usage group and the main table), preceded
/// by the two blank lines AIPerf prints. Empty when there is nothing to show.
pub fn render_tables(summary: &MetricsSummary, show_trace: bool) -> String {
    let shown = |g: ConsoleGroup| -> Vec<&MetricResult> {
        summary
            .results
            .iter()
            .filter(|r| r.def.group == g && !r.def.error_only)
            .collect()
    };
    let mut out = String::new();
    let trace = show_trace.then(|| (ConsoleGroup::HttpTrace, TRACE_TITLE.to_string()));
    let groups = trace.into_iter().chain([
        (ConsoleGroup::Effective, format!("{TITLE}: Effective")),
        (ConsoleGroup::Active, format!("{TITLE}: Active")),
        (ConsoleGroup::Usage, format!("{TITLE}: Usage")),
        (ConsoleGroup::Default, TITLE.to_string()),
    ]);
    for (group, title) in groups {
        let rows = shown(group);
        if !rows.is_empty() {
            metrics_table(title, rows).render(&mut out);
        }
    }
    if out.is_empty() {
        return out;
    }
    format!("\n\n{out}")
}

/// AIPerf's "Error Summary" table, or "" when nothing failed.
pub fn render_errors(summary: &MetricsSummary) -> String {
    if summary.error_summary.is_empty() {
        return String::new();
    }
    let table = Table {
        title: "audioperf | Error Summary".into(),
        columns: vec![
            ("Code".into(), Justify::Right),
            ("Type".into(), Justify::Right),
            ("Message".into(), Justify::Left),
            ("Count".into(), Justify::Right),
        ],
        rows: summary
            .error_summary
            .iter()
            .map(|e| {
                vec![
                    e.code.map_or("N/A".into(), |c| c.to_string()),
                    e.error_type.to_string(),
                    e.message.clone(),
                    format_number(e.count as f64)
                        .trim_end_matches(".00")
                        .to_string(),
                ]
            })
            .collect(),
    };
    let mut out = String::from("\n\n");
    table.render(&mut out);
    out
}

fn shown_path(p: &Path) -> String {
    std::fs::canonicalize(p)
        .or_else(|_| std::env::current_dir().map(|d| d.join(p)))
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

/// Everything printed at the end of a run: error summary, tables, the
/// client-saturation warning (one line, when given), then `CLI Command:`,
/// `Benchmark Duration:`, the CSV/JSON export paths and the log file, worded
/// as AIPerf does.
pub fn render(
    cfg: &ProfileConfig,
    summary: &MetricsSummary,
    exports: &ExportReport,
    log_file: &Path,
    warning: Option<&str>,
) -> String {
    // AIPerf prints the error summary before the metric tables.
    let mut out = render_errors(summary);
    out.push_str(&render_tables(summary, cfg.show_trace_timing));
    if !out.is_empty() {
        out.push('\n');
    }
    if let Some(w) = usage_discrepancy_warning(summary) {
        out.push_str(&w);
        out.push_str("\n\n");
    }
    if let Some(w) = warning {
        out.push_str(w);
        out.push_str("\n\n");
    }
    out.push_str(&format!("CLI Command: {}\n", cfg.cli_command));
    if let Some(secs) = summary.benchmark_duration_sec() {
        out.push_str(&format!("Benchmark Duration: {secs:.2} sec"));
        if summary.was_cancelled {
            out.push_str(" (cancelled early)");
        }
        out.push('\n');
    }
    for (kind, path) in &exports.written {
        if let Some(label) = kind.label() {
            out.push_str(&format!("{label}: {}\n", shown_path(path)));
        }
    }
    for e in &exports.errors {
        out.push_str(&format!("Export failed: {e}\n"));
    }
    out.push_str(&format!("Log File: {}\n", shown_path(log_file)));
    out
}

/// AIPerf's "Token Count Discrepancy Warning", in one paragraph: how many
/// requests' server usage differs from the client tokenizer's counts by more
/// than the threshold. None when none does (or there was nothing to compare).
pub fn usage_discrepancy_warning(summary: &MetricsSummary) -> Option<String> {
    let count = summary.get(MetricId::UsageDiscrepancyCount)?.avg();
    let total = summary.get(MetricId::RequestCount)?.avg();
    let threshold = summary.usage_diff_threshold_pct?;
    if count <= 0.0 || total <= 0.0 {
        return None;
    }
    Some(format!(
        "Token Count Discrepancy Warning: {count:.0} of {total:.0} requests ({:.1}%) show a difference exceeding {threshold}% between the server's usage tokens and the client tokenizer's counts. See usage_*_diff_pct in profile_export.jsonl; check that the tokenizer is the model's, or use --use-server-token-count (no diff metrics); AIPERF_METRICS_USAGE_PCT_DIFF_THRESHOLD sets the threshold.",
        100.0 * count / total
    ))
}

/// The metrics shown in the main table, in display order (for callers
/// that print a live summary with the same rows).
pub fn default_rows() -> impl Iterator<Item = &'static crate::metrics::MetricDef> {
    let mut defs: Vec<_> = METRICS
        .iter()
        .filter(|d| d.group == ConsoleGroup::Default && !d.error_only)
        .collect();
    defs.sort_by_key(|d| d.display_order);
    defs.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{compute, tests::sample_run, ComputeOptions};

    #[test]
    fn numbers_like_python() {
        assert_eq!(format_number(1234.5678), "1,234.57");
        assert_eq!(format_number(0.0), "0.00");
        assert_eq!(format_number(999.999), "1,000.00");
        assert_eq!(format_number(1_234_567.0), "1,234,567.00");
        assert_eq!(format_number(-1234.5), "-1,234.50");
        assert_eq!(format_number(-0.001), "-0.00");
        // Rounds the exact binary value, as Python does.
        assert_eq!(format_number(12.345), "12.35");
        assert_eq!(format_number(2.675), "2.67");
    }

    #[test]
    fn table_layout_matches_aiperf() {
        let run = sample_run();
        let s = compute(
            &run,
            &crate::tokens::from_server_usage(&run),
            &ComputeOptions::default(),
        );
        let text = render_tables(&s, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "");
        assert_eq!(lines[1], "");
        // AIPerf's group order: Effective, Active, Usage, then the main table.
        assert_eq!(lines[2].trim(), "audioperf | LLM Metrics: Effective");
        let at = |t: &str| lines.iter().position(|l| l.trim() == t).unwrap();
        assert!(at("audioperf | LLM Metrics: Active") < at("audioperf | LLM Metrics: Usage"));
        assert!(at("audioperf | LLM Metrics: Usage") < at(TITLE));
        let conc = lines
            .iter()
            .find(|l| l.contains("Effective Concurrency (requests)"))
            .unwrap();
        // Time-weighted rows have every console column (no N/A).
        assert_eq!(conc.matches("N/A").count(), 0, "{conc}");
        let main = lines.iter().position(|l| l.trim() == TITLE).unwrap();
        assert!(lines[main + 1].starts_with('┏'));
        assert!(lines[main + 2].starts_with("┃ ") && lines[main + 2].contains("Metric ┃    avg ┃"));
        // Every line of one table has the title's width.
        let w = lines[main].chars().count();
        for l in &lines[main..] {
            assert_eq!(l.chars().count(), w, "{l}");
        }
        let ttft = lines
            .iter()
            .find(|l| l.contains("Time to First Token (ms)"))
            .unwrap();
        assert!(ttft.contains("│  20.00 │  10.00 │  30.00 │"), "{ttft}");
        // Long header wraps with the unit on its own line.
        let i = lines
            .iter()
            .position(|l| l.contains("Output Token Throughput Per User"))
            .unwrap();
        assert!(lines[i + 1].contains("(tokens/sec/user) │"));
        let rt = lines
            .iter()
            .find(|l| l.contains("Request Throughput (requests/sec)"))
            .unwrap();
        assert!(rt.contains("│  28.57 │"), "{rt}");
        assert_eq!(rt.matches("N/A").count(), 6);
        // Rows in AIPerf's display order.
        let pos = |s: &str| lines.iter().position(|l| l.contains(s)).unwrap();
        assert!(pos("Time to First Token") < pos("Time to Second Token"));
        assert!(pos("Request Latency") < pos("Inter Token Latency"));
        assert!(pos("Input Sequence Length") < pos("Output Token Throughput (tokens/sec)"));
        assert!(pos("Request Throughput") < pos("Request Count"));
        assert!(!text.contains("Error Request Count"));
    }

    #[test]
    fn trace_table_only_when_asked_and_first() {
        let mut run = sample_run();
        for r in &mut run.records {
            r.send_ns = r.start_ns;
            r.sent_ns = r.start_ns;
        }
        let s = compute(
            &run,
            &crate::tokens::from_server_usage(&run),
            &ComputeOptions::default(),
        );
        assert!(!render_tables(&s, false).contains(TRACE_TITLE));
        let text = render_tables(&s, true);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[2].trim(), TRACE_TITLE);
        let pos = |s: &str| lines.iter().position(|l| l.contains(s)).unwrap();
        // AIPerf's display order, and its labels.
        assert!(pos("HTTP Blocked (ms)") < pos("HTTP DNS Lookup (ms)"));
        assert!(pos("HTTP Waiting (TTFB) (ms)") < pos("HTTP Receiving (ms)"));
        assert!(pos("HTTP Connection Overhead (ms)") < pos("HTTP Total Time (ms)"));
        assert!(pos("HTTP Total Time (ms)") < pos("audioperf | LLM Metrics: Usage"));
        // ack 1 ms after the start in `sample_run`.
        let waiting = lines[pos("HTTP Waiting (TTFB) (ms)")];
        assert!(waiting.contains("│   1.00 │"), "{waiting}");
        assert!(!text.contains("Inter Chunk Latency"));
    }

    #[test]
    fn error_table() {
        let run = sample_run();
        let s = compute(
            &run,
            &crate::tokens::from_server_usage(&run),
            &ComputeOptions::default(),
        );
        let t = render_errors(&s);
        assert!(t.contains("audioperf | Error Summary"));
        assert!(
            t.contains("│  500 │ HTTPError │ Internal Server Error │     1 │"),
            "{t}"
        );
    }

    #[test]
    fn open_loop_rows() {
        let run = crate::metrics::tests::open_loop_run();
        let s = compute(
            &run,
            &crate::tokens::from_server_usage(&run),
            &ComputeOptions::default(),
        );
        let text = render_tables(&s, false);
        let lag = text
            .lines()
            .find(|l| l.contains("Schedule Lag (ms)"))
            .unwrap();
        // avg of 1, 4, 12, 2, 0 ms; min 0; max 12.
        assert!(lag.contains("│   3.80 │   0.00 │  12.00 │"), "{lag}");
        assert!(text.contains("Cancelled Request Count (requests) │   1.00 │"));
        assert!(text.contains("Waited For Connection Count (requests) │   1.00 │"));
        let csv = crate::report::csv::render(&s);
        assert!(csv.contains("\r\nSchedule Lag (ms),3.80,0.00,12.00,19.00,"));
        assert!(csv.contains("\r\nCancelled Request Count,1.00\r\n"));
        assert!(csv.contains("\r\nWaited For Connection Count,1.00\r\n"));
    }
}
