//! Writing one response with the framing and SSE faults applied: per-byte
//! writes (`split-bytes`, `trickle`), per-byte chunks, chunk extensions and
//! trailers, an unframed body (`until-close`), and events dressed with
//! comments, extra fields or CRLF line ends.

use std::os::fd::RawFd;

use monoio::io::AsyncWriteRentExt;

use super::fault::FaultMode;
use super::http;
use super::socket::{send, Io};
use super::worker::Worker;
use crate::sys::clock::now_ns;

/// What a response is appended to and sent through.
pub(super) struct Writer<'a, S> {
    pub(super) w: &'a Worker,
    pub(super) stream: &'a mut S,
    /// The connection's TCP socket, for the reset faults.
    pub(super) fd: RawFd,
    /// Appended to, then sent by `flush`.
    pub(super) out: &'a mut Vec<u8>,
    pub(super) fault: FaultMode,
    /// The one-byte buffer of per-byte writes.
    one: Vec<u8>,
}

impl<'a, S: Io> Writer<'a, S> {
    pub(super) fn new(
        w: &'a Worker,
        stream: &'a mut S,
        fd: RawFd,
        out: &'a mut Vec<u8>,
        fault: FaultMode,
    ) -> Self {
        Writer {
            w,
            stream,
            fd,
            out,
            fault,
            one: Vec::with_capacity(1),
        }
    }

    /// Appends one chunk holding `payload`.
    pub(super) fn chunk(&mut self, payload: &[u8]) {
        match self.fault {
            FaultMode::SplitBytes => {
                for b in payload {
                    http::write_chunk(self.out, std::slice::from_ref(b));
                }
            }
            FaultMode::ChunkExtensions => {
                use std::io::Write;
                let _ = write!(
                    self.out,
                    "{:x};ext=1;name=\"quoted value\"\r\n",
                    payload.len()
                );
                self.out.extend_from_slice(payload);
                self.out.extend_from_slice(b"\r\n");
            }
            FaultMode::UntilClose => self.out.extend_from_slice(payload),
            _ => http::write_chunk(self.out, payload),
        }
    }

    /// Appends the last chunk (with extensions and trailers for `chunk-extensions`).
    pub(super) fn last_chunk(&mut self) {
        match self.fault {
            FaultMode::ChunkExtensions => self
                .out
                .extend_from_slice(b"0;final=1\r\nx-trailer: done\r\nx-other-trailer: 2\r\n\r\n"),
            // The close that follows ends the body.
            FaultMode::UntilClose => {}
            _ => self.out.extend_from_slice(http::LAST_CHUNK),
        }
    }

    /// Appends `event` (`data: ...\n\n`, the `k`th) as one chunk, dressed up
    /// as the SSE faults ask: comment lines, extra fields, CRLF line ends.
    /// `scratch` is a reusable buffer.
    pub(super) fn event(&mut self, scratch: &mut Vec<u8>, k: u64, event: &[u8]) {
        match self.fault {
            FaultMode::SseComments => {
                self.chunk(b": ping\n\n");
                scratch.clear();
                scratch.extend_from_slice(b": keep-alive comment inside the event\n");
                scratch.extend_from_slice(event);
                self.chunk(scratch);
            }
            FaultMode::SseFields => {
                scratch.clear();
                scratch.extend_from_slice(
                    format!("event: message\nid: {k}\nretry: 3000\n").as_bytes(),
                );
                scratch.extend_from_slice(event);
                self.chunk(scratch);
            }
            FaultMode::SseCrlf => {
                scratch.clear();
                for &b in event {
                    if b == b'\n' {
                        scratch.push(b'\r');
                    }
                    scratch.push(b);
                }
                self.chunk(scratch);
            }
            _ => self.chunk(event),
        }
    }

    /// Sends what was appended; false when the peer is gone.
    pub(super) async fn flush(&mut self) -> bool {
        if !matches!(self.fault, FaultMode::SplitBytes | FaultMode::Trickle) {
            return send(self.stream, self.out).await;
        }
        let bytes = std::mem::take(self.out);
        let mut ok = true;
        for &b in &bytes {
            if self.fault == FaultMode::Trickle {
                self.w
                    .timer
                    .sleep_until(now_ns() + self.w.cfg.trickle_ns)
                    .await;
            }
            let mut one = std::mem::take(&mut self.one);
            one.clear();
            one.push(b);
            let (res, one) = self.stream.write_all(one).await;
            self.one = one;
            if res.is_err() {
                ok = false;
                break;
            }
        }
        *self.out = bytes;
        self.out.clear();
        ok
    }
}
