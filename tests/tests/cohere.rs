//! Cohere chat channels (v2, and v1 for configs written for the original) through the gateway.

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

fn v1_config(up: &Mock) -> String {
    // As configs for the original write it: the v1 endpoint in `base_url`, no engine.
    format!(
        "providers:\n  - provider: co\n    base_url: http://{}/v1/chat\n    engine: cohere\n    api: co-key\n    model: [{{command-r: cmd}}]\napi_keys:\n  - api: k\n",
        up.addr
    )
}

#[tokio::test]
async fn a_v1_chat_url_speaks_cohere_v1_whole() {
    let up = Mock::start("cohere").await;
    up.script([Reply::Json(
        200,
        json!({"response_id": "r", "generation_id": "g", "text": "Hola", "finish_reason": "COMPLETE",
               "meta": {"tokens": {"input_tokens": 4, "output_tokens": 1}}}),
    )]);
    let gw = TestGateway::start(&v1_config(&up)).await;
    let body = json!({"model": "cmd", "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Say hola"}
    ]});
    let (status, reply) = gw.chat("k", body).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["choices"][0]["message"]["content"], "Hola");
    assert_eq!(reply["usage"]["total_tokens"], 5);
    let sent = &up.received()[0];
    assert_eq!(sent.path, "/v1/chat");
    assert_eq!(sent.header("authorization"), Some("Bearer co-key"));
    assert_eq!(sent.body["message"], "Say hola");
    assert_eq!(sent.body["preamble"], "Be brief.");
    assert_eq!(
        sent.body["chat_history"],
        json!([{"role": "USER", "message": "Hi"}, {"role": "CHATBOT", "message": "Hello"}])
    );
    assert!(sent.body.get("messages").is_none(), "{}", sent.body);
}

#[tokio::test]
async fn a_v1_stream_of_json_lines_becomes_openai_chunks() {
    let up = Mock::start("cohere").await;
    let lines = [
        r#"{"is_finished":false,"event_type":"stream-start","generation_id":"g"}"#,
        r#"{"is_finished":false,"event_type":"text-generation","text":"Ho"}"#,
        r#"{"is_finished":false,"event_type":"text-generation","text":"la"}"#,
        r#"{"is_finished":true,"event_type":"stream-end","finish_reason":"COMPLETE","response":{"meta":{"tokens":{"input_tokens":4,"output_tokens":2}}}}"#,
    ];
    up.script([Reply::Raw(200, "application/stream+json", lines.join("\n") + "\n")]);
    // A stream cut after some text ends with an error event, never a fake end.
    up.script([Reply::Raw(200, "application/stream+json", lines[..2].join("\n") + "\n")]);
    let gw = TestGateway::start(&v1_config(&up)).await;
    let (status, text) = gw.chat_stream("k", uni_api_tests::stream_body("cmd")).await;
    assert_eq!(status, 200);
    assert_eq!(uni_api_tests::sse::content(&text), "Hola", "{text}");
    assert!(uni_api_tests::sse::ends_with_done(&text), "{text}");
    assert_eq!(up.received()[0].body["stream"], true);
    let (_, text) = gw.chat_stream("k", uni_api_tests::stream_body("cmd")).await;
    assert!(!uni_api_tests::sse::ends_with_done(&text), "{text}");
    let last = uni_api_tests::sse::chunks(&text).pop().unwrap();
    assert_eq!(last["error"]["code"], "stream_truncated", "{text}");
}
