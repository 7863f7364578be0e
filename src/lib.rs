//! audioperf: a low-overhead load generator for audio language models served
//! behind OpenAI-compatible chat completions APIs.
//!
//! The stages, in the order data flows through them:
//! `cli` → `config` → `dataset` → `engine` (workers) → `collect` (while the
//! run goes: tokens, `metrics`, the JSONL) → `report`.
//! `http` holds the hand-rolled HTTP/1.1 and SSE parsers the engine uses,
//! `openai` reads the API's JSON out of the events they give, `mock`
//! the built-in OpenAI-compatible server, `record` the run's data model that
//! the engine produces and every later stage reads, and `sys` the clocks and the precise timer.

pub mod audio_file;
pub mod cli;
pub mod collect;
pub mod config;
pub mod dataset;
pub mod engine;
pub mod http;
pub mod merge;
pub mod metrics;
pub mod mock;
pub mod openai;
pub mod plot;
pub mod profile;
pub mod record;
pub mod report;
pub mod servermetrics;
pub mod sweep;
pub mod sys;
pub mod tls;
pub mod tokens;
