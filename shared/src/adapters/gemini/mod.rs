//! Gemini API (`generateContent` / `streamGenerateContent?alt=sse`): OpenAI chat requests in,
//! OpenAI completions and chunks out. The key travels in the `x-goog-api-key` header, never in
//! the URL, so it cannot leak through a logged URL.

pub mod embeddings;
mod request;
mod response;
mod stream;

pub use request::build_request;
pub(crate) use request::payload;
pub use response::parse_response;
pub(crate) use response::UsageMetadata;
pub use stream::StreamToOpenAi;

/// `base_url` is the API root, e.g. `https://generativelanguage.googleapis.com/v1beta`.
pub fn model_url(base_url: &str, model: &str, stream: bool) -> String {
    let base = base_url.trim_end_matches('/');
    let base = base.split("/models").next().unwrap_or(base);
    if stream {
        format!("{base}/models/{model}:streamGenerateContent?alt=sse")
    } else {
        format!("{base}/models/{model}:generateContent")
    }
}

/// The model listing (`GET …/models`).
pub fn models_url(base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    let base = base.split("/models").next().unwrap_or(base);
    format!("{base}/models")
}

/// Model ids from a Gemini listing (`models[].name` without `models/`).
pub fn parse_model_list(body: &[u8]) -> Result<Vec<String>, String> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    let models = value.get("models").and_then(|m| m.as_array()).ok_or("no `models` list in the answer")?;
    Ok(models
        .iter()
        .filter_map(|m| m.get("name").and_then(|n| n.as_str()))
        .map(|n| n.trim_start_matches("models/").to_owned())
        .collect())
}

/// OpenAI's `finish_reason` for a Gemini `finishReason`.
pub fn finish_reason(reason: &str) -> &'static str {
    match reason {
        "MAX_TOKENS" => "length",
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => "content_filter",
        _ => "stop",
    }
}

/// Tool-call ids carry Gemini's thought signature, which must come back with the call on the
/// next turn for multi-turn tool use with thinking: `call_<n>` or `call_<n>.ts.<signature>`.
pub(crate) const SIGNATURE_MARK: &str = ".ts.";
