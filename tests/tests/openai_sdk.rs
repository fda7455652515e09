//! The official OpenAI Python SDK against the gateway, with Anthropic and Gemini channels behind
//! it: plain replies, tool calls, streams with usage, streamed tool calls, and errors.
//!
//! Needs `python3` with the `openai` package (`pip install openai`). Without it the test says so
//! and passes, unless `REQUIRE_OPENAI_SDK` is set, as CI sets it, where it fails instead.

use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use uni_api_tests::{Mock, Reply, TestGateway};

fn sdk_available() -> bool {
    let ok = Command::new("python3").args(["-c", "import openai"]).output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("REQUIRE_OPENAI_SDK").is_none(),
            "REQUIRE_OPENAI_SDK is set but `import openai` fails"
        );
        eprintln!("skipping: python3 with the openai package is not installed (pip install openai)");
    }
    ok
}

async fn run_sdk(gw: &TestGateway, model: &str) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/sdk/openai_client.py");
    let base = gw.url("/v1");
    let model = model.to_owned();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3").args([script, &base, "k", &model]).env("NO_PROXY", "*").output().unwrap()
    })
    .await
    .unwrap();
    assert!(output.status.success(), "SDK script failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn expect(result: &Value) {
    assert_eq!(result["text"], "Hello!", "{result}");
    assert_eq!(result["finish"], "stop");
    assert_eq!(result["model"], "m");
    assert_eq!(result["tool_calls"], json!([["weather", {"city": "Paris"}]]));
    assert_eq!(result["tool_finish"], "tool_calls");
    assert_eq!(result["stream_text"], "Hello!");
    assert_eq!(result["stream_finishes"], json!(["stop"]));
    assert!(result["stream_usage"].as_u64().is_some_and(|u| u > 0), "{result}");
    assert_eq!(result["stream_tool_calls"], json!([["weather", {"city": "Paris"}]]));
    assert_eq!(result["unknown_model"], 404);
}

fn frames(events: &[Value]) -> Reply {
    Reply::Stream(events.iter().map(|e| (Duration::ZERO, e.to_string())).collect())
}

#[tokio::test]
async fn the_openai_sdk_works_against_an_anthropic_channel() {
    if !sdk_available() {
        return;
    }
    let up = Mock::start("claude").await;
    let usage = json!({"input_tokens": 5, "output_tokens": 2});
    up.script([
        Reply::Json(200, json!({"id": "msg_1", "type": "message", "role": "assistant", "content": [{"type": "text", "text": "Hello!"}], "stop_reason": "end_turn", "usage": usage})),
        Reply::Json(200, json!({"id": "msg_2", "type": "message", "role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}}], "stop_reason": "tool_use", "usage": usage})),
        frames(&[
            json!({"type": "message_start", "message": {"id": "msg_3", "usage": {"input_tokens": 5, "output_tokens": 1}}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "!"}}),
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}}),
            json!({"type": "message_stop"}),
        ]),
        frames(&[
            json!({"type": "message_start", "message": {"id": "msg_4", "usage": {"input_tokens": 5, "output_tokens": 1}}}),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "toolu_2", "name": "weather", "input": {}}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"city\": "}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "\"Paris\"}"}}),
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}}),
            json!({"type": "message_stop"}),
        ]),
    ]);
    let yaml = format!(
        "providers:\n  - provider: c\n    base_url: {}/messages\n    model: [{{claude-x: m}}]\napi_keys:\n  - api: k\n",
        up.base()
    );
    let gw = TestGateway::start(&yaml).await;
    expect(&run_sdk(&gw, "m").await);
}

#[tokio::test]
async fn the_openai_sdk_works_against_a_gemini_channel() {
    if !sdk_available() {
        return;
    }
    let up = Mock::start("gemini").await;
    let usage = json!({"promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7});
    let text = |t: &str, finish: Option<&str>| {
        let mut c = json!({"content": {"role": "model", "parts": [{"text": t}]}});
        if let Some(f) = finish {
            c["finishReason"] = json!(f);
        }
        json!({"candidates": [c], "usageMetadata": usage})
    };
    let call = json!({"candidates": [{"content": {"role": "model", "parts": [{"functionCall": {"name": "weather", "args": {"city": "Paris"}}}]}, "finishReason": "STOP"}], "usageMetadata": usage});
    up.script([
        Reply::Json(200, text("Hello!", Some("STOP"))),
        Reply::Json(200, call.clone()),
        frames(&[text("Hello", None), text("!", Some("STOP"))]),
        frames(&[call]),
    ]);
    let yaml = format!("providers:\n  - provider: g\n    base_url: http://{}/v1beta\n    model: [{{gemini-x: m}}]\napi_keys:\n  - api: k\n", up.addr);
    let gw = TestGateway::start(&yaml).await;
    expect(&run_sdk(&gw, "m").await);
}
