//! The charts of one run, built from its per-request records, its summary
//! and its time slices. Each builder returns the chart's data; `chart::write`
//! draws it. Percentile markers come from the run's own summary export, so a
//! chart shows the numbers the tables show.

use super::chart::{Bars, Chart, Mark, Marker, Series};
use super::load::{RequestPoint, Run};

/// Scatter charts draw at most this many points (every k-th request past it,
/// said in the chart's note); the data and percentiles use every request.
pub const MAX_POINTS: usize = 20_000;
/// The request timeline draws at most this many rows (more are thinner than
/// a pixel; the SVG would run to megabytes).
pub const MAX_TIMELINE_ROWS: usize = 2_000;
/// Time bins of the over-time curves.
const TIME_BINS: usize = 120;
const HISTOGRAM_BINS: usize = 40;

/// Every single-run chart that has data, in the report's order.
pub fn charts(run: &Run) -> Vec<Chart> {
    let mut out = vec![
        over_time(
            run,
            "ttft_over_time",
            "TTFT Per Request Over Time",
            "Time to first token (ms)",
            "time_to_first_token",
            |p| p.ttft_ms,
        ),
        over_time(
            run,
            "itl_over_time",
            "Inter-Token Latency Per Request Over Time",
            "Inter-token latency (ms)",
            "inter_token_latency",
            |p| p.itl_ms,
        ),
        latency_over_time(run),
        dispersed_throughput(run),
        ttft_timeline(run),
        histogram(
            run,
            "ttft_histogram",
            "TTFT Distribution",
            "Time to first token (ms)",
            "time_to_first_token",
            |p| p.ttft_ms,
        ),
        histogram(
            run,
            "itl_histogram",
            "Inter-Token Latency Distribution",
            "Inter-token latency (ms)",
            "inter_token_latency",
            |p| p.itl_ms,
        ),
        histogram(
            run,
            "latency_histogram",
            "Request Latency Distribution",
            "Request latency (ms)",
            "request_latency",
            |p| p.latency_ms,
        ),
        request_throughput(run),
        in_flight(run),
    ];
    for (tag, title, unit) in [
        (
            "time_to_first_token",
            "Time to First Token Across Time Slices",
            "Time to first token, avg (ms)",
        ),
        (
            "inter_token_latency",
            "Inter Token Latency Across Time Slices",
            "Inter-token latency, avg (ms)",
        ),
        (
            "request_throughput",
            "Request Throughput Across Time Slices",
            "Request throughput (requests/s)",
        ),
        (
            "request_latency",
            "Request Latency Across Time Slices",
            "Request latency, avg (ms)",
        ),
    ] {
        out.push(timeslice(run, tag, title, unit));
    }
    out.retain(Chart::has_data);
    out
}

/// Every `step`-th item so that at most MAX_POINTS remain, and the note
/// that says so (None when all are drawn).
fn thin<T: Copy>(items: &[T]) -> (Vec<T>, Option<String>) {
    thin_to(items, MAX_POINTS)
}

fn thin_to<T: Copy>(items: &[T], max: usize) -> (Vec<T>, Option<String>) {
    let step = items.len().div_ceil(max).max(1);
    let kept: Vec<T> = items.iter().step_by(step).copied().collect();
    let note = (step > 1).then(|| {
        format!(
            "{} of {} requests drawn (one in {step}); percentiles use all",
            kept.len(),
            items.len()
        )
    });
    (kept, note)
}

/// p50, p90, p99 of the summary's `tag` as dashed lines.
fn percentile_markers(run: &Run, tag: &str, unit: &str) -> Vec<Marker> {
    [("p50", 1), ("p90", 2), ("p99", 3)]
        .into_iter()
        .filter_map(|(stat, color)| {
            let v = run.stat(tag, stat)?;
            Some(Marker {
                label: format!("{stat} = {} {unit}", fmt(v)),
                at: v,
                color,
            })
        })
        .collect()
}

/// A number for a legend: 3 significant digits at least, no exponent.
pub fn fmt(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// One point per request: (start time, value).
fn over_time(
    run: &Run,
    stem: &str,
    title: &str,
    y_label: &str,
    tag: &str,
    value: fn(&RequestPoint) -> Option<f64>,
) -> Chart {
    let mut c = Chart::new(
        stem,
        title,
        "Request start since the first request (s)",
        y_label,
    );
    let pts: Vec<(f64, f64)> = run
        .requests
        .iter()
        .filter_map(|p| Some((p.start_s, value(p)?)))
        .collect();
    let (drawn, note) = thin(&pts);
    c.note = note;
    c.series.push(Series {
        name: format!("one point per request ({})", pts.len()),
        points: drawn,
        mark: Mark::Points,
        color: 0,
    });
    c.y_markers = percentile_markers(run, tag, "ms");
    c.y_from_zero = true;
    c
}

/// numpy's default (linear) percentile of sorted values.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = q / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}

/// Latency per request plus rolling p50/p95/p99 over a window of requests.
fn latency_over_time(run: &Run) -> Chart {
    let mut c = Chart::new(
        "latency_over_time",
        "Request Latency Over Time with Percentiles",
        "Request end since the first request (s)",
        "Request latency (ms)",
    );
    let mut pts: Vec<(f64, f64)> = run
        .requests
        .iter()
        .filter_map(|p| Some((p.end_s, p.latency_ms?)))
        .collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (drawn, note) = thin(&pts);
    let window = (pts.len() / 20).clamp(10, 1000).min(pts.len());
    c.note = Some(match note {
        Some(n) => format!("rolling percentiles over {window} requests; {n}"),
        None => format!("rolling percentiles over {window} requests"),
    });
    c.series.push(Series {
        name: format!("one point per request ({})", pts.len()),
        points: drawn,
        mark: Mark::Points,
        color: 0,
    });
    if window >= 2 {
        let step = (pts.len() / 200).max(1);
        for (q, color) in [(50.0, 2), (95.0, 1), (99.0, 3)] {
            let mut line = Vec::new();
            let mut buf = Vec::with_capacity(window);
            for end in (window..=pts.len()).step_by(step) {
                buf.clear();
                buf.extend(pts[end - window..end].iter().map(|p| p.1));
                buf.sort_by(f64::total_cmp);
                line.push((pts[end - 1].0, percentile(&buf, q)));
            }
            c.series.push(Series {
                name: format!("rolling p{q}"),
                points: line,
                mark: Mark::Line,
                color,
            });
        }
    }
    c.y_from_zero = true;
    c
}

/// The run's time span split into `TIME_BINS` bins: (origin, width).
fn time_bins(run: &Run) -> Option<(f64, f64)> {
    let end = run.requests.iter().map(|p| p.end_s).fold(0.0, f64::max);
    (end > 0.0).then(|| (0.0, end / TIME_BINS as f64))
}

/// Output tokens per second, each request's tokens spread evenly over its
/// generation (first token to end), so a long stream counts where it ran.
pub fn dispersed_throughput_series(run: &Run) -> Vec<(f64, f64)> {
    let Some((_, width)) = time_bins(run) else {
        return Vec::new();
    };
    let mut bins = vec![0.0f64; TIME_BINS];
    for p in &run.requests {
        let (Some(tokens), Some(ttft)) = (p.output_tokens, p.ttft_ms) else {
            continue;
        };
        let from = (p.start_s + ttft / 1000.0).min(p.end_s);
        let span = p.end_s - from;
        if span <= 0.0 {
            let i = ((p.end_s / width) as usize).min(TIME_BINS - 1);
            bins[i] += tokens;
            continue;
        }
        let rate = tokens / span;
        let first = (from / width) as usize;
        let last = ((p.end_s / width) as usize).min(TIME_BINS - 1);
        for (i, bin) in bins.iter_mut().enumerate().take(last + 1).skip(first) {
            let lo = from.max(i as f64 * width);
            let hi = p.end_s.min((i + 1) as f64 * width);
            *bin += rate * (hi - lo).max(0.0);
        }
    }
    bins.iter()
        .enumerate()
        .map(|(i, t)| ((i as f64 + 0.5) * width, t / width))
        .collect()
}

fn dispersed_throughput(run: &Run) -> Chart {
    let mut c = Chart::new(
        "dispersed_throughput_over_time",
        "Dispersed Output Token Throughput Over Time",
        "Time since the first request (s)",
        "Output token throughput (tokens/s)",
    );
    c.note = Some("each request's output tokens spread over its generation time".into());
    let pts = dispersed_throughput_series(run);
    if pts.is_empty() {
        return c;
    }
    c.series.push(Series {
        name: "output tokens/s".into(),
        points: pts,
        mark: Mark::Area,
        color: 0,
    });
    if let Some(v) = run.stat("output_token_throughput", "avg") {
        c.y_markers.push(Marker {
            label: format!("run average = {} tokens/s", fmt(v)),
            at: v,
            color: 3,
        });
    }
    c.y_from_zero = true;
    c
}

/// Gantt view: one row per request, waiting for the first token, then generating.
fn ttft_timeline(run: &Run) -> Chart {
    let mut c = Chart::new(
        "ttft_timeline",
        "Request Timeline: TTFT Phases Over Time",
        "Time since the first request (s)",
        "Request (in start order)",
    );
    let mut reqs: Vec<&RequestPoint> = run
        .requests
        .iter()
        .filter(|p| p.ttft_ms.is_some())
        .collect();
    reqs.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
    // Rows keep their request number when only some are drawn.
    let numbered: Vec<(usize, &RequestPoint)> = reqs.into_iter().enumerate().collect();
    let (drawn, note) = thin_to(&numbered, MAX_TIMELINE_ROWS);
    let height = numbered.len().div_ceil(MAX_TIMELINE_ROWS).max(1) as f64;
    c.note = note;
    let mut ttft = Vec::with_capacity(drawn.len());
    let mut gen = Vec::with_capacity(drawn.len());
    for (i, p) in drawn {
        let first = (p.start_s + p.ttft_ms.unwrap_or(0.0) / 1000.0).min(p.end_s);
        let (y0, y1) = (i as f64 + 0.1 * height, i as f64 + 0.9 * height);
        ttft.push((p.start_s, first, y0, y1));
        gen.push((first, p.end_s, y0, y1));
    }
    c.bars.push(Bars {
        name: "waiting for the first token (TTFT)".into(),
        rects: ttft,
        color: 1,
    });
    c.bars.push(Bars {
        name: "generating (first token to end)".into(),
        rects: gen,
        color: 0,
    });
    c.y_from_zero = true;
    c
}

/// Counts in `HISTOGRAM_BINS` equal bins from min to max, with p50/p90/p99.
fn histogram(
    run: &Run,
    stem: &str,
    title: &str,
    x_label: &str,
    tag: &str,
    value: fn(&RequestPoint) -> Option<f64>,
) -> Chart {
    let mut c = Chart::new(stem, title, x_label, "Requests");
    let values: Vec<f64> = run.requests.iter().filter_map(value).collect();
    let Some((lo, hi)) = values.iter().fold(None, |acc: Option<(f64, f64)>, &v| {
        Some(acc.map_or((v, v), |(a, b)| (a.min(v), b.max(v))))
    }) else {
        return c;
    };
    let width = if hi > lo {
        (hi - lo) / HISTOGRAM_BINS as f64
    } else {
        lo.abs().max(1.0) / 10.0
    };
    let mut counts = vec![0u64; HISTOGRAM_BINS];
    for v in &values {
        let i = (((v - lo) / width) as usize).min(HISTOGRAM_BINS - 1);
        counts[i] += 1;
    }
    c.bars.push(Bars {
        name: format!("{} requests", values.len()),
        rects: counts
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let x0 = lo + i as f64 * width;
                (x0, x0 + width * 0.95, 0.0, n as f64)
            })
            .collect(),
        color: 0,
    });
    c.x_markers = percentile_markers(run, tag, "ms");
    c.y_from_zero = true;
    c
}

/// Completed requests per second in each time bin.
fn request_throughput(run: &Run) -> Chart {
    let mut c = Chart::new(
        "throughput_over_time",
        "Request Throughput Over Time",
        "Time since the first request (s)",
        "Completed requests per second",
    );
    let Some((_, width)) = time_bins(run) else {
        return c;
    };
    let mut bins = vec![0u64; TIME_BINS];
    for p in &run.requests {
        bins[((p.end_s / width) as usize).min(TIME_BINS - 1)] += 1;
    }
    c.note = Some(format!(
        "completions counted in {} ms bins",
        fmt(width * 1000.0)
    ));
    c.series.push(Series {
        name: "requests/s".into(),
        points: bins
            .iter()
            .enumerate()
            .map(|(i, &n)| ((i as f64 + 0.5) * width, n as f64 / width))
            .collect(),
        mark: Mark::Area,
        color: 2,
    });
    if let Some(v) = run.stat("request_throughput", "avg") {
        c.y_markers.push(Marker {
            label: format!("run average = {} requests/s", fmt(v)),
            at: v,
            color: 3,
        });
    }
    c.y_from_zero = true;
    c
}

/// Requests in flight: a step curve over every start and end.
pub fn in_flight_series(run: &Run) -> Vec<(f64, f64)> {
    let mut events: Vec<(f64, i64)> = Vec::with_capacity(run.requests.len() * 2);
    for p in &run.requests {
        events.push((p.start_s, 1));
        events.push((p.end_s, -1));
    }
    // Ends before starts at the same instant: a slot handed on is not two in flight.
    events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut level = 0i64;
    let mut out = Vec::with_capacity(events.len() * 2 + 1);
    out.push((0.0, 0.0));
    for (t, d) in events {
        out.push((t, level as f64));
        level += d;
        out.push((t, level.max(0) as f64));
    }
    // Thinned after the levels are counted, so every drawn level is exact.
    thin(&out).0
}

fn in_flight(run: &Run) -> Chart {
    let mut c = Chart::new(
        "in_flight_over_time",
        "Requests In Flight Over Time",
        "Time since the first request (s)",
        "Requests in flight",
    );
    if run.requests.is_empty() {
        return c;
    }
    c.series.push(Series {
        name: "in flight".into(),
        points: in_flight_series(run),
        mark: Mark::Line,
        color: 4,
    });
    if let Some(n) = run.concurrency() {
        c.y_markers.push(Marker {
            label: format!("--concurrency {}", fmt(n)),
            at: n,
            color: 3,
        });
    }
    c.y_from_zero = true;
    c
}

/// One bar per time slice: the metric's avg in that window.
fn timeslice(run: &Run, tag: &str, title: &str, y_label: &str) -> Chart {
    let stem = format!("timeslices_{tag}");
    let mut c = Chart::new(
        &stem,
        title,
        "Time slice (s since the first slice)",
        y_label,
    );
    let rects: Vec<_> = run
        .timeslices
        .iter()
        .filter_map(|s| {
            let v = s.stats.get(tag)?.get("avg")?.as_f64()?;
            let w = s.end_s - s.start_s;
            Some((s.start_s + w * 0.05, s.end_s - w * 0.05, 0.0, v))
        })
        .collect();
    if !rects.is_empty() {
        c.bars.push(Bars {
            name: format!("avg per slice ({} slices)", rects.len()),
            rects,
            color: 0,
        });
    }
    c.y_from_zero = true;
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(points: Vec<RequestPoint>) -> Run {
        Run {
            dir: "x".into(),
            name: "x".into(),
            summary: json!({"time_to_first_token": {"p50": 10.0, "p90": 12.0, "p99": 20.0}}),
            requests: points,
            error_requests: 0,
            skipped_lines: 0,
            timeslices: Vec::new(),
        }
    }

    fn req(start_s: f64, end_s: f64, ttft_ms: f64, tokens: f64) -> RequestPoint {
        RequestPoint {
            start_s,
            end_s,
            ttft_ms: Some(ttft_ms),
            itl_ms: Some(1.0),
            latency_ms: Some((end_s - start_s) * 1000.0),
            output_tokens: Some(tokens),
        }
    }

    #[test]
    fn percentile_is_numpy_linear() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 50.0), 2.5);
        assert_eq!(percentile(&v, 100.0), 4.0);
        assert!((percentile(&v, 99.0) - 3.97).abs() < 1e-12);
    }

    #[test]
    fn dispersed_throughput_keeps_every_token() {
        let r = run(vec![req(0.0, 1.0, 100.0, 90.0), req(0.5, 2.0, 500.0, 30.0)]);
        let pts = dispersed_throughput_series(&r);
        let width = 2.0 / TIME_BINS as f64;
        let total: f64 = pts.iter().map(|p| p.1 * width).sum();
        assert!((total - 120.0).abs() < 1e-6, "{total}");
        // Nothing before the first token (0.1 s).
        assert_eq!(pts[0].1, 0.0);
    }

    #[test]
    fn in_flight_counts_overlaps() {
        let r = run(vec![
            req(0.0, 2.0, 1.0, 1.0),
            req(1.0, 3.0, 1.0, 1.0),
            req(2.0, 4.0, 1.0, 1.0),
        ]);
        let s = in_flight_series(&r);
        let max = s.iter().map(|p| p.1).fold(0.0, f64::max);
        // At t = 2 one ends as one starts: never 3.
        assert_eq!(max, 2.0);
        assert_eq!(s.last().unwrap().1, 0.0);
    }

    #[test]
    fn big_runs_are_thinned_but_keep_their_request_numbers() {
        let n = MAX_POINTS * 3;
        let r = run((0..n)
            .map(|i| req(i as f64 * 1e-3, i as f64 * 1e-3 + 0.5, 10.0, 5.0))
            .collect());
        let cs = charts(&r);
        let scatter = cs.iter().find(|c| c.stem == "ttft_over_time").unwrap();
        assert_eq!(scatter.series[0].points.len(), MAX_POINTS);
        assert!(scatter.note.as_deref().unwrap_or("").contains("one in 3"));
        let timeline = cs.iter().find(|c| c.stem == "ttft_timeline").unwrap();
        let rows = &timeline.bars[0].rects;
        assert!(rows.len() <= MAX_TIMELINE_ROWS);
        // The last row drawn sits near the last request's number, not at row 2000.
        assert!(rows.last().unwrap().2 > (n - 100) as f64);
    }

    #[test]
    fn ttft_chart_has_one_point_per_request_and_the_summary_percentiles() {
        let r = run((0..7)
            .map(|i| req(i as f64, i as f64 + 1.0, 10.0 + i as f64, 5.0))
            .collect());
        let c = &charts(&r)[0];
        assert_eq!(c.stem, "ttft_over_time");
        assert_eq!(c.series[0].points.len(), 7);
        let at: Vec<f64> = c.y_markers.iter().map(|m| m.at).collect();
        assert_eq!(at, [10.0, 12.0, 20.0]);
    }
}
