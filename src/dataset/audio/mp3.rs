//! MP3 clips for `--audio-format mp3`, encoded once at dataset build time.
//!
//! Encoder choice: LAME 3.100 through the `mp3lame-encoder` crate (vendored C
//! source, built statically by `mp3lame-sys`). LAME is what AIPerf itself uses:
//! it writes MP3 through libsndfile, and libsndfile encodes with libmp3lame, so
//! our clips come from the same encoder with the same kind of settings (VBR,
//! with a Xing/LAME info frame that gives decoders the exact length). LAME is
//! decades old and decodes everywhere; the pure-Rust alternative, `shine-rs`
//! 0.1.x, is young (its latest releases fix bitstream overruns) and noise is the
//! hardest input there is for an encoder's bit allocation.
//!
//! Licence: LAME is LGPL-2.0-or-later (the crates wrapping it are LGPL-3.0);
//! `shine-rs` is LGPL-2.0 too, so no MP3 encoder on crates.io avoids the LGPL.
//! audioperf stays MIT; LAME is linked statically, so whoever distributes an
//! audioperf *binary* must also offer LAME's source and let users relink with
//! a modified LAME (shipping or pointing to audioperf's source, which rebuilds
//! everything with `cargo build`, does that). To build without any LGPL code,
//! use `cargo build --no-default-features`: the `mp3` feature is then off and
//! `--audio-format mp3` is a clear error.
//!
//! Owns: the MP3 sample-rate rule and turning a [`ClipSpec`] into MP3 bytes.
//! The bit depth of the spec is irrelevant here: MP3 has none, so every clip is
//! encoded from the clip's 16-bit noise ([`super::clip::noise_i16`]).

use super::clip::ClipSpec;
use anyhow::{bail, Result};

/// The only sample rates MPEG-1/2/2.5 Layer III can carry, in Hz (AIPerf's list).
pub const MP3_SAMPLE_RATES_HZ: [u32; 9] = [
    8_000, 11_025, 12_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000,
];

/// LAME's VBR quality (0 best .. 9 smallest); 4 is LAME's own default (-V4).
#[cfg(feature = "mp3")]
const VBR_QUALITY: mp3lame_encoder::Quality = mp3lame_encoder::Quality::Nice;

/// Samples per MP3 frame: 1152 for MPEG-1 (32 kHz and up), 576 below.
pub fn samples_per_frame(sample_rate_hz: u32) -> u64 {
    if sample_rate_hz >= 32_000 {
        1152
    } else {
        576
    }
}

/// Whether this build can encode MP3 (the `mp3` cargo feature).
pub const fn available() -> bool {
    cfg!(feature = "mp3")
}

/// Checks every candidate rate once, up front, so a bad list is a
/// configuration error rather than a failure halfway through the build.
pub fn validate_rates(rates_hz: &[u32]) -> Result<()> {
    if !available() {
        bail!(
            "--audio-format mp3: this audioperf was built without MP3 support \
             (the `mp3` cargo feature); rebuild with default features or use --audio-format wav"
        );
    }
    if let Some(&bad) = rates_hz.iter().find(|r| !MP3_SAMPLE_RATES_HZ.contains(r)) {
        let allowed: Vec<String> = MP3_SAMPLE_RATES_HZ.iter().map(|&r| khz(r)).collect();
        bail!(
            "--audio-sample-rates: {} kHz cannot be encoded as MP3 (--audio-format mp3); \
             MP3 sample rates are {} kHz",
            khz(bad),
            allowed.join(", ")
        );
    }
    Ok(())
}

/// 44100 -> "44.1", 16000 -> "16", 11025 -> "11.025".
fn khz(hz: u32) -> String {
    let s = format!("{:.3}", hz as f64 / 1000.0);
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The complete MP3 file for `spec` (mono or stereo, VBR, Xing/LAME info
/// frame first). `spec.sample_rate_hz` must have passed [`validate_rates`].
#[cfg(feature = "mp3")]
pub fn render_mp3(spec: &ClipSpec) -> Result<Vec<u8>> {
    use mp3lame_encoder::{Builder, FlushGap, InterleavedPcm, Mode, MonoPcm, VbrMode};

    if !MP3_SAMPLE_RATES_HZ.contains(&spec.sample_rate_hz) {
        bail!(
            "MP3 cannot carry {} Hz audio; MP3 sample rates are {:?} Hz",
            spec.sample_rate_hz,
            MP3_SAMPLE_RATES_HZ
        );
    }
    let lame_err = |what: &str, e: &dyn std::fmt::Debug| {
        anyhow::anyhow!(
            "MP3 encoder (LAME) {what} failed at {} Hz, {} channel(s): {e:?}",
            spec.sample_rate_hz,
            spec.channels
        )
    };
    let mut b = Builder::new().ok_or_else(|| anyhow::anyhow!("MP3 encoder: lame_init failed"))?;
    b.set_sample_rate(spec.sample_rate_hz)
        .map_err(|e| lame_err("setting the sample rate", &e))?;
    // Without this LAME may resample (e.g. 8 kHz noise to 16 kHz); the file
    // must carry the rate that was drawn.
    b.set_output_sample_rate(std::num::NonZeroU32::new(spec.sample_rate_hz))
        .map_err(|e| lame_err("setting the output rate", &e))?;
    b.set_num_channels(spec.channels as u8)
        .map_err(|e| lame_err("setting the channel count", &e))?;
    let mode = if spec.channels == 1 {
        Mode::Mono
    } else {
        Mode::JointStereo
    };
    b.set_mode(mode)
        .map_err(|e| lame_err("setting the mode", &e))?;
    b.set_vbr_mode(VbrMode::Mtrh)
        .map_err(|e| lame_err("setting VBR", &e))?;
    b.set_vbr_quality(VBR_QUALITY)
        .map_err(|e| lame_err("setting the VBR quality", &e))?;
    b.set_to_write_vbr_tag(true)
        .map_err(|e| lame_err("enabling the info frame", &e))?;
    let mut enc = b.build().map_err(|e| lame_err("initialisation", &e))?;

    let pcm = super::clip::noise_i16(spec);
    let frames = spec.frames as usize;
    // LAME writes into the spare capacity without bounds when told its size is
    // 0, so the worst case (1.25 x samples + 7200) must be reserved up front;
    // the flush needs up to 7200 more.
    let mut out = Vec::with_capacity(mp3lame_encoder::max_required_buffer_size(pcm.len()) + 7200);
    if spec.channels == 1 {
        enc.encode_to_vec(MonoPcm(&pcm), &mut out)
    } else {
        enc.encode_to_vec(InterleavedPcm(&pcm), &mut out)
    }
    .map_err(|e| lame_err(&format!("encoding {frames} frames"), &e))?;
    out.reserve(7200);
    enc.flush_to_vec::<FlushGap>(&mut out)
        .map_err(|e| lame_err("flush", &e))?;
    // The info frame was written as a placeholder at the start; fill it in now
    // that LAME knows the frame count, delay and padding.
    let tag_len = enc.lame_tag_size();
    if tag_len > 0 && tag_len <= out.len() {
        let mut tag = Vec::with_capacity(tag_len);
        if enc.lame_tag_encode_to_vec(&mut tag).is_some() && tag.len() == tag_len {
            out[..tag_len].copy_from_slice(&tag);
        }
    }
    Ok(out)
}

/// Without the `mp3` feature [`validate_rates`] already refused MP3; this
/// keeps the call sites the same.
#[cfg(not(feature = "mp3"))]
pub fn render_mp3(_spec: &ClipSpec) -> Result<Vec<u8>> {
    bail!("--audio-format mp3: this audioperf was built without MP3 support (the `mp3` cargo feature)")
}

#[cfg(all(test, feature = "mp3"))]
mod tests {
    use super::*;

    fn spec(rate: u32, channels: u16, frames: u64) -> ClipSpec {
        ClipSpec {
            sample_rate_hz: rate,
            depth_bits: 16,
            channels,
            frames,
            seed: 11,
        }
    }

    /// (MPEG version bits, sample-rate index, channel mode) of the first frame
    /// header after the info frame.
    fn header(mp3: &[u8]) -> (u8, u8, u8) {
        assert_eq!(mp3[0], 0xFF);
        assert_eq!(mp3[1] & 0xE0, 0xE0, "frame sync");
        ((mp3[1] >> 3) & 3, (mp3[2] >> 2) & 3, mp3[3] >> 6)
    }

    #[test]
    fn every_rate_gets_its_own_mpeg_version_and_rate_index() {
        // (rate, version bits: 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5, rate index)
        let table = [
            (44_100, 3, 0),
            (48_000, 3, 1),
            (32_000, 3, 2),
            (22_050, 2, 0),
            (24_000, 2, 1),
            (16_000, 2, 2),
            (11_025, 0, 0),
            (12_000, 0, 1),
            (8_000, 0, 2),
        ];
        for (rate, version, idx) in table {
            for channels in [1u16, 2] {
                let mp3 = render_mp3(&spec(rate, channels, rate as u64 / 4)).unwrap();
                let (v, r, mode) = header(&mp3);
                assert_eq!((v, r), (version, idx), "{rate} Hz");
                // Channel mode 3 = mono; 1 = joint stereo.
                assert_eq!(mode, if channels == 1 { 3 } else { 1 }, "{rate} Hz");
                // The info frame carries "Xing" (VBR) or "Info" (CBR).
                let head = &mp3[..mp3.len().min(64)];
                assert!(
                    head.windows(4).any(|w| w == b"Xing" || w == b"Info"),
                    "{rate} Hz x{channels}: no info frame"
                );
            }
        }
    }

    #[test]
    fn noise_is_encoded_at_a_noise_bitrate() {
        // LAME -V4 on sigma-0.3 noise: ~75 kbps mono, ~145 kbps stereo at
        // 44.1 kHz. (libsndfile, also -V4 per its LAME tag, gives ~76 mono but
        // ~323 kbps stereo; the stereo gap is not explained yet.)
        let mono = render_mp3(&spec(44_100, 1, 88_200)).unwrap();
        let kbps = mono.len() as f64 * 8.0 / 2.0 / 1000.0;
        assert!((60.0..=95.0).contains(&kbps), "mono {kbps} kbps");
        let mp3 = render_mp3(&spec(44_100, 2, 88_200)).unwrap();
        let kbps = mp3.len() as f64 * 8.0 / 2.0 / 1000.0;
        assert!((120.0..=330.0).contains(&kbps), "stereo {kbps} kbps");
        // Same spec, same bytes.
        assert_eq!(mp3, render_mp3(&spec(44_100, 2, 88_200)).unwrap());
    }

    #[test]
    fn rates_outside_the_list_are_refused_with_the_list() {
        let err = validate_rates(&[16_000, 44_000]).unwrap_err().to_string();
        assert_eq!(
            err,
            "--audio-sample-rates: 44 kHz cannot be encoded as MP3 (--audio-format mp3); \
             MP3 sample rates are 8, 11.025, 12, 16, 22.05, 24, 32, 44.1, 48 kHz"
        );
        assert!(validate_rates(&MP3_SAMPLE_RATES_HZ).is_ok());
        assert!(render_mp3(&spec(96_000, 1, 100)).is_err());
        assert_eq!(khz(22_050), "22.05");
        assert_eq!(samples_per_frame(16_000), 576);
        assert_eq!(samples_per_frame(32_000), 1152);
    }
}
