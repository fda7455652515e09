//! Test harness: mock upstreams on 127.0.0.1 that record what they receive and misbehave on
//! command, and the native gateway started on a real socket with a given `api.yaml`.

pub mod agents;
pub mod bodies;
pub mod browser;
pub mod mock;
pub mod process;
pub mod speak;
pub mod sse;
pub mod tcp_switch;
pub mod worker;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;
use uni_api_core::platform::{BoxFuture, Platform, Runtime, StatsStore, UnixMillis};
use uni_api_core::Config;
use uni_api_native::runtime::TokioRuntime;
pub use uni_api_native::server::ServerLimits;

pub use mock::{Mock, Reply};

/// The real runtime with a clock that tests can move forward (sleeps stay real).
#[derive(Default)]
pub struct ShiftedRuntime {
    offset_ms: AtomicU64,
}

impl Runtime for ShiftedRuntime {
    fn now(&self) -> UnixMillis {
        UnixMillis(TokioRuntime.now().0 + self.offset_ms.load(Ordering::SeqCst))
    }
    fn random_u64(&self) -> u64 {
        TokioRuntime.random_u64()
    }
    fn fill_secure_random(&self, buf: &mut [u8]) {
        TokioRuntime.fill_secure_random(buf)
    }
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        TokioRuntime.sleep(d)
    }
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        TokioRuntime.spawn(task)
    }
}

/// A gateway serving on 127.0.0.1 for one test: the native one, or, when
/// `UNI_API_TEST_TARGET=worker`, the built Cloudflare Worker in local workerd (see README).
pub struct TestGateway {
    client: Client,
    runtime: Arc<ShiftedRuntime>,
    _shutdown: Option<oneshot::Sender<()>>,
    _worker: Option<worker::WorkerGateway>,
}

impl std::ops::Deref for TestGateway {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

/// An HTTP client aimed at one gateway (native or Worker), with the requests tests make.
pub struct Client {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
}

impl TestGateway {
    /// Starts the gateway with `yaml` (panics on a config error: tests pass valid configs).
    pub async fn start(yaml: &str) -> Self {
        if on_worker() {
            let worker = worker::WorkerGateway::start(yaml).expect("UNI_API_TEST_TARGET=worker needs the built Worker");
            let client = Client::new(worker.addr);
            return Self { client, runtime: Arc::default(), _shutdown: None, _worker: Some(worker) };
        }
        Self::start_with_env(yaml, &|_| None).await
    }

    pub async fn start_with_env(yaml: &str, env: &dyn Fn(&str) -> Option<String>) -> Self {
        Self::start_full(yaml, env, None, ServerLimits::default()).await
    }

    /// Starts the native gateway with these connection limits and timeouts.
    pub async fn start_with_limits(yaml: &str, limits: ServerLimits) -> Self {
        Self::start_full(yaml, &|_| None, None, limits).await
    }

    /// Starts the gateway with `yaml`, recording statistics into `stats`.
    pub async fn start_with_stats(yaml: &str, stats: Arc<dyn StatsStore>) -> Self {
        Self::start_full(yaml, &|_| None, Some(stats), ServerLimits::default()).await
    }

    async fn start_full(
        yaml: &str,
        env: &dyn Fn(&str) -> Option<String>,
        stats: Option<Arc<dyn StatsStore>>,
        limits: ServerLimits,
    ) -> Self {
        let config = Config::from_yaml_str(yaml, env).unwrap_or_else(|e| panic!("test config: {e}\n{yaml}"));
        let runtime = Arc::new(ShiftedRuntime::default());
        let mut platform: Platform = uni_api_native::native_platform().expect("platform");
        platform.runtime = runtime.clone();
        platform.stats = stats;
        let gateway = uni_api_native::build_gateway(config, platform).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(uni_api_native::server::serve(listener, gateway, limits, async {
            let _ = rx.await;
        }));
        Self { client: Client::new(addr), runtime, _shutdown: Some(tx), _worker: None }
    }

    /// Moves the gateway's clock forward (cooldowns and rate windows see it; sleeps do not).
    pub fn advance(&self, d: Duration) {
        assert!(self._worker.is_none(), "moving the clock needs the native gateway (the Worker uses the real clock)");
        self.runtime.offset_ms.fetch_add(d.as_millis() as u64, Ordering::SeqCst);
    }
}

impl Client {
    pub fn new(addr: SocketAddr) -> Self {
        uni_api_native::http::install_crypto_provider();
        Self { addr, http: reqwest::Client::builder().no_proxy().build().expect("client") }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// POSTs a chat completion as `key` and returns status, headers and JSON body.
    pub async fn chat(&self, key: &str, body: Value) -> (u16, Value) {
        let response = self.post("/v1/chat/completions", key, body).await;
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}")))
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("request")
    }

    pub async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        let response = self.http.get(self.url(path)).bearer_auth(key).send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}")))
    }

    /// Streams a chat completion and returns status and the raw SSE text.
    pub async fn chat_stream(&self, key: &str, body: Value) -> (u16, String) {
        let response = self.post("/v1/chat/completions", key, body).await;
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }
}

impl Client {
    /// POSTs an Anthropic Messages request (`x-api-key`, `anthropic-version`) to `path`.
    pub async fn post_anthropic(&self, path: &str, key: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .header("x-api-key", key)
            .header("anthropic-version", "2023-06-01")
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("request")
    }

    /// A Messages request and its status and JSON answer.
    pub async fn messages(&self, key: &str, body: &Value) -> (u16, Value) {
        let response = self.post_anthropic("/v1/messages", key, body).await;
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}")))
    }
}

/// The named events of an SSE body: `(event, data)` in order (`event` empty when unnamed).
pub fn sse_events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|event| {
            let name = event.lines().find_map(|l| l.strip_prefix("event:")).map(str::trim).unwrap_or("").to_owned();
            let data: Vec<&str> = event.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim_start).collect();
            let data = data.join("\n");
            (name, serde_json::from_str(&data).unwrap_or(Value::String(data)))
        })
        .collect()
}

/// A response's body as JSON (panics with the text when it is not).
pub async fn json_of(response: reqwest::Response) -> Value {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
}

/// Whether this run targets the Worker (`UNI_API_TEST_TARGET=worker`).
pub fn on_worker() -> bool {
    std::env::var("UNI_API_TEST_TARGET").is_ok_and(|t| t == "worker")
}

/// For scenarios that cannot run on the Worker: `true` (skip, with the reason printed) there.
pub fn native_only(reason: &str) -> bool {
    if on_worker() {
        eprintln!("native only, skipped on the Worker: {reason}");
    }
    on_worker()
}

/// A chat request body for `model`.
pub fn chat_body(model: &str) -> Value {
    serde_json::json!({ "model": model, "messages": [{ "role": "user", "content": "hi" }] })
}

/// The same, streamed.
pub fn stream_body(model: &str) -> Value {
    let mut body = chat_body(model);
    body["stream"] = Value::Bool(true);
    body
}

/// The error code of an OpenAI-shaped error body.
pub fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_else(|| panic!("not an OpenAI error: {body}"))
}
