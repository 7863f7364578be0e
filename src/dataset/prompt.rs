//! Synthetic text prompts of a target token count, cut from a public-domain
//! corpus (Shakespeare, as AIPerf uses; `fixtures/corpus/`, embedded).
//!
//! Owns: drawing prompt lengths like AIPerf, and cutting a run of
//! corpus words at a random offset that the counter says is exactly the target
//! length. AIPerf slices its token-encoded corpus; we slice words and let the
//! counter decide, so plugging in the model's tokenizer makes counts exact.

use crate::tokens::TokenCounter;
use anyhow::{bail, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use std::collections::HashMap;
use std::sync::OnceLock;

/// The embedded corpus (public domain; see `fixtures/corpus/README.md`).
pub static CORPUS_TEXT: &str = include_str!("../../fixtures/corpus/shakespeare.txt");

/// The corpus as words: AIPerf joins the non-empty stripped lines with one
/// space, which is the same as splitting on whitespace. Split once per process.
fn corpus_words() -> &'static [&'static str] {
    static WORDS: OnceLock<Vec<&'static str>> = OnceLock::new();
    WORDS.get_or_init(|| CORPUS_TEXT.split_whitespace().collect())
}

/// AIPerf's `sample_positive_normal_integer`: `max(1, round(mean))` when
/// `stddev <= 0`, else `max(1, ceil(x))` with x ~ Normal(mean, stddev)
/// re-drawn until >= 0 (10,000 tries, then the mean).
pub fn sample_positive_normal_integer(rng: &mut StdRng, mean: f64, stddev: f64) -> u32 {
    if stddev <= 0.0 {
        return mean.round().max(1.0) as u32;
    }
    let mut x = mean.max(0.0);
    for _ in 0..10_000 {
        let z: f64 = rng.sample(StandardNormal);
        let draw = mean + stddev * z;
        if draw >= 0.0 {
            x = draw;
            break;
        }
    }
    // `as u32` saturates, so an absurd draw cannot wrap.
    x.ceil().max(1.0) as u32
}

/// Makes prompts. Lengths and corpus offsets come from two independent streams
/// (AIPerf's `dataset.prompt.length` and `dataset.prompt.corpus`).
pub struct PromptGenerator<'c> {
    counter: &'c dyn TokenCounter,
    words: &'static [&'static str],
    length_rng: StdRng,
    corpus_rng: StdRng,
    /// Token counts of single corpus words, keyed by (word, leads the prompt):
    /// a word inside a prompt is counted with the space before it.
    word_tokens: HashMap<(&'static str, bool), usize>,
}

impl<'c> PromptGenerator<'c> {
    /// `seeds` are the (length, corpus) stream seeds.
    pub fn new(counter: &'c dyn TokenCounter, seeds: [u64; 2]) -> Self {
        PromptGenerator {
            counter,
            words: corpus_words(),
            length_rng: StdRng::seed_from_u64(seeds[0]),
            corpus_rng: StdRng::seed_from_u64(seeds[1]),
            word_tokens: HashMap::new(),
        }
    }

    pub fn counter(&self) -> &dyn TokenCounter {
        self.counter
    }

    /// A prompt length in tokens: Normal(mean, stddev), at least 1. AIPerf
    /// truncates the stddev to an integer first; so do we.
    pub fn sample_num_tokens(&mut self, mean: u32, stddev: f64) -> u32 {
        sample_positive_normal_integer(&mut self.length_rng, mean as f64, stddev.trunc())
    }

    /// A run of corpus words, from a random offset (wrapping at the end), that
    /// the counter says is exactly `num_tokens` long.
    ///
    /// Most runs can be cut to the target; a few cannot, because a BPE
    /// tokenizer may count the last word's prefixes as, say, one token and
    /// then three. Then further runs are tried from fresh offsets; only if
    /// none of them fits (a counter that jumps by more than one token per
    /// character everywhere) is the closest length below the target kept.
    pub fn generate(&mut self, num_tokens: usize) -> Result<String> {
        const STARTS: usize = 32;
        if num_tokens == 0 {
            return Ok(String::new());
        }
        if self.words.is_empty() {
            bail!("the prompt corpus is empty");
        }
        let mut closest: Option<(usize, String)> = None;
        for _ in 0..STARTS {
            let start = self.corpus_rng.random_range(0..self.words.len());
            // The fast path, checked by one count of the whole prompt.
            if let Some(prompt) = self.run_by_word_counts(start, num_tokens) {
                if self.counter.count(&prompt) == num_tokens {
                    return Ok(prompt);
                }
            }
            let prompt = self.run_from(start, num_tokens);
            let n = self.counter.count(&prompt);
            if n == num_tokens {
                return Ok(prompt);
            }
            if n < num_tokens && closest.as_ref().is_none_or(|(best, _)| n > *best) {
                closest = Some((n, prompt));
            }
        }
        Ok(closest.map(|(_, p)| p).unwrap_or_default())
    }

    /// The run from `start` built by adding up the counts of single words
    /// (each counted once per process, with its leading space), the last word
    /// cut to the prefix that makes up the rest. Tokenizers whose
    /// pre-tokenizer splits at spaces (GPT-2 style BPE, Qwen, Llama 3) count a
    /// run as the sum of its words, so this needs no count of a long text;
    /// `None` when no prefix of the last word fits. The caller verifies.
    fn run_by_word_counts(&mut self, start: usize, target: usize) -> Option<String> {
        let mut prompt = String::new();
        let mut total = 0usize;
        // A counter that counts nothing would never reach the target.
        for i in 0..target.saturating_mul(64).saturating_add(self.words.len()) {
            let word = self.words[(start + i) % self.words.len()];
            let leads = i == 0;
            let counter = self.counter;
            let tokens = *self
                .word_tokens
                .entry((word, leads))
                .or_insert_with(|| counter.count(&with_space(word, leads)));
            if total + tokens < target {
                if !leads {
                    prompt.push(' ');
                }
                prompt.push_str(word);
                total += tokens;
                continue;
            }
            // This word reaches the target: all of it, or the longest prefix
            // that makes up the rest (AIPerf's token slices cut words too).
            let fits = |prefix: &str| total + counter.count(&with_space(prefix, leads)) == target;
            let cut = if total + tokens == target {
                Some(word)
            } else {
                word.char_indices()
                    .rev()
                    .skip(1)
                    .map(|(at, c)| &word[..at + c.len_utf8()])
                    .find(|prefix| fits(prefix))
            }?;
            if !leads {
                prompt.push(' ');
            }
            prompt.push_str(cut);
            return Some(prompt);
        }
        None
    }

    /// The words from `start` whose count reaches `target`, the last one cut
    /// to a prefix that makes the count exactly `target` where one does (else
    /// the longest prefix that stays below it).
    fn run_from(&self, start: usize, target: usize) -> String {
        let mut buf = String::new();
        // Gallop to a word count whose text reaches the target, then bisect for
        // the fewest words that do: O(log n) counts instead of one per word.
        // A counter that never reaches the target (it counts nothing) stops at
        // `cap` words rather than looping forever.
        let cap = target.saturating_mul(64).saturating_add(self.words.len());
        let mut lo = 0usize; // count(lo words) < target
        let mut hi = target; // a word is at least one token for any sane counter
        loop {
            if self.count_words(start, hi, &mut buf) >= target {
                break;
            }
            lo = hi;
            if hi >= cap {
                return buf;
            }
            hi = hi.saturating_mul(2).min(cap);
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.count_words(start, mid, &mut buf) >= target {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        if self.count_words(start, hi, &mut buf) == target {
            return buf;
        }

        // `hi` words overshoot: keep `hi - 1` words and a prefix of the last
        // word (AIPerf's token slices cut words too). Every prefix is tried:
        // BPE counts of growing prefixes need not grow one by one.
        let last = self.words[(start + hi - 1) % self.words.len()];
        self.join_words(start, hi - 1, &mut buf);
        if !buf.is_empty() {
            buf.push(' ');
        }
        let base_len = buf.len();
        let mut best = base_len;
        for (i, c) in last.char_indices() {
            let end = i + c.len_utf8();
            buf.truncate(base_len);
            buf.push_str(&last[..end]);
            let n = self.counter.count(&buf);
            if n == target {
                return buf;
            }
            if n < target {
                best = buf.len();
            }
        }
        buf.truncate(best);
        // No prefix fitted: drop the separator we added.
        if best == base_len {
            buf.truncate(buf.trim_end().len());
        }
        buf
    }

    fn join_words(&self, start: usize, n: usize, buf: &mut String) {
        buf.clear();
        for i in 0..n {
            if i > 0 {
                buf.push(' ');
            }
            buf.push_str(self.words[(start + i) % self.words.len()]);
        }
    }

    fn count_words(&self, start: usize, n: usize, buf: &mut String) -> usize {
        self.join_words(start, n, buf);
        self.counter.count(buf)
    }
}

/// `word` as it appears in a prompt: after a space unless it leads.
fn with_space(word: &str, leads: bool) -> std::borrow::Cow<'_, str> {
    if leads {
        word.into()
    } else {
        format!(" {word}").into()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::tokens::tests::Words;
    use crate::tokens::ApproxTokenCounter;

    #[test]
    fn prompts_hit_the_target_exactly() {
        let mut g = PromptGenerator::new(&ApproxTokenCounter, [1, 2]);
        for target in (1..40).chain([100, 127, 550, 1000, 4096]) {
            for _ in 0..5 {
                let p = g.generate(target).unwrap();
                assert_eq!(ApproxTokenCounter.count(&p), target, "{p:?}");
                assert_eq!(p, p.trim(), "no stray spaces");
            }
        }
        let mut w = PromptGenerator::new(&Words, [1, 2]);
        for target in [1, 7, 550] {
            let p = w.generate(target).unwrap();
            assert_eq!(p.split_whitespace().count(), target);
        }
        assert_eq!(g.generate(0).unwrap(), "");
    }

    /// Two tokens per word, whole words only: an odd target cannot be met
    /// from any start; the closest count below it is kept, not more.
    #[test]
    fn unreachable_targets_settle_just_below() {
        struct Pairs;
        impl TokenCounter for Pairs {
            fn count(&self, text: &str) -> usize {
                text.split_whitespace().filter(|w| w.len() > 1).count() * 2
            }
            fn name(&self) -> &str {
                "pairs"
            }
        }
        let mut g = PromptGenerator::new(&Pairs, [5, 6]);
        assert_eq!(Pairs.count(&g.generate(7).unwrap()), 6);
        assert_eq!(Pairs.count(&g.generate(8).unwrap()), 8);
    }

    /// Long prompts cost one count of the whole text, not a bisection's
    /// dozen: single words are counted once and added up, and the sum is
    /// checked once (the approximate counter, like Qwen's, is additive).
    #[test]
    fn long_prompts_are_counted_once() {
        struct Tally(std::sync::atomic::AtomicUsize);
        impl TokenCounter for Tally {
            fn count(&self, text: &str) -> usize {
                if text.len() > 64 {
                    self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                ApproxTokenCounter.count(text)
            }
            fn name(&self) -> &str {
                "tally"
            }
        }
        let tally = Tally(0.into());
        let mut g = PromptGenerator::new(&tally, [1, 2]);
        for target in [100, 550, 2000, 4096] {
            for _ in 0..10 {
                let p = g.generate(target).unwrap();
                assert_eq!(ApproxTokenCounter.count(&p), target);
            }
        }
        let long_counts = tally.0.into_inner();
        assert!(
            long_counts <= 45,
            "{long_counts} long counts for 40 prompts"
        );
    }

    #[test]
    fn prompts_are_runs_of_the_corpus() {
        let mut g = PromptGenerator::new(&Words, [3, 4]);
        let p = g.generate(12).unwrap();
        let words = corpus_words();
        let first: Vec<&str> = p.split(' ').collect();
        let found =
            (0..words.len()).any(|s| (0..12).all(|i| words[(s + i) % words.len()] == first[i]));
        assert!(found, "{p:?} is not a contiguous run of corpus words");
    }

    #[test]
    fn same_seeds_same_prompts_different_seeds_differ() {
        let run = |seeds| {
            let mut g = PromptGenerator::new(&ApproxTokenCounter, seeds);
            (0..5)
                .map(|_| {
                    let n = g.sample_num_tokens(200, 30.0);
                    g.generate(n as usize).unwrap()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run([1, 2]), run([1, 2]));
        assert_ne!(run([1, 2]), run([1, 3]));
        assert_ne!(run([1, 2]), run([9, 2]));
    }

    #[test]
    fn token_counts_follow_aiperf_sampling() {
        let mut g = PromptGenerator::new(&ApproxTokenCounter, [1, 2]);
        // No spread (or a spread below 1, which AIPerf truncates to 0): the mean.
        assert_eq!(g.sample_num_tokens(550, 0.0), 550);
        assert_eq!(g.sample_num_tokens(550, 0.9), 550);
        // Never below 1.
        let draws: Vec<u32> = (0..2000).map(|_| g.sample_num_tokens(2, 50.0)).collect();
        assert!(draws.iter().all(|&d| d >= 1));
        let draws: Vec<u32> = (0..20_000)
            .map(|_| g.sample_num_tokens(1000, 100.0))
            .collect();
        let mean = draws.iter().map(|&d| d as f64).sum::<f64>() / draws.len() as f64;
        let sd = (draws
            .iter()
            .map(|&d| (d as f64 - mean).powi(2))
            .sum::<f64>()
            / draws.len() as f64)
            .sqrt();
        // ceil() adds half a token on average.
        assert!((mean - 1000.5).abs() < 3.0, "mean {mean}");
        assert!((sd - 100.0).abs() < 3.0, "sd {sd}");
    }
}
