//! `read_response` on scripted in-memory streams: every way a response can be
//! cut into reads gives the same record, with each timestamp taken right
//! after the read that completed what it marks.

use super::*;
use crate::engine::stream::Arrival;
use crate::record::Usage;
use monoio::buf::{IoBufMut, IoVecBufMut};
use monoio::io::AsyncReadRent;
use monoio::BufResult;
use std::collections::VecDeque;

/// A stream that answers each read with the next scripted piece (then end of
/// stream), noting the time each read returned.
struct Scripted {
    pieces: VecDeque<Vec<u8>>,
    /// `now_ns()` as each read returned: the exchange's own stamp for read
    /// `k` lies between `returned[k]` and `returned[k + 1]`.
    returned: Vec<Nanos>,
}

impl Scripted {
    fn new(pieces: Vec<Vec<u8>>) -> Self {
        assert!(pieces.iter().all(|p| !p.is_empty()), "an empty read is EOF");
        Scripted {
            pieces: pieces.into(),
            returned: Vec::new(),
        }
    }
}

impl AsyncReadRent for Scripted {
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        let piece = self.pieces.pop_front().unwrap_or_default();
        let mut rest: &[u8] = &piece;
        let (res, buf) = rest.read(buf).await;
        assert!(rest.is_empty(), "pieces must fit the read buffer");
        self.returned.push(now_ns());
        (res, buf)
    }

    async fn readv<T: IoVecBufMut>(&mut self, _buf: T) -> BufResult<usize, T> {
        unreachable!("read_response reads with read")
    }
}

impl TimedRead for Scripted {
    async fn read_timed(&mut self, buf: &mut Vec<u8>) -> std::io::Result<(usize, Arrival)> {
        crate::engine::stream::read_user_stamped(self, buf).await
    }
}

/// What one exchange produced.
struct Got {
    outcome: Outcome,
    rec: RequestRecord,
    text: Vec<u8>,
    reasoning_len: usize,
    /// The connection's token event times after the exchange.
    token_ns: Vec<Nanos>,
    bytes: u64,
    events: u64,
    returned: Vec<Nanos>,
    /// Taken after `read_response` returned.
    after: Nanos,
    /// Scripted pieces never read.
    unread: usize,
}

impl Got {
    /// Asserts `stamp` was taken right after read `k` (before read `k + 1`).
    fn assert_after_read(&self, what: &str, stamp: Option<Nanos>, k: usize) {
        let stamp = stamp.unwrap_or_else(|| panic!("{what}: no stamp"));
        let lo = self.returned[k];
        let hi = self.returned.get(k + 1).copied().unwrap_or(self.after);
        assert!(
            (lo..=hi).contains(&stamp),
            "{what}: {stamp} not after read {k} ({lo}..={hi})"
        );
    }
}

/// Runs one `read_response` over `pieces` on `st`, reset as `send_request` does.
fn exchange(st: &mut ConnState, pieces: Vec<Vec<u8>>) -> Got {
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .build()
        .expect("legacy runtime");
    rt.block_on(async {
        let mut stream = Scripted::new(pieces);
        st.begin();
        let mut rec = RequestRecord::default();
        let (mut bytes, mut events) = (0, 0);
        let outcome = read_response(&mut stream, st, &mut rec, &mut bytes, &mut events).await;
        Got {
            outcome,
            rec,
            text: st.text.clone(),
            reasoning_len: st.reasoning_len,
            token_ns: st.token_ns.clone(),
            bytes,
            events,
            after: now_ns(),
            unread: stream.pieces.len(),
            returned: stream.returned,
        }
    })
}

/// A response on the wire, and where what it says ends.
struct Wire {
    bytes: Vec<u8>,
    /// Offset of the last byte of each SSE event (its blank line).
    event_ends: Vec<usize>,
    /// Body bytes once de-chunked.
    body_len: u64,
}

const HEAD_SSE_CHUNKED: &str = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\ntransfer-encoding: chunked\r\n\r\n";

/// A vLLM-style stream: role, reasoning, two content tokens (one escaped),
/// usage, [DONE].
const EVENTS: [&str; 6] = [
    r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
    r#"{"choices":[{"index":0,"delta":{"reasoning_content":"Let me think"},"finish_reason":null}]}"#,
    r#"{"choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}"#,
    r#"{"choices":[{"index":0,"delta":{"content":" \"world\""},"finish_reason":"stop"}]}"#,
    r#"{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"completion_tokens_details":{"reasoning_tokens":1}}}"#,
    "[DONE]",
];

const STREAM_TEXT: &[u8] = b"Let me thinkHello \"world\"";

/// The stream with each event in its own chunk (as uvicorn sends it).
fn sse_chunked() -> Wire {
    let mut bytes = HEAD_SSE_CHUNKED.as_bytes().to_vec();
    let mut event_ends = Vec::new();
    let mut body_len = 0;
    for e in EVENTS {
        let event = format!("data: {e}\n\n");
        body_len += event.len() as u64;
        bytes.extend_from_slice(format!("{:x}\r\n", event.len()).as_bytes());
        bytes.extend_from_slice(event.as_bytes());
        event_ends.push(bytes.len() - 1);
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(b"0\r\n\r\n");
    Wire {
        bytes,
        event_ends,
        body_len,
    }
}

/// The stream as one Content-Length body.
fn sse_content_length() -> Wire {
    let mut body = Vec::new();
    let mut ends = Vec::new();
    for e in EVENTS {
        body.extend_from_slice(format!("data: {e}\n\n").as_bytes());
        ends.push(body.len() - 1);
    }
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let mut bytes = head.clone().into_bytes();
    bytes.extend_from_slice(&body);
    Wire {
        bytes,
        event_ends: ends.iter().map(|e| e + head.len()).collect(),
        body_len: body.len() as u64,
    }
}

const COMPLETION: &str = r#"{"id":"c1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","reasoning_content":"hmm","content":"Hi there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2}}"#;

fn json_content_length() -> Wire {
    let mut bytes = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        COMPLETION.len()
    )
    .into_bytes();
    bytes.extend_from_slice(COMPLETION.as_bytes());
    Wire {
        bytes,
        event_ends: Vec::new(),
        body_len: COMPLETION.len() as u64,
    }
}

/// The completion in two chunks, the cut inside a string.
fn json_chunked() -> Wire {
    let (a, b) = COMPLETION.split_at(40);
    let mut bytes =
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
            .to_vec();
    for part in [a, b] {
        bytes.extend_from_slice(format!("{:x}\r\n{part}\r\n", part.len()).as_bytes());
    }
    bytes.extend_from_slice(b"0\r\n\r\n");
    Wire {
        bytes,
        event_ends: Vec::new(),
        body_len: COMPLETION.len() as u64,
    }
}

/// Index of the piece holding byte `at` when the wire is cut at `cuts`.
fn read_holding(cuts: &[usize], at: usize) -> usize {
    cuts.iter().filter(|&&c| c <= at).count()
}

fn cut(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut start = 0;
    for &c in cuts.iter().chain([bytes.len()].iter()) {
        out.push(bytes[start..c].to_vec());
        start = c;
    }
    out
}

/// Every cut of the wire into reads `cuts_of` gives: the streamed record
/// with each stamp after the read that completed its event.
fn check_stream(wire: &Wire, cuts_of: impl Iterator<Item = Vec<usize>>) {
    let mut st = ConnState::default();
    let mut cases = 0;
    for cuts in cuts_of {
        let got = exchange(&mut st, cut(&wire.bytes, &cuts));
        let ctx = format!("cuts {cuts:?}");
        assert_eq!(got.outcome, Outcome::KeepAlive, "{ctx}");
        let rec = &got.rec;
        assert_eq!(rec.error, None, "{ctx}");
        assert_eq!(rec.status, Some(200), "{ctx}");
        assert_eq!(got.text, STREAM_TEXT, "{ctx}");
        assert_eq!(got.reasoning_len, "Let me think".len(), "{ctx}");
        assert_eq!(rec.token_events, 3, "{ctx}");
        assert_eq!(
            rec.usage,
            Some(Usage {
                prompt_tokens: Some(12),
                completion_tokens: Some(3),
                reasoning_tokens: Some(1),
            }),
            "{ctx}"
        );
        assert_eq!(got.events, EVENTS.len() as u64, "{ctx}");
        assert_eq!(got.bytes, wire.bytes.len() as u64, "{ctx}");
        assert_eq!(got.returned.len(), cuts.len() + 1, "{ctx}: every read used");
        let at = |event: usize| read_holding(&cuts, wire.event_ends[event]);
        got.assert_after_read("ack", rec.ack_ns, 0);
        got.assert_after_read("first token", rec.first_token_ns, at(1));
        got.assert_after_read("second token", rec.second_token_ns, at(2));
        got.assert_after_read("first output", rec.first_output_ns, at(2));
        got.assert_after_read("last token", rec.last_token_ns, at(3));
        got.assert_after_read("end", Some(rec.end_ns), cuts.len());
        // What the HTTP trace metrics read: one count per read, the body
        // bytes once de-chunked, each token event's read time in order.
        assert_eq!(rec.recv_reads as usize, cuts.len() + 1, "{ctx}");
        assert_eq!(rec.body_bytes_received, wire.body_len, "{ctx}");
        let tokens = [rec.first_token_ns, rec.second_token_ns, rec.last_token_ns];
        assert_eq!(got.token_ns, tokens.map(Option::unwrap_or_default), "{ctx}");
        cases += 1;
    }
    assert!(cases > 0);
}

fn every_split_point(len: usize) -> impl Iterator<Item = Vec<usize>> {
    (1..len).map(|i| vec![i])
}

fn one_byte_per_read(len: usize) -> impl Iterator<Item = Vec<usize>> {
    std::iter::once((1..len).collect())
}

#[test]
fn sse_chunked_in_one_read() {
    let wire = sse_chunked();
    check_stream(&wire, std::iter::once(Vec::new()));
}

/// Without a tokenizer the text is not copied, and everything else the
/// stream says is read as before.
#[test]
fn without_text_collection_tokens_are_counted_and_no_text_kept() {
    let wire = sse_chunked();
    let mut st = ConnState::for_endpoint(EndpointType::Chat, false);
    let got = exchange(&mut st, vec![wire.bytes.clone()]);
    assert_eq!(got.outcome, Outcome::KeepAlive);
    assert_eq!(got.rec.error, None);
    assert!(got.text.is_empty());
    assert_eq!(got.reasoning_len, 0);
    assert_eq!(got.rec.token_events, 3);
    assert_eq!(got.token_ns.len(), 3);
    // One read: reasoning and content arrived together.
    assert!(got.rec.first_token_ns.is_some());
    assert_eq!(got.rec.first_token_ns, got.rec.first_output_ns);
    assert_eq!(got.rec.usage.and_then(|u| u.completion_tokens), Some(3));
}

#[test]
fn sse_chunked_split_at_every_index() {
    let wire = sse_chunked();
    check_stream(&wire, every_split_point(wire.bytes.len()));
}

#[test]
fn sse_chunked_one_byte_per_read() {
    let wire = sse_chunked();
    check_stream(&wire, one_byte_per_read(wire.bytes.len()));
}

#[test]
fn sse_content_length_every_split_and_one_byte_per_read() {
    let wire = sse_content_length();
    check_stream(&wire, std::iter::once(Vec::new()));
    check_stream(&wire, every_split_point(wire.bytes.len()));
    check_stream(&wire, one_byte_per_read(wire.bytes.len()));
}

/// Non-streaming JSON: the completion's text and usage, no token timing.
fn check_completion(wire: &Wire, cuts_of: impl Iterator<Item = Vec<usize>>) {
    let mut st = ConnState::default();
    for cuts in cuts_of {
        let got = exchange(&mut st, cut(&wire.bytes, &cuts));
        let ctx = format!("cuts {cuts:?}");
        let rec = &got.rec;
        assert_eq!(got.outcome, Outcome::KeepAlive, "{ctx}");
        assert_eq!(rec.error, None, "{ctx}");
        assert_eq!(rec.status, Some(200), "{ctx}");
        assert_eq!(got.text, b"hmmHi there", "{ctx}");
        assert_eq!(got.reasoning_len, 3, "{ctx}");
        assert_eq!(
            rec.usage,
            Some(Usage {
                prompt_tokens: Some(5),
                completion_tokens: Some(2),
                reasoning_tokens: None,
            }),
            "{ctx}"
        );
        assert_eq!(rec.token_events, 0, "{ctx}");
        assert_eq!(
            (
                rec.first_token_ns,
                rec.second_token_ns,
                rec.first_output_ns,
                rec.last_token_ns
            ),
            (None, None, None, None),
            "{ctx}"
        );
        assert_eq!(
            (got.events, got.bytes),
            (0, wire.bytes.len() as u64),
            "{ctx}"
        );
        got.assert_after_read("ack", rec.ack_ns, 0);
        got.assert_after_read("end", Some(rec.end_ns), cuts.len());
        assert_eq!(rec.recv_reads as usize, cuts.len() + 1, "{ctx}");
        assert_eq!(rec.body_bytes_received, wire.body_len, "{ctx}");
        assert!(got.token_ns.is_empty(), "{ctx}");
    }
}

#[test]
fn json_content_length_all_cuts() {
    let wire = json_content_length();
    check_completion(&wire, std::iter::once(Vec::new()));
    check_completion(&wire, every_split_point(wire.bytes.len()));
    check_completion(&wire, one_byte_per_read(wire.bytes.len()));
}

#[test]
fn json_chunked_all_cuts() {
    let wire = json_chunked();
    check_completion(&wire, std::iter::once(Vec::new()));
    check_completion(&wire, every_split_point(wire.bytes.len()));
    check_completion(&wire, one_byte_per_read(wire.bytes.len()));
}

/// The head over three reads, then the whole body: the ack is the first
/// read, every token the last.
#[test]
fn head_over_several_reads() {
    let wire = sse_chunked();
    let head_len = HEAD_SSE_CHUNKED.len();
    let cuts = vec![10, 40, head_len];
    let mut st = ConnState::default();
    let got = exchange(&mut st, cut(&wire.bytes, &cuts));
    assert_eq!(got.outcome, Outcome::KeepAlive);
    assert_eq!(got.text, STREAM_TEXT);
    assert_eq!(got.returned.len(), 4);
    got.assert_after_read("ack", got.rec.ack_ns, 0);
    got.assert_after_read("first token", got.rec.first_token_ns, 3);
    got.assert_after_read("end", Some(got.rec.end_ns), 3);
    // The ack is the first read, not the one completing the head.
    assert!(got.rec.ack_ns < Some(got.returned[2]));
}

/// Bytes after a chunked body in the same read (a pipelined or stray
/// response) are not part of this one: the connection stays usable and a
/// later read is never made.
#[test]
fn trailing_bytes_after_chunked_body_keep_alive() {
    let wire = sse_chunked();
    let mut first = wire.bytes.clone();
    first.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    let mut st = ConnState::default();
    let got = exchange(&mut st, vec![first.clone(), b"more".to_vec()]);
    assert_eq!(got.outcome, Outcome::KeepAlive);
    assert_eq!(got.rec.error, None);
    assert_eq!(got.text, STREAM_TEXT);
    assert_eq!(got.rec.token_events, 3);
    assert_eq!(got.bytes, first.len() as u64);
    assert_eq!((got.returned.len(), got.unread), (1, 1));

    // The same connection state then reads the next response cleanly.
    let got = exchange(&mut st, vec![json_content_length().bytes]);
    assert_eq!(got.outcome, Outcome::KeepAlive);
    assert_eq!(got.text, b"hmmHi there");
}

/// A Content-Length body is exact: a complete response leaves the next read
/// unmade, and bytes after it in the same read are a framing error.
#[test]
fn content_length_body_and_trailing_bytes() {
    let wire = json_content_length();
    let mut st = ConnState::default();
    let got = exchange(&mut st, vec![wire.bytes.clone(), b"next".to_vec()]);
    assert_eq!(got.outcome, Outcome::KeepAlive);
    assert_eq!(got.text, b"hmmHi there");
    assert_eq!((got.returned.len(), got.unread), (1, 1));

    let mut extra = wire.bytes.clone();
    extra.extend_from_slice(b"xyz");
    let got = exchange(&mut st, vec![extra]);
    assert_eq!(got.outcome, Outcome::Close);
    let err = got.rec.error.expect("trailing bytes are an error");
    assert_eq!(err.kind, ErrorKind::MalformedBody);
    assert_eq!(err.message, "3 bytes after the Content-Length body");
    assert_eq!(err.code, Some(200));
}

/// No length: the body (and its last event, without a blank line) ends at
/// the close, and the connection cannot be reused.
#[test]
fn until_close_stream_ends_at_eof() {
    let mut bytes = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n".to_vec();
    for e in &EVENTS[1..4] {
        bytes.extend_from_slice(format!("data: {e}\n\n").as_bytes());
    }
    bytes.extend_from_slice(b"data: [DONE]");
    for cuts in every_split_point(bytes.len()) {
        let mut st = ConnState::default();
        let got = exchange(&mut st, cut(&bytes, &cuts));
        assert_eq!(got.outcome, Outcome::Close, "{cuts:?}");
        assert_eq!(got.rec.error, None, "{cuts:?}");
        assert_eq!(got.text, STREAM_TEXT, "{cuts:?}");
        assert_eq!((got.rec.token_events, got.events), (3, 4), "{cuts:?}");
        // The end is the close: the read after the last piece.
        got.assert_after_read("end", Some(got.rec.end_ns), cuts.len() + 1);
    }
}

/// A close mid-body fails the request with what was missing.
#[test]
fn close_mid_body() {
    let wire = sse_chunked();
    let cut_at = wire.event_ends[2] + 1;
    let mut st = ConnState::default();
    let got = exchange(&mut st, vec![wire.bytes[..cut_at].to_vec()]);
    assert_eq!(got.outcome, Outcome::Close);
    let err = got.rec.error.expect("closed mid-body");
    assert_eq!(err.kind, ErrorKind::ConnectionClosed);
    assert_eq!(
        err.message,
        "connection closed mid-body (chunked stream not terminated)"
    );
    // The tokens seen before the close were stamped.
    assert_eq!(got.rec.token_events, 2);

    let wire = json_content_length();
    let short = wire.bytes.len() - 5;
    let got = exchange(&mut st, vec![wire.bytes[..short].to_vec()]);
    let err = got.rec.error.expect("closed mid-body");
    assert_eq!(err.kind, ErrorKind::ConnectionClosed);
    assert_eq!(err.message, "connection closed with 5 body bytes missing");

    let got = exchange(&mut st, vec![b"HTTP/1.1 200 OK\r\n".to_vec()]);
    let err = got.rec.error.expect("closed in the head");
    assert_eq!(err.kind, ErrorKind::ConnectionClosed);
    assert_eq!(err.message, "connection closed before response head");
    assert_eq!(got.rec.status, None);
}

/// A non-2xx answer keeps the server's message; the connection stays usable.
#[test]
fn error_status_with_json_body() {
    let body = r#"{"error":{"message":"model overloaded","type":"ServiceUnavailable"}}"#;
    let wire = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut st = ConnState::default();
    for cuts in every_split_point(wire.len()) {
        let got = exchange(&mut st, cut(wire.as_bytes(), &cuts));
        assert_eq!(got.outcome, Outcome::KeepAlive);
        assert_eq!(got.rec.status, Some(503));
        let err = got.rec.error.expect("503 is an error");
        assert_eq!(err.kind, ErrorKind::HttpStatus);
        assert_eq!(err.code, Some(503));
        assert_eq!(err.message, "HTTP 503: model overloaded");
        assert!(got.text.is_empty());
    }
}

/// A stream that ends without `[DONE]` is an error, its tokens still counted.
#[test]
fn stream_without_done() {
    let mut body = Vec::new();
    for e in &EVENTS[..5] {
        body.extend_from_slice(format!("data: {e}\n\n").as_bytes());
    }
    let mut wire = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    wire.extend_from_slice(&body);
    let mut st = ConnState::default();
    let got = exchange(&mut st, vec![wire]);
    assert_eq!(got.outcome, Outcome::KeepAlive);
    let err = got.rec.error.expect("no [DONE]");
    assert_eq!(err.kind, ErrorKind::StreamError);
    assert_eq!(err.message, "stream ended without [DONE]");
    assert_eq!(got.rec.token_events, 3);
    assert_eq!(got.text, STREAM_TEXT);
}
