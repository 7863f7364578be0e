//! Per-request token counts (ISL, OSL, reasoning), resolved after the run.
//!
//! Owns where token counts come from. Today the only source is the server's
//! `usage` object; a tokenizer-based source can be added as another
//! `TokenSource` variant without touching `metrics` (it reads only
//! `RequestTokens`). Nothing here runs while requests are in flight.

use crate::engine::RunOutput;
use crate::record::RequestRecord;

/// Token counts of one request, index-aligned with `RunOutput::records`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestTokens {
    /// Input sequence length (prompt tokens).
    pub isl: Option<u64>,
    /// Output sequence length: every generated token, reasoning included
    /// (AIPerf: OSL = output tokens + reasoning tokens).
    pub osl: Option<u64>,
    /// Reasoning tokens, when the source can tell them apart.
    pub reasoning: Option<u64>,
}

impl RequestTokens {
    /// Non-reasoning output tokens (AIPerf's `output_token_count`).
    pub fn output(&self) -> Option<u64> {
        self.osl
            .map(|osl| osl.saturating_sub(self.reasoning.unwrap_or(0)))
    }
}

/// Where token counts come from; `name()` is what the run log prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenSource {
    /// `usage.prompt_tokens` / `usage.completion_tokens` as the server sent them.
    ServerUsage,
}

impl TokenSource {
    pub fn name(self) -> &'static str {
        match self {
            TokenSource::ServerUsage => "server usage",
        }
    }

    /// Token counts for every record of the run, in record order.
    pub fn resolve(self, run: &RunOutput) -> Vec<RequestTokens> {
        match self {
            TokenSource::ServerUsage => from_server_usage(run),
        }
    }
}

/// Token counts from each record's server `usage` object.
///
/// `usage.completion_tokens` already includes reasoning tokens in the OpenAI
/// schema; AIPerf subtracts `reasoning_tokens` to get output tokens and adds
/// them back for OSL, so OSL is `completion_tokens` as sent.
pub fn from_server_usage(run: &RunOutput) -> Vec<RequestTokens> {
    run.records.iter().map(tokens_of).collect()
}

fn tokens_of(r: &RequestRecord) -> RequestTokens {
    match r.usage {
        None => RequestTokens::default(),
        Some(u) => {
            let reasoning = u.reasoning_tokens;
            // A server may report more reasoning than completion tokens; clamp
            // (AIPerf clamps output tokens to 0 the same way) so OSL stays >= reasoning.
            let osl = u.completion_tokens.map(|c| c.max(reasoning.unwrap_or(0)));
            RequestTokens {
                isl: u.prompt_tokens,
                osl,
                reasoning,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Usage;

    fn rec(usage: Option<Usage>) -> RequestRecord {
        RequestRecord {
            usage,
            ..Default::default()
        }
    }

    #[test]
    fn server_usage_maps_prompt_and_completion() {
        let run = RunOutput {
            records: vec![
                rec(Some(Usage {
                    prompt_tokens: Some(12),
                    completion_tokens: Some(30),
                    reasoning_tokens: Some(10),
                })),
                rec(None),
                rec(Some(Usage {
                    prompt_tokens: Some(4),
                    completion_tokens: Some(2),
                    reasoning_tokens: Some(5),
                })),
            ],
            ..Default::default()
        };
        let t = TokenSource::ServerUsage.resolve(&run);
        assert_eq!(TokenSource::ServerUsage.name(), "server usage");
        assert_eq!(t.len(), 3);
        assert_eq!(
            t[0],
            RequestTokens {
                isl: Some(12),
                osl: Some(30),
                reasoning: Some(10)
            }
        );
        assert_eq!(t[0].output(), Some(20));
        assert_eq!(t[1], RequestTokens::default());
        assert_eq!(t[2].osl, Some(5));
        assert_eq!(t[2].output(), Some(0));
    }
}
