//! Errors in Anthropic's shape: `{"type":"error","error":{"type","message"}}` with the status
//! Anthropic uses for each type, and the stream's `event: error` frame.
//!
//! | gateway error                               | status | `error.type`            |
//! |---------------------------------------------|--------|-------------------------|
//! | bad request, unknown route, flagged         | 400/404/405 | `invalid_request_error` / `not_found_error` |
//! | missing or invalid key                      | 401    | `authentication_error`  |
//! | model not allowed, admin only               | 403    | `permission_error`      |
//! | unknown model                               | 404    | `not_found_error`       |
//! | body too large                              | 413    | `request_too_large`     |
//! | rate limited (gateway or every upstream)    | 429    | `rate_limit_error`      |
//! | upstream timeout                            | 504    | `timeout_error`         |
//! | upstreams overloaded or unavailable (503, 529) | 529 | `overloaded_error`      |
//! | other upstream failure, internal error      | 500    | `api_error`             |
//! | upstream rejected the request (4xx)         | its status | by that status      |

use bytes::Bytes;
use http::StatusCode;
use serde_json::json;

use crate::body::{json_response, ResponseBody};
use crate::doors::chat::error::{attempts_json, with_retry_after};
use crate::error::GatewayError;
use crate::stream::StreamError;

/// Anthropic's status and `error.type` for an error.
fn classify(error: &GatewayError) -> (StatusCode, &'static str) {
    let by_status = |status: StatusCode| -> (StatusCode, &'static str) {
        match status.as_u16() {
            400 | 405 | 409 | 422 => (status, "invalid_request_error"),
            401 => (status, "authentication_error"),
            402 | 403 => (status, "permission_error"),
            404 => (status, "not_found_error"),
            413 => (status, "request_too_large"),
            429 => (status, "rate_limit_error"),
            503 | 529 => (StatusCode::from_u16(529).unwrap_or(status), "overloaded_error"),
            504 => (status, "timeout_error"),
            400..=499 => (status, "invalid_request_error"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "api_error"),
        }
    };
    by_status(error.status())
}

pub fn response(error: &GatewayError) -> http::Response<ResponseBody> {
    let (status, kind) = classify(error);
    let mut object = json!({ "type": kind, "message": error.to_string(), "code": error.code() });
    if let Some(attempts) = attempts_json(error) {
        object["attempts"] = attempts;
    }
    let body = json!({ "type": "error", "error": object });
    let mut response = json_response(status, Bytes::from(body.to_string()));
    with_retry_after(&mut response, error);
    response
}

/// The `error` event that ends a Messages stream which broke after it started.
pub fn stream_frame(error: &StreamError) -> Bytes {
    let kind = match error {
        StreamError::Idle(_) => "timeout_error",
        _ => "api_error",
    };
    let body =
        json!({ "type": "error", "error": { "type": kind, "message": error.to_string(), "code": error.code() } });
    crate::sse::encode_event("error", body.to_string().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Attempt;

    fn rendered(error: GatewayError) -> (u16, serde_json::Value) {
        let response = response(&error);
        let status = response.status().as_u16();
        let ResponseBody::Full(body) = response.into_body() else { unreachable!() };
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[test]
    fn errors_use_anthropic_types_and_statuses() {
        let (status, body) = rendered(GatewayError::InvalidKey);
        assert_eq!(
            (status, body["type"].as_str(), body["error"]["type"].as_str()),
            (401, Some("error"), Some("authentication_error"))
        );
        assert_eq!(rendered(GatewayError::ModelNotFound("x".into())).1["error"]["type"], "not_found_error");
        let overloaded = GatewayError::Upstream {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "busy".into(),
            attempts: vec![Attempt { channel: "p/m".into(), key_number: None, status: Some(503), reason: "x".into() }],
        };
        let (status, body) = rendered(overloaded);
        assert_eq!((status, body["error"]["type"].as_str()), (529, Some("overloaded_error")));
        let bad_gateway =
            GatewayError::Upstream { status: StatusCode::BAD_GATEWAY, message: "m".into(), attempts: vec![] };
        assert_eq!(rendered(bad_gateway).0, 500);
        assert_eq!(
            rendered(GatewayError::RateLimited { model: "m".into(), retry_after_secs: 3 }).1["error"]["type"],
            "rate_limit_error"
        );
    }
}
