//! What the chat completions API says, as the engine reads it: one streamed
//! chunk ([`StreamChunk`], its [`Delta`]) or one whole non-streaming
//! [`Completion`]. Strings borrow from the event's bytes unless they hold
//! escapes.

use crate::record::Usage;
use std::borrow::Cow;

/// What one event's data says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamChunk<'a> {
    /// `[DONE]`: the end-of-stream sentinel.
    Done,
    /// `transcript.text.done` (OpenAI's transcription stream): the end of
    /// the stream, with the final usage when the server sends it. Its
    /// `text` repeats the whole transcript and is not another token.
    TranscriptDone(Option<Usage>),
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
