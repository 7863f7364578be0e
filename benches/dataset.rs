//! Request-body building benchmarks: `dataset::build` for the issue's workload
//! (100 distinct 5 s 16 kHz mono 16-bit WAV clips, each base64-encoded into a
//! complete HTTP/1.1 request), and the base64 step alone on one 5 s clip.
//! Criterion prints time per iteration and MB/s of request bodies produced.
//! Also synthetic prompts cut to an exact token count with the fixture Qwen
//! tokenizer (tokens/s of prompt text produced).

use audioperf::cli::ProfileArgs;
use audioperf::config::ProfileConfig;
use audioperf::dataset::{self, audio::ClipPlanner, prompt::PromptGenerator};
use audioperf::tokens::HfTokenizer;
use clap::Parser;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use std::time::Duration;

/// `ProfileArgs` is a clap `Args` struct; this wrapper lets the bench build a
/// config from the same flags a user types, so the bench follows the CLI.
#[derive(Parser)]
struct Wrap {
    #[command(flatten)]
    args: ProfileArgs,
}

fn issue_config(entries: usize) -> ProfileConfig {
    let entries = entries.to_string();
    let argv = [
        "profile",
        "--model",
        "Qwen/Qwen2-Audio-7B-Instruct",
        "--endpoint-type",
        "chat",
        "--audio-length-mean",
        "5.0",
        "--audio-format",
        "wav",
        "--audio-sample-rates",
        "16",
        "--synthetic-input-tokens-mean",
        "100",
        "--streaming",
        "--url",
        "127.0.0.1:8000",
        "--num-dataset-entries",
        entries.as_str(),
        "--random-seed",
        "7",
    ];
    let w = match Wrap::try_parse_from(argv) {
        Ok(w) => w,
        Err(e) => panic!("bench flags no longer parse: {e}"),
    };
    match w.args.into_config("audioperf profile (bench)".into()) {
        Ok(c) => c,
        Err(e) => panic!("bench flags no longer validate: {e}"),
    }
}

fn bench(c: &mut Criterion) {
    let cfg = issue_config(100);
    let probe = match dataset::build(&cfg) {
        Ok(d) => d,
        Err(e) => panic!("dataset::build failed: {e:#}"),
    };
    assert_eq!(probe.requests.len(), 100);
    let body_bytes: u64 = probe.requests.iter().map(|r| r.body().len() as u64).sum();
    // 5 s x 16 kHz x 2 bytes + 44-byte header, base64: 4/3 of that, per body.
    assert!(body_bytes > 100 * 213_000, "bodies too small: {body_bytes}");
    drop(probe);

    let mut g = c.benchmark_group("dataset_build_100x5s_wav");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_millis(500));
    g.throughput(Throughput::Bytes(body_bytes));
    g.bench_function("build", |b| {
        b.iter(|| match dataset::build(black_box(&cfg)) {
            Ok(d) => d.requests.len(),
            Err(e) => panic!("{e:#}"),
        })
    });
    g.finish();

    // The base64 step alone, on the WAV bytes of one 5 s clip.
    let mut planner = ClipPlanner::new([1, 2, 3]);
    let spec = match planner.next_clip(&cfg.audio) {
        Ok(s) => s,
        Err(e) => panic!("{e:#}"),
    };
    let wav = dataset::audio::render_wav(&spec);
    assert_eq!(wav.len(), 44 + 5 * 16_000 * 2);
    let mut out = vec![0u8; base64_simd::STANDARD.encoded_length(wav.len())];
    let mut g = c.benchmark_group("base64_5s_wav");
    g.measurement_time(Duration::from_secs(2));
    g.warm_up_time(Duration::from_millis(500));
    g.throughput(Throughput::Bytes(wav.len() as u64));
    g.bench_function("encode_into_reused_buffer", |b| {
        b.iter(|| {
            let s = base64_simd::STANDARD
                .encode(black_box(&wav), base64_simd::Out::from_slice(&mut out));
            s.len()
        })
    });
    g.finish();

    // Rendering the noise + WAV header alone, so build = render + base64 + JSON.
    let mut g = c.benchmark_group("render_5s_wav");
    g.measurement_time(Duration::from_secs(2));
    g.warm_up_time(Duration::from_millis(500));
    g.throughput(Throughput::Bytes(wav.len() as u64));
    g.bench_function("noise_and_header", |b| {
        b.iter(|| dataset::audio::render_wav(black_box(&spec)).len())
    });
    g.finish();

    // 20 prompts of 2,000 tokens each with the real Qwen tokenizer, from a
    // fresh generator per iteration (its per-word counts start empty, as in
    // one dataset build).
    let qwen = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/tokenizers/qwen3/tokenizer.json");
    let qwen = match HfTokenizer::from_file(&qwen, "qwen3") {
        Ok(t) => t,
        Err(e) => panic!("fixture tokenizer: {e}"),
    };
    let mut g = c.benchmark_group("prompt_20x2000_tokens_qwen");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_millis(500));
    g.throughput(Throughput::Elements(20 * 2000));
    g.bench_function("generate", |b| {
        b.iter(|| {
            let mut prompts = PromptGenerator::new(&qwen, [1, 2]);
            (0..20)
                .map(|_| match prompts.generate(black_box(2000)) {
                    Ok(p) => p.len(),
                    Err(e) => panic!("{e:#}"),
                })
                .sum::<usize>()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
