//! Whether an address belongs to this host: a server on the same machine
//! competes with the client for its cores, which a benchmark must pin apart.

use std::net::IpAddr;

/// True for loopback and unspecified addresses and for any address of one of
/// this host's interfaces.
pub fn is_this_host(ip: IpAddr) -> bool {
    if ip.is_loopback() || ip.is_unspecified() {
        return true;
    }
    interface_addrs().contains(&ip)
}

/// The IPv4 and IPv6 addresses of this host's interfaces (empty when they
/// cannot be listed).
fn interface_addrs() -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return out;
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned; its
        // ifa_addr is null or points at a sockaddr of the family it names.
        unsafe {
            let addr = (*cur).ifa_addr;
            if !addr.is_null() {
                match i32::from((*addr).sa_family) {
                    libc::AF_INET => {
                        let a = &*(addr as *const libc::sockaddr_in);
                        out.push(IpAddr::from(u32::from_be(a.sin_addr.s_addr).to_be_bytes()));
                    }
                    libc::AF_INET6 => {
                        let a = &*(addr as *const libc::sockaddr_in6);
                        out.push(IpAddr::from(a.sin6_addr.s6_addr));
                    }
                    _ => {}
                }
            }
            cur = (*cur).ifa_next;
        }
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_own_interfaces_are_this_host() {
        assert!(is_this_host("127.0.0.1".parse().unwrap()));
        assert!(is_this_host("::1".parse().unwrap()));
        assert!(is_this_host("0.0.0.0".parse().unwrap()));
        // Every listed interface address is this host's, and 127.0.0.1 is listed (lo).
        let own = interface_addrs();
        assert!(own.contains(&"127.0.0.1".parse().unwrap()), "{own:?}");
        // A documentation address (TEST-NET-3) is nobody's interface.
        assert!(!is_this_host("203.0.113.7".parse().unwrap()));
    }
}
