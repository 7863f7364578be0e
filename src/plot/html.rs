//! `report.html`: one self-contained page (charts inlined as base64 PNG,
//! inline CSS, no script, no external font or URL) with, per run, the
//! command that made it, its summary table and the client self-check.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

use super::chart::{Chart, Theme, HEIGHT, WIDTH};
use super::load::Run;
use super::multi;
use super::single::fmt;

/// A drawn chart: its model and the folder its PNG was written to.
pub struct Drawn<'a> {
    pub chart: &'a Chart,
    pub dir: &'a Path,
}

/// One section of the page: a heading, optional runs' tables, charts.
pub struct Section<'a> {
    pub heading: String,
    pub runs: Vec<&'a Run>,
    pub charts: Vec<Drawn<'a>>,
}

/// The summary table's rows: (tag, display name).
const TABLE: [(&str, &str); 10] = [
    ("time_to_first_token", "Time to first token"),
    ("time_to_second_token", "Time to second token"),
    ("inter_token_latency", "Inter-token latency"),
    ("request_latency", "Request latency"),
    (
        "output_token_throughput_per_user",
        "Output token throughput per user",
    ),
    ("output_sequence_length", "Output sequence length"),
    ("input_sequence_length", "Input sequence length"),
    ("output_token_throughput", "Output token throughput"),
    ("total_token_throughput", "Total token throughput"),
    ("request_throughput", "Request throughput"),
];
const STATS: [&str; 7] = ["avg", "min", "max", "p50", "p90", "p99", "std"];

pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn css(theme: Theme) -> &'static str {
    match theme {
        Theme::Light => "body{background:#fff;color:#222}th,td{border-color:#ccc}pre,.warn{background:#f4f4f4}th{background:#f0f0f0}",
        Theme::Dark => "body{background:#181a1f;color:#e5e7eb}th,td{border-color:#4b505a}pre,.warn{background:#23262d}th{background:#2a2e36}",
    }
}

fn summary_table(out: &mut String, run: &Run) {
    out.push_str("<table><tr><th>Metric</th><th>Unit</th>");
    for s in STATS {
        let _ = write!(out, "<th>{s}</th>");
    }
    out.push_str("</tr>\n");
    for (tag, name) in TABLE {
        let Some(m) = run.summary.get(tag) else {
            continue;
        };
        let unit = m.get("unit").and_then(Value::as_str).unwrap_or("");
        let _ = write!(out, "<tr><td>{}</td><td>{}</td>", esc(name), esc(unit));
        for s in STATS {
            let cell = m
                .get(s)
                .and_then(Value::as_f64)
                .map(fmt)
                .unwrap_or_default();
            let _ = write!(out, "<td class=n>{cell}</td>");
        }
        out.push_str("</tr>\n");
    }
    for (tag, name) in [
        ("request_count", "Requests"),
        ("benchmark_duration", "Benchmark duration"),
    ] {
        if let Some(v) = run.stat(tag, "avg") {
            let unit = run.summary[tag]
                .get("unit")
                .and_then(Value::as_str)
                .unwrap_or("");
            let _ = writeln!(
                out,
                "<tr><td>{name}</td><td>{}</td><td class=n>{}</td></tr>",
                esc(unit),
                fmt(v)
            );
        }
    }
    out.push_str("</table>\n");
}

/// The client self-check (audioperf's `audioperf` object): whether the load
/// generator itself kept up, so a reader can trust the numbers.
fn self_check(out: &mut String, run: &Run) {
    out.push_str("<h4>Client self-check</h4>\n");
    let Some(c) = run.summary.get("audioperf") else {
        out.push_str("<p>Not recorded: this run was not written by audioperf (AIPerf has no client self-check).</p>\n");
        return;
    };
    let num = |k: &str| {
        c.get(k)
            .and_then(Value::as_f64)
            .map(fmt)
            .unwrap_or_else(|| "n/a".into())
    };
    let saturated = c
        .get("client_saturated")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let reasons: Vec<String> = c
        .get("saturation_reasons")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|r| r.as_str().map(esc)).collect())
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "<table><tr><th>I/O driver</th><th>Client CPU per request (µs)</th><th>Loop lag p50 (ms)</th><th>Loop lag p99 (ms)</th><th>Schedule lag p99 (ms)</th><th>Client saturated</th></tr>\
         <tr><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td>{}</td></tr></table>",
        esc(c.get("io_driver").and_then(Value::as_str).unwrap_or("n/a")),
        num("client_cpu_per_request_us"),
        num("loop_lag_p50_ms"),
        num("loop_lag_p99_ms"),
        num("schedule_lag_p99_ms"),
        if saturated { "<b>yes</b>" } else { "no" },
    );
    if saturated {
        let _ = writeln!(
            out,
            "<p class=warn>The client was the bottleneck: {}</p>",
            reasons.join("; ")
        );
    }
    if let Some(a) = run.summary.get("request_accounting") {
        let n = |k: &str| a.get(k).and_then(Value::as_u64).unwrap_or(0);
        let _ = writeln!(
            out,
            "<p>Requests sent {}: {} successful, {} errors, {} cancelled.</p>",
            n("sent"),
            n("successful"),
            n("errors"),
            n("cancelled")
        );
    }
}

fn run_block(out: &mut String, run: &Run) {
    let _ = writeln!(
        out,
        "<h3>Run <code>{}</code></h3>",
        esc(&run.dir.display().to_string())
    );
    match run.command() {
        Some(cmd) => {
            let _ = writeln!(out, "<pre>{}</pre>", esc(cmd));
        }
        None => out.push_str("<p>The run did not record its command.</p>\n"),
    }
    if run.skipped_lines > 0 {
        let _ = writeln!(out, "<p class=warn>{} lines of profile_export.jsonl were not request records and were skipped.</p>", run.skipped_lines);
    }
    summary_table(out, run);
    self_check(out, run);
}

/// The sweep table: one row per run.
fn comparison_table(out: &mut String, runs: &[&Run]) {
    let k = multi::knob(runs);
    out.push_str("<table><tr><th>Run</th><th>Requests/s</th><th>Output tokens/s</th><th>Output tokens/s/user</th><th>TTFT p50 (ms)</th><th>TTFT p99 (ms)</th><th>Latency p50 (ms)</th><th>Latency p99 (ms)</th></tr>\n");
    for r in runs {
        let cell = |tag: &str, stat: &str| r.stat(tag, stat).map(fmt).unwrap_or_default();
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
            esc(&multi::label(r, k)),
            cell("request_throughput", "avg"),
            cell("output_token_throughput", "avg"),
            cell("output_token_throughput_per_user", "avg"),
            cell("time_to_first_token", "p50"),
            cell("time_to_first_token", "p99"),
            cell("request_latency", "p50"),
            cell("request_latency", "p99"),
        );
    }
    out.push_str("</table>\n");
}

/// Writes `path` from the sections (PNG files already written).
pub fn write(
    path: &Path,
    title: &str,
    theme: Theme,
    comparison: &[&Run],
    sections: &[Section],
) -> Result<()> {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>{t}</title><style>\
         body{{font-family:sans-serif;margin:24px;max-width:{w}px}}table{{border-collapse:collapse;margin:8px 0}}\
         th,td{{border:1px solid;padding:3px 8px}}td.n{{text-align:right;font-variant-numeric:tabular-nums}}\
         pre{{padding:8px;white-space:pre-wrap;word-break:break-all}}.warn{{padding:6px}}\
         img{{width:100%;max-width:{w}px;height:auto;display:block}}figure{{margin:16px 0}}{c}</style></head><body>\n<h1>{t}</h1>",
        t = esc(title),
        w = WIDTH,
        c = css(theme),
    );
    if comparison.len() > 1 {
        out.push_str("<h2>Runs compared</h2>\n");
        comparison_table(&mut out, comparison);
    }
    for s in sections {
        let _ = writeln!(out, "<h2>{}</h2>", esc(&s.heading));
        for r in &s.runs {
            run_block(&mut out, r);
        }
        for d in &s.charts {
            let png = d.dir.join(format!("{}.png", d.chart.stem));
            let bytes =
                std::fs::read(&png).with_context(|| format!("reading {}", png.display()))?;
            let _ = writeln!(
                out,
                "<figure id=\"{id}\"><img alt=\"{alt}\" width={WIDTH} height={HEIGHT} src=\"data:image/png;base64,{b64}\"></figure>",
                id = esc(&d.chart.stem),
                alt = esc(&d.chart.title),
                b64 = base64_simd::STANDARD.encode_to_string(&bytes),
            );
        }
    }
    out.push_str("</body></html>\n");
    std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(esc("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&#39;");
    }
}
