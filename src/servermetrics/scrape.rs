//! The scraper: one OS thread of its own, off the workers' cores' hot path
//! (a worker never waits on it and shares nothing with it). Every
//! `interval` it GETs each endpoint's `/metrics` with a blocking HTTP/1.1
//! request (std sockets, short timeouts), parses the text and appends one
//! JSONL line per scrape to disk, so nothing but a few counters per
//! endpoint stays in memory however long the run. When told to stop it
//! scrapes every endpoint once more (the counters' end values), then ends.

use super::prom;
use super::store::{self, Scrape};
use crate::config::{Scheme, Target};
use crate::http::chunked::ChunkedDecoder;
use crate::http::response::{parse_response_head, BodyFraming};
use crate::sys::clock::{now_ns, ClockAnchor, Nanos};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Largest `/metrics` body read (vLLM's is ~100 KB); past it the scrape fails.
pub const MAX_BODY: usize = 16 << 20;
/// Most metric families whose types are kept (a hostile server could
/// invent new names on every scrape).
const MAX_FAMILIES: usize = 10_000;
/// How long the run waits for the first scrapes before it starts the load
/// anyway (an endpoint that does not answer only warns).
const FIRST_ROUND_WAIT: Duration = Duration::from_secs(3);
/// Connect and per-read timeout of one scrape, and the most one whole scrape
/// may take: an endpoint that trickles an endless body is cut off, so a
/// hostile `/metrics` delays the run's start and end by seconds at most.
const TIMEOUT: Duration = Duration::from_secs(2);

/// How one endpoint fared over the run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EndpointReport {
    /// "http://host:port/metrics".
    pub url: String,
    pub fetches: u64,
    pub failures: u64,
    /// The first failure, for the one warning a user gets.
    pub first_error: Option<String>,
    /// Sum of scrape times, ns (AIPerf's `avg_fetch_latency_ms`).
    pub latency_ns_sum: u64,
    /// Samples per successful scrape of the last one.
    pub series: usize,
    /// Wall clock (ns) of the first and last successful fetch.
    pub first_fetch_ns: Option<u64>,
    pub last_fetch_ns: Option<u64>,
}

/// What the scraper thread hands back.
#[derive(Debug)]
pub struct ScrapeReport {
    pub endpoints: Vec<EndpointReport>,
    /// The JSONL of every scrape (deleted by the caller unless exported).
    pub path: PathBuf,
    /// The first write error of that file, if any (the scrapes stop being kept).
    pub write_error: Option<io::Error>,
    /// Every family's type (`# TYPE`), over all endpoints.
    pub kinds: BTreeMap<String, prom::Kind>,
    /// Every family's `# HELP` text.
    pub help: BTreeMap<String, String>,
}

/// A running scraper.
pub struct Scraper {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<ScrapeReport>,
}

impl Scraper {
    /// Starts the thread and waits (at most `FIRST_ROUND_WAIT`) for its first
    /// scrape of every endpoint: taken before any load, it holds the
    /// counters' start values.
    pub fn start(
        endpoints: &[Target],
        interval: Duration,
        path: PathBuf,
        anchor: ClockAnchor,
    ) -> io::Result<Scraper> {
        let file = File::create(&path)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let endpoints = endpoints.to_vec();
        let (first_round, done) = std::sync::mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("audioperf-scrape".into())
            .spawn(move || run(endpoints, interval, file, path, anchor, &flag, first_round))?;
        let _ = done.recv_timeout(FIRST_ROUND_WAIT);
        Ok(Scraper { stop, handle })
    }

    /// Takes the last scrape and ends the thread.
    pub fn finish(self) -> Option<ScrapeReport> {
        self.stop.store(true, Ordering::Release);
        self.handle.thread().unpark();
        self.handle.join().ok()
    }
}

fn run(
    endpoints: Vec<Target>,
    interval: Duration,
    file: File,
    path: PathBuf,
    anchor: ClockAnchor,
    stop: &AtomicBool,
    first_round: std::sync::mpsc::Sender<()>,
) -> ScrapeReport {
    let mut kinds = BTreeMap::new();
    let mut help = BTreeMap::new();
    let mut out = BufWriter::with_capacity(1 << 16, file);
    let mut reports: Vec<EndpointReport> = endpoints
        .iter()
        .map(|t| EndpointReport {
            url: t.base_url(),
            ..Default::default()
        })
        .collect();
    let addrs: Vec<Option<SocketAddr>> = endpoints
        .iter()
        .map(|t| (t.host.as_str(), t.port).to_socket_addrs().ok()?.next())
        .collect();
    let mut write_error = None;
    let step = interval.as_nanos() as Nanos;
    let mut next = now_ns();
    loop {
        let last = stop.load(Ordering::Acquire);
        for (i, t) in endpoints.iter().enumerate() {
            let begin = now_ns();
            let got = fetch(t, addrs[i]);
            let end = now_ns();
            let r = &mut reports[i];
            match got {
                Ok(text) => {
                    r.fetches += 1;
                    r.latency_ns_sum += end - begin;
                    r.first_fetch_ns.get_or_insert(anchor.wall_of(begin));
                    r.last_fetch_ns = Some(anchor.wall_of(begin));
                    let parsed = prom::parse(&text);
                    r.series = parsed.samples.len();
                    for (name, kind) in &parsed.types {
                        if !kinds.contains_key(name) && kinds.len() < MAX_FAMILIES {
                            kinds.insert(name.clone(), *kind);
                            if let Some(h) = parsed.help.get(name) {
                                help.insert(name.clone(), h.chars().take(1000).collect());
                            }
                        }
                    }
                    if write_error.is_none() {
                        let wall = anchor.wall_of(begin);
                        let scrape = Scrape::from_exposition(&r.url, wall, end - begin, &parsed);
                        if let Err(e) = store::write_line(&mut out, &scrape) {
                            write_error = Some(e);
                        }
                    }
                }
                Err(e) => {
                    r.failures += 1;
                    r.first_error.get_or_insert(e);
                }
            }
        }
        let _ = first_round.send(());
        if last {
            break;
        }
        // Ticks stay on the grid; a slow scrape skips ticks, never bunches them.
        let now = now_ns();
        next += step;
        if next < now {
            next = now + step - (now - next) % step;
        }
        while !stop.load(Ordering::Acquire) {
            let now = now_ns();
            if now >= next {
                break;
            }
            std::thread::park_timeout(Duration::from_nanos(next - now));
        }
    }
    if let Err(e) = out.flush() {
        write_error.get_or_insert(e);
    }
    ScrapeReport {
        endpoints: reports,
        path,
        write_error,
        kinds,
        help,
    }
}

/// One GET of `t`: the body as text, or what went wrong.
fn fetch(t: &Target, addr: Option<SocketAddr>) -> Result<String, String> {
    if t.scheme == Scheme::Https {
        return Err("https:// metrics endpoints are not scraped by audioperf".into());
    }
    let addr = addr.ok_or_else(|| format!("cannot resolve host '{}'", t.host))?;
    let mut s = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| format!("connect: {e}"))?;
    let _ = s.set_read_timeout(Some(TIMEOUT));
    let _ = s.set_write_timeout(Some(TIMEOUT));
    let path = if t.base_path.is_empty() {
        "/"
    } else {
        &t.base_path
    };
    let req = format!(
        "GET {path}{} HTTP/1.1\r\nHost: {}\r\nAccept: text/plain\r\nConnection: close\r\nUser-Agent: audioperf/{}\r\n\r\n",
        t.query,
        t.host_header,
        env!("CARGO_PKG_VERSION")
    );
    s.write_all(req.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let deadline = std::time::Instant::now() + TIMEOUT;
    let late = || {
        (std::time::Instant::now() > deadline)
            .then(|| format!("no complete response within {TIMEOUT:?}"))
    };
    let mut buf = Vec::with_capacity(64 << 10);
    let mut chunk = [0u8; 64 << 10];
    let head = loop {
        if let Some(e) = late() {
            return Err(e);
        }
        let n = s.read(&mut chunk).map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("connection closed before a response head".into());
        }
        buf.extend_from_slice(&chunk[..n]);
        match parse_response_head(&buf) {
            Ok(Some(h)) => break h,
            Ok(None) => continue,
            Err(e) => return Err(format!("bad response head: {e:?}")),
        }
    };
    if head.status != 200 {
        return Err(format!("HTTP {}", head.status));
    }
    let mut body = buf.split_off(head.head_len);
    let mut read_more = |body: &mut Vec<u8>| -> Result<bool, String> {
        if let Some(e) = late() {
            return Err(e);
        }
        let n = s.read(&mut chunk).map_err(|e| format!("read: {e}"))?;
        body.extend_from_slice(&chunk[..n]);
        if body.len() > MAX_BODY {
            return Err(format!("body larger than {MAX_BODY} bytes"));
        }
        Ok(n > 0)
    };
    match head.framing {
        BodyFraming::ContentLength(n) => {
            if n > MAX_BODY as u64 {
                return Err(format!("body larger than {MAX_BODY} bytes"));
            }
            while (body.len() as u64) < n {
                if !read_more(&mut body)? {
                    return Err("connection closed inside the body".into());
                }
            }
            body.truncate(n as usize);
        }
        BodyFraming::UntilClose => while read_more(&mut body)? {},
        BodyFraming::Chunked => {
            let mut raw = body;
            loop {
                let mut dec = ChunkedDecoder::new();
                let mut plain = Vec::with_capacity(raw.len());
                let st = dec
                    .decode(&raw, |d| plain.extend_from_slice(d))
                    .map_err(|e| format!("bad chunked body: {e:?}"))?;
                if st.done {
                    body = plain;
                    break;
                }
                if !read_more(&mut raw)? {
                    return Err("connection closed inside the body".into());
                }
            }
        }
    }
    String::from_utf8(body).map_err(|_| "the body is not UTF-8 text".into())
}
