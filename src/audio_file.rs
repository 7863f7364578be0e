//! WAV and MP3 files as a server's decoder sees them first: a structural check
//! of the container and frame headers, yielding the clip's duration. Samples
//! are never decoded. One definition shared by the client (user audio files are
//! checked before anything is sent) and the mock server (every `input_audio`
//! part is checked on arrival), so the two can never disagree.

/// The audio container formats audioperf sends and the mock accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AudioFormat {
    Wav,
    Mp3,
}

impl AudioFormat {
    /// The `input_audio.format` value: "wav" or "mp3".
    pub fn as_str(self) -> &'static str {
        match self {
            AudioFormat::Wav => "wav",
            AudioFormat::Mp3 => "mp3",
        }
    }

    /// The format named exactly "wav" or "mp3".
    pub fn from_name(name: &str) -> Option<AudioFormat> {
        match name {
            "wav" => Some(AudioFormat::Wav),
            "mp3" => Some(AudioFormat::Mp3),
            _ => None,
        }
    }
}

/// Checks that `bytes` are a well-formed `format` file and returns its
/// duration in seconds, or a precise reason why not.
pub fn duration(bytes: &[u8], format: AudioFormat) -> Result<f64, String> {
    if bytes.is_empty() {
        return Err("the audio is empty (0 bytes)".into());
    }
    match format {
        AudioFormat::Wav => wav_duration(bytes).map_err(|e| format!("not a valid WAV: {e}")),
        AudioFormat::Mp3 => mp3_duration(bytes).map_err(|e| format!("not a valid MP3: {e}")),
    }
}

/// The duration of an uploaded file of unknown format (a transcription's
/// `file` part): WAV (`RIFF`), FLAC (`fLaC`) or MP3, told apart by their
/// first bytes. Returns the format's name and the duration.
pub fn sniff_duration(bytes: &[u8]) -> Result<(&'static str, f64), String> {
    if bytes.is_empty() {
        return Err("the audio is empty (0 bytes)".into());
    }
    if bytes.starts_with(b"RIFF") {
        return wav_duration(bytes)
            .map(|d| ("wav", d))
            .map_err(|e| format!("not a valid WAV: {e}"));
    }
    if bytes.starts_with(b"fLaC") {
        return flac_duration(bytes)
            .map(|d| ("flac", d))
            .map_err(|e| format!("not a valid FLAC: {e}"));
    }
    mp3_duration(bytes)
        .map(|d| ("mp3", d))
        .map_err(|e| format!("not WAV, FLAC or a valid MP3: {e}"))
}

/// A FLAC file's duration from its STREAMINFO block (total samples / rate).
pub fn flac_duration(b: &[u8]) -> Result<f64, String> {
    if !b.starts_with(b"fLaC") {
        return Err("no fLaC marker".into());
    }
    // The first metadata block must be STREAMINFO (type 0, 34 bytes).
    let header = b.get(4..8).ok_or("truncated before STREAMINFO")?;
    let (kind, len) = (
        header[0] & 0x7f,
        u32::from_be_bytes([0, header[1], header[2], header[3]]),
    );
    if kind != 0 || len != 34 {
        return Err(format!(
            "first metadata block is type {kind} of {len} bytes, not STREAMINFO"
        ));
    }
    let info = b.get(8..42).ok_or("truncated STREAMINFO")?;
    let rate =
        (u32::from(info[10]) << 12) | (u32::from(info[11]) << 4) | (u32::from(info[12]) >> 4);
    let total = (u64::from(info[13] & 0x0f) << 32)
        | u64::from(u32::from_be_bytes([info[14], info[15], info[16], info[17]]));
    if rate == 0 {
        return Err("sample rate 0".into());
    }
    if total == 0 {
        return Err("no samples (or an unknown length)".into());
    }
    if b.len() <= 42 {
        return Err("no audio frames after the metadata".into());
    }
    Ok(total as f64 / f64::from(rate))
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

const WAVE_FORMAT_PCM: u16 = 1;
const WAVE_FORMAT_IEEE_FLOAT: u16 = 3;
const WAVE_FORMAT_EXTENSIBLE: u16 = 0xFFFE;

/// Duration in seconds of a RIFF/WAVE file with a PCM or float `fmt ` chunk.
pub fn wav_duration(b: &[u8]) -> Result<f64, String> {
    if b.len() < 12 || &b[0..4] != b"RIFF" || &b[8..12] != b"WAVE" {
        return Err("missing RIFF/WAVE header".into());
    }
    // (channels, rate, block_align)
    let mut fmt: Option<(u16, u32, u16)> = None;
    let mut pos = 12usize;
    while pos + 8 <= b.len() {
        let id = &b[pos..pos + 4];
        let size = u32_at(b, pos + 4) as usize;
        let body = pos + 8;
        let avail = b.len() - body;
        if id == b"fmt " {
            if size < 16 || avail < 16 {
                return Err(format!("fmt chunk too short ({size} bytes)"));
            }
            fmt = Some(parse_fmt(&b[body..body + size.min(avail)])?);
        } else if id == b"data" {
            let (channels, rate, block_align) =
                fmt.ok_or_else(|| "data chunk comes before the fmt chunk".to_string())?;
            // A writer streaming to a pipe cannot seek back to fill in the
            // size and leaves 0xFFFFFFFF: the data runs to the end of the
            // file (decoders such as libsndfile read it so).
            let size = if size == u32::MAX as usize {
                avail - avail % block_align as usize
            } else {
                size
            };
            if size > avail {
                return Err(format!(
                    "data chunk declares {size} bytes but only {avail} remain (truncated?)"
                ));
            }
            if !size.is_multiple_of(block_align as usize) {
                return Err(format!(
                    "data chunk length {size} is not a multiple of the block align {block_align}"
                ));
            }
            debug_assert!(channels >= 1);
            return Ok(size as f64 / block_align as f64 / rate as f64);
        }
        // Chunks are word aligned: an odd size is followed by one pad byte.
        pos = body.saturating_add(size).saturating_add(size & 1);
    }
    Err(if fmt.is_none() {
        "no fmt chunk".into()
    } else {
        "no data chunk".into()
    })
}

fn parse_fmt(f: &[u8]) -> Result<(u16, u32, u16), String> {
    let tag = u16_at(f, 0);
    let channels = u16_at(f, 2);
    let rate = u32_at(f, 4);
    let block_align = u16_at(f, 12);
    let bits = u16_at(f, 14);
    let kind = match tag {
        WAVE_FORMAT_PCM => WAVE_FORMAT_PCM,
        WAVE_FORMAT_IEEE_FLOAT => WAVE_FORMAT_IEEE_FLOAT,
        WAVE_FORMAT_EXTENSIBLE => {
            if f.len() < 40 {
                return Err(format!(
                    "WAVE_FORMAT_EXTENSIBLE fmt chunk too short ({} bytes, need 40)",
                    f.len()
                ));
            }
            // The sub-format GUID starts with the plain format tag.
            match u16_at(f, 24) {
                t @ (WAVE_FORMAT_PCM | WAVE_FORMAT_IEEE_FLOAT) => t,
                t => return Err(format!("unsupported extensible sub-format 0x{t:04x}")),
            }
        }
        t => {
            return Err(format!(
                "unsupported format tag 0x{t:04x} (need PCM 1, float 3 or extensible 0xFFFE)"
            ))
        }
    };
    if !(1..=32).contains(&channels) {
        return Err(format!("implausible channel count {channels}"));
    }
    if !(1000..=768_000).contains(&rate) {
        return Err(format!("implausible sample rate {rate} Hz"));
    }
    let bits_ok = match kind {
        WAVE_FORMAT_PCM => matches!(bits, 8 | 16 | 24 | 32),
        _ => matches!(bits, 32 | 64),
    };
    if !bits_ok {
        return Err(format!(
            "unsupported bits per sample {bits} for format 0x{kind:04x}"
        ));
    }
    let expect = channels as u32 * (bits as u32 / 8);
    if block_align as u32 != expect {
        return Err(format!(
            "block align {block_align} does not match {channels} channels x {bits} bits"
        ));
    }
    Ok((channels, rate, block_align))
}

// Bitrates in kbit/s, by [table][index]; index 0 (free format) and 15 are invalid.
const BITRATES: [[u32; 16]; 5] = [
    // MPEG-1 layer I
    [
        0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448, 0,
    ],
    // MPEG-1 layer II
    [
        0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 0,
    ],
    // MPEG-1 layer III
    [
        0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0,
    ],
    // MPEG-2/2.5 layer I
    [
        0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256, 0,
    ],
    // MPEG-2/2.5 layers II and III
    [
        0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0,
    ],
];

/// One parsed MPEG audio frame header.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mp3Frame {
    pub sample_rate: u32,
    pub samples: u32,
    pub length: usize,
}

/// Parses the 4-byte frame header at the start of `h`.
pub fn mp3_frame(h: &[u8]) -> Result<Mp3Frame, String> {
    if h.len() < 4 {
        return Err("no room for a frame header".into());
    }
    if h[0] != 0xFF || h[1] & 0xE0 != 0xE0 {
        return Err(format!("no frame sync (bytes {:02x} {:02x})", h[0], h[1]));
    }
    let version = (h[1] >> 3) & 3; // 0 = 2.5, 1 = reserved, 2 = MPEG-2, 3 = MPEG-1
    let layer = (h[1] >> 1) & 3; // 1 = III, 2 = II, 3 = I
    if version == 1 {
        return Err("reserved MPEG version".into());
    }
    if layer == 0 {
        return Err("reserved layer".into());
    }
    let br_idx = (h[2] >> 4) as usize;
    let sr_idx = ((h[2] >> 2) & 3) as usize;
    let padding = ((h[2] >> 1) & 1) as usize;
    if br_idx == 0 || br_idx == 15 {
        return Err(format!(
            "invalid bitrate index {br_idx} (free format is not supported)"
        ));
    }
    if sr_idx == 3 {
        return Err("invalid sample-rate index 3".into());
    }
    let mpeg1 = version == 3;
    let table = match (mpeg1, layer) {
        (true, 3) => 0,
        (true, 2) => 1,
        (true, _) => 2,
        (false, 3) => 3,
        (false, _) => 4,
    };
    let bitrate = BITRATES[table][br_idx] * 1000;
    let base_rate = [44_100, 48_000, 32_000][sr_idx];
    let sample_rate = match version {
        3 => base_rate,
        2 => base_rate / 2,
        _ => base_rate / 4,
    };
    let (samples, length) = match layer {
        3 => (384, (12 * bitrate / sample_rate) as usize * 4 + padding * 4),
        2 => (1152, (144 * bitrate / sample_rate) as usize + padding),
        _ if mpeg1 => (1152, (144 * bitrate / sample_rate) as usize + padding),
        _ => (576, (72 * bitrate / sample_rate) as usize + padding),
    };
    Ok(Mp3Frame {
        sample_rate,
        samples,
        length,
    })
}

/// Whether this layer III frame is a Xing/Info or VBRI header frame: the tag
/// sits right after the side information (whose size depends on the MPEG
/// version and channel mode), or at byte 36 for VBRI. Not searched for
/// anywhere else: audio data may contain those bytes by chance.
fn is_vbr_header_frame(frame: &[u8]) -> bool {
    let mpeg1 = (frame[1] >> 3) & 3 == 3;
    let layer3 = (frame[1] >> 1) & 3 == 1;
    let mono = frame[3] >> 6 == 3;
    let side_info = match (mpeg1, mono) {
        (true, false) => 32,
        (true, true) | (false, false) => 17,
        (false, true) => 9,
    };
    let tag_at = |at: usize| frame.get(at..at + 4);
    layer3
        && (matches!(tag_at(4 + side_info), Some(b"Xing" | b"Info")) || tag_at(36) == Some(b"VBRI"))
}

/// Duration in seconds of an MP3 stream: optional ID3v2 tag, then MPEG audio
/// frames walked one after another (stopping at the first non-frame, e.g. ID3v1).
pub fn mp3_duration(b: &[u8]) -> Result<f64, String> {
    let mut pos = 0usize;
    if b.len() >= 10 && &b[0..3] == b"ID3" {
        let s = &b[6..10];
        if s.iter().any(|&x| x & 0x80 != 0) {
            return Err("ID3v2 tag size is not sync-safe".into());
        }
        let size =
            (s[0] as usize) << 21 | (s[1] as usize) << 14 | (s[2] as usize) << 7 | s[3] as usize;
        let footer = if b[5] & 0x10 != 0 { 10 } else { 0 };
        pos = 10 + size + footer;
        if pos >= b.len() {
            return Err(format!("ID3v2 tag of {size} bytes leaves no audio frames"));
        }
    }
    let first = mp3_frame(&b[pos..]).map_err(|e| format!("first frame at byte {pos}: {e}"))?;
    let mut samples: u64 = 0;
    let mut frames = 0u64;
    while pos + 4 <= b.len() {
        let Ok(f) = mp3_frame(&b[pos..]) else { break };
        if f.sample_rate != first.sample_rate || pos + f.length > b.len() {
            break;
        }
        // Encoders (LAME: "Info"/"Xing", Fraunhofer: "VBRI") put a silent
        // header frame first that decoders do not play.
        if frames > 0 || !is_vbr_header_frame(&b[pos..pos + f.length]) {
            samples += f.samples as u64;
        }
        frames += 1;
        pos += f.length;
    }
    if frames == 0 {
        return Err(format!(
            "first frame needs {} bytes but only {} remain (truncated?)",
            first.length,
            b.len() - pos
        ));
    }
    Ok(samples as f64 / first.sample_rate as f64)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A plain PCM (or float) WAV built by hand, `frames` frames of zeros.
    pub(crate) fn wav(tag: u16, channels: u16, rate: u32, bits: u16, frames: u32) -> Vec<u8> {
        let block = channels * bits / 8;
        let data_len = frames * block as u32;
        let mut v = Vec::new();
        v.extend_from_slice(b"RIFF");
        v.extend_from_slice(&(36 + data_len).to_le_bytes());
        v.extend_from_slice(b"WAVEfmt ");
        v.extend_from_slice(&16u32.to_le_bytes());
        v.extend_from_slice(&tag.to_le_bytes());
        v.extend_from_slice(&channels.to_le_bytes());
        v.extend_from_slice(&rate.to_le_bytes());
        v.extend_from_slice(&(rate * block as u32).to_le_bytes());
        v.extend_from_slice(&block.to_le_bytes());
        v.extend_from_slice(&bits.to_le_bytes());
        v.extend_from_slice(b"data");
        v.extend_from_slice(&data_len.to_le_bytes());
        v.resize(v.len() + data_len as usize, 0);
        v
    }

    fn hound_wav(bits: u16, rate: u32, frames: u32) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: hound::SampleFormat::Int,
        };
        let mut cur = std::io::Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut cur, spec).unwrap();
        for i in 0..frames {
            w.write_sample((i % 7) as i32).unwrap();
        }
        w.finalize().unwrap();
        cur.into_inner()
    }

    #[test]
    fn wav_all_depths_hand_built() {
        for bits in [8u16, 16, 24, 32] {
            let d = wav_duration(&wav(1, 1, 16_000, bits, 24_000)).unwrap();
            assert_eq!(d, 1.5, "bits {bits}");
        }
        // Stereo 44.1 kHz float, 0.5 s.
        let d = wav_duration(&wav(3, 2, 44_100, 32, 22_050)).unwrap();
        assert_eq!(d, 0.5);
    }

    #[test]
    fn wav_from_hound_including_extensible() {
        // hound writes WAVE_FORMAT_EXTENSIBLE above 16 bits.
        for bits in [8u16, 16, 24, 32] {
            let bytes = hound_wav(bits, 8_000, 4_000);
            if bits > 16 {
                assert_eq!(u16_at(&bytes, 20), WAVE_FORMAT_EXTENSIBLE);
            }
            let d = duration(&bytes, AudioFormat::Wav).unwrap();
            assert_eq!(d, 0.5, "bits {bits}");
        }
    }

    #[test]
    fn wav_truncated_is_rejected() {
        let mut bytes = wav(1, 1, 16_000, 16, 1_000);
        bytes.truncate(bytes.len() - 10);
        let e = duration(&bytes, AudioFormat::Wav).unwrap_err();
        assert_eq!(
            e,
            "not a valid WAV: data chunk declares 2000 bytes but only 1990 remain (truncated?)"
        );
        let e = wav_duration(&bytes[..30]).unwrap_err();
        assert_eq!(e, "fmt chunk too short (16 bytes)");
        // A streaming writer's placeholder size means "to the end of the file".
        let mut bytes = wav(1, 1, 16_000, 16, 1_000);
        bytes[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(wav_duration(&bytes).unwrap(), 1_000.0 / 16_000.0);
        bytes.push(0); // an odd trailing byte is not a whole frame
        assert_eq!(wav_duration(&bytes).unwrap(), 1_000.0 / 16_000.0);
        assert_eq!(
            duration(b"", AudioFormat::Wav).unwrap_err(),
            "the audio is empty (0 bytes)"
        );
    }

    #[test]
    fn wav_bad_fields_are_rejected() {
        assert_eq!(
            wav_duration(&wav(2, 1, 16_000, 16, 10)).unwrap_err(),
            "unsupported format tag 0x0002 (need PCM 1, float 3 or extensible 0xFFFE)"
        );
        assert_eq!(
            wav_duration(&wav(1, 0, 16_000, 16, 10)).unwrap_err(),
            "implausible channel count 0"
        );
        assert_eq!(
            wav_duration(&wav(1, 1, 16_000, 12, 10)).unwrap_err(),
            "unsupported bits per sample 12 for format 0x0001"
        );
        assert_eq!(
            wav_duration(b"RIFX\0\0\0\0WAVE").unwrap_err(),
            "missing RIFF/WAVE header"
        );
    }

    /// MPEG-1 layer III, 128 kbit/s, 44.1 kHz, no padding: 417-byte frames.
    fn mp3(frames: usize, id3: bool) -> Vec<u8> {
        let mut v = Vec::new();
        if id3 {
            v.extend_from_slice(b"ID3\x03\x00\x00\x00\x00\x00\x05");
            v.extend_from_slice(&[0u8; 5]);
        }
        for _ in 0..frames {
            let start = v.len();
            v.extend_from_slice(&[0xFF, 0xFB, 0x90, 0x64]);
            v.resize(start + 417, 0);
        }
        v
    }

    #[test]
    fn mp3_frames_and_id3() {
        let f = mp3_frame(&[0xFF, 0xFB, 0x90, 0x64]).unwrap();
        assert_eq!(
            f,
            Mp3Frame {
                sample_rate: 44_100,
                samples: 1152,
                length: 417
            }
        );
        let d = mp3_duration(&mp3(100, true)).unwrap();
        assert!((d - 100.0 * 1152.0 / 44_100.0).abs() < 1e-12);
        let d = duration(&mp3(10, false), AudioFormat::Mp3).unwrap();
        assert!((d - 10.0 * 1152.0 / 44_100.0).abs() < 1e-12);
        // MPEG-2 layer III, 64 kbit/s, 22.05 kHz: 72*64000/22050 = 208 bytes, 576 samples.
        let f = mp3_frame(&[0xFF, 0xF3, 0x80, 0x00]).unwrap();
        assert_eq!((f.sample_rate, f.samples, f.length), (22_050, 576, 208));
    }

    /// A LAME "Info" frame (after 32 bytes of side info, MPEG-1 stereo) is
    /// not audio; the same bytes elsewhere in a frame are.
    #[test]
    fn mp3_info_frame_is_not_counted() {
        let one = 1152.0 / 44_100.0;
        let mut v = mp3(10, false);
        v[36..40].copy_from_slice(b"Info");
        assert!((mp3_duration(&v).unwrap() - 9.0 * one).abs() < 1e-12);
        let mut v = mp3(10, false);
        v[100..104].copy_from_slice(b"Info");
        assert!((mp3_duration(&v).unwrap() - 10.0 * one).abs() < 1e-12);
        // A partial last frame is not played either.
        let mut v = mp3(10, false);
        v.truncate(v.len() - 200);
        assert!((mp3_duration(&v).unwrap() - 9.0 * one).abs() < 1e-12);
    }

    #[test]
    fn mp3_bad_headers_are_rejected() {
        assert_eq!(
            mp3_frame(&[0xFF, 0xFB, 0xF0, 0x00]).unwrap_err(),
            "invalid bitrate index 15 (free format is not supported)"
        );
        assert_eq!(
            mp3_frame(&[0xFF, 0xFB, 0x9C, 0x00]).unwrap_err(),
            "invalid sample-rate index 3"
        );
        assert_eq!(
            mp3_frame(&[0xFF, 0xEB, 0x90, 0x00]).unwrap_err(),
            "reserved MPEG version"
        );
        let mut short = mp3(1, false);
        short.truncate(200);
        assert_eq!(
            mp3_duration(&short).unwrap_err(),
            "first frame needs 417 bytes but only 200 remain (truncated?)"
        );
    }
}
