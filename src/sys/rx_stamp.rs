//! When bytes reached this host, from the kernel's receive timestamp.
//!
//! A stamp taken when a thread gets round to reading a socket adds the
//! thread's own wake-up and queue: the mock, under a burst of hundreds of
//! requests (each a large base64 body to validate), reads the last ones
//! milliseconds after they arrived; the client, even when idle, wakes 0.1–0.3 ms
//! after a token's bytes arrive on a KVM guest. With `SO_TIMESTAMPNS` the
//! kernel stamps each segment as it is received (on loopback, inside the
//! sender's `send`), and `recvmsg` hands back the stamp of the newest segment
//! the read consumed. Segments that arrive while earlier ones wait unread are
//! merged into them by the receiving kernel (`tcp_try_coalesce`), and the
//! merged data takes the newest stamp, however little of it a read takes:
//! a stamp is exact for bytes read before the next segment arrived, and
//! otherwise the arrival of the newest segment merged with them. Both the
//! mock (a request's arrival) and the client (each response read) use it.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, RawFd};

use crate::sys::clock::{now_ns, Nanos};

/// Asks the kernel to stamp what this socket receives.
///
/// A raw `setsockopt`: socket2 has no setter for `SO_TIMESTAMPNS`.
pub fn enable_rx_timestamps(socket: &impl AsFd) {
    enable_rx_timestamps_fd(socket.as_fd().as_raw_fd());
}

/// [`enable_rx_timestamps`] on a raw socket fd.
pub fn enable_rx_timestamps_fd(fd: RawFd) {
    let on: libc::c_int = 1;
    // SAFETY: a live socket fd and a live int of the stated size. Failure only
    // means no stamps: reads then fall back to the time they complete.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
}

/// Reads what is waiting on `fd` (non-blocking) into `buf`'s spare capacity.
/// Returns the byte count and when, on this process's monotonic clock, the
/// newest byte read reached the host (`None` without a kernel stamp).
pub fn recv_stamped(fd: RawFd, buf: &mut Vec<u8>) -> io::Result<(usize, Option<Nanos>)> {
    recv_stamped_at(fd, buf).map(|(n, stamp, _)| (n, stamp))
}

/// [`recv_stamped`], also returning the monotonic time the read completed
/// (the user-space stamp, read once for both).
pub fn recv_stamped_at(fd: RawFd, buf: &mut Vec<u8>) -> io::Result<(usize, Option<Nanos>, Nanos)> {
    let spare = buf.spare_capacity_mut();
    let mut iov = libc::iovec {
        iov_base: spare.as_mut_ptr().cast(),
        iov_len: spare.len(),
    };
    // u64s keep the control buffer aligned for cmsghdr.
    let mut control = [0u64; 16];
    // SAFETY: an all-zero msghdr is valid (no name, no iovecs, no control).
    let mut msg: libc::msghdr = unsafe { MaybeUninit::zeroed().assume_init() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: msg points at a live iovec over `buf`'s spare capacity and a
    // live control buffer of the stated size.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = n as usize;
    // SAFETY: the kernel initialised the first n bytes of the spare capacity.
    unsafe { buf.set_len(buf.len() + n) };
    let now = now_ns();
    Ok((
        n,
        kernel_stamp(&msg).and_then(|s| to_monotonic(s, now)),
        now,
    ))
}

/// The `SCM_TIMESTAMPNS` stamp in `msg`'s control data, if any (wall clock).
fn kernel_stamp(msg: &libc::msghdr) -> Option<libc::timespec> {
    // SAFETY: msg's control buffer was filled by recvmsg; the CMSG_* helpers
    // walk it within msg_controllen, and the data of a SCM_TIMESTAMPNS
    // message is a timespec (read unaligned to be safe).
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
            {
                let data = libc::CMSG_DATA(cmsg).cast::<libc::timespec>();
                return Some(std::ptr::read_unaligned(data));
            }
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
    None
}

/// Moves a wall-clock stamp onto the monotonic clock (`now` is the monotonic
/// time read with it), by its age: a stamp from the future (the wall clock
/// stepped) or older than a second (not this request's) is not trusted.
fn to_monotonic(stamp: libc::timespec, now: Nanos) -> Option<Nanos> {
    // SystemTime::now reads the same CLOCK_REALTIME the kernel stamps with.
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128);
    let stamp = stamp.tv_sec as i128 * 1_000_000_000 + stamp.tv_nsec as i128;
    let age = wall - stamp;
    if (0..1_000_000_000).contains(&age) && stamp > 0 {
        Some(now - age as Nanos)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;

    /// A byte written 30 ms before it is read is stamped ~30 ms in the past.
    /// Up to 3 tries: on a loaded 2-core build machine the writer can be
    /// preempted between taking `sent` and writing, which is not the stamp's
    /// fault; a stamp taken at read time misses in every try.
    #[test]
    fn stamp_is_when_bytes_arrived_not_when_read() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        // As the mock does: on the listener (inherited by accepted sockets),
        // early, since the kernel turns stamping on with a deferred switch.
        enable_rx_timestamps(&listener);
        std::thread::sleep(std::time::Duration::from_millis(50));
        let mut misses = Vec::new();
        for _ in 0..3 {
            let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (server, _) = listener.accept().unwrap();
            let sent = now_ns();
            client.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
            std::thread::sleep(std::time::Duration::from_millis(30));
            let mut buf = Vec::with_capacity(1024);
            let (n, stamp) = recv_stamped(server.as_raw_fd(), &mut buf).unwrap();
            let read_at = now_ns();
            assert_eq!(n, 18);
            assert_eq!(&buf, b"GET / HTTP/1.1\r\n\r\n");
            let stamp = stamp.expect("kernel stamp");
            assert!(stamp + 1_000_000 >= sent, "stamp before the send");
            assert!(read_at - stamp >= 25_000_000, "stamp is the read time");
            if stamp <= sent + 5_000_000 {
                return;
            }
            misses.push((stamp - sent) / 1_000);
        }
        panic!("stamp later than 5 ms after the send, us: {misses:?}");
    }

    /// Nothing waiting: WouldBlock, nothing appended.
    #[test]
    fn empty_socket_would_block() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let mut buf = Vec::with_capacity(64);
        let err = recv_stamped(server.as_raw_fd(), &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert!(buf.is_empty());
    }
}
