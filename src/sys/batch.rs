//! Read batching (`--read-batch-us`): while a worker is busy, it wakes at
//! most once per window and reads every socket that became readable
//! meanwhile, instead of waking for each token.
//!
//! Why: with one core serving many streams, tokens arrive every few
//! microseconds; woken for each, the worker pays a wake-up, a readiness poll
//! and a `recvmsg` per token segment (~25 reads per 50-token answer at c=64).
//! Waiting out a window first (100 µs by default) takes ~3 reads per answer,
//! and most of the client's kernel time goes with them (docs/PERFORMANCE.md,
//! "Read batching").
//!
//! Why timing stays true: every read carries the kernel's receive stamp, so
//! reading later does not move it. What a later read can do is merge two
//! token segments of one stream; then the earlier token takes the later
//! one's stamp, late by less than the window. Streams whose tokens come
//! further apart than the window (any real model) never merge. The batcher
//! therefore runs only with kernel stamps on plain TCP; with user-space
//! stamps (TLS, `--rx-stamps user`) a late read would be a late stamp.
//!
//! How: a task on the worker's runtime, woken by the first read after an
//! idle spell. When reads follow each other closely (less than two windows
//! apart) and come from more than one connection, it sleeps the thread out
//! the rest of the window, then lets the runtime collect every completion at
//! once (one immediate poll, then a
//! yield, so the woken tasks run before it looks again). It goes back to
//! idle after a window that brought no read. A window whose work alone took
//! longer than the window adds no sleep, so a saturated worker is never
//! slowed; a sparse stream (one read per window or less) is never delayed.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::os::fd::{FromRawFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::sys::clock::{now_ns, Nanos};

thread_local! {
    /// Reads this thread's connections completed.
    static READS: Cell<u64> = const { Cell::new(0) };
    /// The descriptor of the last read, and whether a read of another one
    /// came since the batcher last looked.
    static LAST_FD: Cell<RawFd> = const { Cell::new(-1) };
    static MIXED: Cell<bool> = const { Cell::new(false) };
    /// The batcher, while it waits for the first read after an idle spell.
    static IDLE: RefCell<Option<Waker>> = const { RefCell::new(None) };
    /// Windows slept and reads collected by them, for the self-check.
    static STATS: Cell<BatchStats> = const { Cell::new(BatchStats { windows: 0, reads: 0 }) };
}

/// What the batcher did on this thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchStats {
    /// Windows the thread slept out.
    pub windows: u64,
    /// Reads made after those windows.
    pub reads: u64,
}

/// This thread's batching so far.
pub fn stats() -> BatchStats {
    STATS.with(Cell::get)
}

/// Counts one completed read of `fd` on this thread; wakes the batcher when
/// idle. Cheap (a few thread-local accesses): it is called on every read.
#[inline]
pub fn note_read(fd: RawFd) {
    READS.with(|r| r.set(r.get() + 1));
    if LAST_FD.replace(fd) != fd {
        MIXED.set(true);
    }
    IDLE.with(|w| {
        if let Some(w) = w.borrow_mut().take() {
            w.wake();
        }
    });
}

fn reads() -> u64 {
    READS.with(Cell::get)
}

/// Runs the batcher on the current monoio runtime until the runtime ends.
/// `window_ns` > 0.
pub fn start(window_ns: Nanos) -> io::Result<()> {
    // The default timer slack (50 µs) would stretch every window by as much.
    // SAFETY: prctl with plain integer arguments; affects this thread only.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
    // An eventfd with a count that is never read stays readable: a poll on
    // it completes as soon as the runtime submits it, which is one pass of
    // the runtime's completion queue.
    // SAFETY: plain syscall; the result is checked.
    let fd = unsafe { libc::eventfd(1, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor we own; the std type only carries it
    // (and closes it on drop); no socket call is ever made on it.
    let std_stream = unsafe { std::os::unix::net::UnixStream::from_raw_fd(fd) };
    let pass = monoio::net::UnixStream::from_std(std_stream)?;
    monoio::spawn(drive(pass, window_ns));
    Ok(())
}

async fn drive(pass: monoio::net::UnixStream, window_ns: Nanos) {
    let mut last_read_wake: Nanos = 0;
    loop {
        NextRead { waiting: false }.await;
        let now = now_ns();
        // Reads of one connection only (c=1) gain little from a window and
        // would wait out the last one before the next request could start.
        let mixed = MIXED.replace(false);
        let dense = now.saturating_sub(last_read_wake) < 2 * window_ns && mixed;
        last_read_wake = now;
        if !dense {
            continue;
        }
        let mut window_start = now;
        loop {
            let before = reads();
            let slept = sleep_until(window_start + window_ns);
            window_start = now_ns();
            if pass.readable(false).await.is_err() {
                return;
            }
            YieldNow { yielded: false }.await;
            let got = reads() - before;
            if slept {
                STATS.with(|s| {
                    let mut v = s.get();
                    v.windows += 1;
                    v.reads += got;
                    s.set(v);
                });
            }
            if got == 0 {
                break;
            }
        }
        last_read_wake = now_ns();
    }
}

/// Blocks the thread until `deadline` (CLOCK_MONOTONIC); false when it had
/// already passed.
fn sleep_until(deadline: Nanos) -> bool {
    if now_ns() >= deadline {
        return false;
    }
    let ts = libc::timespec {
        tv_sec: (deadline / 1_000_000_000) as libc::time_t,
        tv_nsec: (deadline % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: a valid timespec; no remainder is asked for. An interrupted
    // sleep (EINTR) just ends the window early.
    unsafe {
        libc::clock_nanosleep(
            libc::CLOCK_MONOTONIC,
            libc::TIMER_ABSTIME,
            &ts,
            std::ptr::null_mut(),
        )
    };
    true
}

/// Ready once a read has called [`note_read`].
struct NextRead {
    waiting: bool,
}

impl Future for NextRead {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.waiting {
            // Only `note_read` wakes this task while it waits here.
            return Poll::Ready(());
        }
        self.waiting = true;
        IDLE.with(|w| *w.borrow_mut() = Some(cx.waker().clone()));
        Poll::Pending
    }
}

/// Ready at its second poll: the task goes to the back of the run queue.
struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
