//! Decoding a dataset's audio file (FLAC, WAV, MP3, Ogg Vorbis) with
//! symphonia and writing it again as 16-bit PCM WAV, as AIPerf does with
//! soundfile (`sf.read` then `sf.write(..., format="WAV")`, whose default
//! subtype is PCM_16): same sample rate, same channels.
//!
//! A clip longer than the limit is answered [`Decoded::TooLong`] from its
//! header's frame count when the container states one, before any sample is
//! decoded; otherwise from the decoded length.

use super::clip::ClipSpec;
use super::wav::write_wav_header;
use std::io::Cursor;
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// The most decoded samples one clip may have (all channels): ~10 minutes
/// of 48 kHz stereo. Bounds what a hostile file can make us allocate.
const MAX_SAMPLES: usize = 64 * 1024 * 1024;

/// What became of one file.
#[derive(Debug)]
pub enum Decoded {
    /// The clip as a 16-bit PCM WAV file, and its length.
    Wav { bytes: Vec<u8>, seconds: f64 },
    /// Longer than the limit (seconds as far as known): not decoded further.
    TooLong { seconds: f64 },
}

/// Decodes `file` (its format sniffed from the bytes; `extension`, e.g.
/// "flac" from the row's path, is a hint) and re-encodes it as WAV, unless it
/// is longer than `max_seconds`. `Err` says why the bytes are not audio.
pub fn to_wav(file: &[u8], extension: Option<&str>, max_seconds: f64) -> Result<Decoded, String> {
    let source = MediaSourceStream::new(
        Box::new(Cursor::new(file.to_vec())),
        MediaSourceStreamOptions::default(),
    );
    let mut hint = Hint::new();
    if let Some(ext) = extension {
        hint.with_extension(ext);
    }
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            source,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|e| format!("not a readable audio file ({e})"))?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or("the file has no audio track")?;
    let track_id = track.id;
    let params = track.codec_params.clone();
    let rate = params.sample_rate.ok_or("the file states no sample rate")?;
    if rate == 0 {
        return Err("the file states a sample rate of 0".into());
    }
    if let Some(frames) = params.n_frames {
        let seconds = frames as f64 / f64::from(rate);
        if seconds > max_seconds {
            return Ok(Decoded::TooLong { seconds });
        }
    }
    let mut decoder = symphonia::default::get_codecs()
        .make(&params, &DecoderOptions::default())
        .map_err(|e| format!("no decoder for this audio ({e})"))?;

    let mut samples: Vec<i16> = Vec::new();
    let mut channels = params.channels.map(|c| c.count()).unwrap_or(0);
    let mut buf: Option<SampleBuffer<i16>> = None;
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            // The end of the stream (symphonia reports it as an I/O EOF).
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymError::ResetRequired) => break,
            Err(e) => return Err(format!("cannot read the audio ({e})")),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = decoder
            .decode(&packet)
            .map_err(|e| format!("cannot decode the audio ({e})"))?;
        let spec = *decoded.spec();
        channels = spec.channels.count();
        let b = match &mut buf {
            Some(b) if b.capacity() >= decoded.capacity() * channels => b,
            _ => buf.insert(SampleBuffer::new(decoded.capacity() as u64, spec)),
        };
        b.copy_interleaved_ref(decoded);
        if samples.len() + b.samples().len() > MAX_SAMPLES {
            return Err(format!(
                "more than {MAX_SAMPLES} samples of audio (a clip of many minutes)"
            ));
        }
        samples.extend_from_slice(b.samples());
        let seconds = (samples.len() / channels.max(1)) as f64 / f64::from(rate);
        if seconds > max_seconds {
            return Ok(Decoded::TooLong { seconds });
        }
    }
    if channels == 0 || samples.is_empty() {
        return Err("the file holds no audio samples".into());
    }
    let spec = ClipSpec {
        sample_rate_hz: rate,
        depth_bits: 16,
        channels: u16::try_from(channels).map_err(|_| "too many channels")?,
        frames: (samples.len() / channels) as u64,
        seed: 0,
    };
    let mut bytes = Vec::with_capacity(spec.wav_len() as usize);
    write_wav_header(&mut bytes, &spec);
    for s in &samples[..spec.frames as usize * channels] {
        bytes.extend_from_slice(&s.to_le_bytes());
    }
    Ok(Decoded::Wav {
        bytes,
        seconds: spec.duration_s(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav_16k(frames: u32) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut out = Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut out, spec).unwrap();
        for i in 0..frames {
            w.write_sample(((i as f64 * 0.05).sin() * 8000.0) as i16)
                .unwrap();
        }
        w.finalize().unwrap();
        out.into_inner()
    }

    #[test]
    fn wav_round_trips_sample_for_sample() {
        let input = wav_16k(16_000);
        let Decoded::Wav { bytes, seconds } = to_wav(&input, Some("wav"), 30.0).unwrap() else {
            panic!("not decoded");
        };
        assert!((seconds - 1.0).abs() < 1e-9);
        // The same header layout and samples as hound's plain 16-bit file.
        assert_eq!(bytes.len(), input.len());
        assert_eq!(&bytes[44..], &input[44..]);
        assert_eq!(crate::audio_file::wav_duration(&bytes).unwrap(), 1.0);
    }

    #[test]
    fn long_clips_are_refused_before_decoding() {
        let input = wav_16k(16_000 * 3);
        match to_wav(&input, None, 2.0).unwrap() {
            Decoded::TooLong { seconds } => assert!((seconds - 3.0).abs() < 1e-9),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_and_truncated_files_are_errors_not_panics() {
        let err = to_wav(b"this is not audio at all", Some("flac"), 30.0).unwrap_err();
        assert!(err.contains("not a readable audio file"), "{err}");
        let input = wav_16k(1000);
        for cut in [0, 10, 43] {
            assert!(
                to_wav(&input[..cut], Some("wav"), 30.0).is_err(),
                "cut {cut}"
            );
        }
    }

    /// Truncations and bit flips of real FLAC speech: decoded, refused or
    /// too long, never a panic.
    #[test]
    fn damaged_flac_never_panics() {
        let snaps = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/asr/hub/datasets--openslr--librispeech_asr/snapshots");
        let snap = std::fs::read_dir(snaps)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let parquet = std::fs::read(snap.join("clean/test/0000.parquet")).unwrap();
        // The first FLAC stream in the file, up to the next one's marker.
        let at = memchr::memmem::find(&parquet, b"fLaC").unwrap();
        let end =
            memchr::memmem::find(&parquet[at + 4..], b"fLaC").map_or(parquet.len(), |e| at + 4 + e);
        let flac = &parquet[at..end];
        assert!(matches!(
            to_wav(flac, Some("flac"), 30.0),
            Ok(Decoded::Wav { .. })
        ));
        let mut rng = 0x9e37_79b9_u64;
        for i in 0..200 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let mut bad = flac[..flac.len() * (i % 20 + 1) / 21].to_vec();
            if !bad.is_empty() {
                let k = rng as usize % bad.len();
                bad[k] ^= (rng >> 32) as u8 | 1;
            }
            let _ = std::panic::catch_unwind(|| to_wav(&bad, Some("flac"), 30.0))
                .unwrap_or_else(|_| panic!("decoder panicked on damaged input {i}"));
        }
    }
}
