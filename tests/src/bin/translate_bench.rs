//! Translation cost of the adapters, without any network: upstream SSE → client chunks
//! (MB/s of upstream bytes on one core) and OpenAI request → upstream request (µs per request
//! for a 20 KB conversation with tools). Run: `cargo run --release -p uni-api-tests --bin
//! uni-api-translate-bench`.

use std::time::{Duration, Instant};

use serde_json::json;
use uni_api_core::adapters::raw::RawObject;
use uni_api_core::adapters::{self, Dialect, ResponseCtx};
use uni_api_core::config::Config;
use uni_api_core::sse::SseDecoder;
use uni_api_core::stream::StreamTranslator;

fn anthropic_stream(deltas: usize) -> String {
    let mut s = String::from("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":100,\"output_tokens\":1}}}\n\n");
    s.push_str("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
    for i in 0..deltas {
        s.push_str(&format!("event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"token {i} of the answer \"}}}}\n\n"));
    }
    s.push_str("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":500}}\n\n");
    s.push_str("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    s
}

fn gemini_stream(events: usize) -> String {
    let mut s = String::new();
    for i in 0..events {
        s.push_str(&format!("data: {{\"candidates\":[{{\"content\":{{\"parts\":[{{\"text\":\"token {i} of the answer \"}}],\"role\":\"model\"}},\"index\":0}}],\"usageMetadata\":{{\"promptTokenCount\":100,\"totalTokenCount\":{}}},\"modelVersion\":\"gemini-2.5-flash\"}}\r\n\r\n", 100 + i));
    }
    s.push_str("data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"end\"}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":100,\"candidatesTokenCount\":500,\"totalTokenCount\":600}}\r\n\r\n");
    s
}

/// Upstream MB/s through decoder + translator, in 16 KiB reads.
fn stream_throughput(dialect: Dialect, input: &str) -> f64 {
    let bytes = input.as_bytes();
    let mut processed = 0usize;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        let ctx = ResponseCtx { alias: "alias".into(), created: 1, wants_usage: true, nonce: 7 };
        let mut translator = adapters::translator(dialect, "model", ctx);
        let mut decoder = SseDecoder::new();
        let mut events = Vec::new();
        let mut out = Vec::new();
        for chunk in bytes.chunks(16 * 1024) {
            decoder.feed(chunk, &mut |e| events.push(e)).expect("within the limit");
            for e in events.drain(..) {
                translator.on_event(&e, &mut out).expect("valid fixture");
            }
            out.clear();
        }
        decoder.finish(&mut |e| events.push(e)).expect("within the limit");
        processed += bytes.len();
    }
    processed as f64 / start.elapsed().as_secs_f64() / 1e6
}

fn conversation() -> RawObject {
    let mut messages = vec![json!({"role": "system", "content": "You are a careful assistant. ".repeat(20)})];
    let mut i = 0;
    while serde_json::to_string(&messages).unwrap().len() < 20_000 {
        messages.push(json!({"role": "user", "content": format!("Question {i}: {}", "please explain the trade-offs in detail. ".repeat(8))}));
        messages.push(json!({"role": "assistant", "content": null, "tool_calls": [{"id": format!("call_{i}"), "type": "function", "function": {"name": "search", "arguments": "{\"query\":\"trade-offs\",\"limit\":5}"}}]}));
        messages.push(json!({"role": "tool", "tool_call_id": format!("call_{i}"), "content": "result ".repeat(40)}));
        messages.push(json!({"role": "assistant", "content": "Here is a summary of what I found. ".repeat(6)}));
        i += 1;
    }
    let tools: Vec<_> = ["search", "fetch", "calculate", "weather"]
        .iter()
        .map(|n| json!({"type": "function", "function": {"name": n, "description": "A tool", "parameters": {"type": "object", "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}}, "required": ["query"]}}}))
        .collect();
    let body = json!({"model": "m", "messages": messages, "tools": tools, "temperature": 0.2, "stream": true});
    RawObject::parse(body.to_string().as_bytes()).unwrap()
}

fn main() {
    let yaml = "providers:\n  - provider: o\n    base_url: http://o/v1\n    api: k\n    model: [m]\n  - provider: a\n    base_url: http://a/v1/messages\n    api: k\n    model: [m]\n  - provider: g\n    base_url: http://g/v1beta\n    api: k\n    model: [m]\napi_keys: [{api: k}]\n";
    let config = Config::from_yaml_str(yaml, &|_| None).unwrap();
    let anthropic = anthropic_stream(5_000);
    let gemini = gemini_stream(5_000);
    println!("| translation | result |");
    println!("|---|---:|");
    println!(
        "| Anthropic SSE → OpenAI chunks ({:.1} MB stream) | {:.0} MB/s |",
        anthropic.len() as f64 / 1e6,
        stream_throughput(Dialect::Anthropic, &anthropic)
    );
    println!(
        "| Gemini SSE → OpenAI chunks ({:.1} MB stream) | {:.0} MB/s |",
        gemini.len() as f64 / 1e6,
        stream_throughput(Dialect::Gemini, &gemini)
    );
    let body = conversation();
    let size = body.to_vec().len();
    for (i, name) in ["OpenAI passthrough", "Anthropic", "Gemini"].iter().enumerate() {
        let provider = &config.providers[i];
        let rounds = 2_000;
        let start = Instant::now();
        for _ in 0..rounds {
            let request =
                adapters::build_request(provider, provider.keys.first(), &body, "m", "m", true, None).unwrap();
            std::hint::black_box(request);
        }
        let per = start.elapsed().as_secs_f64() * 1e6 / rounds as f64;
        println!(
            "| request translation, {name} ({:.0} KB conversation, 4 tools) | {per:.0} µs |",
            size as f64 / 1024.0
        );
    }
    let start = Instant::now();
    for _ in 0..2_000 {
        std::hint::black_box(RawObject::parse(body.to_vec().as_slice()).unwrap());
    }
    println!(
        "| parsing the client body (raw top-level fields) | {:.0} µs |",
        start.elapsed().as_secs_f64() * 1e6 / 2_000.0
    );
}
