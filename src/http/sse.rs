//! Server-sent events: splitting a de-framed body into events, and reading
//! what one chat-completions event says.
//!
//! [`SseSplitter`] follows the WHATWG event-stream rules (LF, CRLF or CR line
//! ends; `:` comments; `data` lines joined with `\n`; other fields ignored;
//! a blank line ends an event). It works in place: an event whose single data
//! line lies wholly inside one read is handed out as a slice of that read;
//! only an event cut across reads, or one with several data lines, is copied,
//! into a buffer reused for the whole connection and capped at
//! [`MAX_EVENT_BYTES`]. No allocation per event once the buffers have grown.
//!
//! [`classify`] and [`parse_completion`] read one event or one whole
//! (non-streaming) body with serde_json into borrowed structs: strings without
//! escapes are slices of the input, and only `choices[0]` is looked at (the
//! other choices are skipped without being built). Common token chunks are
//! read by a one-pass scanner instead (`chunk_scan`), which answers only
//! when serde_json would answer the same.

use crate::record::Usage;
use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

/// Largest event (or partial line) the splitter buffers across reads.
pub const MAX_EVENT_BYTES: usize = 1 << 20;

/// Splits an event stream into events' data. One per response; `reset` between.
#[derive(Debug)]
pub struct SseSplitter {
    /// An unterminated line carried over from the previous read.
    line: Vec<u8>,
    /// The current event's data when it cannot be borrowed from the input.
    data: Vec<u8>,
    /// Data lines seen in the current event.
    data_lines: u32,
    /// The previous read ended with CR: an LF starting the next read ends that same line.
    pending_cr: bool,
    overflow: bool,
    max_event: usize,
    /// Bytes of a leading byte-order mark matched so far (the SSE spec skips
    /// one); `None` once the stream is past its start.
    bom_matched: Option<usize>,
}

impl Default for SseSplitter {
    fn default() -> Self {
        Self::new()
    }
}

/// What one complete line means.
enum Line {
    Blank,
    /// A `data` field; the value starts at this offset in the line.
    Data(usize),
    /// Comments and every other field.
    Ignored,
}

fn read_line(line: &[u8]) -> Line {
    match line.first() {
        None => Line::Blank,
        Some(b':') => Line::Ignored,
        Some(_) => {
            // "data" with no colon is a data field with an empty value.
            let (name, value_at) = match memchr::memchr(b':', line) {
                Some(c) => (
                    &line[..c],
                    if line.get(c + 1) == Some(&b' ') {
                        c + 2
                    } else {
                        c + 1
                    },
                ),
                None => (line, line.len()),
            };
            if name == b"data" {
                Line::Data(value_at)
            } else {
                Line::Ignored
            }
        }
    }
}

impl SseSplitter {
    pub fn new() -> Self {
        Self::with_limit(MAX_EVENT_BYTES)
    }

    /// A splitter that buffers at most `max_event` bytes of one event across reads.
    pub fn with_limit(max_event: usize) -> Self {
        SseSplitter {
            line: Vec::new(),
            data: Vec::new(),
            data_lines: 0,
            pending_cr: false,
            overflow: false,
            max_event,
            bom_matched: Some(0),
        }
    }

    /// Forgets any partial event, keeping the buffers' capacity.
    pub fn reset(&mut self) {
        self.line.clear();
        self.data.clear();
        self.data_lines = 0;
        self.pending_cr = false;
        self.overflow = false;
        self.bom_matched = Some(0);
    }

    /// An event grew past the limit while cut across reads. The stream is
    /// then broken: the splitter drops everything until `reset`, and the
    /// caller should fail the request.
    pub fn overflowed(&self) -> bool {
        self.overflow
    }

    /// Something (a partial line or an unterminated event) is waiting for more input.
    pub fn has_partial(&self) -> bool {
        !self.line.is_empty() || self.data_lines > 0
    }

    /// Feeds the next piece of the body; calls `on_event` with the data of
    /// each event completed inside it, in order.
    pub fn feed(&mut self, input: &[u8], mut on_event: impl FnMut(&[u8])) {
        // An empty read must not clear `pending_cr`.
        if self.overflow || input.is_empty() {
            return;
        }
        const BOM: &[u8] = b"\xEF\xBB\xBF";
        let mut pos = 0;
        // The mark may be cut across reads; bytes that turn out not to be
        // one were not an event's start either (a stream opens with a field).
        while let Some(matched) = self.bom_matched {
            match input.get(pos) {
                None => return,
                Some(&b) if b == BOM[matched] => {
                    pos += 1;
                    self.bom_matched = (matched + 1 < BOM.len()).then_some(matched + 1);
                }
                Some(_) => self.bom_matched = None,
            }
        }
        if self.pending_cr {
            self.pending_cr = false;
            if input.first() == Some(&b'\n') {
                pos = 1;
            }
        }
        // The current event's only data line, when it lies in `input`.
        let mut local: Option<(usize, usize)> = None;

        while let Some(off) = memchr::memchr2(b'\n', b'\r', &input[pos..]) {
            let end = pos + off;
            let next = if input[end] == b'\r' {
                match input.get(end + 1) {
                    Some(b'\n') => end + 2,
                    Some(_) => end + 1,
                    None => {
                        self.pending_cr = true;
                        end + 1
                    }
                }
            } else {
                end + 1
            };

            if !self.line.is_empty() {
                // The line began in an earlier read: complete it in the carry buffer.
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(&input[pos..end]);
                self.owned_line(&line, &mut on_event);
                line.clear();
                self.line = line;
            } else {
                match read_line(&input[pos..end]) {
                    Line::Blank => {
                        if self.data_lines > 0 {
                            match local {
                                Some((s, e)) => on_event(&input[s..e]),
                                None => on_event(&self.data),
                            }
                        }
                        local = None;
                        self.end_event();
                    }
                    Line::Data(at) => {
                        let (s, e) = (pos + at.min(end - pos), end);
                        if self.data_lines == 0 {
                            local = Some((s, e));
                        } else {
                            if let Some((ls, le)) = local.take() {
                                self.data.extend_from_slice(&input[ls..le]);
                            }
                            self.data.push(b'\n');
                            self.data.extend_from_slice(&input[s..e]);
                        }
                        self.data_lines = self.data_lines.saturating_add(1);
                    }
                    Line::Ignored => {}
                }
            }
            pos = next;
        }

        // Whatever is left must outlive `input`: copy it.
        if let Some((s, e)) = local {
            self.data.extend_from_slice(&input[s..e]);
        }
        self.line.extend_from_slice(&input[pos..]);
        if self.line.len() + self.data.len() > self.max_event {
            self.overflow = true;
            self.line = Vec::new();
            self.data = Vec::new();
            self.data_lines = 0;
        }
    }

    /// Ends the stream. Unlike a browser, which drops an event not closed by
    /// a blank line, this dispatches it (a partial last line counts as a
    /// line): a token the server did send is counted, and a truncated JSON
    /// payload then shows up as an `Invalid` event instead of vanishing.
    /// vLLM always ends with a blank line, so this only matters for others.
    pub fn finish(&mut self, mut on_event: impl FnMut(&[u8])) {
        if !self.overflow {
            if !self.line.is_empty() {
                let line = std::mem::take(&mut self.line);
                self.owned_line(&line, &mut on_event);
            }
            if self.data_lines > 0 {
                on_event(&self.data);
            }
        }
        self.reset();
    }

    /// A complete line that is not borrowed from the current input.
    fn owned_line(&mut self, line: &[u8], on_event: &mut impl FnMut(&[u8])) {
        match read_line(line) {
            Line::Blank => {
                if self.data_lines > 0 {
                    on_event(&self.data);
                }
                self.end_event();
            }
            Line::Data(at) => {
                if self.data_lines > 0 {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(&line[at.min(line.len())..]);
                self.data_lines = self.data_lines.saturating_add(1);
            }
            Line::Ignored => {}
        }
    }

    fn end_event(&mut self) {
        self.data.clear();
        self.data_lines = 0;
    }
}

/// What one event's data says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamChunk<'a> {
    /// `[DONE]`: the end-of-stream sentinel.
    Done,
    Delta(Delta<'a>),
    /// The server reported an error inside the stream.
    Error(String),
    /// Not JSON, or JSON that is not a chat completion chunk.
    Invalid(String),
}

/// `choices[0].delta` of a chunk, plus `usage` and `finish_reason`.
///
/// Role-only chunks give `content: None`; usage-only chunks (`choices: []`)
/// give every field `None` but `usage`. An event "carries a token" only when
/// its content or reasoning is non-empty: see [`Delta::carries_token`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delta<'a> {
    pub content: Option<Cow<'a, str>>,
    /// `delta.reasoning_content`, or `delta.reasoning` when that is empty or absent.
    pub reasoning: Option<Cow<'a, str>>,
    pub usage: Option<Usage>,
    pub finish_reason: Option<Cow<'a, str>>,
}

impl Delta<'_> {
    /// Non-empty content or reasoning: this event counts for TTFT, ITL and token events.
    pub fn carries_token(&self) -> bool {
        self.carries_output() || self.reasoning.as_deref().is_some_and(|s| !s.is_empty())
    }

    /// Non-empty (non-reasoning) content: this event counts for time to first output token.
    pub fn carries_output(&self) -> bool {
        self.content.as_deref().is_some_and(|s| !s.is_empty())
    }
}

/// A non-streaming chat completion.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Completion {
    /// `choices[0].message.content` ("" when null).
    pub content: String,
    /// `choices[0].message.reasoning_content`, else `.reasoning` ("" when neither).
    pub reasoning: String,
    pub usage: Option<Usage>,
}

/// Reads one event's data. Allocates only for strings with JSON escapes and
/// for the error and invalid cases. Common token chunks take a one-pass
/// scanner ([`super::chunk_scan`]); everything else, serde_json.
pub fn classify(data: &[u8]) -> StreamChunk<'_> {
    if data.trim_ascii() == b"[DONE]" {
        return StreamChunk::Done;
    }
    if let Some(chunk) = super::chunk_scan::classify_common(data) {
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
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
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
    use proptest::prelude::*;

    /// A vLLM stream with reasoning, content, an escaped string, usage and [DONE].
    const VLLM_STREAM: &str = concat!(
        "data: {\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion.chunk\",\"created\":1763795000,\"model\":\"Qwen/Qwen2-Audio-7B-Instruct\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion.chunk\",\"created\":1763795000,\"model\":\"Qwen/Qwen2-Audio-7B-Instruct\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"Let me think\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion.chunk\",\"created\":1763795000,\"model\":\"Qwen/Qwen2-Audio-7B-Instruct\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"The\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion.chunk\",\"created\":1763795000,\"model\":\"Qwen/Qwen2-Audio-7B-Instruct\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" \\\"audio\\\"\\n\"},\"logprobs\":null,\"finish_reason\":\"length\"}]}\n\n",
        "data: {\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion.chunk\",\"created\":1763795000,\"model\":\"Qwen/Qwen2-Audio-7B-Instruct\",\"choices\":[],\"usage\":{\"prompt_tokens\":712,\"total_tokens\":716,\"completion_tokens\":4,\"prompt_tokens_details\":null,\"completion_tokens_details\":{\"reasoning_tokens\":1}}}\n\n",
        "data: [DONE]\n\n",
    );

    fn events_of(splitter: &mut SseSplitter, pieces: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for p in pieces {
            splitter.feed(p, |e| out.push(e.to_vec()));
        }
        splitter.finish(|e| out.push(e.to_vec()));
        out
    }

    fn split_once(input: &[u8]) -> Vec<Vec<u8>> {
        events_of(&mut SseSplitter::new(), &[input])
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
    fn single_line_events_are_borrowed_from_input() {
        let input = b"data: {\"a\":1}\n\n: keepalive\n\ndata:{\"b\":2}\r\n\r\n";
        let mut s = SseSplitter::new();
        let mut got = Vec::new();
        s.feed(input, |e| {
            got.push((e.as_ptr() as usize - input.as_ptr() as usize, e.len()))
        });
        assert_eq!(got, vec![(6, 7), (33, 7)]);
        assert!(!s.has_partial());
    }

    #[test]
    fn in_place_events_never_touch_the_buffers() {
        let mut s = SseSplitter::new();
        let mut n = 0;
        for _ in 0..100 {
            s.feed(VLLM_STREAM.as_bytes(), |_| n += 1);
        }
        assert_eq!(n, 600);
        assert_eq!((s.line.capacity(), s.data.capacity()), (0, 0));
    }

    /// One leading byte-order mark is skipped (as the SSE spec says), and only
    /// at the start of a stream; `reset` starts a new stream.
    #[test]
    fn leading_bom_is_skipped() {
        let mut s = SseSplitter::new();
        let got = events_of(
            &mut s,
            &[b"\xEF\xBB\xBFdata: a\n\n", b"\xEF\xBB\xBFdata: b\n\n"],
        );
        // The second BOM is mid-stream: that line's field name is not "data".
        assert_eq!(got, vec![b"a".to_vec()]);
        let got = events_of(&mut s, &[b"\xEF\xBB\xBFdata: c\n\n"]);
        assert_eq!(got, vec![b"c".to_vec()]);
        // Cut across reads.
        let got = events_of(&mut s, &[b"\xEF", b"\xBB", b"\xBFdata: d\n\n"]);
        assert_eq!(got, vec![b"d".to_vec()]);
    }

    #[test]
    fn field_rules() {
        let input = b"data:x\n\ndata: y\n\ndata:  two spaces\n\n\
                      event: message\nid: 7\nretry: 10\ndata: a\ndata\ndata: b\n\n\
                      : comment only\nevent: ping\n\n\
                      data\n\n\
                      dat: not data\n\n";
        let events = split_once(input);
        let want: Vec<&[u8]> = vec![b"x", b"y", b" two spaces", b"a\n\nb", b""];
        assert_eq!(events, want);
    }

    #[test]
    fn line_endings() {
        let lf = split_once(b"data: 1\n\ndata: 2\ndata: 3\n\n");
        let crlf = split_once(b"data: 1\r\n\r\ndata: 2\r\ndata: 3\r\n\r\n");
        let cr = split_once(b"data: 1\r\rdata: 2\rdata: 3\r\r");
        let want = vec![b"1".to_vec(), b"2\n3".to_vec()];
        assert_eq!((&lf, &crlf, &cr), (&want, &want, &want));
        // A CR at the end of one read and the LF at the start of the next are one line end.
        let mut s = SseSplitter::new();
        assert_eq!(
            events_of(&mut s, &[b"data: 1\r", b"\n\r", b"\ndata: 2\r\n\r\n"]),
            vec![b"1".to_vec(), b"2".to_vec()]
        );
    }

    #[test]
    fn finish_flushes_unterminated_event() {
        let mut s = SseSplitter::new();
        let mut got = Vec::new();
        s.feed(b"data: {\"a\":1}\n\ndata: [DONE]", |e| got.push(e.to_vec()));
        assert_eq!(got, vec![b"{\"a\":1}".to_vec()]);
        assert!(s.has_partial());
        s.finish(|e| got.push(e.to_vec()));
        assert_eq!(got[1], b"[DONE]");
        assert!(!s.has_partial());
        // Nothing pending: nothing flushed.
        s.finish(|_| panic!("no event expected"));
    }

    #[test]
    fn overflow_is_reported_and_sticky() {
        let mut s = SseSplitter::with_limit(16);
        let mut n = 0;
        // Complete events of any size pass in place: the limit is for buffering.
        s.feed(b"data: 0123456789012345678901234567890\n\n", |_| n += 1);
        assert_eq!((n, s.overflowed()), (1, false));
        s.feed(b"data: 0123456789", |_| n += 1);
        assert!(!s.overflowed());
        s.feed(b"0123456789", |_| n += 1);
        assert!(s.overflowed());
        s.feed(b"\n\ndata: x\n\n", |_| n += 1);
        assert_eq!(n, 1);
        s.reset();
        s.feed(b"data: x\n\n", |_| n += 1);
        assert_eq!((n, s.overflowed()), (2, false));
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

    /// Cuts `input` at the given offsets into pieces.
    fn pieces<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
        let mut cuts: Vec<usize> = cuts.iter().map(|&c| c % (input.len() + 1)).collect();
        cuts.sort_unstable();
        let mut out = Vec::new();
        let mut start = 0;
        for c in cuts {
            out.push(&input[start..c]);
            start = c;
        }
        out.push(&input[start..]);
        out
    }

    fn arb_stream() -> impl Strategy<Value = String> {
        let line = prop_oneof![
            4 => "[ -~]{0,30}".prop_map(|v| format!("data: {v}")),
            1 => "[ -~]{0,10}".prop_map(|v| format!("data:{v}")),
            1 => "[ -~]{0,10}".prop_map(|v| format!(":{v}")),
            1 => "[a-z]{1,6}: [ -~]{0,10}",
            2 => Just(String::new()),
        ];
        (prop::collection::vec((line, 0..3usize), 0..40)).prop_map(|lines| {
            let mut s = String::new();
            for (l, end) in lines {
                s.push_str(&l);
                s.push_str(["\n", "\r\n", "\r"][end]);
            }
            s
        })
    }

    proptest! {
        /// Random splits of a random stream give the same events as one read.
        #[test]
        fn random_splits_same_events(stream in arb_stream(), cuts in prop::collection::vec(any::<usize>(), 0..12)) {
            let bytes = stream.as_bytes();
            let whole = split_once(bytes);
            let split = events_of(&mut SseSplitter::new(), &pieces(bytes, &cuts));
            prop_assert_eq!(split, whole);
        }

        /// Every split point of the realistic vLLM stream gives the same events.
        #[test]
        fn vllm_every_split_point(crlf: bool) {
            let text = if crlf { VLLM_STREAM.replace('\n', "\r\n") } else { VLLM_STREAM.to_string() };
            let bytes = text.as_bytes();
            let whole = split_once(bytes);
            prop_assert_eq!(whole.len(), 6);
            let mut s = SseSplitter::new();
            for cut in 0..=bytes.len() {
                s.reset();
                prop_assert_eq!(&events_of(&mut s, &[&bytes[..cut], &bytes[cut..]]), &whole);
            }
        }

        /// LF, CRLF and CR spellings of one stream give the same events.
        #[test]
        fn line_end_spellings_agree(stream in arb_stream()) {
            let lf = stream.replace("\r\n", "\n").replace('\r', "\n");
            let crlf = lf.replace('\n', "\r\n");
            let cr = lf.replace('\n', "\r");
            let want = split_once(lf.as_bytes());
            prop_assert_eq!(&split_once(crlf.as_bytes()), &want);
            prop_assert_eq!(&split_once(cr.as_bytes()), &want);
        }

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
