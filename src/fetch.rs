//! The fetch handler: one gateway per isolate (rebuilt when the config text changes), requests
//! converted to the core's types and responses streamed back.

use std::cell::RefCell;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use uni_api_core::gateway::ClientAddr;
use uni_api_core::platform::{MemoryStore, Platform, StateStore};
use uni_api_core::{Config, Gateway, GatewayError, ResponseBody};
use worker::{event, Context, Env, Headers, Request, Response};

use crate::config::{self, env_value, CONFIG_TTL_MS};
use crate::http::FetchClient;
use crate::runtime::WorkerRuntime;
use crate::state::DurableStore;

const STATE_BINDING: &str = "GATEWAY_STATE";

/// The isolate's gateway, or why there is none.
struct Current {
    text: String,
    checked_at: u64,
    gateway: Result<Gateway, String>,
}

thread_local! {
    static CURRENT: RefCell<Option<Current>> = const { RefCell::new(None) };
    /// The isolate-wide state for stateless mode.
    static MEMORY: Arc<MemoryStore> = Arc::new(MemoryStore::new());
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let response = match gateway(&env).await {
        Ok(gateway) => serve(&gateway, req).await,
        Err(message) => {
            // Read the body anyway: an unread body makes the runtime drop the client's connection.
            let _ = req.bytes().await;
            GatewayError::Internal(format!("configuration error: {message}")).into_response()
        }
    };
    into_worker(response)
}

/// The current gateway, refreshed from the config source at most every `CONFIG_TTL_MS`.
async fn gateway(env: &Env) -> Result<Gateway, String> {
    let now = worker::Date::now().as_millis();
    let (fresh, stale) = CURRENT.with(|c| match &*c.borrow() {
        Some(cur) if now.saturating_sub(cur.checked_at) < CONFIG_TTL_MS => (Some(cur.gateway.clone()), None),
        Some(cur) => (None, Some(cur.text.clone())),
        None => (None, None),
    });
    if let Some(gateway) = fresh {
        return gateway;
    }
    let (text, source) = config::load_text(env, now, stale.as_deref()).await?;
    let unchanged = CURRENT.with(|c| {
        let mut c = c.borrow_mut();
        match c.as_mut() {
            Some(cur) if cur.text == text => {
                cur.checked_at = now;
                Some(cur.gateway.clone())
            }
            _ => None,
        }
    });
    if let Some(gateway) = unchanged {
        return gateway;
    }
    let built = build(env, &text, &source).await;
    CURRENT.with(|c| *c.borrow_mut() = Some(Current { text, checked_at: now, gateway: built.clone() }));
    built
}

async fn build(env: &Env, text: &str, source: &str) -> Result<Gateway, String> {
    let lookup = |name: &str| env_value(env, name);
    let config = Config::from_yaml_str(text, &lookup).map_err(|e| format!("invalid config {source}: {e}"))?;
    for warning in &config.warnings {
        worker::console_warn!("uni-api: {source}: {warning}");
    }
    config::check_platform(&config)?;
    let disabled = env_value(env, "DISABLE_DATABASE").is_some_and(|v| matches!(v.trim(), "true" | "1" | "yes"));
    let store: Arc<dyn StateStore> = match env.durable_object(STATE_BINDING) {
        Ok(namespace) if !disabled => Arc::new(DurableStore::new(namespace)),
        _ => {
            worker::console_log!(
                "uni-api: stateless mode ({}): rate limits, cooldowns and round-robin are per isolate",
                if disabled { "DISABLE_DATABASE=true" } else { "no GATEWAY_STATE Durable Object binding" }
            );
            MEMORY.with(|m| m.clone())
        }
    };
    let platform = Platform { http: Arc::new(FetchClient), store, runtime: Arc::new(WorkerRuntime), stats: None };
    let gateway = Gateway::new(config, platform);
    if gateway.needs_discovery() {
        for warning in gateway.discover_models().await {
            worker::console_warn!("uni-api: {warning}");
        }
    }
    worker::console_log!("uni-api: config loaded from {source}");
    Ok(gateway)
}

async fn serve(gateway: &Gateway, mut req: Request) -> http::Response<ResponseBody> {
    let limit = gateway.max_body_bytes();
    let declared = req.headers().get("content-length").ok().flatten().and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return GatewayError::PayloadTooLarge { limit }.into_response();
    }
    let body = match req.bytes().await {
        Ok(body) if body.len() > limit => return GatewayError::PayloadTooLarge { limit }.into_response(),
        Ok(body) => Bytes::from(body),
        Err(e) => return GatewayError::BadRequest(format!("could not read the request body: {e}")).into_response(),
    };
    let url = match req.url() {
        Ok(url) => url,
        Err(e) => return GatewayError::BadRequest(format!("bad request URL: {e}")).into_response(),
    };
    let target = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let mut builder = http::Request::builder().method(req.method().as_ref()).uri(target);
    for (name, value) in req.headers().entries() {
        builder = builder.header(name, value);
    }
    let mut request = match builder.body(body) {
        Ok(request) => request,
        Err(e) => return GatewayError::BadRequest(format!("unreadable request: {e}")).into_response(),
    };
    if let Ok(Some(ip)) = req.headers().get("cf-connecting-ip") {
        request.extensions_mut().insert(ClientAddr(ip));
    }
    gateway.handle(request).await
}

fn into_worker(response: http::Response<ResponseBody>) -> worker::Result<Response> {
    let (parts, body) = response.into_parts();
    let headers = Headers::new();
    for (name, value) in &parts.headers {
        if let Ok(value) = value.to_str() {
            headers.append(name.as_str(), value)?;
        }
    }
    let response = match body {
        ResponseBody::Full(bytes) => Response::from_bytes(bytes.to_vec())?,
        ResponseBody::Stream(stream) => {
            Response::from_stream(stream.map(|b| Ok::<Vec<u8>, worker::Error>(b.to_vec())))?
        }
        // An error item errors the response stream: the client sees a broken transfer.
        ResponseBody::Relay(stream) => Response::from_stream(
            stream.map(|b| b.map(|b| b.to_vec()).map_err(|e| worker::Error::RustError(e.to_string()))),
        )?,
    };
    Ok(response.with_status(parts.status.as_u16()).with_headers(headers))
}
