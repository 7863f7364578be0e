//! Fuzzes the chunked decoder: no panic, and decoding in two reads (split at
//! a point taken from the first byte) gives the same body and outcome as one.
#![no_main]

use audioperf::http::chunked::ChunkedDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else {
        return;
    };
    let split = usize::from(split).min(input.len());

    let mut one = Vec::new();
    let whole = ChunkedDecoder::new().decode(input, |s| one.extend_from_slice(s));

    let mut d = ChunkedDecoder::new();
    let mut two = Vec::new();
    let outcome = d
        .decode(&input[..split], |s| two.extend_from_slice(s))
        .and_then(|a| {
            if a.done {
                return Ok(a);
            }
            let b = d.decode(&input[split..], |s| two.extend_from_slice(s))?;
            Ok(audioperf::http::chunked::ChunkStatus {
                consumed: a.consumed + b.consumed,
                done: b.done,
            })
        });
    match (whole, outcome) {
        (Ok(w), Ok(o)) => {
            assert_eq!(w, o);
            assert_eq!(one, two);
        }
        (Err(w), Err(o)) => assert_eq!(w, o),
        (w, o) => panic!("one read {w:?}, two reads {o:?}"),
    }
});
