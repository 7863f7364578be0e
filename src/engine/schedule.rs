//! The open-loop arrival schedule (`--request-rate`): every intended send time
//! computed up front from a seeded generator, like AIPerf's interval
//! generators (constant period, exponential for poisson, gamma with
//! shape = smoothness and mean 1/rate). The first arrival is one interval after
//! the start, as in AIPerf. Times are offsets from the run start in ns.

use crate::config::ArrivalPattern;
use crate::sys::clock::Nanos;
use rand::SeedableRng;
use rand_distr::{Distribution, Exp, Gamma};

/// Arrival offsets (ns from start) for `count` requests, or for as many as
/// fall before `horizon_ns` when `count` is None.
pub fn arrivals(
    pattern: ArrivalPattern,
    rate: f64,
    smoothness: Option<f64>,
    seed: u64,
    count: Option<u64>,
    horizon_ns: Option<Nanos>,
) -> Vec<Nanos> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x5eed_a77e_0000_0001);
    let mut next: Box<dyn FnMut(&mut rand::rngs::StdRng) -> f64> = match pattern {
        ArrivalPattern::Constant => Box::new(move |_| 1.0 / rate),
        ArrivalPattern::Poisson => match Exp::new(rate) {
            Ok(d) => Box::new(move |r| d.sample(r)),
            Err(_) => Box::new(move |_| 1.0 / rate),
        },
        ArrivalPattern::Gamma => {
            let shape = smoothness.unwrap_or(1.0);
            match Gamma::new(shape, 1.0 / (rate * shape)) {
                Ok(d) => Box::new(move |r| d.sample(r)),
                Err(_) => Box::new(move |_| 1.0 / rate),
            }
        }
    };
    let cap = count.unwrap_or(u64::MAX);
    let mut out = Vec::with_capacity(count.unwrap_or(1024).min(10_000_000) as usize);
    // Accumulate in f64 seconds so a constant schedule has no rounding drift.
    let mut t = 0.0f64;
    while (out.len() as u64) < cap {
        t += next(&mut rng);
        let ns = (t * 1e9).round() as Nanos;
        if horizon_ns.is_some_and(|h| ns > h) {
            break;
        }
        out.push(ns);
    }
    out
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
}
