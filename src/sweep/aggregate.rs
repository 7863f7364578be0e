//! Statistics across runs, in AIPerf 0.13's aggregate layout:
//! - repeats of one configuration (`--num-profile-runs N`):
//!   `profile_export_aiperf_aggregate.{json,csv}`, one entry per
//!   `<metric>_<stat>` with mean, sample std, min, max, coefficient of
//!   variation, standard error and the Student-t confidence interval;
//! - a sweep: `sweep_aggregate/profile_export_aiperf_sweep.{json,csv}`, one
//!   entry per value with each metric's mean over its repeats.
//!
//! Input is each run's `profile_export_aiperf.json`, read back from disk.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{json, Map, Value};

/// Mean, sample std (ddof 1), min, max, cv, se and the t interval of `xs`.
#[derive(Debug, Clone, PartialEq)]
pub struct Spread {
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
    pub cv: f64,
    pub se: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// None for a single value (no interval can be formed).
    pub t_critical: Option<f64>,
}

pub fn spread(xs: &[f64], confidence: f64) -> Option<Spread> {
    let n = xs.len();
    if n == 0 {
        return None;
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if n == 1 {
        return Some(Spread {
            mean,
            std: 0.0,
            min,
            max,
            cv: 0.0,
            se: 0.0,
            ci_low: mean,
            ci_high: mean,
            t_critical: None,
        });
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let std = var.sqrt();
    let se = std / (n as f64).sqrt();
    let t = t_quantile((1.0 + confidence) / 2.0, (n - 1) as f64);
    Some(Spread {
        mean,
        std,
        min,
        max,
        cv: if mean != 0.0 { std / mean } else { 0.0 },
        se,
        ci_low: mean - t * se,
        ci_high: mean + t * se,
        t_critical: Some(t),
    })
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms; ~15 digits).
fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + 7.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Regularized incomplete beta I_x(a, b) by its continued fraction (Lentz).
fn inc_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    if x > (a + 1.0) / (a + b + 2.0) {
        return 1.0 - inc_beta(1.0 - x, b, a);
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp() / a;
    let tiny = 1e-300;
    let (mut c, mut d) = (1.0, 1.0 - (a + b) * x / (a + 1.0));
    d = if d.abs() < tiny { tiny } else { d };
    d = 1.0 / d;
    let mut f = d;
    for m in 1..300 {
        let m = m as f64;
        for num in [
            m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0)),
        ] {
            d = 1.0 + num * d;
            d = if d.abs() < tiny { tiny } else { d };
            c = 1.0 + num / c;
            c = if c.abs() < tiny { tiny } else { c };
            d = 1.0 / d;
            f *= c * d;
        }
        if (c * d - 1.0).abs() < 1e-15 {
            break;
        }
    }
    front * f
}

/// Student's t CDF with `df` degrees of freedom.
fn t_cdf(t: f64, df: f64) -> f64 {
    let tail = 0.5 * inc_beta(df / (df + t * t), df / 2.0, 0.5);
    if t >= 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// The t value below which a fraction `p` (> 0.5) of the distribution lies.
pub fn t_quantile(p: f64, df: f64) -> f64 {
    let (mut lo, mut hi) = (0.0, 1e7);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if t_cdf(mid, df) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// `(tag, stat, value, unit)` for every metric stat in a summary export,
/// in the file's order (`count` left out, as AIPerf does).
pub fn metric_stats(summary: &Value) -> Vec<(String, String, f64, String)> {
    let mut out = Vec::new();
    let Some(obj) = summary.as_object() else {
        return out;
    };
    for (tag, m) in obj {
        let Some(m) = m.as_object() else { continue };
        let Some(unit) = m.get("unit").and_then(Value::as_str) else {
            continue;
        };
        for (stat, v) in m {
            if stat == "unit" || stat == "count" {
                continue;
            }
            if let Some(v) = v.as_f64() {
                out.push((tag.clone(), stat.clone(), v, unit.to_string()));
            }
        }
    }
    out
}

fn spread_json(s: &Spread, unit: &str) -> Value {
    json!({
        "mean": s.mean, "std": s.std, "min": s.min, "max": s.max, "cv": s.cv, "se": s.se,
        "ci_low": s.ci_low, "ci_high": s.ci_high, "t_critical": s.t_critical, "unit": unit,
    })
}

/// The confidence aggregate of repeated runs' summaries: `{metric_stat: spread}`.
pub fn confidence_metrics(summaries: &[Value], confidence: f64) -> Map<String, Value> {
    let mut keys: Vec<(String, String)> = Vec::new();
    let mut cols: Vec<Vec<f64>> = Vec::new();
    for s in summaries {
        for (tag, stat, v, unit) in metric_stats(s) {
            let key = format!("{tag}_{stat}");
            match keys.iter().position(|k| k.0 == key) {
                Some(i) => cols[i].push(v),
                None => {
                    keys.push((key, unit));
                    cols.push(vec![v]);
                }
            }
        }
    }
    let mut out = Map::new();
    for ((key, unit), xs) in keys.into_iter().zip(cols) {
        if let Some(s) = spread(&xs, confidence) {
            out.insert(key, spread_json(&s, &unit));
        }
    }
    out
}

pub struct ConfidenceMeta<'a> {
    pub confidence: f64,
    pub run_labels: &'a [String],
    pub failed_runs: &'a [String],
    pub cooldown_s: f64,
    /// (label, values) of the sweep value these repeats share, if any.
    pub variation: Option<(&'a str, Value)>,
}

/// Writes `dir/profile_export_aiperf_aggregate.{json,csv}`.
pub fn write_confidence(dir: &Path, summaries: &[Value], meta: &ConfidenceMeta) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let metrics = confidence_metrics(summaries, meta.confidence);
    let mut m = json!({
        "aggregation_type": "confidence",
        "num_profile_runs": meta.run_labels.len() + meta.failed_runs.len(),
        "num_successful_runs": summaries.len(),
        "failed_runs": meta.failed_runs,
        "confidence_level": meta.confidence,
        "run_labels": meta.run_labels,
        "cooldown_seconds": meta.cooldown_s,
    });
    if summaries.len() == 1 {
        m["single_run"] = json!(true);
    }
    if let Some((label, values)) = &meta.variation {
        m["variation_label"] = json!(label);
        m["variation_values"] = values.clone();
    }
    let doc = json!({
        "schema_version": "1.0",
        "aiperf_version": crate::report::json::AIPERF_VERSION,
        "metadata": m,
        "metrics": metrics,
    });
    let json_path = dir.join("profile_export_aiperf_aggregate.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&doc)?)
        .with_context(|| format!("writing {}", json_path.display()))?;
    let mut csv = String::from("metric,mean,std,min,max,cv,se,ci_low,ci_high,t_critical,unit\n");
    for (k, v) in &metrics {
        let f = |name: &str, d: usize| {
            v.get(name)
                .and_then(Value::as_f64)
                .map(|x| format!("{x:.d$}"))
                .unwrap_or_default()
        };
        let _ = writeln!(
            csv,
            "{k},{},{},{},{},{},{},{},{},{},{}",
            f("mean", 2),
            f("std", 2),
            f("min", 2),
            f("max", 2),
            f("cv", 4),
            f("se", 4),
            f("ci_low", 2),
            f("ci_high", 2),
            f("t_critical", 4),
            v.get("unit").and_then(Value::as_str).unwrap_or("")
        );
    }
    let csv_path = dir.join("profile_export_aiperf_aggregate.csv");
    std::fs::write(&csv_path, csv).with_context(|| format!("writing {}", csv_path.display()))
}

/// One sweep value's metrics: each tag's `avg` across its repeats as mean,
/// std, min, max, cv and interval, and its other stats (percentiles…) as
/// their mean over the repeats; a single repeat keeps its own min and max
/// (AIPerf 0.13's layout).
pub fn combination_metrics(summaries: &[Value], confidence: f64) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(first) = summaries.first().and_then(Value::as_object) else {
        return out;
    };
    for (tag, m) in first {
        let Some(unit) = m.get("unit").and_then(Value::as_str) else {
            continue;
        };
        let avgs: Vec<f64> = summaries
            .iter()
            .filter_map(|s| s.get(tag)?.get("avg")?.as_f64())
            .collect();
        let Some(s) = spread(&avgs, confidence) else {
            continue;
        };
        let mut e = json!({
            "mean": s.mean, "avg": s.mean, "std": s.std,
            "min": s.min, "max": s.max, "cv": s.cv, "ci_low": s.ci_low, "ci_high": s.ci_high, "unit": unit,
        });
        // The other stats (percentiles, count, sum; min and max of a single
        // run) as their mean over the repeats.
        for k in m.as_object().into_iter().flatten().map(|(k, _)| k) {
            let skip = matches!(k.as_str(), "unit" | "avg" | "std")
                || (summaries.len() > 1 && matches!(k.as_str(), "min" | "max"));
            let xs: Vec<f64> = summaries
                .iter()
                .filter_map(|s| s.get(tag)?.get(k)?.as_f64())
                .collect();
            if !skip && !xs.is_empty() {
                e[k] = json!(xs.iter().sum::<f64>() / xs.len() as f64);
            }
        }
        out.insert(tag.clone(), e);
    }
    out
}

/// A metric's mean in one combination.
fn mean_of(m: &Map<String, Value>, tag: &str, stat: &str) -> Option<f64> {
    let e = m.get(tag)?;
    if stat == "avg" {
        e.get("mean")
    } else {
        e.get(stat)
    }?
    .as_f64()
}

/// The combinations no other beats on request throughput (max) and TTFT p99
/// (min; request latency p99 without TTFT), as AIPerf's SweepAnalyzer means to.
pub fn pareto_optimal(combos: &[(Value, Map<String, Value>)]) -> Vec<Value> {
    let latency = ["time_to_first_token", "request_latency"]
        .into_iter()
        .find(|t| combos.iter().all(|(_, m)| mean_of(m, t, "p99").is_some()));
    let Some(latency) = latency else {
        return Vec::new();
    };
    let pts: Vec<Option<(f64, f64)>> = combos
        .iter()
        .map(|(_, m)| {
            Some((
                mean_of(m, "request_throughput", "avg")?,
                mean_of(m, latency, "p99")?,
            ))
        })
        .collect();
    combos
        .iter()
        .zip(&pts)
        .filter_map(|((p, _), pt)| {
            let (t, l) = (*pt)?;
            let dominated = pts
                .iter()
                .flatten()
                .any(|&(ot, ol)| ot >= t && ol <= l && (ot > t || ol < l));
            (!dominated).then(|| p.clone())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_scipy() {
        // scipy.stats.t.ppf(0.975, df)
        for (df, want) in [
            (1.0, 12.706204736174694),
            (2.0, 4.302652729911275),
            (9.0, 2.2621571627409915),
            (30.0, 2.0422724563012373),
        ] {
            let t = t_quantile(0.975, df);
            assert!((t - want).abs() < 1e-6, "df {df}: {t} vs {want}");
        }
        assert!((t_quantile(0.95, 4.0) - 2.1318467859510317).abs() < 1e-6);
    }

    #[test]
    fn spread_of_two_runs_matches_aiperf() {
        // From an AIPerf 0.13 aggregate (prefill_throughput_per_user_p90).
        let s = spread(&[23239.095413048024, 25896.879463920584], 0.95).unwrap();
        assert!((s.mean - 24567.987438484306).abs() < 1e-6);
        assert!((s.std - 1879.3371253014393).abs() < 1e-6);
        assert!((s.se - 1328.89202543628).abs() < 1e-6);
        assert!((s.ci_low - 7682.8132910210625).abs() < 1e-3);
        assert!((s.cv - 0.07649536332624333).abs() < 1e-9);
        let one = spread(&[5.0], 0.95).unwrap();
        assert_eq!(
            (one.std, one.ci_low, one.ci_high, one.t_critical),
            (0.0, 5.0, 5.0, None)
        );
    }

    #[test]
    fn pareto_keeps_the_runs_nobody_beats() {
        let c = |p: u32, tput: f64, ttft99: f64| {
            let m = json!({"request_throughput": {"mean": tput}, "time_to_first_token": {"p99": ttft99}});
            (json!({"concurrency": p}), m.as_object().unwrap().clone())
        };
        let combos = [c(1, 10.0, 20.0), c(4, 30.0, 25.0), c(16, 28.0, 90.0)];
        assert_eq!(
            pareto_optimal(&combos),
            [json!({"concurrency": 1}), json!({"concurrency": 4})]
        );
    }
}
