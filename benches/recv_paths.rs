//! What one response read costs the reading thread, by how it is issued:
//! the question behind the engine's read path, asked without the engine.
//!
//! Method: 64 loopback connections; a sender thread pinned to the last core
//! writes 230-byte segments (one SSE token event's size) round-robin over
//! them at a fixed rate, each with its own `send`, so the reader is mostly
//! idle and wakes for about one segment at a time, as the client does
//! against a server streaming tokens. The reader, pinned to core 0, takes
//! the segments by one of three paths and its thread CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`) is divided by the segments it read:
//! - `poll+recvmsg`: a one-shot io_uring poll per socket, then `recvmsg(2)`
//!   with the kernel's receive stamp (the engine's default, kernel stamps);
//! - `recv op`: one io_uring `RECV` per socket, re-armed after each
//!   completion, stamped with the clock (the engine's `--rx-stamps user`);
//! - `recvmsg multishot`: one multishot io_uring `RECVMSG` per socket for the
//!   whole run, into a ring of provided buffers, with the kernel's stamp in
//!   each completion's control data (what monoio 0.2 cannot put on its ring).
//!
//! Every socket has `SO_TIMESTAMPNS` on in every mode, so the kernel stamps
//! the same. After one uncounted warm-up run, rounds rotate the order of
//! the modes; medians are printed.
//!
//!   cargo bench --bench recv_paths            # ~30 s
//!   ROUNDS=5 RATE=20000 cargo bench --bench recv_paths

use audioperf::sys::clock::{now_ns, thread_cpu_ns};
use audioperf::sys::rx_stamp::{enable_rx_timestamps, recv_stamped};
use io_uring::{cqueue, opcode, types, IoUring};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const CONNS: usize = 64;
const SEGMENT: usize = 230;
/// Provided buffers for the multishot mode (each holds a header, the
/// control data and the payload).
const BUFS: u16 = 256;
const BUF_BYTES: usize = 4096;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    PollRecvmsg,
    RecvOp,
    RecvmsgMulti,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::PollRecvmsg => "poll+recvmsg",
            Mode::RecvOp => "recv op",
            Mode::RecvmsgMulti => "recvmsg multishot",
        }
    }
}

struct Result {
    cpu_us_per_segment: f64,
    segments_per_read: f64,
    stamped_share: f64,
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pin(core: usize) {
    if let Some(ids) = core_affinity::get_core_ids() {
        if let Some(id) = ids.get(core.min(ids.len() - 1)) {
            core_affinity::set_for_current(*id);
        }
    }
}

/// Pairs of (reader side, writer side).
fn connections() -> (Vec<TcpStream>, Vec<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut readers = Vec::new();
    let mut writers = Vec::new();
    for _ in 0..CONNS {
        let w = TcpStream::connect(addr).expect("connect");
        let (r, _) = listener.accept().expect("accept");
        w.set_nodelay(true).expect("nodelay");
        r.set_nonblocking(true).expect("nonblocking");
        enable_rx_timestamps(&r);
        readers.push(r);
        writers.push(w);
    }
    (readers, writers)
}

/// Writes `total` segments round-robin at `rate` per second, spinning on the
/// clock between them (the sender has its own core).
fn send_all(mut writers: Vec<TcpStream>, total: u64, rate: u64, stop: Arc<AtomicBool>) {
    pin(usize::MAX);
    let segment = [b'x'; SEGMENT];
    let gap = 1_000_000_000 / rate.max(1);
    let mut due = now_ns();
    for k in 0..total {
        while now_ns() < due {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            std::hint::spin_loop();
        }
        due += gap;
        let w = &mut writers[k as usize % CONNS];
        if w.write_all(&segment).is_err() {
            return;
        }
    }
    // Keep the connections open until the reader has everything.
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn run(mode: Mode, total: u64, rate: u64) -> Result {
    let (readers, writers) = connections();
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let stop = stop.clone();
        std::thread::spawn(move || send_all(writers, total, rate, stop))
    };
    pin(0);
    let want = total * SEGMENT as u64;
    let cpu0 = thread_cpu_ns();
    let (reads, stamped) = match mode {
        Mode::PollRecvmsg => poll_recvmsg(&readers, want),
        Mode::RecvOp => recv_op(&readers, want),
        Mode::RecvmsgMulti => recvmsg_multi(&readers, want),
    };
    let cpu = thread_cpu_ns() - cpu0;
    stop.store(true, Ordering::Relaxed);
    let _ = sender.join();
    Result {
        cpu_us_per_segment: cpu as f64 / 1e3 / total as f64,
        segments_per_read: total as f64 / reads.max(1) as f64,
        stamped_share: stamped as f64 / reads.max(1) as f64,
    }
}

/// Returns (reads that carried bytes, reads with a kernel stamp).
fn poll_recvmsg(readers: &[TcpStream], want: u64) -> (u64, u64) {
    let mut ring = IoUring::new(256).expect("io_uring");
    let arm = |ring: &mut IoUring, i: usize| {
        let fd = types::Fd(readers[i].as_raw_fd());
        let e = opcode::PollAdd::new(fd, libc::POLLIN as u32)
            .build()
            .user_data(i as u64);
        // SAFETY: the entry refers to no memory.
        unsafe { ring.submission().push(&e).expect("sq") };
    };
    for i in 0..readers.len() {
        arm(&mut ring, i);
    }
    let mut buf = Vec::with_capacity(64 * 1024);
    let (mut got, mut reads, mut stamped) = (0u64, 0u64, 0u64);
    while got < want {
        ring.submit_and_wait(1).expect("enter");
        let ready: Vec<usize> = ring.completion().map(|c| c.user_data() as usize).collect();
        for i in ready {
            buf.clear();
            if let Ok((n, stamp)) = recv_stamped(readers[i].as_raw_fd(), &mut buf) {
                if n > 0 {
                    got += n as u64;
                    reads += 1;
                    stamped += u64::from(stamp.is_some());
                }
            }
            arm(&mut ring, i);
        }
    }
    (reads, stamped)
}

fn recv_op(readers: &[TcpStream], want: u64) -> (u64, u64) {
    let mut ring = IoUring::new(256).expect("io_uring");
    let mut bufs = vec![vec![0u8; 64 * 1024]; readers.len()];
    let arm = |ring: &mut IoUring, bufs: &mut [Vec<u8>], i: usize| {
        let fd = types::Fd(readers[i].as_raw_fd());
        let b = &mut bufs[i];
        let e = opcode::Recv::new(fd, b.as_mut_ptr(), b.len() as u32)
            .build()
            .user_data(i as u64);
        // SAFETY: each buffer lives until the ring is dropped, and one
        // receive at a time uses it.
        unsafe { ring.submission().push(&e).expect("sq") };
    };
    for i in 0..readers.len() {
        arm(&mut ring, &mut bufs, i);
    }
    let (mut got, mut reads, mut stamp_sum) = (0u64, 0u64, 0u64);
    while got < want {
        ring.submit_and_wait(1).expect("enter");
        let done: Vec<(usize, i32)> = ring
            .completion()
            .map(|c| (c.user_data() as usize, c.result()))
            .collect();
        for (i, res) in done {
            if res > 0 {
                got += res as u64;
                reads += 1;
                // The user-space stamp this path dates events with.
                stamp_sum = stamp_sum.wrapping_add(now_ns());
            }
            arm(&mut ring, &mut bufs, i);
        }
    }
    std::hint::black_box(stamp_sum);
    (reads, 0)
}

fn recvmsg_multi(readers: &[TcpStream], want: u64) -> (u64, u64) {
    let mut ring = IoUring::new(256).expect("io_uring");
    // The ring of buffer descriptors (page aligned) and the buffers.
    let ring_bytes = usize::from(BUFS) * std::mem::size_of::<types::BufRingEntry>();
    let layout = std::alloc::Layout::from_size_align(ring_bytes, 4096).expect("layout");
    // SAFETY: a non-zero size; freed at the end of this function.
    let entries = unsafe { std::alloc::alloc_zeroed(layout) } as *mut types::BufRingEntry;
    let mut pool = vec![0u8; usize::from(BUFS) * BUF_BYTES];
    let provide = |bid: u16, tail: u16| {
        // SAFETY: `entries` holds BUFS entries; the slot is masked into range.
        let e = unsafe { &mut *entries.add(usize::from(tail % BUFS)) };
        e.set_addr(pool[usize::from(bid) * BUF_BYTES..].as_ptr() as u64);
        e.set_len(BUF_BYTES as u32);
        e.set_bid(bid);
    };
    let mut tail: u16 = 0;
    for bid in 0..BUFS {
        provide(bid, tail);
        tail = tail.wrapping_add(1);
    }
    // SAFETY: entry 0 is initialised; the tail field lies in it.
    let tail_ptr =
        unsafe { types::BufRingEntry::tail(entries) } as *const std::sync::atomic::AtomicU16;
    // SAFETY: the tail is a u16 the kernel reads; published with release.
    unsafe { (*tail_ptr).store(tail, Ordering::Release) };
    // SAFETY: the descriptor ring and the pool live until the ring is dropped
    // (below, before they are freed).
    unsafe {
        ring.submitter()
            .register_buf_ring(entries as u64, BUFS, 0)
            .expect("register_buf_ring (kernel 5.19+)")
    };
    // The template: room for the control data of one SCM_TIMESTAMPNS.
    // SAFETY: an all-zero msghdr is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_controllen = 64;
    let arm = |ring: &mut IoUring, i: usize| {
        let fd = types::Fd(readers[i].as_raw_fd());
        let e = opcode::RecvMsgMulti::new(fd, &msg, 0)
            .build()
            .user_data(i as u64);
        // SAFETY: `msg` outlives the ring's use of it.
        unsafe { ring.submission().push(&e).expect("sq") };
    };
    for i in 0..readers.len() {
        arm(&mut ring, i);
    }
    let (mut got, mut reads, mut stamped) = (0u64, 0u64, 0u64);
    while got < want {
        ring.submit_and_wait(1).expect("enter");
        let done: Vec<cqueue::Entry> = ring.completion().collect();
        for c in done {
            let i = c.user_data() as usize;
            if let Some(bid) = cqueue::buffer_select(c.flags()) {
                if c.result() > 0 {
                    let at = usize::from(bid) * BUF_BYTES;
                    let data = &pool[at..at + c.result() as usize];
                    if let Ok(out) = types::RecvMsgOut::parse(data, &msg) {
                        got += out.payload_data().len() as u64;
                        reads += 1;
                        stamped += u64::from(out.control_data().len() >= 16);
                    }
                }
                provide(bid, tail);
                tail = tail.wrapping_add(1);
                // SAFETY: as above.
                unsafe { (*tail_ptr).store(tail, Ordering::Release) };
            }
            if !cqueue::more(c.flags()) {
                arm(&mut ring, i);
            }
        }
    }
    drop(ring);
    pool.clear();
    // SAFETY: allocated above with this layout; the ring that used it is gone.
    unsafe { std::alloc::dealloc(entries.cast(), layout) };
    (reads, stamped)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing
    // and only wants it to build.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rounds = env("ROUNDS", 3);
    let rate = env("RATE", 40_000);
    let total = env("SEGMENTS", 160_000);
    let modes = [Mode::PollRecvmsg, Mode::RecvOp, Mode::RecvmsgMulti];
    println!(
        "recv_paths: {CONNS} loopback connections, {SEGMENT}-byte segments, {total} per run at {rate}/s, sender on the last core, reader on core 0, {rounds} rounds"
    );
    // A warm-up run, not counted: the first run of a process reads slower.
    run(Mode::PollRecvmsg, total / 4, rate);
    let mut results: Vec<Vec<Result>> = modes.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for k in 0..modes.len() {
            let m = (k + round as usize) % modes.len();
            results[m].push(run(modes[m], total, rate));
        }
    }
    println!(
        "{:<20} {:>26} {:>18} {:>16}",
        "path", "reader CPU us/segment", "segments/read", "kernel-stamped"
    );
    for (mode, rs) in modes.iter().zip(results) {
        let rounds: Vec<String> = rs
            .iter()
            .map(|r| format!("{:.2}", r.cpu_us_per_segment))
            .collect();
        println!(
            "{:<20} {:>8.2} [{}] {:>18.2} {:>15.0}%",
            mode.name(),
            median(rs.iter().map(|r| r.cpu_us_per_segment).collect()),
            rounds.join(" "),
            median(rs.iter().map(|r| r.segments_per_read).collect()),
            100.0 * median(rs.iter().map(|r| r.stamped_share).collect()),
        );
    }
}
