//! The Vercel function (`api/index.rs`, routed every path by `vercel.json`): the same core,
//! served through Vercel's Rust runtime (`vercel_runtime`).
//!
//! Stateless by default, as serverless instances are: state (rate windows, cooldowns, cursors)
//! lives in each instance's memory, and statistics are off unless `DATABASE_URL` names a
//! PostgreSQL database (`DISABLE_DATABASE=true` turns them off even then). The config comes from
//! `API_YAML` (the text itself), else `CONFIG_URL` (a URL or a path), else `./api.yaml`, read
//! once per instance on its first request. Streams stay streams: each frame is handed to the
//! runtime as it is produced.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use hyper::body::Frame;
use tokio::sync::OnceCell;
use uni_api_core::platform::ByteStream;
use uni_api_core::{Gateway, GatewayError};
use vercel_runtime::{AppState, Error, Request, Response, ResponseBody};

use crate::stats::{Stats, StatsTarget};
use crate::{build_gateway, config_source, native_platform};

/// How long a request body may stall (the platform bounds the rest).
const BODY_IDLE: Duration = Duration::from_secs(30);

/// One instance's gateway.
pub struct Function {
    gateway: Gateway,
    stats: Option<Arc<Stats>>,
}

impl Function {
    /// Reads the config and opens statistics as the environment says.
    pub async fn from_env(env: &(dyn Fn(&str) -> Option<String> + Sync)) -> Result<Self, String> {
        let (text, source) = match env("API_YAML").filter(|t| !t.trim().is_empty()) {
            Some(text) => (text, "API_YAML".to_owned()),
            None => {
                let source = config_source::choose_here(None, env("CONFIG_URL").as_deref());
                (config_source::read(&source).await?, source.to_string())
            }
        };
        let config = config_source::parse(&text, &source, env)?;
        let target = stats_target(env)?;
        let stats = Stats::open(&target).await?.map(Arc::new);
        let mut platform = native_platform()?;
        platform.stats = stats.as_ref().map(|s| s.store());
        let gateway = build_gateway(config, platform).await;
        tracing::info!("uni-api function ready (config {source}, statistics {})", describe(&target));
        Ok(Self { gateway, stats })
    }

    /// Serves one request; `finished` is told when its response body has been sent (or dropped).
    /// Whatever answers it, the response carries the CORS headers.
    pub async fn handle<B>(
        &self,
        request: http::Request<B>,
        finished: Option<tokio::sync::oneshot::Sender<()>>,
    ) -> Response<ResponseBody>
    where
        B: hyper::body::Body<Data = Bytes> + Unpin,
        B::Error: std::fmt::Display,
    {
        let cors = self.gateway.cors(request.headers());
        let mut response = self.respond(request, finished).await;
        cors.apply(&mut response);
        response
    }

    async fn respond<B>(
        &self,
        request: http::Request<B>,
        finished: Option<tokio::sync::oneshot::Sender<()>>,
    ) -> Response<ResponseBody>
    where
        B: hyper::body::Body<Data = Bytes> + Unpin,
        B::Error: std::fmt::Display,
    {
        let (mut parts, body) = request.into_parts();
        // With `rewrites` Vercel passes the path the client asked for; a direct call of the
        // function's own URL is served as the root.
        if let Some(rest) = parts.uri.path().strip_prefix("/api/index") {
            let path = if rest.is_empty() { "/" } else { rest };
            let query = parts.uri.query().map(|q| format!("?{q}")).unwrap_or_default();
            if let Ok(uri) = format!("{path}{query}").parse() {
                parts.uri = uri;
            }
        }
        // No peer address here: the core takes the client's from Vercel's X-Forwarded-For.
        if let Some(refusal) = self.gateway.precheck(&parts) {
            return into_vercel(refusal, finished);
        }
        let limit = self.gateway.max_body_bytes();
        let bytes = match crate::server::read_body(body, limit, BODY_IDLE).await {
            Ok(bytes) => bytes,
            Err(error) => return into_vercel(self.gateway.error_response(parts.uri.path(), &error), finished),
        };
        into_vercel(self.gateway.handle(http::Request::from_parts(parts, bytes)).await, finished)
    }

    /// Waits until the statistics queued so far are written.
    pub async fn flush(&self) {
        if let Some(stats) = &self.stats {
            stats.flush().await;
        }
    }
}

/// Statistics only with a database: `DATABASE_URL` (PostgreSQL), unless `DISABLE_DATABASE`.
fn stats_target(env: &dyn Fn(&str) -> Option<String>) -> Result<StatsTarget, String> {
    if env("DATABASE_URL").is_none_or(|u| u.trim().is_empty()) {
        return Ok(StatsTarget::Disabled);
    }
    StatsTarget::from_env(&|name: &str| if name == "DB_TYPE" { Some("postgres".into()) } else { env(name) })
}

fn describe(target: &StatsTarget) -> String {
    match target {
        StatsTarget::Postgres(pg, _) => pg.describe(),
        _ => "off".into(),
    }
}

/// A body the runtime can hold (it needs `Sync`); frames pass through as they come.
struct Frames {
    stream: Mutex<ByteStream>,
    finished: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Frames {
    fn drop(&mut self) {
        if let Some(finished) = self.finished.take() {
            let _ = finished.send(());
        }
    }
}

impl Stream for Frames {
    type Item = Result<Frame<Bytes>, Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        // `&mut self`: no one else can hold the lock, so this never blocks.
        let stream = self.stream.get_mut().unwrap_or_else(|e| e.into_inner());
        stream.poll_next_unpin(cx).map(|item| item.map(|r| r.map(Frame::data).map_err(|e| Box::new(e) as Error)))
    }
}

fn into_vercel(
    response: http::Response<uni_api_core::ResponseBody>,
    finished: Option<tokio::sync::oneshot::Sender<()>>,
) -> Response<ResponseBody> {
    use uni_api_core::ResponseBody as Core;
    response.map(|body| {
        let stream: ByteStream = match body {
            Core::Full(bytes) => {
                // The whole answer is here: its record is already queued.
                if let Some(finished) = finished {
                    let _ = finished.send(());
                }
                return ResponseBody::from(bytes);
            }
            Core::Stream(frames) => uni_api_core::platform::boxed_stream(frames.map(Ok)),
            // An error item aborts the response: the client sees a broken transfer, as natively.
            Core::Relay(stream) => stream,
        };
        ResponseBody::from(http_body_util::StreamBody::new(Frames { stream: Mutex::new(stream), finished }))
    })
}

static FUNCTION: OnceCell<Result<Arc<Function>, String>> = OnceCell::const_new();

async fn function() -> Result<Arc<Function>, String> {
    FUNCTION
        .get_or_init(|| async {
            let env = |name: &str| std::env::var(name).ok();
            Function::from_env(&env).await.map(Arc::new).inspect_err(|e| tracing::error!("uni-api cannot start: {e}"))
        })
        .await
        .clone()
}

async fn serve(request: Request, state: AppState) -> Result<Response<ResponseBody>, Error> {
    let function = match function().await {
        Ok(function) => function,
        Err(_) => {
            // The reason is in the function's log; the client gets the generic 503.
            let mut response = uni_api_core::doors::Door::for_path(request.uri().path())
                .error_response(&GatewayError::ConfigUnavailable);
            uni_api_core::gateway::CorsStamp::any().apply(&mut response);
            return Ok(into_vercel(response, None));
        }
    };
    let (finished, done) = tokio::sync::oneshot::channel();
    let response = function.handle(request, Some(finished)).await;
    if function.stats.is_some() {
        // Keep the instance alive until this request's record is written.
        state.wait_until(async move {
            let _ = done.await;
            function.flush().await;
        });
    }
    Ok(response)
}

/// The function's `main`: logging, then Vercel's runtime serving every request through [`serve`].
pub fn main() -> Result<(), Error> {
    config_source::init_logging();
    crate::http::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(vercel_runtime::run(vercel_runtime::service_fn(serve)))
}
