//! The OpenAI Responses door: Codex's requests through the gateway, natively to OpenAI-format
//! channels and translated to the others.

use serde_json::{json, Value};
use uni_api_tests::speak::Said;
use uni_api_tests::{json_of, sse_events, Mock, Reply, TestGateway};

const KEY: &str = "sk-client";

/// A body shaped as Codex 0.169 sends it (trimmed).
fn codex_body(model: &str, stream: bool) -> Value {
    json!({
        "model": model, "stream": stream, "store": false, "include": ["reasoning.encrypted_content"],
        "reasoning": {"summary": "auto"}, "tool_choice": "auto", "parallel_tool_calls": true,
        "prompt_cache_key": "0199-session", "client_metadata": {"session_id": "0199-session"},
        "input": [
            {"type": "message", "id": "msg_a", "role": "developer", "content": [{"type": "input_text", "text": "You are a coding agent."}]},
            {"type": "message", "id": "msg_b", "role": "user", "content": [{"type": "input_text", "text": "<environment_context/>"}]},
            {"type": "message", "id": "msg_c", "role": "user", "content": [{"type": "input_text", "text": "Reply with hello."}]}
        ],
        "tools": [
            {"type": "function", "name": "exec_command", "description": "Runs a command", "strict": false,
             "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]}},
            {"type": "namespace", "name": "multi_agent_v1", "description": "agents", "tools": [
                {"type": "function", "name": "close_agent", "description": "close", "parameters": {"type": "object", "properties": {}}}]},
            {"type": "web_search", "external_web_access": false}
        ]
    })
}

fn yaml(channels: &[(&str, String, &str)]) -> String {
    let mut yaml = String::from("providers:\n");
    for (name, base, upstream) in channels {
        yaml.push_str(&format!(
            "  - provider: {name}\n    base_url: {base}\n    api: sk-{name}-upstream\n    model:\n      - {upstream}: gpt-5-codex\n"
        ));
    }
    yaml + "api_keys:\n  - api: sk-client\n"
}

async fn post(gw: &TestGateway, body: &Value) -> reqwest::Response {
    gw.http
        .post(gw.url("/v1/responses"))
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

async fn stream(gw: &TestGateway, body: &Value) -> (u16, Vec<(String, Value)>, String) {
    let response = post(gw, body).await;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, sse_events(&text), text)
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(n, _)| n.as_str()).collect()
}

#[tokio::test]
async fn to_an_openai_format_channel_the_body_goes_through_byte_for_byte() {
    let up = Mock::start("openai").await;
    let gw = TestGateway::start(&yaml(&[("openai", up.base(), "gpt-5.1-codex")])).await;
    let body = codex_body("gpt-5-codex", true);
    let (status, events, raw) = stream(&gw, &body).await;
    assert_eq!(status, 200, "{raw}");
    assert_eq!(names(&events).first(), Some(&"response.created"));
    assert_eq!(names(&events).last(), Some(&"response.completed"));
    assert_eq!(events[0].1["response"]["model"], "gpt-5-codex", "the client's model name: {raw}");
    assert!(!raw.contains("gpt-5.1-codex"), "{raw}");
    let received = &up.received()[0];
    assert_eq!(received.path, "/v1/responses");
    assert_eq!(received.header("authorization"), Some("Bearer sk-openai-upstream"));
    let expected = body.to_string().replace("\"model\":\"gpt-5-codex\"", "\"model\":\"gpt-5.1-codex\"");
    assert_eq!(up.raw_bodies()[0], expected, "only the model is replaced");

    let reply = json_of(post(&gw, &codex_body("gpt-5-codex", false)).await).await;
    assert_eq!(reply["model"], "gpt-5-codex");
    assert_eq!(reply["output"][0]["content"][0]["text"], "from openai");
}

#[tokio::test]
async fn codex_on_claude_gets_responses_events_in_order() {
    let up = Mock::start("claude").await;
    let gw = TestGateway::start(&yaml(&[("claude", format!("{}/messages", up.base()), "claude-sonnet-4-5")])).await;
    let (status, events, raw) = stream(&gw, &codex_body("gpt-5-codex", true)).await;
    assert_eq!(status, 200, "{raw}");
    assert_eq!(
        names(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
        ],
        "{raw}"
    );
    let sequence: Vec<u64> = events.iter().map(|(_, d)| d["sequence_number"].as_u64().unwrap()).collect();
    assert_eq!(sequence, (0..events.len() as u64).collect::<Vec<_>>());
    let completed = &events.last().unwrap().1["response"];
    assert_eq!(completed["status"], "completed");
    assert_eq!(completed["model"], "gpt-5-codex");
    assert_eq!(completed["output"][0]["content"][0]["text"], "from claude");
    assert_eq!(completed["usage"]["input_tokens"], 3);
    assert_eq!(completed["usage"]["output_tokens"], 2);
    assert_eq!(completed["usage"]["output_tokens_details"]["reasoning_tokens"], 0);

    let sent = &up.received()[0].body;
    assert_eq!(sent["system"], "You are a coding agent.");
    assert_eq!(sent["messages"][0]["content"][0]["text"], "<environment_context/>");
    let tools: Vec<&str> = sent["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(tools, ["exec_command", "multi_agent_v1__close_agent", "web_search"]);
    assert_eq!(sent["tools"][2]["type"], "web_search_20250305");
}

#[tokio::test]
async fn tool_calls_come_back_as_function_call_items_with_their_namespace() {
    let up = Mock::start("claude").await;
    up.script([
        Reply::Says(Said::ToolCall {
            id: "toolu_1".into(),
            name: "exec_command".into(),
            arguments: json!({"cmd": "ls"}),
        }),
        Reply::Says(Said::ToolCall {
            id: "toolu_2".into(),
            name: "multi_agent_v1__close_agent".into(),
            arguments: json!({}),
        }),
    ]);
    let gw = TestGateway::start(&yaml(&[("claude", format!("{}/messages", up.base()), "claude-sonnet-4-5")])).await;
    let (status, events, raw) = stream(&gw, &codex_body("gpt-5-codex", true)).await;
    assert_eq!(status, 200, "{raw}");
    let done = events.iter().find(|(n, _)| n == "response.output_item.done").unwrap();
    assert_eq!(
        done.1["item"],
        json!({"id": "fc_toolu_1", "type": "function_call", "status": "completed", "call_id": "toolu_1", "name": "exec_command", "arguments": "{\"cmd\":\"ls\"}"})
    );
    let args: String = events.iter().filter_map(|(_, d)| d["delta"].as_str()).collect();
    assert_eq!(args, "{\"cmd\":\"ls\"}");
    let reply = json_of(post(&gw, &codex_body("gpt-5-codex", false)).await).await;
    assert_eq!(reply["output"][0]["type"], "function_call");
    assert_eq!(reply["output"][0]["name"], "close_agent");
    assert_eq!(reply["output"][0]["namespace"], "multi_agent_v1");
}

#[tokio::test]
async fn a_gemini_channel_answers_a_whole_response() {
    let up = Mock::start("gemini").await;
    let gw = TestGateway::start(&yaml(&[("gemini", format!("http://{}/v1beta", up.addr), "gemini-2.5-pro")])).await;
    let reply = json_of(post(&gw, &codex_body("gpt-5-codex", false)).await).await;
    assert_eq!(reply["object"], "response");
    assert_eq!(reply["status"], "completed");
    assert_eq!(reply["output"][0]["type"], "message");
    assert_eq!(reply["output"][0]["content"][0]["text"], "from gemini");
    assert_eq!(reply["usage"]["total_tokens"], 5);
    let sent = &up.received()[0];
    assert!(sent.path.ends_with(":generateContent"), "{}", sent.path);
    assert_eq!(sent.body["tools"][1], json!({"googleSearch": {}}));
}

#[tokio::test]
async fn what_a_translated_channel_cannot_do_is_a_clear_400() {
    let up = Mock::start("claude").await;
    let gw = TestGateway::start(&yaml(&[("claude", format!("{}/messages", up.base()), "claude-sonnet-4-5")])).await;
    let mut body = codex_body("gpt-5-codex", false);
    body["previous_response_id"] = json!("resp_123");
    let response = post(&gw, &body).await;
    assert_eq!(response.status(), 400);
    let error = json_of(response).await;
    assert!(error["error"]["message"].as_str().unwrap().contains("previous_response_id"), "{error}");

    let mut body = codex_body("gpt-5-codex", false);
    body["tools"] = json!([{"type": "file_search", "vector_store_ids": ["vs_1"]}]);
    let response = post(&gw, &body).await;
    assert_eq!(response.status(), 400);
    let error = json_of(response).await;
    assert!(error["error"]["message"].as_str().unwrap().contains("`file_search`"), "{error}");
    assert_eq!(up.received().len(), 0);
}

#[tokio::test]
async fn a_websocket_upgrade_is_refused_at_once() {
    let up = Mock::start("openai").await;
    let gw = TestGateway::start(&yaml(&[("openai", up.base(), "gpt-5.1-codex")])).await;
    let response = gw
        .http
        .get(gw.url("/v1/responses"))
        .bearer_auth(KEY)
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 426);
    let error = json_of(response).await;
    assert_eq!(error["error"]["code"], "websocket_not_supported");
}

#[tokio::test]
async fn an_openai_compatible_server_without_responses_is_translated_for() {
    let up = Mock::start("compat").await;
    up.script([Reply::Json(404, json!({"error": {"message": "Not Found", "type": "invalid_request_error"}}))]);
    let gw = TestGateway::start(&yaml(&[("compat", up.base(), "deepseek-chat")])).await;
    for _ in 0..2 {
        let reply = json_of(post(&gw, &codex_body("gpt-5-codex", false)).await).await;
        assert_eq!(reply["output"][0]["content"][0]["text"], "from compat", "{reply}");
    }
    let paths: Vec<String> = up.received().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/v1/responses", "/v1/chat/completions", "/v1/chat/completions"]);
}

#[tokio::test]
async fn a_broken_stream_ends_with_response_failed() {
    let up = Mock::start("claude").await;
    up.script([Reply::StreamThenBreak(vec![
        json!({"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 1}}}).to_string(),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}).to_string(),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "par"}}).to_string(),
    ])]);
    let gw = TestGateway::start(&yaml(&[("claude", format!("{}/messages", up.base()), "claude-sonnet-4-5")])).await;
    let (status, events, raw) = stream(&gw, &codex_body("gpt-5-codex", true)).await;
    assert_eq!(status, 200, "{raw}");
    let (last, data) = events.last().unwrap();
    assert_eq!(last, "response.failed", "{raw}");
    assert_eq!(data["response"]["status"], "failed");
    assert!(!names(&events).contains(&"response.completed"), "{raw}");
}
