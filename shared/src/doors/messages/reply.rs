//! OpenAI chat completion (the hub) → Anthropic `message`, for replies from another vendor.
//!
//! Reasoning becomes a `thinking` block signed with `FOREIGN_SIGNATURE` (so it is never sent to
//! Anthropic, which would reject the signature), text a `text` block, each tool call a
//! `tool_use` block with its arguments as `input`. Usage: `input_tokens` excludes cached input,
//! which is `cache_read_input_tokens`, as Anthropic counts.

use bytes::Bytes;
use serde_json::{json, Value};

use super::{message_id, stop_reason, usage_json, FOREIGN_SIGNATURE};
use crate::adapters::{AdapterError, ResponseCtx};
use crate::doors::hub::{arguments_value, read_reply};

pub fn from_chat(completion: &[u8], ctx: &ResponseCtx) -> Result<Bytes, AdapterError> {
    let reply = read_reply(completion).map_err(AdapterError::Upstream)?;
    let mut content = Vec::new();
    if !reply.reasoning.is_empty() {
        content.push(json!({ "type": "thinking", "thinking": reply.reasoning, "signature": FOREIGN_SIGNATURE }));
    }
    if !reply.text.is_empty() {
        content.push(json!({ "type": "text", "text": reply.text }));
    }
    for call in &reply.tool_calls {
        content.push(
            json!({ "type": "tool_use", "id": call.id, "name": call.name, "input": arguments_value(&call.arguments) }),
        );
    }
    let stop = if reply.tool_calls.is_empty() { reply.finish.as_deref().map(stop_reason) } else { Some("tool_use") };
    let message = json!({
        "id": message_id(&reply.id, ctx.nonce),
        "type": "message",
        "role": "assistant",
        "model": ctx.alias,
        "content": content,
        "stop_reason": stop.unwrap_or("end_turn"),
        "stop_sequence": Value::Null,
        "usage": usage_json(reply.usage.as_ref()),
    });
    Ok(Bytes::from(message.to_string()))
}
