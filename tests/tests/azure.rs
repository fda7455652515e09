//! Azure OpenAI channels through the native gateway.

use std::time::Duration;

use serde_json::json;
use uni_api_tests::sse::{chunks, content, ends_with_done};
use uni_api_tests::{chat_body, stream_body, Mock, Reply, TestGateway};

#[tokio::test]
async fn azure_deployments_get_their_url_header_and_clean_replies() {
    let up = Mock::start("azure").await;
    let filtered = json!({"choices": [], "created": 0, "id": "", "model": "", "object": "",
                          "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]});
    let chunk = |text: &str, finish: serde_json::Value| {
        json!({"id": "c", "object": "chat.completion.chunk", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"content": text},
               "finish_reason": finish, "content_filter_results": {"hate": {"filtered": false}}}]})
    };
    up.script([
        Reply::Json(200, json!({"id": "x", "object": "chat.completion", "model": "gpt-4o", "prompt_filter_results": [],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop", "content_filter_results": {}}]})),
        Reply::Stream(
            [filtered, chunk("Hel", json!(null)), chunk("lo", json!("stop"))]
                .iter()
                .map(|c| (Duration::ZERO, c.to_string()))
                .chain([(Duration::ZERO, "[DONE]".to_owned())])
                .collect(),
        ),
    ]);
    let yaml = format!(
        "providers:\n  - provider: az\n    base_url: http://{}\n    engine: azure\n    api: az-key\n    model: [{{gpt-4o: g}}]\napi_keys:\n  - api: k\n",
        up.addr
    );
    let gw = TestGateway::start(&yaml).await;
    let (status, reply) = gw.chat("k", chat_body("g")).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["model"], "g");
    assert!(
        reply.get("prompt_filter_results").is_none() && reply["choices"][0].get("content_filter_results").is_none(),
        "{reply}"
    );
    let sent = &up.chat_requests()[0];
    assert_eq!(sent.uri, "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21");
    assert_eq!(sent.header("api-key"), Some("az-key"));
    assert!(sent.header("authorization").is_none());

    let (_, text) = gw.chat_stream("k", stream_body("g")).await;
    assert_eq!(content(&text), "Hello");
    assert!(ends_with_done(&text));
    let chunks = chunks(&text);
    assert!(
        chunks.iter().all(|c| !c["choices"].as_array().unwrap().is_empty()),
        "the filter-only chunk leaked: {text}"
    );
    assert!(!text.contains("content_filter_results"), "{text}");
}
