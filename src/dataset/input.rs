//! User input files: `--input-file PATH --custom-dataset-type single_turn`,
//! read as AIPerf 0.13's `SingleTurn` JSONL model reads them.
//!
//! Owns: parsing each line (`text`/`texts`, `audio`/`audios` as a string, a list
//! of strings or a list of `{name, contents}` objects, `timestamp`/`delay` in
//! ms, `output_length`), resolving audio values (a local path relative to the
//! working directory, then to the input file's directory; a
//! `data:audio/<fmt>;base64,...` URI; AIPerf's own `<fmt>,<base64>` form),
//! checking that every clip really is WAV or MP3 and measuring its length.
//! Everything is read and checked once, before anything is sent; every error
//! names the file, the line and what is wrong. Unknown keys are ignored, like
//! AIPerf's model (extra = "allow"); keys AIPerf understands but audioperf
//! cannot honour (images, video, role, session_id, extra) are refused.

use anyhow::{anyhow, bail, Result};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One audio clip of a file entry: the file's bytes, sent as is.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadedAudio {
    /// Shared: a file named on many lines is read once.
    pub bytes: Arc<Vec<u8>>,
    /// "wav" or "mp3": the `format` value sent with the clip.
    pub format: &'static str,
    /// Measured length in seconds.
    pub seconds: f64,
}

/// One line of a single_turn file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FileEntry {
    /// 1-based line number in the file.
    pub line: usize,
    pub texts: Vec<String>,
    pub audios: Vec<LoadedAudio>,
    /// `timestamp`: ms from the start of the run (fixed schedule).
    pub timestamp_ms: Option<f64>,
    /// `delay`: ms to wait before sending.
    pub delay_ms: Option<f64>,
    /// `output_length`: overrides `--output-tokens-mean` for this line.
    pub max_tokens: Option<u32>,
}

/// Reads and checks a whole single_turn file. `cwd` is where relative audio
/// paths are looked up first (then next to the input file).
pub fn load_single_turn(path: &Path, cwd: &Path) -> Result<Vec<FileEntry>> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow!("--input-file {shown}: cannot read the file: {e}"))?;
    let file_dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let mut cache: HashMap<PathBuf, LoadedAudio> = HashMap::new();
    let mut entries = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let ctx = |msg: String| anyhow!("--input-file {shown}, line {line}: {msg}");
        let v: Value =
            serde_json::from_str(raw).map_err(|e| ctx(format!("not valid JSON: {e}")))?;
        let Value::Object(obj) = v else {
            return Err(ctx("expected a JSON object".into()));
        };
        let entry = parse_entry(&obj, line, cwd, &file_dir, &mut cache).map_err(ctx)?;
        entries.push(entry);
    }
    if entries.is_empty() {
        bail!("--input-file {shown}: the file has no entries (it is empty or only blank lines)");
    }
    Ok(entries)
}

fn parse_entry(
    obj: &Map<String, Value>,
    line: usize,
    cwd: &Path,
    file_dir: &Path,
    cache: &mut HashMap<PathBuf, LoadedAudio>,
) -> std::result::Result<FileEntry, String> {
    for key in ["image", "images", "image_uuids"] {
        if obj.get(key).is_some_and(|v| !v.is_null()) {
            return Err("images are not supported by audioperf".into());
        }
    }
    for key in ["video", "videos"] {
        if obj.get(key).is_some_and(|v| !v.is_null()) {
            return Err("videos are not supported by audioperf".into());
        }
    }
    for key in ["role", "session_id", "extra", "turns"] {
        if obj.get(key).is_some_and(|v| !v.is_null()) {
            return Err(format!(
                "\"{key}\" is not supported by audioperf (single_turn lines with text and audio only)"
            ));
        }
    }
    let texts = strings(obj, "text", "texts")?;
    let audio_values = strings(obj, "audio", "audios")?;
    if texts.iter().all(String::is_empty) && audio_values.iter().all(String::is_empty) {
        return Err("no text or audio (set \"text\"/\"texts\" or \"audio\"/\"audios\")".into());
    }
    let mut audios = Vec::with_capacity(audio_values.len());
    for value in audio_values.iter().filter(|v| !v.is_empty()) {
        audios.push(resolve_audio(value, cwd, file_dir, cache)?);
    }
    let timestamp_ms = number(obj, "timestamp")?;
    let delay_ms = number(obj, "delay")?;
    // AIPerf: "timestamp and delay cannot be set together" (when both non-zero).
    if timestamp_ms.is_some_and(|t| t != 0.0) && delay_ms.is_some_and(|d| d != 0.0) {
        return Err("\"timestamp\" and \"delay\" cannot be set together".into());
    }
    let max_tokens = match obj.get("output_length") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(n) if n > 0 && n <= u32::MAX as u64 => Some(n as u32),
            _ => {
                return Err(format!(
                    "\"output_length\" must be a positive integer, got {v}"
                ))
            }
        },
    };
    Ok(FileEntry {
        line,
        texts,
        audios,
        timestamp_ms,
        delay_ms,
        max_tokens,
    })
}

/// A non-negative finite number of milliseconds, or absent.
fn number(obj: &Map<String, Value>, key: &str) -> std::result::Result<Option<f64>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_f64() {
            Some(x) if x.is_finite() && x >= 0.0 => Ok(Some(x)),
            _ => Err(format!(
                "\"{key}\" must be a number of milliseconds >= 0, got {v}"
            )),
        },
    }
}

/// The values of a singular/plural pair: a string, a list of strings, or a
/// list of `{"name": ..., "contents": [...]}` objects (flattened in order).
fn strings(
    obj: &Map<String, Value>,
    one: &str,
    many: &str,
) -> std::result::Result<Vec<String>, String> {
    let single = obj.get(one).filter(|v| !v.is_null());
    let plural = obj.get(many).filter(|v| !v.is_null());
    if single.is_some() && plural.is_some() {
        return Err(format!("\"{one}\" and \"{many}\" cannot be set together"));
    }
    if let Some(v) = single {
        return match v {
            Value::String(s) => Ok(vec![s.clone()]),
            _ => Err(format!("\"{one}\" must be a string, got {v}")),
        };
    }
    let Some(v) = plural else {
        return Ok(Vec::new());
    };
    let Value::Array(items) = v else {
        return Err(format!("\"{many}\" must be a list, got {v}"));
    };
    let mut out = Vec::new();
    for item in items {
        match item {
            Value::String(s) => out.push(s.clone()),
            Value::Object(o) => match o.get("contents") {
                Some(Value::Array(c)) if c.iter().all(Value::is_string) => {
                    out.extend(c.iter().filter_map(|s| s.as_str().map(str::to_owned)))
                }
                _ => {
                    return Err(format!(
                        "\"{many}\" objects need \"contents\": a list of strings, got {item}"
                    ))
                }
            },
            _ => {
                return Err(format!(
                    "\"{many}\" must hold strings or {{\"name\", \"contents\"}} objects, got {item}"
                ))
            }
        }
    }
    Ok(out)
}

/// Turns one audio value into checked bytes.
fn resolve_audio(
    value: &str,
    cwd: &Path,
    file_dir: &Path,
    cache: &mut HashMap<PathBuf, LoadedAudio>,
) -> std::result::Result<LoadedAudio, String> {
    let short: String = value.chars().take(48).collect();
    if let Some(rest) = value.strip_prefix("data:audio/") {
        let (header, b64) = rest
            .split_once(',')
            .ok_or_else(|| format!("audio data URI {short:?}... has no ',' before the data"))?;
        let (fmt, enc) = header.split_once(';').unwrap_or((header, ""));
        if enc != "base64" {
            return Err(format!(
                "audio data URI {short:?}... must be base64 (data:audio/<fmt>;base64,...)"
            ));
        }
        return decode_inline(fmt, b64, &format!("audio data URI {short:?}..."));
    }
    if value.contains("://") {
        return Err(format!(
            "audio URL {short:?} is not supported; use a local file, a data:audio URI or \"wav,<base64>\""
        ));
    }
    // AIPerf's internal form: "<fmt>,<base64>" with fmt wav or mp3.
    if let Some((fmt, b64)) = value.split_once(',') {
        let f = fmt.to_ascii_lowercase();
        if f == "wav" || f == "mp3" {
            return decode_inline(&f, b64, &format!("audio \"{f},<base64>\" value"));
        }
    }
    let given = Path::new(value);
    let candidates = if given.is_absolute() {
        vec![given.to_path_buf()]
    } else {
        vec![cwd.join(given), file_dir.join(given)]
    };
    let Some(path) = candidates.iter().find(|p| p.is_file()) else {
        let tried: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
        return Err(format!(
            "audio file {value:?} not found (looked at {})",
            tried.join(", ")
        ));
    };
    if let Some(hit) = cache.get(path) {
        return Ok(hit.clone());
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let format = match ext.as_str() {
        "wav" => "wav",
        "mp3" => "mp3",
        _ => {
            return Err(format!(
                "audio file {}: unsupported format '.{ext}'; audioperf sends .wav and .mp3 files",
                path.display()
            ))
        }
    };
    let bytes = std::fs::read(path)
        .map_err(|e| format!("audio file {}: cannot read: {e}", path.display()))?;
    let seconds =
        probe(&bytes, format).map_err(|e| format!("audio file {}: {e}", path.display()))?;
    let loaded = LoadedAudio {
        bytes: Arc::new(bytes),
        format,
        seconds,
    };
    cache.insert(path.clone(), loaded.clone());
    Ok(loaded)
}

fn decode_inline(fmt: &str, b64: &str, what: &str) -> std::result::Result<LoadedAudio, String> {
    let format = match fmt.to_ascii_lowercase().as_str() {
        "wav" | "x-wav" | "wave" => "wav",
        "mp3" | "mpeg" => "mp3",
        other => {
            return Err(format!(
                "{what}: unsupported audio format {other:?}; use wav or mp3"
            ))
        }
    };
    let bytes = base64_simd::STANDARD
        .decode_to_vec(b64.trim())
        .map_err(|_| format!("{what}: the data is not valid base64"))?;
    let seconds = probe(&bytes, format).map_err(|e| format!("{what}: {e}"))?;
    Ok(LoadedAudio {
        bytes: Arc::new(bytes),
        format,
        seconds,
    })
}

/// Checks that `bytes` are a `format` file and returns its length in seconds.
pub fn probe(bytes: &[u8], format: &str) -> std::result::Result<f64, String> {
    if bytes.is_empty() {
        return Err("the audio is empty (0 bytes)".into());
    }
    match format {
        "wav" => wav_seconds(bytes),
        _ => mp3_seconds(bytes),
    }
}

fn le16(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

fn le32(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// Walks the RIFF chunks for `fmt ` and `data`: length = data / block / rate.
pub fn wav_seconds(b: &[u8]) -> std::result::Result<f64, String> {
    if b.len() < 12 || &b[0..4] != b"RIFF" || &b[8..12] != b"WAVE" {
        return Err("not a WAV file (no RIFF/WAVE header)".into());
    }
    let mut pos = 12;
    let mut fmt: Option<(u16, u32, u16)> = None;
    while pos + 8 <= b.len() {
        let id = &b[pos..pos + 4];
        let size = le32(b, pos + 4) as usize;
        let body = pos + 8;
        if id == b"fmt " {
            if size < 16 || body + 16 > b.len() {
                return Err("WAV 'fmt ' chunk is truncated".into());
            }
            fmt = Some((le16(b, body + 2), le32(b, body + 4), le16(b, body + 12)));
        } else if id == b"data" {
            let (channels, rate, block) =
                fmt.ok_or("WAV 'data' chunk comes before any 'fmt ' chunk")?;
            if channels == 0 || rate == 0 || block == 0 {
                return Err(format!(
                    "WAV 'fmt ' chunk is invalid ({channels} channels, {rate} Hz, block {block})"
                ));
            }
            // Streaming writers leave the size at 0xFFFFFFFF or too large: use what is there.
            let data = size.min(b.len() - body);
            return Ok((data / block as usize) as f64 / rate as f64);
        }
        pos = body + size + (size & 1);
    }
    Err(if fmt.is_some() {
        "WAV file has no 'data' chunk".into()
    } else {
        "WAV file has no 'fmt ' chunk".into()
    })
}

/// Skips an ID3v2 tag, then walks MPEG audio frames: length = samples / rate.
/// A leading Xing/Info frame (silent) is not counted.
pub fn mp3_seconds(b: &[u8]) -> std::result::Result<f64, String> {
    let mut pos = 0;
    if b.len() >= 10 && &b[0..3] == b"ID3" {
        let size = b[6..10]
            .iter()
            .fold(0usize, |acc, &x| (acc << 7) | (x & 0x7f) as usize);
        pos = 10 + size + if b[5] & 0x10 != 0 { 10 } else { 0 };
    }
    let mut samples = 0u64;
    let mut rate = 0u32;
    let mut frames = 0u64;
    while pos + 4 <= b.len() {
        let Some(h) = frame_header(&b[pos..pos + 4]) else {
            if frames == 0 {
                return Err("not an MP3 file (no ID3 tag or MPEG frame sync at the start)".into());
            }
            break; // trailing ID3v1/APE tags or junk
        };
        let is_info = frames == 0 && {
            let end = (pos + h.len).min(b.len());
            b[pos..end].windows(4).any(|w| w == b"Xing" || w == b"Info")
        };
        if !is_info {
            samples += h.samples as u64;
        }
        rate = h.rate;
        frames += 1;
        pos += h.len;
    }
    if frames == 0 || rate == 0 {
        return Err("not an MP3 file (no MPEG audio frames)".into());
    }
    Ok(samples as f64 / rate as f64)
}

struct FrameHeader {
    len: usize,
    samples: u32,
    rate: u32,
}

fn frame_header(h: &[u8]) -> Option<FrameHeader> {
    if h[0] != 0xFF || h[1] & 0xE0 != 0xE0 {
        return None;
    }
    let version = (h[1] >> 3) & 3; // 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5
    let layer = (h[1] >> 1) & 3; // 1 = Layer III
    if version == 1 || layer != 1 {
        return None;
    }
    let br_idx = (h[2] >> 4) as usize;
    let sr_idx = ((h[2] >> 2) & 3) as usize;
    if br_idx == 0 || br_idx == 15 || sr_idx == 3 {
        return None;
    }
    const BR1: [u32; 15] = [
        0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
    ];
    const BR2: [u32; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
    let (kbps, rate, samples) = match version {
        3 => (BR1[br_idx], [44_100, 48_000, 32_000][sr_idx], 1152),
        2 => (BR2[br_idx], [22_050, 24_000, 16_000][sr_idx], 576),
        _ => (BR2[br_idx], [11_025, 12_000, 8_000][sr_idx], 576),
    };
    let pad = ((h[2] >> 1) & 1) as u32;
    let len = (samples / 8 * kbps * 1000 / rate + pad) as usize;
    Some(FrameHeader { len, samples, rate })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::audio::{render_wav, ClipSpec};

    fn wav(frames: u64) -> Vec<u8> {
        render_wav(&ClipSpec {
            sample_rate_hz: 16_000,
            depth_bits: 16,
            channels: 1,
            frames,
            seed: 1,
        })
    }

    /// A temp dir with `sub/in.jsonl` holding `lines`, `sub/a.wav` (0.5 s)
    /// and `cwd/a.wav` (0.25 s, shadows the one next to the file).
    fn setup(lines: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        let cwd = dir.path().join("cwd");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::create_dir_all(&cwd).unwrap();
        std::fs::write(sub.join("a.wav"), wav(8_000)).unwrap();
        std::fs::write(sub.join("b.wav"), wav(16_000)).unwrap();
        std::fs::write(cwd.join("a.wav"), wav(4_000)).unwrap();
        let file = sub.join("in.jsonl");
        std::fs::write(&file, lines).unwrap();
        (dir, file, cwd)
    }

    fn err(lines: &str) -> String {
        let (_d, file, cwd) = setup(lines);
        let e = load_single_turn(&file, &cwd).unwrap_err().to_string();
        let prefix = format!("--input-file {}, line ", file.display());
        assert!(e.starts_with(&prefix), "{e}");
        e[prefix.len()..].to_owned()
    }

    #[test]
    fn every_audio_value_form_and_path_resolution() {
        let b64 = base64_simd::STANDARD.encode_to_string(wav(1_600));
        let lines = format!(
            "{{\"text\": \"a\", \"audio\": \"a.wav\"}}\n\n\
             {{\"texts\": [\"x\", \"y\"], \"audios\": [\"b.wav\", \"data:audio/wav;base64,{b64}\"]}}\n\
             {{\"audios\": [{{\"name\": \"f\", \"contents\": [\"wav,{b64}\"]}}], \"delay\": 250, \"output_length\": 7}}\n\
             {{\"text\": \"t\", \"timestamp\": 1000.5, \"unknown_key\": 1}}\n"
        );
        let (_d, file, cwd) = setup(&lines);
        let e = load_single_turn(&file, &cwd).unwrap();
        assert_eq!(e.len(), 4);
        // a.wav: found in the working directory first (0.25 s, not 0.5 s).
        assert_eq!(e[0].line, 1);
        assert_eq!(e[0].texts, ["a"]);
        assert_eq!(e[0].audios[0].seconds, 0.25);
        assert_eq!(*e[0].audios[0].bytes, wav(4_000));
        // b.wav: only next to the input file (1 s); then a data URI (0.1 s).
        assert_eq!(e[1].line, 3);
        assert_eq!(e[1].texts, ["x", "y"]);
        assert_eq!(e[1].audios.len(), 2);
        assert_eq!(e[1].audios[0].seconds, 1.0);
        assert_eq!(e[1].audios[1].seconds, 0.1);
        assert_eq!(e[1].audios[1].format, "wav");
        assert_eq!(*e[1].audios[1].bytes, wav(1_600));
        // AIPerf's "wav,<b64>" inside {name, contents}; delay and output_length.
        assert_eq!(e[2].audios[0].seconds, 0.1);
        assert_eq!(e[2].delay_ms, Some(250.0));
        assert_eq!(e[2].max_tokens, Some(7));
        assert_eq!(e[3].timestamp_ms, Some(1000.5));
        assert!(e[3].audios.is_empty());
    }

    #[test]
    fn every_error_names_file_line_and_cause() {
        assert!(err("{\"text\": \"ok\"}\n{bad json\n").starts_with("2: not valid JSON"));
        assert_eq!(err("[1]\n"), "1: expected a JSON object");
        assert_eq!(
            err("{\"text\": \"a\", \"images\": [\"x.png\"]}\n"),
            "1: images are not supported by audioperf"
        );
        assert_eq!(
            err("{\"video\": \"v.mp4\"}\n"),
            "1: videos are not supported by audioperf"
        );
        assert!(err("{\"text\": \"a\", \"audio\": \"missing.wav\"}\n")
            .starts_with("1: audio file \"missing.wav\" not found (looked at "));
        let e = err("{\"audio\": \"in.jsonl\"}\n");
        assert!(e.contains("unsupported format '.jsonl'"), "{e}");
        assert!(
            err("{\"audio\": \"wav,AAAA\"}\n").ends_with("not a WAV file (no RIFF/WAVE header)")
        );
        assert!(err("{\"audio\": \"mp3,!!!\"}\n").ends_with("the data is not valid base64"));
        assert!(err("{\"audio\": \"mp3,\"}\n").ends_with("the audio is empty (0 bytes)"));
        assert!(err("{\"audio\": \"data:audio/ogg;base64,AAAA\"}\n")
            .contains("unsupported audio format \"ogg\""));
        assert!(err("{\"audio\": \"http://x/a.wav\"}\n").contains("audio URL"));
        assert_eq!(
            err("{\"text\": \"a\", \"texts\": [\"b\"]}\n"),
            "1: \"text\" and \"texts\" cannot be set together"
        );
        assert_eq!(
            err("{\"text\": \"a\", \"timestamp\": 1, \"delay\": 2}\n"),
            "1: \"timestamp\" and \"delay\" cannot be set together"
        );
        assert!(err("{\"foo\": 1}\n").starts_with("1: no text or audio"));
        assert!(err("{\"text\": \"a\", \"session_id\": \"s\"}\n")
            .contains("\"session_id\" is not supported"));
        // A file that is there but is not audio.
        let (_d, file, cwd) = setup("{\"audio\": \"c.wav\"}\n");
        std::fs::write(file.parent().unwrap().join("c.wav"), b"hello").unwrap();
        let e = load_single_turn(&file, &cwd).unwrap_err().to_string();
        assert!(e.contains("c.wav: not a WAV file"), "{e}");
        // Empty file.
        let (_d, file, cwd) = setup("\n  \n");
        assert_eq!(
            load_single_turn(&file, &cwd).unwrap_err().to_string(),
            format!(
                "--input-file {}: the file has no entries (it is empty or only blank lines)",
                file.display()
            )
        );
    }

    #[test]
    fn mp3_and_wav_lengths_are_measured() {
        // A WAV with an extra chunk before "data" (ffmpeg writes LIST).
        let mut w = wav(800);
        let data = w.split_off(36);
        w.extend_from_slice(b"LIST\x04\x00\x00\x00abcd");
        w.extend_from_slice(&data);
        assert_eq!(wav_seconds(&w).unwrap(), 0.05);
        assert!(mp3_seconds(b"ID3").is_err());
        assert!(mp3_seconds(&[0xFF, 0xFB, 0x90, 0x64]).is_ok());
    }
}
