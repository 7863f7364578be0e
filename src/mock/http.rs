//! Server-side HTTP/1.1: request-head parsing (httparse) with size limits, and
//! response framing (response heads, fixed-length responses, chunks).
//! Request bodies must carry Content-Length; chunked request bodies are refused.

/// Largest request head accepted (431 above).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
const MAX_HEADERS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Delete,
    /// Answered only on `/metrics` (AIPerf probes it with HEAD first).
    Head,
    Other,
}

/// What the serve loop needs from a request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: Method,
    pub path: String,
    /// Body length (0 when there is no Content-Length).
    pub content_length: usize,
    /// Whether the connection stays open after the response.
    pub keep_alive: bool,
    /// `Expect: 100-continue` was sent (curl does so for bodies over 1 MiB).
    pub expect_continue: bool,
    /// The `Content-Type` value (a multipart body's boundary is in it).
    pub content_type: Option<String>,
    /// Bytes of the head, including the blank line.
    pub head_len: usize,
}

/// An error answered with `status` and an OpenAI-style body, then a close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    pub status: u16,
    pub message: String,
}

impl HttpError {
    fn new(status: u16, message: impl Into<String>) -> Self {
        HttpError {
            status,
            message: message.into(),
        }
    }
}

/// Parses the head at the start of `buf`. `Ok(None)`: incomplete, read more.
pub fn parse_head(buf: &[u8]) -> Result<Option<RequestHead>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() > MAX_HEAD_BYTES {
                return Err(HttpError::new(
                    431,
                    format!("request head exceeds {MAX_HEAD_BYTES} bytes"),
                ));
            }
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HttpError::new(
                431,
                format!("more than {MAX_HEADERS} request headers"),
            ))
        }
        Err(e) => return Err(HttpError::new(400, format!("malformed request head: {e}"))),
    };
    if head_len > MAX_HEAD_BYTES {
        return Err(HttpError::new(
            431,
            format!("request head exceeds {MAX_HEAD_BYTES} bytes"),
        ));
    }
    let method = match req.method {
        Some("GET") => Method::Get,
        Some("POST") => Method::Post,
        Some("DELETE") => Method::Delete,
        Some("HEAD") => Method::Head,
        _ => Method::Other,
    };
    let path = req.path.unwrap_or("/").to_string();
    let http10 = req.version == Some(0);
    let mut keep_alive = !http10;
    let mut content_length: Option<usize> = None;
    let mut expect_continue = false;
    let mut content_type = None;
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value)
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok())
                .ok_or_else(|| HttpError::new(400, "invalid Content-Length header"))?;
            if content_length.is_some_and(|c| c != v) {
                return Err(HttpError::new(400, "conflicting Content-Length headers"));
            }
            content_length = Some(v);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(HttpError::new(
                411,
                "chunked (Transfer-Encoding) request bodies are not supported; send Content-Length",
            ));
        } else if name.eq_ignore_ascii_case("connection") {
            let v = h.value;
            if contains_token(v, b"close") {
                keep_alive = false;
            } else if contains_token(v, b"keep-alive") {
                keep_alive = true;
            }
        } else if name.eq_ignore_ascii_case("expect") {
            expect_continue = contains_token(h.value, b"100-continue");
        } else if name.eq_ignore_ascii_case("content-type") {
            content_type = Some(String::from_utf8_lossy(h.value).into_owned());
        }
    }
    Ok(Some(RequestHead {
        method,
        path,
        content_length: content_length.unwrap_or(0),
        keep_alive,
        expect_continue,
        content_type,
        head_len,
    }))
}

fn contains_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// The content type of JSON bodies.
pub const JSON: &str = "application/json";
/// The content type of event streams.
pub const EVENT_STREAM: &str = "text/event-stream; charset=utf-8";

/// How a response's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `content-length: N` (which the caller may then deliberately not honour).
    Length(usize),
    /// `transfer-encoding: chunked`.
    Chunked,
    /// Neither: the body ends when the server closes the connection, so the
    /// head always says `connection: close`.
    UntilClose,
}

/// Appends a response head: status line, `server`, `content-type`, the
/// framing header, `connection: close` when `close`, the blank line.
pub fn write_head(
    out: &mut Vec<u8>,
    status: u16,
    content_type: &str,
    framing: Framing,
    close: bool,
) {
    use std::io::Write;
    let _ = write!(
        out,
        "HTTP/1.1 {status} {}\r\nserver: audioperf-mock\r\ncontent-type: {content_type}\r\n",
        reason(status)
    );
    match framing {
        Framing::Length(n) => {
            let _ = write!(out, "content-length: {n}\r\n");
        }
        Framing::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        Framing::UntilClose => {}
    }
    if close || framing == Framing::UntilClose {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends a complete fixed-length response.
pub fn write_response(
    out: &mut Vec<u8>,
    status: u16,
    content_type: &str,
    body: &[u8],
    close: bool,
) {
    write_head(
        out,
        status,
        content_type,
        Framing::Length(body.len()),
        close,
    );
    out.extend_from_slice(body);
}

/// Appends the head of a streamed (chunked, text/event-stream) 200 response.
pub fn write_stream_head(out: &mut Vec<u8>, close: bool) {
    out.extend_from_slice(
        b"HTTP/1.1 200 OK\r\nserver: audioperf-mock\r\ncontent-type: text/event-stream; charset=utf-8\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n",
    );
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends one chunk of chunked transfer coding holding `payload` (non-empty).
pub fn write_chunk(out: &mut Vec<u8>, payload: &[u8]) {
    use std::io::Write;
    let _ = write!(out, "{:x}\r\n", payload.len());
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

/// The zero-length chunk that ends a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

pub const CONTINUE_100: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_post_with_length_and_keep_alive() {
        let raw =
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n{\"a\":1}";
        let h = parse_head(raw).unwrap().unwrap();
        assert_eq!(
            h,
            RequestHead {
                method: Method::Post,
                path: "/v1/chat/completions".into(),
                content_length: 12,
                keep_alive: true,
                expect_continue: false,
                content_type: None,
                head_len: raw.len() - 7,
            }
        );
    }

    #[test]
    fn partial_head_then_limits() {
        assert_eq!(parse_head(b"GET /health HTTP/1.1\r\nHo").unwrap(), None);
        let mut big = b"GET / HTTP/1.1\r\nX-Pad: ".to_vec();
        big.resize(MAX_HEAD_BYTES + 10, b'a');
        assert_eq!(parse_head(&big).unwrap_err().status, 431);
    }

    #[test]
    fn connection_close_http10_and_expect() {
        let h = parse_head(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!h.keep_alive);
        let h = parse_head(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.keep_alive);
        let h = parse_head(b"POST / HTTP/1.1\r\nConnection: close\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!h.keep_alive);
        assert!(h.expect_continue);
        assert_eq!(h.content_length, 5);
    }

    #[test]
    fn chunked_and_bad_lengths_are_refused() {
        let e = parse_head(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap_err();
        assert_eq!(e.status, 411);
        let e = parse_head(b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n").unwrap_err();
        assert_eq!(
            (e.status, e.message.as_str()),
            (400, "invalid Content-Length header")
        );
        let e = parse_head(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
            .unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(
            parse_head(b"\x01\x02 / HTTP/1.1\r\n\r\n")
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn response_framing_bytes() {
        let mut out = Vec::new();
        write_response(&mut out, 200, "application/json", b"{}", false);
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nserver: audioperf-mock\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
        );
        out.clear();
        write_chunk(&mut out, b"data: [DONE]\n\n");
        assert_eq!(out, b"e\r\ndata: [DONE]\n\n\r\n");
        out.clear();
        write_stream_head(&mut out, true);
        assert!(out.ends_with(b"transfer-encoding: chunked\r\nconnection: close\r\n\r\n"));
        out.clear();
        write_head(&mut out, 200, JSON, Framing::Chunked, false);
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nserver: audioperf-mock\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
        );
        out.clear();
        write_head(&mut out, 200, JSON, Framing::Length(7), true);
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nserver: audioperf-mock\r\ncontent-type: application/json\r\ncontent-length: 7\r\nconnection: close\r\n\r\n"
        );
        out.clear();
        write_head(&mut out, 200, EVENT_STREAM, Framing::UntilClose, false);
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nserver: audioperf-mock\r\ncontent-type: text/event-stream; charset=utf-8\r\nconnection: close\r\n\r\n"
        );
    }
}
