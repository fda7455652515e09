//! Counting a request's input tokens without running it (`POST /v1/messages/count_tokens`,
//! Gemini's `:countTokens`).
//!
//! The first channel of the model (in the key's order) that can count does: an Anthropic
//! channel with its own `count_tokens`, a Gemini channel with `countTokens`, each given the
//! request as the client wrote it when it speaks the client's API, else translated. When none can, or the upstream cannot answer within the model's timeout, the answer
//! is a local estimate: one token per four bytes of the request body. Counting is free upstream,
//! so it is neither rate limited nor recorded in statistics; one log line says how it was counted.

use bytes::Bytes;
use futures_util::future::{select, Either};
use http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

use super::discovery::collect;
use super::request::{json_object, required_model};
use super::{Inner, ResponseBody};
use crate::adapters::raw::RawObject;
use crate::adapters::{anthropic, gemini, key_header, post_json, Dialect};
use crate::body::json_response;
use crate::config::Provider;
use crate::doors::{gemini as gemini_door, messages, Door, NativeCall};
use crate::error::GatewayError;
use crate::log_text::LogText;
use crate::platform::SendOptions;
use crate::scheduler::RouteError;

/// The largest counting answer read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Answers a count-tokens request of `door` for `client`.
pub(super) async fn serve(
    inner: &Inner,
    door: Door,
    client: usize,
    model: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<http::Response<ResponseBody>, GatewayError> {
    let object = json_object(body)?;
    let model = match model {
        Some(model) => model.to_owned(),
        None => required_model(&object)?,
    };
    let candidates = inner.catalog().resolve(&inner.config, client, &model).map_err(|e| match e {
        RouteError::UnknownModel => GatewayError::ModelNotFound(model.clone()),
        RouteError::Forbidden => GatewayError::ModelForbidden(model.clone()),
    })?;
    let forward: Vec<_> = ["anthropic-version", "anthropic-beta"]
        .into_iter()
        .filter_map(|name| Some((http::HeaderName::from_static(name), headers.get(name)?.clone())))
        .collect();
    let mut counted = None;
    for candidate in &candidates {
        let provider = &inner.config.providers[candidate.provider];
        let Some(request) = count_request(door, provider, &object, &candidate.upstream, &forward) else { continue };
        let timeout = inner.config.timeout(provider, &model, &candidate.upstream);
        let options = SendOptions::upstream(provider.proxy.clone().or_else(|| inner.config.global.proxy.clone()));
        let exchange = async {
            let response = inner.platform.http.send(request, options).await.map_err(|e| e.to_string())?;
            let status = response.status();
            let body = collect(response.into_body(), MAX_ANSWER_BYTES).await?;
            if !status.is_success() {
                return Err(format!("HTTP {}", status.as_u16()));
            }
            read_count(&body).ok_or_else(|| "the answer holds no token count".to_owned())
        };
        counted = Some(match select(Box::pin(exchange), inner.platform.runtime.sleep(timeout)).await {
            Either::Left((result, _)) => result.map(|n| (n, provider.name.to_string())),
            Either::Right(_) => Err("no answer in time".to_owned()),
        });
        break;
    }
    let tokens = match counted {
        Some(Ok((tokens, channel))) => {
            tracing::info!(door = door.name(), model = %LogText(&model), channel = %channel, tokens, "tokens counted");
            tokens
        }
        other => {
            let reason = match other {
                Some(Err(e)) => e,
                _ => "no channel of the model counts tokens".to_owned(),
            };
            let tokens = estimate(body);
            tracing::info!(door = door.name(), model = %LogText(&model), tokens, reason = %LogText(&reason), "tokens estimated");
            tokens
        }
    };
    let answer = match door {
        Door::Gemini(_) => gemini_door::count_answer(tokens),
        _ => messages::count_answer(tokens),
    };
    Ok(json_response(StatusCode::OK, Bytes::from(answer.to_string())))
}

/// The local estimate: one token per four bytes of the request.
pub(super) fn estimate(body: &[u8]) -> u64 {
    (body.len() as u64).div_ceil(4)
}

/// The upstream request that counts `body` on `provider`, if its dialect can count.
fn count_request(
    door: Door,
    provider: &Provider,
    body: &RawObject,
    upstream_model: &str,
    forward: &[(http::HeaderName, http::HeaderValue)],
) -> Option<http::Request<Bytes>> {
    let key = provider.keys.first();
    match (door, provider.dialect) {
        (Door::Messages, Dialect::Anthropic) => {
            let call = NativeCall { body, upstream_model, stream: false, region: None, forward };
            let mut request = door.build_native(provider, key, &call).ok()?;
            let url = anthropic::count_tokens_url(&provider.base_url);
            *request.uri_mut() = url.parse().ok()?;
            request.headers_mut().remove(http::header::ACCEPT);
            Some(request)
        }
        (Door::Gemini(_), Dialect::Gemini) => {
            let url = gemini::model_url(&provider.base_url, upstream_model, false)
                .replace(":generateContent", ":countTokens");
            let mut request = post_json(provider, url, key_header("x-goog-api-key", key), &json!({})).ok()?;
            *request.body_mut() = Bytes::from(body.to_vec());
            Some(request)
        }
        (Door::Gemini(_), Dialect::Anthropic) => {
            let hub = door.to_chat(body, false).ok()?;
            let mut payload = anthropic::payload(&hub, upstream_model, upstream_model, false).ok()?;
            if let Some(fields) = payload.as_object_mut() {
                // count_tokens takes the prompt only.
                fields.retain(|k, _| matches!(k.as_str(), "model" | "messages" | "system" | "tools" | "tool_choice"));
            }
            let url = anthropic::count_tokens_url(&provider.base_url);
            let mut request = post_json(provider, url, key_header("x-api-key", key), &payload).ok()?;
            request.headers_mut().insert("anthropic-version", http::HeaderValue::from_static(anthropic::API_VERSION));
            Some(request)
        }
        (Door::Messages, Dialect::Gemini) => {
            let hub = door.to_chat(body, false).ok()?;
            let payload = gemini::payload(&hub, upstream_model).ok()?;
            let mut inner = json!({ "model": format!("models/{upstream_model}") });
            for field in ["contents", "systemInstruction", "tools"] {
                if let Some(value) = payload.get(field) {
                    inner[field] = value.clone();
                }
            }
            let url = gemini::model_url(&provider.base_url, upstream_model, false)
                .replace(":generateContent", ":countTokens");
            post_json(provider, url, key_header("x-goog-api-key", key), &json!({ "generateContentRequest": inner }))
                .ok()
        }
        _ => None,
    }
}

/// `input_tokens` (Anthropic) or `totalTokens` (Gemini).
fn read_count(body: &[u8]) -> Option<u64> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value.get("input_tokens").or_else(|| value.get("totalTokens")).and_then(Value::as_u64)
}
