//! The dataset pool: how many unique request bodies a run holds, bounded by
//! memory (`--dataset-memory-mb`), and in what order requests reuse them.
//!
//! Owns: the memory arithmetic (what one entry costs, known before any byte
//! is rendered: clip lengths and texts are drawn at plan time, WAV and its
//! base64 have exact sizes, MP3 is bounded by its highest bitrate), the
//! refusal of an explicit entry count that cannot fit, the seeded reuse
//! order, and the build's interrupt flag and progress line.

use crate::config::{AudioConfig, AudioFormat, ProfileConfig};
use anyhow::{bail, Result};
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::audio::{ClipPlanner, ClipSpec};

/// `--dataset-memory-mb` when not given. 512 MB is ~2,400 entries of 5 s
/// 16 kHz audio: built in under two seconds on two cores, and far more unique
/// bodies than any cache between a client and a GPU server keeps.
pub const DEFAULT_MEMORY_MB: u64 = 512;

/// One MB, as every figure audioperf prints (10^6 bytes).
pub const MB: u64 = 1_000_000;

/// What an entry costs besides its text and audio: the HTTP head (request
/// line, Host, Content-Length, user headers ~250 B), the JSON around the
/// parts, and the bookkeeping (`PreparedRequest`, segment handles).
pub const ENTRY_OVERHEAD_BYTES: u64 = 1024;

/// Bytes per token of a synthetic prompt, for the estimate made before the
/// prompts exist (the refusal of an explicit count). Corpus words are ~4.3
/// characters and a space; the build itself counts the real texts.
pub const TEXT_BYTES_PER_TOKEN: u64 = 6;

/// The budget in bytes.
pub fn budget_bytes(cfg: &ProfileConfig) -> u64 {
    cfg.dataset_memory_mb.saturating_mul(MB)
}

/// Bytes of base64 a clip takes in a body: exact for WAV; for MP3 an upper
/// bound from the highest bitrate of its MPEG version (noise is
/// incompressible, so LAME's VBR sits near the top): 320 kbit/s for MPEG-1
/// (32 kHz and up), 160 kbit/s below, plus the info frame and padding.
pub fn clip_b64_bytes(spec: &ClipSpec, format: AudioFormat) -> u64 {
    let file = match format {
        AudioFormat::Wav => spec.wav_len(),
        AudioFormat::Mp3 => {
            let bytes_per_s = if spec.sample_rate_hz >= 32_000 {
                40_000.0
            } else {
                20_000.0
            };
            (spec.duration_s() * bytes_per_s) as u64 + 4096
        }
    };
    file.div_ceil(3) * 4
}

/// What one entry costs: the overhead, its text twice (in the body and in
/// `PreparedRequest::text` for token counting) and its audio's base64.
pub fn entry_bytes(text_len: u64, audio_b64: u64) -> u64 {
    ENTRY_OVERHEAD_BYTES + 2 * text_len + audio_b64
}

/// Checks, before anything is built, that an explicit `--num-dataset-entries`
/// fits the budget (an implied count is capped by the build instead). Clip
/// lengths are drawn from the run's seed exactly as the build draws them;
/// prompts are estimated from their mean length.
pub fn check_explicit(cfg: &ProfileConfig, seeds: [u64; 3]) -> Result<()> {
    let Some(flag) = cfg.num_dataset_entries_flag else {
        return Ok(());
    };
    if cfg.input_file.is_some() {
        return Ok(());
    }
    let budget = budget_bytes(cfg);
    let n = u64::from(cfg.num_dataset_entries);
    let text = text_estimate(cfg);
    let mut clips = ClipPlanner::new(seeds);
    let mut total = 0u64;
    for i in 0..n {
        total = total.saturating_add(entry_bytes(text, audio_of_entry(&cfg.audio, &mut clips)?));
        if total > budget {
            // Past the budget: the rest is extrapolated (a huge count would
            // otherwise take as long to check as to draw).
            let needed = (total as f64 / (i + 1) as f64 * n as f64) as u64;
            let fit = i; // entries 0..i fit
            bail!(
                "{flag} {n}: the dataset would need about {} MB, more than the dataset memory budget \
                 of {} MB; raise it with --dataset-memory-mb {} or ask for at most {fit} entries \
                 (requests past the pool reuse it)",
                needed.div_ceil(MB),
                cfg.dataset_memory_mb,
                needed.div_ceil(MB),
            );
        }
    }
    Ok(())
}

/// Estimated text bytes of one synthetic entry.
fn text_estimate(cfg: &ProfileConfig) -> u64 {
    if cfg.prompt.input_tokens_mean == 0 {
        return 0;
    }
    u64::from(cfg.prompt.input_tokens_mean)
        * u64::from(cfg.prompt.text_batch_size)
        * TEXT_BYTES_PER_TOKEN
}

/// Draws one entry's clips (as the build does) and returns their base64 bytes.
fn audio_of_entry(audio: &AudioConfig, clips: &mut ClipPlanner) -> Result<u64> {
    if audio.length_mean_s == 0.0 {
        return Ok(0);
    }
    let mut b = 0u64;
    for _ in 0..audio.batch_size {
        b += clip_b64_bytes(&clips.next_clip(audio)?, audio.format);
    }
    Ok(b)
}

/// The order requests take entries in: request k < n takes entry k, so every
/// unique body is sent once before any is reused; past that, each round of n
/// requests takes the entries in a different order, a fixed function of the
/// seed (P(P(i) + round) for a seeded permutation P), so a seeded run is
/// reproducible and no per-request state is kept.
#[derive(Clone, Debug)]
pub struct ReuseOrder {
    n: u64,
    /// None: plain `k % n` (input files are sent in file order, like AIPerf).
    perm: Option<Box<[u32]>>,
}

impl ReuseOrder {
    /// Plain round robin over `n` entries.
    pub fn sequential(n: usize) -> Self {
        ReuseOrder {
            n: n.max(1) as u64,
            perm: None,
        }
    }

    /// Seeded reuse past the first round.
    pub fn seeded(n: usize, seed: u64) -> Self {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        let n = n.max(1);
        let mut p: Vec<u32> = (0..n as u32).collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(super::derive_seed(seed, "pool.reuse"));
        p.shuffle(&mut rng);
        ReuseOrder {
            n: n as u64,
            perm: Some(p.into_boxed_slice()),
        }
    }

    /// The entry request `k` sends.
    #[inline]
    pub fn entry(&self, k: u64) -> usize {
        let i = k % self.n;
        match &self.perm {
            Some(p) if k >= self.n => {
                let round = k / self.n;
                let j = (u64::from(p[i as usize]) + round) % self.n;
                p[j as usize] as usize
            }
            _ => i as usize,
        }
    }

    pub fn len(&self) -> usize {
        self.n as usize
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
}

/// The build was stopped by Ctrl-C (SIGINT/SIGTERM).
#[derive(Debug)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted while building the dataset")
    }
}

impl std::error::Error for Interrupted {}

/// How the build is watched: a flag that stops it (set by the signal
/// handler), and whether to draw a progress line on stderr.
#[derive(Clone, Copy, Debug, Default)]
pub struct BuildControl {
    pub interrupt: Option<&'static AtomicBool>,
    pub progress: bool,
}

impl BuildControl {
    /// Progress on stderr only when it is a terminal.
    pub fn with_interrupt(flag: &'static AtomicBool) -> Self {
        BuildControl {
            interrupt: Some(flag),
            progress: std::io::stderr().is_terminal(),
        }
    }

    pub fn interrupted(&self) -> bool {
        self.interrupt.is_some_and(|f| f.load(Ordering::Relaxed))
    }

    /// `Err(Interrupted)` once the flag is set.
    pub fn check(&self) -> Result<()> {
        if self.interrupted() {
            return Err(Interrupted.into());
        }
        Ok(())
    }
}

/// Entries rendered so far, read by the progress line.
#[derive(Debug, Default)]
pub struct Counter {
    pub done: AtomicU64,
    pub bytes: AtomicU64,
}

/// Runs `work` while a progress line (when `ctl.progress`) shows `counter`
/// against `total` entries every 200 ms; the line is cleared at the end.
pub fn with_progress<T>(
    ctl: &BuildControl,
    total: usize,
    counter: &Counter,
    work: impl FnOnce() -> T + Send,
) -> T
where
    T: Send,
{
    if !ctl.progress {
        return work();
    }
    let finished = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let t0 = Instant::now();
            while !finished.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
                if t0.elapsed() < Duration::from_millis(200) {
                    continue;
                }
                let done = counter.done.load(Ordering::Relaxed);
                let mb = counter.bytes.load(Ordering::Relaxed) as f64 / MB as f64;
                eprint!("\rbuilding the dataset: {done}/{total} entries, {mb:.0} MB   ");
                let _ = std::io::stderr().flush();
            }
            if t0.elapsed() >= Duration::from_millis(200) {
                eprint!("\r{:60}\r", "");
                let _ = std::io::stderr().flush();
            }
        });
        let out = work();
        finished.store(true, Ordering::Relaxed);
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::test_config;

    #[test]
    fn wav_b64_is_exact_and_mp3_is_an_upper_bound() {
        let spec = ClipSpec {
            sample_rate_hz: 16_000,
            depth_bits: 16,
            channels: 1,
            frames: 80_000,
            seed: 1,
        };
        assert_eq!(
            clip_b64_bytes(&spec, AudioFormat::Wav),
            base64_simd::STANDARD.encoded_length(44 + 160_000) as u64
        );
        assert_eq!(
            clip_b64_bytes(&spec, AudioFormat::Mp3),
            (100_000 + 4096u64).div_ceil(3) * 4
        );
        assert_eq!(entry_bytes(100, 1000), ENTRY_OVERHEAD_BYTES + 200 + 1000);
    }

    #[test]
    fn explicit_count_over_budget_is_refused_with_the_figures() {
        let mut cfg = test_config();
        cfg.audio.length_mean_s = 5.0;
        cfg.prompt.input_tokens_mean = 0;
        cfg.num_dataset_entries = 100_000;
        cfg.dataset_memory_mb = 512;
        // Implied: never refused here (the build caps it).
        assert!(check_explicit(&cfg, [1, 2, 3]).is_ok());
        cfg.num_dataset_entries_flag = Some("--num-dataset-entries");
        let e = check_explicit(&cfg, [1, 2, 3]).unwrap_err().to_string();
        // 100,000 x (1024 + base64 of 160,044 bytes = 213,392) = 21,441.6 MB.
        let per = ENTRY_OVERHEAD_BYTES + 213_392;
        let fit = 512 * MB / per;
        assert_eq!(
            e,
            format!(
                "--num-dataset-entries 100000: the dataset would need about 21442 MB, more than the \
                 dataset memory budget of 512 MB; raise it with --dataset-memory-mb 21442 or ask for \
                 at most {fit} entries (requests past the pool reuse it)"
            )
        );
        // Exactly what fits is accepted; one more is not.
        cfg.num_dataset_entries = fit as u32;
        assert!(check_explicit(&cfg, [1, 2, 3]).is_ok());
        cfg.num_dataset_entries = fit as u32 + 1;
        assert!(check_explicit(&cfg, [1, 2, 3]).is_err());
        cfg.dataset_memory_mb = 22_000;
        cfg.num_dataset_entries = 100_000;
        assert!(check_explicit(&cfg, [1, 2, 3]).is_ok());
    }

    #[test]
    fn reuse_order_sends_each_entry_once_then_reuses_in_a_seeded_order() {
        let n = 97;
        let o = ReuseOrder::seeded(n, 42);
        // First round: entry k.
        assert!((0..n as u64).all(|k| o.entry(k) == k as usize));
        let round = |o: &ReuseOrder, r: u64| -> Vec<usize> {
            (0..n as u64).map(|i| o.entry(r * n as u64 + i)).collect()
        };
        let mut prev = round(&o, 0);
        for r in 1..5 {
            let got = round(&o, r);
            let mut sorted = got.clone();
            sorted.sort_unstable();
            assert_eq!(
                sorted,
                (0..n).collect::<Vec<_>>(),
                "round {r} is a permutation"
            );
            assert_ne!(got, prev, "round {r} differs from the one before");
            prev = got;
        }
        // Same seed, same order; another seed, another order.
        assert_eq!(round(&ReuseOrder::seeded(n, 42), 3), round(&o, 3));
        assert_ne!(round(&ReuseOrder::seeded(n, 43), 3), round(&o, 3));
        // Sequential: k % n.
        let s = ReuseOrder::sequential(3);
        assert_eq!(
            (0..7).map(|k| s.entry(k)).collect::<Vec<_>>(),
            [0, 1, 2, 0, 1, 2, 0]
        );
        // One entry: always 0.
        let one = ReuseOrder::seeded(1, 5);
        assert!((0..10).all(|k| one.entry(k) == 0));
    }
}
