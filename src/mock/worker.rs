//! One worker's state, shared by the connection tasks on its thread: the run's
//! settings, the counters, the precise timer that paces the tokens, the
//! fault draw and the response ids.

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::fault::{FaultMode, FaultPlan};
use super::openai::TranscriptStream;
use super::{MockServerArgs, Stats};
use crate::sys::clock::Nanos;
use crate::sys::timer::PreciseTimer;

/// The per-run settings every worker reads.
pub(super) struct Config {
    pub(super) ttft_ns: Nanos,
    pub(super) itl_ns: Nanos,
    pub(super) output_tokens: u64,
    pub(super) reasoning_tokens: u64,
    pub(super) model: Option<String>,
    pub(super) faults: FaultPlan,
    pub(super) trickle_ns: Nanos,
    pub(super) max_body_bytes: usize,
    pub(super) transcription_stream: TranscriptStream,
    pub(super) timing_in_stream: bool,
}

impl Config {
    pub(super) fn new(args: &MockServerArgs) -> Self {
        Config {
            ttft_ns: ms_to_ns(args.ttft_ms),
            itl_ns: ms_to_ns(args.itl_ms),
            output_tokens: args.output_tokens,
            reasoning_tokens: args.reasoning_tokens,
            model: args.model.clone(),
            faults: FaultPlan {
                mode: args.fault,
                rate: args.fault_rate,
                every: args.fault_every,
            },
            trickle_ns: args.trickle_us.saturating_mul(1000),
            max_body_bytes: args.max_body_bytes,
            transcription_stream: args.transcription_stream,
            timing_in_stream: args.timing_in_stream,
        }
    }
}

fn ms_to_ns(ms: f64) -> Nanos {
    (ms * 1e6).round() as Nanos
}

/// One worker's state (single-threaded: its connection tasks share it).
pub(super) struct Worker {
    index: usize,
    pub(super) cfg: Arc<Config>,
    pub(super) stats: Arc<Stats>,
    pub(super) timer: PreciseTimer,
    rng: RefCell<StdRng>,
    served: Cell<u64>,
}

impl Worker {
    pub(super) fn new(
        index: usize,
        cfg: Arc<Config>,
        stats: Arc<Stats>,
        timer: PreciseTimer,
    ) -> Self {
        Worker {
            index,
            cfg,
            stats,
            timer,
            rng: RefCell::new(StdRng::seed_from_u64(0x5eed ^ index as u64)),
            served: Cell::new(0),
        }
    }

    /// The fault for chat request number `n` (see [`FaultPlan::pick`]).
    pub(super) fn pick_fault(&self, n: u64) -> FaultMode {
        self.cfg.faults.pick(n, &self.rng)
    }

    /// A fresh completion id, unique over the workers.
    pub(super) fn next_id(&self) -> String {
        let n = self.served.get();
        self.served.set(n + 1);
        format!("chatcmpl-mock{:04x}{:012x}", self.index, n)
    }

    /// Deadline of token `k` (0-based): absolute, so gaps never accumulate drift.
    pub(super) fn token_due(&self, arrival: Nanos, k: u64) -> Nanos {
        arrival + self.cfg.ttft_ns + k * self.cfg.itl_ns
    }
}
