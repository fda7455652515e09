//! Azure OpenAI: the OpenAI format with Azure's URLs, `api-key` header and `api-version`, and
//! without the content-filter annotations Azure adds to replies.
//!
//! `base_url` forms (as the original's README lists them):
//! * `https://NAME.openai.azure.com` → `/openai/deployments/{model}/chat/completions`
//! * `https://NAME.services.ai.azure.com/models` → `/models/chat/completions`
//! * a full `…/chat/completions` URL, used as given.
//!
//! `api-version` is kept when the URL has one, else `2024-10-21` is added.

use bytes::Bytes;

use super::openai::{self, build_request_to, strip_content_filters};
use super::raw::RawObject;
use super::{Built, ResponseCtx};
use crate::config::{Provider, Secret};
use crate::usage::Usage;

/// The `api-version` used when `base_url` names none.
pub const DEFAULT_API_VERSION: &str = "2024-10-21";

/// The chat URL for a deployment (the upstream model id).
pub fn chat_url(base_url: &str, model: &str) -> String {
    let (base, query) = match base_url.split_once('?') {
        Some((b, q)) => (b.trim_end_matches('/'), Some(q)),
        None => (base_url.trim_end_matches('/'), None),
    };
    let path_start = base.split_once("://").map_or(0, |(s, _)| s.len() + 3);
    let has_path = base[path_start..].contains('/');
    let url = if base.ends_with("/chat/completions") {
        base.to_owned()
    } else if has_path {
        format!("{base}/chat/completions")
    } else {
        format!("{base}/openai/deployments/{model}/chat/completions")
    };
    match query {
        Some(q) if q.contains("api-version=") => format!("{url}?{q}"),
        Some(q) if !q.is_empty() => format!("{url}?{q}&api-version={DEFAULT_API_VERSION}"),
        _ => format!("{url}?api-version={DEFAULT_API_VERSION}"),
    }
}

pub fn build_request(
    provider: &Provider,
    key: Option<&Secret>,
    body: &RawObject,
    upstream_model: &str,
    stream: bool,
) -> Built {
    let auth = key.map(|k| ("api-key", k.expose().to_owned()));
    build_request_to(provider, chat_url(&provider.base_url, upstream_model), auth, body, upstream_model, stream)
}

pub fn parse_response(body: &[u8], ctx: &ResponseCtx) -> Result<(Bytes, Option<Usage>), String> {
    let mut reply = RawObject::parse(body).map_err(|e| format!("the upstream answered with invalid JSON: {e}"))?;
    strip_content_filters(&mut reply).map_err(|e| e.to_string())?;
    openai::parse_response(&reply.to_vec(), &ctx.alias)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_the_documented_forms() {
        assert_eq!(
            chat_url("https://res.openai.azure.com", "gpt-4o"),
            "https://res.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(
            chat_url("https://res.services.ai.azure.com/models", "m"),
            "https://res.services.ai.azure.com/models/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(
            chat_url("https://res.services.ai.azure.com/models/chat/completions?api-version=2024-05-01-preview", "m"),
            "https://res.services.ai.azure.com/models/chat/completions?api-version=2024-05-01-preview"
        );
    }

    #[test]
    fn content_filter_fields_are_removed_from_replies() {
        let body = br#"{"id":"x","model":"gpt-4o","prompt_filter_results":[{"prompt_index":0}],"choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop","content_filter_results":{"hate":{"filtered":false}}}]}"#;
        let ctx = ResponseCtx { alias: "a".into(), created: 0, wants_usage: false, nonce: 0 };
        let (out, _) = parse_response(body, &ctx).unwrap();
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"id":"x","model":"a","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}"#
        );
    }
}
