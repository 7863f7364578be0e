//! The charts that compare runs (a sweep, or several PATHS): each run is one
//! point, read from its summary export, labelled with its concurrency or
//! request rate.

use super::chart::{Chart, Mark, Series};
use super::load::Run;
use super::single::fmt;

/// What varies between the runs, for labels and the x axis of the latency chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Knob {
    Concurrency,
    RequestRate,
}

/// The knob the runs differ in: request rate when every run has one,
/// otherwise concurrency.
pub fn knob(runs: &[&Run]) -> Knob {
    if !runs.is_empty() && runs.iter().all(|r| r.request_rate().is_some()) {
        Knob::RequestRate
    } else {
        Knob::Concurrency
    }
}

fn knob_value(run: &Run, knob: Knob) -> Option<f64> {
    match knob {
        Knob::Concurrency => run.concurrency().or(Some(1.0)),
        Knob::RequestRate => run.request_rate(),
    }
}

/// `c=16`, `rate=10`, or the directory name.
pub fn label(run: &Run, knob: Knob) -> String {
    match (knob, knob_value(run, knob)) {
        (Knob::Concurrency, Some(v)) => format!("c={}", fmt_short(v)),
        (Knob::RequestRate, Some(v)) => format!("rate={}", fmt_short(v)),
        _ => run.name.clone(),
    }
}

fn fmt_short(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        fmt(v)
    }
}

/// Runs ordered by the knob (then name).
pub fn ordered(runs: &[Run]) -> Vec<&Run> {
    let mut v: Vec<&Run> = runs.iter().collect();
    let k = knob(&v);
    v.sort_by(|a, b| {
        let (x, y) = (
            knob_value(a, k).unwrap_or(0.0),
            knob_value(b, k).unwrap_or(0.0),
        );
        x.total_cmp(&y).then_with(|| a.name.cmp(&b.name))
    });
    v
}

pub fn charts(runs: &[Run]) -> Vec<Chart> {
    let runs = ordered(runs);
    let mut out = vec![
        ttft_vs_throughput(&runs),
        pareto(&runs),
        latency_vs_knob(&runs),
    ];
    out.retain(Chart::has_data);
    out
}

/// `(x, y, label)` of every run that has both stats.
fn points(
    runs: &[&Run],
    x: impl Fn(&Run) -> Option<f64>,
    y: impl Fn(&Run) -> Option<f64>,
) -> Vec<(f64, f64, String)> {
    let k = knob(runs);
    runs.iter()
        .filter_map(|r| Some((x(r)?, y(r)?, label(r, k))))
        .collect()
}

fn ttft_vs_throughput(runs: &[&Run]) -> Chart {
    let mut c = Chart::new(
        "ttft_vs_throughput",
        "TTFT vs Throughput",
        "Output token throughput (tokens/s)",
        "Time to first token (ms)",
    );
    c.note = Some("one point per run".into());
    let tput = |r: &Run| r.stat("output_token_throughput", "avg");
    for (stat, color) in [("p50", 0), ("p99", 3)] {
        let pts = points(runs, tput, |r| r.stat("time_to_first_token", stat));
        if pts.is_empty() {
            continue;
        }
        if stat == "p99" {
            c.point_labels = pts.clone();
        }
        c.series.push(Series {
            name: format!("TTFT {stat}"),
            points: pts.iter().map(|p| (p.0, p.1)).collect(),
            mark: Mark::LinePoints,
            color,
        });
    }
    c.y_from_zero = true;
    c
}

/// The points no other point beats on both axes (both maximised), by x.
pub fn pareto_front(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut front: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|&(x, y)| {
            !points
                .iter()
                .any(|&(ox, oy)| ox >= x && oy >= y && (ox > x || oy > y))
        })
        .collect();
    front.sort_by(|a, b| a.0.total_cmp(&b.0));
    front
}

fn pareto(runs: &[&Run]) -> Chart {
    let mut c = Chart::new(
        "pareto_per_user_vs_total",
        "Pareto: Output Tokens/s per User vs Total Tokens/s",
        "Output token throughput per user (tokens/s/user)",
        "Total token throughput (tokens/s)",
    );
    let total = |r: &Run| {
        r.stat("total_token_throughput", "avg")
            .or_else(|| r.stat("output_token_throughput", "avg"))
    };
    let pts = points(
        runs,
        |r| r.stat("output_token_throughput_per_user", "avg"),
        total,
    );
    if pts.is_empty() {
        return c;
    }
    let xy: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, p.1)).collect();
    let front = pareto_front(&xy);
    let on_front: Vec<&str> = pts
        .iter()
        .filter(|p| front.contains(&(p.0, p.1)))
        .map(|p| p.2.as_str())
        .collect();
    c.note = Some(format!(
        "one point per run; on the Pareto front (no other run beats it on both): {}",
        on_front.join(", ")
    ));
    c.series.push(Series {
        name: "runs".into(),
        points: xy,
        mark: Mark::Points,
        color: 0,
    });
    c.series.push(Series {
        name: "Pareto front".into(),
        points: front,
        mark: Mark::LinePoints,
        color: 1,
    });
    c.point_labels = pts;
    c.y_from_zero = true;
    c
}

fn latency_vs_knob(runs: &[&Run]) -> Chart {
    let k = knob(runs);
    let (stem, title, x_label) = match k {
        Knob::Concurrency => (
            "latency_vs_concurrency",
            "Request Latency vs Concurrency",
            "Concurrency (requests in flight)",
        ),
        Knob::RequestRate => (
            "latency_vs_request_rate",
            "Request Latency vs Request Rate",
            "Target request rate (requests/s)",
        ),
    };
    let mut c = Chart::new(stem, title, x_label, "Request latency (ms)");
    for (stat, color) in [("p50", 0), ("p90", 1), ("p99", 3)] {
        let pts = points(
            runs,
            |r| knob_value(r, k),
            |r| r.stat("request_latency", stat),
        );
        if !pts.is_empty() {
            c.series.push(Series {
                name: format!("latency {stat}"),
                points: pts.iter().map(|p| (p.0, p.1)).collect(),
                mark: Mark::LinePoints,
                color,
            });
        }
    }
    c.y_from_zero = true;
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pareto_front_drops_dominated_points() {
        let pts = [
            (10.0, 100.0),
            (5.0, 300.0),
            (4.0, 250.0),
            (1.0, 400.0),
            (10.0, 90.0),
        ];
        assert_eq!(
            pareto_front(&pts),
            [(1.0, 400.0), (5.0, 300.0), (10.0, 100.0)]
        );
    }
}
