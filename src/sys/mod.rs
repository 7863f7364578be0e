//! The operating system underneath everything else: the clocks (`clock`), a
//! precise per-worker sleep on a timerfd (`timer`), the kernel's receive
//! stamps (`rx_stamp`), zero-copy send notifications (`zerocopy`) and the
//! host's own addresses (`local`).

pub mod batch;
pub mod clock;
pub mod local;
pub mod rx_stamp;
pub mod timer;
pub mod zerocopy;
