//! End to end: the dataset pool bounded by `--dataset-memory-mb`, the refusal
//! of an explicit entry count that cannot fit, and Ctrl-C during the build.

mod common;
use common::*;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// An explicit --num-dataset-entries over the budget is a command-line error
/// (exit 2) naming the memory it needs and the flag that raises the budget;
/// nothing is built or sent and no artifact directory is made.
#[test]
fn explicit_entries_over_the_budget_are_refused_before_anything_runs() {
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    let t0 = Instant::now();
    let out = profile(
        &[
            "--model",
            "m",
            "--url",
            "127.0.0.1:1",
            "--audio-length-mean",
            "5",
            "--num-dataset-entries",
            "100000",
            "--request-count",
            "10",
            "--output-artifact-dir",
            dir.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(2), "stderr: {}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("--num-dataset-entries 100000: the dataset would need about ")
            && err.contains("MB, more than the dataset memory budget of 512 MB")
            && err.contains("--dataset-memory-mb"),
        "{err}"
    );
    assert!(!dir.exists(), "nothing may be written");
    assert!(t0.elapsed() < Duration::from_secs(10));
}

/// Ctrl-C in the middle of a long build ends the process within a second
/// (asserted < 3 s for slow machines) with status 130 and a clear line.
#[test]
fn sigint_during_the_build_exits_130_at_once() {
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    // 2,000 one-minute clips: tens of seconds to build.
    let mut child = audioperf()
        .arg("profile")
        .args([
            "--model",
            "m",
            "--url",
            "127.0.0.1:1",
            "--audio-length-mean",
            "60",
            "--num-dataset-entries",
            "2000",
            "--dataset-memory-mb",
            "100000",
            "--request-count",
            "10",
            "--output-artifact-dir",
            dir.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn profile");
    // Into the build: the log exists once start-up is past the tokenizer.
    let t0 = Instant::now();
    while !dir.join("logs").exists() && t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the build finished too early"
    );
    let pid = child.id() as libc::pid_t;
    let sent = Instant::now();
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if sent.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("still running 20 s after SIGINT");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let took = sent.elapsed();
    let out = child.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(130), "stderr: {}", stderr_of(&out));
    assert!(took < Duration::from_secs(3), "exit took {took:?}");
    assert!(
        stderr_of(&out).contains("interrupted while building the dataset"),
        "{}",
        stderr_of(&out)
    );
}

/// A pool capped by the budget still sends every request (one record each),
/// every entry of the pool before any reuse, and says so at start-up.
#[test]
fn a_capped_pool_sends_every_request_and_reports_itself() {
    let mock = MockServer::start(&["--ttft-ms", "1", "--itl-ms", "0", "--output-tokens", "2"]);
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    let out = profile(
        &[
            "--model",
            "m",
            "--endpoint-type",
            "chat",
            "--streaming",
            "--url",
            &mock.url,
            "--audio-length-mean",
            "1",
            "--request-count",
            "300",
            "--concurrency",
            "4",
            "--random-seed",
            "7",
            "--dataset-memory-mb",
            "1",
            "--output-artifact-dir",
            dir.to_str().unwrap(),
            "--ui-type",
            "none",
        ],
        Duration::from_secs(120),
    );
    assert!(out.status.success(), "stderr: {}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("unique entries") && err.contains("capped from 300 by --dataset-memory-mb 1"),
        "{err}"
    );
    let lines = read_jsonl(&dir.join("profile_export.jsonl"));
    assert_eq!(lines.len(), 300);
    let mut ids: Vec<u64> = lines
        .iter()
        .map(|l| {
            l["metadata"]["conversation_id"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .expect("conversation_id")
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    // About 19 entries of 1 s audio fit in 1 MB; every one is used.
    assert!(ids.len() > 5 && ids.len() < 40, "{} entries", ids.len());
    assert_eq!(ids, (0..ids.len() as u64).collect::<Vec<_>>());
}
