//! One worker: an OS thread pinned to a core, running its own monoio runtime
//! (io_uring, or epoll where io_uring is refused) and owning its connections
//! end to end. Records and text stay thread-local until the run ends; the only
//! cross-thread traffic is the phase barriers, the stop flag and plain progress
//! counters (touched once per request, never per event).
//!
//! Request ids: a worker's j-th request of a phase has id `j * workers + w`,
//! which numbers a phase's requests 0..n over all workers without any
//! coordination (the split gives the first workers the extra requests).

use super::exchange::{read_response, send_request, ConnState, Outcome};
use super::stream::{self, ConnectError, Stream, TlsConnector};
use super::{Progress, WorkerStats};
use crate::record::{ErrorKind, RequestError, RequestRecord};
use crate::timer::PreciseTimer;
use crate::units::{now_ns, Nanos};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// Consecutive connect failures, with no connection ever made, after which
/// the run stops: the target is down, not overloaded.
const DEAD_SERVER_FAILURES: u32 = 20;
/// How long in-flight requests may finish after an interrupt.
const INTERRUPT_DRAIN: Duration = Duration::from_secs(2);
/// Period of the worker's watcher task (stop flag, grace deadline, loop lag).
/// Idle workers must not burn CPU: 20 wake-ups a second, plus one at each
/// duration/grace deadline, and the end of the phase wakes it at once.
const WATCH_PERIOD: Duration = Duration::from_millis(50);

/// What one phase (warmup or profiling) asks of one worker.
#[derive(Clone, Debug, Default)]
pub struct PhasePlan {
    pub warmup: bool,
    /// Closed loop: this worker's request count (None = until the duration ends).
    pub count: Option<u64>,
    /// Open loop: this worker's intended send offsets (ns from the phase start).
    pub arrivals: Option<Vec<Nanos>>,
    /// Connections this worker may hold (closed loop: exactly this many).
    pub connections: u32,
    /// Stop issuing requests this long after the phase start.
    pub duration: Option<Duration>,
    /// After `duration`, in-flight requests may finish for this long.
    pub grace: Duration,
    /// Share of requests (0..=1) cancelled `cancel_delay` after being sent.
    pub cancel_rate: f64,
    pub cancel_delay: Duration,
}

/// The slice of the run one worker executes.
#[derive(Clone, Debug)]
pub struct WorkerPlan {
    pub worker: u16,
    pub workers: u16,
    pub core: Option<core_affinity::CoreId>,
    pub phases: Vec<PhasePlan>,
}

/// Read-only inputs shared by every worker.
pub struct Shared {
    pub addr: SocketAddr,
    /// TLS settings for `https://` targets, built once per run.
    pub tls: Option<TlsConnector>,
    /// Complete HTTP requests, one per dataset entry.
    pub requests: &'static [&'static [u8]],
    pub request_timeout: Duration,
    pub force_epoll: bool,
    pub progress: Arc<Progress>,
    pub phase_barrier: Barrier,
    /// Monotonic start of the current phase, set by the barrier leader.
    pub phase_start: AtomicU64,
    pub seed: u64,
}

pub struct WorkerResult {
    pub records: Vec<RequestRecord>,
    pub arena: Vec<u8>,
    pub stats: WorkerStats,
    pub io_driver: &'static str,
    pub driver_note: Option<String>,
}

/// A one-shot, single-thread signal that in-flight requests race against.
#[derive(Default)]
struct AbortSignal {
    fired: Cell<bool>,
    wakers: RefCell<Vec<Waker>>,
}

impl AbortSignal {
    fn fire(&self) {
        self.fired.set(true);
        for w in self.wakers.borrow_mut().drain(..) {
            w.wake();
        }
    }
    fn reset(&self) {
        self.fired.set(false);
        self.wakers.borrow_mut().clear();
    }
    fn wait(&self) -> AbortWait<'_> {
        AbortWait {
            signal: self,
            registered: false,
        }
    }
}

struct AbortWait<'a> {
    signal: &'a AbortSignal,
    /// The waker is registered once: a request's task (and so its waker)
    /// does not change while it is polled again for every event.
    registered: bool,
}

impl Future for AbortWait<'_> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.signal.fired.get() {
            return Poll::Ready(());
        }
        if !self.registered {
            self.signal.wakers.borrow_mut().push(cx.waker().clone());
            self.registered = true;
        }
        Poll::Pending
    }
}

/// An open connection with its reused parser state.
struct Conn {
    stream: Stream,
    st: ConnState,
}

/// State shared by the tasks of this worker (single thread, no locks).
struct Local {
    shared: Arc<Shared>,
    worker: u16,
    workers: u16,
    records: RefCell<Vec<RequestRecord>>,
    arena: RefCell<Vec<u8>>,
    /// Next request of the current phase (closed loop), from 0 within this worker.
    next: Cell<u64>,
    phase: RefCell<PhasePlan>,
    phase_start: Cell<Nanos>,
    /// No new request may start (duration over or stop requested).
    closed: Cell<bool>,
    /// Every request of the phase has ended.
    phase_over: Cell<bool>,
    abort: AbortSignal,
    /// Fired when every request of the phase has ended (wakes the watcher).
    phase_done: AbortSignal,
    abort_reason: Cell<&'static str>,
    in_flight: Cell<u32>,
    /// Open loop: idle connections and arrivals waiting for one.
    idle: RefCell<Vec<Conn>>,
    waiting: RefCell<VecDeque<(u64, Nanos)>>,
    bytes_read: Cell<u64>,
    events: Cell<u64>,
    connect_failures: Cell<u32>,
    connected_once: Cell<bool>,
    lag: RefCell<hdrhistogram::Histogram<u64>>,
}

pub fn run_worker(shared: Arc<Shared>, plan: WorkerPlan) -> WorkerResult {
    if let Some(core) = plan.core {
        core_affinity::set_for_current(core);
    }
    let wall_start = now_ns();
    let cpu_start = thread_cpu_ns();
    let max_conns = plan.phases.iter().map(|p| p.connections).max().unwrap_or(1);
    let entries = max_conns.saturating_mul(4).clamp(256, 32768);
    let expected: u64 = plan
        .phases
        .iter()
        .map(|p| {
            p.count
                .or(p.arrivals.as_ref().map(|a| a.len() as u64))
                .unwrap_or(0)
        })
        .sum();
    let local = Rc::new(Local {
        shared: shared.clone(),
        worker: plan.worker,
        workers: plan.workers.max(1),
        records: RefCell::new(Vec::with_capacity(expected.min(10_000_000) as usize)),
        arena: RefCell::new(Vec::new()),
        next: Cell::new(0),
        phase: RefCell::new(PhasePlan::default()),
        phase_start: Cell::new(0),
        closed: Cell::new(false),
        phase_over: Cell::new(false),
        abort: AbortSignal::default(),
        phase_done: AbortSignal::default(),
        abort_reason: Cell::new(""),
        in_flight: Cell::new(0),
        idle: RefCell::new(Vec::new()),
        waiting: RefCell::new(VecDeque::new()),
        bytes_read: Cell::new(0),
        events: Cell::new(0),
        connect_failures: Cell::new(0),
        connected_once: Cell::new(false),
        lag: RefCell::new(
            hdrhistogram::Histogram::new_with_bounds(1, 60_000_000_000, 3)
                .unwrap_or_else(|_| hdrhistogram::Histogram::new(3).expect("3 sigfig is valid")),
        ),
    });

    let mut driver_note = None;
    let mut io_driver = "io_uring";
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
        io_driver = "epoll";
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
    let lag = local.lag.borrow();
    let stats = WorkerStats {
        worker: plan.worker,
        cpu_ns: thread_cpu_ns().saturating_sub(cpu_start),
        wall_ns: now_ns().saturating_sub(wall_start),
        requests: local.records.borrow().len() as u64,
        events: local.events.get(),
        bytes_read: local.bytes_read.get(),
        max_loop_lag_ns: lag.max(),
        p99_loop_lag_ns: lag.value_at_quantile(0.99),
        loop_lag: Some(lag.clone()),
    };
    drop(lag);
    let (records, arena) = match Rc::try_unwrap(local) {
        Ok(l) => (l.records.into_inner(), l.arena.into_inner()),
        Err(_) => (Vec::new(), Vec::new()),
    };
    WorkerResult {
        records,
        arena,
        stats,
        io_driver,
        driver_note,
    }
}

/// All workers meet here; the last to arrive stamps the phase start a little
/// ahead so every worker begins from the same instant.
fn phase_sync(shared: &Shared) -> Nanos {
    if shared.phase_barrier.wait().is_leader() {
        shared
            .phase_start
            .store(now_ns() + 1_000_000, Ordering::Release);
    }
    shared.phase_barrier.wait();
    shared.phase_start.load(Ordering::Acquire)
}

async fn worker_main(local: Rc<Local>, phases: Vec<PhasePlan>) {
    // Timerfd-backed sleeps for arrivals and the watcher: monoio's timer wheel
    // rounds every wake-up up to the next whole millisecond, which would be
    // schedule lag (and apparent loop lag) of its own.
    let precise = PreciseTimer::start().ok();
    for phase in phases {
        // Closed loop: open the phase's connections before its clock starts,
        // so connection set-up is not part of the first requests' latency.
        // Connections left open by the previous phase are reused.
        let mut pool: Vec<Option<Conn>> = local.idle.borrow_mut().drain(..).map(Some).collect();
        if phase.arrivals.is_none() {
            let conns = phase.connections.max(1) as u64;
            let conns = phase.count.map_or(conns, |c| conns.min(c)) as usize;
            pool.truncate(conns);
            let handles: Vec<_> = (pool.len()..conns)
                .map(|_| {
                    let shared = local.shared.clone();
                    monoio::spawn(async move { connect(&shared).await.ok() })
                })
                .collect();
            for h in handles {
                let conn = h.await;
                if conn.is_some() {
                    local.connected_once.set(true);
                }
                pool.push(conn.map(|stream| Conn {
                    stream,
                    st: ConnState::default(),
                }));
            }
        }
        let start = phase_sync(&local.shared);
        local.next.set(0);
        local.closed.set(false);
        local.phase_over.set(false);
        local.phase_done.reset();
        local.abort.reset();
        local.phase_start.set(start);
        *local.phase.borrow_mut() = phase.clone();
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
        local.closed.set(true);
        local.phase_over.set(true);
        local.phase_done.fire();
        watcher.await;
    }
}

/// Per-worker housekeeping off the request path: notices the stop flag and the
/// end of the duration and grace period, and measures timer lateness (loop lag).
async fn watch(local: Rc<Local>, precise: Option<PreciseTimer>) {
    let start = local.phase_start.get();
    let (end, hard_stop) = {
        let p = local.phase.borrow();
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
                _ = local.phase_done.wait() => true,
            },
            None => monoio::select! {
                _ = monoio::time::sleep(Duration::from_nanos(deadline - now)) => false,
                _ = local.phase_done.wait() => true,
            },
        };
        if ended {
            return;
        }
        let woke = now_ns();
        // Lateness of this wake-up: the loop being busy (or, on the 1 ms
        // monoio fallback timer, up to a tick of rounding).
        let _ = local
            .lag
            .borrow_mut()
            .record(woke.saturating_sub(deadline).max(1));
        if local.phase_over.get() {
            return;
        }
        if end.is_some_and(|e| woke >= e) {
            local.closed.set(true);
        }
        if hard_stop.is_some_and(|h| woke >= h) && !local.abort.fired.get() {
            local
                .abort_reason
                .set("cancelled at the end of --benchmark-grace-period");
            local.abort.fire();
        }
        if local.shared.progress.stop.load(Ordering::Relaxed) {
            local.closed.set(true);
            let seen = *stop_seen.get_or_insert(woke);
            if woke >= seen + INTERRUPT_DRAIN.as_nanos() as Nanos && !local.abort.fired.get() {
                local
                    .abort_reason
                    .set("cancelled by interrupt (SIGINT/SIGTERM)");
                local.abort.fire();
            }
        }
    }
}

/// Claims the next closed-loop request, or None when the phase is over.
fn claim(local: &Local) -> Option<u64> {
    if local.closed.get() || local.shared.progress.stop.load(Ordering::Relaxed) {
        return None;
    }
    let j = local.next.get();
    if local.phase.borrow().count.is_some_and(|c| j >= c) {
        return None;
    }
    local.next.set(j + 1);
    Some(j * local.workers as u64 + local.worker as u64)
}

async fn closed_loop_connection(local: Rc<Local>, mut conn: Option<Conn>) {
    let mut first_use = true;
    while let Some(id) = claim(&local) {
        conn = one_request(&local, conn, id, None, false, first_use).await;
        first_use = false;
    }
    if let Some(c) = conn {
        local.idle.borrow_mut().push(c);
    }
}

/// Open loop: sleep until each arrival is due, then send it on an idle
/// connection, a new one (under the cap), or queue it for the next connection
/// to free up (counted as `waited_for_connection`, never dropped).
async fn open_loop(local: &Rc<Local>, arrivals: &[Nanos], precise: Option<PreciseTimer>) {
    let start = local.phase_start.get();
    let cap = local.phase.borrow().connections.max(1);
    let mut handles = Vec::new();
    let stopped = || local.shared.progress.stop.load(Ordering::Relaxed);
    for (j, &offset) in arrivals.iter().enumerate() {
        let intended = start.saturating_add(offset);
        // Sleep to the arrival in slices of at most WATCH_PERIOD, so that an
        // interrupt during a long gap (a low rate) is noticed at once.
        loop {
            let now = now_ns();
            if intended <= now || stopped() {
                break;
            }
            let wake = intended.min(now + WATCH_PERIOD.as_nanos() as Nanos);
            match &precise {
                Some(t) => t.sleep_until(wake).await,
                None => monoio::time::sleep(Duration::from_nanos(wake - now)).await,
            }
        }
        // The schedule already ends at --benchmark-duration (an arrival due
        // exactly then is still sent); only an interrupt stops it early.
        if stopped() {
            break;
        }
        let id = j as u64 * local.workers as u64 + local.worker as u64;
        if local.in_flight.get() < cap {
            local.in_flight.set(local.in_flight.get() + 1);
            let conn = local.idle.borrow_mut().pop();
            handles.push(monoio::spawn(open_loop_task(
                local.clone(),
                conn,
                id,
                intended,
            )));
        } else {
            local.waiting.borrow_mut().push_back((id, intended));
        }
    }
    for h in handles {
        h.await;
    }
}

async fn open_loop_task(local: Rc<Local>, conn: Option<Conn>, id: u64, intended: Nanos) {
    // A pooled (idle) connection or a new one for a new slot: no reconnect.
    let mut conn = one_request(&local, conn, id, Some(intended), false, true).await;
    while !local.shared.progress.stop.load(Ordering::Relaxed) {
        let next = local.waiting.borrow_mut().pop_front();
        match next {
            Some((id, intended)) => {
                let first_use = conn.is_none();
                conn = one_request(&local, conn, id, Some(intended), true, first_use).await;
            }
            None => break,
        }
    }
    if let Some(c) = conn {
        local.idle.borrow_mut().push(c);
    }
    local.in_flight.set(local.in_flight.get() - 1);
}

/// Whether this request is picked for deliberate cancellation: a hash of the
/// seed and id, so the choice is reproducible and needs no shared RNG.
fn picked_for_cancel(seed: u64, id: u64, rate: f64) -> bool {
    if rate <= 0.0 {
        return false;
    }
    let mut x = seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 33;
    ((x >> 11) as f64 / (1u64 << 53) as f64) < rate
}

enum Ended {
    Done(Outcome),
    Timeout,
    Cancelled(&'static str),
}

/// Sends one request on `conn` (connecting first if needed), records it and
/// returns the connection if it can be reused.
async fn one_request(
    local: &Rc<Local>,
    conn: Option<Conn>,
    id: u64,
    intended: Option<Nanos>,
    waited: bool,
    first_use: bool,
) -> Option<Conn> {
    let (warmup, cancel_rate, cancel_delay) = {
        let p = local.phase.borrow();
        (p.warmup, p.cancel_rate, p.cancel_delay)
    };
    let n = local.shared.requests.len() as u64;
    let dataset_index = id % n;
    let mut rec = RequestRecord {
        request_id: id,
        dataset_index: dataset_index as u32,
        worker: local.worker,
        warmup,
        intended_start_ns: intended,
        waited_for_connection: waited,
        ..Default::default()
    };
    let request = local.shared.requests[dataset_index as usize];
    let timeout = local.shared.request_timeout;
    let t0 = now_ns();
    let conn = conn.filter(|c| !c.stream.peer_closed());
    let reconnected = conn.is_none() && !first_use;
    let mut conn = match conn {
        Some(c) => c,
        None => match connect(&local.shared).await {
            Ok(stream) => {
                local.connect_failures.set(0);
                local.connected_once.set(true);
                Conn {
                    stream,
                    st: ConnState::default(),
                }
            }
            Err(error) => {
                rec.start_ns = t0;
                rec.end_ns = now_ns();
                rec.error = Some(error);
                finish(local, rec, &[], 0);
                let fails = local.connect_failures.get() + 1;
                local.connect_failures.set(fails);
                // A server that never accepted a connection is not going to:
                // stop the run instead of failing every remaining request.
                if !local.connected_once.get() && fails >= DEAD_SERVER_FAILURES {
                    local.shared.progress.stop.store(true, Ordering::Relaxed);
                }
                // Do not spin on a dead server.
                monoio::time::sleep(Duration::from_millis(10)).await;
                return None;
            }
        },
    };
    let deadline = monoio::time::Instant::now() + timeout;
    let sent = monoio::select! {
        r = monoio::time::timeout_at(deadline, send_request(&mut conn.stream, &mut conn.st, request, &mut rec)) => match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(o)) => Err(Ended::Done(o)),
            Err(_) => Err(Ended::Timeout),
        },
        _ = local.abort.wait() => Err(Ended::Cancelled(local.abort_reason.get())),
    };
    if reconnected && rec.start_ns > t0 {
        // A connection re-opened mid-run is part of this request's latency;
        // the first connection of each slot is opened before its clock starts.
        rec.connect_ns = Some(rec.start_ns - t0);
        rec.start_ns = t0;
    }
    let mut bytes = 0u64;
    let mut events = 0u64;
    let ended = match sent {
        Err(e) => e,
        Ok(()) => {
            let cancel_at = (!warmup && picked_for_cancel(local.shared.seed, id, cancel_rate))
                .then(|| monoio::time::Instant::now() + cancel_delay);
            let recv = read_response(
                &mut conn.stream,
                &mut conn.st,
                &mut rec,
                &mut bytes,
                &mut events,
            );
            match cancel_at {
                Some(at) if at < deadline => monoio::select! {
                    o = recv => Ended::Done(o),
                    _ = monoio::time::sleep_until(at) => Ended::Cancelled("cancelled by --request-cancellation-rate"),
                    _ = local.abort.wait() => Ended::Cancelled(local.abort_reason.get()),
                },
                _ => monoio::select! {
                    r = monoio::time::timeout_at(deadline, recv) => match r {
                        Ok(o) => Ended::Done(o),
                        Err(_) => Ended::Timeout,
                    },
                    _ = local.abort.wait() => Ended::Cancelled(local.abort_reason.get()),
                },
            }
        }
    };
    local.bytes_read.set(local.bytes_read.get() + bytes);
    local.events.set(local.events.get() + events);
    let keep = match ended {
        Ended::Done(Outcome::KeepAlive) => true,
        Ended::Done(Outcome::Close) => false,
        Ended::Timeout => {
            rec.end_ns = now_ns();
            rec.error = Some(RequestError {
                kind: ErrorKind::Timeout,
                code: rec.status,
                message: format!(
                    "no complete response within --request-timeout-seconds {}",
                    timeout.as_secs_f64()
                ),
            });
            false
        }
        Ended::Cancelled(why) => {
            rec.end_ns = now_ns();
            rec.cancelled = true;
            rec.error = Some(RequestError {
                kind: ErrorKind::Cancelled,
                code: rec.status,
                message: why.to_string(),
            });
            false
        }
    };
    let text = std::mem::take(&mut conn.st.text);
    finish(local, rec, &text, conn.st.reasoning_len);
    conn.st.text = text;
    keep.then_some(conn)
}

fn finish(local: &Local, mut rec: RequestRecord, text: &[u8], reasoning_len: usize) {
    // One copy per request (not per event) into the worker's text arena.
    {
        let mut arena = local.arena.borrow_mut();
        let start = arena.len();
        arena.extend_from_slice(text);
        rec.output_text = start..arena.len();
        rec.reasoning_text = start..start + reasoning_len.min(text.len());
    }
    let p = &local.shared.progress;
    if rec.is_error() {
        p.errors.fetch_add(1, Ordering::Relaxed);
    }
    p.completed.fetch_add(1, Ordering::Relaxed);
    local.records.borrow_mut().push(rec);
}

/// Opens a connection (TCP, then TLS for https), bounded by the request
/// timeout so a server that never answers the handshake cannot hang a slot.
async fn connect(shared: &Shared) -> Result<Stream, RequestError> {
    let addr = shared.addr;
    let fail = |kind, message| RequestError {
        kind,
        code: None,
        message,
    };
    match monoio::time::timeout(
        shared.request_timeout,
        stream::connect(addr, shared.tls.as_ref()),
    )
    .await
    {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(ConnectError::Tcp(e))) => Err(fail(
            ErrorKind::Connect,
            format!("connect to {addr} failed: {e}"),
        )),
        Ok(Err(ConnectError::Tls(msg))) => Err(fail(ErrorKind::Tls, msg)),
        Err(_) => Err(fail(
            ErrorKind::Connect,
            format!(
                "connect to {addr} timed out after --request-timeout-seconds {}",
                shared.request_timeout.as_secs_f64()
            ),
        )),
    }
}

/// CPU time of the calling thread (user + system).
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes into a timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
