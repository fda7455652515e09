//! Anthropic Messages request → OpenAI chat request (the hub), for channels of another vendor.
//!
//! * `system` (a string or text blocks) → a leading `system` message; a `role: "system"` turn
//!   inside `messages` (Claude Code sends one) stays a `system` message at its place.
//! * User turns: `tool_result` blocks → `tool` messages (first, as OpenAI wants them right after
//!   the assistant's calls); text, images (base64 → data URL, url → URL) and text documents → one
//!   user message. Text-only turns become one string.
//! * Assistant turns: text → `content`, `tool_use` → `tool_calls`. Thinking blocks carry another
//!   vendor's signature and are left out.
//! * Tools: custom tools → functions (`input_schema` → `parameters`; `cache_control`,
//!   `defer_loading` and other Anthropic-only keys dropped); `web_search_*` → the gateway's
//!   `web_search` tool (served as Gemini's Google Search or Claude's web search); other
//!   Anthropic-defined tools (`bash_*`, `text_editor_*`, `computer_*`, …) are left out.
//! * `tool_choice` → `auto` / `required` / `none` / a named function;
//!   `disable_parallel_tool_use` → `parallel_tool_calls: false`.
//! * `max_tokens` up to 16,384 is kept; a larger value (agents send the Claude model's ceiling,
//!   e.g. 32,000 or 128,000) is left out so the upstream uses its own maximum instead of
//!   refusing the request. `stop_sequences` → `stop`; `temperature`, `top_p` kept; `top_k`,
//!   `metadata`, `cache_control`, `context_management`, `service_tier` dropped.
//! * `thinking` / `output_config.effort` → `reasoning_effort`, only when `keep_reasoning` (the
//!   channel's dialect maps it to its own thinking settings).

use serde_json::{json, Map, Value};

use crate::adapters::raw::RawObject;
use crate::adapters::AdapterError;

/// The largest `max_tokens` passed to another vendor (see the module doc).
pub const MAX_FORWARDED_MAX_TOKENS: u64 = 16_384;

/// Translates the client's Messages body.
pub fn to_chat(body: &RawObject, keep_reasoning: bool) -> Result<RawObject, AdapterError> {
    let mut out = RawObject::default();
    let set = |out: &mut RawObject, key: &str, value: &Value| {
        out.set(key, value).map_err(|e| AdapterError::request(e.to_string()))
    };
    set(&mut out, "model", &body.field::<Value>("model").unwrap_or(Value::Null))?;

    let mut messages = Vec::new();
    if let Some(system) = body.field::<Value>("system") {
        let text = text_of(&system);
        if !text.is_empty() {
            messages.push(json!({ "role": "system", "content": text }));
        }
    }
    let turns: Vec<Value> = match body.field::<Value>("messages") {
        Some(Value::Array(turns)) => turns,
        _ => return Err(AdapterError::request("`messages` must be a list of messages")),
    };
    for (i, turn) in turns.iter().enumerate() {
        convert_turn(turn, &mut messages).map_err(|e| AdapterError::request(format!("messages[{i}]: {e}")))?;
    }
    set(&mut out, "messages", &Value::Array(messages))?;

    if let Some(max) = body.field::<u64>("max_tokens").filter(|m| *m <= MAX_FORWARDED_MAX_TOKENS) {
        set(&mut out, "max_tokens", &json!(max))?;
    }
    for field in ["temperature", "top_p"] {
        if let Some(value) = body.field::<Value>(field).filter(Value::is_number) {
            set(&mut out, field, &value)?;
        }
    }
    if let Some(stops) = body.field::<Vec<String>>("stop_sequences").filter(|s| !s.is_empty()) {
        set(&mut out, "stop", &json!(stops))?;
    }
    if body.field::<bool>("stream").unwrap_or(false) {
        set(&mut out, "stream", &json!(true))?;
        set(&mut out, "stream_options", &json!({ "include_usage": true }))?;
    }

    let tools: Vec<Value> = body.field::<Vec<Value>>("tools").unwrap_or_default();
    let converted: Vec<Value> = tools.iter().filter_map(convert_tool).collect();
    if !converted.is_empty() {
        set(&mut out, "tools", &Value::Array(converted))?;
        if let Some(choice) = body.field::<Value>("tool_choice") {
            if let Some(mapped) = tool_choice(&choice) {
                set(&mut out, "tool_choice", &mapped)?;
            }
            if choice.get("disable_parallel_tool_use").and_then(Value::as_bool) == Some(true) {
                set(&mut out, "parallel_tool_calls", &json!(false))?;
            }
        }
    }
    if keep_reasoning {
        if let Some(effort) = reasoning_effort(body) {
            set(&mut out, "reasoning_effort", &json!(effort))?;
        }
    }
    Ok(out)
}

/// The text of a string or of a list of blocks (text blocks joined by blank lines).
fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str).is_none_or(|t| t == "text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n\n"),
        _ => String::new(),
    }
}

fn blocks_of(content: &Value) -> Result<Vec<Value>, String> {
    match content {
        Value::String(text) => Ok(vec![json!({ "type": "text", "text": text })]),
        Value::Array(blocks) => Ok(blocks.clone()),
        Value::Null => Ok(Vec::new()),
        _ => Err("`content` must be a string or a list of blocks".into()),
    }
}

fn convert_turn(turn: &Value, out: &mut Vec<Value>) -> Result<(), String> {
    let role = turn.get("role").and_then(Value::as_str).ok_or("`role` is required")?;
    let blocks = blocks_of(turn.get("content").unwrap_or(&Value::Null))?;
    match role {
        "system" => {
            let text = text_of(&Value::Array(blocks));
            if !text.is_empty() {
                out.push(json!({ "role": "system", "content": text }));
            }
        }
        "user" => {
            let mut parts = Vec::new();
            for block in &blocks {
                match block.get("type").and_then(Value::as_str).unwrap_or("text") {
                    "tool_result" => out.push(tool_result(block)?),
                    "text" => {
                        if let Some(text) = block.get("text").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                            parts.push(json!({ "type": "text", "text": text }));
                        }
                    }
                    "image" => parts.extend(image_part(block)),
                    "document" => parts.extend(document_part(block)),
                    // Thinking, server-tool results and other Anthropic-only blocks have no
                    // counterpart in another vendor's request.
                    _ => {}
                }
            }
            if !parts.is_empty() {
                out.push(json!({ "role": "user", "content": simplify(parts) }));
            }
        }
        "assistant" => {
            let mut text = Vec::new();
            let mut calls = Vec::new();
            for block in &blocks {
                match block.get("type").and_then(Value::as_str).unwrap_or("text") {
                    "text" => text.extend(block.get("text").and_then(Value::as_str).map(str::to_owned)),
                    "tool_use" => {
                        let id = block.get("id").and_then(Value::as_str).ok_or("a `tool_use` block needs an `id`")?;
                        let name =
                            block.get("name").and_then(Value::as_str).ok_or("a `tool_use` block needs a `name`")?;
                        let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
                        calls.push(json!({
                            "id": id, "type": "function",
                            "function": { "name": name, "arguments": input.to_string() },
                        }));
                    }
                    _ => {}
                }
            }
            let text = text.join("");
            if text.is_empty() && calls.is_empty() {
                return Ok(());
            }
            let mut message =
                json!({ "role": "assistant", "content": if text.is_empty() { Value::Null } else { json!(text) } });
            if !calls.is_empty() {
                message["tool_calls"] = Value::Array(calls);
            }
            out.push(message);
        }
        other => return Err(format!("unknown role `{other}`")),
    }
    Ok(())
}

fn tool_result(block: &Value) -> Result<Value, String> {
    let id = block.get("tool_use_id").and_then(Value::as_str).ok_or("a `tool_result` block needs a `tool_use_id`")?;
    let content = match block.get("content") {
        Some(content) => text_of(content),
        None => String::new(),
    };
    Ok(json!({ "role": "tool", "tool_call_id": id, "content": content }))
}

fn image_part(block: &Value) -> Option<Value> {
    let source = block.get("source")?;
    let url = match source.get("type").and_then(Value::as_str)? {
        "base64" => {
            let media = source.get("media_type").and_then(Value::as_str)?;
            let data = source.get("data").and_then(Value::as_str)?;
            format!("data:{media};base64,{data}")
        }
        "url" => source.get("url").and_then(Value::as_str)?.to_owned(),
        _ => return None,
    };
    Some(json!({ "type": "image_url", "image_url": { "url": url } }))
}

/// Text documents become text; PDFs and files by reference have no portable form.
fn document_part(block: &Value) -> Option<Value> {
    let source = block.get("source")?;
    match source.get("type").and_then(Value::as_str)? {
        "text" => Some(json!({ "type": "text", "text": source.get("data").and_then(Value::as_str)? })),
        "content" => Some(json!({ "type": "text", "text": text_of(source.get("content")?) })),
        _ => None,
    }
}

/// One text part is sent as a plain string, as every OpenAI-compatible server accepts.
fn simplify(parts: Vec<Value>) -> Value {
    if parts.iter().all(|p| p["type"] == "text") {
        let texts: Vec<&str> = parts.iter().filter_map(|p| p["text"].as_str()).collect();
        json!(texts.join("\n\n"))
    } else {
        Value::Array(parts)
    }
}

fn convert_tool(tool: &Value) -> Option<Value> {
    let kind = tool.get("type").and_then(Value::as_str).unwrap_or("custom");
    if kind.starts_with("web_search") {
        return Some(json!({ "type": "web_search" }));
    }
    if kind != "custom" {
        return None;
    }
    let name = tool.get("name").and_then(Value::as_str)?;
    let mut function = Map::new();
    function.insert("name".into(), json!(name));
    if let Some(description) = tool.get("description").and_then(Value::as_str) {
        function.insert("description".into(), json!(description));
    }
    let parameters = tool.get("input_schema").cloned().unwrap_or_else(|| json!({ "type": "object", "properties": {} }));
    function.insert("parameters".into(), parameters);
    Some(json!({ "type": "function", "function": function }))
}

fn tool_choice(choice: &Value) -> Option<Value> {
    Some(match choice.get("type").and_then(Value::as_str)? {
        "auto" => json!("auto"),
        "any" => json!("required"),
        "none" => json!("none"),
        "tool" => json!({ "type": "function", "function": { "name": choice.get("name")?.as_str()? } }),
        _ => return None,
    })
}

/// `thinking` (a budget, or adaptive with `output_config.effort`) as an OpenAI effort level.
fn reasoning_effort(body: &RawObject) -> Option<&'static str> {
    let effort =
        body.field::<Value>("output_config").and_then(|c| c.get("effort").and_then(Value::as_str).map(str::to_owned));
    let from_effort = |e: &str| match e {
        "low" => "low",
        "high" | "max" => "high",
        _ => "medium",
    };
    match body.field::<Value>("thinking") {
        Some(thinking) => match thinking.get("type").and_then(Value::as_str) {
            Some("enabled") => Some(match thinking.get("budget_tokens").and_then(Value::as_u64).unwrap_or(0) {
                0..4096 => "low",
                4096..16384 => "medium",
                _ => "high",
            }),
            Some("adaptive") => Some(effort.as_deref().map_or("medium", from_effort)),
            _ => None,
        },
        None => effort.as_deref().map(from_effort),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translate(body: Value, keep_reasoning: bool) -> Value {
        let raw = RawObject::parse(body.to_string().as_bytes()).unwrap();
        serde_json::from_slice(&to_chat(&raw, keep_reasoning).unwrap().to_vec()).unwrap()
    }

    #[test]
    fn claude_code_shapes_translate() {
        let out = translate(
            json!({
                "model": "m", "max_tokens": 32000, "stream": true,
                "system": [{"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "b"}],
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "text", "text": "there", "cache_control": {"type": "ephemeral"}}]},
                    {"role": "system", "content": [{"type": "text", "text": "# Environment"}]},
                    {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "s"}, {"type": "text", "text": "ok"}, {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"cmd": "ls"}}]},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "out", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "next"}]}
                ],
                "tools": [{"name": "Bash", "description": "run", "input_schema": {"type": "object"}, "defer_loading": true}, {"type": "bash_20250124", "name": "bash"}],
                "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
                "thinking": {"type": "enabled", "budget_tokens": 31999},
                "metadata": {"user_id": "{\"session_id\":\"x\"}"}
            }),
            true,
        );
        assert_eq!(
            out,
            json!({
                "model": "m",
                "messages": [
                    {"role": "system", "content": "a\n\nb"},
                    {"role": "user", "content": "hi\n\nthere"},
                    {"role": "system", "content": "# Environment"},
                    {"role": "assistant", "content": "ok", "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "Bash", "arguments": "{\"cmd\":\"ls\"}"}}]},
                    {"role": "tool", "tool_call_id": "toolu_1", "content": "out"},
                    {"role": "user", "content": "next"}
                ],
                "stream": true, "stream_options": {"include_usage": true},
                "tools": [{"type": "function", "function": {"name": "Bash", "description": "run", "parameters": {"type": "object"}}}],
                "tool_choice": "auto", "parallel_tool_calls": false,
                "reasoning_effort": "high"
            })
        );
    }

    #[test]
    fn small_budgets_images_and_bad_turns() {
        let out = translate(
            json!({"model": "m", "max_tokens": 100, "messages": [{"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAA"}},
                {"type": "text", "text": "what?"}]}],
                "thinking": {"type": "adaptive"}, "output_config": {"effort": "low"}}),
            false,
        );
        assert_eq!(out["max_tokens"], 100);
        assert_eq!(out["messages"][0]["content"][0]["image_url"]["url"], "data:image/png;base64,AAA");
        assert!(out.get("reasoning_effort").is_none(), "not kept for this dialect");
        let bad = RawObject::parse(br#"{"model":"m","messages":[{"content":"x"}]}"#).unwrap();
        assert_eq!(to_chat(&bad, false).unwrap_err(), AdapterError::request("messages[0]: `role` is required"));
    }
}
