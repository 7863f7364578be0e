//! Synthetic audio clips, as AIPerf 0.13's `AudioGenerator` makes them:
//! Gaussian noise (sigma 0.3 of full scale, clipped to [-1, 1]) with a length
//! drawn from Normal(mean, stddev) (re-drawn below 0.01 s), a sample rate and a
//! bit depth picked per clip from the configured lists.
//!
//! Owns: validating the `--audio-*` values and drawing each clip's shape
//! ([`ClipPlanner`]). The clip and its noise are in [`clip`], WAV bytes in
//! [`wav`], MP3 (encoded from the same 16-bit noise) in [`mp3`].

use crate::config::{AudioConfig, AudioFormat};
use anyhow::{bail, Result};
pub mod clip;
pub mod decode;
pub mod mp3;
pub mod wav;

pub use clip::{noise_i16, ClipSpec, NOISE_SIGMA};
pub use wav::{render_wav, write_wav_header, WAV_HEADER_LEN};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

/// Bit depths a WAV clip may have.
pub const SUPPORTED_DEPTHS: [u16; 4] = [8, 16, 24, 32];
/// Clip lengths below this are re-drawn (AIPerf's lower bound, seconds).
pub const MIN_LENGTH_S: f64 = 0.01;
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
    if audio.sample_rates_hz.is_empty() {
        bail!("--audio-sample-rates needs at least one rate (kHz), e.g. 16");
    }
    if let Some(r) = audio.sample_rates_hz.iter().find(|&&r| r == 0) {
        bail!("--audio-sample-rates must all be > 0, got {r} Hz");
    }
    if audio.format == AudioFormat::Mp3 {
        mp3::validate_rates(&audio.sample_rates_hz)?;
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
        // The RIFF sizes are 32-bit; refuse rather than write a corrupt header
        // (checked in f64 first: an absurd length would overflow the integers).
        let bytes = length_s
            * sample_rate_hz as f64
            * f64::from(depth_bits / 8)
            * f64::from(audio.channels);
        if bytes + WAV_HEADER_LEN as f64 > u32::MAX as f64 {
            bail!(
                "--audio-length-mean/--audio-length-stddev: a {length_s:.1} s clip at {sample_rate_hz} Hz, \
                 {depth_bits} bits, {} channel(s) exceeds the 4 GiB WAV limit",
                audio.channels
            );
        }
        // AIPerf: num_samples = int(audio_length * sampling_rate_hz).
        let frames = (length_s * sample_rate_hz as f64) as u64;
        let spec = ClipSpec {
            sample_rate_hz,
            depth_bits,
            channels: audio.channels,
            frames,
            seed: self.data_rng.random(),
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
    items[rng.random_range(0..items.len())]
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(rate: u32, depth: u16, channels: u16, frames: u64) -> ClipSpec {
        ClipSpec {
            sample_rate_hz: rate,
            depth_bits: depth,
            channels,
            frames,
            seed: 7,
        }
    }

    fn audio_cfg() -> AudioConfig {
        AudioConfig {
            length_mean_s: 1.0,
            length_stddev_s: 0.0,
            format: AudioFormat::Wav,
            sample_rates_hz: vec![16_000],
            depths_bits: vec![16],
            channels: 1,
            batch_size: 1,
        }
    }

    fn u16_at(b: &[u8], i: usize) -> u16 {
        u16::from_le_bytes([b[i], b[i + 1]])
    }

    fn u32_at(b: &[u8], i: usize) -> u32 {
        u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
    }

    #[test]
    fn header_bytes_for_every_depth_and_channel_count() {
        for depth in SUPPORTED_DEPTHS {
            for channels in [1u16, 2] {
                let s = spec(44_100, depth, channels, 1000);
                let wav = render_wav(&s);
                let bps = depth as u32 / 8;
                let data_len = 1000 * channels as u32 * bps;
                assert_eq!(&wav[0..4], b"RIFF");
                assert_eq!(u32_at(&wav, 4), 36 + data_len);
                assert_eq!(&wav[8..16], b"WAVEfmt ");
                assert_eq!(u32_at(&wav, 16), 16, "fmt chunk size");
                assert_eq!(u16_at(&wav, 20), 1, "WAVE_FORMAT_PCM at {depth} bits");
                assert_eq!(u16_at(&wav, 22), channels);
                assert_eq!(u32_at(&wav, 24), 44_100);
                assert_eq!(u32_at(&wav, 28), 44_100 * channels as u32 * bps);
                assert_eq!(u16_at(&wav, 32), channels * depth / 8);
                assert_eq!(u16_at(&wav, 34), depth);
                assert_eq!(&wav[36..40], b"data");
                assert_eq!(u32_at(&wav, 40), data_len);
                assert_eq!(wav.len(), 44 + data_len as usize);
                assert_eq!(wav.len() as u64, s.wav_len());
            }
        }
    }

    #[test]
    fn odd_data_length_gets_a_pad_byte() {
        let s = spec(8_000, 8, 1, 3);
        let wav = render_wav(&s);
        assert_eq!(u32_at(&wav, 40), 3);
        assert_eq!(u32_at(&wav, 4), 36 + 3 + 1);
        assert_eq!(wav.len(), 48);
        assert_eq!(wav[47], 0);
    }

    /// Decodes the samples back to [-1, 1] floats.
    fn samples(wav: &[u8], depth: u16) -> Vec<f64> {
        let data = &wav[44..44 + u32_at(wav, 40) as usize];
        match depth {
            8 => data.iter().map(|&b| (b as f64 - 128.0) / 128.0).collect(),
            16 => data
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]) as f64 / 32767.0)
                .collect(),
            24 => data
                .chunks_exact(3)
                .map(|c| (i32::from_le_bytes([0, c[0], c[1], c[2]]) >> 8) as f64 / 8_388_607.0)
                .collect(),
            _ => data
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64 / 2_147_483_647.0)
                .collect(),
        }
    }

    #[test]
    fn noise_is_zero_mean_with_sigma_0_3_of_full_scale() {
        for depth in SUPPORTED_DEPTHS {
            let wav = render_wav(&spec(16_000, depth, 2, 50_000));
            let x = samples(&wav, depth);
            assert_eq!(x.len(), 100_000);
            let mean = x.iter().sum::<f64>() / x.len() as f64;
            let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / x.len() as f64;
            // 8-bit keeps only the high byte (floor), which biases the mean by
            // about half a step (-1/254) and coarsens the spread.
            let mean_tol = if depth == 8 { 0.01 } else { 0.005 };
            assert!(mean.abs() < mean_tol, "{depth} bits: mean {mean}");
            assert!(
                (var.sqrt() - 0.3).abs() < 0.01,
                "{depth} bits: std {}",
                var.sqrt()
            );
            assert!(
                x.iter().all(|v| v.abs() <= 1.0 + 1e-9),
                "{depth} bits: clipped"
            );
        }
    }

    #[test]
    fn noise_i16_is_the_16_bit_wav_data() {
        let s = spec(22_050, 16, 2, 777);
        let wav = render_wav(&s);
        let pcm: Vec<i16> = wav[44..]
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(pcm.len(), 1554);
        assert_eq!(noise_i16(&s), pcm);
        // The drawn depth does not change the samples MP3 is encoded from.
        assert_eq!(noise_i16(&spec(22_050, 24, 2, 777)), pcm);
    }

    #[test]
    fn eight_bit_is_libsndfile_conversion_of_int16() {
        // Same seed, 8 vs 16 bits: u8 = (i16 >> 8) + 128, sample for sample.
        let w16 = render_wav(&spec(16_000, 16, 1, 500));
        let w8 = render_wav(&spec(16_000, 8, 1, 500));
        for i in 0..500 {
            let s = i16::from_le_bytes([w16[44 + 2 * i], w16[45 + 2 * i]]);
            assert_eq!(w8[44 + i], ((s >> 8) + 128) as u8);
        }
    }

    #[test]
    fn duration_is_frames_over_rate() {
        let mut planner = ClipPlanner::new([1, 2, 3]);
        let mut cfg = audio_cfg();
        cfg.length_mean_s = 0.5;
        cfg.sample_rates_hz = vec![44_100];
        let clip = planner.next_clip(&cfg).unwrap();
        assert_eq!(clip.frames, 22_050);
        assert_eq!(clip.duration_s(), 0.5);
        cfg.length_mean_s = 1.23456;
        cfg.sample_rates_hz = vec![16_000];
        let clip = planner.next_clip(&cfg).unwrap();
        assert_eq!(clip.frames, 19_752); // int(1.23456 * 16000)
        assert_eq!(clip.duration_s(), 19_752.0 / 16_000.0);
    }

    #[test]
    fn lengths_are_redrawn_below_the_floor() {
        let mut rng = StdRng::seed_from_u64(5);
        let draws: Vec<f64> = (0..5000)
            .map(|_| sample_length_s(&mut rng, 0.05, 1.0))
            .collect();
        assert!(draws.iter().all(|&d| d >= MIN_LENGTH_S));
        // Not clamped: the draws are spread out above the floor.
        assert!(draws.iter().filter(|&&d| d == MIN_LENGTH_S).count() == 0);
        assert!(draws.iter().cloned().fold(0.0, f64::max) > 2.0);
        // No spread: exactly the mean.
        assert_eq!(sample_length_s(&mut rng, 5.0, 0.0), 5.0);
    }

    #[test]
    fn rates_and_depths_are_picked_from_the_lists() {
        let mut planner = ClipPlanner::new([1, 2, 3]);
        let mut cfg = audio_cfg();
        cfg.sample_rates_hz = vec![16_000, 44_100];
        cfg.depths_bits = vec![8, 24];
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let c = planner.next_clip(&cfg).unwrap();
            seen.insert((c.sample_rate_hz, c.depth_bits));
        }
        let all: std::collections::BTreeSet<_> =
            [(16_000, 8), (16_000, 24), (44_100, 8), (44_100, 24)].into();
        assert_eq!(seen, all);
    }

    #[test]
    fn validation_names_the_flag() {
        let check = |f: &dyn Fn(&mut AudioConfig), needle: &str| {
            let mut cfg = audio_cfg();
            f(&mut cfg);
            let err = validate(&cfg).unwrap_err().to_string();
            assert!(err.contains(needle), "{err:?} should name {needle}");
        };
        check(
            &|c| c.sample_rates_hz = vec![16_000, 0],
            "--audio-sample-rates",
        );
        check(&|c| c.sample_rates_hz.clear(), "--audio-sample-rates");
        check(&|c| c.depths_bits = vec![12], "--audio-depths");
        check(&|c| c.channels = 3, "--audio-num-channels");
        check(&|c| c.length_mean_s = 0.001, "--audio-length-mean");
        check(&|c| c.length_stddev_s = -1.0, "--audio-length-stddev");
        check(&|c| c.batch_size = 0, "--audio-batch-size");
        check(
            &|c| {
                c.format = AudioFormat::Mp3;
                c.sample_rates_hz = vec![16_000, 44_000];
            },
            "--audio-sample-rates: 44 kHz cannot be encoded as MP3 (--audio-format mp3); \
             MP3 sample rates are 8, 11.025, 12, 16, 22.05, 24, 32, 44.1, 48 kHz",
        );
        assert!(validate(&audio_cfg()).is_ok());
    }

    /// Python's `wave` module (what servers often decode with) reads every
    /// depth/channel combination back with the same parameters and frames.
    /// Skipped where no python3 is installed.
    #[test]
    fn python_wave_reads_every_depth() {
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(_) => return,
        };
        let mut expect = String::new();
        for depth in SUPPORTED_DEPTHS {
            for channels in [1u16, 2] {
                let s = spec(22_050, depth, channels, 2205);
                let path = dir.path().join(format!("c{depth}_{channels}.wav"));
                std::fs::write(&path, render_wav(&s)).unwrap();
                expect.push_str(&format!("{channels} {} 22050 2205\n", depth / 8));
            }
        }
        let script = "import wave,sys,glob\n\
            for d in (8,16,24,32):\n\
            \x20 for c in (1,2):\n\
            \x20   w=wave.open(f'{sys.argv[1]}/c{d}_{c}.wav','rb')\n\
            \x20   n=len(w.readframes(w.getnframes()))\n\
            \x20   assert n==w.getnframes()*w.getsampwidth()*w.getnchannels()\n\
            \x20   print(w.getnchannels(),w.getsampwidth(),w.getframerate(),w.getnframes())\n";
        let out = match std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(dir.path())
            .output()
        {
            Ok(o) => o,
            Err(_) => return, // no python3 here
        };
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), expect);
    }
}
