//! CPU cost of the core's request path alone, for `valgrind --tool=callgrind`: N non-streamed
//! passthrough chat requests through `Gateway::handle` with a scripted upstream (no sockets, no
//! host). Instruction counts are deterministic; run it for two values of N and divide the
//! difference by the difference in N to get instructions per request (see BENCHMARKS.md).
//! With `--sqlite PATH`, statistics are on (the native SQLite store, flushed before exit), so the
//! difference between the two runs is the user-space cost of recording a request.
//! With `--scenario NAME` the requests are another door's (see `scenario`): the same-vendor
//! doors, a chat request of Claude Code's size, Claude Code's ~48 KB Messages request translated
//! for an OpenAI-format channel, and streams read up to their first frame (`*-stream-first`:
//! the work between a request and its first token, upstream events all ready at once).
//! Usage: uni-api-core-cost N [--sqlite PATH] [--scenario NAME]

use std::sync::Arc;

use bytes::Bytes;
use uni_api_core::platform::{MemoryStore, Platform};
use uni_api_core::testing::{FakeHttp, FakeReply, ManualRuntime};
use uni_api_core::{Config, Gateway, ResponseBody};
use uni_api_native::stats::{Stats, StatsTarget};

// The allocator the native binary ships with, so allocation costs count as they do there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const COMPLETION: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1,"model":"bench-upstream","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":9,"total_tokens":18}}"#;
const REQUEST: &str = r#"{"model":"bench","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Hello there, how are you doing today?"}],"temperature":0.7}"#;

const ANTHROPIC_REPLY: &str = r#"{"id":"msg_bench","type":"message","role":"assistant","model":"bench-upstream","content":[{"type":"text","text":"Hello! How can I help you today?"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":9,"output_tokens":9}}"#;
const RESPONSES_REPLY: &str = r#"{"id":"resp_bench","object":"response","created_at":1,"status":"completed","model":"bench-upstream","output":[{"id":"msg_bench","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hello! How can I help you today?","annotations":[]}]}],"usage":{"input_tokens":9,"input_tokens_details":{"cached_tokens":0},"output_tokens":9,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":18}}"#;
const GEMINI_REPLY: &str = r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"Hello! How can I help you today?"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":9,"totalTokenCount":18},"modelVersion":"bench-upstream"}"#;

/// A scenario's request path, body and the upstream's answer.
fn scenario(name: &str) -> (&'static str, String, &'static str) {
    use uni_api_tests::bodies;
    match name {
        "chat" => ("/v1/chat/completions", REQUEST.to_owned(), COMPLETION),
        "messages-native" => {
            ("/v1/messages", bodies::messages_small("bench-claude", false).to_string(), ANTHROPIC_REPLY)
        }
        "responses-native" => ("/v1/responses", bodies::responses_small("bench").to_string(), RESPONSES_REPLY),
        "gemini-native" => {
            ("/v1beta/models/bench-gemini:generateContent", bodies::gemini_small().to_string(), GEMINI_REPLY)
        }
        "chat-big" => {
            let raw = uni_api_core::adapters::raw::RawObject::parse(
                bodies::claude_code("bench", false).to_string().as_bytes(),
            )
            .expect("body");
            let hub = uni_api_core::doors::Door::Messages.to_chat(&raw, false).expect("translation");
            ("/v1/chat/completions", String::from_utf8(hub.to_vec()).expect("utf-8"), COMPLETION)
        }
        "messages-translated" => ("/v1/messages", bodies::claude_code("bench", false).to_string(), COMPLETION),
        "messages-translated-small" => ("/v1/messages", bodies::messages_small("bench", false).to_string(), COMPLETION),
        "chat-stream-first" => ("/v1/chat/completions", STREAM_REQUEST.to_owned(), STREAM),
        "messages-stream-first" => ("/v1/messages", bodies::messages_small("bench", true).to_string(), STREAM),
        other => panic!("unknown scenario {other}"),
    }
}

const STREAM_REQUEST: &str = r#"{"model":"bench","stream":true,"messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Hello there, how are you doing today?"}],"temperature":0.7}"#;
const STREAM: &str = concat!(
    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"bench-upstream\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hello\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"bench-upstream\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"!\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"bench-upstream\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" How\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"bench-upstream\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"bench-upstream\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":3,\"total_tokens\":12}}\n\n",
    "data: [DONE]\n\n",
);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|v| v.parse().ok()).unwrap_or(1000);
    let sqlite = args.iter().position(|a| a == "--sqlite").and_then(|i| args.get(i + 1)).cloned();
    let name = args.iter().position(|a| a == "--scenario").and_then(|i| args.get(i + 1)).map_or("chat", |s| s.as_str());
    let (path, request_body, reply) = scenario(name);
    let yaml = "providers:\n  - provider: mock\n    base_url: http://127.0.0.1:9/v1\n    api: sk-upstream\n    model:\n      - bench-upstream: bench\n  - provider: claude\n    base_url: http://127.0.0.1:9/v1/messages\n    api: sk-upstream\n    model:\n      - bench-upstream: bench-claude\n  - provider: gemini\n    base_url: http://127.0.0.1:9/v1beta\n    api: sk-upstream\n    model:\n      - bench-upstream: bench-gemini\napi_keys:\n  - api: sk-bench\n    role: bench\n    preferences:\n      SCHEDULING_ALGORITHM: fixed_priority\n";
    let config = Config::from_yaml_str(yaml, &|_| None).expect("config");
    let content_type = if reply == STREAM { "text/event-stream" } else { "application/json" };
    let http = Arc::new(FakeHttp::new((0..n).map(|_| FakeReply::Body(200, content_type, reply.into()))));
    let platform = Platform {
        http,
        store: Arc::new(MemoryStore::new()),
        runtime: Arc::new(ManualRuntime::new(1_700_000_000_000)),
        stats: None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let stats = sqlite.map(|path| {
        let target = StatsTarget::Sqlite(path.into());
        runtime.block_on(Stats::open(&target)).expect("open statistics").expect("statistics on")
    });
    let mut platform = platform;
    platform.stats = stats.as_ref().map(Stats::store);
    let gateway = Gateway::new(config, platform);
    let mut ok = 0;
    runtime.block_on(async {
        for _ in 0..n {
            let request = http::Request::post(path)
                .header("authorization", "Bearer sk-bench")
                .header("content-type", "application/json")
                .body(Bytes::from(request_body.clone()))
                .expect("request");
            let response = gateway.handle(request).await;
            match response.into_body() {
                ResponseBody::Full(_) => ok += 1,
                // Up to the first frame: the stream is dropped after it, as a client that leaves.
                ResponseBody::Stream(mut frames) => {
                    if futures_util::StreamExt::next(&mut frames).await.is_some() {
                        ok += 1;
                    }
                }
                ResponseBody::Relay(_) => {}
            }
        }
    });
    assert_eq!(ok, n, "every request must succeed");
    if let Some(stats) = &stats {
        runtime.block_on(stats.flush());
    }
    println!("{n} {name} requests served ({} bytes each)", request_body.len());
}
