//! The fetch handler: one gateway per isolate (rebuilt when the config text changes), requests
//! converted to the core's types and responses streamed back.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use uni_api_core::doors::Door;
use uni_api_core::gateway::{ClientAddr, CorsStamp};
use uni_api_core::platform::{MemoryStore, Platform, StateStore};
use uni_api_core::{Config, Gateway, GatewayError, ResponseBody};
use worker::{event, Context, Env, Headers, Request, Response};

use crate::config::{self, config_ttl_ms, env_value};
use crate::http::FetchClient;
use crate::runtime::WorkerRuntime;
use crate::state::DurableStore;
use crate::stats::{self, D1Stats};

const STATE_BINDING: &str = "GATEWAY_STATE";

/// A gateway and its statistics store, if D1 is bound.
#[derive(Clone)]
struct Serving {
    gateway: Gateway,
    stats: Option<Arc<D1Stats>>,
}

/// The isolate's gateway, or why there is none.
struct Current {
    text: String,
    checked_at: u64,
    gateway: Result<Serving, String>,
}

thread_local! {
    static CURRENT: RefCell<Option<Current>> = const { RefCell::new(None) };
    /// The isolate-wide state for stateless mode.
    static MEMORY: Arc<MemoryStore> = Arc::new(MemoryStore::new());
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    match gateway(&env).await {
        Ok(serving) => {
            let cors = cors_of(&serving.gateway, &req);
            let mut response = serve(&serving.gateway, req).await;
            cors.apply(&mut response);
            into_worker(response, serving.stats.as_ref().map(|stats| (stats.clone(), &ctx)))
        }
        Err(message) => {
            // Read the body anyway: an unread body makes the runtime drop the client's connection.
            let _ = req.bytes().await;
            // The detail (which may name the config's host and path) is the operator's, in the log.
            worker::console_error!("uni-api: {message}");
            let mut response = Door::for_path(&req.path()).error_response(&GatewayError::ConfigUnavailable);
            CorsStamp::any().apply(&mut response);
            into_worker(response, None)
        }
    }
}

/// What CORS adds to this request's response (only the headers it reads are copied).
fn cors_of(gateway: &Gateway, req: &Request) -> CorsStamp {
    let mut head = http::HeaderMap::new();
    if let Ok(Some(origin)) = req.headers().get("origin") {
        if let Ok(origin) = http::HeaderValue::from_str(&origin) {
            head.insert(http::header::ORIGIN, origin);
        }
    }
    gateway.cors(&head)
}

/// The current gateway, refreshed from the config source at most every `CONFIG_TTL` seconds.
async fn gateway(env: &Env) -> Result<Serving, String> {
    let now = worker::Date::now().as_millis();
    let ttl = config_ttl_ms(env);
    let (fresh, stale) = CURRENT.with(|c| match &*c.borrow() {
        Some(cur) if now.saturating_sub(cur.checked_at) < ttl => (Some(cur.gateway.clone()), None),
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

async fn build(env: &Env, text: &str, source: &str) -> Result<Serving, String> {
    let lookup = |name: &str| env_value(env, name);
    let mut config = Config::from_yaml_str(text, &lookup).map_err(|e| format!("invalid config {source}: {e}"))?;
    for warning in config.warnings.iter().chain(config.implicit_admin_notice().as_ref()) {
        worker::console_warn!("uni-api: {source}: {warning}");
    }
    config::check_platform(&mut config)?;
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
    let stats = match env.d1(stats::BINDING) {
        Ok(db) if !disabled => Some(Arc::new(D1Stats::new(db))),
        _ => {
            worker::console_log!(
                "uni-api: statistics off (no {} D1 binding, or DISABLE_DATABASE=true)",
                stats::BINDING
            );
            None
        }
    };
    let platform = Platform {
        http: Arc::new(FetchClient),
        store,
        runtime: Arc::new(WorkerRuntime),
        stats: stats.clone().map(|s| s as Arc<dyn uni_api_core::platform::StatsStore>),
    };
    let gateway = Gateway::new(config, platform);
    if gateway.needs_discovery() {
        config::discover_models(env, &gateway, text).await;
    }
    worker::console_log!("uni-api: config loaded from {source}");
    Ok(Serving { gateway, stats })
}

async fn serve(gateway: &Gateway, mut req: Request) -> http::Response<ResponseBody> {
    let path = req.path();
    let refuse = |error: GatewayError| gateway.error_response(&path, &error);
    let limit = gateway.max_body_bytes();
    let declared = req.headers().get("content-length").ok().flatten().and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return refuse(GatewayError::PayloadTooLarge { limit });
    }
    let body = match req.bytes().await {
        Ok(body) if body.len() > limit => return refuse(GatewayError::PayloadTooLarge { limit }),
        Ok(body) => Bytes::from(body),
        Err(e) => return refuse(GatewayError::BadRequest(format!("could not read the request body: {e}"))),
    };
    let url = match req.url() {
        Ok(url) => url,
        Err(e) => return refuse(GatewayError::BadRequest(format!("bad request URL: {e}"))),
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
        Err(e) => return refuse(GatewayError::BadRequest(format!("unreadable request: {e}"))),
    };
    if let Some(ip) = req.headers().get("cf-connecting-ip").ok().flatten().and_then(|ip| ip.parse().ok()) {
        request.extensions_mut().insert(ClientAddr(ip));
    }
    gateway.handle(request).await
}

/// The Workers response. With statistics on, the records of this request are written to D1 in
/// `waitUntil` once the body is finished (a stream's record exists only when it ends).
fn into_worker(
    response: http::Response<ResponseBody>,
    stats: Option<(Arc<D1Stats>, &Context)>,
) -> worker::Result<Response> {
    let (parts, body) = response.into_parts();
    let (ended, done) = futures_channel::oneshot::channel::<()>();
    let ended = Rc::new(RefCell::new(Some(ended)));
    if let Some((stats, ctx)) = stats {
        ctx.wait_until(async move {
            let _ = done.await;
            stats.flush().await;
        });
    }
    let body = match body {
        ResponseBody::Full(bytes) => {
            signal(&ended);
            ResponseBody::Full(bytes)
        }
        ResponseBody::Stream(stream) => ResponseBody::Stream(Box::pin(notify_at_end(stream, ended))),
        ResponseBody::Relay(stream) => ResponseBody::Relay(Box::pin(notify_at_end(stream, ended))),
    };
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

type EndSignal = Rc<RefCell<Option<futures_channel::oneshot::Sender<()>>>>;

fn signal(ended: &EndSignal) {
    if let Some(tx) = ended.borrow_mut().take() {
        let _ = tx.send(());
    }
}

/// Fires `ended` after the stream's last item, or when it is dropped early (client gone).
fn notify_at_end<S: futures_util::Stream + 'static>(
    stream: S,
    ended: EndSignal,
) -> impl futures_util::Stream<Item = S::Item> {
    struct OnDrop(EndSignal);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            signal(&self.0);
        }
    }
    let guard = OnDrop(ended.clone());
    let tail = futures_util::stream::once(async move {
        signal(&ended);
        drop(guard);
    })
    .filter_map(|()| std::future::ready(None));
    stream.chain(tail)
}
