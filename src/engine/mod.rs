//! The load engine: one pinned thread per core, each with its own monoio
//! runtime, owning its connections end to end.

pub mod exchange;
pub mod schedule;
pub mod stream;
pub mod worker;

use crate::config::ProfileConfig;
use crate::dataset::Dataset;
use crate::record::RequestRecord;
use crate::units::{ClockAnchor, Nanos};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use worker::{PhasePlan, Shared, WorkerPlan};

/// Counters the main thread reads for the progress line; workers bump them
/// once per request (never per event). `stop` asks workers to send nothing more.
#[derive(Debug, Default)]
pub struct Progress {
    pub completed: AtomicU64,
    pub errors: AtomicU64,
    pub stop: AtomicBool,
}

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
    /// Lateness of the worker's periodic timer, merged over workers at the end.
    pub loop_lag: Option<hdrhistogram::Histogram<u64>>,
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
    /// Why the I/O driver is what it is (e.g. the io_uring set-up error).
    pub driver_notes: Vec<String>,
}

impl RunOutput {
    /// The generated text (reasoning + content) of a record.
    pub fn output_text(&self, r: &RequestRecord) -> &[u8] {
        self.text_arenas
            .get(r.worker as usize)
            .and_then(|a| a.get(r.output_text.clone()))
            .unwrap_or(&[])
    }
}

/// Resolves the target once, before any load (an unresolvable host is a
/// configuration error, not a per-request one).
pub fn resolve(cfg: &ProfileConfig) -> anyhow::Result<SocketAddr> {
    let t = &cfg.target;
    let mut addrs = (t.host.as_str(), t.port)
        .to_socket_addrs()
        .map_err(|e| anyhow::anyhow!("--url: cannot resolve host '{}': {e}", t.host))?;
    addrs
        .next()
        .ok_or_else(|| anyhow::anyhow!("--url: host '{}' resolved to no address", t.host))
}

/// Even split of `n` over `parts`: the first `n % parts` get one more.
fn share(n: u64, w: usize, parts: usize) -> u64 {
    n / parts as u64 + u64::from((w as u64) < n % parts as u64)
}

/// How many worker threads, and what each does in each phase (warmup, then
/// profiling).
pub fn plan(cfg: &ProfileConfig) -> Vec<WorkerPlan> {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let n_cores = cores.len().max(1);
    let open_loop = cfg.request_rate.is_some();
    // Closed loop needs no more workers than connections; open loop with no
    // concurrency cap can use every core.
    let conc_cap = if open_loop && !cfg.concurrency_set {
        usize::MAX
    } else {
        cfg.concurrency.max(1) as usize
    };
    let workers = n_cores
        .min(cfg.workers_max.unwrap_or(usize::MAX))
        .min(conc_cap)
        .max(1);
    let seed = cfg.random_seed.unwrap_or(0);
    let duration = cfg.benchmark_duration;
    let schedule = |count: Option<u64>| -> Option<Vec<Nanos>> {
        let rate = cfg.request_rate?;
        Some(schedule::arrivals(
            cfg.arrival_pattern,
            rate,
            cfg.arrival_smoothness,
            seed,
            count,
            duration.map(|d| d.as_nanos() as Nanos),
        ))
    };
    // With a duration and no --request-count (u64::MAX) only the duration
    // bounds the run; with both, whichever is reached first (as AIPerf).
    let profile_count = (cfg.request_count != u64::MAX).then_some(cfg.request_count);
    let profile_arrivals = schedule(profile_count);
    let warmup_arrivals = if cfg.warmup_request_count > 0 {
        cfg.request_rate.map(|rate| {
            schedule::arrivals(
                cfg.arrival_pattern,
                rate,
                cfg.arrival_smoothness,
                seed.wrapping_add(1),
                Some(cfg.warmup_request_count),
                None,
            )
        })
    } else {
        None
    };
    let conns = |w: usize| -> u32 {
        if open_loop && !cfg.concurrency_set {
            u32::MAX
        } else {
            share(cfg.concurrency.max(1) as u64, w, workers).max(1) as u32
        }
    };
    // Arrival k goes to worker k % workers.
    let mine = |all: &Option<Vec<Nanos>>, w: usize| -> Option<Vec<Nanos>> {
        all.as_ref()
            .map(|a| a.iter().skip(w).step_by(workers).copied().collect())
    };
    (0..workers)
        .map(|w| {
            let mut phases = Vec::new();
            if cfg.warmup_request_count > 0 {
                phases.push(PhasePlan {
                    warmup: true,
                    count: Some(share(cfg.warmup_request_count, w, workers)),
                    arrivals: mine(&warmup_arrivals, w),
                    connections: conns(w),
                    grace: cfg.benchmark_grace_period,
                    ..Default::default()
                });
            }
            phases.push(PhasePlan {
                warmup: false,
                count: profile_count.map(|c| share(c, w, workers)),
                arrivals: mine(&profile_arrivals, w),
                connections: conns(w),
                duration,
                grace: cfg.benchmark_grace_period,
                cancel_rate: cfg.request_cancellation_rate / 100.0,
                cancel_delay: cfg.request_cancellation_delay,
            });
            WorkerPlan {
                worker: w as u16,
                workers: workers as u16,
                core: cores.get(w % n_cores).copied(),
                phases,
            }
        })
        .collect()
}

/// Runs the whole load and returns every record, merged from all workers.
pub fn run(
    cfg: &ProfileConfig,
    dataset: &Dataset,
    progress: Arc<Progress>,
) -> anyhow::Result<RunOutput> {
    let addr = resolve(cfg)?;
    if dataset.requests.is_empty() {
        anyhow::bail!("the dataset is empty: nothing to send");
    }
    // The prepared bytes live for the rest of the process and are shared
    // read-only by every worker: leaking them once avoids any per-send copy
    // or reference counting.
    let requests: Vec<&'static [u8]> = dataset
        .requests
        .iter()
        .map(|r| &*Box::leak(r.http.clone().into_boxed_slice()))
        .collect();
    let requests: &'static [&'static [u8]] = Box::leak(requests.into_boxed_slice());
    let plans = plan(cfg);
    let tls = stream::TlsConnector::for_config(cfg).map_err(|e| anyhow::anyhow!("{e}"))?;
    let shared = Arc::new(Shared {
        addr,
        tls,
        requests,
        request_timeout: cfg.request_timeout,
        force_epoll: std::env::var("AUDIOPERF_IO_DRIVER").is_ok_and(|v| v == "epoll"),
        progress,
        phase_barrier: std::sync::Barrier::new(plans.len()),
        phase_start: AtomicU64::new(0),
        seed: cfg.random_seed.unwrap_or(0),
    });
    let anchor = ClockAnchor::now();
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
        io_driver: "io_uring",
        ..Default::default()
    };
    let mut notes = Vec::new();
    for h in handles {
        let r = h
            .join()
            .map_err(|_| anyhow::anyhow!("a worker thread panicked"))?;
        if r.io_driver == "epoll" {
            out.io_driver = "epoll";
        }
        if let Some(n) = r.driver_note {
            notes.push(n);
        }
        out.records.extend(r.records);
        out.text_arenas.push(r.arena);
        out.workers.push(r.stats);
    }
    out.driver_notes = notes;
    // Warmup first, then profiling, each in request-id order.
    out.records.sort_by_key(|r| (!r.warmup, r.request_id));
    Ok(out)
}
