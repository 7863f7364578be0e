//! Fuzzes the SSE splitter and classifier: no panic, and the events do not
//! depend on how the stream is cut into reads; the classifier's fast path
//! agrees with serde_json on every event, and so does a connection's
//! [`ChunkShape`] reading the events in order.
#![no_main]

use audioperf::http::sse::SseSplitter;
use audioperf::openai::{classify, classify_with_serde, parse_completion, ChunkShape};
use libfuzzer_sys::fuzz_target;

fn events(pieces: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut s = SseSplitter::new();
    let mut out = Vec::new();
    for p in pieces {
        s.feed(p, |e| out.push(e.to_vec()));
    }
    s.finish(|e| out.push(e.to_vec()));
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else {
        return;
    };
    let split = usize::from(split).min(input.len());
    let whole = events(&[input]);
    assert_eq!(whole, events(&[&input[..split], &input[split..]]));
    let mut shape = ChunkShape::default();
    for e in &whole {
        // The fast paths never change what an event says.
        assert_eq!(classify(e), classify_with_serde(e));
        assert_eq!(shape.classify(e), classify_with_serde(e));
    }
    assert_eq!(classify(input), classify_with_serde(input));
    let _ = parse_completion(input);
});
