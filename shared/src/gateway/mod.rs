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
#[cfg(test)]
mod tests;
mod vertex;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use http::{Method, StatusCode};

use crate::adapters::Endpoint;
use crate::body::json_response;
use crate::config::Config;
use crate::doors::{gemini, Door};
use crate::error::GatewayError;
use crate::platform::Platform;
use crate::scheduler::Catalog;
use accounting::Ledger;
use request::ClientRequest;

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

    /// Serves one request.
    pub async fn handle(&self, request: http::Request<Bytes>) -> http::Response<ResponseBody> {
        let inner = &*self.inner;
        let (parts, body) = request.into_parts();
        let path = parts.uri.path();
        let path = if path.len() > 1 { path.trim_end_matches('/') } else { path };
        let headers = &parts.headers;
        let ledger = |door: Door, endpoint: &'static str, client: usize| {
            Ledger::new(inner, door, endpoint, client, headers, parts.extensions.get())
        };
        let result = match (path, &parts.method) {
            ("/healthz" | "/health", _) => {
                return json_response(StatusCode::OK, Bytes::from_static(br#"{"status":"ok"}"#));
            }
            ("/v1/messages", &Method::POST) => match authenticate(&inner.config, headers) {
                Ok(client) => {
                    let request = ClientRequest::read_messages(headers, &body);
                    Ok(route::serve(inner, ledger(Door::Messages, "/v1/messages", client), request).await)
                }
                Err(e) => Err(e),
            },
            ("/v1/messages/count_tokens", &Method::POST) => match authenticate(&inner.config, headers) {
                Ok(client) => count::serve(inner, Door::Messages, client, None, headers, &body).await,
                Err(e) => Err(e),
            },
            ("/v1/responses", &Method::POST) => match authenticate(&inner.config, headers) {
                Ok(client) => {
                    let request = ClientRequest::read_responses(headers, &body);
                    Ok(route::serve(inner, ledger(Door::Responses, "/v1/responses", client), request).await)
                }
                Err(e) => Err(e),
            },
            (path, &Method::POST) if gemini::parse_path(path).is_some() => {
                let (model, method) = gemini::parse_path(path).unwrap_or(("", gemini::Method::Generate));
                let query = parts.uri.query();
                match authenticate_with(&inner.config, headers, query) {
                    Ok(client) if method == gemini::Method::CountTokens => {
                        count::serve(inner, Door::Gemini(gemini::Framing::Sse), client, Some(model), headers, &body)
                            .await
                    }
                    Ok(client) => {
                        let stream = method == gemini::Method::Stream;
                        let sse = query.is_some_and(|q| {
                            form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "alt" && v == "sse")
                        });
                        let request = ClientRequest::read_gemini(headers, model, stream, sse, &body);
                        let label = if stream {
                            "/v1beta/models:streamGenerateContent"
                        } else {
                            "/v1beta/models:generateContent"
                        };
                        let door = request.as_ref().map_or(Door::Gemini(gemini::Framing::Sse), |r| r.door);
                        Ok(route::serve(inner, ledger(door, label, client), request).await)
                    }
                    Err(e) => Err(e),
                }
            }
            ("/v1beta/models", &Method::GET) => authenticate_with(&inner.config, headers, parts.uri.query())
                .map(|client| models::list_gemini(inner, client, None)),
            (path, &Method::GET) if path.starts_with("/v1beta/models/") => {
                let model = path.trim_start_matches("/v1beta/models/");
                authenticate_with(&inner.config, headers, parts.uri.query()).and_then(
                    |client| match models::list_gemini(inner, client, Some(model)) {
                        response if response.status() == StatusCode::OK => Ok(response),
                        _ => Err(GatewayError::ModelNotFound(model.into())),
                    },
                )
            }
            // Codex's built-in provider tries a WebSocket first; a plain refusal at once (not a 404
            // it retries) makes it fall back to HTTP without delay.
            ("/v1/responses", &Method::GET) => Err(GatewayError::UpgradeRefused),
            ("/v1/messages" | "/v1/messages/count_tokens" | "/v1/responses", _) => {
                Err(GatewayError::MethodNotAllowed(path.into(), "POST"))
            }
            (path, method) if Endpoint::from_path(path).is_some() => {
                let endpoint = Endpoint::from_path(path).unwrap_or(Endpoint::Chat);
                if method != Method::POST {
                    Err(GatewayError::MethodNotAllowed(path.into(), "POST"))
                } else {
                    match authenticate(&inner.config, headers) {
                        Ok(client) => {
                            let request = ClientRequest::read(inner, endpoint, headers, body).await;
                            Ok(route::serve(inner, ledger(Door::Chat, endpoint.v1_path(), client), request).await)
                        }
                        Err(e) => Err(e),
                    }
                }
            }
            ("/v1/models" | "/models", &Method::GET) => authenticate(&inner.config, headers).map(|client| {
                // Anthropic's SDKs list models with their version header; they get Anthropic's shape.
                if headers.contains_key("anthropic-version") {
                    models::list_anthropic(inner, client)
                } else {
                    models::list(inner, client)
                }
            }),
            ("/v1/generate-api-key", &Method::GET) => {
                authenticate(&inner.config, headers).and_then(|client| admin::generate_api_key(inner, client))
            }
            ("/v1/stats", &Method::GET) => match authenticate(&inner.config, headers) {
                Ok(client) => admin::stats(inner, client, parts.uri.query()).await,
                Err(e) => Err(e),
            },
            ("/v1/token_usage", &Method::GET) => match authenticate(&inner.config, headers) {
                Ok(client) => admin::token_usage(inner, client, parts.uri.query()).await,
                Err(e) => Err(e),
            },
            ("/v1/models" | "/models" | "/v1/generate-api-key" | "/v1/stats" | "/v1/token_usage", _) => {
                Err(GatewayError::MethodNotAllowed(path.into(), "GET"))
            }
            _ => Err(GatewayError::RouteNotFound { method: parts.method.to_string(), path: path.into() }),
        };
        result.unwrap_or_else(|error| Door::for_path(path).error_response(&error))
    }
}
