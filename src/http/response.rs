//! HTTP/1.1 response head parsing: status, body framing and connection reuse.
//!
//! Owns the decision of how a response body is delimited (RFC 9112 §6.3) and
//! whether the connection may be reused. Pure and resumable: the caller keeps
//! appending bytes to one buffer and calls [`parse_response_head`] again until
//! it answers `Some`; nothing is stored between calls and nothing is copied
//! (httparse hands out slices of the caller's buffer). Heads are capped at
//! [`MAX_HEAD_BYTES`] so a broken server cannot make a worker buffer forever.

use std::fmt;

/// Largest response head (status line, headers, interim 1xx heads included).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Most header fields accepted in one head; the same bound hyper uses.
const MAX_HEADERS: usize = 100;

/// How the body that follows the head is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// Exactly this many bytes follow the head.
    ContentLength(u64),
    /// `Transfer-Encoding: chunked`: decode with [`super::chunked::ChunkedDecoder`].
    Chunked,
    /// No length given: the body ends when the server closes the connection.
    UntilClose,
}

/// The final (non-interim) response head found at the start of the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    /// Bytes of the buffer taken by the head, interim 1xx heads included; the
    /// body starts at `buf[head_len..]`.
    pub head_len: usize,
    pub framing: BodyFraming,
    /// The connection may carry another request after this body.
    pub keep_alive: bool,
    /// `Content-Type: text/event-stream` (parameters ignored).
    pub event_stream: bool,
}

/// Why a response head was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadError {
    /// No complete head within [`MAX_HEAD_BYTES`].
    TooLarge,
    /// The status line is not `HTTP/1.x NNN reason`.
    InvalidStatusLine,
    /// A header line is malformed (bad name, bad value byte, bad line end).
    InvalidHeader,
    /// More than `MAX_HEADERS` header fields.
    TooManyHeaders,
    /// A Content-Length value that is not a decimal number that fits in u64.
    InvalidContentLength,
    /// Several Content-Length values that differ.
    ConflictingContentLength,
    /// A transfer coding other than `chunked` (we never ask for one).
    UnsupportedTransferEncoding,
}

impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeadError::TooLarge => write!(f, "response head larger than {MAX_HEAD_BYTES} bytes"),
            HeadError::InvalidStatusLine => f.write_str("invalid status line"),
            HeadError::InvalidHeader => f.write_str("invalid header line"),
            HeadError::TooManyHeaders => {
                write!(f, "more than {MAX_HEADERS} response header fields")
            }
            HeadError::InvalidContentLength => f.write_str("invalid Content-Length"),
            HeadError::ConflictingContentLength => {
                f.write_str("conflicting Content-Length headers")
            }
            HeadError::UnsupportedTransferEncoding => f.write_str(
                "unsupported Transfer-Encoding (only chunked; audioperf asks for no compression)",
            ),
        }
    }
}

impl std::error::Error for HeadError {}

/// Parses the response head at the start of `buf`.
///
/// `Ok(None)`: the head is not complete yet, read more and call again with the
/// longer buffer. Interim 1xx heads (except 101) are skipped, so the result
/// is always the final head, and `head_len` covers the interim heads too.
/// Once `buf` holds more than [`MAX_HEAD_BYTES`] without a complete head, or
/// the complete head is longer than that, the answer is `Err(TooLarge)`.
pub fn parse_response_head(buf: &[u8]) -> Result<Option<ResponseHead>, HeadError> {
    let mut offset = 0;
    loop {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        // RFC 9112 §5.2: a client replaces an obsolete line folding (a header
        // line starting with a space) with spaces instead of rejecting it.
        let len = match httparse::ParserConfig::default()
            .allow_obsolete_multiline_headers_in_responses(true)
            .parse_response(&mut response, &buf[offset..])
        {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => {
                return if buf.len() > MAX_HEAD_BYTES {
                    Err(HeadError::TooLarge)
                } else {
                    Ok(None)
                };
            }
            Err(e) => return Err(map_httparse_error(e)),
        };
        let head_len = offset + len;
        if head_len > MAX_HEAD_BYTES {
            return Err(HeadError::TooLarge);
        }
        let status = response.code.ok_or(HeadError::InvalidStatusLine)?;
        if (100..200).contains(&status) && status != 101 {
            // An interim response (100 Continue, 103 Early Hints): the real one follows.
            offset = head_len;
            continue;
        }
        let http10 = response.version == Some(0);
        return interpret(status, http10, response.headers, head_len).map(Some);
    }
}

fn map_httparse_error(e: httparse::Error) -> HeadError {
    match e {
        httparse::Error::Status | httparse::Error::Version => HeadError::InvalidStatusLine,
        httparse::Error::TooManyHeaders => HeadError::TooManyHeaders,
        // HeaderName, HeaderValue, NewLine, Token: all mean a broken header section.
        _ => HeadError::InvalidHeader,
    }
}

/// Reads the few headers that matter from a complete final head.
fn interpret(
    status: u16,
    http10: bool,
    headers: &[httparse::Header<'_>],
    head_len: usize,
) -> Result<ResponseHead, HeadError> {
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut has_transfer_encoding = false;
    let mut conn_close = false;
    let mut conn_keep_alive = false;
    let mut event_stream = false;

    for h in headers {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            // RFC 9110 §8.6: repeated identical values (as a list or as
            // several fields) are allowed; differing ones are an error.
            for item in h.value.split(|&b| b == b',') {
                let n = parse_decimal(trim(item)).ok_or(HeadError::InvalidContentLength)?;
                match content_length {
                    Some(prev) if prev != n => return Err(HeadError::ConflictingContentLength),
                    _ => content_length = Some(n),
                }
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            has_transfer_encoding = true;
            for coding in h.value.split(|&b| b == b',').map(trim) {
                if coding.is_empty() {
                    continue;
                }
                // `chunked` must be the one and final coding: anything else
                // (gzip, a repeated chunked) is a coding we cannot undo.
                if coding.eq_ignore_ascii_case(b"chunked") && !chunked {
                    chunked = true;
                } else {
                    return Err(HeadError::UnsupportedTransferEncoding);
                }
            }
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in h.value.split(|&b| b == b',').map(trim) {
                if token.eq_ignore_ascii_case(b"close") {
                    conn_close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    conn_keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"content-type") {
            let media_type = h.value.split(|&b| b == b';').next().unwrap_or_default();
            event_stream = trim(media_type).eq_ignore_ascii_case(b"text/event-stream");
        }
    }
    if has_transfer_encoding && !chunked {
        return Err(HeadError::UnsupportedTransferEncoding);
    }

    let framing = if status == 204 || status == 304 || status == 101 {
        // These never carry a body, whatever the headers say (RFC 9112 §6.3).
        BodyFraming::ContentLength(0)
    } else if chunked {
        // Chunked wins over Content-Length (RFC 9112 §6.3, rule 3).
        BodyFraming::Chunked
    } else if let Some(n) = content_length {
        BodyFraming::ContentLength(n)
    } else {
        BodyFraming::UntilClose
    };

    let mut keep_alive = if http10 { conn_keep_alive } else { !conn_close };
    // A body delimited by close leaves nothing to reuse; after 101 the
    // connection speaks another protocol.
    if framing == BodyFraming::UntilClose || status == 101 || conn_close {
        keep_alive = false;
    }

    Ok(ResponseHead {
        status,
        head_len,
        framing,
        keep_alive,
        event_stream,
    })
}

/// Trims spaces and tabs, and the CR LF of an obsolete line folding.
fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t' | b'\r' | b'\n', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t' | b'\r' | b'\n'] = s {
        s = rest;
    }
    s
}

/// A non-empty run of ASCII digits that fits in u64 (no sign, no spaces).
fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The head vLLM (uvicorn) sends for a streaming chat completion.
    const VLLM_SSE_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\n\
        date: Sun, 22 Nov 2026 07:00:00 GMT\r\n\
        server: uvicorn\r\n\
        content-type: text/event-stream; charset=utf-8\r\n\
        transfer-encoding: chunked\r\n\r\n";

    const VLLM_JSON_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\n\
        date: Sun, 22 Nov 2026 07:00:00 GMT\r\n\
        server: uvicorn\r\n\
        content-length: 431\r\n\
        content-type: application/json\r\n\r\n";

    fn parse(s: &[u8]) -> ResponseHead {
        match parse_response_head(s) {
            Ok(Some(h)) => h,
            other => panic!("expected a head, got {other:?}"),
        }
    }

    #[test]
    fn vllm_streaming_head() {
        let mut buf = VLLM_SSE_HEAD.to_vec();
        buf.extend_from_slice(b"9e\r\ndata: {...}");
        let h = parse(&buf);
        assert_eq!(
            h,
            ResponseHead {
                status: 200,
                head_len: VLLM_SSE_HEAD.len(),
                framing: BodyFraming::Chunked,
                keep_alive: true,
                event_stream: true,
            }
        );
    }

    #[test]
    fn vllm_json_head() {
        let h = parse(VLLM_JSON_HEAD);
        assert_eq!(h.status, 200);
        assert_eq!(h.head_len, VLLM_JSON_HEAD.len());
        assert_eq!(h.framing, BodyFraming::ContentLength(431));
        assert!(h.keep_alive);
        assert!(!h.event_stream);
    }

    #[test]
    fn missing_reason_phrase_and_header_case() {
        let h = parse(
            b"HTTP/1.1 503\r\nCONTENT-LENGTH: 2\r\nContent-Type: TEXT/EVENT-STREAM\r\n\r\nno",
        );
        assert_eq!(
            (h.status, h.framing, h.event_stream),
            (503, BodyFraming::ContentLength(2), true)
        );
    }

    /// An obsolete folded header line is read as spaces (RFC 9112 §5.2).
    #[test]
    fn folded_header_lines_are_unfolded() {
        let h = parse(
            b"HTTP/1.1 200 OK\r\nX-Note: a\r\n  b\r\nContent-Type:\r\n text/event-stream\r\nContent-Length: 3\r\n\r\n",
        );
        assert!(h.event_stream);
        assert_eq!(h.framing, BodyFraming::ContentLength(3));
    }

    #[test]
    fn partial_head_needs_more() {
        assert_eq!(parse_response_head(b""), Ok(None));
        assert_eq!(
            parse_response_head(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n"),
            Ok(None)
        );
    }

    #[test]
    fn interim_heads_are_skipped() {
        let interim =
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n";
        let mut buf = interim.to_vec();
        buf.extend_from_slice(b"HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\n\r\nnot found");
        let h = parse(&buf);
        assert_eq!(h.status, 404);
        assert_eq!(h.framing, BodyFraming::ContentLength(9));
        assert_eq!(&buf[h.head_len..], b"not found");
        // Only the interim head has arrived: need more.
        assert_eq!(parse_response_head(interim), Ok(None));
    }

    #[test]
    fn switching_protocols_is_final_and_not_reusable() {
        let h = parse(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: h2c\r\n\r\n");
        assert_eq!(
            (h.status, h.framing, h.keep_alive),
            (101, BodyFraming::ContentLength(0), false)
        );
    }

    #[test]
    fn chunked_wins_over_content_length() {
        let h =
            parse(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\nTransfer-Encoding: Chunked\r\n\r\n");
        assert_eq!(h.framing, BodyFraming::Chunked);
    }

    #[test]
    fn no_body_statuses() {
        let h = parse(b"HTTP/1.1 204 No Content\r\n\r\n");
        assert_eq!(
            (h.framing, h.keep_alive),
            (BodyFraming::ContentLength(0), true)
        );
        let h = parse(b"HTTP/1.1 304 Not Modified\r\ncontent-length: 50\r\n\r\n");
        assert_eq!(h.framing, BodyFraming::ContentLength(0));
    }

    #[test]
    fn no_framing_reads_until_close() {
        let h = parse(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n");
        assert_eq!(
            (h.framing, h.keep_alive, h.event_stream),
            (BodyFraming::UntilClose, false, true)
        );
    }

    #[test]
    fn connection_reuse_rules() {
        assert!(
            !parse(b"HTTP/1.1 200 OK\r\nConnection: close\r\ncontent-length: 0\r\n\r\n").keep_alive
        );
        assert!(
            !parse(b"HTTP/1.1 200 OK\r\nconnection: upgrade, Close\r\ncontent-length: 0\r\n\r\n")
                .keep_alive
        );
        assert!(!parse(b"HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n").keep_alive);
        assert!(
            parse(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\ncontent-length: 0\r\n\r\n")
                .keep_alive
        );
        assert!(parse(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").keep_alive);
    }

    #[test]
    fn content_length_lists_and_duplicates() {
        let h = parse(b"HTTP/1.1 200 OK\r\ncontent-length: 7, 7\r\nContent-Length: 7\r\n\r\n");
        assert_eq!(h.framing, BodyFraming::ContentLength(7));
        assert_eq!(
            parse_response_head(
                b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\ncontent-length: 8\r\n\r\n"
            ),
            Err(HeadError::ConflictingContentLength)
        );
        for bad in ["-1", "", "1 2", "0x10", "+5", "18446744073709551616"] {
            let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {bad}\r\n\r\n");
            assert_eq!(
                parse_response_head(head.as_bytes()),
                Err(HeadError::InvalidContentLength),
                "{bad:?}"
            );
        }
        let h = parse(b"HTTP/1.1 200 OK\r\ncontent-length: 18446744073709551615\r\n\r\n");
        assert_eq!(h.framing, BodyFraming::ContentLength(u64::MAX));
    }

    #[test]
    fn transfer_codings_other_than_chunked_are_refused() {
        for te in ["gzip", "gzip, chunked", "chunked, chunked", "identity"] {
            let head = format!("HTTP/1.1 200 OK\r\ntransfer-encoding: {te}\r\n\r\n");
            assert_eq!(
                parse_response_head(head.as_bytes()),
                Err(HeadError::UnsupportedTransferEncoding),
                "{te:?}"
            );
        }
    }

    #[test]
    fn bad_status_lines() {
        for bad in [
            &b"HTTX/1.1 200 OK\r\n\r\n"[..],
            b"HTTP/1.1 2x0 OK\r\n\r\n",
            b"HTTP/2 200\r\n\r\n",
        ] {
            assert_eq!(parse_response_head(bad), Err(HeadError::InvalidStatusLine));
        }
        assert_eq!(
            parse_response_head(b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n"),
            Err(HeadError::InvalidHeader)
        );
    }

    #[test]
    fn size_limit() {
        let mut buf = b"HTTP/1.1 200 OK\r\nx-filler: ".to_vec();
        buf.resize(MAX_HEAD_BYTES, b'a');
        assert_eq!(parse_response_head(&buf), Ok(None));
        buf.push(b'a');
        // Still partial, but beyond the limit: refused rather than buffered on.
        assert_eq!(parse_response_head(&buf), Err(HeadError::TooLarge));
        // A complete head over the limit is refused too, even with fewer than MAX_HEADERS lines.
        let mut big = b"HTTP/1.1 200 OK\r\nx-big: ".to_vec();
        big.resize(MAX_HEAD_BYTES + 10, b'a');
        big.extend_from_slice(b"\r\n\r\n");
        assert_eq!(parse_response_head(&big), Err(HeadError::TooLarge));
        assert_eq!(
            HeadError::TooLarge.to_string(),
            "response head larger than 65536 bytes"
        );
    }

    #[test]
    fn too_many_headers() {
        let mut buf = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            buf.extend_from_slice(format!("x-h{i}: v\r\n").as_bytes());
        }
        buf.extend_from_slice(b"\r\n");
        assert_eq!(parse_response_head(&buf), Err(HeadError::TooManyHeaders));
    }

    fn arb_head() -> impl Strategy<Value = Vec<u8>> {
        let framing = prop_oneof![
            Just("transfer-encoding: chunked\r\n".to_string()),
            (0u64..1_000_000).prop_map(|n| format!("Content-Length: {n}\r\n")),
            Just(String::new()),
        ];
        (
            prop::sample::select(vec![200u16, 204, 400, 404, 500, 503]),
            any::<bool>(),
            framing,
            prop::collection::vec("[a-z][a-z0-9-]{0,12}: [ -~]{0,40}", 0..8),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(status, interim, framing, extra, close, lf_only)| {
                let mut s = String::new();
                if interim {
                    s.push_str("HTTP/1.1 100 Continue\r\n\r\n");
                }
                s.push_str(&format!("HTTP/1.1 {status} Whatever\r\n"));
                for e in extra {
                    // Keep the generated fields from touching the framing headers.
                    s.push_str("x-");
                    s.push_str(&e);
                    s.push_str("\r\n");
                }
                s.push_str(&framing);
                if close {
                    s.push_str("connection: close\r\n");
                }
                s.push_str("content-type: text/event-stream\r\n\r\n");
                if lf_only {
                    s = s.replace("\r\n", "\n");
                }
                s.into_bytes()
            })
    }

    proptest! {
        /// Every prefix shorter than the head needs more bytes; every longer
        /// one gives the same head (the engine re-parses a growing buffer).
        #[test]
        fn prefixes_agree(head in arb_head(), body in prop::collection::vec(any::<u8>(), 0..64)) {
            let mut buf = head.clone();
            buf.extend_from_slice(&body);
            let full = parse_response_head(&buf);
            let Ok(Some(full)) = full else { panic!("{full:?}") };
            prop_assert_eq!(full.head_len, head.len());
            for cut in 0..buf.len() {
                let got = parse_response_head(&buf[..cut]);
                if cut < head.len() {
                    prop_assert_eq!(got, Ok(None), "cut {}", cut);
                } else {
                    prop_assert_eq!(got, Ok(Some(full)), "cut {}", cut);
                }
            }
        }

        /// CRLF and bare-LF heads mean the same thing.
        #[test]
        fn lf_equals_crlf(head in arb_head()) {
            let text = String::from_utf8_lossy(&head).replace("\r\n", "\n");
            let crlf = text.replace('\n', "\r\n");
            let a = parse_response_head(text.as_bytes());
            let b = parse_response_head(crlf.as_bytes());
            let (Ok(Some(a)), Ok(Some(b))) = (a, b) else { panic!("{a:?} {b:?}") };
            prop_assert_eq!((a.status, a.framing, a.keep_alive, a.event_stream),
                (b.status, b.framing, b.keep_alive, b.event_stream));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_response_head(&bytes);
        }

        #[test]
        fn status_line_then_garbage_never_panics(tail in prop::collection::vec(any::<u8>(), 0..256)) {
            let mut buf = b"HTTP/1.1 200 OK\r\n".to_vec();
            buf.extend_from_slice(&tail);
            let _ = parse_response_head(&buf);
        }
    }
}
