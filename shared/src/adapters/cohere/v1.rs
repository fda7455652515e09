//! Cohere v1 chat (`POST {base}/v1/chat`), as configs written for the original uni-api use it:
//! the last user turn is `message`, earlier turns `chat_history` (`USER`, `CHATBOT`, `TOOL`),
//! system messages the `preamble`; tools are declared with `parameter_definitions` and called
//! by name (v1 has no call ids: the gateway makes them, `call_<n>`). The stream is
//! newline-delimited JSON, one event per line.
//!
//! | Cohere v1 event (`event_type`) | OpenAI output                                        |
//! |--------------------------------|------------------------------------------------------|
//! | `stream-start`                 | a chunk with `delta.role = "assistant"`              |
//! | `text-generation`              | `delta.content`                                      |
//! | `tool-calls-chunk`             | a tool-call header or argument text; its `text`, the plan, as `delta.reasoning_content` |
//! | `tool-calls-generation`        | the whole tool calls, unless already sent in chunks  |
//! | `stream-end`                   | `finish_reason` chunk, usage chunk if asked, end; `ERROR*` reasons: `StreamError::Upstream` |
//! | other events                   | nothing                                              |
//! | EOF before `stream-end`        | `StreamError::Truncated`                             |

use std::collections::HashMap;

use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::{chat_url, finish_reason, usage_of, StreamToOpenAi};
use crate::adapters::raw::RawObject;
use crate::adapters::{bearer, post_json, read_messages, usage_json, AdapterError, Built, ResponseCtx};
use crate::config::{Provider, Secret};
use crate::schema::openai::{Stop, Tool};
use crate::stream::{Flow, StreamError};
use crate::usage::Usage;

pub(super) fn build_request(
    provider: &Provider,
    key: Option<&Secret>,
    body: &RawObject,
    upstream_model: &str,
    stream: bool,
) -> Built {
    let messages = read_messages(body)?;
    // v1 calls tools by name with parsed parameters; results name the call they answer.
    let mut calls: HashMap<&str, (&str, Value)> = HashMap::new();
    let mut preamble = Vec::new();
    let mut history: Vec<Value> = Vec::new();
    for m in &messages {
        let text = m.content.as_ref().map(|c| c.text()).unwrap_or_default();
        match m.role.as_str() {
            "system" | "developer" => preamble.push(text),
            "assistant" => {
                let mut turn = json!({ "role": "CHATBOT", "message": text });
                if let Some(tool_calls) = m.tool_calls.as_ref().filter(|c| !c.is_empty()) {
                    let mut named = Vec::new();
                    for call in tool_calls {
                        let parameters = parameters_of(&call.function.arguments)?;
                        calls.insert(&call.id, (&call.function.name, parameters.clone()));
                        named.push(json!({ "name": call.function.name, "parameters": parameters }));
                    }
                    turn["tool_calls"] = Value::Array(named);
                }
                history.push(turn);
            }
            "tool" => {
                let id = m.tool_call_id.as_deref().unwrap_or_default();
                let (name, parameters) = calls.get(id).cloned().ok_or_else(|| {
                    AdapterError::request(format!(
                        "a tool result answers `{id}`, which no earlier assistant turn called"
                    ))
                })?;
                history.push(json!({
                    "role": "TOOL",
                    "tool_results": [{ "call": { "name": name, "parameters": parameters }, "outputs": [output(&text)] }],
                }));
            }
            _ => history.push(json!({ "role": "USER", "message": text })),
        }
    }
    let mut payload = Map::new();
    payload.insert("model".into(), json!(upstream_model));
    // The conversation's last turn is the request: a user message, or the results of the tools
    // the model called (then `message` is empty).
    match history.last().and_then(|t| t["role"].as_str()) {
        Some("USER") => {
            let last = history.pop().unwrap_or_default();
            payload.insert("message".into(), last["message"].clone());
        }
        Some("TOOL") => {
            let mut results = Vec::new();
            while history.last().is_some_and(|t| t["role"] == "TOOL") {
                let turn = history.pop().unwrap_or_default();
                results.splice(0..0, turn["tool_results"].as_array().cloned().unwrap_or_default());
            }
            payload.insert("message".into(), json!(""));
            payload.insert("tool_results".into(), Value::Array(results));
        }
        _ => return Err(AdapterError::request("Cohere v1 needs the conversation to end with a user or tool message")),
    }
    if !history.is_empty() {
        payload.insert("chat_history".into(), Value::Array(history));
    }
    if !preamble.is_empty() {
        payload.insert("preamble".into(), json!(preamble.join("\n\n")));
    }
    for (from, to) in [
        ("max_tokens", "max_tokens"),
        ("temperature", "temperature"),
        ("top_p", "p"),
        ("top_k", "k"),
        ("seed", "seed"),
        ("frequency_penalty", "frequency_penalty"),
        ("presence_penalty", "presence_penalty"),
    ] {
        if let Some(v) = body.present(from) {
            payload.insert(
                to.into(),
                serde_json::from_str(v.get()).map_err(|e| AdapterError::request(format!("`{from}`: {e}")))?,
            );
        }
    }
    if let Some(stop) = body.field::<Stop>("stop") {
        payload.insert("stop_sequences".into(), json!(stop.into_vec()));
    }
    let tools: Vec<Tool> = body.field("tools").unwrap_or_default();
    let tools: Vec<Value> = tools.iter().filter_map(Tool::as_function).map(tool_definition).collect();
    if !tools.is_empty() {
        payload.insert("tools".into(), Value::Array(tools));
    }
    if stream {
        payload.insert("stream".into(), json!(true));
    }
    post_json(provider, chat_url(&provider.base_url), bearer(key), &Value::Object(payload))
}

/// A tool call's arguments (JSON text) as v1's `parameters` object.
fn parameters_of(arguments: &str) -> Result<Value, AdapterError> {
    if arguments.trim().is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_str(arguments).map_err(|e| AdapterError::request(format!("tool call arguments are not JSON: {e}")))
}

/// A tool's result as a v1 output object (JSON objects as they are, anything else as `result`).
fn output(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(object @ Value::Object(_)) => object,
        _ => json!({ "result": text }),
    }
}

/// An OpenAI function as a v1 tool: its JSON Schema's top-level properties become
/// `parameter_definitions` (v1 takes no nested schemas; nested objects are `Dict`).
fn tool_definition(function: &crate::schema::openai::FunctionDef) -> Value {
    let schema = function.parameters.clone().unwrap_or(json!({}));
    let required: Vec<&str> =
        schema["required"].as_array().map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    let mut definitions = Map::new();
    if let Some(properties) = schema["properties"].as_object() {
        for (name, property) in properties {
            let kind = match property["type"].as_str().unwrap_or("string") {
                "integer" => "int",
                "number" => "float",
                "boolean" => "bool",
                "array" => "List",
                "object" => "Dict",
                _ => "str",
            };
            let mut definition = json!({ "type": kind, "required": required.contains(&name.as_str()) });
            if let Some(description) = property["description"].as_str() {
                definition["description"] = json!(description);
            }
            definitions.insert(name.clone(), definition);
        }
    }
    json!({
        "name": function.name,
        "description": function.description.clone().unwrap_or_default(),
        "parameter_definitions": definitions,
    })
}

/// v1 tool calls (`{name, parameters}`) as OpenAI's, with made-up ids.
fn openai_calls(calls: &[Value]) -> Vec<Value> {
    calls
        .iter()
        .enumerate()
        .map(|(i, call)| {
            json!({
                "index": i, "id": format!("call_{i}"), "type": "function",
                "function": { "name": call["name"], "arguments": call.get("parameters").unwrap_or(&json!({})).to_string() },
            })
        })
        .collect()
}

pub(super) fn parse_response(value: &Value, ctx: &ResponseCtx) -> Result<(Bytes, Option<Usage>), String> {
    let text = value.get("text").and_then(Value::as_str).unwrap_or_default();
    let calls = value.get("tool_calls").and_then(Value::as_array).filter(|c| !c.is_empty());
    let mut reply = json!({
        "role": "assistant",
        "content": if text.is_empty() && calls.is_some() { Value::Null } else { json!(text) },
        "refusal": null,
    });
    if let Some(calls) = calls {
        let mut calls = openai_calls(calls);
        for call in &mut calls {
            call.as_object_mut().map(|c| c.remove("index"));
        }
        reply["tool_calls"] = Value::Array(calls);
    }
    let finish = match value.get("finish_reason").and_then(Value::as_str) {
        _ if calls.is_some() => "tool_calls",
        Some(reason) => finish_reason(reason),
        None => "stop",
    };
    let usage = value.get("meta").and_then(usage_of);
    let id = value.get("generation_id").or_else(|| value.get("response_id")).and_then(Value::as_str);
    let mut completion = json!({
        "id": ctx.completion_id(id.unwrap_or("")),
        "object": "chat.completion", "created": ctx.created, "model": ctx.alias,
        "choices": [{ "index": 0, "message": reply, "logprobs": null, "finish_reason": finish }],
    });
    if let Some(u) = &usage {
        completion["usage"] = usage_json(u);
    }
    Ok((Bytes::from(completion.to_string()), usage))
}

/// One v1 event.
pub(super) fn on_event(
    state: &mut StreamToOpenAi,
    kind: &str,
    value: &Value,
    out: &mut Vec<Bytes>,
) -> Result<Flow, StreamError> {
    match kind {
        "stream-start" => {
            if let Some(id) = value.get("generation_id").and_then(Value::as_str) {
                state.chunks.use_upstream_id(id);
            }
            out.push(state.chunks.delta(json!({ "role": "assistant", "content": "" }), None));
        }
        "text-generation" => {
            if let Some(text) = value.get("text").and_then(Value::as_str) {
                out.push(state.chunks.delta(json!({ "content": text }), None));
            }
        }
        "tool-calls-chunk" => {
            let delta = value.get("tool_call_delta");
            if let Some(delta) = delta {
                state.tool_calls_streamed = true;
                let index = delta.get("index").and_then(Value::as_u64).unwrap_or(0);
                let call = match delta.get("name").and_then(Value::as_str) {
                    Some(name) => json!({ "index": index, "id": format!("call_{index}"), "type": "function",
                                          "function": { "name": name, "arguments": "" } }),
                    None => json!({ "index": index, "function": {
                        "arguments": delta.get("parameters").and_then(Value::as_str).unwrap_or_default() } }),
                };
                out.push(state.chunks.delta(json!({ "tool_calls": [call] }), None));
            } else if let Some(plan) = value.get("text").and_then(Value::as_str) {
                out.push(state.chunks.delta(json!({ "reasoning_content": plan }), None));
            }
        }
        "tool-calls-generation" => {
            let calls = value.get("tool_calls").and_then(Value::as_array).filter(|c| !c.is_empty());
            if let (Some(calls), false) = (calls, state.tool_calls_streamed) {
                state.tool_calls_streamed = true;
                out.push(state.chunks.delta(json!({ "tool_calls": openai_calls(calls) }), None));
            }
        }
        "stream-end" => {
            let reason = value.get("finish_reason").and_then(Value::as_str).unwrap_or("COMPLETE");
            if reason.starts_with("ERROR") {
                return Err(StreamError::Upstream(format!("Cohere ended the stream with {reason}")));
            }
            if let Some(u) = value.pointer("/response/meta").and_then(usage_of) {
                state.usage = Some(u);
            }
            let reason = if state.tool_calls_streamed { "TOOL_CALL" } else { reason };
            return Ok(state.end(Some(reason), out));
        }
        _ => {}
    }
    Ok(Flow::Continue)
}
