//! One synthetic clip: its shape ([`ClipSpec`], drawn up front) and its
//! noise samples, generated from the clip's own seed so any thread can render
//! it reproducibly. WAV ([`super::wav`]) and MP3 ([`super::mp3`]) encode these.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

/// Standard deviation of the noise, as a fraction of full scale (AIPerf's value).
pub const NOISE_SIGMA: f64 = 0.3;

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
}

/// The clip's noise as interleaved 16-bit samples: exactly the samples a
/// 16-bit WAV of the same spec holds (MP3 is encoded from these, whatever the
/// drawn depth, as AIPerf hands libsndfile the same signal for every format).
pub fn noise_i16(spec: &ClipSpec) -> Vec<i16> {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let n = (spec.frames * spec.channels as u64) as usize;
    (0..n)
        .map(|_| (noise_sample(&mut rng) * i16::MAX as f64) as i16)
        .collect()
}

/// Noise in [-1, 1] of full scale: the clipped Gaussian every encoder starts from.
pub fn noise_sample(rng: &mut StdRng) -> f64 {
    let z: f64 = rng.sample(StandardNormal);
    (z * NOISE_SIGMA).clamp(-1.0, 1.0)
}
