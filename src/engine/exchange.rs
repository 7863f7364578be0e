//! One request/response exchange on an open connection: write the prepared
//! bytes, read into the connection's reused buffer, stamp the clock right after
//! each read completes, parse the head, de-chunk, split SSE events in place and
//! fill the request's record.
//!
//! Must not: allocate per event, take locks, touch atomics, or parse more of an
//! event than it takes to classify it. Generated text is appended to the
//! connection's text buffer (amortised growth, no per-event allocation); the
//! worker hands it to the collector once per request.

use super::stream::{Stream, TimedRead};
use crate::config::EndpointType;
use crate::http::chunked::ChunkedDecoder;
use crate::http::response::{parse_response_head, BodyFraming, ResponseHead, MAX_HEAD_BYTES};
use crate::http::sse::{SseSplitter, MAX_EVENT_BYTES};
use crate::openai::{parse_completion, parse_transcription, ChunkShape, StreamChunk};
use crate::record::{
    ErrorKind, RawKind, RawResponse, RequestError, RequestRecord, MAX_TOKEN_TIMES,
};
use crate::sys::clock::{now_ns, Nanos};

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
    body: BodyReader,
    /// Generated text (reasoning + content) of the current request; the
    /// worker hands it to the collector once the request ends.
    pub text: Vec<u8>,
    /// Leading bytes of `text` that are reasoning (sent before any content).
    pub reasoning_len: usize,
    /// The current response as received, when the raw export is on (None:
    /// nothing is copied).
    pub raw: Option<RawResponse>,
    /// Arrival times of the current request's token events; the worker
    /// copies them into the record once the request ends.
    pub token_ns: Vec<Nanos>,
    /// The API the connection's responses speak.
    pub endpoint: EndpointType,
    /// The current request's kernel-stamped reads: completion minus stamp
    /// (the worker folds them into its histogram once the request ends).
    pub wake_lag_ns: Vec<Nanos>,
    /// Streamed text is kept (a tokenizer will count it); without one,
    /// events are only classified and their text is not copied.
    pub collect_text: bool,
    /// The shape of the last token chunk read here: the next ones are read
    /// by comparing it (see [`ChunkShape`]).
    shape: ChunkShape,
}

impl Default for ConnState {
    fn default() -> Self {
        ConnState {
            read_buf: Vec::with_capacity(READ_BUF_BYTES),
            body: BodyReader {
                chunked: ChunkedDecoder::new(),
                sse: SseSplitter::new(),
                buffered: Vec::new(),
                framing: BodyFraming::UntilClose,
                streaming: false,
            },
            text: Vec::new(),
            reasoning_len: 0,
            raw: None,
            token_ns: Vec::new(),
            endpoint: EndpointType::Chat,
            wake_lag_ns: Vec::new(),
            shape: ChunkShape::default(),
            collect_text: true,
        }
    }
}

impl ConnState {
    /// A fresh connection's state for responses of `endpoint`;
    /// `collect_text`: keep the streamed text for a tokenizer.
    pub fn for_endpoint(endpoint: EndpointType, collect_text: bool) -> Self {
        ConnState {
            endpoint,
            collect_text,
            ..ConnState::default()
        }
    }

    /// Forgets the previous exchange (keeping the buffers' capacity) before
    /// the next request is written.
    fn begin(&mut self) {
        self.read_buf.clear();
        self.text.clear();
        self.reasoning_len = 0;
        self.token_ns.clear();
        self.wake_lag_ns.clear();
    }
}

/// How an exchange ended, for the connection owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The response was complete and the connection can carry the next request.
    KeepAlive,
    /// The response ended (or failed); the connection must be closed.
    Close,
}

/// What the stream said about tokens, collected while events arrive.
struct EventSink<'r, 't> {
    rec: &'r mut RequestRecord,
    /// The request's generated text so far.
    text: &'t mut Vec<u8>,
    /// Arrival times of the token events so far.
    token_ns: &'t mut Vec<Nanos>,
    now: Nanos,
    saw_done: bool,
    events: u64,
    /// Bytes of `text` that are reasoning sent before any content.
    reasoning_len: usize,
    /// The text passed [`MAX_STREAMED_TEXT`]: the exchange fails.
    text_overflow: bool,
    /// Each event's data, when the raw export is on.
    raw: Option<&'t mut RawResponse>,
    /// Append the events' text to `text` (see `ConnState::collect_text`).
    collect_text: bool,
    shape: &'t mut ChunkShape,
}

impl EventSink<'_, '_> {
    fn on_event(&mut self, data: &[u8]) {
        // `[DONE]` ends the stream: anything after it is not part of the answer.
        if self.saw_done {
            return;
        }
        if let Some(raw) = self.raw.as_deref_mut() {
            raw.push(self.now, RawKind::SseData, data);
        }
        self.events += 1;
        match self.shape.classify(data) {
            StreamChunk::Done => self.saw_done = true,
            StreamChunk::TranscriptDone(usage) => {
                self.saw_done = true;
                if usage.is_some() {
                    self.rec.usage = usage;
                }
            }
            StreamChunk::Delta(delta) => {
                let reasoning = delta.reasoning.as_deref().filter(|s| !s.is_empty());
                let content = delta.content.as_deref().filter(|s| !s.is_empty());
                let size = reasoning.map_or(0, str::len) + content.map_or(0, str::len);
                if self.collect_text && self.text.len() + size > MAX_STREAMED_TEXT {
                    self.text_overflow = true;
                    return;
                }
                if reasoning.is_some() || content.is_some() {
                    let r = &mut *self.rec;
                    let before_content = r.first_output_ns.is_none();
                    r.token_events += 1;
                    if self.token_ns.len() < MAX_TOKEN_TIMES {
                        self.token_ns.push(self.now);
                    }
                    match r.token_events {
                        1 => r.first_token_ns = Some(self.now),
                        2 => r.second_token_ns = Some(self.now),
                        _ => {}
                    }
                    if content.is_some() && r.first_output_ns.is_none() {
                        r.first_output_ns = Some(self.now);
                    }
                    r.last_token_ns = Some(self.now);
                    // Without a tokenizer the text is counted, not copied.
                    if self.collect_text {
                        if let Some(t) = reasoning {
                            self.text.extend_from_slice(t.as_bytes());
                            if before_content {
                                self.reasoning_len = self.text.len();
                            }
                        }
                        if let Some(t) = content {
                            self.text.extend_from_slice(t.as_bytes());
                        }
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

/// The exchange failed: the record holds the error (and its end time), and
/// the connection must be closed.
struct Failed;

impl From<Failed> for Outcome {
    fn from(_: Failed) -> Outcome {
        Outcome::Close
    }
}

fn text_too_large(rec: &mut RequestRecord) -> Failed {
    fail(
        rec,
        ErrorKind::MalformedBody,
        format!("streamed text larger than {MAX_STREAMED_TEXT} bytes"),
    )
}

/// Ends `rec` now with this error, unless it already holds one.
fn fail(rec: &mut RequestRecord, kind: ErrorKind, message: String) -> Failed {
    rec.end_ns = now_ns();
    if rec.error.is_none() {
        rec.error = Some(RequestError {
            kind,
            code: rec.status,
            message,
        });
    }
    Failed
}

/// Reads once, appending to `read_buf`. Returns the byte count (0 bytes =
/// the peer closed) and when the bytes arrived: the kernel's receive stamp
/// of the newest segment the read consumed, or the read's completion time.
/// Every event in the read is given that time. It is never earlier than
/// any of the read's bytes arrived, and never later than the read's
/// completion; when the client keeps up, a read consumes only what arrived
/// since the last one, so the stamp is the event's own.
async fn read_more<S: TimedRead>(
    stream: &mut S,
    read_buf: &mut Vec<u8>,
    wake_lag_ns: &mut Vec<Nanos>,
) -> std::io::Result<(usize, Nanos)> {
    let (n, arrival) = stream.read_timed(read_buf).await?;
    if let Some(lag) = arrival.wake_lag {
        if wake_lag_ns.len() < MAX_TOKEN_TIMES {
            wake_lag_ns.push(lag);
        }
    }
    Ok((n, arrival.at))
}

/// Writes the prepared request (its segments in order); `rec.start_ns` is
/// stamped just before the write. Returns when the first bytes were handed
/// to the kernel. On failure the record is complete (error set) and the
/// connection must be closed.
pub async fn send_request(
    stream: &mut Stream,
    st: &mut ConnState,
    request: &[&'static [u8]],
    rec: &mut RequestRecord,
) -> Result<Nanos, Outcome> {
    st.begin();
    rec.send_ns = now_ns();
    rec.start_ns = rec.send_ns;
    match stream.write_segments(request).await {
        Ok(sent) => {
            rec.sent_ns = now_ns();
            rec.send_writes += sent.calls;
            Ok(sent.first_byte_ns)
        }
        Err(e) => Err(fail(rec, io_kind(&e), format!("write failed: {e}")).into()),
    }
}

/// Reads the whole response to a request sent by `send_request`, filling `rec`.
pub async fn read_response<S: TimedRead>(
    stream: &mut S,
    st: &mut ConnState,
    rec: &mut RequestRecord,
    bytes_read: &mut u64,
    events: &mut u64,
) -> Outcome {
    let (head, head_read_ns) = match read_head(
        stream,
        &mut st.read_buf,
        &mut st.wake_lag_ns,
        rec,
        bytes_read,
    )
    .await
    {
        Ok(h) => h,
        Err(f) => return f.into(),
    };
    rec.status = Some(head.status);
    let ok_status = (200..300).contains(&head.status);
    let streaming = ok_status && head.event_stream;
    st.body.start(&head, streaming);

    let mut text = std::mem::take(&mut st.text);
    let mut raw = st.raw.take();
    let mut token_ns = std::mem::take(&mut st.token_ns);
    let mut sink = EventSink {
        rec,
        text: &mut text,
        token_ns: &mut token_ns,
        now: head_read_ns,
        saw_done: false,
        reasoning_len: 0,
        events: 0,
        text_overflow: false,
        raw: raw.as_mut(),
        collect_text: st.collect_text,
        shape: &mut st.shape,
    };
    let body = read_body(
        stream,
        &mut st.read_buf,
        &mut st.wake_lag_ns,
        &mut st.body,
        head.head_len,
        &mut sink,
        bytes_read,
    );
    let body = body.await;
    if let (Some(r), false) = (sink.raw.as_deref_mut(), streaming) {
        r.push(sink.now, RawKind::Body, &st.body.buffered);
    }
    let EventSink {
        rec,
        now: end,
        saw_done,
        events: n,
        reasoning_len,
        ..
    } = sink;
    st.token_ns = token_ns;
    st.raw = raw;
    if let Err(f) = body {
        return f.into();
    }
    rec.end_ns = end;
    *events += n;
    st.reasoning_len = reasoning_len;

    if !ok_status {
        rec.error = Some(status_error(&st.body.buffered, head.status));
    } else if streaming {
        if !saw_done && rec.error.is_none() {
            rec.error = Some(RequestError {
                kind: ErrorKind::StreamError,
                code: None,
                message: "stream ended without [DONE]".into(),
            });
        }
    } else {
        read_completion(
            st.endpoint,
            &st.body.buffered,
            head.status,
            rec,
            &mut text,
            &mut st.reasoning_len,
        );
    }
    st.text = text;
    if head.keep_alive && !matches!(head.framing, BodyFraming::UntilClose) {
        Outcome::KeepAlive
    } else {
        Outcome::Close
    }
}

/// Reads until the buffer starts with a complete response head; the head and
/// the time of the read that completed it (body bytes that came with the head
/// arrived then too). Stamps `rec.ack_ns` at the first read.
async fn read_head<S: TimedRead>(
    stream: &mut S,
    read_buf: &mut Vec<u8>,
    wake_lag_ns: &mut Vec<Nanos>,
    rec: &mut RequestRecord,
    bytes_read: &mut u64,
) -> Result<(ResponseHead, Nanos), Failed> {
    loop {
        let (n, now) = match read_more(stream, read_buf, wake_lag_ns).await {
            Ok(x) => x,
            Err(e) => {
                return Err(fail(
                    rec,
                    io_kind(&e),
                    format!("read failed before response head: {e}"),
                ))
            }
        };
        if n == 0 {
            return Err(fail(
                rec,
                ErrorKind::ConnectionClosed,
                "connection closed before response head".into(),
            ));
        }
        *bytes_read += n as u64;
        rec.recv_reads += 1;
        if rec.ack_ns.is_none() {
            rec.ack_ns = Some(now);
        }
        match parse_response_head(read_buf) {
            Ok(Some(h)) => return Ok((h, now)),
            Ok(None) => {
                if read_buf.len() == read_buf.capacity() {
                    let grow = read_buf.capacity().min(MAX_HEAD_BYTES);
                    read_buf.reserve(grow);
                }
            }
            Err(e) => return Err(fail(rec, ErrorKind::MalformedHead, e.to_string())),
        }
    }
}

/// Reads the body to its end, starting with the bytes after the head
/// (`read_buf[head_len..]`); `sink.now` is the time of the latest read.
async fn read_body<S: TimedRead>(
    stream: &mut S,
    read_buf: &mut Vec<u8>,
    wake_lag_ns: &mut Vec<Nanos>,
    body: &mut BodyReader,
    head_len: usize,
    sink: &mut EventSink<'_, '_>,
    bytes_read: &mut u64,
) -> Result<(), Failed> {
    let mut offset = head_len;
    loop {
        if body.feed(&read_buf[offset..], sink)? {
            return Ok(());
        }
        // The next read starts at the front of the reused buffer.
        read_buf.clear();
        offset = 0;
        match read_more(stream, read_buf, wake_lag_ns).await {
            Ok((0, t)) => {
                sink.now = t;
                if let BodyFraming::UntilClose = body.framing {
                    // The close ends the body, and the last event even
                    // without its blank line.
                    return body.end_events(sink);
                }
                let msg = match body.framing {
                    BodyFraming::ContentLength(n) => {
                        format!("connection closed with {n} body bytes missing")
                    }
                    _ => "connection closed mid-body (chunked stream not terminated)".into(),
                };
                return Err(fail(sink.rec, ErrorKind::ConnectionClosed, msg));
            }
            Ok((n, t)) => {
                *bytes_read += n as u64;
                sink.rec.recv_reads += 1;
                sink.now = t;
            }
            Err(e) => {
                return Err(fail(
                    sink.rec,
                    io_kind(&e),
                    format!("read failed mid-body: {e}"),
                ))
            }
        }
    }
}

/// The current response's body: its framing, and where its bytes go.
struct BodyReader {
    chunked: ChunkedDecoder,
    sse: SseSplitter,
    /// Body bytes kept for non-streaming responses and error bodies.
    buffered: Vec<u8>,
    /// `ContentLength(n)`: `n` body bytes are still to come.
    framing: BodyFraming,
    /// The body is an event stream (2xx `text/event-stream`).
    streaming: bool,
}

impl BodyReader {
    /// Starts the body of `head`, keeping the buffers' capacity.
    fn start(&mut self, head: &ResponseHead, streaming: bool) {
        self.buffered.clear();
        self.sse.reset();
        self.chunked.reset();
        self.framing = head.framing;
        self.streaming = streaming;
    }

    /// Feeds one read's body bytes through the framing layer into the SSE
    /// splitter (streaming) or the body buffer. `Ok(true)` once the body is
    /// complete (its last event handed to `sink`).
    fn feed(&mut self, input: &[u8], sink: &mut EventSink<'_, '_>) -> Result<bool, Failed> {
        let streaming = self.streaming;
        let sse = &mut self.sse;
        let buffered = &mut self.buffered;
        let mut overflow = false;
        let mut deliver = |data: &[u8]| {
            sink.rec.body_bytes_received += data.len() as u64;
            if streaming {
                sse.feed(data, |ev| sink.on_event(ev));
            } else if buffered.len() + data.len() <= MAX_BUFFERED_BODY {
                buffered.extend_from_slice(data);
            } else {
                overflow = true;
            }
        };
        let complete = match &mut self.framing {
            BodyFraming::Chunked => match self.chunked.decode(input, &mut deliver) {
                Ok(status) => status.done,
                Err(e) => return Err(fail(sink.rec, ErrorKind::MalformedBody, e.to_string())),
            },
            BodyFraming::ContentLength(left) => {
                let take = (input.len() as u64).min(*left) as usize;
                deliver(&input[..take]);
                *left -= take as u64;
                if *left == 0 && take < input.len() {
                    return Err(fail(
                        sink.rec,
                        ErrorKind::MalformedBody,
                        format!("{} bytes after the Content-Length body", input.len() - take),
                    ));
                }
                *left == 0
            }
            BodyFraming::UntilClose => {
                deliver(input);
                false
            }
        };
        if overflow {
            return Err(fail(
                sink.rec,
                ErrorKind::MalformedBody,
                format!("response body larger than {MAX_BUFFERED_BODY} bytes"),
            ));
        }
        if self.sse.overflowed() {
            return Err(fail(
                sink.rec,
                ErrorKind::MalformedBody,
                format!("SSE event larger than {MAX_EVENT_BYTES} bytes"),
            ));
        }
        if sink.text_overflow {
            return Err(text_too_large(sink.rec));
        }
        if complete {
            // The body's end ends the last event even without its blank line.
            self.end_events(sink)?;
        }
        Ok(complete)
    }

    /// The body ended: an event still open is complete.
    fn end_events(&mut self, sink: &mut EventSink<'_, '_>) -> Result<(), Failed> {
        if self.streaming {
            self.sse.finish(|ev| sink.on_event(ev));
            if sink.text_overflow {
                return Err(text_too_large(sink.rec));
            }
        }
        Ok(())
    }
}

/// The error of a non-2xx response, with the server's message when its body has one.
fn status_error(body: &[u8], status: u16) -> RequestError {
    let text = String::from_utf8_lossy(&body[..body.len().min(2048)]).into_owned();
    RequestError {
        kind: ErrorKind::HttpStatus,
        code: Some(status),
        message: error_message(&text, status),
    }
}

/// Reads a whole non-streaming 2xx body into `text` (reasoning first) and `rec`.
fn read_completion(
    endpoint: EndpointType,
    body: &[u8],
    status: u16,
    rec: &mut RequestRecord,
    text: &mut Vec<u8>,
    reasoning_len: &mut usize,
) {
    let parsed = match endpoint {
        EndpointType::Chat => parse_completion(body),
        EndpointType::AudioTranscription => parse_transcription(body),
    };
    match parsed {
        Ok(c) => {
            text.extend_from_slice(c.reasoning.as_bytes());
            *reasoning_len = c.reasoning.len();
            text.extend_from_slice(c.content.as_bytes());
            rec.usage = c.usage;
            // A non-streaming response has no token timing: TTFT, ITL and
            // the other streaming metrics do not apply (as in AIPerf).
        }
        Err(msg) => {
            rec.error = Some(RequestError {
                kind: ErrorKind::InvalidResponse,
                code: Some(status),
                message: msg,
            })
        }
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

#[cfg(test)]
mod tests;
