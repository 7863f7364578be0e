//! One transcription request, serialized once: the `multipart/form-data`
//! body of `POST /v1/audio/transcriptions` and its head.
//!
//! Fields in AIPerf 0.13's order (`AudioTranscriptionEndpoint.format_payload`):
//! `file` (the clip, with its filename and content type), `model`, then
//! `stream` when streaming, then `--extra-inputs` merged like Python's
//! `dict.update` (a given key keeps its place; `file` cannot be replaced).
//! Values are written as form text: strings as they are, booleans as
//! `true`/`false`, numbers as JSON writes them, objects as JSON; an array is
//! one field per element under the exact name given (`timestamp_granularities[]`
//! twice for `["word","segment"]`), which is how OpenAI's SDK and vLLM read
//! them; `null` sends nothing.
//!
//! The clip's bytes are one shared segment of the body (see
//! [`super::request::Segments`]); the form is also kept as a small
//! [`FormPayload`] so the exports can show it as AIPerf does (JSON with the
//! file's base64).

use super::request::{write_head, Segments, SharedAudio};
use crate::config::{AudioFormat, ProfileConfig};
use anyhow::{bail, Result};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// The boundary; a suffix is added in the (astronomically unlikely) case
/// that a part contains it.
const BOUNDARY: &str = "audioperf-form-7c1e9a53d2b84f06";

/// One form field's value as it will be written.
#[derive(Clone, Debug, PartialEq)]
pub enum FormValue {
    /// The audio file part.
    File {
        bytes: Arc<[u8]>,
        filename: String,
        content_type: String,
    },
    Text(String),
}

/// The fields of one form in order (an array input is several fields with one name).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FormPayload {
    pub fields: Vec<(String, FormValue)>,
}

impl FormPayload {
    /// The form as AIPerf's `inputs.json` shows a multipart payload: one
    /// JSON object, the file as `{b64_data, filename, content_type}` (or
    /// `b64_data` replaced by a note of its length without `keep_audio`), repeated
    /// names gathered into an array.
    pub fn to_json(&self, keep_audio: bool) -> Value {
        let mut out = Map::new();
        for (name, value) in &self.fields {
            let v = match value {
                FormValue::File {
                    bytes,
                    filename,
                    content_type,
                } => {
                    let data = if keep_audio {
                        Value::String(base64_simd::STANDARD.encode_to_string(&bytes[..]))
                    } else {
                        Value::String(format!(
                            "<{} base64 characters elided; --export-raw-audio keeps them>",
                            base64_simd::STANDARD.encoded_length(bytes.len())
                        ))
                    };
                    json!({"b64_data": data, "filename": filename, "content_type": content_type})
                }
                FormValue::Text(s) => Value::String(s.clone()),
            };
            match out.get_mut(name) {
                Some(Value::Array(items)) => items.push(v),
                _ if is_repeated(self, name) => {
                    out.insert(name.clone(), Value::Array(vec![v]));
                }
                _ => {
                    out.insert(name.clone(), v);
                }
            }
        }
        Value::Object(out)
    }
}

fn is_repeated(form: &FormPayload, name: &str) -> bool {
    form.fields.iter().filter(|(n, _)| n == name).count() > 1
}

/// The MIME type AIPerf sends for each format.
fn content_type(format: AudioFormat) -> &'static str {
    match format {
        AudioFormat::Wav => "audio/wav",
        AudioFormat::Mp3 => "audio/mpeg",
    }
}

/// A JSON input value as form text; None for `null` (not sent).
fn form_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        other => Some(other.to_string()),
    }
}

/// The ordered fields of one request.
pub fn form_fields(cfg: &ProfileConfig, model: &str, audio: &SharedAudio) -> FormPayload {
    let mut fields: Vec<(String, Option<Value>)> = vec![("model".into(), Some(Value::from(model)))];
    if cfg.streaming {
        fields.push(("stream".into(), Some(Value::Bool(true))));
    }
    for (k, v) in &cfg.extra_inputs {
        // AIPerf: the file is the endpoint's; an extra input cannot replace it.
        if k == "file" {
            continue;
        }
        match fields.iter_mut().find(|(name, _)| name == k) {
            Some((_, slot)) => *slot = Some(v.clone()),
            None => fields.push((k.clone(), Some(v.clone()))),
        }
    }
    let mut form = FormPayload {
        fields: vec![(
            "file".into(),
            FormValue::File {
                bytes: audio.bytes.clone(),
                filename: format!("audio.{}", audio.format.as_str()),
                content_type: content_type(audio.format).into(),
            },
        )],
    };
    for (name, value) in fields {
        match value {
            Some(Value::Array(items)) => {
                for item in &items {
                    if let Some(text) = form_text(item) {
                        form.fields.push((name.clone(), FormValue::Text(text)));
                    }
                }
            }
            Some(v) => {
                if let Some(text) = form_text(&v) {
                    form.fields.push((name, FormValue::Text(text)));
                }
            }
            None => {}
        }
    }
    form
}

/// `"` and line breaks cannot appear in a quoted header parameter: the
/// WHATWG form encoding writes them percent-encoded.
fn quoted(name: &str) -> String {
    name.replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Whether the stream (wire) asks for SSE: `stream` is the last word on it,
/// as for chat (an extra input `stream: false` turns it off).
fn streams(form: &FormPayload) -> bool {
    form.fields
        .iter()
        .rev()
        .find(|(n, _)| n == "stream")
        .is_some_and(
            |(_, v)| matches!(v, FormValue::Text(t) if t == "true" || t == "True" || t == "1"),
        )
}

/// The request as segments (head, the form's own bytes, the shared clip,
/// the rest) and the form it encodes. One clip per request: the endpoint
/// takes one file (AIPerf sends the first audio of the turn).
pub fn build_segments(
    cfg: &ProfileConfig,
    model: &str,
    audios: &[SharedAudio],
) -> Result<(Segments, FormPayload)> {
    let Some(audio) = audios.first() else {
        bail!(
            "--endpoint-type audio_transcription needs audio in every request \
             (set --audio-length-mean, or use --input-file or --public-dataset with audio)"
        );
    };
    if audios.len() > 1 {
        bail!(
            "--endpoint-type audio_transcription sends one file per request; \
             this request has {} clips (--audio-batch-size or several audios on one line)",
            audios.len()
        );
    }
    let form = form_fields(cfg, model, audio);
    let boundary = pick_boundary(&form);
    let mut segs: Vec<Arc<[u8]>> = Vec::with_capacity(3);
    let mut cur: Vec<u8> = Vec::with_capacity(512);
    for (name, value) in &form.fields {
        cur.extend_from_slice(b"--");
        cur.extend_from_slice(boundary.as_bytes());
        cur.extend_from_slice(b"\r\nContent-Disposition: form-data; name=\"");
        cur.extend_from_slice(quoted(name).as_bytes());
        cur.push(b'"');
        match value {
            FormValue::File {
                bytes,
                filename,
                content_type,
            } => {
                cur.extend_from_slice(b"; filename=\"");
                cur.extend_from_slice(quoted(filename).as_bytes());
                cur.extend_from_slice(b"\"\r\nContent-Type: ");
                cur.extend_from_slice(content_type.as_bytes());
                cur.extend_from_slice(b"\r\n\r\n");
                segs.push(Arc::from(std::mem::take(&mut cur)));
                segs.push(bytes.clone());
            }
            FormValue::Text(text) => {
                cur.extend_from_slice(b"\r\n\r\n");
                cur.extend_from_slice(text.as_bytes());
            }
        }
        cur.extend_from_slice(b"\r\n");
    }
    cur.extend_from_slice(b"--");
    cur.extend_from_slice(boundary.as_bytes());
    cur.extend_from_slice(b"--\r\n");
    segs.push(Arc::from(cur));
    let body_len = segs.iter().map(|s| s.len()).sum();
    let mut head = Vec::with_capacity(512);
    let content_type = format!("multipart/form-data; boundary={boundary}");
    write_head(&mut head, cfg, &content_type, body_len, streams(&form));
    Ok((
        Segments {
            head,
            body: segs,
            body_len,
        },
        form,
    ))
}

/// [`BOUNDARY`], or it with the first suffix no part contains.
fn pick_boundary(form: &FormPayload) -> String {
    let contains = |b: &str| {
        let needle = b.as_bytes();
        form.fields.iter().any(|(n, v)| {
            let hay: &[u8] = match v {
                FormValue::File { bytes, .. } => bytes,
                FormValue::Text(t) => t.as_bytes(),
            };
            memchr::memmem::find(hay, needle).is_some() || n.contains(b)
        })
    };
    let mut boundary = BOUNDARY.to_string();
    let mut k = 0u32;
    while contains(&boundary) {
        k += 1;
        boundary = format!("{BOUNDARY}-{k}");
    }
    boundary
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EndpointType;

    fn cfg() -> ProfileConfig {
        let mut c = crate::dataset::test_config();
        c.endpoint_type = EndpointType::AudioTranscription;
        c.endpoint_path = "/v1/audio/transcriptions".into();
        c
    }

    fn clip() -> SharedAudio {
        SharedAudio {
            bytes: Arc::from(&b"RIFF....WAVEdata"[..]),
            format: AudioFormat::Wav,
        }
    }

    fn wire(s: &Segments) -> Vec<u8> {
        let mut out = s.head.clone();
        for seg in &s.body {
            out.extend_from_slice(seg);
        }
        out
    }

    #[test]
    fn exact_bytes_with_repeated_array_fields() {
        let mut c = cfg();
        c.extra_inputs = serde_json::from_str(
            r#"{"response_format":"verbose_json","timestamp_granularities[]":["word","segment"],"temperature":0,"file":"x","skip":null}"#,
        )
        .unwrap();
        let (segs, form) = build_segments(&c, "whisper", &[clip()]).unwrap();
        let b = BOUNDARY;
        let body = format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"audio.wav\"\r\nContent-Type: audio/wav\r\n\r\nRIFF....WAVEdata\r\n\
             --{b}\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper\r\n\
             --{b}\r\nContent-Disposition: form-data; name=\"stream\"\r\n\r\ntrue\r\n\
             --{b}\r\nContent-Disposition: form-data; name=\"response_format\"\r\n\r\nverbose_json\r\n\
             --{b}\r\nContent-Disposition: form-data; name=\"timestamp_granularities[]\"\r\n\r\nword\r\n\
             --{b}\r\nContent-Disposition: form-data; name=\"timestamp_granularities[]\"\r\n\r\nsegment\r\n\
             --{b}\r\nContent-Disposition: form-data; name=\"temperature\"\r\n\r\n0\r\n\
             --{b}--\r\n"
        );
        let all = String::from_utf8(wire(&segs)).unwrap();
        let (head, got_body) = all.split_once("\r\n\r\n").unwrap();
        assert_eq!(got_body, body);
        assert!(
            head.starts_with("POST /v1/audio/transcriptions HTTP/1.1\r\n"),
            "{head}"
        );
        assert!(head.contains(&format!(
            "Content-Type: multipart/form-data; boundary={b}\r\n"
        )));
        assert!(
            head.ends_with(&format!("Content-Length: {}", body.len())),
            "{head}"
        );
        assert!(head.contains("Accept: text/event-stream"));
        // The clip is its own shared segment (no copy per request).
        assert!(segs.body.iter().any(|s| &s[..] == b"RIFF....WAVEdata"));
        // The export view gathers the repeated name back into its array.
        let j = form.to_json(false);
        assert_eq!(j["timestamp_granularities[]"], json!(["word", "segment"]));
        assert_eq!(j["file"]["filename"], "audio.wav");
        assert_eq!(
            j["file"]["b64_data"],
            "<24 base64 characters elided; --export-raw-audio keeps them>"
        );
        assert_eq!(
            form.to_json(true)["file"]["b64_data"],
            "UklGRi4uLi5XQVZFZGF0YQ=="
        );
    }

    #[test]
    fn overrides_keep_their_place_and_stream_false_turns_sse_off() {
        let mut c = cfg();
        c.extra_inputs = serde_json::from_str(r#"{"model":"other","stream":false}"#).unwrap();
        let (segs, form) = build_segments(&c, "m", &[clip()]).unwrap();
        let names: Vec<&str> = form.fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["file", "model", "stream"]);
        assert_eq!(form.fields[1].1, FormValue::Text("other".into()));
        let head = String::from_utf8_lossy(&segs.head);
        assert!(head.contains("Accept: application/json"), "{head}");
    }

    #[test]
    fn a_clip_containing_the_boundary_gets_another_one() {
        let bytes = format!("xx--{BOUNDARY}yy");
        let a = SharedAudio {
            bytes: Arc::from(bytes.as_bytes()),
            format: AudioFormat::Mp3,
        };
        let (segs, _) = build_segments(&cfg(), "m", &[a]).unwrap();
        let head = String::from_utf8_lossy(&segs.head);
        assert!(
            head.contains(&format!("boundary={BOUNDARY}-1\r\n")),
            "{head}"
        );
        assert!(String::from_utf8_lossy(&wire(&segs))
            .contains("filename=\"audio.mp3\"\r\nContent-Type: audio/mpeg"));
    }

    #[test]
    fn no_clip_or_several_clips_are_errors() {
        assert!(build_segments(&cfg(), "m", &[]).is_err());
        assert!(build_segments(&cfg(), "m", &[clip(), clip()]).is_err());
    }
}
