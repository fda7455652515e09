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

/// The API version every request names.
pub const API_VERSION: &str = "2023-06-01";

/// `base_url` may be the full `…/v1/messages` endpoint, a `…/v1` base or a bare origin.
pub fn messages_url(base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    if base.ends_with("/messages") {
        base.to_owned()
    } else if base.ends_with("/v1") {
        format!("{base}/messages")
    } else {
        format!("{base}/v1/messages")
    }
}

/// The sibling model listing (`GET /v1/models`).
pub fn models_url(base_url: &str) -> String {
    let messages = messages_url(base_url);
    format!("{}/models", messages.trim_end_matches("/messages"))
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
