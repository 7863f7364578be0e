//! The per-server view of a multi-server run (several `--url`): each
//! server's request count, outcomes, latency and TTFT summaries and whether
//! it went down, as `<json export>_servers.json` and a console table.

use crate::metrics::per_server::PerServer;
use crate::metrics::stats::Stats;
use crate::record::ServerOutcome;
use crate::sys::clock::ClockAnchor;
use serde_json::{json, Value};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// `profile_export_aiperf.json` -> `profile_export_aiperf_servers.json`.
pub fn path_for(json_export: &Path) -> PathBuf {
    let stem = json_export
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "profile_export_aiperf".into());
    json_export.with_file_name(format!("{stem}_servers.json"))
}

fn stats_json(s: Option<Stats>) -> Value {
    match s {
        Some(s) => json!({
            "avg": s.avg, "min": s.min, "max": s.max, "p50": s.p50, "p90": s.p90,
            "p99": s.p99, "std": s.std, "count": s.count,
        }),
        None => Value::Null,
    }
}

/// The document: one entry per server, in `--url` order.
pub fn document(
    servers: &[ServerOutcome],
    tally: &PerServer,
    anchor: Option<ClockAnchor>,
) -> Value {
    let list: Vec<Value> = servers
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let t = tally.servers.get(i).cloned().unwrap_or_default();
            json!({
                "url": s.url,
                "requests": t.requests,
                "successful": t.successful,
                "errors": t.errors,
                "cancelled": t.cancelled,
                "first_error": t.first_error,
                "went_down": s.down.is_some(),
                "down_at_ns": s.down.as_ref().map(|(at, _)| anchor.map_or(*at, |a| a.wall_of(*at))),
                "down_reason": s.down.as_ref().map(|(_, why)| why.clone()),
                "request_latency_ms": stats_json(t.latency_ms()),
                "time_to_first_token_ms": stats_json(t.ttft_ms()),
            })
        })
        .collect();
    json!({ "url_strategy": "round_robin", "servers": list })
}

pub fn write(path: &Path, doc: &Value) -> io::Result<()> {
    let mut f = io::BufWriter::new(std::fs::File::create(path)?);
    serde_json::to_writer_pretty(&mut f, doc)?;
    f.write_all(b"\n")?;
    f.flush()
}

/// The console table, plus one line per server that went down.
pub fn console(servers: &[ServerOutcome], tally: &PerServer) -> String {
    let fmt = |s: Option<Stats>, f: fn(&Stats) -> f64| {
        s.map_or("N/A".into(), |s| format!("{:.2}", f(&s)))
    };
    let mut rows = vec![[
        "Server".to_string(),
        "Requests".into(),
        "Success".into(),
        "Errors".into(),
        "Latency avg (ms)".into(),
        "Latency p99 (ms)".into(),
        "TTFT avg (ms)".into(),
    ]];
    for (i, s) in servers.iter().enumerate() {
        let t = tally.servers.get(i).cloned().unwrap_or_default();
        rows.push([
            s.url.clone(),
            t.requests.to_string(),
            t.successful.to_string(),
            t.errors.to_string(),
            fmt(t.latency_ms(), |s| s.avg),
            fmt(t.latency_ms(), |s| s.p99),
            fmt(t.ttft_ms(), |s| s.avg),
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::from("\nPer server (--url-strategy round_robin)\n");
    for r in &rows {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, v)| {
                if c == 0 {
                    format!("{v:<w$}", w = widths[c])
                } else {
                    format!("{v:>w$}", w = widths[c])
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    for (i, s) in servers.iter().enumerate() {
        if let Some((_, why)) = &s.down {
            let sent = tally.servers.get(i).map_or(0, |t| t.requests);
            out.push_str(&format!(
                "WARNING: server {} went down during the run ({why}); after {sent} requests to it, the rest went to the other servers\n",
                s.url
            ));
        }
    }
    out
}
