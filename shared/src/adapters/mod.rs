//! Provider dialects: which wire format an upstream speaks, and the adapter for each.
//!
//! Invariant: a provider quirk lives in its adapter, never in the gateway or the shells.

pub mod anthropic;
pub mod azure;
pub mod cloudflare;
pub mod cohere;
mod dialect;
mod error;
pub mod gemini;
pub mod images;
pub mod multipart;
pub mod openai;
pub mod overrides;
pub mod raw;
pub mod urls;
pub mod vertex;

use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::HeaderValue;

use crate::config::{Provider, Secret};
use crate::sse::SseEvent;
use crate::stream::{Flow, StreamError, StreamTranslator};
use crate::usage::Usage;
use raw::RawObject;

pub use dialect::Dialect;
pub use error::{AdapterError, Built};

/// The OpenAI endpoints the gateway routes. Chat is translated for every dialect; the others are
/// JSON passthrough to OpenAI-format upstreams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Chat,
    Embeddings,
    Images,
    Moderations,
    /// `multipart/form-data` in, text or JSON out.
    Transcriptions,
    /// JSON in, audio bytes out.
    Speech,
}

impl Endpoint {
    /// The path after the API base, e.g. `/embeddings`.
    pub fn path(self) -> &'static str {
        match self {
            Self::Chat => "/chat/completions",
            Self::Embeddings => "/embeddings",
            Self::Images => "/images/generations",
            Self::Moderations => "/moderations",
            Self::Transcriptions => "/audio/transcriptions",
            Self::Speech => "/audio/speech",
        }
    }

    /// The endpoint a gateway path serves (chat also without the `/v1` prefix).
    pub fn from_path(path: &str) -> Option<Self> {
        Some(match path {
            "/v1/chat/completions" | "/chat/completions" => Self::Chat,
            "/v1/embeddings" => Self::Embeddings,
            "/v1/images/generations" => Self::Images,
            "/v1/moderations" => Self::Moderations,
            "/v1/audio/transcriptions" => Self::Transcriptions,
            "/v1/audio/speech" => Self::Speech,
            _ => return None,
        })
    }

    /// The gateway's own path, e.g. `/v1/embeddings`.
    pub fn v1_path(self) -> &'static str {
        match self {
            Self::Chat => "/v1/chat/completions",
            Self::Embeddings => "/v1/embeddings",
            Self::Images => "/v1/images/generations",
            Self::Moderations => "/v1/moderations",
            Self::Transcriptions => "/v1/audio/transcriptions",
            Self::Speech => "/v1/audio/speech",
        }
    }
}

/// Whether a dialect serves an endpoint at all (every dialect serves chat).
pub fn serves(dialect: Dialect, endpoint: Endpoint) -> bool {
    endpoint == Endpoint::Chat
        || matches!(dialect, Dialect::OpenAi | Dialect::OpenRouter | Dialect::Azure)
        || (dialect == Dialect::Gemini && endpoint == Endpoint::Embeddings)
}

/// Whether a dialect's chat translation serves the vendor's own web search (`{"type":
/// "web_search"}` in the hub's tools): Claude's web search tool, Gemini's Google Search.
pub fn serves_web_search(dialect: Dialect) -> bool {
    matches!(dialect, Dialect::Anthropic | Dialect::Gemini | Dialect::Vertex)
}

/// Whether a dialect's embeddings take token ids as `input` (Gemini embeds text only).
pub fn embeds_token_ids(dialect: Dialect) -> bool {
    dialect != Dialect::Gemini
}

/// The URL of a non-chat endpoint: beside the provider's chat URL.
fn endpoint_url(provider: &Provider, upstream_model: &str, endpoint: Endpoint) -> Result<String, AdapterError> {
    match provider.dialect {
        Dialect::OpenAi | Dialect::OpenRouter => Ok(openai::sibling_url(&provider.base_url, endpoint.path())),
        Dialect::Azure => {
            Ok(azure::chat_url(&provider.base_url, upstream_model).replace("/chat/completions", endpoint.path()))
        }
        other => Err(AdapterError::config(format!("the {} engine does not serve {}", other.name(), endpoint.path()))),
    }
}

fn endpoint_auth(provider: &Provider, key: Option<&Secret>) -> Option<(&'static str, String)> {
    if provider.dialect == Dialect::Azure {
        key_header("api-key", key)
    } else {
        bearer(key)
    }
}

/// Builds a transcription request: the client's form with `model` replaced, under a new boundary.
pub fn build_multipart_request(
    provider: &Provider,
    key: Option<&Secret>,
    form: &multipart::Form,
    upstream_model: &str,
    endpoint: Endpoint,
    boundary: &str,
) -> Built {
    let url = endpoint_url(provider, upstream_model, endpoint)?;
    let mut builder = http::Request::builder()
        .method(http::Method::POST)
        .uri(url)
        .header(http::header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"));
    if let Some((name, value)) = endpoint_auth(provider, key) {
        let value = HeaderValue::try_from(value)
            .map_err(|_| AdapterError::config("the upstream key contains characters not allowed in a header"))?;
        builder = builder.header(name, value);
    }
    let mut request =
        builder.body(form.encode(upstream_model, boundary)).map_err(|e| AdapterError::config(e.to_string()))?;
    for (name, value) in &provider.headers {
        request.headers_mut().insert(name.clone(), value.clone());
    }
    Ok(request)
}

/// Builds a non-chat JSON request (embeddings, images, moderations, speech): the client's JSON
/// with `model` renamed, to the endpoint beside the provider's chat URL.
pub fn build_passthrough_request(
    provider: &Provider,
    key: Option<&Secret>,
    body: &RawObject,
    upstream_model: &str,
    endpoint: Endpoint,
) -> Built {
    if provider.dialect == Dialect::Gemini && endpoint == Endpoint::Embeddings {
        return gemini::embeddings::build_request(provider, key, body, upstream_model);
    }
    let url = endpoint_url(provider, upstream_model, endpoint)?;
    openai::build_request_to(provider, url, endpoint_auth(provider, key), body, upstream_model, false)
}

/// A non-chat reply: passed through with `model` reported as the client's alias.
pub fn parse_passthrough(dialect: Dialect, body: &[u8], alias: &str) -> Result<(Bytes, Option<Usage>), AdapterError> {
    read_passthrough(dialect, body, alias).map_err(AdapterError::Upstream)
}

fn read_passthrough(dialect: Dialect, body: &[u8], alias: &str) -> Result<(Bytes, Option<Usage>), String> {
    if dialect == Dialect::Gemini {
        // Gemini serves only embeddings among the non-chat endpoints.
        return gemini::embeddings::parse_response(body, alias);
    }
    let mut reply = RawObject::parse(body).map_err(|e| format!("the upstream answered with invalid JSON: {e}"))?;
    if let Some(error) = reply.present("error") {
        let message = serde_json::from_str::<serde_json::Value>(error.get())
            .map(|v| openai::error_message(&v))
            .unwrap_or_else(|_| error.get().to_owned());
        return Err(format!("the upstream answered with an error: {message}"));
    }
    if dialect == Dialect::Azure {
        openai::strip_content_filters(&mut reply).map_err(|e| e.to_string())?;
    }
    if reply.contains("model") {
        reply.set("model", &alias).map_err(|e| e.to_string())?;
    }
    let usage = reply.field::<serde_json::Value>("usage").as_ref().and_then(Usage::from_openai);
    Ok((Bytes::from(reply.to_vec()), usage))
}

/// What a reply translation needs to know about the request it answers.
#[derive(Clone, Debug)]
pub struct ResponseCtx {
    /// The model name the client asked for; replies report it.
    pub alias: String,
    /// Unix seconds, stamped on translated replies.
    pub created: u64,
    /// The client asked for the usage chunk (`stream_options.include_usage`).
    pub wants_usage: bool,
    /// A random number for ids when the upstream gives none.
    pub nonce: u64,
}

impl ResponseCtx {
    /// `chatcmpl-…` from the upstream's message id, or from the nonce.
    pub fn completion_id(&self, upstream_id: &str) -> String {
        if upstream_id.is_empty() {
            format!("chatcmpl-{:016x}", self.nonce)
        } else {
            format!("chatcmpl-{}", upstream_id.trim_start_matches("msg_"))
        }
    }
}

/// Writes the OpenAI chunks of one translated stream: one id, creation time and model name.
pub(crate) struct ChunkWriter {
    ctx: ResponseCtx,
    id: String,
}

impl ChunkWriter {
    pub(crate) fn new(ctx: ResponseCtx) -> Self {
        let id = ctx.completion_id("");
        Self { ctx, id }
    }

    /// Uses the upstream's message id for the chunks from now on.
    pub(crate) fn use_upstream_id(&mut self, upstream_id: &str) {
        self.id = self.ctx.completion_id(upstream_id);
    }

    /// `choices[0].delta` with an optional `finish_reason`.
    pub(crate) fn delta(&self, delta: serde_json::Value, finish: Option<&str>) -> Bytes {
        let chunk = serde_json::json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.ctx.created, "model": self.ctx.alias,
            "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }],
        });
        Bytes::from(chunk.to_string())
    }

    /// The end of a completion: the one `finish_reason` chunk, then the usage chunk when the
    /// client asked for it and the upstream reported usage.
    pub(crate) fn finish(&self, reason: &str, usage: Option<&Usage>, out: &mut Vec<Bytes>) {
        out.push(self.delta(serde_json::json!({}), Some(reason)));
        if let (true, Some(u)) = (self.ctx.wants_usage, usage) {
            let chunk = serde_json::json!({
                "id": self.id, "object": "chat.completion.chunk", "created": self.ctx.created,
                "model": self.ctx.alias, "choices": [], "usage": usage_json(u),
            });
            out.push(Bytes::from(chunk.to_string()));
        }
    }

    pub(crate) fn ctx(&self) -> &ResponseCtx {
        &self.ctx
    }
}

/// A JSON POST to `url` with the key in the given header and the provider's extra headers.
pub(crate) fn post_json(
    provider: &Provider,
    url: String,
    auth: Option<(&str, String)>,
    payload: &serde_json::Value,
) -> Built {
    let bytes = serde_json::to_vec(payload).map_err(|e| AdapterError::config(e.to_string()))?;
    let mut builder = http::Request::builder()
        .method(http::Method::POST)
        .uri(url)
        .header(http::header::CONTENT_TYPE, "application/json");
    if let Some((name, value)) = auth {
        let value = HeaderValue::try_from(value)
            .map_err(|_| AdapterError::config("the upstream key contains characters not allowed in a header"))?;
        builder = builder.header(name, value);
    }
    let mut request = builder.body(Bytes::from(bytes)).map_err(|e| AdapterError::config(e.to_string()))?;
    for (name, value) in &provider.headers {
        request.headers_mut().insert(name.clone(), value.clone());
    }
    Ok(request)
}

/// `Bearer <key>` for an `Authorization` header, when a non-empty key is configured.
pub(crate) fn bearer(key: Option<&Secret>) -> Option<(&'static str, String)> {
    key.filter(|k| !k.expose().is_empty()).map(|k| ("authorization", format!("Bearer {}", k.expose())))
}

/// The key as a plain header value (`x-api-key`, `api-key`, …), when a non-empty key is configured.
pub(crate) fn key_header(name: &'static str, key: Option<&Secret>) -> Option<(&'static str, String)> {
    key.filter(|k| !k.expose().is_empty()).map(|k| (name, k.expose().to_owned()))
}

/// The client's `messages`, typed, for adapters that translate them.
pub(crate) fn read_messages(body: &RawObject) -> Result<Vec<crate::schema::openai::Message>, AdapterError> {
    body.get("messages")
        .map(|m| serde_json::from_str(m.get()))
        .transpose()
        .map_err(|e| AdapterError::request(format!("`messages` could not be read: {e}")))
        .map(Option::unwrap_or_default)
}

/// Builds the upstream request for one attempt in the provider's dialect. `key` is the upstream
/// key (for Vertex: the service account's access token); `region` is the Vertex region.
#[allow(clippy::too_many_arguments)]
pub fn build_request(
    provider: &Provider,
    key: Option<&Secret>,
    body: &RawObject,
    upstream_model: &str,
    alias: &str,
    stream: bool,
    region: Option<&str>,
) -> Built {
    match provider.dialect {
        Dialect::Vertex => {
            vertex::build_request(provider, key, body, upstream_model, alias, stream, region.unwrap_or("global"))
        }
        Dialect::OpenAi | Dialect::OpenRouter => openai::build_request(provider, key, body, upstream_model, stream),
        Dialect::Anthropic => anthropic::build_request(provider, key, body, upstream_model, alias, stream),
        Dialect::Gemini => gemini::build_request(provider, key, body, upstream_model, alias, stream),
        Dialect::Azure => azure::build_request(provider, key, body, upstream_model, stream),
        Dialect::Cloudflare => cloudflare::build_request(provider, key, body, upstream_model, stream),
        Dialect::Cohere => cohere::build_request(provider, key, body, upstream_model, stream),
    }
}

/// Translates a non-streamed reply into an OpenAI completion.
pub fn parse_response(
    dialect: Dialect,
    upstream_model: &str,
    body: &[u8],
    ctx: &ResponseCtx,
) -> Result<(Bytes, Option<Usage>), AdapterError> {
    let parsed = match dialect {
        Dialect::Vertex if vertex::is_claude(upstream_model) => anthropic::parse_response(body, ctx),
        Dialect::Vertex => gemini::parse_response(body, ctx),
        Dialect::OpenAi | Dialect::OpenRouter => openai::parse_response(body, &ctx.alias),
        Dialect::Anthropic => anthropic::parse_response(body, ctx),
        Dialect::Gemini => gemini::parse_response(body, ctx),
        Dialect::Azure => azure::parse_response(body, ctx),
        Dialect::Cloudflare => cloudflare::parse_response(body, ctx),
        Dialect::Cohere => cohere::parse_response(body, ctx),
    };
    parsed.map_err(AdapterError::Upstream)
}

/// The stream translator for a dialect (and, on Vertex, the model's publisher).
pub fn translator(dialect: Dialect, upstream_model: &str, ctx: ResponseCtx) -> Translator {
    match dialect {
        Dialect::Vertex if vertex::is_claude(upstream_model) => {
            Translator::Anthropic(anthropic::StreamToOpenAi::new(ctx))
        }
        Dialect::Vertex => Translator::Gemini(gemini::StreamToOpenAi::new(ctx)),
        Dialect::Anthropic => Translator::Anthropic(anthropic::StreamToOpenAi::new(ctx)),
        Dialect::Gemini => Translator::Gemini(gemini::StreamToOpenAi::new(ctx)),
        Dialect::Cloudflare => Translator::Cloudflare(cloudflare::StreamToOpenAi::new(ctx)),
        Dialect::Cohere => Translator::Cohere(cohere::StreamToOpenAi::new(ctx)),
        Dialect::Azure => Translator::OpenAi(
            openai::PassthroughTranslator::new(ctx.alias, ctx.wants_usage).stripping_content_filters(),
        ),
        _ => Translator::OpenAi(openai::PassthroughTranslator::new(ctx.alias, ctx.wants_usage)),
    }
}

/// The request that lists a provider's models (for providers configured without `model:`).
pub fn models_request(provider: &Provider, key: Option<&Secret>) -> Result<http::Request<Bytes>, String> {
    let key = key.filter(|k| !k.expose().is_empty());
    let header = |text: String| {
        HeaderValue::try_from(text).map_err(|_| "the upstream key is not a valid header value".to_owned())
    };
    let mut request = match provider.dialect {
        Dialect::OpenAi | Dialect::OpenRouter => {
            let mut r = http::Request::get(openai::models_url(&provider.base_url))
                .body(Bytes::new())
                .map_err(|e| e.to_string())?;
            if let Some(key) = key {
                r.headers_mut().insert(AUTHORIZATION, header(format!("Bearer {}", key.expose()))?);
            }
            r
        }
        Dialect::Anthropic => {
            let mut r = http::Request::get(anthropic::models_url(&provider.base_url))
                .body(Bytes::new())
                .map_err(|e| e.to_string())?;
            r.headers_mut().insert("anthropic-version", HeaderValue::from_static(anthropic::API_VERSION));
            if let Some(key) = key {
                r.headers_mut().insert("x-api-key", header(key.expose().to_owned())?);
            }
            r
        }
        Dialect::Gemini => {
            let mut r = http::Request::get(gemini::models_url(&provider.base_url))
                .body(Bytes::new())
                .map_err(|e| e.to_string())?;
            if let Some(key) = key {
                r.headers_mut().insert("x-goog-api-key", header(key.expose().to_owned())?);
            }
            r
        }
        other => return Err(format!("model discovery for {} upstreams is not supported yet", other.name())),
    };
    for (name, value) in &provider.headers {
        request.headers_mut().insert(name.clone(), value.clone());
    }
    Ok(request)
}

/// The OpenAI `usage` object, with cached and reasoning token details.
pub(crate) fn usage_json(u: &Usage) -> serde_json::Value {
    serde_json::json!({
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.total_tokens,
        "prompt_tokens_details": { "cached_tokens": u.cached_tokens },
        "completion_tokens_details": { "reasoning_tokens": u.reasoning_tokens },
    })
}

/// Model ids from a provider's listing.
pub fn parse_model_list(dialect: Dialect, body: &[u8]) -> Result<Vec<String>, String> {
    match dialect {
        Dialect::Gemini => gemini::parse_model_list(body),
        _ => openai::parse_model_list(body),
    }
}

/// Every dialect's stream translator behind one type, chosen by an exhaustive match.
pub enum Translator {
    OpenAi(openai::PassthroughTranslator),
    Anthropic(anthropic::StreamToOpenAi),
    Gemini(gemini::StreamToOpenAi),
    Cloudflare(cloudflare::StreamToOpenAi),
    Cohere(cohere::StreamToOpenAi),
}

impl StreamTranslator for Translator {
    fn on_event(&mut self, event: &SseEvent, out: &mut Vec<Bytes>) -> Result<Flow, StreamError> {
        match self {
            Self::OpenAi(t) => t.on_event(event, out),
            Self::Anthropic(t) => t.on_event(event, out),
            Self::Gemini(t) => t.on_event(event, out),
            Self::Cloudflare(t) => t.on_event(event, out),
            Self::Cohere(t) => t.on_event(event, out),
        }
    }

    fn finish(&mut self) -> Result<(), StreamError> {
        match self {
            Self::OpenAi(t) => t.finish(),
            Self::Anthropic(t) => t.finish(),
            Self::Gemini(t) => t.finish(),
            Self::Cloudflare(t) => t.finish(),
            Self::Cohere(t) => t.finish(),
        }
    }

    fn usage(&self) -> Option<Usage> {
        match self {
            Self::OpenAi(t) => t.usage(),
            Self::Anthropic(t) => t.usage(),
            Self::Gemini(t) => t.usage(),
            Self::Cloudflare(t) => t.usage(),
            Self::Cohere(t) => t.usage(),
        }
    }
}
