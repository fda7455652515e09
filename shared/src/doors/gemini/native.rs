//! Gemini to a Gemini or Vertex Gemini channel: the body as the client wrote it (the model is
//! in the URL), the reply and each streamed response with `modelVersion` set to the client's
//! model. Upstream streams are always read as server-sent events and framed for the client as
//! it asked (`Frames`).
//!
//! | upstream response               | relayed as                                          |
//! |---------------------------------|-----------------------------------------------------|
//! | a response                      | itself, `modelVersion` = the client's name; usage remembered |
//! | one with a `finishReason`       | the same; the stream is complete once it ends        |
//! | `{"error": …}`                  | `StreamError::Upstream` (Google's error element)     |
//! | EOF before a `finishReason`     | `StreamError::Truncated`                             |

use std::collections::VecDeque;

use bytes::Bytes;
use serde::Deserialize;

use super::stream::{close, frame, frame_bytes};
use super::{error, Framing};
use crate::adapters::gemini::{model_url, UsageMetadata};
use crate::adapters::raw::RawObject;
use crate::adapters::{bearer, key_header, vertex, AdapterError, Built};
use crate::config::{Provider, Secret};
use crate::sse::SseEvent;
use crate::stream::{Flow, FrameEncoder, StreamError, StreamTranslator};
use crate::usage::Usage;

pub fn build_request(
    provider: &Provider,
    key: Option<&Secret>,
    body: &RawObject,
    upstream_model: &str,
    stream: bool,
    region: Option<&str>,
) -> Built {
    let (url, auth) = match (region, provider.vertex.as_ref()) {
        (Some(region), Some(account)) => {
            (vertex::model_url(provider, account, region, upstream_model, stream), bearer(key))
        }
        _ => (model_url(&provider.base_url, upstream_model, stream), key_header("x-goog-api-key", key)),
    };
    let mut builder = http::Request::builder()
        .method(http::Method::POST)
        .uri(url)
        .header(http::header::CONTENT_TYPE, "application/json");
    if let Some((name, value)) = auth {
        let value = http::HeaderValue::try_from(value)
            .map_err(|_| AdapterError::config("the upstream key contains characters not allowed in a header"))?;
        builder = builder.header(name, value);
    }
    // The body has no model field: it goes out as the client wrote it.
    let mut request = builder.body(Bytes::from(body.to_vec())).map_err(|e| AdapterError::config(e.to_string()))?;
    for (name, value) in &provider.headers {
        request.headers_mut().insert(name.clone(), value.clone());
    }
    Ok(request)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    #[serde(default)]
    candidates: Vec<CandidateProbe>,
    #[serde(default)]
    usage_metadata: Option<UsageMetadata>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CandidateProbe {
    #[serde(default)]
    finish_reason: Option<String>,
}

/// A non-streamed reply: checked, `modelVersion` set to the client's model, usage read.
pub fn read_reply(body: &[u8], alias: &str) -> Result<(Bytes, Option<Usage>), AdapterError> {
    let mut reply = RawObject::parse(body)
        .map_err(|e| AdapterError::upstream(format!("the upstream answered with invalid JSON: {e}")))?;
    if let Some(error) = reply.present("error") {
        return Err(AdapterError::upstream(format!("the upstream answered with an error: {}", error.get())));
    }
    let usage = reply.field::<UsageMetadata>("usageMetadata").map(UsageMetadata::to_usage);
    reply.set("modelVersion", &alias).map_err(|e| AdapterError::upstream(e.to_string()))?;
    Ok((Bytes::from(reply.to_vec()), usage))
}

/// The state of one relayed Gemini stream; it emits each response as JSON text.
pub struct Relay {
    alias: String,
    usage: Option<UsageMetadata>,
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
        if data.is_empty() {
            return Ok(Flow::Continue);
        }
        let probe: Probe = serde_json::from_str(data)
            .map_err(|e| StreamError::Corrupt(format!("a Gemini response could not be read: {e}")))?;
        if let Some(error) = probe.error {
            let message = error.get("message").and_then(|m| m.as_str()).unwrap_or("unknown error");
            return Err(StreamError::Upstream(message.to_owned()));
        }
        if let Some(usage) = probe.usage_metadata {
            self.usage = Some(usage);
        }
        if probe.candidates.iter().any(|c| c.finish_reason.is_some()) {
            self.finished = true;
        }
        let mut response = RawObject::parse(data.as_bytes()).map_err(|e| StreamError::Corrupt(e.to_string()))?;
        response.set("modelVersion", &self.alias).map_err(|e| StreamError::Corrupt(e.to_string()))?;
        out.push(Bytes::from(response.to_vec()));
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
        self.usage.map(UsageMetadata::to_usage)
    }
}

/// Frames relayed responses as the client asked: events, or one JSON array.
pub struct Frames {
    framing: Framing,
    written: usize,
    content: bool,
}

impl Frames {
    pub fn new(framing: Framing) -> Self {
        Self { framing, written: 0, content: false }
    }

    /// The frames that end a stream which broke before anything was written.
    pub fn failure(mut self, error: &StreamError) -> Bytes {
        let mut out = VecDeque::new();
        self.fail(error, &mut out);
        out.into_iter().flat_map(|b| b.to_vec()).collect::<Vec<u8>>().into()
    }
}

impl FrameEncoder for Frames {
    fn encode(&mut self, payload: Bytes, out: &mut VecDeque<Bytes>) -> Result<(), StreamError> {
        let has = |needle: &[u8]| memchr::memmem::find(&payload, needle).is_some();
        self.content = self.content || has(b"\"text\"") || has(b"\"functionCall\"") || has(b"\"inlineData\"");
        out.push_back(frame_bytes(self.framing, self.written, &payload));
        self.written += 1;
        Ok(())
    }

    fn end(&mut self, out: &mut VecDeque<Bytes>) {
        out.extend(close(self.framing, self.written));
    }

    fn fail(&mut self, error: &StreamError, out: &mut VecDeque<Bytes>) {
        out.push_back(frame(self.framing, self.written, &error::stream_error(error)));
        self.written += 1;
        out.extend(close(self.framing, self.written));
    }

    fn content_started(&self) -> bool {
        self.content
    }
}
