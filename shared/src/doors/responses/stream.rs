//! OpenAI chat chunks (the hub) → Responses SSE events, one chunk at a time.
//!
//! | hub event        | Responses events                                                          |
//! |------------------|---------------------------------------------------------------------------|
//! | first chunk      | `response.created`, `response.in_progress`                                 |
//! | reasoning text   | (new item) `output_item.added`, `reasoning_summary_part.added`; `reasoning_summary_text.delta` |
//! | text             | (new item) `output_item.added`, `content_part.added`; `output_text.delta`  |
//! | tool call start  | `output_item.added` (`function_call` or `custom_tool_call`)                |
//! | tool arguments   | `function_call_arguments.delta` (a custom tool's input is sent whole when the call ends) |
//! | item ends        | `…text.done` / `…arguments.done` / `custom_tool_call_input.done`, `…part.done`, `output_item.done` |
//! | end              | `response.completed` (or `response.incomplete` after a `length` finish) with every item and usage |
//! | failure          | `response.failed` with the error; no `response.completed`                  |
//!
//! Every event carries a `sequence_number` counting from 0.

use std::collections::VecDeque;

use bytes::Bytes;
use serde_json::{json, Value};

use super::reply::{call_item, message_item, reasoning_item};
use super::tools::{CallKind, ToolMap};
use super::{outcome, response_object, FOREIGN_REASONING_PREFIX};
use crate::adapters::raw::RawObject;
use crate::adapters::ResponseCtx;
use crate::doors::hub::{read_chunk, HubEvent};
use crate::stream::{FrameEncoder, StreamError};
use crate::usage::Usage;

/// The item being written.
enum Open {
    Reasoning { index: usize, id: String, text: String },
    Message { index: usize, id: String, text: String },
    Call { index: usize, hub_index: usize, call_id: String, name: String, arguments: String },
}

/// The encoder's state for one stream.
pub struct FromChat {
    ctx: ResponseCtx,
    tools: ToolMap,
    sequence: u64,
    started: bool,
    /// Finished items, for `response.completed`.
    done: Vec<Value>,
    open: Option<Open>,
    finish: Option<String>,
    usage: Option<Usage>,
    events: Vec<HubEvent>,
}

impl FromChat {
    pub fn new(ctx: ResponseCtx, request: &RawObject) -> Self {
        Self {
            ctx,
            tools: ToolMap::of(request),
            sequence: 0,
            started: false,
            done: Vec::new(),
            open: None,
            finish: None,
            usage: None,
            events: Vec::new(),
        }
    }

    fn emit(&mut self, out: &mut VecDeque<Bytes>, kind: &str, mut data: Value) {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        out.push_back(crate::sse::encode_event(kind, data.to_string().as_bytes()));
    }

    fn start(&mut self, out: &mut VecDeque<Bytes>) {
        if self.started {
            return;
        }
        self.started = true;
        let response = response_object(&self.ctx, "in_progress", Vec::new(), None);
        self.emit(out, "response.created", json!({ "response": response }));
        self.emit(out, "response.in_progress", json!({ "response": response }));
    }

    fn next_id(&self, prefix: &str) -> String {
        format!("{prefix}{:016x}_{}", self.ctx.nonce, self.done.len())
    }

    fn close(&mut self, out: &mut VecDeque<Bytes>) {
        let Some(open) = self.open.take() else { return };
        let item = match open {
            Open::Reasoning { index, id, text } => {
                let part = json!({ "type": "summary_text", "text": text });
                let at = json!({ "item_id": id, "output_index": index, "summary_index": 0 });
                self.emit(out, "response.reasoning_summary_text.done", merge(&at, json!({ "text": text })));
                self.emit(out, "response.reasoning_summary_part.done", merge(&at, json!({ "part": part })));
                (index, reasoning_item(&id, &text))
            }
            Open::Message { index, id, text } => {
                let part = json!({ "type": "output_text", "text": text, "annotations": [] });
                let at = json!({ "item_id": id, "output_index": index, "content_index": 0 });
                self.emit(out, "response.output_text.done", merge(&at, json!({ "text": text, "logprobs": [] })));
                self.emit(out, "response.content_part.done", merge(&at, json!({ "part": part })));
                (index, message_item(&id, &text, "completed"))
            }
            Open::Call { index, call_id, name, arguments, .. } => {
                let item = call_item(&self.tools, &call_id, &name, &arguments, "completed");
                let at = json!({ "item_id": item["id"], "output_index": index });
                if item["type"] == "custom_tool_call" {
                    let input = item["input"].clone();
                    self.emit(out, "response.custom_tool_call_input.delta", merge(&at, json!({ "delta": input })));
                    self.emit(out, "response.custom_tool_call_input.done", merge(&at, json!({ "input": input })));
                } else {
                    self.emit(
                        out,
                        "response.function_call_arguments.done",
                        merge(&at, json!({ "arguments": arguments })),
                    );
                }
                (index, item)
            }
        };
        let (index, item) = item;
        self.emit(out, "response.output_item.done", json!({ "output_index": index, "item": item }));
        self.done.push(item);
    }

    fn apply(&mut self, event: HubEvent, out: &mut VecDeque<Bytes>) -> Result<(), StreamError> {
        match event {
            HubEvent::Reasoning(delta) => {
                if !matches!(self.open, Some(Open::Reasoning { .. })) {
                    self.close(out);
                    let (index, id) = (self.done.len(), self.next_id(FOREIGN_REASONING_PREFIX));
                    let item = json!({ "id": id, "type": "reasoning", "summary": [] });
                    self.emit(out, "response.output_item.added", json!({ "output_index": index, "item": item }));
                    let part = json!({ "type": "summary_text", "text": "" });
                    let added = json!({ "item_id": id, "output_index": index, "summary_index": 0, "part": part });
                    self.emit(out, "response.reasoning_summary_part.added", added);
                    self.open = Some(Open::Reasoning { index, id, text: String::new() });
                }
                let data = match &mut self.open {
                    Some(Open::Reasoning { index, id, text }) => {
                        text.push_str(&delta);
                        json!({ "item_id": id, "output_index": index, "summary_index": 0, "delta": delta })
                    }
                    _ => return Ok(()),
                };
                self.emit(out, "response.reasoning_summary_text.delta", data);
            }
            HubEvent::Text(delta) => {
                if !matches!(self.open, Some(Open::Message { .. })) {
                    self.close(out);
                    let (index, id) = (self.done.len(), self.next_id("msg_"));
                    let item = json!({ "id": id, "type": "message", "status": "in_progress", "role": "assistant", "content": [] });
                    self.emit(out, "response.output_item.added", json!({ "output_index": index, "item": item }));
                    let part = json!({ "type": "output_text", "text": "", "annotations": [] });
                    let added = json!({ "item_id": id, "output_index": index, "content_index": 0, "part": part });
                    self.emit(out, "response.content_part.added", added);
                    self.open = Some(Open::Message { index, id, text: String::new() });
                }
                let data = match &mut self.open {
                    Some(Open::Message { index, id, text }) => {
                        text.push_str(&delta);
                        json!({ "item_id": id, "output_index": index, "content_index": 0, "delta": delta, "logprobs": [] })
                    }
                    _ => return Ok(()),
                };
                self.emit(out, "response.output_text.delta", data);
            }
            HubEvent::ToolStart { index: hub_index, id, name } => {
                self.close(out);
                let index = self.done.len();
                let item = call_item(&self.tools, &id, &name, "", "in_progress");
                self.emit(out, "response.output_item.added", json!({ "output_index": index, "item": item }));
                self.open = Some(Open::Call { index, hub_index, call_id: id, name, arguments: String::new() });
            }
            HubEvent::ToolArguments { index: hub, arguments: delta } => {
                let data = match &mut self.open {
                    Some(Open::Call { index, hub_index, call_id, name, arguments }) if *hub_index == hub => {
                        arguments.push_str(&delta);
                        // A free-form tool's input is inside JSON: it is sent whole when the call ends.
                        let custom = matches!(self.tools.call(name), CallKind::Custom { .. });
                        (!custom).then(
                            || json!({ "item_id": format!("fc_{call_id}"), "output_index": *index, "delta": delta }),
                        )
                    }
                    _ => return Err(StreamError::Corrupt(format!("arguments for tool call {hub}, which is not open"))),
                };
                if let Some(data) = data {
                    self.emit(out, "response.function_call_arguments.delta", data);
                }
            }
            HubEvent::Finish(reason) => self.finish = Some(reason),
            HubEvent::Usage(usage) => self.usage = Some(usage),
        }
        Ok(())
    }
}

/// `base` with `more`'s fields added.
fn merge(base: &Value, more: Value) -> Value {
    let mut merged = base.clone();
    if let (Some(m), Value::Object(extra)) = (merged.as_object_mut(), more) {
        m.extend(extra);
    }
    merged
}

impl FrameEncoder for FromChat {
    fn encode(&mut self, payload: Bytes, out: &mut VecDeque<Bytes>) -> Result<(), StreamError> {
        let mut events = std::mem::take(&mut self.events);
        let read = read_chunk(&payload, &mut events);
        self.start(out);
        let applied = events.drain(..).try_for_each(|event| self.apply(event, out));
        self.events = events;
        read.and(applied)
    }

    fn end(&mut self, out: &mut VecDeque<Bytes>) {
        self.start(out);
        self.close(out);
        let (status, incomplete) = outcome(self.finish.as_deref());
        let mut response = response_object(&self.ctx, status, std::mem::take(&mut self.done), self.usage.as_ref());
        response["incomplete_details"] = incomplete;
        let kind = if status == "completed" { "response.completed" } else { "response.incomplete" };
        self.emit(out, kind, json!({ "response": response }));
    }

    fn fail(&mut self, error: &StreamError, out: &mut VecDeque<Bytes>) {
        let frame = failed_frame(&self.ctx, std::mem::take(&mut self.done), error, self.sequence);
        out.push_back(frame);
    }

    fn content_started(&self) -> bool {
        self.open.is_some() || !self.done.is_empty()
    }
}

/// `response.failed` for a stream that broke: the items finished so far and the error.
pub(crate) fn failed_frame(ctx: &ResponseCtx, output: Vec<Value>, error: &StreamError, sequence: u64) -> Bytes {
    let mut response = response_object(ctx, "failed", output, None);
    response["error"] = json!({ "code": error.code(), "message": error.to_string() });
    let data = json!({ "type": "response.failed", "sequence_number": sequence, "response": response });
    crate::sse::encode_event("response.failed", data.to_string().as_bytes())
}
