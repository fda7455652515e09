//! Cloudflare Workers AI channels through the native gateway (the mock stands where an AI
//! Gateway `base_url` would).

use std::time::Duration;

use serde_json::json;
use uni_api_tests::sse::{content, ends_with_done};
use uni_api_tests::{chat_body, stream_body, Mock, Reply, TestGateway};

#[tokio::test]
async fn workers_ai_is_reached_at_its_run_url_both_ways() {
    let up = Mock::start("cf").await;
    up.script([
        Reply::Json(200, json!({"result": {"response": "Hi!", "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}, "success": true, "errors": []})),
        Reply::Stream(vec![
            (Duration::ZERO, json!({"response": "Hel"}).to_string()),
            (Duration::ZERO, json!({"response": "lo"}).to_string()),
            (Duration::ZERO, "[DONE]".into()),
        ]),
    ]);
    let yaml = format!(
        "providers:\n  - provider: cf\n    base_url: http://{}\n    cf_account_id: acc1\n    api: cf-token\n    model:\n      - '@cf/meta/llama-3.1-8b-instruct': llama\napi_keys:\n  - api: k\n",
        up.addr
    );
    let gw = TestGateway::start(&yaml).await;
    let (status, reply) = gw.chat("k", chat_body("llama")).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["choices"][0]["message"]["content"], "Hi!");
    assert_eq!(reply["usage"]["total_tokens"], 4);
    let sent = &up.received()[0];
    assert_eq!(sent.path, "/client/v4/accounts/acc1/ai/run/@cf/meta/llama-3.1-8b-instruct");
    assert_eq!(sent.header("authorization"), Some("Bearer cf-token"));
    let (_, text) = gw.chat_stream("k", stream_body("llama")).await;
    assert_eq!(content(&text), "Hello");
    assert!(ends_with_done(&text));
}
