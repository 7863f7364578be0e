//! An `Accumulator` as the shard result file carries it, and the merge of
//! several into one (`audioperf merge`).
//!
//! A shard's state is everything `Accumulator::finish` reads: each metric's
//! `Series` (its exact values while few, else its histogram, with exact
//! moments), the error groups, the request accounting and the run's window.
//! Merging absorbs every state into one accumulator and calls the same
//! `finish` a single process calls, so the merged summary is computed by the
//! code that computes a single run's: counts and sums exactly, percentiles
//! exactly while a metric has at most `EXACT_VALUES` values over all shards
//! (else from the histogram a single run would have built).
//!
//! Times are wall-clock ns (each shard converts its monotonic stamps with
//! its own clock anchor), so shards on different hosts share one timeline;
//! on one host the conversion agrees to a few microseconds.
//!
//! The time-weighted curves (`effective_*`, `active_*`, `tokens_in_flight`)
//! travel as their bucket grids and are added into one grid
//! (`effective::Sweep::absorb`): their averages keep the exact integrals,
//! their min/max/percentiles/std are of the merged grid's buckets (as a
//! single run's are of its own grid, whose bucket edges differ). Not
//! carried: `--slice-duration` slices.

use crate::metrics::effective::SweepState;
use crate::metrics::stats::SeriesState;
use crate::metrics::{def_by_tag, Accumulator, Series, MAX_ERROR_GROUPS, OTHER_ERRORS_MESSAGE};
use crate::record::ErrorKind;
use crate::sys::clock::{ClockAnchor, Nanos};
use serde::{Deserialize, Serialize};

/// Every `ErrorKind`, to turn an error group's type back into its name.
const ERROR_KINDS: [ErrorKind; 11] = [
    ErrorKind::Connect,
    ErrorKind::Tls,
    ErrorKind::HttpStatus,
    ErrorKind::MalformedHead,
    ErrorKind::MalformedBody,
    ErrorKind::ConnectionClosed,
    ErrorKind::StreamError,
    ErrorKind::InvalidResponse,
    ErrorKind::Timeout,
    ErrorKind::Io,
    ErrorKind::Cancelled,
];

/// One group of the error summary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorGroup {
    pub error_type: String,
    pub code: Option<u16>,
    pub message: String,
    pub count: u64,
}

/// What `Accumulator::finish` needs of one shard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccumulatorState {
    /// Per metric tag, its series (only metrics with values).
    pub series: Vec<(String, SeriesState)>,
    pub errors: Vec<ErrorGroup>,
    pub sent: u64,
    pub successful: u64,
    pub failed: u64,
    pub cancelled: u64,
    pub warmup: u64,
    pub waited_for_connection: u64,
    pub open_loop: bool,
    /// Wall-clock ns: the first successful request's start and the last
    /// successful response (the benchmark duration's ends), and the first
    /// start and last end of any profiling request (`start_time`/`end_time`).
    pub first_success_start_ns: Option<u64>,
    pub last_success_response_ns: Option<u64>,
    pub first_start_ns: Option<u64>,
    pub last_end_ns: Option<u64>,
    pub untimed_successes: u64,
    pub connect_failures: u64,
    pub first_connect_error: Option<String>,
    pub usage_diffed: u64,
    pub usage_discrepancies: u64,
    pub good: u64,
    /// The usage discrepancy threshold the shard judged with (None: no
    /// client tokenizer, so no usage differences).
    pub usage_diff_threshold_pct: Option<f64>,
    /// The time-weighted curves (None: no profiling request).
    pub sweep: Option<SweepState>,
}

fn wall(anchor: &ClockAnchor, t: Option<Nanos>) -> Option<u64> {
    t.map(|t| anchor.wall_of(t))
}

fn widen(slot: &mut Option<Nanos>, v: Option<u64>, pick: fn(Nanos, Nanos) -> Nanos) {
    if let Some(v) = v {
        *slot = Some(slot.map_or(v, |s| pick(s, v)));
    }
}

impl Accumulator<'_> {
    /// This accumulator's state, its times on the wall clock of `anchor`.
    pub fn state(&self, anchor: &ClockAnchor) -> AccumulatorState {
        AccumulatorState {
            series: crate::metrics::METRICS
                .iter()
                .zip(&self.series)
                .filter(|(_, s)| s.count() > 0)
                .map(|(d, s)| (d.tag.to_string(), s.to_state()))
                .collect(),
            errors: self
                .errors
                .iter()
                .map(|((t, code, message), &count)| ErrorGroup {
                    error_type: t.to_string(),
                    code: *code,
                    message: message.clone(),
                    count,
                })
                .collect(),
            sent: self.acc.sent,
            successful: self.acc.successful,
            failed: self.acc.errors,
            cancelled: self.acc.cancelled,
            warmup: self.warmup,
            waited_for_connection: self.waited,
            open_loop: self.open_loop,
            first_success_start_ns: wall(anchor, self.first_start),
            last_success_response_ns: wall(anchor, self.last_response),
            first_start_ns: wall(anchor, self.span_start),
            last_end_ns: wall(anchor, self.span_end),
            untimed_successes: self.untimed_successes,
            connect_failures: self.connect_failures,
            first_connect_error: self.first_connect_error.clone(),
            usage_diffed: self.usage_diffed,
            usage_discrepancies: self.usage_discrepancies,
            good: self.good,
            usage_diff_threshold_pct: self.opts.usage_diff_threshold_pct,
            sweep: self.sweep.state(|t| anchor.wall_of(t)),
        }
    }

    /// Adds one shard's state. The accumulator's times are then wall-clock
    /// ns: summaries of merged states are exported with a zero anchor.
    /// An inconsistent state (it comes from a file) is refused whole.
    pub fn absorb(&mut self, s: &AccumulatorState) -> Result<(), String> {
        if s.successful + s.failed + s.cancelled != s.sent {
            return Err(format!(
                "its requests do not add up: {} sent != {} successful + {} errors + {} cancelled",
                s.sent, s.successful, s.failed, s.cancelled
            ));
        }
        let mut series = Vec::with_capacity(s.series.len());
        for (tag, state) in &s.series {
            let def = def_by_tag(tag).ok_or_else(|| format!("unknown metric '{tag}'"))?;
            let one =
                Series::from_state(state.clone()).map_err(|e| format!("metric '{tag}': {e}"))?;
            series.push((def.id, one));
        }
        let mut errors = Vec::with_capacity(s.errors.len());
        for g in &s.errors {
            let kind = ERROR_KINDS
                .iter()
                .find(|k| k.as_str() == g.error_type)
                .ok_or_else(|| format!("unknown error type '{}'", g.error_type))?;
            errors.push((kind.as_str(), g));
        }
        if let Some(sw) = &s.sweep {
            // Checked first: a state that fails leaves nothing half-added.
            sw.check()?;
        }
        for (id, one) in &series {
            self.series[*id as usize].absorb(one);
        }
        for (error_type, g) in errors {
            self.count_errors(error_type, g.code, &g.message, g.count);
        }
        self.acc.sent += s.sent;
        self.acc.successful += s.successful;
        self.acc.errors += s.failed;
        self.acc.cancelled += s.cancelled;
        self.warmup += s.warmup;
        self.waited += s.waited_for_connection;
        self.open_loop |= s.open_loop;
        widen(&mut self.first_start, s.first_success_start_ns, Nanos::min);
        widen(
            &mut self.last_response,
            s.last_success_response_ns,
            Nanos::max,
        );
        widen(&mut self.span_start, s.first_start_ns, Nanos::min);
        widen(&mut self.span_end, s.last_end_ns, Nanos::max);
        self.untimed_successes += s.untimed_successes;
        self.connect_failures += s.connect_failures;
        if self.first_connect_error.is_none() {
            self.first_connect_error = s.first_connect_error.clone();
        }
        self.usage_diffed += s.usage_diffed;
        self.usage_discrepancies += s.usage_discrepancies;
        self.good += s.good;
        if let Some(sw) = &s.sweep {
            self.sweep.absorb(sw)?;
        }
        Ok(())
    }

    /// `count_error` for a group of `n`, with the same cap on groups.
    fn count_errors(&mut self, error_type: &'static str, code: Option<u16>, message: &str, n: u64) {
        let key = (error_type, code, message.to_string());
        if let Some(c) = self.errors.get_mut(&key) {
            *c += n;
        } else if self.errors.len() < MAX_ERROR_GROUPS {
            self.errors.insert(key, n);
        } else {
            let other = (error_type, code, OTHER_ERRORS_MESSAGE.to_string());
            *self.errors.entry(other).or_insert(0) += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tests::sample_run;
    use crate::metrics::{ComputeOptions, MetricId};
    use crate::tokens::from_server_usage;

    #[test]
    fn merged_shard_states_give_the_single_run_summary() {
        let run = sample_run();
        let tokens = from_server_usage(&run);
        // The anchor maps monotonic time to itself: the merged summary's
        // times are then comparable with the single run's.
        let anchor = ClockAnchor {
            mono_ns: 0,
            wall_ns: 0,
        };
        let opts = ComputeOptions::default();
        let mut single = Accumulator::new(opts);
        let mut shards = [Accumulator::new(opts), Accumulator::new(opts)];
        for (i, (r, t)) in run.records.iter().zip(&tokens).enumerate() {
            single.add(r, t);
            shards[i % 2].add(r, t);
        }
        let mut merged = Accumulator::new(opts);
        for s in &shards {
            // Through the file's form.
            let text = serde_json::to_string(&s.state(&anchor)).unwrap();
            merged
                .absorb(&serde_json::from_str(&text).unwrap())
                .unwrap();
        }
        let (got, want) = (merged.finish(false), single.finish(false));
        assert_eq!(got.accounting, want.accounting);
        assert_eq!(got.error_summary, want.error_summary);
        assert_eq!(got.benchmark_duration_ns, want.benchmark_duration_ns);
        assert_eq!((got.start_ns, got.end_ns), (want.start_ns, want.end_ns));
        // Every per-request metric and every count/throughput: the same.
        let tw = |r: &&crate::metrics::MetricResult| {
            r.def.kind == crate::metrics::MetricKind::TimeWeighted
        };
        let split = |s: &crate::metrics::MetricsSummary| {
            let (a, b): (Vec<_>, Vec<_>) = s.results.iter().cloned().partition(|r| tw(&r));
            (a, b)
        };
        let ((got_tw, got_rest), (want_tw, want_rest)) = (split(&got), split(&want));
        assert_eq!(got_rest, want_rest);
        assert!(got.get(MetricId::TimeToFirstToken).is_some());
        // Time-weighted: the same metrics, the same averages (integrals).
        assert_eq!(got_tw.len(), want_tw.len());
        assert!(!got_tw.is_empty());
        for (g, w) in got_tw.iter().zip(&want_tw) {
            assert_eq!(g.def.id, w.def.id);
            let (g, w) = (g.avg(), w.avg());
            assert!((g - w).abs() <= 1e-6 * w.abs().max(1e-9), "{g} vs {w}");
        }
    }

    #[test]
    fn an_inconsistent_state_is_refused_whole() {
        let run = sample_run();
        let tokens = from_server_usage(&run);
        let mut acc = Accumulator::new(ComputeOptions::default());
        for (r, t) in run.records.iter().zip(&tokens) {
            acc.add(r, t);
        }
        let anchor = ClockAnchor {
            mono_ns: 0,
            wall_ns: 0,
        };
        let good = acc.state(&anchor);
        let mut bad = good.clone();
        bad.sent += 1;
        let mut merged = Accumulator::new(ComputeOptions::default());
        assert!(merged.absorb(&bad).unwrap_err().contains("do not add up"));
        let mut bad = good.clone();
        bad.series[0].0 = "no_such_metric".into();
        assert!(merged.absorb(&bad).unwrap_err().contains("unknown metric"));
        let mut bad = good;
        bad.errors.push(ErrorGroup {
            error_type: "Oops".into(),
            code: None,
            message: String::new(),
            count: 1,
        });
        assert!(merged.absorb(&bad).is_err());
        // Nothing of the refused states was taken.
        assert_eq!(merged.finish(false).accounting.sent, 0);
    }
}
