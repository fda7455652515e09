//! Cloudflare Workers AI (`/client/v4/accounts/{account}/ai/run/{model}`).
//!
//! `base_url` replaces `https://api.cloudflare.com` (e.g. an AI Gateway); the key is a Bearer
//! token. Replies are wrapped as `{"result": {"response", "tool_calls", "usage"}, "success"}`;
//! streams are SSE `{"response": "…"}` events ending with `[DONE]`.
//!
//! | Workers AI event            | OpenAI output                                   |
//! |-----------------------------|-------------------------------------------------|
//! | first event                 | a chunk with `delta.role = "assistant"` first   |
//! | `{"response": text}`        | `delta.content` (empty text: nothing)           |
//! | `{"usage": …}`              | remembered                                      |
//! | `[DONE]`                    | `finish_reason` chunk, usage chunk if asked, end |
//! | EOF before `[DONE]`         | `StreamError::Truncated`                        |

use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::raw::RawObject;
use super::{bearer, post_json, read_messages, usage_json, AdapterError, Built, ChunkWriter, ResponseCtx};
use crate::config::{Provider, Secret};
use crate::schema::openai::Content;
use crate::sse::SseEvent;
use crate::stream::{Flow, StreamError, StreamTranslator};
use crate::usage::Usage;

pub fn run_url(base_url: &str, account: &str, model: &str) -> String {
    format!("{}/client/v4/accounts/{account}/ai/run/{model}", base_url.trim_end_matches('/'))
}

pub fn build_request(
    provider: &Provider,
    key: Option<&Secret>,
    body: &RawObject,
    upstream_model: &str,
    stream: bool,
) -> Built {
    let account = provider.account_id.as_deref().ok_or_else(|| AdapterError::config("no cf_account_id configured"))?;
    let messages: Vec<Value> = read_messages(body)?
        .iter()
        .map(|m| {
            let mut out =
                json!({ "role": m.role, "content": m.content.as_ref().map(Content::text).unwrap_or_default() });
            if let Some(id) = &m.tool_call_id {
                out["tool_call_id"] = json!(id);
            }
            out
        })
        .collect();
    let mut payload = Map::new();
    payload.insert("messages".into(), Value::Array(messages));
    for field in
        ["max_tokens", "temperature", "top_p", "top_k", "seed", "frequency_penalty", "presence_penalty", "tools"]
    {
        if let Some(v) = body.present(field) {
            payload.insert(
                field.into(),
                serde_json::from_str(v.get()).map_err(|e| AdapterError::request(format!("`{field}`: {e}")))?,
            );
        }
    }
    if stream {
        payload.insert("stream".into(), json!(true));
    }
    post_json(provider, run_url(&provider.base_url, account, upstream_model), bearer(key), &Value::Object(payload))
}

fn usage_of(value: &Value) -> Option<Usage> {
    Usage::from_openai(value)
}

pub fn parse_response(body: &[u8], ctx: &ResponseCtx) -> Result<(Bytes, Option<Usage>), String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the upstream answered with invalid JSON: {e}"))?;
    if value.get("success") == Some(&json!(false)) {
        let message = value["errors"][0]["message"].as_str().unwrap_or("unknown error");
        return Err(format!("the upstream answered with an error: {message}"));
    }
    let result = value.get("result").ok_or("the upstream answer has no `result`")?;
    let text = match result.get("response") {
        Some(Value::String(s)) => s.clone(),
        Some(other) if !other.is_null() => other.to_string(),
        _ => String::new(),
    };
    let tool_calls: Vec<Value> = result
        .get("tool_calls")
        .and_then(Value::as_array)
        .map(|calls| {
            calls
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let name = c.get("name").or_else(|| c.pointer("/function/name")).cloned().unwrap_or(json!(""));
                    let args = c.get("arguments").or_else(|| c.pointer("/function/arguments")).cloned().unwrap_or(json!({}));
                    let args = if let Value::String(s) = args { s } else { args.to_string() };
                    json!({ "id": format!("call_{:x}_{i}", ctx.nonce), "type": "function", "function": { "name": name, "arguments": args } })
                })
                .collect()
        })
        .unwrap_or_default();
    let mut message = json!({
        "role": "assistant",
        "content": if text.is_empty() && !tool_calls.is_empty() { Value::Null } else { json!(text) },
        "refusal": null,
    });
    let finish = if tool_calls.is_empty() { "stop" } else { "tool_calls" };
    if !tool_calls.is_empty() {
        message["tool_calls"] = json!(tool_calls);
    }
    let usage = result.get("usage").and_then(usage_of);
    let mut completion = json!({
        "id": ctx.completion_id(""), "object": "chat.completion", "created": ctx.created, "model": ctx.alias,
        "choices": [{ "index": 0, "message": message, "logprobs": null, "finish_reason": finish }],
    });
    if let Some(u) = &usage {
        completion["usage"] = usage_json(u);
    }
    Ok((Bytes::from(completion.to_string()), usage))
}

/// The translator's state for one stream.
pub struct StreamToOpenAi {
    chunks: ChunkWriter,
    role_sent: bool,
    usage: Option<Usage>,
    done: bool,
}

impl StreamToOpenAi {
    pub fn new(ctx: ResponseCtx) -> Self {
        Self { chunks: ChunkWriter::new(ctx), role_sent: false, usage: None, done: false }
    }
}

impl StreamTranslator for StreamToOpenAi {
    fn on_event(&mut self, event: &SseEvent, out: &mut Vec<Bytes>) -> Result<Flow, StreamError> {
        let data = event.data.trim();
        if data.is_empty() {
            return Ok(Flow::Continue);
        }
        if !self.role_sent {
            self.role_sent = true;
            out.push(self.chunks.delta(json!({ "role": "assistant", "content": "" }), None));
        }
        if data == "[DONE]" {
            self.chunks.finish("stop", self.usage.as_ref(), out);
            self.done = true;
            return Ok(Flow::Done);
        }
        let value: Value = serde_json::from_str(data)
            .map_err(|e| StreamError::Corrupt(format!("a Workers AI event is not JSON: {e}")))?;
        if let Some(errors) = value.get("errors").and_then(Value::as_array).filter(|e| !e.is_empty()) {
            let message = errors[0].get("message").and_then(Value::as_str).unwrap_or("unknown error");
            return Err(StreamError::Upstream(message.to_owned()));
        }
        if let Some(u) = value.get("usage").and_then(usage_of) {
            self.usage = Some(u);
        }
        if let Some(text) = value.get("response").and_then(Value::as_str).filter(|t| !t.is_empty()) {
            out.push(self.chunks.delta(json!({ "content": text }), None));
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
        self.usage
    }
}
