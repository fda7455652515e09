//! The Anthropic Messages door: Claude Code's requests through the gateway to channels of every
//! dialect, natively to Anthropic, translated to the others.

use serde_json::{json, Value};
use uni_api_tests::speak::Said;
use uni_api_tests::{json_of, sse_events, Mock, Reply, TestGateway};

/// A body shaped as Claude Code 2.1 sends it (trimmed): system blocks with cache control, a
/// system turn inside `messages`, adaptive thinking, `metadata.user_id` as a JSON string,
/// deferred tools.
fn claude_code_body(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "max_tokens": 32000,
        "stream": stream,
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.332; cc_entrypoint=sdk-cli;"},
            {"type": "text", "text": "You are a Claude agent.", "cache_control": {"type": "ephemeral"}}
        ],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "<system-reminder>ctx</system-reminder>"},
                {"type": "text", "text": "Reply with the single word hello.", "cache_control": {"type": "ephemeral"}}
            ]},
            {"role": "system", "content": [{"type": "text", "text": "# Environment\nlinux"}]}
        ],
        "tools": [
            {"name": "Bash", "description": "Run a command", "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}},
            {"name": "DeferredToolPlaceholder", "description": "later", "input_schema": {"type": "object"}, "defer_loading": true}
        ],
        "thinking": {"type": "adaptive", "display": "omitted"},
        "output_config": {"effort": "medium"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "metadata": {"user_id": "{\"device_id\":\"abc\",\"account_uuid\":\"\",\"session_id\":\"s-1\"}"}
    })
}

fn yaml(channels: &[(&str, String, &str)], extra: &str) -> String {
    let mut yaml = String::from("providers:\n");
    for (name, base, upstream) in channels {
        yaml.push_str(&format!(
            "  - provider: {name}\n    base_url: {base}\n    api: sk-{name}-upstream\n    model:\n      - {upstream}: claude-sonnet\n"
        ));
    }
    yaml.push_str("api_keys:\n  - api: sk-client\n");
    yaml.push_str(extra);
    yaml
}

async fn stream(gw: &TestGateway, path: &str, body: &Value) -> (u16, Vec<(String, Value)>, String) {
    let response = gw.post_anthropic(path, "sk-client", body).await;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, sse_events(&text), text)
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(n, _)| n.as_str()).collect()
}

#[tokio::test]
async fn claude_code_on_an_openai_format_channel_gets_an_anthropic_message() {
    let up = Mock::start("openai").await;
    let gw = TestGateway::start(&yaml(&[("openai", up.base(), "gpt-4o")], "")).await;
    let (status, reply) = gw.messages("sk-client", &claude_code_body("claude-sonnet", false)).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["type"], "message");
    assert_eq!(reply["role"], "assistant");
    assert_eq!(reply["model"], "claude-sonnet");
    assert_eq!(reply["content"], json!([{"type": "text", "text": "from openai"}]));
    assert_eq!(reply["stop_reason"], "end_turn");
    assert_eq!(reply["usage"]["input_tokens"], 3);
    assert_eq!(reply["usage"]["output_tokens"], 2);
    assert!(reply["id"].as_str().unwrap().starts_with("msg_"));

    let sent = &up.received()[0];
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.header("authorization"), Some("Bearer sk-openai-upstream"));
    let body = &sent.body;
    assert_eq!(body["model"], "gpt-4o");
    assert_eq!(body["messages"][0]["role"], "system");
    assert!(body["messages"][0]["content"].as_str().unwrap().ends_with("You are a Claude agent."));
    assert_eq!(
        body["messages"][1],
        json!({"role": "user", "content": "<system-reminder>ctx</system-reminder>\n\nReply with the single word hello."})
    );
    assert_eq!(body["messages"][2], json!({"role": "system", "content": "# Environment\nlinux"}));
    assert_eq!(body["tools"][0]["function"]["name"], "Bash");
    assert_eq!(body["tools"][1]["function"]["name"], "DeferredToolPlaceholder");
    assert!(body.get("max_tokens").is_none(), "32000 is left out for another vendor: {body}");
    for dropped in ["thinking", "metadata", "context_management", "output_config", "system", "reasoning_effort"] {
        assert!(body.get(dropped).is_none(), "{dropped} must not reach an OpenAI-format upstream: {body}");
    }
    assert!(!sent.body.to_string().contains("cache_control"));
}

#[tokio::test]
async fn a_translated_stream_has_anthropic_events_in_order() {
    let up = Mock::start("openai").await;
    let gw = TestGateway::start(&yaml(&[("openai", up.base(), "gpt-4o")], "")).await;
    let (status, events, raw) = stream(&gw, "/v1/messages?beta=true", &claude_code_body("claude-sonnet", true)).await;
    assert_eq!(status, 200, "{raw}");
    assert_eq!(
        names(&events),
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ],
        "{raw}"
    );
    assert_eq!(events[0].1["message"]["model"], "claude-sonnet");
    assert_eq!(events[2].1["content_block"]["type"], "text");
    let text: String = events.iter().filter_map(|(_, d)| d["delta"]["text"].as_str()).collect();
    assert_eq!(text, "from openai");
    assert_eq!(events[6].1["delta"]["stop_reason"], "end_turn");
    assert_eq!(events[6].1["usage"]["output_tokens"], 2);
    assert_eq!(events[6].1["usage"]["input_tokens"], 3);
    assert_eq!(up.received()[0].body["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn to_an_anthropic_channel_the_body_goes_through_byte_for_byte() {
    let up = Mock::start("claude").await;
    let gw = TestGateway::start(&yaml(&[("claude", format!("{}/messages", up.base()), "claude-sonnet-4-5")], "")).await;
    let body = claude_code_body("claude-sonnet", false);
    let sent_text = body.to_string();
    let response = gw
        .http
        .post(gw.url("/v1/messages?beta=true"))
        .header("x-api-key", "sk-client")
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "claude-code-20250219,context-management-2025-06-27")
        .header("content-type", "application/json")
        .body(sent_text.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let reply = json_of(response).await;
    assert_eq!(reply["model"], "claude-sonnet", "the reply names the client's model");
    assert_eq!(reply["content"][0]["text"], "from claude");

    let received = &up.received()[0];
    assert_eq!(received.path, "/v1/messages");
    assert_eq!(received.header("x-api-key"), Some("sk-claude-upstream"));
    assert_eq!(received.header("anthropic-beta"), Some("claude-code-20250219,context-management-2025-06-27"));
    assert_eq!(received.header("anthropic-version"), Some("2023-06-01"));
    let expected = sent_text.replace("\"model\":\"claude-sonnet\"", "\"model\":\"claude-sonnet-4-5\"");
    assert_eq!(up.raw_bodies()[0], expected, "only the model is replaced");
}

#[tokio::test]
async fn a_native_stream_is_relayed_with_the_clients_model_name() {
    let up = Mock::start("claude").await;
    let gw = TestGateway::start(&yaml(&[("claude", format!("{}/messages", up.base()), "claude-sonnet-4-5")], "")).await;
    let (status, events, raw) = stream(&gw, "/v1/messages", &claude_code_body("claude-sonnet", true)).await;
    assert_eq!(status, 200, "{raw}");
    assert_eq!(names(&events).first(), Some(&"message_start"));
    assert_eq!(names(&events).last(), Some(&"message_stop"));
    assert_eq!(events[0].1["message"]["model"], "claude-sonnet");
    assert!(!raw.contains("claude-sonnet-4-5"), "the upstream model name never reaches the client: {raw}");
    let text: String = events.iter().filter_map(|(_, d)| d["delta"]["text"].as_str()).collect();
    assert_eq!(text, "from claude");
}

#[tokio::test]
async fn a_tool_round_trip_through_gemini_keeps_the_thought_signature() {
    let up = Mock::start("gemini").await;
    up.script([Reply::Says(Said::ToolCall {
        id: "unused".into(),
        name: "Bash".into(),
        arguments: json!({"command": "ls"}),
    })]);
    let gw =
        TestGateway::start(&yaml(&[("gemini", format!("http://{}/v1beta", up.addr), "gemini-2.5-flash")], "")).await;
    let (status, events, raw) = stream(&gw, "/v1/messages", &claude_code_body("claude-sonnet", true)).await;
    assert_eq!(status, 200, "{raw}");
    let start =
        events.iter().find(|(n, d)| n == "content_block_start" && d["content_block"]["type"] == "tool_use").unwrap();
    let id = start.1["content_block"]["id"].as_str().unwrap().to_owned();
    assert_eq!(start.1["content_block"]["name"], "Bash");
    let args: String = events.iter().filter_map(|(_, d)| d["delta"]["partial_json"].as_str()).collect();
    assert_eq!(serde_json::from_str::<Value>(&args).unwrap(), json!({"command": "ls"}));
    let delta = events.iter().find(|(n, _)| n == "message_delta").unwrap();
    assert_eq!(delta.1["delta"]["stop_reason"], "tool_use");
    let sent = &up.received()[0];
    assert!(sent.path.ends_with("/models/gemini-2.5-flash:streamGenerateContent"), "{}", sent.path);
    assert_eq!(sent.body["generationConfig"]["thinkingConfig"]["thinkingBudget"], 8192, "effort medium → budget");

    let mut second = claude_code_body("claude-sonnet", false);
    second["messages"].as_array_mut().unwrap().extend([
        json!({"role": "assistant", "content": [{"type": "tool_use", "id": id, "name": "Bash", "input": {"command": "ls"}}]}),
        json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": "file.txt", "cache_control": {"type": "ephemeral"}}]}),
    ]);
    let (status, reply) = gw.messages("sk-client", &second).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["content"][0]["text"], "from gemini");
    let contents = &up.received()[1].body["contents"];
    let call = contents.as_array().unwrap().iter().find(|c| c["role"] == "model").unwrap();
    assert_eq!(call["parts"][0]["functionCall"]["name"], "Bash");
    assert_eq!(call["parts"][0]["thoughtSignature"], "c2ln", "Gemini's signature comes back with the call");
    let result = contents.as_array().unwrap().last().unwrap();
    assert_eq!(result["parts"][0]["functionResponse"]["name"], "Bash");
    assert_eq!(result["parts"][0]["functionResponse"]["response"], json!({"result": "file.txt"}));
}

#[tokio::test]
async fn errors_come_in_anthropics_shape() {
    let up = Mock::start("openai").await;
    up.always(Reply::Json(503, json!({"error": {"message": "busy"}})));
    let gw =
        TestGateway::start(&yaml(&[("openai", up.base(), "gpt-4o")], "preferences:\n  cooldown_period: 0\n")).await;
    let response = gw.http.post(gw.url("/v1/messages")).body("{}").send().await.unwrap();
    assert_eq!(response.status(), 401);
    let body = json_of(response).await;
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "authentication_error");

    let (status, body) = gw.messages("sk-client", &claude_code_body("no-such-model", false)).await;
    assert_eq!((status, body["error"]["type"].as_str()), (404, Some("not_found_error")), "{body}");
    let (status, body) = gw.messages("sk-client", &json!({"model": "claude-sonnet"})).await;
    assert_eq!((status, body["error"]["type"].as_str()), (400, Some("invalid_request_error")), "{body}");
    let (status, body) = gw.messages("sk-client", &claude_code_body("claude-sonnet", false)).await;
    assert_eq!((status, body["error"]["type"].as_str()), (529, Some("overloaded_error")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("busy"), "{body}");
}

#[tokio::test]
async fn a_request_that_cannot_be_translated_is_the_clients_400_and_benches_nothing() {
    let up = Mock::start("openai").await;
    let gw =
        TestGateway::start(&yaml(&[("openai", up.base(), "gpt-4o")], "preferences:\n  cooldown_period: 300\n")).await;
    let bad = json!({"model": "claude-sonnet", "max_tokens": 10, "messages": [{"content": "no role"}]});
    let (status, body) = gw.messages("sk-client", &bad).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(body["error"]["message"].as_str().unwrap().contains("`role` is required"), "{body}");
    assert_eq!(up.count(), 0, "nothing was sent upstream");
    let (status, body) = gw.messages("sk-client", &claude_code_body("claude-sonnet", false)).await;
    assert_eq!(status, 200, "the channel is not cooling down: {body}");
}

#[tokio::test]
async fn a_stream_that_breaks_ends_with_an_error_event() {
    let up = Mock::start("openai").await;
    up.script([Reply::StreamThenBreak(vec![
        json!({"id": "c", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "par"}, "finish_reason": null}]}).to_string(),
    ])]);
    let claude = Mock::start("claude").await;
    claude.script([Reply::StreamThenBreak(vec![
        json!({"type": "message_start", "message": {"id": "m", "model": "x", "usage": {"input_tokens": 1}}})
            .to_string(),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}).to_string(),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "par"}}).to_string(),
    ])]);
    let yaml = format!(
        "providers:\n  - provider: openai\n    base_url: {}\n    model:\n      - gpt-4o: claude-sonnet\n  - provider: claude\n    base_url: {}/messages\n    model:\n      - claude-x: claude-native\napi_keys:\n  - api: sk-client\n",
        up.base(),
        claude.base()
    );
    let gw = TestGateway::start(&yaml).await;
    for model in ["claude-sonnet", "claude-native"] {
        let (status, events, raw) = stream(&gw, "/v1/messages", &claude_code_body(model, true)).await;
        assert_eq!(status, 200, "{raw}");
        let (last, data) = events.last().unwrap();
        assert_eq!(last, "error", "{model}: {raw}");
        assert_eq!(data["type"], "error");
        assert!(!names(&events).contains(&"message_stop"), "{model}: never a fake end: {raw}");
    }
}

#[tokio::test]
async fn failover_crosses_vendors_before_the_first_byte() {
    let claude = Mock::start("claude").await;
    claude.always(Reply::Json(500, json!({"type": "error", "error": {"type": "api_error", "message": "down"}})));
    let openai = Mock::start("openai").await;
    let gw = TestGateway::start(&yaml(
        &[("claude", format!("{}/messages", claude.base()), "claude-sonnet-4-5"), ("openai", openai.base(), "gpt-4o")],
        "    preferences:\n      SCHEDULING_ALGORITHM: fixed_priority\n",
    ))
    .await;
    let (status, events, raw) = stream(&gw, "/v1/messages", &claude_code_body("claude-sonnet", true)).await;
    assert_eq!(status, 200, "{raw}");
    let text: String = events.iter().filter_map(|(_, d)| d["delta"]["text"].as_str()).collect();
    assert_eq!(text, "from openai");
    assert_eq!(claude.received().len(), 1);
}

#[tokio::test]
async fn count_tokens_asks_anthropic_and_estimates_elsewhere() {
    let claude = Mock::start("claude").await;
    let openai = Mock::start("openai").await;
    let yaml = format!(
        "providers:\n  - provider: claude\n    base_url: {}/messages\n    api: sk-ant\n    model:\n      - claude-sonnet-4-5: claude-sonnet\n  - provider: openai\n    base_url: {}\n    model:\n      - gpt-4o: gpt\napi_keys:\n  - api: sk-client\n",
        claude.base(),
        openai.base()
    );
    let gw = TestGateway::start(&yaml).await;
    let body = json!({"model": "claude-sonnet", "messages": [{"role": "user", "content": "foo"}], "tools": []});
    let response = gw.post_anthropic("/v1/messages/count_tokens?beta=true", "sk-client", &body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_of(response).await, json!({"input_tokens": 42}));
    let asked = &claude.received()[0];
    assert_eq!(asked.path, "/v1/messages/count_tokens");
    assert_eq!(asked.body["model"], "claude-sonnet-4-5");

    let body = json!({"model": "gpt", "messages": [{"role": "user", "content": "foo"}]});
    let response = gw.post_anthropic("/v1/messages/count_tokens", "sk-client", &body).await;
    let estimate = body.to_string().len().div_ceil(4) as u64;
    assert_eq!(json_of(response).await, json!({"input_tokens": estimate}));
    assert_eq!(openai.received().len(), 0);
}

#[tokio::test]
async fn a_conversation_stays_on_one_channel() {
    let a = Mock::start("a").await;
    let b = Mock::start("b").await;
    let gw = TestGateway::start(&yaml(
        &[("a", a.base(), "gpt-4o"), ("b", b.base(), "gpt-4o")],
        "    preferences:\n      SCHEDULING_ALGORITHM: round_robin\n",
    ))
    .await;
    let mut first_channel = Vec::new();
    for session in 0..12 {
        let mut seen = Vec::new();
        for _ in 0..3 {
            let response = gw
                .http
                .post(gw.url("/v1/messages"))
                .header("x-api-key", "sk-client")
                .header("x-claude-code-session-id", format!("session-{session}"))
                .header("content-type", "application/json")
                .body(claude_code_body("claude-sonnet", false).to_string())
                .send()
                .await
                .unwrap();
            let reply = json_of(response).await;
            seen.push(reply["content"][0]["text"].as_str().unwrap().to_owned());
        }
        assert!(seen.iter().all(|s| *s == seen[0]), "session {session} moved: {seen:?}");
        first_channel.push(seen[0].clone());
    }
    assert!(
        first_channel.contains(&"from a".to_owned()) && first_channel.contains(&"from b".to_owned()),
        "{first_channel:?}"
    );
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after_in_anthropics_shape() {
    let up = Mock::start("openai").await;
    let yaml = format!(
        "providers:\n  - provider: openai\n    base_url: {}\n    model:\n      - gpt-4o: claude-sonnet\napi_keys:\n  - api: sk-client\n    preferences:\n      rate_limit: 1/min\n",
        up.base()
    );
    let gw = TestGateway::start(&yaml).await;
    assert_eq!(gw.messages("sk-client", &claude_code_body("claude-sonnet", false)).await.0, 200);
    let response = gw.post_anthropic("/v1/messages", "sk-client", &claude_code_body("claude-sonnet", false)).await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().get("retry-after").is_some());
    let body = json_of(response).await;
    assert_eq!(body["error"]["type"], "rate_limit_error");
}
