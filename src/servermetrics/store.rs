//! The scrapes on disk: one JSON line per scrape in AIPerf's slim record
//! layout (`server_metrics_export.jsonl`): `endpoint_url`, `timestamp_ns`
//! (wall clock), `endpoint_latency_ns`, and `metrics`, each family name
//! mapped to its samples (`labels` and `value`, or for a histogram
//! `buckets`, `sum` and `count`). Families named `*_info` are left out, as
//! AIPerf does. The export statistics read the file back one line at a time.

use super::prom::{Exposition, Kind, Labels};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{self, BufRead, Write};

/// One sample of one family.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SlimSample {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub labels: Option<Labels>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub value: Option<f64>,
    /// Histogram: upper bound (`le`, as written) to cumulative count.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub buckets: Option<BTreeMap<String, f64>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sum: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub count: Option<f64>,
}

/// One scrape of one endpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Scrape {
    pub endpoint_url: String,
    /// Wall clock (ns since the Unix epoch) when the request was sent.
    pub timestamp_ns: u64,
    pub endpoint_latency_ns: u64,
    pub metrics: BTreeMap<String, Vec<SlimSample>>,
}

impl Scrape {
    /// Groups a parsed exposition by family: histogram `_bucket`/`_sum`/
    /// `_count` lines become one sample per label set (without `le`).
    pub fn from_exposition(url: &str, wall_ns: u64, latency_ns: u64, e: &Exposition) -> Scrape {
        let mut metrics: BTreeMap<String, Vec<SlimSample>> = BTreeMap::new();
        // Histograms: family -> label set -> sample being assembled.
        let mut hist: BTreeMap<String, BTreeMap<Labels, SlimSample>> = BTreeMap::new();
        for s in &e.samples {
            let (family, kind) = e.family(&s.name);
            if family.ends_with("_info") {
                continue;
            }
            if kind == Kind::Histogram {
                let mut labels = s.labels.clone();
                let le = labels.remove("le");
                let h = hist
                    .entry(family.to_string())
                    .or_default()
                    .entry(labels.clone())
                    .or_insert_with(|| SlimSample {
                        labels: (!labels.is_empty()).then_some(labels),
                        ..Default::default()
                    });
                if s.name.ends_with("_bucket") {
                    if let Some(le) = le {
                        h.buckets
                            .get_or_insert_with(BTreeMap::new)
                            .insert(le, s.value);
                    }
                } else if s.name.ends_with("_sum") {
                    h.sum = Some(s.value);
                } else if s.name.ends_with("_count") {
                    h.count = Some(s.value);
                }
                continue;
            }
            if kind == Kind::Summary || s.name.ends_with("_created") || !s.value.is_finite() {
                // Summaries carry server-side quantiles AIPerf does not export.
                continue;
            }
            metrics
                .entry(family.to_string())
                .or_default()
                .push(SlimSample {
                    labels: (!s.labels.is_empty()).then(|| s.labels.clone()),
                    value: Some(s.value),
                    ..Default::default()
                });
        }
        for (family, by_labels) in hist {
            metrics.insert(family, by_labels.into_values().collect());
        }
        Scrape {
            endpoint_url: url.to_string(),
            timestamp_ns: wall_ns,
            endpoint_latency_ns: latency_ns,
            metrics,
        }
    }
}

pub fn write_line(out: &mut impl Write, s: &Scrape) -> io::Result<()> {
    serde_json::to_writer(&mut *out, s)?;
    out.write_all(b"\n")
}

/// Every scrape in the file, one at a time; a line that does not parse
/// (a torn last line after a crash) is skipped.
pub fn read_lines(r: impl BufRead) -> impl Iterator<Item = Scrape> {
    r.lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
}
