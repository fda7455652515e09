//! The Gemini door: `POST /v1beta/models/{model}:generateContent`, `:streamGenerateContent`
//! (server-sent events with `?alt=sse`, else a streamed JSON array) and `:countTokens`, and
//! `GET /v1beta/models` (Gemini CLI). The same under `/v1/models/…`.
//!
//! To a Gemini or Vertex Gemini channel the body goes through untouched (the model is in the
//! URL) and the reply comes back with `modelVersion` set to the client's model (`native`); to
//! any other vendor it is translated to the hub and back (`to_chat`, `reply`, `stream`).
//! Errors are Google's (`error`).

pub mod error;
pub mod native;
mod reply;
mod stream;
mod to_chat;

pub use reply::from_chat as reply_from_chat;
pub use stream::FromChat;
pub use to_chat::{to_chat, unservable_tool};

use serde_json::{json, Value};

use crate::usage::Usage;

/// What a Gemini path asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Generate,
    Stream,
    CountTokens,
}

/// `/v1beta/models/{model}:{method}` (or `/v1/…`) → the model and the method.
pub fn parse_path(path: &str) -> Option<(&str, Method)> {
    let rest = path.strip_prefix("/v1beta/models/").or_else(|| path.strip_prefix("/v1/models/"))?;
    let (model, method) = rest.rsplit_once(':')?;
    let method = match method {
        "generateContent" => Method::Generate,
        "streamGenerateContent" => Method::Stream,
        "countTokens" => Method::CountTokens,
        _ => return None,
    };
    (!model.is_empty() && !model.contains('/')).then_some((model, method))
}

/// How a streamed Gemini reply is framed for the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// `?alt=sse`: one `data:` event per response.
    Sse,
    /// Without it: the responses as one JSON array, written element by element.
    JsonArray,
}

/// Gemini's `finishReason` for an OpenAI `finish_reason`.
pub fn finish_reason(finish: &str) -> &'static str {
    match finish {
        "length" => "MAX_TOKENS",
        "content_filter" => "SAFETY",
        _ => "STOP",
    }
}

/// Gemini's `usageMetadata`: candidates exclude thoughts, which are counted on their own.
pub(crate) fn usage_json(usage: &Usage) -> Value {
    let mut metadata = json!({
        "promptTokenCount": usage.prompt_tokens,
        "candidatesTokenCount": usage.completion_tokens.saturating_sub(usage.reasoning_tokens),
        "totalTokenCount": usage.total_tokens,
    });
    if usage.cached_tokens > 0 {
        metadata["cachedContentTokenCount"] = json!(usage.cached_tokens);
    }
    if usage.reasoning_tokens > 0 {
        metadata["thoughtsTokenCount"] = json!(usage.reasoning_tokens);
    }
    metadata
}

/// `{"totalTokens": N}`: the count tokens answer.
pub fn count_answer(tokens: u64) -> Value {
    json!({ "totalTokens": tokens })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_the_model_and_the_method() {
        assert_eq!(
            parse_path("/v1beta/models/gemini-2.5-flash:streamGenerateContent"),
            Some(("gemini-2.5-flash", Method::Stream))
        );
        assert_eq!(parse_path("/v1/models/m:generateContent"), Some(("m", Method::Generate)));
        assert_eq!(parse_path("/v1beta/models/m:countTokens"), Some(("m", Method::CountTokens)));
        assert_eq!(parse_path("/v1beta/models/m:embedContent"), None);
        assert_eq!(parse_path("/v1beta/models/m"), None);
    }
}
