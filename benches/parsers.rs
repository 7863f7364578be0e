//! Micro-benchmarks of the hot-path parsers on a realistic vLLM response:
//! head parsing, chunked decoding, SSE splitting + classification, and the
//! three together. Criterion prints time per iteration and throughput
//! (MiB/s for bytes, elements/s for events).

use audioperf::http::{parse_response_head, ChunkedDecoder, SseSplitter};
use audioperf::openai::{classify, classify_with_serde, ChunkShape, StreamChunk};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\n\
    date: Sun, 22 Nov 2026 07:00:00 GMT\r\n\
    server: uvicorn\r\n\
    content-type: text/event-stream; charset=utf-8\r\n\
    transfer-encoding: chunked\r\n\r\n";

const WORDS: &[&str] = &[
    " The",
    " speaker",
    " says",
    " that",
    " the",
    " weather",
    " is",
    " \\\"nice\\\"",
    " today",
    ".\\n",
];

/// The SSE events of a 50-token vLLM streaming answer: role chunk, 50 content
/// chunks, finish chunk, usage chunk, `[DONE]` (55 events).
fn vllm_events(tokens: usize) -> Vec<Vec<u8>> {
    let prefix = r#"{"id":"chatcmpl-8f1c2a7e9b5d4e3f","object":"chat.completion.chunk","created":1763795000,"model":"Qwen/Qwen2-Audio-7B-Instruct","choices":[{"index":0,"delta":"#;
    let mut events = vec![format!(
        "data: {prefix}{{\"role\":\"assistant\",\"content\":\"\"}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n"
    )];
    for i in 0..tokens {
        let w = WORDS[i % WORDS.len()];
        events.push(format!(
            "data: {prefix}{{\"content\":\"{w}\"}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n"
        ));
    }
    events.push(format!(
        "data: {prefix}{{\"content\":\"\"}},\"logprobs\":null,\"finish_reason\":\"length\",\"stop_reason\":null}}]}}\n\n"
    ));
    events.push(format!(
        "data: {{\"id\":\"chatcmpl-8f1c2a7e9b5d4e3f\",\"object\":\"chat.completion.chunk\",\"created\":1763795000,\"model\":\"Qwen/Qwen2-Audio-7B-Instruct\",\"choices\":[],\"usage\":{{\"prompt_tokens\":712,\"total_tokens\":{},\"completion_tokens\":{tokens}}}}}\n\n",
        712 + tokens
    ));
    events.push("data: [DONE]\n\n".to_string());
    events.into_iter().map(String::into_bytes).collect()
}

/// Frames each event as one chunk, as uvicorn does.
fn chunked(events: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in events {
        out.extend_from_slice(format!("{:x}\r\n", e.len()).as_bytes());
        out.extend_from_slice(e);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// Splits and classifies one stream delivered one event per read; returns token events.
fn split_classify(splitter: &mut SseSplitter, reads: &[Vec<u8>]) -> u32 {
    splitter.reset();
    let mut tokens = 0;
    for r in reads {
        splitter.feed(r, |data| {
            if let StreamChunk::Delta(d) = classify(data) {
                tokens += u32::from(d.carries_token());
            }
        });
    }
    tokens
}

fn bench(c: &mut Criterion) {
    let events = vllm_events(50);
    let body_len: usize = events.iter().map(Vec::len).sum();
    let wire = chunked(&events);
    let mut splitter = SseSplitter::new();
    assert_eq!(split_classify(&mut splitter, &events), 50);

    let mut g = c.benchmark_group("sse_split_classify_50_tokens");
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("events", |b| {
        b.iter(|| split_classify(&mut splitter, black_box(&events)))
    });
    g.throughput(Throughput::Bytes(body_len as u64));
    g.bench_function("bytes", |b| {
        b.iter(|| split_classify(&mut splitter, black_box(&events)))
    });
    g.finish();

    // The classifier alone, side by side: a connection's chunk shape (what
    // the engine runs: one scan per shape, then comparisons), the one-pass
    // scanner with its serde_json fallback, and serde_json only.
    let datas: Vec<&[u8]> = events
        .iter()
        .map(|e| e.strip_prefix(b"data: ").unwrap_or(e).trim_ascii_end())
        .collect();
    let mut g = c.benchmark_group("classify_55_events");
    g.throughput(Throughput::Elements(datas.len() as u64));
    let mut shape = ChunkShape::default();
    g.bench_function("shape_then_scanner", |b| {
        b.iter(|| {
            datas
                .iter()
                .filter(|d| matches!(shape.classify(black_box(d)), StreamChunk::Delta(_)))
                .count()
        })
    });
    g.bench_function("scanner_then_serde", |b| {
        b.iter(|| {
            datas
                .iter()
                .filter(|d| matches!(classify(black_box(d)), StreamChunk::Delta(_)))
                .count()
        })
    });
    g.bench_function("serde_json_only", |b| {
        b.iter(|| {
            datas
                .iter()
                .filter(|d| matches!(classify_with_serde(black_box(d)), StreamChunk::Delta(_)))
                .count()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("sse_split_only_50_tokens");
    g.throughput(Throughput::Bytes(body_len as u64));
    g.bench_function("bytes", |b| {
        b.iter(|| {
            splitter.reset();
            let mut n = 0usize;
            for e in &events {
                splitter.feed(black_box(e), |d| n += d.len());
            }
            n
        })
    });
    g.finish();

    let mut g = c.benchmark_group("response_head");
    g.throughput(Throughput::Bytes(HEAD.len() as u64));
    g.bench_function("vllm_sse_head", |b| {
        b.iter(|| parse_response_head(black_box(HEAD)))
    });
    g.finish();

    let mut g = c.benchmark_group("chunked_decode_50_tokens");
    g.throughput(Throughput::Bytes(wire.len() as u64));
    let mut decoder = ChunkedDecoder::new();
    g.bench_function("whole_body", |b| {
        b.iter(|| {
            decoder.reset();
            let mut n = 0usize;
            let st = decoder.decode(black_box(&wire), |s| n += s.len());
            (n, st)
        })
    });
    g.finish();

    // Everything the engine does per response: head, de-chunk, split, classify,
    // with the wire cut into 1460-byte reads (one TCP segment each).
    let mut full = HEAD.to_vec();
    full.extend_from_slice(&wire);
    let mut g = c.benchmark_group("full_response_50_tokens");
    g.throughput(Throughput::Bytes(full.len() as u64));
    g.bench_function("head_dechunk_split_classify", |b| {
        b.iter(|| {
            let head = match parse_response_head(black_box(&full)) {
                Ok(Some(h)) => h,
                other => panic!("{other:?}"),
            };
            decoder.reset();
            splitter.reset();
            let mut tokens = 0u32;
            for read in full[head.head_len..].chunks(1460) {
                let st = decoder
                    .decode(read, |body| {
                        splitter.feed(body, |data| {
                            if let StreamChunk::Delta(d) = classify(data) {
                                tokens += u32::from(d.carries_token());
                            }
                        })
                    })
                    .map_err(|e| e.to_string());
                if st.map(|s| s.done).unwrap_or(true) {
                    break;
                }
            }
            assert_eq!(tokens, 50);
            tokens
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
