//! Cohere chat, both of its APIs, chosen by `base_url` as configs for the original write it:
//! one ending in `/v1/chat` (or `/v1`) speaks v1 (`v1.rs`: `message`, `chat_history`, `preamble`,
//! NDJSON stream events with `event_type`), anything else v2 (`v2.rs`: OpenAI-like messages,
//! SSE events with `type`). Replies and stream events are read by their own shape, so one
//! translator serves both.

mod v1;
mod v2;

use bytes::Bytes;
use serde_json::Value;

use super::raw::RawObject;
use super::urls;
use super::{Built, ChunkWriter, ResponseCtx};
use crate::config::{Provider, Secret};
use crate::sse::SseEvent;
use crate::stream::{Flow, StreamError, StreamTranslator};
use crate::usage::Usage;

/// Which chat API a Cohere `base_url` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

impl Version {
    pub fn of(base_url: &str) -> Self {
        let (root, _) = urls::split_endpoint(base_url);
        if root.ends_with("/v1") {
            Self::V1
        } else {
            Self::V2
        }
    }
}

/// `base_url` may be a full endpoint (used as written), a `…/v1` or `…/v2` base or a bare origin
/// (v2).
pub fn chat_url(base_url: &str) -> String {
    if let Some(endpoint) = urls::named_endpoint(base_url) {
        return endpoint.to_owned();
    }
    let base = base_url.trim_end_matches('/');
    if base.ends_with("/v2") || base.ends_with("/v1") {
        format!("{base}/chat")
    } else {
        format!("{base}/v2/chat")
    }
}

fn finish_reason(reason: &str) -> &'static str {
    match reason {
        "MAX_TOKENS" => "length",
        "TOOL_CALL" => "tool_calls",
        _ => "stop",
    }
}

fn usage_of(usage: &Value) -> Option<Usage> {
    let tokens = usage.get("tokens").or_else(|| usage.get("billed_units"))?;
    let input = tokens.get("input_tokens")?.as_f64()? as u64;
    let output = tokens.get("output_tokens").and_then(Value::as_f64).unwrap_or(0.0) as u64;
    Some(Usage { prompt_tokens: input, completion_tokens: output, total_tokens: input + output, ..Usage::default() })
}

pub fn build_request(
    provider: &Provider,
    key: Option<&Secret>,
    body: &RawObject,
    upstream_model: &str,
    stream: bool,
) -> Built {
    match Version::of(&provider.base_url) {
        Version::V1 => v1::build_request(provider, key, body, upstream_model, stream),
        Version::V2 => v2::build_request(provider, key, body, upstream_model, stream),
    }
}

/// A v1 reply has `text` at the top; a v2 reply a `message`.
pub fn parse_response(body: &[u8], ctx: &ResponseCtx) -> Result<(Bytes, Option<Usage>), String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the upstream answered with invalid JSON: {e}"))?;
    if value.get("message").is_none() && (value.get("text").is_some() || value.get("generation_id").is_some()) {
        v1::parse_response(&value, ctx)
    } else {
        v2::parse_response(&value, ctx)
    }
}

/// The translator's state for one stream.
pub struct StreamToOpenAi {
    chunks: ChunkWriter,
    usage: Option<Usage>,
    done: bool,
    /// v1: tool calls were sent chunk by chunk (its closing `tool-calls-generation` repeats them).
    tool_calls_streamed: bool,
}

impl StreamToOpenAi {
    pub fn new(ctx: ResponseCtx) -> Self {
        Self { chunks: ChunkWriter::new(ctx), usage: None, done: false, tool_calls_streamed: false }
    }

    /// The end of the completion: finish reason, usage if known.
    fn end(&mut self, reason: Option<&str>, out: &mut Vec<Bytes>) -> Flow {
        let finish = reason.map(finish_reason).unwrap_or("stop");
        self.chunks.finish(finish, self.usage.as_ref(), out);
        self.done = true;
        Flow::Done
    }
}

impl StreamTranslator for StreamToOpenAi {
    fn on_event(&mut self, event: &SseEvent, out: &mut Vec<Bytes>) -> Result<Flow, StreamError> {
        let data = event.data.trim();
        if data.is_empty() {
            return Ok(Flow::Continue);
        }
        let value: Value =
            serde_json::from_str(data).map_err(|e| StreamError::Corrupt(format!("a Cohere event is not JSON: {e}")))?;
        match value.get("event_type").and_then(Value::as_str) {
            Some(kind) => v1::on_event(self, kind, &value, out),
            None => v2::on_event(self, &value, out),
        }
    }

    fn finish(&mut self) -> Result<(), StreamError> {
        if self.done {
            Ok(())
        } else {
            Err(StreamError::Truncated)
        }
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }
}
