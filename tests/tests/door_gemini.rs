//! The Gemini door: Gemini CLI's requests through the gateway, natively to Gemini channels and
//! translated to the others.

use serde_json::{json, Value};
use uni_api_tests::speak::Said;
use uni_api_tests::{json_of, sse::data_lines, Mock, Reply, TestGateway};

const KEY: &str = "sk-client";

/// A body shaped as Gemini CLI 0.61 sends it (trimmed).
fn gemini_cli_body() -> Value {
    json!({
        "contents": [{"role": "user", "parts": [{"text": "<session_context>"}, {"text": "Reply with hello."}]}],
        "systemInstruction": {"parts": [{"text": "You are an interactive CLI agent."}]},
        "tools": [{"functionDeclarations": [
            {"name": "read_file", "description": "Reads a file", "parametersJsonSchema": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}
        ]}],
        "generationConfig": {"temperature": 1, "topP": 0.95, "topK": 64, "thinkingConfig": {"includeThoughts": true, "thinkingBudget": 8192}}
    })
}

fn yaml(name: &str, base: String, upstream: &str) -> String {
    format!(
        "providers:\n  - provider: {name}\n    base_url: {base}\n    api: sk-{name}-upstream\n    model:\n      - {upstream}: gemini-2.5-flash\napi_keys:\n  - api: {KEY}\n"
    )
}

async fn post(gw: &TestGateway, path_and_query: &str, body: &Value) -> reqwest::Response {
    gw.http
        .post(gw.url(path_and_query))
        .header("x-goog-api-key", KEY)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

fn events(text: &str) -> Vec<Value> {
    data_lines(text).iter().map(|d| serde_json::from_str(d).unwrap_or_else(|_| panic!("not JSON: {d}"))).collect()
}

#[tokio::test]
async fn to_a_gemini_channel_the_body_goes_through_untouched() {
    let up = Mock::start("gemini").await;
    let gw = TestGateway::start(&yaml("gemini", format!("http://{}/v1beta", up.addr), "gemini-2.5-flash-001")).await;
    let body = gemini_cli_body();
    let response = post(&gw, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", &body).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let chunks = events(&text);
    let said: String =
        chunks.iter().filter_map(|c| c["candidates"][0]["content"]["parts"][0]["text"].as_str()).collect();
    assert_eq!(said, "from gemini");
    assert!(chunks.iter().all(|c| c["modelVersion"] == "gemini-2.5-flash"), "{text}");
    let received = &up.received()[0];
    assert_eq!(received.uri, "/v1beta/models/gemini-2.5-flash-001:streamGenerateContent?alt=sse");
    assert_eq!(received.header("x-goog-api-key"), Some("sk-gemini-upstream"));
    assert_eq!(up.raw_bodies()[0], body.to_string(), "byte for byte");

    // The key may come in the query, as Google's own clients can send it.
    let response = gw
        .http
        .post(gw.url(&format!("/v1beta/models/gemini-2.5-flash:generateContent?key={KEY}")))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let reply = json_of(response).await;
    assert_eq!(reply["candidates"][0]["content"]["parts"][0]["text"], "from gemini");
    assert_eq!(reply["modelVersion"], "gemini-2.5-flash");
}

#[tokio::test]
async fn gemini_cli_on_an_openai_format_channel_streams_gemini_responses() {
    let up = Mock::start("openai").await;
    let gw = TestGateway::start(&yaml("openai", up.base(), "gpt-4.1")).await;
    let response = post(&gw, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", &gemini_cli_body()).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let chunks = events(&text);
    let said: String =
        chunks.iter().filter_map(|c| c["candidates"][0]["content"]["parts"][0]["text"].as_str()).collect();
    assert_eq!(said, "from openai");
    let last = chunks.last().unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP", "{text}");
    assert_eq!(last["usageMetadata"], json!({"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5}));
    let sent = &up.received()[0].body;
    assert_eq!(sent["model"], "gpt-4.1");
    assert_eq!(sent["messages"][0], json!({"role": "system", "content": "You are an interactive CLI agent."}));
    assert_eq!(sent["messages"][1], json!({"role": "user", "content": "<session_context>\n\nReply with hello."}));
    assert_eq!(sent["tools"][0]["function"]["parameters"]["required"], json!(["path"]));
    assert!(sent.get("reasoning_effort").is_none() && sent.get("top_k").is_none(), "{sent}");
}

#[tokio::test]
async fn without_alt_sse_the_stream_is_one_json_array() {
    let up = Mock::start("claude").await;
    let gw = TestGateway::start(&yaml("claude", format!("{}/messages", up.base()), "claude-sonnet-4-5")).await;
    let response = post(&gw, "/v1beta/models/gemini-2.5-flash:streamGenerateContent", &gemini_cli_body()).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let array: Vec<Value> = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let said: String =
        array.iter().filter_map(|c| c["candidates"][0]["content"]["parts"][0]["text"].as_str()).collect();
    assert_eq!(said, "from claude");
    assert_eq!(array.last().unwrap()["candidates"][0]["finishReason"], "STOP");
    assert_eq!(up.received()[0].body["thinking"]["budget_tokens"], 8192, "thinking budget reaches Claude");
}

#[tokio::test]
async fn a_tool_round_trip_through_an_openai_format_channel() {
    let up = Mock::start("openai").await;
    up.script([Reply::Says(Said::ToolCall {
        id: "call_9".into(),
        name: "read_file".into(),
        arguments: json!({"path": "a.txt"}),
    })]);
    let gw = TestGateway::start(&yaml("openai", up.base(), "gpt-4.1")).await;
    let reply = json_of(post(&gw, "/v1beta/models/gemini-2.5-flash:generateContent", &gemini_cli_body()).await).await;
    let call = &reply["candidates"][0]["content"]["parts"][0]["functionCall"];
    assert_eq!(call, &json!({"id": "call_9", "name": "read_file", "args": {"path": "a.txt"}}), "{reply}");

    let mut next = gemini_cli_body();
    next["contents"].as_array_mut().unwrap().extend([
        json!({"role": "model", "parts": [{"functionCall": {"id": "call_9", "name": "read_file", "args": {"path": "a.txt"}}, "thoughtSignature": "skip_thought_signature_validator"}]}),
        json!({"role": "user", "parts": [{"functionResponse": {"id": "call_9", "name": "read_file", "response": {"output": "hi\n"}}}]}),
    ]);
    let reply = json_of(post(&gw, "/v1beta/models/gemini-2.5-flash:generateContent", &next).await).await;
    assert_eq!(reply["candidates"][0]["content"]["parts"][0]["text"], "from openai");
    let messages = up.received()[1].body["messages"].clone();
    assert_eq!(messages[2]["tool_calls"][0]["id"], "call_9");
    assert_eq!(messages[3], json!({"role": "tool", "tool_call_id": "call_9", "content": "{\"output\":\"hi\\n\"}"}));
}

#[tokio::test]
async fn errors_come_in_googles_shape() {
    let up = Mock::start("openai").await;
    up.always(Reply::Json(500, json!({"error": {"message": "down"}})));
    let gw =
        TestGateway::start(&format!("{}preferences:\n  cooldown_period: 0\n", yaml("openai", up.base(), "gpt-4.1")))
            .await;
    let response =
        gw.http.post(gw.url("/v1beta/models/gemini-2.5-flash:generateContent")).body("{}").send().await.unwrap();
    assert_eq!(response.status(), 401);
    let error = json_of(response).await;
    assert_eq!(
        (error["error"]["code"].as_u64(), error["error"]["status"].as_str()),
        (Some(401), Some("UNAUTHENTICATED"))
    );
    let response = post(&gw, "/v1beta/models/gemini-9:generateContent", &gemini_cli_body()).await;
    assert_eq!(json_of(response).await["error"]["status"], "NOT_FOUND");
    let response = post(&gw, "/v1beta/models/gemini-2.5-flash:generateContent", &json!({"contents": "x"})).await;
    assert_eq!(json_of(response).await["error"]["status"], "INVALID_ARGUMENT");
    let response = post(&gw, "/v1beta/models/gemini-2.5-flash:generateContent", &gemini_cli_body()).await;
    assert_eq!(response.status(), 500);
    assert_eq!(json_of(response).await["error"]["status"], "INTERNAL");
}

#[tokio::test]
async fn a_broken_stream_ends_with_an_error_element() {
    let up = Mock::start("openai").await;
    up.script([Reply::StreamThenBreak(vec![
        json!({"id": "c", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "par"}, "finish_reason": null}]}).to_string(),
    ])]);
    let gw = TestGateway::start(&yaml("openai", up.base(), "gpt-4.1")).await;
    let response = post(&gw, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", &gemini_cli_body()).await;
    let chunks = events(&response.text().await.unwrap());
    assert_eq!(chunks.last().unwrap()["error"]["status"], "INTERNAL", "{chunks:?}");
    assert!(chunks.iter().all(|c| c["candidates"][0].get("finishReason").is_none()), "never a fake finish");
}

#[tokio::test]
async fn count_tokens_and_the_model_list() {
    let gemini = Mock::start("gemini").await;
    let openai = Mock::start("openai").await;
    let yaml = format!(
        "providers:\n  - provider: g\n    base_url: http://{}/v1beta\n    model:\n      - gemini-2.5-flash\n  - provider: o\n    base_url: {}\n    model:\n      - gpt-4.1: other\napi_keys:\n  - api: {KEY}\n",
        gemini.addr,
        openai.base()
    );
    let gw = TestGateway::start(&yaml).await;
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "count me"}]}]});
    let counted = json_of(post(&gw, "/v1beta/models/gemini-2.5-flash:countTokens", &body).await).await;
    assert_eq!(counted, json!({"totalTokens": 42}));
    assert!(gemini.received()[0].path.ends_with("/models/gemini-2.5-flash:countTokens"));
    let estimated = json_of(post(&gw, "/v1beta/models/other:countTokens", &body).await).await;
    assert_eq!(estimated, json!({"totalTokens": body.to_string().len().div_ceil(4)}));

    let list = json_of(gw.http.get(gw.url("/v1beta/models")).header("x-goog-api-key", KEY).send().await.unwrap()).await;
    let names: Vec<&str> = list["models"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["models/gemini-2.5-flash", "models/other"]);
    let one = gw.http.get(gw.url("/v1beta/models/other")).header("x-goog-api-key", KEY).send().await.unwrap();
    assert_eq!(json_of(one).await["supportedGenerationMethods"][0], "generateContent");
    let none = gw.http.get(gw.url("/v1beta/models/nope")).header("x-goog-api-key", KEY).send().await.unwrap();
    assert_eq!(none.status(), 404);
}
