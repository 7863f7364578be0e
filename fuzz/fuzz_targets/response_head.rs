//! Fuzzes the response head parser: no panic, and a head found in a buffer is
//! found again, identical, in exactly its own bytes (the engine re-parses a
//! growing buffer, so the answer must not depend on what follows).
#![no_main]

use audioperf::http::response::{parse_response_head, MAX_HEAD_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_response_head(data) {
        Ok(Some(head)) => {
            assert!(head.head_len <= data.len() && head.head_len <= MAX_HEAD_BYTES);
            assert_eq!(parse_response_head(&data[..head.head_len]), Ok(Some(head)));
            if head.head_len > 0 {
                assert_eq!(parse_response_head(&data[..head.head_len - 1]), Ok(None));
            }
        }
        Ok(None) => assert!(data.len() <= MAX_HEAD_BYTES),
        Err(_) => {}
    }
});
