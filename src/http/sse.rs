//! Server-sent events: splitting a de-framed body into events.
//!
//! [`SseSplitter`] follows the WHATWG event-stream rules (LF, CRLF or CR line
//! ends; `:` comments; `data` lines joined with `\n`; other fields ignored;
//! a blank line ends an event). It works in place: an event whose single data
//! line lies wholly inside one read is handed out as a slice of that read;
//! only an event cut across reads, or one with several data lines, is copied,
//! into a buffer reused for the whole connection and capped at
//! [`MAX_EVENT_BYTES`]. No allocation per event once the buffers have grown.
//! What an event's data means is the API's business (`crate::openai`).

/// Largest event (or partial line) the splitter buffers across reads.
pub const MAX_EVENT_BYTES: usize = 1 << 20;

/// Splits an event stream into events' data. One per response; `reset` between.
#[derive(Debug)]
pub struct SseSplitter {
    /// An unterminated line carried over from the previous read.
    line: Vec<u8>,
    /// The current event's data when it cannot be borrowed from the input.
    data: Vec<u8>,
    /// Data lines seen in the current event.
    data_lines: u32,
    /// The previous read ended with CR: an LF starting the next read ends that same line.
    pending_cr: bool,
    overflow: bool,
    max_event: usize,
    /// Bytes of a leading byte-order mark matched so far (the SSE spec skips
    /// one); `None` once the stream is past its start.
    bom_matched: Option<usize>,
}

impl Default for SseSplitter {
    fn default() -> Self {
        Self::new()
    }
}

/// What one complete line means.
enum Line {
    Blank,
    /// A `data` field; the value starts at this offset in the line.
    Data(usize),
    /// Comments and every other field.
    Ignored,
}

fn read_line(line: &[u8]) -> Line {
    match line.first() {
        None => Line::Blank,
        Some(b':') => Line::Ignored,
        Some(_) => {
            // "data" with no colon is a data field with an empty value.
            let (name, value_at) = match memchr::memchr(b':', line) {
                Some(c) => (
                    &line[..c],
                    if line.get(c + 1) == Some(&b' ') {
                        c + 2
                    } else {
                        c + 1
                    },
                ),
                None => (line, line.len()),
            };
            if name == b"data" {
                Line::Data(value_at)
            } else {
                Line::Ignored
            }
        }
    }
}

impl SseSplitter {
    pub fn new() -> Self {
        Self::with_limit(MAX_EVENT_BYTES)
    }

    /// A splitter that buffers at most `max_event` bytes of one event across reads.
    pub fn with_limit(max_event: usize) -> Self {
        SseSplitter {
            line: Vec::new(),
            data: Vec::new(),
            data_lines: 0,
            pending_cr: false,
            overflow: false,
            max_event,
            bom_matched: Some(0),
        }
    }

    /// Forgets any partial event, keeping the buffers' capacity.
    pub fn reset(&mut self) {
        self.line.clear();
        self.data.clear();
        self.data_lines = 0;
        self.pending_cr = false;
        self.overflow = false;
        self.bom_matched = Some(0);
    }

    /// An event grew past the limit while cut across reads. The stream is
    /// then broken: the splitter drops everything until `reset`, and the
    /// caller should fail the request.
    pub fn overflowed(&self) -> bool {
        self.overflow
    }

    /// Something (a partial line or an unterminated event) is waiting for more input.
    pub fn has_partial(&self) -> bool {
        !self.line.is_empty() || self.data_lines > 0
    }

    /// Feeds the next piece of the body; calls `on_event` with the data of
    /// each event completed inside it, in order.
    pub fn feed(&mut self, input: &[u8], mut on_event: impl FnMut(&[u8])) {
        // An empty read must not clear `pending_cr`.
        if self.overflow || input.is_empty() {
            return;
        }
        const BOM: &[u8] = b"\xEF\xBB\xBF";
        let mut pos = 0;
        // The mark may be cut across reads; bytes that turn out not to be
        // one were not an event's start either (a stream opens with a field).
        while let Some(matched) = self.bom_matched {
            match input.get(pos) {
                None => return,
                Some(&b) if b == BOM[matched] => {
                    pos += 1;
                    self.bom_matched = (matched + 1 < BOM.len()).then_some(matched + 1);
                }
                Some(_) => self.bom_matched = None,
            }
        }
        if self.pending_cr {
            self.pending_cr = false;
            if input.first() == Some(&b'\n') {
                pos = 1;
            }
        }
        // The current event's only data line, when it lies in `input`.
        let mut local: Option<(usize, usize)> = None;

        while let Some(off) = memchr::memchr2(b'\n', b'\r', &input[pos..]) {
            let end = pos + off;
            let next = if input[end] == b'\r' {
                match input.get(end + 1) {
                    Some(b'\n') => end + 2,
                    Some(_) => end + 1,
                    None => {
                        self.pending_cr = true;
                        end + 1
                    }
                }
            } else {
                end + 1
            };

            if !self.line.is_empty() {
                // The line began in an earlier read: complete it in the carry buffer.
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(&input[pos..end]);
                self.owned_line(&line, &mut on_event);
                line.clear();
                self.line = line;
            } else {
                match read_line(&input[pos..end]) {
                    Line::Blank => {
                        if self.data_lines > 0 {
                            match local {
                                Some((s, e)) => on_event(&input[s..e]),
                                None => on_event(&self.data),
                            }
                        }
                        local = None;
                        self.end_event();
                    }
                    Line::Data(at) => {
                        let (s, e) = (pos + at.min(end - pos), end);
                        if self.data_lines == 0 {
                            local = Some((s, e));
                        } else {
                            if let Some((ls, le)) = local.take() {
                                self.data.extend_from_slice(&input[ls..le]);
                            }
                            self.data.push(b'\n');
                            self.data.extend_from_slice(&input[s..e]);
                        }
                        self.data_lines = self.data_lines.saturating_add(1);
                    }
                    Line::Ignored => {}
                }
            }
            pos = next;
        }

        // Whatever is left must outlive `input`: copy it.
        if let Some((s, e)) = local {
            self.data.extend_from_slice(&input[s..e]);
        }
        self.line.extend_from_slice(&input[pos..]);
        if self.line.len() + self.data.len() > self.max_event {
            self.overflow = true;
            self.line = Vec::new();
            self.data = Vec::new();
            self.data_lines = 0;
        }
    }

    /// Ends the stream. Unlike a browser, which drops an event not closed by
    /// a blank line, this dispatches it (a partial last line counts as a
    /// line): a token the server did send is counted, and a truncated JSON
    /// payload then shows up as an `Invalid` event instead of vanishing.
    /// vLLM always ends with a blank line, so this only matters for others.
    pub fn finish(&mut self, mut on_event: impl FnMut(&[u8])) {
        if !self.overflow {
            if !self.line.is_empty() {
                let line = std::mem::take(&mut self.line);
                self.owned_line(&line, &mut on_event);
            }
            if self.data_lines > 0 {
                on_event(&self.data);
            }
        }
        self.reset();
    }

    /// A complete line that is not borrowed from the current input.
    fn owned_line(&mut self, line: &[u8], on_event: &mut impl FnMut(&[u8])) {
        match read_line(line) {
            Line::Blank => {
                if self.data_lines > 0 {
                    on_event(&self.data);
                }
                self.end_event();
            }
            Line::Data(at) => {
                if self.data_lines > 0 {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(&line[at.min(line.len())..]);
                self.data_lines = self.data_lines.saturating_add(1);
            }
            Line::Ignored => {}
        }
    }

    fn end_event(&mut self) {
        self.data.clear();
        self.data_lines = 0;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A vLLM stream with reasoning, content, an escaped string, usage and [DONE].
    pub(crate) const VLLM_STREAM: &str = concat!(
        "data: {\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion.chunk\",\"created\":1763795000,\"model\":\"Qwen/Qwen2-Audio-7B-Instruct\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion.chunk\",\"created\":1763795000,\"model\":\"Qwen/Qwen2-Audio-7B-Instruct\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"Let me think\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion.chunk\",\"created\":1763795000,\"model\":\"Qwen/Qwen2-Audio-7B-Instruct\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"The\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion.chunk\",\"created\":1763795000,\"model\":\"Qwen/Qwen2-Audio-7B-Instruct\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" \\\"audio\\\"\\n\"},\"logprobs\":null,\"finish_reason\":\"length\"}]}\n\n",
        "data: {\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion.chunk\",\"created\":1763795000,\"model\":\"Qwen/Qwen2-Audio-7B-Instruct\",\"choices\":[],\"usage\":{\"prompt_tokens\":712,\"total_tokens\":716,\"completion_tokens\":4,\"prompt_tokens_details\":null,\"completion_tokens_details\":{\"reasoning_tokens\":1}}}\n\n",
        "data: [DONE]\n\n",
    );

    pub(crate) fn events_of(splitter: &mut SseSplitter, pieces: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for p in pieces {
            splitter.feed(p, |e| out.push(e.to_vec()));
        }
        splitter.finish(|e| out.push(e.to_vec()));
        out
    }

    pub(crate) fn split_once(input: &[u8]) -> Vec<Vec<u8>> {
        events_of(&mut SseSplitter::new(), &[input])
    }

    #[test]
    fn single_line_events_are_borrowed_from_input() {
        let input = b"data: {\"a\":1}\n\n: keepalive\n\ndata:{\"b\":2}\r\n\r\n";
        let mut s = SseSplitter::new();
        let mut got = Vec::new();
        s.feed(input, |e| {
            got.push((e.as_ptr() as usize - input.as_ptr() as usize, e.len()))
        });
        assert_eq!(got, vec![(6, 7), (33, 7)]);
        assert!(!s.has_partial());
    }

    #[test]
    fn in_place_events_never_touch_the_buffers() {
        let mut s = SseSplitter::new();
        let mut n = 0;
        for _ in 0..100 {
            s.feed(VLLM_STREAM.as_bytes(), |_| n += 1);
        }
        assert_eq!(n, 600);
        assert_eq!((s.line.capacity(), s.data.capacity()), (0, 0));
    }

    /// One leading byte-order mark is skipped (as the SSE spec says), and only
    /// at the start of a stream; `reset` starts a new stream.
    #[test]
    fn leading_bom_is_skipped() {
        let mut s = SseSplitter::new();
        let got = events_of(
            &mut s,
            &[b"\xEF\xBB\xBFdata: a\n\n", b"\xEF\xBB\xBFdata: b\n\n"],
        );
        // The second BOM is mid-stream: that line's field name is not "data".
        assert_eq!(got, vec![b"a".to_vec()]);
        let got = events_of(&mut s, &[b"\xEF\xBB\xBFdata: c\n\n"]);
        assert_eq!(got, vec![b"c".to_vec()]);
        // Cut across reads.
        let got = events_of(&mut s, &[b"\xEF", b"\xBB", b"\xBFdata: d\n\n"]);
        assert_eq!(got, vec![b"d".to_vec()]);
    }

    #[test]
    fn field_rules() {
        let input = b"data:x\n\ndata: y\n\ndata:  two spaces\n\n\
                      event: message\nid: 7\nretry: 10\ndata: a\ndata\ndata: b\n\n\
                      : comment only\nevent: ping\n\n\
                      data\n\n\
                      dat: not data\n\n";
        let events = split_once(input);
        let want: Vec<&[u8]> = vec![b"x", b"y", b" two spaces", b"a\n\nb", b""];
        assert_eq!(events, want);
    }

    #[test]
    fn line_endings() {
        let lf = split_once(b"data: 1\n\ndata: 2\ndata: 3\n\n");
        let crlf = split_once(b"data: 1\r\n\r\ndata: 2\r\ndata: 3\r\n\r\n");
        let cr = split_once(b"data: 1\r\rdata: 2\rdata: 3\r\r");
        let want = vec![b"1".to_vec(), b"2\n3".to_vec()];
        assert_eq!((&lf, &crlf, &cr), (&want, &want, &want));
        // A CR at the end of one read and the LF at the start of the next are one line end.
        let mut s = SseSplitter::new();
        assert_eq!(
            events_of(&mut s, &[b"data: 1\r", b"\n\r", b"\ndata: 2\r\n\r\n"]),
            vec![b"1".to_vec(), b"2".to_vec()]
        );
    }

    #[test]
    fn finish_flushes_unterminated_event() {
        let mut s = SseSplitter::new();
        let mut got = Vec::new();
        s.feed(b"data: {\"a\":1}\n\ndata: [DONE]", |e| got.push(e.to_vec()));
        assert_eq!(got, vec![b"{\"a\":1}".to_vec()]);
        assert!(s.has_partial());
        s.finish(|e| got.push(e.to_vec()));
        assert_eq!(got[1], b"[DONE]");
        assert!(!s.has_partial());
        // Nothing pending: nothing flushed.
        s.finish(|_| panic!("no event expected"));
    }

    #[test]
    fn overflow_is_reported_and_sticky() {
        let mut s = SseSplitter::with_limit(16);
        let mut n = 0;
        // Complete events of any size pass in place: the limit is for buffering.
        s.feed(b"data: 0123456789012345678901234567890\n\n", |_| n += 1);
        assert_eq!((n, s.overflowed()), (1, false));
        s.feed(b"data: 0123456789", |_| n += 1);
        assert!(!s.overflowed());
        s.feed(b"0123456789", |_| n += 1);
        assert!(s.overflowed());
        s.feed(b"\n\ndata: x\n\n", |_| n += 1);
        assert_eq!(n, 1);
        s.reset();
        s.feed(b"data: x\n\n", |_| n += 1);
        assert_eq!((n, s.overflowed()), (2, false));
    }

    /// Cuts `input` at the given offsets into pieces.
    pub(crate) fn pieces<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
        let mut cuts: Vec<usize> = cuts.iter().map(|&c| c % (input.len() + 1)).collect();
        cuts.sort_unstable();
        let mut out = Vec::new();
        let mut start = 0;
        for c in cuts {
            out.push(&input[start..c]);
            start = c;
        }
        out.push(&input[start..]);
        out
    }

    fn arb_stream() -> impl Strategy<Value = String> {
        let line = prop_oneof![
            4 => "[ -~]{0,30}".prop_map(|v| format!("data: {v}")),
            1 => "[ -~]{0,10}".prop_map(|v| format!("data:{v}")),
            1 => "[ -~]{0,10}".prop_map(|v| format!(":{v}")),
            1 => "[a-z]{1,6}: [ -~]{0,10}",
            2 => Just(String::new()),
        ];
        (prop::collection::vec((line, 0..3usize), 0..40)).prop_map(|lines| {
            let mut s = String::new();
            for (l, end) in lines {
                s.push_str(&l);
                s.push_str(["\n", "\r\n", "\r"][end]);
            }
            s
        })
    }

    proptest! {
        /// Random splits of a random stream give the same events as one read.
        #[test]
        fn random_splits_same_events(stream in arb_stream(), cuts in prop::collection::vec(any::<usize>(), 0..12)) {
            let bytes = stream.as_bytes();
            let whole = split_once(bytes);
            let split = events_of(&mut SseSplitter::new(), &pieces(bytes, &cuts));
            prop_assert_eq!(split, whole);
        }

        /// Every split point of the realistic vLLM stream gives the same events.
        #[test]
        fn vllm_every_split_point(crlf: bool) {
            let text = if crlf { VLLM_STREAM.replace('\n', "\r\n") } else { VLLM_STREAM.to_string() };
            let bytes = text.as_bytes();
            let whole = split_once(bytes);
            prop_assert_eq!(whole.len(), 6);
            let mut s = SseSplitter::new();
            for cut in 0..=bytes.len() {
                s.reset();
                prop_assert_eq!(&events_of(&mut s, &[&bytes[..cut], &bytes[cut..]]), &whole);
            }
        }

        /// LF, CRLF and CR spellings of one stream give the same events.
        #[test]
        fn line_end_spellings_agree(stream in arb_stream()) {
            let lf = stream.replace("\r\n", "\n").replace('\r', "\n");
            let crlf = lf.replace('\n', "\r\n");
            let cr = lf.replace('\n', "\r");
            let want = split_once(lf.as_bytes());
            prop_assert_eq!(&split_once(crlf.as_bytes()), &want);
            prop_assert_eq!(&split_once(cr.as_bytes()), &want);
        }
    }
}
