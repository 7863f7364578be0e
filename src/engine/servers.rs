//! The `--url` servers of a run: each resolved once, with its TLS connector,
//! and whether it is up. Requests go round-robin over them (request `k` to
//! server `k % n`, `Shared::server_for`); a server whose connections keep
//! being refused is marked down for the rest of the run and its share goes
//! to the next server, so the run goes on against the others. With every
//! server down the run stops.

use super::stream::TlsConnector;
use crate::config::{ProfileConfig, Target};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Consecutive refused connects (one worker's) after which a server of a
/// multi-server run is marked down.
pub const DOWN_AFTER_FAILURES: u32 = 3;

/// One server requests are sent to.
pub struct Server {
    pub addr: SocketAddr,
    /// For `https://` servers, built once per run.
    pub tls: Option<TlsConnector>,
    /// "http://host:port/base", for messages.
    pub url: String,
    down: AtomicBool,
    /// When it was marked down (monotonic ns), 0 while up.
    down_at_ns: AtomicU64,
    /// The connect error that marked it down.
    down_reason: std::sync::Mutex<Option<String>>,
}

impl Server {
    #[inline]
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    /// Marks the server down (first caller wins); returns whether this call did.
    pub fn mark_down(&self, at_ns: u64, reason: &str) -> bool {
        if self.down.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.down_at_ns.store(at_ns, Ordering::Release);
        if let Ok(mut r) = self.down_reason.lock() {
            *r = Some(reason.to_string());
        }
        true
    }

    /// When and why it was marked down, if it was.
    pub fn down(&self) -> Option<(u64, String)> {
        if !self.is_down() {
            return None;
        }
        let reason = self
            .down_reason
            .lock()
            .ok()
            .and_then(|r| r.clone())
            .unwrap_or_default();
        Some((self.down_at_ns.load(Ordering::Acquire), reason))
    }
}

pub use crate::record::ServerOutcome;

/// Resolves one target (an unresolvable host is a configuration error).
pub fn resolve_target(t: &Target) -> anyhow::Result<SocketAddr> {
    let mut addrs = (t.host.as_str(), t.port)
        .to_socket_addrs()
        .map_err(|e| anyhow::anyhow!("--url: cannot resolve host '{}': {e}", t.host))?;
    addrs
        .next()
        .ok_or_else(|| anyhow::anyhow!("--url: host '{}' resolved to no address", t.host))
}

/// Every `--url` server, resolved, with its TLS connector.
pub fn servers(cfg: &ProfileConfig) -> anyhow::Result<Vec<Server>> {
    cfg.targets()
        .iter()
        .map(|t| {
            let mut one = cfg.clone();
            one.target = t.clone();
            Ok(Server {
                addr: resolve_target(t)?,
                tls: TlsConnector::for_config(&one).map_err(|e| anyhow::anyhow!("{e}"))?,
                url: t.base_url(),
                down: AtomicBool::new(false),
                down_at_ns: AtomicU64::new(0),
                down_reason: std::sync::Mutex::new(None),
            })
        })
        .collect()
}

/// The head of a request built for `from`'s target, rewritten for `to`'s:
/// the request line's path and our `Host:` line (a `--header Host` the user
/// gave stays as given). Everything after the head is copied unchanged.
pub fn retarget_head(http: &[u8], from: &ProfileConfig, to: &ProfileConfig) -> Vec<u8> {
    let old_path = from.request_path();
    let new_path = to.request_path();
    let old_host = format!("Host: {}\r\n", from.target.host_header);
    let new_host = format!("Host: {}\r\n", to.target.host_header);
    let head_end = memchr::memmem::find(http, b"\r\n\r\n").map_or(http.len(), |i| i + 2);
    let mut out = Vec::with_capacity(http.len() + new_path.len() + new_host.len());
    let mut at = 0;
    let mut first = true;
    while at < head_end {
        let end =
            memchr::memmem::find(&http[at..head_end], b"\r\n").map_or(head_end, |i| at + i + 2);
        let line = &http[at..end];
        if first {
            // "METHOD SP path SP version": only the path changes.
            let text = String::from_utf8_lossy(line);
            let mut parts = text.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(m), Some(p), Some(v)) if p == old_path => {
                    out.extend_from_slice(format!("{m} {new_path} {v}").as_bytes())
                }
                _ => out.extend_from_slice(line),
            }
            first = false;
        } else if line == old_host.as_bytes() {
            out.extend_from_slice(new_host.as_bytes());
        } else {
            out.extend_from_slice(line);
        }
        at = end;
    }
    out.extend_from_slice(&http[head_end..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::request::{write_head, JSON};

    #[test]
    fn retargeted_head_is_the_head_built_for_the_other_server() {
        let a = crate::dataset::test_config();
        let mut b = a.clone();
        b.target = crate::cli::parse_target("http://10.1.2.3:9001/api").unwrap();
        for stream in [true, false] {
            let mut head_a = Vec::new();
            write_head(&mut head_a, &a, JSON, 1234, stream);
            head_a.extend_from_slice(b"{\"body\":1}");
            let mut head_b = Vec::new();
            write_head(&mut head_b, &b, JSON, 1234, stream);
            head_b.extend_from_slice(b"{\"body\":1}");
            assert_eq!(
                String::from_utf8_lossy(&retarget_head(&head_a, &a, &b)),
                String::from_utf8_lossy(&head_b)
            );
        }
        // A user's Host header is theirs: kept for every server.
        let mut a2 = a.clone();
        a2.headers = vec![("Host".into(), "front.example".into())];
        let mut b2 = b.clone();
        b2.headers = a2.headers.clone();
        let mut h = Vec::new();
        write_head(&mut h, &a2, JSON, 5, true);
        let mut expect = Vec::new();
        write_head(&mut expect, &b2, JSON, 5, true);
        assert_eq!(retarget_head(&h, &a2, &b2), expect);
    }

    #[test]
    fn only_one_caller_marks_a_server_down() {
        let s = Server {
            addr: "127.0.0.1:1".parse().unwrap(),
            tls: None,
            url: "http://127.0.0.1:1".into(),
            down: AtomicBool::new(false),
            down_at_ns: AtomicU64::new(0),
            down_reason: std::sync::Mutex::new(None),
        };
        assert!(s.down().is_none());
        assert!(s.mark_down(5, "refused"));
        assert!(!s.mark_down(6, "again"));
        assert_eq!(s.down(), Some((5, "refused".into())));
    }
}
