//! The load engine: one pinned thread per core, each with its own monoio
//! runtime, owning its connections end to end.

use crate::record::RequestRecord;
use crate::units::{ClockAnchor, Nanos};

/// What one worker thread measured about itself.
#[derive(Clone, Debug, Default)]
pub struct WorkerStats {
    pub worker: u16,
    /// CPU time the thread used (user + system), from getrusage(RUSAGE_THREAD).
    pub cpu_ns: Nanos,
    /// Wall time the worker was running.
    pub wall_ns: Nanos,
    /// Requests this worker completed (any outcome).
    pub requests: u64,
    /// SSE events this worker processed.
    pub events: u64,
    /// Bytes read from the network.
    pub bytes_read: u64,
    /// Loop lag: max observed lateness of the worker's timer wake-ups.
    pub max_loop_lag_ns: Nanos,
    pub p99_loop_lag_ns: Nanos,
}

/// Everything a run produced, handed to `metrics` and `report`.
#[derive(Debug, Default)]
pub struct RunOutput {
    /// Every request sent (warmup included), sorted by `request_id`.
    pub records: Vec<RequestRecord>,
    /// Per worker: the generated text referenced by `RequestRecord::output_text`.
    pub text_arenas: Vec<Vec<u8>>,
    /// Monotonic/wall anchor taken at start, for wall-clock exports.
    pub anchor: Option<ClockAnchor>,
    pub workers: Vec<WorkerStats>,
    /// "io_uring" or "epoll".
    pub io_driver: &'static str,
    /// The run was interrupted (SIGINT/SIGTERM) before finishing.
    pub was_cancelled: bool,
}

impl RunOutput {
    /// The generated text (reasoning + content) of a record.
    pub fn output_text(&self, r: &RequestRecord) -> &[u8] {
        self.text_arenas
            .get(r.worker as usize)
            .and_then(|a| a.get(r.output_text.start as usize..r.output_text.end as usize))
            .unwrap_or(&[])
    }
}
