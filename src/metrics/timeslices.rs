//! `--slice-duration`: the metrics again per time slice, as AIPerf 0.13
//! computes them. Requests belong to the slice their start falls in; the
//! grid starts at the first request's start; empty slices are left out; the
//! last slice ends at the run's last response. Time-weighted metrics come
//! from the run's `Sweep` over each slice's window.
//!
//! The grid's origin is fixed once `SETTLE` records are in (held meanwhile):
//! the earliest start among them, since records arrive as they finish, not
//! as they start. A request that started earlier still but is collected
//! later counts in the first slice.
//!
//! Memory per slice and metric: up to `EXACT` values (1 KiB), then a sparse
//! log histogram (one entry per 0.2%-wide bucket hit, a few dozen for a
//! latency) with exact count, sum, min, max and Welford mean/variance. Slices
//! are kept until the end (a request collected late still belongs to its
//! slice), so a run holds tens of KB per slice: choose the slice length for
//! the run's length.

use std::collections::BTreeMap;

use super::effective::Sweep;
use super::stats::Moments;
use super::{MetricId, MetricResult, MetricValue, Stats};
use crate::sys::clock::{Nanos, NANOS_PER_SEC};

/// Values kept exactly per slice and metric (stats then equal numpy's).
const EXACT: usize = 128;
/// Relative width of a histogram bucket.
const BUCKET_RATIO: f64 = 1.002;
/// Records held before the slice grid's origin is fixed.
pub const SETTLE: usize = 256;

/// One slice's results, in display units.
#[derive(Clone, Debug, PartialEq)]
pub struct Timeslice {
    pub start_ns: Nanos,
    pub end_ns: Nanos,
    /// The run ended inside this slice (AIPerf's `is_complete: false`).
    pub partial: bool,
    pub results: Vec<MetricResult>,
}

/// A metric's values within one slice.
#[derive(Clone, Debug, Default)]
struct SliceSeries {
    exact: Vec<f64>,
    buckets: Option<BTreeMap<i32, u64>>,
    moments: Moments,
}

fn bucket_of(v: f64) -> i32 {
    if v <= 0.0 {
        i32::MIN
    } else {
        (v.ln() / BUCKET_RATIO.ln()).floor() as i32
    }
}

fn bucket_mid(b: i32) -> f64 {
    if b == i32::MIN {
        0.0
    } else {
        BUCKET_RATIO.powf(b as f64 + 0.5)
    }
}

impl SliceSeries {
    fn push(&mut self, v: f64) {
        self.moments.push(v);
        match &mut self.buckets {
            Some(b) => *b.entry(bucket_of(v)).or_insert(0) += 1,
            None if self.exact.len() < EXACT => self.exact.push(v),
            None => {
                let mut b = BTreeMap::new();
                for &x in self.exact.iter().chain([v].iter()) {
                    *b.entry(bucket_of(x)).or_insert(0) += 1;
                }
                self.exact = Vec::new();
                self.buckets = Some(b);
            }
        }
    }

    fn stats(&self) -> Option<Stats> {
        let Some(b) = &self.buckets else {
            return Stats::from_values(&mut self.exact.clone());
        };
        let n = self.moments.count;
        Some(self.moments.stats(|q| {
            let rank = (q / 100.0 * (n - 1) as f64).round() as u64;
            let mut seen = 0;
            for (&k, &c) in b {
                seen += c;
                if seen > rank {
                    return bucket_mid(k);
                }
            }
            f64::INFINITY
        }))
    }
}

/// What one slice counted.
#[derive(Clone, Debug, Default)]
struct Slice {
    series: BTreeMap<MetricId, SliceSeries>,
    ok: u64,
    errors: u64,
    good: u64,
    /// First start and last response of its successful requests.
    span: Option<(Nanos, Nanos)>,
}

/// How a profiling request ended, for the slice counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success { good: bool },
    Error,
    Cancelled,
}

struct Held {
    start: Nanos,
    response_end: Nanos,
    outcome: Outcome,
    values: Vec<(MetricId, f64)>,
}

/// Slices filled one request at a time.
pub struct Slicer {
    width: Nanos,
    origin: Option<Nanos>,
    held: Vec<Held>,
    slices: BTreeMap<u64, Slice>,
    /// Latest start or end seen: where the last slice ends.
    last_ns: Nanos,
}

impl std::fmt::Debug for Slicer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slicer")
            .field("width", &self.width)
            .field("slices", &self.slices.len())
            .finish()
    }
}

impl Slicer {
    pub fn new(width: Nanos) -> Slicer {
        Slicer {
            width: width.max(1),
            origin: None,
            held: Vec::new(),
            slices: BTreeMap::new(),
            last_ns: 0,
        }
    }

    /// One profiling request: its start, end, the end of its response (last
    /// content event), outcome and the native values it gave the run's
    /// metrics (effective latency is run-level only, as in AIPerf).
    pub fn add(
        &mut self,
        (start, end, response_end): (Nanos, Nanos, Nanos),
        outcome: Outcome,
        values: &[(MetricId, f64)],
    ) {
        self.last_ns = self.last_ns.max(start).max(end);
        let values = values
            .iter()
            .filter(|(id, _)| *id != MetricId::EffectiveLatency)
            .copied()
            .collect();
        let held = Held {
            start,
            response_end,
            outcome,
            values,
        };
        match self.origin {
            Some(_) => self.place(held),
            None => {
                self.held.push(held);
                if self.held.len() >= SETTLE {
                    self.settle();
                }
            }
        }
    }

    fn settle(&mut self) {
        let held = std::mem::take(&mut self.held);
        self.origin = held.iter().map(|h| h.start).min();
        for h in held {
            self.place(h);
        }
    }

    fn place(&mut self, h: Held) {
        let origin = self.origin.unwrap_or(h.start);
        let slice = self
            .slices
            .entry(h.start.saturating_sub(origin) / self.width)
            .or_default();
        match h.outcome {
            Outcome::Success { good } => {
                slice.ok += 1;
                slice.good += u64::from(good);
                let (a, b) = slice.span.unwrap_or((h.start, h.response_end));
                slice.span = Some((a.min(h.start), b.max(h.response_end)));
            }
            Outcome::Error => slice.errors += 1,
            Outcome::Cancelled => {}
        }
        for (id, v) in h.values {
            slice.series.entry(id).or_default().push(v);
        }
    }

    /// Every non-empty slice, in time order. `goodput`: SLOs were given.
    pub fn finish(mut self, sweep: &mut Sweep, goodput: bool) -> Vec<Timeslice> {
        use MetricId::*;
        if self.origin.is_none() {
            self.settle();
        }
        let Some(origin) = self.origin else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, s) in std::mem::take(&mut self.slices) {
            let start = origin + i * self.width;
            let raw_end = start + self.width;
            let partial = raw_end > self.last_ns;
            let end = if partial { self.last_ns } else { raw_end };
            let secs = end.saturating_sub(start) as f64 / NANOS_PER_SEC;
            let mut results = Vec::new();
            for (&id, series) in &s.series {
                if let Some(st) = series.stats() {
                    results.push(MetricResult {
                        def: id.def(),
                        value: MetricValue::Stats(st.scaled(id.def().display_scale)),
                    });
                }
            }
            let mut single = |id: MetricId, v: f64| {
                results.push(MetricResult {
                    def: id.def(),
                    value: MetricValue::Single(v / id.def().display_scale),
                })
            };
            let sum = |id: MetricId| s.series.get(&id).map(|x| x.moments.sum);
            if s.ok > 0 {
                single(RequestCount, s.ok as f64);
            }
            if s.errors > 0 {
                single(ErrorRequestCount, s.errors as f64);
            }
            if s.ok + s.errors > 0 {
                single(CompletedRequestCount, (s.ok + s.errors) as f64);
                single(
                    RequestErrorRate,
                    100.0 * s.errors as f64 / (s.ok + s.errors) as f64,
                );
            }
            if let Some((a, b)) = s.span.filter(|(a, b)| b > a) {
                single(BenchmarkDuration, (b - a) as f64);
            }
            if secs > 0.0 {
                single(RequestThroughput, s.ok as f64 / secs);
                if let Some(o) = sum(OutputSequenceLength) {
                    single(OutputTokenThroughput, o / secs);
                }
                if let Some(i) = sum(InputSequenceLength) {
                    single(InputTokenThroughput, i / secs);
                }
                if let (Some(i), Some(o)) = (sum(InputSequenceLength), sum(OutputSequenceLength)) {
                    single(TotalTokenThroughput, (i + o) / secs);
                }
                if goodput {
                    single(Goodput, s.good as f64 / secs);
                }
            }
            if goodput {
                single(GoodRequestCount, s.good as f64);
                let attempted = s.ok + s.errors;
                let frac = if attempted > 0 {
                    s.good as f64 / attempted as f64
                } else {
                    0.0
                };
                single(GoodRequestFraction, frac);
            }
            for (id, v) in [
                (TotalOsl, sum(OutputSequenceLength)),
                (TotalIsl, sum(InputSequenceLength)),
            ] {
                if let Some(v) = v {
                    single(id, v);
                }
            }
            for (id, tw) in sweep.metrics(start, end) {
                results.push(MetricResult {
                    def: id.def(),
                    value: MetricValue::Stats(tw.to_stats()),
                });
            }
            results.sort_by_key(|r| r.def.id);
            out.push(Timeslice {
                start_ns: start,
                end_ns: end,
                partial,
                results,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slice_series_past_its_exact_values_keeps_count_sum_and_close_percentiles() {
        let mut s = SliceSeries::default();
        for i in 1..=10_000 {
            s.push(i as f64);
        }
        let st = s.stats().unwrap();
        assert_eq!(
            (st.count, st.sum, st.min, st.max),
            (10_000, 50_005_000.0, 1.0, 10_000.0)
        );
        assert!((st.p50 - 5_000.5).abs() / 5_000.5 < 0.002, "{}", st.p50);
        assert!((st.p99 - 9_900.0).abs() / 9_900.0 < 0.002, "{}", st.p99);
        assert!(s.buckets.as_ref().is_some_and(|b| b.len() < 5_000));
    }

    #[test]
    fn requests_go_to_the_slice_of_their_start_and_empty_slices_are_skipped() {
        let mut sl = Slicer::new(100);
        let ok = Outcome::Success { good: true };
        // Collected out of start order; the origin is the earliest start.
        sl.add(
            (1_050, 1_090, 1_090),
            ok,
            &[(MetricId::RequestLatency, 40.0)],
        );
        sl.add(
            (1_000, 1_020, 1_020),
            ok,
            &[(MetricId::RequestLatency, 20.0)],
        );
        sl.add((1_099, 1_150, 1_150), Outcome::Error, &[]);
        sl.add(
            (1_320, 1_340, 1_340),
            ok,
            &[(MetricId::RequestLatency, 20.0)],
        );
        let mut sweep = Sweep::new();
        let slices = sl.finish(&mut sweep, true);
        let bounds: Vec<_> = slices
            .iter()
            .map(|s| (s.start_ns, s.end_ns, s.partial))
            .collect();
        // [1000,1100) and [1300,1340]: the two slices between are empty.
        assert_eq!(bounds, [(1_000, 1_100, false), (1_300, 1_340, true)]);
        let count = |s: &Timeslice, id: MetricId| {
            s.results
                .iter()
                .find(|r| r.def.id == id)
                .map(MetricResult::avg)
        };
        assert_eq!(count(&slices[0], MetricId::RequestCount), Some(2.0));
        assert_eq!(count(&slices[0], MetricId::ErrorRequestCount), Some(1.0));
        assert_eq!(
            count(&slices[0], MetricId::GoodRequestFraction),
            Some(2.0 / 3.0)
        );
        assert_eq!(count(&slices[1], MetricId::RequestCount), Some(1.0));
        // 1 request in 40 ns.
        assert_eq!(
            count(&slices[1], MetricId::RequestThroughput),
            Some(1e9 / 40.0)
        );
    }
}
