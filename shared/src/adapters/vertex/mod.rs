//! Vertex AI: Gemini and Claude models behind a Google Cloud service account.
//!
//! `POST {origin}/v1/projects/{project}/locations/{region}/publishers/{publisher}/models/{model}:{method}`
//! where `origin` is `base_url` when set (a proxy, an AI Gateway, a test mock), else
//! `https://aiplatform.googleapis.com` for `global` or `https://{region}-aiplatform.googleapis.com`.
//! Claude models (`publisher` anthropic) use `rawPredict`/`streamRawPredict` with the Messages API
//! body and `anthropic_version: vertex-2023-10-16`; others (`google`) use
//! `generateContent`/`streamGenerateContent?alt=sse` with the Gemini body. Replies and streams are
//! translated by the Anthropic and Gemini adapters.

pub mod auth;

use serde_json::json;

use super::raw::RawObject;
use super::{bearer, post_json, AdapterError, Built};
use crate::config::{Provider, Secret, VertexAccount};

/// Claude models are served by the `anthropic` publisher.
pub fn is_claude(model: &str) -> bool {
    model.to_ascii_lowercase().contains("claude")
}

pub fn model_url(provider: &Provider, account: &VertexAccount, region: &str, model: &str, stream: bool) -> String {
    let origin = if provider.base_url.is_empty() {
        if region == "global" {
            "https://aiplatform.googleapis.com".to_owned()
        } else {
            format!("https://{region}-aiplatform.googleapis.com")
        }
    } else {
        provider.base_url.trim_end_matches('/').to_owned()
    };
    let (publisher, method) = match (is_claude(model), stream) {
        (true, true) => ("anthropic", "streamRawPredict"),
        (true, false) => ("anthropic", "rawPredict"),
        (false, true) => ("google", "streamGenerateContent?alt=sse"),
        (false, false) => ("google", "generateContent"),
    };
    format!(
        "{origin}/v1/projects/{}/locations/{region}/publishers/{publisher}/models/{model}:{method}",
        account.project_id
    )
}

/// Builds the request; `token` is the OAuth access token for the service account.
pub fn build_request(
    provider: &Provider,
    token: Option<&Secret>,
    body: &RawObject,
    upstream_model: &str,
    alias: &str,
    stream: bool,
    region: &str,
) -> Built {
    let account =
        provider.vertex.as_ref().ok_or_else(|| AdapterError::config("no Vertex service account configured"))?;
    let payload = if is_claude(upstream_model) {
        let mut p = super::anthropic::payload(body, upstream_model, alias, stream)?;
        if let Some(o) = p.as_object_mut() {
            // The model is in the URL; Vertex wants its own version marker instead.
            o.remove("model");
            o.insert("anthropic_version".into(), json!("vertex-2023-10-16"));
        }
        p
    } else {
        super::gemini::payload(body, alias)?
    };
    post_json(provider, model_url(provider, account, region, upstream_model, stream), bearer(token), &payload)
}
