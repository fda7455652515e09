//! The request pipeline: the one entry point both shells call.
//!
//! `Gateway::handle` takes an `http::Request<Bytes>` and always returns a response: errors are
//! rendered inside (see `crate::error`), so both targets answer alike.

mod accounting;
mod admin;
mod attempts;
mod auth;
mod cors;
mod count;
mod credits;
mod discovery;
mod estimate;
mod idempotency;
mod images;
mod keepalive;
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

pub use routes::HostRoute;

pub use crate::body::ResponseBody;

pub use accounting::ClientAddr;
pub use auth::{authenticate, authenticate_with};
pub use cors::CorsStamp;
pub use idempotency::IdempotencyLimits;
pub use keys::cooldown_subject;

/// Largest request body the gateway reads (LLM requests with inline images can be large).
pub const MAX_REQUEST_BODY_BYTES: usize = 32 * 1024 * 1024;

/// The gateway: configuration, model catalog and the host's ports.
///
/// The configuration can be replaced while requests run (`reload`): each request takes the
/// generation current when it starts and runs under it to its end, streams included.
#[derive(Clone)]
pub struct Gateway {
    current: Arc<RwLock<Arc<Inner>>>,
    /// Answers kept for `Idempotency-Key` retries, when the host enables them; they outlive
    /// config reloads.
    replays: Option<Arc<idempotency::Replays>>,
}

/// One generation: a config, everything derived from it, and the host's ports.
struct Inner {
    config: Arc<Config>,
    catalog: RwLock<Arc<Catalog>>,
    /// Model lists found so far for providers without `model:`, by provider index.
    discovered: RwLock<HashMap<usize, Vec<String>>>,
    platform: Platform,
    vertex_tokens: vertex::TokenSlots,
    /// Per provider: it answered that it has no route for a door's own API (an OpenAI-compatible
    /// server without `/responses`), so that door's requests are translated for it from now on.
    lacks_native_route: Vec<std::sync::atomic::AtomicBool>,
    /// Paid keys' balances read lately (see `credits`).
    balances: credits::Balances,
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
    fn new(config: Config, platform: Platform, discovered: HashMap<usize, Vec<String>>) -> Self {
        let catalog = Catalog::new(&config, &discovered);
        let vertex_tokens = vertex::slots(config.providers.len());
        let lacks_native_route = (0..config.providers.len()).map(|_| Default::default()).collect();
        Self {
            config: Arc::new(config),
            catalog: RwLock::new(Arc::new(catalog)),
            discovered: RwLock::new(discovered),
            platform,
            vertex_tokens,
            lacks_native_route,
            balances: credits::Balances::default(),
        }
    }

    fn catalog(&self) -> Arc<Catalog> {
        self.catalog.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Providers that discover their models and have no list yet.
    fn undiscovered(&self) -> Vec<usize> {
        let found = self.discovered.read().unwrap_or_else(|e| e.into_inner());
        discovery::wanted(&self.config).filter(|i| !found.contains_key(i)).collect()
    }

    /// Asks the upstreams of `providers` for their model lists and serves what they answer.
    async fn discover(&self, providers: &[usize]) -> Vec<String> {
        if providers.is_empty() {
            return Vec::new();
        }
        let (found, warnings) = discovery::discover(&self.config, &self.platform, providers).await;
        if !found.is_empty() {
            self.install_lists(found);
        }
        warnings
    }

    fn install_lists(&self, found: HashMap<usize, Vec<String>>) {
        let mut discovered = self.discovered.write().unwrap_or_else(|e| e.into_inner());
        discovered.extend(found);
        let catalog = Catalog::new(&self.config, &discovered);
        *self.catalog.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(catalog);
    }
}

impl Gateway {
    /// A gateway serving the models listed in `config`. Providers without a `model:` list serve
    /// nothing until `discover_models` has run.
    pub fn new(config: Config, platform: Platform) -> Self {
        let inner = Inner::new(config, platform, HashMap::new());
        Self { current: Arc::new(RwLock::new(Arc::new(inner))), replays: None }
    }

    /// Remembers answers for `Idempotency-Key` retries within `limits`. For hosts that serve
    /// every request of a deployment from one process (a Worker's isolates do not).
    pub fn with_idempotency(mut self, limits: IdempotencyLimits) -> Self {
        self.replays = Some(Arc::new(idempotency::Replays::new(limits)));
        self
    }

    /// The generation a request runs under.
    fn inner(&self) -> Arc<Inner> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The configuration new requests run under.
    pub fn config(&self) -> Arc<Config> {
        self.inner().config.clone()
    }

    /// Replaces the configuration for every request that starts from now on; requests already
    /// running finish under the one they started with. State kept in the store (cooldowns, rate
    /// windows, round-robin positions) is named by provider, model and key fingerprint, so what
    /// still exists in `config` keeps its state. Model lists already discovered for a provider
    /// with the same name and upstream are kept; the rest are discovered before the swap.
    /// Returns one warning per provider whose discovery failed.
    pub async fn reload(&self, config: Config) -> Vec<String> {
        let old = self.inner();
        let kept: HashMap<usize, Vec<String>> = {
            let found = old.discovered.read().unwrap_or_else(|e| e.into_inner());
            discovery::wanted(&config)
                .filter_map(|i| {
                    let provider = &config.providers[i];
                    let before = old.config.providers.iter().position(|p| {
                        p.name == provider.name && p.base_url == provider.base_url && p.dialect == provider.dialect
                    })?;
                    found.get(&before).map(|ids| (i, ids.clone()))
                })
                .collect()
        };
        let next = Inner::new(config, old.platform.clone(), kept);
        let warnings = next.discover(&next.undiscovered()).await;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        warnings
    }

    /// The largest request body the host should read: chat bodies or audio uploads, whichever
    /// limit is larger.
    pub fn max_body_bytes(&self) -> usize {
        MAX_REQUEST_BODY_BYTES.max(self.inner().config.global.max_audio_bytes)
    }

    /// Whether any provider asks for its model list to be discovered.
    pub fn needs_discovery(&self) -> bool {
        discovery::needed(&self.inner().config)
    }

    /// How many providers discover their models and have no list yet (their upstream could not
    /// say): a host retries `discover_models` while this is above zero.
    pub fn undiscovered_providers(&self) -> usize {
        self.inner().undiscovered().len()
    }

    /// Like `discover_models`, and also returns every list known, by provider name, for a host
    /// that caches them (the Worker keeps them in KV).
    pub async fn discover_model_lists(&self) -> (HashMap<String, Vec<String>>, Vec<String>) {
        let inner = self.inner();
        let warnings = inner.discover(&inner.undiscovered()).await;
        let found = inner.discovered.read().unwrap_or_else(|e| e.into_inner());
        let lists = found.iter().map(|(&i, ids)| (inner.config.providers[i].name.to_string(), ids.clone())).collect();
        (lists, warnings)
    }

    /// Serves model lists found earlier (by provider name), instead of asking the upstreams.
    pub fn use_model_lists(&self, lists: &HashMap<String, Vec<String>>) {
        let inner = self.inner();
        let found: HashMap<usize, Vec<String>> = inner
            .config
            .providers
            .iter()
            .enumerate()
            .filter_map(|(i, p)| lists.get(&*p.name).map(|ids| (i, ids.clone())))
            .collect();
        inner.install_lists(found);
    }

    /// Fetches the model list of every provider without `model:` that has none yet; returns one
    /// warning per provider whose upstream could not say (it serves nothing until a later call
    /// succeeds).
    pub async fn discover_models(&self) -> Vec<String> {
        let inner = self.inner();
        inner.discover(&inner.undiscovered()).await
    }

    /// `error` rendered as the API of `path` answers errors; for hosts that refuse a request
    /// before the core sees it (a body over the limit, an unreadable URL).
    pub fn error_response(&self, path: &str, error: &GatewayError) -> http::Response<ResponseBody> {
        Door::for_path(path).error_response(error)
    }

    /// What CORS adds to every response to this request (`preferences.cors_origins`). Taken from
    /// the request's head before it is consumed; the host applies it to whatever it answers.
    pub fn cors(&self, request: &http::HeaderMap) -> CorsStamp {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        CorsStamp::for_request(&current.config.global.cors_origins, request)
    }

    /// Refuses a request from its head alone, before its body is read: a route that needs a
    /// client key and does not carry a valid one gets its 401 here, so a host never buffers the
    /// body of an unauthenticated request. `None`: read the body and call `handle`.
    /// A CORS preflight (`OPTIONS`) is answered here too.
    pub fn precheck(&self, parts: &http::request::Parts) -> Option<http::Response<ResponseBody>> {
        let inner = self.inner();
        if let Some(preflight) = cors::preflight(&inner.config.global.cors_origins, &parts.method, &parts.headers) {
            return Some(preflight);
        }
        let path = trimmed(parts.uri.path());
        let route = routes::route(path, &parts.method);
        if !route.needs_key() {
            return None;
        }
        let query = parts.uri.query().filter(|_| route.key_in_query());
        authenticate_with(&inner.config, &parts.headers, query)
            .err()
            .map(|error| Door::for_path(path).error_response(&error))
    }

    /// The route of a request the host answers itself (`/metrics`, the config reload), if it
    /// is one; the host then calls `admin_refusal` unless it chose to make the route public.
    pub fn host_route(&self, parts: &http::request::Parts) -> Option<HostRoute> {
        match routes::route(trimmed(parts.uri.path()), &parts.method) {
            Route::Host(route) => Some(route),
            _ => None,
        }
    }

    /// `None` when the request carries an admin key (role `admin`); else the 401 or 403 to answer.
    pub fn admin_refusal(&self, parts: &http::request::Parts) -> Option<http::Response<ResponseBody>> {
        let inner = self.inner();
        let path = trimmed(parts.uri.path());
        authenticate_with(&inner.config, &parts.headers, None)
            .and_then(|client| admin::require_admin(&inner, client))
            .err()
            .map(|error| Door::for_path(path).error_response(&error))
    }

    /// Serves one request.
    pub async fn handle(&self, request: http::Request<Bytes>) -> http::Response<ResponseBody> {
        let Some(replays) = &self.replays else { return self.serve(request).await };
        let (key, body) = match idempotency::key_of(&request) {
            Ok(Some(found)) => found,
            Ok(None) => return self.serve(request).await,
            Err(error) => return Door::for_path(request.uri().path()).error_response(&error),
        };
        let runtime = self.inner().platform.runtime.clone();
        match replays.begin(key, body, runtime.now()) {
            idempotency::Begin::Answer(answer) => {
                answer.unwrap_or_else(|error| Door::for_path(request.uri().path()).error_response(&error))
            }
            idempotency::Begin::Run(ticket) => {
                let response = self.serve(request).await;
                replays.finish(ticket, response, &runtime)
            }
        }
    }

    async fn serve(&self, request: http::Request<Bytes>) -> http::Response<ResponseBody> {
        let generation = self.inner();
        let inner = &*generation;
        let (parts, body) = request.into_parts();
        if let Some(preflight) = cors::preflight(&inner.config.global.cors_origins, &parts.method, &parts.headers) {
            return preflight;
        }
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
        // A paid key past its credits may still read its own usage, and nothing else.
        if route.needs_key() && route != Route::TokenUsage {
            if let Err(error) = credits::check(inner, client).await {
                return refuse(error);
            }
        }
        let headers = &parts.headers;
        let ledger = |door: Door, endpoint: &'static str| {
            Ledger::new(inner, door, endpoint, client, headers, parts.extensions.get())
        };
        let result = match route {
            Route::Health => return json_response(StatusCode::OK, Bytes::from_static(br#"{"status":"ok"}"#)),
            Route::OpenAi(endpoint) => {
                let request = ClientRequest::read(inner, endpoint, headers, body).await;
                Ok(route::serve(&generation, ledger(Door::Chat, endpoint.v1_path()), request).await)
            }
            Route::Messages => {
                let request = ClientRequest::read_messages(headers, &body);
                Ok(route::serve(&generation, ledger(Door::Messages, "/v1/messages"), request).await)
            }
            Route::MessagesCountTokens => count::serve(inner, Door::Messages, client, None, headers, &body).await,
            Route::Responses => {
                let request = ClientRequest::read_responses(headers, &body);
                Ok(route::serve(&generation, ledger(Door::Responses, "/v1/responses"), request).await)
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
                Ok(route::serve(&generation, ledger(door, label), request).await)
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
            Route::ApiKeysStates => match admin::require_admin(inner, client) {
                Ok(()) => credits::states(inner).await,
                Err(error) => Err(error),
            },
            Route::AddCredits => match admin::require_admin(inner, client) {
                Ok(()) => credits::add(inner, parts.uri.query()).await,
                Err(error) => Err(error),
            },
            Route::Host(route) => {
                admin::require_admin(inner, client).and_then(|()| Err(GatewayError::NotOnThisHost(route.unavailable())))
            }
            Route::WrongMethod(allowed) => Err(GatewayError::MethodNotAllowed(path.into(), allowed)),
            Route::Unknown => Err(GatewayError::RouteNotFound { method: parts.method.to_string(), path: path.into() }),
        };
        result.unwrap_or_else(refuse)
    }
}
