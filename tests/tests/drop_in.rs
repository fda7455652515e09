//! A config written for the original uni-api works as its users expect (issue #14's drop-in points).

use serde_json::json;
use uni_api_tests::{chat_body, Mock, Reply, TestGateway};

fn openai_completion(text: &str) -> serde_json::Value {
    json!({
        "id": "c1", "object": "chat.completion", "created": 1, "model": "up",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    })
}

#[tokio::test]
async fn a_forced_engine_uses_a_full_endpoint_url_as_written() {
    // The seed's example: `engine: openrouter` on a `…/v1/messages` URL sends OpenAI chat there.
    let openrouter_style = Mock::start("openrouter-style").await;
    openrouter_style.always(Reply::Json(200, openai_completion("from the messages URL")));
    // And the other way round: `engine: claude` on a `…/chat/completions` URL.
    let claude_style = Mock::start("claude-style").await;
    let yaml = format!(
        "providers:
  - provider: other-provider
    base_url: {}/messages
    api: sk-up
    model: [{{causallm-35b-beta2ep-q6k: causallm-35b}}]
    engine: openrouter
  - provider: claude-on-chat-url
    base_url: {}/chat/completions/
    api: sk-up
    model: [claude-x]
    engine: claude
api_keys:
  - api: k
",
        openrouter_style.base(),
        claude_style.base()
    );
    let gw = TestGateway::start(&yaml).await;

    let (status, body) = gw.chat("k", chat_body("causallm-35b")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "from the messages URL");
    let got = openrouter_style.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/v1/messages", "the URL is used as written");
    assert_eq!(got[0].body["model"], "causallm-35b-beta2ep-q6k");
    assert!(got[0].body["messages"].is_array(), "an OpenAI chat body: {}", got[0].body);
    assert_eq!(got[0].header("authorization"), Some("Bearer sk-up"));

    let received_before = claude_style.received().len();
    let (status, body) = gw.chat("k", chat_body("claude-x")).await;
    assert_eq!(status, 200, "{body}");
    let got = &claude_style.received()[received_before..];
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].path, "/v1/chat/completions", "the URL is used as written");
    assert_eq!(got[0].header("x-api-key"), Some("sk-up"), "Anthropic's auth");
    assert!(got[0].body["max_tokens"].is_u64(), "an Anthropic Messages body: {}", got[0].body);
}
