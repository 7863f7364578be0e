//! The `profile` command end to end: config → dataset → engine, with the
//! collector (tokens → metrics → JSONL) draining its records meanwhile →
//! report. Owns the run log, the progress line and signal handling;
//! none of this touches the workers' hot path (progress is read from plain
//! counters by this thread only).

use crate::config::{EndpointType, ExportLevel, ProfileConfig, UiType};
use crate::engine::{self, Progress};
use crate::record::{RecordQueue, RunOutput};
use crate::report::selfcheck::ClientReport;
use crate::report::RunLog;
use crate::sys::clock::{now_ns, ClockAnchor, Nanos};
use crate::tokens::HfTokenizer;
use crate::{collect, dataset, metrics, report, tokens};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Finished requests waiting for the collector (about 300 bytes each plus
/// their text): a few seconds of a fast run, so a stalled disk is absorbed
/// before anything is dropped.
const RECORD_QUEUE_CAPACITY: usize = 32_768;
/// Exit status when `--failed-request-threshold` stopped the run.
pub const EXIT_THRESHOLD: u8 = 3;

extern "C" fn on_signal(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    INTERRUPTED.store(true, Ordering::Relaxed);
}

fn install_signal_handlers() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
}

/// Loads the tokenizer that makes ISL/OSL exact (`--tokenizer`, default the
/// model name, like AIPerf). None with `--use-server-token-count`, or when it
/// cannot be loaded: then counts come from the server's usage, with a warning.
fn load_tokenizer(cfg: &ProfileConfig, log: &mut RunLog) -> Option<HfTokenizer> {
    if cfg.use_server_token_count {
        log.info("token counts: server usage (--use-server-token-count)");
        return None;
    }
    let spec = cfg.tokenizer.as_deref().unwrap_or(&cfg.model);
    if spec == "builtin" {
        // AIPerf's offline tokenizer has no Hugging Face files to load.
        log.info("token counts: server usage (--tokenizer builtin); synthetic prompt lengths from audioperf's approximate counter");
        return None;
    }
    let t0 = Instant::now();
    match tokens::load(spec, cfg.tokenizer_revision.as_deref()) {
        Ok(t) => {
            log.info(&format!(
                "tokenizer {spec} loaded from {} in {:.3} s",
                t.path().display(),
                t0.elapsed().as_secs_f64()
            ));
            Some(t)
        }
        Err(e) => {
            let msg = format!(
                "could not load tokenizer '{spec}' ({e}); token counts fall back to the server's usage and synthetic prompt lengths are approximate"
            );
            warn(log, &msg);
            None
        }
    }
}

/// AIPerf's `AIPERF_METRICS_USAGE_PCT_DIFF_THRESHOLD` (percent, 0 to 100),
/// or its default of 10 (with a warning when the variable is not a percentage).
fn usage_diff_threshold(log: &mut RunLog) -> f64 {
    const VAR: &str = "AIPERF_METRICS_USAGE_PCT_DIFF_THRESHOLD";
    let default = metrics::USAGE_DIFF_THRESHOLD_PCT;
    let Ok(text) = std::env::var(VAR) else {
        return default;
    };
    match text.trim().parse::<f64>() {
        Ok(v) if (0.0..=100.0).contains(&v) => v,
        _ => {
            warn(
                log,
                &format!("{VAR}={text:?} is not a percentage from 0 to 100; using {default}"),
            );
            default
        }
    }
}

/// A warning the user sees on the console and finds again in the log.
fn warn(log: &mut RunLog, msg: &str) {
    eprintln!("warning: {msg}");
    log.warning(msg);
}

/// A server on this host and workers free to run on every core share CPUs:
/// each delays the other (send lag, TTFT). Silent once the cores are chosen
/// (`--cpus`, or a process already restricted by taskset/cgroups).
fn local_target_hint(cfg: &ProfileConfig, addr: std::net::SocketAddr) -> Option<String> {
    if cfg.cpus.is_some() || !crate::sys::local::is_this_host(addr.ip()) {
        return None;
    }
    // SAFETY: sysconf reads a system constant.
    let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    let allowed = core_affinity::get_core_ids().map_or(0, |c| c.len());
    if online < 2 || (allowed as i64) < online {
        return None;
    }
    Some(format!(
        "hint: the target {addr} is on this host and audioperf's workers may run on any core; a server and client sharing cores delay each other (send lag, TTFT). Pin them apart, e.g. `taskset -c {last} <server>` and `taskset -c {rest} audioperf profile ...` (or `--cpus {rest}` for the worker threads alone)",
        last = online - 1,
        rest = if online == 2 { "0".to_string() } else { format!("0-{}", online - 2) },
    ))
}

/// The start-up line about the dataset pool: entries, memory, build time,
/// and what the budget capped.
fn pool_summary(cfg: &ProfileConfig, ds: &dataset::Dataset) -> String {
    let mb = |b: u64| b as f64 / dataset::pool::MB as f64;
    let n = ds.requests.len();
    let secs = ds.stats.elapsed.as_secs_f64();
    let body_mb = mb(ds.stats.body_bytes);
    let mut line = format!(
        "dataset: {n} unique entries, {:.1} MB in memory ({body_mb:.1} MB of bodies), built in {secs:.3} s ({:.0} MB/s)",
        mb(ds.stats.memory_bytes),
        if secs > 0.0 { body_mb / secs } else { 0.0 }
    );
    if ds.stats.shared_clips > 0 {
        line.push_str(&format!(
            "; {} clips held once and shared",
            ds.stats.shared_clips
        ));
    }
    if ds.stats.capped(n) {
        line.push_str(&format!(
            "; capped from {} by --dataset-memory-mb {}: requests reuse the pool in a seeded order",
            ds.stats.requested_entries, cfg.dataset_memory_mb
        ));
    }
    line
}

pub fn run(cfg: ProfileConfig) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    // Fail on an unwritable artifact directory or an unresolvable host before
    // building anything or sending any load.
    std::fs::create_dir_all(&cfg.artifact_dir).map_err(|e| {
        anyhow::anyhow!(
            "--output-artifact-dir: cannot create {}: {e}",
            cfg.artifact_dir.display()
        )
    })?;
    let mut log = RunLog::open(&cfg.artifact_dir);
    log.info(&format!("audioperf {} profile", env!("CARGO_PKG_VERSION")));
    log.info(&format!("CLI Command: {}", cfg.cli_command));
    let addr = engine::resolve(&cfg)?;
    log.info(&format!("target {} ({addr})", cfg.url()));
    if let Some(hint) = local_target_hint(&cfg, addr) {
        log.info(&hint);
        eprintln!("{hint}");
    }
    if cfg.zero_copy != crate::config::ZeroCopy::Off {
        if cfg.target.scheme == crate::config::Scheme::Https {
            log.info("zero-copy sends: off (TLS encrypts into its own buffers)");
        } else if cfg.rx_stamps == crate::config::RxStamps::User {
            log.info("zero-copy sends: off (they need --rx-stamps kernel, whose reads drain the kernel's notifications)");
        }
    }
    if cfg.read_batch_us > 0 {
        log.info(&match (cfg.target.scheme, cfg.rx_stamps) {
            (crate::config::Scheme::Https, _) => {
                "read batching: off (TLS reads carry no kernel stamp)".to_string()
            }
            (_, crate::config::RxStamps::User) => {
                "read batching: off (it needs --rx-stamps kernel)".to_string()
            }
            _ => format!("read batching: {} us windows while busy", cfg.read_batch_us),
        });
    }

    let tokenizer = load_tokenizer(&cfg, &mut log);
    // Before the build: Ctrl-C while it runs stops it (the build looks at
    // the flag for every entry) instead of being ignored until it ends.
    install_signal_handlers();
    let ctl = dataset::pool::BuildControl::with_interrupt(&INTERRUPTED);
    let built = match &tokenizer {
        Some(t) => dataset::build_with(&cfg, t, &ctl),
        None => dataset::build_with(&cfg, &tokens::ApproxTokenCounter, &ctl),
    };
    let ds = match built {
        Ok(ds) => ds,
        Err(e) if e.is::<dataset::pool::Interrupted>() => {
            log.warning("interrupted while building the dataset");
            let _ = log.flush();
            eprintln!("interrupted while building the dataset");
            return Ok(ExitCode::from(130));
        }
        Err(e) => return Err(e),
    };
    if let Some(note) = &ds.stats.source_note {
        log.info(note);
        eprintln!("{note}");
    }
    let pool_line = pool_summary(&cfg, &ds);
    log.info(&pool_line);
    eprintln!("{pool_line}");
    let scheduled = ds
        .requests
        .iter()
        .filter(|r| r.timestamp_ms.is_some() || r.delay_ms.is_some())
        .count();
    if scheduled > 0 {
        let msg = format!(
            "{scheduled} input-file entries carry a timestamp or delay; audioperf records them but does not schedule by them (no --fixed-schedule mode yet): requests go out as --concurrency / --request-rate allow"
        );
        warn(&mut log, &msg);
    }

    let show_progress = match cfg.ui_type {
        UiType::None => false,
        UiType::Simple | UiType::Dashboard => std::io::stderr().is_terminal(),
    };
    let total = cfg.request_count.saturating_add(cfg.warmup_request_count);
    let queue = Arc::new(
        RecordQueue::new(RECORD_QUEUE_CAPACITY, tokenizer.is_some())
            .with_raw(cfg.export_level == ExportLevel::Raw),
    );
    let counter = tokenizer.as_ref().map(|t| t as &dyn tokens::TokenCounter);
    // A transcription request sends no prompt: like AIPerf (its endpoint does
    // not tokenize input), its ISL is the server's count when it gives one.
    let prompts: Vec<&str> = match (counter, cfg.endpoint_type) {
        (Some(_), EndpointType::Chat) => ds.requests.iter().map(|r| r.text.as_str()).collect(),
        _ => Vec::new(),
    };
    let audio_seconds: Vec<f64> = ds.requests.iter().map(|r| r.audio_seconds).collect();
    let body_bytes: Vec<u64> = ds.requests.iter().map(|r| r.body_len() as u64).collect();
    // AIPerf compares server usage with the client's counts only when a
    // tokenizer makes them.
    let usage_diff_threshold_pct = tokenizer.is_some().then(|| usage_diff_threshold(&mut log));
    let progress = Arc::new(Progress::default());
    let first_request_after = started.elapsed();
    log.info(&format!(
        "start-up before the first request: {:.3} s",
        first_request_after.as_secs_f64()
    ));
    let anchor = ClockAnchor::now();
    let scraper = start_server_metrics(&cfg, anchor, &mut log);
    let files = report::ExportFiles::for_config(&cfg);
    let jsonl_path = (cfg.export_level >= ExportLevel::Records).then_some(files.jsonl.as_path());
    let failure_policy = cfg
        .failed_request_threshold
        .map(|threshold| collect::FailurePolicy {
            threshold,
            grace_records: collect::FailurePolicy::grace_for(cfg.concurrency as u64),
            stop: &progress.stop,
        });
    let (run, collected) = std::thread::scope(|scope| {
        let collector = scope.spawn(|| {
            collect::run(
                &queue,
                jsonl_path,
                collect::CollectInputs {
                    counter,
                    prompts: &prompts,
                    opts: metrics::ComputeOptions {
                        body_bytes: &body_bytes,
                        usage_diff_threshold_pct,
                        ..metrics::ComputeOptions::from_config(&cfg, &audio_seconds)
                    },
                    anchor,
                    failure_policy,
                    raw: (cfg.export_level == ExportLevel::Raw).then(|| collect::RawExport {
                        path: &files.raw_jsonl,
                        requests: &ds.requests,
                        keep_audio: cfg.export_raw_audio,
                    }),
                },
            )
        });
        let p = progress.clone();
        let q = queue.clone();
        let handle = scope.spawn(|| engine::run(&cfg, &ds, p, q, anchor));
        let t0 = Instant::now();
        // Rate over roughly the last second, from the done-counter's history.
        let mut recent: std::collections::VecDeque<(Instant, u64)> = Default::default();
        while !handle.is_finished() {
            std::thread::sleep(Duration::from_millis(100));
            if INTERRUPTED.load(Ordering::Relaxed) {
                progress.stop.store(true, Ordering::Relaxed);
            }
            if show_progress {
                let done = progress.completed.load(Ordering::Relaxed);
                let errs = progress.errors.load(Ordering::Relaxed);
                let now = Instant::now();
                recent.push_back((now, done));
                while recent.len() > 11 {
                    recent.pop_front();
                }
                let (then, done_then) = recent.front().copied().unwrap_or((now, done));
                let rate =
                    (done - done_then) as f64 / now.duration_since(then).as_secs_f64().max(1e-9);
                let left = match cfg.benchmark_duration {
                    Some(d) => format!(
                        "{:.0} s left",
                        d.as_secs_f64() - t0.elapsed().as_secs_f64().min(d.as_secs_f64())
                    ),
                    None => format!("{done}/{total} requests"),
                };
                eprint!("\r{left}  {rate:.1} req/s  {errs} errors   ");
                let _ = std::io::stderr().flush();
            }
        }
        if show_progress {
            eprintln!();
        }
        let run = handle.join();
        // The engine closes the queue however it ends; make sure of it so
        // the collector cannot wait for ever after a panic.
        queue.close();
        let collected = collector.join();
        match (run, collected) {
            (Ok(run), Ok(c)) => Ok((run?, c)),
            (Err(_), _) => Err(anyhow::anyhow!("the engine thread panicked")),
            (_, Err(_)) => Err(anyhow::anyhow!("the collector thread panicked")),
        }
    })?;
    // The last scrape right after the load ends (the counters' end values).
    let scrape_end = scraper.map(|s| (s, now_ns()));
    let mut run = run;
    let interrupted = INTERRUPTED.load(Ordering::Relaxed);
    run.was_cancelled = interrupted || collected.threshold_stop.is_some();
    if let Some(stop) = &collected.threshold_stop {
        let msg = stop.message();
        warn(&mut log, &msg);
        run.stop_reason = Some(msg);
    } else if interrupted {
        run.stop_reason = Some("interrupted (SIGINT/SIGTERM)".into());
    }
    for n in &run.driver_notes {
        log.info(n);
    }
    let source = counter.map_or("server usage", |c| c.name());
    log.info(&format!("token counts: {source}"));
    if let Some(late) = run.start_late_ns.filter(|&ns| ns > 0) {
        let msg = format!(
            "started {:.3} s after --start-at: building the dataset and connecting took longer than the time left; the shards did not start together (give a later --start-at)",
            late as f64 / 1e9
        );
        warn(&mut log, &msg);
    }
    // A shard keeps its accumulator's state for `audioperf merge`.
    let shard_state = cfg.shard.map(|_| collected.metrics.state(&anchor));
    let summary = collected.metrics.finish(run.was_cancelled);
    let a = summary.accounting;
    log.info(&format!(
        "requests: {} sent = {} successful + {} errors + {} cancelled; {} warmup; {} waited for a connection",
        a.sent, a.successful, a.errors, a.cancelled, summary.warmup_requests, summary.waited_for_connection
    ));
    log.info(&format!(
        "{} records collected while the run went ({} JSONL lines); percentiles {}",
        a.sent + summary.warmup_requests,
        collected.lines,
        if summary.percentiles_exact {
            "exact".to_string()
        } else {
            format!(
                "from histograms ({} significant digits) past {} values per metric",
                metrics::SIGNIFICANT_DIGITS,
                metrics::EXACT_VALUES
            )
        }
    ));
    if run.dropped_records > 0 {
        let msg = format!(
            "{} finished requests were dropped because the record writer could not keep up (queue of {} full; a slow disk?): they are not in profile_export.jsonl or any metric",
            run.dropped_records,
            queue.capacity()
        );
        warn(&mut log, &msg);
    }
    if cfg.streaming && summary.untimed_successes > 0 {
        // A server that ignores `"stream": true` answers with one JSON body:
        // the request succeeds but has no token timing at all.
        let msg = format!(
            "{} successful streaming requests carried no token events (an empty answer, or a server that ignored \"stream\": true): they have no TTFT or ITL",
            summary.untimed_successes
        );
        warn(&mut log, &msg);
    }
    let client = ClientReport::new(&run, &summary);
    for line in client.log_lines() {
        log.info(&line);
    }
    let warning = client.warning();
    if let Some(w) = &warning {
        log.warning(w.trim_start_matches("WARNING: "));
    }
    let exports = report::write_all(
        &cfg.artifact_dir,
        &cfg,
        &ds,
        &run,
        &summary,
        report::Jsonl::Streamed(collected.jsonl),
    );
    let mut exports = exports;
    match collected.raw {
        Some(Ok(())) => exports
            .written
            .push((report::ExportKind::Raw, files.raw_jsonl.clone())),
        Some(Err(error)) => exports.errors.push(report::ExportError {
            kind: report::ExportKind::Raw,
            path: files.raw_jsonl.clone(),
            error,
        }),
        None => {}
    }
    for e in &exports.errors {
        log.error_line(&e.to_string());
    }
    let shard_file = match (cfg.shard, shard_state) {
        (Some(shard), Some(metrics)) => {
            let args: Vec<String> = std::env::args_os()
                .skip(2)
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            let written = report::shard_file::write(
                &cfg.artifact_dir,
                report::shard_file::ShardRun {
                    cfg: &cfg,
                    shard,
                    args: &args,
                    anchor,
                    run: &run,
                    metrics,
                    jsonl: exports.path_of(report::ExportKind::Jsonl),
                    raw_jsonl: exports.path_of(report::ExportKind::Raw),
                },
            );
            match &written {
                Ok(p) => log.info(&format!(
                    "shard {} of {}: {}",
                    shard.index,
                    shard.count,
                    p.display()
                )),
                Err(e) => log.error_line(&format!("could not write the shard result file: {e}")),
            }
            Some(written)
        }
        _ => None,
    };
    print!(
        "{}",
        report::console::render(&cfg, &summary, &exports, log.path(), warning.as_deref())
    );
    match &shard_file {
        Some(Ok(p)) => println!("Shard Result: {}", p.display()),
        Some(Err(e)) => println!("Export failed: shard result file: {e}"),
        None => {}
    }
    print!(
        "{}",
        fleet_reports(
            &cfg,
            &run,
            &summary,
            &collected.servers,
            scrape_end,
            &files,
            &mut log
        )
    );
    if let Err(e) = log.flush() {
        eprintln!(
            "warning: could not write the log file {}: {e}",
            log.path().display()
        );
    }
    if collected.threshold_stop.is_some() {
        eprintln!("run stopped by --failed-request-threshold: exports were written with was_cancelled: true");
        return Ok(ExitCode::from(EXIT_THRESHOLD));
    }
    if interrupted {
        eprintln!("run interrupted: exports were written with was_cancelled: true");
        return Ok(ExitCode::from(130));
    }
    // A target that never accepted a connection is a failed benchmark, not
    // a measurement: say so and exit non-zero (the exports are written).
    if a.successful == 0 && a.sent > 0 && summary.connect_failures == a.sent {
        let first = summary.first_connect_error.as_deref().unwrap_or_default();
        eprintln!("error: cannot connect to {}: {first}", cfg.url());
        return Ok(ExitCode::from(1));
    }
    // No successful request is no measurement, whatever the reason: a CI
    // pipeline must not read it as a pass.
    if a.successful == 0 {
        eprintln!(
            "error: no request succeeded ({} sent: {} errors, {} cancelled); see the error summary above",
            a.sent, a.errors, a.cancelled
        );
        return Ok(ExitCode::from(1));
    }
    Ok(
        if exports.errors.is_empty() && !matches!(shard_file, Some(Err(_))) {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        },
    )
}

/// Starts the `/metrics` scraper when server metrics are on; a scraper that
/// cannot start is a warning, not a failed run.
fn start_server_metrics(
    cfg: &ProfileConfig,
    anchor: ClockAnchor,
    log: &mut RunLog,
) -> Option<crate::servermetrics::Scraper> {
    match crate::servermetrics::start(cfg, anchor) {
        Ok(s) => {
            if s.is_some() {
                let urls: Vec<String> = cfg
                    .fleet
                    .server_metrics
                    .endpoints
                    .iter()
                    .map(|t| t.base_url())
                    .collect();
                log.info(&format!("server metrics: scraping {}", urls.join(", ")));
            }
            s
        }
        Err(e) => {
            warn(
                log,
                &format!(
                    "server metrics: cannot start the scraper: {e}; the run goes on without them"
                ),
            );
            None
        }
    }
}

/// After a run: the per-server view (several --url) and the server metrics
/// exports; returns what the console shows for them.
fn fleet_reports(
    cfg: &ProfileConfig,
    run: &RunOutput,
    summary: &metrics::MetricsSummary,
    tally: &metrics::per_server::PerServer,
    scraper: Option<(crate::servermetrics::Scraper, Nanos)>,
    files: &report::ExportFiles,
    log: &mut RunLog,
) -> String {
    let mut out = String::new();
    if run.servers.len() > 1 {
        out.push_str(&report::per_server::console(&run.servers, tally));
        let path = report::per_server::path_for(&files.json);
        let doc = report::per_server::document(&run.servers, tally, run.anchor);
        match report::per_server::write(&path, &doc) {
            Ok(()) => out.push_str(&format!("Per-server Export: {}\n", path.display())),
            Err(e) => log.error_line(&format!("cannot write {}: {e}", path.display())),
        }
        for s in &run.servers {
            if let Some((_, why)) = &s.down {
                log.warning(&format!("server {} went down during the run: {why}", s.url));
            }
        }
    }
    let Some((scraper, ended)) = scraper else {
        return out;
    };
    let Some(anchor) = run.anchor else {
        return out;
    };
    let start = summary.start_ns.unwrap_or(anchor.mono_ns);
    let end = summary.end_ns.unwrap_or(ended).max(start);
    let window = crate::servermetrics::export::Window {
        start_ns: anchor.wall_of(start),
        end_ns: anchor.wall_of(end),
        slice_ns: cfg.slice_duration.map(|d| d.as_nanos() as u64),
    };
    let benchmark_id = format!("{:012x}", anchor.wall_ns & 0xffff_ffff_ffff);
    let exported = crate::servermetrics::finish(cfg, scraper, window, &benchmark_id);
    for w in &exported.warnings {
        log.warning(w);
        out.push_str(&format!("WARNING: {w}\n"));
    }
    out.push_str(&exported.console);
    for f in &exported.files {
        log.info(&format!("server metrics export: {}", f.display()));
        out.push_str(&format!("Server Metrics Export: {}\n", f.display()));
    }
    out
}
