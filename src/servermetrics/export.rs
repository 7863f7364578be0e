//! `server_metrics_export.json` and `.csv` in AIPerf 0.13's layout: metrics
//! keyed by family name (counters without `_total`), each with its type,
//! HELP text, unit and one series per endpoint and label set; gauge stats
//! (avg, min, max, std, p1..p99), counter stats (total, rate), histogram
//! stats (count, sum, avg, count_rate, sum_rate, p*_estimate from the
//! buckets) over the profiling window (`window`), with time slices when
//! `--slice-duration` is set; and a `summary` of the endpoints and fetches.
//! The scrapes are read back from their JSONL one line at a time.

use super::prom::{Exposition, Kind, Labels};
use super::scrape::ScrapeReport;
use super::store::{read_lines, SlimSample};
use super::window::{self, PERCENTILES};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Write};
use std::path::Path;

/// AIPerf's server-metrics export schema version.
pub const SCHEMA_VERSION: &str = "1.1";

/// The measured window, wall-clock ns, and its slices.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub start_ns: u64,
    pub end_ns: u64,
    /// `--slice-duration`, ns.
    pub slice_ns: Option<u64>,
}

/// One histogram scrape: count, sum and the cumulative buckets (bound as
/// written, count) in bound order.
#[derive(Clone, Debug, Default)]
struct HistPoint {
    count: f64,
    sum: f64,
    buckets: Vec<(String, f64)>,
}

/// One series' scrapes, in time order.
#[derive(Debug, Default)]
struct Points {
    times: Vec<u64>,
    /// Gauge/counter values (empty for histograms).
    values: Vec<f64>,
    /// Histogram scrapes.
    hist: Vec<HistPoint>,
}

type SeriesKey = (String, Labels);

/// Every series of every family, from the scrape file.
#[derive(Debug, Default)]
pub struct Collected {
    families: BTreeMap<String, BTreeMap<SeriesKey, Points>>,
}

impl Collected {
    /// Reads the scrape file back (a missing or torn file gives what it holds).
    pub fn load(path: &Path) -> Collected {
        let mut c = Collected::default();
        let Ok(f) = File::open(path) else { return c };
        for scrape in read_lines(BufReader::new(f)) {
            for (family, samples) in scrape.metrics {
                let series = c.families.entry(family).or_default();
                for s in samples {
                    let key = (
                        scrape.endpoint_url.clone(),
                        s.labels.clone().unwrap_or_default(),
                    );
                    let p = series.entry(key).or_default();
                    add(p, scrape.timestamp_ns, &s);
                }
            }
        }
        c
    }
}

fn add(p: &mut Points, t: u64, s: &SlimSample) {
    if p.times.last().is_some_and(|&last| last > t) {
        return; // out of order: ignored (the scraper writes in order)
    }
    if let Some(b) = &s.buckets {
        let mut buckets: Vec<(String, f64)> = b.iter().map(|(k, v)| (k.clone(), *v)).collect();
        buckets.sort_by(|x, y| bound(&x.0).total_cmp(&bound(&y.0)));
        p.hist.push(HistPoint {
            count: s.count.unwrap_or(0.0),
            sum: s.sum.unwrap_or(0.0),
            buckets,
        });
        p.times.push(t);
    } else if let Some(v) = s.value {
        p.values.push(v);
        p.times.push(t);
    }
}

fn bound(le: &str) -> f64 {
    super::prom::parse_value(le).unwrap_or(f64::INFINITY)
}

/// AIPerf's unit from the metric name.
fn unit(name: &str) -> Option<&'static str> {
    let n = name.to_ascii_lowercase();
    if n.ends_with("_seconds") || n.ends_with("_seconds_total") {
        Some("seconds")
    } else if n.ends_with("_perc") || n.ends_with("_ratio") || n.ends_with("usage") {
        Some("ratio")
    } else if n.ends_with("_bytes") {
        Some("bytes")
    } else if n.contains("tokens") {
        Some("tokens")
    } else if n.contains("request") || n.contains("reqs") {
        Some("requests")
    } else {
        None
    }
}

fn stats_gauge(p: &Points, start: u64, end: u64) -> Option<Map<String, Value>> {
    let pts: Vec<(u64, f64)> = p
        .times
        .iter()
        .copied()
        .zip(p.values.iter().copied())
        .collect();
    let g = window::gauge(&pts, start, end)?;
    let mut m = Map::new();
    m.insert("avg".into(), json!(g.avg));
    m.insert("min".into(), json!(g.min));
    m.insert("max".into(), json!(g.max));
    m.insert("std".into(), json!(g.std));
    for ((_, name), v) in PERCENTILES.iter().zip(&g.percentiles) {
        m.insert((*name).into(), json!(v));
    }
    Some(m)
}

/// The scrapes a counter's increase over `[start, end]` is taken between
/// (`at`: given by the caller for time slices, so that they add up).
type Span = (u64, u64, Option<(usize, usize)>);

fn span_edges(p: &Points, (start, end, at): Span) -> Option<(usize, usize)> {
    at.or_else(|| window::edges(&p.times, start, end))
}

fn stats_counter(p: &Points, span: Span) -> Option<Map<String, Value>> {
    let (start, end, _) = span;
    let (a, b) = span_edges(p, span)?;
    let total = window::increase(&p.values, a, b);
    let secs = (end.saturating_sub(start)) as f64 / 1e9;
    let mut m = Map::new();
    m.insert("total".into(), json!(total));
    m.insert(
        "rate".into(),
        json!(if secs > 0.0 { total / secs } else { 0.0 }),
    );
    Some(m)
}

/// A histogram's change across the window: count, sum, buckets.
fn hist_delta(p: &Points, span: Span) -> Option<HistPoint> {
    let (a, b) = span_edges(p, span)?;
    let (h0, h1) = (&p.hist[a], &p.hist[b]);
    let reset = h1.count < h0.count;
    let buckets = h1
        .buckets
        .iter()
        .map(|(le, v)| {
            let before = h0.buckets.iter().find(|x| &x.0 == le).map_or(0.0, |x| x.1);
            (le.clone(), if reset { *v } else { (v - before).max(0.0) })
        })
        .collect();
    if reset {
        return Some(HistPoint {
            buckets,
            ..h1.clone()
        });
    }
    Some(HistPoint {
        count: h1.count - h0.count,
        sum: h1.sum - h0.sum,
        buckets,
    })
}

fn stats_histogram(p: &Points, span: Span) -> Option<(Map<String, Value>, Value)> {
    let (start, end, _) = span;
    let HistPoint {
        count,
        sum,
        buckets,
    } = hist_delta(p, span)?;
    let secs = (end.saturating_sub(start)) as f64 / 1e9;
    let rate = |x: f64| if secs > 0.0 { x / secs } else { 0.0 };
    let mut m = Map::new();
    m.insert("count".into(), json!(count as u64));
    m.insert("sum".into(), json!(sum));
    m.insert(
        "avg".into(),
        json!(if count > 0.0 { sum / count } else { 0.0 }),
    );
    m.insert("count_rate".into(), json!(rate(count)));
    m.insert("sum_rate".into(), json!(rate(sum)));
    let numeric: Vec<(f64, f64)> = buckets.iter().map(|(le, c)| (bound(le), *c)).collect();
    for (p, name) in PERCENTILES {
        if let Some(v) = window::histogram_quantile(&numeric, p / 100.0) {
            m.insert(format!("{name}_estimate"), json!(v));
        }
    }
    let b: Map<String, Value> = buckets
        .into_iter()
        .map(|(le, c)| (le, json!(c as u64)))
        .collect();
    Some((m, Value::Object(b)))
}

/// The slices of the window: `[start + k*d, start + (k+1)*d)`, the last one
/// cut at the window's end.
fn slices(w: &Window) -> Vec<(u64, u64)> {
    let Some(d) = w.slice_ns.filter(|&d| d > 0) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut a = w.start_ns;
    while a < w.end_ns && out.len() < 100_000 {
        let b = (a + d).min(w.end_ns);
        out.push((a, b));
        a = b;
    }
    out
}

/// The `metrics` object, and each family's kind (for the CSV and console).
pub fn metrics_json(c: &Collected, report: &ScrapeReport, w: &Window) -> Map<String, Value> {
    let mut out = Map::new();
    let cuts = slices(w);
    for (family, series) in &c.families {
        let kind = Exposition::kind_of(&report.kinds, family);
        let help = report
            .help
            .get(family)
            .or_else(|| report.help.get(&format!("{family}_total")))
            .cloned()
            .unwrap_or_default();
        let mut list = Vec::new();
        for ((url, labels), p) in series {
            let mut s = Map::new();
            s.insert("endpoint_url".into(), json!(url));
            if !labels.is_empty() {
                s.insert("labels".into(), json!(labels));
            }
            let one = |span: Span| -> Option<(Map<String, Value>, Option<Value>)> {
                match kind {
                    Kind::Counter => stats_counter(p, span).map(|m| (m, None)),
                    Kind::Histogram => stats_histogram(p, span).map(|(m, b)| (m, Some(b))),
                    _ => stats_gauge(p, span.0, span.1).map(|m| (m, None)),
                }
            };
            if let Some((stats, buckets)) = one((w.start_ns, w.end_ns, None)) {
                s.insert("stats".into(), Value::Object(stats));
                if let Some(b) = buckets {
                    s.insert("buckets".into(), b);
                }
            }
            if !cuts.is_empty() {
                // Counters: each slice starts at the scrape the previous one
                // ended at, so the slices' increases add up to the window's.
                let mut from = window::edges(&p.times, w.start_ns, w.end_ns).map(|e| e.0);
                let ts: Vec<Value> = cuts
                    .iter()
                    .filter_map(|&(a, b)| {
                        let at = from.map(|ia| {
                            let ib = p.times.partition_point(|&t| t < b);
                            (ia, ib.min(p.times.len().saturating_sub(1)).max(ia))
                        });
                        from = at.map(|e| e.1);
                        let (mut m, _) = one((a, b, at))?;
                        if kind != Kind::Counter && kind != Kind::Histogram {
                            m.retain(|k, _| matches!(k.as_str(), "avg" | "min" | "max"));
                        }
                        if kind == Kind::Histogram {
                            m.retain(|k, _| matches!(k.as_str(), "count" | "sum" | "avg"));
                        }
                        let mut t = Map::new();
                        t.insert("start_ns".into(), json!(a));
                        t.insert("end_ns".into(), json!(b));
                        t.extend(m);
                        Some(Value::Object(t))
                    })
                    .collect();
                s.insert("timeslices".into(), Value::Array(ts));
            }
            list.push(Value::Object(s));
        }
        let mut f = Map::new();
        f.insert("type".into(), json!(kind.as_str()));
        f.insert("description".into(), json!(help));
        if let Some(u) = unit(family) {
            f.insert("unit".into(), json!(u));
        }
        f.insert("series".into(), Value::Array(list));
        out.insert(family.clone(), Value::Object(f));
    }
    out
}

/// The `summary` object: endpoints configured and answering, the window,
/// and per endpoint its fetches.
pub fn summary_json(report: &ScrapeReport, w: &Window) -> Value {
    let iso = |ns: u64| crate::report::log::LocalTime::from_wall_ns(ns).isoformat();
    let mut info = Map::new();
    for e in &report.endpoints {
        let mut m = Map::new();
        m.insert("total_fetches".into(), json!(e.fetches));
        m.insert("failed_fetches".into(), json!(e.failures));
        if let (Some(first), Some(last)) = (e.first_fetch_ns, e.last_fetch_ns) {
            m.insert("first_fetch_ns".into(), json!(first));
            m.insert("last_fetch_ns".into(), json!(last));
            m.insert(
                "duration_seconds".into(),
                json!((last - first) as f64 / 1e9),
            );
        }
        let avg_ms = if e.fetches > 0 {
            e.latency_ns_sum as f64 / e.fetches as f64 / 1e6
        } else {
            0.0
        };
        m.insert("avg_fetch_latency_ms".into(), json!(avg_ms));
        if let Some(err) = &e.first_error {
            m.insert("first_error".into(), json!(err));
        }
        info.insert(e.url.clone(), Value::Object(m));
    }
    json!({
        "endpoints_configured": report.endpoints.iter().map(|e| e.url.clone()).collect::<Vec<_>>(),
        "endpoints_successful": report.endpoints.iter().filter(|e| e.fetches > 0).map(|e| e.url.clone()).collect::<Vec<_>>(),
        "start_time": iso(w.start_ns),
        "end_time": iso(w.end_ns),
        "endpoint_info": info,
        "phase_time_ranges": {"profiling": {"start_ns": w.start_ns, "end_ns": w.end_ns}},
    })
}

/// The whole JSON document.
pub fn document(
    metrics: Map<String, Value>,
    summary: Value,
    benchmark_id: &str,
    input_config: &Value,
) -> Value {
    let mut d = Map::new();
    d.insert("schema_version".into(), json!(SCHEMA_VERSION));
    d.insert(
        "aiperf_version".into(),
        json!(crate::report::json::AIPERF_VERSION),
    );
    d.insert("benchmark_id".into(), json!(benchmark_id));
    d.insert("summary".into(), summary);
    d.insert("metrics_phase".into(), json!("profiling"));
    d.insert("metrics".into(), Value::Object(metrics));
    d.insert("input_config".into(), input_config.clone());
    Value::Object(d)
}

pub fn write_json(path: &Path, doc: &Value) -> io::Result<()> {
    let mut f = io::BufWriter::new(File::create(path)?);
    serde_json::to_writer_pretty(&mut f, doc)?;
    f.write_all(b"\n")?;
    f.flush()
}

/// The host:port of an endpoint URL (AIPerf's `Endpoint` column).
fn short_endpoint(url: &str) -> &str {
    let rest = url.split("://").nth(1).unwrap_or(url);
    rest.split('/').next().unwrap_or(rest)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// AIPerf's CSV: a comment header, then one table per metric type (gauges,
/// counters, histograms), each with its stat columns, the label columns of
/// that type (sorted) and the description.
pub fn write_csv(path: &Path, metrics: &Map<String, Value>, benchmark_id: &str) -> io::Result<()> {
    let mut f = io::BufWriter::new(File::create(path)?);
    writeln!(
        f,
        "# AIPerf Server Metrics Export (CSV)\n# aiperf_version: {}\n# schema_version: 1.0\n# benchmark_id: {benchmark_id}\n# Note: Same benchmark_id and version appear in JSON and Parquet exports\n#",
        crate::report::json::AIPERF_VERSION
    )?;
    let gauge_cols: Vec<String> = ["avg", "min", "max", "std"]
        .iter()
        .map(|s| s.to_string())
        .chain(PERCENTILES.iter().map(|p| p.1.to_string()))
        .collect();
    let counter_cols: Vec<String> = [
        "total", "rate", "rate_avg", "rate_min", "rate_max", "rate_std",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let hist_cols: Vec<String> = ["count", "count_rate", "sum", "sum_rate", "avg"]
        .iter()
        .map(|s| s.to_string())
        .chain(PERCENTILES.iter().map(|p| format!("{}_estimate", p.1)))
        .collect();
    let mut first = true;
    for (types, cols) in [
        (&["gauge", "unknown"][..], &gauge_cols),
        (&["counter"][..], &counter_cols),
        (&["histogram"][..], &hist_cols),
    ] {
        let fams: Vec<(&String, &Value)> = metrics
            .iter()
            .filter(|(_, v)| types.contains(&v["type"].as_str().unwrap_or("")))
            .collect();
        if fams.is_empty() {
            continue;
        }
        let mut label_keys: Vec<String> = fams
            .iter()
            .flat_map(|(_, v)| v["series"].as_array().cloned().unwrap_or_default())
            .flat_map(|s| {
                s["labels"]
                    .as_object()
                    .map(|m| m.keys().cloned().collect::<Vec<_>>())
                    .unwrap_or_default()
            })
            .collect();
        label_keys.sort();
        label_keys.dedup();
        if !first {
            writeln!(f)?;
        }
        first = false;
        let mut head = vec!["Endpoint", "Type", "Metric", "Unit"]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
        head.extend(cols.iter().cloned());
        head.extend(label_keys.iter().cloned());
        head.push("Description".into());
        if types[0] == "histogram" {
            head.push("buckets".into());
        }
        writeln!(f, "{}", head.join(","))?;
        for (name, fam) in fams {
            for s in fam["series"].as_array().into_iter().flatten() {
                let stats = &s["stats"];
                let mut row = vec![
                    csv_field(short_endpoint(s["endpoint_url"].as_str().unwrap_or(""))),
                    fam["type"].as_str().unwrap_or("").to_string(),
                    csv_field(name),
                    fam["unit"].as_str().unwrap_or("").to_string(),
                ];
                for c in cols {
                    row.push(match &stats[c.as_str()] {
                        Value::Number(n) if c == "count" => n.to_string(),
                        Value::Number(n) => format!("{:.4}", n.as_f64().unwrap_or(0.0)),
                        _ => String::new(),
                    });
                }
                for k in &label_keys {
                    row.push(csv_field(s["labels"][k].as_str().unwrap_or("")));
                }
                row.push(csv_field(fam["description"].as_str().unwrap_or("")));
                if types[0] == "histogram" {
                    let b: Vec<String> = s["buckets"]
                        .as_object()
                        .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect())
                        .unwrap_or_default();
                    // In bound order, as the histogram has them.
                    let mut b = b;
                    b.sort_by(|x, y| {
                        bound(x.split('=').next().unwrap_or(""))
                            .total_cmp(&bound(y.split('=').next().unwrap_or("")))
                    });
                    row.push(csv_field(&b.join(";")));
                }
                writeln!(f, "{}", row.join(","))?;
            }
        }
    }
    f.flush()
}
