//! The fast path of [`super::chunk::classify`]: one strict pass over a common
//! chat-completion chunk, borrowing the strings it needs.
//!
//! serde_json into borrowed structs costs ~6,000 instructions per ~200-byte
//! chunk (it validates and moves every field of nested Option structs), and
//! at 50+ events per request it was most of the client's user-space time.
//! This scanner validates the whole event as JSON and reads only
//! `choices[0].delta.{content, reasoning_content, reasoning}` (escapes
//! decoded) and `choices[0].finish_reason`. It answers only when it is
//! certain serde_json would give the same result; for anything else
//! (`\u` surrogates, escaped keys, a non-null `usage`, error bodies,
//! duplicate fields, unusual types, deep nesting) it returns `None` and the
//! caller takes the serde_json path. A
//! differential property test and the SSE fuzz target hold it to that.
//! It also says where a chunk's one text lies ([`scan_common`]), for
//! [`super::shape::ChunkShape`].

use super::types::{Delta, StreamChunk};
use std::borrow::Cow;

/// Deeper than this, leave it to serde_json (whose own limit is 128).
const MAX_DEPTH: u32 = 64;

/// "Not certain": take the serde_json path.
struct Bail;

type Scan<T> = Result<T, Bail>;

/// `Some` only when serde_json's reading of `data` would be exactly this.
pub fn classify_common(data: &[u8]) -> Option<StreamChunk<'_>> {
    scan_common(data).map(|(chunk, _)| chunk)
}

/// Which field of a chunk's delta its one text came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TextField {
    Content,
    Reasoning,
}

/// Where a chunk's one text (its JSON string, quotes included) lies, when
/// the chunk is a text and nothing else that varies: exactly one of the
/// delta's text fields a string, no finish reason.
#[derive(Clone, Copy, Debug)]
pub(super) struct TextSpan {
    pub start: usize,
    pub end: usize,
    pub field: TextField,
}

/// [`classify_common`], with the span of the chunk's text when it has one.
pub(super) fn scan_common(data: &[u8]) -> Option<(StreamChunk<'_>, Option<TextSpan>)> {
    let text = std::str::from_utf8(data).ok()?;
    let mut sc = Scanner {
        text,
        s: data,
        i: 0,
        depth: 0,
    };
    let mut choices: Option<Choice<'_>> = None;
    let (mut saw_choices, mut saw_object, mut saw_usage) = (false, false, false);
    sc.object(|sc, key| match key {
        "choices" => {
            once(&mut saw_choices)?;
            if !sc.null()? {
                choices = Some(sc.choices()?);
            }
            Ok(())
        }
        "usage" => {
            once(&mut saw_usage)?;
            // Usage chunks are rare (the last one): serde_json reads them.
            if sc.null()? {
                Ok(())
            } else {
                Err(Bail)
            }
        }
        "object" => {
            once(&mut saw_object)?;
            if sc.null()? || sc.string()? != "error" {
                Ok(())
            } else {
                Err(Bail)
            }
        }
        // Error bodies and their parts.
        "error" | "message" | "type" => Err(Bail),
        _ => sc.skip_value(),
    })
    .ok()?;
    sc.ws();
    if sc.i != sc.s.len() {
        return None;
    }
    // Neither choices nor usage: serde_json's path names the problem.
    let choice = choices?;
    let span = match (choice.texts, &choice.finish_reason) {
        (1, None) => choice.span,
        _ => None,
    };
    let reasoning = match (choice.reasoning_content, choice.reasoning) {
        (Some(a), Some(b)) if a.is_empty() => Some(b),
        (Some(a), _) => Some(a),
        (None, b) => b,
    };
    let chunk = StreamChunk::Delta(Delta {
        content: choice.content,
        reasoning,
        usage: None,
        finish_reason: choice.finish_reason,
    });
    Some((chunk, span))
}

/// `bytes` as exactly one JSON string token, decoded as the scanner decodes
/// a text (None: anything else, or an escape left to serde_json).
pub(super) fn string_token(bytes: &[u8]) -> Option<Cow<'_, str>> {
    if bytes.first() != Some(&b'"') {
        return None;
    }
    let mut sc = Scanner {
        text: std::str::from_utf8(bytes).ok()?,
        s: bytes,
        i: 0,
        depth: 0,
    };
    let text = sc.text().ok()?;
    (sc.i == bytes.len()).then_some(text)
}

/// The fields of `choices[0]` (all `None` for an empty array).
#[derive(Default)]
struct Choice<'a> {
    content: Option<Cow<'a, str>>,
    reasoning_content: Option<Cow<'a, str>>,
    reasoning: Option<Cow<'a, str>>,
    finish_reason: Option<Cow<'a, str>>,
    /// How many of the three text fields were strings, and where the last one was.
    texts: u32,
    span: Option<TextSpan>,
}

/// serde's derived structs reject a field given twice.
fn once(seen: &mut bool) -> Scan<()> {
    if std::mem::replace(seen, true) {
        Err(Bail)
    } else {
        Ok(())
    }
}

struct Scanner<'a> {
    /// The input, known to be UTF-8 (string slices are cut at ASCII quotes).
    text: &'a str,
    s: &'a [u8],
    i: usize,
    depth: u32,
}

impl<'a> Scanner<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, b: u8) -> Scan<()> {
        if self.peek() == Some(b) {
            self.i += 1;
            Ok(())
        } else {
            Err(Bail)
        }
    }

    fn literal(&mut self, word: &[u8]) -> Scan<()> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(Bail)
        }
    }

    /// Consumes `null` if that is the next value.
    fn null(&mut self) -> Scan<bool> {
        if self.peek() == Some(b'n') {
            self.literal(b"null")?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// Where the run of plain string bytes from `from` ends: the index of
    /// the next quote, backslash or control character. Short strings: a
    /// plain loop beats memchr's per-call set-up.
    fn plain_run(&self, from: usize) -> Scan<usize> {
        self.s[from..]
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
            .map(|n| from + n)
            .ok_or(Bail)
    }

    /// A key (or a compared value): no escapes, since serde_json would
    /// compare the decoded text. Its contents.
    fn string(&mut self) -> Scan<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        let end = self.plain_run(start)?;
        if self.s[end] != b'"' {
            return Err(Bail);
        }
        self.i = end + 1;
        // Both ends are ASCII quotes, hence char boundaries.
        self.text.get(start..end).ok_or(Bail)
    }

    /// A string value that is read: borrowed when it has no escapes, else
    /// decoded (`\uXXXX` surrogates, which serde_json pairs up or rejects,
    /// are left to it).
    fn text(&mut self) -> Scan<Cow<'a, str>> {
        self.eat(b'"')?;
        let start = self.i;
        let mut end = self.plain_run(start)?;
        if self.s[end] == b'"' {
            self.i = end + 1;
            return self.text.get(start..end).map(Cow::Borrowed).ok_or(Bail);
        }
        let mut out = String::with_capacity(end - start + 16);
        out.push_str(self.text.get(start..end).ok_or(Bail)?);
        loop {
            match self.s[end] {
                b'"' => {
                    self.i = end + 1;
                    return Ok(Cow::Owned(out));
                }
                b'\\' => {
                    let (c, used) = self.escape(end + 1)?;
                    out.push(c);
                    end += 1 + used;
                }
                _ => return Err(Bail), // a control character
            }
            let next = self.plain_run(end)?;
            out.push_str(self.text.get(end..next).ok_or(Bail)?);
            end = next;
        }
    }

    /// The escape whose letter is at `at`: the character and the bytes used.
    fn escape(&self, at: usize) -> Scan<(char, usize)> {
        let c = match self.s.get(at) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let hex = self.s.get(at + 1..at + 5).ok_or(Bail)?;
                let hex = std::str::from_utf8(hex).map_err(|_| Bail)?;
                if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(Bail);
                }
                let code = u32::from_str_radix(hex, 16).map_err(|_| Bail)?;
                // None for surrogates.
                return char::from_u32(code).map(|c| (c, 5)).ok_or(Bail);
            }
            _ => return Err(Bail),
        };
        Ok((c, 1))
    }

    /// A string value that is skipped: short escapes are fine; `\u` is left
    /// to serde_json.
    fn skip_string(&mut self) -> Scan<()> {
        self.eat(b'"')?;
        loop {
            match self.s.get(self.i) {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(());
                }
                Some(b'\\') => match self.s.get(self.i + 1) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 2,
                    _ => return Err(Bail),
                },
                Some(&c) if c >= 0x20 => self.i += 1,
                _ => return Err(Bail),
            }
        }
    }

    /// JSON's number grammar, as strict as serde_json's.
    fn number(&mut self) -> Scan<()> {
        let digits = |sc: &mut Self| -> usize {
            let from = sc.i;
            while sc.s.get(sc.i).is_some_and(u8::is_ascii_digit) {
                sc.i += 1;
            }
            sc.i - from
        };
        if self.s.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        match self.s.get(self.i) {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return Err(Bail),
        }
        if self.s.get(self.i) == Some(&b'.') {
            self.i += 1;
            if digits(self) == 0 {
                return Err(Bail);
            }
        }
        if let Some(b'e' | b'E') = self.s.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.s.get(self.i) {
                self.i += 1;
            }
            if digits(self) == 0 {
                return Err(Bail);
            }
        }
        Ok(())
    }

    fn enter(&mut self) -> Scan<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            Err(Bail)
        } else {
            Ok(())
        }
    }

    /// An object, handing each key to `on_key`, which must consume the value.
    fn object(&mut self, mut on_key: impl FnMut(&mut Self, &'a str) -> Scan<()>) -> Scan<()> {
        self.eat(b'{')?;
        self.enter()?;
        if self.peek() == Some(b'}') {
            self.i += 1;
        } else {
            loop {
                let key = self.string()?;
                self.eat(b':')?;
                on_key(self, key)?;
                match self.peek() {
                    Some(b',') => self.i += 1,
                    Some(b'}') => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err(Bail),
                }
            }
        }
        self.depth -= 1;
        Ok(())
    }

    /// An array, handing each element's index to `on_item`, which must consume it.
    fn array(&mut self, mut on_item: impl FnMut(&mut Self, usize) -> Scan<()>) -> Scan<()> {
        self.eat(b'[')?;
        self.enter()?;
        if self.peek() == Some(b']') {
            self.i += 1;
        } else {
            let mut n = 0;
            loop {
                on_item(self, n)?;
                n += 1;
                match self.peek() {
                    Some(b',') => self.i += 1,
                    Some(b']') => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err(Bail),
                }
            }
        }
        self.depth -= 1;
        Ok(())
    }

    fn skip_value(&mut self) -> Scan<()> {
        match self.peek() {
            Some(b'{') => self.object(|sc, _| sc.skip_value()),
            Some(b'[') => self.array(|sc, _| sc.skip_value()),
            Some(b'"') => self.skip_string(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(Bail),
        }
    }

    /// A string (escapes decoded) or null.
    fn opt_text(&mut self) -> Scan<Option<Cow<'a, str>>> {
        if self.null()? {
            Ok(None)
        } else {
            self.text().map(Some)
        }
    }

    /// [`Self::opt_text`] for a delta's text field, counting the strings
    /// and keeping where the last one lay.
    fn spanned_text(
        &mut self,
        field: TextField,
        texts: &mut u32,
        span: &mut Option<TextSpan>,
    ) -> Scan<Option<Cow<'a, str>>> {
        self.ws();
        let start = self.i;
        let value = self.opt_text()?;
        if value.is_some() {
            *texts += 1;
            *span = Some(TextSpan {
                start,
                end: self.i,
                field,
            });
        }
        Ok(value)
    }

    /// `choices`: the first element read, the others only validated.
    fn choices(&mut self) -> Scan<Choice<'a>> {
        let mut first = Choice::default();
        self.array(|sc, n| {
            if n > 0 {
                return sc.skip_value();
            }
            // serde would also read a struct from an array: not common.
            if sc.peek() != Some(b'{') {
                return Err(Bail);
            }
            let (mut saw_delta, mut saw_finish) = (false, false);
            sc.object(|sc, key| match key {
                "delta" => {
                    once(&mut saw_delta)?;
                    if sc.null()? {
                        return Ok(());
                    }
                    if sc.peek() != Some(b'{') {
                        return Err(Bail);
                    }
                    let (mut c, mut rc, mut r) = (false, false, false);
                    sc.object(|sc, key| match key {
                        "content" => {
                            once(&mut c)?;
                            first.content = sc.spanned_text(
                                TextField::Content,
                                &mut first.texts,
                                &mut first.span,
                            )?;
                            Ok(())
                        }
                        "reasoning_content" => {
                            once(&mut rc)?;
                            first.reasoning_content = sc.spanned_text(
                                TextField::Reasoning,
                                &mut first.texts,
                                &mut first.span,
                            )?;
                            Ok(())
                        }
                        "reasoning" => {
                            once(&mut r)?;
                            first.reasoning = sc.spanned_text(
                                TextField::Reasoning,
                                &mut first.texts,
                                &mut first.span,
                            )?;
                            Ok(())
                        }
                        _ => sc.skip_value(),
                    })
                }
                "finish_reason" => {
                    once(&mut saw_finish)?;
                    first.finish_reason = sc.opt_text()?;
                    Ok(())
                }
                // A non-streaming `message` inside a chunk: serde_json's path.
                "message" => Err(Bail),
                _ => sc.skip_value(),
            })
        })?;
        Ok(first)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::chunk::{classify, classify_with_serde};
    use super::*;
    use proptest::prelude::*;

    pub(in crate::openai) const CHUNK: &str = r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1763795000,"model":"Qwen/Qwen2-Audio-7B-Instruct","choices":[{"index":0,"delta":{"content":" the"},"logprobs":null,"finish_reason":null}]}"#;

    fn fast(s: &str) -> Option<StreamChunk<'_>> {
        classify_common(s.as_bytes())
    }

    #[test]
    fn common_chunks_take_the_fast_path_and_agree() {
        let cases = [
            CHUNK,
            r#"{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"reasoning_content":"hmm"},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"reasoning_content":"","reasoning":"r"}}]}"#,
            r#"{"choices":[{"delta":{"content":"é ü 日本"},"finish_reason":"stop","stop_reason":null}],"usage":null}"#,
            r#" {"choices":[],"x":[1,-0.5e+3,true,false,null,{"a":[]}]} "#,
            r#"{"choices":[{"delta":null},{"delta":{"content":"second"}}]}"#,
            // Escapes in the texts are decoded; short ones in skipped strings pass.
            r#"{"choices":[{"delta":{"content":"a\nb \"q\" \\ \/ \t\u00e9\u0041"}}]}"#,
            r#"{"id":"x\n\"y\"","choices":[{"delta":{"reasoning":"\r\b\f"}}]}"#,
        ];
        for c in cases {
            let got = fast(c).unwrap_or_else(|| panic!("fast path declined {c}"));
            assert_eq!(got, classify_with_serde(c.as_bytes()), "{c}");
        }
        match fast(CHUNK) {
            Some(StreamChunk::Delta(d)) => {
                assert_eq!(d.content.as_deref(), Some(" the"));
                assert!(matches!(d.content, Some(Cow::Borrowed(_))));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unusual_chunks_go_to_serde() {
        let cases = [
            // surrogates, \u in skipped strings, escaped keys, bad escapes,
            // usage, errors, duplicates, wrong types, bad JSON
            r#"{"choices":[{"delta":{"content":"\ud83d\ude00"}}]}"#,
            r#"{"choices":[{"delta":{"content":"\ud83d"}}]}"#,
            r#"{"choices":[{"delta":{"content":"\u12"}}]}"#,
            r#"{"choices":[{"delta":{"content":"\x"}}]}"#,
            r#"{"id":"\u0041","choices":[]}"#,
            r#"{"choices":[{"delta":{"con\u0074ent":"x"}}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}"#,
            r#"{"error":{"message":"boom","type":"E"}}"#,
            r#"{"object":"error","message":"boom","type":"E"}"#,
            r#"{"choices":[],"choices":[]}"#,
            r#"{"choices":[{"delta":{"content":"a","content":"b"}}]}"#,
            r#"{"choices":[{"delta":{"content":5}}]}"#,
            r#"{"choices":[["a"]]}"#,
            r#"{"choices":{}}"#,
            r#"{"choices":[]} x"#,
            r#"{"choices":[],"n":01}"#,
            r#"{"choices":[],"n":1.}"#,
            r#"{"choices":[],"n":-}"#,
            r#"{"id":"x"}"#,
            r#"{"choices":null}"#,
            "{\"choices\":[],\"s\":\"tab\there\"}",
            r#"{"choices":[{"message":{"content":"x"}}]}"#,
            r#"{"choices":[]"#,
            "",
        ];
        for c in cases {
            assert!(fast(c).is_none(), "fast path took {c}");
        }
        // Deep nesting is left to serde_json's own limit.
        let deep = format!(
            "{{\"choices\":[],\"x\":{}{}}}",
            "[".repeat(100),
            "]".repeat(100)
        );
        assert!(fast(&deep).is_none());
        // Invalid UTF-8 anywhere.
        assert!(classify_common(b"{\"choices\":[],\"id\":\"\xff\"}").is_none());
    }

    /// Pieces that chunks are made of, shuffled into near-valid JSON.
    pub(in crate::openai) fn piece() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            " ",
            "\"choices\"",
            "\"delta\"",
            "\"content\"",
            "\"reasoning_content\"",
            "\"reasoning\"",
            "\"finish_reason\"",
            "\"usage\"",
            "\"object\"",
            "\"error\"",
            "\"message\"",
            "\"id\"",
            "\"x\"",
            "\"a\\nb\"",
            "null",
            "true",
            "false",
            "0",
            "-1.5e3",
            "01",
            "\"stop\"",
            "\"\"",
            "\"tok\"",
            "\"é\"",
            "\"\\u00e9x\\u0041\"",
            "\"\\ud83d\\ude00\"",
            "\"\\u12\"",
            "\"\\/\\t\"",
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Whenever the fast path answers, serde_json answers the same.
        #[test]
        fn fast_path_agrees_with_serde(pieces in prop::collection::vec(piece(), 0..40)) {
            let s = pieces.concat();
            if let Some(got) = fast(&s) {
                prop_assert_eq!(got, classify_with_serde(s.as_bytes()), "{}", s);
            }
            // And classify itself is unchanged by the fast path.
            prop_assert_eq!(classify(s.as_bytes()), classify_with_serde(s.as_bytes()));
        }

        /// Templates of real chunks with one field changed.
        #[test]
        fn mutated_chunks_agree(
            content in prop::option::of("[a-z é\"\\\\\n]{0,6}"),
            reasoning in prop::option::of("[a-z ]{0,4}"),
            finish in prop::option::of(prop::sample::select(vec!["stop", "length"])),
            extra in prop::sample::select(vec!["", ",\"usage\":null", ",\"usage\":{\"prompt_tokens\":3}", ",\"choices\":[]", ",\"object\":\"error\"", ",\"n\":[1,2,{\"k\":null}]"]),
        ) {
            let q = |v: &Option<String>| v.as_ref().map_or("null".to_string(), |s| serde_json::to_string(s).unwrap());
            let s = format!(
                "{{\"id\":\"c\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{},\"reasoning_content\":{}}},\"finish_reason\":{}}}]{extra}}}",
                q(&content), q(&reasoning), q(&finish.map(String::from)),
            );
            if let Some(got) = fast(&s) {
                prop_assert_eq!(got, classify_with_serde(s.as_bytes()), "{}", s);
            }
            prop_assert_eq!(classify(s.as_bytes()), classify_with_serde(s.as_bytes()));
        }
    }
}
