//! `inputs.json`: the payloads sent, in AIPerf's layout
//! (`{"data": [{"session_id", "payloads": [body]}]}`, 2-space indent, no
//! trailing newline). Each body is re-indented straight from the prepared
//! request bytes: keys keep their order and strings (the base64 audio) are
//! copied verbatim, so the output is byte-identical for a given dataset and
//! no request is parsed into a tree.

use std::io::{self, Write};

use crate::dataset::Dataset;

/// Deterministic, UUID-shaped id of dataset entry `i` (AIPerf uses uuid4;
/// a stable id keeps the file reproducible).
pub fn session_id(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012x}")
}

/// Writes the whole `inputs.json`.
pub fn write(w: &mut impl Write, dataset: &Dataset) -> io::Result<()> {
    if dataset.requests.is_empty() {
        return w.write_all(b"{\n  \"data\": []\n}");
    }
    w.write_all(b"{\n  \"data\": [\n")?;
    for (i, req) in dataset.requests.iter().enumerate() {
        if i > 0 {
            w.write_all(b",\n")?;
        }
        write!(
            w,
            "    {{\n      \"session_id\": \"{}\",\n      \"payloads\": [\n        ",
            session_id(i)
        )?;
        // A multipart body is not JSON: AIPerf shows its form as one object.
        let body = match &req.form {
            Some(form) => std::borrow::Cow::Owned(form.to_json(true).to_string().into_bytes()),
            None => req.body(),
        };
        reindent(&body, 4, w).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidData, format!("request body {i}: {e}"))
        })??;
        w.write_all(b"\n      ]\n    }")?;
    }
    w.write_all(b"\n  ]\n}")
}

fn newline(w: &mut impl Write, depth: usize) -> io::Result<()> {
    w.write_all(b"\n")?;
    for _ in 0..depth {
        w.write_all(b"  ")?;
    }
    Ok(())
}

/// Pretty-prints the compact or pretty JSON in `raw` with 2-space indent,
/// starting at nesting `depth` (the first line is not indented). The outer
/// error is malformed JSON; the inner one a failed write.
pub fn reindent(
    raw: &[u8],
    depth: usize,
    w: &mut impl Write,
) -> Result<io::Result<()>, &'static str> {
    let mut stack: Vec<u8> = Vec::new();
    let mut i = 0;
    let next_non_ws = |mut j: usize| {
        while j < raw.len() && raw[j].is_ascii_whitespace() {
            j += 1;
        }
        j
    };
    macro_rules! io {
        ($e:expr) => {
            if let Err(e) = $e {
                return Ok(Err(e));
            }
        };
    }
    let mut seen_value = false;
    while i < raw.len() {
        let b = raw[i];
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'"' => {
                // Copy the string verbatim, escapes included.
                let mut j = i + 1;
                loop {
                    let Some(k) = memchr::memchr2(b'"', b'\\', &raw[j..]) else {
                        return Err("unterminated string");
                    };
                    j += k;
                    if raw[j] == b'\\' {
                        j += 2;
                        if j > raw.len() {
                            return Err("unterminated escape");
                        }
                    } else {
                        break;
                    }
                }
                io!(w.write_all(&raw[i..=j]));
                i = j + 1;
                seen_value = true;
            }
            b'{' | b'[' => {
                let close = if b == b'{' { b'}' } else { b']' };
                let j = next_non_ws(i + 1);
                if raw.get(j) == Some(&close) {
                    io!(w.write_all(&[b, close]));
                    i = j + 1;
                } else {
                    stack.push(close);
                    io!(w.write_all(&[b]));
                    io!(newline(w, depth + stack.len()));
                    i += 1;
                }
                seen_value = true;
            }
            b'}' | b']' => {
                if stack.pop() != Some(b) {
                    return Err("unbalanced brackets");
                }
                io!(newline(w, depth + stack.len()));
                io!(w.write_all(&[b]));
                i += 1;
            }
            b',' => {
                if stack.is_empty() {
                    return Err("comma outside a container");
                }
                io!(w.write_all(b","));
                io!(newline(w, depth + stack.len()));
                i += 1;
            }
            b':' => {
                io!(w.write_all(b": "));
                i += 1;
            }
            _ => {
                // Number or literal: copy up to the next delimiter.
                let mut j = i;
                while j < raw.len()
                    && !matches!(
                        raw[j],
                        b',' | b'}' | b']' | b':' | b' ' | b'\t' | b'\n' | b'\r' | b'"'
                    )
                {
                    j += 1;
                }
                io!(w.write_all(&raw[i..j]));
                i = j;
                seen_value = true;
            }
        }
    }
    if !stack.is_empty() {
        return Err("unclosed brackets");
    }
    if !seen_value {
        return Err("empty body");
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{BuildStats, PreparedRequest};

    fn req(body: &str) -> PreparedRequest {
        let head = "POST /v1/chat/completions HTTP/1.1\r\n\r\n";
        PreparedRequest {
            http: format!("{head}{body}").into_bytes(),
            body_offset: head.len(),
            text: String::new(),
            text_tokens: None,
            audio_seconds: 0.0,
            max_tokens: None,
            ..Default::default()
        }
    }

    #[test]
    fn matches_python_indent_and_keeps_key_order() {
        let body = r#"{"messages":[{"role":"user","content":[{"type":"text","text":"a \"q\" ,:{["},{"type":"input_audio","input_audio":{"data":"UklG+/=","format":"wav"}}]}],"model":"m","stream":true,"stream_options":{"include_usage":true},"max_completion_tokens":10,"x":[],"y":{},"z":-1.5e3,"n":null}"#;
        let ds = Dataset {
            requests: vec![req(body), req(r#"{"a":1}"#)],
            stats: BuildStats::default(),
        };
        let mut out = Vec::new();
        write(&mut out, &ds).unwrap();
        let text = String::from_utf8(out).unwrap();
        // What Python prints for the same data with json.dumps(indent=2)
        // (key order kept, since dicts keep insertion order).
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value["data"][0]["payloads"][0]["messages"][0]["content"][0]["text"],
            "a \"q\" ,:{["
        );
        assert_eq!(value["data"][1]["session_id"], session_id(1));
        let expected_start = "{\n  \"data\": [\n    {\n      \"session_id\": \"00000000-0000-4000-8000-000000000000\",\n      \"payloads\": [\n        {\n          \"messages\": [\n            {\n              \"role\": \"user\",\n              \"content\": [\n                {\n                  \"type\": \"text\",\n                  \"text\": \"a \\\"q\\\" ,:{[\"\n                },";
        assert!(text.starts_with(expected_start), "{text}");
        assert!(text.contains("\"stream\": true,\n          \"stream_options\": {\n            \"include_usage\": true\n          },"));
        assert!(text.contains("\"x\": [],\n          \"y\": {},\n          \"z\": -1.5e3,\n          \"n\": null\n        }\n      ]\n    },"));
        assert!(text.ends_with("        {\n          \"a\": 1\n        }\n      ]\n    }\n  ]\n}"));
    }

    #[test]
    fn rejects_malformed_bodies() {
        let mut out = Vec::new();
        assert!(reindent(b"{\"a\":1", 0, &mut out).is_err());
        assert!(reindent(b"{\"a", 0, &mut out).is_err());
        assert!(reindent(b"]", 0, &mut out).is_err());
        assert!(reindent(b"", 0, &mut out).is_err());
        let ds = Dataset {
            requests: vec![req("{\"a\":")],
            stats: BuildStats::default(),
        };
        let err = write(&mut Vec::new(), &ds).unwrap_err();
        assert!(err.to_string().contains("request body 0"), "{err}");
    }
}
