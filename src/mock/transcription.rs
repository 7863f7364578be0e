//! `POST /v1/audio/transcriptions` as the mock serves it: the
//! `multipart/form-data` body parsed strictly (RFC 7578: boundary from the
//! Content-Type, one header block per part, the closing delimiter
//! required), the `file` part checked as audio (WAV, FLAC or MP3, by its
//! structure), and the fields OpenAI's API reads: `model`, `stream`,
//! `response_format` (`json`, `verbose_json`, `text`, `srt`, `vtt`) and
//! vLLM's `stream_include_usage`. Any other field is accepted and ignored.
//! The answer is built by `respond` like a chat completion's, with the
//! transcription's bodies and events from `openai`.

use super::http::RequestHead;
use super::openai::{Api, ApiError, ChatRequest, TranscriptFormat};

/// Most parts a form may have (a real one has a handful).
const MAX_PARTS: usize = 64;

/// One part of a form.
#[derive(Debug)]
pub struct Part<'a> {
    pub name: String,
    pub filename: Option<String>,
    pub data: &'a [u8],
}

/// The boundary parameter of a `multipart/form-data` Content-Type.
fn boundary(content_type: Option<&str>) -> Result<String, ApiError> {
    let ct = content_type.ok_or_else(|| {
        ApiError::bad_request(
            "a transcription must be sent as multipart/form-data (no Content-Type)",
        )
    })?;
    let mut params = ct.split(';');
    let media = params.next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("multipart/form-data") {
        return Err(ApiError::bad_request(format!(
            "a transcription must be sent as multipart/form-data, not {media:?}"
        )));
    }
    for p in params {
        if let Some((k, v)) = p.split_once('=') {
            if k.trim().eq_ignore_ascii_case("boundary") {
                let b = v.trim().trim_matches('"');
                if b.is_empty() || b.len() > 70 {
                    return Err(ApiError::bad_request("invalid multipart boundary"));
                }
                return Ok(b.to_string());
            }
        }
    }
    Err(ApiError::bad_request(
        "multipart/form-data without a boundary",
    ))
}

/// A `Content-Disposition: form-data; name="..."; filename="..."` value.
fn disposition(value: &str) -> Result<(String, Option<String>), String> {
    let mut params = value.split(';');
    if !params
        .next()
        .is_some_and(|d| d.trim().eq_ignore_ascii_case("form-data"))
    {
        return Err(format!("part disposition {value:?} is not form-data"));
    }
    let (mut name, mut filename) = (None, None);
    for p in params {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or(v)
            .to_string();
        match k.trim().to_ascii_lowercase().as_str() {
            "name" => name = Some(v),
            "filename" => filename = Some(v),
            _ => {}
        }
    }
    let name = name.ok_or_else(|| format!("part without a name: {value:?}"))?;
    Ok((name, filename))
}

/// Splits a form body into its parts; every malformation is a 400.
pub fn parse_form<'a>(
    content_type: Option<&str>,
    body: &'a [u8],
) -> Result<Vec<Part<'a>>, ApiError> {
    let boundary = boundary(content_type)?;
    let bad = |what: &str| ApiError::bad_request(format!("malformed multipart body: {what}"));
    let first = format!("--{boundary}");
    let delimiter = format!("\r\n--{boundary}");
    let finder = memchr::memmem::Finder::new(delimiter.as_bytes());
    let mut rest = body
        .strip_prefix(first.as_bytes())
        .ok_or_else(|| bad("does not start with the boundary"))?;
    let mut parts = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        rest = rest
            .strip_prefix(b"\r\n")
            .ok_or_else(|| bad("no line break after a boundary"))?;
        if parts.len() == MAX_PARTS {
            return Err(bad(&format!("more than {MAX_PARTS} parts")));
        }
        let mut headers = [httparse::EMPTY_HEADER; 8];
        let (head_len, headers) = match httparse::parse_headers(rest, &mut headers) {
            Ok(httparse::Status::Complete((n, h))) => (n, h),
            Ok(httparse::Status::Partial) => return Err(bad("a part's headers do not end")),
            Err(e) => return Err(bad(&format!("a part's headers: {e}"))),
        };
        let cd = headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-disposition"))
            .ok_or_else(|| bad("a part without Content-Disposition"))?;
        let (name, filename) =
            disposition(&String::from_utf8_lossy(cd.value)).map_err(|e| bad(&e))?;
        let data_and_rest = &rest[head_len..];
        let end = finder
            .find(data_and_rest)
            .ok_or_else(|| bad("no closing boundary"))?;
        parts.push(Part {
            name,
            filename,
            data: &data_and_rest[..end],
        });
        rest = &data_and_rest[end + delimiter.len()..];
    }
}

fn text<'a>(p: &Part<'a>) -> Result<&'a str, ApiError> {
    std::str::from_utf8(p.data)
        .map_err(|_| ApiError::bad_request(format!("form field '{}' is not UTF-8 text", p.name)))
}

/// Decodes and validates a transcription request. `served_model`: when set,
/// any other model name is answered 404, as for chat.
pub fn decode_transcription_request(
    head: &RequestHead,
    body: &[u8],
    served_model: Option<&str>,
) -> Result<ChatRequest, ApiError> {
    let parts = parse_form(head.content_type.as_deref(), body)?;
    let file = parts
        .iter()
        .find(|p| p.name == "file")
        .ok_or_else(|| ApiError::bad_request("the form has no 'file' part"))?;
    if file.filename.is_none() {
        return Err(ApiError::bad_request(
            "the 'file' part has no filename (it must be a file upload)",
        ));
    }
    let (_, seconds) = crate::audio_file::sniff_duration(file.data).map_err(|e| {
        ApiError::bad_request(format!("'file' is not audio this server can decode: {e}"))
    })?;
    let field = |name: &str| parts.iter().rev().find(|p| p.name == name);
    let model = match field("model") {
        Some(p) => text(p)?.to_string(),
        None => return Err(ApiError::bad_request("the form has no 'model' field")),
    };
    if let Some(served) = served_model {
        if model != served {
            return Err(ApiError::not_found_model(&model));
        }
    }
    let flag = |name: &str| -> Result<bool, ApiError> {
        match field(name) {
            None => Ok(false),
            Some(p) => match text(p)?.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                other => Err(ApiError::bad_request(format!(
                    "'{name}' must be true or false, not {other:?}"
                ))),
            },
        }
    };
    let stream = flag("stream")?;
    let include_usage = flag("stream_include_usage")?;
    let format = match field("response_format").map(text).transpose()? {
        None | Some("json") => TranscriptFormat::Json,
        Some("verbose_json") => TranscriptFormat::VerboseJson,
        Some("text") => TranscriptFormat::Text,
        Some("srt") => TranscriptFormat::Srt,
        Some("vtt") => TranscriptFormat::Vtt,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "response_format {other:?} is not one of json, verbose_json, text, srt, vtt"
            )))
        }
    };
    Ok(ChatRequest {
        model,
        stream,
        include_usage,
        prompt_tokens: 0,
        max_tokens: None,
        audio_parts: 1,
        audio_seconds: seconds,
        api: Api::Transcription(format),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CT: &str = "multipart/form-data; boundary=XyZ";

    fn form(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
        let mut b = Vec::new();
        for (name, filename, data) in parts {
            b.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"");
            b.extend_from_slice(name.as_bytes());
            b.push(b'"');
            if let Some(f) = filename {
                b.extend_from_slice(
                    format!("; filename=\"{f}\"\r\nContent-Type: audio/wav").as_bytes(),
                );
            }
            b.extend_from_slice(b"\r\n\r\n");
            b.extend_from_slice(data);
            b.extend_from_slice(b"\r\n");
        }
        b.extend_from_slice(b"--XyZ--\r\n");
        b
    }

    fn head() -> RequestHead {
        RequestHead {
            method: super::super::http::Method::Post,
            path: "/v1/audio/transcriptions".into(),
            content_length: 0,
            keep_alive: true,
            expect_continue: false,
            content_type: Some(CT.into()),
            head_len: 0,
        }
    }

    fn wav() -> Vec<u8> {
        crate::audio_file::tests::wav(1, 1, 16_000, 16, 8000)
    }

    #[test]
    fn a_whole_request_is_read() {
        let body = form(&[
            ("file", Some("audio.wav"), &wav()),
            ("model", None, b"whisper"),
            ("stream", None, b"true"),
            ("response_format", None, b"verbose_json"),
            ("timestamp_granularities[]", None, b"word"),
            ("timestamp_granularities[]", None, b"segment"),
        ]);
        let r = decode_transcription_request(&head(), &body, None).unwrap();
        assert_eq!(r.model, "whisper");
        assert!(r.stream && !r.include_usage);
        assert_eq!(r.api, Api::Transcription(TranscriptFormat::VerboseJson));
        assert!((r.audio_seconds - 0.5).abs() < 1e-9);
    }

    #[test]
    fn every_malformation_is_a_clear_400() {
        let good = form(&[("file", Some("a.wav"), &wav()), ("model", None, b"m")]);
        let cases: Vec<(Option<&str>, Vec<u8>, &str)> = vec![
            (None, good.clone(), "no Content-Type"),
            (
                Some("application/json"),
                good.clone(),
                "not \"application/json\"",
            ),
            (
                Some("multipart/form-data"),
                good.clone(),
                "without a boundary",
            ),
            (
                Some(CT),
                good[..good.len() - 9].to_vec(),
                "no closing boundary",
            ),
            (
                Some(CT),
                b"garbage".to_vec(),
                "does not start with the boundary",
            ),
            (Some(CT), form(&[("model", None, b"m")]), "no 'file' part"),
            (
                Some(CT),
                form(&[("file", None, &wav()), ("model", None, b"m")]),
                "no filename",
            ),
            (
                Some(CT),
                form(&[("file", Some("a.wav"), b"RIFFjunk"), ("model", None, b"m")]),
                "not audio",
            ),
            (
                Some(CT),
                form(&[("file", Some("a.wav"), &wav())]),
                "no 'model'",
            ),
            (
                Some(CT),
                form(&[
                    ("file", Some("a.wav"), &wav()),
                    ("model", None, b"m"),
                    ("response_format", None, b"xml"),
                ]),
                "response_format",
            ),
            (
                Some(CT),
                form(&[
                    ("file", Some("a.wav"), &wav()),
                    ("model", None, b"m"),
                    ("stream", None, b"maybe"),
                ]),
                "true or false",
            ),
        ];
        for (ct, body, want) in cases {
            let mut h = head();
            h.content_type = ct.map(str::to_string);
            let e = decode_transcription_request(&h, &body, None).unwrap_err();
            assert_eq!(e.status, 400, "{want}");
            assert!(e.message.contains(want), "{want}: {}", e.message);
        }
    }

    /// What the client builds, the server reads back field for field.
    #[test]
    fn the_clients_forms_parse_back_exactly() {
        use crate::dataset::multipart::{build_segments, FormValue};
        use crate::dataset::request::SharedAudio;
        let mut cfg = crate::dataset::test_config();
        cfg.endpoint_type = crate::config::EndpointType::AudioTranscription;
        cfg.extra_inputs = serde_json::from_str(
            r#"{"response_format":"text","timestamp_granularities[]":["word","segment"],"language":"en"}"#,
        )
        .unwrap();
        let audio = SharedAudio {
            bytes: std::sync::Arc::from(wav()),
            format: crate::config::AudioFormat::Wav,
        };
        let (segs, form) = build_segments(&cfg, "whisper-1", &[audio]).unwrap();
        let head = String::from_utf8_lossy(&segs.head).into_owned();
        let ct = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Type: "))
            .unwrap()
            .to_string();
        let body: Vec<u8> = segs.body.iter().flat_map(|s| s.iter().copied()).collect();
        let parts = parse_form(Some(&ct), &body).unwrap();
        assert_eq!(parts.len(), form.fields.len());
        for (part, (name, value)) in parts.iter().zip(&form.fields) {
            assert_eq!(&part.name, name);
            match value {
                FormValue::File {
                    bytes, filename, ..
                } => {
                    assert_eq!(part.data, &bytes[..]);
                    assert_eq!(part.filename.as_deref(), Some(filename.as_str()));
                }
                FormValue::Text(t) => assert_eq!(part.data, t.as_bytes()),
            }
        }
        let mut h = head_for(&ct);
        h.content_length = body.len();
        let r = decode_transcription_request(&h, &body, None).unwrap();
        assert_eq!((r.model.as_str(), r.stream), ("whisper-1", true));
        assert_eq!(r.api, Api::Transcription(TranscriptFormat::Text));
    }

    fn head_for(ct: &str) -> RequestHead {
        let mut h = head();
        h.content_type = Some(ct.to_string());
        h
    }

    proptest::proptest! {
        /// Hostile bodies: an answer or a 400, never a panic, and every part
        /// found lies inside the body.
        #[test]
        fn any_body_is_parsed_or_refused(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
                                         cut in 0usize..600) {
            let good = form(&[("file", Some("a.wav"), &wav()), ("model", None, b"m")]);
            for input in [body.as_slice(), &good[..cut.min(good.len())]] {
                if let Ok(parts) = parse_form(Some(CT), input) {
                    for p in parts {
                        let start = p.data.as_ptr() as usize - input.as_ptr() as usize;
                        proptest::prop_assert!(start + p.data.len() <= input.len());
                    }
                }
                let _ = decode_transcription_request(&head(), input, Some("m"));
            }
        }
    }
}
