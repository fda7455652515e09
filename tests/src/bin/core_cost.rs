//! CPU cost of the core's request path alone, for `valgrind --tool=callgrind`: N non-streamed
//! passthrough chat requests through `Gateway::handle` with a scripted upstream (no sockets, no
//! host). Instruction counts are deterministic; run it for two values of N and divide the
//! difference by the difference in N to get instructions per request (see BENCHMARKS.md).
//! Usage: uni-api-core-cost N

use std::sync::Arc;

use bytes::Bytes;
use uni_api_core::platform::{MemoryStore, Platform};
use uni_api_core::testing::{FakeHttp, FakeReply, ManualRuntime};
use uni_api_core::{Config, Gateway, ResponseBody};

const COMPLETION: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1,"model":"bench-upstream","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":9,"total_tokens":18}}"#;
const REQUEST: &str = r#"{"model":"bench","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Hello there, how are you doing today?"}],"temperature":0.7}"#;

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|v| v.parse().ok()).unwrap_or(1000);
    let yaml = "providers:\n  - provider: mock\n    base_url: http://127.0.0.1:9/v1\n    api: sk-upstream\n    model:\n      - bench-upstream: bench\napi_keys:\n  - api: sk-bench\n    role: bench\n";
    let config = Config::from_yaml_str(yaml, &|_| None).expect("config");
    let http = Arc::new(FakeHttp::new((0..n).map(|_| FakeReply::Body(200, "application/json", COMPLETION.into()))));
    let platform = Platform {
        http,
        store: Arc::new(MemoryStore::new()),
        runtime: Arc::new(ManualRuntime::new(1_700_000_000_000)),
        stats: None,
    };
    let gateway = Gateway::new(config, platform);
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let mut ok = 0;
    runtime.block_on(async {
        for _ in 0..n {
            let request = http::Request::post("/v1/chat/completions")
                .header("authorization", "Bearer sk-bench")
                .header("content-type", "application/json")
                .body(Bytes::from_static(REQUEST.as_bytes()))
                .expect("request");
            let response = gateway.handle(request).await;
            if response.status() == 200 && matches!(response.body(), ResponseBody::Full(_)) {
                ok += 1;
            }
        }
    });
    assert_eq!(ok, n, "every request must succeed");
    println!("{n} requests served");
}
