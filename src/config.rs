//! Where the Worker's `api.yaml` comes from, what the platform cannot do, and the KV cache of
//! discovered model lists.
//!
//! `API_YAML` (a secret or var holding the YAML itself) wins; otherwise `CONFIG_URL` is fetched
//! and its text cached in KV (binding `UNI_API_KV`, optional) and in the isolate, refreshed every
//! `CONFIG_TTL` seconds (default 60), so an edit takes effect within a minute without a redeploy. If a refresh
//! fails, the last good text keeps serving: the isolate's, else KV's whatever its age. The KV key
//! is a digest of the whole URL, so two URLs that differ only in their query (a token, a branch)
//! never share a cached config.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use uni_api_core::{Config, Gateway};
use worker::{Env, Fetch, Url};

/// How long a fetched config is trusted before it is fetched again, unless `CONFIG_TTL` says.
const DEFAULT_CONFIG_TTL_MS: u64 = 60_000;

/// `CONFIG_TTL` (seconds) in milliseconds, else the default.
pub fn config_ttl_ms(env: &Env) -> u64 {
    env_value(env, "CONFIG_TTL")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(DEFAULT_CONFIG_TTL_MS, |secs| secs.saturating_mul(1000))
}
/// How long discovered model lists are reused from KV before the upstreams are asked again.
const MODELS_TTL_MS: u64 = 3_600_000;
const KV_BINDING: &str = "UNI_API_KV";

/// A variable or secret, if set and not empty.
pub fn env_value(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
        .filter(|v| !v.trim().is_empty())
}

/// The config text and where it came from (the URL without its query, which may hold a token).
pub async fn load_text(env: &Env, now: u64, stale: Option<&str>) -> Result<(String, String), String> {
    if let Some(text) = env_value(env, "API_YAML") {
        return Ok((text, "API_YAML".into()));
    }
    let Some(url) = env_value(env, "CONFIG_URL") else {
        return Err(
            "no configuration: set the API_YAML secret (the YAML itself) or the CONFIG_URL secret (an https URL)"
                .into(),
        );
    };
    let shown = shown_url(&url);
    let kv_key = config_kv_key(&url);
    let kv = env.kv(KV_BINDING).ok();
    let mut kept = None;
    if let Some(kv) = &kv {
        if let Ok(Some(cached)) = kv.get(&kv_key).json::<Cached>().await {
            if now.saturating_sub(cached.fetched_at) < config_ttl_ms(env) {
                return Ok((cached.text, shown));
            }
            kept = Some(cached);
        }
    }
    match fetch_text(&url).await {
        Ok(text) => {
            if let Some(kv) = &kv {
                let cached = Cached { text: text.clone(), fetched_at: now };
                if let Ok(put) = kv.put(&kv_key, &cached) {
                    let _ = put.execute().await;
                }
            }
            Ok((text, shown))
        }
        Err(e) => match (stale, kept) {
            (Some(text), _) => {
                worker::console_warn!("uni-api: could not refresh the config from {shown} ({e}); keeping the last one");
                Ok((text.to_owned(), shown))
            }
            (None, Some(cached)) => {
                let age = now.saturating_sub(cached.fetched_at) / 1000;
                worker::console_warn!(
                    "uni-api: could not load the config from {shown} ({e}); serving the copy in KV fetched {age} s ago"
                );
                Ok((cached.text, shown))
            }
            (None, None) => Err(format!("cannot load the config from {shown}: {e}")),
        },
    }
}

#[derive(Serialize, Deserialize)]
struct Cached {
    text: String,
    fetched_at: u64,
}

async fn fetch_text(url: &str) -> Result<String, String> {
    let parsed = Url::parse(url).map_err(|_| "CONFIG_URL is not a URL".to_owned())?;
    let mut response = Fetch::Url(parsed).send().await.map_err(|e| e.to_string())?;
    if response.status_code() != 200 {
        return Err(format!("HTTP {}", response.status_code()));
    }
    response.text().await.map_err(|e| e.to_string())
}

/// Where a URL's config is cached in KV: a SHA-256 of the whole URL, query and all.
fn config_kv_key(url: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(url.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("config:{hex}")
}

/// `scheme://host/path`, without credentials or query.
fn shown_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => format!("{}://{}{}", u.scheme(), u.host_str().unwrap_or(""), u.path()),
        Err(_) => "CONFIG_URL".into(),
    }
}

/// What Workers cannot do: outbound fetch cannot go through a proxy (HTTP or SOCKS). A provider
/// with its own `proxy` is left out (a warning now; a model only it serves answers 503 with the
/// reason), so one api.yaml serves both hosts. A global `preferences.proxy` would route every
/// provider through it and is refused: sending the traffic around it would defeat its purpose.
pub fn check_platform(config: &mut Config) -> Result<(), String> {
    if config.global.proxy.is_some() {
        return Err("preferences.proxy: proxies are not available on Cloudflare Workers (fetch connects directly); remove it or run the native binary".into());
    }
    for (i, provider) in config.providers.iter_mut().enumerate() {
        if provider.proxy.is_some() {
            worker::console_warn!(
                "uni-api: providers[{i}] ({}) is left out: it sets `proxy`, and Cloudflare Workers cannot use proxies (fetch connects directly)",
                provider.name
            );
            provider.left_out = Some("it sets `proxy`, and Cloudflare Workers cannot use proxies".into());
        }
    }
    Ok(())
}

#[derive(Serialize, Deserialize)]
struct CachedModels {
    lists: HashMap<String, Vec<String>>,
    fetched_at: u64,
}

/// Model lists for providers without `model:`: from KV when another isolate found them within
/// the last hour (for this same config text), else from the upstreams, then stored in KV.
pub async fn discover_models(env: &Env, gateway: &Gateway, config_text: &str) {
    let now = worker::Date::now().as_millis();
    let key = format!("models:{:016x}", fnv1a(config_text.as_bytes()));
    let kv = env.kv(KV_BINDING).ok();
    if let Some(kv) = &kv {
        if let Ok(Some(cached)) = kv.get(&key).json::<CachedModels>().await {
            if now.saturating_sub(cached.fetched_at) < MODELS_TTL_MS {
                gateway.use_model_lists(&cached.lists);
                return;
            }
        }
    }
    let (lists, warnings) = gateway.discover_model_lists().await;
    for warning in &warnings {
        worker::console_warn!("uni-api: {warning}");
    }
    // A partial answer is not cached: the next isolate asks again.
    if let (Some(kv), true) = (&kv, warnings.is_empty()) {
        if let Ok(put) = kv.put(&key, &CachedModels { lists, fetched_at: now }) {
            let _ = put.execute().await;
        }
    }
}

/// A stable 64-bit hash of the config text (FNV-1a), to key cached model lists by config.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}
