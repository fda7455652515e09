//! uni-api as a native server: the axum/tokio shell around `uni_api_core::Gateway`.
//!
//! Invariant: no gateway logic lives here. This crate converts HTTP types, implements the core's
//! ports (reqwest, tokio, an in-memory store) and finds the config text; the core decides the rest.

pub mod config_source;
pub mod http;
pub mod runtime;
pub mod stats;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use axum::serve::ListenerExt;
use axum::Router;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::net::TcpListener;
use uni_api_core::gateway::ClientAddr;
use uni_api_core::platform::{MemoryStore, Platform};
use uni_api_core::{Config, Gateway, GatewayError, ResponseBody};

/// The native ports: hyper/reqwest, the in-memory store and tokio; statistics are added by the
/// caller (see `stats::Stats`).
pub fn native_platform() -> Result<Platform, String> {
    Ok(Platform {
        http: Arc::new(http::NativeHttpClient::new()?),
        store: Arc::new(MemoryStore::new()),
        runtime: Arc::new(runtime::TokioRuntime),
        stats: None,
    })
}

/// Builds the gateway, discovering model lists first when the config asks for it.
pub async fn build_gateway(config: Config, platform: Platform) -> Gateway {
    let gateway = Gateway::new(config, platform);
    if gateway.needs_discovery() {
        for warning in gateway.discover_models().await {
            tracing::warn!("{warning}");
        }
    }
    gateway
}

/// One fallback handler: every path goes to the core, which routes and renders errors.
pub fn router(gateway: Gateway) -> Router {
    Router::new().fallback(handle).with_state(gateway)
}

async fn handle(State(gateway): State<Gateway>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    if let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() {
        let addr = ClientAddr(peer.ip());
        parts.extensions.insert(addr);
    }
    let limit = gateway.max_body_bytes();
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(e) => {
            let error = if is_length_limit(&e) {
                GatewayError::PayloadTooLarge { limit }
            } else {
                GatewayError::BadRequest(format!("could not read the request body: {e}"))
            };
            return into_axum(gateway.error_response(parts.uri.path(), &error));
        }
    };
    let response = gateway.handle(::http::Request::from_parts(parts, bytes)).await;
    into_axum(response)
}

fn is_length_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

fn into_axum(response: ::http::Response<ResponseBody>) -> Response {
    response.map(|body| match body {
        ResponseBody::Full(bytes) => Body::from(bytes),
        ResponseBody::Stream(stream) => Body::from_stream(stream.map(Ok::<Bytes, Infallible>)),
        // An error item makes hyper abort the response: the client sees a broken transfer.
        ResponseBody::Relay(stream) => Body::from_stream(stream),
    })
}

/// Serves `gateway` on `listener` (with TCP_NODELAY on every connection) until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    gateway: Gateway,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = listener.tap_io(|tcp| {
        // Without it small SSE frames wait for the peer's delayed ACK (up to 40 ms each).
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router(gateway).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}
