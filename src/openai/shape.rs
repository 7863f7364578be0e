//! A connection's memory of its server's token chunks: [`ChunkShape`].
//!
//! A server's token chunks differ only in their text (vLLM's are ~200 bytes
//! of id, model, index and nulls around a `"content"` of a few bytes), so a
//! connection keeps the bytes around the text of the last chunk the scanner
//! read, and an event made of the same bytes around one well-formed JSON
//! string reads as that chunk with the new text, after comparing those bytes
//! and decoding the string alone. A property test and the SSE fuzz target
//! hold it to [`super::classify_with_serde`]'s reading of every event.

use super::chunk::classify_with_serde;
use super::chunk_scan::{scan_common, string_token, TextField, TextSpan};
use super::types::{Delta, StreamChunk};

/// A shape longer than this is not kept (chunks are ~200 bytes).
const MAX_SHAPE_BYTES: usize = 2048;

/// The bytes before and after the text of the last common chunk a
/// connection scanned ([`super::chunk_scan::classify_common`] accepted it, and its only varying
/// part was one text field). JSON reads a string token the same wherever it
/// stands, so an event of the same bytes around another well-formed string
/// is that chunk with the new text: it reads as [`classify`] would read it,
/// after a comparison of the known bytes and a decoding of the string.
///
/// [`classify`]: super::classify
#[derive(Debug, Default)]
pub struct ChunkShape {
    prefix: Vec<u8>,
    suffix: Vec<u8>,
    /// None: no shape is known.
    field: Option<TextField>,
}

impl ChunkShape {
    /// Reads one event's data, exactly as [`super::classify`] does,
    /// and learns the shape of a common chunk for the next events.
    pub fn classify<'d>(&mut self, data: &'d [u8]) -> StreamChunk<'d> {
        if data.trim_ascii() == b"[DONE]" {
            return StreamChunk::Done;
        }
        if let Some(chunk) = self.same_shape(data) {
            return chunk;
        }
        if let Some((chunk, span)) = scan_common(data) {
            self.learn(data, span);
            return chunk;
        }
        classify_with_serde(data)
    }

    /// The chunk `data` is when it has the known shape around one string.
    fn same_shape<'d>(&self, data: &'d [u8]) -> Option<StreamChunk<'d>> {
        let field = self.field?;
        let (p, s) = (self.prefix.len(), self.suffix.len());
        if data.len() < p + s + 2
            || !data.starts_with(&self.prefix)
            || !data.ends_with(&self.suffix)
        {
            return None;
        }
        let text = string_token(&data[p..data.len() - s])?;
        Some(StreamChunk::Delta(match field {
            TextField::Content => Delta {
                content: Some(text),
                ..Delta::default()
            },
            TextField::Reasoning => Delta {
                reasoning: Some(text),
                ..Delta::default()
            },
        }))
    }

    fn learn(&mut self, data: &[u8], span: Option<TextSpan>) {
        self.field = None;
        let Some(span) = span else { return };
        if data.len() - (span.end - span.start) > MAX_SHAPE_BYTES {
            return;
        }
        self.prefix.clear();
        self.prefix.extend_from_slice(&data[..span.start]);
        self.suffix.clear();
        self.suffix.extend_from_slice(&data[span.end..]);
        self.field = Some(span.field);
    }
}

#[cfg(test)]
mod tests {
    use super::super::chunk_scan::tests::{piece, CHUNK};
    use super::*;
    use proptest::prelude::*;

    /// The event of `CHUNK`'s shape carrying `text` (already a JSON string token).
    fn shaped(text: &str) -> String {
        CHUNK.replace(r#""content":" the""#, &format!("\"content\":{text}"))
    }

    #[test]
    fn same_shape_events_skip_the_scan_and_read_the_same() {
        let mut shape = ChunkShape::default();
        assert_eq!(
            shape.classify(CHUNK.as_bytes()),
            classify_with_serde(CHUNK.as_bytes())
        );
        for text in [
            r#"" cat""#,
            r#""""#,
            r#""a\nb \"q\" \u00e9""#,
            r#""日本""#,
            "\"\u{7f}\"",
        ] {
            let e = shaped(text);
            let got = shape.same_shape(e.as_bytes());
            assert!(got.is_some(), "{e} did not take the shape path");
            assert_eq!(got.unwrap(), classify_with_serde(e.as_bytes()), "{e}");
        }
        // Not one string between the known bytes: the full reading decides.
        let mut cases: Vec<Vec<u8>> = [
            r#""a"b""#,
            r#""a\""#,
            r#""a" "b""#,
            r#""\ud83d""#,
            r#""\ud83d\ude00""#,
            "\"tab\there\"",
            r#"null"#,
            r#"5"#,
            r#""a","content":"b""#,
            r#""a"},"x":{"y":"b""#,
        ]
        .iter()
        .map(|t| shaped(t).into_bytes())
        .collect();
        let mut bad_utf8 = shaped("\"xx\"").into_bytes();
        let at = bad_utf8.windows(2).position(|w| w == b"xx").unwrap();
        bad_utf8[at] = 0xff;
        cases.push(bad_utf8);
        // Other known bytes: another id, a finish reason.
        cases.push(
            shaped(r#""x""#)
                .replace("chatcmpl-1", "chatcmpl-2")
                .into_bytes(),
        );
        cases.push(
            shaped(r#""x""#)
                .replace(r#""finish_reason":null"#, r#""finish_reason":"stop""#)
                .into_bytes(),
        );
        for e in &cases {
            let mut shape = ChunkShape::default();
            shape.classify(CHUNK.as_bytes());
            let s = String::from_utf8_lossy(e);
            assert!(shape.same_shape(e).is_none(), "{s} took the shape path");
            assert_eq!(shape.classify(e), classify_with_serde(e), "{s}");
        }
    }

    #[test]
    fn only_text_only_chunks_are_learned() {
        let mut shape = ChunkShape::default();
        let finish =
            r#"{"id":"c","choices":[{"index":0,"delta":{"content":""},"finish_reason":"stop"}]}"#;
        shape.classify(finish.as_bytes());
        assert!(
            shape.field.is_none(),
            "a chunk with a finish reason was learned"
        );
        let both = r#"{"choices":[{"delta":{"content":"a","reasoning_content":"b"}}]}"#;
        shape.classify(both.as_bytes());
        assert!(shape.field.is_none(), "a chunk with two texts was learned");
        let reasoning = r#"{"choices":[{"delta":{"reasoning_content":"hm","content":null}}]}"#;
        shape.classify(reasoning.as_bytes());
        let next = reasoning.replace("\"hm\"", "\"mm\"");
        let got = shape.same_shape(next.as_bytes()).expect("reasoning shape");
        assert_eq!(got, classify_with_serde(next.as_bytes()));
        // A chunk the scanner declines forgets nothing it should not use:
        // the serde reading answers, and the next same-shaped event still agrees.
        let usage = r#"{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}"#;
        assert_eq!(
            shape.classify(usage.as_bytes()),
            classify_with_serde(usage.as_bytes())
        );
        assert_eq!(
            shape.classify(next.as_bytes()),
            classify_with_serde(next.as_bytes())
        );
        assert_eq!(shape.classify(b"[DONE]"), StreamChunk::Done);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// A stream of events, common chunks and near-valid JSON mixed, reads
        /// through one connection's shape exactly as each event alone.
        #[test]
        fn shape_reads_every_event_as_classify(
            events in prop::collection::vec(
                prop_oneof![
                    prop::collection::vec(piece(), 0..12).prop_map(|p| format!("\"{}\"", p.concat())),
                    prop::collection::vec(piece(), 0..12).prop_map(|p| p.concat()),
                    "[a-z é\"\\\\\n]{0,6}".prop_map(|t| serde_json::to_string(&t).unwrap()),
                ]
                .prop_map(|text| shaped(&text)),
                1..12,
            ),
        ) {
            let mut shape = ChunkShape::default();
            for e in &events {
                prop_assert_eq!(shape.classify(e.as_bytes()), classify_with_serde(e.as_bytes()), "{}", e);
            }
        }
    }
}
