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

Exit status: 0 completed with at least one successful request; 1 no request succeeded or an export failed; 2 bad command line; 3 stopped by --failed-request-threshold; 130 interrupted. The exports are written in every case but 2 and a dataset build cut short by Ctrl-C.";

#[derive(Subcommand, Debug)]
enum Command {
    /// Profile an OpenAI-compatible server (AIPerf's `profile` flags).
    #[command(after_help = PROFILE_AFTER_HELP)]
    Profile(Box<audioperf::cli::ProfileArgs>),
    /// Run the built-in OpenAI-compatible mock server.
    MockServer(Box<audioperf::mock::MockServerArgs>),
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
        Command::MockServer(args) => match audioperf::mock::run(*args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(1)
            }
        },
    }
}
