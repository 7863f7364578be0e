//! `profile_export_aiperf.json`: one object per metric tag (`unit`, `avg`,
//! `p1`…`p99`, `min`, `max`, `std`, `count`, `sum`), then `input_config`,
//! `run_info`, `was_cancelled`, `is_complete`, `error_summary`, `start_time`,
//! `end_time`, with AIPerf's key order (its pydantic field order, absent
//! values left out) and its 2-space indentation, no trailing newline.
//!
//! audioperf extensions come last: `request_accounting` (`sent`,
//! `successful`, `errors`, `cancelled` of the profiling phase, with
//! `sent = successful + errors + cancelled`; plus `warmup` and
//! `latency_from_schedule`) and `audioperf` (the client self-report, see
//! `report::selfcheck`).

use std::io::{self, Write};

use serde_json::json;

use crate::config::ProfileConfig;
use crate::metrics::{MetricResult, MetricValue, MetricsSummary, Stat};
use crate::record::RunOutput;

use super::log::LocalTime;
use super::ordered::{obj, Ordered};
use super::selfcheck::ClientReport;

/// Schema version of AIPerf 0.13.0's JSON export, whose layout this follows.
pub const SCHEMA_VERSION: &str = "1.4";
/// The AIPerf release whose layout the files follow (readers key on it).
pub const AIPERF_VERSION: &str = "0.13.0";

/// Metric tags AIPerf declares as fields (they come first, in this order);
/// every other metric follows the run fields, in display order.
const DECLARED: [&str; 25] = [
    "request_throughput",
    "request_latency",
    "request_count",
    "time_to_first_token",
    "time_to_second_token",
    "inter_token_latency",
    "output_token_throughput",
    "output_token_throughput_per_user",
    "output_sequence_length",
    "input_sequence_length",
    "goodput",
    "good_request_count",
    "output_token_count",
    "reasoning_token_count",
    "min_request_timestamp",
    "max_response_timestamp",
    "inter_chunk_latency",
    "total_output_tokens",
    "total_reasoning_tokens",
    "benchmark_duration",
    "total_isl",
    "total_osl",
    "error_request_count",
    "error_isl",
    "total_error_isl",
];

/// `{unit, avg, p1…p99, min, max, std, count, sum}` or `{unit, avg}`.
pub(crate) fn metric_object(r: &MetricResult) -> Ordered {
    let mut f = vec![("unit", Ordered::Val(json!(r.def.display_unit)))];
    match &r.value {
        MetricValue::Single(v) => f.push((Stat::Avg.key(), Ordered::Val(json!(v)))),
        MetricValue::Stats(s) => {
            for stat in Stat::ALL {
                let v = match (stat, r.stat(stat)) {
                    (_, None) => continue,
                    (Stat::Count, _) => json!(s.count),
                    (_, Some(v)) => json!(v),
                };
                f.push((stat.key(), Ordered::Val(v)));
            }
        }
    }
    obj(f)
}

/// The whole document as an ordered value.
pub(crate) fn document(cfg: &ProfileConfig, run: &RunOutput, summary: &MetricsSummary) -> Ordered {
    let benchmark_id = format!(
        "{:012x}",
        run.anchor.map_or(0, |a| a.wall_ns) & 0xffff_ffff_ffff
    );
    let mut f: Vec<(&str, Ordered)> = vec![
        ("schema_version", Ordered::Val(json!(SCHEMA_VERSION))),
        ("aiperf_version", Ordered::Val(json!(AIPERF_VERSION))),
        ("benchmark_id", Ordered::Val(json!(benchmark_id))),
    ];
    let by_tag = |tag: &str| summary.results.iter().find(|r| r.def.tag == tag);
    for tag in DECLARED {
        if let Some(r) = by_tag(tag) {
            f.push((r.def.tag, metric_object(r)));
        }
    }
    f.push(("input_config", Ordered::Val(cfg.input_config_json.clone())));
    f.push((
        "run_info",
        obj(vec![
            ("benchmark_id", Ordered::Val(json!(benchmark_id))),
            ("trial", Ordered::Val(json!(0))),
            ("cli_command", Ordered::Val(json!(cfg.cli_command))),
        ]),
    ));
    f.push(("was_cancelled", Ordered::Val(json!(summary.was_cancelled))));
    f.push(("is_complete", Ordered::Val(json!(!summary.was_cancelled))));
    let errors = summary
        .error_summary
        .iter()
        .map(|e| {
            let mut details = Vec::new();
            if let Some(code) = e.code {
                details.push(("code", Ordered::Val(json!(code))));
            }
            details.push(("type", Ordered::Val(json!(e.error_type))));
            details.push(("message", Ordered::Val(json!(e.message))));
            obj(vec![
                ("error_details", obj(details)),
                ("count", Ordered::Val(json!(e.count))),
            ])
        })
        .collect::<Vec<_>>();
    f.push(("error_summary", Ordered::Arr(errors)));
    if let Some(anchor) = run.anchor {
        for (key, ts) in [
            ("start_time", summary.start_ns),
            ("end_time", summary.end_ns),
        ] {
            if let Some(ts) = ts {
                let t = LocalTime::from_wall_ns(anchor.wall_of(ts));
                f.push((key, Ordered::Val(json!(t.isoformat()))));
            }
        }
    }
    let mut rest: Vec<&MetricResult> = summary
        .results
        .iter()
        .filter(|r| !DECLARED.contains(&r.def.tag))
        .collect();
    rest.sort_by_key(|r| (r.def.display_order, r.def.tag));
    for r in rest {
        f.push((r.def.tag, metric_object(r)));
    }
    // audioperf extensions, last so AIPerf readers see its layout unchanged.
    if let Some(reason) = &run.stop_reason {
        f.push(("stop_reason", Ordered::Val(json!(reason))));
    }
    let a = &summary.accounting;
    f.push((
        "request_accounting",
        obj(vec![
            ("sent", Ordered::Val(json!(a.sent))),
            ("successful", Ordered::Val(json!(a.successful))),
            ("errors", Ordered::Val(json!(a.errors))),
            ("cancelled", Ordered::Val(json!(a.cancelled))),
            ("warmup", Ordered::Val(json!(summary.warmup_requests))),
            (
                "latency_from_schedule",
                Ordered::Val(json!(summary.latency_from_schedule)),
            ),
        ]),
    ));
    f.push(("audioperf", ClientReport::new(run, summary).to_json()));
    obj(f)
}

/// Writes the document (2-space indent, no trailing newline, like orjson's).
pub fn write(
    w: &mut impl Write,
    cfg: &ProfileConfig,
    run: &RunOutput,
    summary: &MetricsSummary,
) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, &document(cfg, run, summary)).map_err(io::Error::other)
}
