//! Every stream translator (each upstream dialect, and each door's native relay) behind each
//! door's encoder, driven by the real stream driver: arbitrary upstream bytes end in frames and
//! an end marker or an error frame, never a panic.
#![no_main]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use libfuzzer_sys::fuzz_target;
use uni_api_core::adapters::raw::RawObject;
use uni_api_core::adapters::{self, Dialect, ResponseCtx};
use uni_api_core::doors::gemini::Framing;
use uni_api_core::doors::Door;
use uni_api_core::platform::{boxed_stream, ByteStream, TransportError};
use uni_api_core::stream::Driver;
use uni_api_core::testing::ManualRuntime;

const DIALECTS: [Dialect; 8] = [
    Dialect::OpenAi,
    Dialect::OpenRouter,
    Dialect::Anthropic,
    Dialect::Gemini,
    Dialect::Vertex,
    Dialect::Azure,
    Dialect::Cohere,
    Dialect::Cloudflare,
];
const DOORS: [Door; 5] = [Door::Chat, Door::Messages, Door::Responses, Door::Gemini(Framing::Sse), Door::Gemini(Framing::JsonArray)];

fn upstream(body: &[u8], chunk: usize) -> ByteStream {
    let chunks: Vec<Result<Bytes, TransportError>> =
        body.chunks(chunk.max(1)).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    boxed_stream(futures_util::stream::iter(chunks))
}

fuzz_target!(|data: &[u8]| {
    let [pick, door, chunk, rest @ ..] = data else { return };
    let door = DOORS[usize::from(*door) % DOORS.len()];
    let ctx = ResponseCtx { alias: "m".into(), created: 1, wants_usage: pick & 0x80 != 0, nonce: 7 };
    let request = RawObject::parse(br#"{"model":"m","stream":true}"#).expect("request");
    let runtime = Arc::new(ManualRuntime::new(0));
    let idle = Duration::from_secs(60);
    let frames: Vec<Bytes> = match usize::from(pick & 0x7f) % (DIALECTS.len() + 1) {
        // The door's native relay (an upstream of the client's own API).
        8 => match door.relay("m") {
            Some((relay, encoder)) => {
                let driver = Driver::new(upstream(rest, usize::from(*chunk)), relay, encoder, runtime, idle);
                futures_executor::block_on(driver.into_stream().collect())
            }
            None => return,
        },
        i => {
            let upstream_model = if pick & 0x40 != 0 { "claude-x" } else { "gemini-x" };
            let translator = adapters::translator(DIALECTS[i], upstream_model, ctx.clone());
            let encoder = door.encoder(ctx, &request);
            let driver = Driver::new(upstream(rest, usize::from(*chunk)), translator, encoder, runtime, idle);
            futures_executor::block_on(driver.into_stream().collect())
        }
    };
    // Whatever came in, the client got something: an end marker or an error frame.
    assert!(!frames.is_empty(), "a stream ended without a single frame");
});
