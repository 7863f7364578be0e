//! End to end over TLS: the mock server serves HTTPS with a self-signed
//! certificate; `profile` works with --insecure or the certificate as
//! --ca-file, and fails with a clear certificate error otherwise.

mod common;
use common::*;
use std::time::Duration;

fn https_profile(url: &str, dir: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "--model",
        "m",
        "--audio-length-mean",
        "0.2",
        "--streaming",
        "--url",
        url,
        "--request-count",
        "6",
        "--concurrency",
        "2",
        "--ui-type",
        "none",
        "--output-artifact-dir",
        dir.to_str().unwrap(),
    ];
    args.extend(extra);
    profile(&args, Duration::from_secs(30))
}

#[test]
fn https_with_self_signed_certificate() {
    let tmp = tempdir();
    let cert = tmp.path().join("cert.pem");
    let mock = MockServer::start(&[
        "--tls-self-signed",
        "--tls-cert-out",
        cert.to_str().unwrap(),
        "--ttft-ms",
        "5",
        "--itl-ms",
        "1",
        "--output-tokens",
        "5",
    ]);
    let url = mock.url.replace("http://", "https://");

    for (name, extra) in [
        ("insecure", vec!["--insecure"]),
        ("ca-file", vec!["--ca-file", cert.to_str().unwrap()]),
    ] {
        let dir = tmp.path().join(name);
        let out = https_profile(&url, &dir, &extra);
        assert!(out.status.success(), "{name}: {}", stderr_of(&out));
        let ex = read_json(&dir.join("profile_export_aiperf.json"));
        assert_eq!(stat(&ex, "request_count", "avg"), 6.0, "{name}");
        assert_eq!(stat(&ex, "output_sequence_length", "avg"), 5.0, "{name}");
    }

    // Default roots: the self-signed certificate is refused, clearly.
    let dir = tmp.path().join("strict");
    let out = https_profile(&url, &dir, &[]);
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(
        err.contains("invalid peer certificate: UnknownIssuer"),
        "{err}"
    );
    assert!(err.contains("--insecure"), "{err}");
    let lines = read_jsonl(&dir.join("profile_export.jsonl"));
    assert!(!lines.is_empty());
    assert!(
        lines.iter().all(|l| l["error"]["type"] == "TLSError"),
        "{lines:?}"
    );
}
