//! A precise per-worker sleep: monoio's timer wheel rounds up to whole
//! milliseconds, far too coarse for token gaps of a few ms. One timerfd per worker
//! (CLOCK_MONOTONIC, absolute expiry) is armed to the earliest pending deadline;
//! a driver task waits for it through the runtime (io_uring PollAdd or epoll) and
//! wakes every sleeper whose deadline has passed. Deadlines are absolute
//! `units::now_ns()` values, so callers never accumulate drift.
//!
//! Single-threaded by construction (`Rc`/`RefCell`): each worker owns one.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::units::{now_ns, Nanos};

struct State {
    /// (deadline, sleeper id); entries of dropped sleepers are skipped when popped.
    heap: BinaryHeap<Reverse<(Nanos, u64)>>,
    wakers: HashMap<u64, Waker>,
    next_id: u64,
    /// Expiry the timerfd is armed to; 0 when disarmed.
    armed: Nanos,
}

struct Inner {
    /// The timerfd, wrapped in a monoio stream type only so that the runtime can
    /// wait for its readability; it is never read or written through monoio.
    pollable: monoio::net::UnixStream,
    fd: RawFd,
    state: RefCell<State>,
}

/// Handle to a worker's precise timer; cheap to clone within the worker.
#[derive(Clone)]
pub struct PreciseTimer {
    inner: Rc<Inner>,
}

impl PreciseTimer {
    /// Creates the timerfd and spawns its driver task on the current monoio runtime.
    pub fn start() -> io::Result<PreciseTimer> {
        // SAFETY: plain syscall; the result is checked below.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor we own; the std type only carries it
        // (and closes it on drop); no socket call is ever made on it.
        let std_stream = unsafe { std::os::unix::net::UnixStream::from_raw_fd(fd) };
        let pollable = monoio::net::UnixStream::from_std(std_stream)?;
        let inner = Rc::new(Inner {
            fd: pollable.as_raw_fd(),
            pollable,
            state: RefCell::new(State {
                heap: BinaryHeap::new(),
                wakers: HashMap::new(),
                next_id: 1,
                armed: 0,
            }),
        });
        monoio::spawn(drive(inner.clone()));
        Ok(PreciseTimer { inner })
    }

    /// A future that completes at `deadline` (a `now_ns()` value) or right after.
    pub fn sleep_until(&self, deadline: Nanos) -> Sleep {
        Sleep {
            inner: self.inner.clone(),
            deadline,
            id: 0,
        }
    }
}

impl Inner {
    fn arm(&self, st: &mut State, at: Nanos) {
        st.armed = at;
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                // An expiry of exactly 0 would disarm the timer; 1 ns is already past.
                tv_sec: (at / 1_000_000_000) as libc::time_t,
                tv_nsec: (at % 1_000_000_000).max(1) as libc::c_long,
            },
        };
        // SAFETY: `fd` is our live timerfd; `spec` is a valid itimerspec.
        unsafe {
            libc::timerfd_settime(
                self.fd,
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        };
    }

    /// Wakes every sleeper whose deadline has passed and re-arms for the next one.
    fn fire(&self) {
        let mut st = self.state.borrow_mut();
        st.armed = 0;
        let now = now_ns();
        while let Some(&Reverse((deadline, id))) = st.heap.peek() {
            if deadline > now {
                self.arm(&mut st, deadline);
                break;
            }
            st.heap.pop();
            if let Some(w) = st.wakers.remove(&id) {
                w.wake();
            }
        }
    }
}

async fn drive(inner: Rc<Inner>) {
    loop {
        // relaxed = false: on epoll, re-check with poll(2) so that a stale readiness
        // edge (we drain the fd ourselves) does not make this spin.
        if inner.pollable.readable(false).await.is_err() {
            // Cannot happen for a live timerfd; back off rather than spin.
            monoio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let mut expirations = [0u8; 8];
        // SAFETY: reading 8 bytes into a live local buffer from our nonblocking timerfd;
        // EAGAIN (already drained) is fine and ignored.
        unsafe { libc::read(inner.fd, expirations.as_mut_ptr().cast(), 8) };
        inner.fire();
    }
}

/// See [`PreciseTimer::sleep_until`].
pub struct Sleep {
    inner: Rc<Inner>,
    deadline: Nanos,
    /// 0 until registered with the timer.
    id: u64,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if now_ns() >= self.deadline {
            if self.id != 0 {
                self.inner.state.borrow_mut().wakers.remove(&self.id);
                self.id = 0;
            }
            return Poll::Ready(());
        }
        let inner = self.inner.clone();
        let mut st = inner.state.borrow_mut();
        if self.id == 0 {
            let id = st.next_id;
            st.next_id += 1;
            self.id = id;
            st.heap.push(Reverse((self.deadline, id)));
            st.wakers.insert(id, cx.waker().clone());
            if st.armed == 0 || self.deadline < st.armed {
                inner.arm(&mut st, self.deadline);
            }
        } else if let Some(w) = st.wakers.get_mut(&self.id) {
            if !w.will_wake(cx.waker()) {
                *w = cx.waker().clone();
            }
        } else {
            // Woken early (deadline not yet reached by our clock reading): re-register.
            st.wakers.insert(self.id, cx.waker().clone());
            st.heap.push(Reverse((self.deadline, self.id)));
            if st.armed == 0 || self.deadline < st.armed {
                inner.arm(&mut st, self.deadline);
            }
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if self.id != 0 {
            if let Ok(mut st) = self.inner.state.try_borrow_mut() {
                st.wakers.remove(&self.id);
            }
        }
    }
}
