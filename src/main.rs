//! audioperf's entry point: parses the command line and dispatches. Everything
//! else lives in the library (`audioperf::*`).

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "audioperf",
    version,
    about = "Low-overhead load generator for audio language models (AIPerf-compatible)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const PROFILE_AFTER_HELP: &str = "\
Memory and precision: no per-request state is kept for the life of a run. Each \
finished request's line goes to profile_export.jsonl while the run goes, and \
its metrics into running statistics. Those are exact (numpy's percentiles) \
while a metric has at most 65,536 values; past that, count, sum, avg, min, \
max and std stay exact and percentiles come from an HdrHistogram with 3 \
significant digits (within 0.05% of the exact value).

Exit status: 0 completed with at least one successful request; 1 no request succeeded or an export failed; 2 bad command line; 3 stopped by --failed-request-threshold; 130 interrupted. The exports are written in every case but 2 and a dataset build cut short by Ctrl-C.

Several runs (AIPerf's): a comma list for --concurrency, --request-rate or --benchmark-duration (e.g. --concurrency 1,4,16) runs one profile per value into <dir>/concurrency_1/… and writes sweep_aggregate/; --num-profile-runs N (1-10) repeats the run into <dir>/profile_runs/run_0001/… and writes aggregate/ with mean, std, confidence interval and CV per metric (--profile-run-cooldown-seconds S between runs, --confidence-level L, default 0.95); --auto-plot runs `audioperf plot <dir>` at the end.";

#[derive(Subcommand, Debug)]
enum Command {
    /// Profile an OpenAI-compatible server (AIPerf's `profile` flags).
    #[command(after_help = PROFILE_AFTER_HELP)]
    Profile(Box<audioperf::cli::ProfileArgs>),
    /// Run the built-in OpenAI-compatible mock server.
    MockServer(Box<audioperf::mock::MockServerArgs>),
    /// Charts (PNG, SVG) and a self-contained report.html of finished runs.
    Plot(audioperf::plot::PlotArgs),
    /// Merge the results of a sharded run (`profile --shard-count N`) into one export set.
    Merge(audioperf::merge::MergeArgs),
}

fn main() -> ExitCode {
    // Lossy only for display and for spotting option names; clap parses the
    // real (OS) arguments.
    let raw_args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if raw_args.get(1).map(String::as_str) == Some("profile") {
        if let Some(msg) = audioperf::cli::unsupported_aiperf_flag(&raw_args[2..]) {
            eprintln!("error: {msg}");
            return ExitCode::from(2);
        }
    }
    if raw_args.get(1).map(String::as_str) == Some("profile") {
        // List values, --num-profile-runs, --auto-plot: several runs (src/sweep).
        match audioperf::sweep::plan(&raw_args[2..]) {
            Ok(Some(plan)) => return audioperf::sweep::run(&plan, &raw_args),
            Ok(None) => {}
            Err(msg) => {
                eprintln!("error: {msg}");
                return ExitCode::from(2);
            }
        }
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Profile(args) => {
            let cmdline = audioperf::cli::command_line(&raw_args);
            let cfg = match args.into_config(cmdline) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            // Dataset options that need the whole config: still a bad command line.
            if let Err(e) = audioperf::dataset::validate(&cfg) {
                eprintln!("error: {e:#}");
                return ExitCode::from(2);
            }
            match audioperf::profile::run(cfg) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Merge(args) => match audioperf::merge::run(args) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(1)
            }
        },
        Command::Plot(args) => match audioperf::plot::run(&args) {
            Ok(out) => {
                println!(
                    "{} charts of {} run(s) in {}; report: {}",
                    out.pngs.len(),
                    out.runs,
                    out.dir.display(),
                    out.report.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(1)
            }
        },
        Command::MockServer(args) => match audioperf::mock::run(*args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(1)
            }
        },
    }
}
