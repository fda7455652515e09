//! Gemini embeddings: an OpenAI `/v1/embeddings` request as one `batchEmbedContents` call (one
//! request per input), and the answer back in OpenAI's list shape.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::adapters::raw::RawObject;
use crate::adapters::{key_header, post_json, AdapterError, Built};
use crate::config::{Provider, Secret};
use crate::usage::Usage;

pub fn build_request(provider: &Provider, key: Option<&Secret>, body: &RawObject, upstream_model: &str) -> Built {
    let inputs: Vec<String> = match body.field::<Value>("input") {
        Some(Value::String(text)) => vec![text],
        Some(Value::Array(items)) if !items.is_empty() => items
            .into_iter()
            .map(|item| match item {
                Value::String(text) => Ok(text),
                _ => Err(AdapterError::request("Gemini embeddings take text inputs only (no token arrays)")),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(AdapterError::request("`input` must be a string or a non-empty list of strings")),
    };
    let dimensions = body.field::<u64>("dimensions");
    let model = format!("models/{upstream_model}");
    let requests: Vec<Value> = inputs
        .iter()
        .map(|text| {
            let mut request = json!({ "model": model, "content": { "parts": [{ "text": text }] } });
            if let Some(d) = dimensions {
                request["outputDimensionality"] = d.into();
            }
            request
        })
        .collect();
    let base = provider.base_url.trim_end_matches('/');
    let base = base.split("/models").next().unwrap_or(base);
    post_json(
        provider,
        format!("{base}/models/{upstream_model}:batchEmbedContents"),
        key_header("x-goog-api-key", key),
        &json!({ "requests": requests }),
    )
}

#[derive(Deserialize)]
struct Reply {
    #[serde(default)]
    embeddings: Vec<Embedding>,
}

#[derive(Deserialize)]
struct Embedding {
    values: Vec<f64>,
}

/// `{"embeddings":[{"values":[…]}]}` → `{"object":"list","data":[{"object":"embedding",…}],…}`.
/// Gemini reports no token counts for embeddings, so usage is zero.
pub fn parse_response(body: &[u8], alias: &str) -> Result<(Bytes, Option<Usage>), String> {
    let reply: Reply = serde_json::from_slice(body).map_err(|e| format!("unexpected Gemini embeddings answer: {e}"))?;
    if reply.embeddings.is_empty() {
        return Err("the Gemini embeddings answer holds no embeddings".into());
    }
    let data: Vec<Value> = reply
        .embeddings
        .into_iter()
        .enumerate()
        .map(|(index, e)| json!({ "object": "embedding", "index": index, "embedding": e.values }))
        .collect();
    let body = json!({
        "object": "list",
        "data": data,
        "model": alias,
        "usage": { "prompt_tokens": 0, "total_tokens": 0 },
    });
    Ok((Bytes::from(body.to_string()), None))
}
