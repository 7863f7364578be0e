//! `profile_export.jsonl`: one compact JSON line per request, warmup lines
//! first (`benchmark_phase: "warmup"`, AIPerf's phase name; readers keep only
//! `"profiling"`), in AIPerf's record layout: `metadata` (ids, wall-clock ns
//! timestamps via `RunOutput::anchor`, worker, phase, cancelled,
//! `cancellation_time_ns`, and `credit_issued_ns` = intended start in open
//! loop, slot claim in closed loop), `metrics` (`tag: {value, unit}`) and, for failed or cancelled
//! requests, `error` (AIPerf leaves the key out when there is none). Written
//! line by line as requests finish (by `collect`), never held whole.

use std::fmt::Display;
use std::io::{self, Write};

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::metrics::{error_details, ErrorDetails, MetricId, RecordMetrics, RecordValue};
use crate::record::{RequestRecord, RunOutput};
use crate::sys::clock::ClockAnchor;

/// One record's line, serialized straight from the record: no JSON tree or
/// per-field strings are built (this runs once per request).
struct Line<'a> {
    r: &'a RequestRecord,
    values: &'a [(MetricId, RecordValue)],
    anchor: Option<ClockAnchor>,
}

impl Serialize for Line<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry(
            "metadata",
            &Metadata {
                r: self.r,
                anchor: self.anchor,
            },
        )?;
        map.serialize_entry("metrics", &Metrics(self.values))?;
        if let Some(e) = error_details(self.r) {
            map.serialize_entry("error", &ErrorObject(e))?;
        }
        map.end()
    }
}

/// A record's `metadata` object (also the raw export's).
pub(crate) struct Metadata<'a> {
    pub r: &'a RequestRecord,
    pub anchor: Option<ClockAnchor>,
}

impl Serialize for Metadata<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Metadata { r, anchor } = self;
        let wall = |ns: u64| anchor.map_or(ns, |a| a.wall_of(ns));
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("session_num", &r.request_id)?;
        map.serialize_entry("conversation_id", &AsString(r.dataset_index))?;
        map.serialize_entry("turn_index", &0)?;
        map.serialize_entry("request_start_ns", &wall(r.start_ns))?;
        if let Some(ack) = r.ack_ns {
            map.serialize_entry("request_ack_ns", &wall(ack))?;
        }
        map.serialize_entry("request_end_ns", &wall(r.end_ns))?;
        map.serialize_entry("worker_id", &AsString(format_args!("worker_{}", r.worker)))?;
        let phase = if r.warmup { "warmup" } else { "profiling" };
        map.serialize_entry("benchmark_phase", phase)?;
        map.serialize_entry("phase_name", phase)?;
        map.serialize_entry("was_cancelled", &r.cancelled)?;
        if r.cancelled {
            map.serialize_entry("cancellation_time_ns", &wall(r.end_ns))?;
        }
        // AIPerf's credit_issued_ns is when the schedule released the
        // request: the intended start in open loop, the claim by its slot in
        // closed loop (absent from records made without either).
        let released = r.intended_start_ns.or((r.slot_ns > 0).then_some(r.slot_ns));
        if let Some(t) = released {
            map.serialize_entry("credit_issued_ns", &wall(t))?;
        }
        map.end()
    }
}

/// `tag: {"value": v, "unit": u}` for each metric of the record.
struct Metrics<'a>(&'a [(MetricId, RecordValue)]);

impl Serialize for Metrics<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (id, v) in self.0 {
            let def = id.def();
            map.serialize_entry(def.tag, &ValueUnit(v, def.display_unit))?;
        }
        map.end()
    }
}

struct ValueUnit<'a>(&'a RecordValue, &'static str);

impl Serialize for ValueUnit<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        match self.0 {
            RecordValue::Int(i) => map.serialize_entry("value", i)?,
            RecordValue::Float(f) => map.serialize_entry("value", f)?,
            RecordValue::List(l) => map.serialize_entry("value", l)?,
        }
        map.serialize_entry("unit", self.1)?;
        map.end()
    }
}

struct ErrorObject<'a>(ErrorDetails<'a>);

impl Serialize for ErrorObject<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        if let Some(code) = self.0.code {
            map.serialize_entry("code", &code)?;
        }
        map.serialize_entry("type", self.0.error_type)?;
        map.serialize_entry("message", self.0.message)?;
        map.end()
    }
}

/// A value written as a JSON string through its `Display`, without a String.
struct AsString<T>(T);

impl<T: Display> Serialize for AsString<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// Writes one request's line (and its newline).
pub fn write_line(
    w: &mut impl Write,
    r: &RequestRecord,
    values: &[(MetricId, RecordValue)],
    anchor: Option<ClockAnchor>,
) -> io::Result<()> {
    let line = Line { r, values, anchor };
    serde_json::to_writer(&mut *w, &line).map_err(io::Error::other)?;
    w.write_all(b"\n")
}

/// Writes one line per record of `run`, with its values from `records`
/// (as `metrics::compute_with_records` returns them).
pub fn write(w: &mut impl Write, run: &RunOutput, records: &[RecordMetrics]) -> io::Result<()> {
    for m in records {
        if let Some(r) = run.records.get(m.record_index) {
            write_line(w, r, &m.values, run.anchor)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{compute_with_records, tests::open_loop_run, ComputeOptions};
    use serde_json::json;

    #[test]
    fn open_loop_lines() {
        let run = open_loop_run();
        let (_, records) = compute_with_records(
            &run,
            &crate::tokens::from_server_usage(&run),
            &ComputeOptions::default(),
        );
        let mut out = Vec::new();
        write(&mut out, &run, &records).unwrap();
        let lines: Vec<serde_json::Value> = String::from_utf8(out.clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 5);
        // AIPerf's key order, checked on the text (Value maps sort keys).
        let text = String::from_utf8(out).unwrap();
        let last = text.lines().nth(4).unwrap();
        let order = [
            "\"metadata\":{\"session_num\":",
            "\"conversation_id\":\"",
            "\"turn_index\":0",
            "\"request_start_ns\":",
            "\"request_end_ns\":",
            "\"worker_id\":\"worker_",
            "\"benchmark_phase\":\"profiling\"",
            "\"phase_name\":\"profiling\"",
            "\"was_cancelled\":true",
            "\"cancellation_time_ns\":",
            "\"credit_issued_ns\":",
            "\"metrics\":{",
            "\"error\":{\"code\":499,\"type\":",
        ];
        let mut at = 0;
        for key in order {
            let pos = last[at..]
                .find(key)
                .unwrap_or_else(|| panic!("{key} after {at} in {last}"));
            at += pos + key.len();
        }
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
