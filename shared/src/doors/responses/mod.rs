//! The OpenAI Responses door: `POST /v1/responses` (Codex), and a plain HTTP refusal of the
//! `GET /v1/responses` WebSocket upgrade so clients fall back to HTTP at once.
//!
//! To an OpenAI-format channel the body goes through with only `model` replaced (`native`);
//! a channel that answers that it has no `/responses` route, and every other dialect, gets the
//! request translated to the hub (`to_chat`), and the hub's reply and chunks come back as a
//! Response and its events (`reply`, `stream`). Errors are OpenAI's.

pub mod native;
mod reply;
mod stream;
mod to_chat;
pub mod tools;

pub use reply::from_chat as reply_from_chat;
pub use stream::FromChat;
pub use to_chat::{is_translatable_tool, to_chat, unservable_tool};

use serde_json::{json, Value};

use crate::adapters::ResponseCtx;
use crate::usage::Usage;

/// The id prefix of reasoning items this gateway writes for another vendor's reasoning; they
/// hold no encrypted content, so they are taken out before a request goes to OpenAI.
pub const FOREIGN_REASONING_PREFIX: &str = "rs_uniapi_";

/// Responses' usage object.
pub(crate) fn usage_json(usage: Option<&Usage>) -> Value {
    let u = usage.copied().unwrap_or_default();
    json!({
        "input_tokens": u.prompt_tokens,
        "input_tokens_details": { "cached_tokens": u.cached_tokens },
        "output_tokens": u.completion_tokens,
        "output_tokens_details": { "reasoning_tokens": u.reasoning_tokens },
        "total_tokens": u.total_tokens,
    })
}

/// `resp_…` for a translated response.
pub(crate) fn response_id(ctx: &ResponseCtx) -> String {
    format!("resp_{:016x}", ctx.nonce)
}

/// The status and `incomplete_details` a `finish_reason` gives.
pub(crate) fn outcome(finish: Option<&str>) -> (&'static str, Value) {
    match finish {
        Some("length") => ("incomplete", json!({ "reason": "max_output_tokens" })),
        Some("content_filter") => ("incomplete", json!({ "reason": "content_filter" })),
        _ => ("completed", Value::Null),
    }
}

/// A Response object.
pub(crate) fn response_object(ctx: &ResponseCtx, status: &str, output: Vec<Value>, usage: Option<&Usage>) -> Value {
    let mut response = json!({
        "id": response_id(ctx),
        "object": "response",
        "created_at": ctx.created,
        "status": status,
        "model": ctx.alias,
        "output": output,
        "error": Value::Null,
        "incomplete_details": Value::Null,
        "parallel_tool_calls": true,
        "tool_choice": "auto",
        "tools": [],
    });
    if usage.is_some() || status != "in_progress" {
        response["usage"] = usage_json(usage);
    }
    response
}
