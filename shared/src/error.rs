//! Every error a client can see, typed by whose fault it is. Each door renders them in its own
//! API's shape (`doors::*::error`); this module only says what went wrong.
//!
//! Invariant: no message built here contains a client key, an upstream key or a service-account
//! secret. Upstream text is scrubbed of the provider's keys before it is stored in an `Attempt`.

use http::StatusCode;

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
    #[error("the Authorization header must be `Bearer <key>`")]
    AuthorizationScheme,
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
    #[error("this gateway serves the Responses API over HTTP only: POST /v1/responses (no WebSocket)")]
    UpgradeRefused,
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("statistics are unavailable: {0}")]
    StatsUnavailable(String),
    #[error("the gateway's configuration is unavailable; its operator can see why in the log")]
    ConfigUnavailable,
    #[error("the request body stopped arriving for {secs} s")]
    BodyTimeout { secs: u64 },
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
    #[error("the new configuration was refused and the running one kept: {0}")]
    ConfigRejected(String),
    #[error("{0}")]
    NotOnThisHost(&'static str),
    #[error("the gateway is shutting down; retry the request")]
    ShuttingDown,
    #[error("{0}")]
    NoUsableChannel(String),
    /// A paid key spent its credits.
    #[error("{0}")]
    CreditsExhausted(String),
    /// `/v1/add_credits` named no paid key.
    #[error("{0}")]
    UnknownPaidKey(String),
    /// An `Idempotency-Key` reused for another body, or while its first request still runs.
    #[error("{0}")]
    IdempotencyConflict(String),
    /// The prompt is larger than every candidate channel's `tpr` budget.
    #[error("{0}")]
    OverTokenBudget(String),
    #[error("{0}")]
    Internal(String),
}

impl GatewayError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingKey | Self::InvalidKey | Self::AuthorizationScheme => StatusCode::UNAUTHORIZED,
            Self::ModelForbidden(_) | Self::AdminOnly => StatusCode::FORBIDDEN,
            Self::ModelNotFound(_) | Self::RouteNotFound { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(..) => StatusCode::METHOD_NOT_ALLOWED,
            Self::UpgradeRefused => StatusCode::UPGRADE_REQUIRED,
            Self::BadRequest(_) | Self::Flagged { .. } => StatusCode::BAD_REQUEST,
            Self::StatsDisabled | Self::ConfigUnavailable | Self::StatsUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::PayloadTooLarge { .. } | Self::OverTokenBudget(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Upstream { status, .. } => *status,
            Self::ConfigRejected(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::IdempotencyConflict(_) => StatusCode::CONFLICT,
            Self::CreditsExhausted(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::UnknownPaidKey(_) => StatusCode::NOT_FOUND,
            Self::NotOnThisHost(_) => StatusCode::NOT_IMPLEMENTED,
            Self::ShuttingDown | Self::NoUsableChannel(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable machine-readable code (OpenAI's `code`; other shapes carry it as extra detail).
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingKey => "missing_api_key",
            Self::InvalidKey => "invalid_api_key",
            Self::AuthorizationScheme => "invalid_authorization",
            Self::ModelForbidden(_) => "model_not_allowed",
            Self::AdminOnly => "admin_only",
            Self::ModelNotFound(_) => "model_not_found",
            Self::RouteNotFound { .. } => "unknown_url",
            Self::MethodNotAllowed(..) => "method_not_allowed",
            Self::UpgradeRefused => "websocket_not_supported",
            Self::BadRequest(_) => "invalid_request",
            Self::Flagged { .. } => "content_flagged",
            Self::StatsDisabled => "statistics_disabled",
            Self::ConfigUnavailable => "config_unavailable",
            Self::StatsUnavailable(_) => "statistics_unavailable",
            Self::PayloadTooLarge { .. } => "request_too_large",
            Self::OverTokenBudget(_) => "over_token_budget",
            Self::IdempotencyConflict(_) => "idempotency_conflict",
            Self::CreditsExhausted(_) => "insufficient_quota",
            Self::UnknownPaidKey(_) => "key_not_found",
            Self::BodyTimeout { .. } => "request_timeout",
            Self::RateLimited { .. } => "rate_limit_exceeded",
            Self::Upstream { status, .. } => match status.as_u16() {
                429 => "upstream_rate_limited",
                504 => "upstream_timeout",
                _ => "upstream_failed",
            },
            Self::ConfigRejected(_) => "config_rejected",
            Self::NotOnThisHost(_) => "not_implemented",
            Self::ShuttingDown => "server_shutting_down",
            Self::NoUsableChannel(_) => "no_usable_channel",
            Self::Internal(_) => "internal_error",
        }
    }

    /// The `Retry-After` seconds this error asks the client to wait, if any.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after_secs, .. } => Some(*retry_after_secs),
            _ => None,
        }
    }
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
    fn scrub_removes_keys() {
        assert_eq!(scrub("bad key sk-abcdef given", ["sk-abcdef"]), "bad key *** given");
    }
}
