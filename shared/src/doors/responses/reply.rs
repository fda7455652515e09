//! OpenAI chat completion (the hub) → a Response, for replies from another vendor.
//!
//! Output items in order: a `reasoning` item (its text as a summary, id prefixed
//! `FOREIGN_REASONING_PREFIX`), a `message` with one `output_text`, then one `function_call`
//! (with its namespace) or `custom_tool_call` per tool call. A `length` finish makes the
//! response `incomplete` with reason `max_output_tokens`.

use bytes::Bytes;
use serde_json::{json, Value};

use super::tools::{CallKind, ToolMap, CUSTOM_INPUT};
use super::{outcome, response_object, FOREIGN_REASONING_PREFIX};
use crate::adapters::raw::RawObject;
use crate::adapters::{AdapterError, ResponseCtx};
use crate::doors::hub::read_reply;

pub fn from_chat(completion: &[u8], ctx: &ResponseCtx, request: &RawObject) -> Result<Bytes, AdapterError> {
    let reply = read_reply(completion).map_err(AdapterError::Upstream)?;
    let tools = ToolMap::of(request);
    let mut output = Vec::new();
    if !reply.reasoning.is_empty() {
        output.push(reasoning_item(&format!("{FOREIGN_REASONING_PREFIX}{:016x}", ctx.nonce), &reply.reasoning));
    }
    if !reply.text.is_empty() {
        output.push(message_item(&format!("msg_{:016x}", ctx.nonce), &reply.text, "completed"));
    }
    for call in &reply.tool_calls {
        output.push(call_item(&tools, &call.id, &call.name, &call.arguments, "completed"));
    }
    let (status, incomplete) = outcome(reply.finish.as_deref());
    let mut response = response_object(ctx, status, output, reply.usage.as_ref());
    response["incomplete_details"] = incomplete;
    Ok(Bytes::from(response.to_string()))
}

pub(super) fn reasoning_item(id: &str, text: &str) -> Value {
    json!({ "id": id, "type": "reasoning", "summary": [{ "type": "summary_text", "text": text }] })
}

pub(super) fn message_item(id: &str, text: &str, status: &str) -> Value {
    json!({
        "id": id, "type": "message", "status": status, "role": "assistant",
        "content": [{ "type": "output_text", "text": text, "annotations": [] }],
    })
}

/// A `function_call` or `custom_tool_call` item for a hub call.
pub(super) fn call_item(tools: &ToolMap, call_id: &str, hub_name: &str, arguments: &str, status: &str) -> Value {
    match tools.call(hub_name) {
        CallKind::Custom { name } => {
            let input = serde_json::from_str::<Value>(arguments)
                .ok()
                .and_then(|a| a.get(CUSTOM_INPUT).and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_default();
            json!({ "id": format!("ctc_{call_id}"), "type": "custom_tool_call", "status": status,
                    "call_id": call_id, "name": name, "input": input })
        }
        CallKind::Function { namespace, name } => {
            let mut item = json!({ "id": format!("fc_{call_id}"), "type": "function_call", "status": status,
                                   "call_id": call_id, "name": name, "arguments": arguments });
            if let Some(namespace) = namespace {
                item["namespace"] = json!(namespace);
            }
            item
        }
    }
}
