//! Chat completions to an Anthropic Messages upstream through the native gateway.

use std::time::Duration;

use serde_json::{json, Value};
use uni_api_tests::sse::{chunks, content, ends_with_done};
use uni_api_tests::{chat_body, stream_body, Mock, Reply, TestGateway};

async fn gateway(anthropic: &Mock, fallback: Option<&Mock>) -> TestGateway {
    let mut yaml = format!(
        "providers:\n  - provider: claude\n    base_url: {}/messages\n    api: sk-ant-test\n    model:\n      - claude-3-5-haiku-20241022: haiku\n",
        anthropic.base()
    );
    if let Some(f) = fallback {
        yaml.push_str(&format!("  - provider: openai\n    base_url: {}\n    model: [haiku]\n", f.base()));
    }
    yaml.push_str("api_keys:\n  - api: k\npreferences:\n  cooldown_period: 0\n");
    TestGateway::start(&yaml).await
}

fn message(text: &str) -> Value {
    json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-3-5-haiku-20241022",
           "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
           "usage": {"input_tokens": 7, "output_tokens": 3}})
}

#[tokio::test]
async fn a_completion_is_translated_both_ways() {
    let up = Mock::start("claude").await;
    up.script([Reply::Json(200, message("Bonjour"))]);
    let gw = gateway(&up, None).await;
    let mut body = chat_body("haiku");
    body["messages"] = json!([{"role": "system", "content": "Be French."}, {"role": "user", "content": "hi"}]);
    let (status, reply) = gw.chat("k", body).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["object"], "chat.completion");
    assert_eq!(reply["model"], "haiku");
    assert_eq!(reply["choices"][0]["message"]["content"], "Bonjour");
    assert_eq!(reply["choices"][0]["finish_reason"], "stop");
    assert_eq!(reply["usage"]["total_tokens"], 10);
    let sent = &up.received()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some("sk-ant-test"));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert!(sent.header("authorization").is_none());
    assert_eq!(sent.body["model"], "claude-3-5-haiku-20241022");
    assert_eq!(sent.body["system"], "Be French.");
    assert_eq!(sent.body["max_tokens"], 8192);
}

#[tokio::test]
async fn a_stream_is_translated_to_openai_chunks() {
    let up = Mock::start("claude").await;
    let events = [
        json!({"type": "message_start", "message": {"id": "msg_9", "usage": {"input_tokens": 4, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi "}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "there"}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}}),
        json!({"type": "message_stop"}),
    ];
    up.script([Reply::Stream(events.iter().map(|e| (Duration::ZERO, e.to_string())).collect())]);
    let gw = gateway(&up, None).await;
    let mut body = stream_body("haiku");
    body["stream_options"] = json!({"include_usage": true});
    let (status, text) = gw.chat_stream("k", body).await;
    assert_eq!(status, 200);
    assert_eq!(content(&text), "Hi there");
    assert!(ends_with_done(&text), "{text}");
    let chunks = chunks(&text);
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let finishes: Vec<&Value> =
        chunks.iter().filter_map(|c| c["choices"][0].get("finish_reason")).filter(|f| !f.is_null()).collect();
    assert_eq!(finishes, vec![&json!("stop")]);
    assert_eq!(chunks.last().unwrap()["usage"]["total_tokens"], 6);
    assert_eq!(up.received()[0].body["stream"], true);
}

#[tokio::test]
async fn an_overloaded_anthropic_channel_fails_over_to_an_openai_channel() {
    let (up, openai) = (Mock::start("claude").await, Mock::start("openai").await);
    up.script([Reply::Json(
        529,
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    )]);
    let gw = gateway(&up, Some(&openai)).await;
    let (status, reply) = gw.chat("k", chat_body("haiku")).await;
    assert_eq!((status, reply["choices"][0]["message"]["content"].as_str()), (200, Some("from openai")));
    assert_eq!(openai.chat_requests()[0].body["model"], "haiku");
}

#[tokio::test]
async fn an_anthropic_request_error_reaches_the_client_with_its_message() {
    let up = Mock::start("claude").await;
    up.script([Reply::Json(400, json!({"type": "error", "error": {"type": "invalid_request_error", "message": "messages: roles must alternate"}}))]);
    let gw = gateway(&up, None).await;
    let (status, reply) = gw.chat("k", chat_body("haiku")).await;
    assert_eq!(status, 400);
    assert!(reply["error"]["message"].as_str().unwrap().contains("roles must alternate"), "{reply}");
}

#[tokio::test]
async fn a_failing_anthropic_channel_fails_over_to_a_gemini_channel_with_the_image_inlined() {
    let (claude, gemini, images) = (Mock::start("claude").await, Mock::start("gemini").await, Mock::start("img").await);
    claude.script([Reply::Json(500, json!({"type": "error", "error": {"type": "api_error", "message": "Internal"}}))]);
    gemini.script([Reply::Json(
        200,
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "a dog"}]}, "finishReason": "STOP"}]}),
    )]);
    images.always(Reply::Raw(200, "image/jpeg", "JPEG".into()));
    let yaml = format!(
        "providers:\n  - provider: claude\n    base_url: {}/messages\n    model: [{{claude-x: vision}}]\n  - provider: gemini\n    base_url: http://{}/v1beta\n    model: [{{gemini-x: vision}}]\napi_keys:\n  - api: k\npreferences:\n  cooldown_period: 0\n  image_fetch_allow: [127.0.0.1]\n",
        claude.base(),
        gemini.addr
    );
    let gw = TestGateway::start(&yaml).await;
    let mut body = chat_body("vision");
    body["messages"] = json!([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": format!("http://{}/dog.jpg", images.addr)}}]}]);
    let (status, reply) = gw.chat("k", body).await;
    assert_eq!((status, reply["choices"][0]["message"]["content"].as_str()), (200, Some("a dog")), "{reply}");
    let to_claude = &claude.received()[0].body["messages"][0]["content"][0];
    assert_eq!(to_claude["source"], json!({"type": "base64", "media_type": "image/jpeg", "data": "SlBFRw=="}));
    assert_eq!(
        gemini.received()[0].body["contents"][0]["parts"][0],
        json!({"inlineData": {"mimeType": "image/jpeg", "data": "SlBFRw=="}})
    );
    assert_eq!(images.received().len(), 1, "the image is fetched once per request, whatever the failover");
}
