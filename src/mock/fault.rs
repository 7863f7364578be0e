//! The faults the server can inject, and which request gets one.

use std::cell::RefCell;

use rand::rngs::StdRng;
use rand::Rng;

/// Faults the server can inject, for testing how a client reports failures.
///
/// Each applies to a chat-completions request picked by `--fault-every` or
/// `--fault-rate`. The `sse-*` faults only change streamed responses; the
/// framing faults (`bad-chunk-size`, `chunk-extensions`, `split-bytes`,
/// `trickle`, stalls, resets) apply to streamed and whole responses alike.
/// Faults marked "valid" are odd but legal HTTP/SSE: a client must succeed.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultMode {
    /// No fault.
    None,
    /// `429 Too Many Requests` with an OpenAI-style JSON error body (`RateLimitError`).
    #[value(name = "http429-json")]
    Http429Json,
    /// `500` with an OpenAI-style JSON error body.
    #[value(name = "http500-json")]
    Http500Json,
    /// `500` with a plain-text (non-JSON) body.
    #[value(name = "http500-text")]
    Http500Text,
    /// `503` with an HTML (non-JSON) body, as a proxy in front of a dead server sends.
    #[value(name = "http503-html")]
    Http503Html,
    /// TCP reset (SO_LINGER 0) after reading the request, before any response byte.
    #[value(name = "reset-before-head")]
    ResetBeforeHead,
    /// TCP reset (SO_LINGER 0) halfway through the tokens.
    #[value(name = "reset-mid-stream")]
    ResetMidStream,
    /// Orderly close halfway through the tokens: no finish chunk, no `[DONE]`.
    #[value(name = "close-mid-stream")]
    CloseMidStream,
    /// Send the response head (and role chunk when streaming), then nothing more.
    #[value(name = "stall-after-head")]
    StallAfterHead,
    /// Send half the tokens (half the body when not streaming), then nothing more.
    #[value(name = "stall-mid-stream")]
    StallMidStream,
    /// Answer normally but with `Connection: close`, closing after each response.
    #[value(name = "connection-close")]
    ConnectionClose,
    /// A status line that is not HTTP (`HTTP/1.1 2OO OK`), then close.
    #[value(name = "bad-status-line")]
    BadStatusLine,
    /// A header line without a colon, then close.
    #[value(name = "bad-header-line")]
    BadHeaderLine,
    /// A 200 head carrying 100 KiB of headers, then close.
    #[value(name = "oversized-head")]
    OversizedHead,
    /// A chunk size line that is not hex (`zz`) halfway through the body, then a stall.
    #[value(name = "bad-chunk-size")]
    BadChunkSize,
    /// Valid: every chunk carries extensions (`;ext=1`) and the last chunk trailers.
    #[value(name = "chunk-extensions")]
    ChunkExtensions,
    /// A whole (non-chunked) response whose body is shorter than its
    /// Content-Length, then an orderly close.
    #[value(name = "content-length-short")]
    ContentLengthShort,
    /// A whole response whose body is 16 bytes longer than its Content-Length, then close.
    #[value(name = "content-length-long")]
    ContentLengthLong,
    /// Streaming: a `data:` line that is not JSON halfway through (then the stream goes on).
    #[value(name = "sse-invalid-json")]
    SseInvalidJson,
    /// Valid, streaming: `: ping` comment events and comment lines inside events.
    #[value(name = "sse-comments")]
    SseComments,
    /// Valid, streaming: `event:`, `id:` and `retry:` fields in every event.
    #[value(name = "sse-fields")]
    SseFields,
    /// Valid, streaming: CRLF line ends in the event stream.
    #[value(name = "sse-crlf")]
    SseCrlf,
    /// Streaming: an OpenAI `error` object halfway through, then `[DONE]`.
    #[value(name = "sse-error-event")]
    SseErrorEvent,
    /// Valid: every byte of the response in its own write, and every body
    /// byte in its own chunk (whole responses are chunked too).
    #[value(name = "split-bytes")]
    SplitBytes,
    /// Valid: the response one byte per write, `--trickle-us` apart.
    #[value(name = "trickle")]
    Trickle,
    /// Valid: no Content-Length and no chunking; the body ends when the
    /// server closes the connection (HTTP/1.0 style, `Connection: close`).
    #[value(name = "until-close")]
    UntilClose,
}

impl FaultMode {
    /// Faults after which the server closes the connection (it never serves
    /// another request on it).
    pub fn closes(self) -> bool {
        !matches!(
            self,
            FaultMode::None
                | FaultMode::Http429Json
                | FaultMode::Http500Json
                | FaultMode::Http500Text
                | FaultMode::Http503Html
                | FaultMode::ChunkExtensions
                | FaultMode::SseInvalidJson
                | FaultMode::SseComments
                | FaultMode::SseFields
                | FaultMode::SseCrlf
                | FaultMode::SseErrorEvent
                | FaultMode::SplitBytes
                | FaultMode::Trickle
        )
    }
}

/// Which chat-completion requests get the fault: `--fault`, `--fault-rate`
/// and `--fault-every`.
pub(super) struct FaultPlan {
    pub(super) mode: FaultMode,
    pub(super) rate: f64,
    pub(super) every: Option<u64>,
}

impl FaultPlan {
    /// The fault for chat request number `n` (1-based: the server's request
    /// counter, over all workers, restarted by `DELETE /v1/mock/stats`).
    /// `rng` (the worker's) is drawn only for a rate strictly between 0 and 1.
    pub(super) fn pick(&self, n: u64, rng: &RefCell<StdRng>) -> FaultMode {
        let f = self.mode;
        if f == FaultMode::None {
            return FaultMode::None;
        }
        let hit = match self.every {
            Some(every) => n.is_multiple_of(every),
            None => {
                self.rate >= 1.0
                    || (self.rate > 0.0 && rng.borrow_mut().random::<f64>() < self.rate)
            }
        };
        if hit {
            f
        } else {
            FaultMode::None
        }
    }
}
