//! Dataset: every request body built up front, before the clock starts.
//!
//! Owns: synthetic audio (`audio`), synthetic text prompts (`prompt`) and the
//! serialization of each complete HTTP/1.1 request (`request`). The engine only
//! ever writes `PreparedRequest::http` as is: nothing here runs per send.

pub mod audio;
pub mod prompt;
pub mod request;

use crate::config::ProfileConfig;

/// One request ready to send: the complete HTTP/1.1 bytes (head + JSON body).
#[derive(Clone, Debug)]
pub struct PreparedRequest {
    /// Request line, headers (Host, Content-Type, Content-Length, auth, user
    /// headers) and the JSON body, serialized once.
    pub http: Vec<u8>,
    /// Offset of the JSON body inside `http`.
    pub body_offset: usize,
    /// The request's text parts joined with "\n" (for tokenizer-based ISL).
    pub text: String,
    /// Token count the synthetic prompt was built for, when known.
    pub text_tokens: Option<u32>,
    /// Total seconds of audio in this request (all parts).
    pub audio_seconds: f64,
    /// Value sent as max_completion_tokens / max_tokens, if any.
    pub max_tokens: Option<u32>,
}

impl PreparedRequest {
    /// The JSON body (what `inputs.json` shows as the payload).
    pub fn body(&self) -> &[u8] {
        &self.http[self.body_offset..]
    }
}

/// What it cost to build the dataset (reported in the log).
#[derive(Clone, Debug, Default)]
pub struct BuildStats {
    pub elapsed: std::time::Duration,
    pub body_bytes: u64,
}

#[derive(Debug)]
pub struct Dataset {
    pub requests: Vec<PreparedRequest>,
    pub stats: BuildStats,
}

/// Builds `cfg.num_dataset_entries` requests (seeded by `cfg.random_seed`).
pub fn build(cfg: &ProfileConfig) -> anyhow::Result<Dataset> {
    let _ = cfg;
    anyhow::bail!("dataset::build is not implemented yet")
}
