//! The Anthropic Messages door: `POST /v1/messages` (any query string, e.g. Claude Code's
//! `?beta=true`) and `POST /v1/messages/count_tokens`.
//!
//! To an Anthropic or Vertex Claude channel the body goes through as the client wrote it, with
//! only `model` replaced (`native`); to any other vendor it is translated to the hub
//! (`to_chat`) and the hub's reply and chunks are written back as Anthropic's (`reply`,
//! `stream`). Errors are Anthropic's (`error`).

pub mod error;
pub mod native;
mod reply;
mod stream;
mod to_chat;

pub use reply::from_chat as reply_from_chat;
pub use stream::FromChat;
pub use to_chat::{to_chat, MAX_FORWARDED_MAX_TOKENS};

use serde_json::{json, Value};

use crate::usage::Usage;

/// The signature of thinking blocks this gateway writes for reasoning from another vendor.
/// Anthropic would reject it, so such blocks are taken out before a request goes to Claude.
pub const FOREIGN_SIGNATURE: &str = "uni-api:foreign-reasoning";

/// Anthropic's `stop_reason` for an OpenAI `finish_reason`.
pub fn stop_reason(finish: &str) -> &'static str {
    match finish {
        "length" => "max_tokens",
        "tool_calls" | "function_call" => "tool_use",
        "content_filter" => "refusal",
        _ => "end_turn",
    }
}

/// `msg_…` from the hub's completion id, or from the nonce.
pub(crate) fn message_id(hub_id: &str, nonce: u64) -> String {
    let id = hub_id.trim_start_matches("chatcmpl-");
    if id.is_empty() {
        format!("msg_{nonce:016x}")
    } else if id.starts_with("msg_") {
        id.to_owned()
    } else {
        format!("msg_{id}")
    }
}

/// Anthropic's usage object: input excludes the cached part, reported on its own.
pub(crate) fn usage_json(usage: Option<&Usage>) -> Value {
    let u = usage.copied().unwrap_or_default();
    json!({
        "input_tokens": u.prompt_tokens.saturating_sub(u.cached_tokens),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": u.cached_tokens,
        "output_tokens": u.completion_tokens,
    })
}

/// `{"input_tokens": N}`: the count tokens answer.
pub fn count_answer(tokens: u64) -> Value {
    json!({ "input_tokens": tokens })
}
