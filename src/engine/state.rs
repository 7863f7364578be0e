//! What a worker's tasks share: [`Shared`], read-only and the same for every
//! worker thread, and [`Local`], one worker's own state, touched by its tasks
//! on one thread without locks (`Cell`/`RefCell` only).

use super::exchange::ConnState;
use super::plan::PhasePlan;
use super::progress::Progress;
use super::stream::Stream;
use crate::config::EndpointType;
use crate::record::RecordQueue;
use crate::sys::clock::Nanos;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// Period of the worker's watcher task (stop flag, grace deadline, loop lag),
/// and the longest an open-loop arrival sleeps before looking at the stop flag.
/// Idle workers must not burn CPU: 20 wake-ups a second, plus one at each
/// duration/grace deadline, and the end of the phase wakes the watcher at once.
pub(super) const WATCH_PERIOD: Duration = Duration::from_millis(50);

/// Read-only inputs shared by every worker.
pub struct Shared {
    /// The `--url` servers, in order; request `k` goes to server `k % n`
    /// unless that one is down (`Shared::server_for`).
    pub servers: Vec<super::servers::Server>,
    /// The dataset's requests as segments, and the order requests take them in.
    pub requests: Requests,
    pub request_timeout: Duration,
    pub force_epoll: bool,
    pub progress: Arc<Progress>,
    pub phase_barrier: Barrier,
    /// Monotonic start of the current phase, set by the barrier leader.
    pub phase_start: AtomicU64,
    pub seed: u64,
    /// `--start-at` as a monotonic time (0: none), taken by the first phase.
    pub start_at: AtomicU64,
    /// How late the first phase started after `--start-at` (ns; 0: on time).
    pub start_late_ns: AtomicU64,
    /// Where finished requests go (the collector drains it during the run).
    pub records: Arc<RecordQueue>,
    /// Which API the responses speak (how a non-streaming body is read).
    pub endpoint: EndpointType,
    /// How connections send and stamp (`--zero-copy`, `--rx-stamps`).
    pub io_paths: super::stream::IoPaths,
}

/// Every dataset entry's request bytes, as the segments that go on the wire
/// (head, own JSON, shared audio base64, ...), borrowed for the rest of the
/// process; `order` maps a request id to its entry. One table per server
/// (their heads differ in the request path and Host only).
pub struct Requests {
    pub wires: Vec<&'static [&'static [&'static [u8]]]>,
    pub order: crate::dataset::pool::ReuseOrder,
}

impl Requests {
    /// Request `id`'s entry and its segments for `server`.
    #[inline]
    pub fn pick(&self, id: u64, server: u16) -> (usize, &'static [&'static [u8]]) {
        let i = self.order.entry(id);
        (i, self.wires[server as usize][i])
    }
}

impl Shared {
    /// The run is being stopped (interrupt, or a dead server): send nothing more.
    pub(super) fn stopping(&self) -> bool {
        self.progress.stop.load(Ordering::Relaxed)
    }

    /// The server request `id` goes to: round-robin (`id % n`), passing
    /// over servers marked down to the next one up. One relaxed load per
    /// server looked at; with one server, none.
    #[inline]
    pub(super) fn server_for(&self, id: u64) -> u16 {
        let n = self.servers.len() as u64;
        if n <= 1 {
            return 0;
        }
        let first = id % n;
        (0..n)
            .map(|k| ((first + k) % n) as u16)
            .find(|&s| !self.servers[s as usize].is_down())
            .unwrap_or(first as u16)
    }
}

impl Conns {
    /// An idle connection to `server`, if there is one.
    pub(super) fn take_idle(&self, server: u16) -> Option<Conn> {
        let mut idle = self.idle.borrow_mut();
        let at = idle.iter().rposition(|c| c.server == server)?;
        Some(idle.swap_remove(at))
    }
}

/// An open connection with its reused parser state.
pub(super) struct Conn {
    /// The server it goes to: it carries requests for that one only.
    pub server: u16,
    pub stream: Stream,
    pub st: ConnState,
    /// How long opening it took (TCP connect, then TLS).
    pub setup_ns: Nanos,
    /// Requests it has carried.
    pub carried: u32,
}

impl Conn {
    pub fn new(server: u16, stream: Stream, setup_ns: Nanos, shared: &Shared) -> Conn {
        Conn {
            server,
            stream,
            st: ConnState::for_endpoint(shared.endpoint, shared.records.wants_text()),
            setup_ns,
            carried: 0,
        }
    }
}

/// State shared by the tasks of this worker (single thread, no locks).
pub(super) struct Local {
    pub shared: Arc<Shared>,
    pub worker: u16,
    /// The request ids and open-loop arrivals this worker takes: `k` with
    /// `k % lanes == lane` (lane = worker × shards + shard index, lanes =
    /// workers × shards), so ids number every shard's requests together
    /// 0..n as one process would, without coordination.
    pub lane: u64,
    pub lanes: u64,
    pub phase: PhaseState,
    pub abort: Abort,
    pub conns: Conns,
    pub out: Collected,
}

/// The phase being run.
#[derive(Default)]
pub(super) struct PhaseState {
    pub plan: RefCell<PhasePlan>,
    pub start: Cell<Nanos>,
    /// Next request of the phase (closed loop), from 0 within this worker.
    pub next: Cell<u64>,
    /// No new request may start (duration over or stop requested).
    pub closed: Cell<bool>,
    /// Every request of the phase has ended.
    pub over: Cell<bool>,
    /// Fired when every request of the phase has ended (wakes the watcher).
    pub done: AbortSignal,
}

/// This worker's connections, and how connecting has gone.
#[derive(Default)]
pub(super) struct Conns {
    /// Open loop: requests in flight, one connection slot each.
    pub in_flight: Cell<u32>,
    /// Connections not carrying a request (open loop, and closed loop
    /// between phases).
    pub idle: RefCell<Vec<Conn>>,
    /// Open loop: arrivals waiting for a free connection (id, intended
    /// time, when queued).
    pub waiting: RefCell<VecDeque<(u64, Nanos, Nanos)>>,
    /// Consecutive connect failures, per server.
    pub connect_failures: RefCell<Vec<u32>>,
    /// Some connection to the target was ever made.
    pub connected_once: Cell<bool>,
}

/// What this worker has measured about itself so far (its records go to
/// `Shared::records` as they finish).
pub(super) struct Collected {
    /// Requests finished (any outcome).
    pub requests: Cell<u64>,
    pub bytes_read: Cell<u64>,
    pub events: Cell<u64>,
    /// Lateness of the watcher's wake-ups (loop lag).
    pub lag: RefCell<hdrhistogram::Histogram<u64>>,
    /// Per request: start stamp to the first bytes handed to the kernel.
    pub send_lag: RefCell<hdrhistogram::Histogram<u64>>,
    /// Per kernel-stamped read: its completion minus the kernel's stamp.
    pub wake_lag: RefCell<hdrhistogram::Histogram<u64>>,
}

/// 1 ns to 60 s at 3 significant digits (larger values saturate).
fn lag_histogram() -> RefCell<hdrhistogram::Histogram<u64>> {
    RefCell::new(
        hdrhistogram::Histogram::new_with_bounds(1, 60_000_000_000, 3)
            .unwrap_or_else(|_| hdrhistogram::Histogram::new(3).expect("3 sigfig is valid")),
    )
}

impl Collected {
    pub fn new() -> Collected {
        Collected {
            requests: Cell::new(0),
            bytes_read: Cell::new(0),
            events: Cell::new(0),
            lag: lag_histogram(),
            send_lag: lag_histogram(),
            wake_lag: lag_histogram(),
        }
    }

    pub fn record_send_lag(&self, ns: Nanos) {
        self.send_lag.borrow_mut().saturating_record(ns.max(1));
    }

    pub fn record_wake_lags(&self, lags: &[Nanos]) {
        if lags.is_empty() {
            return;
        }
        let mut h = self.wake_lag.borrow_mut();
        for &ns in lags {
            h.saturating_record(ns.max(1));
        }
    }
}

/// Why a request was cancelled on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CancelReason {
    /// Picked by `--request-cancellation-rate`.
    CancellationRate,
    /// Still in flight at the end of the grace period.
    GracePeriodEnd,
    /// Still in flight when the interrupt's drain time ran out.
    Interrupt,
}

impl CancelReason {
    /// The message in the record's error.
    pub fn message(self) -> &'static str {
        match self {
            CancelReason::CancellationRate => "cancelled by --request-cancellation-rate",
            CancelReason::GracePeriodEnd => "cancelled at the end of --benchmark-grace-period",
            CancelReason::Interrupt => "cancelled by interrupt (SIGINT/SIGTERM)",
        }
    }
}

/// Stops every in-flight request of the phase at once, for one reason.
pub(super) struct Abort {
    signal: AbortSignal,
    reason: Cell<CancelReason>,
}

impl Default for Abort {
    fn default() -> Self {
        Abort {
            signal: AbortSignal::default(),
            // Read only once fired, which sets it.
            reason: Cell::new(CancelReason::Interrupt),
        }
    }
}

impl Abort {
    pub fn fire(&self, reason: CancelReason) {
        self.reason.set(reason);
        self.signal.fire();
    }

    pub fn fired(&self) -> bool {
        self.signal.fired.get()
    }

    pub fn reset(&self) {
        self.signal.reset();
    }

    /// Resolves when fired, with the reason.
    pub async fn wait(&self) -> CancelReason {
        self.signal.wait().await;
        self.reason.get()
    }
}

/// A one-shot, single-thread signal that in-flight requests race against.
/// Each waiting request holds one waker slot, given back when its wait is
/// dropped, so the slots never outnumber the requests in flight.
#[derive(Default)]
pub(super) struct AbortSignal {
    fired: Cell<bool>,
    wakers: RefCell<Vec<Option<Waker>>>,
    /// Slots of `wakers` no wait holds.
    free: RefCell<Vec<usize>>,
}

impl AbortSignal {
    pub fn fire(&self) {
        self.fired.set(true);
        for w in self.wakers.borrow_mut().iter_mut().filter_map(Option::take) {
            w.wake();
        }
    }

    /// Re-arms the signal for the next phase.
    pub fn reset(&self) {
        self.fired.set(false);
    }

    pub fn wait(&self) -> AbortWait<'_> {
        AbortWait {
            signal: self,
            slot: None,
        }
    }

    fn register(&self, waker: Waker) -> usize {
        let mut wakers = self.wakers.borrow_mut();
        match self.free.borrow_mut().pop() {
            Some(i) => {
                wakers[i] = Some(waker);
                i
            }
            None => {
                wakers.push(Some(waker));
                wakers.len() - 1
            }
        }
    }

    fn unregister(&self, slot: usize) {
        if let Some(w) = self.wakers.borrow_mut().get_mut(slot) {
            *w = None;
            self.free.borrow_mut().push(slot);
        }
    }
}

pub(super) struct AbortWait<'a> {
    signal: &'a AbortSignal,
    /// The waker is registered once: a request's task (and so its waker)
    /// does not change while it is polled again for every event.
    slot: Option<usize>,
}

impl Future for AbortWait<'_> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.signal.fired.get() {
            return Poll::Ready(());
        }
        if self.slot.is_none() {
            self.slot = Some(self.signal.register(cx.waker().clone()));
        }
        Poll::Pending
    }
}

impl Drop for AbortWait<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            self.signal.unregister(slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll_once(w: &mut AbortWait<'_>) -> Poll<()> {
        Pin::new(w).poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn abort_waits_give_their_slot_back() {
        let signal = AbortSignal::default();
        // A million requests, 64 in flight at a time: 64 slots, not a million.
        let mut live: VecDeque<AbortWait<'_>> = VecDeque::new();
        for _ in 0..1_000_000 {
            let mut w = signal.wait();
            assert_eq!(poll_once(&mut w), Poll::Pending);
            live.push_back(w);
            if live.len() > 64 {
                live.pop_front();
            }
        }
        assert_eq!(signal.wakers.borrow().len(), 65);
        signal.fire();
        for w in live.iter_mut() {
            assert_eq!(poll_once(w), Poll::Ready(()));
        }
        drop(live);
        assert_eq!(signal.free.borrow().len(), 65);
        signal.reset();
        let mut w = signal.wait();
        assert_eq!(poll_once(&mut w), Poll::Pending);
    }
}
