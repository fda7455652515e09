//! Gemini SSE (`alt=sse`) → OpenAI `chat.completion.chunk`s, one event at a time.
//!
//! Every event is a whole `GenerateContentResponse` with the next piece of content.
//!
//! | Gemini event                         | OpenAI output                                          |
//! |--------------------------------------|--------------------------------------------------------|
//! | first event                          | a chunk with `delta.role = "assistant"` first          |
//! | text part / thought part             | `delta.content` / `delta.reasoning_content`            |
//! | `functionCall` part                  | one complete tool call (next index, id with signature) |
//! | `usageMetadata`                      | remembered (cumulative)                                |
//! | `finishReason`                       | the `finish_reason` chunk, usage chunk if asked, end   |
//! | `{"error": …}`                       | `StreamError::Upstream`                                |
//! | EOF before a `finishReason`          | `StreamError::Truncated`                               |

use bytes::Bytes;
use serde_json::{json, Value};

use super::response::{call_id, GenerateResponse, UsageMetadata};
use crate::adapters::{ChunkWriter, ResponseCtx};
use crate::sse::SseEvent;
use crate::stream::{Flow, StreamError, StreamTranslator};
use crate::usage::Usage;

/// The translator's state for one stream.
pub struct StreamToOpenAi {
    chunks: ChunkWriter,
    role_sent: bool,
    next_tool: usize,
    usage: Option<UsageMetadata>,
    done: bool,
}

impl StreamToOpenAi {
    pub fn new(ctx: ResponseCtx) -> Self {
        Self { chunks: ChunkWriter::new(ctx), role_sent: false, next_tool: 0, usage: None, done: false }
    }
}

impl StreamTranslator for StreamToOpenAi {
    fn on_event(&mut self, event: &SseEvent, out: &mut Vec<Bytes>) -> Result<Flow, StreamError> {
        let data = event.data.trim();
        if data.is_empty() {
            return Ok(Flow::Continue);
        }
        let value: Value =
            serde_json::from_str(data).map_err(|e| StreamError::Corrupt(format!("a Gemini event is not JSON: {e}")))?;
        if let Some(error) = value.get("error") {
            let message = error.get("message").and_then(Value::as_str).unwrap_or("unknown error");
            return Err(StreamError::Upstream(message.to_owned()));
        }
        let response: GenerateResponse = serde_json::from_value(value)
            .map_err(|e| StreamError::Corrupt(format!("a Gemini event could not be read: {e}")))?;
        if let Some(id) = response.response_id.as_deref().filter(|_| !self.role_sent) {
            self.chunks.use_upstream_id(id);
        }
        if !self.role_sent {
            self.role_sent = true;
            out.push(self.chunks.delta(json!({ "role": "assistant", "content": "" }), None));
        }
        if let Some(u) = response.usage_metadata {
            self.usage = Some(u);
        }
        let reading = response.read();
        if !reading.reasoning.is_empty() {
            out.push(self.chunks.delta(json!({ "reasoning_content": reading.reasoning }), None));
        }
        if !reading.text.is_empty() {
            out.push(self.chunks.delta(json!({ "content": reading.text }), None));
        }
        let had_calls = !reading.calls.is_empty();
        for (name, args, signature) in reading.calls {
            let index = self.next_tool;
            self.next_tool += 1;
            let id = call_id(self.chunks.ctx().nonce, index, signature.as_deref());
            out.push(self.chunks.delta(
                json!({ "tool_calls": [{ "index": index, "id": id, "type": "function", "function": { "name": name, "arguments": args } }] }),
                None,
            ));
        }
        if let Some(finish) = reading.finish {
            let finish = if had_calls || self.next_tool > 0 { "tool_calls" } else { finish };
            let usage = self.usage.map(UsageMetadata::to_usage);
            self.chunks.finish(finish, usage.as_ref(), out);
            self.done = true;
            return Ok(Flow::Done);
        }
        Ok(Flow::Continue)
    }

    fn finish(&mut self) -> Result<(), StreamError> {
        if self.done {
            Ok(())
        } else {
            Err(StreamError::Truncated)
        }
    }

    fn usage(&self) -> Option<Usage> {
        self.usage.map(UsageMetadata::to_usage)
    }
}
