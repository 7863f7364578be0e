//! The open-loop arrival schedule (`--request-rate`): intended send times
//! generated one by one as the run goes (`Arrivals`), from a seeded
//! generator, like AIPerf's interval
//! generators (constant period, exponential for poisson, gamma with
//! shape = smoothness and mean 1/rate). The first arrival is one interval after
//! the start, as in AIPerf. Times are offsets from the run start in ns.

use crate::config::ArrivalPattern;
use crate::sys::clock::Nanos;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Exp, Gamma};

/// What fixes an arrival schedule: the same schedule gives the same times.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScheduleSpec {
    pub pattern: ArrivalPattern,
    pub rate: f64,
    pub smoothness: Option<f64>,
    pub seed: u64,
    /// Stop after this many arrivals.
    pub count: Option<u64>,
    /// Stop at the first arrival after this offset.
    pub horizon_ns: Option<Nanos>,
}

/// The arrival offsets (ns from the phase start) of a schedule, generated
/// one at a time: memory stays the same however long the run.
pub struct Arrivals {
    rng: StdRng,
    interval: Interval,
    left: u64,
    horizon_ns: Option<Nanos>,
    /// Seconds since the start, accumulated in f64 so a constant schedule
    /// has no rounding drift.
    t: f64,
}

enum Interval {
    Constant(f64),
    Exp(Exp<f64>),
    Gamma(Gamma<f64>),
}

impl Arrivals {
    pub fn new(spec: &ScheduleSpec) -> Arrivals {
        let rate = spec.rate;
        let interval = match spec.pattern {
            ArrivalPattern::Constant => Interval::Constant(1.0 / rate),
            ArrivalPattern::Poisson => {
                Exp::new(rate).map_or(Interval::Constant(1.0 / rate), Interval::Exp)
            }
            ArrivalPattern::Gamma => {
                let shape = spec.smoothness.unwrap_or(1.0);
                Gamma::new(shape, 1.0 / (rate * shape))
                    .map_or(Interval::Constant(1.0 / rate), Interval::Gamma)
            }
        };
        Arrivals {
            rng: StdRng::seed_from_u64(spec.seed ^ 0x5eed_a77e_0000_0001),
            interval,
            left: spec.count.unwrap_or(u64::MAX),
            horizon_ns: spec.horizon_ns,
            t: 0.0,
        }
    }
}

impl Iterator for Arrivals {
    type Item = Nanos;

    fn next(&mut self) -> Option<Nanos> {
        if self.left == 0 {
            return None;
        }
        self.t += match &self.interval {
            Interval::Constant(gap) => *gap,
            Interval::Exp(d) => d.sample(&mut self.rng),
            Interval::Gamma(d) => d.sample(&mut self.rng),
        };
        let ns = (self.t * 1e9).round() as Nanos;
        if self.horizon_ns.is_some_and(|h| ns > h) {
            self.left = 0;
            return None;
        }
        self.left -= 1;
        Some(ns)
    }
}

/// Arrival offsets (ns from start) for `count` requests, or for as many as
/// fall before `horizon_ns` when `count` is None, collected (tests).
pub fn arrivals(
    pattern: ArrivalPattern,
    rate: f64,
    smoothness: Option<f64>,
    seed: u64,
    count: Option<u64>,
    horizon_ns: Option<Nanos>,
) -> Vec<Nanos> {
    Arrivals::new(&ScheduleSpec {
        pattern,
        rate,
        smoothness,
        seed,
        count,
        horizon_ns,
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gaps(a: &[Nanos]) -> Vec<f64> {
        let mut prev = 0;
        a.iter()
            .map(|&t| {
                let g = (t - prev) as f64 / 1e9;
                prev = t;
                g
            })
            .collect()
    }

    #[test]
    fn constant_is_exact_and_drift_free() {
        let a = arrivals(
            ArrivalPattern::Constant,
            200.0,
            None,
            1,
            None,
            Some(10_000_000_000),
        );
        assert_eq!(a.len(), 2000);
        assert_eq!(a[0], 5_000_000);
        assert_eq!(a[1999], 10_000_000_000);
        assert!(gaps(&a).iter().all(|g| (g - 0.005).abs() < 1e-9));
    }

    /// Kolmogorov–Smirnov test of poisson gaps against Exp(rate): with n = 5000
    /// the 1% critical value is 1.63/sqrt(n) ≈ 0.023.
    #[test]
    fn poisson_gaps_pass_ks_test() {
        let rate = 40.0;
        let a = arrivals(ArrivalPattern::Poisson, rate, None, 42, Some(5000), None);
        let mut g = gaps(&a);
        g.sort_by(|x, y| x.total_cmp(y));
        let n = g.len() as f64;
        let d = g
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let cdf = 1.0 - (-rate * x).exp();
                (cdf - i as f64 / n)
                    .abs()
                    .max(((i + 1) as f64 / n - cdf).abs())
            })
            .fold(0.0, f64::max);
        assert!(d < 1.63 / n.sqrt(), "KS statistic {d}");
        // A constant schedule must fail the same test (the test can fail).
        let c = arrivals(ArrivalPattern::Constant, rate, None, 42, Some(5000), None);
        let gc = gaps(&c);
        let dc = gc
            .iter()
            .enumerate()
            .map(|(i, &x)| ((1.0 - (-rate * x).exp()) - i as f64 / n).abs())
            .fold(0.0, f64::max);
        assert!(dc > 0.3);
    }

    #[test]
    fn gamma_keeps_the_mean_and_smoothness_sets_variance() {
        let rate = 100.0;
        for shape in [0.5, 1.0, 4.0] {
            let a = arrivals(
                ArrivalPattern::Gamma,
                rate,
                Some(shape),
                3,
                Some(20000),
                None,
            );
            let g = gaps(&a);
            let mean = g.iter().sum::<f64>() / g.len() as f64;
            let var = g.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / g.len() as f64;
            assert!((mean - 0.01).abs() < 0.0005, "shape {shape}: mean {mean}");
            // Gamma variance = shape * scale^2 = 1 / (rate^2 * shape).
            let want = 1.0 / (rate * rate * shape);
            assert!(
                (var / want - 1.0).abs() < 0.1,
                "shape {shape}: var {var} want {want}"
            );
        }
    }

    #[test]
    fn seeded_schedules_repeat() {
        let a = arrivals(ArrivalPattern::Poisson, 10.0, None, 9, Some(100), None);
        let b = arrivals(ArrivalPattern::Poisson, 10.0, None, 9, Some(100), None);
        let c = arrivals(ArrivalPattern::Poisson, 10.0, None, 10, Some(100), None);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn workers_split_one_schedule_without_holding_it() {
        let spec = ScheduleSpec {
            pattern: ArrivalPattern::Poisson,
            rate: 100.0,
            smoothness: None,
            seed: 3,
            count: Some(1000),
            horizon_ns: None,
        };
        let all: Vec<Nanos> = Arrivals::new(&spec).collect();
        assert_eq!(all.len(), 1000);
        let mut merged: Vec<Nanos> = (0..3)
            .flat_map(|w| Arrivals::new(&spec).skip(w).step_by(3))
            .collect();
        merged.sort_unstable();
        assert_eq!(merged, all);
        // A horizon ends the schedule at the first arrival past it.
        let capped = Arrivals::new(&ScheduleSpec {
            count: None,
            horizon_ns: Some(1_000_000_000),
            ..spec
        });
        assert!(capped.last().is_some_and(|t| t <= 1_000_000_000));
    }
}
