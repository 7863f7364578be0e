//! `profile_export_aiperf.csv`, byte for byte in AIPerf's layout: per-request
//! metrics (`Metric,avg,min,max,sum,p1,...,p99,std`) sorted by tag, a blank
//! line, then run-level values (`Metric,Value`) sorted by tag. Python's csv
//! module ends lines with CRLF and quotes only fields that need it.

use crate::metrics::{MetricDef, MetricResult, MetricValue, MetricsSummary, Stat};

/// "Header (unit)"; AIPerf leaves out the units "count" and "requests".
pub fn metric_name(def: &MetricDef) -> String {
    match def.display_unit.to_ascii_lowercase().as_str() {
        "count" | "requests" | "" => def.header.to_string(),
        _ => format!("{} ({})", def.header, def.display_unit),
    }
}

fn push_field(out: &mut String, field: &str) {
    if field.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(field);
    }
}

fn push_row<'a>(out: &mut String, fields: impl IntoIterator<Item = &'a str>) {
    for (i, f) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_field(out, f);
    }
    out.push_str("\r\n");
}

/// The whole CSV text.
pub fn render(summary: &MetricsSummary) -> String {
    let mut per_request: Vec<&MetricResult> = Vec::new();
    let mut single: Vec<&MetricResult> = Vec::new();
    for r in &summary.results {
        match r.value {
            MetricValue::Stats(_) => per_request.push(r),
            MetricValue::Single(_) => single.push(r),
        }
    }
    per_request.sort_by_key(|r| r.def.tag);
    single.sort_by_key(|r| r.def.tag);

    let mut out = String::new();
    if !per_request.is_empty() {
        let header: Vec<&str> = std::iter::once("Metric")
            .chain(Stat::CSV_COLUMNS.iter().map(|s| s.key()))
            .collect();
        push_row(&mut out, header);
        for r in &per_request {
            let mut row = vec![metric_name(r.def)];
            row.extend(
                Stat::CSV_COLUMNS
                    .iter()
                    .map(|&k| r.stat(k).map_or(String::new(), |v| format!("{v:.2}"))),
            );
            push_row(&mut out, row.iter().map(String::as_str));
        }
        if !single.is_empty() {
            out.push_str("\r\n");
        }
    }
    if !single.is_empty() {
        push_row(&mut out, ["Metric", "Value"]);
        for r in &single {
            let name = metric_name(r.def);
            let value = format!("{:.2}", r.avg());
            push_row(&mut out, [name.as_str(), value.as_str()]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{compute, tests::sample_run, ComputeOptions};

    #[test]
    fn layout_and_values() {
        let run = sample_run();
        let s = compute(
            &run,
            &crate::tokens::from_server_usage(&run),
            &ComputeOptions::default(),
        );
        let text = render(&s);
        assert!(text.ends_with("\r\n"));
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(
            lines[0],
            "Metric,avg,min,max,sum,p1,p5,p10,p25,p50,p75,p90,p95,p99,std"
        );
        // Sorted by tag: active_decode_throughput first, usage_total_tokens last.
        assert!(lines[1].starts_with("Active Decode Throughput (tokens/sec),"));
        // Time-weighted: no sum, p1, p5, p10, p25 or p75 (empty fields).
        let conc = lines
            .iter()
            .find(|l| l.starts_with("Effective Concurrency,"))
            .unwrap();
        let f: Vec<&str> = conc.split(',').collect();
        assert_eq!(
            (f[4], f[5], f[6], f[7], f[8], f[10]),
            ("", "", "", "", "", "")
        );
        assert!(!f[9].is_empty() && !f[14].is_empty());
        let ttft = lines
            .iter()
            .find(|l| l.starts_with("Time to First Token (ms),"))
            .unwrap();
        assert_eq!(
            *ttft,
            "Time to First Token (ms),20.00,10.00,30.00,60.00,10.20,11.00,12.00,15.00,20.00,25.00,28.00,29.00,29.80,8.16"
        );
        let blank = lines.iter().position(|l| l.is_empty()).unwrap();
        assert_eq!(lines[blank + 1], "Metric,Value");
        let singles = &lines[blank + 2..lines.len() - 1];
        assert!(singles.contains(&"Benchmark Duration (sec),0.10"));
        assert!(singles.contains(&"Request Count,3.00"));
        assert!(singles.contains(&"Error Request Count,1.00"));
        assert!(singles.contains(&"Completed Requests (Success + Error),4.00"));
        assert!(singles.contains(&"Request Throughput (requests/sec),28.57"));
        // Sorted by tag, not by header.
        let names: Vec<&str> = singles
            .iter()
            .map(|l| l.rsplit_once(',').unwrap().0)
            .collect();
        assert_eq!(
            &names[..9],
            [
                "Benchmark Duration (sec)",
                "Completed Requests (Success + Error)",
                "Error Request Count",
                "Input Token Throughput (tokens/sec)",
                "Output Token Throughput (tokens/sec)",
                "Request Count",
                "Request Error Rate (%)",
                "Request Throughput (requests/sec)",
                "Total Input Sequence Length (tokens)",
            ]
        );
    }

    #[test]
    fn quotes_like_python() {
        let mut out = String::new();
        push_row(&mut out, ["a,b", "say \"hi\"", "plain"]);
        assert_eq!(out, "\"a,b\",\"say \"\"hi\"\"\",plain\r\n");
    }
}
