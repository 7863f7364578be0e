//! Reading one event's data ([`classify`]) or one whole non-streaming body
//! ([`parse_completion`]) with serde_json into borrowed structs: strings
//! without escapes are slices of the input, and only `choices[0]` is looked at
//! (the other choices are skipped without being built). Common token chunks
//! are read by a one-pass scanner instead ([`super::chunk_scan`]), which
//! answers only when serde_json would answer the same.

use super::chunk_scan::classify_common;
use super::types::{Completion, Delta, StreamChunk};
use crate::record::Usage;
use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

/// Reads one event's data. Allocates only for strings with JSON escapes and
/// for the error and invalid cases. Common token chunks take a one-pass
/// scanner ([`super::chunk_scan`]); everything else, serde_json.
pub fn classify(data: &[u8]) -> StreamChunk<'_> {
    if data.trim_ascii() == b"[DONE]" {
        return StreamChunk::Done;
    }
    if let Some(chunk) = classify_common(data) {
        return chunk;
    }
    classify_with_serde(data)
}

/// [`classify`] through serde_json only: the reference reading the fast
/// path is tested against.
pub fn classify_with_serde(data: &[u8]) -> StreamChunk<'_> {
    if data.trim_ascii() == b"[DONE]" {
        return StreamChunk::Done;
    }
    let raw: RawBody<'_> = match serde_json::from_slice(data) {
        Ok(raw) => raw,
        Err(e) => {
            return StreamChunk::Invalid(format!("invalid JSON in stream ({e}): {}", preview(data)))
        }
    };
    if let Some(msg) = raw.error_message() {
        return StreamChunk::Error(msg);
    }
    // OpenAI's transcription stream: `{"type":"transcript.text.delta","delta":...}`
    // events, then one `transcript.text.done`.
    match raw.kind.as_ref().map(|k| &*k.0) {
        Some("transcript.text.delta") => {
            return StreamChunk::Delta(Delta {
                content: raw.delta.map(|d| d.0),
                ..Delta::default()
            })
        }
        Some("transcript.text.done") => {
            return StreamChunk::TranscriptDone(raw.usage.map(RawUsage::into_usage))
        }
        _ => {}
    }
    if raw.choices.is_none() && raw.usage.is_none() {
        return StreamChunk::Invalid(format!("not a chat completion chunk: {}", preview(data)));
    }
    let choice = raw.choices.and_then(|c| c.0);
    let (delta, finish_reason) = match choice {
        Some(c) => (c.delta, c.finish_reason),
        None => (None, None),
    };
    let (content, reasoning) = match delta {
        Some(d) => d.split(),
        None => (None, None),
    };
    StreamChunk::Delta(Delta {
        content,
        reasoning,
        usage: raw.usage.map(RawUsage::into_usage),
        finish_reason: finish_reason.map(|s| s.0),
    })
}

/// Reads a whole non-streaming response body. `Err` carries a message for
/// the record: the server's own error message, or why the body is not a completion.
pub fn parse_completion(body: &[u8]) -> Result<Completion, String> {
    let raw: RawBody<'_> = serde_json::from_slice(body)
        .map_err(|e| format!("invalid JSON in response ({e}): {}", preview(body)))?;
    if let Some(msg) = raw.error_message() {
        return Err(msg);
    }
    let usage = raw.usage.map(RawUsage::into_usage);
    let message = raw
        .choices
        .and_then(|c| c.0)
        .and_then(|c| c.message)
        .ok_or_else(|| {
            format!(
                "not a chat completion (no choices[0].message): {}",
                preview(body)
            )
        })?;
    let (content, reasoning) = message.split();
    Ok(Completion {
        content: content.map(Cow::into_owned).unwrap_or_default(),
        reasoning: reasoning.map(Cow::into_owned).unwrap_or_default(),
        usage,
    })
}

/// Reads a whole non-streaming transcription body, in each of the forms
/// servers answer: `json` and `verbose_json` (`{"text": ..., "usage": ...}`,
/// the transcript in `text`), a chat-shaped completion (some servers), or
/// `text`/`srt`/`vtt`, where the body itself is the transcript (AIPerf's
/// `AudioTranscriptionEndpoint.parse_response`). An empty transcript is an error.
pub fn parse_transcription(body: &[u8]) -> Result<Completion, String> {
    let trimmed = body.trim_ascii();
    if trimmed.first() == Some(&b'{') {
        let raw: RawBody<'_> = serde_json::from_slice(body)
            .map_err(|e| format!("invalid JSON in response ({e}): {}", preview(body)))?;
        if let Some(msg) = raw.error_message() {
            return Err(msg);
        }
        let usage = raw.usage.map(RawUsage::into_usage);
        if let Some(text) = raw.text {
            if text.0.is_empty() {
                return Err(format!("empty transcript: {}", preview(body)));
            }
            return Ok(Completion {
                content: text.0.into_owned(),
                reasoning: String::new(),
                usage,
            });
        }
        if let Some(message) = raw.choices.and_then(|c| c.0).and_then(|c| c.message) {
            let (content, reasoning) = message.split();
            return Ok(Completion {
                content: content.map(Cow::into_owned).unwrap_or_default(),
                reasoning: reasoning.map(Cow::into_owned).unwrap_or_default(),
                usage,
            });
        }
        return Err(format!(
            "not a transcription (no \"text\" field): {}",
            preview(body)
        ));
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| format!("transcript is not UTF-8 text: {}", preview(body)))?;
    if text.trim().is_empty() {
        return Err("empty transcript".into());
    }
    Ok(Completion {
        content: text.to_string(),
        reasoning: String::new(),
        usage: None,
    })
}

/// At most 200 bytes of a payload, for error messages.
fn preview(data: &[u8]) -> String {
    const MAX: usize = 200;
    if data.len() <= MAX {
        String::from_utf8_lossy(data).into_owned()
    } else {
        format!("{}...", String::from_utf8_lossy(&data[..MAX]))
    }
}

/// A string that borrows from the input unless it holds escapes.
#[derive(Deserialize)]
struct Str<'a>(#[serde(borrow)] Cow<'a, str>);

/// A chunk, a completion or an error body: every field any of them uses.
#[derive(Deserialize)]
struct RawBody<'a> {
    #[serde(borrow, default)]
    choices: Option<FirstChoice<'a>>,
    #[serde(default)]
    usage: Option<RawUsage>,
    /// `{"error": {...}}` (OpenAI, newer vLLM). Only error bodies have it,
    /// so building a `Value` costs nothing on the token path.
    #[serde(default)]
    error: Option<serde_json::Value>,
    /// `{"object": "error", "message": ...}` (older vLLM `ErrorResponse`).
    #[serde(borrow, default)]
    object: Option<Str<'a>>,
    #[serde(borrow, default)]
    message: Option<Str<'a>>,
    #[serde(borrow, default, rename = "type")]
    kind: Option<Str<'a>>,
    /// `transcript.text.delta`'s text.
    #[serde(borrow, default)]
    delta: Option<Str<'a>>,
    /// A transcription's transcript (non-streaming, `transcript.text.done`).
    #[serde(borrow, default)]
    text: Option<Str<'a>>,
}

impl RawBody<'_> {
    fn error_message(&self) -> Option<String> {
        match &self.error {
            Some(serde_json::Value::Null) | None => {}
            Some(serde_json::Value::Object(obj)) => {
                let text = |k: &str| obj.get(k).and_then(|v| v.as_str());
                let msg = match text("message") {
                    Some(m) => m.to_owned(),
                    None => serde_json::Value::Object(obj.clone()).to_string(),
                };
                return Some(match text("type") {
                    Some(t) if !t.is_empty() => format!("{t}: {msg}"),
                    _ => msg,
                });
            }
            Some(serde_json::Value::String(s)) => return Some(s.clone()),
            Some(other) => return Some(other.to_string()),
        }
        if self.object.as_ref().is_some_and(|o| o.0 == "error") {
            let msg = self.message.as_ref().map_or("unknown error", |m| &m.0);
            return Some(match &self.kind {
                Some(t) if !t.0.is_empty() => format!("{}: {msg}", t.0),
                _ => msg.to_owned(),
            });
        }
        None
    }
}

/// `choices[0]`, the rest skipped without being built (no Vec per event).
struct FirstChoice<'a>(Option<RawChoice<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for FirstChoice<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FirstVisitor<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for FirstVisitor<'a> {
            type Value = FirstChoice<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of choices")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let first = seq.next_element::<RawChoice<'a>>()?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(FirstChoice(first))
            }
        }
        d.deserialize_seq(FirstVisitor(PhantomData))
    }
}

#[derive(Deserialize)]
struct RawChoice<'a> {
    #[serde(borrow, default)]
    delta: Option<RawMessage<'a>>,
    #[serde(borrow, default)]
    message: Option<RawMessage<'a>>,
    #[serde(borrow, default)]
    finish_reason: Option<Str<'a>>,
}

/// A streaming `delta` or a non-streaming `message`.
#[derive(Deserialize)]
struct RawMessage<'a> {
    #[serde(borrow, default)]
    content: Option<Str<'a>>,
    #[serde(borrow, default)]
    reasoning_content: Option<Str<'a>>,
    #[serde(borrow, default)]
    reasoning: Option<Str<'a>>,
}

impl<'a> RawMessage<'a> {
    /// (content, reasoning). AIPerf reads `reasoning_content or reasoning`:
    /// an empty `reasoning_content` falls through to `reasoning`.
    fn split(self) -> (Option<Cow<'a, str>>, Option<Cow<'a, str>>) {
        let reasoning = match (self.reasoning_content, self.reasoning) {
            (Some(a), Some(b)) if a.0.is_empty() => Some(b.0),
            (Some(a), _) => Some(a.0),
            (None, b) => b.map(|s| s.0),
        };
        (self.content.map(|s| s.0), reasoning)
    }
}

#[derive(Deserialize)]
struct RawUsage {
    /// `input_tokens`/`output_tokens`: OpenAI's transcription usage names.
    #[serde(default, alias = "input_tokens")]
    prompt_tokens: Option<u64>,
    #[serde(default, alias = "output_tokens")]
    completion_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens_details: Option<RawTokenDetails>,
}

#[derive(Deserialize)]
struct RawTokenDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

impl RawUsage {
    fn into_usage(self) -> Usage {
        Usage {
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            reasoning_tokens: self
                .completion_tokens_details
                .and_then(|d| d.reasoning_tokens),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::sse::tests::{pieces, split_once, VLLM_STREAM};
    use crate::http::SseSplitter;
    use proptest::prelude::*;

    #[test]
    fn transcription_stream_events_in_both_forms() {
        // OpenAI: deltas, then the done event (whose text is not a token).
        let d = classify(br#"{"type":"transcript.text.delta","delta":" hello"}"#);
        assert_eq!(
            d,
            StreamChunk::Delta(Delta {
                content: Some(" hello".into()),
                ..Delta::default()
            })
        );
        let done = classify(
            br#"{"type":"transcript.text.done","text":" hello world","usage":{"type":"tokens","input_tokens":7,"output_tokens":2,"total_tokens":9}}"#,
        );
        let usage = Usage {
            prompt_tokens: Some(7),
            completion_tokens: Some(2),
            reasoning_tokens: None,
        };
        assert_eq!(done, StreamChunk::TranscriptDone(Some(usage)));
        // vLLM: chat-shaped chunks (the fast path reads them).
        let v = classify(
            br#"{"id":"t","object":"transcription.chunk","created":1,"model":"w","choices":[{"delta":{"content":" hi"},"finish_reason":null}]}"#,
        );
        assert!(matches!(v, StreamChunk::Delta(d) if d.content.as_deref() == Some(" hi")));
        // An error event is still an error.
        let e = classify(br#"{"type":"error","error":{"message":"boom"}}"#);
        assert!(matches!(e, StreamChunk::Error(m) if m.contains("boom")));
    }

    #[test]
    fn transcription_bodies_in_every_response_format() {
        let json =
            parse_transcription(br#"{"text":" a b","usage":{"type":"duration","seconds":3}}"#)
                .unwrap();
        assert_eq!(json.content, " a b");
        let verbose = parse_transcription(
            br#"{"task":"transcribe","language":"english","duration":2.5,"text":"x y","segments":[{"id":0,"text":"x y"}]}"#,
        )
        .unwrap();
        assert_eq!(verbose.content, "x y");
        assert_eq!(
            parse_transcription(b"plain words\n").unwrap().content,
            "plain words\n"
        );
        let chat = parse_transcription(br#"{"choices":[{"message":{"content":"c"}}]}"#).unwrap();
        assert_eq!(chat.content, "c");
        for (body, want) in [
            (&br#"{"segments":[]}"#[..], "no \"text\" field"),
            (br#"{"text":""}"#, "empty transcript"),
            (b"  \n", "empty transcript"),
            (br#"{"text":"#, "invalid JSON"),
            (b"\xff\xfe", "not UTF-8"),
            (
                br#"{"error":{"message":"bad audio","type":"BadRequestError"}}"#,
                "bad audio",
            ),
        ] {
            let e = parse_transcription(body).unwrap_err();
            assert!(e.contains(want), "{want}: {e}");
        }
    }

    #[test]
    fn vllm_stream_events_and_classes() {
        let events = split_once(VLLM_STREAM.as_bytes());
        assert_eq!(events.len(), 6);
        let classes: Vec<StreamChunk<'_>> = events.iter().map(|e| classify(e)).collect();

        let StreamChunk::Delta(role) = &classes[0] else {
            panic!("{:?}", classes[0])
        };
        assert_eq!(
            (role.content.as_deref(), role.carries_token()),
            (Some(""), false)
        );

        let StreamChunk::Delta(r) = &classes[1] else {
            panic!()
        };
        assert_eq!(r.reasoning.as_deref(), Some("Let me think"));
        assert!(r.carries_token() && !r.carries_output());

        let StreamChunk::Delta(c) = &classes[2] else {
            panic!()
        };
        assert!(
            matches!(c.content, Some(Cow::Borrowed("The"))),
            "no escapes: borrowed"
        );
        assert!(c.carries_output());

        let StreamChunk::Delta(c) = &classes[3] else {
            panic!()
        };
        assert_eq!(c.content.as_deref(), Some(" \"audio\"\n"));
        assert_eq!(c.finish_reason.as_deref(), Some("length"));

        let StreamChunk::Delta(u) = &classes[4] else {
            panic!()
        };
        assert!(!u.carries_token());
        assert_eq!(
            u.usage,
            Some(Usage {
                prompt_tokens: Some(712),
                completion_tokens: Some(4),
                reasoning_tokens: Some(1)
            })
        );
        assert_eq!(classes[5], StreamChunk::Done);
    }

    #[test]
    fn classify_errors_and_invalid() {
        assert_eq!(
            classify(br#"{"error":{"object":"error","message":"max_tokens is too large","type":"BadRequestError","param":null,"code":400}}"#),
            StreamChunk::Error("BadRequestError: max_tokens is too large".into())
        );
        assert_eq!(
            classify(br#"{"object":"error","message":"boom","type":"InternalServerError","param":null,"code":500}"#),
            StreamChunk::Error("InternalServerError: boom".into())
        );
        assert_eq!(
            classify(br#"{"error":"overloaded"}"#),
            StreamChunk::Error("overloaded".into())
        );
        assert!(
            matches!(classify(b"{\"choices\":[{\"delta\":{\"content\":\"x\"}}"), StreamChunk::Invalid(m) if m.starts_with("invalid JSON in stream"))
        );
        assert!(matches!(classify(b"hello"), StreamChunk::Invalid(_)));
        assert!(
            matches!(classify(br#"{"id":"x"}"#), StreamChunk::Invalid(m) if m.starts_with("not a chat completion chunk"))
        );
        assert!(matches!(classify(b"[1,2]"), StreamChunk::Invalid(_)));
        assert_eq!(classify(b" [DONE] "), StreamChunk::Done);
        // `error: null` next to choices is not an error.
        assert!(matches!(
            classify(br#"{"choices":[],"error":null}"#),
            StreamChunk::Delta(_)
        ));
    }

    #[test]
    fn classify_reasoning_fallback_and_extra_choices() {
        let StreamChunk::Delta(d) = classify(br#"{"choices":[{"delta":{"reasoning":"hmm"}}]}"#)
        else {
            panic!()
        };
        assert_eq!(d.reasoning.as_deref(), Some("hmm"));
        let StreamChunk::Delta(d) = classify(
            br#"{"choices":[{"delta":{"reasoning_content":"","reasoning":"r2","content":null}}]}"#,
        ) else {
            panic!()
        };
        assert_eq!((d.reasoning.as_deref(), d.content), (Some("r2"), None));
        let StreamChunk::Delta(d) =
            classify(br#"{"choices":[{"delta":{"content":"first"}},{"delta":{"content":"second"}}],"usage":null}"#)
        else {
            panic!()
        };
        assert_eq!((d.content.as_deref(), d.usage), (Some("first"), None));
    }

    #[test]
    fn completion_bodies() {
        let body = br#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","reasoning_content":"think","content":"Hello \u00e9","tool_calls":[]},"logprobs":null,"finish_reason":"stop","stop_reason":null}],"usage":{"prompt_tokens":20,"total_tokens":27,"completion_tokens":7,"completion_tokens_details":{"reasoning_tokens":2},"prompt_tokens_details":null},"prompt_logprobs":null}"#;
        assert_eq!(
            parse_completion(body),
            Ok(Completion {
                content: "Hello é".into(),
                reasoning: "think".into(),
                usage: Some(Usage {
                    prompt_tokens: Some(20),
                    completion_tokens: Some(7),
                    reasoning_tokens: Some(2)
                }),
            })
        );
        let null_content = br#"{"choices":[{"message":{"role":"assistant","content":null}}]}"#;
        assert_eq!(parse_completion(null_content), Ok(Completion::default()));
        assert_eq!(
            parse_completion(
                br#"{"error":{"message":"bad audio","type":"BadRequestError","code":400}}"#
            ),
            Err("BadRequestError: bad audio".into())
        );
        assert!(parse_completion(br#"{"choices":[]}"#)
            .is_err_and(|m| m.starts_with("not a chat completion")));
        assert!(parse_completion(b"<html>502</html>")
            .is_err_and(|m| m.starts_with("invalid JSON in response")));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512),
                                       cuts in prop::collection::vec(any::<usize>(), 0..6)) {
            let mut s = SseSplitter::with_limit(64);
            let mut total = 0;
            for p in pieces(&bytes, &cuts) {
                s.feed(p, |e| { total += e.len(); let _ = classify(e); });
            }
            s.finish(|e| total += e.len());
            let _ = classify(&bytes);
            let _ = parse_completion(&bytes);
            prop_assert!(total <= bytes.len());
        }
    }
}
