//! `api.yaml` as written: a serde mirror with every key the gateway understands.
//!
//! Fields whose YAML shape varies (a string or a list, a number or a per-model map) are kept as
//! `Value` here and given meaning, with path-precise errors, in `parse.rs`. Keys not listed here
//! are reported as warnings, so configs written for the original uni-api keep starting.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawConfig {
    pub providers: Vec<RawProvider>,
    pub api_keys: Vec<RawApiKey>,
    pub preferences: RawGlobalPreferences,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawProvider {
    pub provider: Value,
    pub base_url: Option<String>,
    pub api: Value,
    pub model: Option<Vec<Value>>,
    pub tools: Option<bool>,
    pub image: Option<bool>,
    pub engine: Option<String>,
    pub notes: Value,
    pub headers: Option<BTreeMap<String, Value>>,
    pub preferences: RawProviderPreferences,
    // Dialect-specific credentials (Vertex, Cloudflare); their adapters come with the adapters work.
    pub project_id: Value,
    pub private_key: Value,
    pub client_email: Value,
    pub region: Value,
    pub token_uri: Value,
    pub cf_account_id: Value,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawProviderPreferences {
    pub api_key_rate_limit: Value,
    pub api_key_cooldown_period: Value,
    pub api_key_schedule_algorithm: Option<String>,
    pub model_timeout: Value,
    pub keepalive_interval: Value,
    pub cooldown_period: Value,
    pub proxy: Option<String>,
    pub headers: Option<BTreeMap<String, Value>>,
    pub post_body_parameter_overrides: Value,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawApiKey {
    pub api: Value,
    pub model: Option<Vec<Value>>,
    pub role: Option<String>,
    pub preferences: RawApiKeyPreferences,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawApiKeyPreferences {
    #[serde(rename = "SCHEDULING_ALGORITHM")]
    pub scheduling_algorithm: Option<String>,
    #[serde(rename = "AUTO_RETRY")]
    pub auto_retry: Value,
    pub rate_limit: Value,
    #[serde(rename = "ENABLE_MODERATION")]
    pub enable_moderation: Option<bool>,
    pub credits: Value,
    pub created_at: Value,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawGlobalPreferences {
    pub model_timeout: Value,
    pub keepalive_interval: Value,
    pub cooldown_period: Value,
    pub error_triggers: Option<Vec<String>>,
    pub proxy: Option<String>,
    pub rate_limit: Value,
    pub max_audio_upload_mb: Value,
    pub request_timeout: Value,
    pub image_fetch_allow: Option<Vec<String>>,
    pub cors_origins: Value,
    pub model_price: Value,
}
