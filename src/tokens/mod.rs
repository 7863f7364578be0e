//! Per-request token counts (ISL, OSL, reasoning), resolved after the run.
//!
//! Owns where token counts come from: the server's `usage` object (default)
//! or any `TokenCounter` (e.g. the model's Hugging Face tokenizer), boxed in
//! `TokenSource::Counter`. `metrics` reads only `RequestTokens`, so sources
//! change nothing there. Nothing here runs while requests are in flight.

pub mod hf;
pub mod hub;

pub use hf::{load, HfTokenizer, TokenizerError};

use crate::record::{RequestRecord, RunOutput};

/// Counts the tokens of a text. Implementations must be deterministic, and
/// appending one character should add at most one token, so prompt building
/// can land exactly on a target.
pub trait TokenCounter: Send + Sync {
    fn count(&self, text: &str) -> usize;
    fn name(&self) -> &str;
}

/// An approximate BPE-like counter, used when no tokenizer is plugged in.
///
/// Text is split like a pre-tokenizer: runs of letters, runs of digits, and
/// single other non-space characters (punctuation) are pieces; whitespace
/// belongs to the next piece. A letter run of up to 6 letters is one token, a
/// longer one `1 + (len - 3) / 4` (7-10 letters: 2, 11-14: 3, ...), a digit run
/// one token per 3 digits, punctuation one token per character. On the
/// Shakespeare corpus this gives about 0.97 of the Qwen3 tokenizer's count
/// (66,082 vs 68,352 tokens; 1.14 vs 1.18 tokens per word).
#[derive(Clone, Copy, Debug, Default)]
pub struct ApproxTokenCounter;

impl ApproxTokenCounter {
    fn letter_run(len: usize) -> usize {
        if len <= 6 {
            1
        } else {
            1 + (len - 3) / 4
        }
    }

    fn digit_run(len: usize) -> usize {
        len.div_ceil(3)
    }
}

impl TokenCounter for ApproxTokenCounter {
    fn count(&self, text: &str) -> usize {
        #[derive(PartialEq)]
        enum Run {
            None,
            Letters,
            Digits,
        }
        let mut tokens = 0;
        let mut run = Run::None;
        let mut run_len = 0;
        let close = |run: &Run, len: usize| match run {
            Run::Letters => Self::letter_run(len),
            Run::Digits => Self::digit_run(len),
            Run::None => 0,
        };
        for c in text.chars() {
            let kind = if c.is_alphabetic() {
                Run::Letters
            } else if c.is_numeric() {
                Run::Digits
            } else {
                Run::None
            };
            if kind != Run::None && kind == run {
                run_len += 1;
                continue;
            }
            tokens += close(&run, run_len);
            run_len = 1;
            if kind == Run::None && !c.is_whitespace() {
                tokens += 1;
            }
            run = kind;
        }
        tokens + close(&run, run_len)
    }

    fn name(&self) -> &str {
        "approx-words"
    }
}

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
pub enum TokenSource {
    /// `usage.prompt_tokens` / `usage.completion_tokens` as the server sent them
    /// (the default when no tokenizer is given).
    ServerUsage,
    /// A tokenizer (AIPerf's default): ISL = count(prompt text of the dataset
    /// entry), OSL = count(generated reasoning + content), reasoning counted
    /// apart when the record locates it. Records without generated text fall
    /// back to their server usage.
    Counter(Box<dyn TokenCounter>),
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenSource({})", self.name())
    }
}

impl TokenSource {
    pub fn name(&self) -> &str {
        match self {
            TokenSource::ServerUsage => "server usage",
            TokenSource::Counter(c) => c.name(),
        }
    }

    /// Token counts for every record of the run, in record order.
    /// `prompts[dataset_index]` is the text of each dataset entry
    /// (`PreparedRequest::text`); the server source ignores it.
    pub fn resolve(&self, run: &RunOutput, prompts: &[&str]) -> Vec<RequestTokens> {
        match self {
            TokenSource::ServerUsage => from_server_usage(run),
            TokenSource::Counter(c) => from_counter(c.as_ref(), run, prompts),
        }
    }
}

/// Token counts from a tokenizer. Prompts are counted once per dataset entry
/// (entries are reused across requests); outputs once per record, spread over
/// the available cores since a real tokenizer costs microseconds per text.
pub fn from_counter(
    counter: &dyn TokenCounter,
    run: &RunOutput,
    prompts: &[&str],
) -> Vec<RequestTokens> {
    let isl: Vec<u64> = prompts.iter().map(|p| counter.count(p) as u64).collect();
    let one = |r: &RequestRecord| {
        let entry_isl = isl.get(r.dataset_index as usize).copied();
        count_one(counter, r, run.output_text(r), entry_isl)
    };
    let records = &run.records;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(records.len() / 256 + 1);
    if threads <= 1 {
        return records.iter().map(one).collect();
    }
    let chunk = records.len().div_ceil(threads);
    std::thread::scope(|s| {
        let parts: Vec<_> = records
            .chunks(chunk)
            .map(|part| {
                (
                    part.len(),
                    s.spawn(move || part.iter().map(one).collect::<Vec<_>>()),
                )
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|(len, h)| {
                // A counter that panics loses its chunk's counts (unknown,
                // still index-aligned), not the run.
                h.join()
                    .unwrap_or_else(|_| vec![RequestTokens::default(); len])
            })
            .collect()
    })
}

/// One record's counts: ISL is `entry_isl` (the counted prompt of its
/// dataset entry) when known, OSL by counting `out`, its generated text (reasoning
/// first, located by `RequestRecord::reasoning_text`). Where no text was
/// kept the server's usage is the best there is.
pub fn count_one(
    counter: &dyn TokenCounter,
    r: &RequestRecord,
    out: &[u8],
    entry_isl: Option<u64>,
) -> RequestTokens {
    let server = tokens_of(r);
    let isl = entry_isl.or(server.isl);
    if out.is_empty() {
        return RequestTokens { isl, ..server };
    }
    let text = String::from_utf8_lossy(out);
    let (osl, reasoning) = match reasoning_split(r, out.len()) {
        Some(cut) if text.is_char_boundary(cut) => {
            let (reason, content) = text.split_at(cut);
            let reasoning = counter.count(reason) as u64;
            (reasoning + counter.count(content) as u64, Some(reasoning))
        }
        _ => (counter.count(&text) as u64, None),
    };
    RequestTokens {
        isl,
        osl: Some(osl),
        reasoning,
    }
}

/// Where the reasoning ends inside the record's output text (reasoning
/// comes first). `reasoning_text` may index the worker's arena (starting
/// where `output_text` starts) or the request's own text (starting at 0).
/// None when the record does not locate any reasoning.
fn reasoning_split(r: &RequestRecord, out_len: usize) -> Option<usize> {
    let (o, rs) = (&r.output_text, &r.reasoning_text);
    if rs.is_empty() || (rs.start != o.start && rs.start != 0) {
        return None;
    }
    let cut = rs.end - rs.start;
    (cut <= out_len).then_some(cut)
}

/// Token counts from each record's server `usage` object.
///
/// `usage.completion_tokens` already includes reasoning tokens in the OpenAI
/// schema; AIPerf subtracts `reasoning_tokens` to get output tokens and adds
/// them back for OSL, so OSL is `completion_tokens` as sent.
pub fn from_server_usage(run: &RunOutput) -> Vec<RequestTokens> {
    run.records.iter().map(tokens_of).collect()
}

/// One record's counts from its server `usage` object.
pub fn tokens_of(r: &RequestRecord) -> RequestTokens {
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
pub(crate) mod tests {
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
        let t = TokenSource::ServerUsage.resolve(&run, &[]);
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

    /// One token per whitespace-separated word: a counter unlike the default,
    /// to show the builder relies only on the trait (also used by tokens' tests).
    pub(crate) struct Words;
    impl TokenCounter for Words {
        fn count(&self, text: &str) -> usize {
            text.split_whitespace().count()
        }
        fn name(&self) -> &str {
            "words"
        }
    }
    #[test]
    fn approx_counter_numbers() {
        let c = ApproxTokenCounter;
        assert_eq!(c.count(""), 0);
        assert_eq!(c.count("   \n"), 0);
        assert_eq!(c.count("Hello, world!"), 4);
        assert_eq!(c.count("thine"), 1);
        assert_eq!(c.count("abcdef"), 1);
        assert_eq!(c.count("abcdefg"), 2);
        assert_eq!(c.count("abcdefghij"), 2);
        assert_eq!(c.count("abcdefghijk"), 3);
        assert_eq!(c.count("internationalization"), 5); // 20 letters: 1 + 17 / 4
        assert_eq!(c.count("12345"), 2);
        assert_eq!(c.count("abc123"), 2);
        assert_eq!(c.count("don't"), 3);
        assert_eq!(c.name(), "approx-words");
    }

    #[test]
    fn approx_counter_grows_at_most_one_per_char() {
        let text = "Whereof what's past is prologue; 1234567 unsubstantial, pageant!";
        let mut prev = 0;
        for (i, ch) in text.char_indices() {
            let n = ApproxTokenCounter.count(&text[..i + ch.len_utf8()]);
            assert!(n == prev || n == prev + 1, "at {i}: {prev} -> {n}");
            prev = n;
        }
    }

    #[test]
    fn counter_counts_prompt_and_output_text() {
        let arena = b"think hard answer is forty two".to_vec();
        let usage = Some(Usage {
            prompt_tokens: Some(99),
            completion_tokens: Some(77),
            reasoning_tokens: None,
        });
        let records = vec![
            // Reasoning "think hard " located in the arena, then content.
            RequestRecord {
                dataset_index: 1,
                output_text: 0..30,
                reasoning_text: 0..11,
                usage,
                ..Default::default()
            },
            // No reasoning located: the whole output is counted as OSL.
            RequestRecord {
                dataset_index: 0,
                output_text: 11..30,
                usage,
                ..Default::default()
            },
            // No text kept: server usage, ISL still from the prompt text.
            RequestRecord {
                dataset_index: 0,
                usage,
                ..Default::default()
            },
            // Unknown dataset entry and no text: server usage for both.
            RequestRecord {
                dataset_index: 7,
                usage,
                ..Default::default()
            },
        ];
        let run = RunOutput {
            records,
            text_arenas: vec![arena],
            ..Default::default()
        };
        let source = TokenSource::Counter(Box::new(Words));
        assert_eq!(source.name(), "words");
        let t = source.resolve(&run, &["one two three", "Transcribe this audio now."]);
        assert_eq!(
            t,
            vec![
                RequestTokens {
                    isl: Some(4),
                    osl: Some(6),
                    reasoning: Some(2)
                },
                RequestTokens {
                    isl: Some(3),
                    osl: Some(4),
                    reasoning: None
                },
                RequestTokens {
                    isl: Some(3),
                    osl: Some(77),
                    reasoning: None
                },
                RequestTokens {
                    isl: Some(99),
                    osl: Some(77),
                    reasoning: None
                },
            ]
        );
        assert_eq!(t[0].output(), Some(4));
    }

    #[test]
    fn counter_spreads_many_records_in_order() {
        // Enough records to use several threads; each output has i % 5 words.
        let mut arena = Vec::new();
        let records: Vec<RequestRecord> = (0..3000u32)
            .map(|i| {
                let start = arena.len();
                for _ in 0..i % 5 {
                    arena.extend_from_slice(b"w ");
                }
                RequestRecord {
                    request_id: i as u64,
                    output_text: start..arena.len(),
                    usage: Some(Usage {
                        completion_tokens: Some(1_000),
                        ..Default::default()
                    }),
                    ..Default::default()
                }
            })
            .collect();
        let run = RunOutput {
            records,
            text_arenas: vec![arena],
            ..Default::default()
        };
        let t = from_counter(&Words, &run, &["a b"]);
        assert_eq!(t.len(), 3000);
        for (i, tok) in t.iter().enumerate() {
            let want = if i % 5 == 0 { 1_000 } else { (i % 5) as u64 };
            assert_eq!(tok.osl, Some(want), "record {i}");
            assert_eq!(tok.isl, Some(2));
        }
    }
}
