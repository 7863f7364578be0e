use super::*;

fn args(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

#[test]
fn an_ordinary_command_line_is_not_a_plan() {
    assert_eq!(
        plan(&args("--model m --concurrency 4 --url x")).unwrap(),
        None
    );
}

#[test]
fn a_list_value_becomes_a_sweep_in_order() {
    let p = plan(&args("--model m --concurrency 1,4,16 --url x"))
        .unwrap()
        .unwrap();
    let s = p.sweep.clone().unwrap();
    assert_eq!(
        (s.name, s.values.clone()),
        ("concurrency", vec!["1".into(), "4".into(), "16".into()])
    );
    assert_eq!(p.args_for(2), args("--model m --concurrency 16 --url x"));
    let steps = p.steps(Path::new("/b"));
    let dirs: Vec<String> = steps.iter().map(|s| s.dir.display().to_string()).collect();
    assert_eq!(
        dirs,
        ["/b/concurrency_1", "/b/concurrency_4", "/b/concurrency_16"]
    );
    assert_eq!(
        steps[1].args,
        args("--model m --concurrency 4 --url x --output-artifact-dir /b/concurrency_4")
    );
}

#[test]
fn inline_lists_and_float_names_follow_aiperf() {
    let p = plan(&args("--request-rate=5,2.5 --auto-plot"))
        .unwrap()
        .unwrap();
    assert!(p.auto_plot);
    let s = p.sweep.clone().unwrap();
    assert_eq!(p.args_for(1), args("--request-rate=2.5"));
    assert_eq!(dir_name(&s, "5"), "rate_5.0");
    assert_eq!(dir_name(&s, "2.5"), "rate_2.5");
}

#[test]
fn repeats_get_run_dirs_and_with_a_sweep_trial_dirs() {
    let p = plan(&args(
        "--num-profile-runs 2 --profile-run-cooldown-seconds=0.5 --output-artifact-dir /o -m x",
    ))
    .unwrap()
    .unwrap();
    assert_eq!(
        (p.trials, p.cooldown_s, p.output_dir.clone()),
        (2, 0.5, Some(PathBuf::from("/o")))
    );
    let dirs: Vec<String> = p
        .steps(Path::new("/o"))
        .iter()
        .map(|s| s.dir.display().to_string())
        .collect();
    assert_eq!(
        dirs,
        ["/o/profile_runs/run_0001", "/o/profile_runs/run_0002"]
    );
    // The user's --output-artifact-dir is replaced, not repeated.
    assert_eq!(
        p.steps(Path::new("/o"))[0].args,
        args("-m x --output-artifact-dir /o/profile_runs/run_0001")
    );
    let p = plan(&args("--concurrency 1,2 --num-profile-runs 2"))
        .unwrap()
        .unwrap();
    let dirs: Vec<String> = p
        .steps(Path::new("/b"))
        .iter()
        .map(|s| s.dir.display().to_string())
        .collect();
    assert_eq!(
        dirs,
        [
            "/b/profile_runs/trial_0001/concurrency_1",
            "/b/profile_runs/trial_0001/concurrency_2",
            "/b/profile_runs/trial_0002/concurrency_1",
            "/b/profile_runs/trial_0002/concurrency_2"
        ]
    );
}

#[test]
fn bad_values_are_clear_errors() {
    for (a, want) in [
        ("--num-profile-runs 0", "between 1 and 10"),
        ("--num-profile-runs x", "not a number"),
        ("--confidence-level 1.5", "between 0 and 1"),
        ("--profile-run-cooldown-seconds -1", "0 or more"),
        ("--concurrency 1,,2", "empty value"),
        ("--concurrency 1,2 --request-rate 3,4", "only one option"),
        ("--num-profile-runs", "needs a value"),
    ] {
        let e = plan(&args(a)).unwrap_err();
        assert!(e.contains(want), "{a}: {e}");
    }
}

#[test]
fn console_table_has_one_row_per_value() {
    let s = Sweep {
        name: "concurrency",
        flag: "--concurrency",
        values: vec!["1".into(), "4".into()],
        slot: 1,
        inline: false,
    };
    let m = |t: f64| {
        json!({"request_throughput": {"mean": t}, "time_to_first_token": {"p99": 20.0}})
            .as_object()
            .unwrap()
            .clone()
    };
    let t = console_table(
        &s,
        &[
            (json!({"concurrency": 1}), m(10.0)),
            (json!({"concurrency": 4}), m(35.5)),
        ],
    );
    let rows: Vec<&str> = t
        .lines()
        .filter(|l| l.trim_start().starts_with(['1', '4']))
        .collect();
    assert_eq!(rows.len(), 2, "{t}");
    assert!(
        rows[1].contains("35.50") && rows[1].contains("20.00") && rows[1].contains("N/A"),
        "{t}"
    );
}
