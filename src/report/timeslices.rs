//! `--slice-duration` exports in AIPerf 0.13's layout:
//! `profile_export_aiperf_timeslices.json` (`timeslices`: one object per
//! non-empty slice, `start_ns`, `end_ns`, `is_complete: false` on the last
//! partial one, then each metric as in the main JSON; then `input_config`)
//! and `profile_export_aiperf_timeslices.csv` (tidy rows
//! `Timeslice,Start_NS,End_NS,Metric,Unit,Stat,Value`, metrics sorted by tag,
//! stats in AIPerf's order, no count rows, every value with two decimals).

use std::io::{self, Write};

use serde_json::json;

use crate::config::ProfileConfig;
use crate::metrics::timeslices::Timeslice;
use crate::metrics::{MetricResult, Stat};
use crate::sys::clock::{ClockAnchor, Nanos};

use super::json::metric_object;
use super::ordered::{obj, Ordered};

pub const JSON_FILE: &str = "profile_export_aiperf_timeslices.json";
pub const CSV_FILE: &str = "profile_export_aiperf_timeslices.csv";

/// The JSON document (2-space indent, no trailing newline).
/// Slice bounds as AIPerf writes them: wall-clock ns since the epoch.
fn wall(anchor: Option<ClockAnchor>, ts: Nanos) -> Nanos {
    anchor.map_or(ts, |a| a.wall_of(ts))
}

pub fn write_json(
    w: &mut impl Write,
    cfg: &ProfileConfig,
    anchor: Option<ClockAnchor>,
    slices: &[Timeslice],
) -> io::Result<()> {
    let list = slices
        .iter()
        .map(|s| {
            let mut f = vec![
                ("start_ns", Ordered::Val(json!(wall(anchor, s.start_ns)))),
                ("end_ns", Ordered::Val(json!(wall(anchor, s.end_ns)))),
            ];
            if s.partial {
                f.push(("is_complete", Ordered::Val(json!(false))));
            }
            for r in sorted(&s.results) {
                f.push((r.def.tag, metric_object(r)));
            }
            obj(f)
        })
        .collect();
    let doc = obj(vec![
        ("timeslices", Ordered::Arr(list)),
        ("input_config", Ordered::Val(cfg.input_config_json.clone())),
    ]);
    serde_json::to_writer_pretty(w, &doc).map_err(io::Error::other)
}

fn sorted(results: &[MetricResult]) -> Vec<&MetricResult> {
    let mut v: Vec<&MetricResult> = results.iter().collect();
    v.sort_by_key(|r| r.def.tag);
    v
}

/// The CSV text (CRLF line ends, as Python's csv module writes).
pub fn render_csv(anchor: Option<ClockAnchor>, slices: &[Timeslice]) -> String {
    let mut out = String::from("Timeslice,Start_NS,End_NS,Metric,Unit,Stat,Value\r\n");
    for (i, s) in slices.iter().enumerate() {
        for r in sorted(&s.results) {
            for stat in Stat::CSV_COLUMNS {
                let Some(v) = r.stat(stat) else { continue };
                // AIPerf's values are floats here, counts too ("16.00").
                let value = format!("{v:.2}");
                let name = if r.def.header.contains([',', '"']) {
                    format!("\"{}\"", r.def.header.replace('"', "\"\""))
                } else {
                    r.def.header.to_string()
                };
                out.push_str(&format!(
                    "{i},{},{},{name},{},{},{value}\r\n",
                    wall(anchor, s.start_ns),
                    wall(anchor, s.end_ns),
                    r.def.display_unit,
                    stat.key()
                ));
            }
        }
    }
    out
}
