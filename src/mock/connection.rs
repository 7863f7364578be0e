//! Serving one connection: read each request (its arrival, head, size limits,
//! `100 Continue`, body), hand it to the router, and go on with the next one
//! on a kept-alive connection (pipelined requests included).

use std::os::fd::RawFd;
use std::rc::Rc;

use super::http;
use super::openai::ApiError;
use super::route::{self, Request};
use super::socket::{read_more, send, Io, READ_CHUNK};
use super::worker::Worker;
use crate::sys::clock::now_ns;

/// Serves one connection; `fd` is its TCP socket (for the reset faults).
pub(super) async fn serve_connection(w: Rc<Worker>, mut stream: impl Io, fd: RawFd) {
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut out: Vec<u8> = Vec::with_capacity(4096);
    loop {
        // Token deadlines count from when the request's first bytes reached
        // this host, as a client's TTFT counts from when it starts sending
        // (see `sys::rx_stamp`). A pipelined request already here starts now.
        let arrival = if buf.is_empty() {
            match stream.read_first(&mut buf).await {
                Some(t) => t,
                None => return,
            }
        } else {
            now_ns()
        };
        let head = loop {
            match http::parse_head(&buf) {
                Ok(Some(h)) => break h,
                Ok(None) => {
                    if !read_more(&mut stream, &mut buf).await {
                        return;
                    }
                }
                Err(e) => {
                    let e = refusal(e.status, e.message);
                    route::reject(&w, &e, true, &mut stream, &mut out).await;
                    return;
                }
            }
        };
        if head.content_length > w.cfg.max_body_bytes {
            let msg = format!(
                "request body of {} bytes exceeds the limit of {} bytes",
                head.content_length, w.cfg.max_body_bytes
            );
            route::reject(&w, &refusal(413, msg), true, &mut stream, &mut out).await;
            return;
        }
        let need = head.head_len + head.content_length;
        if head.expect_continue && buf.len() < need {
            out.extend_from_slice(http::CONTINUE_100);
            if !send(&mut stream, &mut out).await {
                return;
            }
        }
        if buf.capacity() < need {
            buf.reserve(need - buf.len());
        }
        while buf.len() < need {
            if !read_more(&mut stream, &mut buf).await {
                return;
            }
        }
        // Let the other connections woken by the same batch of completions
        // stamp their arrival too before this one parses and validates its
        // body: under a burst, deadlines then start when requests arrived,
        // not after every earlier request's processing.
        YieldNow(false).await;
        let req = Request {
            head: &head,
            body: &buf[head.head_len..need],
            arrival,
        };
        let keep = route::handle(&w, &req, &mut stream, fd, &mut out).await;
        if !keep || !head.keep_alive {
            return;
        }
        buf.drain(..need);
        // Do not keep a huge audio body's buffer alive on an idle connection.
        if buf.capacity() > 1 << 20 && buf.len() < READ_CHUNK {
            buf.shrink_to(READ_CHUNK);
        }
    }
}

/// A request refused before it is routed (bad head, body too large).
fn refusal(status: u16, message: String) -> ApiError {
    ApiError {
        status,
        kind: "BadRequestError",
        message,
    }
}

/// Yields to the runtime once (the task is re-queued behind those already
/// woken).
struct YieldNow(bool);

impl std::future::Future for YieldNow {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}
