//! The OpenAI chat completions API's JSON, as the engine reads it: what one
//! streamed event's data says ([`classify`] into a [`StreamChunk`]) and what a
//! whole non-streaming body says ([`parse_completion`] into a [`Completion`]).
//! Framing (HTTP, chunked, SSE) is `crate::http`'s; this module only reads the
//! payloads it hands out, allocation-free for common token chunks.

pub mod chunk;
pub mod chunk_scan;
pub mod types;

pub use chunk::{classify, classify_with_serde, parse_completion};
pub use types::{Completion, Delta, StreamChunk};
