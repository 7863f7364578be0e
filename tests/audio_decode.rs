//! Decodes every synthetic audio shape audioperf can produce with an
//! independent decoder (symphonia) and checks rate, channels and length:
//! WAV at 8/16/24/32 bits x mono/stereo x several rates, MP3 x mono/stereo x
//! every MP3 rate. No network.

use audioperf::dataset::audio::{render_wav, ClipSpec};
use std::io::Cursor;
use symphonia::core::codecs::DecoderOptions;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// (sample rate, channels, decoded frames) from decoding every packet.
fn decode(bytes: Vec<u8>, ext: &str) -> (u32, usize, u64) {
    let mss = MediaSourceStream::new(Box::new(Cursor::new(bytes)), Default::default());
    let mut hint = Hint::new();
    hint.with_extension(ext);
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            mss,
            // Gapless: trim the encoder delay and padding the LAME tag records.
            &FormatOptions {
                enable_gapless: true,
                ..Default::default()
            },
            &MetadataOptions::default(),
        )
        .expect("probe");
    let mut format = probed.format;
    let track = format.default_track().expect("a track").clone();
    let mut dec = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .expect("decoder");
    let mut frames = 0u64;
    let mut rate = 0;
    let mut channels = 0;
    while let Ok(packet) = format.next_packet() {
        let buf = dec.decode(&packet).expect("decode");
        let spec = *buf.spec();
        rate = spec.rate;
        channels = spec.channels.count();
        frames += buf.frames() as u64;
    }
    (rate, channels, frames)
}

fn spec(rate: u32, depth: u16, channels: u16, seconds: f64) -> ClipSpec {
    ClipSpec {
        sample_rate_hz: rate,
        depth_bits: depth,
        channels,
        frames: (seconds * rate as f64) as u64,
        seed: 3,
    }
}

#[test]
fn every_wav_depth_channel_and_rate_decodes_to_its_length() {
    for rate in [8_000, 16_000, 22_050, 44_100, 48_000] {
        for depth in [8u16, 16, 24, 32] {
            for channels in [1u16, 2] {
                let s = spec(rate, depth, channels, 0.37);
                let (r, c, frames) = decode(render_wav(&s), "wav");
                assert_eq!(r, rate, "{rate} Hz {depth} bit x{channels}");
                assert_eq!(c, channels as usize, "{rate} Hz {depth} bit x{channels}");
                assert!(
                    frames.abs_diff(s.frames) <= 1,
                    "{rate} Hz {depth} bit x{channels}: {frames} frames, expected {}",
                    s.frames
                );
            }
        }
    }
}

#[cfg(feature = "mp3")]
#[test]
fn every_mp3_rate_and_channel_count_decodes_to_its_length() {
    use audioperf::dataset::audio::mp3::{render_mp3, samples_per_frame, MP3_SAMPLE_RATES_HZ};
    for rate in MP3_SAMPLE_RATES_HZ {
        for channels in [1u16, 2] {
            let s = spec(rate, 16, channels, 0.73);
            let (r, c, frames) = decode(render_mp3(&s).expect("encode"), "mp3");
            assert_eq!(r, rate, "{rate} Hz x{channels}");
            assert_eq!(c, channels as usize, "{rate} Hz x{channels}");
            // The LAME tag records encoder delay and padding, so a gapless
            // decoder gets back exactly the frames that went in (the brief
            // allows one MP3 frame; we hold the stronger, measured result).
            assert!(samples_per_frame(rate) >= 576);
            assert_eq!(frames, s.frames, "{rate} Hz x{channels}");
        }
    }
}

#[test]
fn shipped_fixtures_decode_to_the_lengths_the_loader_measures() {
    use audioperf::audio_file::duration;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/audio");
    for (name, ext) in [
        ("test_audio_1s.wav", "wav"),
        ("test_audio_2.wav", "wav"),
        ("test_audio_3.wav", "wav"),
        ("test_audio_4.mp3", "mp3"),
    ] {
        let bytes = std::fs::read(dir.join(name)).expect("fixture");
        let format = audioperf::audio_file::AudioFormat::from_name(ext).expect("wav or mp3");
        let measured = duration(&bytes, format).expect("probe");
        let (rate, channels, frames) = decode(bytes, ext);
        assert_eq!((rate, channels), (16_000, 1), "{name}");
        let decoded = frames as f64 / rate as f64;
        // MP3: the decoder adds its delay; one frame of slack.
        let tol = if ext == "mp3" { 0.1 } else { 1.0 / 16_000.0 };
        assert!(
            (decoded - measured).abs() <= tol,
            "{name}: {decoded} vs {measured}"
        );
    }
}
