//! Hand-rolled HTTP/1.1 response parsing and SSE splitting for the engine.
//!
//! Everything here is pure (no I/O), resumable across reads, allocation-free per
//! event, and bounded: every size has an explicit limit. The engine's read loop:
//! [`response::parse_response_head`] on the growing read buffer until it gives a
//! head; then the body by its framing (chunked through
//! [`chunked::ChunkedDecoder`]); body bytes of an event stream go through
//! [`sse::SseSplitter`]. What the events say is read by `crate::openai`.

pub mod chunked;
pub mod response;
pub mod sse;

pub use chunked::{ChunkError, ChunkStatus, ChunkedDecoder};
pub use response::{parse_response_head, BodyFraming, HeadError, ResponseHead, MAX_HEAD_BYTES};
pub use sse::SseSplitter;
