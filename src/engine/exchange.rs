//! One request/response exchange on an open connection: write the prepared
//! bytes, read into the connection's reused buffer, stamp the clock right after
//! each read completes, parse the head, de-chunk, split SSE events in place and
//! fill the request's record.
//!
//! Must not: allocate per event, take locks, touch atomics, or parse more of an
//! event than it takes to classify it. Generated text is appended to the
//! worker's arena (amortised growth, no per-event allocation).

use super::stream::Stream;
use crate::http::chunked::ChunkedDecoder;
use crate::http::response::{parse_response_head, BodyFraming, ResponseHead, MAX_HEAD_BYTES};
use crate::http::sse::{classify, parse_completion, SseSplitter, StreamChunk, MAX_EVENT_BYTES};
use crate::record::{ErrorKind, RequestError, RequestRecord};
use crate::units::{now_ns, Nanos};
use monoio::buf::IoBufMut;
use monoio::io::AsyncReadRent;

/// Largest non-streaming or error body we keep (bigger ones are an error).
const MAX_BUFFERED_BODY: usize = 64 * 1024 * 1024;
/// Largest generated text (reasoning + content) kept per streamed response:
/// a server that streams without end must not take the host's memory.
const MAX_STREAMED_TEXT: usize = 64 * 1024 * 1024;
/// Read buffer size per connection.
pub const READ_BUF_BYTES: usize = 64 * 1024;

/// Per-connection parser state, reused across requests on that connection.
pub struct ConnState {
    pub read_buf: Vec<u8>,
    chunked: ChunkedDecoder,
    sse: SseSplitter,
    /// Body bytes kept for non-streaming responses and error bodies.
    body: Vec<u8>,
    /// Generated text (reasoning + content) of the current request; the
    /// worker copies it into its arena once the request ends.
    pub text: Vec<u8>,
    /// Leading bytes of `text` that are reasoning (sent before any content).
    pub reasoning_len: usize,
}

impl Default for ConnState {
    fn default() -> Self {
        ConnState {
            read_buf: Vec::with_capacity(READ_BUF_BYTES),
            chunked: ChunkedDecoder::new(),
            sse: SseSplitter::new(),
            body: Vec::new(),
            text: Vec::new(),
            reasoning_len: 0,
        }
    }
}

/// How an exchange ended, for the connection owner.
pub enum Outcome {
    /// The response was complete and the connection can carry the next request.
    KeepAlive,
    /// The response ended (or failed); the connection must be closed.
    Close,
}

/// What the stream said about tokens, collected while events arrive.
struct EventSink<'r, 't> {
    rec: &'r mut RequestRecord,
    arena: &'t mut Vec<u8>,
    now: Nanos,
    saw_done: bool,
    events: u64,
    /// Bytes of `arena` that are reasoning sent before any content.
    reasoning_len: usize,
    /// The text passed [`MAX_STREAMED_TEXT`]: the exchange fails.
    text_overflow: bool,
}

impl EventSink<'_, '_> {
    fn on_event(&mut self, data: &[u8]) {
        // `[DONE]` ends the stream: anything after it is not part of the answer.
        if self.saw_done {
            return;
        }
        self.events += 1;
        match classify(data) {
            StreamChunk::Done => self.saw_done = true,
            StreamChunk::Delta(delta) => {
                let reasoning = delta.reasoning.as_deref().filter(|s| !s.is_empty());
                let content = delta.content.as_deref().filter(|s| !s.is_empty());
                let size = reasoning.map_or(0, str::len) + content.map_or(0, str::len);
                if self.arena.len() + size > MAX_STREAMED_TEXT {
                    self.text_overflow = true;
                    return;
                }
                if reasoning.is_some() || content.is_some() {
                    let r = &mut *self.rec;
                    let before_content = r.first_output_ns.is_none();
                    r.token_events += 1;
                    match r.token_events {
                        1 => r.first_token_ns = Some(self.now),
                        2 => r.second_token_ns = Some(self.now),
                        _ => {}
                    }
                    if content.is_some() && r.first_output_ns.is_none() {
                        r.first_output_ns = Some(self.now);
                    }
                    r.last_token_ns = Some(self.now);
                    if let Some(t) = reasoning {
                        self.arena.extend_from_slice(t.as_bytes());
                        if before_content {
                            self.reasoning_len = self.arena.len();
                        }
                    }
                    if let Some(t) = content {
                        self.arena.extend_from_slice(t.as_bytes());
                    }
                }
                if let Some(u) = delta.usage {
                    self.rec.usage = Some(u);
                }
            }
            StreamChunk::Error(msg) => {
                if self.rec.error.is_none() {
                    self.rec.error = Some(RequestError {
                        kind: ErrorKind::StreamError,
                        code: None,
                        message: format!("error event in stream: {msg}"),
                    });
                }
            }
            StreamChunk::Invalid(msg) => {
                if self.rec.error.is_none() {
                    self.rec.error = Some(RequestError {
                        kind: ErrorKind::StreamError,
                        code: None,
                        message: format!("invalid SSE data: {msg}"),
                    });
                }
            }
        }
    }
}

fn text_too_large(rec: &mut RequestRecord) -> Outcome {
    fail(
        rec,
        ErrorKind::MalformedBody,
        format!("streamed text larger than {MAX_STREAMED_TEXT} bytes"),
    )
}

fn fail(rec: &mut RequestRecord, kind: ErrorKind, message: String) -> Outcome {
    rec.end_ns = now_ns();
    if rec.error.is_none() {
        rec.error = Some(RequestError {
            kind,
            code: rec.status,
            message,
        });
    }
    Outcome::Close
}

/// Reads once, appending to `st.read_buf`. Returns the byte count and the
/// time the read completed (0 bytes = the peer closed).
async fn read_more<S: AsyncReadRent>(
    stream: &mut S,
    read_buf: &mut Vec<u8>,
) -> std::io::Result<(usize, Nanos)> {
    let buf = std::mem::take(read_buf);
    let start = buf.len();
    let (res, slice) = stream.read(buf.slice_mut(start..)).await;
    let now = now_ns();
    *read_buf = slice.into_inner();
    res.map(|n| (n, now))
}

/// Writes the prepared request; `rec.start_ns` is stamped just before the
/// write. On failure the record is complete (error set) and the connection
/// must be closed.
pub async fn send_request(
    stream: &mut Stream,
    st: &mut ConnState,
    request: &'static [u8],
    rec: &mut RequestRecord,
) -> Result<(), Outcome> {
    st.read_buf.clear();
    st.text.clear();
    st.reasoning_len = 0;
    rec.start_ns = now_ns();
    match stream.write_request(request).await {
        Ok(_) => Ok(()),
        Err(e) => Err(fail(rec, io_kind(&e), format!("write failed: {e}"))),
    }
}

/// Reads the whole response to a request sent by `send_request`, filling `rec`.
pub async fn read_response<S: AsyncReadRent>(
    stream: &mut S,
    st: &mut ConnState,
    rec: &mut RequestRecord,
    bytes_read: &mut u64,
    events: &mut u64,
) -> Outcome {
    // 1. The head.
    let (head, head_read_ns): (ResponseHead, Nanos) = loop {
        let (n, now) = match read_more(stream, &mut st.read_buf).await {
            Ok(x) => x,
            Err(e) => {
                return fail(
                    rec,
                    io_kind(&e),
                    format!("read failed before response head: {e}"),
                )
            }
        };
        if n == 0 {
            return fail(
                rec,
                ErrorKind::ConnectionClosed,
                "connection closed before response head".into(),
            );
        }
        *bytes_read += n as u64;
        if rec.ack_ns.is_none() {
            rec.ack_ns = Some(now);
        }
        match parse_response_head(&st.read_buf) {
            // Body bytes that came with the head arrived with this read.
            Ok(Some(h)) => break (h, now),
            Ok(None) => {
                if st.read_buf.len() == st.read_buf.capacity() {
                    let grow = st.read_buf.capacity().min(MAX_HEAD_BYTES);
                    st.read_buf.reserve(grow);
                }
            }
            Err(e) => return fail(rec, ErrorKind::MalformedHead, e.to_string()),
        }
    };
    rec.status = Some(head.status);
    let ok_status = (200..300).contains(&head.status);
    let streaming = ok_status && head.event_stream;
    st.body.clear();
    st.sse.reset();
    st.chunked.reset();

    // 2. The body, starting with what came with the head.
    let mut remaining = match head.framing {
        BodyFraming::ContentLength(n) => Some(n),
        _ => None,
    };
    let mut offset = head.head_len;
    let mut now = head_read_ns;
    let mut text = std::mem::take(&mut st.text);
    let mut sink = EventSink {
        rec,
        arena: &mut text,
        now,
        saw_done: false,
        reasoning_len: 0,
        events: 0,
        text_overflow: false,
    };
    let mut complete = false;
    loop {
        let input = &st.read_buf[offset..];
        sink.now = now;
        // Feed this read's bytes through the framing layer into the SSE
        // splitter (streaming) or the body buffer.
        let body_sink = &mut st.body;
        let sse = &mut st.sse;
        let mut overflow = false;
        let mut deliver = |data: &[u8]| {
            if streaming {
                sse.feed(data, |ev| sink.on_event(ev));
            } else if body_sink.len() + data.len() <= MAX_BUFFERED_BODY {
                body_sink.extend_from_slice(data);
            } else {
                overflow = true;
            }
        };
        match head.framing {
            BodyFraming::Chunked => match st.chunked.decode(input, &mut deliver) {
                Ok(status) => {
                    if status.done {
                        complete = true;
                    }
                }
                Err(e) => {
                    return fail(sink.rec, ErrorKind::MalformedBody, e.to_string());
                }
            },
            BodyFraming::ContentLength(_) => {
                let left = remaining.unwrap_or(0);
                let take = (input.len() as u64).min(left) as usize;
                deliver(&input[..take]);
                remaining = Some(left - take as u64);
                if left - take as u64 == 0 {
                    complete = true;
                    if take < input.len() {
                        return fail(
                            sink.rec,
                            ErrorKind::MalformedBody,
                            format!("{} bytes after the Content-Length body", input.len() - take),
                        );
                    }
                }
            }
            BodyFraming::UntilClose => deliver(input),
        }
        if overflow {
            return fail(
                sink.rec,
                ErrorKind::MalformedBody,
                format!("response body larger than {MAX_BUFFERED_BODY} bytes"),
            );
        }
        if st.sse.overflowed() {
            return fail(
                sink.rec,
                ErrorKind::MalformedBody,
                format!("SSE event larger than {MAX_EVENT_BYTES} bytes"),
            );
        }
        if sink.text_overflow {
            return text_too_large(sink.rec);
        }
        if complete {
            if streaming {
                // The body's end ends the last event even without its blank line.
                st.sse.finish(|ev| sink.on_event(ev));
                if sink.text_overflow {
                    return text_too_large(sink.rec);
                }
            }
            break;
        }
        // The next read starts at the front of the reused buffer.
        st.read_buf.clear();
        offset = 0;
        match read_more(stream, &mut st.read_buf).await {
            Ok((0, t)) => {
                now = t;
                if matches!(head.framing, BodyFraming::UntilClose) {
                    sink.now = now;
                    if streaming {
                        // The close ends the last event even without its blank line.
                        st.sse.finish(|ev| sink.on_event(ev));
                        if sink.text_overflow {
                            return text_too_large(sink.rec);
                        }
                    }
                    break;
                }
                let msg = match remaining {
                    Some(n) => format!("connection closed with {n} body bytes missing"),
                    None => "connection closed mid-body (chunked stream not terminated)".into(),
                };
                return fail(sink.rec, ErrorKind::ConnectionClosed, msg);
            }
            Ok((n, t)) => {
                *bytes_read += n as u64;
                now = t;
            }
            Err(e) => return fail(sink.rec, io_kind(&e), format!("read failed mid-body: {e}")),
        }
    }
    let end = sink.now;
    let saw_done = sink.saw_done;
    st.reasoning_len = sink.reasoning_len;
    *events += sink.events;
    let EventSink { rec, .. } = sink;
    rec.end_ns = end;

    if !ok_status {
        let text = String::from_utf8_lossy(&st.body[..st.body.len().min(2048)]).into_owned();
        rec.error = Some(RequestError {
            kind: ErrorKind::HttpStatus,
            code: Some(head.status),
            message: error_message(&text, head.status),
        });
    } else if streaming {
        if !saw_done && rec.error.is_none() {
            rec.error = Some(RequestError {
                kind: ErrorKind::StreamError,
                code: None,
                message: "stream ended without [DONE]".into(),
            });
        }
    } else {
        match parse_completion(&st.body) {
            Ok(c) => {
                text.extend_from_slice(c.reasoning.as_bytes());
                st.reasoning_len = c.reasoning.len();
                text.extend_from_slice(c.content.as_bytes());
                rec.usage = c.usage;
                // A non-streaming response has no token timing: TTFT, ITL and
                // the other streaming metrics do not apply (as in AIPerf).
            }
            Err(msg) => {
                rec.error = Some(RequestError {
                    kind: ErrorKind::InvalidResponse,
                    code: Some(head.status),
                    message: msg,
                })
            }
        }
    }
    st.text = text;
    if head.keep_alive && !matches!(head.framing, BodyFraming::UntilClose) {
        Outcome::KeepAlive
    } else {
        Outcome::Close
    }
}

fn io_kind(e: &std::io::Error) -> ErrorKind {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
            ErrorKind::ConnectionClosed
        }
        _ => ErrorKind::Io,
    }
}

/// The message of an OpenAI-style error body, or the raw body (trimmed).
fn error_message(body: &str, status: u16) -> String {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        if let Some(m) = v
            .get("error")
            .and_then(|e| e.get("message").or(Some(e)))
            .and_then(|m| m.as_str())
            .or_else(|| v.get("message").and_then(|m| m.as_str()))
            .or_else(|| v.get("detail").and_then(|m| m.as_str()))
        {
            return format!("HTTP {status}: {m}");
        }
    }
    let trimmed = body.trim();
    if trimmed.is_empty() {
        format!("HTTP {status}")
    } else {
        format!(
            "HTTP {status}: {}",
            trimmed.chars().take(300).collect::<String>()
        )
    }
}
