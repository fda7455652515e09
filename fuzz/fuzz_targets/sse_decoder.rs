//! The SSE decoder: never panics, never holds more than its limit, and decodes the same events
//! however the bytes are split into chunks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use uni_api_core::sse::{SseDecoder, SseEvent};

const LIMIT: usize = 4096;

fn decode(chunks: &[&[u8]]) -> (Vec<SseEvent>, bool) {
    let mut decoder = SseDecoder::with_limit(LIMIT);
    let mut events = Vec::new();
    for chunk in chunks {
        if decoder.feed(chunk, &mut |e| events.push(e)).is_err() {
            return (events, true);
        }
    }
    let oversized = decoder.finish(&mut |e| events.push(e)).is_err();
    (events, oversized)
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, body)) = data.split_first() else { return };
    let (whole, whole_oversized) = decode(&[body]);
    // The same bytes in chunks of `split` (at least one byte).
    let chunks: Vec<&[u8]> = body.chunks(usize::from(split).max(1)).collect();
    let (chunked, chunked_oversized) = decode(&chunks);
    if !whole_oversized && !chunked_oversized {
        assert_eq!(whole, chunked, "chunking changed the events");
    }
    for event in whole.iter().chain(&chunked) {
        assert!(event.data.len() <= LIMIT, "an event past the limit was emitted");
    }
});
