//! Messages to an Anthropic or Vertex Claude channel: the body as the client wrote it (prompt
//! caching, betas, thinking signatures and fields this gateway does not know keep working), the
//! reply and its events relayed with only the model name changed.
//!
//! * Anthropic: `model` replaced; the client's `anthropic-version` (default `2023-06-01`) and
//!   `anthropic-beta` are forwarded; the key goes in `x-api-key`.
//! * Vertex: `model` moves to the URL and `anthropic_version: vertex-2023-10-16` is added.
//! * Written by another vendor earlier in the conversation (after a failover): thinking blocks
//!   signed `FOREIGN_SIGNATURE` are left out, and tool ids Anthropic would refuse (Gemini's carry
//!   a thought signature) are replaced, alike in `tool_use` and `tool_result`. Only a body that
//!   holds one of those marks is parsed for this.
//!
//! | Anthropic event   | relayed as                                  |
//! |-------------------|---------------------------------------------|
//! | `message_start`   | itself, `message.model` = the client's name; usage remembered |
//! | `message_delta`   | itself; usage remembered                    |
//! | `message_stop`    | itself; the stream is complete              |
//! | `error`           | `StreamError::Upstream` (the door's error event) |
//! | anything else     | itself, untouched                           |
//! | EOF before `message_stop` | `StreamError::Truncated`            |

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::value::{to_raw_value, RawValue};
use serde_json::Value;

use super::FOREIGN_SIGNATURE;
use crate::adapters::anthropic::{messages_url, AnthropicUsage, API_VERSION};
use crate::adapters::gemini::SIGNATURE_MARK;
use crate::adapters::raw::RawObject;
use crate::adapters::{bearer, key_header, AdapterError, Built};
use crate::config::{Provider, Secret};
use crate::sse::{encode_event, SseEvent};
use crate::stream::{Flow, StreamError, StreamTranslator};
use crate::usage::Usage;

/// Builds the request to an Anthropic (`region: None`) or Vertex Claude channel.
pub fn build_request(
    provider: &Provider,
    key: Option<&Secret>,
    body: &RawObject,
    upstream_model: &str,
    stream: bool,
    region: Option<&str>,
    forward: &[(HeaderName, HeaderValue)],
) -> Built {
    let model = to_raw_value(upstream_model).map_err(|e| AdapterError::config(e.to_string()))?;
    let messages = foreign_free_messages(body)?;
    let mut replaced: Vec<(&str, &RawValue)> = Vec::with_capacity(2);
    if let Some(messages) = &messages {
        replaced.push(("messages", messages));
    }
    let (url, auth, bytes) = match (region, provider.vertex.as_ref()) {
        (Some(region), Some(account)) => {
            let version = to_raw_value("vertex-2023-10-16").map_err(|e| AdapterError::config(e.to_string()))?;
            replaced.push(("anthropic_version", &version));
            let url = crate::adapters::vertex::model_url(provider, account, region, upstream_model, stream);
            (url, bearer(key), body.to_vec_with(&replaced, &["model"]))
        }
        _ => {
            replaced.push(("model", &model));
            (messages_url(&provider.base_url), key_header("x-api-key", key), body.to_vec_with(&replaced, &[]))
        }
    };
    let mut builder = http::Request::builder()
        .method(http::Method::POST)
        .uri(url)
        .header(http::header::CONTENT_TYPE, "application/json");
    if let Some((name, value)) = auth {
        let value = HeaderValue::try_from(value)
            .map_err(|_| AdapterError::config("the upstream key contains characters not allowed in a header"))?;
        builder = builder.header(name, value);
    }
    if stream {
        builder = builder.header(http::header::ACCEPT, "text/event-stream");
    }
    let mut request = builder.body(Bytes::from(bytes)).map_err(|e| AdapterError::config(e.to_string()))?;
    let headers = request.headers_mut();
    if region.is_none() {
        headers.insert("anthropic-version", HeaderValue::from_static(API_VERSION));
    }
    for (name, value) in forward {
        headers.insert(name.clone(), value.clone());
    }
    for (name, value) in &provider.headers {
        headers.insert(name.clone(), value.clone());
    }
    Ok(request)
}

/// `messages` without another vendor's marks, when it holds any (else `None`: sent as is).
fn foreign_free_messages(body: &RawObject) -> Result<Option<Box<RawValue>>, AdapterError> {
    let Some(raw) = body.get("messages") else { return Ok(None) };
    let text = raw.get().as_bytes();
    let marked = |mark: &str| memchr::memmem::find(text, mark.as_bytes()).is_some();
    if !marked(FOREIGN_SIGNATURE) && !marked(SIGNATURE_MARK) {
        return Ok(None);
    }
    let mut messages: Vec<Value> =
        serde_json::from_str(raw.get()).map_err(|e| AdapterError::request(format!("`messages`: {e}")))?;
    for message in &mut messages {
        let Some(blocks) = message.get_mut("content").and_then(Value::as_array_mut) else { continue };
        blocks.retain(|b| !(b["type"] == "thinking" && b["signature"] == FOREIGN_SIGNATURE));
        for block in blocks.iter_mut() {
            let field = match block["type"].as_str() {
                Some("tool_use") => "id",
                Some("tool_result") => "tool_use_id",
                _ => continue,
            };
            if let Some(id) = block[field].as_str().filter(|id| !is_valid_tool_id(id)) {
                block[field] = Value::String(safe_tool_id(id));
            }
        }
    }
    to_raw_value(&messages).map(Some).map_err(|e| AdapterError::request(e.to_string()))
}

/// Anthropic accepts tool ids of letters, digits, `_` and `-`.
fn is_valid_tool_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A valid id derived from one Anthropic would refuse: the same input gives the same id, so
/// a call and its result still match.
fn safe_tool_id(id: &str) -> String {
    let prefix: String = id.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').take(40).collect();
    format!("{prefix}_{:016x}", crate::doors::affinity::stable_hash(id.as_bytes()))
}

/// A non-streamed Anthropic reply: checked, `model` set to the client's name, usage read.
pub fn read_reply(body: &[u8], alias: &str) -> Result<(Bytes, Option<Usage>), AdapterError> {
    let mut reply = RawObject::parse(body)
        .map_err(|e| AdapterError::upstream(format!("the upstream answered with invalid JSON: {e}")))?;
    if reply.field::<String>("type").as_deref() == Some("error") {
        let message = reply.field::<Value>("error").map(|e| e["message"].to_string()).unwrap_or_default();
        return Err(AdapterError::upstream(format!("the upstream answered with an error: {message}")));
    }
    let usage = reply.field::<AnthropicUsage>("usage").map(AnthropicUsage::to_usage);
    if reply.contains("model") {
        reply.set("model", &alias).map_err(|e| AdapterError::upstream(e.to_string()))?;
    }
    Ok((Bytes::from(reply.to_vec()), usage))
}

#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(default)]
    usage: Option<AnthropicUsage>,
}

/// The state of one relayed Anthropic stream.
pub struct Relay {
    alias: String,
    usage: AnthropicUsage,
    saw_usage: bool,
    stopped: bool,
}

impl Relay {
    pub fn new(alias: &str) -> Self {
        Self { alias: alias.to_owned(), usage: AnthropicUsage::default(), saw_usage: false, stopped: false }
    }

    fn message_start(&mut self, data: &str) -> Result<Bytes, StreamError> {
        let mut event: Value =
            serde_json::from_str(data).map_err(|e| StreamError::Corrupt(format!("message_start: {e}")))?;
        if let Some(message) = event.get_mut("message").and_then(Value::as_object_mut) {
            if let Some(usage) = message.get("usage").and_then(|u| AnthropicUsage::deserialize(u).ok()) {
                self.usage = usage;
                self.saw_usage = true;
            }
            message.insert("model".into(), Value::String(self.alias.clone()));
        }
        Ok(encode_event("message_start", event.to_string().as_bytes()))
    }
}

impl StreamTranslator for Relay {
    fn on_event(&mut self, event: &SseEvent, out: &mut Vec<Bytes>) -> Result<Flow, StreamError> {
        let data = event.data.trim();
        if data.is_empty() {
            return Ok(Flow::Continue);
        }
        let probe: Probe<'_> = serde_json::from_str(data)
            .map_err(|e| StreamError::Corrupt(format!("an Anthropic event could not be read: {e}")))?;
        match probe.kind {
            "message_start" => out.push(self.message_start(data)?),
            "error" => {
                let value: Value = serde_json::from_str(data).unwrap_or_default();
                let message = value["error"]["message"].as_str().unwrap_or("unknown error");
                return Err(StreamError::Upstream(message.to_owned()));
            }
            kind => {
                if let (Some(u), "message_delta") = (probe.usage, kind) {
                    // Cumulative output tokens (and, on some proxies, input).
                    self.usage.output_tokens = u.output_tokens;
                    if u.input_tokens > 0 {
                        self.usage.input_tokens = u.input_tokens;
                    }
                    self.saw_usage = true;
                }
                out.push(encode_event(kind, data.as_bytes()));
                if kind == "message_stop" {
                    self.stopped = true;
                    return Ok(Flow::Done);
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_marks_are_taken_out_and_everything_else_kept() {
        let body = RawObject::parse(
            br#"{"model":"a","messages":[{"role":"assistant","content":[{"type":"thinking","thinking":"x","signature":"uni-api:foreign-reasoning"},{"type":"tool_use","id":"call_1.ts.ab+/=","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_1.ts.ab+/=","content":"ok"}]}],"max_tokens":5}"#,
        )
        .unwrap();
        let messages = foreign_free_messages(&body).unwrap().unwrap();
        let value: Value = serde_json::from_str(messages.get()).unwrap();
        let id = value[0]["content"][0]["id"].as_str().unwrap();
        assert!(is_valid_tool_id(id), "{id}");
        assert_eq!(value[1]["content"][0]["tool_use_id"], id);
        assert_eq!(value[0]["content"].as_array().unwrap().len(), 1, "the foreign thinking block is gone");
        let clean = RawObject::parse(br#"{"model":"a","messages":[{"role":"user","content":"hi"}]}"#).unwrap();
        assert!(foreign_free_messages(&clean).unwrap().is_none());
    }
}
