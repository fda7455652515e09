//! Answers in each upstream dialect, for mocks: the dialect is read from the request path, and
//! the answer is streamed when the request asks for it.

use serde_json::{json, Value};

/// The upstream API a request path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    OpenAi,
    Anthropic,
    Gemini,
    Responses,
}

impl Dialect {
    pub fn of(path: &str) -> Self {
        if path.ends_with("/messages") || path.contains(":rawPredict") || path.contains(":streamRawPredict") {
            Self::Anthropic
        } else if path.contains(":generateContent") || path.contains(":streamGenerateContent") {
            Self::Gemini
        } else if path.ends_with("/responses") {
            Self::Responses
        } else {
            Self::OpenAi
        }
    }
}

/// What an answer says.
#[derive(Clone, Debug)]
pub enum Said {
    Text(String),
    /// A call of tool `name` with these arguments.
    ToolCall {
        id: String,
        name: String,
        arguments: Value,
    },
}

pub const PROMPT_TOKENS: u64 = 3;
pub const COMPLETION_TOKENS: u64 = 2;

/// A whole answer (JSON) in `dialect`, with `model` as the upstream reports it.
pub fn whole(dialect: Dialect, said: &Said, model: &Value) -> Value {
    match dialect {
        Dialect::OpenAi => {
            let message = match said {
                Said::Text(text) => json!({"role": "assistant", "content": text}),
                Said::ToolCall { id, name, arguments } => json!({"role": "assistant", "content": null,
                    "tool_calls": [{"id": id, "type": "function", "function": {"name": name, "arguments": arguments.to_string()}}]}),
            };
            let finish = if matches!(said, Said::Text(_)) { "stop" } else { "tool_calls" };
            json!({"id": "chatcmpl-m", "object": "chat.completion", "created": 1, "model": model,
                   "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                   "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS, "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS}})
        }
        Dialect::Anthropic => {
            let (block, stop) = match said {
                Said::Text(text) => (json!({"type": "text", "text": text}), "end_turn"),
                Said::ToolCall { id, name, arguments } => {
                    (json!({"type": "tool_use", "id": id, "name": name, "input": arguments}), "tool_use")
                }
            };
            json!({"id": "msg_mock", "type": "message", "role": "assistant", "model": model, "content": [block],
                   "stop_reason": stop, "stop_sequence": null,
                   "usage": {"input_tokens": PROMPT_TOKENS, "output_tokens": COMPLETION_TOKENS}})
        }
        Dialect::Gemini => {
            let part = match said {
                Said::Text(text) => json!({"text": text}),
                Said::ToolCall { name, arguments, .. } => json!({"functionCall": {"name": name, "args": arguments}}),
            };
            json!({"candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}],
                   "usageMetadata": gemini_usage(), "modelVersion": model, "responseId": "resp-mock"})
        }
        Dialect::Responses => {
            let item = responses_item(said, true);
            json!({"id": "resp_mock", "object": "response", "created_at": 1, "status": "completed", "model": model,
                   "output": [item], "usage": responses_usage()})
        }
    }
}

fn gemini_usage() -> Value {
    json!({"promptTokenCount": PROMPT_TOKENS, "candidatesTokenCount": COMPLETION_TOKENS, "totalTokenCount": PROMPT_TOKENS + COMPLETION_TOKENS})
}

fn responses_usage() -> Value {
    json!({"input_tokens": PROMPT_TOKENS, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": COMPLETION_TOKENS,
           "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS})
}

fn responses_item(said: &Said, done: bool) -> Value {
    let status = if done { "completed" } else { "in_progress" };
    match said {
        Said::Text(text) => json!({"id": "msg_mock", "type": "message", "status": status, "role": "assistant",
            "content": if done { json!([{"type": "output_text", "text": text, "annotations": []}]) } else { json!([]) }}),
        Said::ToolCall { id, name, arguments } => json!({"id": "fc_mock", "type": "function_call", "status": status,
            "call_id": id, "name": name, "arguments": if done { arguments.to_string() } else { String::new() }}),
    }
}

/// A streamed answer in `dialect`: the SSE body.
pub fn streamed(dialect: Dialect, said: &Said, model: &Value, include_usage: bool) -> String {
    let data = |v: Value| format!("data: {v}\n\n");
    let event = |name: &str, v: Value| format!("event: {name}\ndata: {v}\n\n");
    match dialect {
        Dialect::OpenAi => {
            let chunk = |delta: Value, finish: Value| {
                json!({"id": "chatcmpl-m", "object": "chat.completion.chunk", "created": 1, "model": model,
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
            };
            let mut out = data(chunk(json!({"role": "assistant", "content": ""}), Value::Null));
            match said {
                Said::Text(text) => {
                    let (a, b) = text.split_at(text.len() / 2);
                    out += &data(chunk(json!({"content": a}), Value::Null));
                    out += &data(chunk(json!({"content": b}), Value::Null));
                    out += &data(chunk(json!({}), json!("stop")));
                }
                Said::ToolCall { id, name, arguments } => {
                    let args = arguments.to_string();
                    let (a, b) = args.split_at(args.len() / 2);
                    out += &data(chunk(
                        json!({"tool_calls": [{"index": 0, "id": id, "type": "function", "function": {"name": name, "arguments": a}}]}),
                        Value::Null,
                    ));
                    out +=
                        &data(chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": b}}]}), Value::Null));
                    out += &data(chunk(json!({}), json!("tool_calls")));
                }
            }
            if include_usage {
                out += &data(
                    json!({"id": "chatcmpl-m", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": [],
                    "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS, "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS}}),
                );
            }
            out + "data: [DONE]\n\n"
        }
        Dialect::Anthropic => {
            let mut out = event(
                "message_start",
                json!({"type": "message_start", "message": {"id": "msg_mock", "type": "message",
                "role": "assistant", "model": model, "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": PROMPT_TOKENS, "output_tokens": 1}}}),
            );
            out += &event("ping", json!({"type": "ping"}));
            let stop = match said {
                Said::Text(text) => {
                    let (a, b) = text.split_at(text.len() / 2);
                    out += &event(
                        "content_block_start",
                        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
                    );
                    for piece in [a, b] {
                        out += &event(
                            "content_block_delta",
                            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}),
                        );
                    }
                    "end_turn"
                }
                Said::ToolCall { id, name, arguments } => {
                    let args = arguments.to_string();
                    let (a, b) = args.split_at(args.len() / 2);
                    out += &event(
                        "content_block_start",
                        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
                    );
                    for piece in [a, b] {
                        out += &event(
                            "content_block_delta",
                            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": piece}}),
                        );
                    }
                    "tool_use"
                }
            };
            out += &event("content_block_stop", json!({"type": "content_block_stop", "index": 0}));
            out += &event(
                "message_delta",
                json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": COMPLETION_TOKENS}}),
            );
            out + &event("message_stop", json!({"type": "message_stop"}))
        }
        Dialect::Gemini => {
            let chunk = |parts: Value, last: bool| {
                let mut c = json!({"candidates": [{"content": {"role": "model", "parts": parts}, "index": 0}], "modelVersion": model, "responseId": "resp-mock"});
                if last {
                    c["candidates"][0]["finishReason"] = json!("STOP");
                    c["usageMetadata"] = gemini_usage();
                }
                c
            };
            match said {
                Said::Text(text) => {
                    let (a, b) = text.split_at(text.len() / 2);
                    data(chunk(json!([{"text": a}]), false)) + &data(chunk(json!([{"text": b}]), true))
                }
                Said::ToolCall { name, arguments, .. } => data(chunk(
                    json!([{"functionCall": {"name": name, "args": arguments}, "thoughtSignature": "c2ln"}]),
                    true,
                )),
            }
        }
        Dialect::Responses => {
            let mut seq = 0;
            let mut next = |name: &str, mut v: Value| {
                v["type"] = json!(name);
                v["sequence_number"] = json!(seq);
                seq += 1;
                event(name, v)
            };
            let base = json!({"id": "resp_mock", "object": "response", "created_at": 1, "status": "in_progress", "model": model, "output": []});
            let mut out = next("response.created", json!({"response": base}));
            out += &next("response.in_progress", json!({"response": base}));
            out += &next("response.output_item.added", json!({"output_index": 0, "item": responses_item(said, false)}));
            match said {
                Said::Text(text) => {
                    out += &next(
                        "response.content_part.added",
                        json!({"item_id": "msg_mock", "output_index": 0, "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}),
                    );
                    let (a, b) = text.split_at(text.len() / 2);
                    for piece in [a, b] {
                        out += &next(
                            "response.output_text.delta",
                            json!({"item_id": "msg_mock", "output_index": 0, "content_index": 0, "delta": piece}),
                        );
                    }
                    out += &next(
                        "response.output_text.done",
                        json!({"item_id": "msg_mock", "output_index": 0, "content_index": 0, "text": text}),
                    );
                    out += &next(
                        "response.content_part.done",
                        json!({"item_id": "msg_mock", "output_index": 0, "content_index": 0, "part": {"type": "output_text", "text": text, "annotations": []}}),
                    );
                }
                Said::ToolCall { arguments, .. } => {
                    out += &next(
                        "response.function_call_arguments.delta",
                        json!({"item_id": "fc_mock", "output_index": 0, "delta": arguments.to_string()}),
                    );
                    out += &next(
                        "response.function_call_arguments.done",
                        json!({"item_id": "fc_mock", "output_index": 0, "arguments": arguments.to_string()}),
                    );
                }
            }
            out += &next("response.output_item.done", json!({"output_index": 0, "item": responses_item(said, true)}));
            let mut done = base.clone();
            done["status"] = json!("completed");
            done["output"] = json!([responses_item(said, true)]);
            done["usage"] = responses_usage();
            out + &next("response.completed", json!({"response": done}))
        }
    }
}
