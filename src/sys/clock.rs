//! Time units and the clock. All timestamps in audioperf are `Nanos` read from
//! CLOCK_MONOTONIC; wall-clock time is derived once per run from an anchor pair.

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds, monotonic clock unless a name says otherwise.
pub type Nanos = u64;

pub const NANOS_PER_MS: f64 = 1_000_000.0;
pub const NANOS_PER_SEC: f64 = 1_000_000_000.0;

/// Reads CLOCK_MONOTONIC (a vDSO call, ~20 ns, no syscall, no lock).
#[inline]
pub fn now_ns() -> Nanos {
    read(libc::CLOCK_MONOTONIC)
}

/// CPU time the calling thread has used (user + system).
pub fn thread_cpu_ns() -> Nanos {
    read(libc::CLOCK_THREAD_CPUTIME_ID)
}

#[inline]
fn read(clock: libc::clockid_t) -> Nanos {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own; both clocks used
    // here always exist on Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A pair of (monotonic, wall) readings taken together, used to turn monotonic
/// timestamps into wall-clock nanoseconds since the Unix epoch for exports.
#[derive(Clone, Copy, Debug)]
pub struct ClockAnchor {
    pub mono_ns: Nanos,
    pub wall_ns: u64,
}

impl ClockAnchor {
    pub fn now() -> Self {
        let mono_ns = now_ns();
        let wall_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        ClockAnchor { mono_ns, wall_ns }
    }

    /// Wall-clock ns since the Unix epoch of a monotonic timestamp.
    pub fn wall_of(&self, mono: Nanos) -> u64 {
        (self.wall_ns as i128 + mono as i128 - self.mono_ns as i128).max(0) as u64
    }

    /// The monotonic time of a wall-clock time (the inverse of `wall_of`).
    pub fn mono_of(&self, wall_ns: u64) -> Nanos {
        (self.mono_ns as i128 + wall_ns as i128 - self.wall_ns as i128).max(0) as Nanos
    }
}

pub fn ns_to_ms(ns: u64) -> f64 {
    ns as f64 / NANOS_PER_MS
}

pub fn ns_to_sec(ns: u64) -> f64 {
    ns as f64 / NANOS_PER_SEC
}
