//! The request pipeline: the one entry point both shells call.
//!
//! `Gateway::handle` takes an `http::Request<Bytes>` and always returns a response: errors are
//! rendered inside (see `crate::error`), so both targets answer alike.

mod accounting;
mod admin;
mod attempts;
mod auth;
mod count;
mod discovery;
mod images;
mod keys;
mod models;
mod moderation;
mod reply;
mod request;
mod route;
mod routes;
#[cfg(test)]
mod tests;
mod vertex;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use http::StatusCode;

use crate::body::json_response;
use crate::config::Config;
use crate::doors::{gemini, Door};
use crate::error::GatewayError;
use crate::platform::Platform;
use crate::scheduler::Catalog;
use accounting::Ledger;
use request::ClientRequest;
use routes::Route;

pub use crate::body::ResponseBody;

pub use accounting::ClientAddr;
pub use auth::{authenticate, authenticate_with};

/// Largest request body the gateway reads (LLM requests with inline images can be large).
pub const MAX_REQUEST_BODY_BYTES: usize = 32 * 1024 * 1024;

/// The gateway: configuration, model catalog and the host's ports.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<Config>,
    catalog: RwLock<Arc<Catalog>>,
    platform: Platform,
    vertex_tokens: vertex::TokenSlots,
    /// Per provider: it answered that it has no route for a door's own API (an OpenAI-compatible
    /// server without `/responses`), so that door's requests are translated for it from now on.
    lacks_native_route: Vec<std::sync::atomic::AtomicBool>,
}

/// A path without its trailing slash (but `/` itself).
fn trimmed(path: &str) -> &str {
    if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    }
}

impl Inner {
    fn catalog(&self) -> Arc<Catalog> {
        self.catalog.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Gateway {
    /// A gateway serving the models listed in `config`. Providers without a `model:` list serve
    /// nothing until `discover_models` has run.
    pub fn new(config: Config, platform: Platform) -> Self {
        let catalog = Catalog::new(&config, &HashMap::new());
        let vertex_tokens = vertex::slots(config.providers.len());
        let lacks_native_route = (0..config.providers.len()).map(|_| Default::default()).collect();
        Self {
            inner: Arc::new(Inner {
                config: Arc::new(config),
                catalog: RwLock::new(Arc::new(catalog)),
                platform,
                vertex_tokens,
                lacks_native_route,
            }),
        }
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The largest request body the host should read: chat bodies or audio uploads, whichever
    /// limit is larger.
    pub fn max_body_bytes(&self) -> usize {
        MAX_REQUEST_BODY_BYTES.max(self.inner.config.global.max_audio_bytes)
    }

    /// Whether any provider asks for its model list to be discovered.
    pub fn needs_discovery(&self) -> bool {
        discovery::needed(&self.inner.config)
    }

    /// Like `discover_models`, and also returns the lists found, by provider name, for a host
    /// that caches them (the Worker keeps them in KV).
    pub async fn discover_model_lists(&self) -> (HashMap<String, Vec<String>>, Vec<String>) {
        let config = &self.inner.config;
        let (found, warnings) = discovery::discover(config, &self.inner.platform).await;
        let catalog = Catalog::new(config, &found);
        *self.inner.catalog.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(catalog);
        let lists = found.into_iter().map(|(i, ids)| (config.providers[i].name.to_string(), ids)).collect();
        (lists, warnings)
    }

    /// Serves model lists found earlier (by provider name), instead of asking the upstreams.
    pub fn use_model_lists(&self, lists: &HashMap<String, Vec<String>>) {
        let config = &self.inner.config;
        let found: HashMap<usize, Vec<String>> = config
            .providers
            .iter()
            .enumerate()
            .filter_map(|(i, p)| lists.get(&*p.name).map(|ids| (i, ids.clone())))
            .collect();
        let catalog = Catalog::new(config, &found);
        *self.inner.catalog.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(catalog);
    }

    /// Fetches the model list of every provider without `model:`; returns one warning per
    /// provider whose upstream could not say (that provider serves nothing until a restart).
    pub async fn discover_models(&self) -> Vec<String> {
        let (found, warnings) = discovery::discover(&self.inner.config, &self.inner.platform).await;
        let catalog = Catalog::new(&self.inner.config, &found);
        *self.inner.catalog.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(catalog);
        warnings
    }

    /// `error` rendered as the API of `path` answers errors; for hosts that refuse a request
    /// before the core sees it (a body over the limit, an unreadable URL).
    pub fn error_response(&self, path: &str, error: &GatewayError) -> http::Response<ResponseBody> {
        Door::for_path(path).error_response(error)
    }

    /// Refuses a request from its head alone, before its body is read: a route that needs a
    /// client key and does not carry a valid one gets its 401 here, so a host never buffers the
    /// body of an unauthenticated request. `None`: read the body and call `handle`.
    pub fn precheck(&self, parts: &http::request::Parts) -> Option<http::Response<ResponseBody>> {
        let path = trimmed(parts.uri.path());
        let route = routes::route(path, &parts.method);
        if !route.needs_key() {
            return None;
        }
        let query = parts.uri.query().filter(|_| route.key_in_query());
        authenticate_with(&self.inner.config, &parts.headers, query)
            .err()
            .map(|error| Door::for_path(path).error_response(&error))
    }

    /// Serves one request.
    pub async fn handle(&self, request: http::Request<Bytes>) -> http::Response<ResponseBody> {
        let inner = &*self.inner;
        let (parts, body) = request.into_parts();
        let path = trimmed(parts.uri.path());
        let route = routes::route(path, &parts.method);
        let refuse = |error: GatewayError| Door::for_path(path).error_response(&error);
        let client = if route.needs_key() {
            let query = parts.uri.query().filter(|_| route.key_in_query());
            match authenticate_with(&inner.config, &parts.headers, query) {
                Ok(client) => client,
                Err(error) => return refuse(error),
            }
        } else {
            0
        };
        let headers = &parts.headers;
        let ledger = |door: Door, endpoint: &'static str| {
            Ledger::new(inner, door, endpoint, client, headers, parts.extensions.get())
        };
        let result = match route {
            Route::Health => return json_response(StatusCode::OK, Bytes::from_static(br#"{"status":"ok"}"#)),
            Route::OpenAi(endpoint) => {
                let request = ClientRequest::read(inner, endpoint, headers, body).await;
                Ok(route::serve(inner, ledger(Door::Chat, endpoint.v1_path()), request).await)
            }
            Route::Messages => {
                let request = ClientRequest::read_messages(headers, &body);
                Ok(route::serve(inner, ledger(Door::Messages, "/v1/messages"), request).await)
            }
            Route::MessagesCountTokens => count::serve(inner, Door::Messages, client, None, headers, &body).await,
            Route::Responses => {
                let request = ClientRequest::read_responses(headers, &body);
                Ok(route::serve(inner, ledger(Door::Responses, "/v1/responses"), request).await)
            }
            Route::ResponsesUpgrade => Err(GatewayError::UpgradeRefused),
            Route::Gemini { model, method: gemini::Method::CountTokens } => {
                count::serve(inner, Door::Gemini(gemini::Framing::Sse), client, Some(model), headers, &body).await
            }
            Route::Gemini { model, method } => {
                let stream = method == gemini::Method::Stream;
                let sse = parts
                    .uri
                    .query()
                    .is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "alt" && v == "sse"));
                let request = ClientRequest::read_gemini(headers, model, stream, sse, &body);
                let label =
                    if stream { "/v1beta/models:streamGenerateContent" } else { "/v1beta/models:generateContent" };
                let door = request.as_ref().map_or(Door::Gemini(gemini::Framing::Sse), |r| r.door);
                Ok(route::serve(inner, ledger(door, label), request).await)
            }
            // Anthropic's SDKs list models with their version header; they get Anthropic's shape.
            Route::Models if headers.contains_key("anthropic-version") => Ok(models::list_anthropic(inner, client)),
            Route::Models => Ok(models::list(inner, client)),
            Route::GeminiModels => Ok(models::list_gemini(inner, client, None)),
            Route::GeminiModel(model) => match models::list_gemini(inner, client, Some(model)) {
                response if response.status() == StatusCode::OK => Ok(response),
                _ => Err(GatewayError::ModelNotFound(model.into())),
            },
            Route::GenerateKey => admin::generate_api_key(inner, client),
            Route::Stats => admin::stats(inner, client, parts.uri.query()).await,
            Route::TokenUsage => admin::token_usage(inner, client, parts.uri.query()).await,
            Route::WrongMethod(allowed) => Err(GatewayError::MethodNotAllowed(path.into(), allowed)),
            Route::Unknown => Err(GatewayError::RouteNotFound { method: parts.method.to_string(), path: path.into() }),
        };
        result.unwrap_or_else(refuse)
    }
}
