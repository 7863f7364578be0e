//! The OpenAI chat completions and audio transcriptions APIs' responses, as
//! the engine reads them: what one streamed event's data says ([`classify`]
//! into a [`StreamChunk`]) and what a whole non-streaming body says
//! ([`parse_completion`], [`parse_transcription`] into a [`Completion`]).
//! Framing (HTTP, chunked, SSE) is `crate::http`'s; this module only reads the
//! payloads it hands out, allocation-free for common token chunks.

pub mod chunk;
pub mod chunk_scan;
pub mod shape;
pub mod types;

pub use chunk::{classify, classify_with_serde, parse_completion, parse_transcription};
pub use shape::ChunkShape;
pub use types::{Completion, Delta, StreamChunk};
