//! OpenAI Responses request → OpenAI chat request (the hub), for channels that do not speak
//! Responses themselves.
//!
//! * `instructions` → a leading `system` message; `input` as a string → one user message.
//! * `message` items: roles `user`, `assistant`, `system`, `developer` (→ `system`); parts
//!   `input_text`/`output_text` → text, `input_image` → `image_url`, other parts left out.
//! * `function_call` → an assistant tool call (consecutive calls join one assistant turn);
//!   `function_call_output` → a `tool` message. `custom_tool_call` and its output likewise, the
//!   free-form input carried as `{"input": …}`.
//! * `reasoning` items carry another vendor's encrypted reasoning and are left out; so are
//!   `web_search_call` and other server-side items. `additional_tools` items (Codex's
//!   "responses-lite" bodies) add their tools; `configuration_update` sets the reasoning effort.
//! * Tools: `function` → function; `namespace` → its functions, named `<namespace>__<name>`;
//!   `custom` (free-form) → a function taking one string `input`; `web_search` → the gateway's
//!   web search tool. Any other type (`file_search`, `code_interpreter`, `image_generation`,
//!   `computer_use_preview`, `mcp`, `local_shell`) is reported in `unservable`, so routing can
//!   refuse the request with a clear 400 rather than drop it.
//! * `max_output_tokens` → `max_tokens`; `reasoning.effort` → `reasoning_effort`; `text.format`
//!   (JSON schema or JSON object) → `response_format`; `tool_choice`, `parallel_tool_calls`,
//!   `temperature`, `top_p` kept.
//! * `previous_response_id` needs a stored response, which a translated channel does not have:
//!   the request is refused with a 400 that says so.

use serde_json::{json, Map, Value};

use super::tools::{flat_name, CUSTOM_INPUT};
use crate::adapters::raw::RawObject;
use crate::adapters::AdapterError;

/// Translates the client's Responses body.
pub fn to_chat(body: &RawObject) -> Result<RawObject, AdapterError> {
    if body.present("previous_response_id").is_some() {
        return Err(AdapterError::request(
            "`previous_response_id` needs a response stored upstream, and this model's channel does not speak the \
             Responses API: send the whole conversation in `input` (as Codex does with `store: false`)",
        ));
    }
    let mut out = RawObject::default();
    let set = |out: &mut RawObject, key: &str, value: &Value| {
        out.set(key, value).map_err(|e| AdapterError::request(e.to_string()))
    };
    set(&mut out, "model", &body.field::<Value>("model").unwrap_or(Value::Null))?;

    let mut messages: Vec<Value> = Vec::new();
    if let Some(instructions) = body.field::<String>("instructions").filter(|i| !i.is_empty()) {
        messages.push(json!({ "role": "system", "content": instructions }));
    }
    let mut extra_tools = Vec::new();
    let mut effort =
        body.field::<Value>("reasoning").and_then(|r| r.get("effort").and_then(Value::as_str).map(str::to_owned));
    match body.field::<Value>("input") {
        Some(Value::String(text)) => messages.push(json!({ "role": "user", "content": text })),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                convert_item(item, &mut messages, &mut extra_tools, &mut effort)
                    .map_err(|e| AdapterError::request(format!("input[{i}]: {e}")))?;
            }
        }
        Some(Value::Null) | None => {}
        Some(_) => return Err(AdapterError::request("`input` must be a string or a list of items")),
    }
    set(&mut out, "messages", &Value::Array(messages))?;

    if let Some(max) = body.field::<u64>("max_output_tokens") {
        set(&mut out, "max_tokens", &json!(max))?;
    }
    for field in ["temperature", "top_p"] {
        if let Some(value) = body.field::<Value>(field).filter(Value::is_number) {
            set(&mut out, field, &value)?;
        }
    }
    if body.field::<bool>("stream").unwrap_or(false) {
        set(&mut out, "stream", &json!(true))?;
        set(&mut out, "stream_options", &json!({ "include_usage": true }))?;
    }
    let mut tools: Vec<Value> = body.field("tools").unwrap_or_default();
    tools.extend(extra_tools);
    let converted = convert_tools(&tools);
    if !converted.is_empty() {
        set(&mut out, "tools", &Value::Array(converted))?;
        if let Some(choice) = body.field::<Value>("tool_choice").and_then(|c| tool_choice(&c)) {
            set(&mut out, "tool_choice", &choice)?;
        }
        if let Some(parallel) = body.field::<bool>("parallel_tool_calls") {
            set(&mut out, "parallel_tool_calls", &json!(parallel))?;
        }
    }
    match effort.as_deref() {
        Some("none") | None => {}
        Some("minimal") => set(&mut out, "reasoning_effort", &json!("low"))?,
        Some(other) => set(&mut out, "reasoning_effort", &json!(other))?,
    }
    if let Some(format) = body.field::<Value>("text").and_then(|t| t.get("format").cloned()) {
        match format.get("type").and_then(Value::as_str) {
            Some("json_schema") => {
                let mut schema = Map::new();
                schema.insert("name".into(), format.get("name").cloned().unwrap_or_else(|| json!("response")));
                for key in ["schema", "strict", "description"] {
                    if let Some(v) = format.get(key) {
                        schema.insert(key.into(), v.clone());
                    }
                }
                set(&mut out, "response_format", &json!({ "type": "json_schema", "json_schema": schema }))?;
            }
            Some("json_object") => set(&mut out, "response_format", &json!({ "type": "json_object" }))?,
            _ => {}
        }
    }
    Ok(out)
}

fn convert_item(
    item: &Value,
    out: &mut Vec<Value>,
    extra_tools: &mut Vec<Value>,
    effort: &mut Option<String>,
) -> Result<(), String> {
    let kind = item.get("type").and_then(Value::as_str).unwrap_or("message");
    match kind {
        "message" => {
            let role = match item.get("role").and_then(Value::as_str).ok_or("a message needs a `role`")? {
                "developer" | "system" => "system",
                "user" => "user",
                "assistant" => "assistant",
                other => return Err(format!("unknown role `{other}`")),
            };
            let content = message_content(item.get("content").unwrap_or(&Value::Null), role)?;
            if content.as_str().is_some_and(str::is_empty) {
                return Ok(());
            }
            out.push(json!({ "role": role, "content": content }));
        }
        "function_call" | "custom_tool_call" => {
            let call_id = item.get("call_id").and_then(Value::as_str).ok_or("a tool call needs a `call_id`")?;
            let name = item.get("name").and_then(Value::as_str).ok_or("a tool call needs a `name`")?;
            let (name, arguments) = if kind == "custom_tool_call" {
                let input = item.get("input").and_then(Value::as_str).unwrap_or("");
                (name.to_owned(), json!({ CUSTOM_INPUT: input }).to_string())
            } else {
                let namespace = item.get("namespace").and_then(Value::as_str);
                let arguments = item.get("arguments").and_then(Value::as_str).unwrap_or("{}").to_owned();
                (flat_name(namespace, name), arguments)
            };
            let call =
                json!({ "id": call_id, "type": "function", "function": { "name": name, "arguments": arguments } });
            match out.last_mut() {
                Some(last) if last["role"] == "assistant" => {
                    if !last.get("tool_calls").is_some_and(Value::is_array) {
                        last["tool_calls"] = json!([]);
                    }
                    if let Some(calls) = last["tool_calls"].as_array_mut() {
                        calls.push(call);
                    }
                }
                _ => out.push(json!({ "role": "assistant", "content": null, "tool_calls": [call] })),
            }
        }
        "function_call_output" | "custom_tool_call_output" => {
            let call_id = item.get("call_id").and_then(Value::as_str).ok_or("a tool output needs a `call_id`")?;
            let output = match item.get("output") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(parts)) => {
                    parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("\n")
                }
                Some(other) => other.to_string(),
                None => String::new(),
            };
            out.push(json!({ "role": "tool", "tool_call_id": call_id, "content": output }));
        }
        "additional_tools" => {
            extra_tools.extend(item.get("tools").and_then(Value::as_array).cloned().unwrap_or_default())
        }
        "configuration_update" => {
            if let Some(e) = item.get("reasoning").and_then(|r| r.get("effort")).and_then(Value::as_str) {
                *effort = Some(e.to_owned());
            }
        }
        "item_reference" => {
            return Err("`item_reference` needs items stored upstream; send the items themselves".into())
        }
        // Reasoning, server-side tool calls, compaction markers: nothing another vendor can use.
        _ => {}
    }
    Ok(())
}

/// A message's content: one string when it is only text, else chat parts.
fn message_content(content: &Value, role: &str) -> Result<Value, String> {
    let parts = match content {
        Value::String(text) => return Ok(json!(text)),
        Value::Array(parts) => parts,
        Value::Null => return Ok(json!("")),
        _ => return Err("`content` must be a string or a list of parts".into()),
    };
    let mut out = Vec::new();
    for part in parts {
        match part.get("type").and_then(Value::as_str).unwrap_or("") {
            "input_text" | "output_text" | "text" | "summary_text" => {
                if let Some(text) = part.get("text").and_then(Value::as_str) {
                    out.push(json!({ "type": "text", "text": text }));
                }
            }
            "refusal" => {
                if let Some(text) = part.get("refusal").and_then(Value::as_str) {
                    out.push(json!({ "type": "text", "text": text }));
                }
            }
            "input_image" if role == "user" => {
                let url =
                    part.get("image_url").and_then(Value::as_str).ok_or("an `input_image` needs an `image_url`")?;
                out.push(json!({ "type": "image_url", "image_url": { "url": url } }));
            }
            _ => {}
        }
    }
    if out.iter().all(|p| p["type"] == "text") {
        let text: Vec<&str> = out.iter().filter_map(|p| p["text"].as_str()).collect();
        return Ok(json!(text.join("\n\n")));
    }
    Ok(Value::Array(out))
}

fn convert_tools(tools: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for tool in tools {
        match tool.get("type").and_then(Value::as_str).unwrap_or("function") {
            "function" => out.extend(function(tool, None)),
            "namespace" => {
                let namespace = tool.get("name").and_then(Value::as_str);
                for inner in tool.get("tools").and_then(Value::as_array).into_iter().flatten() {
                    out.extend(function(inner, namespace));
                }
            }
            "custom" => {
                let Some(name) = tool.get("name").and_then(Value::as_str) else { continue };
                let mut description = tool.get("description").and_then(Value::as_str).unwrap_or("").to_owned();
                if let Some(definition) = tool.get("format").and_then(|f| f.get("definition")).and_then(Value::as_str) {
                    description.push_str("\n\nThe input follows this grammar:\n");
                    description.push_str(definition);
                }
                out.push(json!({ "type": "function", "function": {
                    "name": name, "description": description,
                    "parameters": { "type": "object", "properties": { CUSTOM_INPUT: { "type": "string" } }, "required": [CUSTOM_INPUT] },
                }}));
            }
            kind if kind.starts_with("web_search") => out.push(json!({ "type": "web_search" })),
            _ => {}
        }
    }
    out
}

fn function(tool: &Value, namespace: Option<&str>) -> Option<Value> {
    if tool.get("type").and_then(Value::as_str).is_some_and(|t| t != "function") {
        return None;
    }
    let name = tool.get("name").and_then(Value::as_str)?;
    let mut function = Map::new();
    function.insert("name".into(), json!(flat_name(namespace, name)));
    if let Some(description) = tool.get("description").and_then(Value::as_str) {
        function.insert("description".into(), json!(description));
    }
    let parameters = tool.get("parameters").cloned().unwrap_or_else(|| json!({ "type": "object", "properties": {} }));
    function.insert("parameters".into(), parameters);
    Some(json!({ "type": "function", "function": function }))
}

fn tool_choice(choice: &Value) -> Option<Value> {
    match choice {
        Value::String(s) if matches!(s.as_str(), "auto" | "none" | "required") => Some(choice.clone()),
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => {
            Some(json!({ "type": "function", "function": { "name": o.get("name")? } }))
        }
        _ => None,
    }
}

/// Whether a tool type can be translated for another vendor (the others run only on a
/// Responses upstream).
pub fn is_translatable_tool(kind: &str) -> bool {
    matches!(kind, "function" | "namespace" | "custom") || kind.starts_with("web_search")
}

/// The first tool type of the request that only a Responses upstream can run.
pub fn unservable_tool(body: &RawObject) -> Option<String> {
    let tools: Vec<Value> = body.field("tools").unwrap_or_default();
    tools
        .iter()
        .map(|tool| tool.get("type").and_then(Value::as_str).unwrap_or("function"))
        .find_map(|kind| (!is_translatable_tool(kind)).then(|| kind.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translate(body: Value) -> Value {
        let raw = RawObject::parse(body.to_string().as_bytes()).unwrap();
        serde_json::from_slice(&to_chat(&raw).unwrap().to_vec()).unwrap()
    }

    #[test]
    fn codex_shapes_translate() {
        let out = translate(json!({
            "model": "m", "stream": true, "store": false, "include": ["reasoning.encrypted_content"],
            "prompt_cache_key": "k", "reasoning": {"summary": "auto", "effort": "high"}, "tool_choice": "auto", "parallel_tool_calls": true,
            "input": [
                {"type": "message", "id": "msg_1", "role": "developer", "content": [{"type": "input_text", "text": "rules"}]},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
                {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "xyz"},
                {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "exec_command", "arguments": "{\"cmd\":\"ls\"}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "a.txt"},
                {"type": "function_call", "call_id": "call_2", "namespace": "multi_agent_v1", "name": "close_agent", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "call_2", "output": "ok"}
            ],
            "tools": [
                {"type": "function", "name": "exec_command", "description": "run", "strict": false, "parameters": {"type": "object"}},
                {"type": "namespace", "name": "multi_agent_v1", "tools": [{"type": "function", "name": "close_agent", "parameters": {"type": "object"}}]},
                {"type": "web_search", "external_web_access": false}
            ]
        }));
        assert_eq!(
            out["messages"],
            json!([
                {"role": "system", "content": "rules"},
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "exec_command", "arguments": "{\"cmd\":\"ls\"}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "a.txt"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_2", "type": "function", "function": {"name": "multi_agent_v1__close_agent", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "call_2", "content": "ok"}
            ])
        );
        let names: Vec<&str> = out["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["function"]["name"].as_str().unwrap_or("web_search"))
            .collect();
        assert_eq!(names, ["exec_command", "multi_agent_v1__close_agent", "web_search"]);
        assert_eq!(out["reasoning_effort"], "high");
        assert_eq!(out["stream_options"], json!({"include_usage": true}));
        for dropped in ["store", "include", "prompt_cache_key", "reasoning"] {
            assert!(out.get(dropped).is_none(), "{dropped}");
        }
    }

    #[test]
    fn previous_response_ids_and_unknown_tools_are_refused() {
        let raw = RawObject::parse(br#"{"model":"m","input":"hi","previous_response_id":"resp_1"}"#).unwrap();
        assert!(matches!(to_chat(&raw), Err(AdapterError::Request(m)) if m.contains("previous_response_id")));
        let raw = RawObject::parse(br#"{"model":"m","input":"hi","tools":[{"type":"file_search"}]}"#).unwrap();
        assert_eq!(unservable_tool(&raw).as_deref(), Some("file_search"));
        let out = translate(
            json!({"model": "m", "instructions": "be brief", "input": "hi", "text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}, "strict": true}}}),
        );
        assert_eq!(
            out["messages"],
            json!([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}])
        );
        assert_eq!(
            out["response_format"],
            json!({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}, "strict": true}})
        );
    }
}
