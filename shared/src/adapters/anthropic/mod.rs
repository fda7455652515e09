//! Anthropic Messages API (`/v1/messages`): OpenAI chat requests in, OpenAI completions and
//! chunks out.

mod request;
mod response;
mod stream;

pub use request::build_request;
pub(crate) use request::payload;
pub use response::parse_response;
pub(crate) use response::AnthropicUsage;
pub use stream::StreamToOpenAi;

use super::urls;

/// The API version every request names.
pub const API_VERSION: &str = "2023-06-01";

/// `base_url` may be a full endpoint (used as written, even one of another dialect's shape), a
/// `…/v1` base or a bare origin.
pub fn messages_url(base_url: &str) -> String {
    match urls::named_endpoint(base_url) {
        Some(endpoint) => endpoint.to_owned(),
        None => beside_messages(base_url, "/messages"),
    }
}

/// The sibling model listing (`GET /v1/models`).
pub fn models_url(base_url: &str) -> String {
    beside_messages(base_url, "/models")
}

/// Token counting (`POST /v1/messages/count_tokens`).
pub fn count_tokens_url(base_url: &str) -> String {
    beside_messages(base_url, "/messages/count_tokens")
}

fn beside_messages(base_url: &str, path: &str) -> String {
    let (root, _) = urls::split_endpoint(base_url);
    if root.ends_with("/v1") {
        format!("{root}{path}")
    } else {
        format!("{root}/v1{path}")
    }
}

/// OpenAI's `finish_reason` for an Anthropic `stop_reason`.
pub fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop", // end_turn, stop_sequence, pause_turn
    }
}

#[cfg(test)]
mod tests;
