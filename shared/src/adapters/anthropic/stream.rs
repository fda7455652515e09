//! Anthropic SSE → OpenAI `chat.completion.chunk`s, one event at a time.
//!
//! | Anthropic event                      | state                                | OpenAI output                                 |
//! |--------------------------------------|--------------------------------------|-----------------------------------------------|
//! | `message_start`                      | id, input and cache usage            | first chunk: `delta.role = "assistant"`       |
//! | `content_block_start` text/thinking  | —                                    | none                                          |
//! | `content_block_start` tool_use       | block → next OpenAI tool index       | `tool_calls[{index, id, type, function: {name, arguments: ""}}]` |
//! | `content_block_delta` text_delta     | —                                    | `delta.content`                               |
//! | `content_block_delta` thinking_delta | —                                    | `delta.reasoning_content`                     |
//! | `content_block_delta` input_json_delta | —                                  | `tool_calls[{index, function: {arguments}}]` |
//! | `message_delta`                      | stop reason, output usage            | none yet                                      |
//! | `message_stop`                       | stopped                              | one chunk with `finish_reason`; usage chunk if asked; `[DONE]` |
//! | `ping`, `content_block_stop`, unknown | —                                   | none                                          |
//! | `error`                              | —                                    | `StreamError::Upstream` (an error event)      |
//! | EOF before `message_stop`            | —                                    | `StreamError::Truncated`                      |

use std::collections::HashMap;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;

use super::finish_reason;
use super::response::AnthropicUsage;
use crate::adapters::{ChunkWriter, ResponseCtx};
use crate::sse::SseEvent;
use crate::stream::{Flow, StreamError, StreamTranslator};
use crate::usage::Usage;

#[derive(Deserialize)]
#[serde(tag = "type")]
enum Event {
    #[serde(rename = "message_start")]
    MessageStart { message: MessageStart },
    #[serde(rename = "content_block_start")]
    BlockStart { index: u32, content_block: BlockStart },
    #[serde(rename = "content_block_delta")]
    BlockDelta { index: u32, delta: Delta },
    #[serde(rename = "message_delta")]
    MessageDelta {
        delta: MessageDeltaBody,
        #[serde(default)]
        usage: Option<AnthropicUsage>,
    },
    #[serde(rename = "message_stop")]
    MessageStop,
    #[serde(rename = "error")]
    Error { error: ErrorBody },
    #[serde(other)]
    Ignored,
}

#[derive(Deserialize)]
struct MessageStart {
    #[serde(default)]
    id: String,
    #[serde(default)]
    usage: Option<AnthropicUsage>,
}

#[derive(Deserialize)]
#[serde(tag = "type")]
enum BlockStart {
    #[serde(rename = "tool_use")]
    ToolUse { id: String, name: String },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(tag = "type")]
enum Delta {
    #[serde(rename = "text_delta")]
    Text { text: String },
    #[serde(rename = "thinking_delta")]
    Thinking { thinking: String },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: String },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct MessageDeltaBody {
    #[serde(default)]
    stop_reason: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: String,
}

/// The translator's state for one stream.
pub struct StreamToOpenAi {
    chunks: ChunkWriter,
    /// Anthropic block index → OpenAI tool-call index, for tool_use blocks.
    tool_index: HashMap<u32, u32>,
    next_tool_index: u32,
    usage: AnthropicUsage,
    saw_usage: bool,
    stop_reason: Option<String>,
    stopped: bool,
}

impl StreamToOpenAi {
    pub fn new(ctx: ResponseCtx) -> Self {
        Self {
            chunks: ChunkWriter::new(ctx),
            tool_index: HashMap::new(),
            next_tool_index: 0,
            usage: AnthropicUsage::default(),
            saw_usage: false,
            stop_reason: None,
            stopped: false,
        }
    }
}

impl StreamTranslator for StreamToOpenAi {
    fn on_event(&mut self, event: &SseEvent, out: &mut Vec<Bytes>) -> Result<Flow, StreamError> {
        if event.data.trim().is_empty() {
            return Ok(Flow::Continue);
        }
        let parsed: Event = serde_json::from_str(&event.data)
            .map_err(|e| StreamError::Corrupt(format!("an Anthropic event could not be read: {e}")))?;
        match parsed {
            Event::MessageStart { message } => {
                if !message.id.is_empty() {
                    self.chunks.use_upstream_id(&message.id);
                }
                if let Some(u) = message.usage {
                    self.usage = u;
                    self.saw_usage = true;
                }
                out.push(self.chunks.delta(json!({ "role": "assistant", "content": "" }), None));
            }
            Event::BlockStart { index, content_block: BlockStart::ToolUse { id, name } } => {
                let tool = self.next_tool_index;
                self.next_tool_index += 1;
                self.tool_index.insert(index, tool);
                out.push(self.chunks.delta(
                    json!({ "tool_calls": [{ "index": tool, "id": id, "type": "function", "function": { "name": name, "arguments": "" } }] }),
                    None,
                ));
            }
            Event::BlockStart { .. } => {}
            Event::BlockDelta { index, delta } => match delta {
                Delta::Text { text } => out.push(self.chunks.delta(json!({ "content": text }), None)),
                Delta::Thinking { thinking } => {
                    out.push(self.chunks.delta(json!({ "reasoning_content": thinking }), None))
                }
                Delta::InputJson { partial_json } => {
                    let tool = *self
                        .tool_index
                        .get(&index)
                        .ok_or_else(|| StreamError::Corrupt(format!("tool arguments for unknown block {index}")))?;
                    out.push(self.chunks.delta(
                        json!({ "tool_calls": [{ "index": tool, "function": { "arguments": partial_json } }] }),
                        None,
                    ));
                }
                Delta::Other => {}
            },
            Event::MessageDelta { delta, usage } => {
                if delta.stop_reason.is_some() {
                    self.stop_reason = delta.stop_reason;
                }
                if let Some(u) = usage {
                    // message_delta carries cumulative output tokens (and, on some proxies, input).
                    self.usage.output_tokens = u.output_tokens;
                    if u.input_tokens > 0 {
                        self.usage.input_tokens = u.input_tokens;
                    }
                    self.saw_usage = true;
                }
            }
            Event::MessageStop => {
                let finish = self.stop_reason.as_deref().map(finish_reason).unwrap_or("stop");
                let usage = self.saw_usage.then(|| self.usage.to_usage());
                self.chunks.finish(finish, usage.as_ref(), out);
                self.stopped = true;
                return Ok(Flow::Done);
            }
            Event::Error { error } => return Err(StreamError::Upstream(error.message)),
            Event::Ignored => {}
        }
        Ok(Flow::Continue)
    }

    fn finish(&mut self) -> Result<(), StreamError> {
        if self.stopped {
            Ok(())
        } else {
            Err(StreamError::Truncated)
        }
    }

    fn usage(&self) -> Option<Usage> {
        self.saw_usage.then(|| self.usage.to_usage())
    }
}
