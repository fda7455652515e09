//! uni-api as a native server: the hyper/tokio shell around `uni_api_core::Gateway`.
//!
//! Invariant: no gateway logic lives here. This crate converts HTTP types, implements the core's
//! ports (reqwest, tokio, an in-memory store) and finds the config text; the core decides the rest.

pub mod cli;
pub mod config_source;
pub mod guarded;
pub mod http;
pub mod metrics;
pub mod reload;
pub mod runtime;
pub mod server;
pub mod stats;
#[cfg(feature = "vercel")]
pub mod vercel;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use uni_api_core::platform::{MemoryStore, Platform};
use uni_api_core::{Config, Gateway};

/// The native ports: hyper/reqwest, the in-memory store and tokio; statistics are added by the
/// caller (see `stats::Stats`).
pub fn native_platform() -> Result<Platform, String> {
    native_platform_with(Arc::new(MemoryStore::new()))
}

/// As `native_platform`, keeping state in `store` (the host reads its cooldowns for metrics).
pub fn native_platform_with(store: Arc<MemoryStore>) -> Result<Platform, String> {
    Ok(Platform {
        http: Arc::new(http::NativeHttpClient::new()?),
        store,
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

/// Serves `gateway` on `listener` with the default [`server::ServerLimits`] until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    gateway: Gateway,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    server::serve(listener, gateway, server::ServerLimits::default(), shutdown).await
}
