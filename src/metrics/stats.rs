//! Statistics of one metric, in bounded memory.
//!
//! `Series` keeps a metric's values exactly while there are at most
//! `EXACT_VALUES` of them: then every stat is what numpy gives (percentiles by
//! linear interpolation, population std). Past that it switches to an
//! HdrHistogram with `SIGNIFICANT_DIGITS` significant digits: count, sum,
//! avg, min, max and std stay exact (running sums), percentiles are the
//! midpoint of their histogram bucket (relative error at most 0.05%). Memory
//! per metric is bounded either way.

/// One statistic of a per-request metric, named as AIPerf names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stat {
    Avg,
    P1,
    P5,
    P10,
    P25,
    P50,
    P75,
    P90,
    P95,
    P99,
    Min,
    Max,
    Std,
    Count,
    Sum,
}

impl Stat {
    /// Every stat, in the key order of a metric object in
    /// `profile_export_aiperf.json` (after its `unit`).
    pub const ALL: [Stat; 15] = [
        Stat::Avg,
        Stat::P1,
        Stat::P5,
        Stat::P10,
        Stat::P25,
        Stat::P50,
        Stat::P75,
        Stat::P90,
        Stat::P95,
        Stat::P99,
        Stat::Min,
        Stat::Max,
        Stat::Std,
        Stat::Count,
        Stat::Sum,
    ];

    /// The columns of AIPerf's CSV export, in its order (no count).
    pub const CSV_COLUMNS: [Stat; 14] = [
        Stat::Avg,
        Stat::Min,
        Stat::Max,
        Stat::Sum,
        Stat::P1,
        Stat::P5,
        Stat::P10,
        Stat::P25,
        Stat::P50,
        Stat::P75,
        Stat::P90,
        Stat::P95,
        Stat::P99,
        Stat::Std,
    ];

    /// The columns of AIPerf's console table, in its order.
    pub const CONSOLE_COLUMNS: [Stat; 7] = [
        Stat::Avg,
        Stat::Min,
        Stat::Max,
        Stat::P99,
        Stat::P90,
        Stat::P50,
        Stat::Std,
    ];

    /// AIPerf's name: JSON key, CSV and console column header.
    pub fn key(self) -> &'static str {
        match self {
            Stat::Avg => "avg",
            Stat::P1 => "p1",
            Stat::P5 => "p5",
            Stat::P10 => "p10",
            Stat::P25 => "p25",
            Stat::P50 => "p50",
            Stat::P75 => "p75",
            Stat::P90 => "p90",
            Stat::P95 => "p95",
            Stat::P99 => "p99",
            Stat::Min => "min",
            Stat::Max => "max",
            Stat::Std => "std",
            Stat::Count => "count",
            Stat::Sum => "sum",
        }
    }
}

/// Values kept exactly before `Series` switches to a histogram (8 bytes each).
pub const EXACT_VALUES: usize = 65_536;

/// Significant digits of the histogram percentiles past `EXACT_VALUES`.
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// Native values are recorded in the histogram in units of `1 / HIST_SCALE`,
/// so fractional metrics (tokens/s, ratios, seconds) keep their digits.
const HIST_SCALE: f64 = 1_000.0;

/// Running count, sum, min, max and Welford mean/variance of a series:
/// exact however many values it has (the part of `Series` and of a time
/// slice's series that no histogram approximates).
#[derive(Clone, Copy, Debug, Default)]
pub struct Moments {
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    /// Welford's running mean and sum of squared deviations.
    mean: f64,
    m2: f64,
}

impl Moments {
    pub fn push(&mut self, v: f64) {
        if self.count == 0 {
            (self.min, self.max) = (v, v);
        } else {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        self.count += 1;
        self.sum += v;
        let delta = v - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (v - self.mean);
    }

    /// Adds another series' moments (Chan et al.'s parallel update): the
    /// same count, sum, min and max as pushing its values, and the same
    /// mean and variance up to rounding.
    fn absorb(&mut self, o: &Moments) {
        if o.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = *o;
            return;
        }
        let (na, nb) = (self.count as f64, o.count as f64);
        let n = na + nb;
        let delta = o.mean - self.mean;
        self.mean += delta * nb / n;
        self.m2 += o.m2 + delta * delta * na * nb / n;
        self.count += o.count;
        self.sum += o.sum;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
    }

    /// The stats of a non-empty series: these moments, and each percentile
    /// from `pct` (percent → value), clamped to [min, max].
    pub fn stats(&self, pct: impl Fn(f64) -> f64) -> Stats {
        let p = |q: f64| pct(q).clamp(self.min, self.max);
        Stats {
            avg: self.sum / self.count as f64,
            min: self.min,
            max: self.max,
            p1: p(1.0),
            p5: p(5.0),
            p10: p(10.0),
            p25: p(25.0),
            p50: p(50.0),
            p75: p(75.0),
            p90: p(90.0),
            p95: p(95.0),
            p99: p(99.0),
            std: (self.m2 / self.count as f64).max(0.0).sqrt(),
            count: self.count,
            sum: self.sum,
        }
    }
}

/// One metric's values, exact while few and a histogram when many.
#[derive(Clone, Debug, Default)]
pub struct Series {
    exact: Vec<f64>,
    hist: Option<hdrhistogram::Histogram<u64>>,
    moments: Moments,
}

impl Series {
    pub fn push(&mut self, v: f64) {
        self.moments.push(v);
        match &mut self.hist {
            Some(h) => record(h, v),
            None if self.exact.len() < EXACT_VALUES => self.exact.push(v),
            None => {
                let mut h = new_histogram();
                for &x in self.exact.iter().chain(std::iter::once(&v)) {
                    record(&mut h, x);
                }
                self.exact = Vec::new();
                self.hist = Some(h);
            }
        }
    }

    pub fn count(&self) -> u64 {
        self.moments.count
    }

    pub fn sum(&self) -> f64 {
        self.moments.sum
    }

    /// Whether the stats are exact (no more than `EXACT_VALUES` values).
    pub fn is_exact(&self) -> bool {
        self.hist.is_none()
    }

    /// The stats, in native units; None when no value was pushed.
    pub fn stats(&self) -> Option<Stats> {
        let Some(h) = &self.hist else {
            return Stats::from_values(&mut self.exact.clone());
        };
        Some(self.moments.stats(|q| {
            let bucket = h.value_at_quantile(q / 100.0);
            h.median_equivalent(bucket) as f64 / HIST_SCALE
        }))
    }
}

/// A `Series` as a shard result file carries it (`metrics::shard`): the
/// exact moments, and the values themselves while the series is exact, else
/// the histogram's non-empty buckets as (value in units of 1/1000 of the
/// native unit, count) pairs, from which the same histogram is rebuilt.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SeriesState {
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub m2: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histogram: Option<Vec<(u64, u64)>>,
}

impl Series {
    pub fn to_state(&self) -> SeriesState {
        let m = &self.moments;
        SeriesState {
            count: m.count,
            sum: m.sum,
            min: m.min,
            max: m.max,
            mean: m.mean,
            m2: m.m2,
            values: self.hist.is_none().then(|| self.exact.clone()),
            histogram: self.hist.as_ref().map(|h| {
                h.iter_recorded()
                    .map(|v| (v.value_iterated_to(), v.count_at_value()))
                    .collect()
            }),
        }
    }

    /// The series a state describes, after checking that its parts agree
    /// (it comes from a file).
    pub fn from_state(s: SeriesState) -> Result<Series, String> {
        let finite = [s.sum, s.min, s.max, s.mean, s.m2]
            .iter()
            .all(|v| v.is_finite());
        if !finite || s.min > s.max || s.m2 < 0.0 {
            return Err("its moments are not finite or not ordered".into());
        }
        let moments = Moments {
            count: s.count,
            sum: s.sum,
            min: s.min,
            max: s.max,
            mean: s.mean,
            m2: s.m2,
        };
        match (s.values, s.histogram) {
            (Some(values), None) => {
                if values.len() as u64 != s.count || values.len() > EXACT_VALUES {
                    return Err(format!(
                        "{} values for a count of {} (at most {EXACT_VALUES} are kept exactly)",
                        values.len(),
                        s.count
                    ));
                }
                if values.iter().any(|v| !v.is_finite()) {
                    return Err("a value is not a finite number".into());
                }
                Ok(Series {
                    exact: values,
                    hist: None,
                    moments,
                })
            }
            (None, Some(buckets)) => {
                let mut h = new_histogram();
                let mut total = 0u64;
                for (value, n) in buckets {
                    total = total.saturating_add(n);
                    h.record_n(value, n)
                        .map_err(|e| format!("histogram value {value}: {e:?}"))?;
                }
                if total != s.count {
                    return Err(format!(
                        "its histogram holds {total} values for a count of {}",
                        s.count
                    ));
                }
                Ok(Series {
                    exact: Vec::new(),
                    hist: Some(h),
                    moments,
                })
            }
            _ => Err("it needs either values or a histogram".into()),
        }
    }

    /// Adds every value of `other`, as if each had been pushed here: exact
    /// while both together hold at most `EXACT_VALUES` values, else one
    /// histogram with the same buckets a single series would have.
    pub fn absorb(&mut self, other: &Series) {
        self.moments.absorb(&other.moments);
        if self.hist.is_none()
            && other.hist.is_none()
            && self.exact.len() + other.exact.len() <= EXACT_VALUES
        {
            self.exact.extend_from_slice(&other.exact);
            return;
        }
        let exact = std::mem::take(&mut self.exact);
        let h = self.hist.get_or_insert_with(|| {
            let mut h = new_histogram();
            for &x in &exact {
                record(&mut h, x);
            }
            h
        });
        match &other.hist {
            Some(o) => {
                for v in o.iter_recorded() {
                    let (value, n) = (v.value_iterated_to(), v.count_at_value());
                    if h.record_n(value, n).is_err() {
                        h.saturating_record_n(value, n);
                    }
                }
            }
            None => {
                for &x in &other.exact {
                    record(h, x);
                }
            }
        }
    }
}

fn new_histogram() -> hdrhistogram::Histogram<u64> {
    // Auto-resizing from 1: the range grows to the largest value seen, so the
    // memory is bounded by its logarithm (about 50 KB per decade of range).
    let mut h = hdrhistogram::Histogram::new(SIGNIFICANT_DIGITS)
        .unwrap_or_else(|_| unreachable!("3 significant digits is a valid precision"));
    h.auto(true);
    h
}

fn record(h: &mut hdrhistogram::Histogram<u64>, v: f64) {
    // Negative or NaN values do not occur (every metric is a duration, count
    // or rate >= 0); clamp them to 0 rather than lose the count.
    let scaled = (v * HIST_SCALE).round();
    let value = if scaled > 0.0 { scaled as u64 } else { 0 };
    // `record` grows the auto-resizing range; `saturating_record` would clamp
    // to the current one instead. Growing fails only past u64 counts.
    if h.record(value).is_err() {
        h.saturating_record(value);
    }
}

/// Statistics of one metric, in its display unit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    pub avg: f64,
    pub min: f64,
    pub max: f64,
    pub p1: f64,
    pub p5: f64,
    pub p10: f64,
    pub p25: f64,
    pub p50: f64,
    pub p75: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub std: f64,
    pub count: u64,
    pub sum: f64,
}

impl Stats {
    /// Stats of `values` (any order; sorted here). None when empty.
    /// Percentiles: numpy's linear method; std: population (ddof = 0).
    pub fn from_values(values: &mut [f64]) -> Option<Stats> {
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let sum: f64 = values.iter().sum();
        let avg = sum / n as f64;
        // numpy's np.std: sqrt(mean(|x - mean|^2)), mean taken as sum / n.
        let var = values.iter().map(|v| (v - avg) * (v - avg)).sum::<f64>() / n as f64;
        let pct = |q: f64| -> f64 {
            let virt = q / 100.0 * (n - 1) as f64;
            let lo = virt as usize;
            let hi = (lo + 1).min(n - 1);
            let frac = virt - lo as f64;
            values[lo] + frac * (values[hi] - values[lo])
        };
        Some(Stats {
            avg,
            min: values[0],
            max: values[n - 1],
            p1: pct(1.0),
            p5: pct(5.0),
            p10: pct(10.0),
            p25: pct(25.0),
            p50: pct(50.0),
            p75: pct(75.0),
            p90: pct(90.0),
            p95: pct(95.0),
            p99: pct(99.0),
            std: var.sqrt(),
            count: n as u64,
            sum,
        })
    }

    /// Every stat divided by `scale` (native → display unit); count kept.
    pub fn scaled(&self, scale: f64) -> Stats {
        if scale == 1.0 {
            return *self;
        }
        Stats {
            avg: self.avg / scale,
            min: self.min / scale,
            max: self.max / scale,
            p1: self.p1 / scale,
            p5: self.p5 / scale,
            p10: self.p10 / scale,
            p25: self.p25 / scale,
            p50: self.p50 / scale,
            p75: self.p75 / scale,
            p90: self.p90 / scale,
            p95: self.p95 / scale,
            p99: self.p99 / scale,
            std: self.std / scale,
            count: self.count,
            sum: self.sum / scale,
        }
    }

    /// One stat (the count as a float).
    pub fn get(&self, stat: Stat) -> f64 {
        match stat {
            Stat::Avg => self.avg,
            Stat::P1 => self.p1,
            Stat::P5 => self.p5,
            Stat::P10 => self.p10,
            Stat::P25 => self.p25,
            Stat::P50 => self.p50,
            Stat::P75 => self.p75,
            Stat::P90 => self.p90,
            Stat::P95 => self.p95,
            Stat::P99 => self.p99,
            Stat::Min => self.min,
            Stat::Max => self.max,
            Stat::Std => self.std,
            Stat::Count => self.count as f64,
            Stat::Sum => self.sum,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn stat_keys_and_column_orders() {
        let keys = |s: &[Stat]| s.iter().map(|s| s.key()).collect::<Vec<_>>().join(",");
        assert_eq!(
            keys(&Stat::ALL),
            "avg,p1,p5,p10,p25,p50,p75,p90,p95,p99,min,max,std,count,sum"
        );
        assert_eq!(
            keys(&Stat::CSV_COLUMNS),
            "avg,min,max,sum,p1,p5,p10,p25,p50,p75,p90,p95,p99,std"
        );
        assert_eq!(keys(&Stat::CONSOLE_COLUMNS), "avg,min,max,p99,p90,p50,std");
    }

    #[test]
    fn stats_match_numpy() {
        // np.percentile([1,2,3,4,10], [1,5,10,25,50,75,90,95,99]) and np.std.
        let mut v = vec![10.0, 2.0, 4.0, 1.0, 3.0];
        let s = Stats::from_values(&mut v).unwrap();
        assert_eq!(
            (s.min, s.max, s.avg, s.sum, s.count),
            (1.0, 10.0, 4.0, 20.0, 5)
        );
        assert!(close(s.p1, 1.04));
        assert!(close(s.p5, 1.2));
        assert!(close(s.p10, 1.4));
        assert!(close(s.p25, 2.0));
        assert!(close(s.p50, 3.0));
        assert!(close(s.p75, 4.0));
        assert!(close(s.p90, 7.6));
        assert!(close(s.p95, 8.8));
        assert!(close(s.p99, 9.76));
        assert!(close(s.std, 10.0f64.sqrt()));
        assert!(Stats::from_values(&mut []).is_none());
        let one = Stats::from_values(&mut [7.0]).unwrap();
        assert_eq!((one.p1, one.p99, one.std), (7.0, 7.0, 0.0));
    }

    #[test]
    fn series_is_exact_until_the_limit_then_within_the_histogram_precision() {
        let mut few = Series::default();
        for v in [10.0, 2.0, 4.0, 1.0, 3.0] {
            few.push(v);
        }
        assert!(few.is_exact());
        assert_eq!(
            few.stats(),
            Stats::from_values(&mut [10.0, 2.0, 4.0, 1.0, 3.0])
        );
        assert!(Series::default().stats().is_none());

        // Latencies in ns spread over 10..60 ms, past the exact limit.
        let n = EXACT_VALUES * 3;
        let values: Vec<f64> = (0..n)
            .map(|i| 10e6 + ((i * 7_919) % n) as f64 / n as f64 * 50e6)
            .collect();
        let mut many = Series::default();
        for &v in &values {
            many.push(v);
        }
        assert!(!many.is_exact());
        let got = many.stats().unwrap();
        let want = Stats::from_values(&mut values.clone()).unwrap();
        assert_eq!(got.count, want.count);
        assert_eq!((got.min, got.max), (want.min, want.max));
        assert!(close(got.sum, want.sum) && close(got.avg, want.avg));
        assert!((got.std - want.std).abs() <= 1e-9 * want.std);
        for stat in [
            Stat::P1,
            Stat::P5,
            Stat::P25,
            Stat::P50,
            Stat::P90,
            Stat::P99,
        ] {
            let (g, w) = (got.get(stat), want.get(stat));
            assert!((g - w).abs() <= 5e-4 * w, "{stat:?}: {g} vs {w}");
        }
    }

    /// Values that are not integers (ITL-like), in a seeded order.
    fn spread(n: usize, salt: usize) -> Vec<f64> {
        (0..n)
            .map(|i| 1e6 + ((i * 7_919 + salt * 104_729) % 100_003) as f64 * 13.7)
            .collect()
    }

    fn series_of(values: &[f64]) -> Series {
        let mut s = Series::default();
        for &v in values {
            s.push(v);
        }
        s
    }

    #[test]
    fn absorbed_series_give_what_one_series_of_every_value_gives() {
        // Exact + exact under the limit: the same numbers to the last bit.
        let (a, b) = (spread(1_000, 1), spread(2_345, 2));
        let mut merged = series_of(&a);
        merged.absorb(&series_of(&b));
        let all = series_of(&[a.clone(), b.clone()].concat());
        assert!(merged.is_exact());
        assert_eq!(merged.stats(), all.stats());
        // Exact + exact past the limit, and histogram + exact: the same
        // histogram (identical percentiles), moments equal up to rounding.
        for (na, nb) in [(EXACT_VALUES - 5, 100), (EXACT_VALUES + 7, 3_000)] {
            let (a, b) = (spread(na, 3), spread(nb, 4));
            let mut merged = series_of(&a);
            merged.absorb(&series_of(&b));
            let all = series_of(&[a, b].concat());
            assert!(!merged.is_exact() && !all.is_exact());
            let (g, w) = (merged.stats().unwrap(), all.stats().unwrap());
            assert_eq!((g.count, g.min, g.max), (w.count, w.min, w.max));
            assert_eq!((g.p1, g.p50, g.p99), (w.p1, w.p50, w.p99));
            assert!(close(g.sum, w.sum) && close(g.avg, w.avg) && close(g.std, w.std));
        }
        // Into an empty series.
        let mut empty = Series::default();
        empty.absorb(&series_of(&a));
        assert_eq!(empty.stats(), series_of(&a).stats());
    }

    #[test]
    fn series_state_round_trips_and_refuses_what_does_not_add_up() {
        for n in [3, EXACT_VALUES + 10] {
            let s = series_of(&spread(n, 5));
            let text = serde_json::to_string(&s.to_state()).unwrap();
            let back = Series::from_state(serde_json::from_str(&text).unwrap()).unwrap();
            assert_eq!(back.stats(), s.stats());
            assert_eq!(back.is_exact(), s.is_exact());
        }
        let mut st = series_of(&[1.0, 2.0]).to_state();
        st.count = 3;
        assert!(Series::from_state(st.clone())
            .unwrap_err()
            .contains("2 values"));
        st.count = 2;
        st.histogram = Some(vec![(1000, 2)]);
        assert!(Series::from_state(st.clone()).is_err(), "both forms");
        st.values = None;
        st.histogram = Some(vec![(1000, 5)]);
        assert!(Series::from_state(st.clone())
            .unwrap_err()
            .contains("holds 5"));
        st.histogram = Some(vec![(1000, 1), (2000, 1)]);
        st.min = f64::NAN;
        assert!(Series::from_state(st).is_err());
    }

    #[test]
    fn series_keeps_fractional_values_in_the_histogram() {
        // tokens/s near 100 with two decimals: the histogram keeps 1e-3 units.
        let mut s = Series::default();
        let n = EXACT_VALUES + 10;
        for i in 0..n {
            s.push(99.0 + (i % 200) as f64 / 100.0);
        }
        let st = s.stats().unwrap();
        assert!((st.p50 - 100.0).abs() < 0.06, "{}", st.p50);
        assert_eq!((st.min, st.max), (99.0, 100.99));
    }

    #[test]
    fn same_numbers_as_aiperf_0_13() {
        // TTFTs (ns) from an AIPerf 0.13.0 profile_export.jsonl and the stats
        // its profile_export_aiperf.json printed for them.
        let mut ns = [
            41751217.0, 41664628.0, 46862583.0, 45361907.0, 45645044.0, 44735819.0,
        ];
        let s = Stats::from_values(&mut ns).unwrap().scaled(1e6);
        let expected = [
            (s.avg, 44.33686633333333),
            (s.p1, 41.66895745),
            (s.p5, 41.68627525),
            (s.p10, 41.707922499999995),
            (s.p25, 42.497367499999996),
            (s.p50, 45.048863),
            (s.p75, 45.574259749999996),
            (s.p90, 46.2538135),
            (s.p95, 46.55819825),
            (s.p99, 46.80170604999999),
            (s.min, 41.664628),
            (s.max, 46.862583),
            (s.std, 1.963283188586037),
            (s.sum, 266.02119799999997),
        ];
        for (i, (got, want)) in expected.iter().enumerate() {
            assert!(
                (got - want).abs() <= 1e-12 * want,
                "stat {i}: {got} != {want}"
            );
        }
        assert_eq!(s.count, 6);
    }
}
