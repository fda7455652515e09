//! CPU cost of the core's request path alone, for `valgrind --tool=callgrind`: N non-streamed
//! passthrough chat requests through `Gateway::handle` with a scripted upstream (no sockets, no
//! host). Instruction counts are deterministic; run it for two values of N and divide the
//! difference by the difference in N to get instructions per request (see BENCHMARKS.md).
//! With `--sqlite PATH`, statistics are on (the native SQLite store, flushed before exit), so the
//! difference between the two runs is the user-space cost of recording a request.
//! Usage: uni-api-core-cost N [--sqlite PATH]

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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|v| v.parse().ok()).unwrap_or(1000);
    let sqlite = args.iter().position(|a| a == "--sqlite").and_then(|i| args.get(i + 1)).cloned();
    let yaml = "providers:\n  - provider: mock\n    base_url: http://127.0.0.1:9/v1\n    api: sk-upstream\n    model:\n      - bench-upstream: bench\napi_keys:\n  - api: sk-bench\n    role: bench\n";
    let config = Config::from_yaml_str(yaml, &|_| None).expect("config");
    let http = Arc::new(FakeHttp::new((0..n).map(|_| FakeReply::Body(200, "application/json", COMPLETION.into()))));
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
    if let Some(stats) = &stats {
        runtime.block_on(stats.flush());
    }
    println!("{n} requests served");
}
