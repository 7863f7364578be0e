//! `profile_export_raw.jsonl` (`--export-level raw`): one line per request
//! in AIPerf's raw layout: `metadata` (as in `profile_export.jsonl`),
//! `start_perf_ns` (monotonic send time), `request_headers`, `status`,
//! `responses` (each SSE event as `{perf_ns, packets: [{name: "data",
//! value}]}`, a whole body as `{perf_ns, text}`) and `payload` (the JSON body
//! sent). Base64 audio is elided from the payload unless `--export-raw-audio`:
//! it is the bulk of every body and the same clip in every request. Written
//! line by line by the collector, like the JSONL.

use std::io::{self, Write};

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;

use super::jsonl::Metadata;
use crate::dataset::PreparedRequest;
use crate::record::{RawKind, RawResponse, RequestRecord};
use crate::sys::clock::ClockAnchor;

/// One dataset entry as the raw export shows it, made once per entry.
#[derive(Debug)]
pub struct RawRequest {
    /// `[name, value]` of each header sent (Authorization redacted).
    headers: Vec<(String, String)>,
    /// The JSON body, audio elided unless kept.
    payload: Value,
}

impl RawRequest {
    pub fn new(req: &PreparedRequest, keep_audio: bool) -> RawRequest {
        let mut bytes = req.http.clone();
        for seg in &req.tail {
            bytes.extend_from_slice(seg);
        }
        let split = req.body_offset.min(bytes.len());
        let (head, body) = bytes.split_at(split);
        let headers = String::from_utf8_lossy(head)
            .split("\r\n")
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .map(|(k, v)| {
                let v = if k.eq_ignore_ascii_case("authorization") {
                    "<redacted>".to_string()
                } else {
                    v.trim().to_string()
                };
                (k.to_string(), v)
            })
            .collect();
        // A multipart body is shown as its form; a body that is not JSON
        // (hand-made requests) as text.
        let parsed = match &req.form {
            Some(form) => Ok(form.to_json(keep_audio)),
            None => serde_json::from_slice::<Value>(body),
        };
        let payload = match parsed {
            Ok(mut v) => {
                if !keep_audio {
                    elide_audio(&mut v);
                }
                v
            }
            Err(_) => Value::String(String::from_utf8_lossy(body).into_owned()),
        };
        RawRequest { headers, payload }
    }
}

/// Replaces every `input_audio.data` string with a note of its length.
fn elide_audio(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Object(audio)) = map.get_mut("input_audio") {
                if let Some(Value::String(data)) = audio.get_mut("data") {
                    *data = format!(
                        "<{} base64 characters elided; --export-raw-audio keeps them>",
                        data.len()
                    );
                }
            }
            map.values_mut().for_each(elide_audio);
        }
        Value::Array(items) => items.iter_mut().for_each(elide_audio),
        _ => {}
    }
}

struct Line<'a> {
    r: &'a RequestRecord,
    anchor: ClockAnchor,
    request: &'a RawRequest,
    response: &'a RawResponse,
}

impl Serialize for Line<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        let metadata = Metadata {
            r: self.r,
            anchor: Some(self.anchor),
        };
        map.serialize_entry("metadata", &metadata)?;
        map.serialize_entry("start_perf_ns", &self.r.start_ns)?;
        map.serialize_entry("request_headers", &Headers(&self.request.headers))?;
        map.serialize_entry("status", &self.r.status)?;
        map.serialize_entry("responses", &Responses(self.response))?;
        map.serialize_entry("payload", &self.request.payload)?;
        map.end()
    }
}

struct Headers<'a>(&'a [(String, String)]);

impl Serialize for Headers<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

struct Responses<'a>(&'a RawResponse);

impl Serialize for Responses<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for (ns, kind, data) in self.0.pieces() {
            seq.serialize_element(&Piece(ns, kind, data))?;
        }
        seq.end()
    }
}

struct Piece<'a>(u64, RawKind, &'a [u8]);

impl Serialize for Piece<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("perf_ns", &self.0)?;
        let text = String::from_utf8_lossy(self.2);
        match self.1 {
            RawKind::SseData => map.serialize_entry("packets", &[Packet(&text)])?,
            RawKind::Body => map.serialize_entry("text", &text)?,
        }
        map.end()
    }
}

struct Packet<'a>(&'a str);

impl Serialize for Packet<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("name", "data")?;
        map.serialize_entry("value", self.0)?;
        map.end()
    }
}

/// Writes one request's raw line (and its newline).
pub fn write_line(
    w: &mut impl Write,
    r: &RequestRecord,
    anchor: ClockAnchor,
    request: &RawRequest,
    response: &RawResponse,
) -> io::Result<()> {
    let line = Line {
        r,
        anchor,
        request,
        response,
    };
    serde_json::to_writer(&mut *w, &line).map_err(io::Error::other)?;
    w.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn request() -> PreparedRequest {
        let head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer sk-1\r\nContent-Type: application/json\r\n\r\n".to_vec();
        let body = br#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"input_audio","input_audio":{"data":"#;
        let audio: Arc<[u8]> = Arc::from(&br#""QUJDRA==""#[..]);
        let end: Arc<[u8]> = Arc::from(&br#","format":"wav"}}]}],"stream":true}"#[..]);
        PreparedRequest {
            body_offset: head.len(),
            http: head,
            tail: vec![Arc::from(&body[..]), audio, end],
            ..Default::default()
        }
    }

    #[test]
    fn a_raw_line_holds_headers_events_and_the_payload_without_audio() {
        let mut rec = RequestRecord {
            request_id: 3,
            start_ns: 1_000,
            end_ns: 9_000,
            status: Some(200),
            ..Default::default()
        };
        rec.ack_ns = Some(2_000);
        let mut resp = RawResponse::default();
        resp.push(2_500, RawKind::SseData, br#"{"choices":[]}"#);
        resp.push(8_000, RawKind::SseData, b"[DONE]");
        let anchor = ClockAnchor {
            mono_ns: 0,
            wall_ns: 1_000_000,
        };
        let mut out = Vec::new();
        write_line(
            &mut out,
            &rec,
            anchor,
            &RawRequest::new(&request(), false),
            &resp,
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["metadata"]["session_num"], 3);
        assert_eq!(v["metadata"]["request_start_ns"], 1_001_000);
        assert_eq!(v["start_perf_ns"], 1_000);
        assert_eq!(v["status"], 200);
        assert_eq!(v["request_headers"]["Host"], "h");
        assert_eq!(v["request_headers"]["Authorization"], "<redacted>");
        assert_eq!(v["responses"][0]["perf_ns"], 2_500);
        assert_eq!(v["responses"][0]["packets"][0]["name"], "data");
        assert_eq!(v["responses"][1]["packets"][0]["value"], "[DONE]");
        let part = &v["payload"]["messages"][0]["content"][1]["input_audio"];
        assert_eq!(
            part["data"],
            "<8 base64 characters elided; --export-raw-audio keeps them>"
        );
        assert_eq!(part["format"], "wav");
        assert!(out.ends_with(b"\n"));

        let mut kept = Vec::new();
        let body = RawResponse::default();
        write_line(
            &mut kept,
            &rec,
            anchor,
            &RawRequest::new(&request(), true),
            &body,
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&kept).unwrap();
        assert_eq!(
            v["payload"]["messages"][0]["content"][1]["input_audio"]["data"],
            "QUJDRA=="
        );
        assert_eq!(v["responses"], serde_json::json!([]));
    }
}
