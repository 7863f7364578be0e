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

use crate::audio_file::{self, AudioFormat};
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
    /// The `format` value sent with the clip.
    pub format: AudioFormat,
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
    let bytes = std::fs::read(path)
        .map_err(|e| anyhow!("--input-file {shown}: cannot read the file: {e}"))?;
    // Editors on Windows start UTF-8 files with a byte-order mark; it is not JSON.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let file_dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let mut cache: HashMap<PathBuf, LoadedAudio> = HashMap::new();
    let mut entries = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        let ctx = |msg: String| anyhow!("--input-file {shown}, line {line}: {msg}");
        let raw = std::str::from_utf8(raw).map_err(|e| ctx(format!("not valid UTF-8 ({e})")))?;
        if raw.trim().is_empty() {
            continue;
        }
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
    let lower_start = value.get(..11).map(str::to_ascii_lowercase);
    if lower_start.as_deref() == Some("data:audio/") {
        let rest = &value[11..];
        let (header, b64) = rest
            .split_once(',')
            .ok_or_else(|| format!("audio data URI {short:?}... has no ',' before the data"))?;
        // data:audio/<fmt>[;param=value...];base64 (RFC 2397; names are case-insensitive).
        let mut params = header.split(';');
        let fmt = params.next().unwrap_or_default();
        if !params.any(|p| p.trim().eq_ignore_ascii_case("base64")) {
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
    let inline_format = value
        .split_once(',')
        .map(|(fmt, b64)| (fmt.to_ascii_lowercase(), b64));
    if let Some((f, b64)) = &inline_format {
        if f == "wav" || f == "mp3" {
            return decode_inline(f, b64, &format!("audio \"{f},<base64>\" value"));
        }
    }
    let given = Path::new(value);
    let candidates = if given.is_absolute() {
        vec![given.to_path_buf()]
    } else {
        vec![cwd.join(given), file_dir.join(given)]
    };
    let Some(path) = candidates.iter().find(|p| p.is_file()) else {
        // Not a file: a short word before a comma was meant as a format.
        if let Some((f, _)) = &inline_format {
            if (1..=8).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(format!(
                    "audio value {short:?}...: unsupported audio format {f:?} in \"<fmt>,<base64>\"; use wav or mp3"
                ));
            }
        }
        if let Some(other) = candidates.iter().find(|p| p.exists()) {
            return Err(format!(
                "audio path {} is not a regular file (a directory, device or pipe)",
                other.display()
            ));
        }
        if value.len() > 200 {
            return Err(format!(
                "audio file {short:?}... ({} bytes long) not found",
                value.len()
            ));
        }
        let tried: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
        return Err(format!(
            "audio file {value:?} not found (looked at {})",
            tried.join(", ")
        ));
    };
    // Keyed by the canonical path: "a.wav", "./a.wav" and an absolute path
    // to the same file are one clip, read (and later encoded) once.
    let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
    if let Some(hit) = cache.get(&key) {
        return Ok(hit.clone());
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let format = match ext.as_str() {
        "wav" => AudioFormat::Wav,
        "mp3" => AudioFormat::Mp3,
        _ => {
            return Err(format!(
                "audio file {}: unsupported format '.{ext}'; audioperf sends .wav and .mp3 files",
                path.display()
            ))
        }
    };
    let bytes = std::fs::read(path)
        .map_err(|e| format!("audio file {}: cannot read: {e}", path.display()))?;
    let seconds = audio_file::duration(&bytes, format)
        .map_err(|e| format!("audio file {}: {e}", path.display()))?;
    let loaded = LoadedAudio {
        bytes: Arc::new(bytes),
        format,
        seconds,
    };
    cache.insert(key, loaded.clone());
    Ok(loaded)
}

fn decode_inline(fmt: &str, b64: &str, what: &str) -> std::result::Result<LoadedAudio, String> {
    let format = match fmt.to_ascii_lowercase().as_str() {
        "wav" | "x-wav" | "wave" => AudioFormat::Wav,
        "mp3" | "mpeg" => AudioFormat::Mp3,
        other => {
            return Err(format!(
                "{what}: unsupported audio format {other:?}; use wav or mp3"
            ))
        }
    };
    let bytes = base64_simd::STANDARD
        .decode_to_vec(b64.trim())
        .map_err(|_| format!("{what}: the data is not valid base64"))?;
    let seconds = audio_file::duration(&bytes, format).map_err(|e| format!("{what}: {e}"))?;
    Ok(LoadedAudio {
        bytes: Arc::new(bytes),
        format,
        seconds,
    })
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
        assert_eq!(e[1].audios[1].format, AudioFormat::Wav);
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
        assert!(err("{\"audio\": \"wav,AAAA\"}\n")
            .ends_with("not a valid WAV: missing RIFF/WAVE header"));
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
        assert!(
            e.contains("c.wav: not a valid WAV: missing RIFF/WAVE header"),
            "{e}"
        );
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
    fn unusual_but_valid_spellings_are_read() {
        let b64 = base64_simd::STANDARD.encode_to_string(wav(1_600));
        // A byte-order mark, CRLF line ends, data URIs in upper case and with
        // parameters before ";base64".
        let lines = format!(
            "\u{feff}{{\"audio\": \"data:audio/WAV;BASE64,{b64}\"}}\r\n{{\"audio\": \"data:audio/wav;codecs=1;base64,{b64}\"}}\r\n"
        );
        let (_d, file, cwd) = setup(&lines);
        let e = load_single_turn(&file, &cwd).unwrap();
        assert_eq!(e.len(), 2);
        assert!(e.iter().all(|x| x.audios[0].seconds == 0.1));
    }

    #[test]
    fn more_errors_name_the_cause() {
        let (_d, file, cwd) = setup("");
        std::fs::write(&file, b"{\"text\": \"a\"}\n{\"text\": \"\xff\"}\n").unwrap();
        let e = load_single_turn(&file, &cwd).unwrap_err().to_string();
        assert!(e.contains("line 2: not valid UTF-8"), "{e}");
        let e = err(&format!(
            "{{\"audio\": \"flac,{}\"}}\n",
            "A".repeat(100_000)
        ));
        assert!(e.contains("unsupported audio format \"flac\""), "{e}");
        assert!(e.len() < 300, "{} bytes of error", e.len());
        let e = err(&format!("{{\"audio\": \"{}.wav\"}}\n", "x/".repeat(50_000)));
        assert!(e.contains("not found") && e.len() < 300, "{e}");
        // A real file whose name has a comma is a file, not a format.
        let (_d, file, cwd) = setup("{\"audio\": \"take1,a.wav\"}\n");
        let dir = file.parent().unwrap();
        std::fs::copy(dir.join("a.wav"), dir.join("take1,a.wav")).unwrap();
        assert_eq!(
            load_single_turn(&file, &cwd).unwrap()[0].audios[0].seconds,
            0.5
        );
        let e = err("{\"audio\": \"/tmp\"}\n");
        assert!(
            e.ends_with("audio path /tmp is not a regular file (a directory, device or pipe)"),
            "{e}"
        );
    }

    #[test]
    fn wav_lengths_are_measured_past_extra_chunks() {
        // A WAV with an extra chunk before "data" (ffmpeg writes LIST).
        let mut w = wav(800);
        let data = w.split_off(36);
        w.extend_from_slice(b"LIST\x04\x00\x00\x00abcd");
        w.extend_from_slice(&data);
        assert_eq!(audio_file::duration(&w, AudioFormat::Wav).unwrap(), 0.05);
    }

    /// What the server would refuse is refused here, before anything is sent:
    /// the client runs the mock server's own check.
    #[test]
    fn audio_a_server_would_refuse_is_an_input_error() {
        let mut truncated = wav(800);
        truncated.truncate(truncated.len() - 100);
        let b64 = base64_simd::STANDARD.encode_to_string(&truncated);
        let e = err(&format!("{{\"audio\": \"wav,{b64}\"}}\n"));
        assert!(
            e.ends_with(
                "not a valid WAV: data chunk declares 1600 bytes but only 1500 remain (truncated?)"
            ),
            "{e}"
        );
        let b64 = base64_simd::STANDARD.encode_to_string(wav(800));
        let e = err(&format!("{{\"audio\": \"mp3,{b64}\"}}\n"));
        assert!(
            e.contains("not a valid MP3: first frame at byte 0: no frame sync"),
            "{e}"
        );
    }
}
