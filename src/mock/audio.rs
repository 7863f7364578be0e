//! Validation of `input_audio` parts: base64 decoding, then the structural
//! check of the WAV or MP3 bytes against the declared format
//! ([`crate::audio_file`], the same check the client runs on user files),
//! yielding the clip's duration.

use crate::audio_file;

/// Decodes `data` (standard base64) and checks it is a well-formed `format` file.
/// Returns the clip duration in seconds, or a precise reason for rejection.
pub fn validate_input_audio(data: &str, format: &str) -> Result<f64, String> {
    let Some(format) = audio_file::AudioFormat::from_name(format) else {
        return Err(format!(
            "input_audio.format must be \"wav\" or \"mp3\", got {format:?}"
        ));
    };
    let bytes = base64_simd::STANDARD
        .decode_to_vec(data.as_bytes())
        .map_err(|_| {
            format!(
                "input_audio.data is not valid base64 ({} characters)",
                data.len()
            )
        })?;
    audio_file::duration(&bytes, format).map_err(|e| format!("input_audio: {e}"))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::audio_file::tests::wav;

    fn b64(b: &[u8]) -> String {
        base64_simd::STANDARD.encode_to_string(b)
    }

    /// `frames` of 16 kHz mono 16-bit silence as a base64 WAV.
    pub(in crate::mock) fn wav_b64(frames: u32) -> String {
        b64(&wav(1, 1, 16_000, 16, frames))
    }

    #[test]
    fn valid_parts_give_their_duration() {
        let d = validate_input_audio(&b64(&wav(1, 1, 16_000, 16, 8_000)), "wav").unwrap();
        assert_eq!(d, 0.5);
    }

    #[test]
    fn truncated_wav_is_rejected() {
        let mut bytes = wav(1, 1, 16_000, 16, 1_000);
        bytes.truncate(bytes.len() - 10);
        let e = validate_input_audio(&b64(&bytes), "wav").unwrap_err();
        assert_eq!(
            e,
            "input_audio: not a valid WAV: data chunk declares 2000 bytes but only 1990 remain (truncated?)"
        );
    }

    #[test]
    fn wrong_format_field_is_rejected() {
        let bytes = wav(1, 1, 16_000, 16, 100);
        let e = validate_input_audio(&b64(&bytes), "mp3").unwrap_err();
        assert_eq!(
            e,
            "input_audio: not a valid MP3: first frame at byte 0: no frame sync (bytes 52 49)"
        );
        let e = validate_input_audio(&b64(&bytes), "flac").unwrap_err();
        assert_eq!(
            e,
            "input_audio.format must be \"wav\" or \"mp3\", got \"flac\""
        );
        let e = validate_input_audio("", "wav").unwrap_err();
        assert_eq!(e, "input_audio: the audio is empty (0 bytes)");
    }

    #[test]
    fn bad_base64_is_rejected() {
        let e = validate_input_audio("UklGR!!!", "wav").unwrap_err();
        assert_eq!(e, "input_audio.data is not valid base64 (8 characters)");
    }
}
