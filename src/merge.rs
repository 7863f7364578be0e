//! `audioperf merge DIR… [--output-artifact-dir D]`: the shards of one
//! sharded run (`profile --shard-count N`) into one AIPerf-layout export set.
//!
//! Each DIR holds a shard's exports and its `audioperf_shard.json`. Merge
//! refuses shards of different audioperf versions, of different workloads
//! (`profile`'s arguments without the per-shard options), of different shard
//! counts, and an incomplete or repeated set of shards. It then absorbs every
//! shard's metrics state into one accumulator and summarizes it with the code
//! a single run uses (`metrics::shard`), so the benchmark duration, and every
//! throughput, runs from the first request of any shard to the last response
//! of any shard: the union of the shards' windows when they overlap, as they
//! do when the shards started together (a gap between them is warned about).
//! The JSONL (and raw JSONL) are the shards' files concatenated in shard
//! order; `inputs.json` is shard 0's (every shard builds the same dataset).

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use clap::Parser;

use crate::config::{ExportLevel, ProfileConfig};
use crate::dataset::{BuildStats, Dataset};
use crate::metrics::{Accumulator, ComputeOptions};
use crate::record::{IoDriver, RunOutput};
use crate::report::shard_file::{self, ShardFile};
use crate::report::{self, ExportFiles, ExportKind, RunLog};
use crate::sys::clock::ClockAnchor;

#[derive(clap::Args, Debug, Clone)]
pub struct MergeArgs {
    /// The shards' artifact directories (each holds audioperf_shard.json).
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// Where the merged exports go [default: the directory the single run would have used].
    #[arg(
        long = "output-artifact-dir",
        visible_alias = "artifact-dir",
        value_name = "DIR"
    )]
    pub output_artifact_dir: Option<PathBuf>,
}

/// `profile`'s flags, parsed from a shard file's workload arguments.
#[derive(Parser, Debug)]
#[command(no_binary_name = true)]
struct ProfileCommand {
    #[command(flatten)]
    args: crate::cli::ProfileArgs,
}

/// Reads every shard and checks that together they are one whole run.
fn read_shards(dirs: &[PathBuf]) -> anyhow::Result<Vec<(PathBuf, ShardFile)>> {
    let mut shards = Vec::with_capacity(dirs.len());
    for d in dirs {
        shards.push((d.clone(), shard_file::read(d).map_err(|e| anyhow!(e))?));
    }
    let ours = env!("CARGO_PKG_VERSION");
    let (d0, s0) = &shards[0];
    for (d, s) in &shards {
        if s.audioperf_version != ours {
            bail!(
                "{} was written by audioperf {}; this is audioperf {ours}: merge shards with the version that ran them",
                d.display(),
                s.audioperf_version
            );
        }
        if s.workload_args != s0.workload_args {
            bail!(
                "{} and {} are different workloads; only the shards of one run merge:\n  {}\n  {}",
                d0.display(),
                d.display(),
                shown_command(&s0.workload_args),
                shown_command(&s.workload_args)
            );
        }
        if s.shard_count != s0.shard_count {
            bail!(
                "{} is shard {} of {} but {} is of {}: only the shards of one run merge",
                d.display(),
                s.shard_index,
                s.shard_count,
                d0.display(),
                s0.shard_count
            );
        }
    }
    let count = s0.shard_count as usize;
    shards.sort_by_key(|(_, s)| s.shard_index);
    for pair in shards.windows(2) {
        if pair[0].1.shard_index == pair[1].1.shard_index {
            bail!(
                "{} and {} are both shard {}",
                pair[0].0.display(),
                pair[1].0.display(),
                pair[0].1.shard_index
            );
        }
    }
    if shards.len() != count {
        let have: Vec<u32> = shards.iter().map(|(_, s)| s.shard_index).collect();
        let missing: Vec<String> = (0..count as u32)
            .filter(|i| !have.contains(i))
            .map(|i| i.to_string())
            .collect();
        bail!(
            "the run has {count} shards and {} were given: shard(s) {} missing",
            shards.len(),
            missing.join(", ")
        );
    }
    Ok(shards)
}

fn shown_command(args: &[String]) -> String {
    let mut argv = vec!["audioperf".to_string(), "profile".to_string()];
    argv.extend_from_slice(args);
    crate::cli::command_line(&argv)
}

/// The single run's configuration, from the shards' common arguments.
fn whole_run_config(args: &[String]) -> anyhow::Result<ProfileConfig> {
    let parsed = ProfileCommand::try_parse_from(args)
        .map_err(|e| anyhow!("the shards' command line no longer parses: {e}"))?;
    let mut cfg = parsed.args.into_config(shown_command(args)).map_err(|e| {
        anyhow!("the shards' command line: {e} (merge reads it again to describe the run)")
    })?;
    cfg.shard = None;
    Ok(cfg)
}

/// `files` of every shard, one after another, into `out`.
fn concatenate(
    shards: &[(PathBuf, ShardFile)],
    name: impl Fn(&ShardFile) -> Option<&String>,
    out: &Path,
) -> io::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 20, File::create(out)?);
    for (dir, s) in shards {
        let Some(file) = name(s) else {
            return Err(io::Error::other(format!(
                "{} (shard {}) has no such export",
                dir.display(),
                s.shard_index
            )));
        };
        let mut r = File::open(dir.join(file))?;
        io::copy(&mut r, &mut w)?;
    }
    w.flush()
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

pub fn run(args: MergeArgs) -> anyhow::Result<ExitCode> {
    let shards = read_shards(&args.dirs)?;
    let first = &shards[0].1;
    let mut cfg = whole_run_config(&first.workload_args)?;
    if let Some(d) = args.output_artifact_dir {
        cfg.artifact_dir = d;
    }
    let out = cfg.artifact_dir.clone();
    if let Some((d, _)) = shards.iter().find(|(d, _)| same_dir(d, &out)) {
        bail!(
            "--output-artifact-dir {} is a shard's own directory ({}): merged exports would overwrite it",
            out.display(),
            d.display()
        );
    }
    fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut log = RunLog::open(&out);
    log.info(&format!("audioperf {} merge", env!("CARGO_PKG_VERSION")));
    log.info(&format!("CLI Command: {}", cfg.cli_command));

    // No time slices: a shard's slices are in its own exports.
    let opts = ComputeOptions {
        usage_diff_threshold_pct: first.metrics.usage_diff_threshold_pct,
        slice_ns: None,
        ..ComputeOptions::from_config(&cfg, &[])
    };
    let mut acc = Accumulator::new(opts);
    let mut merged = RunOutput::default();
    for (dir, s) in &shards {
        acc.absorb(&s.metrics)
            .map_err(|e| anyhow!("{}: {e}", dir.join(shard_file::SHARD_FILE).display()))?;
        let first_worker = merged.workers.len() as u16;
        merged.workers.extend(s.worker_stats(first_worker));
        if s.io_driver() == Some(IoDriver::Epoll) || merged.io_driver.is_none() {
            merged.io_driver = s.io_driver();
        }
        merged.was_cancelled |= s.was_cancelled;
        if let Some(reason) = &s.stop_reason {
            let line = format!("shard {}: {reason}", s.shard_index);
            merged.stop_reason = Some(match merged.stop_reason.take() {
                Some(r) => format!("{r}; {line}"),
                None => line,
            });
        }
        merged.dropped_records += s.dropped_records;
        log.info(&format!(
            "shard {} of {}: {} ({} requests sent)",
            s.shard_index,
            s.shard_count,
            dir.display(),
            s.metrics.sent
        ));
        if let Some(late) = s.start_late_ns.filter(|&l| l > 0) {
            let msg = format!(
                "shard {} started {:.3} s after --start-at",
                s.shard_index,
                late as f64 / 1e9
            );
            eprintln!("warning: {msg}");
            log.warning(&msg);
        }
    }
    if let Some(msg) = window_gap(&shards) {
        eprintln!("warning: {msg}");
        log.warning(&msg);
    }
    // Merged times are wall-clock ns: an anchor that maps them to themselves.
    let wall0 = shards
        .iter()
        .map(|(_, s)| s.clock_anchor_wall_ns)
        .min()
        .unwrap_or(0);
    merged.anchor = Some(ClockAnchor {
        mono_ns: wall0,
        wall_ns: wall0,
    });
    let summary = acc.finish(merged.was_cancelled);

    let files = ExportFiles::new(&out, cfg.export_prefix.as_deref());
    let jsonl = if cfg.export_level >= ExportLevel::Records {
        concatenate(&shards, |s| s.jsonl_file.as_ref(), &files.jsonl)
    } else {
        Ok(())
    };
    // No dataset here: write_all writes an empty inputs.json, replaced by
    // shard 0's below (every shard built the same dataset).
    let no_dataset = Dataset {
        requests: Vec::new(),
        stats: BuildStats::default(),
    };
    let mut exports = report::write_all(
        &out,
        &cfg,
        &no_dataset,
        &merged,
        &summary,
        report::Jsonl::Streamed(jsonl),
    );
    let inputs = shards[0].0.join(report::INPUTS_FILE);
    if let Err(error) = fs::copy(&inputs, &files.inputs) {
        exports.errors.push(report::ExportError {
            kind: ExportKind::Inputs,
            path: files.inputs.clone(),
            error,
        });
    }
    if cfg.export_level == ExportLevel::Raw {
        match concatenate(&shards, |s| s.raw_jsonl_file.as_ref(), &files.raw_jsonl) {
            Ok(()) => exports
                .written
                .push((ExportKind::Raw, files.raw_jsonl.clone())),
            Err(error) => exports.errors.push(report::ExportError {
                kind: ExportKind::Raw,
                path: files.raw_jsonl.clone(),
                error,
            }),
        }
    }
    for e in &exports.errors {
        log.error_line(&e.to_string());
    }
    let a = summary.accounting;
    let line = format!(
        "merged {} shards: {} sent = {} successful + {} errors + {} cancelled",
        shards.len(),
        a.sent,
        a.successful,
        a.errors,
        a.cancelled
    );
    log.info(&line);
    print!(
        "{}",
        report::console::render(&cfg, &summary, &exports, log.path(), None)
    );
    println!("{line}");
    if let Err(e) = log.flush() {
        eprintln!(
            "warning: could not write the log file {}: {e}",
            log.path().display()
        );
    }
    Ok(if exports.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A warning when some shard's window ends before another's begins: the
/// shards did not run together, and the merged duration includes the gap.
fn window_gap(shards: &[(PathBuf, ShardFile)]) -> Option<String> {
    let windows: Vec<(u32, u64, u64)> = shards
        .iter()
        .filter_map(|(_, s)| {
            Some((
                s.shard_index,
                s.metrics.first_start_ns?,
                s.metrics.last_end_ns?,
            ))
        })
        .collect();
    let latest_start = windows.iter().max_by_key(|w| w.1)?;
    let earliest_end = windows.iter().min_by_key(|w| w.2)?;
    (latest_start.1 > earliest_end.2).then(|| {
        format!(
            "shard {} ended {:.3} s before shard {} began: the shards did not run together, so the merged duration and throughputs include that gap (use --start-at)",
            earliest_end.0,
            (latest_start.1 - earliest_end.2) as f64 / 1e9,
            latest_start.0
        )
    })
}
