//! A resumable decoder for `Transfer-Encoding: chunked` bodies (RFC 9112 §7.1).
//!
//! Owns only the framing: it hands out body bytes as slices of the caller's
//! input (zero copy) and keeps a few integers of state between reads, so a
//! chunk may be cut anywhere by the network. It allocates nothing and enforces
//! explicit limits (size line, chunk size, trailer section) so a broken
//! server cannot make it loop or buffer. Modelled on hyper's `h1/decode.rs`.
//! Bare LF is accepted where CRLF is due (RFC 9112 §2.2 allows that leniency).

use std::fmt;

/// Longest chunk-size line, extensions included, line end excluded.
pub const MAX_SIZE_LINE: usize = 4 * 1024;
/// Largest single chunk (1 TiB): beyond any real response, far below overflow.
pub const MAX_CHUNK_SIZE: u64 = 1 << 40;
/// Largest trailer section, line ends included.
pub const MAX_TRAILERS: usize = 16 * 1024;

/// Outcome of one [`ChunkedDecoder::decode`] call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkStatus {
    /// Bytes of `input` used. Equals `input.len()` unless `done`, in which case
    /// the bytes after `consumed` belong to whatever follows the body.
    pub consumed: usize,
    /// The last chunk and the trailer section have been read: the body is complete.
    pub done: bool,
}

/// Why a chunked body was rejected. The decoder must be `reset` after an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkError {
    /// The size line holds something other than hex digits, whitespace and extensions.
    InvalidSizeLine,
    /// The size line is longer than [`MAX_SIZE_LINE`].
    SizeLineTooLong,
    /// A chunk larger than [`MAX_CHUNK_SIZE`].
    ChunkTooLarge,
    /// The chunk data is not followed by CRLF.
    MissingCrlfAfterData,
    /// A trailer line ends with a bare CR, or the section does not end with CRLF.
    InvalidTrailer,
    /// The trailer section is longer than [`MAX_TRAILERS`].
    TrailersTooLarge,
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChunkError::InvalidSizeLine => f.write_str("invalid chunk size line"),
            ChunkError::SizeLineTooLong => {
                write!(f, "chunk size line longer than {MAX_SIZE_LINE} bytes")
            }
            ChunkError::ChunkTooLarge => write!(f, "chunk size larger than {MAX_CHUNK_SIZE} bytes"),
            ChunkError::MissingCrlfAfterData => f.write_str("missing CRLF after chunk data"),
            ChunkError::InvalidTrailer => f.write_str("invalid chunk trailer section"),
            ChunkError::TrailersTooLarge => {
                write!(f, "chunk trailers larger than {MAX_TRAILERS} bytes")
            }
        }
    }
}

impl std::error::Error for ChunkError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Expecting the first hex digit of a size line.
    SizeStart,
    /// In the hex digits.
    Size,
    /// Whitespace after the digits (BWS before `;` or the line end).
    SizeWs,
    /// In `;name=value` extensions, ignored up to the line end.
    Extension,
    /// Saw CR at the end of the size line.
    SizeLf,
    /// `remaining` bytes of chunk data still to come.
    Data,
    /// Expecting the CR after chunk data.
    DataCr,
    /// Expecting the LF after chunk data.
    DataLf,
    /// At the start of a trailer line (or of the final empty line).
    TrailerStart,
    /// Inside a trailer field line.
    TrailerLine,
    /// Saw CR inside a trailer line.
    TrailerLf,
    /// Saw CR on the final empty line.
    EndLf,
    Done,
}

/// The decoder: a few integers, reused for every response on a connection.
#[derive(Clone, Debug)]
pub struct ChunkedDecoder {
    state: State,
    /// The chunk size being read, then the data bytes left in that chunk.
    remaining: u64,
    /// Bytes of the current size line so far.
    line_len: usize,
    /// Bytes of the trailer section so far.
    trailer_len: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        ChunkedDecoder {
            state: State::SizeStart,
            remaining: 0,
            line_len: 0,
            trailer_len: 0,
        }
    }

    /// Gets ready for the next body (after completion or an error).
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// The terminating chunk and trailers have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes as much of `input` as possible, calling `on_data` with each run
    /// of body bytes (borrowed from `input`, never empty). Call again with the
    /// next read until `done`.
    pub fn decode(
        &mut self,
        input: &[u8],
        mut on_data: impl FnMut(&[u8]),
    ) -> Result<ChunkStatus, ChunkError> {
        if self.state == State::Done {
            return Ok(ChunkStatus {
                consumed: 0,
                done: true,
            });
        }
        let mut i = 0;
        while i < input.len() {
            if self.state == State::Data {
                // The hot case: hand out as much of the chunk as this read holds.
                let avail = input.len() - i;
                let take = usize::try_from(self.remaining).map_or(avail, |r| r.min(avail));
                on_data(&input[i..i + take]);
                i += take;
                self.remaining -= take as u64;
                if self.remaining == 0 {
                    self.state = State::DataCr;
                }
                continue;
            }
            let b = input[i];
            i += 1;
            self.step(b)?;
            if self.state == State::Done {
                return Ok(ChunkStatus {
                    consumed: i,
                    done: true,
                });
            }
        }
        Ok(ChunkStatus {
            consumed: input.len(),
            done: self.state == State::Done,
        })
    }

    /// Advances the framing state machine by one byte (everything but data).
    fn step(&mut self, b: u8) -> Result<(), ChunkError> {
        match self.state {
            State::SizeStart | State::Size => {
                if let Some(d) = hex_value(b) {
                    self.count_line_byte()?;
                    self.remaining = self.remaining * 16 + u64::from(d);
                    if self.remaining > MAX_CHUNK_SIZE {
                        return Err(ChunkError::ChunkTooLarge);
                    }
                    self.state = State::Size;
                } else if self.state == State::SizeStart {
                    return Err(ChunkError::InvalidSizeLine);
                } else {
                    self.after_size(b)?;
                }
            }
            State::SizeWs => self.after_size(b)?,
            State::Extension => match b {
                b'\r' => self.state = State::SizeLf,
                b'\n' => self.end_size_line(),
                // Any visible byte, space or tab: extensions are not interpreted.
                b'\t' | b' '..=b'~' | 0x80..=0xff => self.count_line_byte()?,
                _ => return Err(ChunkError::InvalidSizeLine),
            },
            State::SizeLf => {
                if b != b'\n' {
                    return Err(ChunkError::InvalidSizeLine);
                }
                self.end_size_line();
            }
            State::DataCr => match b {
                b'\r' => self.state = State::DataLf,
                b'\n' => self.state = State::SizeStart,
                _ => return Err(ChunkError::MissingCrlfAfterData),
            },
            State::DataLf => {
                if b != b'\n' {
                    return Err(ChunkError::MissingCrlfAfterData);
                }
                self.state = State::SizeStart;
            }
            State::TrailerStart => match b {
                b'\r' => self.state = State::EndLf,
                b'\n' => self.state = State::Done,
                _ => {
                    self.count_trailer_byte()?;
                    self.state = State::TrailerLine;
                }
            },
            State::TrailerLine => {
                self.count_trailer_byte()?;
                match b {
                    b'\r' => self.state = State::TrailerLf,
                    b'\n' => self.state = State::TrailerStart,
                    _ => {}
                }
            }
            State::TrailerLf => {
                self.count_trailer_byte()?;
                if b != b'\n' {
                    return Err(ChunkError::InvalidTrailer);
                }
                self.state = State::TrailerStart;
            }
            State::EndLf => {
                if b != b'\n' {
                    return Err(ChunkError::InvalidTrailer);
                }
                self.state = State::Done;
            }
            // `decode` never steps in these states.
            State::Data | State::Done => {}
        }
        Ok(())
    }

    /// A byte after the hex digits: whitespace, an extension, or the line end.
    fn after_size(&mut self, b: u8) -> Result<(), ChunkError> {
        match b {
            b' ' | b'\t' => {
                self.count_line_byte()?;
                self.state = State::SizeWs;
            }
            b';' => {
                self.count_line_byte()?;
                self.state = State::Extension;
            }
            b'\r' => self.state = State::SizeLf,
            b'\n' => self.end_size_line(),
            _ => return Err(ChunkError::InvalidSizeLine),
        }
        Ok(())
    }

    fn end_size_line(&mut self) {
        self.line_len = 0;
        self.state = if self.remaining == 0 {
            State::TrailerStart
        } else {
            State::Data
        };
    }

    fn count_line_byte(&mut self) -> Result<(), ChunkError> {
        self.line_len += 1;
        if self.line_len > MAX_SIZE_LINE {
            return Err(ChunkError::SizeLineTooLong);
        }
        Ok(())
    }

    fn count_trailer_byte(&mut self) -> Result<(), ChunkError> {
        self.trailer_len += 1;
        if self.trailer_len > MAX_TRAILERS {
            return Err(ChunkError::TrailersTooLarge);
        }
        Ok(())
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Decodes `input` in one call; returns (body, status).
    fn decode_all(input: &[u8]) -> Result<(Vec<u8>, ChunkStatus), ChunkError> {
        let mut d = ChunkedDecoder::new();
        let mut body = Vec::new();
        let st = d.decode(input, |s| body.extend_from_slice(s))?;
        Ok((body, st))
    }

    /// Two vLLM SSE events as uvicorn frames them, then the last chunk.
    const VLLM: &[u8] = b"9a\r\ndata: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n\r\ne\r\ndata: [DONE]\n\n\r\n0\r\n\r\n";

    #[test]
    fn vllm_body() {
        let mut input = VLLM.to_vec();
        input.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        let (body, st) = decode_all(&input).unwrap();
        assert_eq!(
            st,
            ChunkStatus {
                consumed: VLLM.len(),
                done: true
            }
        );
        assert_eq!(body.len(), 0x9a + 0xe);
        assert!(body.ends_with(b"}]}\n\ndata: [DONE]\n\n"));
    }

    #[test]
    fn data_is_borrowed_from_input() {
        let input = b"5\r\nhello\r\n0\r\n\r\n";
        let mut d = ChunkedDecoder::new();
        let mut ptrs = Vec::new();
        d.decode(input, |s| ptrs.push((s.as_ptr(), s.len())))
            .unwrap();
        assert_eq!(ptrs, vec![(input[3..].as_ptr(), 5)]);
    }

    #[test]
    fn extensions_trailers_case_and_whitespace() {
        let input = b"A;name=val;q=\"x y\"\r\n0123456789\r\n1f \t; ext\r\nabcdefghijklmnopqrstuvwxyzABCDE\r\n000\r\nx-trailer: 1\r\nother: 2\r\n\r\n";
        let (body, st) = decode_all(input).unwrap();
        assert_eq!(body, b"0123456789abcdefghijklmnopqrstuvwxyzABCDE");
        assert_eq!(
            st,
            ChunkStatus {
                consumed: input.len(),
                done: true
            }
        );
    }

    #[test]
    fn bare_lf_is_accepted() {
        let (body, st) = decode_all(b"3\nabc\n0\nt: v\n\n").unwrap();
        assert_eq!((body.as_slice(), st.done), (&b"abc"[..], true));
    }

    #[test]
    fn resumes_byte_by_byte() {
        let mut d = ChunkedDecoder::new();
        let mut body = Vec::new();
        let mut done_at = None;
        for (i, b) in VLLM.iter().enumerate() {
            let st = d
                .decode(std::slice::from_ref(b), |s| body.extend_from_slice(s))
                .unwrap();
            assert_eq!(st.consumed, 1);
            if st.done {
                done_at = Some(i);
                break;
            }
        }
        assert_eq!(done_at, Some(VLLM.len() - 1));
        assert_eq!(body.len(), 0x9a + 0xe);
        // Once done, further input is not consumed.
        assert_eq!(
            d.decode(b"more", |_| {}).unwrap(),
            ChunkStatus {
                consumed: 0,
                done: true
            }
        );
        d.reset();
        assert!(!d.is_done());
    }

    #[test]
    fn errors_are_precise() {
        let cases: &[(&[u8], ChunkError)] = &[
            (b"xyz\r\n", ChunkError::InvalidSizeLine),
            (b"\r\n", ChunkError::InvalidSizeLine),
            (b"5 5\r\n", ChunkError::InvalidSizeLine),
            (b"5\rx", ChunkError::InvalidSizeLine),
            (b"-5\r\n", ChunkError::InvalidSizeLine),
            (b"5;a\x01\r\n", ChunkError::InvalidSizeLine),
            (b"10000000001\r\n", ChunkError::ChunkTooLarge),
            (b"3\r\nabcX", ChunkError::MissingCrlfAfterData),
            (b"3\r\nabc\rX", ChunkError::MissingCrlfAfterData),
            (b"0\r\nt: v\rX", ChunkError::InvalidTrailer),
            (b"0\r\n\rX", ChunkError::InvalidTrailer),
        ];
        for (input, want) in cases {
            assert_eq!(
                decode_all(input),
                Err(*want),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        // 2^40 exactly is allowed.
        let (_, st) = decode_all(b"10000000000\r\nab").unwrap();
        assert_eq!(
            st,
            ChunkStatus {
                consumed: 15,
                done: false
            }
        );
        assert_eq!(
            ChunkError::MissingCrlfAfterData.to_string(),
            "missing CRLF after chunk data"
        );
    }

    #[test]
    fn limits() {
        let mut line = b"1;".to_vec();
        line.resize(MAX_SIZE_LINE, b'a');
        line.extend_from_slice(b"\r\nx\r\n");
        assert!(decode_all(&line).is_ok());
        let mut line = b"1;".to_vec();
        line.resize(MAX_SIZE_LINE + 1, b'a');
        assert_eq!(decode_all(&line), Err(ChunkError::SizeLineTooLong));
        let mut zeros = vec![b'0'; MAX_SIZE_LINE + 1];
        zeros.extend_from_slice(b"\r\n");
        assert_eq!(decode_all(&zeros), Err(ChunkError::SizeLineTooLong));

        let mut trailers = b"0\r\n".to_vec();
        while trailers.len() < MAX_TRAILERS + 10 {
            trailers.extend_from_slice(b"x-t: aaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        assert_eq!(decode_all(&trailers), Err(ChunkError::TrailersTooLarge));
    }

    /// Encodes `body` cut at `cuts` with the given spelling choices.
    fn encode(
        body: &[u8],
        cuts: &[usize],
        upper: bool,
        ext: bool,
        trailer: bool,
        lf: bool,
    ) -> Vec<u8> {
        let nl: &[u8] = if lf { b"\n" } else { b"\r\n" };
        let mut out = Vec::new();
        let mut start = 0;
        let mut bounds: Vec<usize> = cuts.iter().map(|&c| c.min(body.len())).collect();
        bounds.sort_unstable();
        bounds.push(body.len());
        for end in bounds {
            if end <= start {
                continue;
            }
            let size = if upper {
                format!("{:X}", end - start)
            } else {
                format!("{:x}", end - start)
            };
            out.extend_from_slice(size.as_bytes());
            if ext {
                out.extend_from_slice(b" ;foo=\"bar\"");
            }
            out.extend_from_slice(nl);
            out.extend_from_slice(&body[start..end]);
            out.extend_from_slice(nl);
            start = end;
        }
        out.push(b'0');
        out.extend_from_slice(nl);
        if trailer {
            out.extend_from_slice(b"x-checksum: abc");
            out.extend_from_slice(nl);
        }
        out.extend_from_slice(nl);
        out
    }

    proptest! {
        /// Any chunking of any body, read in any pieces, decodes to the body,
        /// consumes exactly the encoding and leaves what follows alone.
        #[test]
        fn random_chunks_and_reads(
            body in prop::collection::vec(any::<u8>(), 0..2000),
            cuts in prop::collection::vec(0usize..2000, 0..20),
            reads in prop::collection::vec(1usize..64, 1..50),
            upper: bool, ext: bool, trailer: bool, lf: bool,
        ) {
            let mut wire = encode(&body, &cuts, upper, ext, trailer, lf);
            let encoded_len = wire.len();
            wire.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
            let mut d = ChunkedDecoder::new();
            let mut got = Vec::new();
            let mut pos = 0;
            let mut k = 0;
            let mut done = false;
            while pos < wire.len() && !done {
                let n = reads[k % reads.len()].min(wire.len() - pos);
                k += 1;
                let st = d.decode(&wire[pos..pos + n], |s| got.extend_from_slice(s)).unwrap();
                prop_assert!(st.done || st.consumed == n);
                pos += st.consumed;
                done = st.done;
            }
            prop_assert!(done);
            prop_assert_eq!(pos, encoded_len);
            prop_assert_eq!(got, body);
        }

        /// Every single split point gives the same result as one read.
        #[test]
        fn every_split_point(body in prop::collection::vec(any::<u8>(), 0..300),
                             cuts in prop::collection::vec(0usize..300, 0..6), lf: bool) {
            let wire = encode(&body, &cuts, false, true, true, lf);
            for split in 0..=wire.len() {
                let mut d = ChunkedDecoder::new();
                let mut got = Vec::new();
                let a = d.decode(&wire[..split], |s| got.extend_from_slice(s)).unwrap();
                let b = d.decode(&wire[split..], |s| got.extend_from_slice(s)).unwrap();
                prop_assert_eq!(a.consumed + b.consumed, wire.len());
                prop_assert!(b.done || (a.done && split == wire.len()));
                prop_assert_eq!(&got, &body);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512),
                                       split in 0usize..512) {
            let mut d = ChunkedDecoder::new();
            let split = split.min(bytes.len());
            let mut total = 0usize;
            if let Ok(st) = d.decode(&bytes[..split], |s| total += s.len()) {
                prop_assert!(st.consumed <= split);
                if !st.done {
                    let _ = d.decode(&bytes[split..], |s| total += s.len());
                }
            }
            prop_assert!(total <= bytes.len());
        }
    }
}
