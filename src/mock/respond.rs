//! Answering a decoded chat-completions request: with what its fault puts in
//! place of a completion (an error status, a broken head, a reset, a wrong
//! Content-Length), or with the completion, streamed or whole, each token at
//! its absolute deadline `arrival + ttft + k * itl`, and cut, stalled or
//! reframed as its fault asks.

use super::fault::FaultMode;
use super::http::{self, Framing, EVENT_STREAM, JSON};
use super::openai::{self, unix_secs, ChatRequest, EventBuilder, TokenPlan};
use super::socket::{reset_on_close, send, wait_for_close, Io};
use super::writer::Writer;
use crate::sys::clock::{now_ns, ClockAnchor, Nanos};

/// Bytes of a head larger than any sane client accepts (100 KiB of headers).
const OVERSIZED_HEAD_BYTES: usize = 100 * 1024;
/// What `content-length-short` leaves out and `content-length-long` adds.
const SHORT_BY: usize = 64;
const LONG_BY: usize = 16;

/// Writes the response to `req`, which arrived at `arrival`; `close`: the
/// connection closes after it. Returns whether the connection may serve
/// another request.
pub(super) async fn answer<S: Io>(
    wr: &mut Writer<'_, S>,
    req: &ChatRequest,
    arrival: Nanos,
    close: bool,
) -> bool {
    let w = wr.w;
    let fault = wr.fault;
    let plan = TokenPlan::new(w.cfg.output_tokens, w.cfg.reasoning_tokens, req.max_tokens);
    if let Some((status, content_type, body)) = error_status(fault) {
        http::write_response(wr.out, status, content_type, &body, close);
        return send(wr.stream, wr.out).await && !close;
    }
    match fault {
        FaultMode::ResetBeforeHead => {
            reset_on_close(wr.fd);
            return false;
        }
        FaultMode::BadStatusLine | FaultMode::BadHeaderLine | FaultMode::OversizedHead => {
            broken_head(fault, wr.out);
            send(wr.stream, wr.out).await;
            return false;
        }
        FaultMode::ContentLengthShort | FaultMode::ContentLengthLong => {
            // A whole JSON completion even when a stream was asked for: the
            // framing is what is wrong, so it is written in one piece.
            let (content_type, body) = openai::whole_body(req, &w.next_id(), unix_secs(), &plan);
            let declared = if fault == FaultMode::ContentLengthShort {
                body.len() + SHORT_BY
            } else {
                body.len().saturating_sub(LONG_BY)
            };
            w.timer
                .sleep_until(w.token_due(arrival, plan.total().saturating_sub(1)))
                .await;
            http::write_head(wr.out, 200, content_type, Framing::Length(declared), close);
            wr.out.extend_from_slice(&body);
            send(wr.stream, wr.out).await;
            return false;
        }
        _ => {}
    }
    let c = Completion {
        req,
        plan,
        id: w.next_id(),
        created: unix_secs(),
        arrival,
        close,
    };
    let ok = if req.stream {
        stream_response(wr, &c).await
    } else {
        whole_response(wr, &c).await
    };
    ok && !close && !fault.closes()
}

/// The status, content type and body of the faults answered with an error.
fn error_status(fault: FaultMode) -> Option<(u16, &'static str, Vec<u8>)> {
    Some(match fault {
        FaultMode::Http429Json => (
            429,
            JSON,
            openai::error_body(
                429,
                "RateLimitError",
                "mock fault: rate limit exceeded, retry later",
            ),
        ),
        FaultMode::Http500Json => (
            500,
            JSON,
            openai::error_body(
                500,
                "InternalServerError",
                "mock fault: internal server error",
            ),
        ),
        FaultMode::Http500Text => (
            500,
            "text/plain; charset=utf-8",
            b"Internal Server Error".to_vec(),
        ),
        FaultMode::Http503Html => (
            503,
            "text/html",
            b"<html><body><h1>503 Service Unavailable</h1></body></html>".to_vec(),
        ),
        _ => return None,
    })
}

/// Appends the malformed response of `bad-status-line`, `bad-header-line` or
/// `oversized-head`.
fn broken_head(fault: FaultMode, out: &mut Vec<u8>) {
    match fault {
        FaultMode::BadStatusLine => out.extend_from_slice(
            b"HTTP/1.1 2OO OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}",
        ),
        FaultMode::BadHeaderLine => out.extend_from_slice(b"HTTP/1.1 200 OK\r\nserver: audioperf-mock\r\nthis header line has no colon\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"),
        _ => {
            out.extend_from_slice(b"HTTP/1.1 200 OK\r\nserver: audioperf-mock\r\n");
            // 25 headers of 4 KiB: few enough fields that only the size is wrong.
            let mut k = 0;
            while out.len() < OVERSIZED_HEAD_BYTES {
                out.extend_from_slice(format!("x-pad-{k}: ").as_bytes());
                out.resize(out.len() + 4096, b'a');
                out.extend_from_slice(b"\r\n");
                k += 1;
            }
            out.extend_from_slice(b"content-type: application/json\r\ncontent-length: 2\r\n\r\n{}");
        }
    }
}

/// One completion to send.
struct Completion<'a> {
    req: &'a ChatRequest,
    plan: TokenPlan,
    id: String,
    created: u64,
    /// When the request arrived: the tokens' deadlines count from it.
    arrival: Nanos,
    /// The head says `connection: close`.
    close: bool,
}

async fn stream_response<S: Io>(wr: &mut Writer<'_, S>, c: &Completion<'_>) -> bool {
    let (w, fault, req, plan, arrival) = (wr.w, wr.fault, c.req, &c.plan, c.arrival);
    let events = EventBuilder::for_api(
        &c.id,
        c.created,
        &req.model,
        req.api,
        w.cfg.transcription_stream,
    );
    let mut event = Vec::with_capacity(512);
    let mut scratch = Vec::with_capacity(512);
    let n = plan.total();
    // Like vLLM, the head and the role-only event leave together with the first
    // token (stall-after-head sends them at once instead, then nothing).
    if fault != FaultMode::StallAfterHead {
        w.timer.sleep_until(w.token_due(arrival, 0)).await;
    }
    if fault == FaultMode::UntilClose {
        http::write_head(wr.out, 200, EVENT_STREAM, Framing::UntilClose, c.close);
    } else {
        http::write_stream_head(wr.out, c.close);
    }
    events.role(&mut event);
    if !event.is_empty() {
        wr.event(&mut scratch, 0, &event);
    }
    if !wr.flush().await {
        return false;
    }
    if fault == FaultMode::StallAfterHead {
        wait_for_close(wr.stream).await;
        return false;
    }
    let half = n / 2;
    for k in 0..=n {
        if k == half {
            match fault {
                FaultMode::ResetMidStream | FaultMode::CloseMidStream => {
                    if fault == FaultMode::ResetMidStream {
                        reset_on_close(wr.fd);
                    }
                    return false;
                }
                FaultMode::StallMidStream => {
                    wait_for_close(wr.stream).await;
                    return false;
                }
                FaultMode::BadChunkSize => {
                    wr.out.extend_from_slice(b"zz\r\ndata: {}\n\n\r\n");
                    if wr.flush().await {
                        wait_for_close(wr.stream).await;
                    }
                    return false;
                }
                FaultMode::SseInvalidJson => {
                    wr.event(&mut scratch, k, b"data: this is not json\n\n");
                }
                FaultMode::SseErrorEvent => {
                    // What vLLM sends when generation fails mid-stream.
                    event.clear();
                    event.extend_from_slice(b"data: ");
                    event.extend_from_slice(&openai::error_body(
                        500,
                        "InternalServerError",
                        "mock fault: error mid-stream",
                    ));
                    event.extend_from_slice(b"\n\n");
                    wr.event(&mut scratch, k, &event);
                    wr.event(&mut scratch, k, openai::DONE_EVENT);
                    wr.last_chunk();
                    return wr.flush().await;
                }
                _ => {}
            }
        }
        if k == n {
            break;
        }
        let due = w.token_due(arrival, k);
        w.timer.sleep_until(due).await;
        event.clear();
        if k == 0 && w.cfg.timing_in_stream {
            let anchor = ClockAnchor::now();
            events.token_timed(
                &mut event,
                openai::word(k),
                k < plan.reasoning,
                anchor.wall_of(arrival),
                anchor.wall_ns,
            );
        } else {
            events.token(&mut event, openai::word(k), k < plan.reasoning);
        }
        wr.event(&mut scratch, k, &event);
        if k == 0 {
            let now = now_ns();
            w.stats.record_first_token_late(now.saturating_sub(due));
            w.stats.prometheus.observe_ttft(now.saturating_sub(arrival));
        }
        if !wr.flush().await {
            return false;
        }
        if k == 0 {
            w.stats
                .record_first_token_written(now_ns().saturating_sub(arrival));
        }
    }
    // The closing events are all due with the last token; one chunk per event.
    event.clear();
    events.finish(&mut event, req.prompt_tokens, plan);
    wr.event(&mut scratch, n, &event);
    if req.include_usage {
        event.clear();
        events.usage(&mut event, req.prompt_tokens, plan);
        if !event.is_empty() {
            wr.event(&mut scratch, n, &event);
        }
    }
    if !events.done().is_empty() {
        wr.event(&mut scratch, n, events.done());
    }
    wr.last_chunk();
    wr.flush().await
}

async fn whole_response<S: Io>(wr: &mut Writer<'_, S>, c: &Completion<'_>) -> bool {
    let (w, fault, req, plan) = (wr.w, wr.fault, c.req, &c.plan);
    let (content_type, body) = openai::whole_body(req, &c.id, c.created, plan);
    let chunked = matches!(
        fault,
        FaultMode::BadChunkSize | FaultMode::ChunkExtensions | FaultMode::SplitBytes
    );
    let framing = if chunked {
        Framing::Chunked
    } else if fault == FaultMode::UntilClose {
        Framing::UntilClose
    } else {
        Framing::Length(body.len())
    };
    http::write_head(wr.out, 200, content_type, framing, c.close);
    if fault == FaultMode::StallAfterHead {
        // Everything but the body: the head ends at the blank line.
        if wr.flush().await {
            wait_for_close(wr.stream).await;
        }
        return false;
    }
    w.timer
        .sleep_until(w.token_due(c.arrival, plan.total().saturating_sub(1)))
        .await;
    let (first, second) = body.split_at(body.len() / 2);
    match fault {
        FaultMode::ResetMidStream | FaultMode::CloseMidStream | FaultMode::StallMidStream => {
            wr.out.extend_from_slice(first);
            let sent = wr.flush().await;
            match fault {
                FaultMode::ResetMidStream => reset_on_close(wr.fd),
                FaultMode::StallMidStream if sent => wait_for_close(wr.stream).await,
                _ => {}
            }
            false
        }
        FaultMode::BadChunkSize => {
            wr.chunk(first);
            wr.out.extend_from_slice(b"zz\r\n");
            wr.out.extend_from_slice(second);
            if wr.flush().await {
                wait_for_close(wr.stream).await;
            }
            false
        }
        _ if chunked => {
            wr.chunk(first);
            wr.chunk(second);
            wr.last_chunk();
            wr.flush().await
        }
        _ => {
            wr.out.extend_from_slice(&body);
            wr.flush().await
        }
    }
}
