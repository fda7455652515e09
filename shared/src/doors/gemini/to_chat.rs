//! Gemini `GenerateContentRequest` → OpenAI chat request (the hub), for channels of another
//! vendor.
//!
//! * `systemInstruction` (parts or a string) → a leading `system` message.
//! * `contents`: role `user` → user messages (text, `inlineData` and `fileData` images; other
//!   media left out), `functionResponse` parts → `tool` messages; role `model` → assistant
//!   text and `functionCall` parts → tool calls. Thought parts and `thoughtSignature`s belong to
//!   Gemini and are left out. A call's id is its own `id`, else `call_<name>_<n>`, and a
//!   response without an id answers the oldest open call of its name.
//! * Tools: `functionDeclarations` → functions (`parametersJsonSchema` as is, `parameters` in
//!   Gemini's schema with its types lower-cased); `googleSearch` → the gateway's web search
//!   tool; `codeExecution` and other built-in tools are reported by `unservable_tool`.
//! * `toolConfig.functionCallingConfig`: `AUTO` → `auto`, `ANY` → `required` (or the one allowed
//!   function), `NONE` → `none`.
//! * `generationConfig`: `temperature`, `topP`, `maxOutputTokens` → `max_tokens`,
//!   `stopSequences` → `stop`, `responseMimeType: application/json` with `responseJsonSchema` or
//!   `responseSchema` → `response_format`; `thinkingConfig` → `reasoning_effort` when
//!   `keep_reasoning` (budget ≤ 1024 `low`, ≤ 8192 or dynamic `medium`, above `high`; 0 none);
//!   `topK`, `candidateCount`, `safetySettings`, `cachedContent` dropped.

use std::collections::{HashMap, VecDeque};

use serde_json::{json, Map, Value};

use crate::adapters::raw::RawObject;
use crate::adapters::AdapterError;

pub fn to_chat(body: &RawObject, keep_reasoning: bool) -> Result<RawObject, AdapterError> {
    // A `countTokens` body may wrap the request.
    let inner;
    let body = match body.get("generateContentRequest") {
        Some(wrapped) => {
            inner = RawObject::parse(wrapped.get().as_bytes()).map_err(|e| AdapterError::request(e.to_string()))?;
            &inner
        }
        None => body,
    };
    let mut out = RawObject::default();
    let set = |out: &mut RawObject, key: &str, value: &Value| {
        out.set(key, value).map_err(|e| AdapterError::request(e.to_string()))
    };
    // No `model`: every adapter names the upstream model itself.
    let mut messages = Vec::new();
    if let Some(system) = body.field::<Value>("systemInstruction").or_else(|| body.field("system_instruction")) {
        let text = match &system {
            Value::String(s) => s.clone(),
            other => parts_text(other.get("parts").unwrap_or(&Value::Null)),
        };
        if !text.is_empty() {
            messages.push(json!({ "role": "system", "content": text }));
        }
    }
    let contents: Vec<Value> = match body.field::<Value>("contents") {
        Some(Value::Array(contents)) => contents,
        Some(Value::Object(one)) => vec![Value::Object(one)],
        None => Vec::new(),
        Some(_) => return Err(AdapterError::request("`contents` must be a list of contents")),
    };
    let mut calls = Calls::default();
    for (i, content) in contents.iter().enumerate() {
        convert_content(content, &mut messages, &mut calls)
            .map_err(|e| AdapterError::request(format!("contents[{i}]: {e}")))?;
    }
    set(&mut out, "messages", &Value::Array(messages))?;

    let config = body.field::<Value>("generationConfig").unwrap_or(Value::Null);
    for (from, to) in [("temperature", "temperature"), ("topP", "top_p"), ("maxOutputTokens", "max_tokens")] {
        if let Some(value) = config.get(from).filter(|v| v.is_number()) {
            set(&mut out, to, value)?;
        }
    }
    if let Some(stops) = config.get("stopSequences").filter(|s| s.as_array().is_some_and(|a| !a.is_empty())) {
        set(&mut out, "stop", stops)?;
    }
    if config.get("responseMimeType").and_then(Value::as_str) == Some("application/json") {
        let schema = config
            .get("responseJsonSchema")
            .or_else(|| config.get("response_json_schema"))
            .cloned()
            .or_else(|| config.get("responseSchema").map(json_schema));
        let format = match schema {
            Some(schema) => json!({ "type": "json_schema", "json_schema": { "name": "response", "schema": schema } }),
            None => json!({ "type": "json_object" }),
        };
        set(&mut out, "response_format", &format)?;
    }
    if keep_reasoning {
        if let Some(effort) = config.get("thinkingConfig").and_then(reasoning_effort) {
            set(&mut out, "reasoning_effort", &json!(effort))?;
        }
    }
    let tools = convert_tools(&body.field::<Vec<Value>>("tools").unwrap_or_default());
    if !tools.is_empty() {
        set(&mut out, "tools", &Value::Array(tools))?;
        if let Some(choice) = body.field::<Value>("toolConfig").and_then(|c| tool_choice(&c)) {
            set(&mut out, "tool_choice", &choice)?;
        }
    }
    Ok(out)
}

/// Call ids by function name, for responses that name no id.
#[derive(Default)]
struct Calls {
    open: HashMap<String, VecDeque<String>>,
    made: usize,
}

fn parts_text(parts: &Value) -> String {
    parts
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p.get("thought").and_then(Value::as_bool) != Some(true))
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join("")
}

fn convert_content(content: &Value, out: &mut Vec<Value>, calls: &mut Calls) -> Result<(), String> {
    let parts = content.get("parts").and_then(Value::as_array).cloned().unwrap_or_default();
    match content.get("role").and_then(Value::as_str).unwrap_or("user") {
        "model" => {
            let text = parts_text(&Value::Array(parts.clone()));
            let mut tool_calls = Vec::new();
            for part in &parts {
                let Some(call) = part.get("functionCall").or_else(|| part.get("function_call")) else { continue };
                let name = call.get("name").and_then(Value::as_str).ok_or("a `functionCall` needs a `name`")?;
                let id = match call.get("id").and_then(Value::as_str) {
                    Some(id) if !id.is_empty() => id.to_owned(),
                    _ => {
                        calls.made += 1;
                        format!("call_{name}_{}", calls.made)
                    }
                };
                calls.open.entry(name.to_owned()).or_default().push_back(id.clone());
                let args = call.get("args").cloned().unwrap_or_else(|| json!({}));
                tool_calls.push(json!({ "id": id, "type": "function", "function": { "name": name, "arguments": args.to_string() } }));
            }
            if text.is_empty() && tool_calls.is_empty() {
                return Ok(());
            }
            let mut message =
                json!({ "role": "assistant", "content": if text.is_empty() { Value::Null } else { json!(text) } });
            if !tool_calls.is_empty() {
                message["tool_calls"] = Value::Array(tool_calls);
            }
            out.push(message);
        }
        "user" | "function" | "tool" => {
            let mut user = Vec::new();
            for part in &parts {
                if let Some(response) = part.get("functionResponse").or_else(|| part.get("function_response")) {
                    let name = response.get("name").and_then(Value::as_str).unwrap_or_default();
                    let queued = calls.open.get_mut(name);
                    let id = match response.get("id").and_then(Value::as_str) {
                        Some(id) if !id.is_empty() => {
                            if let Some(queue) = queued {
                                queue.retain(|open| open != id);
                            }
                            id.to_owned()
                        }
                        _ => queued.and_then(VecDeque::pop_front).unwrap_or_else(|| format!("call_{name}")),
                    };
                    let result = response.get("response").cloned().unwrap_or(Value::Null);
                    let text = match &result {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    out.push(json!({ "role": "tool", "tool_call_id": id, "content": text }));
                } else if let Some(text) = part.get("text").and_then(Value::as_str) {
                    if part.get("thought").and_then(Value::as_bool) != Some(true) && !text.is_empty() {
                        user.push(json!({ "type": "text", "text": text }));
                    }
                } else if let Some(url) = image_url(part) {
                    user.push(json!({ "type": "image_url", "image_url": { "url": url } }));
                }
            }
            if user.is_empty() {
                return Ok(());
            }
            let content = if user.iter().all(|p| p["type"] == "text") {
                json!(user.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join("\n\n"))
            } else {
                Value::Array(user)
            };
            out.push(json!({ "role": "user", "content": content }));
        }
        other => return Err(format!("unknown role `{other}`")),
    }
    Ok(())
}

/// An image part as a URL: inline data as a data URL, a file by its URI.
fn image_url(part: &Value) -> Option<String> {
    if let Some(data) = part.get("inlineData").or_else(|| part.get("inline_data")) {
        let mime = data.get("mimeType").or_else(|| data.get("mime_type")).and_then(Value::as_str)?;
        if mime.starts_with("image/") {
            return Some(format!("data:{mime};base64,{}", data.get("data")?.as_str()?));
        }
        return None;
    }
    let file = part.get("fileData").or_else(|| part.get("file_data"))?;
    let mime = file.get("mimeType").or_else(|| file.get("mime_type")).and_then(Value::as_str).unwrap_or("image/");
    mime.starts_with("image/")
        .then(|| file.get("fileUri").or_else(|| file.get("file_uri"))?.as_str().map(str::to_owned))?
}

fn convert_tools(tools: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for tool in tools {
        let declarations = tool.get("functionDeclarations").or_else(|| tool.get("function_declarations"));
        for declaration in declarations.and_then(Value::as_array).into_iter().flatten() {
            let Some(name) = declaration.get("name").and_then(Value::as_str) else { continue };
            let mut function = Map::new();
            function.insert("name".into(), json!(name));
            if let Some(description) = declaration.get("description").and_then(Value::as_str) {
                function.insert("description".into(), json!(description));
            }
            let parameters = declaration
                .get("parametersJsonSchema")
                .or_else(|| declaration.get("parameters_json_schema"))
                .cloned()
                .or_else(|| declaration.get("parameters").map(json_schema))
                .unwrap_or_else(|| json!({ "type": "object", "properties": {} }));
            function.insert("parameters".into(), parameters);
            out.push(json!({ "type": "function", "function": function }));
        }
        if tool.get("googleSearch").or_else(|| tool.get("google_search")).is_some() {
            out.push(json!({ "type": "web_search" }));
        }
    }
    out
}

/// Built-in Gemini tools another vendor cannot run.
pub fn unservable_tool(body: &RawObject) -> Option<String> {
    let tools: Vec<Value> = body.field("tools").unwrap_or_default();
    tools.iter().find_map(|tool| {
        let object = tool.as_object()?;
        object
            .keys()
            .find(|k| {
                !matches!(
                    k.as_str(),
                    "functionDeclarations" | "function_declarations" | "googleSearch" | "google_search"
                )
            })
            .cloned()
    })
}

/// Gemini's schema (OpenAPI 3 subset, upper-case types) as JSON Schema.
pub(crate) fn json_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                let converted = match key.as_str() {
                    "type" => json!(value.as_str().map(str::to_ascii_lowercase).unwrap_or_default()),
                    "properties" => match value {
                        Value::Object(props) => {
                            Value::Object(props.iter().map(|(name, s)| (name.clone(), json_schema(s))).collect())
                        }
                        other => other.clone(),
                    },
                    "nullable" | "propertyOrdering" => continue,
                    _ => json_schema(value),
                };
                out.insert(key.clone(), converted);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(json_schema).collect()),
        other => other.clone(),
    }
}

fn reasoning_effort(thinking: &Value) -> Option<&'static str> {
    if let Some(level) = thinking.get("thinkingLevel").and_then(Value::as_str) {
        return Some(match level.to_ascii_uppercase().as_str() {
            "MINIMAL" | "LOW" => "low",
            "HIGH" => "high",
            _ => "medium",
        });
    }
    match thinking.get("thinkingBudget").and_then(Value::as_i64)? {
        0 => None,
        ..0 => Some("medium"),
        1..=1024 => Some("low"),
        1025..=8192 => Some("medium"),
        _ => Some("high"),
    }
}

fn tool_choice(config: &Value) -> Option<Value> {
    let calling = config.get("functionCallingConfig").or_else(|| config.get("function_calling_config"))?;
    let allowed = calling.get("allowedFunctionNames").and_then(Value::as_array);
    Some(match calling.get("mode").and_then(Value::as_str)? {
        "AUTO" | "VALIDATED" => json!("auto"),
        "NONE" => json!("none"),
        "ANY" => match allowed.filter(|a| a.len() == 1) {
            Some(one) => json!({ "type": "function", "function": { "name": one[0] } }),
            None => json!("required"),
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemini_cli_shapes_translate() {
        let body = RawObject::parse(
            json!({
                "contents": [
                    {"role": "user", "parts": [{"text": "<session_context>"}, {"text": "read it"}]},
                    {"role": "model", "parts": [{"functionCall": {"id": "read_file_1_0", "name": "read_file", "args": {"path": "a"}}, "thoughtSignature": "skip_thought_signature_validator"}]},
                    {"role": "user", "parts": [{"functionResponse": {"id": "read_file_1_0", "name": "read_file", "response": {"output": "hi"}}}]}
                ],
                "systemInstruction": {"parts": [{"text": "You are Gemini CLI."}]},
                "tools": [{"functionDeclarations": [
                    {"name": "read_file", "description": "read", "parametersJsonSchema": {"type": "object", "properties": {"path": {"type": "string"}}}},
                    {"name": "old", "parameters": {"type": "OBJECT", "properties": {"n": {"type": "INTEGER", "nullable": true}}}}
                ]}],
                "generationConfig": {"temperature": 1, "topP": 0.95, "topK": 64, "thinkingConfig": {"includeThoughts": true, "thinkingBudget": 8192}}
            })
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        let out: Value = serde_json::from_slice(&to_chat(&body, true).unwrap().to_vec()).unwrap();
        assert_eq!(
            out["messages"],
            json!([
                {"role": "system", "content": "You are Gemini CLI."},
                {"role": "user", "content": "<session_context>\n\nread it"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "read_file_1_0", "type": "function", "function": {"name": "read_file", "arguments": "{\"path\":\"a\"}"}}]},
                {"role": "tool", "tool_call_id": "read_file_1_0", "content": "{\"output\":\"hi\"}"}
            ])
        );
        assert_eq!(
            out["tools"][1]["function"]["parameters"],
            json!({"type": "object", "properties": {"n": {"type": "integer"}}})
        );
        assert_eq!(out["reasoning_effort"], "medium");
        assert_eq!((out["temperature"].as_f64(), out["top_p"].as_f64()), (Some(1.0), Some(0.95)));
        assert!(out.get("top_k").is_none());
    }

    #[test]
    fn responses_without_ids_answer_the_oldest_call_of_their_name() {
        let body = RawObject::parse(
            br#"{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f","args":{}}},{"functionCall":{"name":"f","args":{"x":1}}}]},{"role":"user","parts":[{"functionResponse":{"name":"f","response":{"a":1}}},{"functionResponse":{"name":"f","response":{"a":2}}}]}]}"#,
        )
        .unwrap();
        let out: Value = serde_json::from_slice(&to_chat(&body, false).unwrap().to_vec()).unwrap();
        let ids: Vec<&str> =
            out["messages"][0]["tool_calls"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert_eq!(out["messages"][1]["tool_call_id"], ids[0]);
        assert_eq!(out["messages"][2]["tool_call_id"], ids[1]);
    }
}
