//! The OpenAI chat-completions protocol as the mock speaks it: decoding and
//! validating a request body (including every `input_audio` part), planning the
//! tokens to send, and building the response bodies byte for byte like vLLM
//! (stream chunks, the usage chunk, the non-streaming completion, errors).

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use super::audio::validate_input_audio;

/// Single-token words (each one BPE token with its leading space in common
/// tokenizers such as Qwen's and GPT's), cycled through to form the output.
pub const WORDS: [&str; 32] = [
    " the", " of", " and", " to", " in", " is", " that", " it", " was", " for", " on", " are",
    " as", " with", " his", " they", " at", " be", " this", " have", " from", " or", " one",
    " had", " by", " but", " not", " what", " all", " were", " we", " when",
];

/// The word sent as token `k`.
pub fn word(k: u64) -> &'static str {
    WORDS[(k % WORDS.len() as u64) as usize]
}

/// A request rejected before any response bytes were sent.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    /// OpenAI error type, e.g. `BadRequestError`.
    pub kind: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: 400,
            kind: "BadRequestError",
            message: message.into(),
        }
    }

    /// vLLM's answer for a model it does not serve.
    pub fn not_found_model(model: &str) -> Self {
        ApiError {
            status: 404,
            kind: "NotFoundError",
            message: format!("The model `{model}` does not exist."),
        }
    }

    /// `{"error":{"message":..,"type":..,"param":null,"code":status}}`
    pub fn body(&self) -> Vec<u8> {
        error_body(self.status, self.kind, &self.message)
    }
}

pub fn error_body(status: u16, kind: &str, message: &str) -> Vec<u8> {
    serde_json::json!({"error": {"message": message, "type": kind, "param": null, "code": status}})
        .to_string()
        .into_bytes()
}

/// What the server needs from a valid chat-completions request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    pub stream: bool,
    pub include_usage: bool,
    /// Whitespace-separated words over all text parts: a documented stand-in for a
    /// tokenizer count, good enough for a mock.
    pub prompt_tokens: u64,
    /// `max_completion_tokens`, else `max_tokens`.
    pub max_tokens: Option<u64>,
    pub audio_parts: u64,
    pub audio_seconds: f64,
    /// Which API it came in on: how the answer is shaped.
    pub api: Api,
}

/// The API of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Chat,
    /// `/v1/audio/transcriptions` with its `response_format`.
    Transcription(TranscriptFormat),
}

/// A transcription's `response_format` (what a non-streaming answer is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TranscriptFormat {
    Json,
    VerboseJson,
    Text,
    Srt,
    Vtt,
}

/// How the mock streams a transcription (`--transcription-stream`): the two
/// forms servers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum TranscriptStream {
    /// OpenAI's `transcript.text.delta` events, then `transcript.text.done`
    /// (with the usage), and no `[DONE]`.
    #[default]
    Openai,
    /// vLLM's `transcription.chunk` objects with `choices[0].delta.content`,
    /// a finish chunk, the usage chunk when `stream_include_usage`, `[DONE]`.
    Vllm,
}

#[derive(Deserialize)]
struct RawRequest<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    messages: Option<Vec<RawMessage<'a>>>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    max_completion_tokens: Option<i64>,
    #[serde(default)]
    max_tokens: Option<i64>,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

#[derive(Deserialize)]
struct RawMessage<'a> {
    #[serde(borrow, default)]
    content: Content<'a>,
}

/// `content` is a string or an array of parts; a hand-written visitor keeps the
/// (possibly megabytes of) base64 borrowed, which `#[serde(untagged)]` would copy.
#[derive(Default)]
enum Content<'a> {
    #[default]
    Absent,
    Text(Cow<'a, str>),
    Parts(Vec<Part<'a>>),
}

impl<'de: 'a, 'a> Deserialize<'de> for Content<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Content<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an array of content parts")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Content::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Content::Text(Cow::Owned(v.to_string())))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Content::Absent)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut parts = Vec::new();
                while let Some(p) = seq.next_element::<Part<'a>>()? {
                    parts.push(p);
                }
                Ok(Content::Parts(parts))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
struct Part<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    input_audio: Option<InputAudio<'a>>,
}

#[derive(Deserialize)]
struct InputAudio<'a> {
    #[serde(borrow)]
    data: Cow<'a, str>,
    #[serde(borrow)]
    format: Cow<'a, str>,
}

fn count_words(s: &str) -> u64 {
    s.split_whitespace().count() as u64
}

/// Decodes and validates a chat-completions body. `served_model`: when set, any
/// other model name is answered 404 like vLLM does.
pub fn decode_chat_request(
    body: &[u8],
    served_model: Option<&str>,
) -> Result<ChatRequest, ApiError> {
    let raw: RawRequest = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
    let model = raw
        .model
        .ok_or_else(|| ApiError::bad_request("missing required field \"model\""))?;
    if let Some(served) = served_model {
        if model != served {
            return Err(ApiError::not_found_model(&model));
        }
    }
    let messages = raw
        .messages
        .ok_or_else(|| ApiError::bad_request("missing required field \"messages\""))?;
    if messages.is_empty() {
        return Err(ApiError::bad_request("\"messages\" must not be empty"));
    }
    let mut prompt_tokens = 0;
    let mut audio_parts = 0;
    let mut audio_seconds = 0.0;
    for (m, msg) in messages.iter().enumerate() {
        match &msg.content {
            Content::Absent => {}
            Content::Text(t) => prompt_tokens += count_words(t),
            Content::Parts(parts) => {
                for (p, part) in parts.iter().enumerate() {
                    match part.kind.as_ref() {
                        "text" => prompt_tokens += part.text.as_deref().map_or(0, count_words),
                        "input_audio" => {
                            let a = part.input_audio.as_ref().ok_or_else(|| {
                                ApiError::bad_request(format!(
                                    "messages[{m}].content[{p}]: part of type \"input_audio\" has no \"input_audio\" object"
                                ))
                            })?;
                            let secs = validate_input_audio(&a.data, &a.format).map_err(|e| {
                                ApiError::bad_request(format!("messages[{m}].content[{p}]: {e}"))
                            })?;
                            audio_parts += 1;
                            audio_seconds += secs;
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    let max_tokens = match (raw.max_completion_tokens, raw.max_tokens) {
        (Some(v), _) => Some(("max_completion_tokens", v)),
        (None, Some(v)) => Some(("max_tokens", v)),
        (None, None) => None,
    };
    let max_tokens = match max_tokens {
        Some((name, v)) if v < 1 => {
            return Err(ApiError::bad_request(format!(
                "{name} must be at least 1, got {v}"
            )))
        }
        Some((_, v)) => Some(v as u64),
        None => None,
    };
    let stream = raw.stream.unwrap_or(false);
    Ok(ChatRequest {
        model: model.into_owned(),
        stream,
        include_usage: stream
            && raw
                .stream_options
                .and_then(|o| o.include_usage)
                .unwrap_or(false),
        prompt_tokens,
        max_tokens,
        audio_parts,
        audio_seconds,
        api: Api::Chat,
    })
}

/// How many tokens of each kind to send, and why generation stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenPlan {
    pub reasoning: u64,
    pub content: u64,
    pub finish_reason: &'static str,
}

impl TokenPlan {
    /// The cap, like vLLM's max_tokens, bounds reasoning and content together.
    pub fn new(output_tokens: u64, reasoning_tokens: u64, cap: Option<u64>) -> Self {
        let natural = output_tokens + reasoning_tokens;
        let total = cap.map_or(natural, |c| c.min(natural));
        let reasoning = reasoning_tokens.min(total);
        TokenPlan {
            reasoning,
            content: total - reasoning,
            finish_reason: if total < natural { "length" } else { "stop" },
        }
    }

    pub fn total(&self) -> u64 {
        self.reasoning + self.content
    }
}

/// The shape of a stream's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EventStyle {
    Chat,
    TranscriptOpenai,
    TranscriptVllm,
}

/// Builds the `data: {...}\n\n` events of one streamed response. The fixed
/// prefix is serialised once per request; each event appends only its delta.
/// An event a style does not have is written as nothing.
pub struct EventBuilder {
    /// `{"id":..,"object":"chat.completion.chunk","created":..,"model":..,"choices":[`
    head: Vec<u8>,
    style: EventStyle,
}

const CHOICE_OPEN: &[u8] = b"{\"index\":0,\"delta\":{";
const CHOICE_CLOSE: &[u8] = b"},\"logprobs\":null,\"finish_reason\":null}]}\n\n";

impl EventBuilder {
    pub fn new(id: &str, created: u64, model: &str) -> Self {
        Self::for_api(id, created, model, Api::Chat, TranscriptStream::Openai)
    }

    /// The events of a response to a request of `api`, transcriptions
    /// streamed in the `stream` form.
    pub fn for_api(
        id: &str,
        created: u64,
        model: &str,
        api: Api,
        stream: TranscriptStream,
    ) -> Self {
        let (style, object) = match (api, stream) {
            (Api::Chat, _) => (EventStyle::Chat, "chat.completion.chunk"),
            (Api::Transcription(_), TranscriptStream::Openai) => (EventStyle::TranscriptOpenai, ""),
            (Api::Transcription(_), TranscriptStream::Vllm) => {
                (EventStyle::TranscriptVllm, "transcription.chunk")
            }
        };
        let model_json = serde_json::to_string(model).unwrap_or_else(|_| "\"\"".into());
        let head = format!(
            "data: {{\"id\":\"{id}\",\"object\":\"{object}\",\"created\":{created},\"model\":{model_json},\"choices\":["
        );
        EventBuilder {
            head: head.into_bytes(),
            style,
        }
    }

    /// The first event: role only, empty content (chat only).
    pub fn role(&self, out: &mut Vec<u8>) {
        if self.style != EventStyle::Chat {
            return;
        }
        out.extend_from_slice(&self.head);
        out.extend_from_slice(CHOICE_OPEN);
        out.extend_from_slice(b"\"role\":\"assistant\",\"content\":\"\"");
        out.extend_from_slice(CHOICE_CLOSE);
    }

    /// One token: `delta.reasoning_content` or `delta.content` = `word` (no escaping
    /// needed: the words are plain ASCII letters and spaces).
    pub fn token(&self, out: &mut Vec<u8>, word: &str, reasoning: bool) {
        if self.style == EventStyle::TranscriptOpenai {
            out.extend_from_slice(b"data: {\"type\":\"transcript.text.delta\",\"delta\":\"");
            out.extend_from_slice(word.as_bytes());
            out.extend_from_slice(b"\"}\n\n");
            return;
        }
        out.extend_from_slice(&self.head);
        out.extend_from_slice(CHOICE_OPEN);
        out.extend_from_slice(if reasoning {
            b"\"reasoning_content\":\"".as_slice()
        } else {
            b"\"content\":\"".as_slice()
        });
        out.extend_from_slice(word.as_bytes());
        out.push(b'"');
        out.extend_from_slice(CHOICE_CLOSE);
    }

    /// [`token`](Self::token) carrying the mock's timing of the stream (wall
    /// clock ns): `"mock_timing":{"arrival_ns":…,"handed_ns":…}` first in
    /// the chunk object. Chat chunks only; a transcription event is as
    /// `token` writes it.
    pub fn token_timed(
        &self,
        out: &mut Vec<u8>,
        word: &str,
        reasoning: bool,
        arrival_ns: u64,
        handed_ns: u64,
    ) {
        let start = out.len();
        self.token(out, word, reasoning);
        const OPEN: &[u8] = b"data: {";
        if self.style == EventStyle::Chat && out[start..].starts_with(OPEN) {
            let field = format!(
                "\"mock_timing\":{{\"arrival_ns\":{arrival_ns},\"handed_ns\":{handed_ns}}},"
            );
            let at = start + OPEN.len();
            out.splice(at..at, field.into_bytes());
        }
    }

    /// The finish event: empty content and the finish reason; for OpenAI's
    /// transcription stream, `transcript.text.done` with the whole text and usage.
    pub fn finish(&self, out: &mut Vec<u8>, prompt: u64, plan: &TokenPlan) {
        if self.style == EventStyle::TranscriptOpenai {
            let done = serde_json::json!({
                "type": "transcript.text.done",
                "text": words(plan.reasoning, plan.content),
                "usage": transcription_usage(prompt, plan),
            });
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(done.to_string().as_bytes());
            out.extend_from_slice(b"\n\n");
            return;
        }
        out.extend_from_slice(&self.head);
        out.extend_from_slice(CHOICE_OPEN);
        out.extend_from_slice(b"\"content\":\"\"},\"logprobs\":null,\"finish_reason\":\"");
        out.extend_from_slice(plan.finish_reason.as_bytes());
        out.extend_from_slice(b"\",\"stop_reason\":null}]}\n\n");
    }

    /// The usage-only event (`choices: []`) sent when `include_usage` was
    /// asked (OpenAI's transcription stream has its usage in the done event).
    pub fn usage(&self, out: &mut Vec<u8>, prompt: u64, plan: &TokenPlan) {
        if self.style == EventStyle::TranscriptOpenai {
            return;
        }
        out.extend_from_slice(&self.head);
        out.extend_from_slice(b"],\"usage\":");
        out.extend_from_slice(usage_json(prompt, plan).to_string().as_bytes());
        out.extend_from_slice(b"}\n\n");
    }

    /// The end-of-stream sentinel (none in OpenAI's transcription stream).
    pub fn done(&self) -> &'static [u8] {
        match self.style {
            EventStyle::TranscriptOpenai => b"",
            _ => DONE_EVENT,
        }
    }
}

/// OpenAI's transcription usage (token-billed models).
fn transcription_usage(prompt: u64, plan: &TokenPlan) -> serde_json::Value {
    serde_json::json!({
        "type": "tokens",
        "input_tokens": prompt,
        "output_tokens": plan.total(),
        "total_tokens": prompt + plan.total(),
    })
}

/// The whole (non-streaming) body of an answer to `req` and its content type.
pub fn whole_body(
    req: &ChatRequest,
    id: &str,
    created: u64,
    plan: &TokenPlan,
) -> (&'static str, Vec<u8>) {
    let format = match req.api {
        Api::Chat => {
            let body = completion_body(id, created, &req.model, req.prompt_tokens, plan);
            return (super::http::JSON, body);
        }
        Api::Transcription(f) => f,
    };
    let text = words(plan.reasoning, plan.content);
    let secs = req.audio_seconds;
    let stamp = |s: f64, sep: char| {
        let ms = (s * 1000.0).round() as u64;
        format!(
            "{:02}:{:02}:{:02}{sep}{:03}",
            ms / 3_600_000,
            ms / 60_000 % 60,
            ms / 1000 % 60,
            ms % 1000
        )
    };
    match format {
        TranscriptFormat::Json => (
            super::http::JSON,
            serde_json::json!({"text": text, "usage": transcription_usage(req.prompt_tokens, plan)})
                .to_string()
                .into_bytes(),
        ),
        TranscriptFormat::VerboseJson => (
            super::http::JSON,
            serde_json::json!({
                "task": "transcribe",
                "language": "english",
                "duration": secs,
                "text": text,
                "segments": [{
                    "id": 0, "seek": 0, "start": 0.0, "end": secs, "text": text, "tokens": [],
                    "temperature": 0.0, "avg_logprob": 0.0, "compression_ratio": 1.0,
                    "no_speech_prob": 0.0,
                }],
                "usage": {"type": "duration", "seconds": secs.ceil()},
            })
            .to_string()
            .into_bytes(),
        ),
        TranscriptFormat::Text => (TEXT, text.into_bytes()),
        TranscriptFormat::Srt => (
            TEXT,
            format!("1\n{} --> {}\n{}\n\n", stamp(0.0, ','), stamp(secs, ','), text.trim()).into_bytes(),
        ),
        TranscriptFormat::Vtt => (
            TEXT,
            format!("WEBVTT\n\n{} --> {}\n{}\n\n", stamp(0.0, '.'), stamp(secs, '.'), text.trim())
                .into_bytes(),
        ),
    }
}

const TEXT: &str = "text/plain; charset=utf-8";

pub const DONE_EVENT: &[u8] = b"data: [DONE]\n\n";

fn usage_json(prompt: u64, plan: &TokenPlan) -> serde_json::Value {
    serde_json::json!({
        "prompt_tokens": prompt,
        "total_tokens": prompt + plan.total(),
        "completion_tokens": plan.total(),
        "completion_tokens_details": {"reasoning_tokens": plan.reasoning},
    })
}

fn words(from: u64, n: u64) -> String {
    (from..from + n).map(word).collect()
}

/// The non-streaming `chat.completion` body. Token k of the response is
/// `word(k)` whether streamed or not (reasoning first, then content).
pub fn completion_body(
    id: &str,
    created: u64,
    model: &str,
    prompt: u64,
    plan: &TokenPlan,
) -> Vec<u8> {
    let reasoning = if plan.reasoning > 0 {
        serde_json::Value::String(words(0, plan.reasoning))
    } else {
        serde_json::Value::Null
    };
    serde_json::json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": words(plan.reasoning, plan.content),
                "reasoning_content": reasoning,
                "tool_calls": [],
            },
            "logprobs": null,
            "finish_reason": plan.finish_reason,
            "stop_reason": null,
        }],
        "usage": usage_json(prompt, plan),
    })
    .to_string()
    .into_bytes()
}

/// Now as Unix seconds: the `created` field of the response bodies.
pub fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The `/v1/models` body.
pub fn models_body(model: &str, created: u64) -> Vec<u8> {
    serde_json::json!({
        "object": "list",
        "data": [{"id": model, "object": "model", "created": created, "owned_by": "audioperf", "root": model, "parent": null}],
    })
    .to_string()
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    use crate::mock::audio::tests::wav_b64;

    #[test]
    fn decodes_audio_request() {
        let body = format!(
            r#"{{"model":"m","stream":true,"stream_options":{{"include_usage":true}},"max_completion_tokens":7,
            "messages":[{{"role":"system","content":"be brief"}},{{"role":"user","content":[
            {{"type":"text","text":"What is  said here?"}},
            {{"type":"input_audio","input_audio":{{"data":"{}","format":"wav"}}}},
            {{"type":"input_audio","input_audio":{{"data":"{}","format":"wav"}}}}]}}]}}"#,
            wav_b64(8_000),
            wav_b64(16_000)
        );
        let r = decode_chat_request(body.as_bytes(), None).unwrap();
        assert_eq!(
            r,
            ChatRequest {
                model: "m".into(),
                stream: true,
                include_usage: true,
                prompt_tokens: 6,
                max_tokens: Some(7),
                audio_parts: 2,
                audio_seconds: 1.5,
                api: Api::Chat,
            }
        );
    }

    #[test]
    fn rejects_bad_requests_precisely() {
        let e = decode_chat_request(b"{\"messages\":[]", None).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(
            e.message.starts_with("invalid JSON body: EOF"),
            "{}",
            e.message
        );
        let e = decode_chat_request(br#"{"messages":[{"content":"x"}]}"#, None).unwrap_err();
        assert_eq!(e.message, "missing required field \"model\"");
        let e = decode_chat_request(br#"{"model":"m"}"#, None).unwrap_err();
        assert_eq!(e.message, "missing required field \"messages\"");
        let e = decode_chat_request(
            br#"{"model":"m","messages":[{"content":[{"type":"input_audio","input_audio":{"data":"@@@@","format":"wav"}}]}]}"#,
            None,
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "messages[0].content[0]: input_audio.data is not valid base64 (4 characters)"
        );
        let e = decode_chat_request(
            br#"{"model":"m","max_tokens":0,"messages":[{"content":"x"}]}"#,
            None,
        )
        .unwrap_err();
        assert_eq!(e.message, "max_tokens must be at least 1, got 0");
        let e = decode_chat_request(br#"{"model":"a","messages":[{"content":"x"}]}"#, Some("b"))
            .unwrap_err();
        assert_eq!((e.status, e.kind), (404, "NotFoundError"));
        let body: Value = serde_json::from_slice(&ApiError::bad_request("boom").body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"error":{"message":"boom","type":"BadRequestError","param":null,"code":400}})
        );
    }

    #[test]
    fn token_plan_caps_reasoning_and_content_together() {
        assert_eq!(
            TokenPlan::new(20, 0, None),
            TokenPlan {
                reasoning: 0,
                content: 20,
                finish_reason: "stop"
            }
        );
        assert_eq!(
            TokenPlan::new(20, 5, Some(10)),
            TokenPlan {
                reasoning: 5,
                content: 5,
                finish_reason: "length"
            }
        );
        assert_eq!(
            TokenPlan::new(20, 5, Some(3)),
            TokenPlan {
                reasoning: 3,
                content: 0,
                finish_reason: "length"
            }
        );
        assert_eq!(TokenPlan::new(4, 0, Some(100)).finish_reason, "stop");
    }

    #[test]
    fn events_are_valid_json_of_the_vllm_shape() {
        let b = EventBuilder::new("chatcmpl-1", 1700, "q\"m");
        let mut out = Vec::new();
        b.token(&mut out, " the", false);
        let text = std::str::from_utf8(&out).unwrap();
        let json = text
            .strip_prefix("data: ")
            .unwrap()
            .strip_suffix("\n\n")
            .unwrap();
        let v: Value = serde_json::from_str(json).unwrap();
        assert_eq!(v["model"], "q\"m");
        assert_eq!(v["object"], "chat.completion.chunk");
        assert_eq!(v["choices"][0]["delta"]["content"], " the");
        assert_eq!(v["choices"][0]["finish_reason"], Value::Null);

        let plan = TokenPlan::new(3, 2, None);
        out.clear();
        b.usage(&mut out, 11, &plan);
        let v: Value = serde_json::from_slice(&out[6..out.len() - 2]).unwrap();
        assert_eq!(v["choices"], serde_json::json!([]));
        assert_eq!(
            v["usage"],
            serde_json::json!({"prompt_tokens":11,"total_tokens":16,"completion_tokens":5,
                "completion_tokens_details":{"reasoning_tokens":2}})
        );
        out.clear();
        b.finish(&mut out, 11, &TokenPlan::new(3, 2, Some(4)));
        let v: Value = serde_json::from_slice(&out[6..out.len() - 2]).unwrap();
        assert_eq!(v["choices"][0]["finish_reason"], "length");
        assert_eq!(v["choices"][0]["delta"]["content"], "");

        let v: Value = serde_json::from_slice(&completion_body("x", 1, "m", 2, &plan)).unwrap();
        assert_eq!(v["choices"][0]["message"]["reasoning_content"], " the of");
        assert_eq!(v["choices"][0]["message"]["content"], " and to in");
        assert_eq!(v["usage"]["completion_tokens"], 5);
    }
}
