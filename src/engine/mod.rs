//! The load engine: one pinned thread per core, each with its own monoio
//! runtime, owning its connections end to end.
//!
//! `plan` splits the run over the workers, `schedule` gives open-loop arrival
//! times, `worker` runs one thread (its phases and watcher), `loops` drives
//! requests in closed or open loop, `request` carries one request from connect
//! to record, `exchange` reads one response off a connection, and `stream` is
//! the connection itself (TCP or TLS). `state` is what a worker's tasks
//! share; `progress`, the counters the main thread reads while a run goes.

pub mod exchange;
mod loops;
pub mod plan;
pub mod progress;
mod request;
pub mod schedule;
pub mod servers;
mod state;
pub mod stream;
pub mod worker;

pub use progress::Progress;

use crate::config::ProfileConfig;
use crate::dataset::Dataset;
use crate::record::{IoDriver, RecordQueue, RunOutput};
use crate::sys::clock::ClockAnchor;
use state::Shared;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Resolves the target once, before any load (an unresolvable host is a
/// configuration error, not a per-request one).
pub fn resolve(cfg: &ProfileConfig) -> anyhow::Result<SocketAddr> {
    servers::resolve_target(&cfg.target)
}

/// The dataset's requests as `'static` segment lists, shared read-only by
/// every worker for the rest of the process (no per-send copy or reference
/// counting). Nothing is copied but the heads: each body segment is borrowed
/// through a leaked handle to its shared allocation, so a clip that many
/// entries carry is still held once.
/// `head` gives each request's first bytes (its head, rewritten for the
/// server this table is for).
fn wire_table(
    dataset: &Dataset,
    head: impl Fn(&[u8]) -> Vec<u8>,
) -> &'static [&'static [&'static [u8]]] {
    let per_request: Vec<Vec<u8>> = dataset.requests.iter().map(|r| head(&r.http)).collect();
    let heads: &'static [u8] = per_request.concat().leak();
    let mut flat: Vec<&'static [u8]> = Vec::new();
    let mut spans = Vec::with_capacity(dataset.requests.len());
    let mut at = 0;
    for (r, h) in dataset.requests.iter().zip(&per_request) {
        let first = flat.len();
        if !h.is_empty() {
            flat.push(&heads[at..at + h.len()]);
        }
        at += h.len();
        for seg in &r.tail {
            let handle: &'static std::sync::Arc<[u8]> = Box::leak(Box::new(seg.clone()));
            flat.push(&handle[..]);
        }
        spans.push(first..flat.len());
    }
    let flat: &'static [&'static [u8]] = flat.leak();
    spans
        .into_iter()
        .map(|s| &flat[s])
        .collect::<Vec<_>>()
        .leak()
}

/// Runs the whole load. Each finished request goes to `records` as it
/// finishes (the collector drains it meanwhile); the queue is closed when
/// every worker has ended. Returns the workers' own stats; `anchor` is the
/// clock pair the exports turn monotonic times into wall-clock times with.
pub fn run(
    cfg: &ProfileConfig,
    dataset: &Dataset,
    progress: Arc<Progress>,
    records: Arc<RecordQueue>,
    anchor: ClockAnchor,
) -> anyhow::Result<RunOutput> {
    let out = run_workers(cfg, dataset, progress, records.clone(), anchor);
    records.close();
    out
}

fn run_workers(
    cfg: &ProfileConfig,
    dataset: &Dataset,
    progress: Arc<Progress>,
    records: Arc<RecordQueue>,
    anchor: ClockAnchor,
) -> anyhow::Result<RunOutput> {
    let servers = servers::servers(cfg)?;
    if dataset.requests.is_empty() {
        anyhow::bail!("the dataset is empty: nothing to send");
    }
    // The dataset was built for the first server; the others get the same
    // requests with their own path and Host line.
    let wires = (0..servers.len())
        .map(|i| match i {
            0 => wire_table(dataset, <[u8]>::to_vec),
            _ => {
                let to = cfg.for_server(i);
                wire_table(dataset, |h| servers::retarget_head(h, cfg, &to))
            }
        })
        .collect();
    let requests = state::Requests {
        wires,
        order: crate::dataset::reuse_order(cfg, dataset.requests.len()),
    };
    let plans = plan::plan(cfg);
    let shared = Arc::new(Shared {
        servers,
        requests,
        request_timeout: cfg.request_timeout,
        force_epoll: std::env::var("AUDIOPERF_IO_DRIVER").is_ok_and(|v| v == "epoll"),
        progress,
        phase_barrier: std::sync::Barrier::new(plans.len()),
        phase_start: AtomicU64::new(0),
        seed: cfg.random_seed.unwrap_or(0),
        start_at: AtomicU64::new(cfg.start_at_wall_ns.map_or(0, |w| anchor.mono_of(w).max(1))),
        start_late_ns: AtomicU64::new(0),
        records: records.clone(),
        endpoint: cfg.endpoint_type,
        io_paths: stream::IoPaths::of(cfg),
    });
    let handles: Vec<_> = plans
        .into_iter()
        .map(|p| {
            let s = shared.clone();
            std::thread::Builder::new()
                .name(format!("audioperf-w{}", p.worker))
                .spawn(move || worker::run_worker(s, p))
        })
        .collect::<Result<_, _>>()?;
    let mut out = RunOutput {
        anchor: Some(anchor),
        io_driver: Some(IoDriver::IoUring),
        ..Default::default()
    };
    let mut notes = Vec::new();
    for h in handles {
        let r = h
            .join()
            .map_err(|_| anyhow::anyhow!("a worker thread panicked"))?;
        if r.io_driver == IoDriver::Epoll {
            out.io_driver = Some(IoDriver::Epoll);
        }
        if let Some(n) = r.driver_note {
            notes.push(n);
        }
        out.workers.push(r.stats);
    }
    out.driver_notes = notes;
    out.dropped_records = records.dropped();
    if cfg.start_at_wall_ns.is_some() {
        out.start_late_ns = Some(shared.start_late_ns.load(Ordering::Relaxed));
    }
    out.servers = shared
        .servers
        .iter()
        .map(|s| servers::ServerOutcome {
            url: s.url.clone(),
            down: s.down(),
        })
        .collect();
    Ok(out)
}
