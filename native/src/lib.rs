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
    let mut gateway = Gateway::new(config, platform);
    if let Some(limits) = idempotency_limits(&|name| std::env::var(name).ok()) {
        gateway = gateway.with_idempotency(limits);
    }
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

/// `Idempotency-Key` replays, unless `IDEMPOTENCY_ENABLED=false`: `IDEMPOTENCY_TTL_SECONDS`
/// (900), `IDEMPOTENCY_MAX_ENTRIES` (4096), `IDEMPOTENCY_MAX_RESPONSE_MB` (16) and
/// `IDEMPOTENCY_MAX_STORED_MB` (128). A value that is not a positive number keeps its default,
/// with a warning.
pub fn idempotency_limits(env: &dyn Fn(&str) -> Option<String>) -> Option<uni_api_core::gateway::IdempotencyLimits> {
    if env("IDEMPOTENCY_ENABLED")
        .is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "false" | "0" | "no"))
    {
        return None;
    }
    let mut limits = uni_api_core::gateway::IdempotencyLimits::default();
    let number = |name: &str| -> Option<u64> {
        let text = env(name)?;
        let parsed = text.trim().parse::<u64>().ok().filter(|n| *n > 0);
        if parsed.is_none() {
            tracing::warn!("{name}={text:?} is not a positive whole number; its default is used");
        }
        parsed
    };
    if let Some(secs) = number("IDEMPOTENCY_TTL_SECONDS") {
        limits.ttl = std::time::Duration::from_secs(secs);
    }
    if let Some(n) = number("IDEMPOTENCY_MAX_ENTRIES") {
        limits.max_entries = n as usize;
    }
    if let Some(mb) = number("IDEMPOTENCY_MAX_RESPONSE_MB") {
        limits.max_response_bytes = (mb as usize).saturating_mul(1024 * 1024);
    }
    if let Some(mb) = number("IDEMPOTENCY_MAX_STORED_MB") {
        limits.max_stored_bytes = (mb as usize).saturating_mul(1024 * 1024);
    }
    Some(limits)
}
