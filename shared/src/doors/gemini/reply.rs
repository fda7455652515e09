//! OpenAI chat completion (the hub) → Gemini `GenerateContentResponse`, for replies from another
//! vendor: reasoning as a `thought` part, text, and each tool call as a `functionCall` part
//! with its id (Gemini CLI answers with the same id).

use bytes::Bytes;
use serde_json::{json, Value};

use super::{finish_reason, usage_json};
use crate::adapters::{AdapterError, ResponseCtx};
use crate::doors::hub::{arguments_value, read_reply, HubToolCall};

pub fn from_chat(completion: &[u8], ctx: &ResponseCtx) -> Result<Bytes, AdapterError> {
    let reply = read_reply(completion).map_err(AdapterError::Upstream)?;
    let mut parts = Vec::new();
    if !reply.reasoning.is_empty() {
        parts.push(json!({ "text": reply.reasoning, "thought": true }));
    }
    if !reply.text.is_empty() {
        parts.push(json!({ "text": reply.text }));
    }
    parts.extend(reply.tool_calls.iter().map(call_part));
    let mut response = json!({
        "candidates": [{
            "content": { "role": "model", "parts": parts },
            "finishReason": finish_reason(reply.finish.as_deref().unwrap_or("stop")),
            "index": 0,
        }],
        "modelVersion": ctx.alias,
        "responseId": response_id(&reply.id, ctx.nonce),
    });
    if let Some(usage) = &reply.usage {
        response["usageMetadata"] = usage_json(usage);
    }
    Ok(Bytes::from(response.to_string()))
}

pub(super) fn call_part(call: &HubToolCall) -> Value {
    json!({ "functionCall": { "id": call.id, "name": call.name, "args": arguments_value(&call.arguments) } })
}

pub(super) fn response_id(hub_id: &str, nonce: u64) -> String {
    match hub_id.trim_start_matches("chatcmpl-") {
        "" => format!("{nonce:016x}"),
        id => id.to_owned(),
    }
}
