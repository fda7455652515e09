//! Every error a client can see, and the one place that renders them as OpenAI-shaped JSON.
//!
//! Invariant: no message built here contains a client key, an upstream key or a service-account
//! secret. Upstream text is scrubbed of the provider's keys before it is stored in an `Attempt`.

use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};
use serde_json::{json, Value};

use crate::gateway::ResponseBody;
use crate::stream::StreamError;

/// One upstream attempt that did not succeed, as reported to the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// `provider/upstream-model`.
    pub channel: String,
    /// Which of the provider's keys was used, 1-based (never the key itself).
    pub key_number: Option<usize>,
    pub status: Option<u16>,
    pub reason: String,
}

/// Errors of the gateway layer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    #[error("missing API key: send `Authorization: Bearer <key>` or `x-api-key: <key>`")]
    MissingKey,
    #[error("invalid API key")]
    InvalidKey,
    #[error("this API key may not use model `{0}`")]
    ModelForbidden(String),
    #[error("model `{0}` does not exist")]
    ModelNotFound(String),
    #[error("no route for {method} {path}")]
    RouteNotFound { method: String, path: String },
    #[error("{0} only accepts {1}")]
    MethodNotAllowed(String, &'static str),
    #[error("{0}")]
    BadRequest(String),
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("rate limit exceeded for model `{model}`; retry after {retry_after_secs} s")]
    RateLimited { model: String, retry_after_secs: u64 },
    #[error("this endpoint needs an admin key")]
    AdminOnly,
    #[error("statistics are disabled on this gateway (DISABLE_DATABASE is set, or no database is configured)")]
    StatsDisabled,
    #[error("the request was flagged by moderation ({categories}); change it and try again")]
    Flagged { categories: String },
    #[error("{message}")]
    Upstream { status: StatusCode, message: String, attempts: Vec<Attempt> },
    #[error("{0}")]
    Internal(String),
}

impl GatewayError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingKey | Self::InvalidKey => StatusCode::UNAUTHORIZED,
            Self::ModelForbidden(_) | Self::AdminOnly => StatusCode::FORBIDDEN,
            Self::ModelNotFound(_) | Self::RouteNotFound { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(..) => StatusCode::METHOD_NOT_ALLOWED,
            Self::BadRequest(_) | Self::Flagged { .. } => StatusCode::BAD_REQUEST,
            Self::StatsDisabled => StatusCode::SERVICE_UNAVAILABLE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Upstream { status, .. } => *status,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn kind(&self) -> (&'static str, &'static str) {
        match self {
            Self::MissingKey => ("authentication_error", "missing_api_key"),
            Self::InvalidKey => ("authentication_error", "invalid_api_key"),
            Self::ModelForbidden(_) => ("permission_error", "model_not_allowed"),
            Self::AdminOnly => ("permission_error", "admin_only"),
            Self::ModelNotFound(_) => ("invalid_request_error", "model_not_found"),
            Self::RouteNotFound { .. } => ("invalid_request_error", "unknown_url"),
            Self::MethodNotAllowed(..) => ("invalid_request_error", "method_not_allowed"),
            Self::BadRequest(_) => ("invalid_request_error", "invalid_request"),
            Self::Flagged { .. } => ("invalid_request_error", "content_flagged"),
            Self::StatsDisabled => ("server_error", "statistics_disabled"),
            Self::PayloadTooLarge { .. } => ("invalid_request_error", "request_too_large"),
            Self::RateLimited { .. } => ("rate_limit_error", "rate_limit_exceeded"),
            Self::Upstream { status, .. } => match status.as_u16() {
                429 => ("rate_limit_error", "upstream_rate_limited"),
                504 => ("upstream_error", "upstream_timeout"),
                _ => ("upstream_error", "upstream_failed"),
            },
            Self::Internal(_) => ("server_error", "internal_error"),
        }
    }

    /// The OpenAI error object: `{"error":{"message","type","param","code"}}`.
    pub fn body(&self) -> Value {
        let (kind, code) = self.kind();
        let mut error = json!({ "message": self.to_string(), "type": kind, "param": null, "code": code });
        if let Self::Upstream { attempts, .. } = self {
            error["attempts"] = attempts
                .iter()
                .map(|a| json!({ "channel": a.channel, "key": a.key_number, "status": a.status, "reason": a.reason }))
                .collect();
        }
        json!({ "error": error })
    }

    /// The complete HTTP response.
    pub fn into_response(self) -> http::Response<ResponseBody> {
        let status = self.status();
        let body = Bytes::from(self.body().to_string());
        let mut response = json_response(status, body);
        if let Self::RateLimited { retry_after_secs, .. } = self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}

/// A JSON response with the given status.
pub fn json_response(status: StatusCode, body: Bytes) -> http::Response<ResponseBody> {
    let mut response = http::Response::new(ResponseBody::Full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The SSE event that ends a stream which broke after it started. Clients see an error, never a
/// silent truncation; no `[DONE]` follows it.
pub fn stream_error_frame(error: &StreamError) -> Bytes {
    let body = json!({
        "error": { "message": error.to_string(), "type": "upstream_error", "param": null, "code": error.code() }
    });
    crate::sse::encode_data(body.to_string().as_bytes())
}

/// Removes every occurrence of the given secrets from upstream-provided text.
pub fn scrub<'a>(text: &str, secrets: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = text.to_owned();
    for secret in secrets {
        if secret.len() >= 4 && out.contains(secret) {
            out = out.replace(secret, "***");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_render_in_openai_shape() {
        let e = GatewayError::ModelNotFound("gpt-9".into());
        assert_eq!(e.status(), 404);
        assert_eq!(
            e.body(),
            json!({"error":{"message":"model `gpt-9` does not exist","type":"invalid_request_error","param":null,"code":"model_not_found"}})
        );
        let limited = GatewayError::RateLimited { model: "m".into(), retry_after_secs: 7 }.into_response();
        assert_eq!(limited.status(), 429);
        assert_eq!(limited.headers()[header::RETRY_AFTER], "7");
    }

    #[test]
    fn scrub_removes_keys() {
        assert_eq!(scrub("bad key sk-abcdef given", ["sk-abcdef"]), "bad key *** given");
    }
}
