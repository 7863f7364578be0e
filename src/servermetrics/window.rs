//! Statistics of one series over exactly a time window `[start, end]`
//! (wall-clock ns), from its scrapes in time order.
//!
//! - Gauges: the curve through the scrapes, linear between them, is
//!   interpolated at both edges; `avg` is its time-weighted mean over the
//!   window, the other stats are over the edge values and the scrapes inside.
//!   (AIPerf 0.13 takes the scrapes' plain mean, some of them from outside the
//!   window: at constant concurrency 4 it reported `num_requests_running` avg 1.5.)
//! - Counters and histograms: the difference between the last scrape at or
//!   before `start` and the first at or after `end` (every request served in
//!   the window is counted; a drop is a counter reset and counts from 0).

/// AIPerf's percentiles, in its order.
pub const PERCENTILES: [(f64, &str); 9] = [
    (1.0, "p1"),
    (5.0, "p5"),
    (10.0, "p10"),
    (25.0, "p25"),
    (50.0, "p50"),
    (75.0, "p75"),
    (90.0, "p90"),
    (95.0, "p95"),
    (99.0, "p99"),
];

/// One gauge's window statistics.
#[derive(Clone, Debug, PartialEq)]
pub struct GaugeStats {
    pub avg: f64,
    pub min: f64,
    pub max: f64,
    pub std: f64,
    /// In `PERCENTILES` order.
    pub percentiles: Vec<f64>,
}

/// The value of the piecewise-linear curve through `pts` at `t` (flat
/// before the first and after the last point). `pts` is sorted by time.
fn value_at(pts: &[(u64, f64)], t: u64) -> f64 {
    let i = pts.partition_point(|p| p.0 <= t);
    match (i.checked_sub(1).map(|j| pts[j]), pts.get(i)) {
        (Some(a), Some(b)) if b.0 > a.0 => {
            a.1 + (b.1 - a.1) * (t - a.0) as f64 / (b.0 - a.0) as f64
        }
        (Some(a), _) => a.1,
        (None, Some(b)) => b.1,
        (None, None) => f64::NAN,
    }
}

/// numpy's default (linear) percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}

/// Gauge statistics over `[start, end]`; None without scrapes or when the
/// window is empty.
pub fn gauge(pts: &[(u64, f64)], start: u64, end: u64) -> Option<GaugeStats> {
    if pts.is_empty() || end <= start {
        return None;
    }
    let mut curve = vec![(start, value_at(pts, start))];
    curve.extend(pts.iter().copied().filter(|p| p.0 > start && p.0 < end));
    curve.push((end, value_at(pts, end)));
    let area: f64 = curve
        .windows(2)
        .map(|w| (w[0].1 + w[1].1) / 2.0 * (w[1].0 - w[0].0) as f64)
        .sum();
    let avg = area / (end - start) as f64;
    let mut v: Vec<f64> = curve.iter().map(|p| p.1).collect();
    v.sort_by(f64::total_cmp);
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
    Some(GaugeStats {
        avg,
        min: v[0],
        max: v[v.len() - 1],
        std,
        percentiles: PERCENTILES
            .iter()
            .map(|(p, _)| percentile(&v, *p))
            .collect(),
    })
}

/// The scrapes a counter's window difference is taken between: the last at
/// or before `start` (else the first) and the first at or after `end` (else
/// the last). Indexes into `times` (sorted).
pub fn edges(times: &[u64], start: u64, end: u64) -> Option<(usize, usize)> {
    if times.is_empty() {
        return None;
    }
    let a = times.partition_point(|&t| t <= start).saturating_sub(1);
    let b = times.partition_point(|&t| t < end).min(times.len() - 1);
    Some((a, b.max(a)))
}

/// A counter's increase from scrape `a` to scrape `b`, counting a drop as a
/// reset (the value after it is all new).
pub fn increase(values: &[f64], a: usize, b: usize) -> f64 {
    values[a..=b]
        .windows(2)
        .map(|w| if w[1] >= w[0] { w[1] - w[0] } else { w[1] })
        .sum()
}

/// Prometheus' `histogram_quantile`: linear within the bucket holding rank
/// `q * count`. `buckets` are (upper bound, cumulative count) in bound order,
/// the last one `+Inf`.
pub fn histogram_quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let i = buckets.iter().position(|b| b.1 >= rank)?;
    let (upper, count) = buckets[i];
    if upper.is_infinite() {
        // Above the highest finite bound: that bound is the best estimate.
        return buckets.iter().rev().find(|b| b.0.is_finite()).map(|b| b.0);
    }
    let (lower, below) = if i == 0 {
        (0.0f64.min(upper), 0.0)
    } else {
        buckets[i - 1]
    };
    let in_bucket = count - below;
    if in_bucket <= 0.0 {
        return Some(upper);
    }
    Some(lower + (upper - lower) * (rank - below) / in_bucket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauge_is_exact_over_the_window() {
        // 0 before the load, 8 while it runs (from t=100 to t=1000), 0 after.
        let pts = [
            (0, 0.0),
            (90, 0.0),
            (110, 8.0),
            (500, 8.0),
            (990, 8.0),
            (1010, 0.0),
            (2000, 0.0),
        ];
        let g = gauge(&pts, 100, 1000).unwrap();
        // Edges interpolated: 4 at 100 and at 1000; in between 8.
        // Area: 10 * (4 + 8) / 2 + 880 * 8 + 10 * (8 + 4) / 2 = 7160 over 900.
        assert!((g.avg - 7160.0 / 900.0).abs() < 1e-9, "{g:?}");
        assert_eq!(g.min, 4.0);
        assert_eq!(g.max, 8.0);
        assert_eq!(g.percentiles[4], 8.0);
        assert!(gauge(&pts, 5, 5).is_none());
        assert!(gauge(&[], 0, 5).is_none());
        // Flat outside the scrapes.
        assert_eq!(gauge(&[(50, 3.0)], 0, 100).unwrap().avg, 3.0);
    }

    #[test]
    fn counters_take_the_difference_across_the_window() {
        let t = [0, 100, 200, 300];
        let v = [5.0, 7.0, 2.0, 4.0];
        assert_eq!(edges(&t, 150, 250), Some((1, 3)));
        assert_eq!(edges(&t, 0, 300), Some((0, 3)));
        assert_eq!(edges(&t, 400, 500), Some((3, 3)));
        // 5 -> 7 (+2), reset to 2 (+2), 2 -> 4 (+2).
        assert_eq!(increase(&v, 0, 3), 6.0);
        assert_eq!(increase(&v, 1, 1), 0.0);
    }

    #[test]
    fn histogram_quantile_like_prometheus() {
        let b = [
            (0.1, 0.0),
            (0.2, 50.0),
            (0.4, 100.0),
            (f64::INFINITY, 100.0),
        ];
        assert!((histogram_quantile(&b, 0.5).unwrap() - 0.2).abs() < 1e-12);
        assert!((histogram_quantile(&b, 0.25).unwrap() - 0.15).abs() < 1e-12);
        assert!((histogram_quantile(&b, 0.75).unwrap() - 0.3).abs() < 1e-12);
        assert_eq!(
            histogram_quantile(&[(1.0, 0.0), (f64::INFINITY, 0.0)], 0.5),
            None
        );
        let over = [(1.0, 0.0), (f64::INFINITY, 4.0)];
        assert_eq!(histogram_quantile(&over, 0.5), Some(1.0));
    }

    #[test]
    fn percentile_is_numpys() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 50.0), 2.5);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert!((percentile(&v, 99.0) - 3.97).abs() < 1e-12);
    }
}
