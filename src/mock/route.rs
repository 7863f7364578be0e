//! Routing one request: the chat completion or transcription (decoded,
//! counted, given its fault), health, models and the stats endpoints, 404
//! and 405 for the rest.

use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::atomic::Ordering;

use super::fault::FaultMode;
use super::http::{self, Method, RequestHead, JSON};
use super::openai::{self, unix_secs, ApiError};
use super::respond;
use super::socket::{send, Io};
use super::transcription;
use super::worker::Worker;
use super::writer::Writer;
use crate::sys::clock::Nanos;

/// The Prometheus text exposition format's content type.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A request read in full.
pub(super) struct Request<'a> {
    pub(super) head: &'a RequestHead,
    pub(super) body: &'a [u8],
    /// When it arrived (a pipelined one: when its turn came); the tokens'
    /// deadlines count from it.
    pub(super) arrival: Nanos,
}

/// Routes one request and writes its response into `out`, then to `stream`
/// (whose TCP socket is `fd`). Returns whether the connection may serve
/// another request.
pub(super) async fn handle(
    w: &Rc<Worker>,
    req: &Request<'_>,
    stream: &mut impl Io,
    fd: RawFd,
    out: &mut Vec<u8>,
) -> bool {
    let head = req.head;
    let path = head.path.split('?').next().unwrap_or("");
    let close = !head.keep_alive;
    match (head.method, path) {
        (Method::Post, "/v1/chat/completions") => return chat(w, req, stream, fd, out).await,
        (Method::Post, "/v1/audio/transcriptions") => return chat(w, req, stream, fd, out).await,
        (Method::Get, "/health") => http::write_response(out, 200, JSON, b"", close),
        (Method::Get, "/v1/models") => {
            let model = w.cfg.model.as_deref().unwrap_or("mock");
            http::write_response(
                out,
                200,
                JSON,
                &openai::models_body(model, unix_secs()),
                close,
            )
        }
        (Method::Get, "/metrics") => {
            w.stats.prometheus.scrapes.fetch_add(1, Ordering::Relaxed);
            let model = w.cfg.model.as_deref().unwrap_or("mock");
            let body = w.stats.prometheus.render(model);
            http::write_response(out, 200, PROMETHEUS_TEXT, body.as_bytes(), close)
        }
        (Method::Head, "/metrics") => {
            let model = w.cfg.model.as_deref().unwrap_or("mock");
            let len = w.stats.prometheus.render(model).len();
            http::write_head(out, 200, PROMETHEUS_TEXT, http::Framing::Length(len), close)
        }
        (Method::Get, "/v1/mock/stats") => {
            http::write_response(out, 200, JSON, w.stats.to_json().as_bytes(), close)
        }
        (Method::Delete, "/v1/mock/stats") => {
            w.stats.reset();
            http::write_response(out, 200, JSON, w.stats.to_json().as_bytes(), close)
        }
        (
            _,
            "/v1/chat/completions"
            | "/v1/audio/transcriptions"
            | "/health"
            | "/v1/models"
            | "/v1/mock/stats"
            | "/metrics",
        ) => {
            let body = openai::error_body(405, "MethodNotAllowed", "Method Not Allowed");
            http::write_response(out, 405, JSON, &body, close)
        }
        _ => {
            let body = openai::error_body(404, "NotFoundError", &format!("Not Found: {path}"));
            http::write_response(out, 404, JSON, &body, close)
        }
    }
    send(stream, out).await
}

/// Counts and decodes a chat-completions or transcription request, picks
/// its fault and answers it.
async fn chat(
    w: &Rc<Worker>,
    request: &Request<'_>,
    stream: &mut impl Io,
    fd: RawFd,
    out: &mut Vec<u8>,
) -> bool {
    let keep_alive = request.head.keep_alive;
    let stats = &w.stats;
    let nth = stats.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let path = request.head.path.split('?').next().unwrap_or("");
    let decoded = if path == "/v1/audio/transcriptions" {
        transcription::decode_transcription_request(
            request.head,
            request.body,
            w.cfg.model.as_deref(),
        )
    } else {
        openai::decode_chat_request(request.body, w.cfg.model.as_deref())
    };
    let req = match decoded {
        Ok(r) => r,
        Err(e) => return reject(w, &e, !keep_alive, stream, out).await,
    };
    if req.stream {
        stats.streaming.fetch_add(1, Ordering::Relaxed);
    }
    stats
        .audio_parts
        .fetch_add(req.audio_parts, Ordering::Relaxed);
    stats
        .audio_micros
        .fetch_add((req.audio_seconds * 1e6).round() as u64, Ordering::Relaxed);

    let fault = w.pick_fault(nth);
    let close = !keep_alive || fault == FaultMode::ConnectionClose;
    let prom = &stats.prometheus;
    let running = prom.start();
    let mut wr = Writer::new(w, stream, fd, out, fault);
    let ok = respond::answer(&mut wr, &req, request.arrival, close).await;
    drop(running);
    if (ok || close) && matches!(fault, FaultMode::None | FaultMode::ConnectionClose) {
        let plan =
            openai::TokenPlan::new(w.cfg.output_tokens, w.cfg.reasoning_tokens, req.max_tokens);
        prom.served(req.prompt_tokens, plan.total(), plan.finish_reason);
    }
    ok
}

/// Answers a refused request with its error (counted in `rejected`). Returns
/// whether the connection may serve another request.
pub(super) async fn reject(
    w: &Worker,
    e: &ApiError,
    close: bool,
    stream: &mut impl Io,
    out: &mut Vec<u8>,
) -> bool {
    w.stats.rejected.fetch_add(1, Ordering::Relaxed);
    http::write_response(out, e.status, JSON, &e.body(), close);
    send(stream, out).await && !close
}
