//! Time-weighted ("sweep-line") metrics, AIPerf 0.13's `effective_*`,
//! `active_*` and `tokens_in_flight`, in bounded memory.
//!
//! AIPerf builds exact step functions from every request's start, first
//! token and end, and weights each value by how long it was held. Here each
//! request adds its intervals to a time grid of at most `BUCKETS` buckets per
//! curve as it is collected (records are not kept): a bucket holds the exact
//! integral of the curve over it (difference array for fully covered
//! buckets, so O(1) per interval). When the run outgrows the grid, buckets
//! are merged in pairs (width doubles). So every time-weighted average is
//! exact; min, max, percentiles and std are those of the bucket means,
//! weighted by bucket time (AIPerf's method applied to the grid).
//!
//! Memory: `CURVES` × 2 × `BUCKETS` × 8 bytes = 3 MiB, whatever the run length.

use crate::metrics::{MetricId, Stats};
use crate::record::RequestRecord;
use crate::sys::clock::{Nanos, NANOS_PER_SEC};

/// Buckets per curve.
pub const BUCKETS: usize = 32_768;
/// Width of a bucket before the first merge.
const FIRST_WIDTH_NS: Nanos = 10_000;
/// Buckets left before the first request's start: requests collected later
/// often started a little earlier, and each move of the origin costs O(BUCKETS).
const LEAD: u64 = BUCKETS as u64 / 8;

/// The step functions kept, one grid each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Curve {
    /// Requests in flight, start -> end.
    Concurrency,
    /// Start -> first token.
    PrefillConcurrency,
    /// First token -> end.
    DecodeConcurrency,
    /// (OSL - 1) / decode time over the decode interval, tokens/ns.
    DecodeRate,
    /// ISL / TTFT over start -> first token, tokens/ns.
    PrefillRate,
    TokensInFlight,
}
const CURVES: usize = 6;

/// One curve: `done[k]` is the integral over bucket k already materialized;
/// `diff` is the difference array of the values covering whole buckets.
#[derive(Clone, Debug)]
struct Lane {
    done: Vec<f64>,
    diff: Vec<f64>,
}

/// What one request contributes, in native units (ns, tokens).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spans {
    pub start: Nanos,
    pub end: Nanos,
    pub first_token: Option<Nanos>,
    /// Last content event when streamed with at least two of them.
    pub last_token: Option<Nanos>,
    pub isl: Option<u64>,
    pub osl: Option<u64>,
}

impl Spans {
    /// A record's spans (token counts from the collector's counts).
    pub fn of(r: &RequestRecord, isl: Option<u64>, osl: Option<u64>) -> Spans {
        Spans {
            start: r.start_ns,
            end: r.end_ns.max(r.start_ns),
            first_token: r.first_token_ns.filter(|&g| g >= r.start_ns),
            last_token: r.last_token_ns.filter(|_| r.token_events >= 2),
            isl,
            osl,
        }
    }
}

/// The grid: every curve over [origin, origin + BUCKETS * width).
#[derive(Clone, Debug)]
pub struct Sweep {
    origin: Nanos,
    width: Nanos,
    lanes: Vec<Lane>,
    /// The grid holds nothing yet (origin unset).
    empty: bool,
    /// Earliest and latest instants any curve covers: edge buckets hold
    /// their integral within these, not over the whole bucket.
    first: Nanos,
    last: Nanos,
}

impl Default for Sweep {
    fn default() -> Self {
        Sweep::new()
    }
}

/// Time-weighted stats of one window, in the curve's unit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TwStats {
    pub avg: f64,
    pub min: f64,
    pub max: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub std: f64,
}

impl TwStats {
    const ZERO: TwStats = TwStats {
        avg: 0.0,
        min: 0.0,
        max: 0.0,
        p50: 0.0,
        p90: 0.0,
        p95: 0.0,
        p99: 0.0,
        std: 0.0,
    };

    /// As `Stats`: the percentiles AIPerf leaves out are 0 (never written:
    /// `MetricKind::TimeWeighted` shows only these eight).
    pub fn to_stats(self) -> Stats {
        Stats {
            avg: self.avg,
            min: self.min,
            max: self.max,
            p1: 0.0,
            p5: 0.0,
            p10: 0.0,
            p25: 0.0,
            p50: self.p50,
            p75: 0.0,
            p90: self.p90,
            p95: self.p95,
            p99: self.p99,
            std: self.std,
            count: 0,
            sum: 0.0,
        }
    }

    /// AIPerf's `compute_time_weighted_stats` over (value, duration) segments;
    /// `total` is the duration the average is taken over.
    pub fn weighted(mut segs: Vec<(f64, f64)>, total: f64) -> TwStats {
        segs.retain(|&(_, d)| d > 0.0);
        if segs.is_empty() || total <= 0.0 {
            return TwStats::ZERO;
        }
        // As AIPerf: round-off of large +/- pairs snaps to 0 (every curve is >= 0).
        let peak = segs.iter().map(|s| s.0.abs()).fold(0.0, f64::max);
        for s in &mut segs {
            if s.0.abs() < 1e-9 * peak || s.0 < 0.0 {
                s.0 = 0.0;
            }
        }
        let avg = segs.iter().map(|(v, d)| v * d).sum::<f64>() / total;
        let var = segs
            .iter()
            .map(|(v, d)| d * (v - avg) * (v - avg))
            .sum::<f64>()
            / total;
        segs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let weight: f64 = segs.iter().map(|s| s.1).sum();
        // np.searchsorted(cum_frac, q) (side left): the first segment whose
        // cumulative share reaches q.
        let pct = |q: f64| {
            let mut cum = 0.0;
            for &(v, d) in &segs {
                cum += d;
                if cum / weight >= q {
                    return v;
                }
            }
            segs[segs.len() - 1].0
        };
        TwStats {
            avg,
            min: segs[0].0,
            max: segs[segs.len() - 1].0,
            p50: pct(0.50),
            p90: pct(0.90),
            p95: pct(0.95),
            p99: pct(0.99),
            std: var.max(0.0).sqrt(),
        }
    }
}

impl Sweep {
    pub fn new() -> Sweep {
        Sweep {
            origin: 0,
            width: FIRST_WIDTH_NS,
            lanes: vec![
                Lane {
                    done: vec![0.0; BUCKETS],
                    diff: vec![0.0; BUCKETS + 1],
                };
                CURVES
            ],
            empty: true,
            first: Nanos::MAX,
            last: 0,
        }
    }

    /// Adds one profiling request (any outcome: a failed one was in flight too).
    pub fn add(&mut self, s: &Spans) {
        use Curve::*;
        let (start, end) = (s.start, s.end);
        self.interval(Concurrency, start, end, 1.0);
        let Some(g) = s.first_token else {
            return;
        };
        let g = g.min(end);
        self.interval(PrefillConcurrency, start, g, 1.0);
        self.interval(DecodeConcurrency, g, end, 1.0);
        if let Some(isl) = s.isl.filter(|_| g > start) {
            self.interval(PrefillRate, start, g, isl as f64 / (g - start) as f64);
            self.interval(TokensInFlight, start, end, isl as f64);
        }
        if let Some(osl) = s.osl.filter(|&o| o >= 1) {
            // AIPerf spreads OSL - 1 tokens over the chunk intervals (first to
            // last chunk) when it has them, else over first token -> end.
            let decode_end = s.last_token.filter(|&l| l > g).unwrap_or(end).min(end);
            if decode_end > g {
                let rate = (osl - 1) as f64 / (decode_end - g) as f64;
                self.interval(DecodeRate, g, decode_end, rate);
            }
            if end > g {
                match s.last_token.filter(|&l| l > g && l <= end) {
                    // Streamed: one token at the first chunk, the rest
                    // arriving evenly until the last; a step at the midpoint
                    // holds the same token-time as that ramp.
                    Some(l) => {
                        self.interval(TokensInFlight, g, end, 1.0);
                        self.interval(TokensInFlight, g + (l - g) / 2, end, (osl - 1) as f64);
                    }
                    None => self.interval(TokensInFlight, g, end, osl as f64),
                }
            }
        }
    }

    /// Adds `value` over [a, b).
    fn interval(&mut self, c: Curve, a: Nanos, b: Nanos, value: f64) {
        if b <= a || value == 0.0 || !value.is_finite() {
            return;
        }
        self.cover(a, b);
        self.first = self.first.min(a);
        self.last = self.last.max(b);
        let w = self.width;
        let ia = ((a - self.origin) / w) as usize;
        let ib = ((b - self.origin) / w) as usize;
        let lane = &mut self.lanes[c as usize];
        if ia == ib {
            lane.done[ia] += value * (b - a) as f64;
            return;
        }
        let a_end = self.origin + (ia as u64 + 1) * w;
        lane.done[ia] += value * (a_end - a) as f64;
        let b_start = self.origin + ib as u64 * w;
        if ib < BUCKETS {
            lane.done[ib] += value * (b - b_start) as f64;
        }
        lane.diff[ia + 1] += value;
        lane.diff[ib] -= value;
    }

    /// Makes the grid reach [a, b): moves the origin back, or merges.
    fn cover(&mut self, a: Nanos, b: Nanos) {
        if self.empty {
            self.empty = false;
            let aligned = a - a % self.width;
            self.origin = aligned.saturating_sub(LEAD * self.width);
        }
        if a < self.origin {
            self.materialize();
            loop {
                let used = self.used();
                let need = (self.origin - a).div_ceil(self.width) as usize;
                // Some slack, so that a few earlier starts do not each shift.
                let slack = BUCKETS / 8;
                if used + need + slack <= BUCKETS {
                    let room = (self.origin / self.width) as usize;
                    let shift = (need + slack / 2).min(BUCKETS - used).min(room);
                    for lane in &mut self.lanes {
                        lane.done.rotate_right(shift);
                    }
                    self.origin -= shift as u64 * self.width;
                    break;
                }
                self.merge();
            }
        }
        // Buckets [0, BUCKETS) must include b - 1.
        while (b - 1 - self.origin) / self.width >= BUCKETS as u64 {
            self.merge();
        }
    }

    /// Buckets holding anything (after `materialize`).
    fn used(&self) -> usize {
        self.lanes
            .iter()
            .filter_map(|l| l.done.iter().rposition(|&v| v != 0.0))
            .max()
            .map_or(0, |i| i + 1)
    }

    fn materialize(&mut self) {
        let w = self.width as f64;
        for lane in &mut self.lanes {
            let mut run = 0.0;
            for k in 0..BUCKETS {
                run += lane.diff[k];
                lane.done[k] += run * w;
            }
            lane.diff.iter_mut().for_each(|d| *d = 0.0);
        }
    }

    /// Doubles the bucket width, keeping the origin (aligned to the new width).
    fn merge(&mut self) {
        self.materialize();
        let new_width = self.width * 2;
        // An origin not on the new width's boundary starts one bucket early.
        let off = usize::from(!self.origin.is_multiple_of(new_width));
        for lane in &mut self.lanes {
            // In place: bucket j takes old buckets 2j - off and 2j + 1 - off.
            for j in 0..BUCKETS {
                let pair = (2 * j).saturating_sub(off)..(2 * j + 2 - off).min(BUCKETS);
                lane.done[j] = if pair.start < pair.end {
                    lane.done[pair].iter().sum()
                } else {
                    0.0
                };
            }
        }
        self.origin -= off as u64 * self.width;
        self.width = new_width;
    }

    /// (integral, time covered) of every bucket overlapping [from, to),
    /// the integral prorated to the part inside the window. Time outside the
    /// grid counts with value 0. Needs `materialize` first.
    fn buckets(&self, c: Curve, from: Nanos, to: Nanos) -> Vec<(f64, f64)> {
        let lane = &self.lanes[c as usize];
        let w = self.width;
        let grid_end = self.origin + BUCKETS as u64 * w;
        let mut out = Vec::new();
        if from < self.origin {
            out.push((0.0, (self.origin.min(to) - from) as f64));
        }
        let k0 = (from.max(self.origin) - self.origin) / w;
        let k1 = (to.min(grid_end).saturating_sub(self.origin)).div_ceil(w);
        for k in k0..k1.min(BUCKETS as u64) {
            let b0 = self.origin + k * w;
            let b1 = b0 + w;
            let overlap = (b1.min(to) - b0.max(from)) as f64;
            if overlap <= 0.0 {
                continue;
            }
            // The part of the bucket that holds data, and its share inside
            // the window (the integral is assumed even over that part).
            let (e0, e1) = (b0.max(self.first), b1.min(self.last));
            let inside = e1.min(to).saturating_sub(e0.max(from)) as f64;
            let share = if e1 > e0 {
                inside / (e1 - e0) as f64
            } else {
                0.0
            };
            out.push((lane.done[k as usize] * share, overlap));
        }
        if to > grid_end {
            out.push((0.0, (to - grid_end.max(from)) as f64));
        }
        out
    }

    /// Every effective and active metric over [from, to), in display units.
    pub fn metrics(&mut self, from: Nanos, to: Nanos) -> Vec<(MetricId, TwStats)> {
        use Curve::*;
        use MetricId::*;
        if self.empty || to <= from {
            return Vec::new();
        }
        self.materialize();
        let total = (to - from) as f64;
        let per_s = NANOS_PER_SEC;
        let grid = |c: Curve| self.buckets(c, from, to);
        let (conc, pconc, dconc) = (
            grid(Concurrency),
            grid(PrefillConcurrency),
            grid(DecodeConcurrency),
        );
        let (drate, prate, tif) = (
            grid(DecodeRate),
            grid(PrefillRate),
            grid(Curve::TokensInFlight),
        );
        let means = |v: &[(f64, f64)], scale: f64| -> Vec<(f64, f64)> {
            v.iter().map(|&(i, d)| (i / d * scale, d)).collect()
        };
        let trate: Vec<(f64, f64)> = drate
            .iter()
            .zip(&prate)
            .map(|(&(a, d), &(b, _))| (a + b, d))
            .collect();
        // Per user: rate / concurrency, bucket by bucket (0 where none).
        let per_user = |rate: &[(f64, f64)], c: &[(f64, f64)]| -> Vec<(f64, f64)> {
            rate.iter()
                .zip(c)
                .map(|(&(r, d), &(n, _))| (if n > 0.0 { r / n * per_s } else { 0.0 }, d))
                .collect()
        };
        // Active: only the time a phase has a request in flight, estimated
        // in a bucket as min(request-time, bucket time).
        let active = |rate: &[(f64, f64)], mask: &[(f64, f64)], scale: f64, ratio: bool| {
            let segs: Vec<(f64, f64)> = rate
                .iter()
                .zip(mask)
                .filter(|(_, &(m, _))| m > 0.0)
                .map(|(&(r, d), &(m, _))| {
                    let t = m.min(d);
                    let v = if ratio { r / m * scale } else { r / t * scale };
                    (v, t)
                })
                .collect();
            let t: f64 = segs.iter().map(|s| s.1).sum();
            TwStats::weighted(segs, t)
        };
        let tw = |segs: Vec<(f64, f64)>| TwStats::weighted(segs, total);
        vec![
            (EffectiveConcurrency, tw(means(&conc, 1.0))),
            (EffectiveDecodeThroughput, tw(means(&drate, per_s))),
            (EffectivePrefillThroughput, tw(means(&prate, per_s))),
            (EffectiveDecodeConcurrency, tw(means(&dconc, 1.0))),
            (EffectivePrefillConcurrency, tw(means(&pconc, 1.0))),
            (EffectiveTotalThroughput, tw(means(&trate, per_s))),
            (
                EffectiveDecodeThroughputPerUser,
                tw(per_user(&drate, &dconc)),
            ),
            (
                EffectivePrefillThroughputPerUser,
                tw(per_user(&prate, &pconc)),
            ),
            (MetricId::TokensInFlight, tw(means(&tif, 1.0))),
            (ActiveDecodeThroughput, active(&drate, &dconc, per_s, false)),
            (
                ActivePrefillThroughput,
                active(&prate, &pconc, per_s, false),
            ),
            (
                ActiveDecodeThroughputPerUser,
                active(&drate, &dconc, per_s, true),
            ),
            (
                ActivePrefillThroughputPerUser,
                active(&prate, &pconc, per_s, true),
            ),
            (ActiveTotalThroughput, active(&trate, &conc, per_s, false)),
        ]
    }
}

/// Every curve, in lane order.
const ALL_CURVES: [Curve; CURVES] = [
    Curve::Concurrency,
    Curve::PrefillConcurrency,
    Curve::DecodeConcurrency,
    Curve::DecodeRate,
    Curve::PrefillRate,
    Curve::TokensInFlight,
];

/// The grid as a shard result file carries it (`metrics::shard`): each
/// curve's bucket integrals from bucket `skip` on, and its times on the
/// wall clock.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SweepState {
    pub origin_ns: u64,
    pub width_ns: u64,
    pub first_ns: u64,
    pub last_ns: u64,
    pub skip: usize,
    pub lanes: Vec<Vec<f64>>,
}

impl SweepState {
    /// Whether the state is a grid this audioperf could have written (it
    /// comes from a file).
    pub fn check(&self) -> Result<(), String> {
        let len = self.lanes.first().map_or(0, Vec::len);
        let sound = self.lanes.len() == CURVES
            && self
                .lanes
                .iter()
                .all(|l| l.len() == len && l.iter().all(|v| v.is_finite()))
            && self.width_ns > 0
            && self.skip.saturating_add(len) <= BUCKETS
            && self.first_ns <= self.last_ns
            && self
                .origin_ns
                .checked_add(BUCKETS as u64 * self.width_ns)
                .is_some();
        if sound {
            Ok(())
        } else {
            Err("its time-weighted curves are not a grid of this audioperf".into())
        }
    }
}

impl Sweep {
    /// The grid's state, its times converted by `to_wall`; None when empty.
    pub fn state(&self, to_wall: impl Fn(Nanos) -> u64) -> Option<SweepState> {
        if self.empty {
            return None;
        }
        let mut grid = self.clone();
        grid.materialize();
        let used = |l: &Lane| {
            let lo = l.done.iter().position(|&v| v != 0.0)?;
            let hi = l.done.iter().rposition(|&v| v != 0.0)?;
            Some((lo, hi + 1))
        };
        let spans: Vec<(usize, usize)> = grid.lanes.iter().filter_map(used).collect();
        let skip = spans.iter().map(|s| s.0).min().unwrap_or(0);
        let end = spans.iter().map(|s| s.1).max().unwrap_or(skip);
        Some(SweepState {
            origin_ns: to_wall(grid.origin),
            width_ns: grid.width,
            first_ns: to_wall(grid.first),
            last_ns: to_wall(grid.last),
            skip,
            lanes: grid
                .lanes
                .iter()
                .map(|l| l.done[skip..end].to_vec())
                .collect(),
        })
    }

    /// Adds another grid's curves: each of its buckets as a constant over
    /// the part of the bucket that holds data. Integrals, and so every
    /// time-weighted average, are kept exactly; min, max, percentiles and
    /// std are those of this grid's buckets, as for a single run.
    pub fn absorb(&mut self, s: &SweepState) -> Result<(), String> {
        s.check()?;
        for (c, lane) in ALL_CURVES.iter().zip(&s.lanes) {
            for (j, &integral) in lane.iter().enumerate() {
                let b0 = s.origin_ns + (s.skip + j) as u64 * s.width_ns;
                let (a, b) = (b0.max(s.first_ns), (b0 + s.width_ns).min(s.last_ns));
                if integral != 0.0 && b > a {
                    self.interval(*c, a, b, integral / (b - a) as f64);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(start: Nanos, first: Nanos, end: Nanos, isl: u64, osl: u64) -> Spans {
        Spans {
            start,
            end,
            first_token: Some(first),
            last_token: None,
            isl: Some(isl),
            osl: Some(osl),
        }
    }

    fn get(m: &[(MetricId, TwStats)], id: MetricId) -> TwStats {
        m.iter().find(|(i, _)| *i == id).map(|p| p.1).unwrap()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    /// Two requests by hand (times in µs):
    /// A: start 0, first token 10, end 30, ISL 100, OSL 21;
    /// B: start 20, first token 40, end 60, ISL 200, OSL 11.
    /// Window [0, 60): concurrency 1 on [0,20), 2 on [20,30), 1 on [30,60).
    #[test]
    fn hand_computed_curves() {
        let us = 1_000;
        let mut s = Sweep::new();
        s.add(&spans(0, 10 * us, 30 * us, 100, 21));
        s.add(&spans(20 * us, 40 * us, 60 * us, 200, 11));
        let m = s.metrics(0, 60 * us);
        let c = get(&m, MetricId::EffectiveConcurrency);
        // (20*1 + 10*2 + 30*1) / 60
        assert!(close(c.avg, 70.0 / 60.0), "{c:?}");
        assert_eq!((c.min, c.max, c.p50, c.p90), (1.0, 2.0, 1.0, 2.0));
        let var = (50.0 * (1.0 - 70.0 / 60.0_f64).powi(2) + 10.0 * (2.0 - 70.0 / 60.0_f64).powi(2))
            / 60.0;
        assert!(close(c.std, var.sqrt()));
        // Prefill: A [0,10), B [20,40) -> 30 of 60 µs with one request.
        assert!(close(
            get(&m, MetricId::EffectivePrefillConcurrency).avg,
            0.5
        ));
        // Decode: A [10,30), B [40,60) -> 40 of 60 µs.
        assert!(close(
            get(&m, MetricId::EffectiveDecodeConcurrency).avg,
            40.0 / 60.0
        ));
        // Decode rate: A 20 tokens / 20 µs = 1e6 tok/s; B 10 / 20 µs = 5e5.
        let d = get(&m, MetricId::EffectiveDecodeThroughput);
        assert!(close(d.avg, 30.0 / 60e-6), "{d:?}"); // 30 tokens over 60 µs
        assert!(close(d.max, 1e6));
        // Prefill rate: A 100 / 10 µs = 1e7; B 200 / 20 µs = 1e7.
        let p = get(&m, MetricId::EffectivePrefillThroughput);
        assert!(close(p.avg, 300.0 / 60e-6));
        assert!(close(
            get(&m, MetricId::EffectiveTotalThroughput).avg,
            330.0 / 60e-6
        ));
        // Active: decode rate only over the 40 µs in decode.
        assert!(close(
            get(&m, MetricId::ActiveDecodeThroughput).avg,
            30.0 / 40e-6
        ));
        assert!(close(get(&m, MetricId::ActivePrefillThroughput).avg, 1e7));
        assert!(close(
            get(&m, MetricId::ActiveTotalThroughput).avg,
            330.0 / 60e-6
        ));
        // One user at a time in each phase: per user = the rate itself.
        assert!(close(
            get(&m, MetricId::ActiveDecodeThroughputPerUser).avg,
            30.0 / 40e-6
        ));
        assert!(close(
            get(&m, MetricId::EffectiveDecodeThroughputPerUser).avg,
            30.0 / 60e-6
        ));
        // Tokens in flight: A 100 on [0,30) + 21 on [10,30); B 200 on [20,60) + 11 on [40,60).
        let tif = (100.0 * 30.0 + 21.0 * 20.0 + 200.0 * 40.0 + 11.0 * 20.0) / 60.0;
        let t = get(&m, MetricId::TokensInFlight);
        assert!(close(t.avg, tif), "{t:?}");
        assert_eq!(t.max, 321.0);
    }

    #[test]
    fn a_long_run_merges_buckets_and_keeps_averages_exact() {
        let mut s = Sweep::new();
        // 4 requests always in flight for 100 s (1 s each), collected out of order.
        let sec = 1_000_000_000;
        for k in (0..100u64).rev() {
            for c in 0..4 {
                s.add(&spans(
                    5 * sec + k * sec,
                    5 * sec + k * sec + sec / 4,
                    5 * sec + (k + 1) * sec,
                    10,
                    5 + c,
                ));
            }
        }
        assert!(s.width > FIRST_WIDTH_NS);
        let m = s.metrics(5 * sec, 105 * sec);
        let c = get(&m, MetricId::EffectiveConcurrency);
        assert!(close(c.avg, 4.0) && c.p50 == 4.0, "{c:?}");
        assert!(close(
            get(&m, MetricId::EffectivePrefillConcurrency).avg,
            1.0
        ));
        assert!(close(
            get(&m, MetricId::EffectiveDecodeConcurrency).avg,
            3.0
        ));
        // Slice-like sub-window.
        let sub = s.metrics(10 * sec, 20 * sec);
        assert!(close(get(&sub, MetricId::EffectiveConcurrency).avg, 4.0));
    }

    #[test]
    fn an_empty_sweep_has_no_metrics() {
        let mut s = Sweep::new();
        assert!(s.metrics(0, 10).is_empty());
    }
}
