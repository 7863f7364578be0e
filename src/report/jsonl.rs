//! `profile_export.jsonl`: one compact JSON line per request, warmup lines
//! first (`benchmark_phase: "warmup"`, AIPerf's phase name; readers keep only
//! `"profiling"`), in AIPerf's record layout: `metadata` (ids, wall-clock ns
//! timestamps via `RunOutput::anchor`, worker, phase, cancelled,
//! `cancellation_time_ns`, and `credit_issued_ns` = intended start in open
//! loop), `metrics` (`tag: {value, unit}`) and, for failed or cancelled
//! requests, `error` (AIPerf leaves the key out when there is none). Written
//! line by line, never held whole.

use std::io::{self, Write};

use serde_json::json;

use crate::engine::RunOutput;
use crate::metrics::{error_details, MetricsSummary, RecordMetrics, RecordValue};
use crate::record::RequestRecord;
use crate::units::ClockAnchor;

use super::json::Ordered;

fn val(v: serde_json::Value) -> Ordered {
    Ordered::Val(v)
}

/// One record as an ordered JSON object.
pub(crate) fn line(r: &RequestRecord, m: &RecordMetrics, anchor: Option<ClockAnchor>) -> Ordered {
    let wall = |ns: u64| anchor.map_or(ns, |a| a.wall_of(ns));
    let mut meta = vec![
        ("session_num".to_string(), val(json!(r.request_id))),
        (
            "conversation_id".to_string(),
            val(json!(r.dataset_index.to_string())),
        ),
        ("turn_index".to_string(), val(json!(0))),
        ("request_start_ns".to_string(), val(json!(wall(r.start_ns)))),
    ];
    if let Some(ack) = r.ack_ns {
        meta.push(("request_ack_ns".into(), val(json!(wall(ack)))));
    }
    meta.push(("request_end_ns".into(), val(json!(wall(r.end_ns)))));
    meta.push((
        "worker_id".into(),
        val(json!(format!("worker_{}", r.worker))),
    ));
    let phase = if r.warmup { "warmup" } else { "profiling" };
    meta.push(("benchmark_phase".into(), val(json!(phase))));
    meta.push(("phase_name".into(), val(json!(phase))));
    meta.push(("was_cancelled".into(), val(json!(r.cancelled))));
    if r.cancelled {
        meta.push(("cancellation_time_ns".into(), val(json!(wall(r.end_ns)))));
    }
    // AIPerf's credit_issued_ns is when the schedule released the request:
    // our intended start (open loop only).
    if let Some(intended) = r.intended_start_ns {
        meta.push(("credit_issued_ns".into(), val(json!(wall(intended)))));
    }

    let metrics = m
        .values
        .iter()
        .map(|&(id, v)| {
            let value = match v {
                RecordValue::Int(i) => json!(i),
                RecordValue::Float(f) => json!(f),
            };
            (
                id.def().tag.to_string(),
                Ordered::Obj(vec![
                    ("value".into(), val(value)),
                    ("unit".into(), val(json!(id.def().display_unit))),
                ]),
            )
        })
        .collect();
    let mut fields = vec![
        ("metadata".to_string(), Ordered::Obj(meta)),
        ("metrics".to_string(), Ordered::Obj(metrics)),
    ];
    if let Some(e) = error_details(r) {
        let mut err = Vec::new();
        if let Some(code) = e.code {
            err.push(("code".to_string(), val(json!(code))));
        }
        err.push(("type".into(), val(json!(e.error_type))));
        err.push(("message".into(), val(json!(e.message))));
        fields.push(("error".into(), Ordered::Obj(err)));
    }
    Ordered::Obj(fields)
}

/// Writes one line per request (the summary's records, warmup included).
pub fn write(w: &mut impl Write, run: &RunOutput, summary: &MetricsSummary) -> io::Result<()> {
    for m in &summary.records {
        let Some(r) = run.records.get(m.record_index) else {
            continue;
        };
        serde_json::to_writer(&mut *w, &line(r, m, run.anchor)).map_err(io::Error::other)?;
        w.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{compute, tests::open_loop_run};

    #[test]
    fn open_loop_lines() {
        let run = open_loop_run();
        let s = compute(&run, &crate::tokens::from_server_usage(&run));
        let mut out = Vec::new();
        write(&mut out, &run, &s).unwrap();
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 5);
        // Arrival 2 was due at 1020 ms and sent at 1032 ms.
        assert_eq!(
            lines[2]["metrics"]["schedule_lag"],
            json!({"value": 12.0, "unit": "ms"})
        );
        assert_eq!(lines[2]["metadata"]["credit_issued_ns"], 1_020_000_000u64);
        let c = &lines[4];
        assert_eq!(c["metadata"]["was_cancelled"], true);
        assert_eq!(c["metadata"]["cancellation_time_ns"], 1_091_000_000u64);
        assert_eq!(
            c["error"],
            json!({"code": 499, "type": "RequestCancellationError",
                   "message": "cancelled by --request-cancellation-rate"})
        );
        assert_eq!(lines[3]["error"]["type"], "ConnectionClosed");
        assert_eq!(lines[3]["metadata"]["was_cancelled"], false);
    }
}
