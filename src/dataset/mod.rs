//! Dataset: every request body built up front, before the clock starts.
//!
//! Owns: synthetic audio (`audio`), synthetic text prompts (`prompt`) and the
//! serialization of each complete HTTP/1.1 request (`request`), and the pool
//! (`pool`): how many unique bodies fit the memory budget and the order
//! requests reuse them in. The engine only ever writes a request's segments
//! ([`PreparedRequest::segments`]) as they are: nothing here runs per send.
//!
//! A request is held as segments: its head, then its body in pieces, where
//! each clip's base64 is one shared piece. The same clip in many entries (one
//! file named by many `--input-file` lines) is encoded and held once.

pub mod audio;
pub mod input;
pub mod multipart;
pub mod pool;
pub mod prompt;
pub mod public;
pub mod request;

use crate::config::{AudioFormat, CustomDatasetType, EndpointType, ProfileConfig};
use crate::tokens::{ApproxTokenCounter, TokenCounter};
use anyhow::bail;
use audio::{ClipPlanner, ClipSpec};
use pool::{BuildControl, Counter};
use prompt::{sample_positive_normal_integer, PromptGenerator};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rayon::prelude::*;
use request::SharedAudio;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// One request ready to send: its HTTP/1.1 bytes are `http` followed by the
/// segments of `tail` (head + JSON body, serialized once).
#[derive(Clone, Debug, Default)]
pub struct PreparedRequest {
    /// The first bytes on the wire: the request line and headers (Host,
    /// Content-Type, Content-Length, auth, user headers). The builder puts
    /// the body in `tail`; a request made by hand may carry it all here.
    pub http: Vec<u8>,
    /// Offset of the JSON body in the request bytes (`http` then `tail`).
    pub body_offset: usize,
    /// The rest of the request, in order: the body's own JSON and the shared
    /// base64 of each clip (one allocation held by every request with it).
    pub tail: Vec<Arc<[u8]>>,
    /// The request's text parts joined with "\n" (for tokenizer-based ISL).
    pub text: String,
    /// Token count the synthetic prompt was built for, when known.
    pub text_tokens: Option<u32>,
    /// Total seconds of audio in this request (all parts).
    pub audio_seconds: f64,
    /// Value sent as max_completion_tokens / max_tokens, if any.
    pub max_tokens: Option<u32>,
    /// `--input-file` line's `timestamp`: ms from the start of the run.
    pub timestamp_ms: Option<f64>,
    /// `--input-file` line's `delay`: ms to wait before sending.
    pub delay_ms: Option<f64>,
    /// A multipart (transcription) request's fields, for the exports: its
    /// body is not JSON. None for chat requests.
    pub form: Option<Arc<multipart::FormPayload>>,
}

impl PreparedRequest {
    /// The request's bytes in the order they go on the wire.
    pub fn segments(&self) -> impl Iterator<Item = &[u8]> {
        std::iter::once(self.http.as_slice())
            .chain(self.tail.iter().map(|s| &s[..]))
            .filter(|s| !s.is_empty())
    }

    /// Length of the whole request (head + body).
    pub fn wire_len(&self) -> usize {
        self.http.len() + self.tail.iter().map(|s| s.len()).sum::<usize>()
    }

    /// Length of the JSON body.
    pub fn body_len(&self) -> usize {
        self.wire_len().saturating_sub(self.body_offset)
    }

    /// The JSON body (what `inputs.json` shows as the payload): borrowed when
    /// it is one piece, else the segments concatenated.
    pub fn body(&self) -> Cow<'_, [u8]> {
        if self.tail.is_empty() {
            return Cow::Borrowed(self.http.get(self.body_offset..).unwrap_or_default());
        }
        if self.body_offset == self.http.len() && self.tail.len() == 1 {
            return Cow::Borrowed(&self.tail[0][..]);
        }
        let mut out = Vec::with_capacity(self.body_len());
        // Writing into a Vec cannot fail.
        let _ = self.write_body(&mut out);
        Cow::Owned(out)
    }

    /// Writes the JSON body, segment by segment (no concatenation).
    pub fn write_body(&self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        let mut skip = self.body_offset;
        for seg in self.segments() {
            if skip >= seg.len() {
                skip -= seg.len();
                continue;
            }
            w.write_all(&seg[skip..])?;
            skip = 0;
        }
        Ok(())
    }
}

/// What it cost to build the dataset (reported in the log).
#[derive(Clone, Debug, Default)]
pub struct BuildStats {
    pub elapsed: std::time::Duration,
    /// Sum of the body lengths (shared bytes counted once per request).
    pub body_bytes: u64,
    /// Memory the pool holds: heads, own body bytes, texts, and each shared
    /// clip once.
    pub memory_bytes: u64,
    /// Entries asked for (`--num-dataset-entries`, or implied by the
    /// request count); more than were built when the budget capped them.
    pub requested_entries: u64,
    /// Clips held once and shared by several entries.
    pub shared_clips: u64,
    /// What a `--public-dataset` read and skipped (one line), when one was.
    pub source_note: Option<String>,
}

impl BuildStats {
    /// Whether the memory budget capped the number of entries.
    pub fn capped(&self, built: usize) -> bool {
        self.requested_entries > built as u64
    }
}

/// Fills in the sizes of a finished build.
fn finish_stats(requests: &[PreparedRequest], requested: u64, started: Instant) -> BuildStats {
    let mut seen: HashMap<*const u8, usize> = HashMap::new();
    let mut memory = 0u64;
    for r in requests {
        memory +=
            (r.http.len() + r.text.len()) as u64 + std::mem::size_of::<PreparedRequest>() as u64;
        for seg in &r.tail {
            let holders = seen.entry(seg.as_ptr()).or_insert(0);
            if *holders == 0 {
                memory += seg.len() as u64;
            }
            *holders += 1;
        }
    }
    BuildStats {
        elapsed: started.elapsed(),
        body_bytes: requests.iter().map(|r| r.body_len() as u64).sum(),
        memory_bytes: memory,
        requested_entries: requested,
        shared_clips: seen.values().filter(|&&n| n > 1).count() as u64,
        source_note: None,
    }
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

/// The (duration, format, data) seeds of the clip streams.
fn clip_seeds(seed: u64) -> [u64; 3] {
    [
        derive_seed(seed, "dataset.audio.duration"),
        derive_seed(seed, "dataset.audio.format"),
        derive_seed(seed, "dataset.audio.data"),
    ]
}

/// The order requests take entries in: a seeded reuse order for synthetic
/// datasets (`--random-seed`, 0 when none), file order for input files.
pub fn reuse_order(cfg: &ProfileConfig, entries: usize) -> pool::ReuseOrder {
    if cfg.input_file.is_some() || cfg.public_dataset.is_some() {
        pool::ReuseOrder::sequential(entries)
    } else {
        pool::ReuseOrder::seeded(entries, cfg.random_seed.unwrap_or(0))
    }
}

/// Checks everything about the dataset options that can be checked without
/// reading files or building anything, so a bad value is a command-line
/// error (exit 2) before the artifact directory is made. That includes an
/// explicit `--num-dataset-entries` that cannot fit `--dataset-memory-mb`.
pub fn validate(cfg: &ProfileConfig) -> anyhow::Result<()> {
    validate_options(cfg)?;
    if cfg.input_file.is_none() && cfg.public_dataset.is_none() {
        pool::check_explicit(cfg, clip_seeds(cfg.random_seed.unwrap_or(0)))?;
    }
    Ok(())
}

fn validate_options(cfg: &ProfileConfig) -> anyhow::Result<()> {
    if !cfg.prompt.output_tokens_stddev.is_finite() || cfg.prompt.output_tokens_stddev < 0.0 {
        bail!("--output-tokens-stddev must be a finite number >= 0");
    }
    request::validate_head(cfg)?;
    if cfg.dataset_memory_mb == 0 {
        bail!("--dataset-memory-mb must be at least 1");
    }
    if cfg.input_file.is_some() || cfg.public_dataset.is_some() {
        return Ok(());
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
    Ok(())
}

/// [`build`] with a caller-supplied token counter (a real tokenizer makes
/// prompt lengths exact for the model).
pub fn build_with_counter(
    cfg: &ProfileConfig,
    counter: &dyn TokenCounter,
) -> anyhow::Result<Dataset> {
    build_with(cfg, counter, &BuildControl::default())
}

/// [`build_with_counter`] watched by `ctl`: stopped (with
/// [`pool::Interrupted`]) within an entry's rendering once its flag is set,
/// and drawing a progress line when asked.
pub fn build_with(
    cfg: &ProfileConfig,
    counter: &dyn TokenCounter,
    ctl: &BuildControl,
) -> anyhow::Result<Dataset> {
    let started = Instant::now();
    validate_options(cfg)?;
    if let Some(path) = &cfg.input_file {
        return build_from_file(cfg, path, started, ctl);
    }
    if let Some(choice) = &cfg.public_dataset {
        return build_from_public(cfg, choice, started, ctl);
    }
    let plans = plan_entries(cfg, counter, ctl)?;
    let progress = Counter::default();
    let requests = pool::with_progress(ctl, plans.len(), &progress, || {
        render_all(cfg, &plans, ctl, &progress)
    })?;
    Ok(Dataset {
        stats: finish_stats(&requests, u64::from(cfg.num_dataset_entries), started),
        requests,
    })
}

/// Draws every entry, in order, until the count or (for a count implied by
/// `--request-count`) the memory budget is reached: each entry's cost is
/// known from its plan (texts, clip shapes) before anything is rendered.
fn plan_entries(
    cfg: &ProfileConfig,
    counter: &dyn TokenCounter,
    ctl: &BuildControl,
) -> anyhow::Result<Vec<EntryPlan>> {
    let include_audio = cfg.audio.length_mean_s != 0.0;
    let include_prompt = cfg.prompt.input_tokens_mean > 0;

    let seed = cfg.random_seed.unwrap_or_else(rand::random);
    let mut clips = ClipPlanner::new(clip_seeds(seed));
    let mut prompts = PromptGenerator::new(
        counter,
        [
            derive_seed(seed, "dataset.prompt.length"),
            derive_seed(seed, "dataset.prompt.corpus"),
        ],
    );
    let mut max_tokens_rng = StdRng::seed_from_u64(derive_seed(seed, "composer.turn.max_tokens"));

    let n = cfg.num_dataset_entries as usize;
    let budget = pool::budget_bytes(cfg);
    let capped_by_budget = cfg.num_dataset_entries_flag.is_none();
    let mut planned_bytes = 0u64;
    let mut plans = Vec::with_capacity(n.min(1 << 16));
    for i in 0..n {
        if i % 64 == 0 {
            ctl.check()?;
        }
        let model = model_for_entry(cfg, i);
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
        let max_tokens = draw_max_tokens(cfg, &mut max_tokens_rng);
        let cost = pool::entry_bytes(
            texts.iter().map(|t| t.len() as u64).sum(),
            entry_clips
                .iter()
                .map(|c| pool::clip_b64_bytes(c, cfg.audio.format))
                .sum(),
        );
        // Always at least one entry, however large.
        if capped_by_budget && i > 0 && planned_bytes.saturating_add(cost) > budget {
            break;
        }
        planned_bytes = planned_bytes.saturating_add(cost);
        plans.push(EntryPlan {
            model,
            texts,
            text_tokens,
            clips: entry_clips,
            max_tokens,
        });
    }
    Ok(plans)
}

/// Renders one entry: its clips, then the request around them.
fn render_one(cfg: &ProfileConfig, plan: &EntryPlan) -> anyhow::Result<PreparedRequest> {
    let mut audios = Vec::with_capacity(plan.clips.len());
    for clip in &plan.clips {
        let file = match cfg.audio.format {
            AudioFormat::Wav => audio::render_wav(clip),
            AudioFormat::Mp3 => audio::mp3::render_mp3(clip)?,
        };
        audios.push(SharedAudio {
            bytes: request::shared_clip(cfg.endpoint_type, &file),
            format: cfg.audio.format,
        });
    }
    let mut request = prepare(cfg, &plan.model, &plan.texts, &audios, plan.max_tokens)?;
    request.text_tokens = plan.text_tokens;
    request.audio_seconds = plan.clips.iter().map(ClipSpec::duration_s).sum();
    Ok(request)
}

/// The one request builder, for synthetic, file and public-dataset entries
/// alike: the HTTP bytes, as segments sharing each clip, and what the
/// exports need to know about them. A transcription request carries only
/// its clip and form fields (AIPerf sends no prompt and no max tokens to
/// that endpoint), so it has no text to count.
fn prepare(
    cfg: &ProfileConfig,
    model: &str,
    texts: &[String],
    audios: &[SharedAudio],
    max_tokens: Option<u32>,
) -> anyhow::Result<PreparedRequest> {
    let (segs, text, form, max_tokens) = match cfg.endpoint_type {
        EndpointType::Chat => (
            request::build_segments(cfg, model, texts, audios, max_tokens)?,
            texts.join("\n"),
            None,
            max_tokens,
        ),
        EndpointType::AudioTranscription => {
            let (segs, form) = multipart::build_segments(cfg, model, audios)?;
            (segs, String::new(), Some(Arc::new(form)), None)
        }
    };
    Ok(PreparedRequest {
        body_offset: segs.head.len(),
        http: segs.head,
        tail: segs.body,
        text,
        max_tokens,
        form,
        ..Default::default()
    })
}

/// AIPerf's default model selection: round robin over the `--model` names.
fn model_for_entry(cfg: &ProfileConfig, i: usize) -> String {
    match cfg.model_names.len() {
        0 | 1 => cfg.model.clone(),
        k => cfg.model_names[i % k].clone(),
    }
}

/// AIPerf: no max tokens unless the output mean is positive; the stddev is
/// truncated to an integer; the draw is at least 1.
fn draw_max_tokens(cfg: &ProfileConfig, rng: &mut StdRng) -> Option<u32> {
    match cfg.prompt.output_tokens_mean {
        Some(m) if m > 0 => Some(sample_positive_normal_integer(
            rng,
            m as f64,
            cfg.prompt.output_tokens_stddev.trunc(),
        )),
        _ => None,
    }
}

/// `--input-file`: one request per line, in file order (AIPerf samples file
/// datasets sequentially; the engine sends request k with entry k % len).
/// `--num-dataset-entries` and the synthetic prompt/audio options do not
/// apply; models still round-robin and `--output-tokens-mean` still sets the
/// max tokens of lines without `output_length`, as in AIPerf. A clip named
/// by many lines is read, encoded and held once. The lines are all sent, so
/// a file whose bodies exceed `--dataset-memory-mb` is refused.
fn build_from_file(
    cfg: &ProfileConfig,
    path: &std::path::Path,
    started: Instant,
    ctl: &BuildControl,
) -> anyhow::Result<Dataset> {
    match cfg.custom_dataset_type {
        None | Some(CustomDatasetType::SingleTurn) => {}
        Some(other) => bail!(
            "--custom-dataset-type {other} is not supported by audioperf; the only supported type is single_turn"
        ),
    }
    let cwd = std::env::current_dir()
        .map_err(|e| anyhow::anyhow!("cannot read the working directory: {e}"))?;
    let entries = input::load_single_turn(path, &cwd)?;
    ctl.check()?;
    let requests = requests_from_entries(cfg, &entries, ctl, |line| {
        format!(
            "--input-file {}: line {line} takes the dataset past the dataset memory budget of {} MB \
             (every line is held in memory before the run); raise it with --dataset-memory-mb",
            path.display(),
            cfg.dataset_memory_mb
        )
    })?;
    Ok(Dataset {
        stats: finish_stats(&requests, entries.len() as u64, started),
        requests,
    })
}

/// `--public-dataset`: the cached rows, decoded to WAV, sent in order with
/// AIPerf's prompt. As many rows as the run sends (`--request-count`, else
/// `--num-dataset-entries`, else all), and no more than the memory budget holds.
fn build_from_public(
    cfg: &ProfileConfig,
    choice: &crate::config::PublicDatasetChoice,
    started: Instant,
    ctl: &BuildControl,
) -> anyhow::Result<Dataset> {
    let max_rows = if cfg.benchmark_duration.is_none() {
        Some(cfg.request_count.max(1))
    } else if cfg.num_dataset_entries_flag.is_some() {
        Some(u64::from(cfg.num_dataset_entries))
    } else {
        None
    };
    let hub = crate::tokens::hub::HubConfig::from_env();
    let loaded = public::load(choice, &hub, max_rows, pool::budget_bytes(cfg), ctl)?;
    let requests = requests_from_entries(cfg, &loaded.entries, ctl, |row| {
        format!(
            "--public-dataset {}: row {row} takes the dataset past the dataset memory budget \
             of {} MB; raise it with --dataset-memory-mb",
            choice.dataset.name(),
            cfg.dataset_memory_mb
        )
    })?;
    let mut stats = finish_stats(&requests, requests.len() as u64, started);
    stats.source_note = Some(loaded.summary(choice));
    Ok(Dataset { stats, requests })
}

/// Builds one request per entry, in order: models round-robin, the entry's
/// `output_length` else a drawn `--output-tokens-mean` as its max tokens, a
/// clip named by many entries encoded and held once. `over_budget(line)`
/// words the error when the entries do not fit `--dataset-memory-mb`.
fn requests_from_entries(
    cfg: &ProfileConfig,
    entries: &[input::FileEntry],
    ctl: &BuildControl,
    over_budget: impl Fn(usize) -> String,
) -> anyhow::Result<Vec<PreparedRequest>> {
    let seed = cfg.random_seed.unwrap_or_else(rand::random);
    let mut max_tokens_rng = StdRng::seed_from_u64(derive_seed(seed, "composer.turn.max_tokens"));
    // One encoding per distinct file (the loader shares a file's bytes).
    let mut encoded: HashMap<*const Vec<u8>, Arc<[u8]>> = HashMap::new();
    let budget = pool::budget_bytes(cfg);
    let mut held = 0u64;
    let mut requests = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        ctl.check()?;
        // Drawn for every entry, used only where the entry sets none, so an
        // entry's value never shifts the draws of the entries after it.
        let drawn = draw_max_tokens(cfg, &mut max_tokens_rng);
        let max_tokens = e.max_tokens.or(drawn);
        let mut cost = 0u64;
        let parts: Vec<SharedAudio> = e
            .audios
            .iter()
            .map(|a| SharedAudio {
                bytes: encoded
                    .entry(Arc::as_ptr(&a.bytes))
                    .or_insert_with(|| {
                        let shared = request::shared_clip(cfg.endpoint_type, &a.bytes);
                        cost += shared.len() as u64;
                        shared
                    })
                    .clone(),
                format: a.format,
            })
            .collect();
        let mut request = prepare(cfg, &model_for_entry(cfg, i), &e.texts, &parts, max_tokens)?;
        cost += pool::entry_bytes(request.text.len() as u64, 0);
        held = held.saturating_add(cost);
        if held > budget {
            bail!("{}", over_budget(e.line));
        }
        request.audio_seconds = e.audios.iter().map(|a| a.seconds).sum();
        request.timestamp_ms = e.timestamp_ms;
        request.delay_ms = e.delay_ms;
        requests.push(request);
    }
    Ok(requests)
}

/// Renders every entry on all cores (rayon's work stealing balances long and
/// short clips); results keep their entry's order, whatever the scheduling.
/// Each entry first looks at the interrupt flag, so Ctrl-C stops the build
/// within one entry's rendering per core.
fn render_all(
    cfg: &ProfileConfig,
    plans: &[EntryPlan],
    ctl: &BuildControl,
    progress: &Counter,
) -> anyhow::Result<Vec<PreparedRequest>> {
    plans
        .par_iter()
        .map(|p| {
            ctl.check()?;
            let r = render_one(cfg, p)?;
            progress.done.fetch_add(1, Ordering::Relaxed);
            progress
                .bytes
                .fetch_add(r.wire_len() as u64, Ordering::Relaxed);
            Ok(r)
        })
        .collect()
}

/// A complete `ProfileConfig` for tests: 1 s mono 16 kHz 16-bit WAV, a
/// 20-token prompt, streaming, seed 42, 4 entries, against 127.0.0.1:8000.
#[cfg(test)]
pub(crate) fn test_config() -> ProfileConfig {
    use crate::config::*;
    ProfileConfig {
        model: "Qwen/Qwen2-Audio-7B-Instruct".into(),
        model_names: vec!["Qwen/Qwen2-Audio-7B-Instruct".into()],
        target: Target {
            scheme: Scheme::Http,
            host: "127.0.0.1".into(),
            port: 8000,
            host_header: "127.0.0.1:8000".into(),
            base_path: String::new(),
            query: String::new(),
        },
        fleet: Fleet::default(),
        endpoint_type: EndpointType::Chat,
        endpoint_path: "/v1/chat/completions".into(),
        streaming: true,
        request_count: 10,
        warmup_request_count: 0,
        concurrency: 1,
        concurrency_set: true,
        request_rate: None,
        arrival_pattern: ArrivalPattern::Poisson,
        arrival_smoothness: None,
        benchmark_duration: None,
        benchmark_grace_period: std::time::Duration::from_secs(30),
        request_timeout: std::time::Duration::from_secs(600),
        request_cancellation_rate: 0.0,
        request_cancellation_delay: std::time::Duration::ZERO,
        latency_from_schedule: false,
        show_trace_timing: false,
        goodput: Vec::new(),
        slice_duration: None,
        audio: AudioConfig {
            length_mean_s: 1.0,
            length_stddev_s: 0.0,
            format: AudioFormat::Wav,
            sample_rates_hz: vec![16_000],
            depths_bits: vec![16],
            channels: 1,
            batch_size: 1,
        },
        prompt: PromptConfig {
            input_tokens_mean: 20,
            input_tokens_stddev: 0.0,
            output_tokens_mean: None,
            output_tokens_stddev: 0.0,
            use_legacy_max_tokens: false,
            text_batch_size: 1,
        },
        random_seed: Some(42),
        num_dataset_entries: 4,
        num_dataset_entries_flag: None,
        dataset_memory_mb: pool::DEFAULT_MEMORY_MB,
        artifact_dir: std::path::PathBuf::from("artifacts"),
        export_prefix: None,
        export_level: crate::config::ExportLevel::Records,
        export_raw_audio: false,
        failed_request_threshold: None,
        api_key: None,
        tls: TlsOptions::default(),
        headers: Vec::new(),
        extra_inputs: serde_json::Map::new(),
        input_file: None,
        public_dataset: None,
        custom_dataset_type: None,
        tokenizer: None,
        tokenizer_revision: None,
        use_server_token_count: false,
        ui_type: UiType::None,
        workers_max: None,
        cpus: None,
        zero_copy: crate::config::ZeroCopy::Auto,
        rx_stamps: crate::config::RxStamps::Kernel,
        read_batch_us: crate::config::DEFAULT_READ_BATCH_US,
        cli_command: "audioperf profile".into(),
        input_config_json: serde_json::Value::Null,
        shard: None,
        start_at_wall_ns: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn all_bytes(d: &Dataset) -> Vec<Vec<u8>> {
        d.requests
            .iter()
            .map(|r| r.segments().collect::<Vec<_>>().concat())
            .collect()
    }

    /// The WAV bytes of each audio part in a body.
    fn wavs(body: &[u8]) -> Vec<Vec<u8>> {
        let v: Value = serde_json::from_slice(body).unwrap();
        v["messages"][0]["content"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["type"] == "input_audio")
            .map(|p| {
                assert_eq!(p["input_audio"]["format"], "wav");
                let b64 = p["input_audio"]["data"].as_str().unwrap();
                base64_simd::STANDARD.decode_to_vec(b64).unwrap()
            })
            .collect()
    }

    #[test]
    fn builds_entries_with_the_exact_shape() {
        let mut cfg = test_config();
        cfg.prompt.output_tokens_mean = Some(100);
        let d = build(&cfg).unwrap();
        assert_eq!(d.requests.len(), 4);
        let mut total = 0u64;
        for r in &d.requests {
            let body = r.body();
            let body: &[u8] = &body;
            total += body.len() as u64;
            let head = std::str::from_utf8(&r.http[..r.body_offset]).unwrap();
            assert_eq!(r.http.len(), r.body_offset, "the head is its own segment");
            assert!(head.starts_with("POST /v1/chat/completions HTTP/1.1\r\n"));
            assert!(head.contains(&format!("\r\nContent-Length: {}\r\n", body.len())));
            assert!(head.ends_with("\r\n\r\n"));

            let v: Value = serde_json::from_slice(body).unwrap();
            let obj = v.as_object().unwrap();
            assert_eq!(obj.len(), 5);
            assert_eq!(v["model"], "Qwen/Qwen2-Audio-7B-Instruct");
            assert_eq!(v["stream"], true);
            assert_eq!(
                v["stream_options"],
                serde_json::json!({"include_usage": true})
            );
            assert_eq!(v["max_completion_tokens"], 100);
            assert_eq!(r.max_tokens, Some(100));
            let msgs = v["messages"].as_array().unwrap();
            assert_eq!(msgs.len(), 1);
            assert_eq!(msgs[0]["role"], "user");
            let parts = msgs[0]["content"].as_array().unwrap();
            assert_eq!(parts.len(), 2);
            assert_eq!(parts[0]["type"], "text");
            assert_eq!(parts[0]["text"].as_str().unwrap(), r.text);
            assert_eq!(ApproxTokenCounter.count(&r.text), 20);
            assert_eq!(r.text_tokens, Some(20));
            assert_eq!(parts[1]["type"], "input_audio");
            // Key order on the wire: messages, model, stream, max tokens, stream_options.
            let s = std::str::from_utf8(body).unwrap();
            let pos = |k: &str| s.find(&format!("\"{k}\":")).unwrap();
            assert!(pos("messages") < pos("model"));
            assert!(pos("model") < pos("stream"));
            assert!(pos("stream") < pos("max_completion_tokens"));
            assert!(pos("max_completion_tokens") < pos("stream_options"));

            // base64 round-trips to a 1 s, 16 kHz, 16-bit mono WAV.
            let w = wavs(body);
            assert_eq!(w.len(), 1);
            assert_eq!(w[0].len(), 44 + 32_000);
            assert_eq!(&w[0][..4], b"RIFF");
            assert_eq!(
                u32::from_le_bytes([w[0][24], w[0][25], w[0][26], w[0][27]]),
                16_000
            );
            assert_eq!(r.audio_seconds, 1.0);
        }
        assert_eq!(d.stats.body_bytes, total);
        // Entries are distinct.
        let b = all_bytes(&d);
        for i in 0..b.len() {
            for j in i + 1..b.len() {
                assert_ne!(b[i], b[j]);
            }
        }
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let mut cfg = test_config();
        cfg.audio.length_stddev_s = 0.3;
        cfg.audio.sample_rates_hz = vec![8_000, 16_000, 44_100];
        cfg.audio.depths_bits = vec![8, 16, 24, 32];
        cfg.audio.channels = 2;
        cfg.audio.batch_size = 2;
        cfg.prompt.input_tokens_stddev = 5.0;
        cfg.prompt.output_tokens_mean = Some(50);
        cfg.prompt.output_tokens_stddev = 10.0;
        cfg.num_dataset_entries = 8;
        let a = build(&cfg).unwrap();
        let b = build(&cfg).unwrap();
        assert_eq!(all_bytes(&a), all_bytes(&b));
        cfg.random_seed = Some(43);
        let c = build(&cfg).unwrap();
        assert_ne!(all_bytes(&a), all_bytes(&c));
        for (r, req) in a.requests.iter().enumerate() {
            let w = wavs(&req.body());
            assert_eq!(w.len(), 2, "entry {r}: two audio parts");
            // audio_seconds is the sum of frames / rate over the parts.
            let secs: f64 = w
                .iter()
                .map(|w| {
                    let rate = u32::from_le_bytes([w[24], w[25], w[26], w[27]]) as f64;
                    let block = u16::from_le_bytes([w[32], w[33]]) as f64;
                    let data = u32::from_le_bytes([w[40], w[41], w[42], w[43]]) as f64;
                    data / block / rate
                })
                .sum();
            assert!((secs - req.audio_seconds).abs() < 1e-12);
        }
        // No seed: two builds differ.
        cfg.random_seed = None;
        assert_ne!(
            all_bytes(&build(&cfg).unwrap()),
            all_bytes(&build(&cfg).unwrap())
        );
    }

    #[test]
    fn audio_only_and_text_only() {
        let mut cfg = test_config();
        cfg.prompt.input_tokens_mean = 0;
        let d = build(&cfg).unwrap();
        let r = &d.requests[0];
        assert_eq!(r.text, "");
        assert_eq!(r.text_tokens, None);
        let v: Value = serde_json::from_slice(&r.body()).unwrap();
        assert_eq!(v["messages"][0]["content"].as_array().unwrap().len(), 1);
        assert!(v.get("max_completion_tokens").is_none());

        let mut cfg = test_config();
        cfg.audio.length_mean_s = 0.0;
        cfg.audio.format = crate::config::AudioFormat::Mp3; // unused when audio is off
        let d = build(&cfg).unwrap();
        let v: Value = serde_json::from_slice(&d.requests[0].body()).unwrap();
        assert_eq!(
            v["messages"][0]["content"].as_str().unwrap(),
            d.requests[0].text
        );
        assert_eq!(d.requests[0].audio_seconds, 0.0);
    }

    #[test]
    fn errors_name_the_flag() {
        let err = |f: &dyn Fn(&mut ProfileConfig)| {
            let mut cfg = test_config();
            f(&mut cfg);
            build(&cfg).unwrap_err().to_string()
        };
        assert!(err(&|c| {
            c.audio.format = crate::config::AudioFormat::Mp3;
            c.audio.sample_rates_hz = vec![16_000, 96_000];
        })
        .starts_with("--audio-sample-rates: 96 kHz cannot be encoded as MP3"));
        assert!(err(&|c| c.audio.depths_bits = vec![20]).contains("--audio-depths"));
        assert!(err(&|c| c.num_dataset_entries = 0).contains("--num-dataset-entries"));
        assert!(err(&|c| {
            c.audio.length_mean_s = 0.0;
            c.prompt.input_tokens_mean = 0;
        })
        .contains("--synthetic-input-tokens-mean"));
        assert!(err(&|c| c.input_file = Some("/nonexistent/x.jsonl".into()))
            .starts_with("--input-file /nonexistent/x.jsonl: cannot read the file"));
    }

    #[test]
    fn input_file_gives_one_request_per_line_in_order() {
        let mut cfg = test_config();
        cfg.input_file = Some("fixtures/inputs.jsonl".into());
        cfg.custom_dataset_type = Some(CustomDatasetType::SingleTurn);
        cfg.num_dataset_entries = 100; // ignored for files
        cfg.prompt.output_tokens_mean = Some(64);
        let d = build(&cfg).unwrap();
        assert_eq!(d.requests.len(), 3);
        let texts: Vec<&str> = d.requests.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(texts, ["Transcribe this.", "What is said?", "Summarize."]);
        assert_eq!(d.requests[0].audio_seconds, 1.0);
        for (r, name) in d
            .requests
            .iter()
            .zip(["test_audio_1s", "test_audio_2", "test_audio_3"])
        {
            let file = std::fs::read(format!("fixtures/audio/{name}.wav")).unwrap();
            assert_eq!(wavs(&r.body()), vec![file]);
            assert_eq!(r.max_tokens, Some(64));
            assert_eq!(r.text_tokens, None);
            assert_eq!((r.timestamp_ms, r.delay_ms), (None, None));
        }
        cfg.custom_dataset_type = Some(CustomDatasetType::MultiTurn);
        assert_eq!(
            build(&cfg).unwrap_err().to_string(),
            "--custom-dataset-type multi_turn is not supported by audioperf; the only supported type is single_turn"
        );
    }

    #[test]
    fn mp3_entries_carry_mp3_parts() {
        let mut cfg = test_config();
        cfg.audio.format = crate::config::AudioFormat::Mp3;
        cfg.audio.channels = 2;
        cfg.audio.batch_size = 3;
        let d = build(&cfg).unwrap();
        let v: Value = serde_json::from_slice(&d.requests[0].body()).unwrap();
        let parts = v["messages"][0]["content"].as_array().unwrap();
        assert_eq!(parts.len(), 4);
        for p in &parts[1..] {
            assert_eq!(p["input_audio"]["format"], "mp3");
            let b = base64_simd::STANDARD
                .decode_to_vec(p["input_audio"]["data"].as_str().unwrap())
                .unwrap();
            assert!(crate::audio_file::mp3_duration(&b).unwrap() >= 1.0);
        }
        assert_eq!(d.requests[0].audio_seconds, 3.0);
    }

    #[test]
    fn models_round_robin() {
        let mut cfg = test_config();
        cfg.model_names = vec!["a".into(), "b".into()];
        cfg.model = "a".into();
        let d = build(&cfg).unwrap();
        let models: Vec<String> = d
            .requests
            .iter()
            .map(|r| {
                let v: Value = serde_json::from_slice(&r.body()).unwrap();
                v["model"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(models, ["a", "b", "a", "b"]);
    }

    /// The segments, joined, are the bytes the single-buffer builder makes.
    #[test]
    fn segments_concatenate_to_the_single_buffer_request() {
        let mut cfg = test_config();
        cfg.audio.batch_size = 2;
        cfg.prompt.output_tokens_mean = Some(7);
        let d = build(&cfg).unwrap();
        for r in &d.requests {
            let b64s: Vec<Vec<u8>> = wavs(&r.body());
            let parts: Vec<request::AudioPart<'_>> = b64s
                .iter()
                .map(|w| request::AudioPart {
                    bytes: w,
                    format: AudioFormat::Wav,
                })
                .collect();
            let model = cfg.model.clone();
            let texts = vec![r.text.clone()];
            let inputs = request::RequestInputs {
                model: &model,
                texts: &texts,
                audios: &parts,
                max_tokens: r.max_tokens,
            };
            let (http, off) = request::build_http(&cfg, &inputs).unwrap();
            let wire: Vec<u8> = r.segments().collect::<Vec<_>>().concat();
            assert_eq!(wire, http);
            assert_eq!(r.body_offset, off);
            assert_eq!(&r.body()[..], &http[off..]);
            assert_eq!(r.body_len(), http.len() - off);
            assert_eq!(r.wire_len(), http.len());
            let mut written = Vec::new();
            r.write_body(&mut written).unwrap();
            assert_eq!(written, &http[off..]);
            // head, JSON, clip, JSON, clip, JSON
            assert_eq!(r.segments().count(), 6);
        }
        // A request made by hand in one buffer reads the same way.
        let one = PreparedRequest {
            http: b"HEAD\r\n\r\n{}".to_vec(),
            body_offset: 8,
            ..Default::default()
        };
        assert_eq!(&one.body()[..], b"{}");
        assert_eq!(one.body_len(), 2);
    }

    /// 2,000 lines naming one file hold one copy of its base64.
    #[test]
    fn one_file_on_many_lines_is_encoded_and_held_once() {
        let dir = tempfile::tempdir().unwrap();
        let wav = std::fs::read("fixtures/audio/test_audio_1s.wav").unwrap();
        std::fs::write(dir.path().join("a.wav"), &wav).unwrap();
        let abs = dir.path().join("a.wav");
        let mut lines = String::new();
        for i in 0..2000 {
            // The same file spelled three ways: one canonical path.
            let name = match i % 3 {
                0 => "a.wav".to_string(),
                1 => "./a.wav".to_string(),
                _ => abs.display().to_string(),
            };
            lines.push_str(&format!(
                "{{\"text\": \"line {i}\", \"audio\": \"{name}\"}}\n"
            ));
        }
        let file = dir.path().join("in.jsonl");
        std::fs::write(&file, lines).unwrap();
        let mut cfg = test_config();
        cfg.input_file = Some(file);
        let d = build(&cfg).unwrap();
        assert_eq!(d.requests.len(), 2000);
        let clip = &d.requests[0].tail[1];
        assert_eq!(clip.len(), base64_simd::STANDARD.encoded_length(wav.len()));
        for r in &d.requests {
            assert!(Arc::ptr_eq(&r.tail[1], clip));
        }
        // 2,000 holders and the one original.
        assert_eq!(Arc::strong_count(clip), 2000);
        assert_eq!(d.stats.shared_clips, 1);
        let b64 = clip.len() as u64;
        assert!(
            d.stats.memory_bytes < b64 + 2000 * 2048,
            "{}",
            d.stats.memory_bytes
        );
        assert!(d.stats.body_bytes > 2000 * b64);
        assert_eq!(wavs(&d.requests[1999].body()), vec![wav]);
        // A budget smaller than the file's bodies refuses it, naming the flag.
        cfg.dataset_memory_mb = 1;
        let mut small = cfg.clone();
        small.input_file = Some(dir.path().join("in.jsonl"));
        let e = build(&small).map(|_| ()).unwrap_err().to_string();
        assert!(e.contains("--dataset-memory-mb"), "{e}");
    }

    #[test]
    fn implied_entries_are_capped_by_the_budget_and_explicit_ones_are_not() {
        let mut cfg = test_config();
        cfg.prompt.input_tokens_mean = 0;
        cfg.num_dataset_entries = 100;
        // 1 s clips: 1024 + 42,728 bytes an entry; 1 MB holds 22 of them.
        cfg.dataset_memory_mb = 1;
        let d = build(&cfg).unwrap();
        let per = pool::ENTRY_OVERHEAD_BYTES + 42_728;
        assert_eq!(d.requests.len() as u64, pool::MB / per);
        assert!(d.stats.capped(d.requests.len()));
        assert_eq!(d.stats.requested_entries, 100);
        assert!(d.stats.memory_bytes <= pool::MB, "{}", d.stats.memory_bytes);
        // The pool is the first entries of the uncapped build, byte for byte.
        cfg.dataset_memory_mb = 100;
        let full = build(&cfg).unwrap();
        assert_eq!(full.requests.len(), 100);
        assert!(!full.stats.capped(100));
        assert_eq!(all_bytes(&full)[..d.requests.len()], all_bytes(&d)[..]);
        // Explicit: refused up front by validate (exit 2), never capped.
        cfg.dataset_memory_mb = 1;
        cfg.num_dataset_entries_flag = Some("--num-dataset-entries");
        let e = validate(&cfg).unwrap_err().to_string();
        assert!(
            e.starts_with("--num-dataset-entries 100: the dataset would need about 5 MB"),
            "{e}"
        );
        assert!(e.contains("--dataset-memory-mb 5"), "{e}");
        cfg.num_dataset_entries = 22;
        assert!(validate(&cfg).is_ok());
    }

    #[test]
    fn a_set_interrupt_flag_stops_the_build() {
        static FLAG: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);
        let cfg = test_config();
        let ctl = BuildControl {
            interrupt: Some(&FLAG),
            progress: false,
        };
        let e = build_with(&cfg, &ApproxTokenCounter, &ctl).unwrap_err();
        assert!(e.is::<pool::Interrupted>());
        assert_eq!(e.to_string(), "interrupted while building the dataset");
    }
}
