//! Zero-copy sends (`MSG_ZEROCOPY`): the kernel sends straight from the
//! caller's pages instead of copying them into socket buffers, and tells the
//! caller on the socket's error queue when it no longer needs them.
//!
//! The pages must stay unchanged until that notification. audioperf sends
//! only request bodies built before the run, which live (read-only) until the
//! process ends, so no send ever waits for one; the notifications are read
//! only to keep the error queue short and to learn whether the kernel copied
//! after all: it does for every send delivered to a socket on this host
//! (loopback, veth), where sending from the pages would let a slow reader pin
//! them indefinitely (Documentation/networking/msg_zerocopy.rst, "Loopback").

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::RawFd;

/// `SO_ZEROCOPY` (asm-generic/socket.h); not in the libc crate.
const SO_ZEROCOPY: libc::c_int = 60;
/// `sock_extended_err.ee_origin` of a zero-copy notification.
const SO_EE_ORIGIN_ZEROCOPY: u8 = 5;
/// `ee_code` flag: the kernel copied the data of the sends notified.
const SO_EE_CODE_ZEROCOPY_COPIED: u8 = 1;

/// Asks the kernel to accept `MSG_ZEROCOPY` sends on `fd`; false when it
/// refuses (kernels before 4.14, socket types without support).
pub fn enable(fd: RawFd) -> bool {
    let on: libc::c_int = 1;
    // SAFETY: a live socket fd and a live int of the stated size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            SO_ZEROCOPY,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    r == 0
}

/// What the notifications read by one [`drain`] said.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Notified {
    /// Zero-copy sends the kernel is done with.
    pub sends: u64,
    /// Of those, sends whose data the kernel copied anyway.
    pub copied: u64,
}

/// Reads every notification waiting on `fd`'s error queue (non-blocking).
/// An error other than an empty queue ends the drain: the connection's next
/// read or write reports it.
pub fn drain(fd: RawFd) -> Notified {
    let mut got = Notified::default();
    loop {
        // u64s keep the control buffer aligned for cmsghdr.
        let mut control = [0u64; 16];
        // SAFETY: an all-zero msghdr is valid (no name, no iovecs).
        let mut msg: libc::msghdr = unsafe { MaybeUninit::zeroed().assume_init() };
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        // SAFETY: msg points at a live control buffer of the stated size.
        let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return got;
        }
        match notification(&msg) {
            Some(n) => {
                got.sends += n.sends;
                got.copied += n.copied;
            }
            // Something else on the error queue (an ICMP error): nothing
            // more is read now.
            None => return got,
        }
    }
}

/// The zero-copy notification in `msg`'s control data: a range of send
/// numbers `[ee_info, ee_data]` and whether they were copied.
fn notification(msg: &libc::msghdr) -> Option<Notified> {
    // SAFETY: the control buffer was filled by recvmsg; the CMSG_* helpers
    // walk it within msg_controllen, and the data of an IP(V6)_RECVERR
    // message is a sock_extended_err (read unaligned to be safe).
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            let c = &*cmsg;
            let recverr = (c.cmsg_level == libc::SOL_IP && c.cmsg_type == libc::IP_RECVERR)
                || (c.cmsg_level == libc::SOL_IPV6 && c.cmsg_type == libc::IPV6_RECVERR);
            if recverr {
                let e: libc::sock_extended_err =
                    std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                if e.ee_errno != 0 || e.ee_origin != SO_EE_ORIGIN_ZEROCOPY {
                    return None;
                }
                let sends = u64::from(e.ee_data.wrapping_sub(e.ee_info)) + 1;
                let copied = if e.ee_code & SO_EE_CODE_ZEROCOPY_COPIED != 0 {
                    sends
                } else {
                    0
                };
                return Some(Notified { sends, copied });
            }
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::time::{Duration, Instant};

    /// Zero-copy sends over loopback arrive intact, every one is notified,
    /// and the kernel says it copied them (the deferred copy of local
    /// delivery), which is what makes `--zero-copy auto` fall back.
    #[test]
    fn loopback_sends_are_notified_as_copied() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        assert!(enable(client.as_raw_fd()), "SO_ZEROCOPY refused");
        let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let fd = client.as_raw_fd();
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            server.read_to_end(&mut got).unwrap();
            got
        });
        let mut calls = 0u64;
        for _ in 0..3 {
            let mut off = 0;
            while off < body.len() {
                let rest = &body[off..];
                // SAFETY: a live slice and our open socket.
                let n =
                    unsafe { libc::send(fd, rest.as_ptr().cast(), rest.len(), libc::MSG_ZEROCOPY) };
                assert!(n > 0, "{}", io::Error::last_os_error());
                off += n as usize;
                calls += 1;
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = Notified::default();
        while seen.sends < calls && Instant::now() < deadline {
            let n = drain(fd);
            seen.sends += n.sends;
            seen.copied += n.copied;
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(client);
        let got = reader.join().unwrap();
        assert_eq!(got.len(), 3 * body.len());
        assert!(got.chunks(body.len()).all(|c| c == body));
        assert_eq!(seen.sends, calls, "{seen:?}");
        assert_eq!(seen.copied, calls, "{seen:?}");
    }

    /// Nothing sent: nothing to read, no error.
    #[test]
    fn empty_queue_drains_to_nothing() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        assert!(enable(client.as_raw_fd()));
        assert_eq!(drain(client.as_raw_fd()), Notified::default());
    }
}
