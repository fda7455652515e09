//! OpenAI chat chunks (the hub) → Anthropic Messages SSE, one chunk at a time.
//!
//! | hub event                  | state                               | Anthropic events                                  |
//! |----------------------------|-------------------------------------|---------------------------------------------------|
//! | first chunk                | started                             | `message_start` (usage so far: none), `ping`      |
//! | reasoning text             | open a `thinking` block if needed   | `content_block_start`, `thinking_delta`           |
//! | text                       | open a `text` block if needed       | `content_block_start`, `text_delta`               |
//! | tool call start            | close the open block, open tool_use | `content_block_stop`, `content_block_start`       |
//! | tool arguments             | —                                   | `input_json_delta`                                |
//! | `finish_reason`            | stop reason remembered              | none yet                                          |
//! | usage                      | remembered                          | none                                              |
//! | end (the upstream finished) | closed                             | `content_block_stop`, `message_delta` (stop reason, usage), `message_stop` |
//! | failure                    | —                                   | `error` event; no `message_stop`                  |
//!
//! A thinking block closes with a `signature_delta` carrying `FOREIGN_SIGNATURE`. Arguments of a
//! tool call that is no longer the open block (interleaved calls) are a corrupt stream.

use std::collections::VecDeque;

use bytes::Bytes;
use serde_json::{json, Value};

use super::{error, message_id, stop_reason, usage_json, FOREIGN_SIGNATURE};
use crate::adapters::ResponseCtx;
use crate::doors::hub::{read_chunk, HubEvent};
use crate::stream::{FrameEncoder, StreamError};
use crate::usage::Usage;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Block {
    Thinking,
    Text,
    /// A tool call, by OpenAI's tool index.
    Tool(usize),
}

/// The encoder's state for one stream.
pub struct FromChat {
    ctx: ResponseCtx,
    started: bool,
    /// The open block and its Anthropic index.
    open: Option<(Block, usize)>,
    next_index: usize,
    stop: Option<&'static str>,
    usage: Option<Usage>,
    events: Vec<HubEvent>,
    /// A content block has been opened.
    content: bool,
}

impl FromChat {
    pub fn new(ctx: ResponseCtx) -> Self {
        Self {
            ctx,
            started: false,
            open: None,
            next_index: 0,
            stop: None,
            usage: None,
            events: Vec::new(),
            content: false,
        }
    }

    fn start(&mut self, out: &mut VecDeque<Bytes>) {
        if self.started {
            return;
        }
        self.started = true;
        // Written directly rather than through a JSON tree: these frames lie between the
        // upstream's first token and the client.
        let mut data = Vec::with_capacity(256);
        data.extend_from_slice(br#"{"type":"message_start","message":{"id":"#);
        write_str(&mut data, &message_id("", self.ctx.nonce));
        data.extend_from_slice(br#","type":"message","role":"assistant","model":"#);
        write_str(&mut data, &self.ctx.alias);
        data.extend_from_slice(
            br#","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}}"#,
        );
        out.push_back(crate::sse::encode_event("message_start", &data));
        out.push_back(Bytes::from_static(b"event: ping\ndata: {\"type\":\"ping\"}\n\n"));
    }

    /// Makes `block` the open one (closing another), starting it when it is new; `start`
    /// writes the block's opening object.
    fn open(&mut self, block: Block, start: impl FnOnce(&mut Vec<u8>), out: &mut VecDeque<Bytes>) -> usize {
        if let Some((open, index)) = self.open {
            if open == block {
                return index;
            }
        }
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some((block, index));
        self.content = true;
        let mut data = Vec::with_capacity(128);
        data.extend_from_slice(br#"{"type":"content_block_start","index":"#);
        data.extend_from_slice(index.to_string().as_bytes());
        data.extend_from_slice(br#","content_block":"#);
        start(&mut data);
        data.push(b'}');
        out.push_back(crate::sse::encode_event("content_block_start", &data));
        index
    }

    fn close(&mut self, out: &mut VecDeque<Bytes>) {
        if let Some((block, index)) = self.open.take() {
            if block == Block::Thinking {
                out.push_back(delta_frame(index, "signature_delta", "signature", FOREIGN_SIGNATURE));
            }
            let data = format!(r#"{{"type":"content_block_stop","index":{index}}}"#);
            out.push_back(crate::sse::encode_event("content_block_stop", data.as_bytes()));
        }
    }

    fn apply(&mut self, event: HubEvent, out: &mut VecDeque<Bytes>) -> Result<(), StreamError> {
        match event {
            HubEvent::Reasoning(text) => {
                let index =
                    self.open(Block::Thinking, |d| d.extend_from_slice(br#"{"type":"thinking","thinking":""}"#), out);
                out.push_back(delta_frame(index, "thinking_delta", "thinking", &text));
            }
            HubEvent::Text(text) => {
                let index = self.open(Block::Text, |d| d.extend_from_slice(br#"{"type":"text","text":""}"#), out);
                out.push_back(delta_frame(index, "text_delta", "text", &text));
            }
            HubEvent::ToolStart { index, id, name } => {
                self.close(out);
                let start = |d: &mut Vec<u8>| {
                    d.extend_from_slice(br#"{"type":"tool_use","id":"#);
                    write_str(d, &id);
                    d.extend_from_slice(br#","name":"#);
                    write_str(d, &name);
                    d.extend_from_slice(br#","input":{}}"#);
                };
                self.open(Block::Tool(index), start, out);
            }
            HubEvent::ToolArguments { index, arguments } => match self.open {
                Some((Block::Tool(open), block)) if open == index => {
                    out.push_back(delta_frame(block, "input_json_delta", "partial_json", &arguments));
                }
                _ => return Err(StreamError::Corrupt(format!("arguments for tool call {index}, which is not open"))),
            },
            HubEvent::Finish(reason) => self.stop = Some(stop_reason(&reason)),
            HubEvent::Usage(usage) => self.usage = Some(usage),
        }
        Ok(())
    }
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
        let delta = json!({
            "type": "message_delta",
            "delta": { "stop_reason": self.stop.unwrap_or("end_turn"), "stop_sequence": Value::Null },
            "usage": usage_json(self.usage.as_ref()),
        });
        out.push_back(frame("message_delta", &delta));
        out.push_back(frame("message_stop", &json!({ "type": "message_stop" })));
    }

    fn fail(&mut self, error: &StreamError, out: &mut VecDeque<Bytes>) {
        out.push_back(error::stream_frame(error));
    }

    fn content_started(&self) -> bool {
        self.content
    }
}

/// `event: <name>\ndata: <json>\n\n`.
pub(crate) fn frame(name: &str, data: &Value) -> Bytes {
    crate::sse::encode_event(name, data.to_string().as_bytes())
}

/// `content_block_delta` with a delta of one text field.
fn delta_frame(index: usize, kind: &str, field: &str, value: &str) -> Bytes {
    let mut data = Vec::with_capacity(value.len() + 96);
    data.extend_from_slice(br#"{"type":"content_block_delta","index":"#);
    data.extend_from_slice(index.to_string().as_bytes());
    data.extend_from_slice(br#","delta":{"type":""#);
    data.extend_from_slice(kind.as_bytes());
    data.extend_from_slice(br#"",""#);
    data.extend_from_slice(field.as_bytes());
    data.extend_from_slice(br#"":"#);
    write_str(&mut data, value);
    data.extend_from_slice(b"}}");
    crate::sse::encode_event("content_block_delta", &data)
}

/// `value` as a JSON string.
fn write_str(out: &mut Vec<u8>, value: &str) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(out, value);
}
