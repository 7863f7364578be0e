//! The Kubernetes manifests in deploy/kubernetes, checked offline:
//! - against Kubernetes' own API schemas with `kubernetes-validate --strict`
//!   (from PyPI, installed once into target/k8s-validate-venv; the test is
//!   skipped, saying so, only when pip cannot reach the package index), and
//!   a deliberately broken copy must be rejected by it;
//! - for what a sharded run needs: an Indexed Job with parallelism =
//!   completions = AUDIOPERF_SHARD_COUNT, anti-affinity over nodes, whole-core
//!   Guaranteed resources, the shared start time and results volume, each
//!   shard's own results directory, and a merge Job that lists every shard.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The validator's version (it carries the schemas of every Kubernetes
/// release up to its own) and the Kubernetes version validated against.
const VALIDATOR: &str = "kubernetes-validate==1.37.0";
const KUBERNETES: &str = "1.31.0";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn manifest(name: &str) -> PathBuf {
    root().join("deploy/kubernetes").join(name)
}

/// The venv's python with kubernetes-validate installed, or None when pip
/// could not reach the index (the reason is printed).
fn validator() -> Option<PathBuf> {
    let venv = root().join("target/k8s-validate-venv");
    let python = venv.join("bin/python");
    let ready = venv.join(".installed");
    if std::fs::read_to_string(&ready).is_ok_and(|v| v == VALIDATOR) {
        return Some(python);
    }
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .expect("python3 -m venv");
    assert!(made.success(), "python3 -m venv failed");
    let out = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg(VALIDATOR)
        .output()
        .expect("run pip");
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let offline = [
            "Connection",
            "connection",
            "Temporary failure in name resolution",
            "Network is unreachable",
            "timed out",
            "No matching distribution",
        ]
        .iter()
        .any(|s| err.contains(s));
        assert!(offline, "pip install {VALIDATOR} failed:\n{err}");
        eprintln!("SKIPPED: pip could not reach the package index for {VALIDATOR}:\n{err}");
        return None;
    }
    std::fs::write(&ready, VALIDATOR).expect("mark the venv ready");
    Some(python)
}

/// The shards Job with its start-time placeholder filled in, as `kubectl
/// apply` would get it.
fn rendered_shards_job(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(manifest("shards-job.yaml")).expect("read shards-job.yaml");
    assert!(text.contains("__START_AT__"));
    let path = dir.join("shards-job.yaml");
    std::fs::write(&path, text.replace("__START_AT__", "2026-12-02T14:25:00Z")).expect("write");
    path
}

fn validate(python: &Path, files: &[PathBuf]) -> std::process::Output {
    Command::new(python)
        .args([
            "-m",
            "kubernetes_validate",
            "--strict",
            "--quiet",
            "-k",
            KUBERNETES,
        ])
        .args(files)
        .output()
        .expect("run kubernetes-validate")
}

/// Every document of a YAML file, as JSON (PyYAML comes with the validator).
fn load(python: &Path, file: &Path) -> Value {
    let out = Command::new(python)
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))",
        ])
        .arg(file)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(docs.as_array().map(Vec::len), Some(1), "{}", file.display());
    docs[0].clone()
}

fn env_value<'a>(container: &'a Value, name: &str) -> &'a Value {
    container["env"]
        .as_array()
        .and_then(|e| e.iter().find(|v| v["name"] == name))
        .unwrap_or_else(|| panic!("env {name} missing"))
}

fn args_of(container: &Value) -> Vec<&str> {
    container["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string arg"))
        .collect()
}

fn after<'a>(args: &[&'a str], flag: &str) -> &'a str {
    let i = args
        .iter()
        .position(|a| *a == flag)
        .unwrap_or_else(|| panic!("{flag} missing"));
    args[i + 1]
}

#[test]
fn the_manifests_validate_and_describe_a_sharded_run() {
    let Some(python) = validator() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let shards_file = rendered_shards_job(tmp.path());
    let files = [
        shards_file.clone(),
        manifest("merge-job.yaml"),
        manifest("results-pvc.yaml"),
    ];
    let out = validate(&python, &files);
    assert!(
        out.status.success(),
        "kubernetes-validate:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The validator does reject a broken Job (an unknown field, strict).
    let broken = tmp.path().join("broken.yaml");
    let text = std::fs::read_to_string(&shards_file).expect("read");
    std::fs::write(&broken, text.replace("completionMode:", "completionsMode:")).expect("write");
    assert!(!validate(&python, &[broken]).status.success());

    let job = load(&python, &shards_file);
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    let n = spec["completions"].as_u64().expect("completions");
    assert!(n >= 2);
    assert_eq!(spec["parallelism"].as_u64(), Some(n));
    let pod = &spec["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(
        env_value(c, "AUDIOPERF_SHARD_COUNT")["value"],
        n.to_string()
    );
    assert_eq!(
        env_value(c, "SHARD_INDEX")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    );
    assert_eq!(env_value(c, "START_AT")["value"], "2026-12-02T14:25:00Z");
    // One shard per node, selected by the pods' own labels.
    let anti =
        &pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0];
    assert_eq!(anti["topologyKey"], "kubernetes.io/hostname");
    let labels = job["spec"]["template"]["metadata"]["labels"]
        .as_object()
        .expect("labels");
    for (k, v) in anti["labelSelector"]["matchLabels"]
        .as_object()
        .expect("selector")
    {
        assert_eq!(labels.get(k), Some(v), "selector {k}");
    }
    // Whole cores, requests = limits (Guaranteed QoS).
    let res = &c["resources"];
    assert_eq!(res["requests"], res["limits"]);
    let cpu = res["requests"]["cpu"].as_str().expect("cpu as a string");
    assert!(
        cpu.parse::<u32>().is_ok_and(|v| v >= 1),
        "cpu {cpu:?} is not whole cores"
    );
    // Every shard: the same start, its own results directory on the shared volume.
    let args = args_of(c);
    assert_eq!(args[0], "profile");
    assert_eq!(after(&args, "--start-at"), "$(START_AT)");
    assert_eq!(
        after(&args, "--output-artifact-dir"),
        "/results/shard-$(SHARD_INDEX)"
    );
    assert!(!args.contains(&"--shard-index") && !args.contains(&"--shard-count"));
    let claim = |pod: &Value| pod["volumes"][0]["persistentVolumeClaim"]["claimName"].clone();
    let pvc = load(&python, &manifest("results-pvc.yaml"));
    assert_eq!(claim(pod), pvc["metadata"]["name"]);
    assert_eq!(pvc["spec"]["accessModes"][0], "ReadWriteMany");
    assert_eq!(c["volumeMounts"][0]["mountPath"], "/results");

    let merge = load(&python, &manifest("merge-job.yaml"));
    let mpod = &merge["spec"]["template"]["spec"];
    let mc = &mpod["containers"][0];
    assert_eq!(mc["image"], c["image"]);
    assert_eq!(claim(mpod), claim(pod));
    let margs = args_of(mc);
    assert_eq!(margs[0], "merge");
    let want: Vec<String> = (0..n).map(|i| format!("/results/shard-{i}")).collect();
    assert_eq!(
        margs[1..=n as usize],
        want.iter().map(String::as_str).collect::<Vec<_>>()[..]
    );
    assert_eq!(after(&margs, "--output-artifact-dir"), "/results/merged");
}
