//! The collect stage: drains the `RecordQueue` while the run goes, so no
//! per-request state piles up in memory. For each finished request it counts
//! tokens (a real tokenizer, off the workers' threads), feeds the metrics
//! `Accumulator` and writes the request's line of `profile_export.jsonl`.
//!
//! It runs on its own thread and never makes a worker wait: the workers push
//! into a lock-free queue and move on; this thread polls it. A disk that
//! stalls stalls only this thread; once the queue is full, records are
//! dropped and counted (`RunOutput::dropped_records`), never buffered without
//! bound.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use rayon::prelude::*;

use crate::dataset::PreparedRequest;
use crate::metrics::{Accumulator, ComputeOptions};
use crate::record::{Finished, RecordQueue};
use crate::report::raw::RawRequest;
use crate::report::{self, jsonl};
use crate::sys::clock::ClockAnchor;
use crate::tokens::{self, RequestTokens, TokenCounter};

/// Records taken off the queue per round.
const BATCH: usize = 1_024;
/// A batch at least this large has its tokens counted on every core.
const PARALLEL_COUNT_FROM: usize = 64;
/// How long an idle collector sleeps before looking at the queue again.
const IDLE_POLL: Duration = Duration::from_millis(2);

/// What the collector needs besides the queue.
pub struct CollectInputs<'a> {
    /// Counts output and input tokens; None: the server's usage is used.
    pub counter: Option<&'a dyn TokenCounter>,
    /// Each dataset entry's prompt text (with a counter), counted the first
    /// time a request of that entry is collected, not before the run starts.
    pub prompts: &'a [&'a str],
    pub opts: ComputeOptions<'a>,
    /// Converts monotonic stamps to wall-clock time in the JSONL.
    pub anchor: ClockAnchor,
    /// `--failed-request-threshold`, when given.
    pub failure_policy: Option<FailurePolicy<'a>>,
    /// `--export-level raw`: where each request's payload and response go.
    pub raw: Option<RawExport<'a>>,
}

/// The raw export's inputs.
pub struct RawExport<'a> {
    pub path: &'a Path,
    /// The dataset entries, for each request's headers and payload.
    pub requests: &'a [PreparedRequest],
    /// `--export-raw-audio`: keep base64 audio in the payloads.
    pub keep_audio: bool,
}

/// Stops the run once too many of its profiling requests failed.
pub struct FailurePolicy<'a> {
    /// The most errors / records that is still tolerated.
    pub threshold: f64,
    /// Records collected before the check is armed (AIPerf's grace floor,
    /// max(concurrency, 10)), so one early failure cannot end the run.
    pub grace_records: u64,
    /// Set to stop the workers (`engine::Progress::stop`).
    pub stop: &'a AtomicBool,
}

impl FailurePolicy<'_> {
    pub fn grace_for(concurrency: u64) -> u64 {
        concurrency.max(10)
    }
}

/// Why the failure policy stopped the run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ThresholdStop {
    pub errors: u64,
    pub records: u64,
    pub threshold: f64,
}

impl ThresholdStop {
    pub fn message(&self) -> String {
        format!(
            "--failed-request-threshold exceeded: {}/{} = {:.3} > {:.3}; the run was stopped",
            self.errors,
            self.records,
            self.errors as f64 / self.records.max(1) as f64,
            self.threshold
        )
    }
}

/// Profiling-phase records and errors seen so far, for the failure policy.
#[derive(Debug, Default)]
struct FailureCount {
    records: u64,
    errors: u64,
}

/// What the collector made of the run.
#[derive(Debug)]
pub struct Collected<'a> {
    pub metrics: Accumulator<'a>,
    /// Lines written to the JSONL (one per request collected).
    pub lines: u64,
    /// The JSONL's outcome: the first error stops the file, not the run.
    pub jsonl: io::Result<()>,
    /// Set when `--failed-request-threshold` stopped the run.
    pub threshold_stop: Option<ThresholdStop>,
    /// The raw export's outcome, when there is one.
    pub raw: Option<io::Result<()>>,
    /// Profiling requests per `--url` server.
    pub servers: crate::metrics::per_server::PerServer,
}

/// How much the collector's thread is niced. Where it shares a core with a
/// worker (one core per worker, so some worker always shares), the worker
/// then gets ~3/4 of that core while both want it (CFS weights 1024 vs 335)
/// instead of half: at c=1024, 1,024 streams ending together made the
/// collector's burst delay the next wave's first reads by 10-20 ms at p99
/// (docs/PERFORMANCE.md, "Read batching"). The queue absorbs the burst.
const COLLECTOR_NICE: libc::c_int = 5;

/// Raises this thread's nice value by [`COLLECTOR_NICE`] (best effort: a
/// failure leaves it as it was). Linux nice values are per thread.
fn lower_priority() {
    // SAFETY: plain syscalls on this thread's own id; errors are ignored.
    unsafe {
        let tid = libc::gettid() as libc::id_t;
        *libc::__errno_location() = 0;
        let now = libc::getpriority(libc::PRIO_PROCESS, tid);
        if *libc::__errno_location() == 0 {
            libc::setpriority(libc::PRIO_PROCESS, tid, (now + COLLECTOR_NICE).min(19));
        }
    }
}

/// Drains `queue` until it is closed and empty, writing the JSONL to
/// `jsonl_path` line by line (None: `--export-level summary`, no JSONL).
pub fn run<'a>(
    queue: &RecordQueue,
    jsonl_path: Option<&Path>,
    inputs: CollectInputs<'a>,
) -> Collected<'a> {
    let mut out = jsonl_path.map(|p| File::create(p).map(|f| BufWriter::with_capacity(1 << 20, f)));
    let mut collected = Collected {
        metrics: Accumulator::new(inputs.opts),
        lines: 0,
        jsonl: Ok(()),
        threshold_stop: None,
        raw: None,
        servers: Default::default(),
    };
    let mut failures = FailureCount::default();
    let mut raw_out = inputs
        .raw
        .as_ref()
        .map(|r| File::create(r.path).map(|f| BufWriter::with_capacity(1 << 20, f)));
    // Each entry's headers and payload, made the first time it is sent.
    let raw_requests: Vec<OnceLock<RawRequest>> = match &inputs.raw {
        Some(r) => r.requests.iter().map(|_| OnceLock::new()).collect(),
        None => Vec::new(),
    };
    lower_priority();
    let mut batch: Vec<Finished> = Vec::with_capacity(BATCH);
    let isl_memo: Vec<OnceLock<u64>> = inputs.prompts.iter().map(|_| OnceLock::new()).collect();
    loop {
        // Closed is read before draining: a record pushed before the close
        // is then always seen by this round or an earlier one.
        let closed = queue.is_closed();
        batch.clear();
        while batch.len() < BATCH {
            match queue.pop() {
                Some(f) => batch.push(f),
                None => break,
            }
        }
        if batch.is_empty() {
            if closed {
                break;
            }
            std::thread::sleep(IDLE_POLL);
            continue;
        }
        let counts = count_tokens(&batch, &inputs, &isl_memo);
        for (f, t) in batch.iter().zip(&counts) {
            let values = collected.metrics.add(&f.record, t);
            collected.servers.add(&f.record);
            if let Some(Ok(w)) = &mut out {
                match jsonl::write_line(w, &f.record, &values, Some(inputs.anchor)) {
                    Ok(()) => collected.lines += 1,
                    Err(e) => out = Some(Err(e)),
                }
            }
            if let (Some(Ok(w)), Some(raw)) = (&mut raw_out, &inputs.raw) {
                let i = f.record.dataset_index as usize;
                if let (Some(memo), Some(req)) = (raw_requests.get(i), raw.requests.get(i)) {
                    let request = memo.get_or_init(|| RawRequest::new(req, raw.keep_audio));
                    let written =
                        report::raw::write_line(w, &f.record, inputs.anchor, request, &f.raw);
                    if let Err(e) = written {
                        raw_out = Some(Err(e));
                    }
                }
            }
            if let (Some(policy), None, false) = (
                &inputs.failure_policy,
                collected.threshold_stop,
                f.record.warmup,
            ) {
                failures.records += 1;
                failures.errors += u64::from(f.record.is_error());
                collected.threshold_stop = check_failures(policy, &failures);
            }
        }
    }
    collected.jsonl = match out {
        Some(w) => w.and_then(|mut w| w.flush()),
        None => Ok(()),
    };
    collected.raw = raw_out.map(|w| w.and_then(|mut w| w.flush()));
    collected
}

/// AIPerf's check: armed once `grace_records` have been collected, fires
/// (once) when errors / records exceeds the threshold, and stops the run.
fn check_failures(policy: &FailurePolicy<'_>, seen: &FailureCount) -> Option<ThresholdStop> {
    if seen.records < policy.grace_records {
        return None;
    }
    let rate = seen.errors as f64 / seen.records as f64;
    if rate <= policy.threshold {
        return None;
    }
    policy.stop.store(true, Ordering::Relaxed);
    Some(ThresholdStop {
        errors: seen.errors,
        records: seen.records,
        threshold: policy.threshold,
    })
}

fn count_tokens(
    batch: &[Finished],
    inputs: &CollectInputs<'_>,
    isl_memo: &[OnceLock<u64>],
) -> Vec<RequestTokens> {
    let Some(counter) = inputs.counter else {
        return batch.iter().map(|f| tokens::tokens_of(&f.record)).collect();
    };
    let one = |f: &Finished| {
        let i = f.record.dataset_index as usize;
        let isl = match (isl_memo.get(i), inputs.prompts.get(i)) {
            (Some(memo), Some(p)) => Some(*memo.get_or_init(|| counter.count(p) as u64)),
            _ => None,
        };
        tokens::count_one(counter, &f.record, &f.text, isl)
    };
    if batch.len() >= PARALLEL_COUNT_FROM {
        batch.par_iter().map(one).collect()
    } else {
        batch.iter().map(one).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tests::sample_run;
    use crate::metrics::{compute_with_records, MetricId};
    use crate::tokens::ApproxTokenCounter;

    fn nice_of_this_thread() -> libc::c_int {
        // SAFETY: plain syscall on this thread's own id.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
    }

    #[test]
    fn collector_thread_is_niced_and_others_are_not() {
        let before = nice_of_this_thread();
        let (inside, after) = std::thread::spawn(move || {
            lower_priority();
            nice_of_this_thread()
        })
        .join()
        .map(|n| (n, nice_of_this_thread()))
        .unwrap();
        assert_eq!(inside, (before + COLLECTOR_NICE).min(19));
        assert_eq!(after, before, "only the calling thread changes");
    }

    fn anchor() -> ClockAnchor {
        ClockAnchor {
            mono_ns: 1_000_000_000,
            wall_ns: 1_700_000_000_000_000_000,
        }
    }

    #[test]
    fn streamed_records_give_the_same_summary_and_lines_as_in_memory() {
        let run = sample_run();
        let tokens = tokens::from_server_usage(&run);
        let (want, records) = compute_with_records(&run, &tokens, &ComputeOptions::default());
        let mut want_jsonl = Vec::new();
        let mut held = sample_run();
        held.anchor = Some(anchor());
        jsonl::write(&mut want_jsonl, &held, &records).unwrap();

        let queue = RecordQueue::new(16, false);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.jsonl");
        let got = std::thread::scope(|s| {
            let collector = s.spawn(|| run_collector(&queue, &path, None, &[]));
            for r in &run.records {
                queue.push(Finished {
                    record: r.clone(),
                    text: Box::default(),
                    raw: Default::default(),
                });
                std::thread::sleep(Duration::from_millis(1));
            }
            queue.close();
            collector.join().unwrap()
        });
        assert!(got.jsonl.is_ok());
        assert_eq!(got.lines, run.records.len() as u64);
        assert_eq!(std::fs::read(&path).unwrap(), want_jsonl);
        let summary = got.metrics.finish(false);
        assert_eq!(summary.results, want.results);
        assert_eq!(summary.accounting, want.accounting);
        assert_eq!(summary.error_summary, want.error_summary);
    }

    fn run_collector<'a>(
        queue: &RecordQueue,
        path: &Path,
        counter: Option<&'a dyn TokenCounter>,
        prompts: &'a [&'a str],
    ) -> Collected<'a> {
        run(
            queue,
            Some(path),
            CollectInputs {
                counter,
                prompts,
                opts: ComputeOptions::default(),
                anchor: anchor(),
                failure_policy: None,
                raw: None,
            },
        )
    }

    /// Pushes `outcomes` (true: success) as profiling records, then
    /// collects them under a threshold of 0.5 with a grace of 4 records.
    fn collect_with_policy(outcomes: &[bool], stop: &AtomicBool) -> Collected<'static> {
        let queue = RecordQueue::new(64, false);
        for (i, ok) in outcomes.iter().enumerate() {
            let mut r = crate::metrics::tests::rec(i as u64, 0, 1, 2, 1, 1);
            if !ok {
                r.error = Some(crate::record::RequestError {
                    kind: crate::record::ErrorKind::HttpStatus,
                    code: Some(500),
                    message: "boom".into(),
                });
            }
            queue.push(Finished {
                record: r,
                text: Box::default(),
                raw: Default::default(),
            });
        }
        queue.close();
        // 'static for the test: the flag outlives the collector.
        let stop: &'static AtomicBool =
            Box::leak(Box::new(AtomicBool::new(stop.load(Ordering::Relaxed))));
        let got = run(
            &queue,
            None,
            CollectInputs {
                counter: None,
                prompts: &[],
                opts: ComputeOptions::default(),
                anchor: anchor(),
                failure_policy: Some(FailurePolicy {
                    threshold: 0.5,
                    grace_records: 4,
                    stop,
                }),
                raw: None,
            },
        );
        assert_eq!(stop.load(Ordering::Relaxed), got.threshold_stop.is_some());
        got
    }

    #[test]
    fn the_failure_policy_waits_for_its_grace_floor_then_fires_once() {
        let unset = AtomicBool::new(false);
        // Three failures in a row: still under the grace floor of 4.
        let got = collect_with_policy(&[false, false, false], &unset);
        assert_eq!(got.threshold_stop, None);
        // The 4th record arms it: 3 errors of 4 > 0.5.
        let got = collect_with_policy(&[false, false, false, true, true, true], &unset);
        assert_eq!(
            got.threshold_stop,
            Some(ThresholdStop {
                errors: 3,
                records: 4,
                threshold: 0.5
            })
        );
        // Exactly at the threshold does not fire (AIPerf: rate > threshold).
        let got = collect_with_policy(&[false, true, false, true, true, true], &unset);
        assert_eq!(got.threshold_stop, None);
        // Every record is still counted after it fired.
        let s = got.metrics.finish(false);
        assert_eq!(s.accounting.sent, 6);
    }

    #[test]
    fn no_jsonl_path_writes_no_lines_and_still_counts() {
        let unset = AtomicBool::new(false);
        let got = collect_with_policy(&[true, true], &unset);
        assert_eq!(got.lines, 0);
        assert!(got.jsonl.is_ok());
    }

    #[test]
    fn a_counter_counts_the_text_each_record_carries() {
        let queue = RecordQueue::new(256, true);
        let mut r = crate::metrics::tests::rec(1, 0, 10, 50, 0, 0);
        r.usage = None;
        r.dataset_index = 1;
        let text = b"one two three four";
        r.output_text = 0..text.len();
        // Enough records to take the parallel path too.
        for _ in 0..100 {
            queue.push(Finished {
                record: r.clone(),
                text: (&text[..]).into(),
                raw: Default::default(),
            });
        }
        queue.close();
        let dir = tempfile::tempdir().unwrap();
        let got = run_collector(
            &queue,
            &dir.path().join("p.jsonl"),
            Some(&ApproxTokenCounter),
            &["a b", "a b c d e f g h i"],
        );
        let s = got.metrics.finish(false);
        let osl = s.stats(MetricId::OutputSequenceLength).unwrap();
        let isl = s.stats(MetricId::InputSequenceLength).unwrap();
        assert_eq!((osl.count, osl.avg, isl.avg), (100, 4.0, 9.0));
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_blocking() {
        let queue = RecordQueue::new(4, false);
        for i in 0..10 {
            queue.push(Finished {
                record: crate::metrics::tests::rec(i, 0, 1, 2, 1, 1),
                text: Box::default(),
                raw: Default::default(),
            });
        }
        assert_eq!(queue.dropped(), 6);
        queue.close();
        let dir = tempfile::tempdir().unwrap();
        let got = run_collector(&queue, &dir.path().join("p.jsonl"), None, &[]);
        assert_eq!(got.lines, 4);
    }

    #[test]
    fn an_unwritable_jsonl_is_an_error_and_the_metrics_still_count() {
        let queue = RecordQueue::new(4, false);
        queue.push(Finished {
            record: crate::metrics::tests::rec(0, 0, 1, 2, 1, 1),
            text: Box::default(),
            raw: Default::default(),
        });
        queue.close();
        let dir = tempfile::tempdir().unwrap();
        let got = run_collector(&queue, dir.path(), None, &[]);
        assert!(got.jsonl.is_err());
        assert_eq!(got.metrics.finish(false).accounting.successful, 1);
    }
}
