//! WAV bytes of a clip. Always a plain 44-byte WAVE_FORMAT_PCM (format 1)
//! header, at every depth: Python's `wave` rejects WAVE_FORMAT_EXTENSIBLE,
//! which `hound` writes above 16 bits, and servers decode with `wave` as often
//! as with libsndfile.

use super::clip::{noise_sample, ClipSpec};
use rand::rngs::StdRng;
use rand::SeedableRng;

/// Size of the WAV header [`write_wav_header`] emits.
pub const WAV_HEADER_LEN: usize = 44;

impl ClipSpec {
    /// Total size of the WAV file `render_wav` produces.
    pub fn wav_len(&self) -> u64 {
        let data = self.data_len();
        WAV_HEADER_LEN as u64 + data + (data & 1)
    }
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
    // Noise in [-1, 1]; the casts truncate toward zero like numpy's astype.
    let mut noise = || noise_sample(&mut rng);
    // The samples are written into the zeroed data area in place: one bounds
    // check per chunk instead of a capacity check per byte.
    let start = out.len();
    out.resize(start + spec.data_len() as usize, 0);
    let data = &mut out[start..];
    match spec.depth_bits {
        8 => {
            // AIPerf scales to int16 and lets libsndfile write PCM_U8, which
            // keeps the high byte and offsets it: (s >> 8) + 128.
            for b in data.iter_mut() {
                let s = (noise() * i16::MAX as f64) as i16;
                *b = ((s >> 8) + 128) as u8;
            }
        }
        16 => {
            for b in data.chunks_exact_mut(2) {
                let s = (noise() * i16::MAX as f64) as i16;
                b.copy_from_slice(&s.to_le_bytes());
            }
        }
        24 => {
            // Scaled to the real 24-bit range. (AIPerf hands int32 values scaled
            // to 2^23 - 1 to libsndfile, which reads them as 32-bit full scale,
            // so its 24-bit clips come out 256 times quieter than intended.)
            const MAX24: f64 = ((1 << 23) - 1) as f64;
            for b in data.chunks_exact_mut(3) {
                let s = (noise() * MAX24) as i32;
                b.copy_from_slice(&s.to_le_bytes()[..3]);
            }
        }
        _ => {
            // 32 bits (`validate` admits no other depth).
            for b in data.chunks_exact_mut(4) {
                let s = (noise() * i32::MAX as f64) as i32;
                b.copy_from_slice(&s.to_le_bytes());
            }
        }
    }
    if spec.data_len() & 1 == 1 {
        out.push(0);
    }
    out
}
