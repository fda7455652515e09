//! The listening side: hyper's HTTP/1 and HTTP/2 server with its timers, a cap on open connections, a
//! write timeout, and a shutdown that lets requests finish within a deadline.
//!
//! | limit | environment | default | a client that … |
//! |---|---|---|---|
//! | connections | `MAX_CONNECTIONS` | 4096 | … is one too many waits in the kernel's backlog until one closes |
//! | header read | `HEADER_TIMEOUT` | 15 s | … sends its request head slowly, or idles on a kept-alive connection, is cut off |
//! | body idle | `BODY_TIMEOUT` | 30 s | … stops sending its body gets 408 |
//! | write | `WRITE_TIMEOUT` | 60 s | … stops reading its response is cut off; its upstream request is cancelled |
//! | drain | `SHUTDOWN_TIMEOUT` | 30 s | … is still being answered at shutdown gets an error (a stream: its error event) after it, and is cut 5 s later |
//!
//! A request that needs a key and carries no valid one is answered 401 from its head; its body is
//! never read.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, TryStreamExt};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_io_timeout::TimeoutStream;
use uni_api_core::gateway::{ClientAddr, HostRoute};
use uni_api_core::platform::{MemoryStore, Runtime};
use uni_api_core::{Gateway, GatewayError, ResponseBody};

use crate::metrics::{Metrics, QueueGauge};
use crate::reload::{Applied, Reloader, Trigger};
use crate::runtime::Drain;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Body = UnsyncBoxBody<Bytes, BoxError>;
type Response = http::Response<Body>;

/// What one client may hold and for how long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub write_timeout: Duration,
    pub shutdown_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            header_timeout: Duration::from_secs(15),
            body_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

impl ServerLimits {
    /// The defaults, overridden by `MAX_CONNECTIONS` and the `*_TIMEOUT` variables (seconds).
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut limits = Self::default();
        let number = |name: &str| -> Result<Option<u64>, String> {
            match env(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) => v
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .map(Some)
                    .ok_or_else(|| format!("{name}={v} is not a positive whole number")),
            }
        };
        if let Some(n) = number("MAX_CONNECTIONS")? {
            limits.max_connections = n as usize;
        }
        for (name, slot) in [
            ("HEADER_TIMEOUT", &mut limits.header_timeout),
            ("BODY_TIMEOUT", &mut limits.body_timeout),
            ("WRITE_TIMEOUT", &mut limits.write_timeout),
            ("SHUTDOWN_TIMEOUT", &mut limits.shutdown_timeout),
        ] {
            if let Some(secs) = number(name)? {
                *slot = Duration::from_secs(secs);
            }
        }
        Ok(limits)
    }
}

/// What the native host serves beside the core: `/metrics` and the config reload endpoint.
#[derive(Clone, Default)]
pub struct Operations {
    pub metrics: Option<Arc<MetricsEndpoint>>,
    pub reloader: Option<Arc<Reloader>>,
    /// Expired when SHUTDOWN_TIMEOUT has passed, so the core ends what still runs with an error.
    pub drain: Option<Drain>,
}

/// After SHUTDOWN_TIMEOUT, how long requests get to send their error event before their
/// connections are cut.
const DRAIN_GRACE: Duration = Duration::from_secs(5);

/// `/metrics` and what it reads when scraped.
pub struct MetricsEndpoint {
    pub metrics: Arc<Metrics>,
    pub store: Option<Arc<MemoryStore>>,
    pub queue: Option<Arc<dyn QueueGauge>>,
    pub runtime: Arc<dyn Runtime>,
    /// `METRICS_PUBLIC=true`: no admin key needed.
    pub public: bool,
}

impl Operations {
    /// Answers a host route this host serves; `None` leaves it to the core (which answers 501).
    async fn serve(&self, gateway: &Gateway, route: HostRoute, parts: &http::request::Parts) -> Option<Response> {
        match route {
            HostRoute::Metrics => {
                let endpoint = self.metrics.as_ref()?;
                if !endpoint.public {
                    if let Some(refusal) = gateway.admin_refusal(parts) {
                        return Some(into_hyper(refusal));
                    }
                }
                let text = endpoint.metrics.render(
                    endpoint.store.as_deref(),
                    endpoint.queue.as_deref(),
                    endpoint.runtime.as_ref(),
                );
                let mut response =
                    http::Response::new(Full::new(Bytes::from(text)).map_err(|n| match n {}).boxed_unsync());
                response.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                Some(response)
            }
            HostRoute::ReloadConfig => {
                let reloader = self.reloader.as_ref()?;
                if let Some(refusal) = gateway.admin_refusal(parts) {
                    return Some(into_hyper(refusal));
                }
                let path = parts.uri.path();
                Some(match reloader.reload(Trigger::Endpoint).await {
                    Ok(applied) => {
                        let applied = applied.unwrap_or(Applied { providers: 0, client_keys: 0, warnings: Vec::new() });
                        let body = serde_json::json!({
                            "status": "applied",
                            "source": reloader.source().to_string(),
                            "providers": applied.providers,
                            "client_keys": applied.client_keys,
                            "warnings": applied.warnings,
                        });
                        let mut response = http::Response::new(
                            Full::new(Bytes::from(body.to_string())).map_err(|n| match n {}).boxed_unsync(),
                        );
                        response
                            .headers_mut()
                            .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
                        response
                    }
                    Err(message) => into_hyper(gateway.error_response(path, &GatewayError::ConfigRejected(message))),
                })
            }
        }
    }
}

/// Serves `gateway` on `listener` until `shutdown`, then drains: no new connections, idle ones
/// closed, requests in flight given `shutdown_timeout` to finish.
pub async fn serve(
    listener: TcpListener,
    gateway: Gateway,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, gateway, limits, Operations::default(), shutdown).await
}

/// As `serve`, with the host's own routes.
pub async fn serve_with(
    listener: TcpListener,
    gateway: Gateway,
    limits: ServerLimits,
    operations: Operations,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = Arc::new(limits);
    let operations = Arc::new(operations);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = auto::Builder::new(TokioExecutor::new());
    // hyper's header-read timer also runs while a kept-alive connection waits for its next
    // request, so it closes idle connections too.
    http.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).keep_alive(true);
    http.http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.header_timeout)
        .keep_alive_timeout(limits.header_timeout);
    tokio::pin!(shutdown);
    loop {
        // At the cap, new connections wait in the kernel's accept backlog.
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.map_err(std::io::Error::other)?,
            () = &mut shutdown => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: wait a moment rather than spin.
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Without it small SSE frames wait for the peer's delayed ACK (up to 40 ms each).
        let _ = tcp.set_nodelay(true);
        let mut io = TimeoutStream::new(tcp);
        io.set_write_timeout(Some(limits.write_timeout));
        let io = TokioIo::new(Box::pin(io));
        let gateway = gateway.clone();
        let request_limits = limits.clone();
        let request_operations = operations.clone();
        let service = hyper::service::service_fn(move |request| {
            let gateway = gateway.clone();
            let limits = request_limits.clone();
            let operations = request_operations.clone();
            async move { Ok::<_, Infallible>(handle(&gateway, &limits, &operations, peer, request).await) }
        });
        let connection = graceful.watch(http.serve_connection(io, service).into_owned());
        tokio::spawn(async move {
            // Errors here are the client's (a reset, a timeout); the request log has the rest.
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    let finished = graceful.shutdown();
    tokio::pin!(finished);
    if tokio::time::timeout(limits.shutdown_timeout, &mut finished).await.is_ok() {
        tracing::info!("every connection finished");
        return Ok(());
    }
    let secs = limits.shutdown_timeout.as_secs();
    if let Some(drain) = &operations.drain {
        drain.expire();
        if tokio::time::timeout(DRAIN_GRACE, &mut finished).await.is_ok() {
            tracing::warn!("requests still running after SHUTDOWN_TIMEOUT ({secs} s) were ended with an error");
            return Ok(());
        }
    }
    tracing::warn!("connections still open after SHUTDOWN_TIMEOUT ({secs} s) were cut off");
    Ok(())
}

/// Serves one request; whatever answers it, the response carries the CORS headers.
async fn handle(
    gateway: &Gateway,
    limits: &ServerLimits,
    operations: &Operations,
    peer: SocketAddr,
    request: http::Request<Incoming>,
) -> Response {
    let cors = gateway.cors(request.headers());
    let mut response = respond(gateway, limits, operations, peer, request).await;
    cors.apply(&mut response);
    response
}

async fn respond(
    gateway: &Gateway,
    limits: &ServerLimits,
    operations: &Operations,
    peer: SocketAddr,
    request: http::Request<Incoming>,
) -> Response {
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(ClientAddr(peer.ip()));
    if let Some(route) = gateway.host_route(&parts) {
        if let Some(response) = operations.serve(gateway, route, &parts).await {
            return response;
        }
    }
    if let Some(refusal) = gateway.precheck(&parts) {
        return into_hyper(refusal);
    }
    let refuse = |error: GatewayError| into_hyper(gateway.error_response(parts.uri.path(), &error));
    let limit = gateway.max_body_bytes();
    let declared = parts.headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return refuse(GatewayError::PayloadTooLarge { limit });
    }
    let bytes = match read_body(body, limit, limits.body_timeout).await {
        Ok(bytes) => bytes,
        Err(error) => return refuse(error),
    };
    into_hyper(gateway.handle(http::Request::from_parts(parts, bytes)).await)
}

/// The whole body, at most `limit` bytes, each piece within `idle` of the one before.
pub(crate) async fn read_body<B>(mut body: B, limit: usize, idle: Duration) -> Result<Bytes, GatewayError>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let mut bytes = BytesMut::new();
    loop {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => return Err(GatewayError::BodyTimeout { secs: idle.as_secs() }),
            Ok(None) => return Ok(bytes.freeze()),
            Ok(Some(Err(e))) => return Err(GatewayError::BadRequest(format!("could not read the request body: {e}"))),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > limit {
                return Err(GatewayError::PayloadTooLarge { limit });
            }
            bytes.extend_from_slice(&data);
        }
    }
}

fn into_hyper(response: http::Response<ResponseBody>) -> http::Response<Body> {
    response.map(|body| match body {
        ResponseBody::Full(bytes) => Full::new(bytes).map_err(|never| match never {}).boxed_unsync(),
        ResponseBody::Stream(stream) => {
            StreamBody::new(stream.map(|frame| Ok::<_, BoxError>(Frame::data(frame)))).boxed_unsync()
        }
        // An error item makes hyper abort the response: the client sees a broken transfer.
        ResponseBody::Relay(stream) => {
            StreamBody::new(stream.map_ok(Frame::data).map_err(|e| Box::new(e) as BoxError)).boxed_unsync()
        }
    })
}
