//! What a request's path and method ask for, decided once: `Gateway::handle` serves it and
//! `Gateway::precheck` refuses it from its headers alone when it needs a key it does not carry.

use http::Method;

use crate::adapters::Endpoint;
use crate::doors::gemini;

/// One route of the gateway's API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Route<'a> {
    Health,
    /// An OpenAI endpoint (chat completions, embeddings, images, audio, moderations).
    OpenAi(Endpoint),
    Messages,
    MessagesCountTokens,
    Responses,
    /// `GET /v1/responses`: a WebSocket upgrade, refused at once.
    ResponsesUpgrade,
    Gemini {
        model: &'a str,
        method: gemini::Method,
    },
    Models,
    GeminiModels,
    GeminiModel(&'a str),
    GenerateKey,
    Stats,
    TokenUsage,
    ApiKeysStates,
    AddCredits,
    /// A route only some hosts serve (they answer it before the core sees it).
    Host(HostRoute),
    /// A known path asked with another method; the one it takes.
    WrongMethod(&'static str),
    Unknown,
}

impl Route<'_> {
    /// Whether serving it needs a client key.
    pub fn needs_key(self) -> bool {
        !matches!(self, Self::Health | Self::ResponsesUpgrade | Self::WrongMethod(_) | Self::Unknown)
    }

    /// Whether the key may come in the query (`?key=`), as Google's clients send it.
    pub fn key_in_query(self) -> bool {
        matches!(self, Self::Gemini { .. } | Self::GeminiModels | Self::GeminiModel(_))
    }
}

/// Routes a host answers itself, after `Gateway::admin_refusal`; a host without them gets the
/// core's 501.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostRoute {
    /// `GET /metrics`: Prometheus exposition of the host's counters.
    Metrics,
    /// `POST /v1/api_config/reload`: read the config again and swap it in.
    ReloadConfig,
}

impl HostRoute {
    pub(super) fn unavailable(self) -> &'static str {
        match self {
            Self::Metrics => "/metrics is served by the native gateway; on Cloudflare Workers use the dashboard's analytics and /v1/stats",
            Self::ReloadConfig => "config reload is served by the native gateway; the Worker reads CONFIG_URL again every CONFIG_TTL seconds",
        }
    }
}

/// The route of `path` (without a trailing slash) and `method`.
pub(super) fn route<'a>(path: &'a str, method: &Method) -> Route<'a> {
    let post = method == Method::POST;
    let get = method == Method::GET;
    match path {
        "/healthz" | "/health" => Route::Health,
        "/v1/messages" if post => Route::Messages,
        "/v1/messages/count_tokens" if post => Route::MessagesCountTokens,
        "/v1/responses" if post => Route::Responses,
        // Codex's built-in provider tries a WebSocket first; a plain refusal at once (not a 404
        // it retries) makes it fall back to HTTP without delay.
        "/v1/responses" if get => Route::ResponsesUpgrade,
        "/v1/messages" | "/v1/messages/count_tokens" | "/v1/responses" => Route::WrongMethod("POST"),
        "/v1/models" | "/models" if get => Route::Models,
        "/v1beta/models" if get => Route::GeminiModels,
        "/v1/generate-api-key" if get => Route::GenerateKey,
        "/v1/stats" if get => Route::Stats,
        "/v1/token_usage" if get => Route::TokenUsage,
        "/v1/api_keys_states" if get => Route::ApiKeysStates,
        "/v1/add_credits" if post => Route::AddCredits,
        "/v1/add_credits" => Route::WrongMethod("POST"),
        "/metrics" if get => Route::Host(HostRoute::Metrics),
        "/v1/api_config/reload" if post => Route::Host(HostRoute::ReloadConfig),
        "/v1/api_config/reload" => Route::WrongMethod("POST"),
        "/v1/models"
        | "/models"
        | "/v1/generate-api-key"
        | "/v1/stats"
        | "/v1/token_usage"
        | "/v1/api_keys_states"
        | "/v1beta/models"
        | "/metrics" => Route::WrongMethod("GET"),
        _ => {
            if let Some(endpoint) = Endpoint::from_path(path) {
                return if post { Route::OpenAi(endpoint) } else { Route::WrongMethod("POST") };
            }
            if let Some((model, method)) = gemini::parse_path(path) {
                return if post { Route::Gemini { model, method } } else { Route::WrongMethod("POST") };
            }
            match path.strip_prefix("/v1beta/models/") {
                Some(model) if get && !model.is_empty() => Route::GeminiModel(model),
                _ => Route::Unknown,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_methods_name_their_routes() {
        assert_eq!(route("/v1/chat/completions", &Method::POST), Route::OpenAi(Endpoint::Chat));
        assert_eq!(route("/v1/chat/completions", &Method::GET), Route::WrongMethod("POST"));
        assert_eq!(route("/v1/responses", &Method::GET), Route::ResponsesUpgrade);
        assert_eq!(
            route("/v1beta/models/g:streamGenerateContent", &Method::POST),
            Route::Gemini { model: "g", method: gemini::Method::Stream }
        );
        assert_eq!(route("/v1beta/models/g", &Method::GET), Route::GeminiModel("g"));
        assert_eq!(route("/nope", &Method::GET), Route::Unknown);
        assert!(!route("/healthz", &Method::GET).needs_key());
        assert!(route("/v1/stats", &Method::GET).needs_key());
        assert_eq!(route("/metrics", &Method::GET), Route::Host(HostRoute::Metrics));
        assert_eq!(route("/v1/api_config/reload", &Method::POST), Route::Host(HostRoute::ReloadConfig));
        assert_eq!(route("/v1/api_config/reload", &Method::GET), Route::WrongMethod("POST"));
    }
}
