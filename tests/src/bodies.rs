//! Request bodies the benchmarks send, shaped as the agents send them.

use serde_json::{json, Value};

/// A paragraph of plausible prompt text, `n` times.
fn prose(n: usize) -> String {
    "You are an interactive agent that helps users with software engineering tasks. Use the tools \
     available to you to read, search and edit files, run commands and verify your work before you \
     answer. Keep answers short and precise; cite file paths with line numbers. "
        .repeat(n)
}

/// A Messages body as Claude Code 2.1 sends it, about 48 KB: billing and agent system blocks with
/// cache control, a system turn in `messages`, a few turns with a tool round trip, 12 tools,
/// adaptive thinking and a JSON-string `metadata.user_id`.
pub fn claude_code(model: &str, stream: bool) -> Value {
    let tool_names = [
        "Agent",
        "Bash",
        "Edit",
        "ListAgents",
        "Read",
        "ReportFindings",
        "ScheduleWakeup",
        "Skill",
        "ToolSearch",
        "Workflow",
        "DeferredToolPlaceholder",
        "Write",
    ];
    let tools: Vec<Value> = tool_names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut properties = serde_json::Map::new();
            for p in 0..8 {
                properties.insert(
                    format!("param_{p}"),
                    json!({"type": "string", "description": format!("{} (parameter {p} of {name})", prose(1))}),
                );
            }
            let mut tool = json!({"name": name, "description": prose(2),
                "input_schema": {"type": "object", "properties": properties, "required": ["param_0"], "additionalProperties": false,
                                 "$schema": "http://json-schema.org/draft-07/schema#"}});
            if i == 10 {
                tool["defer_loading"] = json!(true);
            }
            tool
        })
        .collect();
    json!({
        "model": model,
        "max_tokens": 32000,
        "stream": stream,
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.332.b5f; cc_entrypoint=sdk-cli;"},
            {"type": "text", "text": "You are a Claude agent, built on Anthropic's Claude Agent SDK.", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": prose(30), "cache_control": {"type": "ephemeral"}}
        ],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": format!("<system-reminder>{}</system-reminder>", prose(6))},
                {"type": "text", "text": "Find where the retry budget is computed.", "cache_control": {"type": "ephemeral"}}
            ]},
            {"role": "system", "content": [{"type": "text", "text": format!("# Environment\n{}", prose(2))}]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Let me search."},
                {"type": "tool_use", "id": "toolu_01", "name": "Bash", "input": {"param_0": "grep -rn retry_budget src/"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": prose(4), "cache_control": {"type": "ephemeral"}}
            ]}
        ],
        "tools": tools,
        "thinking": {"type": "adaptive", "display": "omitted"},
        "output_config": {"effort": "medium"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "metadata": {"user_id": "{\"device_id\":\"4f1c\",\"account_uuid\":\"\",\"session_id\":\"7d9a\"}"}
    })
}

/// A short Messages request.
pub fn messages_small(model: &str, stream: bool) -> Value {
    json!({"model": model, "max_tokens": 256, "stream": stream, "system": "You are a helpful assistant.",
           "messages": [{"role": "user", "content": "Hello there, how are you doing today?"}], "temperature": 0.7})
}

/// A short Responses request.
pub fn responses_small(model: &str) -> Value {
    json!({"model": model, "store": false, "instructions": "You are a helpful assistant.",
           "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello there, how are you doing today?"}]}],
           "temperature": 0.7})
}

/// A short Gemini request.
pub fn gemini_small() -> Value {
    json!({"systemInstruction": {"parts": [{"text": "You are a helpful assistant."}]},
           "contents": [{"role": "user", "parts": [{"text": "Hello there, how are you doing today?"}]}],
           "generationConfig": {"temperature": 0.7}})
}
