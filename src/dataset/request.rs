//! One request, serialized once: the chat completions JSON body exactly as
//! AIPerf 0.13's `ChatEndpoint.format_payload` shapes it, and the HTTP/1.1
//! head in front of it.
//!
//! Owns: field order (`messages`, `model`, `stream`, the max-tokens field,
//! `--extra-inputs` merged like Python's `dict.update`, then `stream_options`
//! when streaming), content parts (texts first, then `input_audio`), and the
//! head (request line, Host, User-Agent, Accept, Content-Type, Content-Length,
//! Authorization, user headers). The body is written by hand, compact like
//! orjson, so the base64 of each clip goes straight into the body buffer
//! (base64-simd), never through an intermediate `String` or `Value`.

use crate::config::{AudioFormat, EndpointType, ProfileConfig};
use anyhow::{bail, Result};
use serde_json::{Map, Value};
use std::io::Write;
use std::sync::Arc;

/// One audio part: the encoded file bytes and the `format` value sent with them.
#[derive(Clone, Copy, Debug)]
pub struct AudioPart<'a> {
    pub bytes: &'a [u8],
    pub format: AudioFormat,
}

/// One audio part already in its body form and shared: every request
/// carrying the same clip points at the same bytes (see [`build_segments`]).
#[derive(Clone, Debug)]
pub struct SharedAudio {
    /// The clip exactly as it appears in the body: its base64 in a chat
    /// body, the file itself in a multipart (transcription) body.
    pub bytes: Arc<[u8]>,
    pub format: AudioFormat,
}

/// A clip's bytes as `endpoint`'s body carries them, once, in a buffer
/// requests can share.
pub fn shared_clip(endpoint: EndpointType, file: &[u8]) -> Arc<[u8]> {
    match endpoint {
        EndpointType::Chat => encode_shared(file),
        EndpointType::AudioTranscription => Arc::from(file),
    }
}

/// The base64 of `bytes`, once, in a buffer requests can share.
pub fn encode_shared(bytes: &[u8]) -> Arc<[u8]> {
    let mut v = Vec::with_capacity(base64_simd::STANDARD.encoded_length(bytes.len()));
    base64_simd::STANDARD.encode_append(bytes, &mut v);
    Arc::from(v)
}

/// Audio parts as the body writer sees them: encoded in place, or shared.
#[derive(Clone, Copy)]
enum Audios<'a> {
    Inline(&'a [AudioPart<'a>]),
    Shared(&'a [SharedAudio]),
}

impl Audios<'_> {
    fn len(&self) -> usize {
        match self {
            Audios::Inline(a) => a.len(),
            Audios::Shared(a) => a.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The body being written: `cur` is the JSON since the last shared part;
/// `segs` what came before, in order (own JSON and shared base64 alternating).
struct BodyOut<'o> {
    cur: &'o mut Vec<u8>,
    segs: Vec<Arc<[u8]>>,
}

impl BodyOut<'_> {
    /// Ends the current own segment and appends a shared one after it.
    fn push_shared(&mut self, shared: &Arc<[u8]>) {
        if !self.cur.is_empty() {
            self.segs.push(Arc::from(self.cur.as_slice()));
            self.cur.clear();
        }
        self.segs.push(shared.clone());
    }
}

/// What goes into one request besides the run-wide options.
#[derive(Clone, Copy, Debug)]
pub struct RequestInputs<'a> {
    /// Model name sent in `model`.
    pub model: &'a str,
    /// Text parts, in order (empty strings are skipped, like AIPerf).
    pub texts: &'a [String],
    pub audios: &'a [AudioPart<'a>],
    /// Sent as `max_completion_tokens` (or `max_tokens`) when set.
    pub max_tokens: Option<u32>,
}

/// A top-level body field: the messages we render ourselves, or a JSON value.
enum Field {
    Messages,
    Value(Value),
}

/// Python truthiness of a JSON value (AIPerf checks `payload.get("stream")`).
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// The ordered top-level fields of the body and whether the merged payload streams.
fn top_level_fields(
    cfg: &ProfileConfig,
    model: &str,
    max_tokens: Option<u32>,
) -> (Vec<(String, Field)>, bool) {
    let mut fields: Vec<(String, Field)> = vec![
        ("messages".to_owned(), Field::Messages),
        ("model".to_owned(), Field::Value(Value::from(model))),
        (
            "stream".to_owned(),
            Field::Value(Value::Bool(cfg.streaming)),
        ),
    ];
    if let Some(n) = max_tokens {
        let name = if cfg.prompt.use_legacy_max_tokens {
            "max_tokens"
        } else {
            "max_completion_tokens"
        };
        fields.push((name.to_owned(), Field::Value(Value::from(n))));
    }
    // dict.update: an existing key keeps its position and takes the new value.
    for (k, v) in &cfg.extra_inputs {
        match fields.iter_mut().find(|(name, _)| name == k) {
            Some(slot) => slot.1 = Field::Value(v.clone()),
            None => fields.push((k.clone(), Field::Value(v.clone()))),
        }
    }
    // AIPerf reads the merged payload: an extra input can turn streaming on or off.
    let stream = fields.iter().any(|(k, f)| match f {
        Field::Value(v) if k == "stream" => truthy(v),
        _ => false,
    });
    if stream {
        match fields.iter_mut().find(|(k, _)| k == "stream_options") {
            None => {
                let mut o = Map::new();
                o.insert("include_usage".to_owned(), Value::Bool(true));
                fields.push(("stream_options".to_owned(), Field::Value(Value::Object(o))));
            }
            Some((_, Field::Value(Value::Object(o)))) => {
                o.entry("include_usage").or_insert(Value::Bool(true));
            }
            // Not an object: AIPerf leaves what the user wrote alone.
            Some(_) => {}
        }
    }
    (fields, stream)
}

/// Writes the JSON body into `out`. Returns whether the payload streams.
pub fn write_body(
    out: &mut Vec<u8>,
    cfg: &ProfileConfig,
    inputs: &RequestInputs<'_>,
) -> Result<bool> {
    let mut body = BodyOut {
        cur: out,
        segs: Vec::new(),
    };
    write_body_parts(
        &mut body,
        cfg,
        inputs.model,
        inputs.max_tokens,
        inputs.texts,
        Audios::Inline(inputs.audios),
    )
}

/// The body writer behind [`write_body`] and [`build_segments`].
fn write_body_parts(
    out: &mut BodyOut<'_>,
    cfg: &ProfileConfig,
    model: &str,
    max_tokens: Option<u32>,
    texts: &[String],
    audios: Audios<'_>,
) -> Result<bool> {
    let (fields, stream) = top_level_fields(cfg, model, max_tokens);
    out.cur.push(b'{');
    for (i, (key, field)) in fields.iter().enumerate() {
        if i > 0 {
            out.cur.push(b',');
        }
        serde_json::to_writer(&mut *out.cur, key)?;
        out.cur.push(b':');
        match field {
            Field::Messages => write_messages(out, texts, audios)?,
            Field::Value(v) => serde_json::to_writer(&mut *out.cur, v)?,
        }
    }
    out.cur.push(b'}');
    Ok(stream)
}

/// `[{"role":"user","content":...}]`. A lone text part is sent as a plain
/// string (AIPerf's compatibility rule); anything else as a list of parts,
/// texts first, then audio; no parts at all as "".
fn write_messages(out: &mut BodyOut<'_>, all_texts: &[String], audios: Audios<'_>) -> Result<()> {
    out.cur.extend_from_slice(br#"[{"role":"user","content":"#);
    let texts: Vec<&String> = all_texts.iter().filter(|t| !t.is_empty()).collect();
    if all_texts.len() == 1 && audios.is_empty() {
        serde_json::to_writer(&mut *out.cur, &all_texts[0])?;
    } else if texts.is_empty() && audios.is_empty() {
        out.cur.extend_from_slice(b"\"\"");
    } else {
        out.cur.push(b'[');
        let mut first = true;
        let mut sep = |out: &mut Vec<u8>| {
            if !first {
                out.push(b',');
            }
            first = false;
        };
        for t in texts {
            sep(out.cur);
            out.cur.extend_from_slice(br#"{"type":"text","text":"#);
            serde_json::to_writer(&mut *out.cur, t)?;
            out.cur.push(b'}');
        }
        for i in 0..audios.len() {
            sep(out.cur);
            out.cur
                .extend_from_slice(br#"{"type":"input_audio","input_audio":{"data":""#);
            let format = match audios {
                Audios::Inline(parts) => {
                    let a = &parts[i];
                    // The hot part of the body: encoded in place, no intermediate copy.
                    out.cur
                        .reserve(base64_simd::STANDARD.encoded_length(a.bytes.len()));
                    base64_simd::STANDARD.encode_append(a.bytes, out.cur);
                    a.format
                }
                Audios::Shared(parts) => {
                    // The clip's base64 is its own segment, shared by every
                    // request that carries the clip.
                    let a = &parts[i];
                    out.push_shared(&a.bytes);
                    a.format
                }
            };
            out.cur.extend_from_slice(br#"","format":"#);
            serde_json::to_writer(&mut *out.cur, format.as_str())?;
            out.cur.extend_from_slice(b"}}");
        }
        out.cur.push(b']');
    }
    out.cur.extend_from_slice(b"}]");
    Ok(())
}

fn is_token(s: &str) -> bool {
    // RFC 9110 tchar.
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn has_ctl(s: &str) -> bool {
    s.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f)
}

/// Checks the parts of the head that come from the user, once per run.
pub fn validate_head(cfg: &ProfileConfig) -> Result<()> {
    for (name, value) in &cfg.headers {
        if !is_token(name) {
            bail!("--header: invalid header name {name:?}");
        }
        if has_ctl(value) {
            bail!("--header {name}: the value contains control characters (CR/LF are not allowed)");
        }
        let lower = name.to_ascii_lowercase();
        if lower == "content-length" || lower == "transfer-encoding" {
            bail!("--header {name}: audioperf sets the body framing itself; remove this header");
        }
    }
    if let Some(key) = &cfg.api_key {
        if has_ctl(key) {
            bail!("--api-key contains control characters");
        }
    }
    let path = cfg.request_path();
    if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        bail!("--url/--endpoint: the request path {path:?} contains spaces or control characters");
    }
    if has_ctl(&cfg.target.host_header) || cfg.target.host_header.contains(' ') {
        bail!("--url: invalid host {:?}", cfg.target.host_header);
    }
    Ok(())
}

/// The content type of a chat body.
pub const JSON: &str = "application/json";

/// Writes the HTTP/1.1 request head for a body of `body_len` bytes.
/// `validate_head` must have accepted `cfg`. A `--header` named Host,
/// User-Agent, Accept, Content-Type or Authorization replaces ours (it is
/// written in its own place among the user headers).
pub fn write_head(
    out: &mut Vec<u8>,
    cfg: &ProfileConfig,
    content_type: &str,
    body_len: usize,
    stream: bool,
) {
    let user_sets = |name: &str| {
        cfg.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    // Writing into a Vec cannot fail.
    let _ = write!(out, "POST {} HTTP/1.1\r\n", cfg.request_path());
    if !user_sets("host") {
        let _ = write!(out, "Host: {}\r\n", cfg.target.host_header);
    }
    if !user_sets("user-agent") {
        let _ = write!(
            out,
            "User-Agent: audioperf/{}\r\n",
            env!("CARGO_PKG_VERSION")
        );
    }
    if !user_sets("accept") {
        let accept = if stream {
            "text/event-stream"
        } else {
            "application/json"
        };
        let _ = write!(out, "Accept: {accept}\r\n");
    }
    if !user_sets("content-type") {
        let _ = write!(out, "Content-Type: {content_type}\r\n");
    }
    let _ = write!(out, "Content-Length: {body_len}\r\n");
    if let Some(key) = &cfg.api_key {
        if !user_sets("authorization") {
            let _ = write!(out, "Authorization: Bearer {key}\r\n");
        }
    }
    for (name, value) in &cfg.headers {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// One request as segments: the head, then the body in pieces (its own JSON
/// and the shared base64 of each clip, in order). Concatenated, the pieces
/// are exactly what [`build_http`] returns for the same clips.
#[derive(Clone, Debug, Default)]
pub struct Segments {
    pub head: Vec<u8>,
    pub body: Vec<Arc<[u8]>>,
    pub body_len: usize,
}

/// [`build_http`] with each clip's base64 shared rather than copied.
pub fn build_segments(
    cfg: &ProfileConfig,
    model: &str,
    texts: &[String],
    audios: &[SharedAudio],
    max_tokens: Option<u32>,
) -> Result<Segments> {
    let text_len: usize = texts.iter().map(|t| t.len() + 32).sum();
    let mut cur = Vec::with_capacity(text_len + 256);
    let mut out = BodyOut {
        cur: &mut cur,
        segs: Vec::with_capacity(2 * audios.len() + 1),
    };
    let stream = write_body_parts(
        &mut out,
        cfg,
        model,
        max_tokens,
        texts,
        Audios::Shared(audios),
    )?;
    let mut segs = out.segs;
    if !cur.is_empty() {
        segs.push(Arc::from(cur));
    }
    let body_len = segs.iter().map(|s| s.len()).sum();
    let mut head = Vec::with_capacity(512);
    write_head(&mut head, cfg, JSON, body_len, stream);
    Ok(Segments {
        head,
        body: segs,
        body_len,
    })
}

/// The complete request (head + body) and the body's offset in it.
pub fn build_http(cfg: &ProfileConfig, inputs: &RequestInputs<'_>) -> Result<(Vec<u8>, usize)> {
    let audio_b64: usize = inputs
        .audios
        .iter()
        .map(|a| base64_simd::STANDARD.encoded_length(a.bytes.len()))
        .sum();
    let text_len: usize = inputs.texts.iter().map(|t| t.len() + 32).sum();
    let mut body = Vec::with_capacity(audio_b64 + text_len + 256 + 96 * inputs.audios.len());
    let stream = write_body(&mut body, cfg, inputs)?;
    let mut http = Vec::with_capacity(body.len() + 512);
    write_head(&mut http, cfg, JSON, body.len(), stream);
    let body_offset = http.len();
    http.extend_from_slice(&body);
    Ok((http, body_offset))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::test_config;

    fn texts(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    fn body(cfg: &ProfileConfig, inputs: &RequestInputs<'_>) -> String {
        let mut out = Vec::new();
        write_body(&mut out, cfg, inputs).unwrap();
        String::from_utf8(out).unwrap()
    }

    const AUDIO: [AudioPart<'static>; 1] = [AudioPart {
        bytes: &[1, 2, 3, 250],
        format: AudioFormat::Wav,
    }];

    #[test]
    fn streaming_body_exact_bytes() {
        let cfg = test_config();
        let t = texts(&["Say \"hi\"\n"]);
        let inputs = RequestInputs {
            model: "m",
            texts: &t,
            audios: &AUDIO,
            max_tokens: Some(64),
        };
        assert_eq!(
            body(&cfg, &inputs),
            r#"{"messages":[{"role":"user","content":[{"type":"text","text":"Say \"hi\"\n"},{"type":"input_audio","input_audio":{"data":"AQID+g==","format":"wav"}}]}],"model":"m","stream":true,"max_completion_tokens":64,"stream_options":{"include_usage":true}}"#
        );
    }

    #[test]
    fn non_streaming_legacy_max_tokens_and_audio_only() {
        let mut cfg = test_config();
        cfg.streaming = false;
        cfg.prompt.use_legacy_max_tokens = true;
        let audios = [AUDIO[0], AUDIO[0]];
        let inputs = RequestInputs {
            model: "m",
            texts: &[],
            audios: &audios,
            max_tokens: Some(5),
        };
        let part = r#"{"type":"input_audio","input_audio":{"data":"AQID+g==","format":"wav"}}"#;
        assert_eq!(
            body(&cfg, &inputs),
            format!(
                r#"{{"messages":[{{"role":"user","content":[{part},{part}]}}],"model":"m","stream":false,"max_tokens":5}}"#
            )
        );
    }

    #[test]
    fn text_only_is_a_plain_string_and_many_texts_are_parts() {
        let cfg = test_config();
        let one = texts(&["hello"]);
        let inputs = RequestInputs {
            model: "m",
            texts: &one,
            audios: &[],
            max_tokens: None,
        };
        assert!(body(&cfg, &inputs).starts_with(r#"{"messages":[{"role":"user","content":"hello"}],"model":"m","stream":true,"stream_options""#));
        let two = texts(&["a", "", "b"]);
        let inputs = RequestInputs {
            texts: &two,
            ..inputs
        };
        assert!(body(&cfg, &inputs).starts_with(
            r#"{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]"#
        ));
    }

    #[test]
    fn extra_inputs_merge_like_dict_update() {
        let mut cfg = test_config();
        cfg.extra_inputs
            .insert("temperature".into(), serde_json::json!(0.5));
        cfg.extra_inputs
            .insert("model".into(), serde_json::json!("other"));
        let t = texts(&["x"]);
        let inputs = RequestInputs {
            model: "m",
            texts: &t,
            audios: &[],
            max_tokens: None,
        };
        // "model" keeps its place with the new value; new keys follow; stream_options last.
        assert_eq!(
            body(&cfg, &inputs),
            r#"{"messages":[{"role":"user","content":"x"}],"model":"other","stream":true,"temperature":0.5,"stream_options":{"include_usage":true}}"#
        );
        // An extra input turning streaming off removes stream_options.
        cfg.extra_inputs
            .insert("stream".into(), serde_json::json!(false));
        let b = body(&cfg, &inputs);
        assert!(
            b.contains(r#""stream":false"#) && !b.contains("stream_options"),
            "{b}"
        );
        let mut out = Vec::new();
        assert!(!write_body(&mut out, &cfg, &inputs).unwrap());
        // A user stream_options object keeps its keys and gains include_usage.
        cfg.extra_inputs.remove("stream");
        cfg.extra_inputs.insert(
            "stream_options".into(),
            serde_json::json!({"continuous_usage_stats": true}),
        );
        let v: Value = serde_json::from_str(&body(&cfg, &inputs)).unwrap();
        assert_eq!(
            v["stream_options"],
            serde_json::json!({"continuous_usage_stats": true, "include_usage": true})
        );
    }

    #[test]
    fn http_head_exact_bytes() {
        let mut cfg = test_config();
        cfg.api_key = Some("sk-1".into());
        cfg.headers = vec![
            ("X-Trace".into(), "a b".into()),
            ("accept".into(), "*/*".into()),
        ];
        cfg.target.base_path = "/api".into();
        let t = texts(&["hi"]);
        let inputs = RequestInputs {
            model: "m",
            texts: &t,
            audios: &AUDIO,
            max_tokens: None,
        };
        let (http, off) = build_http(&cfg, &inputs).unwrap();
        let head = std::str::from_utf8(&http[..off]).unwrap();
        let body_len = http.len() - off;
        assert_eq!(
            head,
            format!(
                "POST /api/v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: audioperf/{}\r\n\
                 Content-Type: application/json\r\nContent-Length: {body_len}\r\nAuthorization: Bearer sk-1\r\n\
                 X-Trace: a b\r\naccept: */*\r\n\r\n",
                env!("CARGO_PKG_VERSION")
            )
        );
        assert_eq!(&http[off..], body(&cfg, &inputs).as_bytes());
        // Non-streaming asks for JSON.
        cfg.streaming = false;
        cfg.headers.clear();
        let (http, off) = build_http(&cfg, &inputs).unwrap();
        let head = std::str::from_utf8(&http[..off]).unwrap();
        assert!(head.contains("\r\nAccept: application/json\r\n"), "{head}");
        assert!(head.contains(&format!("\r\nContent-Length: {}\r\n", http.len() - off)));
    }

    #[test]
    fn head_validation_names_the_flag() {
        let mut cfg = test_config();
        cfg.headers = vec![("X-A".into(), "v\r\nEvil: 1".into())];
        assert!(validate_head(&cfg)
            .unwrap_err()
            .to_string()
            .contains("--header"));
        cfg.headers = vec![("Bad Name".into(), "v".into())];
        assert!(validate_head(&cfg)
            .unwrap_err()
            .to_string()
            .contains("--header"));
        cfg.headers = vec![("Content-Length".into(), "5".into())];
        assert!(validate_head(&cfg)
            .unwrap_err()
            .to_string()
            .contains("--header"));
        cfg.headers.clear();
        cfg.api_key = Some("k\n".into());
        assert!(validate_head(&cfg)
            .unwrap_err()
            .to_string()
            .contains("--api-key"));
        cfg.api_key = None;
        cfg.endpoint_path = "v1/chat completions".into();
        assert!(validate_head(&cfg)
            .unwrap_err()
            .to_string()
            .contains("--endpoint"));
        cfg.endpoint_path = "v1/chat/completions".into();
        assert_eq!(cfg.request_path(), "/v1/chat/completions");
        assert!(validate_head(&cfg).is_ok());
    }
}
