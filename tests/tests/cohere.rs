//! Cohere v2 chat channels through the native gateway.

use serde_json::json;
use uni_api_tests::{chat_body, Mock, Reply, TestGateway};

#[tokio::test]
async fn cohere_v2_chat_is_translated() {
    let up = Mock::start("cohere").await;
    up.script([Reply::Json(
        200,
        json!({"id": "c1", "finish_reason": "COMPLETE", "message": {"role": "assistant", "content": [{"type": "text", "text": "Hola"}]},
               "usage": {"tokens": {"input_tokens": 4, "output_tokens": 1}}}),
    )]);
    let yaml = format!(
        "providers:\n  - provider: co\n    base_url: http://{}\n    engine: cohere\n    api: co-key\n    model: [{{command-r: cmd}}]\napi_keys:\n  - api: k\n",
        up.addr
    );
    let gw = TestGateway::start(&yaml).await;
    let (status, reply) = gw.chat("k", chat_body("cmd")).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["choices"][0]["message"]["content"], "Hola");
    assert_eq!(reply["usage"]["total_tokens"], 5);
    let sent = &up.received()[0];
    assert_eq!(sent.path, "/v2/chat");
    assert_eq!(sent.header("authorization"), Some("Bearer co-key"));
    assert_eq!(sent.body["model"], "command-r");
}
