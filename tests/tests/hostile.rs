//! Hostile or broken input: what a client or an upstream sends to stall the gateway, grow its
//! memory, leak a key or bench a healthy channel, and the clear answer each gets instead.

use std::time::Duration;

use serde_json::{json, Value};
use uni_api_tests::sse::{chunks, ends_with_done};
use uni_api_tests::{chat_body, error_code, json_of, stream_body, Mock, Reply, TestGateway};

fn one_channel(mock: &Mock, extra: &str) -> String {
    format!("providers:\n  - provider: p\n    base_url: {}\n    api: sk-upstream-secret-123\n    model: [m]\napi_keys:\n  - api: k\n{extra}", mock.base())
}

async fn post_raw(gw: &TestGateway, body: String) -> (u16, Value) {
    let response = gw
        .http
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth("k")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, json_of(response).await)
}

#[tokio::test]
async fn a_body_of_many_keys_is_refused_in_linear_time() {
    let up = Mock::start("p").await;
    let gw = TestGateway::start(&one_channel(&up, "")).await;
    let mut body = String::from("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]");
    for i in 0..300_000 {
        body.push_str(&format!(",\"k{i}\":1"));
    }
    body.push('}');
    let (status, error) = post_raw(&gw, body).await;
    assert_eq!(status, 400, "{error}");
    assert!(error["error"]["message"].as_str().unwrap().contains("more than 256 top-level fields"), "{error}");
    assert_eq!(up.received().len(), 0);
}

#[tokio::test]
async fn malformed_chat_requests_are_400s_naming_the_field() {
    let up = Mock::start("p").await;
    let gw = TestGateway::start(&one_channel(&up, "")).await;
    let cases = [
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "a"}, {"content": "no role"}]}),
            "`messages[1].role` is required",
        ),
        (json!({"model": "m", "messages": "hi"}), "`messages` must be a list"),
        (json!({"model": "m", "messages": [1, 2]}), "message objects"),
        (json!({"model": "m", "messages": [], "temperature": "hot"}), "`temperature` must be a number"),
        (json!({"model": "m", "messages": [], "top_p": [1]}), "`top_p` must be a number"),
        (json!({"model": "m", "messages": [], "max_tokens": 1.5}), "`max_tokens` must be a whole number"),
        (json!({"model": "m", "messages": [], "stream": "yes"}), "`stream` must be true or false"),
        (json!({"model": "x".repeat(300), "messages": []}), "`model` is longer than 256 bytes"),
    ];
    for (body, expected) in cases {
        let (status, error) = gw.chat("k", body.clone()).await;
        assert_eq!((status, error_code(&error)), (400, "invalid_request"), "{body}");
        assert!(error["error"]["message"].as_str().unwrap().contains(expected), "{body}: {error}");
    }
    assert_eq!(up.received().len(), 0, "nothing reached the upstream");
}

#[tokio::test]
async fn authorization_needs_its_bearer_scheme() {
    let up = Mock::start("p").await;
    let gw = TestGateway::start(&one_channel(&up, "")).await;
    let response = gw
        .http
        .post(gw.url("/v1/chat/completions"))
        .header("authorization", "k")
        .body(chat_body("m").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(error_code(&json_of(response).await), "invalid_authorization");
    let response = gw
        .http
        .post(gw.url("/v1/chat/completions"))
        .header("authorization", "bearer k")
        .body(chat_body("m").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the scheme's case does not matter");
}

#[tokio::test]
async fn a_request_no_adapter_can_translate_is_the_clients_400_and_benches_nothing() {
    let claude = Mock::start("claude").await;
    let yaml = format!(
        "providers:\n  - provider: c\n    base_url: {}/messages\n    model: [m]\napi_keys:\n  - api: k\npreferences:\n  cooldown_period: 300\n",
        claude.base()
    );
    let gw = TestGateway::start(&yaml).await;
    let body = json!({"model": "m", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "not json"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"}
    ]});
    let (status, error) = gw.chat("k", body).await;
    assert_eq!((status, error_code(&error)), (400, "invalid_request"), "{error}");
    assert!(error["error"]["message"].as_str().unwrap().contains("not JSON"), "{error}");
    assert_eq!(claude.received().len(), 0);
    let (status, reply) = gw.chat("k", chat_body("m")).await;
    assert_eq!(status, 200, "the channel is healthy for everyone else: {reply}");
}

#[tokio::test]
async fn an_error_trigger_after_the_role_chunk_still_fails_over() {
    let a = Mock::start("a").await;
    let role = json!({"id": "c", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]});
    let refusal = json!({"id": "c", "choices": [{"index": 0, "delta": {"content": "Your quota is exhausted"}, "finish_reason": null}]});
    let gap = Duration::from_millis(50);
    a.script([Reply::Stream(vec![
        (Duration::ZERO, role.to_string()),
        (gap, refusal.to_string()),
        (gap, "[DONE]".into()),
    ])]);
    let b = Mock::start("b").await;
    let yaml = format!(
        "providers:\n  - provider: a\n    base_url: {}\n    model: [m]\n  - provider: b\n    base_url: {}\n    model: [m]\napi_keys:\n  - api: k\npreferences:\n  error_triggers: [quota is exhausted]\n  cooldown_period: 0\n",
        a.base(),
        b.base()
    );
    let gw = TestGateway::start(&yaml).await;
    let (status, text) = gw.chat_stream("k", stream_body("m")).await;
    assert_eq!(status, 200);
    let said: String = chunks(&text).iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(said, "from b", "{text}");
    assert!(ends_with_done(&text));
}

#[tokio::test]
async fn an_upstream_echoing_its_key_in_a_4xx_does_not_hand_it_to_the_client() {
    let up = Mock::start("p").await;
    up.script([Reply::Json(
        400,
        json!({"error": {"message": "Incorrect API key provided: sk-upstream-secret-123. See docs."}}),
    )]);
    let gw = TestGateway::start(&one_channel(&up, "")).await;
    let (status, error) = gw.chat("k", chat_body("m")).await;
    assert_eq!(status, 400);
    let text = error.to_string();
    assert!(!text.contains("sk-upstream-secret-123"), "{text}");
    assert!(text.contains("Incorrect API key provided: ***"), "{text}");
}

#[tokio::test]
async fn an_event_larger_than_8_mib_ends_the_stream_with_an_error() {
    let up = Mock::start("p").await;
    let first = json!({"id": "c", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "ok"}, "finish_reason": null}]});
    let huge = format!(
        "{{\"id\":\"c\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{}\"}}}}]}}",
        "x".repeat(9 * 1024 * 1024)
    );
    up.script([Reply::Stream(vec![(Duration::ZERO, first.to_string()), (Duration::from_millis(50), huge)])]);
    let gw = TestGateway::start(&one_channel(&up, "")).await;
    let (status, text) = gw.chat_stream("k", stream_body("m")).await;
    assert_eq!(status, 200);
    assert!(text.len() < 1024 * 1024, "the oversized event was not relayed ({} bytes)", text.len());
    let last = chunks(&text).pop().unwrap();
    assert_eq!(last["error"]["code"], "upstream_event_too_large", "{last}");
    assert!(!ends_with_done(&text));
}
