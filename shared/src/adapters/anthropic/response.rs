//! Anthropic message → OpenAI `chat.completion`: all text, every tool call, thinking as
//! `reasoning_content`, the mapped `finish_reason`, and usage with cache and reasoning tokens.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

use super::finish_reason;
use crate::adapters::{usage_json, ResponseCtx};
use crate::usage::Usage;

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    id: String,
    #[serde(default)]
    content: Vec<Block>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<AnthropicUsage>,
}

#[derive(Deserialize)]
#[serde(tag = "type")]
enum Block {
    #[serde(rename = "text")]
    Text { text: String },
    #[serde(rename = "thinking")]
    Thinking { thinking: String },
    #[serde(rename = "tool_use")]
    ToolUse { id: String, name: String, input: Value },
    #[serde(other)]
    Other,
}

/// Anthropic's token counts; `input_tokens` excludes cached input, which OpenAI counts.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
pub(crate) struct AnthropicUsage {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub cache_read_input_tokens: u64,
    #[serde(default)]
    pub cache_creation_input_tokens: u64,
}

impl AnthropicUsage {
    pub(crate) fn to_usage(self) -> Usage {
        let prompt = self.input_tokens + self.cache_read_input_tokens + self.cache_creation_input_tokens;
        Usage {
            prompt_tokens: prompt,
            completion_tokens: self.output_tokens,
            total_tokens: prompt + self.output_tokens,
            cached_tokens: self.cache_read_input_tokens,
            reasoning_tokens: 0,
        }
    }
}

/// Translates a non-streamed Anthropic reply.
pub fn parse_response(body: &[u8], ctx: &ResponseCtx) -> Result<(Bytes, Option<Usage>), String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the upstream answered with invalid JSON: {e}"))?;
    if value.get("type").and_then(Value::as_str) == Some("error") {
        let message = value["error"]["message"].as_str().unwrap_or("unknown error");
        return Err(format!("the upstream answered with an error: {message}"));
    }
    let message: Message =
        serde_json::from_value(value).map_err(|e| format!("the upstream answer is not an Anthropic message: {e}"))?;
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut tool_calls = Vec::new();
    for block in message.content {
        match block {
            Block::Text { text: t } => text.push_str(&t),
            Block::Thinking { thinking } => reasoning.push_str(&thinking),
            Block::ToolUse { id, name, input } => tool_calls.push(json!({
                "id": id,
                "type": "function",
                "function": { "name": name, "arguments": input.to_string() },
            })),
            Block::Other => {}
        }
    }
    let mut reply_message = json!({
        "role": "assistant",
        "content": if text.is_empty() && !tool_calls.is_empty() { Value::Null } else { json!(text) },
        "refusal": null,
    });
    if !reasoning.is_empty() {
        reply_message["reasoning_content"] = json!(reasoning);
    }
    if !tool_calls.is_empty() {
        reply_message["tool_calls"] = json!(tool_calls);
    }
    let usage = message.usage.map(AnthropicUsage::to_usage);
    let finish = message.stop_reason.as_deref().map(finish_reason).unwrap_or("stop");
    let mut completion = json!({
        "id": ctx.completion_id(&message.id),
        "object": "chat.completion",
        "created": ctx.created,
        "model": ctx.alias,
        "choices": [{ "index": 0, "message": reply_message, "logprobs": null, "finish_reason": finish }],
    });
    if let Some(u) = &usage {
        completion["usage"] = usage_json(u);
    }
    Ok((Bytes::from(completion.to_string()), usage))
}
