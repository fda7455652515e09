//! `ENABLE_MODERATION`: a chat request's user text is checked with a moderation model before
//! the request goes out; a flagged request is refused with the categories that flagged it.
//!
//! The check is routed with the caller's own key, like any `/v1/moderations` request, and fails
//! closed: when no moderation answer can be had, the chat request is not sent.

use serde_json::{json, Value};

use super::accounting::Ledger;
use super::request::ClientRequest;
use super::route;
use super::{Inner, ResponseBody};
use crate::adapters::raw::RawObject;
use crate::adapters::Endpoint;
use crate::config::ClientKey;
use crate::doors::Door;
use crate::error::GatewayError;

/// Moderation models, most capable first; the first the key can reach is used.
const MODELS: [&str; 2] = ["omni-moderation-latest", "text-moderation-latest"];

/// `Ok` when the request may go out.
pub(super) async fn check(
    inner: &Inner,
    ledger: &Ledger,
    key: &ClientKey,
    request: &ClientRequest,
) -> Result<(), GatewayError> {
    // Every door's request is checked by what it says in the hub's language.
    let translated;
    let body = match request.door {
        Door::Chat => &request.body,
        door => {
            translated = door.to_chat(&request.body, false).map_err(|e| GatewayError::BadRequest(e.to_string()))?;
            &translated
        }
    };
    let Some(text) = last_user_text(body) else {
        return Ok(());
    };
    let catalog = inner.catalog();
    let Some(model) = MODELS.iter().find(|m| catalog.resolve(&inner.config, ledger.client, m).is_ok()) else {
        return Err(GatewayError::Internal(format!(
            "moderation is enabled for this key, but it can reach no moderation model ({})",
            MODELS.join(" or ")
        )));
    };
    let body = json!({ "model": model, "input": text }).to_string();
    let body = RawObject::parse(body.as_bytes()).map_err(internal)?;
    let check = ClientRequest::internal(Endpoint::Moderations, body, model);
    let check_ledger = Ledger { endpoint: Endpoint::Moderations.v1_path(), ..ledger.clone() };
    let response = route::route(inner, &check_ledger, key, &check).await.map_err(|e| match e {
        GatewayError::Upstream { status, message, attempts } => {
            GatewayError::Upstream { status, message: format!("the moderation check failed: {message}"), attempts }
        }
        other => other,
    })?;
    let ResponseBody::Full(bytes) = response.into_body() else {
        return Err(GatewayError::Internal("the moderation check answered a stream".into()));
    };
    let verdict: Value = serde_json::from_slice(&bytes).map_err(internal)?;
    let result = &verdict["results"][0];
    if result["flagged"].as_bool() != Some(true) {
        return Ok(());
    }
    let categories: Vec<&str> = result["categories"]
        .as_object()
        .map(|c| c.iter().filter(|(_, v)| v.as_bool() == Some(true)).map(|(k, _)| k.as_str()).collect())
        .unwrap_or_default();
    Err(GatewayError::Flagged {
        categories: if categories.is_empty() { "no category given".into() } else { categories.join(", ") },
    })
}

fn internal(e: serde_json::Error) -> GatewayError {
    GatewayError::Internal(format!("the moderation check could not be read: {e}"))
}

/// The text of the last user message: a string, or its text parts joined by newlines.
fn last_user_text(body: &RawObject) -> Option<String> {
    let messages: Vec<Value> = body.field("messages")?;
    let message = messages.iter().rev().find(|m| m["role"] == "user")?;
    let text = match &message["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter(|p| p["type"] == "text")
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    };
    (!text.trim().is_empty()).then_some(text)
}
