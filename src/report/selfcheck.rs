//! The client's self-report: proof that audioperf itself was not the
//! bottleneck. Turns `RunOutput::workers` (CPU, wall, loop-lag histograms)
//! and the schedule lag into per-worker busy fractions, merged loop-lag
//! percentiles and one saturation verdict, for the log, the console warning
//! and the `audioperf` object of `profile_export_aiperf.json`.
//!
//! Computes from finished runs only; nothing here runs during the load.

use serde_json::json;

use crate::metrics::{MetricId, MetricsSummary};
use crate::record::{IoCounts, IoDriver, RunOutput};
use crate::sys::clock::NANOS_PER_MS;

use super::ordered::Ordered;

/// A worker busier than this (CPU time / wall time) may have delayed requests.
pub const BUSY_LIMIT: f64 = 0.80;
/// Loop lag p99 above this (ms): timers and reads were served late.
pub const LOOP_LAG_P99_LIMIT_MS: f64 = 2.0;
/// Schedule lag p99 above this (ms): arrivals were sent late (open loop).
pub const SCHEDULE_LAG_P99_LIMIT_MS: f64 = 2.0;
/// Send lag p99 above this (ms): requests reached the kernel late after
/// their start stamp (a client sharing cores with a local server, say).
pub const SEND_LAG_P99_LIMIT_MS: f64 = 1.0;

/// One worker thread's load.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkerLoad {
    pub worker: u16,
    pub requests: u64,
    pub events: u64,
    pub bytes_read: u64,
    pub cpu_sec: f64,
    pub wall_sec: f64,
    /// CPU time / wall time (0 when the wall time is unknown).
    pub busy: f64,
    pub loop_lag_p99_ms: f64,
    pub loop_lag_max_ms: f64,
}

/// The client's own cost and health over the whole run.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientReport {
    pub io_driver: &'static str,
    /// CPU time of all workers together.
    pub cpu_sec: f64,
    /// `cpu_sec` per request sent (warmup included, as the workers count).
    pub cpu_per_request_us: f64,
    /// Loop lag over every worker's merged histogram (None without histograms).
    pub loop_lag_p50_ms: Option<f64>,
    pub loop_lag_p99_ms: Option<f64>,
    pub loop_lag_max_ms: Option<f64>,
    /// p99 of `schedule_lag` (open loop only).
    pub schedule_lag_p99_ms: Option<f64>,
    /// Request start stamp to its first bytes handed to the kernel.
    pub send_lag_p50_ms: Option<f64>,
    pub send_lag_p99_ms: Option<f64>,
    /// Kernel-stamped reads: completion minus the kernel's stamp, the error
    /// user-space stamps would have added (the cross-check).
    pub wake_lag_p50_ms: Option<f64>,
    pub wake_lag_p99_ms: Option<f64>,
    /// Sends and reads by path, over every worker.
    pub io: IoCounts,
    pub workers: Vec<WorkerLoad>,
}

/// Adds histograms (never their percentiles); None when there are none, they
/// are all empty, or their bounds differ.
fn merged<'a>(
    hs: impl Iterator<Item = &'a hdrhistogram::Histogram<u64>>,
) -> Option<hdrhistogram::Histogram<u64>> {
    let mut out: Option<hdrhistogram::Histogram<u64>> = None;
    for h in hs {
        match out.as_mut() {
            None => out = Some(h.clone()),
            Some(m) => m.add(h).ok()?,
        }
    }
    out.filter(|h| !h.is_empty())
}

/// p50 and p99 of a merged histogram, in ms.
fn p50_p99_ms(h: Option<hdrhistogram::Histogram<u64>>) -> (Option<f64>, Option<f64>) {
    match h {
        Some(h) => (
            Some(h.value_at_quantile(0.50) as f64 / NANOS_PER_MS),
            Some(h.value_at_quantile(0.99) as f64 / NANOS_PER_MS),
        ),
        None => (None, None),
    }
}

impl ClientReport {
    pub fn new(run: &RunOutput, summary: &MetricsSummary) -> ClientReport {
        let workers: Vec<WorkerLoad> = run
            .workers
            .iter()
            .map(|w| WorkerLoad {
                worker: w.worker,
                requests: w.requests,
                events: w.events,
                bytes_read: w.bytes_read,
                cpu_sec: w.cpu_ns as f64 / 1e9,
                wall_sec: w.wall_ns as f64 / 1e9,
                busy: if w.wall_ns > 0 {
                    w.cpu_ns as f64 / w.wall_ns as f64
                } else {
                    0.0
                },
                loop_lag_p99_ms: w.p99_loop_lag_ns as f64 / NANOS_PER_MS,
                loop_lag_max_ms: w.max_loop_lag_ns as f64 / NANOS_PER_MS,
            })
            .collect();
        // Histograms are added, never their percentiles averaged. Same
        // bounds on every worker; should an add fail, loop lag falls back to
        // the worst worker's own numbers below.
        let merged = merged(run.workers.iter().filter_map(|w| w.loop_lag.as_ref()));
        let (send_lag_p50_ms, send_lag_p99_ms) = p50_p99_ms(self::merged(
            run.workers.iter().filter_map(|w| w.send_lag.as_ref()),
        ));
        let (wake_lag_p50_ms, wake_lag_p99_ms) = p50_p99_ms(self::merged(
            run.workers.iter().filter_map(|w| w.wake_lag.as_ref()),
        ));
        let mut io = IoCounts::default();
        for w in &run.workers {
            io.add(&w.io);
        }
        let ms = |ns: u64| ns as f64 / NANOS_PER_MS;
        let worst = |f: fn(&WorkerLoad) -> f64| {
            workers
                .iter()
                .map(f)
                .fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.max(v))))
        };
        let (p50, p99, max) = match &merged {
            Some(h) => (
                Some(ms(h.value_at_quantile(0.50))),
                Some(ms(h.value_at_quantile(0.99))),
                Some(ms(h.max())),
            ),
            None => (
                None,
                worst(|w| w.loop_lag_p99_ms),
                worst(|w| w.loop_lag_max_ms),
            ),
        };
        let cpu_ns: u64 = run.workers.iter().map(|w| w.cpu_ns).sum();
        let requests: u64 = run.workers.iter().map(|w| w.requests).sum();
        ClientReport {
            io_driver: run.io_driver.map_or("unknown", IoDriver::as_str),
            cpu_sec: cpu_ns as f64 / 1e9,
            cpu_per_request_us: if requests > 0 {
                cpu_ns as f64 / 1e3 / requests as f64
            } else {
                0.0
            },
            loop_lag_p50_ms: p50,
            loop_lag_p99_ms: p99,
            loop_lag_max_ms: max,
            schedule_lag_p99_ms: summary.stats(MetricId::ScheduleLag).map(|s| s.p99),
            send_lag_p50_ms,
            send_lag_p99_ms,
            wake_lag_p50_ms,
            wake_lag_p99_ms,
            io,
            workers,
        }
    }

    /// Which send path ran: `zero-copy`, `copy`, or both with the counts,
    /// and how many zero-copy sends the kernel said it copied anyway.
    pub fn send_path(&self) -> String {
        let io = &self.io;
        let zero_copy = || {
            let mut s = format!("zero-copy {} sends", io.zero_copy_sends);
            if io.zero_copy_copied > 0 {
                s.push_str(&format!(
                    " ({} notified, {} of them in ranges the kernel flagged copied: it copies zero-copy sends to a socket on this host)",
                    io.zero_copy_notified, io.zero_copy_copied
                ));
            }
            s
        };
        match (io.zero_copy_sends, io.copy_sends) {
            (0, 0) => "none".into(),
            (0, _) => "copy".into(),
            (_, 0) => zero_copy(),
            (_, c) => format!("{}, copy {c} sends", zero_copy()),
        }
    }

    /// Reads per read-batching window slept; None when no window was.
    pub fn reads_per_batch_window(&self) -> Option<f64> {
        (self.io.batch_windows > 0)
            .then(|| self.io.batch_window_reads as f64 / self.io.batch_windows as f64)
    }

    /// Which clock stamped the response reads: `kernel`, `user`, or both.
    pub fn rx_stamps(&self) -> String {
        match (self.io.kernel_stamped_reads, self.io.user_stamped_reads) {
            (0, 0) => "none".into(),
            (_, 0) => "kernel".into(),
            (0, _) => "user".into(),
            (k, u) => format!("kernel {k} reads, user {u} reads"),
        }
    }

    /// Why the client may have been the bottleneck; empty when it was not.
    pub fn saturation(&self) -> Vec<String> {
        let mut why = Vec::new();
        for w in &self.workers {
            if w.busy > BUSY_LIMIT {
                why.push(format!(
                    "worker {} was {:.0}% busy",
                    w.worker,
                    100.0 * w.busy
                ));
            }
        }
        if let Some(p99) = self.loop_lag_p99_ms.filter(|&v| v > LOOP_LAG_P99_LIMIT_MS) {
            why.push(format!(
                "loop lag p99 {p99:.2} ms > {LOOP_LAG_P99_LIMIT_MS} ms"
            ));
        }
        if let Some(p99) = self
            .schedule_lag_p99_ms
            .filter(|&v| v > SCHEDULE_LAG_P99_LIMIT_MS)
        {
            why.push(format!(
                "schedule lag p99 {p99:.2} ms > {SCHEDULE_LAG_P99_LIMIT_MS} ms"
            ));
        }
        if let Some(p99) = self.send_lag_p99_ms.filter(|&v| v > SEND_LAG_P99_LIMIT_MS) {
            why.push(format!(
                "send lag p99 {p99:.2} ms > {SEND_LAG_P99_LIMIT_MS} ms"
            ));
        }
        why
    }

    /// The one console line printed when the client was saturated.
    pub fn warning(&self) -> Option<String> {
        let why = self.saturation();
        (!why.is_empty()).then(|| {
            format!(
                "WARNING: the client may have been the bottleneck ({}); latencies may include client delay: give the client more or less loaded cores before trusting these numbers.",
                why.join(", ")
            )
        })
    }

    /// Lines for the run log: the driver, the totals, one per worker.
    pub fn log_lines(&self) -> Vec<String> {
        let opt = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.2} ms"));
        let mut lines = vec![
            format!("I/O driver: {}", self.io_driver),
            format!(
                "I/O paths: sends {}; response stamps {}; send lag p50 {} p99 {}; kernel stamp vs read completion p50 {} p99 {}",
                self.send_path(),
                self.rx_stamps(),
                opt(self.send_lag_p50_ms),
                opt(self.send_lag_p99_ms),
                opt(self.wake_lag_p50_ms),
                opt(self.wake_lag_p99_ms),
            ),
            format!(
                "client: CPU {:.3} s ({:.1} us/request), loop lag p50 {} p99 {} max {}{}",
                self.cpu_sec,
                self.cpu_per_request_us,
                opt(self.loop_lag_p50_ms),
                opt(self.loop_lag_p99_ms),
                opt(self.loop_lag_max_ms),
                self.schedule_lag_p99_ms
                    .map_or(String::new(), |v| format!(", schedule lag p99 {v:.2} ms")),
            ),
        ];
        for w in &self.workers {
            lines.push(format!(
                "worker {}: {} requests, {} events, {:.1} MB read, CPU {:.3} s of {:.3} s wall ({:.1}% busy, {:.1} us/request), loop lag p99 {:.2} ms max {:.2} ms",
                w.worker,
                w.requests,
                w.events,
                w.bytes_read as f64 / 1e6,
                w.cpu_sec,
                w.wall_sec,
                100.0 * w.busy,
                w.cpu_sec * 1e6 / w.requests.max(1) as f64,
                w.loop_lag_p99_ms,
                w.loop_lag_max_ms,
            ));
        }
        lines
    }

    /// The `audioperf` object of `profile_export_aiperf.json`.
    pub(crate) fn to_json(&self) -> Ordered {
        let v = |x: serde_json::Value| Ordered::Val(x);
        let workers = self
            .workers
            .iter()
            .map(|w| {
                Ordered::Obj(vec![
                    ("worker".into(), v(json!(w.worker))),
                    ("requests".into(), v(json!(w.requests))),
                    ("events".into(), v(json!(w.events))),
                    ("bytes_read".into(), v(json!(w.bytes_read))),
                    ("cpu_sec".into(), v(json!(w.cpu_sec))),
                    ("wall_sec".into(), v(json!(w.wall_sec))),
                    ("busy_fraction".into(), v(json!(w.busy))),
                    ("loop_lag_p99_ms".into(), v(json!(w.loop_lag_p99_ms))),
                    ("loop_lag_max_ms".into(), v(json!(w.loop_lag_max_ms))),
                ])
            })
            .collect();
        let why = self.saturation();
        Ordered::Obj(vec![
            ("io_driver".into(), v(json!(self.io_driver))),
            ("client_cpu_sec".into(), v(json!(self.cpu_sec))),
            (
                "client_cpu_per_request_us".into(),
                v(json!(self.cpu_per_request_us)),
            ),
            ("loop_lag_p50_ms".into(), v(json!(self.loop_lag_p50_ms))),
            ("loop_lag_p99_ms".into(), v(json!(self.loop_lag_p99_ms))),
            ("loop_lag_max_ms".into(), v(json!(self.loop_lag_max_ms))),
            (
                "schedule_lag_p99_ms".into(),
                v(json!(self.schedule_lag_p99_ms)),
            ),
            ("send_lag_p50_ms".into(), v(json!(self.send_lag_p50_ms))),
            ("send_lag_p99_ms".into(), v(json!(self.send_lag_p99_ms))),
            ("send_path".into(), v(json!(self.send_path()))),
            ("zero_copy_sends".into(), v(json!(self.io.zero_copy_sends))),
            (
                "zero_copy_copied_by_kernel".into(),
                v(json!(self.io.zero_copy_copied)),
            ),
            ("copy_sends".into(), v(json!(self.io.copy_sends))),
            ("rx_stamps".into(), v(json!(self.rx_stamps()))),
            (
                "kernel_stamped_reads".into(),
                v(json!(self.io.kernel_stamped_reads)),
            ),
            (
                "user_stamped_reads".into(),
                v(json!(self.io.user_stamped_reads)),
            ),
            ("read_batch_windows".into(), v(json!(self.io.batch_windows))),
            (
                "reads_per_batch_window".into(),
                v(json!(self.reads_per_batch_window())),
            ),
            (
                "user_minus_kernel_stamp_p50_ms".into(),
                v(json!(self.wake_lag_p50_ms)),
            ),
            (
                "user_minus_kernel_stamp_p99_ms".into(),
                v(json!(self.wake_lag_p99_ms)),
            ),
            ("client_saturated".into(), v(json!(!why.is_empty()))),
            ("saturation_reasons".into(), v(json!(why))),
            ("workers".into(), Ordered::Arr(workers)),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{compute, tests::open_loop_run, tests::sample_run, ComputeOptions};
    use crate::record::{IoCounts, WorkerStats};

    fn hist(values_ns: &[u64]) -> hdrhistogram::Histogram<u64> {
        let mut h = hdrhistogram::Histogram::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        for &v in values_ns {
            h.record(v).unwrap();
        }
        h
    }

    fn worker(w: u16, cpu_ms: u64, wall_ms: u64, lag_ns: &[u64]) -> WorkerStats {
        let h = hist(lag_ns);
        WorkerStats {
            worker: w,
            cpu_ns: cpu_ms * 1_000_000,
            wall_ns: wall_ms * 1_000_000,
            requests: 100,
            events: 1_000,
            bytes_read: 2_000_000,
            max_loop_lag_ns: h.max(),
            p99_loop_lag_ns: h.value_at_quantile(0.99),
            loop_lag: Some(h),
            send_lag: None,
            wake_lag: None,
            io: Default::default(),
        }
    }

    fn report(run: &RunOutput) -> ClientReport {
        let s = compute(
            run,
            &crate::tokens::from_server_usage(run),
            &ComputeOptions::default(),
        );
        ClientReport::new(run, &s)
    }

    #[test]
    fn healthy_client_gives_no_warning() {
        let mut run = sample_run();
        run.io_driver = Some(IoDriver::IoUring);
        // 100 x 0.1 ms on worker 0, 100 x 0.3 ms on worker 1.
        run.workers = vec![
            worker(0, 100, 1_000, &[100_000; 100]),
            worker(1, 300, 1_000, &[300_000; 100]),
        ];
        let c = report(&run);
        assert!((c.cpu_sec - 0.4).abs() < 1e-12);
        // 0.4 s over 200 requests.
        assert!((c.cpu_per_request_us - 2_000.0).abs() < 1e-9);
        assert!((c.workers[0].busy - 0.1).abs() < 1e-12);
        assert!((c.workers[1].busy - 0.3).abs() < 1e-12);
        // Merged histogram: half at 0.1 ms, half at 0.3 ms (3 significant digits).
        let p50 = c.loop_lag_p50_ms.unwrap();
        let p99 = c.loop_lag_p99_ms.unwrap();
        assert!((p50 - 0.1).abs() < 0.001, "{p50}");
        assert!((p99 - 0.3).abs() < 0.001, "{p99}");
        assert!((c.loop_lag_max_ms.unwrap() - 0.3).abs() < 0.001);
        assert_eq!(c.schedule_lag_p99_ms, None);
        assert!(c.saturation().is_empty());
        assert_eq!(c.warning(), None);
        let lines = c.log_lines();
        assert_eq!(lines[0], "I/O driver: io_uring");
        assert_eq!(lines.len(), 5);
        assert!(
            lines[4].starts_with("worker 1: 100 requests, 1000 events, 2.0 MB read, CPU 0.300 s of 1.000 s wall (30.0% busy, 3000.0 us/request)"),
            "{}",
            lines[4]
        );
    }

    /// Send lag p99 over 1 ms warns; the stamp cross-check and the paths
    /// that ran are reported from the workers' counts.
    #[test]
    fn send_lag_and_io_paths() {
        let mut run = sample_run();
        let mut w0 = worker(0, 100, 1_000, &[100_000]);
        // 96 requests handed to the kernel within 20 us, 4 after 3 ms.
        let mut sends = vec![20_000u64; 96];
        sends.extend([3_000_000; 4]);
        w0.send_lag = Some(hist(&sends));
        w0.wake_lag = Some(hist(&[40_000; 10]));
        w0.io = IoCounts {
            zero_copy_sends: 4,
            zero_copy_notified: 4,
            zero_copy_copied: 4,
            copy_sends: 96,
            kernel_stamped_reads: 10,
            user_stamped_reads: 0,
            batch_windows: 2,
            batch_window_reads: 7,
        };
        let mut w1 = worker(1, 100, 1_000, &[100_000]);
        w1.send_lag = Some(hist(&[20_000; 100]));
        w1.io.copy_sends = 100;
        run.workers = vec![w0, w1];
        let c = report(&run);
        // 4 of 200 at 3 ms: the p99 is 3 ms (3 significant digits).
        assert!(
            (c.send_lag_p99_ms.unwrap() - 3.0).abs() < 0.01,
            "{:?}",
            c.send_lag_p99_ms
        );
        assert!((c.send_lag_p50_ms.unwrap() - 0.02).abs() < 0.001);
        assert_eq!(
            c.saturation(),
            vec!["send lag p99 3.00 ms > 1 ms".to_string()]
        );
        assert!((c.wake_lag_p50_ms.unwrap() - 0.04).abs() < 0.001);
        assert_eq!(c.rx_stamps(), "kernel");
        assert_eq!(
            c.send_path(),
            "zero-copy 4 sends (4 notified, 4 of them in ranges the kernel flagged copied: it copies zero-copy sends to a socket on this host), copy 196 sends"
        );
        let v = serde_json::to_value(c.to_json()).unwrap();
        assert_eq!(v["zero_copy_sends"], 4);
        assert_eq!(v["zero_copy_copied_by_kernel"], 4);
        assert_eq!(v["copy_sends"], 196);
        assert_eq!(v["kernel_stamped_reads"], 10);
        assert_eq!(v["user_stamped_reads"], 0);
        assert_eq!(v["read_batch_windows"], 2);
        assert_eq!(v["reads_per_batch_window"], 3.5);
        assert_eq!(v["client_saturated"], true);
        // Copying only, user stamps only.
        run.workers[0].io = IoCounts {
            copy_sends: 5,
            user_stamped_reads: 7,
            ..IoCounts::default()
        };
        run.workers[1].io = IoCounts::default();
        let c = report(&run);
        assert_eq!(
            (c.send_path().as_str(), c.rx_stamps().as_str()),
            ("copy", "user")
        );
    }

    #[test]
    fn each_limit_triggers_the_warning() {
        // A busy worker.
        let mut run = sample_run();
        run.workers = vec![worker(0, 850, 1_000, &[100_000])];
        let c = report(&run);
        assert_eq!(c.saturation(), vec!["worker 0 was 85% busy".to_string()]);
        let w = c.warning().unwrap();
        assert!(w.starts_with(
            "WARNING: the client may have been the bottleneck (worker 0 was 85% busy)"
        ));
        assert!(!w.contains('\n'));

        // Loop lag: 98 fast ticks and 2 of 5 ms put the p99 at 5 ms.
        let mut lags = vec![100_000u64; 98];
        lags.extend([5_000_000, 5_000_000]);
        run.workers = vec![worker(0, 100, 1_000, &lags)];
        let c = report(&run);
        assert_eq!(c.saturation().len(), 1);
        assert!(
            c.saturation()[0].starts_with("loop lag p99 5.00 ms"),
            "{:?}",
            c.saturation()
        );

        // Schedule lag: open-loop arrivals up to 12 ms late.
        let mut run = open_loop_run();
        run.workers = vec![worker(0, 100, 1_000, &[100_000])];
        let c = report(&run);
        let p99 = c.schedule_lag_p99_ms.unwrap();
        // np.percentile([0, 1, 2, 4, 12], 99) = 11.68
        assert!((p99 - 11.68).abs() < 1e-9, "{p99}");
        assert_eq!(
            c.saturation(),
            vec!["schedule lag p99 11.68 ms > 2 ms".to_string()]
        );
        // Just under every limit: silent.
        let mut run = sample_run();
        // (1.99 ms: the histogram reports the top of a value's bucket.)
        run.workers = vec![worker(0, 800, 1_000, &[1_990_000])];
        assert!(report(&run).warning().is_none());
    }

    #[test]
    fn json_object_keys() {
        let mut run = sample_run();
        run.io_driver = Some(IoDriver::Epoll);
        run.workers = vec![worker(0, 900, 1_000, &[100_000])];
        let c = report(&run);
        let v = serde_json::to_value(c.to_json()).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        for k in [
            "io_driver",
            "client_cpu_sec",
            "client_cpu_per_request_us",
            "loop_lag_p50_ms",
            "loop_lag_p99_ms",
            "loop_lag_max_ms",
            "schedule_lag_p99_ms",
            "send_lag_p50_ms",
            "send_lag_p99_ms",
            "send_path",
            "rx_stamps",
            "user_minus_kernel_stamp_p50_ms",
            "user_minus_kernel_stamp_p99_ms",
            "client_saturated",
            "saturation_reasons",
            "workers",
        ] {
            assert!(keys.contains(&k), "{k}");
        }
        assert_eq!(v["io_driver"], "epoll");
        assert_eq!(v["client_cpu_sec"], 0.9);
        assert_eq!(v["client_saturated"], true);
        assert_eq!(v["workers"][0]["busy_fraction"], 0.9);
        assert_eq!(v["workers"][0]["requests"], 100);
        assert_eq!(v["schedule_lag_p99_ms"], serde_json::Value::Null);
    }
}
