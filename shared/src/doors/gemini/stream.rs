//! OpenAI chat chunks (the hub) → Gemini streamed responses, one chunk at a time.
//!
//! | hub event        | Gemini output                                                       |
//! |------------------|---------------------------------------------------------------------|
//! | reasoning text   | a response with a `thought: true` text part                          |
//! | text             | a response with a text part                                          |
//! | tool call        | held until its arguments are whole, then a `functionCall` part       |
//! | `finish_reason`, usage | remembered                                                     |
//! | end              | a last response with the held calls, `finishReason` and `usageMetadata` |
//! | failure          | an `{"error": …}` element (Google's stream error)                    |
//!
//! Framing: `data:` events (`?alt=sse`) or the elements of one JSON array (`[`, `,`, `]`).

use std::collections::VecDeque;

use bytes::Bytes;
use serde_json::{json, Value};

use super::reply::{call_part, response_id};
use super::{error, finish_reason, usage_json, Framing};
use crate::adapters::ResponseCtx;
use crate::doors::hub::{read_chunk, HubEvent, HubToolCall};
use crate::stream::{FrameEncoder, StreamError};
use crate::usage::Usage;

/// The encoder's state for one stream.
pub struct FromChat {
    ctx: ResponseCtx,
    framing: Framing,
    /// Elements written so far (JSON array framing needs `,` before all but the first).
    written: usize,
    /// Tool calls whose arguments are still arriving, by hub index.
    calls: Vec<(usize, HubToolCall)>,
    finish: Option<String>,
    usage: Option<Usage>,
    events: Vec<HubEvent>,
}

impl FromChat {
    pub fn new(ctx: ResponseCtx, framing: Framing) -> Self {
        Self { ctx, framing, written: 0, calls: Vec::new(), finish: None, usage: None, events: Vec::new() }
    }

    fn response(&self, parts: Vec<Value>) -> Value {
        json!({
            "candidates": [{ "content": { "role": "model", "parts": parts }, "index": 0 }],
            "modelVersion": self.ctx.alias,
            "responseId": response_id("", self.ctx.nonce),
        })
    }

    fn write(&mut self, element: &Value, out: &mut VecDeque<Bytes>) {
        out.push_back(frame(self.framing, self.written, element));
        self.written += 1;
    }
}

/// One element in the given framing (`index`: how many were written before it).
pub(crate) fn frame(framing: Framing, index: usize, element: &Value) -> Bytes {
    frame_bytes(framing, index, element.to_string().as_bytes())
}

/// One element, already JSON text, in the given framing.
pub(crate) fn frame_bytes(framing: Framing, index: usize, element: &[u8]) -> Bytes {
    match framing {
        Framing::Sse => crate::sse::encode_data(element),
        Framing::JsonArray => {
            let lead: &[u8] = if index == 0 { b"[" } else { b",\r\n" };
            let mut out = Vec::with_capacity(lead.len() + element.len());
            out.extend_from_slice(lead);
            out.extend_from_slice(element);
            Bytes::from(out)
        }
    }
}

/// What closes a stream in the given framing.
pub(crate) fn close(framing: Framing, written: usize) -> Option<Bytes> {
    match framing {
        Framing::Sse => None,
        Framing::JsonArray if written == 0 => Some(Bytes::from_static(b"[]")),
        Framing::JsonArray => Some(Bytes::from_static(b"]")),
    }
}

impl FrameEncoder for FromChat {
    fn encode(&mut self, payload: Bytes, out: &mut VecDeque<Bytes>) -> Result<(), StreamError> {
        let mut events = std::mem::take(&mut self.events);
        let read = read_chunk(&payload, &mut events);
        let mut parts = Vec::new();
        for event in events.drain(..) {
            match event {
                HubEvent::Reasoning(text) => parts.push(json!({ "text": text, "thought": true })),
                HubEvent::Text(text) => parts.push(json!({ "text": text })),
                HubEvent::ToolStart { index, id, name } => {
                    self.calls.push((index, HubToolCall { id, name, arguments: String::new() }));
                }
                HubEvent::ToolArguments { index, arguments } => {
                    match self.calls.iter_mut().find(|(i, _)| *i == index) {
                        Some((_, call)) => call.arguments.push_str(&arguments),
                        None => return Err(StreamError::Corrupt(format!("arguments for unknown tool call {index}"))),
                    }
                }
                HubEvent::Finish(reason) => self.finish = Some(reason),
                HubEvent::Usage(usage) => self.usage = Some(usage),
            }
        }
        self.events = events;
        read?;
        if !parts.is_empty() {
            let response = self.response(parts);
            self.write(&response, out);
        }
        Ok(())
    }

    fn end(&mut self, out: &mut VecDeque<Bytes>) {
        let parts: Vec<Value> = self.calls.drain(..).map(|(_, call)| call_part(&call)).collect();
        let mut last = self.response(parts);
        last["candidates"][0]["finishReason"] = json!(finish_reason(self.finish.as_deref().unwrap_or("stop")));
        if let Some(usage) = &self.usage {
            last["usageMetadata"] = usage_json(usage);
        }
        self.write(&last, out);
        out.extend(close(self.framing, self.written));
    }

    fn fail(&mut self, error: &StreamError, out: &mut VecDeque<Bytes>) {
        out.push_back(frame(self.framing, self.written, &error::stream_error(error)));
        self.written += 1;
        out.extend(close(self.framing, self.written));
    }

    /// Every response it writes carries output (calls are held until whole).
    fn content_started(&self) -> bool {
        self.written > 0 || !self.calls.is_empty()
    }
}
