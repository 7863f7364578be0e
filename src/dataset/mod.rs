//! Dataset: every request body built up front, before the clock starts.
//!
//! Owns: synthetic audio (`audio`), synthetic text prompts (`prompt`) and the
//! serialization of each complete HTTP/1.1 request (`request`). The engine only
//! ever writes `PreparedRequest::http` as is: nothing here runs per send.

pub mod audio;
pub mod prompt;
pub mod request;

use crate::config::ProfileConfig;
use anyhow::bail;
use audio::{ClipPlanner, ClipSpec};
use prompt::{sample_positive_normal_integer, ApproxTokenCounter, PromptGenerator, TokenCounter};
use rand::rngs::StdRng;
use rand::SeedableRng;
use request::{AudioPart, RequestInputs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// One request ready to send: the complete HTTP/1.1 bytes (head + JSON body).
#[derive(Clone, Debug)]
pub struct PreparedRequest {
    /// Request line, headers (Host, Content-Type, Content-Length, auth, user
    /// headers) and the JSON body, serialized once.
    pub http: Vec<u8>,
    /// Offset of the JSON body inside `http`.
    pub body_offset: usize,
    /// The request's text parts joined with "\n" (for tokenizer-based ISL).
    pub text: String,
    /// Token count the synthetic prompt was built for, when known.
    pub text_tokens: Option<u32>,
    /// Total seconds of audio in this request (all parts).
    pub audio_seconds: f64,
    /// Value sent as max_completion_tokens / max_tokens, if any.
    pub max_tokens: Option<u32>,
}

impl PreparedRequest {
    /// The JSON body (what `inputs.json` shows as the payload).
    pub fn body(&self) -> &[u8] {
        &self.http[self.body_offset..]
    }
}

/// What it cost to build the dataset (reported in the log).
#[derive(Clone, Debug, Default)]
pub struct BuildStats {
    pub elapsed: std::time::Duration,
    pub body_bytes: u64,
}

#[derive(Debug)]
pub struct Dataset {
    pub requests: Vec<PreparedRequest>,
    pub stats: BuildStats,
}

/// Builds `cfg.num_dataset_entries` requests (seeded by `cfg.random_seed`),
/// counting prompt tokens with the approximate counter.
pub fn build(cfg: &ProfileConfig) -> anyhow::Result<Dataset> {
    build_with_counter(cfg, &ApproxTokenCounter)
}

/// What was drawn for one entry before any bytes are rendered: drawing is
/// sequential (so a seed fixes everything), rendering runs on all cores.
struct EntryPlan {
    model: String,
    texts: Vec<String>,
    text_tokens: Option<u32>,
    clips: Vec<ClipSpec>,
    max_tokens: Option<u32>,
}

/// Seed of one named random stream, derived from the run seed (FNV-1a of the
/// name, mixed by SplitMix64), so each concern has its own independent stream
/// like AIPerf's `rng.derive("dataset.audio.duration")`.
fn derive_seed(seed: u64, name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = seed ^ h;
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// [`build`] with a caller-supplied token counter (a real tokenizer makes
/// prompt lengths exact for the model).
pub fn build_with_counter(
    cfg: &ProfileConfig,
    counter: &dyn TokenCounter,
) -> anyhow::Result<Dataset> {
    let started = Instant::now();
    if cfg.input_file.is_some() {
        bail!("--input-file is not supported yet; use synthetic inputs (--audio-length-mean, --synthetic-input-tokens-mean)");
    }
    if cfg.num_dataset_entries == 0 {
        bail!("--num-dataset-entries must be at least 1");
    }
    let include_audio = cfg.audio.length_mean_s != 0.0;
    let include_prompt = cfg.prompt.input_tokens_mean > 0;
    if include_audio {
        audio::validate(&cfg.audio)?;
    }
    if !include_audio && !include_prompt {
        bail!(
            "all synthetic inputs are disabled: set --synthetic-input-tokens-mean or \
             --audio-length-mean to a positive value"
        );
    }
    if include_prompt && cfg.prompt.text_batch_size == 0 {
        bail!("--batch-size-text must be at least 1");
    }
    if !cfg.prompt.input_tokens_stddev.is_finite() || cfg.prompt.input_tokens_stddev < 0.0 {
        bail!("--synthetic-input-tokens-stddev must be a finite number >= 0");
    }
    if !cfg.prompt.output_tokens_stddev.is_finite() || cfg.prompt.output_tokens_stddev < 0.0 {
        bail!("--output-tokens-stddev must be a finite number >= 0");
    }
    request::validate_head(cfg)?;

    let seed = cfg.random_seed.unwrap_or_else(rand::random);
    let mut clips = ClipPlanner::new([
        derive_seed(seed, "dataset.audio.duration"),
        derive_seed(seed, "dataset.audio.format"),
        derive_seed(seed, "dataset.audio.data"),
    ]);
    let mut prompts = PromptGenerator::new(
        counter,
        [
            derive_seed(seed, "dataset.prompt.length"),
            derive_seed(seed, "dataset.prompt.corpus"),
        ],
    );
    let mut max_tokens_rng = StdRng::seed_from_u64(derive_seed(seed, "composer.turn.max_tokens"));

    let n = cfg.num_dataset_entries as usize;
    let mut plans = Vec::with_capacity(n);
    for i in 0..n {
        // AIPerf's default model selection is round robin over --model names.
        let model = match cfg.model_names.len() {
            0 | 1 => cfg.model.clone(),
            k => cfg.model_names[i % k].clone(),
        };
        let (texts, text_tokens) = if include_prompt {
            let mut texts = Vec::with_capacity(cfg.prompt.text_batch_size as usize);
            let mut total = 0u32;
            for _ in 0..cfg.prompt.text_batch_size {
                let target = prompts.sample_num_tokens(
                    cfg.prompt.input_tokens_mean,
                    cfg.prompt.input_tokens_stddev,
                );
                texts.push(prompts.generate(target as usize)?);
                total = total.saturating_add(target);
            }
            (texts, Some(total))
        } else {
            (Vec::new(), None)
        };
        let mut entry_clips = Vec::new();
        if include_audio {
            for _ in 0..cfg.audio.batch_size {
                entry_clips.push(clips.next_clip(&cfg.audio)?);
            }
        }
        // AIPerf: no max tokens unless the output mean is positive; the stddev
        // is truncated to an integer; the draw is at least 1.
        let max_tokens = match cfg.prompt.output_tokens_mean {
            Some(m) if m > 0 => Some(sample_positive_normal_integer(
                &mut max_tokens_rng,
                m as f64,
                cfg.prompt.output_tokens_stddev.trunc(),
            )),
            _ => None,
        };
        plans.push(EntryPlan {
            model,
            texts,
            text_tokens,
            clips: entry_clips,
            max_tokens,
        });
    }

    let requests = render_all(cfg, &plans)?;
    let body_bytes = requests.iter().map(|r| r.body().len() as u64).sum();
    Ok(Dataset {
        requests,
        stats: BuildStats {
            elapsed: started.elapsed(),
            body_bytes,
        },
    })
}

/// Renders one entry: its clips, its body, its head.
fn render_one(cfg: &ProfileConfig, plan: &EntryPlan) -> anyhow::Result<PreparedRequest> {
    let wavs: Vec<Vec<u8>> = plan.clips.iter().map(audio::render_wav).collect();
    let format = cfg.audio.format.as_str();
    let parts: Vec<AudioPart<'_>> = wavs
        .iter()
        .map(|w| AudioPart { bytes: w, format })
        .collect();
    let inputs = RequestInputs {
        model: &plan.model,
        texts: &plan.texts,
        audios: &parts,
        max_tokens: plan.max_tokens,
    };
    let (http, body_offset) = request::build_http(cfg, &inputs)?;
    Ok(PreparedRequest {
        http,
        body_offset,
        text: plan.texts.join("\n"),
        text_tokens: plan.text_tokens,
        audio_seconds: plan.clips.iter().map(ClipSpec::duration_s).sum(),
        max_tokens: plan.max_tokens,
    })
}

/// Renders every entry, spread over the cores: each thread takes the next
/// unrendered entry, so long and short clips balance out. Results land in
/// their entry's slot, so the output order never depends on scheduling.
fn render_all(cfg: &ProfileConfig, plans: &[EntryPlan]) -> anyhow::Result<Vec<PreparedRequest>> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(plans.len())
        .max(1);
    if threads == 1 {
        return plans.iter().map(|p| render_one(cfg, p)).collect();
    }
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, anyhow::Result<PreparedRequest>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(plan) = plans.get(i) else { break };
                        out.push((i, render_one(cfg, plan)));
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| match w.join() {
                Ok(v) => v,
                // A panicking renderer is a bug; surface it as an error slot.
                Err(_) => vec![(
                    usize::MAX,
                    Err(anyhow::anyhow!("a dataset render thread panicked")),
                )],
            })
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    let requests: Vec<PreparedRequest> = done
        .into_iter()
        .map(|(_, r)| r)
        .collect::<anyhow::Result<_>>()?;
    if requests.len() != plans.len() {
        bail!(
            "dataset rendering lost entries ({} of {})",
            requests.len(),
            plans.len()
        );
    }
    Ok(requests)
}
