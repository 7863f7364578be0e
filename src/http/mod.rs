//! Hand-rolled HTTP/1.1 response parsing and SSE splitting for the engine.
//!
//! Everything here is pure (no I/O), resumable across reads, allocation-free per
//! event, and bounded: every size has an explicit limit.

pub mod chunked;
pub mod response;
pub mod sse;
