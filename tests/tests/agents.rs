//! The real coding agents against the gateway, each with a same-vendor and a foreign-vendor
//! channel: a plain prompt (exit code 0, the upstream's text on stdout, usage seen) and a tool
//! round trip (the agent runs the tool and its next request carries the result).

use serde_json::{json, Value};
use uni_api_tests::agents::{self, Agent, Files};
use uni_api_tests::speak::Said;
use uni_api_tests::{Mock, Reply, TestGateway};

const CLIENT_KEY: &str = "sk-agent-client";

/// A gateway whose model `alias` is served by `mock` in the dialect of `base`.
async fn gateway(mock_base: &str, upstream: &str, alias: &str) -> TestGateway {
    let yaml = format!(
        "providers:\n  - provider: up\n    base_url: {mock_base}\n    api: sk-upstream-secret\n    model:\n      - {upstream}: {alias}\napi_keys:\n  - api: {CLIENT_KEY}\n"
    );
    TestGateway::start(&yaml).await
}

fn tool_call(name: &str, arguments: Value) -> Reply {
    Reply::Says(Said::ToolCall { id: "toolu_01AgentTest".into(), name: name.into(), arguments })
}

// === Claude Code ===

async fn claude(gw: &TestGateway, args: &[&str]) -> Option<agents::Run> {
    let bin = agents::bin_dir()?;
    let env = [
        ("ANTHROPIC_BASE_URL", format!("http://{}", gw.addr)),
        ("ANTHROPIC_API_KEY", CLIENT_KEY.to_owned()),
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".to_owned()),
        ("DISABLE_TELEMETRY", "1".to_owned()),
        ("DISABLE_AUTOUPDATER", "1".to_owned()),
    ];
    Some(agents::run(&bin, Agent::ClaudeCode, args, &env, Files::default()).await)
}

async fn claude_plain_prompt(mock: &Mock, base: String, upstream: &str) {
    let gw = gateway(&base, upstream, "claude-sonnet-4-5").await;
    let Some(run) = claude(
        &gw,
        &["-p", "Reply with the single word hello.", "--model", "claude-sonnet-4-5", "--output-format", "json"],
    )
    .await
    else {
        return;
    };
    run.assert_ok();
    let result: Value = serde_json::from_str(run.stdout.trim()).unwrap_or_else(|_| panic!("{}", run.stdout));
    assert_eq!(result["result"], "from upstream-mock", "{}", run.stdout);
    assert_eq!(result["is_error"], false);
    assert_eq!(result["usage"]["output_tokens"], 2, "{}", run.stdout);
    let sent = mock.received();
    assert_eq!(sent.len(), 1, "one request for one prompt");
    assert_eq!(sent[0].body["model"].as_str().unwrap_or(upstream), upstream);
}

#[tokio::test]
async fn claude_code_on_anthropic() {
    if agents::bin_dir().is_none() {
        return;
    }
    let mock = Mock::start("upstream-mock").await;
    claude_plain_prompt(&mock, format!("{}/messages", mock.base()), "claude-sonnet-4-5-20250929").await;
}

#[tokio::test]
async fn claude_code_on_gemini() {
    if agents::bin_dir().is_none() {
        return;
    }
    let mock = Mock::start("upstream-mock").await;
    claude_plain_prompt(&mock, format!("http://{}/v1beta", mock.addr), "gemini-2.5-flash").await;
    assert!(mock.received()[0].path.contains("gemini-2.5-flash:streamGenerateContent"));
}

async fn claude_tool_round_trip(mock: &Mock, base: String, upstream: &str) {
    mock.script([tool_call("Bash", json!({"command": "echo tool-ok", "description": "print"}))]);
    let gw = gateway(&base, upstream, "claude-sonnet-4-5").await;
    let Some(run) =
        claude(&gw, &["-p", "Run echo tool-ok with Bash.", "--model", "claude-sonnet-4-5", "--allowedTools", "Bash"])
            .await
    else {
        return;
    };
    run.assert_ok();
    assert!(run.stdout.contains("from upstream-mock"), "{}", run.stdout);
    let sent = mock.received();
    assert_eq!(sent.len(), 2, "the tool's result comes back in a second request");
    let second = sent[1].body.to_string();
    assert!(second.contains("tool-ok"), "the tool ran and its output was sent: {second}");
}

#[tokio::test]
async fn claude_code_runs_a_tool_on_anthropic() {
    if agents::bin_dir().is_none() {
        return;
    }
    let mock = Mock::start("upstream-mock").await;
    claude_tool_round_trip(&mock, format!("{}/messages", mock.base()), "claude-sonnet-4-5-20250929").await;
}

#[tokio::test]
async fn claude_code_runs_a_tool_on_an_openai_format_channel() {
    if agents::bin_dir().is_none() {
        return;
    }
    let mock = Mock::start("upstream-mock").await;
    claude_tool_round_trip(&mock, mock.base(), "gpt-4.1").await;
    let second = &mock.received()[1].body;
    let tool = second["messages"].as_array().unwrap().iter().find(|m| m["role"] == "tool").expect("a tool message");
    assert!(tool["content"].as_str().unwrap().contains("tool-ok"), "{tool}");
}

// === Codex ===

async fn codex(gw: &TestGateway, prompt: &str) -> Option<agents::Run> {
    let bin = agents::bin_dir()?;
    let provider = format!(
        "model_providers.uniapi={{name=\"uni-api\",base_url=\"http://{}/v1\",env_key=\"UNIAPI_KEY\",wire_api=\"responses\"}}",
        gw.addr
    );
    let args = [
        "exec",
        "--skip-git-repo-check",
        "--ephemeral",
        "--json",
        "-m",
        "gpt-5-codex",
        "-c",
        "model_provider=uniapi",
        "-c",
        &provider,
        "-c",
        "analytics.enabled=false",
        "-c",
        "check_for_update_on_startup=false",
        "--disable",
        "plugins",
        prompt,
    ];
    Some(agents::run(&bin, Agent::Codex, &args, &[("UNIAPI_KEY", CLIENT_KEY.to_owned())], Files::default()).await)
}

/// Codex's JSONL events.
fn codex_events(stdout: &str) -> Vec<Value> {
    stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

async fn codex_plain_prompt(mock: &Mock, base: String, upstream: &str) {
    let gw = gateway(&base, upstream, "gpt-5-codex").await;
    let Some(run) = codex(&gw, "Reply with the single word hello.").await else { return };
    run.assert_ok();
    let events = codex_events(&run.stdout);
    let message = events.iter().find(|e| e["type"] == "item.completed" && e["item"]["type"] == "agent_message");
    assert_eq!(message.map(|e| &e["item"]["text"]), Some(&json!("from upstream-mock")), "{}", run.stdout);
    let done = events.iter().find(|e| e["type"] == "turn.completed").expect("turn.completed");
    assert_eq!(done["usage"]["input_tokens"], 3, "{done}");
    assert_eq!(done["usage"]["output_tokens"], 2, "{done}");
    assert_eq!(mock.received().len(), 1);
}

#[tokio::test]
async fn codex_on_openai() {
    if agents::bin_dir().is_none() {
        return;
    }
    let mock = Mock::start("upstream-mock").await;
    codex_plain_prompt(&mock, mock.base(), "gpt-5.1-codex").await;
    let sent = &mock.received()[0];
    assert_eq!(sent.path, "/v1/responses", "same vendor: the Responses API itself");
    assert_eq!(sent.body["model"], "gpt-5.1-codex");
    assert_eq!(sent.body["store"], false);
}

#[tokio::test]
async fn codex_on_anthropic() {
    if agents::bin_dir().is_none() {
        return;
    }
    let mock = Mock::start("upstream-mock").await;
    codex_plain_prompt(&mock, format!("{}/messages", mock.base()), "claude-sonnet-4-5").await;
    let sent = &mock.received()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert!(sent.body["system"].as_str().unwrap().contains("Codex"), "Codex's instructions become the system prompt");
}

async fn codex_tool_round_trip(mock: &Mock, base: String, upstream: &str) {
    mock.script([tool_call("exec_command", json!({"cmd": "echo tool-ok"}))]);
    let gw = gateway(&base, upstream, "gpt-5-codex").await;
    let Some(run) = codex(&gw, "Run echo tool-ok.").await else { return };
    run.assert_ok();
    let events = codex_events(&run.stdout);
    let command = events.iter().find(|e| e["type"] == "item.completed" && e["item"]["type"] == "command_execution");
    assert!(
        command.is_some_and(|c| c["item"]["aggregated_output"].as_str().unwrap_or("").contains("tool-ok")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("from upstream-mock"), "{}", run.stdout);
    let sent = mock.received();
    assert_eq!(sent.len(), 2, "the tool's output comes back in a second request");
    assert!(sent[1].body.to_string().contains("tool-ok"), "{}", sent[1].body);
}

#[tokio::test]
async fn codex_runs_a_tool_on_openai() {
    if agents::bin_dir().is_none() {
        return;
    }
    let mock = Mock::start("upstream-mock").await;
    codex_tool_round_trip(&mock, mock.base(), "gpt-5.1-codex").await;
}

#[tokio::test]
async fn codex_runs_a_tool_on_gemini() {
    if agents::bin_dir().is_none() {
        return;
    }
    let mock = Mock::start("upstream-mock").await;
    codex_tool_round_trip(&mock, format!("http://{}/v1beta", mock.addr), "gemini-2.5-pro").await;
    let contents = &mock.received()[1].body["contents"];
    let response = contents.as_array().unwrap().iter().find_map(|c| c["parts"][0].get("functionResponse"));
    assert_eq!(response.map(|r| &r["name"]), Some(&json!("exec_command")), "{contents}");
}

#[tokio::test]
async fn codex_with_its_built_in_openai_provider_falls_back_from_websocket() {
    if agents::bin_dir().is_none() {
        return;
    }
    let Some(bin) = agents::bin_dir() else { return };
    let mock = Mock::start("upstream-mock").await;
    let gw = gateway(&mock.base(), "gpt-5.1-codex", "gpt-5-codex").await;
    // The built-in provider sends the key stored by `codex login --with-api-key`.
    let auth = json!({"OPENAI_API_KEY": CLIENT_KEY, "auth_mode": "apikey"}).to_string();
    let base = format!("openai_base_url=\"http://{}/v1\"", gw.addr);
    let args = [
        "exec",
        "--skip-git-repo-check",
        "--ephemeral",
        "--json",
        "-m",
        "gpt-5-codex",
        "-c",
        &base,
        "-c",
        "analytics.enabled=false",
        "-c",
        "check_for_update_on_startup=false",
        "--disable",
        "plugins",
        "Say hello.",
    ];
    let home = [(".codex/auth.json", auth)];
    let run = agents::run(&bin, Agent::Codex, &args, &[], Files { home: &home, project: &[] }).await;
    run.assert_ok();
    assert!(run.stdout.contains("from upstream-mock"), "{}", run.stdout);
    assert_eq!(mock.received().len(), 1);
}

// === Gemini CLI ===

async fn gemini(gw: &TestGateway, prompt: &str, project: &[(&str, String)]) -> Option<agents::Run> {
    let bin = agents::bin_dir()?;
    let settings = json!({
        "security": {"auth": {"selectedType": "gemini-api-key"}},
        "privacy": {"usageStatisticsEnabled": false},
        "telemetry": {"enabled": false},
        "general": {"enableAutoUpdate": false, "enableAutoUpdateNotification": false}
    })
    .to_string();
    let env = [
        ("GEMINI_API_KEY", CLIENT_KEY.to_owned()),
        ("GOOGLE_GEMINI_BASE_URL", format!("http://{}", gw.addr)),
        ("GEMINI_CLI_TRUST_WORKSPACE", "true".to_owned()),
    ];
    let args = ["-p", prompt, "-m", "gemini-2.5-flash", "--output-format", "json"];
    let home = [(".gemini/settings.json", settings)];
    Some(agents::run(&bin, Agent::GeminiCli, &args, &env, Files { home: &home, project }).await)
}

async fn gemini_plain_prompt(mock: &Mock, base: String, upstream: &str) {
    let gw = gateway(&base, upstream, "gemini-2.5-flash").await;
    let Some(run) = gemini(&gw, "Reply with the single word hello.", &[]).await else { return };
    run.assert_ok();
    let result: Value = serde_json::from_str(run.stdout.trim()).unwrap_or_else(|_| panic!("{}", run.stdout));
    assert_eq!(result["response"], "from upstream-mock", "{}", run.stdout);
    let tokens = result["stats"]["models"].as_object().and_then(|m| m.values().next()).map(|m| m["tokens"].clone());
    assert_eq!(
        tokens.as_ref().map(|t| (&t["prompt"], &t["candidates"])),
        Some((&json!(3), &json!(2))),
        "{}",
        run.stdout
    );
    assert_eq!(mock.received().len(), 1);
}

#[tokio::test]
async fn gemini_cli_on_gemini() {
    if agents::bin_dir().is_none() {
        return;
    }
    let mock = Mock::start("upstream-mock").await;
    gemini_plain_prompt(&mock, format!("http://{}/v1beta", mock.addr), "gemini-2.5-flash").await;
    assert_eq!(mock.received()[0].uri, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
}

#[tokio::test]
async fn gemini_cli_on_an_openai_format_channel() {
    if agents::bin_dir().is_none() {
        return;
    }
    let mock = Mock::start("upstream-mock").await;
    gemini_plain_prompt(&mock, mock.base(), "gpt-4.1-mini").await;
    assert_eq!(mock.received()[0].path, "/v1/chat/completions");
}

async fn gemini_tool_round_trip(mock: &Mock, base: String, upstream: &str) {
    mock.script([tool_call("read_file", json!({"file_path": "notes.txt"}))]);
    let gw = gateway(&base, upstream, "gemini-2.5-flash").await;
    let project = [("notes.txt", "tool-ok\n".to_owned())];
    let Some(run) = gemini(&gw, "Read notes.txt.", &project).await else { return };
    run.assert_ok();
    assert!(run.stdout.contains("from upstream-mock"), "{}", run.stdout);
    let sent = mock.received();
    assert_eq!(sent.len(), 2, "the tool's result comes back in a second request");
    assert!(sent[1].body.to_string().contains("tool-ok"), "{}", sent[1].body);
}

#[tokio::test]
async fn gemini_cli_runs_a_tool_on_gemini() {
    if agents::bin_dir().is_none() {
        return;
    }
    let mock = Mock::start("upstream-mock").await;
    gemini_tool_round_trip(&mock, format!("http://{}/v1beta", mock.addr), "gemini-2.5-flash").await;
    let contents = &mock.received()[1].body["contents"];
    let call = contents.as_array().unwrap().iter().find(|c| c["role"] == "model").unwrap();
    assert_eq!(call["parts"][0]["thoughtSignature"], "c2ln", "the signature goes back as the upstream sent it");
}

#[tokio::test]
async fn gemini_cli_runs_a_tool_on_anthropic() {
    if agents::bin_dir().is_none() {
        return;
    }
    let mock = Mock::start("upstream-mock").await;
    gemini_tool_round_trip(&mock, format!("{}/messages", mock.base()), "claude-sonnet-4-5").await;
    let messages = mock.received()[1].body["messages"].clone();
    let result = messages
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
        .find(|b| b["type"] == "tool_result");
    assert!(result.is_some_and(|r| r["content"].to_string().contains("tool-ok")), "{messages}");
}
