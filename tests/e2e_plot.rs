//! End to end: `profile --concurrency 1,4 --auto-plot` against the real mock
//! server (a sweep's directories, its summary, the charts and report.html),
//! `--num-profile-runs` aggregates, and `audioperf plot` on a directory
//! written by AIPerf 0.13 (fixtures/aiperf-0.13-sweep). The charts are
//! decoded and checked against the run's own exports; report.html is
//! rendered in headless Chromium when it is installed.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(90);

fn sweep_args<'a>(url: &'a str, dir: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "--model",
        "m",
        "--endpoint-type",
        "chat",
        "--audio-length-mean",
        "0.1",
        "--synthetic-input-tokens-mean",
        "10",
        "--streaming",
        "--url",
        url,
        "--request-count",
        "12",
        "--ui-type",
        "none",
        "--output-artifact-dir",
        dir,
        "--slice-duration",
        "0.1",
    ];
    a.extend_from_slice(extra);
    a
}

/// (width, height, distinct RGBA colours) of a PNG.
fn png_info(path: &Path) -> (u32, u32, usize) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut decoder = png::Decoder::new(file);
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("png frame");
    let px = info.color_type.samples();
    let mut colours: Vec<&[u8]> = buf[..info.buffer_size()].chunks(px).collect();
    colours.sort();
    colours.dedup();
    (info.width, info.height, colours.len())
}

fn assert_chart(path: &Path) {
    let (w, h, colours) = png_info(path);
    assert_eq!((w, h), (1200, 675), "{}", path.display());
    // Background, text, grid, data and anti-aliasing: a drawn chart has many.
    assert!(
        colours > 20,
        "{} has {colours} colours: blank?",
        path.display()
    );
    assert!(
        path.with_extension("svg").is_file(),
        "no SVG beside {}",
        path.display()
    );
}

#[test]
fn a_concurrency_sweep_with_auto_plot_writes_runs_summary_and_every_chart() {
    let mock = MockServer::start(&["--ttft-ms", "5", "--itl-ms", "2", "--output-tokens", "6"]);
    let tmp = tempdir();
    let base = tmp.path().join("sweep");
    let base_s = base.to_str().unwrap_or_default().to_string();
    let out = profile(
        &sweep_args(&mock.url, &base_s, &["--concurrency", "1,4", "--auto-plot"]),
        LIMIT,
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let stdout = stdout_of(&out);
    assert!(stdout.contains("Sweep over --concurrency"), "{stdout}");

    for c in ["concurrency_1", "concurrency_4"] {
        let run = base.join(c);
        let export = read_json(&run.join("profile_export_aiperf.json"));
        assert_eq!(stat(&export, "request_count", "avg"), 12.0, "{c}");
    }
    let sweep = read_json(&base.join("sweep_aggregate/profile_export_aiperf_sweep.json"));
    let combos = sweep["per_combination_metrics"]
        .as_array()
        .expect("combinations");
    let values: Vec<u64> = combos
        .iter()
        .map(|c| c["parameters"]["concurrency"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(values, [1, 4]);
    for (c, v) in combos.iter().zip(["concurrency_1", "concurrency_4"]) {
        let run = read_json(&base.join(v).join("profile_export_aiperf.json"));
        let mean = c["metrics"]["request_throughput"]["mean"]
            .as_f64()
            .unwrap_or(-1.0);
        assert_eq!(mean, stat(&run, "request_throughput", "avg"), "{v}");
    }
    let csv = std::fs::read_to_string(base.join("sweep_aggregate/profile_export_aiperf_sweep.csv"))
        .expect("csv");
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.starts_with("concurrency,"), "{csv}");
    assert!(base
        .join("aggregate/concurrency_4/profile_export_aiperf_aggregate.json")
        .is_file());

    let plots = base.join("plots");
    for chart in [
        "ttft_vs_throughput",
        "pareto_per_user_vs_total",
        "latency_vs_concurrency",
    ] {
        assert_chart(&plots.join(format!("{chart}.png")));
    }
    for c in ["concurrency_1", "concurrency_4"] {
        for chart in [
            "ttft_over_time",
            "itl_over_time",
            "latency_over_time",
            "dispersed_throughput_over_time",
            "ttft_timeline",
            "ttft_histogram",
            "itl_histogram",
            "latency_histogram",
            "throughput_over_time",
            "in_flight_over_time",
            "timeslices_time_to_first_token",
        ] {
            assert_chart(&plots.join(c).join(format!("{chart}.png")));
        }
    }

    // The chart data is the run's data: one TTFT point per request line, with its value.
    let run_dir = base.join("concurrency_4");
    let run = audioperf::plot::load::load_run(&run_dir).expect("load run");
    let charts = audioperf::plot::single::charts(&run);
    let ttft = charts
        .iter()
        .find(|c| c.stem == "ttft_over_time")
        .expect("ttft chart");
    let lines = read_jsonl(&run_dir.join("profile_export.jsonl"));
    let mut from_file: Vec<f64> = lines
        .iter()
        .filter_map(|l| l["metrics"]["time_to_first_token"]["value"].as_f64())
        .collect();
    let mut drawn: Vec<f64> = ttft.series[0].points.iter().map(|p| p.1).collect();
    from_file.sort_by(f64::total_cmp);
    drawn.sort_by(f64::total_cmp);
    assert_eq!(drawn.len(), 12);
    assert_eq!(drawn, from_file);
    let export = read_json(&run_dir.join("profile_export_aiperf.json"));
    assert_eq!(
        ttft.y_markers[2].at,
        stat(&export, "time_to_first_token", "p99")
    );

    let report = std::fs::read_to_string(plots.join("report.html")).expect("report.html");
    // Self-contained: every image inline, no script, link, stylesheet or font to fetch.
    for outside in [
        "src=\"http",
        "src=\"file",
        "href=",
        "<script",
        "<link",
        "url(",
        "@import",
    ] {
        assert!(!report.contains(outside), "report.html holds {outside}");
    }
    assert_eq!(
        report.matches("<img ").count(),
        report.matches("src=\"data:image/png;base64,").count()
    );
    // 3 comparison charts + 2 runs x 14 single-run charts (time slices included).
    assert_eq!(report.matches("<img ").count(), 3 + 2 * 14);
    assert!(report.contains("Client self-check") && report.contains("--concurrency 1,4"));
    screenshot_shows_charts(&plots.join("report.html"));
}

#[test]
fn repeated_runs_write_a_confidence_aggregate() {
    let mock = MockServer::start(&["--ttft-ms", "5", "--itl-ms", "2", "--output-tokens", "6"]);
    let tmp = tempdir();
    let base = tmp.path().join("rep");
    let base_s = base.to_str().unwrap_or_default().to_string();
    let out = profile(
        &sweep_args(
            &mock.url,
            &base_s,
            &[
                "--concurrency",
                "2",
                "--num-profile-runs",
                "3",
                "--profile-run-cooldown-seconds",
                "0.1",
                "--confidence-level",
                "0.9",
            ],
        ),
        LIMIT,
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let mut ttft = Vec::new();
    for r in ["run_0001", "run_0002", "run_0003"] {
        let export = read_json(
            &base
                .join("profile_runs")
                .join(r)
                .join("profile_export_aiperf.json"),
        );
        ttft.push(stat(&export, "time_to_first_token", "avg"));
    }
    let agg = read_json(&base.join("aggregate/profile_export_aiperf_aggregate.json"));
    assert_eq!(agg["metadata"]["num_successful_runs"], 3);
    assert_eq!(agg["metadata"]["confidence_level"], 0.9);
    let m = &agg["metrics"]["time_to_first_token_avg"];
    let mean = ttft.iter().sum::<f64>() / 3.0;
    let std = (ttft.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
    assert!((m["mean"].as_f64().unwrap_or(0.0) - mean).abs() < 1e-9);
    assert!((m["std"].as_f64().unwrap_or(0.0) - std).abs() < 1e-9);
    // t(0.95, df 2) = 2.919986 (scipy).
    assert!(
        (m["t_critical"].as_f64().unwrap_or(0.0) - 2.919986).abs() < 1e-5,
        "{m}"
    );
    let half = m["ci_high"].as_f64().unwrap_or(0.0) - mean;
    assert!((half - 2.919986 * std / 3f64.sqrt()).abs() < 1e-6);
}

#[test]
fn a_bad_list_is_a_command_line_error_and_nothing_runs() {
    let tmp = tempdir();
    let dir = tmp.path().join("x");
    let dir_s = dir.to_str().unwrap_or_default().to_string();
    let out = profile(
        &sweep_args("127.0.0.1:9", &dir_s, &["--concurrency", "1,0"]),
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(!dir.exists());
}

#[test]
fn plot_draws_a_directory_written_by_aiperf() {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/aiperf-0.13-sweep");
    let tmp = tempdir();
    let out_dir = tmp.path().join("plots");
    let out = audioperf()
        .arg("plot")
        .arg(&fixture)
        .arg("--output")
        .arg(&out_dir)
        .arg("--theme")
        .arg("dark")
        .output()
        .expect("run plot");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stdout_of(&out).contains("of 2 run(s)"),
        "{}",
        stdout_of(&out)
    );
    assert_chart(&out_dir.join("ttft_vs_throughput.png"));
    assert_chart(&out_dir.join("concurrency_2/ttft_over_time.png"));
    assert_chart(&out_dir.join("concurrency_1/timeslices_time_to_first_token.png"));
    let run = audioperf::plot::load::load_run(&fixture.join("concurrency_1")).expect("load");
    assert_eq!(run.requests.len(), 8);
    assert_eq!(run.concurrency(), Some(1.0));
    let report = std::fs::read_to_string(out_dir.join("report.html")).expect("report");
    assert!(report.contains("not written by audioperf"));
    assert!(report.contains("aiperf profile --model"));
}

#[test]
fn plot_of_a_folder_without_runs_says_what_it_looked_for() {
    let tmp = tempdir();
    let out = audioperf()
        .arg("plot")
        .arg(tmp.path())
        .output()
        .expect("run plot");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("no run found"),
        "{}",
        stderr_of(&out)
    );
}

/// Renders report.html in headless Chromium and checks the screenshot holds
/// the charts: its size, and enough non-background pixels and colours. Skipped
/// (loudly) where no chromium is installed: `apt-get install chromium`.
fn screenshot_shows_charts(report: &Path) {
    let Some(browser) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
    else {
        eprintln!("\n*** SKIPPED: report.html screenshot check: no chromium on PATH (apt-get install chromium) ***\n");
        return;
    };
    let shot = report.with_file_name("screenshot.png");
    let profile_dir = report.with_file_name("chromium-profile");
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1280,2400",
        ])
        .arg(format!("--user-data-dir={}", profile_dir.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", report.display()))
        .output()
        .expect("run chromium");
    assert!(
        shot.is_file(),
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (w, h, colours) = png_info(&shot);
    assert_eq!((w, h), (1280, 2400));
    // Text and charts: thousands of colours; a blank or broken page has a handful.
    assert!(colours > 500, "screenshot has {colours} colours");
}
