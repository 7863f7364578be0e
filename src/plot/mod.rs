//! `audioperf plot [PATHS…] [--output DIR]`: charts of finished runs read
//! back from their export files (audioperf's or AIPerf 0.13's), drawn
//! natively as PNG and SVG, plus one self-contained `report.html`.
//!
//! One run: the per-request charts (`single`). Several runs (a sweep's
//! directory or several PATHS): the comparison charts (`multi`) at the top
//! and each run's own charts in `<output>/<run name>/`.
//!
//! This module only reads exports; it never runs a profile (`sweep` calls it
//! after one for `--auto-plot`).

pub mod chart;
pub mod html;
pub mod load;
pub mod multi;
pub mod single;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use chart::{Chart, Theme};
use load::Run;

#[derive(clap::Args, Debug, Clone)]
pub struct PlotArgs {
    /// Run directories, or folders holding runs (a sweep's base directory,
    /// artifacts/) [default: ./artifacts].
    #[arg(value_name = "PATHS")]
    pub paths: Vec<PathBuf>,
    /// Where the charts and report.html go [default: <first path>/plots].
    #[arg(long, short = 'o', value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Colours of the charts and the report: light or dark [default: light].
    #[arg(long, value_name = "THEME", value_parser = Theme::parse, default_value = "light")]
    pub theme: Theme,
}

/// What a plot wrote.
#[derive(Debug)]
pub struct PlotOutput {
    pub dir: PathBuf,
    pub report: PathBuf,
    pub runs: usize,
    /// Every chart written, as paths of its PNG (an SVG lies beside each).
    pub pngs: Vec<PathBuf>,
}

/// A folder name for a run in a multi-run output (unique within it).
fn run_folder(run: &Run, taken: &mut Vec<String>) -> String {
    let base: String = run
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut name = base.clone();
    let mut n = 2;
    while taken.contains(&name) || name == "." || name == ".." || name.is_empty() {
        name = format!("{base}_{n}");
        n += 1;
    }
    taken.push(name.clone());
    name
}

fn draw_all(charts: &[Chart], theme: Theme, dir: &Path, pngs: &mut Vec<PathBuf>) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for c in charts {
        chart::write(c, theme, dir)?;
        pngs.push(dir.join(format!("{}.png", c.stem)));
    }
    Ok(())
}

pub fn run(args: &PlotArgs) -> Result<PlotOutput> {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from("artifacts")]
    } else {
        args.paths.clone()
    };
    for p in &paths {
        if !p.is_dir() {
            bail!("{} is not a directory", p.display());
        }
    }
    let found = load::find_runs(&paths);
    if found.is_empty() {
        bail!(
            "no run found under {}: a run directory holds {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            load::SUMMARY_FILE
        );
    }
    let mut runs = Vec::new();
    for dir in &found {
        match load::load_run(dir) {
            Ok(r) => runs.push(r),
            Err(e) => eprintln!("warning: skipping {}: {e:#}", dir.display()),
        }
    }
    if runs.is_empty() {
        bail!(
            "none of the {} run directories found could be read",
            found.len()
        );
    }
    let out_dir = args
        .output
        .clone()
        .unwrap_or_else(|| paths[0].join("plots"));
    let mut pngs = Vec::new();

    // Charts first (the report inlines their PNGs).
    let multi_charts = if runs.len() > 1 {
        multi::charts(&runs)
    } else {
        Vec::new()
    };
    draw_all(&multi_charts, args.theme, &out_dir, &mut pngs)?;
    let ordered = multi::ordered(&runs);
    let mut taken = Vec::new();
    let mut per_run: Vec<(&Run, PathBuf, Vec<Chart>)> = Vec::new();
    for r in &ordered {
        let dir = if runs.len() == 1 {
            out_dir.clone()
        } else {
            out_dir.join(run_folder(r, &mut taken))
        };
        let charts = single::charts(r);
        draw_all(&charts, args.theme, &dir, &mut pngs)?;
        per_run.push((r, dir, charts));
    }

    let mut sections = Vec::new();
    if !multi_charts.is_empty() {
        sections.push(html::Section {
            heading: "Comparison charts".into(),
            runs: Vec::new(),
            charts: multi_charts
                .iter()
                .map(|c| html::Drawn {
                    chart: c,
                    dir: &out_dir,
                })
                .collect(),
        });
    }
    let knob = multi::knob(&ordered);
    for (r, dir, charts) in &per_run {
        sections.push(html::Section {
            heading: if runs.len() > 1 {
                format!("Run {}", multi::label(r, knob))
            } else {
                "Run".into()
            },
            runs: vec![*r],
            charts: charts
                .iter()
                .map(|c| html::Drawn { chart: c, dir })
                .collect(),
        });
    }
    let report = out_dir.join("report.html");
    let title = if runs.len() > 1 {
        format!("audioperf report: {} runs", runs.len())
    } else {
        format!("audioperf report: {}", runs[0].name)
    };
    html::write(&report, &title, args.theme, &ordered, &sections)?;
    Ok(PlotOutput {
        dir: out_dir,
        report,
        runs: runs.len(),
        pngs,
    })
}
