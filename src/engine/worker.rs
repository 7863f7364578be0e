//! One worker: an OS thread pinned to a core, running its own monoio runtime
//! (io_uring, or epoll where io_uring is refused) and owning its connections
//! end to end. Records and text stay thread-local until the run ends; the only
//! cross-thread traffic is the phase barriers, the stop flag and plain progress
//! counters (touched once per request, never per event).
//!
//! Request ids: a worker's j-th request of a phase has id `j * workers + w`,
//! which numbers a phase's requests 0..n over all workers without any
//! coordination (the split gives the first workers the extra requests).
//! Shard `i` of `N` numbers its requests `(j * workers + w) * N + i`, so the
//! shards of a run together send ids 0..n too (`Local::lane`).

use super::loops::{closed_loop_connection, open_loop};
use super::plan::{PhasePlan, WorkerPlan};
use super::request::connect;
use super::state::{
    Abort, CancelReason, Collected, Conn, Conns, Local, PhaseState, Shared, WATCH_PERIOD,
};
use crate::record::{IoDriver, WorkerStats};
use crate::sys::clock::{now_ns, thread_cpu_ns, Nanos};
use crate::sys::timer::PreciseTimer;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// How long in-flight requests may finish after an interrupt.
const INTERRUPT_DRAIN: Duration = Duration::from_secs(2);

/// What one worker hands back when its thread ends.
pub struct WorkerResult {
    pub stats: WorkerStats,
    pub io_driver: IoDriver,
    pub driver_note: Option<String>,
}

pub fn run_worker(shared: Arc<Shared>, plan: WorkerPlan) -> WorkerResult {
    if let Some(core) = plan.core {
        core_affinity::set_for_current(core);
    }
    let wall_start = now_ns();
    let cpu_start = thread_cpu_ns();
    let max_conns = plan.phases.iter().map(|p| p.connections).max().unwrap_or(1);
    let entries = max_conns.saturating_mul(4).clamp(256, 32768);
    let local = Rc::new(Local {
        shared: shared.clone(),
        worker: plan.worker,
        lane: u64::from(plan.worker) * u64::from(plan.shard.count) + u64::from(plan.shard.index),
        lanes: u64::from(plan.workers.max(1)) * u64::from(plan.shard.count),
        phase: PhaseState::default(),
        abort: Abort::default(),
        conns: Conns::default(),
        out: Collected::new(),
    });

    let mut driver_note = None;
    let mut io_driver = IoDriver::IoUring;
    let mut ran = false;
    if !shared.force_epoll {
        // COOP_TASKRUN + SINGLE_ISSUER: completions are run when this thread
        // enters the kernel anyway, instead of by an interrupt (IPI) to it.
        // Older kernels refuse these flags, so a plain ring is tried next.
        let tuned = || {
            let mut b = io_uring::IoUring::builder();
            b.setup_coop_taskrun().setup_single_issuer();
            b
        };
        for urb in [Some(tuned()), None] {
            let mut builder =
                monoio::RuntimeBuilder::<monoio::IoUringDriver>::new().with_entries(entries);
            if let Some(urb) = urb {
                builder = builder.uring_builder(urb);
            }
            match builder.enable_timer().build() {
                Ok(mut rt) => {
                    rt.block_on(worker_main(local.clone(), plan.phases.clone()));
                    ran = true;
                    break;
                }
                Err(e) => driver_note = Some(format!("io_uring unavailable ({e}); using epoll")),
            }
        }
        if ran {
            driver_note = None;
        }
    } else {
        driver_note = Some("epoll forced by AUDIOPERF_IO_DRIVER=epoll".into());
    }
    if !ran {
        io_driver = IoDriver::Epoll;
        match monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
        {
            Ok(mut rt) => rt.block_on(worker_main(local.clone(), plan.phases.clone())),
            Err(e) => {
                let msg = format!("no I/O runtime could be built: {e}");
                // Keep the phase barriers balanced so other workers finish.
                for _ in &plan.phases {
                    phase_sync(&shared);
                }
                driver_note = Some(msg);
            }
        }
    }
    let out = &local.out;
    let lag = out.lag.borrow();
    let mut io = super::stream::io_counts();
    let batch = crate::sys::batch::stats();
    io.batch_windows = batch.windows;
    io.batch_window_reads = batch.reads;
    let stats = WorkerStats {
        worker: plan.worker,
        cpu_ns: thread_cpu_ns().saturating_sub(cpu_start),
        wall_ns: now_ns().saturating_sub(wall_start),
        requests: out.requests.get(),
        events: out.events.get(),
        bytes_read: out.bytes_read.get(),
        max_loop_lag_ns: lag.max(),
        p99_loop_lag_ns: lag.value_at_quantile(0.99),
        loop_lag: Some(lag.clone()),
        send_lag: Some(out.send_lag.borrow().clone()),
        wake_lag: Some(out.wake_lag.borrow().clone()),
        io,
    };
    drop(lag);
    WorkerResult {
        stats,
        io_driver,
        driver_note,
    }
}

/// Whether this run's workers batch their reads (`sys::batch`): asked for,
/// and every read kernel-stamped (plain TCP with `--rx-stamps kernel`),
/// so that a later read is not a later stamp.
pub fn batches_reads(shared: &Shared) -> bool {
    let p = shared.io_paths;
    p.read_batch_ns > 0
        && p.rx_stamps == crate::config::RxStamps::Kernel
        && shared.servers.iter().all(|s| s.tls.is_none())
}

/// The servers a worker sends to in closed loop: its requests have ids
/// `j * lanes + lane`, and request `k` goes to server `k % n`.
fn servers_of_worker(lane: u64, lanes: u64, n: usize) -> Vec<u16> {
    let mut s: Vec<u16> = (0..n as u64)
        .map(|j| ((j * lanes + lane) % n as u64) as u16)
        .collect();
    s.sort_unstable();
    s.dedup();
    s
}

/// All workers meet here; the last to arrive stamps the phase start a little
/// ahead so every worker begins from the same instant.
fn phase_sync(shared: &Shared) -> Nanos {
    if shared.phase_barrier.wait().is_leader() {
        let start = match shared.start_at.swap(0, Ordering::AcqRel) {
            0 => now_ns() + 1_000_000,
            at => wait_for_start(shared, at),
        };
        shared.phase_start.store(start, Ordering::Release);
    }
    shared.phase_barrier.wait();
    shared.phase_start.load(Ordering::Acquire)
}

/// `--start-at`: the first phase's start, once every connection is open.
/// The other workers wait at the barrier meanwhile; an interrupt ends the
/// wait. A start already past is taken at once and its lateness recorded.
fn wait_for_start(shared: &Shared, at: Nanos) -> Nanos {
    loop {
        let now = now_ns();
        if now + 1_000_000 > at {
            if now > at {
                shared.start_late_ns.store(now - at, Ordering::Relaxed);
                return now + 1_000_000;
            }
            return at;
        }
        if shared.stopping() {
            return now;
        }
        std::thread::sleep(Duration::from_nanos(at - now - 1_000_000).min(WATCH_PERIOD));
    }
}

async fn worker_main(local: Rc<Local>, phases: Vec<PhasePlan>) {
    // Timerfd-backed sleeps for arrivals and the watcher: monoio's timer wheel
    // rounds every wake-up up to the next whole millisecond, which would be
    // schedule lag (and apparent loop lag) of its own.
    let precise = PreciseTimer::start().ok();
    if batches_reads(&local.shared) {
        // Without it the worker only reads token by token, as before.
        let _ = crate::sys::batch::start(local.shared.io_paths.read_batch_ns);
    }
    for phase in phases {
        // Closed loop: open the phase's connections before its clock starts,
        // so connection set-up is not part of the first requests' latency.
        // Connections left open by the previous phase are reused.
        // Each slot holds one connection per server its requests go to.
        let n_servers = local.shared.servers.len();
        let mut pool: Vec<Vec<Option<Conn>>> = Vec::new();
        if phase.arrivals.is_none() {
            let conns = phase.connections.max(1) as u64;
            let conns = phase.count.map_or(conns, |c| conns.min(c)) as usize;
            let mine = servers_of_worker(local.lane, local.lanes, n_servers);
            let mut handles = Vec::new();
            for _ in 0..conns {
                let mut slot: Vec<Option<Conn>> = (0..n_servers).map(|_| None).collect();
                for &s in &mine {
                    match local.conns.take_idle(s) {
                        Some(c) => slot[s as usize] = Some(c),
                        None => {
                            let shared = local.shared.clone();
                            handles.push((
                                pool.len(),
                                s,
                                monoio::spawn(async move {
                                    let begin = now_ns();
                                    let stream = connect(&shared, s).await.ok()?;
                                    Some(Conn::new(
                                        s,
                                        stream,
                                        now_ns().saturating_sub(begin),
                                        &shared,
                                    ))
                                }),
                            ));
                        }
                    }
                }
                pool.push(slot);
            }
            for (slot, s, h) in handles {
                let conn = h.await;
                if conn.is_some() {
                    local.conns.connected_once.set(true);
                }
                pool[slot][s as usize] = conn;
            }
        }
        // Open loop takes idle connections as arrivals come; closed loop has
        // taken what it needs: the rest are closed.
        if phase.arrivals.is_none() {
            local.conns.idle.borrow_mut().clear();
        }
        let start = phase_sync(&local.shared);
        let current = &local.phase;
        current.next.set(0);
        current.closed.set(false);
        current.over.set(false);
        current.done.reset();
        local.abort.reset();
        current.start.set(start);
        *current.plan.borrow_mut() = phase.clone();
        let now = now_ns();
        if start > now {
            monoio::time::sleep(Duration::from_nanos(start - now)).await;
        }
        let watcher = monoio::spawn(watch(local.clone(), precise.clone()));
        if let Some(arrivals) = phase.arrivals.as_ref() {
            open_loop(&local, arrivals, precise.clone()).await;
        } else {
            let handles: Vec<_> = pool
                .into_iter()
                .map(|conn| monoio::spawn(closed_loop_connection(local.clone(), conn)))
                .collect();
            for h in handles {
                h.await;
            }
        }
        local.phase.closed.set(true);
        local.phase.over.set(true);
        local.phase.done.fire();
        watcher.await;
    }
}

/// Per-worker housekeeping off the request path: notices the stop flag and the
/// end of the duration and grace period, and measures timer lateness (loop lag).
async fn watch(local: Rc<Local>, precise: Option<PreciseTimer>) {
    let phase = &local.phase;
    let start = phase.start.get();
    let (end, hard_stop) = {
        let p = phase.plan.borrow();
        let end = p.duration.map(|d| start + d.as_nanos() as Nanos);
        (end, end.map(|e| e + p.grace.as_nanos() as Nanos))
    };
    let mut stop_seen: Option<Nanos> = None;
    loop {
        let now = now_ns();
        let mut deadline = now + WATCH_PERIOD.as_nanos() as Nanos;
        for d in [end, hard_stop].into_iter().flatten() {
            if d > now {
                deadline = deadline.min(d);
            }
        }
        let ended = match &precise {
            Some(t) => monoio::select! {
                _ = t.sleep_until(deadline) => false,
                _ = phase.done.wait() => true,
            },
            None => monoio::select! {
                _ = monoio::time::sleep(Duration::from_nanos(deadline - now)) => false,
                _ = phase.done.wait() => true,
            },
        };
        if ended {
            return;
        }
        let woke = now_ns();
        // Lateness of this wake-up: the loop being busy (or, on the 1 ms
        // monoio fallback timer, up to a tick of rounding).
        let _ = local
            .out
            .lag
            .borrow_mut()
            .record(woke.saturating_sub(deadline).max(1));
        if phase.over.get() {
            return;
        }
        if end.is_some_and(|e| woke >= e) {
            phase.closed.set(true);
        }
        if hard_stop.is_some_and(|h| woke >= h) && !local.abort.fired() {
            local.abort.fire(CancelReason::GracePeriodEnd);
        }
        if local.shared.stopping() {
            phase.closed.set(true);
            let seen = *stop_seen.get_or_insert(woke);
            if woke >= seen + INTERRUPT_DRAIN.as_nanos() as Nanos && !local.abort.fired() {
                local.abort.fire(CancelReason::Interrupt);
            }
        }
    }
}
