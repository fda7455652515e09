//! Failover across channels and keys, AUTO_RETRY, cooldowns, timeouts, error triggers and the
//! error a client gets when everything fails.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use uni_api_tests::sse::{content, ends_with_done};
use uni_api_tests::{chat_body, error_code, stream_body, Mock, Reply, TestGateway};

/// Providers p0..pn, one per mock, each serving `m`, all open to key `k`.
async fn chain(mocks: &[&Mock], key_prefs: &str, global: &str) -> TestGateway {
    let mut yaml = String::from("providers:\n");
    for (i, m) in mocks.iter().enumerate() {
        yaml.push_str(&format!("  - provider: p{i}\n    base_url: {}\n    api: sk-up-{i}\n    model: [m]\n", m.base()));
    }
    yaml.push_str(&format!("api_keys:\n  - api: k\n{key_prefs}preferences:\n{global}"));
    TestGateway::start(&yaml).await
}

fn answered_by(body: &Value) -> &str {
    body["choices"][0]["message"]["content"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn retryable_failures_fail_over_to_the_next_channel() {
    let failures = [
        Reply::Json(500, json!({"error": {"message": "boom"}})),
        Reply::Json(503, json!({"error": {"message": "busy"}})),
        Reply::Json(429, json!({"error": {"message": "slow down"}})),
        Reply::Json(401, json!({"error": {"message": "bad key"}})),
        Reply::Json(403, json!({"error": {"message": "forbidden"}})),
        Reply::Json(404, json!({"error": {"message": "no such model"}})),
        Reply::Raw(200, "application/json", "{not json".into()),
        Reply::Json(200, json!({"error": {"message": "hidden failure"}})),
    ];
    for failure in failures {
        let (a, b) = (Mock::start("a").await, Mock::start("b").await);
        a.script([failure.clone()]);
        let gw = chain(&[&a, &b], "", "  cooldown_period: 0\n").await;
        let (status, body) = gw.chat("k", chat_body("m")).await;
        assert_eq!((status, answered_by(&body)), (200, "from b"), "after {failure:?}: {body}");
        assert_eq!((a.count(), b.count()), (1, 1));
    }
}

#[tokio::test]
async fn connect_errors_and_timeouts_fail_over() {
    let dead = "http://127.0.0.1:9/v1"; // nothing listens on the discard port
    let hang = Mock::start("hang").await;
    hang.always(Reply::Hang);
    let good = Mock::start("good").await;
    let yaml = format!(
        "providers:\n  - provider: dead\n    base_url: {dead}\n    model: [m]\n  - provider: hang\n    base_url: {}\n    model: [m]\n    preferences: {{ model_timeout: {{ m: 1 }} }}\n  - provider: good\n    base_url: {}\n    model: [m]\napi_keys:\n  - api: k\n",
        hang.base(),
        good.base()
    );
    let gw = TestGateway::start(&yaml).await;
    let start = Instant::now();
    let (status, body) = gw.chat("k", chat_body("m")).await;
    assert_eq!((status, answered_by(&body)), (200, "from good"), "{body}");
    assert!(start.elapsed() < Duration::from_secs(4), "the 1 s timeout was not applied: {:?}", start.elapsed());
    assert_eq!(hang.count(), 1);
}

#[tokio::test]
async fn a_request_error_is_returned_as_is_without_retry() {
    let (a, b) = (Mock::start("a").await, Mock::start("b").await);
    a.script([Reply::Json(400, json!({"error": {"message": "messages: too long", "type": "invalid_request_error", "code": "context_length_exceeded"}}))]);
    let gw = chain(&[&a, &b], "", "").await;
    let (status, body) = gw.chat("k", chat_body("m")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("messages: too long"));
    assert_eq!(b.count(), 0);
    // Not a channel failure: the next request still goes to `a`.
    let (_, body) = gw.chat("k", chat_body("m")).await;
    assert_eq!(answered_by(&body), "from a");
}

#[tokio::test]
async fn auto_retry_false_returns_the_first_failure_and_a_number_caps_retries() {
    let mocks = [Mock::start("a").await, Mock::start("b").await, Mock::start("c").await];
    for m in &mocks[..2] {
        m.always(Reply::Json(500, json!({"error": {"message": "down"}})));
    }
    let refs: Vec<&Mock> = mocks.iter().collect();
    let gw = chain(&refs, "    preferences: { AUTO_RETRY: false }\n", "  cooldown_period: 0\n").await;
    let (status, body) = gw.chat("k", chat_body("m")).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(mocks.iter().map(Mock::count).collect::<Vec<_>>(), vec![1, 0, 0]);

    let gw = chain(&refs, "    preferences: { AUTO_RETRY: 1 }\n", "  cooldown_period: 0\n").await;
    let (status, _) = gw.chat("k", chat_body("m")).await;
    assert_eq!(status, 502);
    assert_eq!(mocks.iter().map(Mock::count).collect::<Vec<_>>(), vec![2, 1, 0]);

    let gw = chain(&refs, "", "  cooldown_period: 0\n").await;
    let (status, body) = gw.chat("k", chat_body("m")).await;
    assert_eq!((status, answered_by(&body)), (200, "from c"));
}

#[tokio::test]
async fn when_all_fail_the_error_names_each_channel_and_no_key() {
    let (a, b) = (Mock::start("a").await, Mock::start("b").await);
    a.always(Reply::Json(500, json!({"error": {"message": "invalid key sk-up-0 was sent"}})));
    b.always(Reply::Json(429, json!({"error": {"message": "rate limited"}})));
    let gw = chain(&[&a, &b], "", "").await;
    let (status, body) = gw.chat("k", chat_body("m")).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(error_code(&body), "upstream_failed");
    let attempts = body["error"]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["channel"], "p0/m");
    assert_eq!(attempts[0]["status"], 500);
    assert_eq!(attempts[1]["channel"], "p1/m");
    assert_eq!(attempts[1]["status"], 429);
    let text = body.to_string();
    assert!(!text.contains("sk-up-0") && !text.contains("sk-up-1"), "a key leaked: {text}");
    assert!(text.contains("invalid key *** was sent"));
}

#[tokio::test]
async fn the_final_status_reflects_what_the_upstreams_said() {
    let (a, b) = (Mock::start("a").await, Mock::start("b").await);
    a.always(Reply::Json(429, json!({})));
    b.always(Reply::Json(429, json!({})));
    let gw = chain(&[&a, &b], "", "").await;
    assert_eq!(gw.chat("k", chat_body("m")).await.0, 429);
    let (c, d) = (Mock::start("c").await, Mock::start("d").await);
    c.always(Reply::Json(503, json!({})));
    d.always(Reply::Json(503, json!({})));
    let gw = chain(&[&c, &d], "", "").await;
    assert_eq!(gw.chat("k", chat_body("m")).await.0, 503);
    let hang = Mock::start("hang").await;
    hang.always(Reply::Hang);
    let gw = chain(&[&hang], "", "  model_timeout: { default: 1 }\n").await;
    let (status, body) = gw.chat("k", chat_body("m")).await;
    assert_eq!((status, error_code(&body)), (504, "upstream_timeout"));
}

#[tokio::test]
async fn a_failed_channel_cools_down_and_recovers() {
    if uni_api_tests::native_only("moves the gateway's clock; the Worker uses the real clock") {
        return;
    }
    let (a, b) = (Mock::start("a").await, Mock::start("b").await);
    a.script([Reply::Json(500, json!({}))]);
    let gw = chain(&[&a, &b], "", "  cooldown_period: 60\n").await;
    assert_eq!(answered_by(&gw.chat("k", chat_body("m")).await.1), "from b");
    // `a` is skipped while it cools down, with no request sent to it.
    assert_eq!(answered_by(&gw.chat("k", chat_body("m")).await.1), "from b");
    assert_eq!(a.count(), 1);
    gw.advance(Duration::from_secs(61));
    assert_eq!(answered_by(&gw.chat("k", chat_body("m")).await.1), "from a");
}

#[tokio::test]
async fn cooldown_zero_disables_it() {
    let (a, b) = (Mock::start("a").await, Mock::start("b").await);
    a.script([Reply::Json(500, json!({}))]);
    let gw = chain(&[&a, &b], "", "  cooldown_period: 0\n").await;
    assert_eq!(answered_by(&gw.chat("k", chat_body("m")).await.1), "from b");
    assert_eq!(answered_by(&gw.chat("k", chat_body("m")).await.1), "from a");
}

#[tokio::test]
async fn when_every_channel_cools_the_one_recovering_first_is_tried() {
    let (a, b) = (Mock::start("a").await, Mock::start("b").await);
    a.script([Reply::Json(500, json!({}))]);
    b.script([Reply::Json(500, json!({}))]);
    let gw = chain(&[&a, &b], "", "  cooldown_period: 300\n").await;
    assert_eq!(gw.chat("k", chat_body("m")).await.0, 502);
    // Both cool; `a` started cooling first, so it recovers first and is tried, not refused.
    let (status, body) = gw.chat("k", chat_body("m")).await;
    assert_eq!((status, answered_by(&body)), (200, "from a"), "{body}");

    // A one-channel setup is not locked out by one blip either.
    let solo = Mock::start("solo").await;
    solo.script([Reply::Json(500, json!({}))]);
    let gw = chain(&[&solo], "", "").await;
    assert_eq!(gw.chat("k", chat_body("m")).await.0, 502);
    assert_eq!(gw.chat("k", chat_body("m")).await.0, 200);
}

#[tokio::test]
async fn a_rate_limited_key_fails_over_to_the_next_key_and_cools_down() {
    if uni_api_tests::native_only("moves the gateway's clock; the Worker uses the real clock") {
        return;
    }
    let up = Mock::start("up").await;
    up.script([Reply::Json(429, json!({"error": {"message": "rate limited"}}))]);
    let yaml = format!(
        "providers:\n  - provider: p\n    base_url: {}\n    api: [sk-one, sk-two]\n    model: [m]\n    preferences:\n      api_key_schedule_algorithm: fixed_priority\n      api_key_cooldown_period: 60\napi_keys:\n  - api: k\n",
        up.base()
    );
    let gw = TestGateway::start(&yaml).await;
    let (status, _) = gw.chat("k", chat_body("m")).await;
    assert_eq!(status, 200);
    let keys: Vec<String> = up.chat_requests().iter().map(|r| r.header("authorization").unwrap().to_owned()).collect();
    assert_eq!(keys, vec!["Bearer sk-one", "Bearer sk-two"]);
    // sk-one cools for 60 s: fixed priority would pick it, but sk-two serves.
    gw.chat("k", chat_body("m")).await;
    assert_eq!(up.chat_requests()[2].header("authorization"), Some("Bearer sk-two"));
    gw.advance(Duration::from_secs(61));
    gw.chat("k", chat_body("m")).await;
    assert_eq!(up.chat_requests()[3].header("authorization"), Some("Bearer sk-one"));
}

#[tokio::test]
async fn error_triggers_count_as_failures_in_bodies_and_early_stream_content() {
    let (a, b) = (Mock::start("a").await, Mock::start("b").await);
    let trigger = "The bot's usage is covered by the developer";
    a.script([
        Reply::Json(200, json!({"object": "chat.completion", "model": "m", "choices": [{"index": 0, "message": {"role": "assistant", "content": trigger}, "finish_reason": "stop"}]})),
        Reply::Stream(vec![(Duration::ZERO, json!({"object": "chat.completion.chunk", "model": "m", "choices": [{"index": 0, "delta": {"content": trigger}, "finish_reason": null}]}).to_string())]),
    ]);
    let global = format!("  cooldown_period: 0\n  error_triggers:\n    - \"{trigger}\"\n");
    let gw = chain(&[&a, &b], "", &global).await;
    let (status, body) = gw.chat("k", chat_body("m")).await;
    assert_eq!((status, answered_by(&body)), (200, "from b"));
    let (status, text) = gw.chat_stream("k", stream_body("m")).await;
    assert_eq!(status, 200);
    assert_eq!(content(&text), "from b");
    assert!(ends_with_done(&text));
    assert_eq!(a.count(), 2);
}

#[tokio::test]
async fn a_stream_that_fails_before_its_first_chunk_fails_over() {
    let (a, b) = (Mock::start("a").await, Mock::start("b").await);
    a.script([Reply::Stream(vec![(Duration::ZERO, json!({"error": {"message": "overloaded"}}).to_string())])]);
    let gw = chain(&[&a, &b], "", "  cooldown_period: 0\n").await;
    let (status, text) = gw.chat_stream("k", stream_body("m")).await;
    assert_eq!(status, 200);
    assert_eq!(content(&text), "from b");
    // A stream-request answered with an HTTP error fails over too.
    a.script([Reply::Json(502, json!({}))]);
    let (_, text) = gw.chat_stream("k", stream_body("m")).await;
    assert_eq!(content(&text), "from b");
}

#[tokio::test]
async fn slow_channels_cannot_hold_a_client_past_the_request_deadline() {
    let mocks = [Mock::start("a").await, Mock::start("b").await, Mock::start("c").await];
    for m in &mocks {
        m.always(Reply::Hang);
    }
    // Each channel may take 2 s; the whole request 3 s: two attempts, the second cut short.
    let gw =
        chain(&[&mocks[0], &mocks[1], &mocks[2]], "", "  model_timeout:\n    default: 2\n  request_timeout: 3\n").await;
    let started = Instant::now();
    let (status, body) = gw.chat("k", chat_body("m")).await;
    let waited = started.elapsed();
    assert_eq!(status, 504, "{body}");
    assert!(waited >= Duration::from_millis(2900) && waited < Duration::from_secs(6), "waited {waited:?}");
    assert!(body["error"]["message"].as_str().unwrap().contains("deadline of 3 s (request_timeout)"), "{body}");
    let attempts = body["error"]["attempts"].as_array().expect("attempts").clone();
    assert_eq!(attempts.len(), 2, "{body}");
    assert!(attempts[1]["reason"].as_str().unwrap().contains("deadline"), "{body}");
    assert_eq!(mocks[2].received().len(), 0, "no attempt starts after the deadline");
}
