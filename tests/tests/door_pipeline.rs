//! What holds for chat holds at every door: key rules, timeouts, error triggers, cooldowns,
//! moderation and statistics, each answered in the door's own shape.

use std::time::Duration;

use serde_json::{json, Value};
use uni_api_core::platform::StatsStore;
use uni_api_native::stats::{Stats, StatsTarget};
use uni_api_tests::{json_of, native_only, Mock, Reply, TestGateway};

fn messages_body(stream: bool) -> Value {
    json!({"model": "m", "max_tokens": 100, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
}

fn responses_body() -> Value {
    json!({"model": "m", "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}]})
}

fn gemini_body() -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
}

/// POSTs to each door: (path, body, header name for the key).
fn doors() -> [(&'static str, Value, &'static str); 3] {
    [
        ("/v1/messages", messages_body(false), "x-api-key"),
        ("/v1/responses", responses_body(), "authorization"),
        ("/v1beta/models/m:generateContent", gemini_body(), "x-goog-api-key"),
    ]
}

async fn post(gw: &TestGateway, path: &str, body: &Value, header: &str, key: &str) -> reqwest::Response {
    let value = if header == "authorization" { format!("Bearer {key}") } else { key.to_owned() };
    gw.http
        .post(gw.url(path))
        .header(header, value)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn key_rules_forbid_a_model_at_every_door() {
    let up = Mock::start("up").await;
    let yaml = format!(
        "providers:\n  - provider: p\n    base_url: {}\n    model: [m, other]\napi_keys:\n  - api: limited\n    model: [other]\n",
        up.base()
    );
    let gw = TestGateway::start(&yaml).await;
    let shapes = [
        ("/v1/messages", "permission_error"),
        ("/v1/responses", "model_not_allowed"),
        ("/v1beta/models/m:generateContent", "PERMISSION_DENIED"),
    ];
    for ((path, body, header), (_, expected)) in doors().into_iter().zip(shapes) {
        let response = post(&gw, path, &body, header, "limited").await;
        assert_eq!(response.status(), 403, "{path}");
        let error = json_of(response).await;
        let found = [&error["error"]["type"], &error["error"]["code"], &error["error"]["status"]];
        assert!(found.iter().any(|v| *v == expected), "{path}: {error}");
    }
    assert_eq!(up.received().len(), 0);
}

#[tokio::test]
async fn a_hanging_upstream_times_out_in_each_doors_shape() {
    let up = Mock::start("up").await;
    up.always(Reply::Hang);
    let yaml = format!(
        "providers:\n  - provider: p\n    base_url: {}\n    model: [m]\napi_keys:\n  - api: k\npreferences:\n  model_timeout:\n    default: 1\n  cooldown_period: 0\n",
        up.base()
    );
    let gw = TestGateway::start(&yaml).await;
    let shapes = ["timeout_error", "upstream_timeout", "DEADLINE_EXCEEDED"];
    for ((path, body, header), expected) in doors().into_iter().zip(shapes) {
        let response = post(&gw, path, &body, header, "k").await;
        assert_eq!(response.status(), 504, "{path}");
        let error = json_of(response).await;
        let found = [&error["error"]["type"], &error["error"]["code"], &error["error"]["status"]];
        assert!(found.iter().any(|v| *v == expected), "{path}: {error}");
    }
}

#[tokio::test]
async fn an_error_trigger_in_a_door_stream_fails_over() {
    let a = Mock::start("a").await;
    a.script([Reply::Says(uni_api_tests::speak::Said::Text("quota exceeded, try later".into()))]);
    let b = Mock::start("b").await;
    let yaml = format!(
        "providers:\n  - provider: a\n    base_url: {}\n    model: [m]\n  - provider: b\n    base_url: {}\n    model: [m]\napi_keys:\n  - api: k\n    preferences:\n      SCHEDULING_ALGORITHM: fixed_priority\npreferences:\n  error_triggers: [quota]\n  cooldown_period: 0\n",
        a.base(),
        b.base()
    );
    let gw = TestGateway::start(&yaml).await;
    let response = post(&gw, "/v1/messages", &messages_body(true), "x-api-key", "k").await;
    let events = uni_api_tests::sse_events(&response.text().await.unwrap());
    let text: String = events.iter().filter_map(|(_, d)| d["delta"]["text"].as_str()).collect();
    assert_eq!(text, "from b");
    assert_eq!((a.received().len(), b.received().len()), (1, 1));
}

#[tokio::test]
async fn a_failed_channel_cools_down_for_door_requests_too() {
    if native_only("moves the gateway clock") {
        return;
    }
    let a = Mock::start("a").await;
    a.script([Reply::Json(500, json!({"error": {"message": "down"}}))]);
    let b = Mock::start("b").await;
    let yaml = format!(
        "providers:\n  - provider: a\n    base_url: {}\n    model: [m]\n  - provider: b\n    base_url: {}\n    model: [m]\napi_keys:\n  - api: k\n    preferences:\n      SCHEDULING_ALGORITHM: fixed_priority\npreferences:\n  cooldown_period: 60\n",
        a.base(),
        b.base()
    );
    let gw = TestGateway::start(&yaml).await;
    for (path, body, header) in doors() {
        assert_eq!(post(&gw, path, &body, header, "k").await.status(), 200, "{path}");
    }
    assert_eq!((a.received().len(), b.received().len()), (1, 3), "a sat out after failing once");
    gw.advance(Duration::from_secs(61));
    assert_eq!(post(&gw, "/v1/responses", &responses_body(), "authorization", "k").await.status(), 200);
    assert_eq!(a.received().len(), 2, "a is back after its cooldown");
}

#[tokio::test]
async fn moderation_checks_every_door() {
    let up = Mock::start("up").await;
    let flagged = json!({"id": "modr", "results": [{"flagged": true, "categories": {"violence": true}}]});
    up.script([Reply::Json(200, flagged.clone()), Reply::Json(200, flagged.clone()), Reply::Json(200, flagged)]);
    let yaml = format!(
        "providers:\n  - provider: p\n    base_url: {}\n    model: [m, omni-moderation-latest]\napi_keys:\n  - api: k\n    preferences:\n      ENABLE_MODERATION: true\n",
        up.base()
    );
    let gw = TestGateway::start(&yaml).await;
    for (path, body, header) in doors() {
        let response = post(&gw, path, &body, header, "k").await;
        assert_eq!(response.status(), 400, "{path}");
        assert!(json_of(response).await.to_string().contains("violence"), "{path}");
    }
    let checked: Vec<Value> = up.received().iter().map(|r| r.body["input"].clone()).collect();
    assert_eq!(checked, vec![json!("hi"); 3]);
    assert_eq!(up.count(), 0, "nothing flagged reaches the chat upstream");
}

#[tokio::test]
async fn every_door_request_is_one_statistics_row_naming_its_door() {
    if native_only("reads the native gateway's SQLite file") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stats.db");
    let stats = Stats::open(&StatsTarget::Sqlite(path.clone())).await.unwrap().unwrap();
    let store: std::sync::Arc<dyn StatsStore> = stats.store();
    let up = Mock::start("up").await;
    let yaml =
        format!("providers:\n  - provider: p\n    base_url: {}\n    model: [m]\napi_keys:\n  - api: k\n", up.base());
    let gw = TestGateway::start_with_stats(&yaml, store).await;
    for (path, body, header) in doors() {
        assert_eq!(post(&gw, path, &body, header, "k").await.status(), 200, "{path}");
    }
    let streamed =
        post(&gw, "/v1beta/models/m:streamGenerateContent?alt=sse", &gemini_body(), "x-goog-api-key", "k").await;
    let text = streamed.text().await.unwrap();
    assert!(text.contains("finishReason") && !text.contains("error"), "{text}");
    stats.flush().await;
    let conn = rusqlite::Connection::open(&path).unwrap();
    let rows: Vec<(String, i64, i64, i64)> = conn
        .prepare("SELECT endpoint, status, prompt_tokens, completion_tokens FROM uni_api_requests ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let endpoints: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        endpoints,
        ["/v1/messages", "/v1/responses", "/v1beta/models:generateContent", "/v1beta/models:streamGenerateContent"]
    );
    assert!(rows.iter().all(|r| r.1 == 200 && r.2 == 3 && r.3 == 2), "{rows:?}");
}
