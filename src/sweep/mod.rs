//! Several profiles from one command line, as AIPerf 0.13 runs them:
//! - a sweep: a list value for `--concurrency`, `--request-rate` or
//!   `--benchmark-duration` (`--concurrency 1,4,16`) runs one profile per
//!   value, in order, into `<base>/concurrency_1/`, `<base>/concurrency_4/`…
//!   (`rate_10.0`, `duration_30.0`), then writes `sweep_aggregate/` and a
//!   console table;
//! - repeats: `--num-profile-runs N` (with `--profile-run-cooldown-seconds`,
//!   `--confidence-level`) runs the same profile N times into
//!   `<base>/profile_runs/run_0001/`… and writes `aggregate/`; with a sweep,
//!   trials go outside values (`profile_runs/trial_0001/concurrency_1/`, AIPerf's
//!   default "repeated" order) and `aggregate/<value>/` per value;
//! - `--auto-plot`: `audioperf plot <base>` once the runs are done.
//!
//! `<base>` is what a single run of the first value would use (so
//! `artifacts/<model>-openai-chat-concurrency1/`, or `--output-artifact-dir`).
//! These options are taken off the command line here; each run is an
//! ordinary `profile` of the rest, with `--output-artifact-dir` set.

pub mod aggregate;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::Parser;
use serde_json::{json, Map, Value};

use crate::cli::ProfileArgs;
use crate::plot;

/// The options that may take a list, with the name AIPerf gives the swept
/// field (its directory names and the sweep summary use it).
const SWEEPABLE: [(&str, &str); 3] = [
    ("--concurrency", "concurrency"),
    ("--request-rate", "rate"),
    ("--benchmark-duration", "duration"),
];
const DEFAULT_CONFIDENCE: f64 = 0.95;
/// AIPerf 0.13's bounds for --num-profile-runs.
const MAX_PROFILE_RUNS: u32 = 10;

#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    /// `concurrency`, `rate` or `duration`.
    pub name: &'static str,
    pub flag: &'static str,
    /// The values as typed, in order.
    pub values: Vec<String>,
    /// Index in `Plan::args` of the token that holds the list.
    slot: usize,
    /// Whether that token is `--flag=LIST` (else the list is the whole token).
    inline: bool,
}

/// What to run, parsed from the `profile` arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The profile arguments without this module's options.
    pub args: Vec<String>,
    pub sweep: Option<Sweep>,
    pub trials: u32,
    pub cooldown_s: f64,
    pub confidence: f64,
    pub auto_plot: bool,
    /// `--output-artifact-dir` as given (taken off `args`).
    pub output_dir: Option<PathBuf>,
}

/// `--name=value` or `--name value` at `args[i]`: (value, tokens used).
fn flag_value<'a>(
    args: &'a [String],
    i: usize,
    names: &[&str],
) -> Option<(Option<&'a str>, usize)> {
    let a = args[i].as_str();
    for n in names {
        if a == *n {
            return Some((args.get(i + 1).map(String::as_str), 2));
        }
        if let Some(v) = a.strip_prefix(n).and_then(|r| r.strip_prefix('=')) {
            return Some((Some(v), 1));
        }
    }
    None
}

fn number<T: std::str::FromStr>(flag: &str, v: Option<&str>) -> Result<T, String> {
    let v = v.ok_or_else(|| format!("{flag} needs a value"))?;
    v.trim()
        .parse()
        .map_err(|_| format!("{flag}: '{v}' is not a number"))
}

/// The plan for `profile` arguments, or None when they ask for one ordinary run.
pub fn plan(args: &[String]) -> Result<Option<Plan>, String> {
    let mut p = Plan {
        args: Vec::new(),
        sweep: None,
        trials: 1,
        cooldown_s: 0.0,
        confidence: DEFAULT_CONFIDENCE,
        auto_plot: false,
        output_dir: None,
    };
    let mut asked = false;
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--auto-plot" {
            p.auto_plot = true;
            asked = true;
            i += 1;
            continue;
        }
        if let Some((v, used)) = flag_value(args, i, &["--num-profile-runs"]) {
            p.trials = number("--num-profile-runs", v)?;
            if !(1..=MAX_PROFILE_RUNS).contains(&p.trials) {
                return Err(format!(
                    "--num-profile-runs must be between 1 and {MAX_PROFILE_RUNS}"
                ));
            }
            asked = true;
            i += used;
            continue;
        }
        if let Some((v, used)) = flag_value(args, i, &["--profile-run-cooldown-seconds"]) {
            p.cooldown_s = number("--profile-run-cooldown-seconds", v)?;
            if !(p.cooldown_s >= 0.0 && p.cooldown_s.is_finite()) {
                return Err("--profile-run-cooldown-seconds must be 0 or more".into());
            }
            asked = true;
            i += used;
            continue;
        }
        if let Some((v, used)) = flag_value(args, i, &["--confidence-level"]) {
            p.confidence = number("--confidence-level", v)?;
            if !(p.confidence > 0.0 && p.confidence < 1.0) {
                return Err("--confidence-level must be between 0 and 1 (exclusive)".into());
            }
            asked = true;
            i += used;
            continue;
        }
        if let Some((v, used)) = flag_value(args, i, &["--output-artifact-dir", "--artifact-dir"]) {
            let v = v.ok_or("--output-artifact-dir needs a value")?;
            p.output_dir = Some(PathBuf::from(v));
            p.args.extend(args[i..i + used].iter().cloned());
            i += used;
            continue;
        }
        if let Some(&(flag, name)) = SWEEPABLE
            .iter()
            .find(|(f, _)| flag_value(args, i, &[f]).is_some())
        {
            let (v, used) = flag_value(args, i, &[flag]).unwrap_or((None, 1));
            if let Some(list) = v.filter(|v| v.contains(',')) {
                if let Some(s) = &p.sweep {
                    return Err(format!(
                        "only one option may take a list of values ({} and {flag} both do)",
                        s.flag
                    ));
                }
                let values: Vec<String> = list.split(',').map(|s| s.trim().to_string()).collect();
                if values.iter().any(String::is_empty) {
                    return Err(format!("{flag} '{list}': an empty value in the list"));
                }
                let inline = used == 1;
                p.sweep = Some(Sweep {
                    name,
                    flag,
                    values,
                    slot: p.args.len() + usize::from(!inline),
                    inline,
                });
                asked = true;
            }
            p.args
                .extend(args[i..(i + used).min(args.len())].iter().cloned());
            i += used;
            continue;
        }
        p.args.push(args[i].clone());
        i += 1;
    }
    Ok(asked.then_some(p))
}

/// AIPerf's directory name for a swept value: `concurrency_4`, `rate_10.0`
/// (its values are Python ints for concurrency, floats for the others).
pub fn dir_name(sweep: &Sweep, value: &str) -> String {
    let v = if sweep.name == "concurrency" {
        value.to_string()
    } else {
        match value.parse::<f64>() {
            Ok(f) if f.fract() == 0.0 && f.abs() < 1e16 => format!("{f:.1}"),
            Ok(f) => format!("{f}"),
            Err(_) => value.to_string(),
        }
    };
    format!("{}_{}", sweep.name, v)
}

/// A swept value as JSON (a number where it is one).
fn value_json(sweep: &Sweep, value: &str) -> Value {
    if sweep.name == "concurrency" {
        value
            .parse::<u64>()
            .map(Value::from)
            .unwrap_or_else(|_| json!(value))
    } else {
        value
            .parse::<f64>()
            .map(|f| json!(f))
            .unwrap_or_else(|_| json!(value))
    }
}

#[derive(Parser)]
#[command(name = "audioperf profile")]
struct OneProfile {
    #[command(flatten)]
    args: ProfileArgs,
}

/// One run to do: its arguments and where it writes.
struct Step {
    args: Vec<String>,
    dir: PathBuf,
    /// Index of the sweep value (0 without a sweep) and the trial.
    value: usize,
    trial: u32,
}

impl Plan {
    /// The profile arguments for the value at `index` (the list replaced by it).
    fn args_for(&self, index: usize) -> Vec<String> {
        let mut a = self.args.clone();
        if let Some(s) = &self.sweep {
            a[s.slot] = if s.inline {
                format!("{}={}", s.flag, s.values[index])
            } else {
                s.values[index].clone()
            };
        }
        a
    }

    fn values(&self) -> usize {
        self.sweep.as_ref().map_or(1, |s| s.values.len())
    }

    fn steps(&self, base: &Path) -> Vec<Step> {
        let mut out = Vec::new();
        for trial in 0..self.trials {
            for value in 0..self.values() {
                let mut dir = base.to_path_buf();
                if self.trials > 1 {
                    dir.push("profile_runs");
                    dir.push(if self.sweep.is_some() {
                        format!("trial_{:04}", trial + 1)
                    } else {
                        format!("run_{:04}", trial + 1)
                    });
                }
                if let Some(s) = &self.sweep {
                    dir.push(dir_name(s, &s.values[value]));
                }
                let mut args: Vec<String> = strip_output_dir(&self.args_for(value));
                args.push("--output-artifact-dir".into());
                args.push(dir.display().to_string());
                out.push(Step {
                    args,
                    dir,
                    value,
                    trial,
                });
            }
        }
        out
    }
}

fn strip_output_dir(args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        match flag_value(args, i, &["--output-artifact-dir", "--artifact-dir"]) {
            Some((_, used)) => i += used,
            None => {
                out.push(args[i].clone());
                i += 1;
            }
        }
    }
    out
}

/// Parses one run's arguments into its configuration (exit 2 material on error).
fn config(args: &[String], cmdline: &str) -> Result<crate::config::ProfileConfig, String> {
    let parsed = OneProfile::try_parse_from(
        std::iter::once("profile".to_string()).chain(args.iter().cloned()),
    )
    .map_err(|e| e.to_string())?;
    let cfg = parsed
        .args
        .into_config(cmdline.to_string())
        .map_err(|e| e.to_string())?;
    crate::dataset::validate(&cfg).map_err(|e| format!("{e:#}"))?;
    Ok(cfg)
}

/// Runs the plan; `raw_args` is the whole command line (for `cli_command`).
pub fn run(plan: &Plan, raw_args: &[String]) -> ExitCode {
    let cmdline = crate::cli::command_line(raw_args);
    // Every value's command line is checked before the first run starts.
    let mut base = plan.output_dir.clone();
    for v in 0..plan.values() {
        match config(&strip_output_dir(&plan.args_for(v)), &cmdline) {
            Ok(cfg) if base.is_none() => base = Some(cfg.artifact_dir.clone()),
            Ok(_) => {}
            Err(e) => {
                eprintln!("error: {}", e.trim_end());
                return ExitCode::from(2);
            }
        }
    }
    let Some(base) = base else {
        return ExitCode::from(2);
    };
    let steps = plan.steps(&base);
    let mut ok: Vec<Option<Value>> = Vec::with_capacity(steps.len());
    let mut last_code = ExitCode::SUCCESS;
    for (n, step) in steps.iter().enumerate() {
        if n > 0 && plan.trials > 1 && plan.cooldown_s > 0.0 && step.value == 0 {
            std::thread::sleep(Duration::from_secs_f64(plan.cooldown_s));
        }
        eprintln!(
            "audioperf: run {}/{} -> {}",
            n + 1,
            steps.len(),
            step.dir.display()
        );
        let code = match config(&step.args, &cmdline) {
            Ok(cfg) => match crate::profile::run(cfg) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(1)
                }
            },
            Err(e) => {
                eprintln!("error: {}", e.trim_end());
                ExitCode::from(2)
            }
        };
        if code == ExitCode::from(130) {
            eprintln!("audioperf: interrupted; the remaining runs are not started");
            return code;
        }
        if code != ExitCode::SUCCESS {
            last_code = code;
        }
        ok.push(read_summary(&step.dir));
    }
    if let Err(e) = write_aggregates(plan, &base, &steps, &ok) {
        eprintln!("error: {e:#}");
        return ExitCode::from(1);
    }
    if plan.auto_plot {
        let args = plot::PlotArgs {
            paths: vec![base.clone()],
            output: None,
            theme: plot::chart::Theme::Light,
        };
        match plot::run(&args) {
            Ok(out) => println!(
                "Plots: {} charts in {}; report: {}",
                out.pngs.len(),
                out.dir.display(),
                out.report.display()
            ),
            Err(e) => {
                eprintln!("error: plotting {}: {e:#}", base.display());
                return ExitCode::from(1);
            }
        }
    }
    last_code
}

fn read_summary(dir: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(dir.join(plot::load::SUMMARY_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

fn run_label(step: &Step, plan: &Plan) -> String {
    let trial = if plan.sweep.is_some() && plan.trials > 1 {
        "trial"
    } else {
        "run"
    };
    format!("{trial}_{:04}", step.trial + 1)
}

fn write_aggregates(
    plan: &Plan,
    base: &Path,
    steps: &[Step],
    summaries: &[Option<Value>],
) -> Result<()> {
    let mut combos: Vec<(Value, Map<String, Value>)> = Vec::new();
    let mut failed_total = Vec::new();
    for v in 0..plan.values() {
        let mine: Vec<(&Step, &Option<Value>)> = steps
            .iter()
            .zip(summaries)
            .filter(|(s, _)| s.value == v)
            .collect();
        let good: Vec<Value> = mine.iter().filter_map(|(_, s)| (*s).clone()).collect();
        let labels: Vec<String> = mine
            .iter()
            .filter(|(_, s)| s.is_some())
            .map(|(st, _)| run_label(st, plan))
            .collect();
        let failed: Vec<String> = mine
            .iter()
            .filter(|(_, s)| s.is_none())
            .map(|(st, _)| run_label(st, plan))
            .collect();
        failed_total.extend(failed.iter().map(|f| format!("{}:{f}", v)));
        let (dir, variation) = match &plan.sweep {
            Some(s) => {
                let label = format!("phases.profiling.{}={}", s.name, s.values[v]);
                let values =
                    json!({ format!("phases.profiling.{}", s.name): value_json(s, &s.values[v]) });
                (
                    base.join("aggregate").join(dir_name(s, &s.values[v])),
                    Some((label, values)),
                )
            }
            None => (base.join("aggregate"), None),
        };
        if (plan.trials > 1 || plan.sweep.is_some()) && !good.is_empty() {
            let meta = aggregate::ConfidenceMeta {
                confidence: plan.confidence,
                run_labels: &labels,
                failed_runs: &failed,
                cooldown_s: plan.cooldown_s,
                variation: variation.as_ref().map(|(l, v)| (l.as_str(), v.clone())),
            };
            aggregate::write_confidence(&dir, &good, &meta)?;
        }
        if let Some(s) = &plan.sweep {
            if !good.is_empty() {
                combos.push((
                    json!({ s.name: value_json(s, &s.values[v]) }),
                    aggregate::combination_metrics(&good, plan.confidence),
                ));
            }
        }
    }
    if let Some(s) = &plan.sweep {
        write_sweep(plan, s, base, &combos, &failed_total)?;
    }
    Ok(())
}

/// `sweep_aggregate/profile_export_aiperf_sweep.{json,csv}` and the console table.
fn write_sweep(
    plan: &Plan,
    s: &Sweep,
    base: &Path,
    combos: &[(Value, Map<String, Value>)],
    failed: &[String],
) -> Result<()> {
    let dir = base.join("sweep_aggregate");
    std::fs::create_dir_all(&dir)?;
    let values: Vec<Value> = s.values.iter().map(|v| value_json(s, v)).collect();
    let best = best_configurations(combos);
    let doc = json!({
        "aggregation_type": "sweep",
        "num_profile_runs": s.values.len() * plan.trials as usize,
        "num_successful_runs": s.values.len() * plan.trials as usize - failed.len(),
        "failed_runs": failed,
        "metadata": {
            "sweep_parameters": [{"name": s.name, "values": values}],
            "num_combinations": s.values.len(),
            "sweep_mode": "repeated",
            "confidence_level": plan.confidence,
            "num_trials_per_value": plan.trials,
            "aggregation_type": "sweep",
        },
        "per_combination_metrics": combos.iter().map(|(p, m)| json!({"parameters": p, "metrics": m})).collect::<Vec<_>>(),
        "best_configurations": best,
        "pareto_optimal": aggregate::pareto_optimal(combos),
    });
    std::fs::write(
        dir.join("profile_export_aiperf_sweep.json"),
        serde_json::to_string_pretty(&doc)?,
    )?;
    std::fs::write(
        dir.join("profile_export_aiperf_sweep.csv"),
        sweep_csv(s, combos),
    )?;
    print!("{}", console_table(s, combos));
    println!(
        "Sweep summary: {}",
        dir.join("profile_export_aiperf_sweep.json").display()
    );
    Ok(())
}

fn best_configurations(combos: &[(Value, Map<String, Value>)]) -> Value {
    let pick = |tag: &str, stat: &str, max: bool| {
        let mut best: Option<(&Value, f64, &str)> = None;
        for (p, m) in combos {
            let e = m.get(tag)?;
            let v = if stat == "avg" {
                e.get("mean")
            } else {
                e.get(stat)
            }?
            .as_f64()?;
            let unit = e.get("unit").and_then(Value::as_str).unwrap_or("");
            if best.is_none_or(|(_, b, _)| if max { v > b } else { v < b }) {
                best = Some((p, v, unit));
            }
        }
        best.map(|(p, v, u)| json!({"parameters": p, "metric": v, "unit": u}))
    };
    let mut out = Map::new();
    if let Some(b) = pick("request_throughput", "avg", true) {
        out.insert("best_throughput".into(), b);
    }
    if let Some(b) =
        pick("time_to_first_token", "p99", false).or_else(|| pick("request_latency", "p99", false))
    {
        out.insert("best_latency_p99".into(), b);
    }
    Value::Object(out)
}

fn sweep_csv(s: &Sweep, combos: &[(Value, Map<String, Value>)]) -> String {
    let mut tags: Vec<&String> = combos.iter().flat_map(|(_, m)| m.keys()).collect();
    tags.sort();
    tags.dedup();
    let mut out = String::from(s.name);
    for t in &tags {
        for st in ["mean", "std", "min", "max", "cv"] {
            out.push_str(&format!(",{t}_{st}"));
        }
    }
    out.push('\n');
    for (p, m) in combos {
        out.push_str(&p.get(s.name).map(|v| v.to_string()).unwrap_or_default());
        for t in &tags {
            for st in ["mean", "std", "min", "max", "cv"] {
                let v = m
                    .get(t.as_str())
                    .and_then(|e| e.get(st))
                    .and_then(Value::as_f64);
                let d = if st == "cv" { 4 } else { 2 };
                out.push_str(&v.map(|v| format!(",{v:.d$}")).unwrap_or_else(|| ",".into()));
            }
        }
        out.push('\n');
    }
    out
}

/// The sweep at a glance: one row per value.
fn console_table(s: &Sweep, combos: &[(Value, Map<String, Value>)]) -> String {
    let cols: [(&str, &str, &str); 7] = [
        ("Requests/s", "request_throughput", "mean"),
        ("Output tok/s", "output_token_throughput", "mean"),
        ("Tok/s/user", "output_token_throughput_per_user", "mean"),
        ("TTFT p50 ms", "time_to_first_token", "p50"),
        ("TTFT p99 ms", "time_to_first_token", "p99"),
        ("Latency p50 ms", "request_latency", "p50"),
        ("Latency p99 ms", "request_latency", "p99"),
    ];
    let mut out = format!("\nSweep over {}\n{:>12}", s.flag, s.name);
    for (h, _, _) in cols {
        out.push_str(&format!(" {h:>15}"));
    }
    out.push('\n');
    for (p, m) in combos {
        out.push_str(&format!(
            "{:>12}",
            p.get(s.name).map(|v| v.to_string()).unwrap_or_default()
        ));
        for (_, tag, st) in cols {
            let v = m.get(tag).and_then(|e| e.get(st)).and_then(Value::as_f64);
            out.push_str(&format!(
                " {:>15}",
                v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "N/A".into())
            ));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests;
