//! Responses to an OpenAI-format channel: the body as the client wrote it with only `model`
//! replaced, to the `/responses` endpoint beside the channel's chat URL; the reply and events
//! relayed with the client's model name.
//!
//! Reasoning items this gateway wrote for another vendor's reasoning (ids prefixed
//! `FOREIGN_REASONING_PREFIX`, no encrypted content) are taken out of `input` first; only a
//! body that holds the prefix is parsed for it.
//!
//! | event                                         | relayed as                                 |
//! |-----------------------------------------------|--------------------------------------------|
//! | `response.created`, `.in_progress`            | itself, `response.model` = the client's name |
//! | `response.completed`, `.incomplete`           | itself (model renamed); usage read; complete |
//! | `response.failed`, `error`                    | `StreamError::Upstream` (`response.failed`) |
//! | anything else                                 | itself, untouched                           |
//! | EOF before a terminal event                   | `StreamError::Truncated`                    |

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::{to_raw_value, RawValue};
use serde_json::Value;

use super::FOREIGN_REASONING_PREFIX;
use crate::adapters::raw::RawObject;
use crate::adapters::{bearer, openai, AdapterError, Built};
use crate::config::{Provider, Secret};
use crate::sse::{encode_event, SseEvent};
use crate::stream::{Flow, StreamError, StreamTranslator};
use crate::usage::Usage;

/// `base_url` may be a full `…/responses` URL (as configs for the original have), a full chat
/// URL, or a base.
pub fn responses_url(base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    if base.ends_with("/responses") {
        return base.to_owned();
    }
    crate::adapters::openai::sibling_url(base, "/responses")
}

pub fn build_request(
    provider: &Provider,
    key: Option<&Secret>,
    body: &RawObject,
    upstream_model: &str,
    stream: bool,
) -> Built {
    let model = to_raw_value(upstream_model).map_err(|e| AdapterError::config(e.to_string()))?;
    let input = without_foreign_reasoning(body)?;
    let mut replaced: Vec<(&str, &RawValue)> = vec![("model", &model)];
    if let Some(input) = &input {
        replaced.push(("input", input));
    }
    let bytes = body.to_vec_with(&replaced, &[]);
    let mut builder = http::Request::builder()
        .method(http::Method::POST)
        .uri(responses_url(&provider.base_url))
        .header(http::header::CONTENT_TYPE, "application/json");
    if let Some((name, value)) = bearer(key) {
        let value = http::HeaderValue::try_from(value)
            .map_err(|_| AdapterError::config("the upstream key contains characters not allowed in a header"))?;
        builder = builder.header(name, value);
    }
    if stream {
        builder = builder.header(http::header::ACCEPT, "text/event-stream");
    }
    let mut request = builder.body(Bytes::from(bytes)).map_err(|e| AdapterError::config(e.to_string()))?;
    for (name, value) in &provider.headers {
        request.headers_mut().insert(name.clone(), value.clone());
    }
    Ok(request)
}

fn without_foreign_reasoning(body: &RawObject) -> Result<Option<Box<RawValue>>, AdapterError> {
    let Some(raw) = body.get("input") else { return Ok(None) };
    if memchr::memmem::find(raw.get().as_bytes(), FOREIGN_REASONING_PREFIX.as_bytes()).is_none() {
        return Ok(None);
    }
    let mut items: Vec<Value> = match serde_json::from_str(raw.get()) {
        Ok(items) => items,
        Err(_) => return Ok(None),
    };
    items.retain(|item| {
        !(item["type"] == "reasoning" && item["id"].as_str().is_some_and(|id| id.starts_with(FOREIGN_REASONING_PREFIX)))
    });
    to_raw_value(&items).map(Some).map_err(|e| AdapterError::request(e.to_string()))
}

#[derive(Deserialize)]
struct ResponsesUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    total_tokens: u64,
    #[serde(default)]
    input_tokens_details: Option<Details>,
    #[serde(default)]
    output_tokens_details: Option<Details>,
}

#[derive(Default, Deserialize)]
struct Details {
    #[serde(default)]
    cached_tokens: u64,
    #[serde(default)]
    reasoning_tokens: u64,
}

impl ResponsesUsage {
    fn to_usage(&self) -> Usage {
        Usage {
            prompt_tokens: self.input_tokens,
            completion_tokens: self.output_tokens,
            total_tokens: self.total_tokens.max(self.input_tokens + self.output_tokens),
            cached_tokens: self.input_tokens_details.as_ref().map_or(0, |d| d.cached_tokens),
            reasoning_tokens: self.output_tokens_details.as_ref().map_or(0, |d| d.reasoning_tokens),
        }
    }
}

/// A non-streamed Response: checked, `model` set to the client's name, usage read.
pub fn read_reply(body: &[u8], alias: &str) -> Result<(Bytes, Option<Usage>), AdapterError> {
    let mut reply = RawObject::parse(body)
        .map_err(|e| AdapterError::upstream(format!("the upstream answered with invalid JSON: {e}")))?;
    if let Some(error) = reply.present("error") {
        let message = serde_json::from_str::<Value>(error.get()).map(|e| openai::error_message(&e)).unwrap_or_default();
        return Err(AdapterError::upstream(format!("the upstream answered with an error: {message}")));
    }
    let usage = reply.field::<ResponsesUsage>("usage").map(|u| u.to_usage());
    if reply.contains("model") {
        reply.set("model", &alias).map_err(|e| AdapterError::upstream(e.to_string()))?;
    }
    Ok((Bytes::from(reply.to_vec()), usage))
}

#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
}

/// The state of one relayed Responses stream.
pub struct Relay {
    alias: String,
    usage: Option<Usage>,
    finished: bool,
}

impl Relay {
    pub fn new(alias: &str) -> Self {
        Self { alias: alias.to_owned(), usage: None, finished: false }
    }
}

impl StreamTranslator for Relay {
    fn on_event(&mut self, event: &SseEvent, out: &mut Vec<Bytes>) -> Result<Flow, StreamError> {
        let data = event.data.trim();
        if data.is_empty() || data == "[DONE]" {
            return Ok(Flow::Continue);
        }
        let probe: Probe<'_> = serde_json::from_str(data)
            .map_err(|e| StreamError::Corrupt(format!("a Responses event could not be read: {e}")))?;
        match probe.kind {
            "response.created" | "response.in_progress" | "response.completed" | "response.incomplete" => {
                let kind = probe.kind.to_owned();
                let mut value: Value =
                    serde_json::from_str(data).map_err(|e| StreamError::Corrupt(format!("{kind}: {e}")))?;
                if let Some(response) = value.get_mut("response").and_then(Value::as_object_mut) {
                    if let Some(usage) = response.get("usage").and_then(|u| ResponsesUsage::deserialize(u).ok()) {
                        self.usage = Some(usage.to_usage());
                    }
                    response.insert("model".into(), Value::String(self.alias.clone()));
                }
                out.push(encode_event(&kind, value.to_string().as_bytes()));
                if kind == "response.completed" || kind == "response.incomplete" {
                    self.finished = true;
                    return Ok(Flow::Done);
                }
            }
            "response.failed" | "error" => {
                let value: Value = serde_json::from_str(data).unwrap_or_default();
                let error = value.get("response").and_then(|r| r.get("error")).unwrap_or(&value);
                let message = error.get("message").and_then(Value::as_str).unwrap_or("the upstream response failed");
                return Err(StreamError::Upstream(message.to_owned()));
            }
            kind => out.push(encode_event(kind, data.as_bytes())),
        }
        Ok(Flow::Continue)
    }

    fn finish(&mut self) -> Result<(), StreamError> {
        if self.finished {
            Ok(())
        } else {
            Err(StreamError::Truncated)
        }
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }
}

/// `response.failed` ending a relayed stream that broke.
pub fn failed_frame(error: &StreamError) -> Bytes {
    let data = serde_json::json!({
        "type": "response.failed",
        "response": { "id": "resp_failed", "object": "response", "status": "failed", "output": [],
                      "error": { "code": error.code(), "message": error.to_string() } },
    });
    encode_event("response.failed", data.to_string().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_sit_beside_the_chat_url() {
        assert_eq!(responses_url("https://api.openai.com/v1"), "https://api.openai.com/v1/responses");
        assert_eq!(responses_url("https://api.openai.com/v1/chat/completions"), "https://api.openai.com/v1/responses");
        assert_eq!(responses_url("https://api.openai.com/v1/responses"), "https://api.openai.com/v1/responses");
        assert_eq!(responses_url("https://a.io"), "https://a.io/v1/responses");
    }

    #[test]
    fn foreign_reasoning_items_are_taken_out() {
        let body = RawObject::parse(
            br#"{"model":"m","input":[{"type":"reasoning","id":"rs_uniapi_1","summary":[]},{"type":"reasoning","id":"rs_2","encrypted_content":"e"},{"role":"user","content":"hi"}]}"#,
        )
        .unwrap();
        let input = without_foreign_reasoning(&body).unwrap().unwrap();
        assert_eq!(
            input.get(),
            r#"[{"type":"reasoning","id":"rs_2","encrypted_content":"e"},{"role":"user","content":"hi"}]"#
        );
    }
}
