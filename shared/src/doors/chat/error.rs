//! Errors in OpenAI's shape: `{"error":{"message","type","param","code"}}`, and the stream's
//! error frame (a `data:` event with the same object, after which no `[DONE]` follows).

use bytes::Bytes;
use http::{header, HeaderValue};
use serde_json::{json, Value};

use crate::body::{json_response, ResponseBody};
use crate::error::GatewayError;
use crate::stream::StreamError;

/// OpenAI's error `type` for each error.
fn kind(error: &GatewayError) -> &'static str {
    match error {
        GatewayError::MissingKey | GatewayError::InvalidKey | GatewayError::AuthorizationScheme => {
            "authentication_error"
        }
        GatewayError::ModelForbidden(_) | GatewayError::AdminOnly => "permission_error",
        GatewayError::ModelNotFound(_)
        | GatewayError::RouteNotFound { .. }
        | GatewayError::MethodNotAllowed(..)
        | GatewayError::UpgradeRefused
        | GatewayError::BadRequest(_)
        | GatewayError::Flagged { .. }
        | GatewayError::PayloadTooLarge { .. }
        | GatewayError::OverTokenBudget(_)
        | GatewayError::IdempotencyConflict(_)
        | GatewayError::UnknownPaidKey(_)
        | GatewayError::BodyTimeout { .. } => "invalid_request_error",
        GatewayError::RateLimited { .. } | GatewayError::CreditsExhausted(_) => "rate_limit_error",
        GatewayError::Upstream { status, .. } if status.as_u16() == 429 => "rate_limit_error",
        GatewayError::Upstream { .. } => "upstream_error",
        GatewayError::StatsDisabled
        | GatewayError::StatsUnavailable(_)
        | GatewayError::ConfigUnavailable
        | GatewayError::ConfigRejected(_)
        | GatewayError::NotOnThisHost(_)
        | GatewayError::ShuttingDown
        | GatewayError::NoUsableChannel(_)
        | GatewayError::Internal(_) => "server_error",
    }
}

/// The attempts of an upstream failure, as every door reports them.
pub(crate) fn attempts_json(error: &GatewayError) -> Option<Value> {
    match error {
        GatewayError::Upstream { attempts, .. } => Some(
            attempts
                .iter()
                .map(|a| json!({ "channel": a.channel, "key": a.key_number, "status": a.status, "reason": a.reason }))
                .collect(),
        ),
        _ => None,
    }
}

/// The OpenAI error object.
pub fn body(error: &GatewayError) -> Value {
    let mut object = json!({ "message": error.to_string(), "type": kind(error), "param": null, "code": error.code() });
    if let Some(attempts) = attempts_json(error) {
        object["attempts"] = attempts;
    }
    json!({ "error": object })
}

/// The complete HTTP response.
pub fn response(error: &GatewayError) -> http::Response<ResponseBody> {
    let mut response = json_response(error.status(), Bytes::from(body(error).to_string()));
    with_retry_after(&mut response, error);
    response
}

/// Adds `Retry-After` when the error asks the client to wait.
pub(crate) fn with_retry_after(response: &mut http::Response<ResponseBody>, error: &GatewayError) {
    if let Some(secs) = error.retry_after_secs() {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
}

/// The SSE event that ends a chat stream which broke after it started.
pub fn stream_frame(error: &StreamError) -> Bytes {
    let body = json!({
        "error": { "message": error.to_string(), "type": "upstream_error", "param": null, "code": error.code() }
    });
    crate::sse::encode_data(body.to_string().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_render_in_openai_shape() {
        let e = GatewayError::ModelNotFound("gpt-9".into());
        assert_eq!(e.status(), 404);
        assert_eq!(
            body(&e),
            json!({"error":{"message":"model `gpt-9` does not exist","type":"invalid_request_error","param":null,"code":"model_not_found"}})
        );
        let limited = response(&GatewayError::RateLimited { model: "m".into(), retry_after_secs: 7 });
        assert_eq!(limited.status(), 429);
        assert_eq!(limited.headers()[header::RETRY_AFTER], "7");
    }
}
