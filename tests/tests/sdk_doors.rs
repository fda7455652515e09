//! The official Anthropic Python SDK against the Messages door and the OpenAI Python SDK's
//! `responses` API against the Responses door, each with an OpenAI-format, an Anthropic and a
//! Gemini channel behind the gateway: replies, tool calls, streams with usage, streamed tool
//! calls, token counting and errors.
//!
//! Needs `python3` with `anthropic` and `openai` (`pip install anthropic openai`). Without them
//! the test says so and passes, unless `REQUIRE_PYTHON_SDKS` is set (CI sets it).

use std::process::Command;

use serde_json::{json, Value};
use uni_api_tests::speak::Said;
use uni_api_tests::{Mock, Reply, TestGateway};

fn sdks_available() -> bool {
    let ok =
        Command::new("python3").args(["-c", "import anthropic, openai"]).output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("REQUIRE_PYTHON_SDKS").is_none(),
            "REQUIRE_PYTHON_SDKS is set but the SDKs are missing"
        );
        eprintln!("skipping: python3 with the anthropic and openai packages is not installed");
    }
    ok
}

async fn run(script: &str, gw: &TestGateway, base_path: &str) -> Value {
    let script = format!("{}/sdk/{script}", env!("CARGO_MANIFEST_DIR"));
    let base = gw.url(base_path);
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3").args([&script, &base, "k", "m"]).env("NO_PROXY", "*").output().unwrap()
    })
    .await
    .unwrap();
    assert!(output.status.success(), "SDK script failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A mock of `dialect` (by its base URL) scripted for the SDK scripts' four calls.
async fn channel(dialect: &str) -> (Mock, String) {
    let mock = Mock::start("up").await;
    let call = || Said::ToolCall { id: "call_w1".into(), name: "weather".into(), arguments: json!({"city": "Paris"}) };
    let hello = || Said::Text("Hello!".into());
    mock.script([Reply::Says(hello()), Reply::Says(call()), Reply::Says(hello()), Reply::Says(call())]);
    let base = match dialect {
        "openai" => mock.base(),
        "anthropic" => format!("{}/messages", mock.base()),
        _ => format!("http://{}/v1beta", mock.addr),
    };
    let yaml = format!(
        "providers:\n  - provider: up\n    base_url: {base}\n    model: [{{upstream-x: m}}]\napi_keys:\n  - api: k\n"
    );
    (mock, yaml)
}

async fn anthropic_sdk(dialect: &str) {
    if !sdks_available() {
        return;
    }
    let (_mock, yaml) = channel(dialect).await;
    let gw = TestGateway::start(&yaml).await;
    let r = run("anthropic_client.py", &gw, "").await;
    assert_eq!(r["text"], "Hello!", "{dialect}: {r}");
    assert_eq!(r["stop_reason"], "end_turn");
    assert_eq!(r["model"], "m");
    assert_eq!(r["usage"], json!([3, 2]));
    assert_eq!(r["tool_uses"], json!([["weather", {"city": "Paris"}]]));
    assert_eq!(r["tool_stop_reason"], "tool_use");
    assert_eq!(r["stream_text"], "Hello!");
    assert_eq!(r["stream_stop_reason"], "end_turn");
    assert_eq!(r["stream_output_tokens"], 2);
    assert_eq!(r["stream_tool_uses"], json!([["weather", {"city": "Paris"}]]));
    let counted = r["count"].as_u64().unwrap();
    match dialect {
        "openai" => assert!(counted > 0, "{r}"),
        _ => assert_eq!(counted, 42, "{dialect}: the upstream counts: {r}"),
    }
    assert_eq!(r["unknown_model"], json!([404, "not_found_error"]));
    assert_eq!(r["bad_key"], 401);
}

#[tokio::test]
async fn the_anthropic_sdk_on_an_openai_format_channel() {
    anthropic_sdk("openai").await;
}

#[tokio::test]
async fn the_anthropic_sdk_on_an_anthropic_channel() {
    anthropic_sdk("anthropic").await;
}

#[tokio::test]
async fn the_anthropic_sdk_on_a_gemini_channel() {
    anthropic_sdk("gemini").await;
}

async fn responses_sdk(dialect: &str) {
    if !sdks_available() {
        return;
    }
    let (_mock, yaml) = channel(dialect).await;
    let gw = TestGateway::start(&yaml).await;
    let r = run("openai_responses.py", &gw, "/v1").await;
    assert_eq!(r["text"], "Hello!", "{dialect}: {r}");
    assert_eq!(r["status"], "completed");
    assert_eq!(r["model"], "m");
    assert_eq!(r["usage"], json!([3, 2]));
    assert_eq!(r["calls"], json!([["weather", {"city": "Paris"}]]));
    assert_eq!(r["stream_text"], "Hello!");
    assert_eq!(r["stream_first"], "response.created");
    assert_eq!(r["stream_last"], "response.completed");
    assert_eq!(r["stream_usage"], 5);
    assert_eq!(r["stream_calls"], json!([["weather", {"city": "Paris"}]]));
    assert_eq!(r["unknown_model"], 404);
}

#[tokio::test]
async fn the_openai_responses_sdk_on_an_openai_format_channel() {
    responses_sdk("openai").await;
}

#[tokio::test]
async fn the_openai_responses_sdk_on_an_anthropic_channel() {
    responses_sdk("anthropic").await;
}

#[tokio::test]
async fn the_openai_responses_sdk_on_a_gemini_channel() {
    responses_sdk("gemini").await;
}
