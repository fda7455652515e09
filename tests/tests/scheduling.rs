//! Channel scheduling per client key, upstream-key scheduling, and rate limits.

use std::time::Duration;

use serde_json::{json, Value};
use uni_api_tests::{chat_body, error_code, Mock, Reply, TestGateway};

async fn mocks(n: usize) -> Vec<Mock> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(Mock::start(&format!("p{i}")).await);
    }
    out
}

fn providers(mocks: &[Mock]) -> String {
    let mut yaml = String::from("providers:\n");
    for (i, m) in mocks.iter().enumerate() {
        yaml.push_str(&format!("  - provider: p{i}\n    base_url: {}\n    model: [m]\n", m.base()));
    }
    yaml
}

async fn who_answers(gw: &TestGateway, key: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        let (status, body) = gw.chat(key, chat_body("m")).await;
        assert_eq!(status, 200, "{body}");
        out.push(body["choices"][0]["message"]["content"].as_str().unwrap().trim_start_matches("from ").to_owned());
    }
    out
}

#[tokio::test]
async fn fixed_priority_and_round_robin() {
    let m = mocks(3).await;
    let yaml = format!(
        "{}api_keys:\n  - api: fixed\n  - api: rr\n    model: [p2/*, p0/*, p1/*]\n    preferences: {{ SCHEDULING_ALGORITHM: round_robin }}\n",
        providers(&m)
    );
    let gw = TestGateway::start(&yaml).await;
    assert_eq!(who_answers(&gw, "fixed", 3).await, vec!["p0", "p0", "p0"]);
    assert_eq!(who_answers(&gw, "rr", 6).await, vec!["p2", "p0", "p1", "p2", "p0", "p1"]);
}

#[tokio::test]
async fn weighted_round_robin_gives_exactly_5_3_2_of_every_10() {
    let m = mocks(3).await;
    let yaml = format!(
        "{}api_keys:\n  - api: w\n    model:\n      - p0/*: 5\n      - p1/*: 3\n      - p2/*: 2\n    preferences: {{ SCHEDULING_ALGORITHM: weighted_round_robin }}\n",
        providers(&m)
    );
    let gw = TestGateway::start(&yaml).await;
    let picks = who_answers(&gw, "w", 20).await;
    for window in [&picks[..10], &picks[10..]] {
        let count = |p: &str| window.iter().filter(|x| *x == p).count();
        assert_eq!((count("p0"), count("p1"), count("p2")), (5, 3, 2), "{picks:?}");
    }
}

#[tokio::test]
async fn lottery_and_random_spread_load_over_every_channel() {
    let m = mocks(3).await;
    let yaml = format!(
        "{}api_keys:\n  - api: lot\n    model:\n      - p0/*: 8\n      - p1/*: 1\n      - p2/*: 1\n    preferences: {{ SCHEDULING_ALGORITHM: lottery }}\n  - api: rnd\n    preferences: {{ SCHEDULING_ALGORITHM: random }}\n",
        providers(&m)
    );
    let gw = TestGateway::start(&yaml).await;
    let lottery = who_answers(&gw, "lot", 60).await;
    let heavy = lottery.iter().filter(|p| *p == "p0").count();
    assert!(heavy > 30 && heavy < 60, "p0 drew {heavy} of 60");
    let random = who_answers(&gw, "rnd", 60).await;
    for p in ["p0", "p1", "p2"] {
        assert!(random.iter().any(|x| x == p), "random never picked {p}: {random:?}");
    }
}

#[tokio::test]
async fn upstream_keys_rotate_round_robin_by_default() {
    let up = Mock::start("up").await;
    let yaml = format!(
        "providers:\n  - provider: p\n    base_url: {}\n    api: [k1, k2, k3]\n    model: [m]\n  - provider: f\n    base_url: {}\n    api: [f1, f2]\n    model: [n]\n    preferences: {{ api_key_schedule_algorithm: fixed_priority }}\napi_keys:\n  - api: k\n",
        up.base(),
        up.base()
    );
    let gw = TestGateway::start(&yaml).await;
    who_answers(&gw, "k", 4).await;
    for _ in 0..2 {
        gw.chat("k", chat_body("n")).await;
    }
    let keys: Vec<String> =
        up.chat_requests().iter().map(|r| r.header("authorization").unwrap().replace("Bearer ", "")).collect();
    assert_eq!(keys, vec!["k1", "k2", "k3", "k1", "f1", "f1"]);
}

#[tokio::test]
async fn a_client_rate_limit_answers_429_with_retry_after() {
    if uni_api_tests::native_only("moves the gateway's clock; the Worker uses the real clock") {
        return;
    }
    let m = mocks(1).await;
    let yaml = format!(
        "{}api_keys:\n  - api: limited\n    preferences: {{ rate_limit: 2/min }}\n  - api: per-model\n    preferences:\n      rate_limit: {{ m: 1/min, default: 100/min }}\n  - api: free\n",
        providers(&m)
    );
    let gw = TestGateway::start(&yaml).await;
    assert_eq!(gw.chat("limited", chat_body("m")).await.0, 200);
    assert_eq!(gw.chat("limited", chat_body("m")).await.0, 200);
    let response = gw.post("/v1/chat/completions", "limited", chat_body("m")).await;
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "never beyond the window: {retry_after}");
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(error_code(&body), "rate_limit_exceeded");
    assert_eq!(m[0].count(), 2, "a refused request never reaches the upstream");
    // Other keys are not affected, and the window slides.
    assert_eq!(gw.chat("free", chat_body("m")).await.0, 200);
    gw.advance(Duration::from_secs(120));
    assert_eq!(gw.chat("limited", chat_body("m")).await.0, 200);
    // Per-model maps use the model's own entry.
    assert_eq!(gw.chat("per-model", chat_body("m")).await.0, 200);
    assert_eq!(gw.chat("per-model", chat_body("m")).await.0, 429);
}

#[tokio::test]
async fn the_global_rate_limit_is_shared_by_every_key() {
    let m = mocks(1).await;
    let yaml = format!("{}api_keys:\n  - api: a\n  - api: b\npreferences:\n  rate_limit: 2/min\n", providers(&m));
    let gw = TestGateway::start(&yaml).await;
    assert_eq!(gw.chat("a", chat_body("m")).await.0, 200);
    assert_eq!(gw.chat("b", chat_body("m")).await.0, 200);
    assert_eq!(gw.chat("a", chat_body("m")).await.0, 429);
    assert_eq!(gw.chat("b", chat_body("m")).await.0, 429);
    assert_eq!(m[0].count(), 2);
}

#[tokio::test]
async fn an_upstream_key_at_its_limit_is_skipped_then_the_next_channel_is_used() {
    let (a, b) = (Mock::start("a").await, Mock::start("b").await);
    let yaml = format!(
        "providers:\n  - provider: a\n    base_url: {}\n    api: [ka1, ka2]\n    model: [m]\n    preferences: {{ api_key_rate_limit: 1/min, api_key_schedule_algorithm: fixed_priority }}\n  - provider: b\n    base_url: {}\n    model: [m]\napi_keys:\n  - api: k\n",
        a.base(),
        b.base()
    );
    let gw = TestGateway::start(&yaml).await;
    let answers = who_answers(&gw, "k", 3).await;
    assert_eq!(answers, vec!["a", "a", "b"]);
    let keys: Vec<String> = a.chat_requests().iter().map(|r| r.header("authorization").unwrap().to_owned()).collect();
    assert_eq!(keys, vec!["Bearer ka1", "Bearer ka2"]);
    // With no other channel, every key at its limit means 429.
    let solo = Mock::start("solo").await;
    let yaml = format!(
        "providers:\n  - provider: s\n    base_url: {}\n    api: sk-s\n    model: [m]\n    preferences: {{ api_key_rate_limit: 1/min }}\napi_keys:\n  - api: k\n",
        solo.base()
    );
    let gw = TestGateway::start(&yaml).await;
    assert_eq!(gw.chat("k", chat_body("m")).await.0, 200);
    let (status, body) = gw.chat("k", chat_body("m")).await;
    assert_eq!(status, 429, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("rate limit"), "{body}");
}

#[tokio::test]
async fn channels_without_tool_support_are_skipped_for_tool_requests() {
    let (a, b) = (Mock::start("a").await, Mock::start("b").await);
    let yaml = format!(
        "providers:\n  - provider: a\n    base_url: {}\n    model: [m]\n    tools: false\n  - provider: b\n    base_url: {}\n    model: [m]\napi_keys:\n  - api: k\n",
        a.base(),
        b.base()
    );
    let gw = TestGateway::start(&yaml).await;
    let mut body = chat_body("m");
    body["tools"] = json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]);
    let (_, reply) = gw.chat("k", body).await;
    assert_eq!(reply["choices"][0]["message"]["content"], "from b");
    let (_, reply) = gw.chat("k", chat_body("m")).await;
    assert_eq!(reply["choices"][0]["message"]["content"], "from a");
    let _ = Reply::Normal;
}

#[tokio::test]
async fn channels_with_image_false_are_skipped_for_requests_with_images_at_every_door() {
    let (a, b) = (Mock::start("a").await, Mock::start("b").await);
    let yaml = format!(
        "providers:\n  - provider: a\n    base_url: {}\n    model: [m]\n    image: false\n  - provider: b\n    base_url: {}\n    model: [m]\n  - provider: only-text\n    base_url: {}\n    model: [t]\n    image: false\napi_keys:\n  - api: k\n",
        a.base(),
        b.base(),
        a.base()
    );
    let gw = TestGateway::start(&yaml).await;
    let png = "data:image/png;base64,iVBORw0KGgo=";
    let with_image = |model: &str| {
        json!({"model": model, "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": png}}
        ]}]})
    };
    let (status, reply) = gw.chat("k", with_image("m")).await;
    assert_eq!((status, reply["choices"][0]["message"]["content"].as_str()), (200, Some("from b")), "{reply}");
    // Text alone still goes to the first channel; the word "image" in text is not an image.
    let mut text = chat_body("m");
    text["messages"][0]["content"] = json!("describe an image_url for me");
    let (_, reply) = gw.chat("k", text).await;
    assert_eq!(reply["choices"][0]["message"]["content"], "from a");
    // Nothing left: a 400 that says why.
    let (status, reply) = gw.chat("k", with_image("t")).await;
    assert_eq!(status, 400, "{reply}");
    assert!(reply["error"]["message"].as_str().unwrap().contains("image: false"), "{reply}");

    // The Messages, Responses and Gemini doors spell images their own way.
    let messages = json!({"model": "m", "max_tokens": 50, "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "text", "text": "what is this?"}]}]});
    let (status, reply) = gw.messages("k", &messages).await;
    assert_eq!(status, 200, "{reply}");
    assert!(reply.to_string().contains("from b"), "{reply}");
    let responses = json!({"model": "m", "input": [{"role": "user", "content": [
        {"type": "input_text", "text": "what is this?"}, {"type": "input_image", "image_url": png}]}]});
    let response = gw.post("/v1/responses", "k", responses).await;
    assert_eq!(response.status(), 200);
    assert!(uni_api_tests::json_of(response).await.to_string().contains("from b"));
    let gemini = json!({"contents": [{"role": "user", "parts": [
        {"text": "what is this?"}, {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}]}]});
    let response = gw.post("/v1beta/models/m:generateContent", "k", gemini).await;
    assert_eq!(response.status(), 200);
    assert!(uni_api_tests::json_of(response).await.to_string().contains("from b"));
}
