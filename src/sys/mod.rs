//! The operating system underneath everything else: the clocks (`clock`) and a
//! precise per-worker sleep on a timerfd (`timer`).

pub mod clock;
pub mod timer;
