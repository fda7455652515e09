//! `GET /v1/models`: the models the calling key may use, in OpenAI's list shape.

use bytes::Bytes;
use http::StatusCode;
use serde_json::json;

use super::{Inner, ResponseBody};
use crate::body::json_response;

/// Fixed creation time reported for every model (clients only display it).
const CREATED: u64 = 1_720_524_448;

pub(super) fn list(inner: &Inner, client: usize) -> http::Response<ResponseBody> {
    let catalog = inner.catalog();
    let data: Vec<_> = catalog
        .models_for(&inner.config, client)
        .into_iter()
        .map(|id| json!({ "id": id, "object": "model", "created": CREATED, "owned_by": "uni-api" }))
        .collect();
    let body = json!({ "object": "list", "data": data });
    json_response(StatusCode::OK, Bytes::from(body.to_string()))
}

/// The same list in the shape of Anthropic's `GET /v1/models`.
pub(super) fn list_anthropic(inner: &Inner, client: usize) -> http::Response<ResponseBody> {
    let catalog = inner.catalog();
    let ids = catalog.models_for(&inner.config, client);
    let data: Vec<_> = ids
        .iter()
        .map(|id| json!({ "type": "model", "id": id, "display_name": id, "created_at": "2024-07-09T00:00:00Z" }))
        .collect();
    let body = json!({ "data": data, "has_more": false, "first_id": ids.first(), "last_id": ids.last() });
    json_response(StatusCode::OK, Bytes::from(body.to_string()))
}

/// The key's models in the shape of Gemini's `GET /v1beta/models`, or the one named `only`
/// (404 when the key may not use it).
pub(super) fn list_gemini(inner: &Inner, client: usize, only: Option<&str>) -> http::Response<ResponseBody> {
    let catalog = inner.catalog();
    let ids = catalog.models_for(&inner.config, client);
    let model = |id: &str| {
        json!({
            "name": format!("models/{id}"), "version": "001", "displayName": id, "description": "",
            "inputTokenLimit": 1_048_576, "outputTokenLimit": 65_536,
            "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"],
        })
    };
    match only {
        Some(wanted) => match ids.iter().find(|id| *id == wanted) {
            Some(id) => json_response(StatusCode::OK, Bytes::from(model(id).to_string())),
            None => json_response(StatusCode::NOT_FOUND, Bytes::new()),
        },
        None => {
            let models: Vec<_> = ids.iter().map(|id| model(id)).collect();
            json_response(StatusCode::OK, Bytes::from(json!({ "models": models }).to_string()))
        }
    }
}
