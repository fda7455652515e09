//! The pipeline without any host: a scripted HTTP client, the memory store and a manual clock.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_executor::block_on;
use serde_json::Value;

use super::{Gateway, ResponseBody};
use crate::platform::{MemoryStore, Platform};
use crate::testing::{FakeHttp, FakeReply, ManualRuntime};
use crate::Config;

const CONFIG: &str = "
providers:
  - provider: a
    base_url: http://a.test/v1
    model: [m]
  - provider: b
    base_url: http://b.test/v1
    model: [m]
api_keys:
  - api: k
preferences:
  cooldown_period: 60
";

fn ok_reply() -> FakeReply {
    FakeReply::Body(
        200,
        "application/json",
        r#"{"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}"#
            .into(),
    )
}

fn setup() -> (Gateway, Arc<FakeHttp>, Arc<ManualRuntime>) {
    let http = Arc::new(FakeHttp::default());
    let runtime = Arc::new(ManualRuntime::new(1_000_000));
    let config = Config::from_yaml_str(CONFIG, &|_| None).unwrap();
    let platform =
        Platform { http: http.clone(), store: Arc::new(MemoryStore::new()), runtime: runtime.clone(), stats: None };
    (Gateway::new(config, platform), http, runtime)
}

fn chat(gateway: &Gateway) -> (u16, Value) {
    let request = http::Request::post("/v1/chat/completions")
        .header("authorization", "Bearer k")
        .body(Bytes::from_static(br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#))
        .unwrap();
    let response = block_on(gateway.handle(request));
    let status = response.status().as_u16();
    let ResponseBody::Full(body) = response.into_body() else { panic!("expected a whole body") };
    (status, serde_json::from_slice(&body).unwrap())
}

#[test]
fn a_failed_channel_is_skipped_until_its_cooldown_ends_on_the_manual_clock() {
    let (gateway, http, runtime) = setup();
    http.push(FakeReply::Refused);
    http.push(ok_reply());
    assert_eq!(chat(&gateway).0, 200);
    assert_eq!(http.uris(), vec!["http://a.test/v1/chat/completions", "http://b.test/v1/chat/completions"]);

    http.push(ok_reply());
    assert_eq!(chat(&gateway).0, 200);
    assert_eq!(http.uris().last().unwrap(), "http://b.test/v1/chat/completions", "a is cooling down");

    runtime.advance(Duration::from_secs(61));
    http.push(ok_reply());
    assert_eq!(chat(&gateway).0, 200);
    assert_eq!(http.uris().last().unwrap(), "http://a.test/v1/chat/completions", "a is back");
}

#[test]
fn when_everything_fails_the_error_lists_the_attempts() {
    let (gateway, http, _) = setup();
    http.push(FakeReply::Body(503, "application/json", "{}".into()));
    http.push(FakeReply::Refused);
    let (status, body) = chat(&gateway);
    assert_eq!(status, 502);
    let attempts = body["error"]["attempts"].as_array().unwrap();
    assert_eq!(attempts[0]["channel"], "a/m");
    assert_eq!(attempts[0]["status"], 503);
    assert_eq!(attempts[1]["channel"], "b/m");
    assert!(attempts[1]["reason"].as_str().unwrap().contains("connection refused"));
}

/// A memory store that counts what it is asked.
#[derive(Default)]
struct CountingStore {
    inner: MemoryStore,
    admits: std::sync::atomic::AtomicUsize,
    cursors: std::sync::atomic::AtomicUsize,
}

impl crate::platform::StateStore for CountingStore {
    fn admit<'a>(
        &'a self,
        key: &'a str,
        rules: &'a [crate::scheduler::RateRule],
        now: crate::platform::UnixMillis,
    ) -> crate::platform::BoxFuture<'a, Result<crate::scheduler::Admission, crate::platform::StoreError>> {
        self.admits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.admit(key, rules, now)
    }
    fn cooldowns<'a>(
        &'a self,
        keys: &'a [String],
        now: crate::platform::UnixMillis,
    ) -> crate::platform::BoxFuture<'a, Result<Vec<Option<crate::platform::UnixMillis>>, crate::platform::StoreError>>
    {
        self.inner.cooldowns(keys, now)
    }
    fn start_cooldown<'a>(
        &'a self,
        key: &'a str,
        until: crate::platform::UnixMillis,
    ) -> crate::platform::BoxFuture<'a, Result<(), crate::platform::StoreError>> {
        self.inner.start_cooldown(key, until)
    }
    fn next_cursor<'a>(
        &'a self,
        key: &'a str,
    ) -> crate::platform::BoxFuture<'a, Result<u64, crate::platform::StoreError>> {
        self.cursors.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.next_cursor(key)
    }
}

#[test]
fn made_up_model_names_create_no_state() {
    let yaml = "providers:\n  - provider: a\n    base_url: http://a.test/v1\n    model: [m]\napi_keys:\n  - api: k\n    preferences:\n      rate_limit: 100/min\n      SCHEDULING_ALGORITHM: round_robin\npreferences:\n  rate_limit: 1000/min\n";
    let store = Arc::new(CountingStore::default());
    let platform = Platform {
        http: Arc::new(FakeHttp::default()),
        store: store.clone(),
        runtime: Arc::new(ManualRuntime::new(1_000_000)),
        stats: None,
    };
    let gateway = Gateway::new(Config::from_yaml_str(yaml, &|_| None).unwrap(), platform);
    for i in 0..500 {
        let body = format!(r#"{{"model":"made-up-{i}","messages":[{{"role":"user","content":"hi"}}]}}"#);
        let request = http::Request::post("/v1/chat/completions")
            .header("authorization", "Bearer k")
            .body(Bytes::from(body))
            .unwrap();
        assert_eq!(block_on(gateway.handle(request)).status(), 404);
    }
    assert_eq!(
        store.admits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no rate window for a model that does not exist"
    );
    assert_eq!(store.cursors.load(std::sync::atomic::Ordering::SeqCst), 0);
}
