//! Per `--url` server: how many profiling requests went to it, how they
//! ended, and their latency (ms) and TTFT (ms) summaries. Folded one record
//! at a time on the collector thread; one bounded `Series` per server and
//! metric, so memory does not grow with the run.

use super::stats::{Series, Stats};
use crate::record::RequestRecord;

/// One server's tally.
#[derive(Clone, Debug, Default)]
pub struct ServerTally {
    /// Profiling requests sent to it (success + error + cancelled).
    pub requests: u64,
    pub successful: u64,
    pub errors: u64,
    pub cancelled: u64,
    /// The first error message seen (e.g. the connect error of a dead server).
    pub first_error: Option<String>,
    latency_ms: Series,
    ttft_ms: Series,
}

impl ServerTally {
    pub fn latency_ms(&self) -> Option<Stats> {
        self.latency_ms.stats()
    }

    pub fn ttft_ms(&self) -> Option<Stats> {
        self.ttft_ms.stats()
    }
}

/// Every server's tally (index = `RequestRecord::server`).
#[derive(Clone, Debug, Default)]
pub struct PerServer {
    pub servers: Vec<ServerTally>,
}

/// Most servers tallied (a record's index is a u16; the CLI allows 65535).
const MAX_SERVERS: usize = 1 << 16;

impl PerServer {
    /// Folds one finished request in (warmup requests are left out).
    pub fn add(&mut self, r: &RequestRecord) {
        if r.warmup {
            return;
        }
        let i = r.server as usize;
        if i >= MAX_SERVERS {
            return;
        }
        if self.servers.len() <= i {
            self.servers.resize_with(i + 1, ServerTally::default);
        }
        let t = &mut self.servers[i];
        t.requests += 1;
        if r.cancelled {
            t.cancelled += 1;
        } else if let Some(e) = &r.error {
            t.errors += 1;
            if t.first_error.is_none() {
                t.first_error = Some(e.message.chars().take(300).collect());
            }
        } else {
            t.successful += 1;
            t.latency_ms
                .push(r.end_ns.saturating_sub(r.start_ns) as f64 / 1e6);
            if let Some(first) = r.token_ns.first() {
                t.ttft_ms
                    .push(first.saturating_sub(r.start_ns) as f64 / 1e6);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ErrorKind, RequestError};

    #[test]
    fn each_request_counts_for_its_server() {
        let mut p = PerServer::default();
        let ok = |server: u16, ms: u64| RequestRecord {
            server,
            start_ns: 1_000_000,
            end_ns: 1_000_000 + ms * 1_000_000,
            ..Default::default()
        };
        p.add(&ok(0, 10));
        p.add(&ok(1, 20));
        p.add(&ok(1, 30));
        p.add(&RequestRecord {
            server: 1,
            error: Some(RequestError {
                kind: ErrorKind::Connect,
                code: None,
                message: "refused".into(),
            }),
            ..Default::default()
        });
        p.add(&RequestRecord {
            server: 0,
            warmup: true,
            ..Default::default()
        });
        assert_eq!(p.servers.len(), 2);
        assert_eq!((p.servers[0].requests, p.servers[0].successful), (1, 1));
        let s1 = &p.servers[1];
        assert_eq!((s1.requests, s1.successful, s1.errors), (3, 2, 1));
        assert_eq!(s1.first_error.as_deref(), Some("refused"));
        assert_eq!(s1.latency_ms().unwrap().avg, 25.0);
    }
}
