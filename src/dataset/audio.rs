//! Synthetic audio clips, as AIPerf 0.13's `AudioGenerator` makes them:
//! Gaussian noise (sigma 0.3 of full scale, clipped to [-1, 1]) with a length
//! drawn from Normal(mean, stddev) (re-drawn below 0.01 s), a sample rate and a
//! bit depth picked per clip from the configured lists.
//!
//! Owns: validating the `--audio-*` values, drawing each clip's shape
//! ([`ClipPlanner`]), and writing WAV bytes ([`render_wav`]). WAV files always
//! carry a plain 44-byte WAVE_FORMAT_PCM (format 1) header, at every depth:
//! Python's `wave` rejects WAVE_FORMAT_EXTENSIBLE, which `hound` writes above
//! 16 bits, and servers decode with `wave` as often as with libsndfile.
//! MP3 is not implemented yet.

use crate::config::{AudioConfig, AudioFormat};
use anyhow::{bail, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

/// Bit depths a WAV clip may have.
pub const SUPPORTED_DEPTHS: [u16; 4] = [8, 16, 24, 32];
/// Standard deviation of the noise, as a fraction of full scale (AIPerf's value).
pub const NOISE_SIGMA: f64 = 0.3;
/// Clip lengths below this are re-drawn (AIPerf's lower bound, seconds).
pub const MIN_LENGTH_S: f64 = 0.01;
/// Size of the WAV header [`write_wav_header`] emits.
pub const WAV_HEADER_LEN: usize = 44;
/// Rejection sampling gives up after this many draws and uses the clamped mean
/// (AIPerf does the same, so an unreachable bound cannot hang the build).
const MAX_REDRAWS: usize = 10_000;

/// Checks the audio options once, with errors naming the flag at fault.
/// The CLI validates too; this keeps `dataset::build` safe on its own.
pub fn validate(audio: &AudioConfig) -> Result<()> {
    if !audio.length_mean_s.is_finite() || audio.length_mean_s < 0.0 {
        bail!(
            "--audio-length-mean must be a finite number >= 0, got {}",
            audio.length_mean_s
        );
    }
    if audio.length_mean_s > 0.0 && audio.length_mean_s < MIN_LENGTH_S {
        bail!(
            "--audio-length-mean must be at least {MIN_LENGTH_S} seconds (or 0 to disable audio), got {}",
            audio.length_mean_s
        );
    }
    if !audio.length_stddev_s.is_finite() || audio.length_stddev_s < 0.0 {
        bail!(
            "--audio-length-stddev must be a finite number >= 0, got {}",
            audio.length_stddev_s
        );
    }
    if audio.format == AudioFormat::Mp3 {
        bail!("--audio-format mp3 is not supported yet; use wav");
    }
    if audio.sample_rates_hz.is_empty() {
        bail!("--audio-sample-rates needs at least one rate (kHz), e.g. 16");
    }
    if let Some(r) = audio.sample_rates_hz.iter().find(|&&r| r == 0) {
        bail!("--audio-sample-rates must all be > 0, got {r} Hz");
    }
    if audio.depths_bits.is_empty() {
        bail!("--audio-depths needs at least one depth (8, 16, 24 or 32)");
    }
    if let Some(d) = audio
        .depths_bits
        .iter()
        .find(|d| !SUPPORTED_DEPTHS.contains(d))
    {
        bail!("--audio-depths: unsupported bit depth {d}; supported depths are 8, 16, 24, 32");
    }
    if audio.channels != 1 && audio.channels != 2 {
        bail!(
            "--audio-num-channels must be 1 or 2, got {}",
            audio.channels
        );
    }
    if audio.batch_size == 0 {
        bail!("--audio-batch-size must be at least 1");
    }
    Ok(())
}

/// The shape of one clip, drawn up front; the samples come from `seed` later,
/// so clips can be rendered on any thread and still be reproducible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClipSpec {
    pub sample_rate_hz: u32,
    pub depth_bits: u16,
    pub channels: u16,
    /// Samples per channel.
    pub frames: u64,
    /// Seed of the noise generator for this clip.
    pub seed: u64,
}

impl ClipSpec {
    /// The clip's real length: frames / rate (the drawn length, truncated to whole frames).
    pub fn duration_s(&self) -> f64 {
        self.frames as f64 / self.sample_rate_hz as f64
    }

    /// Bytes of sample data (without header or pad byte).
    pub fn data_len(&self) -> u64 {
        self.frames * self.channels as u64 * (self.depth_bits as u64 / 8)
    }

    /// Total size of the WAV file `render_wav` produces.
    pub fn wav_len(&self) -> u64 {
        let data = self.data_len();
        WAV_HEADER_LEN as u64 + data + (data & 1)
    }
}

/// Draws clip shapes. Like AIPerf, durations, format choices (rate, depth) and
/// sample data come from three independent streams, so changing one option
/// (say, the depth list) does not change the clip lengths of a seeded run.
pub struct ClipPlanner {
    duration_rng: StdRng,
    format_rng: StdRng,
    data_rng: StdRng,
}

impl ClipPlanner {
    /// `seeds` are (duration, format, data) stream seeds.
    pub fn new(seeds: [u64; 3]) -> Self {
        ClipPlanner {
            duration_rng: StdRng::seed_from_u64(seeds[0]),
            format_rng: StdRng::seed_from_u64(seeds[1]),
            data_rng: StdRng::seed_from_u64(seeds[2]),
        }
    }

    /// The next clip's shape. `audio` must have passed [`validate`].
    pub fn next_clip(&mut self, audio: &AudioConfig) -> Result<ClipSpec> {
        let length_s = sample_length_s(
            &mut self.duration_rng,
            audio.length_mean_s,
            audio.length_stddev_s,
        );
        // Rate first, then depth: AIPerf's draw order on its format stream.
        let sample_rate_hz = pick(&mut self.format_rng, &audio.sample_rates_hz);
        let depth_bits = pick(&mut self.format_rng, &audio.depths_bits);
        // AIPerf: num_samples = int(audio_length * sampling_rate_hz).
        let frames = (length_s * sample_rate_hz as f64) as u64;
        let spec = ClipSpec {
            sample_rate_hz,
            depth_bits,
            channels: audio.channels,
            frames,
            seed: self.data_rng.gen(),
        };
        // The RIFF sizes are 32-bit; refuse rather than write a corrupt header.
        if spec.wav_len() > u32::MAX as u64 {
            bail!(
                "--audio-length-mean/--audio-length-stddev: a {length_s:.1} s clip at {sample_rate_hz} Hz, \
                 {depth_bits} bits, {} channel(s) exceeds the 4 GiB WAV limit",
                audio.channels
            );
        }
        Ok(spec)
    }
}

fn pick<T: Copy>(rng: &mut StdRng, items: &[T]) -> T {
    items[rng.gen_range(0..items.len())]
}

/// Normal(mean, stddev), re-drawn until >= 0.01 s (AIPerf's `sample_normal`
/// with `lower=0.01`, including its clamped-mean fallback).
pub fn sample_length_s(rng: &mut StdRng, mean: f64, stddev: f64) -> f64 {
    if stddev <= 0.0 {
        return mean.max(MIN_LENGTH_S);
    }
    for _ in 0..MAX_REDRAWS {
        let z: f64 = rng.sample(StandardNormal);
        let x = mean + stddev * z;
        if x >= MIN_LENGTH_S {
            return x;
        }
    }
    mean.max(MIN_LENGTH_S)
}

/// Writes the 44-byte canonical WAV header (RIFF, `fmt ` with
/// WAVE_FORMAT_PCM = 1, `data`) for `spec`.
pub fn write_wav_header(out: &mut Vec<u8>, spec: &ClipSpec) {
    let data_len = spec.data_len() as u32;
    let pad = data_len & 1;
    let bytes_per_sample = spec.depth_bits / 8;
    let block_align = spec.channels * bytes_per_sample;
    let byte_rate = spec.sample_rate_hz * block_align as u32;
    out.extend_from_slice(b"RIFF");
    // Everything after this field: "WAVE" + fmt chunk (8 + 16) + data chunk (8 + data + pad).
    out.extend_from_slice(&(36 + data_len + pad).to_le_bytes());
    out.extend_from_slice(b"WAVE");
    out.extend_from_slice(b"fmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&spec.channels.to_le_bytes());
    out.extend_from_slice(&spec.sample_rate_hz.to_le_bytes());
    out.extend_from_slice(&byte_rate.to_le_bytes());
    out.extend_from_slice(&block_align.to_le_bytes());
    out.extend_from_slice(&spec.depth_bits.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
}

/// The complete WAV file for `spec`: header, interleaved little-endian
/// samples, and the RIFF pad byte when the data length is odd.
pub fn render_wav(spec: &ClipSpec) -> Vec<u8> {
    let mut out = Vec::with_capacity(spec.wav_len() as usize);
    write_wav_header(&mut out, spec);
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let n = spec.frames * spec.channels as u64;
    // Noise in [-1, 1]; the casts truncate toward zero like numpy's astype.
    let mut noise = || -> f64 {
        let z: f64 = rng.sample(StandardNormal);
        (z * NOISE_SIGMA).clamp(-1.0, 1.0)
    };
    match spec.depth_bits {
        8 => {
            // AIPerf scales to int16 and lets libsndfile write PCM_U8, which
            // keeps the high byte and offsets it: (s >> 8) + 128.
            for _ in 0..n {
                let s = (noise() * i16::MAX as f64) as i16;
                out.push(((s >> 8) + 128) as u8);
            }
        }
        16 => {
            for _ in 0..n {
                let s = (noise() * i16::MAX as f64) as i16;
                out.extend_from_slice(&s.to_le_bytes());
            }
        }
        24 => {
            // Scaled to the real 24-bit range. (AIPerf hands int32 values scaled
            // to 2^23 - 1 to libsndfile, which reads them as 32-bit full scale,
            // so its 24-bit clips come out 256 times quieter than intended.)
            const MAX24: f64 = ((1 << 23) - 1) as f64;
            for _ in 0..n {
                let s = (noise() * MAX24) as i32;
                out.extend_from_slice(&s.to_le_bytes()[..3]);
            }
        }
        _ => {
            // 32 bits (`validate` admits no other depth).
            for _ in 0..n {
                let s = (noise() * i32::MAX as f64) as i32;
                out.extend_from_slice(&s.to_le_bytes());
            }
        }
    }
    if spec.data_len() & 1 == 1 {
        out.push(0);
    }
    out
}
