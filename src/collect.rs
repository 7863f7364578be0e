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
use std::sync::OnceLock;
use std::time::Duration;

use rayon::prelude::*;

use crate::metrics::{Accumulator, ComputeOptions};
use crate::record::{Finished, RecordQueue};
use crate::report::jsonl;
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
}

/// What the collector made of the run.
#[derive(Debug)]
pub struct Collected<'a> {
    pub metrics: Accumulator<'a>,
    /// Lines written to the JSONL (one per request collected).
    pub lines: u64,
    /// The JSONL's outcome: the first error stops the file, not the run.
    pub jsonl: io::Result<()>,
}

/// Drains `queue` until it is closed and empty, writing the JSONL to
/// `jsonl_path` line by line.
pub fn run<'a>(queue: &RecordQueue, jsonl_path: &Path, inputs: CollectInputs<'a>) -> Collected<'a> {
    let mut out = File::create(jsonl_path).map(|f| BufWriter::with_capacity(1 << 20, f));
    let mut collected = Collected {
        metrics: Accumulator::new(inputs.opts),
        lines: 0,
        jsonl: Ok(()),
    };
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
            if let Ok(w) = &mut out {
                match jsonl::write_line(w, &f.record, &values, Some(inputs.anchor)) {
                    Ok(()) => collected.lines += 1,
                    Err(e) => out = Err(e),
                }
            }
        }
    }
    collected.jsonl = out.and_then(|mut w| w.flush());
    collected
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
            path,
            CollectInputs {
                counter,
                prompts,
                opts: ComputeOptions::default(),
                anchor: anchor(),
            },
        )
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
        });
        queue.close();
        let dir = tempfile::tempdir().unwrap();
        let got = run_collector(&queue, dir.path(), None, &[]);
        assert!(got.jsonl.is_err());
        assert_eq!(got.metrics.finish(false).accounting.successful, 1);
    }
}
