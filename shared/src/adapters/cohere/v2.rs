//! Cohere v2 chat (`POST {base}/v2/chat`): OpenAI-like messages and tools, its own reply shape
//! and SSE stream events (`type`).
//!
//! | Cohere event          | OpenAI output                                             |
//! |-----------------------|-----------------------------------------------------------|
//! | `message-start`       | a chunk with `delta.role = "assistant"`                   |
//! | `content-delta`       | `delta.content`                                           |
//! | `tool-plan-delta`     | `delta.reasoning_content` (the model's plan)              |
//! | `tool-call-start`     | a tool-call header (index, id, name)                      |
//! | `tool-call-delta`     | tool-call argument text                                   |
//! | `message-end`         | `finish_reason` chunk, usage chunk if asked, end          |
//! | other events          | nothing                                                   |
//! | EOF before `message-end` | `StreamError::Truncated`                               |

use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::{chat_url, finish_reason, usage_of, StreamToOpenAi};
use crate::adapters::raw::RawObject;
use crate::adapters::{bearer, post_json, read_messages, usage_json, AdapterError, Built, ResponseCtx};
use crate::config::{Provider, Secret};
use crate::schema::openai::{Content, Stop};
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
    let raw_messages: Vec<Value> = body.field("messages").unwrap_or_default();
    let messages: Vec<Value> = messages
        .iter()
        .zip(raw_messages)
        .map(|(m, raw)| {
            let role = if m.role == "developer" { "system" } else { m.role.as_str() };
            let mut out = json!({ "role": role });
            match (&m.content, raw.get("content")) {
                // Parts (text and images) keep OpenAI's shape, which Cohere v2 accepts.
                (Some(Content::Parts(_)), Some(parts)) => out["content"] = parts.clone(),
                (Some(c), _) => out["content"] = json!(c.text()),
                (None, _) => {}
            }
            if let Some(calls) = raw.get("tool_calls").filter(|c| !c.is_null()) {
                out["tool_calls"] = calls.clone();
            }
            if let Some(id) = &m.tool_call_id {
                out["tool_call_id"] = json!(id);
            }
            out
        })
        .collect();
    let mut payload = Map::new();
    payload.insert("model".into(), json!(upstream_model));
    payload.insert("messages".into(), Value::Array(messages));
    for (from, to) in [
        ("max_tokens", "max_tokens"),
        ("temperature", "temperature"),
        ("top_p", "p"),
        ("top_k", "k"),
        ("seed", "seed"),
        ("frequency_penalty", "frequency_penalty"),
        ("presence_penalty", "presence_penalty"),
        ("tools", "tools"),
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
    if stream {
        payload.insert("stream".into(), json!(true));
    }
    post_json(provider, chat_url(&provider.base_url), bearer(key), &Value::Object(payload))
}

pub(super) fn parse_response(value: &Value, ctx: &ResponseCtx) -> Result<(Bytes, Option<Usage>), String> {
    let message = value.get("message").ok_or_else(|| {
        let m = value.get("message").or_else(|| value.get("error")).and_then(Value::as_str).unwrap_or("no `message`");
        format!("the upstream answer is not a Cohere reply: {m}")
    })?;
    let text: String = message
        .get("content")
        .and_then(Value::as_array)
        .map(|parts| parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect())
        .unwrap_or_default();
    let tool_calls = message.get("tool_calls").filter(|c| c.as_array().is_some_and(|a| !a.is_empty())).cloned();
    let mut reply = json!({
        "role": "assistant",
        "content": if text.is_empty() && tool_calls.is_some() { Value::Null } else { json!(text) },
        "refusal": null,
    });
    if let Some(plan) = message.get("tool_plan").and_then(Value::as_str) {
        reply["reasoning_content"] = json!(plan);
    }
    if let Some(calls) = tool_calls {
        reply["tool_calls"] = calls;
    }
    let finish = value.get("finish_reason").and_then(Value::as_str).map(finish_reason).unwrap_or("stop");
    let usage = value.get("usage").and_then(usage_of);
    let mut completion = json!({
        "id": ctx.completion_id(value.get("id").and_then(Value::as_str).unwrap_or("")),
        "object": "chat.completion", "created": ctx.created, "model": ctx.alias,
        "choices": [{ "index": 0, "message": reply, "logprobs": null, "finish_reason": finish }],
    });
    if let Some(u) = &usage {
        completion["usage"] = usage_json(u);
    }
    Ok((Bytes::from(completion.to_string()), usage))
}

/// One v2 event.
pub(super) fn on_event(state: &mut StreamToOpenAi, value: &Value, out: &mut Vec<Bytes>) -> Result<Flow, StreamError> {
    let message = value.pointer("/delta/message");
    match value.get("type").and_then(Value::as_str).unwrap_or_default() {
        "message-start" => {
            if let Some(id) = value.get("id").and_then(Value::as_str) {
                state.chunks.use_upstream_id(id);
            }
            out.push(state.chunks.delta(json!({ "role": "assistant", "content": "" }), None));
        }
        "content-delta" => {
            if let Some(text) = message.and_then(|m| m.pointer("/content/text")).and_then(Value::as_str) {
                out.push(state.chunks.delta(json!({ "content": text }), None));
            }
        }
        "tool-plan-delta" => {
            if let Some(plan) = message.and_then(|m| m.get("tool_plan")).and_then(Value::as_str) {
                out.push(state.chunks.delta(json!({ "reasoning_content": plan }), None));
            }
        }
        "tool-call-start" => {
            let index = value.get("index").and_then(Value::as_u64).unwrap_or(0);
            let call = message.and_then(|m| m.get("tool_calls")).cloned().unwrap_or(json!({}));
            let name = call.pointer("/function/name").cloned().unwrap_or(json!(""));
            let args = call.pointer("/function/arguments").and_then(Value::as_str).unwrap_or("").to_owned();
            out.push(state.chunks.delta(
                json!({ "tool_calls": [{ "index": index, "id": call.get("id").cloned().unwrap_or(json!("")), "type": "function", "function": { "name": name, "arguments": args } }] }),
                None,
            ));
        }
        "tool-call-delta" => {
            let index = value.get("index").and_then(Value::as_u64).unwrap_or(0);
            if let Some(args) =
                message.and_then(|m| m.pointer("/tool_calls/function/arguments")).and_then(Value::as_str)
            {
                out.push(
                    state
                        .chunks
                        .delta(json!({ "tool_calls": [{ "index": index, "function": { "arguments": args } }] }), None),
                );
            }
        }
        "message-end" => {
            let delta = value.get("delta");
            if let Some(u) = delta.and_then(|d| d.get("usage")).and_then(usage_of) {
                state.usage = Some(u);
            }
            let reason = delta.and_then(|d| d.get("finish_reason")).and_then(Value::as_str);
            return Ok(state.end(reason, out));
        }
        _ => {}
    }
    Ok(Flow::Continue)
}
