//! The only state the main thread and the workers share while a run is going.

use std::sync::atomic::{AtomicBool, AtomicU64};

/// Counters the main thread reads for the progress line; workers bump them
/// once per request (never per event). `stop` asks workers to send nothing more.
#[derive(Debug, Default)]
pub struct Progress {
    pub completed: AtomicU64,
    pub errors: AtomicU64,
    pub stop: AtomicBool,
}
